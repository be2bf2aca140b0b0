"""The mix, video, directions and edit commands through typer, on the tiny ADA fixture."""

from importlib import import_module
from pathlib import Path

import imageio
import imageio.v3 as iio
import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from projector.edits import load_directions, style_mix
from projector.latent_file import save_latent
from stylegan2_core import InputError, load_generator, to_uint8, z_from_seeds

FIXTURES = Path(__file__).parents[1] / "fixtures"
NET = str(FIXTURES / "ada_tiny.pkl")


@pytest.fixture(scope="module")
def app():
    app = typer.Typer()
    for name in ("mix", "video", "edit"):
        app.command(name)(getattr(import_module(f"cli.commands.{name}"), f"{name}_command"))
    app.add_typer(import_module("cli.commands.directions").app, name="directions")
    return app


def run(app, *args):
    return CliRunner().invoke(app, [str(a) for a in args])


def ok(result):
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def _frames(path):
    reader = imageio.get_reader(path)
    try:
        return [np.asarray(f) for f in reader]
    finally:
        reader.close()


def test_mix_cells_match_the_api(app, G, tmp_path):
    out = tmp_path / "out"
    ok(run(app, "mix", "--network", NET, "--rows", "0,1", "--cols", "2,3", "--styles", "0-3", "--outdir", out))
    assert sorted(p.name for p in out.iterdir()) == ["0-2.png", "0-3.png", "1-2.png", "1-3.png", "grid.png",
                                                     "s2edit-outputs.json"]
    ws = G.mapping(z_from_seeds([0, 2], G.z_dim), None)
    with torch.no_grad():
        expected = to_uint8(G.synthesis(style_mix(ws[:1], ws[1:], [0, 1, 2, 3]), noise_mode="const"))[0]
    assert np.abs(iio.imread(out / "0-2.png").astype(int) - expected).max() <= 1
    assert iio.imread(out / "grid.png").shape == (96, 96, 3)
    before = (out / "0-2.png").read_bytes()
    result = run(app, "mix", "--network", NET, "--rows", "0,1", "--cols", "2,3", "--outdir", out)
    assert isinstance(result.exception, InputError) and "--force" in str(result.exception)
    assert (out / "0-2.png").read_bytes() == before
    ok(run(app, "mix", "--network", NET, "--rows", "0,1", "--cols", "2,3", "--styles", "4-7", "--outdir", out,
           "--force"))
    assert (out / "0-2.png").read_bytes() != before


def test_mix_with_latent_files_and_video(app, G, tmp_path):
    save_latent(tmp_path / "me.safetensors", G.mapping(z_from_seeds([9], G.z_dim), None))
    out = tmp_path / "o"
    ok(run(app, "mix", "--network", NET, "--rows", tmp_path / "me.safetensors", "--cols", "2", "--styles", "coarse",
           "--outdir", out, "--video", tmp_path / "sweep.mp4", "--noise-mode", "random"))
    assert (out / "me-2.png").is_file()
    frames = _frames(tmp_path / "sweep.mp4")
    assert len(frames) == G.num_ws + 1 and frames[0].shape[:2] == (64, 64)


def test_video_seeds(app, tmp_path):
    ok(run(app, "video", "--network", NET, "--seeds", "0,1,2", "--frames", "8", "--output", tmp_path / "v.mp4"))
    frames = _frames(tmp_path / "v.mp4")
    assert len(frames) == 17 and frames[0].shape == (32, 32, 3)
    ok(run(app, "video", "--network", NET, "--seeds", "0,1,2", "--frames", "4", "--kind", "cubic", "--loop",
           "--grid", "2x2", "--easing", "ease-in-out", "--gif", "--output", tmp_path / "g.mp4"))
    frames = _frames(tmp_path / "g.gif")
    assert len(frames) == 12 and frames[0].shape[:2] == (64, 64)
    result = run(app, "video", "--network", NET, "--seeds", "0,1", "--output", tmp_path / "v.mp4")
    assert isinstance(result.exception, InputError)


def test_video_latent_files(app, G, tmp_path):
    ws = G.mapping(z_from_seeds([4, 5], G.z_dim), None)
    save_latent(tmp_path / "a.safetensors", ws[:1])
    np.savez(tmp_path / "b.npz", w=ws[1:].numpy())
    ok(run(app, "video", "--network", NET, "--latents", tmp_path / "a.safetensors", tmp_path / "b.npz",
           "--frames", "3", "--output", tmp_path / "l.mp4", "--fps", "12"))
    assert len(_frames(tmp_path / "l.mp4")) == 4
    result = run(app, "video", "--network", NET, "--latents", tmp_path / "a.safetensors", tmp_path / "b.npz",
                 "--kind", "slerp", "--output", tmp_path / "s.mp4")
    assert isinstance(result.exception, InputError) and "slerp" in str(result.exception)


def test_directions_and_edit(app, G, tmp_path):
    ok(run(app, "directions", "sefa", "--network", NET, "--layers", "0-3", "-k", "3",
           "--output", tmp_path / "sefa.npz"))
    ds = load_directions(tmp_path / "sefa.npz")
    assert ds.directions.shape == (3, G.w_dim) and ds.layers == [0, 1, 2, 3]
    ok(run(app, "directions", "pca", "--network", NET, "--samples", "500", "--seed", "0", "-k", "4",
           "--output", tmp_path / "pca.safetensors"))
    assert len(load_directions(tmp_path / "pca.safetensors")) == 4

    rows = ["latent,score"] + [f"{s},{float(v):.4f}" for s, v in
                               zip(range(200), G.mapping(z_from_seeds(range(200), G.z_dim), None)[:, 0, 0])]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    ok(run(app, "directions", "svm", "--network", NET, "--labels", tmp_path / "labels.csv", "--output",
           tmp_path / "svm.npz", "--condition-on", f"{tmp_path / 'pca.safetensors'}:0"))
    svm_ds = load_directions(tmp_path / "svm.npz")
    assert svm_ds.directions[0, 0] > 0.5  # the score is w[0]
    assert abs(float(svm_ds.directions[0] @ load_directions(tmp_path / "pca.safetensors").directions[0])) < 1e-5

    e = tmp_path / "e"
    ok(run(app, "edit", "3", "--network", NET, "--direction", tmp_path / "sefa.npz", "--index", "0",
           "--strength", "-3:3:7", "--layers", "0-7", "--outdir", e))
    strip = iio.imread(e / "3_sefa0_strip.png")
    assert strip.shape == (32, 7 * 32, 3) and len(list(e.glob("3_sefa0_[+-]*.png"))) == 7
    ws = G.mapping(z_from_seeds([3], G.z_dim), None)
    with torch.no_grad():
        expected = to_uint8(G.synthesis(ws + 3 * ds.directions[0], noise_mode="const"))[0]
    assert np.abs(iio.imread(e / "3_sefa0_+3.00.png").astype(int) - expected).max() <= 1
    assert np.array_equal(strip[:, 6 * 32:], iio.imread(e / "3_sefa0_+3.00.png"))
    ok(run(app, "edit", "3", "--network", NET, "--direction", tmp_path / "sefa.npz", "--strength", "-2,0,2",
           "--video", tmp_path / "edit.mp4"))
    assert len(_frames(tmp_path / "edit.mp4")) == 3
    result = run(app, "edit", "3", "--network", NET, "--direction", tmp_path / "sefa.npz", "--index", "5",
                 "--outdir", e, "--force")
    assert isinstance(result.exception, InputError) and "--index" in str(result.exception)


def test_svm_from_the_attribute_predictor(app, tmp_path):
    out = tmp_path / "glasses.npz"
    ok(run(app, "directions", "svm", "--network", "demo", "--attribute", "glasses", "--samples", "120",
           "--output", out))
    ds = load_directions(out)
    assert ds.directions.shape == (1, load_generator("demo").w_dim)
    assert "glasses on 120 images" in ds.meta["labels"] and 0.0 <= float(ds.values[0]) <= 1.0

    both = run(app, "directions", "svm", "--network", "demo", "--attribute", "glasses", "--labels", out,
               "--output", tmp_path / "x.npz")
    assert isinstance(both.exception, InputError) and "exactly one" in str(both.exception)
    unknown = run(app, "directions", "svm", "--network", "demo", "--attribute", "beard", "--output",
                  tmp_path / "y.npz")
    assert isinstance(unknown.exception, InputError) and "smile" in str(unknown.exception)
    assert not (tmp_path / "x.npz").exists() and not (tmp_path / "y.npz").exists()
