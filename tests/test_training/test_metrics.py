"""Metric helpers: percentile filtering, PPL in W, FD-EffNetLite0 plumbing."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from projector.metrics.generative import fd_effnet_lite0, filtered_mean, generate_images, ppl_w, real_feature_stats
from projector.training.data import WorldImages
from stylegan2_core.config import GeneratorConfig, MappingConfig, SynthesisConfig
from stylegan2_core.networks import Generator


@pytest.fixture(scope="module")
def G32():
    torch.manual_seed(0)
    cfg = GeneratorConfig(z_dim=16, w_dim=16, img_resolution=32, mapping=MappingConfig(num_layers=2),
                          synthesis=SynthesisConfig(channel_base=256, channel_max=16))
    return Generator(cfg).eval().requires_grad_(False)


def test_filtered_mean_rejects_outside_1st_to_99th_percentile():
    values = np.concatenate([np.arange(1, 199, dtype=float), [-1e6, 1e6]])  # 200 values
    assert filtered_mean(values) == pytest.approx(np.arange(1, 199).mean())
    rng = np.random.RandomState(0)
    x = rng.lognormal(size=1000)
    lo, hi = np.sort(x)[9], np.sort(x)[990]  # 'lower' 1st and 'higher' 99th percentiles
    assert filtered_mean(x) == pytest.approx(x[(x >= lo) & (x <= hi)].mean())
    assert filtered_mean(x) < x.mean()


class _MSE:
    name = "mse"

    def __call__(self, a, b):
        return (a - b).square().mean(dim=(1, 2, 3))


def test_ppl_default_distance_is_finite_positive(G32):
    from projector.losses import EffNetPerceptual

    distance = EffNetPerceptual()
    result = ppl_w(G32, 4, distance=distance)
    assert result.name == "PPL-W-effnet" and result.details["distance"] == "effnet"
    assert math.isfinite(result.value) and result.value > 0
    assert ppl_w(G32, 4, distance=distance).value == result.value  # seeded


def test_ppl_scales_with_epsilon_squared(G32):
    # A distance quadratic in the image difference makes d / eps^2 independent of eps.
    a = ppl_w(G32, 32, epsilon=1e-3, distance=_MSE(), sampling="full")
    b = ppl_w(G32, 32, epsilon=2e-3, distance=_MSE(), sampling="full")
    assert a.name == "PPL-W-mse" and a.value > 0
    assert b.value == pytest.approx(a.value, rel=0.05)
    crop = ppl_w(G32, 8, distance=_MSE(), crop=True)
    assert math.isfinite(crop.value) and crop.details["crop"]
    with pytest.raises(ValueError):
        ppl_w(G32, 4, sampling="middle", distance=_MSE())


def _pooled(images):
    return F.avg_pool2d(images, 8).flatten(1).double().numpy()


def test_fd_plumbing(G32):
    same = real_feature_stats(list(np.concatenate([_u8(b) for b in generate_images(G32, 64, seed=5)])), 64,
                              extractor=_pooled)
    fd_same = fd_effnet_lite0(G32, same, 64, seed=5, extractor=_pooled)
    assert fd_same.name == "FD-EffNetLite0" and fd_same.value == pytest.approx(0, abs=1e-6)
    world = real_feature_stats(WorldImages(32), 64, extractor=_pooled)
    assert fd_effnet_lite0(G32, world, 64, seed=5, extractor=_pooled).value > 1e-3


def _u8(images):
    from stylegan2_core.image import to_uint8

    return to_uint8(images)


def test_metrics_during_training(tiny_cfg, tmp_path):
    import json

    from projector.training import network_configs, train

    G, D = network_configs(32, z_dim=16, w_dim=16, mapping_layers=2, channel_base=128, channel_max=16)
    events = []
    train(tiny_cfg(G=G, D=D, kimg=0.004, metric_kimg=0.004, metric_num_images=8, metric_ppl_samples=4), tmp_path,
          progress=events.append)
    (line,) = (tmp_path / "metrics.jsonl").read_text().splitlines()
    values = json.loads(line)
    assert values["step"] == 1 and values["FD-EffNetLite0"] > 0 and values["PPL-W-effnet"] > 0
    assert [e.metrics for e in events if e.kind == "metrics"] == [{k: values[k] for k in ("FD-EffNetLite0",
                                                                                          "PPL-W-effnet")}]
