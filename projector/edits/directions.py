"""Attribute directions in W: find them (SeFa, GANSpace PCA, InterFaceGAN), store them, apply them.

* ``sefa``: closed-form factorization of the style-affine weights (Shen & Zhou 2021): the
  directions that change the styles the most are the top eigenvectors of AᵀA.
* ``pca``: GANSpace in W (Härkönen et al. 2020): principal components of mapped random z.
* ``svm``: InterFaceGAN (Shen et al. 2020): the normal of a linear classifier separating
  latents by an attribute score, optionally orthogonalised against other attributes.

Directions are unit vectors [k, w_dim]; an edit adds ``strength · direction`` to the ws of
chosen layers.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from stylegan2_core.errors import InputError, ShapeError
from stylegan2_core.fileio import MAGIC_KEY, atomic_write, is_safetensors
from stylegan2_core.latent import class_labels, z_from_seeds, z_samples

FORMAT_VERSION = 1
METHODS = ("linear-svm", "logistic")


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


def style_affines(G) -> list[tuple[str, int, torch.nn.Module]]:
    """Every style-affine layer as (name, ws index, module), in synthesis order.

    In block b4, conv1 reads ws 0 and torgb ws 1; in later blocks conv0, conv1 and torgb
    read ``w_idx``, ``w_idx+1`` and ``w_idx+2``, with ``w_idx`` advancing by the block's conv count.
    """
    layers = []
    w_idx = 0
    for res in G.synthesis.block_resolutions:
        block = getattr(G.synthesis, f"b{res}")
        i = w_idx
        for name in ("conv0", "conv1", "torgb"):
            module = getattr(block, name, None)
            if module is not None:
                layers.append((f"b{res}.{name}", i, module.affine))
                i += 1
        w_idx += block.num_conv
    return layers


def _check_layers(layers, num_ws: int) -> list[int] | None:
    if layers is None:
        return None
    layers = sorted(set(int(i) for i in layers))
    if not layers or layers[0] < 0 or layers[-1] >= num_ws:
        raise InputError(f"layers {layers}: must be a non-empty subset of 0 .. {num_ws - 1}")
    return layers


@torch.no_grad()
def sefa(G, layers: list[int] | None = None, k: int = 5) -> DirectionSet:
    """Closed-form factorization: top-``k`` eigenvectors of AᵀA.

    A stacks (along the output-feature axis) the effective weights ``affine.weight · weight_gain``
    of every style-affine layer whose ws index is in ``layers`` (None = all), so the directions
    are the unit w-offsets that move those layers' styles the most. Values are the eigenvalues.
    """
    layers = _check_layers(layers, G.num_ws)
    chosen = [m for _, i, m in style_affines(G) if layers is None or i in layers]
    A = torch.cat([(m.weight * m.weight_gain).cpu().double() for m in chosen]).numpy()
    if not 1 <= k <= A.shape[1]:
        raise InputError(f"-k {k}: must be 1 .. {A.shape[1]} (w_dim)")
    eigvals, eigvecs = np.linalg.eigh(A.T @ A)
    order = np.argsort(eigvals)[::-1][:k]
    dirs = eigvecs[:, order].T
    dirs *= np.where(dirs[np.arange(k), np.abs(dirs).argmax(1)] < 0, -1.0, 1.0)[:, None]  # fixed sign
    return DirectionSet(torch.from_numpy(dirs.copy()).float(), [f"sefa{i}" for i in range(k)], "sefa", layers,
                        torch.from_numpy(eigvals[order].copy()).float(),
                        {"model_sha256": _model_sha(G), "source": "sefa"})


@torch.no_grad()
def pca(G, num_samples: int = 10_000, seed: int = 0, k: int = 10, truncation_psi: float = 1.0,
        class_idx: int | None = None, batch_size: int = 2500) -> DirectionSet:
    """GANSpace in W: principal components of w for ``num_samples`` z drawn with ``RandomState(seed)``.

    Values are the standard deviation of w along each component; ``meta['mean']`` is the sample mean w.
    """
    if not 1 <= k <= min(G.w_dim, num_samples):
        raise InputError(f"-k {k}: must be 1 .. min(w_dim={G.w_dim}, samples={num_samples})")
    device = G.mapping.w_avg.device
    z = z_samples(num_samples, G.z_dim, seed)
    c = class_labels(class_idx, G.c_dim, 1).to(device)
    ws = []
    for chunk in z.split(batch_size):
        cc = c.expand(len(chunk), -1) if G.c_dim else None
        ws.append(G.mapping(chunk.to(device), cc, truncation_psi=truncation_psi)[:, 0].cpu().double())
    w = torch.cat(ws).numpy()
    mean = w.mean(0)
    _, s, vt = np.linalg.svd(w - mean, full_matrices=False)
    dirs = vt[:k]
    dirs *= np.where(dirs[np.arange(k), np.abs(dirs).argmax(1)] < 0, -1.0, 1.0)[:, None]
    std = s[:k] / np.sqrt(max(num_samples - 1, 1))
    meta = {"model_sha256": _model_sha(G), "source": "pca", "num_samples": num_samples, "seed": seed,
            "truncation_psi": truncation_psi, "class_idx": class_idx, "mean": mean.astype(np.float32).tolist()}
    return DirectionSet(torch.from_numpy(dirs.copy()).float(), [f"pc{i}" for i in range(k)], "pca", None,
                        torch.from_numpy(std).float(), meta)


def orthogonalize(direction: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
    """Remove from ``direction`` [w_dim] its component in the span of ``others`` [m, w_dim]; unit result.

    Gram-Schmidt on ``others`` first, so correlated conditions are handled; editing along the result
    leaves the projections onto all ``others`` unchanged (InterFaceGAN's conditional manipulation).
    """
    d = direction.detach().cpu().double().reshape(-1)
    basis = []
    for o in torch.as_tensor(others).detach().cpu().double().reshape(-1, d.shape[0]):
        for b in basis:
            o = o - (o @ b) * b
        if o.norm() > 1e-8:
            basis.append(o / o.norm())
    for b in basis:
        d = d - (d @ b) * b
    if d.norm() < 1e-6:
        raise InputError("the direction lies in the span of the directions it is conditioned on")
    return (d / d.norm()).to(direction)


def _fit_linear(x: np.ndarray, y: np.ndarray, method: str, C: float) -> tuple[np.ndarray, float]:
    """L2-regularized linear classifier on labels y in {-1, +1}: squared hinge (SVM) or logistic loss."""
    from scipy.optimize import minimize
    from scipy.special import expit

    n, d = x.shape

    def objective(p):
        w, b = p[:d], p[d]
        m = y * (x @ w + b)
        if method == "linear-svm":
            h = np.maximum(0.0, 1.0 - m)
            loss, dm = np.sum(h * h), -2.0 * h
        else:
            loss, dm = np.sum(np.logaddexp(0.0, -m)), -expit(-m)
        g = dm * y
        grad = np.concatenate([w + C * (x.T @ g), [C * g.sum()]])
        return 0.5 * w @ w + C * loss, grad

    res = minimize(objective, np.zeros(d + 1), jac=True, method="L-BFGS-B", options={"maxiter": 2000})
    return res.x[:d], float(res.x[d])


def svm(ws_or_w: torch.Tensor, scores: torch.Tensor, method: str = "linear-svm", threshold: float | None = None,
        val_fraction: float = 0.2, seed: int = 0, condition_on: torch.Tensor | None = None, C: float = 1.0,
        name: str = "svm") -> DirectionSet:
    """InterFaceGAN: the unit normal of a linear boundary separating latents by score.

    Args:
        ws_or_w: [N, w_dim] w, or [N, num_ws, w_dim] ws (reduced to their mean over layers, which
            is w itself for unprojected latents).
        scores: [N] attribute scores; positive class = score above ``threshold`` (default: the median,
            or the midpoint for two-valued labels).
        method: ``linear-svm`` (L2-regularized squared hinge) or ``logistic``, fit on standardized w
            with L-BFGS; the normal is mapped back to W, so it points toward higher scores in W.
        val_fraction: share of samples held out (seeded shuffle) to measure accuracy, the set's value.
        condition_on: [m, w_dim] directions to keep fixed: projected out of the result.
    """
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    x = torch.as_tensor(ws_or_w).detach().cpu().double()
    if x.ndim == 3:
        x = x.mean(1)
    s = torch.as_tensor(scores).detach().cpu().double().reshape(-1).numpy()
    x = x.numpy()
    if x.ndim != 2 or x.shape[0] != s.shape[0]:
        raise ShapeError(f"svm: expected w [N, w_dim] and scores [N], got {list(x.shape)} and {list(s.shape)}")
    if not (np.isfinite(x).all() and np.isfinite(s).all()):
        raise InputError("svm: latents or scores contain NaN or inf")
    if not 0 <= val_fraction < 1:
        raise InputError(f"val_fraction {val_fraction}: must be in [0, 1)")
    levels = np.unique(s)
    if threshold is None:
        threshold = float(levels.mean()) if len(levels) == 2 else float(np.median(s))
    y = np.where(s > threshold, 1.0, -1.0)
    n_val = int(round(len(y) * val_fraction))
    perm = np.random.RandomState(seed).permutation(len(y))
    val, train = perm[:n_val], perm[n_val:]
    if len(np.unique(y[train])) < 2:
        raise InputError(f"svm: all training labels fall on one side of the threshold {threshold:g}")
    mu, sigma = x[train].mean(0), x[train].std(0)
    sigma = np.where(sigma > 1e-12, sigma, 1.0)
    w_std, b = _fit_linear((x[train] - mu) / sigma, y[train], method, C)
    normal = w_std / sigma  # w_std·(x-mu)/sigma + b = (w_std/sigma)·x + const
    norm = np.linalg.norm(normal)
    if norm < 1e-12:
        raise InputError("svm: the classifier found no direction (labels may be unrelated to the latents)")
    direction = torch.from_numpy(normal / norm).float()
    rows = val if n_val else train
    accuracy = float(np.mean(np.sign((x[rows] - mu) / sigma @ w_std + b) == y[rows]))
    if condition_on is not None and len(condition_on):
        direction = orthogonalize(direction, torch.as_tensor(condition_on, dtype=torch.float32))
    meta = {"source": "svm", "method": method, "threshold": threshold, "val_fraction": val_fraction, "seed": seed,
            "num_samples": int(len(y)), "accuracy_on": "validation" if n_val else "training",
            "conditioned": condition_on is not None and len(condition_on) > 0}
    return DirectionSet(direction[None], [name], "svm", None, torch.tensor([accuracy]), meta)


def labels_from_csv(path, G, truncation_psi: float = 1.0,
                    class_idx: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Read ``latent,score`` rows (header optional) -> (ws [N, num_ws, w_dim], scores [N]).

    ``latent`` is a seed (mapped with ``truncation_psi``) or a latent file path, relative paths
    looked up next to the CSV first, then from the working directory. Files holding several
    latents are rejected (one score each).
    """
    from ..latent_file import load_latent

    path = Path(path)
    try:
        with open(path, newline="") as f:
            rows = [r for r in csv.reader(f) if r and any(x.strip() for x in r)]
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: unreadable labels file ({err})") from None
    if rows and rows[0][0].strip().lower() == "latent":
        rows = rows[1:]
    if not rows:
        raise InputError(f"{path}: no labelled latents")
    device = G.mapping.w_avg.device
    latents: list[torch.Tensor | int] = []
    scores = []
    for line, row in enumerate(rows, start=1):
        if len(row) < 2:
            raise InputError(f"{path}: row {line}: expected 'latent,score', got {row}")
        item, value = row[0].strip(), row[1].strip()
        try:
            scores.append(float(value))
        except ValueError:
            raise InputError(f"{path}: row {line}: score {value!r} is not a number") from None
        if item.isdigit():
            latents.append(int(item))
            continue
        file = path.parent / item if (path.parent / item).is_file() else Path(item)
        ws = load_latent(file, G).ws
        if ws.shape[0] != 1:
            raise InputError(f"{path}: row {line}: {file} holds {ws.shape[0]} latents, one score needs one latent")
        latents.append(ws)
    seeds = [s for s in latents if isinstance(s, int)]
    mapped = iter([])
    if seeds:
        z = z_from_seeds(seeds, G.z_dim).to(device)
        c = class_labels(class_idx, G.c_dim, len(seeds)).to(device)
        with torch.no_grad():
            mapped = iter(G.mapping(z, c, truncation_psi=truncation_psi))
    ws = torch.stack([next(mapped) if isinstance(item, int) else item[0] for item in latents])
    return ws, torch.tensor(scores, dtype=torch.float32)


@torch.no_grad()
def labels_from_predictor(G, predictor_fn: Callable, num_samples: int, seed: int = 0,
                          attribute: str | int | None = None, truncation_psi: float = 1.0,
                          class_idx: int | None = None, batch_size: int = 32,
                          noise_mode: str = "const", progress: Callable[[int], None] | None = None,
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Score generated images: (ws [N, num_ws, w_dim], scores [N]) for z from ``RandomState(seed)``.

    ``predictor_fn(images NCHW in [-1, 1])`` returns scores [N]; or [N, A] / a dict of [N] from
    which ``attribute`` (index or name) selects one. ``progress(n)`` is called after each batch.
    """
    device = G.mapping.w_avg.device
    z = z_samples(num_samples, G.z_dim, seed)
    c = class_labels(class_idx, G.c_dim, 1).to(device)
    all_ws, all_scores = [], []
    for chunk in z.split(batch_size):
        cc = c.expand(len(chunk), -1) if G.c_dim else None
        ws = G.mapping(chunk.to(device), cc, truncation_psi=truncation_psi)
        out = predictor_fn(G.synthesis(ws, noise_mode=noise_mode))
        if isinstance(out, dict):
            if attribute not in out:
                raise InputError(f"attribute {attribute!r} not among the predictor's outputs {sorted(out)}")
            out = out[attribute]
        out = torch.as_tensor(out)
        if out.ndim == 2:
            if not isinstance(attribute, int):
                raise InputError("the predictor returns several scores per image: pass the attribute's index")
            out = out[:, attribute]
        if out.shape != (len(chunk),):
            raise ShapeError(f"predictor returned shape {list(out.shape)}, expected [{len(chunk)}]")
        all_ws.append(ws.cpu())
        all_scores.append(out.detach().float().cpu())
        if progress is not None:
            progress(len(chunk))
    return torch.cat(all_ws), torch.cat(all_scores)


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
