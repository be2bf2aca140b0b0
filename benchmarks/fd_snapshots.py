"""FD-EffNetLite0 along a training run: G_ema snapshots, and uniform averages of consecutive ones.

Each spec is a snapshot's kimg (``2008``) or an inclusive range (``1928:2008``) whose
snapshots (``network-snapshot-KKKKKK.safetensors``, every ``--step`` kimg) are averaged
weight by weight. Averaging G_ema snapshots is a post-hoc longer EMA: if it lowers FD,
the trajectory's noise holds FD back; if not, the networks' shared bias does. By default
the sets of ``demo_quality.py``: 2 000 generated images (seed 0, random noise) against
world seeds 5 000 000 onwards. ``--seed`` and ``--world-seed`` pick other sets, so that a
snapshot can be chosen on a validation pair and then measured on the report's sets.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/fd_snapshots.py --run runs/demo 2000 2008 1928:2008
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from demo_quality import WORLD_SEED

from projector.metrics.features import METRIC_SHORT_NAME, FeatureExtractor
from projector.metrics.generative import fd_effnet_lite0, real_feature_stats
from projector.training.checkpoint import average_generators, snapshot_paths
from projector.training.data import open_source
from stylegan2_core.errors import InputError


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("specs", nargs="+", help="kimg of a snapshot, or LO:HI to average the snapshots in between")
    ap.add_argument("--run", type=Path, default=Path("runs/demo"))
    ap.add_argument("--step", type=int, default=4, help="kimg between snapshots")
    ap.add_argument("--num", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0, help="seed of the generated images' z and noise")
    ap.add_argument("--world-seed", type=int, default=WORLD_SEED, help="first world seed of the real set")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    try:
        groups = {spec: snapshot_paths(args.run, spec, args.step) for spec in args.specs}
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    extractor = FeatureExtractor()
    real_stats = None
    print(f"seed {args.seed}, world seeds {args.world_seed}..{args.world_seed + args.num - 1}", flush=True)
    print(f"| snapshots ({args.run}) | count | {METRIC_SHORT_NAME} |\n| --- | ---: | ---: |", flush=True)
    for spec, paths in groups.items():
        t0 = time.time()
        G = average_generators(paths)
        if real_stats is None:
            real_stats = real_feature_stats(open_source("world", G.img_resolution, args.world_seed), args.num,
                                            extractor=extractor)
        fd = fd_effnet_lite0(G, real_stats, args.num, seed=args.seed, extractor=extractor).value
        print(f"| {spec} | {len(paths)} | {fd:.2f} |  ({time.time() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
