"""``s2edit world``: render the procedural demo world (images + labels.csv)."""

from pathlib import Path
from typing import Annotated

import typer

from .._options import ForceOpt


def world_command(
    count: Annotated[int, typer.Option("--count", "-c", min=1, help="Number of images (consecutive seeds).")] = 16,
    outdir: Annotated[Path, typer.Option("--outdir", "-o", help="Output folder for PNGs and labels.csv.")] = Path(
        "data/world"
    ),
    size: Annotated[int, typer.Option("--size", min=8, help="Image side in pixels.")] = 64,
    start_seed: Annotated[int, typer.Option("--start-seed", min=0, help="First seed.")] = 0,
    force: ForceOpt = False,
) -> None:
    """Render cartoon faces with known attributes: world_SEED.png files plus labels.csv."""
    from projector.world import world_outputs, write_world

    from .._console import console, progress
    from .._options import check_outputs, hold_outdir

    with hold_outdir(outdir, "world"):
        check_outputs(world_outputs(outdir, count, start_seed), force)
        with progress() as bar:
            task = bar.add_task("rendering", total=count, status="")
            csv_path = write_world(
                outdir,
                count,
                size=size,
                start_seed=start_seed,
                progress=lambda done, total: bar.update(task, completed=done, status=f"seed {start_seed + done - 1}"),
            )
    console.print(f"wrote {count} images of {size} px and {csv_path}")
