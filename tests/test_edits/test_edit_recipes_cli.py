"""``s2edit edit`` with published direction files, --add, --keep, --save-latents and --force, as a user types it."""

import pickle
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from projector.edits import DirectionSet, load_directions, orthogonalize, save_directions
from projector.latent_file import EDITS_KEY, load_latent, save_latent
from stylegan2_core import load_generator, to_uint8, z_from_seeds

FIXTURES = Path(__file__).parents[1] / "fixtures"
NET = str(FIXTURES / "ada_tiny.pkl")


def s2edit(run_s2edit, *args) -> tuple[int, str, str]:
    """The real ``s2edit`` entry point in-process: (exit code, stdout with its white space folded, stderr)."""
    code, out, err = run_s2edit(*args)
    return code, " ".join(out.split()), err


def _unit(n, dim, seed):
    d = torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))
    return d / d.norm(dim=1, keepdim=True)


@pytest.fixture(scope="module")
def demo():
    return load_generator("demo")


@pytest.fixture(scope="module")
def tiny():
    return load_generator(NET)


def _render(G, ws):
    with torch.no_grad():
        return to_uint8(G.synthesis(ws, noise_mode="const"))[0].astype(int)


def test_the_documented_commands(demo, tmp_path, monkeypatch, run_s2edit):
    monkeypatch.chdir(tmp_path)
    G = demo
    ws = G.mapping(z_from_seeds([11], G.z_dim), None)
    save_latent(Path("out/a/latent.safetensors"), ws)
    np.save("boundary_smile.npy", _unit(1, G.w_dim, 0).numpy())
    for i, name in enumerate(("smile", "lighting", "hair_color")):
        save_directions(f"{name}.npz", DirectionSet(_unit(1, G.w_dim, 10 + i), [name], "linear-svm"))
    torch.save({"mean": torch.zeros(1, G.w_dim), "comp": _unit(3, G.w_dim, 20)[:, None], "std": torch.ones(3)},
               "ffhq_pca.pt")

    code, out, err = s2edit(run_s2edit, "edit", "out/a/latent.safetensors", "--network", "demo", "--direction",
                            "boundary_smile.npy", "--strength", "2", "--outdir", "e/")
    assert code == 0, err
    smile = load_directions("boundary_smile.npy").directions[0]
    assert np.abs(iio.imread("e/a_smile_+2.00.png").astype(int) - _render(G, ws + 2 * smile)).max() <= 1

    code, out, err = s2edit(run_s2edit, "edit", "out/a/latent.safetensors", "--network", "demo", "--direction",
                            "smile.npz", "--strength", "0,2", "--add", "lighting.npz=2", "--keep", "hair_color.npz",
                            "--outdir", "e/", "--save-latents")
    assert code == 0, err
    hair = load_directions("hair_color.npz").directions
    smile, lighting = (orthogonalize(load_directions(f"{n}.npz").directions[0], hair) for n in ("smile", "lighting"))
    expected = ws + 2 * lighting + 2 * smile
    assert np.abs(iio.imread("e/a_smile+lighting+2_+2.00.png").astype(int) - _render(G, expected)).max() <= 1
    saved = load_latent("e/a_smile+lighting+2_+2.00.safetensors")
    assert torch.allclose(saved.ws, expected, atol=1e-5)
    recipe = saved.meta[EDITS_KEY]
    assert [(r["direction"], r["strength"], r["conditioned_on"]) for r in recipe] == [
        ("lighting.npz", 2.0, ["hair_color.npz"]), ("smile.npz", 2.0, ["hair_color.npz"])]
    assert "orthogonal" in out and "hair_color.npz" in out

    code, out, err = s2edit(run_s2edit, "edit", "e/a_smile+lighting+2_+2.00.safetensors", "--network", "demo",
                            "--direction", "ffhq_pca.pt", "--index", "1", "--strength", "-2,2", "--layers", "0-3",
                            "--outdir", "e/", "--save-latents")
    assert code == 0, err
    pc1 = load_directions("ffhq_pca.pt").directions[1]
    again = expected.clone()
    again[:, :4] += 2 * pc1
    label = "a_smile+lighting+2_+2.00"
    assert np.abs(iio.imread(f"e/{label}_pc1_+2.00.png").astype(int) - _render(G, again)).max() <= 1
    chained = load_latent(f"e/{label}_pc1_+2.00.safetensors").meta
    assert [r["name"] for r in chained[EDITS_KEY]] == ["lighting", "smile", "pc1"] and chained["space"] == "w+"
    assert chained[EDITS_KEY][-1]["layers"] == [0, 1, 2, 3]


def test_z_boundary_on_seeds_and_refused_on_a_latent(tiny, tmp_path, run_s2edit):
    G = tiny
    n = _unit(1, G.z_dim, 3)
    np.save(tmp_path / "boundary_smile_z.npy", n.numpy())
    code, out, err = s2edit(run_s2edit, "edit", "4", "--network", NET, "--direction", tmp_path / "boundary_smile_z.npy",
                            "--strength", "1.5", "--outdir", tmp_path / "e")
    assert code == 0, err
    with torch.no_grad():
        expected = G.mapping(z_from_seeds([4], G.z_dim) + 1.5 * n, None)
    assert np.abs(iio.imread(tmp_path / "e" / "4_smile_+1.50.png").astype(int) - _render(G, expected)).max() <= 1
    save_latent(tmp_path / "me.safetensors", expected)
    code, out, err = s2edit(run_s2edit, "edit", tmp_path / "me.safetensors", "--network", NET, "--direction",
                            tmp_path / "boundary_smile_z.npy", "--strength", "1", "--outdir", tmp_path / "f")
    assert code == 2 and "no z" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "f").exists() or not list((tmp_path / "f").glob("*.png"))


class _Marker:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def test_hostile_direction_file_exits_2_without_running_it(tmp_path, run_s2edit):
    marker = tmp_path / "marker"
    (tmp_path / "smile.pt").write_bytes(pickle.dumps(_Marker(marker)))
    code, out, err = s2edit(run_s2edit, "edit", "3", "--network", NET, "--direction", tmp_path / "smile.pt",
                            "--outdir", tmp_path / "e")
    assert code == 2 and "smile.pt" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    code, out, err = s2edit(run_s2edit, "edit", "3", "--network", NET, "--add", f"{tmp_path / 'smile.pt'}=1",
                            "--outdir", tmp_path / "e")
    assert code == 2 and "smile.pt" in err
    assert not marker.exists()


def test_mismatched_direction_is_refused_in_one_line(tmp_path, run_s2edit):
    np.save(tmp_path / "boundary_age.npy", np.ones([1, 512], np.float32))
    code, out, err = s2edit(run_s2edit, "edit", "3", "--network", NET, "--direction", tmp_path / "boundary_age.npy",
                            "--outdir", tmp_path / "e")
    assert code == 2 and "boundary_age.npy" in err and "512" in err and len(err.strip().splitlines()) == 1


def test_force_replaces_only_the_same_latent_and_direction(tiny, tmp_path, run_s2edit):
    save_directions(tmp_path / "d.npz", DirectionSet(_unit(2, tiny.w_dim, 5), ["up", "down"], "test"))
    e = tmp_path / "e"

    def edit(latent, *extra):
        code, out, err = s2edit(run_s2edit, "edit", latent, "--network", NET, "--direction", tmp_path / "d.npz",
                                "--outdir", e, *extra)
        assert code == 0, err
        return out + err

    edit("1", "--strength", "-1,1")
    first = sorted(p.name for p in e.glob("1_*.png"))
    assert first == ["1_up_+1.00.png", "1_up_-1.00.png", "1_up_strip.png"]
    edit("2", "--strength", "-1,1", "--force")  # another latent into the same folder
    edit("1", "--index", "1", "--strength", "0", "--force")  # another direction of the same latent
    assert sorted(p.name for p in e.glob("1_up*.png")) == first
    assert len(list(e.glob("2_up_*.png"))) == 3 and len(list(e.glob("1_down_*.png"))) == 2
    said = edit("1", "--strength", "0,1", "--force")  # the same latent and direction: its old outputs go
    assert sorted(p.name for p in e.glob("1_up*.png")) == ["1_up_+0.00.png", "1_up_+1.00.png", "1_up_strip.png"]
    assert "removed 1" in said and "1_up_-1.00.png" in said
    assert len(list(e.glob("2_up_*.png"))) == 3 and len(list(e.glob("1_down_*.png"))) == 2


def test_info_describes_each_published_format(tiny, tmp_path, run_s2edit):
    G = tiny
    files = {
        "boundary_smile.npy": lambda p: np.save(p, _unit(1, G.w_dim, 0).numpy()),
        "age.pt": lambda p: torch.save(3 * _unit(1, G.w_dim, 1), p),
        "pose.pt": lambda p: torch.save(torch.ones(1, G.num_ws, G.w_dim), p),
        "ffhq_pca.pt": lambda p: torch.save({"mean": torch.zeros(1, G.w_dim), "comp": _unit(3, G.w_dim, 2)[:, None],
                                             "std": torch.tensor([3.0, 2.0, 1.0])}, p),
        "ganspace.npz": lambda p: np.savez(p, lat_comp=_unit(2, G.w_dim, 3)[:, None].numpy(),
                                           lat_mean=np.zeros([1, G.w_dim]), lat_stdev=np.array([2.0, 1.0]),
                                           act_comp=np.ones([2, 1, 5])),
        "factor.pt": lambda p: torch.save({"ckpt": "x.pt", "eigvec": torch.eye(G.w_dim)}, p),
        "boundary_anycost.pt": lambda p: torch.save({"Smiling": _unit(1, G.w_dim, 4)}, p),
    }
    expected = {"boundary_smile.npy": "one direction in W", "age.pt": "e4e / PTI direction tensor",
                "pose.pt": f"1 x [num_ws {G.num_ws}, w_dim {G.w_dim}] (per layer)",
                "ffhq_pca.pt": "e4e / PTI GANSpace", "ganspace.npz": "GANSpace cache",
                "factor.pt": "SeFa factor", "boundary_anycost.pt": "anycost-gan"}
    for name, write in files.items():
        write(tmp_path / name)
        code, out, err = s2edit(run_s2edit, "info", tmp_path / name)
        assert code == 0 and expected[name] in out, (name, out, err)
    code, out, err = s2edit(run_s2edit, "info", tmp_path / "ffhq_pca.pt")
    assert "std │ 3, 2, 1" in out and "distance in W" in out
