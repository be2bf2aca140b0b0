"""A tuned photo as a standalone generator: ``s2edit convert BASE OUT --tuned FILE`` bakes the update in."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from projector.images import read_image
from projector.latent_file import save_latent
from projector.tune import TuneConfig, init_update
from projector.tuned_file import TUNED_FILE, load_tuned, save_tuned
from stylegan2_core import load_generator, model_id, z_from_seeds
from stylegan2_core.fileio import read_metadata, sha256_file

FIXTURES = Path(__file__).parents[1] / "fixtures"
NETWORK = FIXTURES / "ada_tiny.pkl"


def s2edit(*args):
    return subprocess.run([sys.executable, "-m", "cli", *map(str, args)], capture_output=True, text=True, timeout=600)


def _tuned_projection(G, folder: Path) -> tuple[Path, torch.Tensor]:
    """A latent that records a tuned file beside it (as project --tune writes them), and its ws."""
    folder.mkdir()
    update = init_update(G, "lora", rank=2, seed=3)
    update = {k: v + 0.05 * torch.randn(v.shape, generator=torch.Generator().manual_seed(i))  # a non-trivial update
              for i, (k, v) in enumerate(sorted(update.items()))}
    tuned = save_tuned(folder / TUNED_FILE, G, update, TuneConfig())
    ws = G.mapping(z_from_seeds([4], G.z_dim), None, truncation_psi=0.7)
    latent = save_latent(folder / "latent.safetensors", ws,
                         meta={"space": "w", "tuned": {"file": TUNED_FILE, "sha256": sha256_file(tuned)}})
    return latent, ws


def _edit_at_zero(network, latent, direction, outdir, *extra) -> np.ndarray:
    r = s2edit("edit", latent, "--network", network, "--direction", direction, "--strength", "0", "--outdir", outdir,
               *extra)
    assert r.returncode == 0, r.stderr
    (image,) = [p for p in outdir.glob("*.png") if not p.name.endswith("_strip.png")]
    return read_image(image)


@pytest.mark.parametrize("network, suffix", [(NETWORK, ".safetensors"), (FIXTURES / "rosinality_tiny.pt", ".pt")])
def test_baked_network_draws_the_tuned_latent_as_base_plus_tuned_file(tmp_path, network, suffix):
    G = load_generator(network)
    latent, ws = _tuned_projection(G, tmp_path / "a")
    baked_file = tmp_path / f"baked{suffix}"
    r = s2edit("convert", network, baked_file, "--tuned", tmp_path / "a" / TUNED_FILE)
    assert r.returncode == 0, r.stderr
    baked, tuned = load_generator(baked_file), load_tuned(G, tmp_path / "a" / TUNED_FILE)
    assert model_id(baked) != model_id(G)
    with torch.no_grad():
        expected = tuned.synthesis(ws, noise_mode="const")
        base = G.synthesis(ws, noise_mode="const")
        torch.testing.assert_close(baked.synthesis(ws, noise_mode="const"), expected, rtol=0, atol=1e-5)
    assert (expected - base).abs().max() > 1e-2  # the update changes the image: the check above can fail

    # the commands: the baked network with --no-tuned draws what the base network draws with the tuned file
    direction = tmp_path / "boundary.npy"
    np.save(direction, np.eye(1, G.w_dim, dtype=np.float32))
    tuned_render = _edit_at_zero(network, latent, direction, tmp_path / "tuned")
    baked_render = _edit_at_zero(baked_file, latent, direction, tmp_path / "baked", "--no-tuned")
    base_render = _edit_at_zero(network, latent, direction, tmp_path / "base", "--no-tuned")
    assert np.abs(baked_render - tuned_render).max() <= 1 / 127.5 + 1e-6  # at most a one-level rounding flip
    assert np.abs(base_render - tuned_render).max() > 0.05
    if suffix == ".safetensors":  # native files keep what they were made from
        meta = read_metadata(baked_file)
        assert meta["baked_tuned"]["sha256"] == sha256_file(tmp_path / "a" / TUNED_FILE)
        assert meta["baked_tuned"]["base_model_id"] == model_id(G)


def test_a_tuned_file_for_another_network_is_refused(tmp_path):
    G = load_generator(FIXTURES / "ada_tiny_cond.pkl")
    update = init_update(G, "lora", rank=2, seed=3)
    save_tuned(tmp_path / TUNED_FILE, G, update, TuneConfig())
    r = s2edit("convert", NETWORK, tmp_path / "baked.safetensors", "--tuned", tmp_path / TUNED_FILE)
    assert r.returncode == 2 and "another model" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "baked.safetensors").exists()
