"""s2edit edit: move a latent along a direction (and by fixed edits) and render the result."""

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from .._options import ClassOpt, DeviceOpt, ForceOpt, NetworkOpt, NoiseMode, NoiseOpt, TruncOpt, finite
from .._tuned import NoTunedOpt


class Space(str, Enum):
    auto = "auto"
    w = "w"
    z = "z"


DirectionOpt = Annotated[list[Path] | None, typer.Option(
    "--direction", "-d", help="Swept direction file: s2edit's .npz/.safetensors or a published one (InterFaceGAN "
                              ".npy, e4e/PTI .pt, GANSpace .npz/ffhq_pca.pt, SeFa factor.pt, ...); once.")]
AddOpt = Annotated[list[str] | None, typer.Option(
    "--add", help="Fixed edit FILE[:INDEX]=STRENGTH\\[@LAYERS], applied at every strength (repeatable).")]
KeepOpt = Annotated[list[str] | None, typer.Option(
    "--keep", help="Keep FILE[:INDEX] fixed: every edit is made orthogonal to it (repeatable).")]
SpaceOpt = Annotated[Space, typer.Option(
    "--space", help="The --direction file's space: auto (from the file and its name), w, or z (seeds only).")]
LayersOpt = Annotated[str | None, typer.Option(
    "--layers", help="ws layers to edit: 0-7, coarse, middle, fine or all (default: the direction's own layers, "
                     "else all).")]
OutdirOpt = Annotated[Path | None, typer.Option(
    "--outdir", "-o", help="Writes <latent>_<direction>_strip.png and one <latent>_<direction>_<strength>.png each")]
SaveLatentsOpt = Annotated[bool, typer.Option(
    "--save-latents", help="Also write one latent file per image (next to it), recording the edit recipe.")]


def edit_command(
    latent: Annotated[str, typer.Argument(help="Latent file, or seed(s) mapped with --trunc.")],
    directions: DirectionOpt = None,
    index: Annotated[int, typer.Option("--index", "-i", min=0, help="Which direction of the file.")] = 0,
    strength: Annotated[str, typer.Option("--strength", help="START:STOP:COUNT or a comma list of "
                                                             "strengths.")] = "-3:3:7",
    layers: LayersOpt = None,
    add: AddOpt = None,
    keep: KeepOpt = None,
    space: SpaceOpt = Space.auto,
    outdir: OutdirOpt = None,
    save_latents: SaveLatentsOpt = False,
    video: Annotated[Path | None, typer.Option("--video", help="Video (.mp4/.gif), one frame per strength.")] = None,
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
    """Apply strength x direction (plus fixed --add edits, keeping --keep directions fixed) to LATENT."""
    from projector.edits import parse_edit, parse_strengths, plan_edit, render_edit, ws_resolutions
    from stylegan2_core.errors import InputError

    from .._console import console, out, progress, stage_progress
    from .._options import check_outputs, hold_outdir, load_network, resolve_device
    from .._tuned import with_tuned

    if outdir is None and video is None:
        raise InputError("nothing to write: pass --outdir and/or --video")
    if len(directions or []) > 1:
        raise InputError(f"--direction given {len(directions)} times: one direction is swept; add the others "
                         "at a fixed strength with --add FILE=STRENGTH")
    strengths = parse_strengths(strength)
    G = with_tuned(load_network(network, resolve_device(device)), [latent], no_tuned)
    plan = plan_edit(G, latent, directions[0] if directions else None, strengths, index, layers, trunc, class_idx,
                     adds=[parse_edit(a, G.num_ws, ws_resolutions(G)) for a in add or []], keep=keep or [],
                     space=None if space is Space.auto else space.value)
    for warning in plan.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    with hold_outdir(outdir, "edit"):
        check_outputs(plan.outputs(outdir, video, save_latents), force)
        with progress() as bar:
            render_edit(G, plan, outdir, video, noise_mode=noise_mode.value, fps=fps, batch_size=batch_size,
                        progress=stage_progress(bar, {"video": video.name if video else ""}), force=force,
                        save_latents=save_latents, removed=lambda gone: console.print(
                            f"--force removed {len(gone)} earlier output(s) of this edit: {', '.join(map(str, gone))}"))
    out.print(_table(plan, outdir, video, noise_mode.value, fps))


def _edit_row(e) -> str:
    layers = "all layers" if e.layers is None else "layers " + ",".join(map(str, e.layers))
    kept = f", orthogonal to {', '.join(e.conditioned_on)}" if e.conditioned_on else ""
    return f"{e.recipe.direction} [{e.recipe.index}] {e.name} ({e.space.upper()}, {layers}{kept})"


def _table(plan, outdir: Path | None, video: Path | None, noise_mode: str, fps: float):
    from rich.table import Table

    table = Table(title="edit", show_header=False)
    table.add_row("latent", ", ".join(plan.labels))
    if plan.sweep is not None:
        table.add_row("direction", _edit_row(plan.sweep))
        table.add_row("strengths", ", ".join(f"{x:+.2f}" for x in plan.strengths))
    for e in plan.edits:
        table.add_row("fixed edit", f"{e.strength:+g} x {_edit_row(e)}")
    table.add_row("noise", "the latent file's saved maps" if plan.noise and outdir is not None else noise_mode)
    if outdir is not None:
        table.add_row("images", f"{outdir / plan.strip_name} (rows: latents, columns: strengths) + "
                                f"{len(plan.image_names)} images")
    if video is not None:
        table.add_row("video", f"{video} ({len(plan.strengths)} frames, {fps:g} fps)")
    return table
