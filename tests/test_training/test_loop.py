"""Training steps, lazy regularization intervals, G_ema, checkpoints and exact resume."""

import math

import pytest
import torch

from projector import load_network
from projector.training import Trainer, train
from projector.training.checkpoint import flatten_optimizer, load_checkpoint, unflatten_optimizer
from stylegan2_core.errors import InputError


def test_phases_losses_and_intervals(tiny_cfg):
    trainer = Trainer(tiny_cfg(r1_interval=2, pl_interval=3))
    w_avg0 = trainer.G.mapping.w_avg.clone()
    history = [trainer.step() for _ in range(6)]
    for step, stats in enumerate(history):
        assert {"G/loss", "D/loss", "scores/fake", "scores/real"} <= set(stats)
        assert ("r1_penalty" in stats) == (step % 2 == 0)
        assert ("pl_penalty" in stats) == (step % 3 == 0)
        assert all(math.isfinite(v) for v in stats.values())
    assert trainer.nimg == 24 and trainer.step_index == 6
    assert not torch.equal(trainer.G.mapping.w_avg, w_avg0)  # w_avg tracks the mapping output
    assert trainer.loss.pl_mean.item() > 0


def test_lazy_regularization_optimizer_settings(tiny_cfg):
    trainer = Trainer(tiny_cfg(r1_interval=16, pl_interval=4))
    g, d = trainer.opt["G"].param_groups[0], trainer.opt["D"].param_groups[0]
    assert g["lr"] == pytest.approx(0.002 * 4 / 5) and d["lr"] == pytest.approx(0.002 * 16 / 17)
    assert g["betas"][1] == pytest.approx(0.99 ** (4 / 5)) and d["betas"][1] == pytest.approx(0.99 ** (16 / 17))
    assert g["betas"][0] == 0


def test_ema_half_life(tiny_cfg):
    trainer = Trainer(tiny_cfg(ema_kimg=0.004))  # half-life = one batch of 4
    before = [p.clone() for p in trainer.G_ema.parameters()]
    trainer.step()
    for b, p_ema, p in zip(before, trainer.G_ema.parameters(), trainer.G.parameters()):
        torch.testing.assert_close(p_ema, (b + p) / 2)


def test_memory_format_changes_layout_not_values(tiny_cfg):
    """At the same weights (lr 0) every phase's losses, G_ema and w_avg agree to float rounding. Trained, the
    weights agree within what Adam's steps can move them: its steps move a coordinate by about lr whatever the
    gradient's size, so a rounding difference in a near-zero gradient becomes one of order lr."""
    for lr in (0.0, 0.002):
        cfg = tiny_cfg(r1_interval=1, pl_interval=1, lr=lr)  # every phase runs in every step
        nchw = Trainer(cfg, memory_format=torch.contiguous_format)
        nhwc = Trainer(cfg)  # CPU default
        assert nhwc.memory_format == torch.channels_last
        assert nhwc.G.synthesis.b8.conv0.weight.is_contiguous(memory_format=torch.channels_last)
        for _ in range(3):
            a, b = nchw.step(), nhwc.step()
            assert a.keys() == b.keys()
            if not lr:
                for key in a:
                    assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), key
        wa, wb = _weights(nchw), _weights(nhwc)
        assert wa.keys() == wb.keys()
        for key in wa:
            if not lr:
                torch.testing.assert_close(wb[key], wa[key], rtol=1e-4, atol=1e-5, msg=key)
            elif key in _parameters(nchw):  # G_ema's are averages of G's: within G's reach
                assert float((wb[key] - wa[key]).abs().max()) <= 2 * _adam_reach(nchw.opt[key[0]]) * (1 + 1e-4), key


def _parameters(trainer) -> set[str]:
    return {f"{name}.{k}" for name, m in (("G", trainer.G), ("G_ema", trainer.G_ema), ("D", trainer.D))
            for k, _ in m.named_parameters()}


def _adam_reach(optimizer) -> float:
    """How far ``optimizer``'s steps so far can have moved a coordinate, whatever the gradients: step t moves it
    by lr * |m_hat| / sqrt(v_hat) <= lr * (1 - b1) / (1 - b1^t) * sqrt((1 - b2^t) / (1 - b2) * sum_k<t (b1^2 / b2)^k)
    (Cauchy-Schwarz; 1 at the first step)."""
    group = optimizer.param_groups[0]
    (b1, b2), lr = group["betas"], group["lr"]
    steps = int(optimizer.state[group["params"][0]]["step"])  # the regularization phases step too
    return sum(lr * (1 - b1) / (1 - b1**t) * math.sqrt((1 - b2**t) / (1 - b2) * sum((b1**2 / b2)**k for k in range(t)))
               for t in range(1, steps + 1))


def _weights(trainer):
    return {f"{name}.{k}": v for name, m in (("G", trainer.G), ("G_ema", trainer.G_ema), ("D", trainer.D))
            for k, v in m.state_dict().items()}


def test_resume_is_exact(tiny_cfg, tmp_path):
    """Also with background data workers in the split run: they change where images are made, not which."""
    cfg = tiny_cfg(kimg=0.020, snapshot_kimg=100, sample_kimg=100)  # 5 steps; checkpoint only at the end
    whole = train(cfg, tmp_path / "whole").trainer
    first = train(cfg.replace(kimg=0.008), tmp_path / "split", data_workers=2)
    assert first.trainer.step_index == 2 and first.checkpoint.name == "checkpoint.safetensors"
    resumed = train(cfg, tmp_path / "split", resume=tmp_path / "split", data_workers=2).trainer
    assert resumed.step_index == 5
    a, b = _weights(whole), _weights(resumed)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert torch.equal(whole.loss.pl_mean, resumed.loss.pl_mean)
    for name in ("G", "D"):
        sa, sb = whole.opt[name].state_dict()["state"], resumed.opt[name].state_dict()["state"]
        assert all(torch.equal(sa[i]["exp_avg_sq"], sb[i]["exp_avg_sq"]) for i in sa)


def test_time_budget_stops_with_a_checkpoint(tiny_cfg, tmp_path):
    cfg = tiny_cfg(kimg=0.020, snapshot_kimg=100, sample_kimg=100)
    first = train(cfg, tmp_path / "run", max_seconds=0)  # out of time after the first step
    assert first.trainer.step_index == 1 and first.checkpoint is not None
    _, meta, _ = load_checkpoint(first.checkpoint)
    assert meta["step"] == 1
    resumed = train(cfg, tmp_path / "run", resume=tmp_path / "run", max_seconds=3600).trainer
    assert resumed.step_index == 5
    whole = train(cfg, tmp_path / "whole").trainer
    assert all(torch.equal(a, b) for a, b in zip(_weights(whole).values(), _weights(resumed).values()))


def test_checkpoint_round_trip(tiny_cfg, tmp_path):
    result = train(tiny_cfg(kimg=0.008), tmp_path)
    path = result.checkpoint
    G = load_network(path)  # a training checkpoint: its G_ema
    ema = result.trainer.G_ema.state_dict()
    for key, value in G.state_dict().items():
        assert torch.equal(value, ema[key]), key
    tensors, meta, cfg = load_checkpoint(path)
    assert cfg == tiny_cfg(kimg=0.008) and meta["step"] == 2 and meta["nimg"] == 8
    assert {"rng.0", "pl_mean"} <= set(tensors) and any(k.startswith("opt_D.") for k in tensors)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["reals.png", "samples-000000.png"]
    assert (tmp_path / "log.jsonl").read_text().count("\n") == 1


def test_optimizer_state_flattening(tiny_cfg):
    trainer = Trainer(tiny_cfg())
    trainer.step()
    sd = trainer.opt["G"].state_dict()
    tensors, meta = flatten_optimizer("opt_G", sd)
    assert all(isinstance(v, torch.Tensor) for v in tensors.values())
    back = unflatten_optimizer("opt_G", tensors, meta)
    assert back["param_groups"] == sd["param_groups"]
    for i, entry in sd["state"].items():
        assert back["state"][i].keys() == entry.keys()
        assert all(torch.equal(back["state"][i][k], v) for k, v in entry.items())


def test_resume_rejects_other_networks(tiny_cfg, tmp_path):
    train(tiny_cfg(kimg=0.004), tmp_path)
    other = tiny_cfg(G=tiny_cfg().G.__class__.from_dict({**tiny_cfg().G.to_dict(), "z_dim": 8}))
    with pytest.raises(InputError):
        train(other, tmp_path, resume=tmp_path)


def test_progress_events(tiny_cfg, tmp_path):
    events = []
    train(tiny_cfg(kimg=0.008), tmp_path, progress=events.append)
    kinds = [e.kind for e in events]
    assert kinds.count("step") == 2 and kinds[-1] == "done"
    assert {"tick", "snapshot", "samples"} <= set(kinds)
    tick = next(e for e in events if e.kind == "tick")
    assert tick.sec_per_kimg > 0 and "G/loss" in tick.losses


def test_resume_on_another_setup_reseeds_with_a_note(tiny_cfg, tmp_path):
    result = train(tiny_cfg(kimg=0.004), tmp_path)
    tensors, meta, cfg = load_checkpoint(result.checkpoint)
    trainer = Trainer(cfg)
    assert trainer.load(tensors, meta) == []
    assert torch.equal(trainer.rng.get_state(), result.trainer.rng.get_state())
    (note,) = trainer.load(tensors, {**meta, "world_size": 2})
    assert "reseeded" in note and trainer.step_index == 1


def test_resume_applies_the_new_learning_rate(tiny_cfg, tmp_path):
    """Moments come from the checkpoint; lr and betas from the resumed run's config (e.g. a late lr decay)."""
    train(tiny_cfg(kimg=0.004), tmp_path)
    resumed = train(tiny_cfg(kimg=0.008, lr=0.0005, betas=(0.0, 0.9)), tmp_path, resume=tmp_path).trainer
    for name, interval in (("G", 3), ("D", 2)):  # the tiny config's pl and r1 intervals
        ratio = interval / (interval + 1)
        (group,) = resumed.opt[name].param_groups
        assert group["lr"] == pytest.approx(0.0005 * ratio)
        assert group["betas"] == pytest.approx((0.0, 0.9**ratio))
        assert resumed.opt[name].state_dict()["state"]  # the moments were restored, not reset
