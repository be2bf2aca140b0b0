"""Writing one projection's results: images, latents (ours and the official npz), report."""

import json
from dataclasses import asdict
from pathlib import Path

import torch

from stylegan2_core.errors import InputError
from stylegan2_core.fileio import atomic_write

from .io import Preprocessing, save_image
from .latent_file import save_latent, save_projected_w_npz
from .metrics.image_quality import psnr, ssim
from .project import ProjectionResult, ProjectorConfig

__all__ = ["OUTPUT_FILES", "check_outputs", "projection_report", "write_projection"]

OUTPUT_FILES = ("target.png", "proj.png", "projected_w.npz", "latent.safetensors", "report.json")


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
        "noise": "optimize" if cfg.optimize_noise else "fixed",
        "seed": cfg.seed + i,
    }


def _write_tuned(outdir: Path, G, tuned, i: int) -> tuple[dict, dict]:
    """Write image ``i``'s tuned update; returns (latent metadata entry, report entry)."""
    from stylegan2_core.fileio import sha256_file

    from .tune import TUNED_FILE, save_tuned

    path = save_tuned(outdir / TUNED_FILE, G, tuned.updates[i], tuned.config)
    cfg = tuned.config
    report = {"perceptual_distance": float(tuned.distance[i]), "psnr_db": float(tuned.psnr[i]),
              "ssim": float(tuned.ssim[i]), "steps": tuned.steps[0 if cfg.shared else i],
              "seconds": round(tuned.seconds, 3), "update": cfg.update, "locality": cfg.locality,
              "shared": cfg.shared, "file": TUNED_FILE}
    return {"file": TUNED_FILE, "sha256": sha256_file(path)}, report


def write_projection(outdir, result: ProjectionResult, i: int, target: torch.Tensor, G, cfg: ProjectorConfig,
                     preprocessing: Preprocessing, source: str, extra_report: dict | None = None,
                     tuned=None) -> dict:
    """Write ``OUTPUT_FILES`` for image ``i`` into ``outdir``; returns the report.

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
        "model_sha256": checkpoint.sha256 if checkpoint else None,
        "model_path": checkpoint.path if checkpoint else None,
        "resolution": G.img_resolution,
        "preprocessing": asdict(preprocessing),
        "loss": result.loss_name,
        "source": source,
        "projector": asdict(cfg),
        **({"tuned": tuned_meta} if tuned_meta else {}),
    })
    atomic_write(outdir / "report.json", lambda tmp: Path(tmp).write_text(json.dumps(report, indent=2) + "\n"))
    return report
