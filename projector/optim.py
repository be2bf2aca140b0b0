"""Optimizer helpers shared by projection and generator tuning: the perceptual distance's input, and Adam
rebuilt around changed parameters (rows kept, latents widened) with its moments carried over."""

from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = ["loss_input", "rebuild_adam"]


def loss_input(images: torch.Tensor, size: int) -> torch.Tensor:
    """Images for the perceptual distance: area-downsampled to ``size``, channels-last (the same
    distance; its convolutions run faster on CPU, benchmarks/profile_projector.py)."""
    if images.shape[-1] > size:
        images = F.interpolate(images, size=(size, size), mode="area")
    return images.contiguous(memory_format=torch.channels_last)


def rebuild_adam(optimizer: torch.optim.Adam, change: Callable[[torch.Tensor, int], torch.Tensor]
                 ) -> tuple[list[torch.Tensor], torch.optim.Adam]:
    """New leaves ``change(p, i)`` for every optimized tensor ``p`` (i: its position over all
    parameter groups), and an Adam with the same groups whose moments went through the same
    change (rows kept, latents widened to W+)."""
    old = [p for group in optimizer.param_groups for p in group["params"]]
    params = [change(p.detach(), i).clone().requires_grad_(True) for i, p in enumerate(old)]
    groups, start = [], 0
    for group in optimizer.param_groups:
        count = len(group["params"])
        groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": params[start:start + count]})
        start += count
    new = torch.optim.Adam(groups)
    for i, (before, param) in enumerate(zip(old, params)):
        state = optimizer.state.get(before)
        if state:
            new.state[param] = {k: change(v, i).clone() if torch.is_tensor(v) and v.ndim else v for k, v in state.items()}
    return params, new
