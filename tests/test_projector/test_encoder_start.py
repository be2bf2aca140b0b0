"""Projection with an encoder: the instant preset, the encoder start of the fast preset, the lookup by model id,
and resuming a projection that started from an encoder."""

import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from projector import ProjectorConfig, project
from projector.batch import ProjectionJob, project_files, resumable_state, state_path
from projector.encoder import Encoder, EncoderConfig, find_encoder, projection_encoder, resolve_encoder, save_encoder
from projector.images import save_image
from stylegan2_core import InputError, model_id, z_from_seeds
from stylegan2_core.errors import Interrupted


def tiny_encoder(G, offset_seed: int | None = 0) -> Encoder:
    """A freshly initialised encoder for ``G``; with ``offset_seed`` its head biases are set at random, so that
    its answer is a fixed latent other than w_avg (an untrained encoder returns w_avg exactly)."""
    cfg = EncoderConfig(resolution=G.img_resolution, num_ws=G.num_ws, w_dim=G.w_dim,
                        working_resolution=G.img_resolution, channel_base=256, channel_max=32, blocks=1,
                        head_channels=32, passes=2)
    encoder = Encoder(cfg).eval().requires_grad_(False)
    if offset_seed is not None:
        gen = torch.Generator().manual_seed(offset_seed)
        for head in encoder.heads.values():
            head.bias.copy_(0.3 * torch.randn(head.bias.shape, generator=gen))
    return encoder


@pytest.fixture(scope="module")
def targets(G):
    with torch.no_grad():
        return G(z_from_seeds([31, 32], G.z_dim), noise_mode="const")


def test_instant_preset_is_the_encoders_inversion_with_the_networks_noise(G, targets, pixel_distance):
    encoder = tiny_encoder(G)
    result = project(G, targets, ProjectorConfig.preset("instant"), encoder=encoder, distance=pixel_distance)
    expected = encoder.invert(targets, G)
    assert torch.equal(result.ws, expected) and not torch.allclose(expected, G.mapping.w_avg.expand_as(expected))
    assert result.steps == 0 and result.history == []
    for mine, const in zip(result.noise, G.synthesis.const_noise()):
        assert mine.shape[0] == 2 and torch.equal(mine, const.expand_as(mine))
    with torch.no_grad():
        rendered = G.synthesis(expected, noise_mode="const")
    torch.testing.assert_close(result.images, rendered, atol=1e-5, rtol=0)  # fused or not: rounding only
    torch.testing.assert_close(result.distance, pixel_distance(rendered, targets), atol=1e-6, rtol=0)


def test_instant_preset_without_an_encoder_is_refused(G, targets, pixel_distance):
    with pytest.raises(InputError, match="needs an encoder"):
        project(G, targets, ProjectorConfig.preset("instant"), distance=pixel_distance, encoder=None)
    with pytest.raises(InputError, match="no encoder was found .* s2edit train-encoder"):  # none ships for G
        project(G, targets, ProjectorConfig.preset("instant"), distance=pixel_distance)
    with pytest.raises(InputError, match="no --space"):
        ProjectorConfig.preset("instant", space="w")


def test_encoder_start_replaces_the_w_sample_search(G, targets, pixel_distance, monkeypatch):
    module = sys.modules["projector.project"]  # the module: ``projector.project`` is the function

    def no_search(*args, **kwargs):
        raise AssertionError("the W-sample search ran despite the encoder")

    monkeypatch.setattr(module, "_best_samples", no_search)
    encoder = tiny_encoder(G)
    cfg = ProjectorConfig.preset("fast", w_avg_samples=500, encoder_steps=4, encoder_refine_steps=1)
    seen = []
    result = project(G, targets, cfg, encoder=encoder, distance=pixel_distance, callback=seen.append)
    assert result.steps == 5 and [s.num_steps for s in seen] == [5] * 5
    # Step 0's learning rate is 0 (the ramp-up), so its latent is the start: the W phase begins at the mean
    # over layers of the encoder's ws.
    start = encoder.invert(targets, G).mean(dim=1, keepdim=True).expand(-1, G.num_ws, -1)
    assert torch.equal(seen[0].ws, start)
    with pytest.raises(AssertionError, match="W-sample search"):  # without the encoder the search runs
        project(G, targets, cfg, distance=pixel_distance)


def test_encoder_schedule_is_its_own_preset_entry():
    fast = ProjectorConfig.preset("fast")
    started = fast.encoder_started()
    assert (started.steps, started.refine_steps) == (fast.encoder_steps, fast.encoder_refine_steps)
    assert started.init_samples == 0 and started.starts == 1
    shorter = replace(fast, encoder_steps=7, encoder_refine_steps=3).encoder_started()
    assert (shorter.steps, shorter.refine_steps, shorter.total_steps) == (7, 3, 10)
    asked = ProjectorConfig.preset("fast", steps=5, refine_steps=2).encoder_started()
    assert (asked.steps, asked.refine_steps) == (5, 2)  # an explicit step count holds for both starts
    official = ProjectorConfig.preset("official").encoder_started()
    assert official.steps == 1000  # no encoder schedule named: the preset's own


def test_given_latent_wins_over_the_encoder(G, targets, pixel_distance):
    encoder = tiny_encoder(G)
    init = G.mapping.w_avg.reshape(1, 1, -1).expand(2, G.num_ws, -1).clone() + 0.1
    cfg = ProjectorConfig(steps=1, space="w+", w_avg_samples=500)
    seen = []
    project(G, targets, cfg, encoder=encoder, init_ws=init, distance=pixel_distance, callback=seen.append)
    assert torch.equal(seen[0].ws, init)


def test_lookup_by_model_id_in_the_asset_folder(G, tmp_path, monkeypatch):
    import projector.encoder.registry as registry

    monkeypatch.setattr(registry, "ENCODER_ASSETS", tmp_path)
    fast, instant = ProjectorConfig.preset("fast"), ProjectorConfig.preset("instant")
    assert find_encoder(G) is None and resolve_encoder(None, G) is None
    assert projection_encoder(None, G, fast) is None
    with pytest.raises(InputError, match="no encoder was found .* s2edit train-encoder"):
        projection_encoder(None, G, instant)
    encoder = tiny_encoder(G)
    path = save_encoder(tmp_path / f"encoder-{model_id(G)[:12]}.safetensors", encoder, model_id(G))
    assert find_encoder(G) == path
    found = projection_encoder(None, G, fast)
    assert all(torch.equal(a, b) for a, b in zip(found.state_dict().values(), encoder.state_dict().values()))
    assert projection_encoder(None, G, ProjectorConfig.preset("official")) is None  # the paper's algorithm
    assert projection_encoder(path, G, ProjectorConfig.preset("official")) is not None  # unless named
    assert projection_encoder("none", G, fast) is None


def test_resume_keeps_the_encoder_start_and_refuses_another(G, tmp_path, pixel_distance):
    with torch.no_grad():
        save_image(tmp_path / "a.png", G(z_from_seeds([41], G.z_dim), noise_mode="const")[0])
    photo = tmp_path / "a.png"
    encoder = tiny_encoder(G)
    cfg = ProjectorConfig.preset("fast", w_avg_samples=500, encoder_steps=3, encoder_refine_steps=0)
    job = ProjectionJob(tmp_path / "out", cfg, distance=pixel_distance, encoder=encoder)
    with pytest.raises(Interrupted):
        project_files(G, [photo], job, should_stop=lambda: True)
    assert state_path(job.outdir, photo).is_file()
    assert resumable_state(G, photo, replace(job, resume=True)).step == 1
    for other, words in ((None, "started from an encoder"), (tiny_encoder(G, 1), "another encoder")):
        with pytest.raises(InputError, match=words):
            resumable_state(G, photo, replace(job, encoder=other, resume=True))
    done = project_files(G, [photo], replace(job, resume=True))
    assert done[0].report["steps"] == 3 and done[0].report["resumed_from_step"] == 1


def test_a_folder_goes_through_the_encoder_in_batches(G, tmp_path, pixel_distance):
    with torch.no_grad():
        images = G(z_from_seeds([51, 52, 53], G.z_dim), noise_mode="const")
    paths = []
    for i, image in enumerate(images):
        save_image(tmp_path / f"p{i}.png", image)
        paths.append(tmp_path / f"p{i}.png")
    encoder = tiny_encoder(G)
    job = ProjectionJob(tmp_path / "out", ProjectorConfig.preset("instant"), distance=pixel_distance,
                        encoder=encoder, batch_size=2)
    done = project_files(G, paths, job)
    from projector.latent_file import load_latent

    for item in done:
        record = load_latent(Path(item.outdir) / "latent.safetensors", G)
        assert item.report["steps"] == 0 and item.report["noise"] == "fixed"
        assert record.noise is not None and record.meta["projector"]["encoder_only"]
    alone = encoder.invert(done and torch.cat([images[2:3]]), G)
    record = load_latent(Path(done[2].outdir) / "latent.safetensors", G)
    torch.testing.assert_close(record.ws, alone, atol=1e-4, rtol=0)  # the target went through a PNG


def test_pivot_settings_for_tuning():
    from projector import pivot_settings

    assert pivot_settings("fast", None, True, "encoder") == ("instant", None)  # the encoder's W+ inversion
    assert pivot_settings("instant", None, True) == ("instant", None)
    assert pivot_settings("fast", None, True) == ("fast", "w") and pivot_settings("fast", None, False) == ("fast", None)
    with pytest.raises(InputError, match="--pivot encoder names the pivot of --tune"):
        pivot_settings("fast", None, False, "encoder")


def test_project_uses_the_shipped_encoder_unless_told_not_to(G, targets, pixel_distance, tmp_path, monkeypatch):
    import projector.encoder.registry as registry

    monkeypatch.setattr(registry, "ENCODER_ASSETS", tmp_path)
    encoder = tiny_encoder(G)
    save_encoder(tmp_path / f"encoder-{model_id(G)[:12]}.safetensors", encoder, model_id(G))
    instant = project(G, targets, ProjectorConfig.preset("instant"), distance=pixel_distance)
    assert torch.equal(instant.ws, encoder.invert(targets, G))
    cfg = ProjectorConfig.preset("fast", encoder_steps=1, encoder_refine_steps=0)
    seen, searched = [], []
    project(G, targets, cfg, distance=pixel_distance, callback=seen.append)  # starts at the encoder's answer
    assert seen[0].num_steps == 1
    project(G, targets, cfg, distance=pixel_distance, callback=searched.append, encoder=None)  # the W-sample search
    assert searched[0].num_steps == cfg.total_steps
    with pytest.raises(InputError, match="Encoder, None or 'auto'"):
        project(G, targets, cfg, distance=pixel_distance, encoder="mine.safetensors")
