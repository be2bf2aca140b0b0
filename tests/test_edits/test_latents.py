"""Latent files: our format, the official projected_w.npz, plain arrays; validation and resolution."""

import numpy as np
import pytest
import torch

from projector.latent_file import load_latent, resolve_latents, save_latent, save_projected_w_npz
from stylegan2_core import InputError, load_generator, z_from_seeds


def _ws(G, n=2, seed=0):
    return torch.from_numpy(np.random.RandomState(seed).randn(n, G.num_ws, G.w_dim)).float()


def test_round_trip_with_noise_and_meta(G, tmp_path):
    ws = _ws(G)
    noise = [torch.randn(2, 1, h, w, generator=torch.Generator().manual_seed(i))
             for i, (h, w) in enumerate(G.synthesis.noise_shapes())]
    meta = {"space": "w+", "model_sha256": G.checkpoint.sha256, "resolution": 32, "loss": {"lpips": 1.0}}
    path = save_latent(tmp_path / "a.safetensors", ws, noise, meta)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.safetensors"]  # no temp files left
    rec = load_latent(path, G)
    assert torch.equal(rec.ws, ws)
    assert len(rec.noise) == len(noise) and all(torch.equal(a, b) for a, b in zip(rec.noise, noise))
    assert rec.meta["kind"] == "latent" and rec.meta["format_version"] == 1
    assert rec.meta["space"] == "w+" and rec.meta["loss"] == {"lpips": 1.0}
    assert "model_mismatch" not in rec.meta


def test_model_mismatch_is_flagged(G, tmp_path, caplog):
    path = save_latent(tmp_path / "a.safetensors", _ws(G, 1), meta={"model_sha256": "0" * 64})
    with caplog.at_level("WARNING"):
        rec = load_latent(path, G)
    assert "another model" in rec.meta["model_mismatch"] and "sha256" in caplog.text


def test_official_npz_round_trip(G, tmp_path):
    ws = _ws(G, 1)
    path = save_projected_w_npz(tmp_path / "projected_w.npz", ws)
    with np.load(path, allow_pickle=False) as data:
        assert data.files == ["w"]
        assert data["w"].shape == (1, G.num_ws, G.w_dim) and data["w"].dtype == np.float32
    rec = load_latent(path, G)
    assert torch.equal(rec.ws, ws) and rec.noise is None and rec.meta["format"] == "projected_w.npz"
    np.savez(tmp_path / "two_d.npz", w=ws[0].numpy())  # [num_ws, w_dim] is accepted too
    assert torch.equal(load_latent(tmp_path / "two_d.npz", G).ws, ws)


def test_plain_arrays(G, tmp_path):
    w = np.random.RandomState(1).randn(3, G.w_dim).astype(np.float32)
    np.save(tmp_path / "w.npy", w)
    rec = load_latent(tmp_path / "w.npy", G)
    assert rec.ws.shape == (3, G.num_ws, G.w_dim)
    assert torch.equal(rec.ws[:, 5], torch.from_numpy(w))
    np.savez(tmp_path / "ws.npz", ws=np.repeat(w[:, None], G.num_ws, 1))
    assert torch.equal(load_latent(tmp_path / "ws.npz", G).ws, rec.ws)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_rejected(G, tmp_path, bad):
    ws = _ws(G, 1)
    ws[0, 3, 7] = bad
    np.savez(tmp_path / "bad.npz", w=ws.numpy())
    with pytest.raises(InputError, match="bad.npz.*NaN or inf"):
        load_latent(tmp_path / "bad.npz", G)
    save_latent(tmp_path / "bad.safetensors", ws)
    with pytest.raises(InputError, match="bad.safetensors"):
        load_latent(tmp_path / "bad.safetensors", G)


def test_unreadable_and_wrong_shape(G, tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InputError, match="junk.npz"):
        load_latent(tmp_path / "junk.npz", G)
    (tmp_path / "text.npy").write_text("hello")
    with pytest.raises(InputError, match="text.npy"):
        load_latent(tmp_path / "text.npy", G)
    with pytest.raises(InputError, match="missing.npz: no such"):
        load_latent(tmp_path / "missing.npz", G)
    np.savez(tmp_path / "small.npz", w=np.zeros([1, G.num_ws, 32], np.float32))
    with pytest.raises(InputError, match="small.npz.*w_dim"):
        load_latent(tmp_path / "small.npz", G)
    np.savez(tmp_path / "layers.npz", w=np.zeros([2, 5, G.w_dim], np.float32))
    with pytest.raises(InputError, match="layers.npz.*num_ws"):
        load_latent(tmp_path / "layers.npz", G)


def test_resolve_seeds_and_files(G, tmp_path):
    save_latent(tmp_path / "face.safetensors", _ws(G, 1, seed=5))
    ws, labels = resolve_latents(["0-1", f"3,{tmp_path / 'face.safetensors'}"], G, truncation_psi=0.7)
    assert labels == ["0", "1", "3", "face"]
    expected = G.mapping(z_from_seeds([0, 1, 3], G.z_dim), None, truncation_psi=0.7)
    assert torch.allclose(ws[:3], expected, atol=1e-6)
    assert torch.equal(ws[3], _ws(G, 1, seed=5)[0])
    with pytest.raises(InputError, match="neither a seed"):
        resolve_latents(["nothere.npz"], G)


def test_resolve_conditional_needs_class(fixtures_dir):
    Gc = load_generator(fixtures_dir / "ada_tiny_cond.pkl")
    with pytest.raises(InputError, match="--class"):
        resolve_latents(["0"], Gc)
    ws, _ = resolve_latents(["0"], Gc, class_idx=4)
    c = torch.zeros([1, Gc.c_dim])
    c[0, 4] = 1
    assert torch.allclose(ws, Gc.mapping(z_from_seeds([0], Gc.z_dim), c), atol=1e-6)
