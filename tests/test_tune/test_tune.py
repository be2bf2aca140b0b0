"""Pivotal tuning: it fits, it stays local, its saved update round-trips and is refused for other models."""

import copy
import math
from pathlib import Path

import pytest
import torch

from projector import TuneConfig, load_tuned, save_tuned, tune
from projector.latent_file import save_latent
from projector.tune import TuneState, _locality_ws, _Perceptual, _Tuning, apply_update, init_update, update_size
from projector.tuned_file import model_sha256, read_tuned, tuned_generator
from stylegan2_core import InputError, S2EditError, load_generator, save_generator, z_from_seeds
from stylegan2_core.fileio import sha256_file, write_safetensors

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.fixture(scope="module")
def case(G):
    """Off-manifold targets (generated images plus a stripe the generator never draws) and nearby pivots."""
    with torch.no_grad():
        target = G(z_from_seeds([11, 12], G.z_dim), noise_mode="const")
        target[:, :, 10:14] = 0.9
        pivots = G.mapping(z_from_seeds([11, 12], G.z_dim))
    return target, pivots


def _render(G, ws):
    with torch.no_grad():
        return G.synthesis(ws, noise_mode="const")


# lora: the default rates, whose factors (3 x lr, chosen for edit transfer) need more steps than full at 1e-2
@pytest.mark.parametrize("update, lr, steps", [("full", 1e-2, 10), ("lora", TuneConfig.lr, 30)])
def test_tuning_lowers_the_distance_and_leaves_the_base_alone(G, case, update, lr, steps, pixel_distance):
    target, pivots = case
    before = copy.deepcopy(G.state_dict())
    cfg = TuneConfig(steps=steps, lr=lr, update=update, locality=False, stop_distance=0)
    result = tune(G, target[:1], pivots[:1], cfg, distance=pixel_distance)
    assert result.steps == [steps]
    assert result.distance[0] < 0.8 * result.pivot_distance[0]
    assert result.psnr[0] > result.pivot_psnr[0] + 0.5
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())
    tuned = result.generator.state_dict()
    for k, v in before.items():
        if k.startswith("mapping."):
            assert torch.equal(tuned[k], v), k
    assert torch.allclose(result.images, _render(result.generator, pivots[:1]))


def test_lora_update_is_compact(G):
    full, lora = init_update(G, "full"), init_update(G, "lora", rank=2)
    assert update_size(lora) < 0.25 * update_size(full)
    assert update_size(full) == sum(p.numel() for p in G.synthesis.parameters())
    assert any(k.endswith(".lora_a") for k in lora) and not any(".affine." in k for k in lora)


def test_saved_update_round_trips_and_is_refused_elsewhere(G, case, tmp_path, pixel_distance):
    target, pivots = case
    cfg = TuneConfig(steps=2, lr=1e-2, locality=False, stop_distance=0)
    result = tune(G, target[:1], pivots[:1], cfg, distance=pixel_distance)
    path = save_tuned(tmp_path / "tuned.safetensors", G, result.updates[0], cfg)
    _, meta = read_tuned(path)
    assert meta["kind"] == "tuned" and meta["model_sha256"] == G.checkpoint.sha256 and meta["update"] == "lora"
    assert TuneConfig.from_dict(meta["config"]) == cfg
    loaded = load_tuned(G, path)
    assert torch.equal(_render(loaded, pivots), _render(result.generator, pivots))
    assert not torch.equal(_render(loaded, pivots), _render(G, pivots))

    converted = load_generator(save_generator(G, tmp_path / "converted.safetensors"))  # same weights, other file
    assert torch.equal(_render(load_tuned(converted, path), pivots), _render(loaded, pivots))

    other = load_generator(FIXTURES / "tf_tiny.pkl")
    with pytest.raises(InputError, match="another model") as err:
        load_tuned(other, path)
    assert "\n" not in str(err.value)


def test_bad_tuned_files_give_one_line_errors(G, tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_tuned(G, tmp_path / "missing.safetensors")
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(S2EditError) as err:
        load_tuned(G, corrupt)
    assert "\n" not in str(err.value) and str(corrupt) in str(err.value)
    foreign = write_safetensors(tmp_path / "latent.safetensors", {"ws": torch.zeros(1, 8, 32)}, {"kind": "latent"})
    with pytest.raises(InputError, match="not a tuned"):
        load_tuned(G, foreign)
    wrong = write_safetensors(tmp_path / "wrong.safetensors", {"b4.conv1.weight.delta": torch.zeros(3)},
                              {"kind": "tuned", "format_version": 1, "model_sha256": model_sha256(G)})
    with pytest.raises(S2EditError, match="b4.conv1.weight"):
        load_tuned(G, wrong)


def test_locality_keeps_nearby_renders_closer_to_the_base(G, case, pixel_distance):
    target, pivots = case
    near = _locality_ws(G, pivots[:1], TuneConfig(locality_samples=8), torch.Generator().manual_seed(99), None)
    base = _render(G, near)
    drift = {}
    for locality in (False, True):
        cfg = TuneConfig(steps=6, lr=1e-2, lora_lr_scale=1, locality=locality, locality_samples=2, stop_distance=0)
        result = tune(G, target[:1], pivots[:1], cfg, distance=pixel_distance)
        drift[locality] = float((_render(result.generator, near) - base).square().mean())
    assert drift[True] < drift[False]


def test_shared_update_tunes_all_photos_at_once(G, case, pixel_distance):
    target, pivots = case
    cfg = TuneConfig(steps=4, lr=1e-2, locality=False, shared=True, update="full", stop_distance=0)
    result = tune(G, target, pivots, cfg, distance=pixel_distance)
    assert result.generators[0] is result.generators[1] and len(result.steps) == 1
    assert (result.distance < result.pivot_distance).all()


def _first_step(G, target, pivots, cfg, seed, distance):
    """Each update's loss and gradients at its start, as ``tune``'s first step computes them."""
    state = TuneState.start(G, cfg, len(target), seed)
    perceptual = _Perceptual(distance, cfg.max_loss_resolution)
    noise = [m.expand(len(target), -1, -1, -1) for m in G.synthesis.const_noise()]
    run = _Tuning(G, target, perceptual.reference(target), pivots, noise, cfg, perceptual, None,
                  stacked=len(state.updates) > 1)
    params = {k: torch.stack([u[k] for u in state.updates]).requires_grad_(True) for k in state.updates[0]}
    active = torch.arange(len(state.updates))
    loss = run.loss(params, active, *run.measure(params, active), [torch.Generator().set_state(r) for r in state.rng])
    return loss.detach(), dict(zip(params, torch.autograd.grad(loss.sum(), list(params.values()))))


def _adam_reach(cfg: TuneConfig, key: str, steps: int) -> float:
    """How far ``steps`` steps of tune's Adam (betas 0.9, 0.999) can move one coordinate of ``key``, whatever
    the gradients: |m_hat| / sqrt(v_hat) <= (1 - b1) / (1 - b1^t) * sqrt((1 - b2^t) / (1 - b2)
    * sum_k<t (b1^2 / b2)^k) at step t (Cauchy-Schwarz), about 1 in the first steps."""
    b1, b2 = 0.9, 0.999
    lr = cfg.lr * (1 if key.endswith(".delta") else cfg.lora_lr_scale)
    return sum(lr * (1 - b1) / (1 - b1**t) * math.sqrt((1 - b2**t) / (1 - b2) * sum((b1**2 / b2)**k for k in range(t)))
               for t in range(1, steps + 1))


def _assert_within_reach(a: dict, b: dict, cfg: TuneConfig, steps: int) -> None:
    """Two updates tuned from the same start are apart by at most both runs' Adam reach, per coordinate."""
    assert a.keys() == b.keys()
    for key in a:
        assert float((a[key] - b[key]).abs().max()) <= 2 * _adam_reach(cfg, key, steps) * (1 + 1e-4), key


@pytest.mark.parametrize("update, locality", [("lora", False), ("full", False), ("lora", True)])
def test_photos_tuned_in_one_batch_match_photos_tuned_alone(G, case, update, locality, pixel_distance):
    """Each photo of a batch gets its own update, with the loss and gradients it would get alone (to float
    rounding). Adam's first steps move every coordinate by about lr whatever the gradient's size, so a
    rounding difference in a near-zero gradient becomes one of order lr: after Adam steps the updates are
    compared within the distance Adam's steps can move them."""
    target, pivots = case
    cfg = TuneConfig(steps=2, update=update, locality=locality, stop_distance=0)
    loss, grads = _first_step(G, target, pivots, cfg, seed=5, distance=pixel_distance)
    together = tune(G, target, pivots, cfg, distance=pixel_distance, seed=5)
    assert together.steps == [2, 2] and together.generators[0] is not together.generators[1]
    for i in range(2):
        loss_alone, grads_alone = _first_step(G, target[i:i + 1], pivots[i:i + 1], cfg, seed=5 + i, distance=pixel_distance)
        torch.testing.assert_close(loss[i:i + 1], loss_alone, rtol=1e-5, atol=0)
        assert grads.keys() == grads_alone.keys()
        for key, alone in grads_alone.items():
            scale = float(alone.abs().max())  # rounding in sums that cancel: relative to the largest gradient (seen: 1e-5)
            torch.testing.assert_close(grads[key][i:i + 1], alone, rtol=1e-4, atol=1e-4 * scale, msg=key)
        _assert_within_reach(together.updates[i], tune(G, target[i:i + 1], pivots[i:i + 1], cfg, distance=pixel_distance,
                                                       seed=5 + i).updates[0], cfg, steps=2)


def test_a_photo_that_reaches_the_threshold_leaves_the_batch(G, case, pixel_distance):
    target, pivots = case
    drawn = _render(G, pivots[:1])  # the first photo is drawn exactly at its pivot: distance 0
    targets = torch.cat([drawn, target[1:2]])
    cfg = TuneConfig(steps=2, locality=False, stop_distance=1e-6)
    result = tune(G, targets, pivots, cfg, distance=pixel_distance)
    assert result.steps == [0, 2]
    assert all(not v.any() for k, v in result.updates[0].items() if not k.endswith(".lora_a"))
    alone = tune(G, target[1:2], pivots[1:2], cfg, distance=pixel_distance, seed=1)
    assert result.history[0] == pytest.approx(alone.history[0], rel=1e-5)  # the first step's loss is the second photo's
    _assert_within_reach(result.updates[1], alone.updates[0], cfg, steps=2)


def test_early_stop_and_w_plus_pivots_with_noise(G, case, pixel_distance):
    target, _ = case
    with torch.no_grad():
        ws = G.mapping(z_from_seeds([11], G.z_dim)) + 0.01 * torch.randn(1, G.num_ws, G.w_dim)
    noise = [torch.randn(1, 1, h, w) for h, w in G.synthesis.noise_shapes()]
    result = tune(G, target[:1], ws, TuneConfig(steps=5, stop_distance=10.0), distance=pixel_distance, noise=noise)
    assert result.steps == [0]
    with torch.no_grad():
        assert torch.equal(result.images, G.synthesis(ws, noise=noise))


def test_default_early_stop_is_ptis_lpips_threshold_and_only_for_lpips(G, case, pixel_distance):
    target, pivots = case

    class NamedLpips(type(pixel_distance)):
        name = "lpips"

    assert TuneConfig().stop_for(NamedLpips()) == 0.06 and TuneConfig().stop_for(pixel_distance) == 0.0
    assert TuneConfig(stop_distance=0.2).stop_for(pixel_distance) == 0.2
    exact = _render(G, pivots[:1])  # distance 0 at the pivot: below any threshold
    assert tune(G, exact, pivots[:1], TuneConfig(steps=2), distance=NamedLpips()).steps == [0]
    assert tune(G, exact, pivots[:1], TuneConfig(steps=2), distance=pixel_distance).steps == [2]


def test_conditional_network_with_locality(pixel_distance):
    G = load_generator(FIXTURES / "ada_tiny_cond.pkl")
    c = torch.nn.functional.one_hot(torch.tensor([1]), G.c_dim).float()
    with torch.no_grad():
        ws = G.mapping(z_from_seeds([3], G.z_dim), c)
        target = G.synthesis(ws, noise_mode="const").flip(-1)
    with pytest.raises(InputError, match="conditional"):
        tune(G, target, ws, TuneConfig(steps=1, locality=True), distance=pixel_distance)
    result = tune(G, target, ws, TuneConfig(steps=3, locality=True, stop_distance=0), distance=pixel_distance, c=c)
    assert result.distance[0] < result.pivot_distance[0]


def test_bad_settings_and_shapes_are_input_errors(G, case, pixel_distance):
    target, pivots = case
    with pytest.raises(InputError, match="update"):
        TuneConfig(update="everything")
    with pytest.raises(InputError, match="unknown tune settings"):
        TuneConfig.from_dict({"stepz": 3})
    with pytest.raises(InputError, match="pivots for"):
        tune(G, target, pivots[:1], TuneConfig(steps=1), distance=pixel_distance)
    with pytest.raises(InputError):
        apply_update(G, {"mapping.fc0.weight.delta": torch.zeros(1)})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu_start(G, case, pixel_distance):
    target, pivots = case
    Gc = copy.deepcopy(G).cuda()
    result = tune(Gc, target[:1].cuda(), pivots[:1].cuda(), TuneConfig(steps=3, stop_distance=0),
                  distance=pixel_distance)
    assert result.images.is_cuda and result.distance[0] < result.pivot_distance[0]


def test_latent_files_lead_to_their_tuned_generator(G, case, tmp_path, pixel_distance):
    target, pivots = case
    cfg = TuneConfig(steps=1, lr=1e-2, locality=False, stop_distance=0)
    latents = []
    for i in range(2):
        result = tune(G, target[i:i + 1], pivots[i:i + 1], cfg, distance=pixel_distance, seed=i)
        folder = tmp_path / f"p{i}"
        tuned = save_tuned(folder / "tuned.safetensors", G, result.updates[0], cfg)
        latents.append(save_latent(folder / "latent.safetensors", pivots[i:i + 1],
                                   meta={"tuned": {"file": "tuned.safetensors", "sha256": sha256_file(tuned)}}))
    same, note = tuned_generator(G, ["3", str(latents[0])])
    assert note and "p0" in note and torch.equal(_render(same, pivots), _render(load_tuned(G, latents[0].parent /
                                                                                         "tuned.safetensors"), pivots))
    assert tuned_generator(G, ["3"]) == (G, None)
    with pytest.raises(InputError, match="tuned separately"):
        tuned_generator(G, [str(p) for p in latents])
    (latents[1].parent / "tuned.safetensors").write_bytes(b"")
    with pytest.raises(S2EditError):
        tuned_generator(G, [str(latents[1])])


def _tuned_latent(G, pivot, folder: Path, entry: dict | None = None, update=None) -> Path:
    """A latent in ``folder`` recording ``entry`` as its tuned file (default: a tuned file written beside it)."""
    if entry is None:
        tuned = save_tuned(folder / "tuned.safetensors", G, update if update is not None else init_update(G))
        entry = {"file": "tuned.safetensors", "sha256": sha256_file(tuned)}
    return save_latent(folder / "latent.safetensors", pivot, meta={"tuned": entry})


def test_a_latent_refers_only_to_a_tuned_file_in_its_folder_by_sha256(G, case, tmp_path):
    pivot = case[1][:1]
    elsewhere = save_tuned(tmp_path / "elsewhere" / "tuned.safetensors", G, init_update(G))
    sha256 = sha256_file(elsewhere)
    inside = _tuned_latent(G, pivot, tmp_path / "ok")
    assert tuned_generator(G, [str(inside)])[1]
    refused = {"absolute": ({"file": str(elsewhere), "sha256": sha256}, "outside"),
               "dotdot": ({"file": "../elsewhere/tuned.safetensors", "sha256": sha256}, "outside"),
               "no sha256": ({"file": "tuned.safetensors"}, "sha256"),
               "symlink": ({"file": "tuned.safetensors", "sha256": sha256}, "outside")}
    for name, (entry, needle) in refused.items():
        folder = tmp_path / name
        folder.mkdir()
        if name == "symlink":
            (folder / "tuned.safetensors").symlink_to(elsewhere)
        elif name == "no sha256":
            save_tuned(folder / "tuned.safetensors", G, init_update(G))
        latent = _tuned_latent(G, pivot, folder, entry)
        with pytest.raises(InputError, match=needle) as err:
            tuned_generator(G, [str(latent)])
        assert str(latent) in str(err.value) and "\n" not in str(err.value), name


@pytest.mark.parametrize("update", ["lora", "full"])
def test_a_finite_but_huge_update_is_refused(G, case, tmp_path, update):
    """A small update times 1e30: low-rank factors overflow the merged weights; deltas keep them finite
    (1e27) but the render overflows."""
    gen = torch.Generator().manual_seed(1)
    small = {k: v if k.endswith(".lora_a") else 1e-3 * torch.randn(v.shape, generator=gen)
             for k, v in init_update(G, update).items()}
    huge = {k: 1e30 * v for k, v in small.items()}
    latent = _tuned_latent(G, case[1][:1], tmp_path, update=huge)
    with pytest.raises(InputError, match="NaN or inf") as err:
        tuned_generator(G, [str(latent)])
    assert "tuned.safetensors" in str(err.value) and "\n" not in str(err.value)
