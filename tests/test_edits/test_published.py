"""Published direction files read as they are, hostile ones refused, Z directions, edit recipes and conditioning."""

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from projector.describe import describe_file
from projector.edits import (
    EditRecipe,
    apply_direction,
    apply_edits,
    fit_direction,
    load_directions,
    name_space,
    orthogonalize,
    parse_edit,
    resolve_edits,
)
from stylegan2_core import InputError, load_generator, z_from_seeds

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.fixture(scope="module")
def G():
    return load_generator(FIXTURES / "ada_tiny.pkl")


def _rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _unit(x):
    return x / x.norm(dim=-1, keepdim=True)


def test_interfacegan_boundary_npy(G, tmp_path):
    b = _unit(_rand(1, G.w_dim)).float().numpy()
    np.save(tmp_path / "boundary_smile.npy", b)
    ds = load_directions(tmp_path / "boundary_smile.npy", G.num_ws)
    assert ds.names == ["smile"] and ds.space == "w" and ds.meta["format"] == "boundary" and not ds.per_layer
    assert np.allclose(ds.directions.numpy(), b, atol=1e-6) and float(ds.values[0]) == pytest.approx(1, abs=1e-6)


def test_e4e_tensor_and_per_layer_pose(G, tmp_path):
    age = 3.0 * _unit(_rand(1, G.w_dim)).float()
    torch.save(age, tmp_path / "age.pt")
    ds = load_directions(tmp_path / "age.pt", G.num_ws)
    assert ds.names == ["age"] and ds.meta["format"] == "tensor" and float(ds.values[0]) == pytest.approx(3, rel=1e-5)
    assert torch.allclose(ds.directions, age / 3, atol=1e-6)
    pose = _rand(1, G.num_ws, G.w_dim, seed=1).float()
    torch.save(pose, tmp_path / "pose.pt")
    ds = load_directions(tmp_path / "pose.pt", G.num_ws)
    rms = pose[0].double().pow(2).sum(-1).mean().sqrt()
    assert ds.per_layer and ds.directions.shape == (1, G.num_ws, G.w_dim)
    assert torch.allclose(ds.directions[0].double(), pose[0].double() / rms, atol=1e-6)


def test_e4e_ganspace_dict(G, tmp_path):
    comp = _unit(_rand(5, 1, G.w_dim)).float()
    std = torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0])
    torch.save({"mean": _rand(1, G.w_dim).float(), "comp": comp, "std": std}, tmp_path / "ffhq_pca.pt")
    ds = load_directions(tmp_path / "ffhq_pca.pt", G.num_ws)
    assert ds.directions.shape == (5, G.w_dim) and ds.names[1] == "pc1" and ds.meta["format"] == "e4e-ganspace"
    assert torch.equal(ds.values, std) and torch.allclose(ds.directions, comp[:, 0], atol=1e-6)
    assert len(ds.meta["mean"]) == G.w_dim


def test_ganspace_cache_npz_ignores_activation_keys(G, tmp_path):
    comp = _unit(_rand(4, 1, G.w_dim)).float().numpy()
    np.savez(tmp_path / "stylegan2-ffhq_style_ipca_c4_n1000.npz", lat_comp=comp, lat_mean=np.zeros([1, G.w_dim]),
             lat_stdev=np.array([4.0, 3.0, 2.0, 1.0]), act_comp=np.ones([4, 1, 7]), act_mean=np.ones([1, 7]),
             act_stdev=np.ones(4), var_ratio=np.ones(4))
    ds = load_directions(tmp_path / "stylegan2-ffhq_style_ipca_c4_n1000.npz", G.num_ws)
    assert ds.meta["format"] == "ganspace" and ds.directions.shape == (4, G.w_dim)
    assert np.allclose(ds.directions.numpy(), comp[:, 0], atol=1e-6) and ds.values.tolist() == [4, 3, 2, 1]


def test_sefa_factor_columns(G, tmp_path):
    eigvec = torch.linalg.qr(_rand(G.w_dim, G.w_dim))[0].float()
    torch.save({"ckpt": "stylegan2-ffhq.pt", "eigvec": eigvec}, tmp_path / "factor.pt")
    ds = load_directions(tmp_path / "factor.pt", G.num_ws)
    assert len(ds) == G.w_dim and ds.meta["ckpt"] == "stylegan2-ffhq.pt" and ds.meta["format"] == "sefa"
    assert torch.allclose(ds.directions[3], eigvec[:, 3], atol=1e-6)  # directions are the columns


def test_per_layer_npy_edits_like_its_row(G, tmp_path):
    row = _unit(_rand(G.w_dim, seed=2)).float()
    np.save(tmp_path / "age.npy", (2.5 * row).expand(G.num_ws, -1).numpy())  # stylegan2directions: one row per layer
    ds = load_directions(tmp_path / "age.npy", G.num_ws)
    assert ds.per_layer and float(ds.values[0]) == pytest.approx(2.5, rel=1e-5)
    ws = _rand(2, G.num_ws, G.w_dim, seed=3).float()
    assert torch.allclose(apply_direction(ws, ds.directions[0], 1.5, [0, 2]), apply_direction(ws, row, 1.5, [0, 2]),
                          atol=1e-6)
    assert len(load_directions(tmp_path / "age.npy")) == G.num_ws  # without a network: num_ws rows of directions


def test_anycost_named_boundaries(G, tmp_path):
    rows = {"Smiling": _unit(_rand(1, G.w_dim)).float(), "Young": 2 * _unit(_rand(1, G.w_dim, seed=1)).float()}
    torch.save(rows, tmp_path / "boundary_stylegan2-ffhq.pt")
    ds = load_directions(tmp_path / "boundary_stylegan2-ffhq.pt", G.num_ws)
    assert ds.names == ["Smiling", "Young"] and ds.meta["format"] == "named"
    assert torch.allclose(ds.directions[1], rows["Young"][0] / 2, atol=1e-6)


def test_shapes_are_checked_against_the_network(G, tmp_path):
    np.save(tmp_path / "boundary_wide.npy", np.ones([1, G.w_dim * 2], np.float32))
    with pytest.raises(InputError, match=r"boundary_wide.npy.*w_dim is 64"):
        resolve_edits(G, [EditRecipe(str(tmp_path / "boundary_wide.npy"), 1.0)])
    torch.save(torch.ones(1, G.num_ws - 1, G.w_dim), tmp_path / "pose.pt")
    with pytest.raises(InputError, match=rf"pose.pt.*{G.num_ws - 1} ws layers.*num_ws {G.num_ws}"):
        resolve_edits(G, [EditRecipe(str(tmp_path / "pose.pt"), 1.0)])


class _Marker:
    """A pickle that, if ever unpickled with code allowed, creates ``path``."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def test_hostile_files_are_refused_without_running_code(tmp_path):
    marker = tmp_path / "marker"
    payload = pickle.dumps(_Marker(marker))
    pickle.loads(payload)  # the payload works: unrestricted unpickling creates the marker
    assert marker.exists()
    marker.unlink()
    (tmp_path / "legacy.pt").write_bytes(payload)
    torch.save({"comp": _Marker(marker)}, tmp_path / "zipped.pt")
    np.save(tmp_path / "boundary_evil.npy", np.array([_Marker(marker)], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "evil.npz", lat_comp=np.array([_Marker(marker)], dtype=object))
    for name in ("legacy.pt", "zipped.pt", "boundary_evil.npy", "evil.npz"):
        with pytest.raises(InputError, match=name) as err:
            load_directions(tmp_path / name)
        assert "\n" not in str(err.value)
    assert not marker.exists()
    with pytest.raises(InputError, match="boundary_evil.npy"):
        describe_file(tmp_path / "boundary_evil.npy")
    assert describe_file(tmp_path / "zipped.pt") is None and not marker.exists()  # left to the checkpoint loader


@pytest.mark.parametrize("name, space", [
    ("boundary_smile_z.npy", "z"), ("smile_z_space.npy", "z"), ("stylegan_ffhq_smile_boundary.npy", "z"),
    ("pggan_celebahq_age_boundary.npy", "z"), ("stylegan_ffhq_smile_w_boundary.npy", "w"),
    ("stylegan_ffhq_smile_wp_boundary.npy", "w"), ("boundary_smile.npy", "w"), ("zoom.npy", "w"),
    ("size_z2.npy", "w")])
def test_space_from_the_file_name(name, space):
    assert name_space(name) == space


def test_z_directions_edit_seeds_and_refuse_latents(G, tmp_path):
    n = _unit(_rand(1, G.z_dim, seed=4)).float()
    np.save(tmp_path / "boundary_smile_z.npy", n.numpy())
    ws = G.mapping(z_from_seeds([3, 5], G.z_dim), None)
    w_edit = _unit(_rand(G.w_dim, seed=5)).float()
    np.save(tmp_path / "boundary_light.npy", w_edit[None].numpy())
    edits = [EditRecipe(str(tmp_path / "boundary_smile_z.npy"), 2.0), EditRecipe(str(tmp_path / "boundary_light.npy"),
                                                                                 -1.0, layers=[1, 2])]
    got = apply_edits(G, ws, edits, z=z_from_seeds([3, 5], G.z_dim), truncation_psi=0.7)
    with torch.no_grad():
        expected = G.mapping(z_from_seeds([3, 5], G.z_dim) + 2.0 * n, None, truncation_psi=0.7)
    expected[:, 1:3] -= w_edit
    assert torch.allclose(got, expected, atol=1e-5)
    with pytest.raises(InputError, match="no z"):
        apply_edits(G, ws, edits)
    with pytest.raises(InputError, match="drop the layers"):
        resolve_edits(G, [EditRecipe(str(tmp_path / "boundary_smile_z.npy"), 1.0, layers=[0])])


def test_parse_edit():
    assert parse_edit("a/smile.npz:2=-1.5@0-3", 8) == EditRecipe("a/smile.npz", -1.5, 2, [0, 1, 2, 3])
    assert parse_edit("lighting.npz=2", 8) == EditRecipe("lighting.npz", 2.0, 0, None)
    for bad in ("lighting.npz", "x.npz=1,2", "x.npz=nan", "=2", "x.npz=1@9"):
        with pytest.raises(InputError):
            parse_edit(bad, 8)


def test_recipes_add_exactly_in_float64(G, tmp_path):
    d = _unit(_rand(3, G.w_dim, seed=6))
    for i in range(3):
        np.save(tmp_path / f"d{i}.npy", d[i:i + 1].numpy())
    ws = _rand(2, G.num_ws, G.w_dim, seed=7)
    recipes = [EditRecipe(str(tmp_path / "d0.npy"), 1.5), EditRecipe(str(tmp_path / "d1.npy"), -2.0, layers=[0, 5]),
               EditRecipe(str(tmp_path / "d2.npy"), 0.25, layers=[7])]
    got = apply_edits(G, ws, recipes)
    unit = [load_directions(tmp_path / f"d{i}.npy").directions[0].double() for i in range(3)]  # as read: float32
    assert all((u - d[i]).abs().max() < 1e-6 for i, u in enumerate(unit))
    expected = ws + 1.5 * unit[0]
    expected[:, [0, 5]] += -2.0 * unit[1]
    expected[:, 7] += 0.25 * unit[2]
    assert (got - expected).abs().max() < 1e-12  # float64 ws: the sum itself is exact to rounding


def test_keep_makes_edits_orthogonal_to_the_kept_span(G, tmp_path):
    d = _unit(_rand(4, G.w_dim, seed=8))
    d[1] = _unit(d[1] + 2 * d[0])  # correlated with the edit, as attribute directions are
    d[2] = _unit(d[1] + d[0] + 0.5 * d[2])  # nearly in the span of the first two: Gram-Schmidt handles it
    for i in range(4):
        np.save(tmp_path / f"k{i}.npy", d[i:i + 1].numpy())
    kept = [str(tmp_path / "k1.npy"), str(tmp_path / "k2.npy")]
    ws = _rand(3, G.num_ws, G.w_dim, seed=9)
    (edit,) = resolve_edits(G, [EditRecipe(str(tmp_path / "k0.npy"), 3.0)], keep=kept)
    moved = apply_edits(G, ws, [edit]) - ws
    basis = d[1:3].float().double()
    assert (moved @ basis.T).abs().max() < 1e-5  # float32 vector, float64 check: kept projections unchanged
    assert edit.vector.double().norm().item() == pytest.approx(1, abs=1e-6) and edit.conditioned_on == tuple(kept)
    span = torch.linalg.lstsq(basis.T, d[0].float().double()).solution
    reference = d[0].float().double() - basis.T @ span  # the projection off the span, by least squares
    assert torch.allclose(edit.vector.double(), reference / reference.norm(), atol=1e-6)
    from projector.edits import supervised

    assert supervised.orthogonalize is orthogonalize  # directions svm --condition-on conditions the same way
    fitted = fit_direction(_rand(200, G.w_dim, seed=10), _rand(200, seed=11), condition_on=d[1:3].float())
    assert (fitted.directions[0].double() @ basis.T).abs().max() < 1e-6


def test_keep_per_layer(G, tmp_path):
    kept = _rand(1, G.num_ws, G.w_dim, seed=12)
    torch.save(kept.float(), tmp_path / "pose.pt")
    edit = _unit(_rand(1, G.w_dim, seed=13))
    np.save(tmp_path / "boundary_age.npy", edit.numpy())
    (resolved,) = resolve_edits(G, [EditRecipe(str(tmp_path / "boundary_age.npy"), 2.0)], keep=[str(tmp_path / "pose.pt")])
    assert resolved.vector.shape == (G.num_ws, G.w_dim)
    ws = _rand(2, G.num_ws, G.w_dim, seed=14)
    moved = apply_edits(G, ws, [resolved]) - ws
    assert (moved * kept.float().double()).sum(-1).abs().max() < 1e-5  # every layer keeps its projection
    assert resolved.vector.double().pow(2).sum(-1).mean().sqrt().item() == pytest.approx(1, abs=1e-6)


def test_keeping_the_edited_direction_is_refused_by_name(G, tmp_path):
    np.save(tmp_path / "boundary_smile.npy", _unit(_rand(1, G.w_dim)).numpy())
    spec = str(tmp_path / "boundary_smile.npy")
    with pytest.raises(InputError, match=r"boundary_smile.npy: direction 0 lies in the span"):
        resolve_edits(G, [EditRecipe(spec, 1.0)], keep=[spec])


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_per_layer_and_z_sets_round_trip(G, tmp_path, suffix):
    from projector.edits import DirectionSet, save_directions

    per_layer = _rand(2, G.num_ws, G.w_dim, seed=15).float()
    per_layer /= per_layer.pow(2).sum(-1).mean(-1).sqrt()[:, None, None]
    path = save_directions(tmp_path / f"p{suffix}", DirectionSet(per_layer, ["a", "b"], "file"))
    back = load_directions(path, G.num_ws)
    assert back.per_layer and torch.allclose(back.directions, per_layer, atol=1e-6) and back.space == "w"
    z = _unit(_rand(1, G.z_dim, seed=16)).float()
    back = load_directions(save_directions(tmp_path / f"z{suffix}", DirectionSet(z, ["zz"], "file", space="z")))
    assert back.space == "z" and back.meta["format"] == "s2edit"
