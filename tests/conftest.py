"""Shared fixtures: the official-format checkpoints and their reference outputs."""

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(int(os.environ.get("S2EDIT_TEST_THREADS", "2")))

FIXTURES = Path(__file__).parent / "fixtures"
CHECKPOINTS = {
    "ada_tiny": FIXTURES / "ada_tiny.pkl",
    "ada_tiny_cond": FIXTURES / "ada_tiny_cond.pkl",
    "tf_tiny": FIXTURES / "tf_tiny.pkl",
    "rosinality_tiny": FIXTURES / "rosinality_tiny.pt",
}


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def ada_tiny():
    from stylegan2_core import load_generator

    return load_generator(CHECKPOINTS["ada_tiny"])


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never touch the user's cache: downloads and kernel builds go to a temp dir."""
    monkeypatch.setenv("S2EDIT_CACHE", str(tmp_path_factory.getbasetemp() / "s2edit-cache"))
