"""The demo model's recorded recipe: the schedule parses, and train_demo.py turns it into runnable s2edit commands."""

import itertools
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from cli.app import app

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "train_demo.py"
SCHEDULE = ROOT / "benchmarks" / "demo_schedule.json"


@pytest.fixture
def train_demo(benchmark_script):
    return benchmark_script("train_demo")


def _dry_run(tmp_path, *extra) -> list[list[str]]:
    out = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--runs", str(tmp_path), "--python", "PY", *extra],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [shlex.split(line) for line in out.splitlines()]


def _strip_env(argv: list[str]) -> list[str]:
    return [arg for arg in argv if not arg.startswith("OMP_NUM_THREADS=")]


def _option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_schedule_is_contiguous_and_ends_at_the_shipped_snapshot(train_demo):
    schedule = train_demo.load_schedule(SCHEDULE)
    segments = schedule["segments"]
    assert segments[0]["start_kimg"] == 0
    for before, after in itertools.pairwise(segments):
        assert after["start_kimg"] == before["end_kimg"]
    assert segments[-1]["start_kimg"] < schedule["ship"]["snapshot_kimg"] <= segments[-1]["end_kimg"]
    widened = [seg for seg in segments if seg.get("widen")]
    assert [(seg["start_kimg"], seg["widen"]) for seg in widened] == [(13268.9, {"cmax": 128})]


def test_dry_run_lists_every_segment_in_order(tmp_path):
    schedule = json.loads(SCHEDULE.read_text())
    commands = [_strip_env(argv) for argv in _dry_run(tmp_path)]
    trains = [argv for argv in commands if argv[1:4] == ["-m", "cli", "train"]]
    widens = [argv for argv in commands if argv[1:4] == ["-m", "cli", "widen"]]
    assert len(trains) == len(schedule["segments"]) and len(widens) == 1
    assert len(commands) == len(trains) + len(widens) + 1

    first = trains[0]
    assert "--resume" not in first and _option(first, "--data") == "world" and _option(first, "--cmax") == "64"
    assert all(_option(argv, "--resume") == str(tmp_path / "demo-repro") for argv in trains[1:-1])
    assert _option(trains[-1], "--resume") == str(tmp_path / "demo-repro-wide")
    for argv, seg in zip(trains, schedule["segments"]):
        assert float(_option(argv, "--kimg")) == seg["end_kimg"]
        assert float(_option(argv, "--lr")) == seg["lr"]
        assert int(_option(argv, "--batch")) == seg["batch"]
        assert _option(argv, "--device") == seg["device"]
    assert commands.index(widens[0]) == commands.index(trains[-1]) - 1
    assert widens[0][4:] == [str(tmp_path / "demo-repro"), "--cmax", "128", "--outdir", str(tmp_path / "demo-repro-wide")]
    export = commands[-1]
    assert export[1] == "benchmarks/export_demo.py" and _option(export, "--snapshot") == "14708"
    assert _option(export, "--asset").startswith(str(tmp_path))


def test_every_command_parses_with_the_cli(tmp_path, train_demo):
    module = train_demo
    group = typer.main.get_command(app)
    for step in module.plan(module.load_schedule(SCHEDULE), tmp_path, "demo-repro", "PY", device="cpu"):
        argv = step.argv
        if argv[1:3] != ["-m", "cli"]:
            continue
        root = group.make_context("s2edit", argv[3:])
        name, command, rest = group.resolve_command(root, argv[3:])
        parsed = command.make_context(name, rest, parent=root)  # a usage error on an unknown option or bad value
        assert parsed.params.get("device", "cpu") == "cpu"


def test_plan_skips_finished_segments(tmp_path, train_demo):
    module = train_demo
    schedule = module.load_schedule(SCHEDULE)
    steps = module.plan(schedule, tmp_path, "demo-repro", "PY", done_kimg=13500.0, widened=True)
    assert [step.argv[3] if step.argv[1] == "-m" else "export" for step in steps] == ["train", "export"]
    assert steps[0].argv[steps[0].argv.index("--resume") + 1] == str(tmp_path / "demo-repro-wide")


def test_a_gap_in_the_schedule_is_refused(tmp_path, train_demo):
    schedule = json.loads(SCHEDULE.read_text())
    schedule["segments"][3]["start_kimg"] += 1
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(schedule))
    with pytest.raises(SystemExit, match=r"bad\.json: segment 3"):
        train_demo.load_schedule(path)


def test_demo_model_doc_holds_the_generated_schedule_table(benchmark_script):
    module = benchmark_script("plot_demo_history")
    table = module.schedule_table(json.loads(SCHEDULE.read_text()))
    doc = (ROOT / "docs" / "demo_model.md").read_text()
    assert f"{module.BEGIN}\n{table}\n{module.END}" in doc, "rerun benchmarks/plot_demo_history.py"
    history = module.load_history(ROOT / "benchmarks" / "demo_history.csv")
    assert [row["kimg"] for row in history] == sorted(row["kimg"] for row in history)
    assert history[-1]["shipped"] and history[-1]["kimg"] == json.loads(SCHEDULE.read_text())["ship"]["snapshot_kimg"]
