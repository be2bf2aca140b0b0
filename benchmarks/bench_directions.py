"""Supervised attribute directions on the demo model, measured with the world predictor.

For each attribute: score ``--samples`` generated images with the shipped world predictor,
fit the InterFaceGAN direction (linear SVM in W, held-out accuracy), then move
``--eval`` other latents (a disjoint seed stream) along it at strengths -2σ..+2σ, where σ
is the std of the fitted w along the direction, and predict every attribute on the edits.

Each attribute is edited along its plain direction and along the conditional one
(orthogonal to the other attributes' directions, InterFaceGAN's conditional manipulation: what
``s2edit edit --keep`` does, through the same ``orthogonalize``).
Reported per attribute, all changes in units of the world's std of that attribute:
the target's mean at each strength (monotone?), the share of latents whose target rises
monotonically, the target's change from -2σ to +2σ, and the largest mean absolute change
of any other attribute over the same span. The leakage table puts plain and conditional side
by side: the mean over the other attributes of their mean absolute change, the largest one,
and the leakage per unit of target change.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_directions.py --network demo
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from demo_quality import WORLD_SEED  # the world images that give each attribute's std

from projector import world
from projector.edits import apply_direction, fit_direction, orthogonalize
from projector.world.predictor import default_predictor
from stylegan2_core import load_generator, z_samples
from stylegan2_core.image import from_uint8


@torch.no_grad()
def _predict(G, predictor, ws: torch.Tensor, batch: int = 100) -> np.ndarray:
    return torch.cat([predictor.predict_labels(G.synthesis(chunk, noise_mode="const"))
                      for chunk in ws.split(batch)]).numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--network", default="demo")
    ap.add_argument("--samples", type=int, default=2000, help="scored images per direction fit")
    ap.add_argument("--eval", type=int, default=100, help="edited latents per attribute")
    ap.add_argument("--strengths", type=int, default=9, help="points from -2 to +2 sigma")
    ap.add_argument("--attributes", nargs="*", default=None, help="default: all")
    ap.add_argument("--report", type=Path, default=None, help="also write the markdown table here")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()

    G = load_generator(args.network)
    predictor = default_predictor()
    names = list(predictor.names)
    attributes = args.attributes or names
    world_images, _ = world.render_batch(range(WORLD_SEED, WORLD_SEED + 2000), G.img_resolution)
    with torch.no_grad():
        world_std = np.concatenate([predictor.predict_labels(from_uint8(world_images[i:i + 200])).numpy()
                                    for i in range(0, len(world_images), 200)]).std(0)

    with torch.no_grad():
        ws_fit = G.mapping(z_samples(args.samples, G.z_dim, 0), None)
        ws_eval = G.mapping(z_samples(args.eval, G.z_dim, 1), None)
    all_scores = _predict(G, predictor, ws_fit)
    strengths = torch.linspace(-2, 2, args.strengths)

    fits = {name: fit_direction(ws_fit, torch.from_numpy(all_scores[:, names.index(name)]), seed=0, name=name)
            for name in names}
    directions = {name: ds.directions[0] for name, ds in fits.items()}

    def evaluate(name: str, direction: torch.Tensor) -> tuple:
        a = names.index(name)
        sigma = float((ws_fit[:, 0] @ direction).std())
        edited = apply_direction(ws_eval, direction, strengths * sigma)
        pred = _predict(G, predictor, edited).reshape(args.eval, len(strengths), len(names)) / world_std
        target = pred[:, :, a]
        means = target.mean(0)
        others = np.abs(pred[:, -1] - pred[:, 0]).mean(0)
        mean_leak = float(np.delete(others, a).mean())
        others[a] = -np.inf
        worst = int(np.argmax(others))
        return (means, bool(np.all(np.diff(means) > 0)), float(np.mean(np.all(np.diff(target, axis=1) > 0, axis=1))),
                float(means[-1] - means[0]), names[worst], float(others[worst]), mean_leak)

    header = ["| attribute | SVM val. acc. | target mean at -2σ … +2σ | mean monotone | latents monotone | "
              "target change | largest other change |", "| --- | ---: | --- | --- | ---: | ---: | --- |"]
    tables = {"plain": list(header), "conditional": list(header)}
    leakage = ["| edited attribute | target change plain / cond. | mean leak plain / cond. | largest leak plain | "
               "largest leak cond. | leak per target change plain / cond. |",
               "| --- | ---: | ---: | --- | --- | ---: |"]
    for name in attributes:
        others = torch.stack([d for other, d in directions.items() if other != name])
        row = []
        for kind, direction in (("plain", directions[name]), ("conditional", orthogonalize(directions[name], others))):
            means, mono, per_latent, change, other, other_change, mean_leak = evaluate(name, direction)
            trace = " ".join(f"{m:+.2f}" for m in means)
            tables[kind].append(f"| {name} | {float(fits[name].values[0]):.3f} | {trace} | {'yes' if mono else 'no'} | "
                                f"{per_latent:.0%} | {change:+.2f} | {other} {other_change:.2f} |")
            row.append((change, mean_leak, other, other_change))
        (cp, lp, op, mp), (cc, lc, oc, mc) = row
        leakage.append(f"| {name} | {cp:+.2f} / {cc:+.2f} | {lp:.3f} / {lc:.3f} | {op} {mp:.2f} | {oc} {mc:.2f} | "
                       f"{lp / max(abs(cp), 1e-9):.3f} / {lc / max(abs(cc), 1e-9):.3f} |")

    lines = [
        f"Network `{args.network}`; {args.samples} scored samples per fit (seed 0), {args.eval} edited latents "
        f"(seed 1) at {args.strengths} strengths from -2σ to +2σ (σ: std of w along the direction), all layers. "
        f"Values in world-std units of each attribute; changes are from -2σ to +2σ, the other attributes' as the "
        f"mean absolute change per latent. Measured in {time.time() - t0:.0f} s.",
        "",
        "Plain InterFaceGAN directions:",
        "",
        *tables["plain"],
        "",
        "Conditional directions (each made orthogonal to the other ten attributes' directions):",
        "",
        *tables["conditional"],
        "",
        "Leakage: mean absolute change of the other attributes from -2σ to +2σ (world-std units), plain and "
        "conditional:",
        "",
        *leakage,
    ]
    text = "\n".join(lines)
    print(text)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(text + "\n")


if __name__ == "__main__":
    main()
