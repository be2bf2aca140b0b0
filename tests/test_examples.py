"""Every example runs as documented on the demo network (with tiny settings) and produces what it says."""

import subprocess
import sys
from pathlib import Path

import imageio
import imageio.v3 as iio
import numpy as np
import pytest
import torch

from projector.latent_file import load_latent
from projector.metrics.image_quality import psnr
from projector.world.predictor import default_predictor
from stylegan2_core import from_uint8, load_generator, z_from_seeds

ROOT = Path(__file__).parents[1]
RES = 64  # the demo network's resolution


def _run(script, *args, expect_ok=True):
    r = subprocess.run([sys.executable, str(ROOT / "examples" / script), *map(str, args)], check=False,
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert not expect_ok or r.returncode == 0, r.stderr
    return r


def _image(path) -> torch.Tensor:
    """PNG -> [1, 3, H, W] in [-1, 1]."""
    return from_uint8(iio.imread(path))


def _cells(path, count: int) -> torch.Tensor:
    """A one-row strip of ``count`` 64x64 images -> [count, 3, 64, 64]."""
    strip = _image(path)
    assert strip.shape == (1, 3, RES, count * RES)
    return torch.cat(strip.split(RES, dim=3))


@pytest.fixture(scope="module")
def demo():
    return load_generator("demo")


@pytest.fixture(scope="module")
def projection(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("project")
    r = _run("project_image.py", "--outdir", outdir, "--steps", 5, "--loss", "effnet")
    assert "PSNR" in r.stdout and "perceptual distance" in r.stdout
    return outdir


def test_project_image(projection, demo):
    latent = load_latent(projection / "latent.safetensors", demo)
    assert latent.ws.shape == (1, demo.num_ws, demo.w_dim)
    target, proj = _image(projection / "target.png"), _image(projection / "proj.png")
    assert target.shape == proj.shape == (1, 3, RES, RES)
    with torch.no_grad():
        mean_w = demo.synthesis(demo.mapping.w_avg.expand(1, demo.num_ws, -1)).clamp(-1, 1)
    assert psnr(proj, target) > psnr(mean_w, target) + 1.0  # the projection moved toward the target


def test_project_image_refuses_to_overwrite(projection):
    before = (projection / "proj.png").stat().st_mtime_ns
    r = _run("project_image.py", "--outdir", projection, "--steps", 1, expect_ok=False)
    assert r.returncode == 2 and "already exists" in r.stderr and "Traceback" not in r.stderr
    assert (projection / "proj.png").stat().st_mtime_ns == before


def test_edit_latent(projection, tmp_path):
    r = _run("edit_latent.py", "--latent", projection / "latent.safetensors", "--outdir", tmp_path,
             "--samples", 64, "--frames", 3, "--strength", 3)
    assert "predicted smile" in r.stdout
    proj = _image(projection / "proj.png")
    for name in ("sefa0", "smile"):
        left, middle, right = _cells(tmp_path / f"{name}.png", 3)
        assert (middle - proj[0]).abs().mean() < 0.01, name  # strength 0, rendered with the saved noise
        assert (left - middle).abs().mean() > 0.02 and (right - middle).abs().mean() > 0.02, name
    with torch.no_grad():
        smile = default_predictor().predict(_cells(tmp_path / "smile.png", 3))["smile"]
    assert smile[0] < smile[1] < smile[2]


def test_style_mix(projection, tmp_path):
    # Layers 2-5: the 5-step projection sits near the mean w, so a coarse-only or middle-only mix of it
    # would look almost entirely like one of its sources.
    _run("style_mix.py", "--latent", projection / "latent.safetensors", "--row-seeds", 0, "--col-seeds", 1,
         "--layers", "2-5", "--outdir", tmp_path)
    grid = _image(tmp_path / "mix.png")
    assert grid.shape == (1, 3, 3 * RES, 2 * RES)  # rows: header, projected latent, seed 0; columns: sources, seed 1
    cell = {(i, j): grid[0, :, i * RES:(i + 1) * RES, j * RES:(j + 1) * RES] for i in range(3) for j in range(2)}
    assert (cell[0, 0] == -1).all()
    for i in (1, 2):
        assert (cell[i, 1] - cell[i, 0]).abs().mean() > 0.02 and (cell[i, 1] - cell[0, 1]).abs().mean() > 0.02


def test_make_video(projection, demo, tmp_path):
    _run("make_video.py", "--latent", projection / "latent.safetensors", "--seeds", 0, "--frames", 2,
         "--outdir", tmp_path)
    with imageio.get_reader(tmp_path / "walk.mp4") as reader:
        frames = np.stack([frame for frame in reader])  # noqa: C416 (list() would ask len(): inf for ffmpeg)
    assert frames.shape == (3, RES, RES, 3)  # 2 keyframes joined by 2 frames, plus the last keyframe
    with torch.no_grad():
        seed0 = demo(z_from_seeds([0], demo.z_dim), None, truncation_psi=0.7)
    first, last = from_uint8(frames[[0]]), from_uint8(frames[[-1]])
    assert psnr(first, seed0.clamp(-1, 1)) > psnr(last, seed0.clamp(-1, 1)) + 3.0
