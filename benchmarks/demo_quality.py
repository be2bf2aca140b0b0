"""Quality of the demo model against the procedural world it was trained on.

Checks, on G_ema of a training run (default ``runs/demo``):

1. FD-EffNetLite0 (Fréchet distance on EfficientNet-Lite0 features; not FID) between
   N generated and N world images, against the same distance between two disjoint sets
   of N world images (the floor that finite samples give). Pass: at most 3x the floor.
2. Attribute statistics: the world attribute predictor's mean and std of every attribute
   on the generated images, each within 0.15 world-std of the same statistic on world images.
3. PPL in W (reported; no threshold).

Writes a markdown report (default ``docs/demo_quality.md``) and a sample grid
(``docs/demo_samples.png``). Exit status 0 when every check passes.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/demo_quality.py --network runs/demo
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from projector import load_network, world
from projector.images import save_grid
from projector.losses import EffNetPerceptual
from projector.metrics.features import METRIC_SHORT_NAME, FeatureExtractor, feature_stats, frechet_distance
from projector.metrics.generative import generate_images, ppl_w
from projector.training.checkpoint import resolve_resume
from projector.world.predictor import default_predictor
from stylegan2_core.fileio import read_metadata
from stylegan2_core.image import from_uint8, to_uint8
from stylegan2_core.latent import z_from_seeds

WORLD_SEED = 5_000_000  # outside the predictor's seeds; the demo run streamed each of them once, at ~5000 kimg
FD_RATIO_MAX = 3.0
ATTR_TOL = 0.15


def _batches(images: np.ndarray, size: int = 50):
    for start in range(0, len(images), size):
        yield from_uint8(images[start:start + size])


@torch.no_grad()
def _predict(predictor, images: np.ndarray) -> np.ndarray:
    return torch.cat([predictor.predict_labels(b) for b in _batches(images)]).numpy()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--network", default="runs/demo", help="training run folder or checkpoint")
    ap.add_argument("--num", type=int, default=2000, help="images per set")
    ap.add_argument("--ppl-samples", type=int, default=2000)
    ap.add_argument("--report", type=Path, default=Path("docs/demo_quality.md"))
    ap.add_argument("--samples", type=Path, default=Path("docs/demo_samples.png"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()

    path = Path(args.network)
    path = resolve_resume(path) if path.is_dir() else path
    G = load_network(path)
    res, n = G.img_resolution, args.num
    gen = np.concatenate([to_uint8(b) for b in generate_images(G, n, seed=0)])
    world_a, _ = world.render_batch(range(WORLD_SEED, WORLD_SEED + n), res)
    world_b, _ = world.render_batch(range(WORLD_SEED + n, WORLD_SEED + 2 * n), res)

    extractor = FeatureExtractor()
    stats = {name: feature_stats(_batches(imgs), extractor) for name, imgs in
             (("gen", gen), ("a", world_a), ("b", world_b))}
    fd_gen = frechet_distance(*stats["gen"][:2], *stats["a"][:2])
    fd_floor = frechet_distance(*stats["a"][:2], *stats["b"][:2])
    fd_ok = fd_gen <= FD_RATIO_MAX * fd_floor

    predictor = default_predictor()
    pred_gen, pred_world = _predict(predictor, gen), _predict(predictor, world_a)
    rows, attrs_ok = [], True
    for i, name in enumerate(predictor.names):
        mw, sw = pred_world[:, i].mean(), pred_world[:, i].std()
        mg, sg = pred_gen[:, i].mean(), pred_gen[:, i].std()
        dm, ds = abs(mg - mw) / sw, abs(sg - sw) / sw
        ok = dm <= ATTR_TOL and ds <= ATTR_TOL
        attrs_ok &= bool(ok)
        rows.append(f"| {name} | {mw:.3f} | {mg:.3f} | {sw:.3f} | {sg:.3f} | {dm:.3f} | {ds:.3f} | "
                    f"{'pass' if ok else 'FAIL'} |")

    ppl = ppl_w(G, args.ppl_samples, distance=EffNetPerceptual())
    with torch.no_grad():
        save_grid(args.samples, G(z_from_seeds(range(64), G.z_dim), noise_mode="const"), 8)

    meta = getattr(G, "checkpoint", None)
    file_meta = (read_metadata(path) if path.suffix == ".safetensors" else None) or {}
    averaged, snapshot, kimg = (file_meta.get(k) for k in ("averaged_snapshots", "snapshot", "training_kimg"))
    network = (f"G_ema averaged over the snapshots {averaged} kimg" if averaged else
               f"G_ema snapshot `{snapshot}` ({kimg} kimg)" if snapshot else
               f"G_ema at {kimg} kimg" if kimg is not None else "G_ema")
    lines = [
        "# Demo model quality",
        "",
        f"Network: `{path}` ({meta.format if meta else 'unknown format'}), {res}x{res}, {network}, truncation 1.",
        f"{n} generated images (seeded z, random noise) vs world seeds {WORLD_SEED}..{WORLD_SEED + n - 1}; "
        f"the floor compares those with seeds {WORLD_SEED + n}..{WORLD_SEED + 2 * n - 1}.",
        "",
        "| metric | value | check |",
        "| --- | ---: | --- |",
        f"| {METRIC_SHORT_NAME}, generated vs world | {fd_gen:.2f} | <= {FD_RATIO_MAX:g} x floor: "
        f"{'pass' if fd_ok else 'FAIL'} ({fd_gen / fd_floor:.2f}x) |",
        f"| {METRIC_SHORT_NAME}, world vs world (floor) | {fd_floor:.2f} | |",
        f"| {ppl.name} (W, eps 1e-4, t = 0, {ppl.details['num_samples']} samples, EfficientNet-Lite0 distance) "
        f"| {ppl.value:.2f} | reported |",
        "",
        f"{METRIC_SHORT_NAME} is the Fréchet distance on EfficientNet-Lite0 features. It is not FID "
        "(Inception-v3) and its values do not compare with published FIDs.",
        "",
        f"## Attributes (world predictor; pass: mean and std within {ATTR_TOL} world-std)",
        "",
        "| attribute | mean world | mean gen | std world | std gen | |dmean|/std | |dstd|/std | check |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        *rows,
        "",
        f"Samples: `{args.samples}` (seeds 0-63, constant noise). Measured in {time.time() - t0:.0f} s.",
        "",
    ]
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0 if fd_ok and attrs_ok else 1


if __name__ == "__main__":
    sys.exit(main())
