"""Latent files: save, load and resolve the ws every edit starts from.

Our latent file is a ``.safetensors`` holding ``ws`` [N, num_ws, w_dim] and optional
per-layer noise maps ``noise.{i}`` [N, 1, H, W], with JSON metadata under the
``s2edit`` key, so a latent says which space, model and settings produced it.
``load_latent`` also reads the official projector's ``projected_w.npz`` and plain
``.npy`` / ``.npz`` arrays, so latents from other tools can be edited here.
"""

from __future__ import annotations

import json
import logging
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from stylegan2_core.errors import CheckpointError, InputError
from stylegan2_core.fileio import (
    MAGIC_KEY,
    atomic_write,
    is_safetensors,
    read_safetensors,
    write_safetensors,
)
from stylegan2_core.latent import class_labels, parse_seeds, sample_ws

__all__ = [
    "save_projection_state",
    "load_projection_state",
    "LatentRecord",
    "FORMAT_VERSION",
    "EDITS_KEY",
    "model_provenance",
    "model_mismatch",
    "save_latent",
    "load_latent",
    "save_projected_w_npz",
    "resolve_latents",
]

log = logging.getLogger(__name__)
FORMAT_VERSION = 1
EDITS_KEY = "edits"  # an edited latent's recipe: one dict per edit applied, oldest first (projector.edits.recipe)
ABSURD_MAGNITUDE = 1e4  # |w| from a mapping network stays within tens; far beyond, images are noise
_SEEDS_RE = re.compile(r"\d+(-\d+)?")
_WARNED: set[tuple[str, str]] = set()  # (file, model) pairs already warned about in this process


def _model_id(G) -> str:
    from stylegan2_core import model_id

    return getattr(getattr(G, "checkpoint", None), "model_id", "") or model_id(G)


def model_provenance(G) -> dict:
    """What a latent or direction file records about the network it was made with.

    ``model_id``: the network's identity by content (``stylegan2_core.model_id``), the same in every
    file format; ``model_sha256``: the checkpoint file's hash (None for an unsaved network).
    """
    checkpoint = getattr(G, "checkpoint", None)
    return {"model_id": _model_id(G), "model_sha256": checkpoint.sha256 if checkpoint is not None else None}


def model_mismatch(meta: dict, G) -> str | None:
    """Why a file's recorded model (``meta``) is not ``G``, in words; None when it matches or records none.

    Compares ``model_id`` when the file has one, else (older files) the checkpoint's ``model_sha256``,
    so the same network converted to another format matches.
    """
    recorded = meta.get("model_id")
    if recorded:
        current = _model_id(G)
        return None if recorded == current else f"made with another model (id {recorded[:12]}..., " \
                                                   f"the loaded network is {current[:12]}...)"
    recorded, checkpoint = meta.get("model_sha256"), getattr(G, "checkpoint", None)
    if recorded and checkpoint is not None and recorded != checkpoint.sha256:
        return f"made with another model (sha256 {recorded[:12]}..., the loaded network is {checkpoint.sha256[:12]}...)"
    return None


@dataclass
class LatentRecord:
    """A loaded latent: ``ws`` [N, num_ws, w_dim], optional noise maps [N, 1, H, W] per layer, metadata.

    ``meta`` is the file's metadata plus ``format`` (which reader was used) and, when a
    generator was given and its checkpoint differs from the one recorded in the file,
    ``model_mismatch``: why not, in words (``model_mismatch``).
    """

    ws: torch.Tensor
    noise: list[torch.Tensor] | None = None
    meta: dict = field(default_factory=dict)


def save_latent(path, ws: torch.Tensor, noise: list[torch.Tensor] | None = None, meta: dict | None = None) -> Path:
    """Write ``ws`` (and noise maps) as a self-describing latent file, atomically.

    ``meta`` goes into the JSON metadata next to ``kind`` and ``format_version``; the keys
    the tools read are ``space`` ('w' or 'w+'), ``model_id`` and ``model_sha256`` (``model_provenance``),
    ``resolution``, ``preprocessing``, ``loss`` and, for edited latents, ``EDITS_KEY``. Values must be
    JSON-serializable (paths become strings).
    """
    from safetensors.torch import save_file

    path = Path(path)
    ws = torch.as_tensor(ws).detach().float().cpu()
    if ws.ndim == 2:
        ws = ws[None]
    if ws.ndim != 3:
        raise InputError(f"{path}: ws must be [N, num_ws, w_dim], got shape {list(ws.shape)}")
    tensors = {"ws": ws.contiguous()}
    for i, n in enumerate(noise or []):
        tensors[f"noise.{i}"] = torch.as_tensor(n).detach().float().cpu().contiguous()
    info = {"kind": "latent", "format_version": FORMAT_VERSION, **(meta or {})}
    metadata = {MAGIC_KEY: json.dumps(info, default=str)}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))
    return path


def save_projected_w_npz(path, ws: torch.Tensor) -> Path:
    """Write the official projector's format: ``w`` [1, num_ws, w_dim] float32 (a single latent)."""
    path = Path(path)
    arr = torch.as_tensor(ws).detach().float().cpu().numpy()
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[0] != 1:
        raise InputError(f"{path}: projected_w.npz holds one latent [1, num_ws, w_dim], got shape {list(arr.shape)}")

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, w=arr.astype(np.float32))

    atomic_write(path, write)
    return path


def _read_safetensors(path: Path) -> tuple[torch.Tensor, list[torch.Tensor] | None, dict]:
    try:
        tensors, stored = read_safetensors(path)
    except CheckpointError as err:
        raise InputError(str(err).replace("corrupt safetensors file", "unreadable latent file")) from None
    meta = dict(stored or {})
    if meta.get("kind", "latent") != "latent":
        raise InputError(f"{path}: holds a {meta.get('kind')!r}, not a latent")
    key = "ws" if "ws" in tensors else "w" if "w" in tensors else None
    if key is None:
        raise InputError(f"{path}: no 'ws' tensor in this safetensors file (has {sorted(tensors)[:8]})")
    noise_keys = sorted((k for k in tensors if k.startswith("noise.")), key=lambda k: int(k.split(".", 1)[1]))
    noise = [tensors[k] for k in noise_keys] or None
    meta["format"] = "s2edit-latent" if stored is not None else "safetensors"
    return tensors[key], noise, meta


def _read_numpy(path: Path) -> tuple[torch.Tensor, dict]:
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise InputError(f"{path}: unreadable latent file ({err})") from None
    if isinstance(data, np.ndarray):
        return torch.from_numpy(np.asarray(data, dtype=np.float32)), {"format": "npy"}
    with data:
        key = "w" if "w" in data.files else "ws" if "ws" in data.files else None
        if key is None:
            raise InputError(f"{path}: no 'w' or 'ws' array in this .npz (has {data.files[:8]})")
        try:
            arr = np.asarray(data[key], dtype=np.float32)
        except (OSError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as err:
            raise InputError(f"{path}: unreadable array {key!r} ({err})") from None
    return torch.from_numpy(arr), {"format": "projected_w.npz" if key == "w" else "npz"}


def _as_ws(arr: torch.Tensor, path: Path, G) -> torch.Tensor:
    """Bring a loaded array to [N, num_ws, w_dim].

    [w_dim] is one w; [num_ws, w_dim] is one latent (as in ``projected_w.npz``) when its first
    dimension matches the generator's num_ws (or no generator is given), otherwise N w vectors
    [N, w_dim]; w vectors are repeated over all layers.
    """
    if arr.ndim == 1:
        arr = arr[None, None]
    elif arr.ndim == 2:
        one_latent = G is None or arr.shape[0] == G.num_ws
        arr = arr[None] if one_latent else arr[:, None]
    if arr.ndim != 3:
        raise InputError(f"{path}: expected a latent of shape [N, num_ws, w_dim], got {list(arr.shape)}")
    if G is not None:
        if arr.shape[-1] != G.w_dim:
            raise InputError(f"{path}: w_dim {arr.shape[-1]} does not match the network's {G.w_dim}")
        if arr.shape[1] == 1:
            arr = arr.expand(-1, G.num_ws, -1)
        if arr.shape[1] != G.num_ws:
            raise InputError(f"{path}: {arr.shape[1]} ws layers, the network has num_ws={G.num_ws}")
    return arr.contiguous()


def _check_noise(noise: list[torch.Tensor], n: int, path: Path, G) -> None:
    shapes = G.synthesis.noise_shapes()
    if len(noise) != len(shapes):
        raise InputError(f"{path}: {len(noise)} noise maps, the network has {len(shapes)} noise inputs")
    for i, (m, (h, w)) in enumerate(zip(noise, shapes)):
        if m.ndim != 4 or m.shape[1] != 1 or tuple(m.shape[2:]) != (h, w) or m.shape[0] not in (1, n):
            raise InputError(f"{path}: noise.{i} has shape {list(m.shape)}, expected [{n}, 1, {h}, {w}]")
        if not torch.isfinite(m).all():
            raise InputError(f"{path}: noise.{i} contains NaN or inf")


def load_latent(path, G=None) -> LatentRecord:
    """Read a latent file (ours, ``projected_w.npz``, ``.npy`` or ``.npz`` with ``w``/``ws``).

    With ``G``, the shape is validated against it and noise maps against its noise inputs, and a
    recorded model other than ``G`` (``model_mismatch``) is noted in ``meta['model_mismatch']`` and
    logged as a warning once per file and model. Unreadable files, wrong shapes and
    non-finite values raise ``InputError`` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such latent file")
    with open(path, "rb") as f:
        head = f.read(16)
    noise = None
    if is_safetensors(head):
        arr, noise, meta = _read_safetensors(path)
    elif head[:6] == b"\x93NUMPY" or head[:2] == b"PK":
        arr, meta = _read_numpy(path)
    else:
        raise InputError(f"{path}: not a latent file (expected .safetensors, .npz or .npy)")
    ws = _as_ws(arr.float(), path, G)
    if not torch.isfinite(ws).all():
        raise InputError(f"{path}: latent contains NaN or inf")
    largest = float(ws.abs().max()) if ws.numel() else 0.0
    if largest > ABSURD_MAGNITUDE:
        log.warning("%s: latent values up to %.3g, far outside what the mapping network produces; expect "
                    "meaningless images", path, largest)
    if noise is not None and G is not None:
        _check_noise(noise, ws.shape[0], path, G)
    mismatch = model_mismatch(meta, G) if G is not None else None
    if mismatch:
        meta["model_mismatch"] = mismatch
        key = (str(path.resolve()), _model_id(G))
        if key not in _WARNED:
            _WARNED.add(key)
            log.warning("%s: %s", path, mismatch)
    if G is not None:
        device = G.mapping.w_avg.device
        ws = ws.to(device)
        noise = [m.to(device) for m in noise] if noise is not None else None
    return LatentRecord(ws=ws, noise=noise, meta=meta)


def _is_seed_spec(text: str) -> bool:
    return bool(text) and all(_SEEDS_RE.fullmatch(p.strip()) for p in text.split(","))


@torch.no_grad()
def resolve_latents(items: list[str], G, truncation_psi: float = 1.0,
                    class_idx: int | None = None) -> tuple[torch.Tensor, list[str]]:
    """CLI latent arguments -> (ws [N, num_ws, w_dim] on G's device, one label per latent).

    Each item is a seed spec (``"3"``, ``"0-3,7"``), a latent file, or a comma-separated mix of
    both. Seeds are mapped with ``truncation_psi`` (and ``class_idx`` for conditional networks)
    and labelled by the seed; files are used as stored and labelled by their stem, or by their folder
    for a projection's ``latent.safetensors`` / ``projected_w.npz`` (``label_i`` for the i-th latent of
    a file holding several). Labels name output files, so they are made unique: two files with one
    name get their folder in front (``a-face``, ``b-face``), and any remaining repeat a ``-2``, ``-3``.
    """
    chunks, labels, sources = [], [], []
    for item in items:
        item = str(item).strip()
        parts = [item] if Path(item).is_file() else [p.strip() for p in item.split(",")]
        for part in parts:
            if Path(part).is_file():
                record = load_latent(part, G)
                path = Path(part)
                stem = path.parent.resolve().name if path.stem in _GENERIC_STEMS else path.stem
                chunks.append(record.ws)
                n = record.ws.shape[0]
                labels += [stem] if n == 1 else [f"{stem}_{i}" for i in range(n)]
                sources += [path] * n
            elif _is_seed_spec(part):
                seeds = parse_seeds(part)
                c = class_labels(class_idx, G.c_dim)
                chunks.append(sample_ws(G, seeds, truncation_psi=truncation_psi, c=c))
                labels += [str(s) for s in seeds]
                sources += [None] * len(seeds)
            else:
                raise InputError(f"{part!r} is neither a seed, a seed range (0-3) nor an existing latent file")
    if not chunks:
        raise InputError("no latents given: pass seeds or latent files")
    return torch.cat(chunks), _unique_labels(labels, sources)


_GENERIC_STEMS = ("latent", "projected_w")  # the names every projection writes: its folder names it instead


def _unique_labels(labels: list[str], sources: list[Path | None]) -> list[str]:
    """Qualify repeated labels of files by their folder, then number whatever still repeats."""
    repeated = {label for label in labels if labels.count(label) > 1}
    labels = [f"{src.resolve().parent.name}-{label}" if label in repeated and src is not None
              and src.stem not in _GENERIC_STEMS else label for label, src in zip(labels, sources)]
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label}-{seen[label]}")
    return unique


STATE_KIND = "projection-state"


def save_projection_state(path, state, meta: dict | None = None) -> Path:
    """Write one image's ``ProjectionState`` (see ``projector.project``) as a safetensors file, atomically.

    ``meta`` (JSON) is stored beside the state's own fields under ``kind: "projection-state"``.
    """
    tensors = {"w_opt": state.w_opt, "loss": state.loss.reshape(-1)}
    tensors.update({f"noise.{i}": m for i, m in enumerate(state.noise)})
    for i, (exp_avg, exp_avg_sq) in enumerate(state.moments):
        tensors[f"adam.{i}.exp_avg"], tensors[f"adam.{i}.exp_avg_sq"] = exp_avg, exp_avg_sq
    tensors.update({f"rng.{i}": r for i, r in enumerate(state.rng)})
    tensors.update({f"refine.{k}": v for k, v in state.refine.items()})
    info = {"kind": STATE_KIND, "format_version": FORMAT_VERSION, "step": state.step, "num_steps": state.num_steps,
            "space": state.space, "starts": state.starts, "adam_step": state.adam_step,
            "noise_maps": len(state.noise), "moments": len(state.moments), **(meta or {})}
    return write_safetensors(path, tensors, info)


def load_projection_state(path):
    """(``ProjectionState``, metadata) from ``save_projection_state``'s file; ``InputError`` if unusable."""
    from .project import ProjectionState

    path = Path(path)
    try:
        tensors, meta = read_safetensors(path)
    except CheckpointError as err:
        raise InputError(str(err).replace("corrupt safetensors file", "unreadable projection state")) from None
    if not meta or meta.get("kind") != STATE_KIND:
        raise InputError(f"{path}: not a projection state written by s2edit project")
    try:
        state = ProjectionState(
            step=int(meta["step"]), num_steps=int(meta["num_steps"]), space=meta["space"], starts=int(meta["starts"]),
            w_opt=tensors["w_opt"], noise=[tensors[f"noise.{i}"] for i in range(meta["noise_maps"])],
            moments=[(tensors[f"adam.{i}.exp_avg"], tensors[f"adam.{i}.exp_avg_sq"]) for i in range(meta["moments"])],
            adam_step=float(meta["adam_step"]), rng=[tensors[f"rng.{i}"] for i in range(meta["starts"])],
            loss=tensors["loss"], refine={k.removeprefix("refine."): v for k, v in tensors.items()
                                          if k.startswith("refine.")})
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"{path}: incomplete projection state ({err})") from None
    if not all(torch.isfinite(t).all() for t in (state.w_opt, *state.noise)):
        raise InputError(f"{path}: projection state contains NaN or inf")
    return state, meta
