"""Writing a command's outputs: the no-overwrite check, the output manifest, one projection's results.

Every output folder holds a manifest (``s2edit-outputs.json``) listing, per command, the files that
command wrote there. With ``--force`` a command replaces its own output set as a whole: the files its
previous run listed that the new run did not write are removed (``record_outputs``). Files that no
manifest lists are never deleted.
"""

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

import torch

from stylegan2_core.errors import InputError
from stylegan2_core.fileio import atomic_write

from .images import Preprocessing, save_image
from .latent_file import model_provenance, save_latent, save_projected_w_npz
from .metrics.image_quality import psnr, ssim
from .project import ProjectionResult, ProjectorConfig

__all__ = ["OUTPUT_FILES", "MANIFEST_NAME", "check_outputs", "record_outputs", "projection_report",
           "write_projection"]

log = logging.getLogger(__name__)
OUTPUT_FILES = ("target.png", "proj.png", "projected_w.npz", "latent.safetensors", "report.json")
MANIFEST_NAME = "s2edit-outputs.json"
MANIFEST_VERSION = 1
_COMMAND_RE = re.compile(r"[a-z][a-z0-9_-]*")


def check_outputs(paths, force: bool = False) -> list[Path]:
    """The one no-overwrite check, run before any work: refuse existing outputs unless ``force``,
    and make sure every output's folder exists (created here) and is writable.

    Raises ``InputError`` naming the first problem: an existing file without ``force``, an
    output that is a folder, a parent that is a file, or a folder that cannot be written.
    """
    import os

    paths = [Path(p) for p in paths]
    for path in paths:
        if path.is_dir():
            raise InputError(f"{path}: is a folder, expected a file path for an output")
    existing = [str(p) for p in paths if p.exists()]
    if existing and not force:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise InputError(f"{existing[0]} already exists{more}; pass --force to overwrite")
    for parent in sorted({p.parent for p in paths}):
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise InputError(f"{parent}: exists and is not a folder; outputs cannot go there") from None
        except OSError as err:
            raise InputError(f"{parent}: cannot create the output folder ({err.strerror or err})") from None
        if not os.access(parent, os.W_OK | os.X_OK):
            raise InputError(f"{parent}: output folder is not writable") from None
    return paths


def _read_manifest(folder: Path) -> dict[str, list[str]]:
    """``{command: [file names]}`` from ``folder``'s manifest; empty when there is none or it is unreadable."""
    try:
        data = json.loads((folder / MANIFEST_NAME).read_text())
        return {cmd: [n for n in names if isinstance(n, str)]
                for cmd, names in data["outputs"].items() if isinstance(names, list)}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _own_file(folder: Path, name: str) -> Path | None:
    """``folder / name`` when ``name`` is a plain file name in ``folder`` (never a path elsewhere), else None."""
    if not name or name in (".", "..", MANIFEST_NAME) or Path(name).name != name:
        return None
    path = folder / name
    return path if path.is_file() and not path.is_symlink() else None


def record_outputs(command: str, written: Iterable, force: bool = False) -> list[Path]:
    """List ``written`` as ``command``'s outputs in each of their folders' manifest; returns the files removed.

    With ``force`` the new files replace the command's previous output set in that folder: files the
    previous manifest listed for ``command`` that this run did not write are deleted (after the new
    outputs exist). Without ``force`` the set grows (earlier outputs were kept, so they stay listed).
    Other commands' entries and unlisted files are left alone. Call it after the outputs are written.
    """
    if not _COMMAND_RE.fullmatch(command):
        raise InputError(f"bad command name for the output manifest: {command!r}")
    folders: dict[Path, set[str]] = {}
    for path in map(Path, written):
        folders.setdefault(path.parent, set()).add(path.name)
    removed = []
    for folder, names in folders.items():
        manifest = _read_manifest(folder)
        previous = [n for n in manifest.get(command, []) if _own_file(folder, n) is not None and n not in names]
        if force:
            for name in previous:
                path = folder / name
                path.unlink()
                removed.append(path)
                log.info("%s: removed (an output of the previous %s run)", path, command)
        manifest[command] = sorted(names) if force else sorted(names.union(previous))
        text = json.dumps({"format_version": MANIFEST_VERSION, "outputs": manifest}, indent=2) + "\n"
        atomic_write(folder / MANIFEST_NAME, lambda tmp, text=text: Path(tmp).write_text(text))
    return removed


def projection_report(result: ProjectionResult, i: int, target: torch.Tensor, cfg: ProjectorConfig) -> dict:
    """Final agreement between image ``i`` of the projection and its target."""
    img = result.images[i:i + 1].clamp(-1, 1)
    tgt = target[i:i + 1].to(img.device)
    return {
        "perceptual_distance": float(result.distance[i]),
        "loss": result.loss_name,
        "psnr_db": float(psnr(img, tgt)[0]),
        "ssim": float(ssim(img, tgt)[0]),
        "steps": result.steps,
        "seconds": round(result.seconds, 3),
        "device": result.device,
        "space": cfg.space,
        "noise": ("optimize" if cfg.optimize_noise else "fixed") if result.noise else "none",  # none: StyleGAN3
        "seed": cfg.seed + i,
    }


def _write_tuned(outdir: Path, G, tuned, i: int) -> tuple[dict, dict]:
    """Write image ``i``'s tuned update; returns (latent metadata entry, report entry)."""
    from stylegan2_core.fileio import sha256_file

    from .tuned_file import TUNED_FILE, save_tuned

    path = save_tuned(outdir / TUNED_FILE, G, tuned.updates[i], tuned.config)
    cfg = tuned.config
    report = {"perceptual_distance": float(tuned.distance[i]), "psnr_db": float(tuned.psnr[i]),
              "ssim": float(tuned.ssim[i]), "steps": tuned.steps[0 if cfg.shared else i],
              "seconds": round(tuned.seconds, 3), "update": cfg.update, "locality": cfg.locality,
              "shared": cfg.shared, "file": TUNED_FILE}
    return {"file": TUNED_FILE, "sha256": sha256_file(path)}, report


def write_projection(outdir, result: ProjectionResult, i: int, target: torch.Tensor, G, cfg: ProjectorConfig,
                     preprocessing: Preprocessing, source: str, extra_report: dict | None = None,
                     extra_meta: dict | None = None, tuned=None) -> dict:
    """Write ``OUTPUT_FILES`` for image ``i`` into ``outdir``; returns the report.

    ``extra_meta`` goes into the latent's metadata too (e.g. the face alignment behind the target).
    ``tuned``: a ``projector.tune.TuneResult`` for the batch: then ``tuned.safetensors`` is written
    too, the latent records it, ``proj.png`` is the tuned render and the report gains a ``tuned``
    block (the top-level figures stay the pivot's).
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    ws = result.ws[i:i + 1]
    noise = [m[i:i + 1] for m in result.noise]
    report = {**projection_report(result, i, target, cfg), **(extra_report or {})}
    tuned_meta = None
    if tuned is not None:
        tuned_meta, report["tuned"] = _write_tuned(outdir, G, tuned, i)
    save_image(outdir / "target.png", target[i])
    save_image(outdir / "proj.png", result.images[i] if tuned is None else tuned.images[i])
    save_projected_w_npz(outdir / "projected_w.npz", ws)
    checkpoint = getattr(G, "checkpoint", None)
    save_latent(outdir / "latent.safetensors", ws, noise, meta={
        "space": cfg.space,
        "noise": report["noise"],
        **model_provenance(G),
        "model_path": checkpoint.path if checkpoint else None,
        "resolution": G.img_resolution,
        "preprocessing": asdict(preprocessing),
        "loss": result.loss_name,
        "source": source,
        "projector": asdict(cfg),
        **(extra_meta or {}),
        **({"tuned": tuned_meta} if tuned_meta else {}),
    })
    atomic_write(outdir / "report.json", lambda tmp: Path(tmp).write_text(json.dumps(report, indent=2) + "\n"))
    return report
