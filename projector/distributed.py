"""A folder of photos across processes, GPUs and hosts: each rank projects its own share.

Launched with ``torchrun`` (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` in the environment) every
process runs ``project_sharded`` on the same file list; without it there is one rank and no
process group. The order of work:

1. every rank checks the outputs of all images before any work (refusing existing ones, and saved
   states of stopped projections, unless ``force`` or ``resume``; under ``resume`` a state made with
   another network, image or settings), and lists the images still to do (``resume`` skips those
   whose outputs are complete); a barrier makes every rank see the same list;
2. the list is cut into ``WORLD_SIZE`` contiguous shares; each rank projects its share in
   batches on its own device (``cuda:LOCAL_RANK`` on GPUs, the CPU otherwise; NCCL or gloo),
   image ``i`` of the whole list always with seed ``cfg.seed + i``;
3. the reports are gathered on rank 0, which writes one ``summary.json`` over all images
   (projected now or before, or failed: an image that cannot be read is listed with its reason
   while the others are projected) and leaves it untouched when nothing changed.

Every image is projected exactly once per run; outputs are written atomically per file, so a
killed run continues with ``resume``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from stylegan2_core.errors import InputError, S2EditError
from stylegan2_core.fileio import atomic_write

from .batch import (
    PreparedTarget,
    ProjectedFile,
    ProjectionJob,
    photos_per_batch,
    prepare_targets,
    project_files,
    projection_outputs,
    resumable_state,
    state_path,
)
from .outputs import OUTPUT_FILES, check_outputs, photo_folder, photo_folders
from .project import ProjectionStep, ProjectorConfig

__all__ = ["ProjectionJob", "Rank", "ShardedRun", "SUMMARY_NAME", "current_rank", "complete", "plan_shards", "project_sharded"]

SUMMARY_NAME = "summary.json"


@dataclass(frozen=True)
class Rank:
    """This process's place in the job and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


@dataclass(frozen=True)
class ShardedRun:
    """What ``project_sharded`` did: this rank's projections; on rank 0 also the summary file and its
    per-image entries (every image of the job, in input order); ``None`` and ``[]`` elsewhere."""

    projected: list[ProjectedFile]
    summary: Path | None
    images: list[dict]

    @property
    def failed(self) -> list[dict]:
        """The summary's entries of images that could not be projected (each with its ``failed`` reason)."""
        return [entry for entry in self.images if "failed" in entry]

    def raise_failures(self) -> None:
        """Raise when images failed: ``InputError`` (exit 2) naming the first when none could be projected,
        else ``S2EditError`` (exit 1) naming those that failed."""
        failed = self.failed
        if not failed:
            return
        if len(failed) == len(self.images):
            more = f" (and {len(failed) - 1} more images failed, see {self.summary})" if len(failed) > 1 else ""
            raise InputError(failed[0]["failed"] + more)
        names = ", ".join(Path(entry["image"]).name for entry in failed)
        raise S2EditError(f"{len(failed)} of {len(self.images)} images failed ({names}); the others are projected, "
                          f"the reasons are in {self.summary}")


def current_rank(device: str | torch.device | None = None) -> Rank:
    """Join the ``torchrun`` process group if there is one (NCCL on CUDA, gloo on CPU).

    ``device``: ``None`` means CUDA when available, else the CPU. Under ``torchrun`` with several
    processes a CUDA device becomes ``cuda:LOCAL_RANK``, one GPU per process.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
    if dev.type == "cuda" and world_size > 1:
        dev = torch.device("cuda", local_rank)
    if world_size > 1 and not torch.distributed.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        torch.distributed.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return Rank(rank, world_size, local_rank, dev)


def complete(path: Path, outdir) -> bool:
    """Whether ``path``'s outputs are all there and its report reads (what ``resume`` skips)."""
    folder = photo_folder(outdir, path)
    if not all((folder / name).is_file() for name in OUTPUT_FILES):
        return False
    try:
        json.loads((folder / "report.json").read_text())
    except (OSError, ValueError):
        return False
    return True


def plan_shards(todo: Sequence[int], world_size: int) -> list[list[int]]:
    """Cut the image indices ``todo`` into ``world_size`` contiguous shares of near-equal size."""
    base, extra = divmod(len(todo), world_size)
    shares, start = [], 0
    for r in range(world_size):
        size = base + (r < extra)
        shares.append(list(todo[start:start + size]))
        start += size
    return shares


def _consecutive_batches(indices: Sequence[int], batch_size: int) -> list[list[int]]:
    """Batches of at most ``batch_size`` indices that follow each other (one seed offset per batch)."""
    batches: list[list[int]] = []
    for i in indices:
        if batches and len(batches[-1]) < batch_size and batches[-1][-1] + 1 == i:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def _barrier(rank: Rank) -> None:
    if rank.world_size > 1:
        torch.distributed.barrier()


def _gather(rank: Rank, items: list) -> list:
    if rank.world_size == 1:
        return items
    gathered = [None] * rank.world_size if rank.is_main else None
    torch.distributed.gather_object(items, gathered, dst=0)
    return [x for part in gathered for x in part] if rank.is_main else []


def _write_summary(outdir: Path, paths: Sequence[Path], entries: dict[int, dict], cfg: ProjectorConfig
                   ) -> tuple[Path, list[dict]]:
    """``summary.json`` over every image (``entries`` by index: a report or ``{"failed": reason}``, else its
    ``report.json`` from an earlier run), rewritten only when its content changes."""
    images = []
    for i, path in enumerate(paths):
        entry = entries.get(i) or json.loads((photo_folder(outdir, path) / "report.json").read_text())
        images.append({"image": str(path), "outdir": str(photo_folder(outdir, path)), **entry})
    text = json.dumps({"images": images, "projector": asdict(cfg)}, indent=2) + "\n"
    target = outdir / SUMMARY_NAME
    if not target.is_file() or target.read_text() != text:
        atomic_write(target, lambda tmp: Path(tmp).write_text(text))
    return target, images


def _plan(G, paths: list[Path], job: ProjectionJob) -> list[int]:
    """The indices of the images still to do, after checking every output before any work: distinct names,
    no existing outputs unless ``force`` or ``resume``, and no saved state that this run would discard
    (without ``resume``) or could not continue (another network, image or settings)."""
    photo_folders(paths, job.outdir)  # refuses names that leave outdir and photos that share a folder
    todo = [i for i, p in enumerate(paths) if not (job.resume and complete(p, job.outdir))]
    saved = [paths[i] for i in todo if state_path(job.outdir, paths[i]).is_file()]
    if saved and not (job.resume or job.force):
        raise InputError(f"{state_path(job.outdir, saved[0])}: holds a stopped projection; pass --resume to "
                         "continue it or --force to discard it")
    if job.resume:
        for path in saved:
            resumable_state(G, path, job)
    # Partial outputs of an unfinished image are redone under resume; anything else needs force.
    check_outputs(projection_outputs([paths[i] for i in todo], job.outdir, job.save_video, align=job.align,
                                     tuned=job.tune_cfg is not None) + [job.outdir / SUMMARY_NAME],
                  force=job.force or job.resume)
    return todo


def _project_share(G, paths: list[Path], share: list[int], job: ProjectionJob, callback, should_stop
                   ) -> tuple[list[ProjectedFile], list[tuple[int, dict]]]:
    """This rank's images in batches of consecutive indices (image ``i`` with seed ``cfg.seed + i``):
    (the projected files, ``(index, report or {"failed": reason})`` per image). An image that cannot be
    read or prepared is listed as failed and the others go on."""
    batch_size = photos_per_batch(G, job.batch_size, job.tune_cfg, len(share))  # shared tuning: one per process
    projected, entries = [], []
    for batch in _consecutive_batches(share, batch_size):
        targets: dict[int, PreparedTarget] = {}
        for i in batch:
            try:
                targets[i] = prepare_targets([paths[i]], G.img_resolution, crop=job.crop, align=job.align)[0]
            except InputError as err:
                entries.append((i, {"failed": str(err)}))
        for readable in _consecutive_batches(list(targets), batch_size):
            seeded = replace(job, cfg=replace(job.cfg, seed=job.cfg.seed + readable[0]), batch_size=len(readable))
            done = project_files(G, [targets[i] for i in readable], seeded, callback=callback, should_stop=should_stop)
            projected += done
            entries += [(i, f.report) for i, f in zip(readable, done)]
    return projected, entries


def project_sharded(G, paths: Sequence[Path | str], job: ProjectionJob, *, rank: Rank | None = None,
                    callback: Callable[[list[Path], ProjectionStep], None] | None = None,
                    should_stop: Callable[[], bool] | None = None) -> ShardedRun:
    """Project this rank's share of ``paths`` as ``job`` says (see the module docstring and
    ``projector.batch.project_files``). Targets are read batch by batch, so memory stays bounded
    for folders of any size; an image that cannot be read is listed as failed in the summary
    (``ShardedRun.raise_failures``). ``job.resume`` also continues images stopped by ``should_stop``
    from their saved state.

    Raises ``InputError`` (on every rank, before any work) when outputs or saved states exist and neither
    ``force`` nor ``resume`` is set, or a saved state cannot be continued.
    """
    rank = rank or current_rank()
    paths = [Path(p) for p in paths]
    todo = _plan(G, paths, job)
    _barrier(rank)  # every rank has listed the work before any rank writes
    mine = plan_shards(todo, rank.world_size)[rank.rank]
    projected, entries = _project_share(G, paths, mine, job, callback, should_stop)
    gathered = dict(_gather(rank, entries))
    summary, images = _write_summary(job.outdir, paths, gathered, job.cfg) if rank.is_main else (None, [])
    _barrier(rank)
    return ShardedRun(projected, summary, images)
