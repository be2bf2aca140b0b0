"""``s2edit info`` describes latent and direction files, not only checkpoints (``projector.describe``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from projector.describe import describe_file
from projector.edits import save_directions, sefa
from projector.latent_file import model_provenance, save_latent, save_projected_w_npz

FIXTURES = Path(__file__).parents[1] / "fixtures"


def info(path, run_s2edit) -> tuple[int, str, str]:
    """``s2edit info PATH`` in-process: (exit code, stdout with its white space folded, stderr)."""
    code, out, err = run_s2edit("info", path)
    return code, " ".join(out.split()), err


def test_info_describes_a_latent_file(G, tmp_path, run_s2edit):
    noise = [torch.zeros(1, 1, h, w) for h, w in G.synthesis.noise_shapes()]
    meta = {**model_provenance(G), "space": "w+", "source": "face.png",
            "preprocessing": {"mode": "crop", "source_size": [640, 480], "resolution": 32}}
    path = save_latent(tmp_path / "me.safetensors", torch.zeros(2, G.num_ws, G.w_dim), noise, meta)
    code, out, err = info(path, run_s2edit)
    assert code == 0, err
    assert "latent file" in out and f"2 x [num_ws {G.num_ws}, w_dim {G.w_dim}]" in out
    assert "w+" in out and "face.png" in out and "crop from 640 x 480" in out
    assert f"{len(noise)} (4x4" in out and G.checkpoint.model_id[:20] in out.replace(" ", "")
    assert "checkpoint" not in err and "corrupt" not in out + err


def test_info_describes_a_direction_file(G, tmp_path, run_s2edit):
    path = save_directions(tmp_path / "sefa.safetensors", sefa(G, [0, 1, 2], 3))
    code, out, err = info(path, run_s2edit)
    assert code == 0, err
    assert "directions file" in out and "3 x w_dim 64" in out and "sefa0, sefa1, sefa2" in out
    assert "method │ sefa" in out and "0,1,2" in out


def test_describe_official_npz_bare_npy_and_checkpoints(G, tmp_path):
    npz = describe_file(save_projected_w_npz(tmp_path / "projected_w.npz", torch.zeros(1, G.num_ws, G.w_dim)))
    assert npz.kind == "latent" and dict(npz.rows)["model"] == "not recorded"
    np.save(tmp_path / "boundary.npy", np.ones([1, G.w_dim], np.float32))
    assert describe_file(tmp_path / "boundary.npy").kind == "array"
    for checkpoint in ("ada_tiny.pkl", "rosinality_tiny.pt"):
        assert describe_file(FIXTURES / checkpoint) is None  # left to the checkpoint loader
    assert describe_file(tmp_path / "missing.npz") is None
