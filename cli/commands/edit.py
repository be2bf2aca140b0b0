"""s2edit edit: move a latent along a direction and render the result."""

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


def parse_strengths(text: str) -> list[float]:
    """``"-3:3:7"`` (start:stop:count, inclusive) or ``"-2,0,2"`` -> strengths."""
    import numpy as np

    from stylegan2_core.errors import InputError

    try:
        if ":" in text:
            start, stop, count = text.split(":")
            if int(count) < 1:
                raise ValueError
            return np.linspace(float(start), float(stop), int(count)).tolist()
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise InputError(f"bad --strength {text!r}: expected START:STOP:COUNT (e.g. -3:3:7) "
                         "or a list (-2,0,2)") from None


def command(
    latent: Annotated[str, typer.Argument(help="Latent file, or seed(s) mapped with --trunc.")],
    direction: Annotated[Path, typer.Option("--direction", "-d", help="Directions file (.npz, .safetensors, or a "
                                                                       "bare .npy boundary).")],
    index: Annotated[int, typer.Option("--index", "-i", min=0, help="Which direction of the file.")] = 0,
    strength: Annotated[str, typer.Option("--strength", help="START:STOP:COUNT or a comma list of "
                                                             "strengths.")] = "-3:3:7",
    layers: Annotated[str | None, typer.Option("--layers", help="ws layers to edit: 0-7, coarse, middle, fine or "
                                                                "all (default: the direction's own layers, "
                                                                "else all).")] = None,
    outdir: Annotated[Path | None, typer.Option("--outdir", "-o", help="Writes strip.png and one image per "
                                                                       "strength.")] = None,
    video: Annotated[Path | None, typer.Option("--video", help="Video (.mp4/.gif) with one frame per "
                                                               "strength.")] = None,
    fps: Annotated[float, typer.Option("--fps", min=0.1, help="Frame rate of --video.")] = 15.0,
    network: NetworkOpt = "demo",
    trunc: TruncOpt = 1.0,
    class_idx: ClassOpt = None,
    noise_mode: NoiseOpt = NoiseMode.const,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Images per forward pass.")] = 8,
    device: DeviceOpt = "cpu",
    force: ForceOpt = False,
) -> None:
    """Apply strength x direction to the chosen layers of LATENT: an image strip, per-strength images or a video."""
    import imageio.v3 as iio
    import numpy as np
    import torch
    from rich.table import Table

    from projector.edits import (
        apply_direction,
        direction_sweep,
        load_directions,
        parse_layers,
    )
    from projector.latent_file import load_latent, resolve_latents
    from projector.video import render_video
    from stylegan2_core import to_uint8
    from stylegan2_core.errors import InputError

    from .._console import console, out, progress
    from .._options import check_outputs, load_network, resolve_device

    if outdir is None and video is None:
        raise InputError("nothing to write: pass --outdir and/or --video")
    strengths = parse_strengths(strength)
    ds = load_directions(direction)
    if index >= len(ds):
        raise InputError(f"--index {index} out of range: {direction} holds {len(ds)} directions")

    dev = resolve_device(device)
    G = load_network(network, dev)
    if ds.directions.shape[1] != G.w_dim:
        raise InputError(f"{direction}: directions have w_dim {ds.directions.shape[1]}, the network {G.w_dim}")
    recorded = ds.meta.get("model_sha256")
    if recorded and recorded != G.checkpoint.sha256:
        console.print(f"[yellow]warning:[/] {direction} was made for another model (sha256 {recorded[:12]}...)")
    chosen = parse_layers(layers, G.num_ws) if layers else ds.layers
    if chosen is not None and max(chosen) >= G.num_ws:
        raise InputError(f"{direction}: made for ws layers {chosen}, this network has 0 .. {G.num_ws - 1}")
    ws, labels = resolve_latents([latent], G, truncation_psi=trunc, class_idx=class_idx)
    # A projection's optimized noise maps belong to its latent: strength 0 then redraws proj.png.
    saved_noise = load_latent(latent, G).noise if Path(latent).is_file() and len(labels) == 1 else None
    d = ds.directions[index].to(dev)

    names = [f"{label}_{s:+.2f}.png" for label in labels for s in strengths]
    planned = ([outdir / "strip.png", *(outdir / n for n in names)] if outdir else []) + ([video] if video else [])
    check_outputs(planned, force)

    if outdir is not None:
        edited = apply_direction(ws, d, torch.tensor(strengths), chosen)  # [N·S], latent-major
        torch.manual_seed(0)  # --noise-mode random is reproducible
        with progress() as bar, torch.no_grad():
            task = bar.add_task("edit", total=len(edited), status="")
            pixels = []
            for chunk in edited.split(batch_size):
                noise = [m.expand(len(chunk), -1, -1, -1) for m in saved_noise] if saved_noise else None
                pixels.append(to_uint8(G.synthesis(chunk, noise_mode=noise_mode.value, noise=noise)))
                bar.update(task, advance=len(chunk))
        pixels = np.concatenate(pixels)
        outdir.mkdir(parents=True, exist_ok=True)
        for name, px in zip(names, pixels):
            iio.imwrite(outdir / name, px)
        n, s = len(labels), len(strengths)
        _, h, w, c = pixels.shape
        strip = pixels.reshape(n, s, h, w, c).transpose(0, 2, 1, 3, 4).reshape(n * h, s * w, c)
        iio.imwrite(outdir / "strip.png", strip)

    if video is not None:
        frames = direction_sweep(ws if len(labels) > 1 else ws[0], d, strengths, chosen, batch_size)
        torch.manual_seed(0)
        with progress() as bar:
            task = bar.add_task("video", total=len(strengths), status=video.name)
            render_video(G, frames, video, batch_size=batch_size, noise_mode=noise_mode.value, fps=fps,
                         progress=lambda k: bar.update(task, advance=k))

    table = Table(title="edit", show_header=False)
    table.add_row("latent", ", ".join(labels))
    table.add_row("direction", f"{direction} [{index}] {ds.names[index]} ({ds.method})")
    table.add_row("layers", "all" if chosen is None else ",".join(map(str, chosen)))
    table.add_row("noise", "the latent file's saved maps" if saved_noise and outdir is not None else noise_mode.value)
    table.add_row("strengths", ", ".join(f"{x:+.2f}" for x in strengths))
    if outdir is not None:
        table.add_row("images", f"{outdir / 'strip.png'} (rows: latents, columns: strengths) + {len(names)} images")
    if video is not None:
        table.add_row("video", f"{video} ({len(strengths)} frames, {fps:g} fps)")
    out.print(table)
