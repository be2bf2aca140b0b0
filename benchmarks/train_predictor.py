"""Train the world attribute predictor and write the shipped weights and held-out report.

The defaults reproduce ``projector/assets/world_predictor.safetensors`` and
``projector/assets/world_predictor.json`` (CPU, one thread, about ten minutes):

    python benchmarks/train_predictor.py
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from projector.world.predictor import save_predictor, train_predictor  # noqa: E402

ASSETS = ROOT / "projector" / "assets"


def _table(report: dict) -> str:
    rows = [f"{'attribute':<16} {'kind':<10} {'MAE':>8} {'MAE/std':>8} {'accuracy':>9}"]
    for name, s in report["attributes"].items():
        if s["kind"] == "binary":
            rows.append(f"{name:<16} {s['kind']:<10} {'':>8} {'':>8} {s['accuracy']:>9.4f}")
        else:
            rows.append(f"{name:<16} {s['kind']:<10} {s['mae']:>8.4f} {s['mae_over_std']:>8.4f} {'':>9}")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-train", type=int, default=30000, help="training images rendered into memory")
    parser.add_argument("--num-val", type=int, default=2000, help="held-out images for the report")
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0, help="initialisation and batch-order seed")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=ASSETS / "world_predictor.safetensors")
    parser.add_argument("--report", type=Path, default=None, help="JSON report path (default: --out with .json)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    last = [0.0]

    def progress(stage: str, done: int, total: int, loss: float | None) -> None:
        now = time.perf_counter()
        if done == total or now - last[0] > 15:
            last[0] = now
            extra = f" loss {loss:.4f}" if loss is not None else ""
            print(f"{stage}: {done}/{total}{extra}", flush=True)

    model, report = train_predictor(
        num_train=args.num_train,
        num_val=args.num_val,
        steps=args.steps,
        batch_size=args.batch_size,
        seed=args.seed,
        progress=progress,
        lr=args.lr,
    )
    save_predictor(model, args.out)
    report_path = args.report or args.out.with_suffix(".json")
    report_path.write_text(json.dumps(report, indent=2) + "\n")
    params = sum(p.numel() for p in model.parameters())
    print(f"\n{params} parameters, {report['seconds']} s; held-out report on {args.num_val} seeds:")
    print(_table(report))
    print(f"\nwrote {args.out} ({args.out.stat().st_size} bytes) and {report_path}")


if __name__ == "__main__":
    main()
