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
)


def command(
    seeds: Annotated[str, typer.Option("--seeds", "-s", help="Seeds, e.g. 0-3,7.")],
    network: NetworkOpt = "demo",
    trunc: TruncOpt = 1.0,
    class_idx: ClassOpt = None,
    noise_mode: NoiseOpt = NoiseMode.const,
    outdir: OutDirOpt = Path("out"),
    grid: Annotated[bool, typer.Option("--grid", help="Also write all images as one grid.png.")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Images per forward pass.")] = 8,
    device: DeviceOpt = "cpu",
    force: ForceOpt = False,
) -> None:
    """Generate images from seeds: writes seed0000.png ... (identical to the official uint8 images)."""
    import imageio.v3 as iio
    import numpy as np
    import torch

    from stylegan2_core import class_labels, parse_seeds, to_uint8, z_from_seeds

    from .._console import out, progress
    from .._options import check_outputs, load_network, resolve_device

    seed_list = parse_seeds(seeds)
    paths = [outdir / f"seed{s:04d}.png" for s in seed_list]
    check_outputs(paths + ([outdir / "grid.png"] if grid else []), force)
    dev = resolve_device(device)
    G = load_network(network, dev)
    c_one = class_labels(class_idx, G.c_dim)
    outdir.mkdir(parents=True, exist_ok=True)
    images = []
    with progress() as bar, torch.no_grad():
        task = bar.add_task("generate", total=len(seed_list), status="")
        for start in range(0, len(seed_list), batch_size):
            chunk = seed_list[start:start + batch_size]
            z = z_from_seeds(chunk, G.z_dim).to(dev)
            c = c_one.repeat(len(chunk), 1).to(dev)
            ws = G.mapping(z, c if G.c_dim else None, truncation_psi=trunc)
            pixels = to_uint8(G.synthesis(ws, noise_mode=noise_mode.value))
            for seed, px, path in zip(chunk, pixels, paths[start:start + batch_size]):
                iio.imwrite(path, px)
                images.append(px)
            bar.update(task, advance=len(chunk))
    if grid:
        cols = int(np.ceil(np.sqrt(len(images))))
        rows = int(np.ceil(len(images) / cols))
        h, w, ch = images[0].shape
        canvas = np.zeros([rows * h, cols * w, ch], dtype=np.uint8)
        for i, px in enumerate(images):
            canvas[(i // cols) * h:(i // cols + 1) * h, (i % cols) * w:(i % cols + 1) * w] = px
        iio.imwrite(outdir / "grid.png", canvas)
    out.print(f"wrote {len(images)} image(s) to {outdir}/ ({G.img_resolution}px, psi={trunc}, noise={noise_mode.value})")
