"""Directions: SeFa against an independent eigendecomposition, PCA, SVM recovery, storage, application."""

import numpy as np
import pytest
import torch

from projector.edits import (
    DirectionSet,
    apply_direction,
    fit_direction,
    labels_from_csv,
    labels_from_predictor,
    load_directions,
    orthogonalize,
    pca,
    save_directions,
    sefa,
    style_affines,
)
from projector.latent_file import save_latent
from stylegan2_core import InputError, z_from_seeds


def _affine(G, block, layer):
    m = getattr(getattr(G.synthesis, block), layer).affine
    return (m.weight * m.weight_gain).double().numpy()


def _abs_cos(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return abs(a @ b) / (np.linalg.norm(a) * np.linalg.norm(b))


def test_style_affine_ws_indices(G):
    got = [(name, i) for name, i, _ in style_affines(G)]
    assert got == [("b4.conv1", 0), ("b4.torgb", 1), ("b8.conv0", 1), ("b8.conv1", 2), ("b8.torgb", 3),
                   ("b16.conv0", 3), ("b16.conv1", 4), ("b16.torgb", 5), ("b32.conv0", 5), ("b32.conv1", 6),
                   ("b32.torgb", 7)]


def test_sefa_matches_independent_eigh(G):
    # ws 0-3 of the 32 px network: b4.conv1/torgb, all of b8, b16.conv0
    A = np.concatenate([_affine(G, "b4", "conv1"), _affine(G, "b4", "torgb"), _affine(G, "b8", "conv0"),
                        _affine(G, "b8", "conv1"), _affine(G, "b8", "torgb"), _affine(G, "b16", "conv0")])
    vals, vecs = np.linalg.eigh(A.T @ A)
    order = np.argsort(vals)[::-1]
    ds = sefa(G, layers=[0, 1, 2, 3], k=4)
    assert ds.directions.shape == (4, G.w_dim) and ds.layers == [0, 1, 2, 3] and ds.method == "sefa"
    assert torch.allclose(ds.directions.norm(dim=1), torch.ones(4), atol=1e-6)
    for i in range(4):
        assert _abs_cos(ds.directions[i], vecs[:, order[i]]) > 0.9999
        assert ds.values[i].item() == pytest.approx(vals[order[i]], rel=1e-5)
    assert ds.meta["model_sha256"] == G.checkpoint.sha256
    all_layers = sefa(G, k=2)
    A_all = np.concatenate([(m.weight * m.weight_gain).double().numpy() for m in
                            (mod.affine for mod in G.modules() if hasattr(mod, "affine"))])
    v_all = np.linalg.eigh(A_all.T @ A_all)[1][:, -1]
    assert all_layers.layers is None and _abs_cos(all_layers.directions[0], v_all) > 0.9999


def test_pca_is_seeded(G):
    a, b = pca(G, num_samples=2000, seed=0, k=5), pca(G, num_samples=2000, seed=0, k=5)
    c = pca(G, num_samples=2000, seed=1, k=5)
    assert torch.equal(a.directions, b.directions) and torch.equal(a.values, b.values)
    assert not torch.allclose(a.directions, c.directions)
    gram = a.directions @ a.directions.T
    assert torch.allclose(gram, torch.eye(5), atol=1e-5)
    assert torch.all(a.values[:-1] >= a.values[1:])
    w = G.mapping(torch.from_numpy(np.random.RandomState(0).randn(2000, G.z_dim)).float(), None)[:, 0].double()
    proj = (w - w.mean(0)) @ a.directions[0].double()
    assert proj.std().item() == pytest.approx(a.values[0].item(), rel=1e-4)


def _planted(n=3000, dim=32, seed=0):
    rs = np.random.RandomState(seed)
    scales = rs.uniform(0.2, 5.0, dim)  # anisotropic: the normal must be mapped back from standardized space
    x = rs.randn(n, dim) * scales + rs.randn(dim)
    d = rs.randn(dim)
    d /= np.linalg.norm(d)
    scores = x @ d + 0.05 * rs.randn(n)
    return torch.from_numpy(x).float(), torch.from_numpy(scores).float(), d


@pytest.mark.parametrize("method", ["linear-svm", "logistic"])
def test_svm_recovers_planted_direction(method):
    x, scores, d = _planted()
    ds = fit_direction(x, scores, method=method, seed=0)
    assert ds.directions.shape == (1, 32)
    assert ds.directions[0].double().numpy() @ d > 0.95  # same sign: toward higher scores
    assert ds.values[0] > 0.9 and ds.meta["accuracy_on"] == "validation"
    binary = fit_direction(x, (scores > 0.3).float(), method=method)
    assert binary.directions[0].double().numpy() @ d > 0.95


def test_svm_conditional_is_orthogonal():
    x, scores, d = _planted()
    rs = np.random.RandomState(5)
    others = torch.from_numpy(rs.randn(2, 32)).float()
    others[1] = others[0] + 0.1 * others[1]  # correlated conditions
    ds = fit_direction(x, scores, condition_on=others)
    assert torch.allclose(others @ ds.directions[0], torch.zeros(2), atol=1e-5)
    assert ds.directions[0].norm().item() == pytest.approx(1, abs=1e-6)
    assert ds.meta["conditioned"] is True
    with pytest.raises(InputError, match="span"):
        orthogonalize(others[0], others)


def test_svm_rejects_one_sided_labels():
    x, _, _ = _planted(100)
    with pytest.raises(InputError, match="one side"):
        fit_direction(x, torch.ones(100), threshold=2.0)


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_directions_round_trip(tmp_path, suffix):
    dirs = torch.nn.functional.normalize(torch.randn(3, 64, generator=torch.Generator().manual_seed(0)), dim=1)
    ds = DirectionSet(dirs, ["a", "b", "c"], "sefa", [0, 1], torch.tensor([3.0, 2.0, 1.0]), {"model_sha256": "x"})
    path = save_directions(tmp_path / f"d{suffix}", ds)
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            assert sorted(data.files) == ["directions", "meta", "values"]
    back = load_directions(path)
    assert torch.allclose(back.directions, dirs, atol=1e-6) and torch.equal(back.values, ds.values)
    assert back.names == ["a", "b", "c"] and back.method == "sefa" and back.layers == [0, 1]
    assert back.meta["model_sha256"] == "x"


def test_load_bare_boundary_and_errors(tmp_path):
    np.save(tmp_path / "boundary.npy", np.full([1, 64], 2.0, np.float32))
    ds = load_directions(tmp_path / "boundary.npy")
    assert ds.directions.shape == (1, 64) and ds.directions.norm().item() == pytest.approx(1)
    np.save(tmp_path / "nan.npy", np.full([64], np.nan, np.float32))
    with pytest.raises(InputError, match="nan.npy"):
        load_directions(tmp_path / "nan.npy")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(InputError, match="junk.npz"):
        load_directions(tmp_path / "junk.npz")
    with pytest.raises(InputError):
        save_directions(tmp_path / "d.txt", ds)


def test_apply_direction_only_touches_layers():
    g = torch.Generator().manual_seed(0)
    ws, d = torch.randn(2, 8, 64, generator=g), torch.randn(64, generator=g)
    edited = apply_direction(ws, d, 2.0, layers=[0, 3])
    keep = [1, 2, 4, 5, 6, 7]
    assert torch.equal(edited[:, keep], ws[:, keep])
    assert torch.allclose(edited[:, [0, 3]], ws[:, [0, 3]] + 2 * d, atol=1e-6)
    batch = apply_direction(ws, d, torch.tensor([-1.0, 0.0, 1.0]))
    assert batch.shape == (6, 8, 64)
    assert torch.allclose(batch[1 * 3 + 2], ws[1] + d, atol=1e-6)  # latent-major layout
    assert torch.equal(batch[0 * 3 + 1], ws[0])


def test_labels_from_csv(G, tmp_path):
    lat = torch.randn(1, G.num_ws, G.w_dim, generator=torch.Generator().manual_seed(1))
    save_latent(tmp_path / "lat.safetensors", lat)
    (tmp_path / "labels.csv").write_text("latent,score\n3,0.5\nlat.safetensors,-1\n7,2\n")
    ws, scores = labels_from_csv(tmp_path / "labels.csv", G)
    assert ws.shape == (3, G.num_ws, G.w_dim) and scores.tolist() == [0.5, -1.0, 2.0]
    assert torch.allclose(ws[[0, 2]], G.mapping(z_from_seeds([3, 7], G.z_dim), None), atol=1e-6)
    (tmp_path / "bad.csv").write_text("3,high\n")
    with pytest.raises(InputError, match="bad.csv.*row 1"):
        labels_from_csv(tmp_path / "bad.csv", G)


def test_labels_from_predictor(G):
    def brightness(images):
        return images.mean(dim=(1, 2, 3))

    ws, scores = labels_from_predictor(G, brightness, num_samples=10, seed=3, batch_size=4)
    assert ws.shape == (10, G.num_ws, G.w_dim) and scores.shape == (10,)
    with torch.no_grad():
        ref = G.synthesis(ws[:2], noise_mode="const").mean(dim=(1, 2, 3))
    assert torch.allclose(scores[:2], ref, atol=1e-5)
    ws2, by_name = labels_from_predictor(G, lambda im: {"b": brightness(im)}, 10, seed=3, attribute="b", batch_size=4)
    assert torch.allclose(by_name, scores) and torch.equal(ws2, ws)
