"""Edit transfer: how much of an edit a tuned generator carries, measured on the images themselves.

An attribute predictor misreads renders that carry what the world never drew (a beard reads as a
smile, a hat hides the hair), so its reading of an edit on a tuned photo says little. Edit transfer
compares pixels instead: at the same pivot and noise, the image change a tuned generator draws for an
edit, against the change the base generator draws for the same edit.
"""

from __future__ import annotations

import torch

from ..edits import apply_direction

__all__ = ["edit_transfer", "measure_edit_transfer"]


def edit_transfer(tuned_change: torch.Tensor, base_change: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row of ``[N, ...]`` image changes: the projection <tuned, base> / <base, base> (1: the
    tuned generator carries the whole edit, 0: none of it) and the cosine of the two changes.

    Computed in float64; a row whose base change is zero has no edit to carry and gets NaN.
    """
    if tuned_change.shape != base_change.shape or tuned_change.ndim < 1:
        raise ValueError(f"edit_transfer: changes {list(tuned_change.shape)} and {list(base_change.shape)} differ")
    t = tuned_change.reshape(len(tuned_change), -1).double()
    b = base_change.reshape(len(base_change), -1).double()
    dot, base_sq = (t * b).sum(1), b.square().sum(1)
    nan = torch.full_like(dot, float("nan"))
    projection = torch.where(base_sq > 0, dot / base_sq, nan)
    norms = t.norm(dim=1) * b.norm(dim=1)
    cosine = torch.where(norms > 0, dot / norms, nan)
    return projection, cosine


@torch.no_grad()
def measure_edit_transfer(tuned_G, base_G, ws: torch.Tensor, direction: torch.Tensor, strengths,
                          noise: list[torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Edit transfer of ``direction`` at each of ``strengths`` from ``ws`` [N, num_ws, w_dim], per latent [N].

    Each generator's change is its render at ``ws + s · direction`` minus its render at ``ws``, both
    with the same noise (``noise``: maps [N or 1, 1, H, W] per layer; None: the constant noise); the
    changes at all strengths of a latent are taken together (one vector per latent).
    """
    strengths = torch.as_tensor(strengths, dtype=ws.dtype).reshape(-1)
    count = len(strengths)
    edited = apply_direction(ws, direction, strengths)  # latent-major: row n·S + s
    pivots = ws.repeat_interleave(count, 0)
    maps = None if noise is None else [m.expand(len(ws), -1, -1, -1).repeat_interleave(count, 0) for m in noise]

    def change(G):
        return G.synthesis(edited, noise=maps, noise_mode="const") - G.synthesis(pivots, noise=maps, noise_mode="const")

    return edit_transfer(change(tuned_G).reshape(len(ws), -1), change(base_G).reshape(len(ws), -1))
