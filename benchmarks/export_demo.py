"""Ship the demo model from a training run.

Writes G_ema of the run's latest checkpoint to ``stylegan2_core/assets/demo.safetensors``
(the default ``--network demo``, float32, ~4.6 MB) with the training progress in its
metadata; ``--asset`` writes it elsewhere (``benchmarks/train_demo.py`` writes into the run
folder, never over the shipped asset). With
``--average LO:HI`` the asset is instead the uniform mean of the G_ema snapshots from LO to
HI kimg (a post-hoc longer EMA, see ``fd_snapshots.py``), and with ``--snapshot KIMG`` the
G_ema snapshot written at KIMG (one chosen on a validation pair, see ``fd_snapshots.py``);
the carried checkpoint is the latest either way.

    .venv/bin/python benchmarks/export_demo.py --run runs/demo [--average 11600:11800 | --snapshot 11800]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from projector.training.checkpoint import (
    average_generators,
    load_checkpoint,
    load_training_generator,
    resolve_resume,
    snapshot_paths,
)
from stylegan2_core import load_generator, save_generator
from stylegan2_core.errors import InputError
from stylegan2_core.fileio import read_metadata

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=ROOT / "runs" / "demo", help="training run folder or checkpoint")
    ap.add_argument("--asset", type=Path, default=ROOT / "stylegan2_core" / "assets" / "demo.safetensors")
    choice = ap.add_mutually_exclusive_group()
    choice.add_argument("--average", metavar="LO:HI", help="ship the mean of the run's snapshots from LO to HI kimg")
    choice.add_argument("--snapshot", metavar="KIMG", type=int, help="ship the run's G_ema snapshot at KIMG")
    args = ap.parse_args()

    ckpt = resolve_resume(args.run) if args.run.is_dir() else args.run
    _, meta, cfg = load_checkpoint(ckpt)
    kimg = meta["nimg"] / 1000
    extra = {"name": "s2edit demo (procedural world faces)", "network": "G_ema",
             "training_kimg": round(kimg, 3), "training_data": cfg.data,
             "training_batch": cfg.batch_size, "quality_report": "docs/demo_quality.md"}
    if args.average:
        paths = snapshot_paths(ckpt.parent, args.average, int(cfg.snapshot_kimg))
        G = average_generators(paths)
        extra.update(averaged_snapshots=args.average, averaged_count=len(paths))
    elif args.snapshot is not None:
        path = snapshot_paths(ckpt.parent, str(args.snapshot), int(cfg.snapshot_kimg))[0]
        G = load_generator(path)
        kimg = read_metadata(path)["kimg"]
        extra.update(training_kimg=round(kimg, 3), snapshot=path.name)
    else:
        G = load_training_generator(ckpt)
    save_generator(G, args.asset, extra=extra)
    source = (f"mean of snapshots {args.average}" if args.average else
              f"G_ema snapshot {args.snapshot}" if args.snapshot is not None else "G_ema")
    print(f"wrote {args.asset} ({args.asset.stat().st_size / 1e6:.1f} MB, {kimg:.1f} kimg, {source})")


if __name__ == "__main__":
    try:
        main()
    except InputError as err:
        sys.exit(f"error: {err}")
