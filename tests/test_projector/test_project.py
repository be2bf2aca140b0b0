"""The projector: schedule, determinism, batching, noise handling, recovery, outputs."""

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from projector import ProjectorConfig, learning_rate, project, w_noise_scale
from projector.images import Preprocessing
from projector.latent_file import load_latent
from projector.outputs import write_projection
from stylegan2_core import InputError, load_generator, z_from_seeds

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.fixture(scope="module")
def targets(G):
    with torch.no_grad():
        return G(z_from_seeds([11, 12, 13], G.z_dim), noise_mode="const")


def test_schedule_matches_official_formula():
    cfg = ProjectorConfig()
    for t in (0.0, 0.01, 0.05, 0.3, 0.8, 0.99):
        ramp = min(1.0, (1.0 - t) / 0.25)
        ramp = (0.5 - 0.5 * np.cos(ramp * np.pi)) * min(1.0, t / 0.05)
        assert learning_rate(t, cfg) == pytest.approx(0.1 * ramp)
        assert w_noise_scale(t, 2.0, cfg) == pytest.approx(2.0 * 0.05 * max(0.0, 1 - t / 0.75) ** 2)
    assert learning_rate(0.0, cfg) == 0 and learning_rate(0.5, cfg) == pytest.approx(0.1)


def test_zero_ramps_mean_no_ramp_and_ramps_are_fractions(G, targets, pixel_distance):
    flat = ProjectorConfig(lr_rampup=0, lr_rampdown=0, noise_ramp=0)
    assert [learning_rate(t, flat) for t in (0.0, 0.5, 0.99)] == [0.1, 0.1, 0.1]
    assert w_noise_scale(0.0, 2.0, flat) == 0.0
    result = project(G, targets[:1], replace(flat, steps=2, w_avg_samples=1000), distance=pixel_distance)
    assert torch.isfinite(result.ws).all()
    for bad in ({"lr_rampup": -0.1}, {"lr_rampdown": 1.5}, {"noise_ramp": float("nan")}):
        with pytest.raises(InputError, match="fraction"):
            ProjectorConfig(**bad)


def test_deterministic_with_seed(G, targets, pixel_distance):
    cfg = ProjectorConfig(steps=4, w_avg_samples=1000, seed=3)
    a = project(G, targets[:1], cfg, distance=pixel_distance)
    b = project(G, targets[:1], cfg, distance=pixel_distance)
    assert torch.equal(a.ws, b.ws) and all(torch.equal(x, y) for x, y in zip(a.noise, b.noise))
    c = project(G, targets[:1], ProjectorConfig(steps=4, w_avg_samples=1000, seed=4), distance=pixel_distance)
    assert not torch.equal(a.ws, c.ws)


@pytest.mark.parametrize("space", ["w", "w+"])
def test_batch_step_matches_one_by_one(G, targets, space, pixel_distance):
    """Each image of a batch solves its own problem: at the first step (same start, same seed,
    same latent noise) its loss equals the one-by-one loss up to float rounding. Later steps
    only agree in quality: the optimization amplifies rounding (see project.py)."""
    cfg = ProjectorConfig(steps=1, space=space, w_avg_samples=1000, seed=7)
    losses = []
    project(G, targets, cfg, distance=pixel_distance, callback=lambda s: losses.append(s.loss))
    for i in range(len(targets)):
        single = []
        project(G, targets[i:i + 1], cfg, distance=pixel_distance, seeds=[7 + i],
                callback=lambda s, single=single: single.append(s.loss))
        torch.testing.assert_close(losses[0][i:i + 1], single[0], rtol=1e-5, atol=1e-7)


def test_one_arithmetic_path_for_every_batch_size(G, targets, monkeypatch, pixel_distance):
    """Single images and batches run the same modulated-convolution path (they used to differ:
    fused for one image, non-fused for batches, which alone made batches and singles diverge)."""
    seen = {}
    forward = type(G.synthesis).forward

    def spy(self, ws, **kwargs):
        seen.setdefault(ws.shape[0], set()).add(kwargs.get("fused_modconv"))
        return forward(self, ws, **kwargs)

    monkeypatch.setattr(type(G.synthesis), "forward", spy)
    cfg = ProjectorConfig(steps=2, w_avg_samples=500)
    project(G, targets[:1], cfg, distance=pixel_distance)
    project(G, targets, cfg, distance=pixel_distance)
    assert seen[1] == seen[len(targets)] and len(seen[1]) == 1


def test_presets():
    official = ProjectorConfig.preset("official")
    assert official == ProjectorConfig()
    # The paper's schedule, field by field (appendix D / the official projector.py).
    assert (official.steps, official.initial_lr, official.lr_rampup, official.lr_rampdown) == (1000, 0.1, 0.05, 0.25)
    assert (official.initial_noise_factor, official.noise_ramp, official.noise_reg_weight) == (0.05, 0.75, 1e5)
    assert (official.w_avg_samples, official.space, official.init_samples, official.starts) == (10_000, "w", 0, 1)
    fast = ProjectorConfig.preset("fast")
    assert fast.steps < official.steps and fast.init_samples > 0
    assert ProjectorConfig.preset("fast", steps=7, space="w+").steps == 7
    with pytest.raises(InputError, match="preset"):
        ProjectorConfig.preset("turbo")
    with pytest.raises(InputError, match="init_samples"):
        ProjectorConfig(starts=3, init_samples=2)


def test_init_samples_start_from_the_closest_sample(G, pixel_distance):
    """With ``init_samples`` the start is the W sample whose render is closest to the target."""
    from stylegan2_core import z_samples

    z = z_samples(6, G.z_dim, 123)
    with torch.no_grad():
        w = G.mapping(z)
        target = G.synthesis(w[4:5], noise_mode="const")
    cfg = ProjectorConfig(steps=1, w_avg_samples=500, init_samples=6)  # step 0 has learning rate 0
    r = project(G, target, cfg, distance=pixel_distance)
    torch.testing.assert_close(r.ws, w[4:5])


def test_several_starts_return_one_result_per_image(G, targets, pixel_distance):
    cfg = ProjectorConfig(steps=3, w_avg_samples=500, init_samples=4, starts=2)
    shapes = []
    r = project(G, targets[:2], cfg, distance=pixel_distance, callback=lambda s: shapes.append(
        (s.images.shape[0], s.ws.shape[0], s.loss.shape[0], s.noise[0].shape[0])))
    assert r.ws.shape == (2, G.num_ws, G.w_dim) and r.images.shape[0] == 2 and r.distance.shape == (2,)
    assert all(m.shape[0] == 2 for m in r.noise) and set(shapes) == {(2, 2, 2, 2)}
    with torch.no_grad():
        torch.testing.assert_close(r.distance, pixel_distance(G.synthesis(r.ws, noise=r.noise), targets[:2]))
    for steps in (1, 2):  # the fast preset's phases when there are fewer steps than phases
        r = project(G, targets[:1], ProjectorConfig.preset("fast", steps=steps, w_avg_samples=500, init_samples=4),
                    distance=pixel_distance)
        assert r.ws.shape == (1, G.num_ws, G.w_dim) and torch.isfinite(r.distance).all()


def test_optimized_noise_is_kept_and_used(G, targets, pixel_distance):
    cfg = ProjectorConfig(steps=6, w_avg_samples=1000)
    r = project(G, targets[:2], cfg, distance=pixel_distance)
    assert r.ws.shape == (2, G.num_ws, G.w_dim)
    assert len(r.noise) == len(G.synthesis.noise_shapes()) and r.noise[0].shape[0] == 2
    for m in r.noise:  # renormalized after every step
        torch.testing.assert_close(m.mean(dim=(1, 2, 3)), torch.zeros(2), atol=1e-5, rtol=0)
        torch.testing.assert_close(m.square().mean(dim=(1, 2, 3)), torch.ones(2), atol=1e-4, rtol=0)
    with torch.no_grad():
        torch.testing.assert_close(r.images, G.synthesis(r.ws, noise=r.noise))
        assert (G.synthesis(r.ws, noise_mode="const") - r.images).abs().max() > 1e-3
    # The generator's own buffers are untouched.
    fresh = load_generator(FIXTURES / "ada_tiny.pkl")
    for a, b in zip(G.synthesis.const_noise(), fresh.synthesis.const_noise()):
        assert torch.equal(a, b)


def test_fixed_noise_mode_keeps_network_noise(G, targets, pixel_distance):
    r = project(G, targets[:1], ProjectorConfig(steps=3, optimize_noise=False, w_avg_samples=1000),
                distance=pixel_distance)
    for m, const in zip(r.noise, G.synthesis.const_noise()):
        assert torch.equal(m, const)


def test_wplus_recovers_generated_image(G, targets, pixel_distance):
    target = targets[:1]
    cfg = ProjectorConfig(steps=120, space="w+", w_avg_samples=2000, mse_weight=1.0, initial_lr=0.05)
    r = project(G, target, cfg, distance=pixel_distance)
    start_psnr = 10 * math.log10(4 / float((G.synthesis(G.mapping.w_avg.expand(1, G.num_ws, -1)) - target).square().mean()))
    final_psnr = 10 * math.log10(4 / float((r.images - target).square().mean()))
    assert final_psnr > start_psnr + 8
    assert r.history[-1] < r.history[0]


def test_conditional_network(targets, pixel_distance):
    G = load_generator(FIXTURES / "ada_tiny_cond.pkl")
    c = torch.eye(G.c_dim)[2:3]
    with torch.no_grad():
        target = G(z_from_seeds([5], G.z_dim), c)
    r = project(G, target, ProjectorConfig(steps=3, w_avg_samples=500), c=c, distance=pixel_distance)
    assert r.ws.shape == (1, G.num_ws, G.w_dim)
    with pytest.raises(InputError, match="conditional"):
        project(G, target, ProjectorConfig(steps=1, w_avg_samples=100), distance=pixel_distance)


def test_init_latent_and_bad_target(G, targets, pixel_distance):
    start = G.mapping(z_from_seeds([11], G.z_dim))
    r = project(G, targets[:1], ProjectorConfig(steps=1, w_avg_samples=100, initial_lr=0.0), init_ws=start,
                distance=pixel_distance)
    torch.testing.assert_close(r.ws, start)
    with pytest.raises(InputError, match="target must be"):
        project(G, torch.zeros(1, 3, 16, 16), ProjectorConfig(steps=1), distance=pixel_distance)
    with pytest.raises(InputError, match="NaN"):
        project(G, targets[:1], ProjectorConfig(steps=1, w_avg_samples=100), init_ws=start * float("nan"),
                distance=pixel_distance)


def test_outputs_reload_to_the_same_image(G, targets, tmp_path, pixel_distance):
    cfg = ProjectorConfig(steps=3, w_avg_samples=500)
    r = project(G, targets[:2], cfg, distance=pixel_distance)
    prep = Preprocessing(mode="crop", source_size=(32, 32), resolution=32)
    report = write_projection(tmp_path / "b", r, 1, targets[:2], G, cfg, prep, "b.png")
    assert {p.name for p in (tmp_path / "b").iterdir()} == {"target.png", "proj.png", "projected_w.npz",
                                                                 "latent.safetensors", "report.json"}
    assert json.loads((tmp_path / "b" / "report.json").read_text())["psnr_db"] == pytest.approx(report["psnr_db"])
    w = np.load(tmp_path / "b" / "projected_w.npz")["w"]
    assert w.shape == (1, G.num_ws, G.w_dim) and w.dtype == np.float32
    record = load_latent(tmp_path / "b" / "latent.safetensors", G)
    assert record.meta["space"] == "w" and record.meta["model_sha256"] == G.checkpoint.sha256
    with torch.no_grad():
        again = G.synthesis(record.ws, noise=record.noise)
    torch.testing.assert_close(again, r.images[1:2])


def test_images_per_batch_keeps_cpu_batches_small():
    """On a CPU at most 16 384 pixels per batch (larger ones ran slower per image); elsewhere the given size."""
    from types import SimpleNamespace

    from projector.project import images_per_batch

    def net(resolution, device):
        return SimpleNamespace(img_resolution=resolution, mapping=SimpleNamespace(w_avg=torch.empty(1, device=device)))

    assert [images_per_batch(net(r, "cpu"), 16) for r in (32, 64, 128, 256, 1024)] == [16, 4, 1, 1, 1]
    assert [images_per_batch(net(r, "cpu"), 4) for r in (32, 64, 256)] == [4, 4, 1]
    assert images_per_batch(net(1024, "meta"), 16) == 16
