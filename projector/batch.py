"""Project many photos: read and prepare the targets, optimize them in batches, write each one's outputs.

This is ``s2edit project`` as a function::

    from projector import ProjectorConfig
    from projector.batch import ProjectionJob, project_files
    from projector.images import collect_images

    done = project_files(G, collect_images(["photos/"]), ProjectionJob("out", ProjectorConfig(steps=500)))
    for item in done:
        print(item.path, item.report["psnr_db"])
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from stylegan2_core.errors import InputError, Interrupted
from stylegan2_core.fileio import sha256_file
from stylegan2_core.image import to_uint8

from .images import Preprocessing, load_target, prepare_target
from .latent_file import LatentRecord, load_projection_state, model_provenance, save_projection_state
from .outputs import OUTPUT_FILES, photo_folder, record_outputs, write_projection
from .project import (
    DEFAULT_PRESET,
    ProjectionInterrupted,
    ProjectionState,
    ProjectionStep,
    ProjectorConfig,
    check_state,
    images_per_batch,
    project,
)
from .tune import TuneConfig, TuneStep
from .tuned_file import TUNE_STATE_FILE, TUNED_FILE, resumed_tuning, tune_resumable
from .video import VideoWriter

if TYPE_CHECKING:
    from .align import AlignedFace
    from .encoder import Encoder

__all__ = ["ALIGNMENT_NAME", "PreparedTarget", "ProjectedFile", "ProjectionJob", "STATE_NAME", "photos_per_batch",
           "prepare_targets", "projection_outputs", "project_files", "resumable_state", "state_path"]

VIDEO_NAME = "proj.mp4"
ALIGNMENT_NAME = "alignment.json"
STATE_NAME = "resume.safetensors"


@dataclass(frozen=True)
class PreparedTarget:
    """One photo as the projector sees it: ``image`` [1, 3, R, R] in [-1, 1] and how it was made.

    ``alignment``: the FFHQ alignment (``projector.align.AlignedFace``) when the face was aligned first;
    ``project_files`` writes it as ``alignment.json`` (what ``s2edit paste`` needs) and describes it in the latent.
    """

    path: Path
    image: torch.Tensor
    preprocessing: Preprocessing
    alignment: AlignedFace | None = None

    def source_meta(self) -> dict:
        """What the latent records about the photo beyond ``preprocessing``: the alignment geometry, if any."""
        if self.alignment is None:
            return {}
        a = self.alignment
        return {"alignment": {"file": ALIGNMENT_NAME, "box": [float(v) for v in a.box], "score": float(a.score),
                              "quad": np.asarray(a.quad, dtype=float).tolist(),
                              "transform": np.asarray(a.transform, dtype=float).tolist()}}


@dataclass(frozen=True)
class ProjectedFile:
    """Where one photo's outputs went (``outdir`` = <outdir>/<stem>) and its report (see ``write_projection``)."""

    path: Path
    outdir: Path
    report: dict


def projection_outputs(paths: Sequence[Path], outdir, save_video: bool = False, align: bool = False,
                       tuned: bool = False) -> list[Path]:
    """Every file ``project_files`` writes for ``paths``: ``<outdir>/<stem>/<OUTPUT_FILES>`` (+ proj.mp4,
    + alignment.json for aligned faces, + tuned.safetensors when tuning)."""
    names = (OUTPUT_FILES + ((VIDEO_NAME,) if save_video else ()) + ((ALIGNMENT_NAME,) if align else ())
             + ((TUNED_FILE,) if tuned else ()))
    return [photo_folder(outdir, p) / name for p in paths for name in names]


def prepare_targets(paths: Sequence[Path], resolution: int, crop: bool = True, align: bool = False,
                    ) -> list[PreparedTarget]:
    """Read each photo and make it a square target at ``resolution``.

    ``crop``: centre-crop (True) or edge-pad (False) to square. ``align``: detect the largest
    face and FFHQ-align it first (raises ``InputError`` when a photo has no face); the target then
    keeps the alignment and its ``preprocessing`` says ``ffhq-align`` from the photo's size.
    """
    targets = []
    for path in map(Path, paths):
        if align:
            from .align import align_file

            face = align_file(path, resolution)[0]  # the largest face
            image, _ = prepare_target(face.image.astype("float32") / 255, resolution)
            prep = Preprocessing(mode="ffhq-align", source_size=tuple(face.source_size), resolution=resolution)
            targets.append(PreparedTarget(path, image, prep, face))
        else:
            image, prep = load_target(path, resolution, crop=crop)
            targets.append(PreparedTarget(path, image, prep))
    return targets


def photos_per_batch(G, batch_size: int | None, tune_cfg: TuneConfig | None, photos: int) -> int:
    """``batch_size``, or by default ``images_per_batch(G, 4)``; all ``photos`` at once when one
    tuned generator is shared by every photo."""
    if tune_cfg is not None and tune_cfg.shared:
        return max(1, photos)
    return images_per_batch(G, 4) if batch_size is None else batch_size


@dataclass(frozen=True)
class ProjectionJob:
    """What to project with and where the outputs go: built once (by ``s2edit project``, or in Python) and
    passed through ``project_sharded`` and ``project_files`` down to ``project``.

    ``outdir``: each photo's outputs go to ``<outdir>/<stem>/``. ``cfg``: projector settings; image ``i`` of
    the job uses seed ``cfg.seed + i``. ``crop`` / ``align``: how photos become targets (``prepare_targets``).
    ``batch_size``: images optimized together (default ``photos_per_batch``). ``c``: class label [1, c_dim]
    for conditional networks. ``distance``: perceptual distance (``projector.losses.make_perceptual``;
    default: ``project``'s). ``init``: a latent file's record to start from (its ws for every image, its
    noise maps if saved). ``save_video``: also write ``proj.mp4`` per photo, target | projection, every
    ``video_every`` steps. ``encoder``: a ``projector.encoder.Encoder`` for the network: the projection starts
    from its inversion (``project(..., encoder=)``), or is that inversion with ``cfg.encoder_only`` (preset
    ``'instant'``). ``tune_cfg``: also tune the generator around each pivot (``projector.tune``);
    writes ``tuned.safetensors`` per photo, and ``proj.png`` is the tuned render. ``resume``: continue
    stopped images from their saved state (exactly: the result equals an uninterrupted run's) and skip
    finished ones. ``force``: replace existing outputs and discard saved states.
    """

    outdir: Path
    cfg: ProjectorConfig = field(default_factory=lambda: ProjectorConfig.preset(DEFAULT_PRESET))
    crop: bool = True
    align: bool = False
    batch_size: int | None = None
    c: torch.Tensor | None = None
    distance: object = None
    init: LatentRecord | None = None
    save_video: bool = False
    video_every: int = 10
    video_fps: float = 10
    tune_cfg: TuneConfig | None = None
    resume: bool = False
    force: bool = False
    encoder: Encoder | None = None

    def __post_init__(self):
        object.__setattr__(self, "outdir", Path(self.outdir))
        if self.cfg.encoder_only and self.save_video:
            raise InputError("the instant preset runs no optimization to film; drop --save-video")

    @property
    def run_cfg(self) -> ProjectorConfig:
        """The settings ``project`` runs with: ``cfg``, or its encoder-started schedule when starting from the encoder."""
        return self.cfg.encoder_started() if self.encoder is not None and self.init is None else self.cfg


def project_files(G, targets: Sequence[PreparedTarget | Path | str], job: ProjectionJob, *,
                  callback: Callable[[list[Path], ProjectionStep | TuneStep], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> list[ProjectedFile]:
    """Project photos ``job.batch_size`` at a time (default ``photos_per_batch``: 4 on a GPU, fewer on a
    CPU for large networks) and write ``<outdir>/<stem>/`` for each (``OUTPUT_FILES``).

    Args:
        targets: photo paths (prepared with ``job.crop`` / ``job.align``) or ``prepare_targets`` results.
        job: what to project with and where (``ProjectionJob``).
        callback: ``callback(batch_paths, step)`` after every optimization step (progress bars): a
            ``ProjectionStep``, then, when tuning, a ``projector.tune.TuneStep`` per tuning step.
        should_stop: checked after every step; when it turns True (Ctrl-C, SIGTERM), the batch's
            images get a resumable ``<stem>/resume.safetensors`` and ``Interrupted`` is raised.

    Returns one ``ProjectedFile`` per photo, in order. Existing outputs are overwritten: check
    ``projection_outputs`` first (``projector.outputs.check_outputs``). Each photo's files are recorded
    as project's output set in its folder (``record_outputs``); with ``force`` they replace the previous
    run's (e.g. its ``proj.mp4`` goes when this run writes no video). With ``job.resume`` a saved state
    made with another network, image or settings is refused (``resumable_state``).
    """
    prepared = [t if isinstance(t, PreparedTarget) else None for t in targets]
    loose = [Path(t) for t in targets if not isinstance(t, PreparedTarget)]
    fresh = iter(prepare_targets(loose, G.img_resolution, crop=job.crop, align=job.align))
    prepared = [t if t is not None else next(fresh) for t in prepared]
    states = {i: resumable_state(G, t.path, job) for i, t in enumerate(prepared)
              if job.resume and state_path(job.outdir, t.path).is_file()}
    done: dict[int, ProjectedFile] = {}
    for batch in _batches(len(prepared), photos_per_batch(G, job.batch_size, job.tune_cfg, len(prepared)), states):
        batch_targets = [prepared[i] for i in batch]
        seeds = [job.cfg.seed + i for i in batch]
        target = torch.cat([t.image for t in batch_targets])
        state = ProjectionState.stack([states[i] for i in batch]) if batch[0] in states else None
        result, tuned = _project_batch(G, batch_targets, target, seeds, state, job, callback, should_stop)
        for i, (index, t) in enumerate(zip(batch, batch_targets)):
            done[index] = _write_photo(G, t, result, i, target, tuned, seeds[i], state, job)
    return [done[i] for i in range(len(prepared))]


def _project_batch(G, batch_targets: list[PreparedTarget], target: torch.Tensor, seeds: list[int],
                   state: ProjectionState | None, job: ProjectionJob, callback, should_stop):
    """One batch projected (and tuned): (``ProjectionResult``, ``TuneResult`` or None). Writes the video
    frames as it goes; a stop saves each image's state and raises ``Interrupted``."""
    paths = [t.path for t in batch_targets]
    init_ws = job.init.ws.expand(len(paths), -1, -1) if job.init is not None and state is None else None
    init_noise = job.init.noise if job.init is not None and job.init.noise else None
    folders = [photo_folder(job.outdir, p) for p in paths]
    tuning = resumed_tuning(folders, job.tune_cfg, G.mapping.w_avg.device) if job.resume and job.tune_cfg else None
    with contextlib.ExitStack() as stack:
        writers = [stack.enter_context(VideoWriter(folder / VIDEO_NAME, fps=job.video_fps))
                   for folder in folders] if job.save_video and tuning is None else []

        def on_step(s: ProjectionStep) -> None:
            if callback is not None:
                callback(paths, s)
            if writers and (s.step % job.video_every == 0 or s.step == s.num_steps - 1):
                frames = to_uint8(torch.cat([target.to(s.images.device), s.images.clamp(-1, 1)], dim=3))
                for writer, frame in zip(writers, frames):
                    writer.append(frame)

        try:
            result = tuning.pivot if tuning is not None else project(
                G, target, job.cfg, c=job.c, distance=job.distance, init_ws=init_ws, init_noise=init_noise,
                seeds=seeds, callback=on_step, should_stop=should_stop, state=state, encoder=job.encoder)
        except ProjectionInterrupted as interrupted:
            _save_states(interrupted.state, batch_targets, seeds, job, G)
            raise Interrupted(f"stopped before step {interrupted.state.step} of {interrupted.state.num_steps}; the "
                              f"state of {', '.join(p.stem for p in paths)} is saved in <outdir>/<name>/{STATE_NAME}: "
                              "rerun the same command with --resume to continue") from None
    tuned = None
    if job.tune_cfg is not None:  # the pivot is kept first, and the tuning state on a stop (--resume continues)
        tuned = tune_resumable(G, target, result, job.tune_cfg, folders, state=tuning and tuning.state,
                               superseded=[state_path(job.outdir, p) for p in paths], distance=job.distance, c=job.c,
                               seed=seeds[0], should_stop=should_stop,
                               callback=(lambda s: callback(paths, s)) if callback else None)
    return result, tuned


def _write_photo(G, t: PreparedTarget, result, i: int, target: torch.Tensor, tuned, seed: int,
                 state: ProjectionState | None, job: ProjectionJob) -> ProjectedFile:
    """Image ``i`` of a batch's outputs in ``<outdir>/<stem>/`` (and its alignment); its saved state goes."""
    extra = {"batch_size": target.shape[0], "seed": seed}
    if state is not None:
        extra["resumed_from_step"] = state.step
    folder = photo_folder(job.outdir, t.path)
    report = write_projection(folder, result, i, target, G, job.run_cfg, t.preprocessing, str(t.path),
                              extra_report=extra, extra_meta=t.source_meta(), tuned=tuned)
    if t.alignment is not None:
        from .align import save_alignment

        save_alignment(t.alignment, folder / ALIGNMENT_NAME, source=t.path.resolve())
    state_path(job.outdir, t.path).unlink(missing_ok=True)
    (folder / TUNE_STATE_FILE).unlink(missing_ok=True)
    record_outputs("project", projection_outputs([t.path], job.outdir, job.save_video, align=t.alignment is not None,
                                                  tuned=job.tune_cfg is not None), job.force)
    return ProjectedFile(t.path, folder, report)


def state_path(outdir, path) -> Path:
    """Where an interrupted projection of ``path`` keeps its resumable state."""
    return photo_folder(outdir, path) / STATE_NAME


def _batches(count: int, batch_size: int, states: dict) -> list[list[int]]:
    """Image indices in batches: images with a saved state first (grouped by the step they stopped at), then the rest
    in order."""
    by_step: dict[int, list[int]] = {}
    for i, state in states.items():
        by_step.setdefault(state.step, []).append(i)
    groups = list(by_step.values()) + [[i for i in range(count) if i not in states]]
    return [group[k:k + batch_size] for group in groups for k in range(0, len(group), batch_size)]


def _state_meta(G, path: Path, seed: int, job: ProjectionJob) -> dict:
    """What a saved state records about how it was made: the network, the source image, the settings and the
    encoder it started from (its ``encoder_identity``; None: no encoder)."""
    from .encoder import encoder_identity

    return {"source": str(path), "source_sha256": sha256_file(path) if path.is_file() else None, "seed": seed,
            "projector": asdict(job.cfg), "crop": job.crop, "align": job.align,
            "encoder": encoder_identity(job.encoder) if job.encoder is not None else None, **model_provenance(G)}


def _save_states(state: ProjectionState, batch_targets: list[PreparedTarget], seeds: list[int], job: ProjectionJob,
                 G) -> None:
    for i, t in enumerate(batch_targets):
        save_projection_state(state_path(job.outdir, t.path), state.image(i), meta=_state_meta(G, t.path, seeds[i], job))


def _state_mismatch(meta: dict, now: dict) -> str | None:
    """How a saved state's record (``meta``) differs from this run's (``now``, ``_state_meta``), in words."""
    if not meta.get("model_id"):
        return "it records no network"
    if meta["model_id"] != now["model_id"]:
        return f"it was made with another network (id {meta['model_id'][:12]}..., this one is {now['model_id'][:12]}...)"
    if meta.get("source_sha256") != now["source_sha256"]:
        return "it was made from another image of this name"
    if meta.get("encoder") != now["encoder"]:
        if meta.get("encoder") is None:
            return "it was started without an encoder (pass --encoder none)"
        return f"it was started from {'another' if now['encoder'] else 'an'} encoder (pass the same --encoder)"
    saved = {**(meta.get("projector") or {}), "crop": meta.get("crop"), "align": meta.get("align")}
    current = {**now["projector"], "crop": now["crop"], "align": now["align"]}
    changed = [k for k in current if k != "seed" and saved.get(k) != current[k]]  # the seed lives in the streams
    if changed:
        return "it was made with other settings: " + ", ".join(f"{k} {saved.get(k)!r} (now {current[k]!r})"
                                                                for k in changed)
    return None


def resumable_state(G, path, job: ProjectionJob) -> ProjectionState:
    """The saved state of ``path``'s stopped projection, if this job can continue it; ``InputError`` naming the
    state file and the difference when it was made with another network, image or settings, or was edited."""
    file = state_path(job.outdir, path)
    state, meta = load_projection_state(file)
    problem = _state_mismatch(meta, _state_meta(G, Path(path), 0, job))
    if problem is None:
        try:
            check_state(state, job.run_cfg, 1)
        except InputError as err:
            problem = str(err)
    if problem is not None:
        raise InputError(f"{file}: cannot resume, {problem}; rerun without --resume and with --force to start over")
    return state
