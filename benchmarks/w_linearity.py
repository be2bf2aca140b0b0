"""How linearly W encodes each world attribute, for one or more generators.

For each network: map ``--samples`` seeded z to w, draw the images (constant noise), score
them with the shipped world predictor, fit a ridge regression from w to each attribute on
80 % of the samples and report R² on the other 20 %. Linear directions (InterFaceGAN,
``s2edit directions svm``) can only move what W holds linearly, so this explains which
attribute edits a model supports, and tracks that across the snapshots of a training run.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/w_linearity.py demo runs/demo/network-snapshot-000232.safetensors
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from projector.world.predictor import default_predictor
from stylegan2_core import load_generator, z_samples

RIDGE = 0.1
HOLDOUT = 0.2


def linear_r2(w: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Held-out R² of a ridge regression from ``w`` [N, D] to every column of ``scores`` [N, A]."""
    x = np.concatenate([w, np.ones((len(w), 1))], axis=1).astype(np.float64)
    split = int(len(x) * (1 - HOLDOUT))
    coef = np.linalg.solve(x[:split].T @ x[:split] + RIDGE * np.eye(x.shape[1]), x[:split].T @ scores[:split])
    residual = ((x[split:] @ coef - scores[split:]) ** 2).mean(0)
    return 1 - residual / scores[split:].var(0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("networks", nargs="+", help="network names or files")
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()

    predictor = default_predictor()
    names = list(predictor.names)
    print(f"Held-out R² of a ridge regression (λ {RIDGE}) from w to each predicted attribute; {args.samples} "
          f"samples (z seed {args.seed}), {HOLDOUT:.0%} held out, constant noise.")
    print()
    print("| network | " + " | ".join(names) + " |")
    print("| --- | " + " | ".join("---:" for _ in names) + " |")
    for network in args.networks:
        G = load_generator(network)
        z = z_samples(args.samples, G.z_dim, args.seed)
        with torch.no_grad():
            ws = G.mapping(z, None)
            scores = torch.cat([predictor.predict_labels(G.synthesis(chunk, noise_mode="const"))
                                for chunk in ws.split(100)]).numpy()
        r2 = linear_r2(ws[:, 0].numpy(), scores)
        print(f"| {network} | " + " | ".join(f"{v:.2f}" for v in r2) + " |")
    print()
    print(f"Measured in {time.time() - t0:.0f} s.")


if __name__ == "__main__":
    main()
