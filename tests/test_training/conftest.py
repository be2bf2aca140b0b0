"""Tiny training configs: 16 px, a few channels, batch 4; a step takes a few milliseconds."""

import pytest

from projector.training import TrainConfig, network_configs


def make_tiny(**changes) -> TrainConfig:
    G, D = network_configs(16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=128, channel_max=16)
    base = {"data": "world", "G": G, "D": D, "batch_size": 4, "kimg": 0.016, "r1_interval": 2, "pl_interval": 3, "r1_gamma": 1.0,
                "ema_kimg": 0.01, "tick_kimg": 0.008, "snapshot_kimg": 0.008, "sample_kimg": 0.008, "grid_size": (2, 2)}
    return TrainConfig(**{**base, **changes})


@pytest.fixture
def tiny_cfg():
    return make_tiny
