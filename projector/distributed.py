"""A folder of photos across processes, GPUs and hosts: each rank projects its own share.

Launched with ``torchrun`` (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` in the environment) every
process runs ``project_sharded`` on the same file list; without it there is one rank and no
process group. The order of work:

1. every rank checks the outputs of all images before any work (refusing existing ones unless
   ``force`` or ``resume``), and lists the images still to do (``resume`` skips those whose
   outputs are complete); a barrier makes every rank see the same list;
2. the list is cut into ``WORLD_SIZE`` contiguous shares; each rank projects its share in
   batches on its own device (``cuda:LOCAL_RANK`` on GPUs, the CPU otherwise; NCCL or gloo),
   image ``i`` of the whole list always with seed ``cfg.seed + i``;
3. the reports are gathered on rank 0, which writes one ``summary.json`` over all images
   (projected now or before) and leaves it untouched when nothing changed.

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

from stylegan2_core.fileio import atomic_write

from .batch import (
    PreparedTarget,
    ProjectedFile,
    photos_per_batch,
    prepare_targets,
    project_files,
    projection_outputs,
)
from .outputs import OUTPUT_FILES, check_outputs, photo_folder, photo_folders
from .project import ProjectionStep, ProjectorConfig

__all__ = ["Rank", "ShardedRun", "SUMMARY_NAME", "current_rank", "complete", "plan_shards", "project_sharded"]

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


def _write_summary(outdir: Path, paths: Sequence[Path], reports: dict[int, dict], cfg: ProjectorConfig
                   ) -> tuple[Path, list[dict]]:
    """``summary.json`` over every image (``reports`` by index, else its ``report.json`` from an
    earlier run), rewritten only when its content changes."""
    images = []
    for i, path in enumerate(paths):
        report = reports.get(i) or json.loads((photo_folder(outdir, path) / "report.json").read_text())
        images.append({"image": str(path), "outdir": str(photo_folder(outdir, path)), **report})
    text = json.dumps({"images": images, "projector": asdict(cfg)}, indent=2) + "\n"
    target = outdir / SUMMARY_NAME
    if not target.is_file() or target.read_text() != text:
        atomic_write(target, lambda tmp: Path(tmp).write_text(text))
    return target, images


def project_sharded(G, paths: Sequence[Path | str], outdir, cfg: ProjectorConfig, *, rank: Rank | None = None,
                    resume: bool = False, force: bool = False, batch_size: int | None = None, crop: bool = True,
                    align: bool = False, save_video: bool = False, video_every: int = 10,
                    c: torch.Tensor | None = None, distance=None, init=None,
                    callback: Callable[[list[Path], ProjectionStep], None] | None = None,
                    should_stop: Callable[[], bool] | None = None, tune_cfg=None) -> ShardedRun:
    """Project this rank's share of ``paths`` (see the module docstring); the keyword arguments are
    ``projector.batch.project_files``'s. Targets are read batch by batch, so memory stays bounded
    for folders of any size. ``resume`` also continues images stopped by ``should_stop`` from
    their saved state (``project_files``).

    Raises ``InputError`` (on every rank, before any work) when outputs exist and neither
    ``force`` nor ``resume`` is set.
    """
    rank = rank or current_rank()
    outdir = Path(outdir)
    paths = [Path(p) for p in paths]
    photo_folders(paths, outdir)  # refuses names that leave outdir and photos that share a folder
    done_before = [i for i, p in enumerate(paths) if resume and complete(p, outdir)]
    todo = [i for i in range(len(paths)) if i not in set(done_before)]
    # Partial outputs of an unfinished image are redone under resume; anything else needs force.
    check_outputs(projection_outputs([paths[i] for i in todo], outdir, save_video, align=align,
                                     tuned=tune_cfg is not None) + [outdir / SUMMARY_NAME], force=force or resume)
    _barrier(rank)  # every rank has listed the work before any rank writes
    mine = plan_shards(todo, rank.world_size)[rank.rank]
    batch_size = photos_per_batch(G, batch_size, tune_cfg, len(mine))  # shared tuning: one generator per process
    projected, reports = [], []
    for batch in _consecutive_batches(mine, batch_size):
        targets: list[PreparedTarget] = prepare_targets([paths[i] for i in batch], G.img_resolution, crop=crop,
                                                        align=align)
        done = project_files(G, targets, outdir, replace(cfg, seed=cfg.seed + batch[0]), c=c, distance=distance,
                             init=init, batch_size=len(batch), save_video=save_video, video_every=video_every,
                             callback=callback, should_stop=should_stop, resume=resume, force=force,
                             tune_cfg=tune_cfg)
        projected += done
        reports += [(i, f.report) for i, f in zip(batch, done)]
    gathered = dict(_gather(rank, reports))
    summary, images = _write_summary(outdir, paths, gathered, cfg) if rank.is_main else (None, [])
    _barrier(rank)
    return ShardedRun(projected, summary, images)
