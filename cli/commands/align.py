"""``s2edit align``: FFHQ-align faces in photos for projection."""

from pathlib import Path
from typing import Annotated

import typer


def align_command(
    photos: Annotated[list[Path], typer.Argument(help="Photos to align.", show_default=False)],
    outdir: Annotated[Path, typer.Option("--outdir", "-o", help="Folder for the aligned images and their JSON.")],
    size: Annotated[int, typer.Option("--size", min=8, help="Side of the aligned square in pixels.")] = 256,
    face: Annotated[
        int | None, typer.Option("--face", min=0, help="Which face: 0 = largest, 1 = next largest, ...")
    ] = None,
    all_faces: Annotated[bool, typer.Option("--all", help="Align every face: <stem>_faceK.png per face.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing outputs.")] = False,
) -> None:
    """Detect the face in each photo and write <stem>.png (aligned, FFHQ crop) and <stem>.json.

    The JSON keeps the landmarks and the source -> aligned transform that
    [bold]s2edit paste[/] needs to put an edited face back into the photo.
    """
    import numpy as np
    from rich.table import Table

    from projector.align import align_file, save_alignment
    from projector.images import save_pixels
    from stylegan2_core.errors import InputError

    from .._console import console, out
    from .._options import check_outputs, hold_outdir

    if all_faces and face is not None:
        raise InputError("--face and --all cannot be used together")
    stems = [photo.stem for photo in photos]
    duplicates = sorted({stem for stem in stems if stems.count(stem) > 1})
    if duplicates:
        raise InputError(f"several photos share the name {', '.join(duplicates)}; their outputs would collide")

    def outputs(photo: Path, count: int | None) -> list[tuple[Path, Path]]:
        names = [photo.stem] if count is None else [f"{photo.stem}_face{k}" for k in range(count)]
        return [(outdir / f"{name}.png", outdir / f"{name}.json") for name in names]

    table = Table("photo", "face", "score", "eye distance", "aligned image")
    with hold_outdir(outdir, "align"):
        if not all_faces:
            check_outputs([p for photo in photos for pair in outputs(photo, None) for p in pair], force)
        for photo in photos:
            with console.status(f"aligning {photo}"):
                aligned = align_file(photo, size, face_index=face, all_faces=all_faces)
            paths = outputs(photo, len(aligned) if all_faces else None)
            if all_faces:  # the face count is known only now
                check_outputs([p for pair in paths for p in pair], force)
            for k, (item, (image_path, json_path)) in enumerate(zip(aligned, paths)):
                save_pixels(image_path, item.image)
                save_alignment(item, json_path, source=photo.resolve())
                eyes = float(np.hypot(*(item.landmarks[1] - item.landmarks[0])))
                index = k if all_faces else (face or 0)
                table.add_row(str(photo), str(index), f"{item.score:.3f}", f"{eyes:.1f} px", str(image_path))
    out.print(table)
