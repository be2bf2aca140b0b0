"""rosinality/stylegan2-pytorch checkpoints (``{'g_ema', 'latent_avg'}`` or training ``{'g', 'd', 'g_ema', 'args'}``).

The checkpoint does not record its channel table, so the configuration is inferred
from tensor shapes. rosinality and the official generator compute the same function,
so the conversion is a pure renaming (no weight flips).
"""

import math
import re

import torch

from ..config import GeneratorConfig, MappingConfig, SynthesisConfig
from ..errors import CheckpointError, InputError

__all__ = ["rosinality_config", "from_rosinality", "to_rosinality"]


def _channel_params(channels: dict[int, int]) -> tuple[int, int]:
    """(channel_base, channel_max) reproducing ``channels`` by min(base // res, max)."""
    channel_max = max(channels.values())
    top = max(channels)
    channel_base = channels[top] * top
    for res, ch in channels.items():
        if min(channel_base // res, channel_max) != ch:
            raise CheckpointError(f"rosinality checkpoint has a channel table {channels} that no channel_base/max reproduces")
    return channel_base, channel_max


def rosinality_config(sd: dict[str, torch.Tensor]) -> GeneratorConfig:
    try:
        style_dim = sd["style.1.weight"].shape[0]
        z_dim = sd["style.1.weight"].shape[1]
        n_mlp = len({m.group(1) for k in sd if (m := re.fullmatch(r"style\.(\d+)\.weight", k))})
        channels = {4: sd["conv1.conv.weight"].shape[1]}
        n_convs = len({int(m.group(1)) for k in sd if (m := re.fullmatch(r"convs\.(\d+)\.conv\.weight", k))})
        for i in range(0, n_convs, 2):
            channels[8 * 2 ** (i // 2)] = sd[f"convs.{i}.conv.weight"].shape[1]
        img_channels = sd["to_rgb1.conv.weight"].shape[1]
    except KeyError as err:
        raise CheckpointError(f"rosinality state dict lacks {err}") from None
    resolution = max(channels)
    channel_base, channel_max = _channel_params(channels)
    try:
        return GeneratorConfig(
            z_dim=z_dim, c_dim=0, w_dim=style_dim, img_resolution=resolution, img_channels=img_channels,
            mapping=MappingConfig(num_layers=n_mlp, lr_multiplier=0.01),
            synthesis=SynthesisConfig(channel_base=channel_base, channel_max=channel_max, conv_clamp=None),
        )
    except InputError as err:
        raise CheckpointError(f"rosinality generator with an unsupported layout: {err}") from None


def _layer_names(resolution: int):
    """Pairs (rosinality prefix, our prefix) for every modulated layer, and the noise buffer order."""
    pairs = [("conv1", "synthesis.b4.conv1"), ("to_rgb1", "synthesis.b4.torgb")]
    noises = ["synthesis.b4.conv1"]
    for i in range(int(math.log2(resolution)) - 2):
        res = 8 * 2**i
        pairs += [(f"convs.{2 * i}", f"synthesis.b{res}.conv0"), (f"convs.{2 * i + 1}", f"synthesis.b{res}.conv1"),
                  (f"to_rgbs.{i}", f"synthesis.b{res}.torgb")]
        noises += [f"synthesis.b{res}.conv0", f"synthesis.b{res}.conv1"]
    return pairs, noises


def from_rosinality(sd: dict[str, torch.Tensor], cfg: GeneratorConfig, latent_avg: torch.Tensor | None) -> dict:
    """Our state dict (without the constant filter buffers) from a rosinality ``g_ema`` state dict."""
    out = {}
    for i in range(cfg.mapping.num_layers):
        out[f"mapping.fc{i}.weight"] = sd[f"style.{i + 1}.weight"]
        out[f"mapping.fc{i}.bias"] = sd[f"style.{i + 1}.bias"]
    if latent_avg is not None:
        out["mapping.w_avg"] = latent_avg.reshape(-1)
    out["synthesis.b4.const"] = sd["input.input"][0]
    pairs, noises = _layer_names(cfg.img_resolution)
    for theirs, ours in pairs:
        out[f"{ours}.weight"] = sd[f"{theirs}.conv.weight"][0]
        out[f"{ours}.affine.weight"] = sd[f"{theirs}.conv.modulation.weight"]
        out[f"{ours}.affine.bias"] = sd[f"{theirs}.conv.modulation.bias"]
        if "to_rgb" in theirs:
            out[f"{ours}.bias"] = sd[f"{theirs}.bias"].reshape(-1)
        else:
            out[f"{ours}.bias"] = sd[f"{theirs}.activate.bias"]
            out[f"{ours}.noise_strength"] = sd[f"{theirs}.noise.weight"].reshape([])
    for i, ours in enumerate(noises):
        out[f"{ours}.noise_const"] = sd[f"noises.noise_{i}"][0, 0]
    return {k: v.detach().to(torch.float32).clone() for k, v in out.items()}


def to_rosinality(state: dict[str, torch.Tensor], cfg: GeneratorConfig) -> dict:
    """A rosinality checkpoint dict ``{'g_ema', 'latent_avg'}`` from our state dict."""
    s = cfg.synthesis
    if cfg.c_dim or s.architecture != "skip" or s.conv_clamp is not None or tuple(s.resample_filter) != (1, 3, 3, 1) \
            or not s.use_noise or s.activation != "lrelu" or cfg.mapping.lr_multiplier != 0.01 or cfg.z_dim != cfg.w_dim \
            or cfg.mapping.activation != "lrelu" or cfg.mapping.layer_features not in (None, cfg.w_dim):
        raise InputError("rosinality's generator cannot represent this network "
                         "(it needs: unconditional, skip, no conv_clamp, [1,3,3,1] filter, lrelu, z_dim == w_dim)")
    k = torch.tensor([1.0, 3.0, 3.0, 1.0])
    blur = torch.outer(k, k)
    blur = blur / blur.sum() * 4
    sd = {}
    for i in range(cfg.mapping.num_layers):
        sd[f"style.{i + 1}.weight"] = state[f"mapping.fc{i}.weight"]
        sd[f"style.{i + 1}.bias"] = state[f"mapping.fc{i}.bias"]
    sd["input.input"] = state["synthesis.b4.const"][None]
    pairs, noises = _layer_names(cfg.img_resolution)
    for theirs, ours in pairs:
        sd[f"{theirs}.conv.weight"] = state[f"{ours}.weight"][None]
        sd[f"{theirs}.conv.modulation.weight"] = state[f"{ours}.affine.weight"]
        sd[f"{theirs}.conv.modulation.bias"] = state[f"{ours}.affine.bias"]
        if "to_rgb" in theirs:
            sd[f"{theirs}.bias"] = state[f"{ours}.bias"].reshape(1, -1, 1, 1)
            if theirs != "to_rgb1":
                sd[f"{theirs}.upsample.kernel"] = blur.clone()
        else:
            sd[f"{theirs}.activate.bias"] = state[f"{ours}.bias"]
            sd[f"{theirs}.noise.weight"] = state[f"{ours}.noise_strength"].reshape(1)
            if ours.endswith("conv0"):
                sd[f"{theirs}.conv.blur.kernel"] = blur.clone()
    for i, ours in enumerate(noises):
        sd[f"noises.noise_{i}"] = state[f"{ours}.noise_const"][None, None]
    return {"g_ema": {k: v.detach().cpu().clone() for k, v in sd.items()},
            "latent_avg": state["mapping.w_avg"].detach().cpu().clone()}
