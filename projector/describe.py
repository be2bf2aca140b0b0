"""What a latent or direction file holds, in words: ``s2edit info`` on a file that is not a checkpoint.

``describe_file(path)`` sniffs the file (never unpickling anything) and returns a ``FileDescription``
for latent files (ours, the official ``projected_w.npz``, ``.npz`` with ``ws``) and direction files
(ours, the published formats ``projector.edits.published`` reads, or a bare ``.npy`` array), or None
when the file is neither, so the caller can treat it as a generator checkpoint (``load_generator``).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stylegan2_core.errors import CheckpointError, InputError
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
    if _published_directions(path, head):
        return "directions"
    if head[:2] == b"PK":
        try:
            with np.load(path, allow_pickle=False) as data:
                names = set(data.files)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            return None
        return "directions" if names & {"directions", "lat_comp"} else "latent" if names & {"ws", "w"} else None
    return None


def _published_directions(path: Path, head: bytes) -> bool:
    """A torch ``.pt`` direction file (e4e/PTI, SeFa, anycost-gan), read without running code; checkpoints
    and anything else the direction reader refuses are left to the checkpoint loader."""
    from stylegan2_core.errors import S2EditError

    from .edits.published import MAX_TORCH_BYTES, is_torch_file, read_direction_file

    if not is_torch_file(path, head) or path.stat().st_size > MAX_TORCH_BYTES:
        return False
    try:
        read_direction_file(path)
    except S2EditError:
        return False
    return True


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


_FORMATS = {  # meta['format'] -> (what it is, what its values are)
    "s2edit": ("s2edit directions", "values"),
    "boundary": ("InterFaceGAN boundary (.npy)", "norm in the file"),
    "rows": ("bare array of directions (.npy)", "norms in the file"),
    "tensor": ("e4e / PTI direction tensor (.pt)", "norm in the file"),
    "e4e-ganspace": ("e4e / PTI GANSpace components (ffhq_pca.pt)", "std"),
    "ganspace": ("GANSpace cache (.npz, lat_comp)", "std"),
    "sefa": ("rosinality SeFa factor (factor.pt, eigvec columns)", "norm in the file"),
    "named": ("anycost-gan named boundaries (.pt)", "norms in the file"),
}


def _direction_rows(path: Path) -> list[tuple[str, str]]:
    """A direction file of any format ``load_directions`` reads: shape, format, space, names, values."""
    from .edits.direction_file import load_directions

    ds = load_directions(path)
    fmt, value_name = _FORMATS.get(ds.meta.get("format", "s2edit"), _FORMATS["s2edit"])
    names = ", ".join(ds.names[:12]) + (f", ... ({len(ds) - 12} more)" if len(ds) > 12 else "")
    shape = (f"{len(ds)} x [num_ws {ds.directions.shape[1]}, w_dim {ds.directions.shape[2]}] (per layer)"
             if ds.per_layer else f"{len(ds)} x {'z_dim' if ds.space == 'z' else 'w_dim'} {ds.directions.shape[1]}")
    rows = [("directions", shape),
            ("format", fmt),
            ("space", "Z: edits seeds before the mapping network" if ds.space == "z" else "W"),
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
        rows.append((value_name, ", ".join(values)))
    rows.append(("strength", "read as unit directions: strength is a distance in "
                             f"{ds.space.upper()}" + (" (root mean square over the layers)" if ds.per_layer else "")))
    return rows


def _array_direction_row(path: Path, shape: list[int]) -> tuple[str, str]:
    """How ``s2edit edit --direction`` reads a bare ``.npy``: the reading depends on the network's num_ws."""
    from .edits.published import name_space

    space = name_space(path).upper()
    if len(shape) == 1 or (len(shape) == 2 and shape[0] == 1):
        return "as directions", f"one direction in {space} (its space by the file name)"
    if len(shape) == 2:
        return "as directions", (f"one per-layer direction for a network with num_ws {shape[0]}, else {shape[0]} "
                                 f"directions in {space}")
    if len(shape) == 3:
        return "as directions", f"{shape[0]} per-layer directions for num_ws {shape[1]}"
    return "as directions", "not a direction layout"


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
        try:
            arr = np.load(path, allow_pickle=False, mmap_mode="r")
        except (OSError, ValueError, EOFError) as err:  # object arrays (pickles) are refused here
            raise InputError(f"{path}: unreadable .npy ({err})") from None
        shape = list(arr.shape)
        guess = {1: "one w, or one direction [w_dim]", 2: "one latent [num_ws, w_dim], w vectors [N, w_dim] or "
                 "directions [k, w_dim]", 3: "latents [N, num_ws, w_dim]"}.get(len(shape), "neither a latent nor "
                                                                                    "directions")
        return FileDescription(path, "array", [("format", "npy"), ("shape", str(shape)), ("dtype", str(arr.dtype)),
                                               ("read as", guess), _array_direction_row(path, shape)])
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
