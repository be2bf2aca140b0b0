"""s2edit edit: move a latent along a direction and render the result."""

from pathlib import Path
from typing import Annotated

import typer

from .._options import ClassOpt, DeviceOpt, ForceOpt, NetworkOpt, NoiseMode, NoiseOpt, TruncOpt, finite
from .._tuned import NoTunedOpt


def edit_command(
    latent: Annotated[str, typer.Argument(help="Latent file, or seed(s) mapped with --trunc.")],
    directions: Annotated[list[Path], typer.Option("--direction", "-d", help="Directions file (.npz, .safetensors, "
                                                                             "or a bare .npy boundary); once.")],
    index: Annotated[int, typer.Option("--index", "-i", min=0, help="Which direction of the file.")] = 0,
    strength: Annotated[str, typer.Option("--strength", help="START:STOP:COUNT or a comma list of "
                                                             "strengths.")] = "-3:3:7",
    layers: Annotated[str | None, typer.Option("--layers", help="ws layers to edit: 0-7, coarse, middle, fine or "
                                                                "all (default: the direction's own layers, "
                                                                "else all).")] = None,
    outdir: Annotated[Path | None, typer.Option("--outdir", "-o", help="Writes <latent>_<direction>_strip.png and one "
                                                                       "<latent>_<direction>_<strength>.png each")] = None,
    video: Annotated[Path | None, typer.Option("--video", help="Video (.mp4/.gif) with one frame per "
                                                               "strength.")] = None,
    fps: Annotated[float, typer.Option("--fps", parser=finite(0.1, 240), help="Frame rate of --video.")] = 15.0,
    network: NetworkOpt = "demo",
    trunc: TruncOpt = 1.0,
    class_idx: ClassOpt = None,
    noise_mode: NoiseOpt = NoiseMode.const,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Images per forward pass.")] = 8,
    device: DeviceOpt = "auto",
    no_tuned: NoTunedOpt = False,
    force: ForceOpt = False,
) -> None:
    """Apply strength x direction to the chosen layers of LATENT: an image strip, per-strength images or a video."""
    from projector.edits import parse_strengths, plan_edit, render_edit
    from stylegan2_core.errors import InputError

    from .._console import console, out, progress, stage_progress
    from .._options import check_outputs, hold_outdir, load_network, resolve_device
    from .._tuned import with_tuned

    if outdir is None and video is None:
        raise InputError("nothing to write: pass --outdir and/or --video")
    if len(directions) > 1:
        raise InputError(f"--direction given {len(directions)} times: one edit moves along one direction (pick one "
                         "with --direction FILE --index I); run edit again on its output latent to combine edits")
    direction = directions[0]
    strengths = parse_strengths(strength)
    G = with_tuned(load_network(network, resolve_device(device)), [latent], no_tuned)
    plan = plan_edit(G, latent, direction, strengths, index, layers, truncation_psi=trunc, class_idx=class_idx)
    for warning in plan.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    with hold_outdir(outdir, "edit"):
        check_outputs(plan.outputs(outdir, video), force)
        with progress() as bar:
            render_edit(G, plan, outdir, video, noise_mode=noise_mode.value, fps=fps, batch_size=batch_size,
                        progress=stage_progress(bar, {"video": video.name if video else ""}), force=force)
    out.print(_table(plan, direction, outdir, video, noise_mode.value, fps))


def _table(plan, direction: Path, outdir: Path | None, video: Path | None, noise_mode: str, fps: float):
    from rich.table import Table

    index, strengths = plan.index, plan.strengths
    table = Table(title="edit", show_header=False)
    table.add_row("latent", ", ".join(plan.labels))
    table.add_row("direction", f"{direction} [{index}] {plan.directions.names[index]} ({plan.directions.method})")
    table.add_row("layers", "all" if plan.layers is None else ",".join(map(str, plan.layers)))
    table.add_row("noise", "the latent file's saved maps" if plan.noise and outdir is not None else noise_mode)
    table.add_row("strengths", ", ".join(f"{x:+.2f}" for x in strengths))
    if outdir is not None:
        table.add_row("images", f"{outdir / plan.strip_name} (rows: latents, columns: strengths) + "
                                f"{len(plan.image_names)} images")
    if video is not None:
        table.add_row("video", f"{video} ({len(strengths)} frames, {fps:g} fps)")
    return table
