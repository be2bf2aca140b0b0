"""s2edit video: interpolation videos between seeds or latent files."""

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from .._options import (
    ClassOpt,
    DeviceOpt,
    ForceOpt,
    NetworkOpt,
    NoiseMode,
    NoiseOpt,
    TruncOpt,
)


class Kind(str, Enum):
    linear = "linear"
    slerp = "slerp"
    cubic = "cubic"


class Easing(str, Enum):
    linear = "linear"
    smoothstep = "smoothstep"
    ease_in_out = "ease-in-out"


def _parse_grid(text: str) -> tuple[int, int]:
    from stylegan2_core.errors import InputError

    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise InputError(f"bad --grid {text!r}: expected COLUMNSxROWS, e.g. 2x2")
    return int(parts[0]), int(parts[1])


def command(
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
    fps: Annotated[float, typer.Option("--fps", min=0.1, help="Frames per second.")] = 30.0,
    grid: Annotated[str, typer.Option("--grid", help="COLUMNSxROWS independent walks side by side; cell i walks "
                                                     "the seeds shifted by i times the seed span (latent files: "
                                                     "the keyframes rotated by i).")] = "1x1",
    gif: Annotated[bool, typer.Option("--gif", help="Write a GIF (replaces the output's suffix).")] = False,
    network: NetworkOpt = "demo",
    trunc: TruncOpt = 1.0,
    class_idx: ClassOpt = None,
    noise_mode: NoiseOpt = NoiseMode.const,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Images per forward pass.")] = 8,
    device: DeviceOpt = "cpu",
    force: ForceOpt = False,
) -> None:
    """Render a latent walk through keyframes (seeds or latent files) to a video."""
    import torch
    from rich.table import Table

    from projector.edits import frame_count, grid_seeds, walk
    from projector.latent_file import load_latent
    from projector.video import VIDEO_SUFFIXES, render_video
    from stylegan2_core import class_labels, parse_seeds, z_from_seeds
    from stylegan2_core.errors import InputError

    from .._console import out, progress
    from .._options import check_outputs, load_network, resolve_device

    files = [*(latents or []), *(more_latents or [])]
    if (seeds is None) == (not files):
        raise InputError("pass keyframes as either --seeds or --latents (not both)")
    if gif:
        output = output.with_suffix(".gif")
    if output.suffix.lower() not in VIDEO_SUFFIXES:
        raise InputError(f"{output}: unsupported video type; use one of {', '.join(VIDEO_SUFFIXES)}")
    gw, gh = _parse_grid(grid)
    cells = gw * gh
    check_outputs([output], force)

    dev = resolve_device(device)
    G = load_network(network, dev)
    c = class_labels(class_idx, G.c_dim)
    if seeds is not None:
        seed_list = parse_seeds(seeds)
        per_cell = grid_seeds(seed_list, cells)
        z = torch.stack([z_from_seeds(s, G.z_dim) for s in per_cell], dim=1)  # [K, cells, z_dim]
        keys = dict(z=z if cells > 1 else z[:, 0])
        labels = ", ".join(map(str, seed_list))
    else:
        ws = torch.cat([load_latent(f, G).ws for f in files])
        stacked = torch.stack([ws.roll(-i, dims=0) for i in range(cells)], dim=1)
        keys = dict(ws=stacked if cells > 1 else ws)
        labels = ", ".join(Path(f).stem for f in files)
    num_keys = next(iter(keys.values())).shape[0]
    total = frame_count(num_keys, frames, loop)
    ws_iter = walk(G, frames, **keys, kind=kind.value, loop=loop, easing=easing.value, truncation_psi=trunc, c=c,
                   batch_size=batch_size)

    torch.manual_seed(0)  # --noise-mode random is reproducible
    with progress() as bar:
        task = bar.add_task("video", total=total, status=output.name)
        written = render_video(G, ws_iter, output, batch_size=batch_size, noise_mode=noise_mode.value, fps=fps,
                               grid=(gw, gh), progress=lambda n: bar.update(task, advance=n))

    table = Table(title="latent walk", show_header=False)
    table.add_row("network", f"{network} ({G.img_resolution}px)")
    table.add_row("keyframes", labels)
    table.add_row("interpolation", f"{kind.value}, {easing.value} easing{', loop' if loop else ''}")
    table.add_row("frames", f"{written} ({frames} per transition, {fps:g} fps, {written / fps:.1f} s)")
    table.add_row("grid", f"{gw}x{gh}")
    table.add_row("truncation / noise", f"{trunc} / {noise_mode.value}")
    table.add_row("written", str(output))
    out.print(table)
