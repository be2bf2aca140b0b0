"""s2edit project: find the latent (and noise) that makes the generator draw each photo."""

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from .._options import ClassOpt, DeviceOpt, ForceOpt, NetworkOpt, OutDirOpt


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


def _collect_images(inputs: list[Path]) -> list[Path]:
    from projector.io import IMAGE_SUFFIXES
    from stylegan2_core import InputError

    images = []
    for item in inputs:
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise InputError(f"{item}: folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
            images += found
        else:
            images.append(item)
    stems = [p.stem for p in images]
    dupes = sorted({s for s in stems if stems.count(s) > 1})
    if dupes:
        raise InputError(f"several inputs share the name {dupes[0]!r}; outputs go to <outdir>/<name>/, rename one")
    return images


def command(
    images: Annotated[list[Path], typer.Argument(help="Image files or folders of images.")],
    network: NetworkOpt = "demo",
    outdir: OutDirOpt = Path("out"),
    steps: Annotated[int, typer.Option("--steps", min=1, help="Optimization steps (official: 1000).")] = 1000,
    space: Annotated[Space, typer.Option("--space", help="w (one latent, as the paper) or w+ (one per layer).")] = Space.w,
    noise: Annotated[NoiseChoice, typer.Option("--noise", help="Optimize the noise maps, or keep the network's.")] = NoiseChoice.optimize,
    loss: Annotated[LossChoice, typer.Option("--loss", help="lpips (VGG16, needs its weights), effnet (offline), auto.")] = LossChoice.auto,
    mse: Annotated[float, typer.Option("--mse", min=0, help="Weight of an extra pixel MSE term.")] = 0.0,
    lr: Annotated[float, typer.Option("--lr", min=0, help="Initial learning rate.")] = 0.1,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (image i uses seed + i).")] = 0,
    init: Annotated[Path | None, typer.Option("--init", help="Start from this latent file (e.g. to refine).")] = None,
    class_idx: ClassOpt = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Images optimized together.")] = 4,
    no_crop: Annotated[bool, typer.Option("--no-crop", help="Pad to square instead of centre-cropping.")] = False,
    align: Annotated[bool, typer.Option("--align", help="Detect and align the face first (FFHQ recipe).")] = False,
    save_video: Annotated[bool, typer.Option("--save-video", help="Write proj.mp4: target | projection during optimization.")] = False,
    video_every: Annotated[int, typer.Option("--video-every", min=1, help="One video frame per this many steps.")] = 10,
    device: DeviceOpt = "auto",
    force: ForceOpt = False,
) -> None:
    """Project photos into the generator's latent space; writes <outdir>/<name>/{target,proj}.png, latents, report."""
    import contextlib

    import torch
    from rich.table import Table

    from projector import ProjectorConfig, project
    from projector.io import load_target, prepare_target
    from projector.latent_file import load_latent
    from projector.losses import make_perceptual
    from projector.outputs import OUTPUT_FILES, write_projection
    from projector.video import VideoWriter
    from stylegan2_core import class_labels, to_uint8

    from .._console import console, out, progress
    from .._options import check_outputs, load_network, resolve_device

    paths = _collect_images(images)
    outputs = [outdir / p.stem / name for p in paths for name in OUTPUT_FILES + (("proj.mp4",) if save_video else ())]
    check_outputs(outputs, force)
    cfg = ProjectorConfig(steps=steps, space=space.value, optimize_noise=noise is NoiseChoice.optimize, mse_weight=mse,
                          initial_lr=lr, seed=seed)
    dev = resolve_device(device)
    G = load_network(network, dev)
    c = class_labels(class_idx, G.c_dim) if G.c_dim or class_idx is not None else None

    targets, preps = [], []
    for path in paths:
        if align:
            from projector.align import align_file

            face = align_file(path, G.img_resolution)[0]  # the largest face; raises when there is none
            tgt, prep = prepare_target(face.image.astype("float32") / 255, G.img_resolution)
        else:
            tgt, prep = load_target(path, G.img_resolution, crop=not no_crop)
        targets.append(tgt)
        preps.append(prep)
    init_record = load_latent(init, G) if init is not None else None
    distance, notice = make_perceptual(loss.value, device=dev)
    if notice:
        console.print(f"[yellow]note:[/] {notice}")

    table = Table(title=f"projection ({cfg.space}, {steps} steps, {distance.name}, {dev})")
    for col in ("image", "perceptual", "PSNR (dB)", "SSIM", "seconds"):
        table.add_column(col, justify="right" if col != "image" else "left")
    with progress() as bar:
        for start in range(0, len(paths), batch_size):
            chunk = paths[start:start + batch_size]
            target = torch.cat(targets[start:start + batch_size])
            task = bar.add_task(", ".join(p.stem for p in chunk)[:40], total=steps, status="")
            init_ws = init_record.ws.expand(len(chunk), -1, -1) if init_record is not None else None
            init_noise = init_record.noise if init_record is not None and init_record.noise else None
            with contextlib.ExitStack() as stack:
                writers = [stack.enter_context(VideoWriter(outdir / p.stem / "proj.mp4", fps=10)) for p in chunk] \
                    if save_video else []

                def on_step(s, writers=writers, target=target, task=task):
                    bar.update(task, advance=1, status=f"loss {float(s.loss.mean()):.4f}")
                    if writers and (s.step % video_every == 0 or s.step == s.num_steps - 1):
                        frames = to_uint8(torch.cat([target.to(s.images.device), s.images.clamp(-1, 1)], dim=3))
                        for w, frame in zip(writers, frames):
                            w.append(frame)

                result = project(G, target, cfg, c=c, distance=distance, init_ws=init_ws, init_noise=init_noise,
                                 seeds=[seed + start + i for i in range(len(chunk))], callback=on_step)
            for i, path in enumerate(chunk):
                report = write_projection(outdir / path.stem, result, i, target, G, cfg, preps[start + i], str(path),
                                          extra_report={"batch_size": len(chunk)})
                table.add_row(path.stem, f"{report['perceptual_distance']:.4f}", f"{report['psnr_db']:.2f}",
                              f"{report['ssim']:.3f}", f"{report['seconds']:.1f}")
    out.print(table)
    out.print(f"outputs in {outdir}/<name>/ ({', '.join(OUTPUT_FILES)})")
