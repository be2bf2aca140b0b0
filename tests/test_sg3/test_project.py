"""s2edit project (W, W+, --tune) on a StyleGAN3 network: no noise inputs, so nothing about noise is optimized,
regularized or saved; the tuned file renders the projection again."""

import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from projector import ProjectorConfig, project
from projector.latent_file import load_latent
from projector.losses import make_perceptual
from projector.tune import init_update
from projector.tuned_file import tuned_generator
from stylegan2_core import load_generator, to_uint8

FIXTURES = Path(__file__).parents[1] / "fixtures"
NETWORK = FIXTURES / "sg3t_tiny.pkl"


@pytest.fixture(scope="module")
def app():
    from cli.app import app

    return app


@pytest.fixture(scope="module")
def G():
    return load_generator(NETWORK)


@pytest.fixture(scope="module")
def photo(tmp_path_factory, app):
    """seed0000.png of `generate --translate 0.1,-0.05 --rotate 10`: the documented example's photo."""
    out = tmp_path_factory.mktemp("generated")
    run(app, "generate", "-n", NETWORK, "--seeds", "0", "--translate", "0.1,-0.05", "--rotate", "10", "--outdir", out)
    return out / "seed0000.png"


def run(app, *args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def _render(G, ws) -> np.ndarray:
    with torch.no_grad():
        return to_uint8(G.synthesis(ws, noise_mode="const"))[0].astype(int)


@pytest.mark.parametrize("space", ["w", "w+"])
def test_project_writes_latents_without_noise_maps(app, G, photo, tmp_path, space):
    run(app, "project", photo, "-n", NETWORK, "--preset", "official", "--steps", "3", "--space", space,
        "--loss", "effnet", "--outdir", tmp_path)
    folder = tmp_path / "seed0000"
    record = load_latent(folder / "latent.safetensors", G)
    assert record.noise is None and record.ws.shape == (1, G.num_ws, G.w_dim)
    if space == "w":
        assert torch.equal(record.ws, record.ws[:, :1].expand_as(record.ws))
    else:
        assert not torch.equal(record.ws, record.ws[:, :1].expand_as(record.ws))
    report = json.loads((folder / "report.json").read_text())
    assert report["noise"] == "none" and report["space"] == space and report["steps"] == 3
    assert np.abs(iio.imread(folder / "proj.png").astype(int) - _render(G, record.ws)).max() <= 1


def test_library_projection_has_no_noise_and_lowers_the_distance(G, photo):
    from projector.images import load_target

    target, _ = load_target(photo, G.img_resolution)
    distance, _ = make_perceptual("effnet")
    cfg = ProjectorConfig.preset("official", steps=6, space="w+", initial_lr=0.05)
    steps = []
    result = project(G, target, cfg, distance=distance, callback=steps.append)
    assert result.noise == [] and all(s.noise == [] for s in steps)
    assert float(result.distance[0]) < float(steps[0].distance[0])


def test_tune_picks_the_synthesis_weights_and_the_tuned_file_renders_the_projection(app, G, photo, tmp_path):
    lora = init_update(G, "lora")
    names = {key.rsplit(".", 1)[0] for key in lora}
    assert not any(".affine." in n for n in names)  # styles and the input's transform stay as mapped
    assert "input.weight" in names and f"{G.synthesis.layer_names[-1]}.weight" in names  # ToRGB included
    convs = [n for n in G.synthesis.layer_names if G.synthesis.get_parameter(f"{n}.weight").shape[-1] == 3]
    assert convs and all(f"{n}.weight.lora_a" in lora and f"{n}.weight.lora_b" in lora for n in convs)
    assert set(init_update(G, "full")) == {f"{n}.delta" for n, _ in G.synthesis.named_parameters()}

    run(app, "project", photo, "-n", NETWORK, "--preset", "official", "--steps", "2", "--loss", "effnet",
        "--tune", "--tune-steps", "3", "--tune-lr", "0.01", "--outdir", tmp_path)
    latent = tmp_path / "seed0000" / "latent.safetensors"
    tuned, note = tuned_generator(G, [latent])
    assert tuned is not G and "tuned.safetensors" in note
    ws = load_latent(latent, G).ws
    proj = iio.imread(tmp_path / "seed0000" / "proj.png").astype(int)
    assert np.abs(proj - _render(tuned, ws)).max() <= 1  # the tuned render, from the file alone
    assert np.abs(proj - _render(G, ws)).max() > 1  # and not the base network's
    report = json.loads((tmp_path / "seed0000" / "report.json").read_text())
    assert report["noise"] == "none" and report["tuned"]["steps"] == 3
