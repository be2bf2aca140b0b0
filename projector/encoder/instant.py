"""The instant preset's projection (``ProjectorConfig.preset('instant')``): an encoder's inversion as a
``ProjectionResult``, so that it is written, reported and tuned as any projection is."""

from __future__ import annotations

import time

import torch

from stylegan2_core.errors import InputError

from ..objective import ProjectionObjective
from ..project import ProjectionResult

__all__ = ["instant_result"]


def instant_result(G, encoder, objective: ProjectionObjective, started: float) -> ProjectionResult:
    """The encoder's inversion of ``objective.target`` with the network's constant noise maps (what ``s2edit
    edit`` renders for the latent, so its render is ``proj.png``), its distance, and the seconds since
    ``started`` (a ``time.perf_counter()``)."""
    if encoder is None:
        raise InputError("the instant preset needs an encoder trained for this network: pass encoder= "
                         "(s2edit project --encoder FILE); s2edit train-encoder --network ... trains one")
    n = objective.target.shape[0]
    with torch.no_grad():
        ws = encoder.invert(objective.target, G)
        noise = [m.to(ws.device, torch.float32).expand(n, -1, -1, -1).clone() for m in G.synthesis.const_noise()]
        images = G.synthesis(ws, noise=noise, fused_modconv=False)
        final = objective.perceptual(images)
    return ProjectionResult(ws=ws, noise=noise, images=images, distance=final,
                            loss_name=getattr(objective.distance, "name", "custom"), steps=0,
                            seconds=time.perf_counter() - started, device=str(ws.device))
