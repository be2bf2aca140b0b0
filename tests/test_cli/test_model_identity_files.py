"""Latent and direction files name their model by content (``model_id``), so a converted network is the same model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from projector.edits import load_directions
from projector.latent_file import load_latent, model_mismatch, save_latent
from stylegan2_core import load_generator, model_id, save_generator

ROOT = Path(__file__).parents[2]
NET = ROOT / "tests" / "fixtures" / "ada_tiny.pkl"
PHOTO = ROOT / "examples" / "data" / "world_face.png"


def run_cli(args, run_s2edit) -> tuple[int, str]:
    """``s2edit ARGS`` in-process: (exit code, stderr)."""
    code, _, err = run_s2edit(*args)
    return code, err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The NVlabs pickle's network converted to a native file, and a slightly different network."""
    tmp = tmp_path_factory.mktemp("identity")
    G = load_generator(NET)
    save_generator(G, tmp / "same.safetensors")
    with torch.no_grad():
        G.mapping.fc0.weight.add_(0.01)
    save_generator(G, tmp / "other.safetensors")
    return tmp


def test_project_and_directions_record_model_id(files, run_s2edit):
    expected = load_generator(NET).checkpoint.model_id
    code, err = run_cli(["project", PHOTO, "--network", NET, "--steps", 1, "--loss", "effnet", "--outdir",
                         files / "proj"], run_s2edit)
    assert code == 0, err
    code, err = run_cli(["directions", "sefa", "--network", NET, "-k", 2, "-o", files / "sefa.npz"], run_s2edit)
    assert code == 0, err
    latent = load_latent(files / "proj" / "world_face" / "latent.safetensors")
    assert latent.meta["model_id"] == expected and latent.meta["model_sha256"]
    assert load_directions(files / "sefa.npz").meta["model_id"] == expected


def test_the_same_network_in_another_format_does_not_warn(files, run_s2edit):
    code, err = run_cli(["convert", NET, files / "converted.safetensors"], run_s2edit)
    assert code == 0, err
    code, err = run_cli(["edit", files / "proj" / "world_face" / "latent.safetensors", "-d", files / "sefa.npz",
                         "--strength", "0,1", "--network", files / "converted.safetensors", "--outdir",
                         files / "e-same"], run_s2edit)
    assert code == 0, err
    assert "another model" not in err, err


def test_a_different_network_warns_once_per_file(files, run_s2edit):
    latent = files / "proj" / "world_face" / "latent.safetensors"
    code, err = run_cli(["edit", latent, "-d", files / "sefa.npz", "--strength", "0,1", "--network",
                         files / "other.safetensors", "--outdir", files / "e-other"], run_s2edit)
    assert code == 0, err
    flat = " ".join(err.split())
    assert flat.count("another model") == 2, err  # one for the latent, one for the directions
    assert flat.count("sefa.npz") == 1, err


def test_older_files_fall_back_to_the_file_hash(files):
    G = load_generator(NET)
    assert model_mismatch({"model_sha256": G.checkpoint.sha256}, G) is None
    assert "sha256" in model_mismatch({"model_sha256": "0" * 64}, G)
    assert model_mismatch({"model_id": model_id(G), "model_sha256": "0" * 64}, G) is None  # the id decides
    path = save_latent(files / "unsaved.safetensors", torch.zeros(1, G.num_ws, G.w_dim),
                       meta={"model_id": model_id(G)})
    assert "model_mismatch" not in load_latent(path, load_generator(files / "same.safetensors")).meta
    assert json.loads(json.dumps(load_latent(path).meta))["model_id"] == model_id(G)
