"""s2edit generate: images from seeds, named as the official generate.py names them."""

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
    OutDirOpt,
    TruncOpt,
    finite,
)


def generate_command(
    seeds: Annotated[str, typer.Option("--seeds", "-s", help="Seeds, e.g. 0-3,7.")],
    network: NetworkOpt = "demo",
    trunc: TruncOpt = 1.0,
    class_idx: ClassOpt = None,
    noise_mode: NoiseOpt = NoiseMode.const,
    outdir: OutDirOpt = Path("out"),
    grid: Annotated[bool, typer.Option("--grid", help="Also write all images as one grid.png.")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Images per forward pass.")] = 8,
    translate: Annotated[str | None, typer.Option("--translate", help="StyleGAN3: translate the image by X,Y "
                                                  "(e.g. 0.1,-0.05), as the official gen_images.py.")] = None,
    rotate: Annotated[float | None, typer.Option("--rotate", parser=finite(),
                                                 help="StyleGAN3: rotate the image by DEG degrees.")] = None,
    device: DeviceOpt = "auto",
    force: ForceOpt = False,
) -> None:
    """Generate images from seeds: writes seed0000.png ... (identical to the official uint8 images)."""
    from projector.generate import generate_seed_images, parse_translate, seed_image_paths
    from stylegan2_core import class_labels, parse_seeds

    from .._console import out, progress
    from .._options import check_outputs, hold_outdir, load_network, resolve_device

    seed_list = parse_seeds(seeds)
    shift = parse_translate(translate) if translate is not None else None
    with hold_outdir(outdir, "generate"):
        check_outputs(seed_image_paths(seed_list, outdir, grid), force)
        G = load_network(network, resolve_device(device))
        c = class_labels(class_idx, G.c_dim)
        with progress() as bar:
            task = bar.add_task("generate", total=len(seed_list), status="")
            generate_seed_images(G, seed_list, outdir, truncation_psi=trunc, c=c, noise_mode=noise_mode.value,
                                 grid=grid, batch_size=batch_size, progress=lambda n: bar.update(task, advance=n),
                                 force=force, translate=shift, rotate=rotate)
    out.print(f"wrote {len(seed_list)} image(s) to {outdir}/ ({G.img_resolution}px, psi={trunc}, "
              f"noise={noise_mode.value})")
