"""Generate images from seeds with the Python API (the same images as the official generate.py)."""

import argparse
from pathlib import Path

import torch

from projector.io import save_image
from stylegan2_core import load_generator, z_from_seeds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--network", default="tests/fixtures/ada_tiny.pkl")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--trunc", type=float, default=0.7)
    ap.add_argument("--outdir", type=Path, default=Path("out/examples/generate"))
    args = ap.parse_args()

    G = load_generator(args.network, device="cpu")
    z = z_from_seeds(args.seeds, G.z_dim)
    c = torch.eye(G.c_dim)[[s % G.c_dim for s in args.seeds]] if G.c_dim else None
    with torch.no_grad():
        ws = G.mapping(z, c, truncation_psi=args.trunc)  # [N, num_ws, w_dim]
        images = G.synthesis(ws, noise_mode="const")  # NCHW in [-1, 1]
    for seed, img in zip(args.seeds, images):
        save_image(args.outdir / f"seed{seed:04d}.png", img)
    print(f"wrote {len(args.seeds)} images to {args.outdir}")


if __name__ == "__main__":
    main()
