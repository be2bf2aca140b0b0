"""Training checkpoints are projector's format: projector.load_network reads them, stylegan2_core refuses them."""

from pathlib import Path

import pytest
import torch

from projector import load_network
from projector.training import train
from projector.training.checkpoint import TRAINING_FORMAT, is_training_checkpoint, load_checkpoint
from stylegan2_core import CheckpointError, InputError, load_generator

from .conftest import make_tiny

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("run")
    train(make_tiny(kimg=0.008, snapshot_kimg=100, sample_kimg=100), path)
    return path


def _weights(G, prefix, tensors):
    return all(torch.equal(v, tensors[f"{prefix}.{k}"]) for k, v in G.state_dict().items()
               if not k.endswith("resample_filter"))


def test_load_network_reads_g_ema_and_g(run):
    ckpt = run / "checkpoint.safetensors"
    tensors, _, cfg = load_checkpoint(ckpt)
    G_ema = load_network(ckpt)
    assert G_ema.cfg == cfg.G and _weights(G_ema, "G_ema", tensors)
    assert (G_ema.checkpoint.format, G_ema.checkpoint.network) == (TRAINING_FORMAT, "G_ema")
    assert not G_ema.training and not any(p.requires_grad for p in G_ema.parameters())
    G = load_network(ckpt, network="G")
    assert _weights(G, "G", tensors) and not _weights(G, "G_ema", tensors)
    assert _weights(load_network(run), "G_ema", tensors)  # the run folder means its checkpoint
    with pytest.raises(InputError, match="'D' is not one"):
        load_network(ckpt, network="D")


def test_stylegan2_core_refuses_training_checkpoints(run):
    ckpt = run / "checkpoint.safetensors"
    assert is_training_checkpoint(ckpt) and not is_training_checkpoint(run)
    with pytest.raises(CheckpointError, match="training checkpoint.*projector.load_network"):
        load_generator(ckpt)


def test_load_network_passes_everything_else_to_load_generator(run):
    demo = load_network("demo")
    assert demo.checkpoint.format == "s2edit-native" and demo.img_resolution == 64
    ada = load_network(FIXTURES / "ada_tiny.pkl", network="G")
    assert (ada.checkpoint.format, ada.checkpoint.network) == ("stylegan2-ada-pkl", "G")
    assert not is_training_checkpoint(FIXTURES / "ada_tiny.pkl")
    with pytest.raises(InputError, match="no such file"):
        load_network(run / "missing.safetensors")
