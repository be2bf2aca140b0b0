"""Direction files as they are published, read with no conversion step and without running any pickled code.

| format (``meta['format']``) | file | content |
| --- | --- | --- |
| ``s2edit`` | ``.npz`` / ``.safetensors`` from ``save_directions`` | ``directions``, ``values``, JSON ``meta`` |
| ``boundary`` (InterFaceGAN) | ``boundary_*.npy``, ``*_boundary.npy`` | [1, w_dim] or [w_dim] |
| ``rows`` | any other ``.npy`` | [k, w_dim]: k directions; [num_ws, w_dim]: one per-layer direction |
| ``tensor`` (e4e / PTI) | ``interfacegan_directions/*.pt`` | [1, w_dim]; ``pose.pt`` [1, num_ws, w_dim] |
| ``e4e-ganspace`` | ``ffhq_pca.pt`` | dict ``mean`` [1, w_dim], ``comp`` [K, 1, w_dim], ``std`` [K] |
| ``ganspace`` (harskish) | ``*.npz`` cache | ``lat_comp`` [K, 1, w_dim], ``lat_mean``, ``lat_stdev`` [K] |
| ``sefa`` (rosinality) | ``factor.pt`` | dict ``ckpt``, ``eigvec`` [w_dim, w_dim], directions are columns |
| ``named`` (anycost-gan) | ``boundary_*.pt`` | dict of named [1, w_dim] boundaries |

``.npy`` / ``.npz`` are read with ``allow_pickle=False``; ``.pt`` with ``torch.load(weights_only=True)``
and only tensors, dicts of tensors, strings and numbers are accepted. Directions come back as stored
(``load_directions`` scales them to unit length); values are the file's stds, else its own lengths.

Space: s2edit's files and dict formats say W. For a bare array the file name decides (``name_space``).
"""

from __future__ import annotations

import json
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch

from stylegan2_core.errors import InputError
from stylegan2_core.fileio import MAGIC_KEY, is_safetensors

from .direction_file import DirectionSet, unit_norm

__all__ = ["TORCH_SUFFIXES", "MAX_TORCH_BYTES", "name_space", "read_direction_file", "is_torch_file"]

TORCH_SUFFIXES = (".pt", ".pth")
MAX_TORCH_BYTES = 256 << 20  # direction files are kilobytes to a few MB; larger .pt files are checkpoints
_TOKEN_RE = re.compile(r"[^a-z0-9+]+")
_Z_TOKENS = {"z", "zspace"}
_W_TOKENS = {"w", "wp", "w+", "wplus", "wspace"}


def name_space(path) -> str:
    """The space a bare array's file name says: ``z`` or ``w``.

    The stem is split into lowercase words at ``_ - .`` and spaces. A word ``z`` or ``zspace`` (or
    ``z_space`` in the name) means Z; a word ``w``, ``wp``, ``w+``, ``wplus`` or ``wspace`` means W;
    InterFaceGAN's original names ``{pggan|stylegan}_<dataset>_<attribute>_boundary`` without a W word
    are its Z boundaries; anything else is W.
    """
    stem = Path(path).stem.lower()
    words = [w for w in _TOKEN_RE.split(stem) if w]
    if _Z_TOKENS & set(words) or "z_space" in stem:
        return "z"
    if _W_TOKENS & set(words) or "w_space" in stem:
        return "w"
    if words and words[0] in ("pggan", "stylegan") and words[-1] == "boundary":
        return "z"
    return "w"


def _name_from_stem(path: Path) -> str:
    """``boundary_smile_w.npy`` -> ``smile``: the stem without the words ``boundary`` and space markers."""
    words = [w for w in re.split(r"[_\-.\s]+", path.stem) if w]
    kept = [w for w in words if w.lower() not in {"boundary", *_Z_TOKENS, *_W_TOKENS}]
    return "_".join(kept) or path.stem or "d0"


def is_torch_file(path: Path, head: bytes) -> bool:
    """A torch.save file: a zip holding ``data.pkl``, or a legacy pickle named ``.pt`` / ``.pth``."""
    if head[:2] == b"PK":
        try:
            with zipfile.ZipFile(path) as archive:
                return any(name.endswith("data.pkl") for name in archive.namelist())
        except (OSError, zipfile.BadZipFile):
            return False
    return path.suffix.lower() in TORCH_SUFFIXES


def read_direction_file(path: Path, num_ws: int | None = None) -> DirectionSet:
    """Sniff ``path`` and read it as one of the formats above (directions not yet normalized)."""
    with open(path, "rb") as f:
        head = f.read(16)
    if is_safetensors(head):
        return _read_s2edit_safetensors(path)
    if head[:6] == b"\x93NUMPY":
        return _from_array(path, np.load(path, allow_pickle=False), num_ws)
    if is_torch_file(path, head):
        return _read_torch(path, num_ws)
    if head[:2] == b"PK":
        with np.load(path, allow_pickle=False) as data:
            return _read_npz(path, data)
    raise InputError(f"{path}: not a direction file (expected .npz, .safetensors, .npy or a torch .pt)")


def _set(dirs, names, fmt: str, values=None, space: str = "w", method: str | None = None,
         meta: dict | None = None) -> DirectionSet:
    """A published file's directions as stored, with ``meta['format']``; values default to the file's own
    lengths (what its tools' strength 1 moves)."""
    dirs = torch.as_tensor(np.asarray(dirs, dtype=np.float32) if isinstance(dirs, np.ndarray) else dirs).float()
    values = unit_norm(dirs) if values is None else torch.as_tensor(values).float().reshape(-1)
    return DirectionSet(dirs, list(names), method or fmt, None, values, {**(meta or {}), "format": fmt}, space)


def _from_array(path: Path, arr, num_ws: int | None, fmt: str | None = None) -> DirectionSet:
    """A bare array (``.npy`` or a tensor ``.pt``): [w_dim], [1, w_dim], [k, w_dim], [num_ws, w_dim] or [k, L, w_dim]."""
    arr = torch.as_tensor(np.asarray(arr, dtype=np.float32)) if isinstance(arr, np.ndarray) else arr.float()
    shape = list(arr.shape)
    space = name_space(path)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim == 3 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim == 2 and num_ws is not None and num_ws > 1 and arr.shape[0] == num_ws:
        arr = arr[None]  # one row per ws layer: one per-layer direction
    if arr.ndim not in (2, 3):
        raise InputError(f"{path}: an array of shape {shape} is not a direction ([w_dim], [k, w_dim], "
                         f"[num_ws, w_dim] or [k, num_ws, w_dim])")
    single = arr.shape[0] == 1
    fmt = fmt or ("boundary" if single and arr.ndim == 2 else "rows")
    names = [_name_from_stem(path)] if single else [f"d{i}" for i in range(arr.shape[0])]
    return _set(arr, names, fmt, space=space, meta={"source_shape": shape})


def _read_npz(path: Path, data) -> DirectionSet:
    files = set(data.files)
    if "directions" in files:
        info = json.loads(str(data["meta"].reshape(-1)[0])) if "meta" in files else {}
        values = data["values"] if "values" in files else None
        return _s2edit_set(path, torch.from_numpy(np.asarray(data["directions"], dtype=np.float32)), values, info)
    if "lat_comp" in files:
        comp = np.asarray(data["lat_comp"], dtype=np.float32)
        k = comp.shape[0]
        std = np.asarray(data["lat_stdev"], dtype=np.float32).reshape(-1) if "lat_stdev" in files else None
        if comp.ndim != 3 or comp.shape[1] != 1 or (std is not None and std.shape[0] != k):
            raise InputError(f"{path}: GANSpace lat_comp {list(comp.shape)} / lat_stdev {None if std is None else list(std.shape)}"
                             f": expected [K, 1, w_dim] and [K]")
        mean = np.asarray(data["lat_mean"], dtype=np.float32).reshape(-1).tolist() if "lat_mean" in files else None
        return _set(comp[:, 0], [f"pc{i}" for i in range(k)], "ganspace", std, method="pca",
                    meta={"source": "ganspace", "mean": mean})
    raise InputError(f"{path}: no 'directions' (s2edit) or 'lat_comp' (GANSpace) array (has {sorted(files)[:8]})")


def _s2edit_set(path: Path, dirs: torch.Tensor, values, info: dict) -> DirectionSet:
    if info.get("kind", "directions") != "directions":
        raise InputError(f"{path}: holds a {info.get('kind')!r}, not directions")
    if dirs.ndim == 1:
        dirs = dirs[None]
    k = dirs.shape[0]
    names = info.get("names") or [f"d{i}" for i in range(k)]
    values = None if values is None else torch.as_tensor(np.asarray(values, dtype=np.float32))
    return DirectionSet(dirs.float(), names, info.get("method", "file"), info.get("layers"), values,
                        {**info.get("meta", {}), "format": "s2edit"}, info.get("space", "w"))


def _read_s2edit_safetensors(path: Path) -> DirectionSet:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        info = json.loads((f.metadata() or {}).get(MAGIC_KEY, "{}"))
        keys = set(f.keys())
        if "directions" not in keys:
            raise InputError(f"{path}: no 'directions' tensor (has {sorted(keys)[:8]})")
        return _s2edit_set(path, f.get_tensor("directions"), f.get_tensor("values") if "values" in keys else None,
                           info)


def _read_torch(path: Path, num_ws: int | None) -> DirectionSet:
    """e4e / PTI tensors, e4e's GANSpace dict, rosinality's SeFa factor, anycost-gan's named boundaries."""
    if path.stat().st_size > MAX_TORCH_BYTES:
        raise InputError(f"{path}: {path.stat().st_size >> 20} MB is too large for a direction file "
                         f"(a checkpoint?)")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols it then reads or refuses anyway
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # the restricted unpickler refuses code: say so in one line
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"{path}: refused: not plain tensors ({first[:160]})") from None
    if isinstance(obj, torch.Tensor):
        return _from_array(path, obj, num_ws, fmt="tensor")
    if not isinstance(obj, dict):
        raise InputError(f"{path}: holds a {type(obj).__name__}, not a tensor or a dict of tensors")
    if "comp" in obj:
        comp, std = _tensor(path, obj, "comp"), obj.get("std")
        if comp.ndim != 3 or comp.shape[1] != 1:
            raise InputError(f"{path}: e4e GANSpace 'comp' {list(comp.shape)}: expected [K, 1, w_dim]")
        std = None if std is None else _tensor(path, obj, "std").reshape(-1)
        if std is not None and std.shape[0] != comp.shape[0]:
            raise InputError(f"{path}: 'std' has {std.shape[0]} values for {comp.shape[0]} components")
        mean = obj.get("mean")
        return _set(comp[:, 0], [f"pc{i}" for i in range(comp.shape[0])], "e4e-ganspace", std, method="pca",
                    meta={"source": "ganspace", "mean": None if mean is None
                          else _tensor(path, obj, "mean").reshape(-1).tolist()})
    if "eigvec" in obj:
        eigvec = _tensor(path, obj, "eigvec")
        if eigvec.ndim != 2 or eigvec.shape[0] != eigvec.shape[1]:
            raise InputError(f"{path}: SeFa 'eigvec' {list(eigvec.shape)}: expected [w_dim, w_dim]")
        ckpt = obj.get("ckpt")
        return _set(eigvec.T.contiguous(), [f"sefa{i}" for i in range(eigvec.shape[1])], "sefa",
                    meta={"source": "sefa", "ckpt": str(ckpt) if isinstance(ckpt, str | int | float) else None})
    return _named(path, obj)


def _tensor(path: Path, obj: dict, key: str) -> torch.Tensor:
    value = obj[key]
    if not isinstance(value, torch.Tensor):
        raise InputError(f"{path}: {key!r} is a {type(value).__name__}, expected a tensor")
    return value.float()


def _named(path: Path, obj: dict) -> DirectionSet:
    """anycost-gan: ``{name: [1, w_dim]}``; every value must be a tensor of one width."""
    rows, names = [], []
    for name, value in obj.items():
        if not isinstance(value, torch.Tensor) or value.numel() == 0:
            raise InputError(f"{path}: entry {str(name)[:40]!r} is a {type(value).__name__}, not a direction tensor "
                             f"(known dicts: 'comp' e4e GANSpace, 'eigvec' SeFa, or named [1, w_dim] boundaries)")
        rows.append(value.float().reshape(-1))
        names.append(str(name))
    if not rows or len({r.shape[0] for r in rows}) != 1:
        raise InputError(f"{path}: named boundaries must all be [1, w_dim] of one width")
    return _set(torch.stack(rows), names, "named")
