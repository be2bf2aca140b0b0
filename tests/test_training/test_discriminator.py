"""The discriminator: official parameter names and shapes, output shapes, minibatch std."""

import pytest
import torch

from stylegan2_core.checkpoints._safe_pickle import safe_load
from stylegan2_core.checkpoints.nvlabs_pkl import ada_state_dict
from stylegan2_core.discriminator import Discriminator, DiscriminatorConfig, MinibatchStdLayer
from stylegan2_core.errors import ShapeError


@pytest.mark.parametrize("name, c_dim", [("ada_tiny", 0), ("ada_tiny_cond", 5)])
def test_official_state_dict_loads_by_name(fixtures_dir, name, c_dim):
    with open(fixtures_dir / f"{name}.pkl", "rb") as f:
        record = safe_load(f)["D"]
    official = ada_state_dict(record)
    kw = record.init_kwargs
    D = Discriminator(DiscriminatorConfig(c_dim=c_dim, img_resolution=kw["img_resolution"],
                                          channel_base=kw["channel_base"], channel_max=kw["channel_max"],
                                          conv_clamp=kw["conv_clamp"], num_fp16_res=kw["num_fp16_res"]))
    ours = D.state_dict()
    assert sorted(ours) == sorted(official)
    assert all(ours[k].shape == official[k].shape for k in ours)
    D.load_state_dict(official, strict=True)
    c = torch.eye(5)[:4] if c_dim else None
    out = D(torch.randn(4, 3, 32, 32), c)
    assert out.shape == (4, 1) and torch.isfinite(out).all()


@pytest.mark.parametrize("architecture", ["resnet", "skip", "orig"])
@pytest.mark.parametrize("resolution", [16, 32])
def test_output_shapes(architecture, resolution):
    D = Discriminator(DiscriminatorConfig(img_resolution=resolution, channel_base=256, channel_max=16,
                                          architecture=architecture))
    assert D(torch.randn(8, 3, resolution, resolution)).shape == (8, 1)
    assert D.b4.fc.in_features == 16 * 16
    with pytest.raises(ShapeError):
        D(torch.randn(8, 3, resolution // 2, resolution // 2))


def test_conditional_needs_labels():
    D = Discriminator(DiscriminatorConfig(c_dim=3, img_resolution=16, channel_base=256, channel_max=16))
    assert D.b4.out.out_features == 16  # cmap_dim defaults to the 4x4 channel count
    assert D(torch.randn(4, 3, 16, 16), torch.eye(3)[[0, 1, 2, 0]]).shape == (4, 1)
    with pytest.raises(ShapeError):
        D(torch.randn(4, 3, 16, 16))


def test_minibatch_std_groups():
    layer = MinibatchStdLayer(group_size=4)
    x = torch.randn(8, 6, 4, 4)
    y = layer(x)
    assert y.shape == (8, 7, 4, 4)
    assert torch.equal(y[:, :6], x)
    # Samples i and i + 2 (groups are strided by n = N / G) share a statistic.
    expected = (x.reshape(4, 2, 6, 4, 4).var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=[1, 2, 3])
    torch.testing.assert_close(y[:2, 6, 0, 0], expected)
    torch.testing.assert_close(y[2:4, 6, 0, 0], expected)
    assert layer(torch.randn(2, 6, 4, 4)).shape == (2, 7, 4, 4)  # smaller batch: one group
    with pytest.raises(ShapeError):
        layer(torch.randn(6, 6, 4, 4))


def test_config_round_trip():
    cfg = DiscriminatorConfig(img_resolution=64, channel_base=2048, channel_max=64, conv_clamp=256)
    assert DiscriminatorConfig.from_dict(cfg.to_dict()) == cfg
