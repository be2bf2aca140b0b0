"""Widen a trained generator without changing what it draws, to continue training with more channels.

A run that has levelled off at its capacity can continue with more channels per layer
instead of starting again. Every new channel is wired in so that the widened generator
computes the same function as before:

- inputs from new channels enter every layer with zero weights (modulated convolutions
  demodulate over their inputs, so zero weights leave the normalisation unchanged);
- new output channels, their styles and constant input start from the usual random init,
  so that gradients reach them once the zero weights that read them start to move;
- layers with a fan-in gain (ToRGB, plain convolutions) get their old weights rescaled,
  because a wider fan-in lowers the run-time gain.

Adam's moments follow the weights: old entries are kept (rescaled with the weight), new
ones start at zero. The discriminator is kept as it is.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from stylegan2_core.checkpoints.native import write_native
from stylegan2_core.config import GeneratorConfig
from stylegan2_core.errors import InputError
from stylegan2_core.networks import (
    Conv2dLayer,
    FullyConnectedLayer,
    Generator,
    SynthesisLayer,
    ToRGBLayer,
)

from .checkpoint import load_checkpoint, module_tensors
from .config import TrainConfig

__all__ = ["widened_config", "widen_generator", "widen_training_checkpoint"]


def widened_config(cfg: GeneratorConfig, channel_base: int | None = None,
                   channel_max: int | None = None) -> GeneratorConfig:
    """``cfg`` with a new channel base / maximum; refused unless no resolution loses channels."""
    syn = cfg.synthesis
    new = GeneratorConfig.from_dict({**cfg.to_dict(), "synthesis": {
        **cfg.to_dict()["synthesis"],
        "channel_base": syn.channel_base if channel_base is None else channel_base,
        "channel_max": syn.channel_max if channel_max is None else channel_max}})
    resolutions = [2**i for i in range(2, int(math.log2(cfg.img_resolution)) + 1)]
    narrower = [r for r in resolutions if new.synthesis.channels(r) < syn.channels(r)]
    if narrower:
        raise InputError(f"widening cannot remove channels: resolution {narrower[0]} would go from "
                         f"{syn.channels(narrower[0])} to {new.synthesis.channels(narrower[0])}")
    if new == cfg:
        raise InputError("the new channel base and maximum give the same network: nothing to widen")
    return new


def _fan_in_gain_layers(G: Generator) -> dict[str, int]:
    """``module name -> input width`` of every layer whose weight has a run-time fan-in gain."""
    layers = {}
    for name, module in G.named_modules():
        if isinstance(module, FullyConnectedLayer):
            layers[name] = module.in_features
        elif isinstance(module, (ToRGBLayer, Conv2dLayer)):
            layers[name] = module.weight.shape[1]
    return layers


def _weight_rules(old: Generator, new: Generator) -> dict[str, float | None]:
    """``weight name -> factor`` that keeps each layer's effective weight as its input widens (None: demodulated)."""
    old_in, new_in = _fan_in_gain_layers(old), _fan_in_gain_layers(new)
    rules = {}
    for name, module in new.named_modules():
        if isinstance(module, SynthesisLayer):
            rules[f"{name}.weight"] = None  # demodulated: scale-free, no gain
        elif name in new_in:
            rules[f"{name}.weight"] = math.sqrt(new_in[name] / old_in[name])
    return rules


def _embed(old: torch.Tensor, template: torch.Tensor, scale: float | None, zero_new_inputs: bool) -> torch.Tensor:
    """``template`` with ``old`` (times ``scale``) in its leading corner and zeros where old outputs read new inputs."""
    if old.ndim != template.ndim or any(o > t for o, t in zip(old.shape, template.shape)):
        raise InputError(f"cannot widen a tensor of shape {list(old.shape)} to {list(template.shape)}")
    out = template.detach().clone()
    corner = tuple(slice(0, s) for s in old.shape)
    out[corner] = old.to(out.dtype) * (scale if scale is not None else 1.0)
    if zero_new_inputs and old.ndim >= 2:
        out[: old.shape[0], old.shape[1]:] = 0
    return out


def _widen_state(old_state: dict, old: Generator, new: Generator) -> dict[str, torch.Tensor]:
    rules = _weight_rules(old, new)
    template = new.state_dict()
    state = {}
    for key, value in template.items():
        if key not in old_state:
            raise InputError(f"cannot widen: the old generator has no {key}")
        is_weight = key in rules
        state[key] = _embed(old_state[key], value, rules.get(key), zero_new_inputs=is_weight)
    return state


def widen_generator(G: Generator, cfg: GeneratorConfig, seed: int = 0) -> Generator:
    """A copy of ``G`` with ``cfg``'s (wider) channels that draws the same images; new weights seeded by ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        new = Generator(cfg)
    old_state = {k: v.detach().cpu() for k, v in G.state_dict().items()}
    new.load_state_dict(_widen_state(old_state, G, new))
    return new.eval().requires_grad_(False)


def _widen_moments(tensors: dict, old: Generator, new: Generator) -> dict[str, torch.Tensor]:
    """G's Adam moments (``opt_G.<parameter index>.<key>``) embedded in the wider shapes."""
    rules = _weight_rules(old, new)
    params = list(new.named_parameters())
    moments = {}
    for key, value in tensors.items():
        if not key.startswith("opt_G."):
            continue
        index, moment = key[len("opt_G."):].split(".", 1)
        name, param = params[int(index)]
        if value.ndim == 0:  # Adam's step count
            moments[key] = value
            continue
        scale = rules.get(name)
        factor = None if scale is None else (1 / scale if moment == "exp_avg" else 1 / scale**2)
        moments[key] = _embed(value, torch.zeros_like(param), factor, zero_new_inputs=name in rules)
    return moments


def widen_training_checkpoint(src, dst, channel_base: int | None = None, channel_max: int | None = None,
                              seed: int = 0) -> TrainConfig:
    """Write ``dst``: the training checkpoint ``src`` with a wider G and G_ema (D and progress unchanged).

    ``s2edit train --resume dst`` then continues the run with the wider generator.
    """
    src, dst = Path(src), Path(dst)
    if src.resolve() == dst.resolve():
        raise InputError(f"{dst}: write the widened checkpoint to a new file, not over {src}")
    tensors, meta, cfg = load_checkpoint(src)
    new_G_cfg = widened_config(cfg.G, channel_base, channel_max)
    old = Generator(cfg.G)
    out = {k: v for k, v in tensors.items() if not k.startswith(("G.", "G_ema.", "opt_G."))}
    for prefix in ("G", "G_ema"):
        old_state = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
        old.load_state_dict({**old.state_dict(), **old_state})
        widened = widen_generator(old, new_G_cfg, seed)
        out.update(module_tensors(prefix, widened))
    out.update(_widen_moments(tensors, old, widened))
    new_cfg = cfg.replace(G=new_G_cfg)
    extra = {k: v for k, v in meta.items() if k not in ("format_version", "kind", "config")}
    extra["train_config"] = new_cfg.to_dict()
    extra["widened_from"] = {"channel_base": cfg.G.synthesis.channel_base, "channel_max": cfg.G.synthesis.channel_max,
                             "kimg": int(meta["nimg"]) / 1000}
    write_native(dst, out, new_G_cfg, extra=extra, kind="training")
    return new_cfg
