"""Widening a trained generator: same images, wider layers, and training continues from it."""

import pytest
import torch
import typer
from typer.testing import CliRunner

from cli.commands import train as train_cmd
from cli.commands import widen as widen_cmd
from projector import load_network
from projector.training import network_configs, train
from projector.training.checkpoint import load_checkpoint
from projector.training.widen import widen_generator, widen_training_checkpoint, widened_config
from stylegan2_core import Generator
from stylegan2_core.errors import InputError

from .conftest import make_tiny


def _random_generator(channel_base=128, channel_max=16, architecture="skip"):
    cfg, _ = network_configs(16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=channel_base,
                             channel_max=channel_max)
    cfg = cfg.from_dict({**cfg.to_dict(), "synthesis": {**cfg.to_dict()["synthesis"], "architecture": architecture}})
    torch.manual_seed(1)
    G = Generator(cfg).eval()
    with torch.no_grad():
        for p in G.parameters():  # trained-looking weights: noise strengths and biases away from zero
            p.add_(0.3 * torch.randn_like(p))
    return G


def _images(G, seed=0):
    z = torch.randn([4, G.z_dim], generator=torch.Generator().manual_seed(seed))
    return G(z, noise_mode="const")


@pytest.mark.parametrize("architecture", ["skip", "resnet", "orig"])
def test_widened_generator_draws_the_same_images(architecture):
    G = _random_generator(architecture=architecture)
    cfg = widened_config(G.cfg, channel_base=512, channel_max=32)  # 16 -> 32 channels at 4x4 .. 16x16
    wide = widen_generator(G, cfg, seed=3)
    assert [wide.synthesis.b4.const.shape[0], wide.synthesis.b16.conv1.weight.shape[0]] == [32, 32]
    assert sum(p.numel() for p in wide.parameters()) > 2 * sum(p.numel() for p in G.parameters())
    torch.testing.assert_close(_images(wide), _images(G), atol=2e-5, rtol=1e-5)
    ws = G.mapping(torch.randn([2, G.z_dim]))
    noise = [torch.randn(2, 1, *shape) for shape in G.synthesis.noise_shapes()]  # noise reaches new channels too
    torch.testing.assert_close(wide.synthesis(ws, noise=noise), G.synthesis(ws, noise=noise), atol=2e-5, rtol=1e-5)
    new_in = wide.synthesis.b8.conv0.weight[:16, 16:]
    assert torch.count_nonzero(new_in) == 0 and torch.count_nonzero(wide.synthesis.b8.conv0.weight[16:]) > 0


def test_narrowing_and_no_op_are_refused():
    G = _random_generator(channel_base=512, channel_max=32)
    with pytest.raises(InputError, match="cannot remove channels"):
        widened_config(G.cfg, channel_max=16)
    with pytest.raises(InputError, match="nothing to widen"):
        widened_config(G.cfg, channel_max=32)


def test_widened_checkpoint_resumes_and_grows_the_new_channels(tmp_path):
    cfg = make_tiny(kimg=0.016, snapshot_kimg=100, sample_kimg=100)
    first = train(cfg, tmp_path / "narrow")
    wide_run = tmp_path / "wide"
    wide_run.mkdir()
    new_cfg = widen_training_checkpoint(first.checkpoint, wide_run / "checkpoint.safetensors", channel_max=32,
                                        channel_base=256)
    assert new_cfg.G.synthesis.channel_max == 32 and new_cfg.D == cfg.D
    tensors, meta, saved = load_checkpoint(wide_run / "checkpoint.safetensors")
    assert saved == new_cfg and meta["step"] == 4 and meta["widened_from"]["channel_max"] == 16
    before, after = load_network(first.checkpoint), load_network(wide_run / "checkpoint.safetensors")
    torch.testing.assert_close(_images(after), _images(before), atol=2e-5, rtol=1e-5)
    old_moment = [v for k, v in load_checkpoint(first.checkpoint)[0].items() if k.endswith(".exp_avg_sq")]
    new_moment = [v for k, v in tensors.items() if k.startswith("opt_G.") and k.endswith(".exp_avg_sq")]
    assert len(old_moment) > len(new_moment)  # D's moments are in the first list too
    assert any(v.numel() > 0 and v.shape[0] == 32 for v in new_moment)
    old_tensors = load_checkpoint(first.checkpoint)[0]
    assert all(torch.equal(v, old_tensors[k]) for k, v in tensors.items() if k.startswith(("D.", "opt_D.")))

    resumed = train(new_cfg.replace(kimg=0.024), wide_run, resume=wide_run).trainer
    assert resumed.step_index == 6
    grown = resumed.G.synthesis.b8.conv0.weight[:16, 16:]
    assert torch.count_nonzero(grown) > 0  # the zero weights that read new channels have started to move


def test_widen_command(tmp_path):
    train(make_tiny(kimg=0.008, snapshot_kimg=100, sample_kimg=100), tmp_path / "narrow")
    app = typer.Typer()
    app.command("widen")(widen_cmd.widen_command)
    app.command("train")(train_cmd.train_command)
    runner = CliRunner()
    res = runner.invoke(app, ["widen", str(tmp_path / "narrow"), "--outdir", str(tmp_path / "wide"), "--cmax", "32",
                              "--cbase", "256"])
    assert res.exit_code == 0, res.output
    assert "continue with: s2edit train --resume" in res.output
    assert load_network(tmp_path / "wide" / "checkpoint.safetensors").synthesis.b4.const.shape[0] == 32
    res = runner.invoke(app, ["widen", str(tmp_path / "narrow"), "--outdir", str(tmp_path / "wide"), "--cmax", "32",
                              "--cbase", "256"])
    assert res.exit_code != 0 and "already exists" in str(res.exception)
