"""Folder projection across processes: shares, resume, one summary, no overwrite."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from projector import ProjectorConfig
from projector.batch import ProjectionJob
from projector.distributed import SUMMARY_NAME, _consecutive_batches, complete, plan_shards, project_sharded
from projector.images import save_image
from projector.losses import make_perceptual
from stylegan2_core import InputError, load_generator, z_from_seeds

FIXTURES = Path(__file__).parents[1] / "fixtures"
CFG = ProjectorConfig(steps=2, w_avg_samples=100)


def test_plan_shards_cover_every_image_once():
    for count in range(0, 9):
        for world in (1, 2, 3):
            shares = plan_shards(list(range(count)), world)
            assert len(shares) == world and sum(shares, []) == list(range(count))
            assert max(map(len, shares)) - min(map(len, shares)) <= 1
    assert _consecutive_batches([0, 1, 2, 5, 6, 9], 2) == [[0, 1], [2], [5, 6], [9]]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    G = load_generator(FIXTURES / "ada_tiny.pkl")
    folder = tmp_path_factory.mktemp("photos")
    with torch.no_grad():
        images = G(z_from_seeds(list(range(5)), G.z_dim), noise_mode="const")
    for i, image in enumerate(images):
        save_image(folder / f"p{i}.png", image)
    return sorted(folder.iterdir())


def _project(photos, out, *flags, processes=2):
    """``torchrun --nproc_per_node 2 -m cli project <folder> ...`` on CPU (gloo), or with ``processes=1`` plain
    ``python -m cli project ...``; returns the finished process."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2]), "OMP_NUM_THREADS": "1"}
    launch = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)] if processes > 1 else []
    cmd = [sys.executable, *launch, "-m", "cli", "project", str(photos[0].parent), "--network", str(FIXTURES / "ada_tiny.pkl"), "--preset", "official",
           "--steps", "2", "--loss", "effnet", "--device", "cpu", "--batch-size", "2", "--outdir", str(out), *flags]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def _mtimes(folder):
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_two_processes_split_resume_and_refuse(photos, tmp_path, pixel_distance):
    out = tmp_path / "out"
    run = _project(photos, out)
    assert run.returncode == 0, run.stderr[-3000:]
    assert all(complete(p, out) for p in photos)
    summary = json.loads((out / SUMMARY_NAME).read_text())
    assert [item["image"] for item in summary["images"]] == [str(p) for p in photos]
    assert [item["seed"] for item in summary["images"]] == list(range(len(photos)))  # image i: seed i, any rank
    # The ranks split the folder: rank 0 projects p0-p2 in batches [p0, p1], [p2]; rank 1 p3-p4 in one batch
    # (one process would have batched [p0, p1], [p2, p3], [p4]). Rank 0's table lists every image.
    assert [item["batch_size"] for item in summary["images"]] == [2, 2, 1, 2, 2]
    assert all(p.stem in run.stdout for p in photos)

    # A killed run: one image's outputs half there. Resume (here in one process) redoes only that one.
    (out / photos[3].stem / "report.json").unlink()
    before = _mtimes(out)
    G = load_generator(FIXTURES / "ada_tiny.pkl")
    job = ProjectionJob(out, ProjectorConfig.preset("official", steps=2), resume=True, batch_size=2,
                        distance=make_perceptual("effnet")[0])  # as the command does
    run = project_sharded(G, photos, job)
    assert [f.path for f in run.projected] == [photos[3]] and len(run.images) == len(photos)
    after = _mtimes(out)
    changed = {p for p in after if before.get(p) != after[p]}
    assert changed and all(p.parent.name == photos[3].stem for p in changed - {out / SUMMARY_NAME})

    # Nothing left to do: a resume (here one process) rewrites nothing at all, the summary included.
    before = _mtimes(out)
    run = _project(photos, out, "--resume", processes=1)
    assert run.returncode == 0, run.stderr[-3000:]
    assert _mtimes(out) == before

    # Without resume or force, existing outputs are refused before any work.
    with pytest.raises(InputError, match="already exists"):
        project_sharded(G, photos, ProjectionJob(out, CFG, distance=pixel_distance))
    assert _mtimes(out) == before


def test_an_unreadable_photo_does_not_stop_the_other_rank(photos, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for p in photos[:3]:
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / f"{photos[0].stem}x.png").write_bytes(b"not an image")  # rank 0's second image of four
    mixed = sorted(folder.iterdir())
    out = tmp_path / "out"
    run = _project(mixed, out)
    assert run.returncode == 1, run.stderr[-3000:]  # torchrun reports the exit code with its own traceback
    assert "error: 1 of 4 images failed (p0x.png)" in run.stderr, run.stderr[-3000:]
    summary = json.loads((out / SUMMARY_NAME).read_text())
    assert [("failed" in item) for item in summary["images"]] == [False, True, False, False]
    assert all(complete(p, out) for p in mixed if p.stem != f"{photos[0].stem}x")


def test_instant_preset_under_torchrun(photos, tmp_path):
    """A folder through the encoder, two processes: every photo's latent is the encoder's inversion of its target."""
    from projector.encoder import Encoder, EncoderConfig, load_encoder, save_encoder
    from projector.images import load_target
    from projector.latent_file import load_latent
    from stylegan2_core import model_id

    G = load_generator(FIXTURES / "ada_tiny.pkl")
    encoder = Encoder(EncoderConfig(resolution=32, num_ws=G.num_ws, w_dim=G.w_dim, working_resolution=32,
                                    channel_base=256, channel_max=32, blocks=1, head_channels=32, passes=2))
    with torch.no_grad():
        for head in encoder.heads.values():
            head.bias.copy_(0.3 * torch.randn(head.bias.shape, generator=torch.Generator().manual_seed(1)))
    enc = save_encoder(tmp_path / "enc.safetensors", encoder, model_id(G))
    out = tmp_path / "out"
    run = _project(photos, out, "--preset", "instant", "--encoder", str(enc))
    assert run.returncode == 0, run.stderr[-3000:]
    loaded = load_encoder(enc, G)
    for photo in photos:
        target, _ = load_target(out / photo.stem / "target.png", G.img_resolution)
        record = load_latent(out / photo.stem / "latent.safetensors", G)
        torch.testing.assert_close(record.ws, loaded.invert(target, G), atol=1e-5, rtol=0)
        assert json.loads((out / photo.stem / "report.json").read_text())["steps"] == 0
    assert len(json.loads((out / SUMMARY_NAME).read_text())["images"]) == len(photos)
