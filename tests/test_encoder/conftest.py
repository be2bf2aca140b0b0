"""A tiny encoder for the tiny fixture network (32 px): a training step takes a fraction of a second."""

import pytest

from projector.encoder import EncoderConfig, EncoderTrainConfig
from stylegan2_core import model_id


def tiny_encoder_config(G, passes: int = 2) -> EncoderConfig:
    return EncoderConfig(resolution=G.img_resolution, num_ws=G.num_ws, w_dim=G.w_dim,
                         working_resolution=G.img_resolution, channel_base=256, channel_max=32, blocks=1,
                         head_channels=32, passes=passes)


def tiny_train_config(G, **changes) -> EncoderTrainConfig:
    base = {"network": "ada_tiny", "model_id": model_id(G), "encoder": tiny_encoder_config(G), "batch_size": 4,
            "kimg": 0.016, "lr": 1e-3, "perceptual_weight": 0.0, "tick_kimg": 0.008, "snapshot_kimg": 0.008}
    return EncoderTrainConfig(**{**base, **changes})


@pytest.fixture
def tiny_train():
    return tiny_train_config


@pytest.fixture(scope="module")
def ada_tiny(G):
    """The tiny ADA generator under the name these tests use: the shared ``G`` fixture (tests/conftest.py)."""
    return G
