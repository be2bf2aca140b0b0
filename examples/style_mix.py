"""Style mixing on the demo network: a grid whose cells take some layers' styles from another latent.

Rows are the seeds in ``--row-seeds`` (and, with ``--latent``, a projected face from
``project_image.py`` as the first row); columns are ``--col-seeds``. Cell (i, j) is row i
with the styles at ``--layers`` taken from column j (``coarse``: the 4-8 px styles,
``middle``: 16-32 px, ``fine``: 64 px and up, or indices like ``2-5``). The first row and
column show the sources, as in the official ``style_mixing.py``. Writes ``mix.png`` to ``--outdir``.

    python examples/style_mix.py --latent out/examples/project/latent.safetensors --outdir out/examples/mix
"""

import argparse
from pathlib import Path

import torch

from projector.edits import mixing_grid, parse_layers
from projector.images import save_image
from projector.latent_file import load_latent
from projector.outputs import check_outputs
from stylegan2_core import S2EditError, load_generator, parse_seeds, z_from_seeds


@torch.no_grad()
def run(args: argparse.Namespace) -> None:
    (path,) = check_outputs([args.outdir / "mix.png"], force=args.force)
    G = load_generator(args.network)

    def mapped(seeds: str) -> torch.Tensor:
        return G.mapping(z_from_seeds(parse_seeds(seeds), G.z_dim), None, truncation_psi=args.trunc)

    row_ws, col_ws = mapped(args.row_seeds), mapped(args.col_seeds)
    if args.latent is not None:
        row_ws = torch.cat([load_latent(args.latent, G).ws, row_ws])
    grid, _ = mixing_grid(G, row_ws, col_ws, parse_layers(args.layers, G.num_ws))
    save_image(path, grid[0])
    print(f"{len(row_ws)} rows x {len(col_ws)} columns, layers {args.layers}: wrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--network", default="demo", help="network name or checkpoint path (default: demo)")
    ap.add_argument("--row-seeds", default="0-2", help="seeds of the rows, e.g. 0-2,7")
    ap.add_argument("--col-seeds", default="10-13", help="seeds of the columns (the style donors)")
    ap.add_argument("--latent", type=Path, help="latent file whose latents become the first rows")
    ap.add_argument("--layers", default="coarse", help="ws layers taken from the columns")
    ap.add_argument("--trunc", type=float, default=0.7, help="truncation psi for the seeds")
    ap.add_argument("--outdir", type=Path, default=Path("out/examples/mix"))
    ap.add_argument("--force", action="store_true", help="overwrite existing outputs")
    args = ap.parse_args()
    try:
        run(args)
    except S2EditError as err:
        ap.exit(2, f"error: {err}\n")


if __name__ == "__main__":
    main()
