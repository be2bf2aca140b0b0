"""A folder job: saved states continue only the projection they were made for, and one bad photo fails alone."""

import copy
import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from projector import ProjectorConfig
from projector.batch import ProjectionJob, project_files, state_path
from projector.distributed import SUMMARY_NAME, project_sharded
from projector.images import save_image
from stylegan2_core import InputError, z_from_seeds
from stylegan2_core.errors import Interrupted, S2EditError
from stylegan2_core.fileio import read_safetensors, write_safetensors

CFG = ProjectorConfig(steps=4, space="w+", w_avg_samples=100)


def _photos(G, folder: Path, seeds=(1, 2)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        images = G(z_from_seeds(list(seeds), G.z_dim), noise_mode="const")
    return [save_image(folder / f"p{i}.png", image) for i, image in enumerate(images)]


def _stop_after(k):
    calls = [0]

    def should_stop():
        calls[0] += 1
        return calls[0] == k

    return should_stop


def _stopped(G, tmp_path, distance, cfg=CFG, stop=1):
    """A job whose one photo stopped after ``stop`` steps: (photo, job); its state is saved."""
    photo = _photos(G, tmp_path / "in", seeds=(1,))[0]
    job = ProjectionJob(tmp_path / "out", cfg, distance=distance)
    with pytest.raises(Interrupted):
        project_sharded(G, [photo], job, should_stop=_stop_after(stop))
    assert state_path(job.outdir, photo).is_file()
    return photo, job


def test_a_stop_in_the_refinement_counts_all_steps(G, tmp_path, pixel_distance):
    photo = _photos(G, tmp_path / "in", seeds=(1,))[0]
    job = ProjectionJob(tmp_path / "out", replace(CFG, refine_steps=3), distance=pixel_distance)
    with pytest.raises(Interrupted, match="stopped before step 5 of 7;"):
        project_files(G, [photo], job, should_stop=_stop_after(5))


def _refusal(G, photo, job, *needles):
    with pytest.raises(InputError) as refused:
        project_sharded(G, [photo], replace(job, resume=True))
    message = str(refused.value)
    assert "\n" not in message and str(state_path(job.outdir, photo)) in message
    assert all(n in message for n in needles), message
    return message


def test_resume_refuses_a_state_made_otherwise(G, tmp_path, pixel_distance):
    photo, job = _stopped(G, tmp_path, pixel_distance)
    _refusal(G, photo, replace(job, cfg=replace(CFG, space="w")), "space 'w+' (now 'w')")
    _refusal(G, photo, replace(job, cfg=replace(CFG, steps=5)), "steps 4 (now 5)")
    _refusal(G, photo, replace(job, cfg=ProjectorConfig.preset("fast", w_avg_samples=100)), "init_samples")
    _refusal(G, photo, replace(job, crop=False), "crop True (now False)")
    other = copy.deepcopy(G)  # the same shapes, other weights
    other.checkpoint = None
    with torch.no_grad():
        next(other.synthesis.parameters()).add_(0.1)
    _refusal(other, photo, job, "another network")
    save_image(photo, -torch.ones(1, 3, 32, 32))  # another image under the same name
    _refusal(G, photo, job, "another image")


@pytest.mark.parametrize("edit, needle", [
    (lambda t, m: m.update(step=99), "step 99"),
    (lambda t, m: m.update(step=0), "step 0"),
    (lambda t, m: m.update(starts=0), "0 starts"),
    (lambda t, m: m.update(adam_step=-3.0), "Adam step"),
    (lambda t, m: t["adam.0.exp_avg_sq"].fill_(float("nan")), "NaN"),
    (lambda t, m: t["loss"].fill_(float("inf")), "NaN or inf"),
    (lambda t, m: t.update({"adam.0.exp_avg": t["adam.0.exp_avg"][:, :1].clone()}), "moments do not fit"),
], ids=["step beyond the schedule", "step 0", "no starts", "negative Adam step", "NaN moments", "inf loss",
        "moments of another shape"])
def test_resume_refuses_an_edited_state(G, tmp_path, edit, needle, pixel_distance):
    photo, job = _stopped(G, tmp_path, pixel_distance, stop=2)
    file = state_path(job.outdir, photo)
    tensors, meta = read_safetensors(file)
    edit(tensors, meta)
    write_safetensors(file, tensors, meta)
    _refusal(G, photo, job, needle)


def test_a_rerun_without_resume_does_not_drop_a_saved_state_silently(G, tmp_path, pixel_distance):
    photo, job = _stopped(G, tmp_path, pixel_distance)
    with pytest.raises(InputError, match="--resume .* --force"):
        project_sharded(G, [photo], job)
    assert state_path(job.outdir, photo).is_file()
    run = project_sharded(G, [photo], replace(job, force=True))  # discards it
    assert not state_path(job.outdir, photo).exists() and "resumed_from_step" not in run.images[0]
    resumed_job = replace(job, outdir=job.outdir.parent / "again")
    with pytest.raises(Interrupted):
        project_sharded(G, [photo], resumed_job, should_stop=_stop_after(1))
    run = project_sharded(G, [photo], replace(resumed_job, resume=True))  # the same settings continue
    assert run.images[0]["resumed_from_step"] == 1


def test_one_bad_photo_fails_alone(G, tmp_path, pixel_distance):
    photos = _photos(G, tmp_path / "in", seeds=(1, 2, 3))
    photos[1].write_bytes(b"not a png")
    run = project_sharded(G, photos, ProjectionJob(tmp_path / "out", CFG, distance=pixel_distance, batch_size=3))
    assert [p.path for p in run.projected] == [photos[0], photos[2]]
    summary = json.loads((tmp_path / "out" / SUMMARY_NAME).read_text())
    assert [("failed" in entry) for entry in summary["images"]] == [False, True, False]
    reason = summary["images"][1]["failed"]
    assert "p1.png" in reason and "\n" not in reason
    assert [entry["seed"] for entry in summary["images"] if "seed" in entry] == [0, 2]  # image i: seed i
    with pytest.raises(S2EditError, match=r"1 of 3 images failed \(p1.png\)") as failed:
        run.raise_failures()
    assert failed.value.exit_code == 1
