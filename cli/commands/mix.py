"""s2edit mix: style-mixing grids, as the official style_mixing.py lays them out."""

from pathlib import Path
from typing import Annotated

import typer

from .._options import ClassOpt, DeviceOpt, ForceOpt, NetworkOpt, NoiseMode, NoiseOpt, OutDirOpt, TruncOpt, finite
from .._tuned import NoTunedOpt


def mix_command(
    rows: Annotated[list[str], typer.Option("--rows", help="Row latents: seeds (0,1 or 0-3) and/or latent files; "
                                                           "they keep their styles outside --styles.")],
    cols: Annotated[list[str], typer.Option("--cols", help="Column latents: seeds and/or latent files; their styles "
                                                           "replace the row's at --styles.")],
    styles: Annotated[str, typer.Option("--styles", help="ws layers taken from the column: 0-3, 0,2,4-5, coarse, "
                                                         "middle, fine or all.")] = "0-6",
    outdir: OutDirOpt = Path("out"),
    network: NetworkOpt = "demo",
    trunc: TruncOpt = 1.0,
    class_idx: ClassOpt = None,
    noise_mode: NoiseOpt = NoiseMode.const,
    video: Annotated[Path | None, typer.Option("--video", help="Also write a video (.mp4/.gif) of the grid as the "
                                                               "crossover sweeps: frame k takes layers 0..k-1 from "
                                                               "the column.")] = None,
    fps: Annotated[float, typer.Option("--fps", parser=finite(0.1, 240), help="Frame rate of --video.")] = 2.0,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Images per forward pass.")] = 16,
    device: DeviceOpt = "auto",
    no_tuned: NoTunedOpt = False,
    force: ForceOpt = False,
) -> None:
    """Mix styles: writes grid.png and one {row}-{col}.png per cell (row latent, column styles at --styles)."""
    import contextlib

    from rich.table import Table

    from projector.edits import mixing_outputs, parse_layers, write_mixing, ws_resolutions
    from projector.latent_file import resolve_latents

    from .._console import out, progress
    from .._options import check_outputs, hold_outdir, load_network, resolve_device
    from .._tuned import with_tuned

    G = with_tuned(load_network(network, resolve_device(device)), [*rows, *cols], no_tuned)
    layers = parse_layers(styles, G.num_ws, ws_resolutions(G))
    row_ws, row_labels = resolve_latents(rows, G, truncation_psi=trunc, class_idx=class_idx)
    col_ws, col_labels = resolve_latents(cols, G, truncation_psi=trunc, class_idx=class_idx)
    with hold_outdir(outdir, "mix"):
        paths = check_outputs(mixing_outputs(row_labels, col_labels, outdir, video), force)
        with progress() if video else contextlib.nullcontext() as bar:
            task = bar.add_task("crossover video", total=G.num_ws + 1, status="") if bar else None
            write_mixing(G, row_ws, col_ws, layers, outdir, row_labels, col_labels, noise_mode=noise_mode.value,
                         batch_size=batch_size, video=video, fps=fps, force=force,
                         progress=lambda k, n: bar.update(task, completed=k, status=f"layers 0..{k - 2}" if k > 1
                                                          else "rows only"))

    table = Table(title="style mixing", show_header=False)
    table.add_row("network", f"{network} ({G.img_resolution}px, {G.num_ws} ws)")
    table.add_row("rows", ", ".join(row_labels))
    table.add_row("columns", ", ".join(col_labels))
    table.add_row("layers from column", ",".join(map(str, layers)))
    table.add_row("truncation / noise", f"{trunc} / {noise_mode.value}")
    table.add_row("written", f"{outdir / 'grid.png'} + {len(paths) - 1 - bool(video)} cells in {outdir}/")
    if video is not None:
        table.add_row("video", f"{video} ({G.num_ws + 1} frames)")
    out.print(table)
