"""Encoder files: round trip with their config, refusal for another network, ``s2edit info``."""

import pytest
import torch
from typer.testing import CliRunner

from cli.app import app
from projector.describe import describe_file
from projector.encoder import Encoder, encoder_file_name, load_encoder, save_encoder
from stylegan2_core import load_generator, model_id
from stylegan2_core.errors import InputError

from .conftest import tiny_encoder_config


@pytest.fixture
def encoder_file(G, tmp_path):
    torch.manual_seed(0)
    encoder = Encoder(tiny_encoder_config(G, passes=2))
    with torch.no_grad():
        for head in encoder.heads.values():
            head.weight.normal_(0, 0.05)
    path = save_encoder(tmp_path / encoder_file_name(model_id(G)), encoder, model_id(G),
                        network="ada_tiny.pkl", kimg=1.5)
    return encoder, path


def test_round_trip_keeps_config_weights_and_inversion(G, encoder_file):
    encoder, path = encoder_file
    loaded = load_encoder(path, G)
    assert loaded.cfg == encoder.cfg and loaded.meta["kimg"] == 1.5
    state = encoder.state_dict()
    assert all(torch.equal(v, state[k]) for k, v in loaded.state_dict().items())
    images = G.synthesis(G.mapping(torch.randn(2, G.z_dim)))
    assert torch.equal(loaded.invert(images, G), encoder.invert(images, G))


def test_another_network_is_refused_naming_the_file(G, encoder_file, fixtures_dir):
    _, path = encoder_file
    other = load_generator(fixtures_dir / "rosinality_tiny.pt")
    assert model_id(other) != model_id(G)
    with pytest.raises(InputError, match=f"{path}: encoder trained for network {model_id(G)[:12]}") as err:
        load_encoder(path, other)
    assert "\n" not in str(err.value)


def test_not_an_encoder_file_is_refused(tmp_path, fixtures_dir):
    with pytest.raises(InputError, match="not an encoder file"):
        load_encoder(fixtures_dir / "ada_tiny.pkl")


def test_info_describes_an_encoder_file(G, encoder_file):
    encoder, path = encoder_file
    rows = dict(describe_file(path).rows)
    params = sum(p.numel() for p in encoder.parameters())
    assert rows["architecture"].startswith("small (backbone at 32 px") and rows["resolution"] == "32 px"
    assert rows["passes"] == "2" and rows["parameters"] == f"{params:,} (float32)" and rows["training"] == "1.5 kimg"
    assert rows["network"] == f"id {model_id(G)} (ada_tiny.pkl)"
    res = CliRunner().invoke(app, ["info", str(path)])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())  # the table wraps at the terminal's width
    assert "(encoder file)" in out and "passes" in out


def test_half_precision_file_loads_as_float32_rounded_weights(G, encoder_file, tmp_path):
    encoder, path = encoder_file
    half = save_encoder(tmp_path / "half.safetensors", encoder, model_id(G), half=True)
    assert half.stat().st_size < 0.6 * path.stat().st_size
    loaded = load_encoder(half, G)
    for name, value in encoder.state_dict().items():
        mine = loaded.state_dict()[name]
        assert mine.dtype == value.dtype and torch.equal(mine, value.half().to(value.dtype))
