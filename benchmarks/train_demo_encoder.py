"""Train the shipped demo encoder by its recorded recipe, ``benchmarks/demo_encoder_recipe.json``.

The run trains in chunks of ``eval.every_kimg``; after each chunk the encoder is measured
(mean PSNR of its inversions of held-out generator samples and of held-out world faces, after
1, 2 and 3 passes) and a row is appended to the history CSV, the curve behind
``docs/demo_encoder.md``. The recipe's segments set the learning rate by kimg. The recipe's
``budget_minutes`` is a limit on training time: when it is spent the run stops with a
checkpoint and its last encoder is what ships. Started again, the run continues from its
checkpoint (bitwise, as ``s2edit train-encoder --resume`` does). ``--export`` writes the run's
encoder with float16 weights (half the file) to ``projector/assets/encoders/``, where
``find_encoder`` finds it.

    nohup python benchmarks/train_demo_encoder.py > runs/demo-encoder.log 2>&1 &
    python benchmarks/train_demo_encoder.py --export        # after the run
    python benchmarks/train_demo_encoder.py --curve --history benchmarks/demo_encoder_history.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from projector import world  # noqa: E402
from projector.encoder import (  # noqa: E402
    ENCODER_ASSETS,
    configure_encoder_run,
    encoder_file_name,
    inversion_quality,
    load_encoder,
    save_encoder,
    train_encoder,
)
from projector.encoder.train import CHECKPOINT_NAME  # noqa: E402
from projector.metrics.image_quality import psnr  # noqa: E402
from stylegan2_core.fileio import read_metadata  # noqa: E402
from stylegan2_core.image import from_uint8  # noqa: E402

RECIPE = ROOT / "benchmarks" / "demo_encoder_recipe.json"
HISTORY = ROOT / "benchmarks" / "demo_encoder_history.csv"


def load_recipe(path: Path = RECIPE) -> dict:
    """The recipe, checked: increasing segment ends with positive learning rates, a positive budget."""
    try:
        recipe = json.loads(Path(path).read_text())
        ends = [seg["end_kimg"] for seg in recipe["segments"]]
        if ends != sorted(ends) or min(ends) <= 0 or min(seg["lr"] for seg in recipe["segments"]) <= 0:
            raise ValueError("segments need increasing end_kimg and positive lr")
        if not 0 < recipe["budget_minutes"] <= 180 or recipe["eval"]["every_kimg"] <= 0:
            raise ValueError("budget_minutes must be in (0, 180], eval.every_kimg positive")
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        detail = f"missing key {err}" if isinstance(err, KeyError) else str(err)
        raise SystemExit(f"error: {path}: {detail}") from None
    return recipe


def _done(run: Path) -> tuple[float, float]:
    """(kimg, training seconds) held by the run's checkpoint; (0, 0) before the first."""
    checkpoint = run / CHECKPOINT_NAME
    if not checkpoint.is_file():
        return 0.0, 0.0
    meta = read_metadata(checkpoint) or {}
    return meta.get("nimg", 0) / 1000, float(meta.get("elapsed_s", 0.0))


def _segment(recipe: dict, kimg: float) -> dict:
    """The segment that holds ``kimg`` (the last one past its end)."""
    return next((seg for seg in recipe["segments"] if kimg < seg["end_kimg"]), recipe["segments"][-1])


def _world_faces(ev: dict, resolution: int) -> torch.Tensor:
    """Held-out world faces (seeds the training stream never reaches), NCHW in [-1, 1]."""
    pixels, _ = world.render_batch(range(ev["world_start_seed"], ev["world_start_seed"] + ev["world_num"]), resolution)
    return from_uint8(pixels)


@torch.no_grad()
def measure(encoder_file: Path, G, ev: dict, faces: torch.Tensor) -> dict[str, float]:
    """PSNR after each number of passes up to the encoder's on held-out samples and world faces; the w_avg
    start on the samples."""
    encoder = load_encoder(encoder_file, G)
    row = {}
    for passes in range(1, encoder.cfg.passes + 1):
        quality = inversion_quality(encoder, G, num=ev["num"], seed=ev["seed"], passes=passes)
        row[f"samples_psnr_{passes}"] = quality["psnr"]
        row.setdefault("samples_psnr_start", quality["psnr_start"])
        render = G.synthesis(encoder.invert(faces, G, passes=passes), noise_mode="const")
        row[f"world_psnr_{passes}"] = float(psnr(render, faces).mean())
    return row


def _append(history: Path, row: dict) -> None:
    new = not history.is_file()
    with open(history, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


def print_curve(history: Path) -> None:
    """The curve as a markdown table: kimg, training minutes, learning rate, then every PSNR column."""
    with open(history, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("| " + " | ".join("---:" for _ in columns) + " |")
    for row in rows:
        print("| " + " | ".join(f"{float(row[c]):.2f}" if "psnr" in c or c == "train_minutes" else f"{float(row[c]):g}"
                                for c in columns) + " |")


def train(recipe: dict, run: Path, history: Path) -> None:
    """Chunks of training and measurement until the last segment's end or the budget."""
    torch.set_num_threads(recipe["threads"])
    ev, budget_s = recipe["eval"], recipe["budget_minutes"] * 60
    end = recipe["segments"][-1]["end_kimg"]
    faces = None
    while True:
        kimg, spent = _done(run)
        if kimg >= end or spent >= budget_s:
            print(f"stopped at kimg {kimg:g} after {spent / 60:.1f} training minutes", flush=True)
            return
        segment = _segment(recipe, kimg)
        target = min(segment["end_kimg"], (int(kimg / ev["every_kimg"] + 1e-9) + 1) * ev["every_kimg"])
        options = dict(kimg=target, lr=segment["lr"], snapshot_kimg=ev["every_kimg"], tick_kimg=ev["every_kimg"] / 4)
        if kimg == 0:
            cfg, G, _ = configure_encoder_run(recipe["network"], outdir=run.parent, name=run.name, **recipe["config"],
                                              **options)
            resume = None
        else:
            cfg, G, _ = configure_encoder_run(resume=run, **options)
            resume = run
        t0 = time.time()
        train_encoder(cfg, G, run, resume=resume, device="cpu", max_seconds=budget_s - spent)
        faces = _world_faces(ev, G.img_resolution) if faces is None else faces
        kimg, spent = _done(run)
        row = {"kimg": kimg, "train_minutes": spent / 60, "lr": segment["lr"],
               **measure(run / encoder_file_name(cfg.model_id), G, ev, faces)}
        _append(history, row)
        print(f"kimg {kimg:g}  {spent / 60:.1f} min  chunk {time.time() - t0:.0f} s  "
              + "  ".join(f"{k} {v:.2f}" for k, v in row.items() if "psnr" in k), flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", type=Path, default=RECIPE)
    ap.add_argument("--run", type=Path, default=ROOT / "runs" / "demo-encoder", help="run folder")
    ap.add_argument("--history", type=Path, default=None, help="curve CSV (default: RUN/history.csv)")
    ap.add_argument("--export", action="store_true", help="copy the run's encoder into projector/assets/encoders/")
    ap.add_argument("--curve", action="store_true", help="print the history CSV as a markdown table")
    args = ap.parse_args(argv)
    recipe = load_recipe(args.recipe)
    history = args.history or args.run / "history.csv"
    if args.curve:
        print_curve(history)
        return 0
    if args.export:
        files = [f for f in sorted(args.run.glob("encoder-*.safetensors")) if f.name != CHECKPOINT_NAME]
        if len(files) != 1:
            raise SystemExit(f"error: {args.run}: expected one encoder file, found {len(files)}")
        encoder = load_encoder(files[0])
        ENCODER_ASSETS.mkdir(parents=True, exist_ok=True)
        shipped = save_encoder(ENCODER_ASSETS / files[0].name, encoder, encoder.meta["model_id"],
                               network=encoder.meta["network"], kimg=encoder.meta["kimg"], half=True)
        print(f"{files[0]} -> {shipped} (float16 weights)")
        return 0
    train(recipe, args.run, history)
    return 0


if __name__ == "__main__":
    sys.exit(main())
