"""The StyleGAN2 losses: non-saturating logistic loss, lazy R1, lazy path-length
regularization and style-mixing regularization, in the phase structure of the
official ``training/loss.py`` (Gmain, Greg, Dmain, Dreg).

All randomness (z, mixing crossover, noise inputs, path-length noise) comes from one
``torch.Generator`` per process, so a run is reproducible and resumable bit for bit.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from stylegan2_core.networks import Generator

from .config import TrainConfig

__all__ = ["GeneratorStep", "StyleGAN2Loss", "PHASES"]

PHASES = ("Gmain", "Greg", "Dmain", "Dreg")


class GeneratorStep(nn.Module):
    """``G`` as one module for DistributedDataParallel: z (+ mixing z) and noise maps -> (images, ws).

    The main z's mapping updates ``w_avg`` (in the G and the D phases, as the official code does);
    the mixing z's does not.
    """

    def __init__(self, G: Generator):
        super().__init__()
        self.G = G

    def forward(self, z, z_mix, cutoff: int, noise: list, update_w_avg: bool = True):
        ws = self.G.mapping(z, None, update_w_avg=update_w_avg)
        if cutoff < ws.shape[1]:
            ws_mix = self.G.mapping(z_mix, None)
            ws = torch.cat([ws[:, :cutoff], ws_mix[:, cutoff:]], dim=1)
        return self.G.synthesis(ws, noise=noise), ws


class StyleGAN2Loss:
    """Accumulates the gradients of one phase; returns that phase's statistics (floats).

    ``G_step`` and ``D`` may be DistributedDataParallel wrappers; the other processes'
    path-length means are averaged in so the running mean ``pl_mean`` stays the same
    on every process.
    """

    def __init__(self, G_step, D, cfg: TrainConfig, generator: torch.Generator, device: torch.device):
        self.G_step = G_step
        self.D = D
        self.cfg = cfg
        self.gen = generator
        self.device = device
        self.G: Generator = G_step.module.G if hasattr(G_step, "module") else G_step.G
        self.pl_mean = torch.zeros([], device=device)

    def _randn(self, shape) -> torch.Tensor:
        return torch.randn(shape, generator=self.gen, device=self.device)

    def latents(self, n: int) -> tuple[torch.Tensor, torch.Tensor, int, list[torch.Tensor]]:
        """z, mixing z, crossover layer (num_ws = no mixing) and per-layer noise for ``n`` samples."""
        z = self._randn([n, self.G.z_dim])
        z_mix = self._randn([n, self.G.z_dim])
        num_ws = self.G.num_ws
        u = torch.rand([2], generator=self.gen, device=self.device).tolist()
        cutoff = 1 + int(u[0] * (num_ws - 1)) if u[1] < self.cfg.style_mixing_prob else num_ws
        noise = [self._randn([n, 1, h, w]) for h, w in self.G.synthesis.noise_shapes()]
        return z, z_mix, cutoff, noise

    def run_G(self, n: int, sync: bool = True):
        z, z_mix, cutoff, noise = self.latents(n)
        if sync:
            return self.G_step(z, z_mix, cutoff, noise)
        with torch.no_grad():
            return self.G_step(z, z_mix, cutoff, noise)

    def run_D(self, img: torch.Tensor, sync: bool) -> torch.Tensor:
        if sync or not hasattr(self.D, "no_sync"):
            return self.D(img)
        with self.D.no_sync():
            return self.D(img)

    def accumulate_gradients(self, phase: str, real_img: torch.Tensor, gain: float) -> dict[str, float]:
        n = real_img.shape[0]
        stats = {}
        if phase == "Gmain":
            gen_img, _ = self.run_G(n)
            gen_logits = self.run_D(gen_img, sync=False)
            loss = F.softplus(-gen_logits)  # -log(sigmoid(D(G(z))))
            loss.mean().mul(gain).backward()
            stats = {"G/loss": loss.mean().item(), "scores/fake": gen_logits.mean().item()}
        elif phase == "Greg":
            m = max(n // self.cfg.pl_batch_shrink, 1)
            gen_img, gen_ws = self.run_G(m)
            pl_noise = self._randn(gen_img.shape) / np.sqrt(gen_img.shape[2] * gen_img.shape[3])
            pl_grads = torch.autograd.grad(outputs=[(gen_img * pl_noise).sum()], inputs=[gen_ws],
                                           create_graph=True, only_inputs=True)[0]
            pl_lengths = pl_grads.square().sum(2).mean(1).sqrt()
            batch_mean = pl_lengths.mean()
            if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
                global_mean = batch_mean.detach().clone()
                dist.all_reduce(global_mean)
                batch_mean = batch_mean + (global_mean / dist.get_world_size() - batch_mean).detach()
            pl_mean = self.pl_mean.lerp(batch_mean, self.cfg.pl_decay)
            self.pl_mean.copy_(pl_mean.detach())
            pl_penalty = (pl_lengths - pl_mean).square()
            loss = pl_penalty * self.cfg.pl_weight
            (gen_img[:, 0, 0, 0] * 0 + loss).mean().mul(gain).backward()  # *0 term: every parameter in the graph
            stats = {"pl_penalty": pl_penalty.mean().item(), "pl_mean": self.pl_mean.item()}
        elif phase == "Dmain":
            gen_img, _ = self.run_G(n, sync=False)
            gen_logits = self.run_D(gen_img, sync=False)  # reduced together with the real pass below
            loss_gen = F.softplus(gen_logits)  # -log(1 - sigmoid(D(G(z))))
            loss_gen.mean().mul(gain).backward()
            real_logits = self.run_D(real_img.detach(), sync=True)
            loss_real = F.softplus(-real_logits)  # -log(sigmoid(D(x)))
            loss_real.mean().mul(gain).backward()
            stats = {"D/loss": (loss_gen + loss_real).mean().item(), "scores/real": real_logits.mean().item()}
        elif phase == "Dreg":
            real = real_img.detach().requires_grad_(True)
            real_logits = self.run_D(real, sync=True)
            r1_grads = torch.autograd.grad(outputs=[real_logits.sum()], inputs=[real], create_graph=True,
                                           only_inputs=True)[0]
            r1_penalty = r1_grads.square().sum([1, 2, 3])
            loss = r1_penalty * (self.cfg.r1_gamma / 2)
            (real_logits * 0 + loss).mean().mul(gain).backward()
            stats = {"r1_penalty": r1_penalty.mean().item()}
        else:
            raise ValueError(f"unknown phase {phase!r}; expected one of {PHASES}")
        return stats
