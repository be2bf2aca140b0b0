"""Directions as data: the ``DirectionSet``, its files (.npz / .safetensors / a bare .npy), and applying one to ws.

Directions are unit vectors [k, w_dim]; an edit adds ``strength · direction`` to the ws of
chosen layers. The algorithms that find them live in ``sefa``, ``pca`` and ``supervised``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from stylegan2_core.errors import InputError, ShapeError
from stylegan2_core.fileio import MAGIC_KEY, atomic_write, is_safetensors

__all__ = [
    "FORMAT_VERSION", "DirectionSet", "model_sha256", "save_directions", "load_directions", "select_directions",
    "layer_mask", "apply_direction",
]

FORMAT_VERSION = 1


@dataclass
class DirectionSet:
    """``directions`` [k, w_dim] unit rows, one name and one value (eigenvalue, std or accuracy) each.

    ``layers``: the ws indices the directions were made for and are applied to by default
    (None = all); ``meta``: provenance such as ``model_sha256`` and the method's settings.
    """

    directions: torch.Tensor
    names: list[str]
    method: str
    layers: list[int] | None = None
    values: torch.Tensor | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.directions = torch.as_tensor(self.directions, dtype=torch.float32)
        if self.directions.ndim != 2:
            raise ShapeError(f"directions must be [k, w_dim], got {list(self.directions.shape)}")
        k = self.directions.shape[0]
        self.values = torch.full([k], float("nan")) if self.values is None else torch.as_tensor(
            self.values, dtype=torch.float32).reshape(-1)
        if len(self.names) != k or self.values.shape[0] != k:
            raise ShapeError(f"{k} directions need {k} names and values, got {len(self.names)} and "
                             f"{self.values.shape[0]}")

    def __len__(self) -> int:
        return self.directions.shape[0]


def _model_sha(G) -> str | None:
    checkpoint = getattr(G, "checkpoint", None)
    return checkpoint.sha256 if checkpoint is not None else None


def model_sha256(G) -> str | None:
    """The checkpoint hash a direction set records as its provenance (None for an unsaved network)."""
    checkpoint = getattr(G, "checkpoint", None)
    return checkpoint.sha256 if checkpoint is not None else None


def _info(ds: DirectionSet) -> dict:
    return {"kind": "directions", "format_version": FORMAT_VERSION, "names": list(ds.names), "method": ds.method,
            "layers": ds.layers, "meta": ds.meta}


def save_directions(path, ds: DirectionSet) -> Path:
    """Write ``.npz`` (arrays ``directions``, ``values`` and a JSON string array ``meta``) or ``.safetensors``."""
    path = Path(path)
    dirs = ds.directions.detach().float().cpu().contiguous()
    values = ds.values.detach().float().cpu().contiguous()
    info = json.dumps(_info(ds), default=str)
    if path.suffix == ".npz":
        def write(tmp):
            with open(tmp, "wb") as f:
                np.savez(f, directions=dirs.numpy(), values=values.numpy(), meta=np.array([info]))
    elif path.suffix == ".safetensors":
        from safetensors.torch import save_file

        def write(tmp):
            save_file({"directions": dirs, "values": values}, tmp, metadata={MAGIC_KEY: info})
    else:
        raise InputError(f"{path}: directions are saved as .npz or .safetensors")
    atomic_write(path, write)
    return path


def load_directions(path) -> DirectionSet:
    """Read a ``save_directions`` file, or a bare ``.npy`` [w_dim] / [k, w_dim] (e.g. an InterFaceGAN boundary).

    Rows are normalized to unit length; non-finite or zero rows raise ``InputError``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such directions file")
    with open(path, "rb") as f:
        head = f.read(16)
    info: dict = {}
    values = None
    try:
        if is_safetensors(head):
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                info = json.loads((f.metadata() or {}).get(MAGIC_KEY, "{}"))
                keys = set(f.keys())
                if "directions" not in keys:
                    raise InputError(f"{path}: no 'directions' tensor (has {sorted(keys)[:8]})")
                dirs = f.get_tensor("directions")
                values = f.get_tensor("values") if "values" in keys else None
        else:
            data = np.load(path, allow_pickle=False)
            if isinstance(data, np.ndarray):
                dirs = torch.from_numpy(np.asarray(data, dtype=np.float32))
            else:
                with data:
                    if "directions" not in data.files:
                        raise InputError(f"{path}: no 'directions' array (has {data.files[:8]})")
                    dirs = torch.from_numpy(np.asarray(data["directions"], dtype=np.float32))
                    if "values" in data.files:
                        values = torch.from_numpy(np.asarray(data["values"], dtype=np.float32))
                    info = json.loads(str(data["meta"].reshape(-1)[0])) if "meta" in data.files else {}
    except InputError:
        raise
    except Exception as err:  # any reader failure means the file is not what it claims to be
        raise InputError(f"{path}: unreadable directions file ({type(err).__name__}: {err})") from None
    if info.get("kind", "directions") != "directions":
        raise InputError(f"{path}: holds a {info.get('kind')!r}, not directions")
    dirs = dirs.float()
    if dirs.ndim == 1:
        dirs = dirs[None]
    if dirs.ndim != 2:
        raise InputError(f"{path}: directions must be [k, w_dim], got {list(dirs.shape)}")
    norms = dirs.norm(dim=1, keepdim=True)
    if not torch.isfinite(dirs).all() or (norms < 1e-12).any():
        raise InputError(f"{path}: directions contain NaN, inf or zero vectors")
    k = dirs.shape[0]
    names = info.get("names") or [f"d{i}" for i in range(k)]
    return DirectionSet(dirs / norms, names, info.get("method", "file"), info.get("layers"), values,
                        {**info.get("meta", {}), "path": str(path)})


def select_directions(specs) -> torch.Tensor:
    """``file.npz`` (all its directions) or ``file.npz:i`` (one), for each spec -> unit rows [m, w_dim]."""
    rows = []
    for spec in map(str, specs):
        path, sep, index = spec.rpartition(":")
        if not (sep and index.isdigit()):
            path, index = spec, ""
        ds = load_directions(path)
        if index:
            if int(index) >= len(ds):
                raise InputError(f"{spec}: index {index} out of range ({len(ds)} directions)")
            rows.append(ds.directions[int(index)][None])
        else:
            rows.append(ds.directions)
    return torch.cat(rows)


def layer_mask(num_ws: int, layers=None, device=None) -> torch.Tensor:
    """[num_ws, 1] float mask, 1 at ``layers`` (None = all)."""
    mask = torch.zeros([num_ws, 1], device=device)
    mask[list(range(num_ws)) if layers is None else list(layers)] = 1
    return mask


def apply_direction(ws: torch.Tensor, direction: torch.Tensor, strength: float | torch.Tensor,
                    layers: list[int] | None = None) -> torch.Tensor:
    """``ws`` [N, num_ws, w_dim] + strength · ``direction`` [w_dim] at ``layers`` (None = all).

    A scalar strength returns [N, num_ws, w_dim]. A vector of S strengths returns [N·S, num_ws, w_dim]
    laid out latent-major: row ``n·S + s`` is latent ``n`` edited with strength ``s``.
    """
    if ws.ndim != 3 or direction.reshape(-1).shape[0] != ws.shape[-1]:
        raise ShapeError(f"apply_direction: ws {list(ws.shape)} and direction {list(direction.shape)} do not match")
    delta = layer_mask(ws.shape[1], layers, ws.device).to(ws.dtype) * direction.reshape(1, -1).to(ws)
    strength = torch.as_tensor(strength, dtype=ws.dtype, device=ws.device)
    if strength.ndim == 0:
        return ws + strength * delta
    s = strength.reshape(1, -1, 1, 1)
    return (ws[:, None] + s * delta).reshape(-1, *ws.shape[1:])
