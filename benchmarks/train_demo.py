"""Train the demo model from scratch by its recorded recipe, ``benchmarks/demo_schedule.json``.

Each segment of the schedule becomes one ``s2edit train`` call (the first from scratch, the
others ``--resume`` with the segment's ``--kimg`` end, ``--lr`` and ``--batch``), and a segment
marked ``widen`` is preceded by ``s2edit widen``; the last step exports the G_ema snapshot that
was shipped, into the run folder (the bundled asset is never touched). The run goes to
``runs/NAME`` (``runs/NAME-wide`` after the widening). Started again, it skips what the run's
checkpoints already hold, so it can be stopped and resumed at any point.

The whole recipe is about 115 hours on a 2-core CPU with ten short GPU segments (see
``docs/demo_model.md``); ``--device cpu`` runs the GPU segments on the CPU at their batch size.

    python benchmarks/train_demo.py --dry-run            # print the commands, run nothing
    nohup python benchmarks/train_demo.py > runs/demo-repro.log 2>&1 &
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Step", "load_schedule", "main", "plan"]

ROOT = Path(__file__).resolve().parents[1]
SCHEDULE = ROOT / "benchmarks" / "demo_schedule.json"
DEVICES = ("cpu", "cuda")


@dataclass
class Step:
    """One command of the recipe: its argv, extra environment and the kimg it brings the run to."""

    argv: list[str]
    env: dict[str, str]
    end_kimg: float

    def __str__(self) -> str:
        prefix = " ".join(f"{key}={value}" for key, value in self.env.items())
        return (prefix + " " if prefix else "") + shlex.join(self.argv)


def load_schedule(path: Path = SCHEDULE) -> dict:
    """The schedule, checked: contiguous segments from 0 kimg, known devices, the shipped snapshot inside the run."""
    try:
        schedule = json.loads(Path(path).read_text())
        segments = schedule["segments"]
        start = 0.0
        for index, seg in enumerate(segments):
            if seg["start_kimg"] != start or seg["end_kimg"] <= start:
                raise ValueError(f"segment {index} runs {seg['start_kimg']}-{seg['end_kimg']} kimg, expected to start at {start}")
            if seg["device"] not in DEVICES or seg["batch"] < 1 or seg["lr"] <= 0:
                raise ValueError(f"segment {index}: device must be one of {DEVICES}, batch and lr positive")
            start = seg["end_kimg"]
        if segments[0].get("widen"):
            raise ValueError("segment 0 cannot widen: there is nothing to widen yet")
        if not 0 < schedule["ship"]["snapshot_kimg"] <= start:
            raise ValueError(f"ship.snapshot_kimg must lie within the run (0-{start} kimg)")
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        detail = f"missing key {err}" if isinstance(err, KeyError) else str(err)
        raise SystemExit(f"error: {path}: {detail}") from None
    return schedule


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _device_options(schedule: dict, device: str) -> list[str]:
    options = [_option("device"), device]
    for key, value in schedule["devices"][device].items():
        options += [_option(key), str(value)]
    return options


def plan(schedule: dict, runs: Path, name: str, python: str = sys.executable,
         device: str | None = None, done_kimg: float = 0.0, widened: bool = False) -> list[Step]:
    """The commands that take the run from ``done_kimg`` to the end of the schedule, then export the shipped snapshot.

    ``device`` overrides every segment's device; ``widened`` says the widened run folder exists already.
    """
    cli = [python, "-m", "cli"]
    run, wide_run = runs / name, runs / f"{name}-wide"
    steps: list[Step] = []
    for index, seg in enumerate(schedule["segments"]):
        if seg.get("widen"):
            if not widened:
                widen = [item for key, value in seg["widen"].items() for item in (_option(key), str(value))]
                steps.append(Step(cli + ["widen", str(run), *widen, "--outdir", str(wide_run)], {}, seg["start_kimg"]))
            run = wide_run
        if seg["end_kimg"] <= done_kimg:
            continue
        dev = device or seg["device"]
        env = {"OMP_NUM_THREADS": str(schedule["devices"]["cpu"]["threads"])} if dev == "cpu" else {}
        segment = ["--kimg", str(seg["end_kimg"]), "--batch", str(seg["batch"]), "--lr", str(seg["lr"])]
        if index == 0 and done_kimg == 0:
            config = [item for key, value in schedule["config"].items() for item in (_option(key), str(value))]
            where = ["--outdir", str(runs), "--name", name]
            argv = cli + ["train", *config, *segment, *where, *_device_options(schedule, dev)]
        else:
            argv = cli + ["train", "--resume", str(run), *segment, *_device_options(schedule, dev)]
        steps.append(Step(argv, env, seg["end_kimg"]))
    snapshot = str(schedule["ship"]["snapshot_kimg"])
    export = [python, "benchmarks/export_demo.py", "--run", str(run), "--snapshot", snapshot,
              "--asset", str(run / "demo.safetensors")]
    steps.append(Step(export, {}, schedule["segments"][-1]["end_kimg"]))
    return steps


def _progress_kimg(run: Path) -> float:
    """kimg held by the run folder's latest training checkpoint (0 when there is none)."""
    from stylegan2_core.fileio import read_metadata

    checkpoint = run / "checkpoint.safetensors"
    if not checkpoint.is_file():
        return 0.0
    return (read_metadata(checkpoint) or {}).get("nimg", 0) / 1000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--schedule", type=Path, default=SCHEDULE)
    ap.add_argument("--runs", type=Path, default=ROOT / "runs", help="parent folder of the run folders")
    ap.add_argument("--name", default="demo-repro", help="run folder name (the widened run is NAME-wide)")
    ap.add_argument("--device", choices=DEVICES, help="run every segment on this device (default: as recorded)")
    ap.add_argument("--python", default=sys.executable, help="interpreter that runs the s2edit CLI")
    ap.add_argument("--dry-run", action="store_true", help="print the commands instead of running them")
    args = ap.parse_args(argv)

    schedule = load_schedule(args.schedule)
    wide = args.runs / f"{args.name}-wide"
    widened = (wide / "checkpoint.safetensors").is_file()
    done = _progress_kimg(wide if widened else args.runs / args.name)
    steps = plan(schedule, args.runs, args.name, args.python, args.device, done, widened)
    for step in steps:
        print(step, flush=True)
        if not args.dry_run:
            code = subprocess.run(step.argv, check=False, cwd=ROOT, env={**os.environ, **step.env}).returncode
            if code:
                print(f"error: step failed with exit code {code}: {step}", file=sys.stderr)
                return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
