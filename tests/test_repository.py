"""The repository holds source, tests, small fixtures and shipped assets: no training state, no large files."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
MAX_BYTES = 5 * 1024 * 1024
LARGE_FILES_ALLOWED_UNDER = ("tests/fixtures/", "stylegan2_core/assets/", "projector/assets/")


def _tracked_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p]


def test_no_large_tracked_files_outside_fixtures_and_assets():
    large = [p for p in _tracked_files()
             if not p.startswith(LARGE_FILES_ALLOWED_UNDER) and (ROOT / p).is_file()
             and (ROOT / p).stat().st_size > MAX_BYTES]
    assert not large, f"tracked files over 5 MB outside fixtures/assets: {large}"


def test_no_training_state_tracked():
    weights = (".safetensors", ".pt", ".pth", ".pkl", ".ckpt")
    names = [p for p in _tracked_files()
             if p.startswith(("training/", "runs/"))
             or (p.endswith(weights) and Path(p).name.startswith(("checkpoint", "network-snapshot-")))]
    assert not names, f"training runs or checkpoints are tracked: {names}"
