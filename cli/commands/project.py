"""s2edit project: find the latent (and noise) that makes the generator draw each photo."""

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from .._options import ClassOpt, DeviceOpt, ForceOpt, NetworkOpt, OutDirOpt, finite


class Space(str, Enum):
    w = "w"
    wplus = "w+"


class NoiseChoice(str, Enum):
    optimize = "optimize"
    fixed = "fixed"


class LossChoice(str, Enum):
    auto = "auto"
    lpips = "lpips"
    effnet = "effnet"


def command(
    images: Annotated[list[Path], typer.Argument(help="Image files or folders of images.")],
    network: NetworkOpt = "demo",
    outdir: OutDirOpt = Path("out"),
    steps: Annotated[int, typer.Option("--steps", min=1, help="Optimization steps (official: 1000).")] = 1000,
    space: Annotated[Space, typer.Option("--space", help="w (one latent, as the paper) or w+ (one per layer).")] = Space.w,
    noise: Annotated[NoiseChoice, typer.Option("--noise", help="Optimize the noise maps, or keep the network's.")] = NoiseChoice.optimize,
    loss: Annotated[LossChoice, typer.Option("--loss", help="lpips (VGG16, needs its weights), effnet (offline), auto.")] = LossChoice.auto,
    mse: Annotated[float, typer.Option("--mse", parser=finite(0), help="Weight of an extra pixel MSE term.")] = 0.0,
    lr: Annotated[float, typer.Option("--lr", parser=finite(0), help="Initial learning rate.")] = 0.1,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (image i uses seed + i).")] = 0,
    init: Annotated[Path | None, typer.Option("--init", help="Start from this latent file (e.g. to refine).")] = None,
    class_idx: ClassOpt = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Images optimized together.")] = 4,
    no_crop: Annotated[bool, typer.Option("--no-crop", help="Pad to square instead of centre-cropping.")] = False,
    align: Annotated[bool, typer.Option("--align", help="Detect and align the face first (FFHQ recipe).")] = False,
    save_video: Annotated[bool, typer.Option("--save-video", help="Write proj.mp4: target | projection during optimization.")] = False,
    video_every: Annotated[int, typer.Option("--video-every", min=1, help="One video frame per this many steps.")] = 10,
    tune: Annotated[bool, typer.Option("--tune", help="Then tune the generator around the pivot (PTI).")] = False,
    tune_steps: Annotated[int, typer.Option("--tune-steps", min=0, help="Tuning steps (PTI: 350).")] = 350,
    tune_lr: Annotated[float, typer.Option("--tune-lr", min=0, help="Tuning learning rate.")] = 3e-4,
    locality: Annotated[bool, typer.Option("--locality/--no-locality", help="Locality regularization.")] = False,
    tune_shared: Annotated[bool, typer.Option("--tune-shared", help="One tuned generator for all photos.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run: skip finished images, "
                                                          "continue stopped ones from their saved state.")] = False,
    device: DeviceOpt = "auto",
    force: ForceOpt = False,
) -> None:
    """Project photos into the generator's latent space; writes <outdir>/<name>/{target,proj}.png, latents, report."""
    from projector import ProjectorConfig, TuneConfig
    from projector.batch import prepare_targets, project_files, projection_outputs
    from projector.distributed import complete
    from projector.io import collect_images
    from projector.latent_file import load_latent
    from projector.losses import make_perceptual
    from projector.outputs import OUTPUT_FILES
    from stylegan2_core import class_labels

    from .._console import console, graceful_stop, out, progress
    from .._options import check_outputs, load_network, resolve_device

    paths = [p for p in collect_images(images) if not (resume and complete(p, outdir))]
    check_outputs(projection_outputs(paths, outdir, save_video, tune), force or resume)
    tune_cfg = TuneConfig(steps=tune_steps, lr=tune_lr, locality=locality, shared=tune_shared) if tune else None
    cfg = ProjectorConfig(steps=steps, space=space.value, optimize_noise=noise is NoiseChoice.optimize, mse_weight=mse,
                          initial_lr=lr, seed=seed)
    dev = resolve_device(device)
    G = load_network(network, dev)
    c = class_labels(class_idx, G.c_dim) if G.c_dim or class_idx is not None else None
    targets = prepare_targets(paths, G.img_resolution, crop=not no_crop, align=align)
    init_record = load_latent(init, G) if init is not None else None
    distance, notice = make_perceptual(loss.value, device=dev)
    if notice:
        console.print(f"[yellow]note:[/] {notice}")
    with progress() as bar, graceful_stop() as stop_requested:
        done = project_files(G, targets, outdir, cfg, c=c, distance=distance, init=init_record, batch_size=batch_size,
                             save_video=save_video, video_every=video_every, should_stop=stop_requested, resume=resume,
                             callback=_batch_progress(bar, steps, tune_steps), tune_cfg=tune_cfg)
    out.print(_table(done, f"projection ({cfg.space}, {steps} steps, {distance.name}, {dev})"))
    out.print(f"outputs in {outdir}/<name>/ ({', '.join(OUTPUT_FILES)})")


def _batch_progress(bar, steps: int, tune_steps: int):
    """A ``project_files`` callback for both stages: one progress task per batch (projection) and per photo
    (tuning), advanced every step."""
    tasks = {}

    def on_step(batch, step) -> None:
        tuning = hasattr(step, "photo")
        photo = step.photo if tuning else None
        key = (tuple(batch), tuning, photo)
        if key not in tasks:
            names = ", ".join(p.stem for p in ([batch[photo]] if photo is not None else batch))[:40]
            tasks[key] = bar.add_task(("tune " if tuning else "") + names, total=tune_steps if tuning else steps,
                                      status="")
        loss = step.loss if tuning else float(step.loss.mean())
        bar.update(tasks[key], advance=1, status=f"loss {loss:.4f}")

    return on_step


def _table(done, title: str):
    from rich.table import Table

    table = Table(title=title)
    tuned = any("tuned" in item.report for item in done)
    for col in ("image", "perceptual", "PSNR (dB)", "SSIM", "seconds") + (("stage",) if tuned else ()):
        table.add_column(col, justify="right" if col not in ("image", "stage") else "left")
    for item in done:
        stages = [(item.report, "pivot")] + ([(item.report["tuned"], "tuned")] if "tuned" in item.report else [])
        for r, stage in stages:
            table.add_row(item.path.stem, f"{r['perceptual_distance']:.4f}", f"{r['psnr_db']:.2f}", f"{r['ssim']:.3f}",
                          f"{r['seconds']:.1f}", *((stage,) if tuned else ()))
    return table
