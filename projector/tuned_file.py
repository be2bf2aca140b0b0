"""Tuned files: the update pivotal tuning leaves (``tuned.safetensors``) and how latents refer to it.

A tuned file holds one update (``projector.tune``) and the base model it is for; a latent written by
``s2edit project --tune`` records it (``tuned: {file, sha256}``) so that edits render with it. A latent
may refer only to a file in its own folder, by the sha256 of that file.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from stylegan2_core import InputError
from stylegan2_core.fileio import read_safetensors, safetensors_metadata, sha256_file, write_safetensors

from .latent_file import load_latent, model_provenance
from .tune import TuneConfig, apply_update, check_update

__all__ = ["TUNED_FILE", "TUNED_KIND", "FORMAT_VERSION", "model_sha256", "save_tuned", "read_tuned", "load_tuned",
           "recorded_tuned_file", "tuned_generator"]

TUNED_KIND = "tuned"
TUNED_FILE = "tuned.safetensors"  # its name next to a projection's outputs
FORMAT_VERSION = 1
_SHA256 = re.compile(r"[0-9a-f]{64}")


def model_sha256(G) -> str:
    """The base model's file sha256 (``G.checkpoint.sha256``), else its content identity."""
    provenance = model_provenance(G)
    return provenance["model_sha256"] or provenance["model_id"]


def save_tuned(path, G, update: dict[str, torch.Tensor], cfg: TuneConfig | None = None,
               meta: dict | None = None) -> Path:
    """Write ``update`` as ``tuned.safetensors``-style file, atomically, with the base model's sha256."""
    check_update(G, update, str(path))
    info = {"kind": TUNED_KIND, "format_version": FORMAT_VERSION, "model_sha256": model_sha256(G),
            "model_id": model_provenance(G)["model_id"],
            "update": "lora" if any(k.endswith(".lora_a") for k in update) else "full",
            "config": cfg.to_dict() if cfg is not None else None, **(meta or {})}
    return write_safetensors(path, update, info)


def read_tuned(path) -> tuple[dict[str, torch.Tensor], dict]:
    """The update and metadata of a tuned file; one-line errors for a missing, corrupt or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: tuned generator file not found")
    tensors, meta = read_safetensors(path)
    if not meta or meta.get("kind") != TUNED_KIND:
        raise InputError(f"{path}: not a tuned generator file (no kind 'tuned' in its metadata)")
    if meta.get("format_version") != FORMAT_VERSION:
        raise InputError(f"{path}: tuned file format {meta.get('format_version')!r}, this version reads "
                         f"{FORMAT_VERSION}")
    return tensors, meta


def load_tuned(G, path, check_sha256: str | None = None):
    """``G`` with the update saved at ``path`` applied; refuses a file made for another base model.

    ``check_sha256``: optional expected sha256 of the file itself (as recorded in a latent file).
    """
    path = Path(path)
    tensors, meta = read_tuned(path)
    if check_sha256 is not None and sha256_file(path) != check_sha256:
        raise InputError(f"{path}: tuned file changed since the latent was written (sha256 mismatch)")
    key = "model_id" if meta.get("model_id") else "model_sha256"  # by content when recorded, else by file
    expected = model_provenance(G)["model_id"] if key == "model_id" else model_sha256(G)
    if meta.get(key) != expected:
        raise InputError(f"{path}: tuned for another model ({key} {str(meta.get(key))[:12]}), "
                         f"not this network ({expected[:12]})")
    return apply_update(G, {k: v.float() for k, v in tensors.items()}, where=str(path))


def recorded_tuned_file(latent_path) -> tuple[Path, str] | None:
    """The tuned file a latent file records and its sha256, or None when it records none.

    The reference must name a file inside the latent's own folder (no absolute path, no ``..``
    out of it, no symlink leading out of it) and carry the file's sha256; anything else is refused,
    so a latent from elsewhere cannot make a command read files it was not given.
    """
    latent_path = Path(latent_path)
    entry = safetensors_metadata(latent_path).get("tuned")
    if not entry:
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str) or not entry["file"]:
        raise InputError(f"{latent_path}: unreadable 'tuned' entry in its metadata")
    sha256 = entry.get("sha256")
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise InputError(f"{latent_path}: its 'tuned' entry has no sha256 of the tuned file")
    folder = latent_path.parent.resolve()
    path = latent_path.parent / entry["file"]
    if Path(entry["file"]).is_absolute() or not path.resolve().is_relative_to(folder):
        raise InputError(f"{latent_path}: its tuned file {entry['file']!r} is outside the latent's folder")
    return path, sha256


def _check_renders(tuned, latent_path, path: Path) -> None:
    """The tuned generator draws the latent it was recorded with as finite pixels (a finite but huge
    update draws NaN or inf, which images show as black)."""
    record = load_latent(latent_path, tuned)
    with torch.no_grad():
        images = tuned.synthesis(record.ws[:1], noise=[m[:1] for m in record.noise] if record.noise else None,
                                 noise_mode="const")
    if not torch.isfinite(images).all():
        raise InputError(f"{path}: the tuned generator draws NaN or inf (its update is far out of range)")


def tuned_generator(G, sources) -> tuple[object, str | None]:
    """The generator to render ``sources`` (latent files or seeds) with, and a one-line note.

    When latent files record a tuned generator (``s2edit project --tune``), ``G`` with that
    update applied; latents tuned separately cannot share one render and are refused.
    """
    found = {}
    for source in sources:
        entry = recorded_tuned_file(source)
        if entry is not None:
            found.setdefault(entry[1] or str(entry[0]), (entry, source))
    if not found:
        return G, None
    if len(found) > 1:
        (_, a), (_, b) = list(found.values())[:2]
        raise InputError(f"{a} and {b} were tuned separately and cannot be rendered by one generator: use them "
                         "one at a time, tune them together (--tune-shared) or pass --no-tuned")
    (path, sha256), source = next(iter(found.values()))
    tuned = load_tuned(G, path, check_sha256=sha256)
    _check_renders(tuned, source, path)
    return tuned, f"using the tuned generator {path} recorded in {source}"
