"""The L-BFGS refinement that ends the fast projection: every row of a batch of latents its own
minimizer, with its own curvature memory and backtracking line search, rows still searching evaluated
together. The noise maps stay fixed; Adam reaches the last digits of convergence slowly, L-BFGS quickly
(see ``docs/projection.md``)."""

from collections.abc import Callable

import numpy as np
import torch

__all__ = ["lbfgs_direction", "lbfgs_step", "new_memory", "refine_latents"]


def new_memory(loss: torch.Tensor, grad: torch.Tensor, size: int) -> dict[str, torch.Tensor]:
    """Empty L-BFGS memory for rows at a point with ``loss`` [rows] and ``grad`` [rows, D]: ``size``
    curvature pairs (s, y) per row, oldest first, and rho = 1 / (s . y), 0 in an empty slot; the
    first step is the gradient scaled to unit L1 norm (torch.optim.LBFGS's choice)."""
    rows, dim = grad.shape
    return {"loss": loss, "grad": grad, "s": grad.new_zeros(rows, size, dim), "y": grad.new_zeros(rows, size, dim),
            "rho": grad.new_zeros(rows, size), "gamma": grad.abs().sum(1).clamp(min=1).reciprocal(),
            "active": torch.ones(rows, dtype=torch.bool, device=grad.device)}


def lbfgs_direction(mem: dict[str, torch.Tensor]) -> torch.Tensor:
    """Each row's search direction -H g from its own memory (the two-loop recursion; empty slots,
    rho 0, change nothing); steepest descent where rounding made it point uphill."""
    s, y, rho, grad = mem["s"], mem["y"], mem["rho"], mem["grad"]
    q = grad.clone()
    alphas = []
    for k in reversed(range(s.shape[1])):
        alphas.append(rho[:, k] * (s[:, k] * q).sum(1))
        q -= alphas[-1][:, None] * y[:, k]
    q *= mem["gamma"][:, None]
    for k in range(s.shape[1]):
        beta = rho[:, k] * (y[:, k] * q).sum(1)
        q += (alphas[-1 - k] - beta)[:, None] * s[:, k]
    uphill = (q * grad).sum(1) <= 0
    return torch.where(uphill[:, None], -grad * mem["gamma"][:, None], -q)


def lbfgs_step(evaluate, x: torch.Tensor, mem: dict[str, torch.Tensor], seen: list[torch.Tensor],
                max_halvings: int = 10) -> float:
    """One L-BFGS iteration of every active row of ``x`` [rows, D], in place: a backtracking line
    search from step 1 along the row's direction until the Armijo condition holds, each row on its
    own (rows still searching are evaluated together). A row whose search fails stays and stops.

    ``evaluate(points, rows)`` returns (loss [r], grad [r, D], *outputs); ``seen`` holds each row's
    latest outputs and is updated where a row moves. Returns the mean accepted step length.
    """
    direction = lbfgs_direction(mem)
    slope = (direction * mem["grad"]).sum(1)
    length = torch.ones_like(slope)
    searching = mem["active"].clone()
    accepted = []
    for _ in range(max_halvings):
        rows = searching.nonzero().squeeze(1)
        if not len(rows):
            break
        points = x[rows] + length[rows, None] * direction[rows]
        loss, grad, *outputs = evaluate(points, rows)
        ok = loss <= mem["loss"][rows] + 1e-4 * length[rows] * slope[rows]
        moved = rows[ok]
        s, y = points[ok] - x[moved], grad[ok] - mem["grad"][moved]
        sy = (s * y).sum(1)
        curved = sy > 1e-10  # a pair that keeps H positive definite; others leave the memory as it is
        update = moved[curved]
        mem["s"][update] = torch.cat([mem["s"][update, 1:], s[curved, None]], dim=1)
        mem["y"][update] = torch.cat([mem["y"][update, 1:], y[curved, None]], dim=1)
        mem["rho"][update] = torch.cat([mem["rho"][update, 1:], sy[curved, None].reciprocal()], dim=1)
        mem["gamma"][update] = sy[curved] / y[curved].square().sum(1)
        x[moved], mem["loss"][moved], mem["grad"][moved] = points[ok], loss[ok], grad[ok]
        for buffer, value in zip(seen, outputs):
            buffer[moved] = value[ok]
        accepted += length[moved].tolist()
        searching[moved] = False
        length[rows[~ok]] *= 0.5
    mem["active"] &= ~searching
    return float(np.mean(accepted)) if accepted else 0.0


def refine_latents(G, image_loss, w_opt: torch.Tensor, noise: list[torch.Tensor], iterations: range,
                   memory_size: int, memory: dict[str, torch.Tensor] | None = None,
                   after_iteration: Callable[[int, torch.Tensor, dict, list[torch.Tensor], float], None] | None = None
                   ) -> torch.Tensor:
    """L-BFGS on the latents ``w_opt`` [rows, 1 or num_ws, w_dim] with the noise maps fixed; returns the
    refined latents.

    ``image_loss(images, rows)`` gives (loss, distance) of each rendered row against its own target.
    ``memory``: each row's curvature memory to continue from (a resumed run), else a fresh one of
    ``memory_size`` pairs. ``after_iteration(step, latents, memory, seen, step_length)`` follows every
    iteration; ``seen`` holds each row's latest (images, distance).
    """
    latent_shape = w_opt.shape[1:]

    def evaluate(points, rows):
        points = points.detach().requires_grad_(True)
        synth = G.synthesis(points.view(-1, *latent_shape).expand(-1, G.num_ws, -1),
                            noise=[m[rows] for m in noise], fused_modconv=False)
        loss, dist = image_loss(synth, rows)
        (grad,) = torch.autograd.grad(loss.sum(), points)
        return loss.detach(), grad, synth.detach(), dist.detach()

    x = w_opt.detach().reshape(w_opt.shape[0], -1).clone()
    loss, grad, *seen = evaluate(x, torch.arange(x.shape[0], device=x.device))
    if memory:
        mem = {k: v.to(x.device).clone() for k, v in memory.items()}
    else:
        mem = new_memory(loss, grad, memory_size)
    for step in iterations:
        length = lbfgs_step(evaluate, x, mem, seen)
        if after_iteration is not None:
            after_iteration(step, x.view(-1, *latent_shape), mem, seen, length)
    return x.view(-1, *latent_shape)
