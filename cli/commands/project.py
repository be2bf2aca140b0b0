"""s2edit project: find the latent (and noise) that makes the generator draw each photo."""

import contextlib
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


class Preset(str, Enum):
    fast = "fast"
    official = "official"
    instant = "instant"


class Pivot(str, Enum):
    projection = "projection"
    encoder = "encoder"


def project_command(
    images: Annotated[list[Path], typer.Argument(help="Image files or folders of images.")],
    network: NetworkOpt = "demo",
    outdir: OutDirOpt = Path("out"),
    preset: Annotated[Preset, typer.Option("--preset", help="fast (a better start, a shorter search, then L-BFGS), official (the paper's algorithm) or instant (the encoder alone); their speed and quality: docs/projection.md.")] = Preset.fast,
    encoder: Annotated[str | None, typer.Option("--encoder", help="Encoder file (s2edit train-encoder) to start from, or 'none'; default: the network's shipped encoder, if any, for the fast and instant presets.")] = None,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Adam steps (default: the preset's, fast 80, official 1000).")] = None,
    refine_steps: Annotated[int | None, typer.Option("--refine-steps", min=0, help="L-BFGS iterations on the latents after the Adam steps (default: the preset's, fast 40, official 0).")] = None,
    space: Annotated[Space | None, typer.Option("--space", help="w (one latent, as the paper) or w+ (one per layer); default: the preset's (w with --tune).")] = None,
    noise: Annotated[NoiseChoice, typer.Option("--noise", help="Optimize the noise maps, or keep the network's.")] = NoiseChoice.optimize,
    loss: Annotated[LossChoice, typer.Option("--loss", help="lpips (VGG16, needs its weights), effnet (offline), auto.")] = LossChoice.auto,
    mse: Annotated[float, typer.Option("--mse", parser=finite(0), help="Weight of an extra pixel MSE term.")] = 0.0,
    lr: Annotated[float | None, typer.Option("--lr", parser=finite(0), help="Initial learning rate (default: the preset's).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (image i uses seed + i).")] = 0,
    init: Annotated[Path | None, typer.Option("--init", help="Start from this latent file (e.g. to refine).")] = None,
    class_idx: ClassOpt = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, help="Images optimized together (default: 4 on a GPU; on a CPU as many as fit 16 384 pixels, at most 4).")] = None,
    no_crop: Annotated[bool, typer.Option("--no-crop", help="Pad to square instead of centre-cropping.")] = False,
    align: Annotated[bool, typer.Option("--align", help="Detect and align the face first (FFHQ recipe).")] = False,
    save_video: Annotated[bool, typer.Option("--save-video", help="Write proj.mp4: target | projection during optimization.")] = False,
    video_every: Annotated[int, typer.Option("--video-every", min=1, help="One video frame per this many steps.")] = 10,
    tune: Annotated[bool, typer.Option("--tune", help="Then tune the generator around the pivot (PTI).")] = False,
    pivot: Annotated[Pivot, typer.Option("--pivot", help="The pivot for --tune: the projection, or the encoder's inversion (the instant preset, no optimization before tuning).")] = Pivot.projection,
    tune_steps: Annotated[int, typer.Option("--tune-steps", min=0, help="Tuning steps (PTI: 350).")] = 350,
    tune_lr: Annotated[float, typer.Option("--tune-lr", parser=finite(0), help="Tuning learning rate.")] = 3e-4,
    locality: Annotated[bool, typer.Option("--locality/--no-locality", help="Locality regularization.")] = False,
    tune_shared: Annotated[bool, typer.Option("--tune-shared", help="One tuned generator for all photos.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run: skip finished images, "
                                                          "continue stopped ones from their saved state.")] = False,
    device: DeviceOpt = "auto",
    force: ForceOpt = False,
) -> None:
    """Project photos into the generator's latent space: <outdir>/<name>/{target,proj}.png, latents, report, and
    <outdir>/summary.json. Under torchrun (--nproc_per_node N -m cli project) each process projects its share. An
    unreadable image is listed as failed in summary.json, the others are projected: exit code 1 (2 if none was)."""
    from projector import TuneConfig
    from projector.distributed import ProjectionJob, current_rank, project_sharded
    from projector.images import collect_images

    from .._console import graceful_stop, progress
    from .._options import hold_outdir, load_network, resolve_device

    paths = collect_images(images)
    name, cfg = _config(preset, pivot, tune, space, noise, steps, refine_steps, lr, seed, mse)
    tune_cfg = TuneConfig(steps=tune_steps, lr=tune_lr, locality=locality, shared=tune_shared) if tune else None
    rank = current_rank(resolve_device(device))
    G = load_network(network, rank.device)
    c, init_latent = _inputs(G, class_idx, init)
    job = ProjectionJob(outdir, cfg, crop=not no_crop, align=align, batch_size=batch_size, c=c,
                        distance=_perceptual(loss.value, rank), init=init_latent, save_video=save_video,
                        video_every=video_every, tune_cfg=tune_cfg, resume=resume, force=force,
                        encoder=_encoder(encoder, G, cfg) if init is None or cfg.encoder_only else None)
    with (hold_outdir(outdir, "project", rank), progress() if rank.is_main else contextlib.nullcontext() as bar,
          graceful_stop() as stop_requested):
        run = project_sharded(G, paths, job, rank=rank, should_stop=stop_requested,
                              callback=_batch_progress(bar, job.run_cfg.total_steps, tune_steps) if rank.is_main else None)
    if rank.is_main:  # one progress display and one summary: rank 0's
        _print_summary(run, f"projection ({name} preset, {cfg.space}, {job.run_cfg.schedule}, {job.distance.name}, "
                            f"{rank.world_size} x {rank.device.type})", outdir)


def _inputs(G, class_idx, init):
    """The class label (conditional networks, or a label given) and the starting latent record, if any."""
    from projector.latent_file import load_latent
    from stylegan2_core import class_labels

    c = class_labels(class_idx, G.c_dim) if G.c_dim or class_idx is not None else None
    return c, load_latent(init, G) if init is not None else None


def _config(preset: Preset, pivot: Pivot, tune: bool, space: Space | None, noise: NoiseChoice, steps, refine_steps,
            lr, seed, mse):
    """(preset name, ``ProjectorConfig``) of the projection (before tuning, ``projector.pivot_settings``)."""
    from projector import ProjectorConfig, pivot_settings

    name, space = pivot_settings(preset.value, space and space.value, tune, pivot.value)
    optimize_noise = noise is NoiseChoice.optimize and name != "instant"  # the instant preset keeps the network's
    return name, ProjectorConfig.preset(name, space=space, optimize_noise=optimize_noise, steps=steps,
                                        refine_steps=refine_steps, initial_lr=lr, seed=seed, mse_weight=mse)


def _encoder(spec: str | None, G, cfg):
    """The encoder the projection starts from (``projector.encoder.projection_encoder``), or None."""
    from projector.encoder import projection_encoder

    return projection_encoder(spec, G, cfg)


def _perceptual(kind: str, rank):
    """The perceptual distance, with its one-line note printed once (by rank 0)."""
    from projector.losses import make_perceptual

    from .._console import console

    distance, notice = make_perceptual(kind, device=rank.device)
    if notice and rank.is_main:
        console.print(f"[yellow]note:[/] {notice}", soft_wrap=True)
    return distance


def _print_summary(run, title: str, outdir: Path) -> None:
    """The table of every image and where the outputs are; then an error naming the images that failed."""
    from projector.outputs import OUTPUT_FILES

    from .._console import out

    out.print(_table(run.images, title))
    out.print(f"outputs in {outdir}/<name>/ ({', '.join(OUTPUT_FILES)}), summary in {run.summary}")
    run.raise_failures()


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


def _table(images: list[dict], title: str):
    from rich.table import Table

    table = Table(title=title)
    tuned = any("tuned" in r for r in images)
    for col in ("image", "perceptual", "PSNR (dB)", "SSIM", "seconds") + (("stage",) if tuned else ()):
        table.add_column(col, justify="right" if col not in ("image", "stage") else "left")
    for report in images:
        if "failed" in report:
            table.add_row(Path(report["image"]).stem, "failed", "", "", "", *(("",) if tuned else ()))
            continue
        stages = [(report, "pivot")] + ([(report["tuned"], "tuned")] if "tuned" in report else [])
        for r, stage in stages:
            table.add_row(Path(report["image"]).stem, f"{r['perceptual_distance']:.4f}", f"{r['psnr_db']:.2f}",
                          f"{r['ssim']:.3f}", f"{r['seconds']:.1f}", *((stage,) if tuned else ()))
    return table
