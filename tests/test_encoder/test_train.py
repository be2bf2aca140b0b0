"""Encoder training: the loss falls, resuming equals not stopping, stops save a checkpoint."""

import json

import pytest
import torch

from projector.encoder import EncoderTrainer, inversion_quality, load_encoder, train_encoder
from projector.encoder.train import CHECKPOINT_NAME, load_encoder_checkpoint
from stylegan2_core.errors import InputError, Interrupted


def _held_out(trainer, n=8):
    """A fixed batch of samples, drawn from a separate stream so training does not see them."""
    state = trainer.rng.get_state()
    trainer.rng.manual_seed(12345)
    batch = trainer.samples(n)
    trainer.rng.set_state(state)
    return batch


def test_training_lowers_the_loss(G, tiny_train, tmp_path):
    cfg = tiny_train(G, kimg=0.096, tick_kimg=0.032, snapshot_kimg=1.0)
    before_trainer = EncoderTrainer(cfg, G)
    photos, true_ws = _held_out(before_trainer)
    with torch.no_grad():
        before = before_trainer.losses(photos, true_ws)[1]
    result = train_encoder(cfg, G, tmp_path, device="cpu")
    with torch.no_grad():
        after = result.trainer.losses(photos, true_ws)[1]
    # On held-out samples: the total falls, the reconstruction (pixel MSE) clearly (by ~22% here).
    assert after["loss"] < 0.97 * before["loss"] and after["pixel"] < 0.9 * before["pixel"], (before, after)
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [round(e["kimg"], 3) for e in log] == [0.032, 0.064, 0.096]
    assert all(set(e) >= {"loss", "latent", "pixel", "delta", "sec_per_kimg"} for e in log)
    encoder = load_encoder(result.encoder_file, G)
    quality = inversion_quality(encoder, G, num=4)
    assert quality["psnr"] > quality["psnr_start"] + 0.3


def _state(trainer):
    tensors = dict(trainer.encoder.state_dict())
    for index, entry in trainer.opt.state_dict()["state"].items():
        tensors.update({f"opt.{index}.{k}": v for k, v in entry.items()})
    tensors["rng"] = trainer.rng.get_state()
    return tensors


def test_resumed_training_equals_uninterrupted(G, tiny_train, tmp_path):
    """With real images from the world and the perceptual loss, 2 steps + resume + 2 steps == 4 steps, bitwise."""
    cfg = tiny_train(G, data="world", kimg=0.016, perceptual_weight=0.8, perceptual="effnet")
    straight = train_encoder(cfg, G, tmp_path / "straight", device="cpu").trainer
    train_encoder(cfg.replace(kimg=0.008), G, tmp_path / "split", device="cpu")
    resumed = train_encoder(cfg, G, tmp_path / "split", resume=tmp_path / "split", device="cpu").trainer
    assert straight.step_index == resumed.step_index == 4
    a, b = _state(straight), _state(resumed)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert not torch.equal(a["heads.coarse.weight"], torch.zeros_like(a["heads.coarse.weight"]))  # it did train
    log = (tmp_path / "split" / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in log] == [2, 4]


def test_stop_request_saves_a_resumable_checkpoint(G, tiny_train, tmp_path):
    cfg = tiny_train(G, kimg=1.0, snapshot_kimg=1.0)
    with pytest.raises(Interrupted, match="continue with --resume"):
        train_encoder(cfg, G, tmp_path, device="cpu", should_stop=lambda: True)
    _, meta, saved = load_encoder_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert meta["step"] == 1 and saved == cfg
    result = train_encoder(cfg, G, tmp_path, resume=tmp_path, device="cpu", max_seconds=0)
    assert result.trainer.step_index == 2 and result.encoder_file.is_file()


def test_resume_refuses_another_encoder(G, tiny_train, tmp_path):
    cfg = tiny_train(G, kimg=0.004)
    train_encoder(cfg, G, tmp_path, device="cpu")
    other = cfg.replace(encoder=cfg.encoder.replace(head_channels=16), kimg=0.008)
    with pytest.raises(InputError, match="differs"):
        train_encoder(other, G, tmp_path, resume=tmp_path, device="cpu")


def test_conditional_network_trains_on_drawn_classes(tiny_train, fixtures_dir):
    from stylegan2_core import load_generator

    G = load_generator(fixtures_dir / "ada_tiny_cond.pkl")
    assert G.c_dim > 0
    trainer = EncoderTrainer(tiny_train(G), G)
    before = {k: v.clone() for k, v in trainer.encoder.state_dict().items()}
    stats = trainer.step()
    assert all(torch.isfinite(torch.tensor(v)) for v in stats.values()), stats
    assert any(not torch.equal(v, before[k]) for k, v in trainer.encoder.state_dict().items())
