"""Project many photos: read and prepare the targets, optimize them in batches, write each one's outputs.

This is ``s2edit project`` as a function::

    from projector import ProjectorConfig
    from projector.batch import project_files
    from projector.images import collect_images

    done = project_files(G, collect_images(["photos/"]), "out", ProjectorConfig(steps=500))
    for item in done:
        print(item.path, item.report["psnr_db"])
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from stylegan2_core.errors import Interrupted
from stylegan2_core.image import to_uint8

from .images import Preprocessing, load_target, prepare_target
from .latent_file import LatentRecord, load_projection_state, save_projection_state
from .outputs import OUTPUT_FILES, photo_folder, record_outputs, write_projection
from .project import (
    ProjectionInterrupted,
    ProjectionState,
    ProjectionStep,
    ProjectorConfig,
    images_per_batch,
    project,
)
from .tune import TUNED_FILE, TuneConfig, TuneStep, tune
from .video import VideoWriter

if TYPE_CHECKING:
    from .align import AlignedFace

__all__ = ["ALIGNMENT_NAME", "PreparedTarget", "ProjectedFile", "STATE_NAME", "photos_per_batch", "prepare_targets",
           "projection_outputs", "project_files", "state_path"]

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


def project_files(G, targets: Sequence[PreparedTarget | Path | str], outdir, cfg: ProjectorConfig, *,
                  c: torch.Tensor | None = None, distance=None, init: LatentRecord | None = None,
                  batch_size: int | None = None, crop: bool = True, align: bool = False, save_video: bool = False,
                  video_every: int = 10, video_fps: float = 10, force: bool = False,
                  callback: Callable[[list[Path], ProjectionStep | TuneStep], None] | None = None,
                  should_stop: Callable[[], bool] | None = None, resume: bool = False,
                  tune_cfg: TuneConfig | None = None) -> list[ProjectedFile]:
    """Project photos ``batch_size`` at a time (default ``photos_per_batch``: 4 on a GPU, fewer on a
    CPU for large networks) and write ``<outdir>/<stem>/`` for each (``OUTPUT_FILES``).

    Args:
        targets: photo paths (prepared with ``crop`` / ``align``) or ``prepare_targets`` results.
        cfg: projector settings; image ``i`` (in the order given) uses seed ``cfg.seed + i``.
        c: class label [1, c_dim] for conditional networks.
        distance: perceptual distance (``projector.losses.make_perceptual``); default: ``project``'s.
        init: a latent file's record to start from (its ws for every image, its noise maps if saved).
        save_video: also write ``proj.mp4`` per photo, target | projection, every ``video_every`` steps.
        align: FFHQ-align loose photos first; aligned targets also get ``alignment.json`` (for ``paste``).
        callback: ``callback(batch_paths, step)`` after every optimization step (progress bars): a
            ``ProjectionStep``, then, when tuning, a ``projector.tune.TuneStep`` per tuning step.
        should_stop: checked after every step; when it turns True (Ctrl-C, SIGTERM), the batch's
            images get a resumable ``<stem>/resume.safetensors`` and ``Interrupted`` is raised.
        resume: continue the images that have such a state from where they stopped (exactly: the
            result equals an uninterrupted run's); the others are projected from the start.
        tune_cfg: also tune the generator around each W/W+ pivot (``projector.tune``); writes
            ``tuned.safetensors`` per photo, and ``proj.png`` is the tuned render.

    Returns one ``ProjectedFile`` per photo, in order. Existing outputs are overwritten: check
    ``projection_outputs`` first (``projector.outputs.check_outputs``). Each photo's files are recorded
    as project's output set in its folder (``record_outputs``); with ``force`` they replace the previous
    run's (e.g. its ``proj.mp4`` goes when this run writes no video).
    """
    outdir = Path(outdir)
    prepared = [t if isinstance(t, PreparedTarget) else None for t in targets]
    loose = [Path(t) for t in targets if not isinstance(t, PreparedTarget)]
    fresh = iter(prepare_targets(loose, G.img_resolution, crop=crop, align=align))
    prepared = [t if t is not None else next(fresh) for t in prepared]
    init_noise = init.noise if init is not None and init.noise else None
    batch_size = photos_per_batch(G, batch_size, tune_cfg, len(prepared))
    states = {i: load_projection_state(state_path(outdir, t.path))[0] for i, t in enumerate(prepared)
              if resume and state_path(outdir, t.path).is_file()}
    done: dict[int, ProjectedFile] = {}
    for batch in _batches(len(prepared), batch_size, states):
        chunk = [prepared[i] for i in batch]
        paths = [t.path for t in chunk]
        target = torch.cat([t.image for t in chunk])
        seeds = [cfg.seed + i for i in batch]
        state = ProjectionState.stack([states[i] for i in batch]) if batch[0] in states else None
        init_ws = init.ws.expand(len(chunk), -1, -1) if init is not None and state is None else None
        with contextlib.ExitStack() as stack:
            writers = [stack.enter_context(VideoWriter(photo_folder(outdir, p) / VIDEO_NAME, fps=video_fps)) for p in paths] \
                if save_video else []

            def on_step(s: ProjectionStep, writers=writers, target=target, paths=paths) -> None:
                if callback is not None:
                    callback(paths, s)
                if writers and (s.step % video_every == 0 or s.step == s.num_steps - 1):
                    frames = to_uint8(torch.cat([target.to(s.images.device), s.images.clamp(-1, 1)], dim=3))
                    for writer, frame in zip(writers, frames):
                        writer.append(frame)

            try:
                result = project(G, target, cfg, c=c, distance=distance, init_ws=init_ws, init_noise=init_noise,
                                 seeds=seeds, callback=on_step, should_stop=should_stop, state=state)
            except ProjectionInterrupted as stop:
                _save_states(stop.state, chunk, seeds, outdir, cfg, G)
                raise Interrupted(f"stopped before step {stop.state.step} of {cfg.steps}; the state of "
                                  f"{', '.join(p.stem for p in paths)} is saved in <outdir>/<name>/{STATE_NAME}: "
                                  "rerun the same command with --resume to continue") from None
        tuned = None
        if tune_cfg is not None:
            tuned = tune(G, target, result.ws, tune_cfg, distance=distance, noise=result.noise, c=c, seed=seeds[0],
                         callback=(lambda s, paths=paths: callback(paths, s)) if callback else None)
        for i, (index, t) in enumerate(zip(batch, chunk)):
            extra = {"batch_size": len(chunk), "seed": seeds[i]}
            if state is not None:
                extra["resumed_from_step"] = state.step
            folder = photo_folder(outdir, t.path)
            report = write_projection(folder, result, i, target, G, cfg, t.preprocessing, str(t.path),
                                      extra_report=extra, extra_meta=t.source_meta(), tuned=tuned)
            if t.alignment is not None:
                from .align import save_alignment

                save_alignment(t.alignment, folder / ALIGNMENT_NAME, source=t.path.resolve())
            state_path(outdir, t.path).unlink(missing_ok=True)
            record_outputs("project", projection_outputs([t.path], outdir, save_video, align=t.alignment is not None,
                                                          tuned=tune_cfg is not None), force)
            done[index] = ProjectedFile(t.path, folder, report)
    return [done[i] for i in range(len(prepared))]


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


def _save_states(state: ProjectionState, chunk, seeds, outdir, cfg: ProjectorConfig, G) -> None:
    checkpoint = getattr(G, "checkpoint", None)
    for i, t in enumerate(chunk):
        save_projection_state(state_path(outdir, t.path), state.image(i), meta={
            "source": str(t.path), "seed": seeds[i], "projector": asdict(cfg),
            "model_id": getattr(checkpoint, "model_id", None)})
