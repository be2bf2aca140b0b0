"""Shared fixtures: the official-format checkpoints, the tiny generator most tests run on, and a cheap
pixel distance that stands in for the perceptual one."""

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


@pytest.fixture(scope="module")
def G():
    """The tiny ADA generator (``ada_tiny.pkl``), loaded afresh for each test module so that what one
    module does to it (gradients, tuned weights) never reaches another."""
    from stylegan2_core import load_generator

    return load_generator(CHECKPOINTS["ada_tiny"])


class PixelDistance:
    """Mean squared pixel difference per image: a cheap stand-in for the perceptual distance, so that
    optimizer tests stay fast. Like the real ones it maps [N, 3, H, W] pairs to [N] and has a name."""

    name = "pixel"

    def __call__(self, a, b):
        return (a - b).square().mean(dim=(1, 2, 3))


@pytest.fixture(scope="session")
def pixel_distance() -> PixelDistance:
    return PixelDistance()


@pytest.fixture(scope="session")
def benchmark_script():
    """``benchmark_script(name)``: the module ``benchmarks/<name>.py``, imported from its file (the
    benchmarks are scripts, not a package)."""
    import importlib.util
    import sys

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture
def run_s2edit(capsys):
    """``run_s2edit(*args)``: ``s2edit ARGS`` in-process through the real entry point (its error boundary
    included), returning (exit code, stdout, stderr)."""
    import sys

    from cli.app import main

    def run(*args) -> tuple[int, str, str]:
        old = sys.argv
        sys.argv = ["s2edit", *map(str, args)]
        code = 0
        try:
            main()
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
        finally:
            sys.argv = old
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never touch the user's cache: downloads and kernel builds go to a temp dir."""
    monkeypatch.setenv("S2EDIT_CACHE", str(tmp_path_factory.getbasetemp() / "s2edit-cache"))
