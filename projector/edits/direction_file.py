"""Directions as data: the ``DirectionSet``, its files, conditioning one direction on others, applying one to ws.

Directions are unit vectors [k, w_dim], or per-layer directions [k, num_ws, w_dim] whose rows have a
root-mean-square norm of 1 (``unit_norm``), so ``strength`` is a distance in W either way: an edit adds
``strength · direction`` to the ws of chosen layers. Files are s2edit's own (.npz / .safetensors) or
published ones, read by ``published`` (InterFaceGAN, e4e/PTI, GANSpace, SeFa, per-layer .npy, anycost-gan).
The algorithms that find directions live in ``sefa``, ``pca`` and ``supervised``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from stylegan2_core.errors import InputError, ShapeError
from stylegan2_core.fileio import MAGIC_KEY, atomic_write

__all__ = [
    "FORMAT_VERSION", "SPACES", "DirectionSet", "unit_norm", "save_directions", "load_directions", "select_directions",
    "check_directions", "split_spec", "orthogonalize", "layer_mask", "apply_direction",
]

FORMAT_VERSION = 1
SPACES = ("w", "z")


@dataclass
class DirectionSet:
    """``directions`` [k, w_dim] unit rows (or [k, num_ws, w_dim] per-layer ones), one name and one value each.

    ``values``: eigenvalue, std, accuracy or a published file's own norm, per direction; ``layers``: the ws
    indices the directions were made for and are applied to by default (None = all); ``meta``: provenance
    such as ``model_id`` (``model_provenance``), ``format`` and the method's settings; ``space``: ``w``, or
    ``z`` for directions in the mapping network's input (applied to seeds before mapping).
    """

    directions: torch.Tensor
    names: list[str]
    method: str
    layers: list[int] | None = None
    values: torch.Tensor | None = None
    meta: dict = field(default_factory=dict)
    space: str = "w"

    def __post_init__(self):
        self.directions = torch.as_tensor(self.directions, dtype=torch.float32)
        if self.directions.ndim not in (2, 3):
            raise ShapeError(f"directions must be [k, w_dim] or [k, num_ws, w_dim], got {list(self.directions.shape)}")
        if self.space not in SPACES:
            raise ShapeError(f"direction space {self.space!r}: expected one of {', '.join(SPACES)}")
        k = self.directions.shape[0]
        self.values = torch.full([k], float("nan")) if self.values is None else torch.as_tensor(
            self.values, dtype=torch.float32).reshape(-1)
        if len(self.names) != k or self.values.shape[0] != k:
            raise ShapeError(f"{k} directions need {k} names and values, got {len(self.names)} and "
                             f"{self.values.shape[0]}")

    def __len__(self) -> int:
        return self.directions.shape[0]

    @property
    def per_layer(self) -> bool:
        """True when each direction holds one row per ws layer ([k, num_ws, w_dim])."""
        return self.directions.ndim == 3


def unit_norm(directions: torch.Tensor) -> torch.Tensor:
    """The length strength is measured in, per direction of a set: |d| for [k, w_dim]; for per-layer
    directions [k, num_ws, w_dim] the root mean square of the rows' norms, so a per-layer direction that
    repeats one unit row has length 1 and edits exactly like that row."""
    if directions.ndim == 3:
        return directions.pow(2).sum(-1).mean(-1).sqrt()
    return directions.norm(dim=-1)


def _info(ds: DirectionSet) -> dict:
    return {"kind": "directions", "format_version": FORMAT_VERSION, "names": list(ds.names), "method": ds.method,
            "layers": ds.layers, "meta": ds.meta, "space": ds.space}


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


def load_directions(path, num_ws: int | None = None, space: str | None = None) -> DirectionSet:
    """Read a direction file: s2edit's own (``save_directions``) or a published one (``published``).

    Directions are scaled to unit length (``unit_norm``); a published file's own lengths become the
    values when it has no stds. ``num_ws``: the network's, to read a bare [num_ws, w_dim] array as one
    per-layer direction. ``space``: ``w`` or ``z`` to override what the file (or its name) says.
    Non-finite or zero directions, pickled code and unknown layouts raise ``InputError`` naming the file.
    """
    from .published import read_direction_file

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such directions file")
    try:
        ds = read_direction_file(path, num_ws)
    except (InputError, ShapeError) as err:
        raise InputError(str(err) if str(path) in str(err) else f"{path}: {err}") from None
    except Exception as err:  # any reader failure means the file is not what it claims to be
        raise InputError(f"{path}: unreadable directions file ({type(err).__name__}: {err})") from None
    if space is not None:
        if space not in SPACES:
            raise InputError(f"--space {space!r}: expected one of {', '.join(SPACES)}")
        ds.space = space
    norms = unit_norm(ds.directions)
    if not torch.isfinite(ds.directions).all() or (norms < 1e-12).any():
        raise InputError(f"{path}: directions contain NaN, inf or zero vectors")
    ds.directions = ds.directions / norms.reshape(-1, *[1] * (ds.directions.ndim - 1))
    ds.meta["path"] = str(path)
    return ds


def check_directions(ds: DirectionSet, G, where) -> None:
    """Refuse directions that do not fit ``G``: their width against w_dim (z_dim in Z), rows against num_ws."""
    width, dim_name = (G.z_dim, "z_dim") if ds.space == "z" else (G.w_dim, "w_dim")
    if ds.directions.shape[-1] != width:
        raise InputError(f"{where}: directions in {ds.space.upper()} have width {ds.directions.shape[-1]}, "
                         f"the network's {dim_name} is {width}")
    if ds.per_layer and ds.directions.shape[1] != G.num_ws:
        raise InputError(f"{where}: per-layer directions for {ds.directions.shape[1]} ws layers, the network "
                         f"has num_ws {G.num_ws}")
    if ds.per_layer and ds.space == "z":
        raise InputError(f"{where}: per-layer directions cannot be in Z (z has no layers)")
    if ds.layers is not None and max(ds.layers) >= G.num_ws:
        raise InputError(f"{where}: made for ws layers {ds.layers}, this network has 0 .. {G.num_ws - 1}")


def split_spec(spec: str) -> tuple[str, int | None]:
    """``file`` -> (file, None); ``file:i`` -> (file, i)."""
    path, sep, index = str(spec).rpartition(":")
    return (path, int(index)) if sep and index.isdigit() else (str(spec), None)


def select_directions(specs, num_ws: int | None = None) -> torch.Tensor:
    """``file`` (all its directions) or ``file:i`` (one), for each spec -> unit directions [m, w_dim]
    ([m, num_ws, w_dim] when any is per-layer: plain ones are repeated over the layers)."""
    chosen = []
    for spec in specs:
        path, index = split_spec(spec)
        ds = load_directions(path, num_ws)
        if index is not None and index >= len(ds):
            raise InputError(f"{spec}: index {index} out of range ({len(ds)} directions)")
        chosen.append(ds.directions if index is None else ds.directions[index][None])
    rows = max(d.shape[1] if d.ndim == 3 else 1 for d in chosen)
    if rows == 1:
        return torch.cat(chosen)
    return torch.cat([d if d.ndim == 3 else d[:, None].expand(-1, rows, -1) for d in chosen])


def _remove_span(v: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
    """``v`` [d] minus its projection on the span of ``others`` [m, d] (Gram-Schmidt on ``others`` first)."""
    basis = []
    for o in others:
        for b in basis:
            o = o - (o @ b) * b
        if o.norm() > 1e-8:
            basis.append(o / o.norm())
    for b in basis:
        v = v - (v @ b) * b
    return v


def orthogonalize(direction: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
    """Remove from ``direction`` its component in the span of ``others``; renormalized (``unit_norm``) result.

    ``direction`` [w_dim] or per-layer [num_ws, w_dim]; ``others`` [m, w_dim] or [m, num_ws, w_dim]. Each
    layer's row is made orthogonal to the span of the others' rows at that layer (a plain direction
    counts at every layer), so editing along the result leaves every layer's projection onto every
    other direction unchanged: InterFaceGAN's conditional manipulation, done in float64.
    """
    d = direction.detach().cpu().double()
    o = torch.as_tensor(others).detach().cpu().double()
    w_dim = d.shape[-1]
    if d.ndim == 1 and o.ndim <= 2:
        result = _remove_span(d, o.reshape(-1, w_dim))
    else:
        num_ws = d.shape[0] if d.ndim == 2 else o.shape[1]
        d = d.expand(num_ws, w_dim) if d.ndim == 1 else d
        o = o.reshape(-1, 1, w_dim).expand(-1, num_ws, -1) if o.ndim <= 2 else o
        if o.shape[1] != num_ws:
            raise ShapeError(f"orthogonalize: per-layer directions with {num_ws} and {o.shape[1]} layers")
        result = torch.stack([_remove_span(d[i], o[:, i]) for i in range(num_ws)])
    norm = unit_norm(result[None])[0]
    if norm < 1e-6:
        raise InputError("the direction lies in the span of the directions it is conditioned on")
    return (result / norm).to(direction.dtype)


def layer_mask(num_ws: int, layers=None, device=None) -> torch.Tensor:
    """[num_ws, 1] float mask, 1 at ``layers`` (None = all)."""
    mask = torch.zeros([num_ws, 1], device=device)
    mask[list(range(num_ws)) if layers is None else list(layers)] = 1
    return mask


def apply_direction(ws: torch.Tensor, direction: torch.Tensor, strength: float | torch.Tensor,
                    layers: list[int] | None = None) -> torch.Tensor:
    """``ws`` [N, num_ws, w_dim] + strength · ``direction`` ([w_dim] or per-layer [num_ws, w_dim]) at ``layers``.

    ``layers``: None = all. A scalar strength returns [N, num_ws, w_dim]. A vector of S strengths returns
    [N·S, num_ws, w_dim] laid out latent-major: row ``n·S + s`` is latent ``n`` edited with strength ``s``.
    """
    rows = direction.reshape(-1, direction.shape[-1]) if direction.ndim else direction
    if ws.ndim != 3 or rows.ndim != 2 or rows.shape[-1] != ws.shape[-1] or rows.shape[0] not in (1, ws.shape[1]):
        raise ShapeError(f"apply_direction: ws {list(ws.shape)} and direction {list(direction.shape)} do not match")
    delta = layer_mask(ws.shape[1], layers, ws.device).to(ws.dtype) * rows.to(ws)
    strength = torch.as_tensor(strength, dtype=ws.dtype, device=ws.device)
    if strength.ndim == 0:
        return ws + strength * delta
    s = strength.reshape(1, -1, 1, 1)
    return (ws[:, None] + s * delta).reshape(-1, *ws.shape[1:])
