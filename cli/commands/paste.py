"""``s2edit paste``: put an edited aligned face back into its original photo."""

from pathlib import Path
from typing import Annotated

import typer

from .._options import finite


def paste_command(
    original: Annotated[Path, typer.Argument(help="The photo the face was aligned from.", show_default=False)],
    edited: Annotated[Path, typer.Argument(help="The edited aligned image.", show_default=False)],
    alignment: Annotated[Path, typer.Option("--alignment", "-a", help="The JSON written by s2edit align.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the composited photo.")],
    feather: Annotated[
        float,
        typer.Option("--feather", parser=finite(0.0, 0.5), help="Width of the blended edge, as a fraction of the face square."),
    ] = 0.08,
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUTPUT if it exists.")] = False,
) -> None:
    """Warp EDITED back through the alignment's transform and blend it into ORIGINAL."""
    from projector.align import load_alignment, paste_file
    from projector.images import IMAGE_SUFFIXES, save_pixels
    from stylegan2_core.errors import InputError

    from .._console import out
    from .._options import check_outputs

    if output.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(f"{output}: use an image extension such as .png or .jpg")
    check_outputs([output], force)
    record = load_alignment(alignment)
    result = paste_file(original, edited, record, feather=feather)
    save_pixels(output, result)
    out.print(f"wrote {output} ({result.shape[1]}x{result.shape[0]})")
