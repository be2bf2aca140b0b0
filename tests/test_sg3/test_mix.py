"""s2edit mix on a StyleGAN3 network: layer groups by cutoff frequency, cells equal to the official style mixing."""

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import torch
from typer.testing import CliRunner

from projector.edits import layer_ranges, parse_layers, ws_resolutions
from stylegan2_core import StyleGAN3Config, StyleGAN3Generator, StyleGAN3SynthesisConfig, load_generator, to_uint8

FIXTURES = Path(__file__).parents[1] / "fixtures"


def test_layer_groups_follow_the_layer_cutoffs():
    G = StyleGAN3Generator(StyleGAN3Config(img_resolution=1024, synthesis=StyleGAN3SynthesisConfig(channel_max=4)))
    resolutions = ws_resolutions(G)
    assert len(resolutions) == G.num_ws == 16 and resolutions[0] == resolutions[1] == 4 and resolutions[-1] == 1024
    assert layer_ranges(G.num_ws, resolutions) == {"coarse": [0, 1, 2], "middle": [3, 4, 5], "fine": list(range(6, 16))}
    tiny = load_generator(FIXTURES / "sg3t_tiny.pkl")
    assert parse_layers("coarse", tiny.num_ws, ws_resolutions(tiny)) == list(range(6))  # 32 px: no fine layers


def test_mix_command_reproduces_the_reference_mix(tmp_path):
    from cli.app import app

    result = CliRunner().invoke(app, ["mix", "-n", str(FIXTURES / "sg3t_tiny.pkl"), "--rows", "1", "--cols", "0",
                                      "--styles", "coarse", "--outdir", str(tmp_path)])
    assert result.exit_code == 0, (result.output, result.exception)
    ref = np.load(FIXTURES / "sg3t_tiny.ref.npz")  # ws 0-5 from seed 0, the rest from seed 1
    expected = to_uint8(torch.from_numpy(ref["img_mix"]))[0].astype(int)
    assert np.abs(iio.imread(tmp_path / "1-0.png").astype(int) - expected).max() <= 1
