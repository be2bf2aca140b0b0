"""edit, directions, video and mix on StyleGAN3 networks: SeFa over the synthesis affines, layer groups from the
ws resolutions, translation/rotation videos, conditional mixing."""

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from projector.edits import load_directions, parse_layers, sefa, style_affines, style_mix, ws_resolutions
from projector.generate import image_transform
from projector.latent_file import load_latent
from stylegan2_core import InputError, class_labels, load_generator, to_uint8, z_from_seeds

FIXTURES = Path(__file__).parents[1] / "fixtures"
NETWORK = FIXTURES / "sg3t_tiny.pkl"


@pytest.fixture(scope="module")
def app():
    from cli.app import app

    return app


@pytest.fixture(scope="module")
def G():
    return load_generator(NETWORK)


def run(app, *args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def failure(app, *args) -> BaseException:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code != 0
    return result.exception


def test_sefa_factorizes_every_synthesis_layers_affine(G):
    layers = style_affines(G)
    assert [(name, i) for name, i, _ in layers] == [(n, k + 1) for k, n in enumerate(G.synthesis.layer_names)]
    params = dict(G.synthesis.named_parameters())
    A = torch.cat([params[f"{n}.affine.weight"].double() / G.w_dim ** 0.5 for n in G.synthesis.layer_names[2:]])
    eigvals, eigvecs = torch.linalg.eigh(A.T @ A)
    ds = sefa(G, layers=list(range(3, G.num_ws)), k=3)
    torch.testing.assert_close(ds.values.double(), eigvals.flip(0)[:3], rtol=1e-5, atol=0)
    cosines = (ds.directions.double() @ eigvecs.flip(1)[:, :3]).diagonal().abs()
    torch.testing.assert_close(cosines, torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-5)
    with pytest.raises(InputError, match="no style-affine layer"):
        sefa(G, layers=[0])  # ws 0 drives the input's rotation and translation, not styles


def test_directions_commands(app, G, tmp_path):
    run(app, "directions", "sefa", "-n", NETWORK, "--layers", "coarse", "-k", "2", "--output", tmp_path / "s.npz")
    ds = load_directions(tmp_path / "s.npz")
    assert ds.layers == list(range(6)) and ds.directions.shape == (2, G.w_dim)  # coarse: ws 0-5 at 32 px
    run(app, "directions", "pca", "-n", NETWORK, "-k", "2", "--samples", "200", "--output", tmp_path / "p.npz")
    assert load_directions(tmp_path / "p.npz").directions.shape == (2, G.w_dim)
    rows = "\n".join(f"{seed},{seed % 2}" for seed in range(24))
    (tmp_path / "labels.csv").write_text("latent,score\n" + rows + "\n")
    run(app, "directions", "svm", "-n", NETWORK, "--labels", tmp_path / "labels.csv", "--output", tmp_path / "v.npz")
    assert load_directions(tmp_path / "v.npz").directions.shape == (1, G.w_dim)


def test_edit_coarse_moves_only_the_coarse_ws(app, G, tmp_path):
    run(app, "directions", "sefa", "-n", NETWORK, "-k", "1", "--output", tmp_path / "s.npz")
    run(app, "edit", "5", "-n", NETWORK, "-d", tmp_path / "s.npz", "--strength", "0,2", "--layers", "coarse",
        "--save-latents", "--outdir", tmp_path / "e")
    base, edited = (load_latent(p, G).ws for p in sorted((tmp_path / "e").glob("*.safetensors")))
    coarse = parse_layers("coarse", G.num_ws, ws_resolutions(G))
    assert coarse == list(range(6))
    moved = (edited - base).abs().sum(-1)[0] > 0
    assert moved.nonzero().flatten().tolist() == coarse
    direction = load_directions(tmp_path / "s.npz").directions[0]
    torch.testing.assert_close(edited[0, 3], base[0, 3] + 2 * direction, rtol=0, atol=1e-5)


def _capture_frames(monkeypatch) -> list[np.ndarray]:
    import projector.video

    frames, append = [], projector.video.VideoWriter.append
    monkeypatch.setattr(projector.video.VideoWriter, "append",
                        lambda self, f: (frames.extend(np.asarray(f)), append(self, f))[1])
    return frames


def test_translate_rotate_video_frames_are_the_transformed_images(app, G, tmp_path, monkeypatch):
    frames = _capture_frames(monkeypatch)
    run(app, "video", "-n", NETWORK, "--seeds", "0", "--translate-path", "0,0:0.2,0", "--rotate-path", "0:30",
        "--frames", "2", "-o", tmp_path / "v.mp4")
    assert len(frames) == 3 and (tmp_path / "v.mp4").exists()
    ws = G.mapping(z_from_seeds([0], G.z_dim), None)
    for frame, (x, degrees) in zip(frames, [(0.0, 0.0), (0.1, 15.0), (0.2, 30.0)]):
        with torch.no_grad(), image_transform(G, (x, 0.0), degrees):
            expected = to_uint8(G.synthesis(ws))[0].astype(int)
        assert np.abs(frame.astype(int) - expected).max() <= 1
    ref = np.load(FIXTURES / "sg3t_tiny.ref.npz")["uint8_psi1"][0].astype(int)  # seed 0, not moved
    assert np.abs(frames[0].astype(int) - ref).max() <= 1 and np.abs(frames[-1].astype(int) - ref).max() > 10
    assert torch.equal(G.synthesis.input.transform, torch.eye(3))  # the network is left as it was


def test_walk_with_a_rotation_per_keyframe_and_refusals(app, G, tmp_path, monkeypatch):
    frames = _capture_frames(monkeypatch)
    run(app, "video", "-n", NETWORK, "--seeds", "0,1", "--rotate-path", "0:90", "--frames", "1",
        "-o", tmp_path / "w.gif")
    ref = np.load(FIXTURES / "sg3t_tiny.ref.npz")["uint8_psi1"].astype(int)
    with torch.no_grad(), image_transform(G, (0.0, 0.0), 90.0):
        turned = to_uint8(G.synthesis(G.mapping(z_from_seeds([1], G.z_dim), None)))[0].astype(int)
    assert len(frames) == 2 and np.abs(frames[0].astype(int) - ref[0]).max() <= 1
    assert np.abs(frames[1].astype(int) - turned).max() <= 1 and np.abs(turned - ref[1]).max() > 10
    err = failure(app, "video", "-n", NETWORK, "--seeds", "0-2", "--rotate-path", "0:30", "-o", tmp_path / "x.mp4")
    assert isinstance(err, InputError) and "each path needs 1 or 3" in str(err)
    err = failure(app, "video", "-n", NETWORK, "--seeds", "0", "--translate-path", "0,0:0.2", "-o", tmp_path / "x.mp4")
    assert isinstance(err, InputError) and "bad --translate-path" in str(err)
    err = failure(app, "video", "-n", FIXTURES / "ada_tiny.pkl", "--seeds", "0", "--rotate-path", "0:30",
                  "-o", tmp_path / "x.mp4")
    assert isinstance(err, InputError) and "need a StyleGAN3 network" in str(err)
    assert not (tmp_path / "x.mp4").exists()


def test_plain_latent_walk(app, tmp_path, monkeypatch):
    frames = _capture_frames(monkeypatch)
    run(app, "video", "-n", NETWORK, "--seeds", "0,2", "--frames", "2", "-o", tmp_path / "w.mp4")
    ref = np.load(FIXTURES / "sg3t_tiny.ref.npz")["uint8_psi1"].astype(int)  # seeds 0, 1, 2, 7
    assert len(frames) == 3
    assert np.abs(frames[0].astype(int) - ref[0]).max() <= 1 and np.abs(frames[2].astype(int) - ref[2]).max() <= 1


def test_conditional_mix_as_documented(app, tmp_path):
    import imageio.v3 as iio

    run(app, "mix", "--network", FIXTURES / "sg3r_tiny_cond.pkl", "--class", "1", "--rows", "0,1", "--cols", "2",
        "--styles", "coarse", "--outdir", tmp_path / "m")
    G = load_generator(FIXTURES / "sg3r_tiny_cond.pkl")
    c = class_labels(1, G.c_dim)
    with torch.no_grad():
        ws = G.mapping(z_from_seeds([0, 1, 2], G.z_dim), c.expand(3, -1))
        for row in (0, 1):
            mixed = style_mix(ws[row:row + 1], ws[2:3], parse_layers("coarse", G.num_ws, ws_resolutions(G)))
            expected = to_uint8(G.synthesis(mixed))[0].astype(int)
            assert np.abs(iio.imread(tmp_path / "m" / f"{row}-2.png").astype(int) - expected).max() <= 1
