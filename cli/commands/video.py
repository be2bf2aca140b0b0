"""s2edit video: interpolation videos between seeds or latent files."""

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from .._options import ClassOpt, DeviceOpt, ForceOpt, NetworkOpt, NoiseMode, NoiseOpt, TruncOpt, finite
from .._tuned import NoTunedOpt


class Kind(str, Enum):
    linear = "linear"
    slerp = "slerp"
    cubic = "cubic"


class Easing(str, Enum):
    linear = "linear"
    smoothstep = "smoothstep"
    ease_in_out = "ease-in-out"


def video_command(
    output: Annotated[Path, typer.Option("--output", "-o", help="Video file: .mp4 (H.264), .mov, .mkv or .gif.")],
    seeds: Annotated[str | None, typer.Option("--seeds", "-s", help="Keyframe seeds, e.g. 0,1,2 or 0-3.")] = None,
    latents: Annotated[list[str] | None, typer.Option(
        "--latents", help="Keyframe latent files (more may follow: --latents a.safetensors b.npz).")] = None,
    more_latents: Annotated[list[str] | None, typer.Argument(metavar="LATENTS", show_default=False,
                                                             help="Further keyframe latent files.")] = None,
    frames: Annotated[int, typer.Option("--frames", min=1, help="Frames per transition.")] = 60,
    kind: Annotated[Kind, typer.Option("--kind", help="linear (in W), slerp (in Z, seeds only) or cubic spline "
                                                      "(in W).")] = Kind.linear,
    loop: Annotated[bool, typer.Option("--loop", help="Return to the first keyframe seamlessly.")] = False,
    easing: Annotated[Easing, typer.Option("--easing", help="Timing within each transition.")] = Easing.linear,
    fps: Annotated[float, typer.Option("--fps", parser=finite(0.1, 240), help="Frames per second.")] = 30.0,
    grid: Annotated[str, typer.Option("--grid", help="COLUMNSxROWS independent walks side by side; cell i walks "
                                                     "the seeds shifted by i times the seed span (latent files: "
                                                     "the keyframes rotated by i).")] = "1x1",
    gif: Annotated[bool, typer.Option("--gif", help="Write a GIF (replaces the output's suffix).")] = False,
    translate_path: Annotated[str | None, typer.Option("--translate-path", help="StyleGAN3: translation keyframes "
                                                       "X,Y:X,Y... in image widths, e.g. 0,0:0.2,0.")] = None,
    rotate_path: Annotated[str | None, typer.Option("--rotate-path", help="StyleGAN3: rotation keyframes in degrees, "
                                                    "e.g. 0:30 (each path: 1 or as many keyframes as the walk).")] = None,
    network: NetworkOpt = "demo",
    trunc: TruncOpt = 1.0,
    class_idx: ClassOpt = None,
    noise_mode: NoiseOpt = NoiseMode.const,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Images per forward pass.")] = 8,
    device: DeviceOpt = "auto",
    no_tuned: NoTunedOpt = False,
    force: ForceOpt = False,
) -> None:
    """Render a latent walk through keyframes (seeds or latent files) to a video."""
    from projector.edits import walk_video
    from projector.generate import parse_rotate_path, parse_translate_path
    from projector.video import VIDEO_SUFFIXES, parse_grid
    from stylegan2_core import InputError, class_labels, parse_seeds

    from .._console import out, progress
    from .._options import check_outputs, load_network, resolve_device
    from .._tuned import with_tuned

    files = [*(latents or []), *(more_latents or [])]
    if (seeds is None) == (not files):
        raise InputError("pass keyframes as either --seeds or --latents (not both)")
    output = output.with_suffix(".gif") if gif else output
    if output.suffix.lower() not in VIDEO_SUFFIXES:
        raise InputError(f"{output}: unsupported video type; use one of {', '.join(VIDEO_SUFFIXES)}")
    gw, gh = parse_grid(grid)
    moves = {"translate_path": parse_translate_path(translate_path), "rotate_path": parse_rotate_path(rotate_path)}
    check_outputs([output], force)
    G = with_tuned(load_network(network, resolve_device(device)), files, no_tuned)
    with progress() as bar:
        task = bar.add_task("video", total=None, status=output.name)
        made = walk_video(G, output, seeds=parse_seeds(seeds) if seeds is not None else None, latents=files or None,
                          frames=frames, kind=kind.value, loop=loop, easing=easing.value, fps=fps, grid=(gw, gh),
                          truncation_psi=trunc, c=class_labels(class_idx, G.c_dim), noise_mode=noise_mode.value,
                          batch_size=batch_size, **moves, progress=lambda done, total: bar.update(
                              task, completed=done, total=total))
    out.print(_table(f"{network} ({G.img_resolution}px)", made, f"{kind.value}, {easing.value} easing"
                     f"{', loop' if loop else ''}", frames, fps, f"{gw}x{gh}", f"{trunc} / {noise_mode.value}",
                     translate_path, rotate_path))


def _table(network: str, made, interpolation: str, frames: int, fps: float, grid: str, trunc_noise: str,
           translate_path: str | None, rotate_path: str | None):
    from rich.table import Table

    rows = {"network": network, "keyframes": ", ".join(made.labels), "interpolation": interpolation,
            "frames": f"{made.frames} ({frames} per transition, {fps:g} fps, {made.frames / fps:.1f} s)",
            "grid": grid, "truncation / noise": trunc_noise}
    if translate_path is not None or rotate_path is not None:
        rows["translate / rotate"] = f"{translate_path or '0,0'} / {rotate_path or '0'}"
    rows["written"] = str(made.path)
    table = Table(title="latent walk", show_header=False)
    for key, value in rows.items():
        table.add_row(key, value)
    return table
