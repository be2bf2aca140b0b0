"""Edit latents with the Python API: a SeFa direction on the coarse layers, then style mixing."""

import argparse
from pathlib import Path

import torch

from projector.edits import apply_direction, parse_layers, sefa, style_mix
from projector.io import save_image
from stylegan2_core import load_generator, z_from_seeds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--network", default="tests/fixtures/ada_tiny.pkl")
    ap.add_argument("--outdir", type=Path, default=Path("out/examples/edit"))
    args = ap.parse_args()

    G = load_generator(args.network, device="cpu")
    with torch.no_grad():
        ws = G.mapping(z_from_seeds([0, 1], G.z_dim), None, truncation_psi=0.7)  # [2, num_ws, w_dim]
        coarse = parse_layers("coarse", G.num_ws)
        directions = sefa(G, layers=coarse, k=3)
        strengths = torch.tensor([-3.0, 0.0, 3.0])
        edited = apply_direction(ws[:1], directions.directions[0], strengths, coarse)  # [3, num_ws, w_dim]
        mixed = style_mix(ws[:1], ws[1:], coarse)  # seed 0 with seed 1's coarse styles
        for i, img in enumerate(G.synthesis(edited)):
            save_image(args.outdir / f"sefa0_{float(strengths[i]):+.0f}.png", img)
        save_image(args.outdir / "mix_0_coarse_from_1.png", G.synthesis(mixed)[0])
    print(f"SeFa eigenvalues {[round(float(v), 2) for v in directions.values]}; images in {args.outdir}")


if __name__ == "__main__":
    main()
