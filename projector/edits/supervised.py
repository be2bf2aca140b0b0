"""InterFaceGAN (Shen et al. 2020): a direction from labelled latents.

``fit_direction`` returns the normal of a linear classifier (a linear SVM or logistic
regression) separating latents by an attribute score, optionally orthogonalised against other
attributes; ``labels_from_csv`` and ``labels_from_predictor`` make the labelled latents.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from stylegan2_core.errors import InputError, ShapeError
from stylegan2_core.latent import class_labels, sample_ws

from .direction_file import DirectionSet, orthogonalize

__all__ = ["METHODS", "fit_direction", "labels_from_csv", "labels_from_predictor",
           "labels_from_attribute"]

METHODS = ("linear-svm", "logistic")


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


def fit_direction(ws_or_w: torch.Tensor, scores: torch.Tensor, method: str = "linear-svm",
                  threshold: float | None = None, val_fraction: float = 0.2, seed: int = 0,
                  condition_on: torch.Tensor | None = None, C: float = 1.0, name: str = "direction") -> DirectionSet:
    """InterFaceGAN: the unit normal of a linear boundary separating latents by score.

    Args:
        ws_or_w: [N, w_dim] w, or [N, num_ws, w_dim] ws (reduced to their mean over layers, which
            is w itself for unprojected latents).
        scores: [N] attribute scores; positive class = score above ``threshold`` (default: the median,
            or the midpoint for two-valued labels).
        method: ``linear-svm`` (L2-regularized squared hinge) or ``logistic``, fit on standardized w
            with L-BFGS; the normal is mapped back to W, so it points toward higher scores in W.
        val_fraction: share of samples held out (seeded shuffle) to measure accuracy, the set's value.
        condition_on: [m, w_dim] directions to keep fixed: projected out of the result (``orthogonalize``,
            the same conditioning ``s2edit edit --keep`` applies).
    """
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    x = torch.as_tensor(ws_or_w).detach().cpu().double()
    if x.ndim == 3:
        x = x.mean(1)
    s = torch.as_tensor(scores).detach().cpu().double().reshape(-1).numpy()
    x = x.numpy()
    if x.ndim != 2 or x.shape[0] != s.shape[0]:
        raise ShapeError(f"fit_direction: expected w [N, w_dim] and scores [N], got {list(x.shape)} and "
                         f"{list(s.shape)}")
    if not (np.isfinite(x).all() and np.isfinite(s).all()):
        raise InputError("fit_direction: latents or scores contain NaN or inf")
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
        raise InputError(f"fit_direction: all training labels fall on one side of the threshold {threshold:g}")
    mu, sigma = x[train].mean(0), x[train].std(0)
    sigma = np.where(sigma > 1e-12, sigma, 1.0)
    w_std, b = _fit_linear((x[train] - mu) / sigma, y[train], method, C)
    normal = w_std / sigma  # w_std·(x-mu)/sigma + b = (w_std/sigma)·x + const
    norm = np.linalg.norm(normal)
    if norm < 1e-12:
        raise InputError("fit_direction: the classifier found no direction (labels may be unrelated to the latents)")
    direction = torch.from_numpy(normal / norm).float()
    rows = val if n_val else train
    accuracy = float(np.mean(np.sign((x[rows] - mu) / sigma @ w_std + b) == y[rows]))
    if condition_on is not None and len(condition_on):
        direction = orthogonalize(direction, torch.as_tensor(condition_on, dtype=torch.float32))
    meta = {"source": "supervised", "method": method, "threshold": threshold, "val_fraction": val_fraction, "seed": seed,
            "num_samples": int(len(y)), "accuracy_on": "validation" if n_val else "training",
            "conditioned": condition_on is not None and len(condition_on) > 0}
    return DirectionSet(direction[None], [name], method, None, torch.tensor([accuracy]), meta)


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
        mapped = iter(sample_ws(G, seeds, truncation_psi=truncation_psi, c=class_labels(class_idx, G.c_dim)))
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
    all_ws = sample_ws(G, num=num_samples, seed=seed, truncation_psi=truncation_psi,
                       c=class_labels(class_idx, G.c_dim))
    all_scores = []
    for ws in all_ws.split(batch_size):
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
        if out.shape != (len(ws),):
            raise ShapeError(f"predictor returned shape {list(out.shape)}, expected [{len(ws)}]")
        all_scores.append(out.detach().float().cpu())
        if progress is not None:
            progress(len(ws))
    return all_ws.cpu(), torch.cat(all_scores)


def labels_from_attribute(G, attribute: str, num_samples: int, seed: int = 0, predictor=None,
                          truncation_psi: float = 1.0, class_idx: int | None = None,
                          progress: Callable[[int], None] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``labels_from_predictor`` with the demo world's attribute predictor, by attribute name.

    ``predictor``: a saved predictor's path (``projector.world.predictor.load_predictor``), default
    the shipped one. Raises ``InputError`` for an attribute the predictor does not know.
    """
    from ..world.predictor import default_predictor, load_predictor

    model = load_predictor(predictor) if predictor is not None else default_predictor()
    if attribute not in model.names:
        raise InputError(f"--attribute {attribute!r}: the predictor knows {', '.join(model.names)}")
    model = model.to(G.mapping.w_avg.device)
    return labels_from_predictor(G, model.predict, num_samples, seed=seed, attribute=attribute,
                                 truncation_psi=truncation_psi, class_idx=class_idx, progress=progress)
