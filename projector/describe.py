"""What a latent or direction file holds, in words: ``s2edit info`` on a file that is not a checkpoint.

``describe_file(path)`` sniffs the file (never unpickling anything) and returns a ``FileDescription``
for latent files (ours, the official ``projected_w.npz``, ``.npz`` with ``ws``) and direction files
(ours, or a bare ``.npy`` array), or None when the file is neither, so the caller can treat it as a
generator checkpoint (``stylegan2_core.load_generator``).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stylegan2_core.errors import CheckpointError
from stylegan2_core.fileio import is_safetensors, read_metadata

from .latent_file import STATE_KIND

__all__ = ["FileDescription", "describe_file", "file_kind"]


@dataclass
class FileDescription:
    """``kind`` ('latent', 'directions', 'projection-state' or 'array') and ``rows`` of (field, value) strings, in display order."""

    path: Path
    kind: str
    rows: list[tuple[str, str]] = field(default_factory=list)


def file_kind(path) -> str | None:
    """'latent', 'directions' or 'array' (a bare ``.npy``: a latent or a direction) by content; None otherwise."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(16)
    if is_safetensors(head):
        try:
            meta = read_metadata(path)
        except CheckpointError:
            return None
        if meta is not None:
            return meta.get("kind") if meta.get("kind") in ("latent", "directions", STATE_KIND, "encoder") else None
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                keys = set(f.keys())
        except Exception:  # a safetensors reader failure: not ours to describe
            return None
        return "directions" if "directions" in keys else "latent" if keys & {"ws", "w"} else None
    if head[:6] == b"\x93NUMPY":
        return "array"
    if head[:2] == b"PK":
        try:
            with np.load(path, allow_pickle=False) as data:
                names = set(data.files)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            return None
        return "directions" if "directions" in names else "latent" if names & {"ws", "w"} else None
    return None


def _model(meta: dict) -> str:
    if meta.get("model_id"):
        return f"id {meta['model_id']}"
    if meta.get("model_sha256"):
        return f"checkpoint sha256 {meta['model_sha256']} (no model id: an older file)"
    return "not recorded"


def _latent_rows(path: Path) -> list[tuple[str, str]]:
    from .latent_file import load_latent

    record = load_latent(path)
    meta = record.meta
    ws = record.ws
    distinct = bool((ws - ws[:, :1]).abs().max() > 0) if ws.shape[1] > 1 else False
    rows = [("format", meta.get("format", "?")),
            ("latents", f"{ws.shape[0]} x [num_ws {ws.shape[1]}, w_dim {ws.shape[2]}]"),
            ("space", meta.get("space") or ("w+ (layers differ)" if distinct else "w (the same w on every layer)")),
            ("model", _model(meta))]
    if meta.get("resolution"):
        rows.append(("resolution", f"{meta['resolution']} px"))
    if meta.get("source"):
        rows.append(("source", str(meta["source"])))
    prep = meta.get("preprocessing")
    if isinstance(prep, dict):
        size = prep.get("source_size")
        text = f"{prep.get('mode', '?')}" + (f" from {size[0]} x {size[1]}" if isinstance(size, list) else "")
        if prep.get("crop_box"):
            text += f", crop box {prep['crop_box']}"
        rows.append(("preprocessing", text))
    alignment = meta.get("alignment")
    if isinstance(alignment, dict):
        box = ", ".join(f"{v:.0f}" for v in alignment.get("box", []))
        rows.append(("alignment", f"FFHQ, face box ({box}) in the photo; {alignment.get('file', '?')} for paste"))
    if record.noise:
        sizes = sorted({f"{m.shape[-2]}x{m.shape[-1]}" for m in record.noise}, key=lambda s: int(s.split("x")[0]))
        rows.append(("noise maps", f"{len(record.noise)} ({', '.join(sizes)})"))
    else:
        rows.append(("noise maps", "none (the network's own noise is used)"))
    if meta.get("loss"):
        rows.append(("loss", str(meta["loss"])))
    if isinstance(meta.get("projector"), dict) and "steps" in meta["projector"]:
        rows.append(("steps", str(meta["projector"]["steps"])))
    return rows


def _direction_rows(path: Path) -> list[tuple[str, str]]:
    from .edits.direction_file import load_directions

    ds = load_directions(path)
    names = ", ".join(ds.names[:12]) + (f", ... ({len(ds) - 12} more)" if len(ds) > 12 else "")
    rows = [("directions", f"{len(ds)} x w_dim {ds.directions.shape[1]}"),
            ("names", names),
            ("method", ds.method),
            ("layers", "all" if ds.layers is None else ",".join(map(str, ds.layers))),
            ("model", _model(ds.meta))]
    if ds.meta.get("source"):
        rows.append(("source", str(ds.meta["source"])))
    if ds.meta.get("labels"):
        rows.append(("labels", str(ds.meta["labels"])))
    values = [f"{v:.4g}" for v in ds.values.tolist()[:12] if v == v]
    if values:
        rows.append(("values", ", ".join(values)))
    return rows


def describe_file(path) -> FileDescription | None:
    """A latent or direction file described (``FileDescription``); None for anything else (e.g. a checkpoint).

    Raises ``InputError`` (naming the file) for a latent or direction file whose content is bad.
    """
    path = Path(path)
    if not path.is_file():
        return None
    kind = file_kind(path)
    if kind is None:
        return None
    if kind == "array":
        arr = np.load(path, allow_pickle=False, mmap_mode="r")
        shape = list(arr.shape)
        guess = {1: "one w, or one direction [w_dim]", 2: "one latent [num_ws, w_dim], w vectors [N, w_dim] or "
                 "directions [k, w_dim]", 3: "latents [N, num_ws, w_dim]"}.get(len(shape), "neither a latent nor "
                                                                                    "directions")
        return FileDescription(path, "array", [("format", "npy"), ("shape", str(shape)), ("dtype", str(arr.dtype)),
                                               ("read as", guess)])
    if kind == STATE_KIND:
        return FileDescription(path, kind, _state_rows(path))
    if kind == "encoder":
        return FileDescription(path, kind, _encoder_rows(path))
    rows = _latent_rows(path) if kind == "latent" else _direction_rows(path)
    return FileDescription(path, kind, rows)


def _state_rows(path: Path) -> list[tuple[str, str]]:
    from .latent_file import load_projection_state

    state, meta = load_projection_state(path)
    return [("stopped before step", f"{state.step} of {state.num_steps}"), ("space", state.space),
            ("starts", str(state.starts)), ("source", str(meta.get("source", "?"))), ("model", _model(meta)),
            ("continue with", "s2edit project SOURCE ... --resume (the same options)")]


def _encoder_rows(path: Path) -> list[tuple[str, str]]:
    from .encoder import describe_encoder

    return describe_encoder(path)
