"""The StyleGAN2 generator, numerically equivalent to the official implementation.

Module and parameter names follow the official ``training/networks.py`` so that
official state dicts load by name without a key table.
"""

import numpy as np
import torch
from torch import nn

from . import ops
from .config import GeneratorConfig, MappingConfig, SynthesisConfig
from .errors import InputError, ShapeError

__all__ = ["FullyConnectedLayer", "Conv2dLayer", "MappingNetwork", "SynthesisLayer", "SynthesisBlock",
           "SynthesisNetwork", "Generator", "NOISE_MODES", "DEFAULT_NOISE_MODE"]

# Per-layer noise: "const" adds each layer's fixed ``noise_const`` buffer (deterministic: the same ws always
# draw the same image), "random" fresh Gaussian noise on every call (training), "none" no noise.
NOISE_MODES = ("random", "const", "none")
DEFAULT_NOISE_MODE = "const"


def normalize_2nd_moment(x, dim=1, eps=1e-8):
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


def _check_noise_mode(noise_mode: str) -> None:
    if noise_mode not in NOISE_MODES:
        raise InputError(f"noise_mode must be one of {', '.join(NOISE_MODES)}, got {noise_mode!r}")


def _check_shape(x: torch.Tensor, expected: list, what: str) -> None:
    ok = x.ndim == len(expected) and all(e is None or int(s) == e for s, e in zip(x.shape, expected))
    if not ok:
        want = "[" + ", ".join("*" if e is None else str(e) for e in expected) + "]"
        raise ShapeError(f"{what}: expected shape {want}, got {list(x.shape)}")


class FullyConnectedLayer(nn.Module):
    """Dense layer with equalized learning rate: weights stored / lr_multiplier, scaled at run time."""

    def __init__(self, in_features, out_features, bias=True, activation="linear", lr_multiplier=1.0, bias_init=0.0):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / np.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x):
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return ops.bias_act(x.matmul(w.t()), b, act=self.activation)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, activation={self.activation}"


class Conv2dLayer(nn.Module):
    """Convolution with equalized learning rate, optional FIR resampling, bias, activation and clamp."""

    def __init__(self, in_channels, out_channels, kernel_size, bias=True, activation="linear", up=1, down=1,
                 resample_filter=(1, 3, 3, 1), conv_clamp=None):
        super().__init__()
        self.activation = activation
        self.up = up
        self.down = down
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", ops.setup_filter(list(resample_filter)))
        self.padding = kernel_size // 2
        self.weight_gain = 1 / np.sqrt(in_channels * kernel_size**2)
        self.act_gain = ops.ACTIVATIONS[activation].def_gain
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels])) if bias else None

    def forward(self, x, gain=1):
        w = self.weight * self.weight_gain
        b = self.bias.to(x.dtype) if self.bias is not None else None
        x = ops.conv2d_resample(x, w.to(x.dtype), f=self.resample_filter, up=self.up, down=self.down,
                                padding=self.padding, flip_weight=(self.up == 1))
        act_gain = self.act_gain * gain
        act_clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return ops.bias_act(x, b, act=self.activation, gain=act_gain, clamp=act_clamp)


class MappingNetwork(nn.Module):
    """z (and one-hot class c) -> w, broadcast to ``num_ws`` rows, with truncation toward ``w_avg``."""

    def __init__(self, z_dim, c_dim, w_dim, num_ws, cfg: MappingConfig):
        super().__init__()
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.num_ws = num_ws
        self.num_layers = cfg.num_layers
        self.w_avg_beta = cfg.w_avg_beta
        embed_features = w_dim if cfg.embed_features is None else cfg.embed_features
        if c_dim == 0:
            embed_features = 0
        layer_features = w_dim if cfg.layer_features is None else cfg.layer_features
        features = [z_dim + embed_features] + [layer_features] * (cfg.num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for idx in range(cfg.num_layers):
            layer = FullyConnectedLayer(features[idx], features[idx + 1], activation=cfg.activation,
                                        lr_multiplier=cfg.lr_multiplier)
            setattr(self, f"fc{idx}", layer)
        self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None, update_w_avg=False):
        """Map ``z`` [N, z_dim] (and ``c`` [N, c_dim]) to ``ws`` [N, num_ws, w_dim]."""
        _check_shape(z, [None, self.z_dim], "mapping z")
        x = normalize_2nd_moment(z.to(torch.float32))
        if self.c_dim > 0:
            if c is None:
                raise ShapeError(f"this generator is conditional (c_dim={self.c_dim}): pass a class label c")
            _check_shape(c, [z.shape[0], self.c_dim], "mapping c")
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1)
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        if update_w_avg and self.w_avg_beta is not None:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            if truncation_cutoff is None:
                x = self.w_avg.lerp(x, truncation_psi)
            else:
                x = x.clone()
                x[:, :truncation_cutoff] = self.w_avg.lerp(x[:, :truncation_cutoff], truncation_psi)
        return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution (optionally upsampling) + noise + bias + lrelu + clamp.

    ``forward(x, w, noise_mode="const")``: see ``NOISE_MODES``; an explicit ``noise`` map [N or 1, 1, H, W]
    replaces the mode. Layers built with ``use_noise=False`` take no noise at all.
    """

    def __init__(self, in_channels, out_channels, w_dim, resolution, up=1, use_noise=True, activation="lrelu",
                 resample_filter=(1, 3, 3, 1), conv_clamp=None, kernel_size=3):
        super().__init__()
        self.resolution = resolution
        self.up = up
        self.use_noise = use_noise
        self.activation = activation
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", ops.setup_filter(list(resample_filter)))
        self.padding = kernel_size // 2
        self.act_gain = ops.ACTIVATIONS[activation].def_gain
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x, w, noise_mode=DEFAULT_NOISE_MODE, fused_modconv=True, gain=1, noise=None):
        _check_noise_mode(noise_mode)
        styles = self.affine(w)
        noise_term = None
        if self.use_noise:
            if noise is not None:
                noise_term = noise * self.noise_strength
            elif noise_mode == "random":
                shape = [x.shape[0], 1, self.resolution, self.resolution]
                noise_term = torch.randn(shape, device=x.device) * self.noise_strength
            elif noise_mode == "const":
                noise_term = self.noise_const * self.noise_strength
        x = ops.modulated_conv2d(x, self.weight, styles, noise=noise_term, up=self.up, padding=self.padding,
                                 resample_filter=self.resample_filter, flip_weight=(self.up == 1),
                                 fused_modconv=fused_modconv)
        act_gain = self.act_gain * gain
        act_clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return ops.bias_act(x, self.bias.to(x.dtype), act=self.activation, gain=act_gain, clamp=act_clamp)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 convolution to RGB, without demodulation."""

    def __init__(self, in_channels, out_channels, w_dim, conv_clamp=None, kernel_size=1):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / np.sqrt(in_channels * kernel_size**2)

    def forward(self, x, w, fused_modconv=True):
        styles = self.affine(w) * self.weight_gain
        x = ops.modulated_conv2d(x, self.weight, styles, demodulate=False, fused_modconv=fused_modconv)
        return ops.bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution: (const |) up-conv, conv, ToRGB and the skip/resnet plumbing.

    ``forward(..., noise_mode="const", noise=None)``: ``noise`` holds one map per layer of ``noise_layers``.
    """

    def __init__(self, in_channels, out_channels, w_dim, resolution, img_channels, is_last, cfg: SynthesisConfig,
                 use_fp16=False):
        super().__init__()
        self.in_channels = in_channels
        self.resolution = resolution
        self.is_last = is_last
        self.architecture = cfg.architecture
        self.use_fp16 = use_fp16
        self.register_buffer("resample_filter", ops.setup_filter(list(cfg.resample_filter)))
        layer_kwargs = {"use_noise": cfg.use_noise, "activation": cfg.activation, "resample_filter": cfg.resample_filter,
                            "conv_clamp": cfg.conv_clamp}
        self.num_conv = 0
        self.num_torgb = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2, **layer_kwargs)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, **layer_kwargs)
        self.num_conv += 1
        if is_last or cfg.architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=cfg.conv_clamp)
            self.num_torgb += 1
        if in_channels != 0 and cfg.architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, kernel_size=1, bias=False, up=2,
                                    resample_filter=cfg.resample_filter)

    @property
    def noise_layer_names(self) -> list[str]:
        """The layers that take noise, in order (none when built with ``use_noise=False``)."""
        return [name for name in ("conv0", "conv1") if hasattr(self, name) and getattr(self, name).use_noise]

    @property
    def noise_layers(self) -> list[SynthesisLayer]:
        return [getattr(self, name) for name in self.noise_layer_names]

    def forward(self, x, img, ws, noise_mode=DEFAULT_NOISE_MODE, force_fp32=False, fused_modconv=None, noise=None):
        _check_noise_mode(noise_mode)
        names = self.noise_layer_names
        if noise is not None and len(noise) != len(names):
            raise ShapeError(f"synthesis block {self.resolution}: expected {len(names)} noise maps, got {len(noise)}")
        layer_noise = dict(zip(names, noise)) if noise is not None else {}
        w_iter = iter(ws.unbind(dim=1))
        dtype = torch.float16 if self.use_fp16 and not force_fp32 and ws.device.type == "cuda" else torch.float32
        if fused_modconv is None:
            fused_modconv = (not self.training) and (dtype == torch.float32 or int(ws.shape[0]) == 1)
        kw = {"noise_mode": noise_mode, "fused_modconv": fused_modconv}

        if self.in_channels == 0:
            x = self.const.to(dtype).unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            x = self.conv1(x, next(w_iter), noise=layer_noise.get("conv1"), **kw)
        elif self.architecture == "resnet":
            x = x.to(dtype)
            y = self.skip(x, gain=np.sqrt(0.5))
            x = self.conv0(x, next(w_iter), noise=layer_noise.get("conv0"), **kw)
            x = self.conv1(x, next(w_iter), noise=layer_noise.get("conv1"), gain=np.sqrt(0.5), **kw)
            x = y + x
        else:
            x = x.to(dtype)
            x = self.conv0(x, next(w_iter), noise=layer_noise.get("conv0"), **kw)
            x = self.conv1(x, next(w_iter), noise=layer_noise.get("conv1"), **kw)

        if img is not None:
            img = ops.upsample2d(img, self.resample_filter)
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv).to(torch.float32)
            img = img + y if img is not None else y
        return x, img


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] -> image [N, img_channels, R, R]; noise defaults to ``"const"`` (deterministic)."""

    def __init__(self, w_dim, img_resolution, img_channels, cfg: SynthesisConfig):
        super().__init__()
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        log2 = int(np.log2(img_resolution))
        self.block_resolutions = [2**i for i in range(2, log2 + 1)]
        fp16_resolution = max(2 ** (log2 + 1 - cfg.num_fp16_res), 8)
        self.num_ws = 0
        for res in self.block_resolutions:
            in_channels = cfg.channels(res // 2) if res > 4 else 0
            block = SynthesisBlock(in_channels, cfg.channels(res), w_dim, res, img_channels,
                                   is_last=(res == img_resolution), cfg=cfg, use_fp16=(res >= fp16_resolution))
            self.num_ws += block.num_conv
            if block.is_last:
                self.num_ws += block.num_torgb
            setattr(self, f"b{res}", block)

    @property
    def fp16_resolutions(self) -> list[int]:
        return [r for r in self.block_resolutions if getattr(self, f"b{r}").use_fp16]

    def noise_layers(self) -> list[SynthesisLayer]:
        """The layers that take noise, in the order of ``noise_shapes``, ``const_noise`` and ``forward(noise=)``."""
        return [layer for res in self.block_resolutions for layer in getattr(self, f"b{res}").noise_layers]

    def noise_shapes(self) -> list[tuple[int, int]]:
        """Spatial size of every noise input, in layer order (for per-image noise maps)."""
        return [(layer.resolution, layer.resolution) for layer in self.noise_layers()]

    def const_noise(self) -> list[torch.Tensor]:
        """The ``noise_const`` buffers in layer order, each [1, 1, H, W]: the maps ``noise_mode="const"`` adds."""
        return [layer.noise_const[None, None] for layer in self.noise_layers()]

    def forward(self, ws, noise_mode=DEFAULT_NOISE_MODE, force_fp32=False, fused_modconv=None, noise=None):
        """Render ``ws`` [N, num_ws, w_dim] with ``noise_mode`` (see ``NOISE_MODES``; default ``"const"``,
        deterministic), or with ``noise``: one map [N or 1, 1, H, W] per entry of ``noise_shapes()``."""
        _check_shape(ws, [None, self.num_ws, self.w_dim], "synthesis ws")
        _check_noise_mode(noise_mode)
        if noise is not None:
            shapes = self.noise_shapes()
            if len(noise) != len(shapes):
                raise ShapeError(f"synthesis: expected {len(shapes)} noise maps, got {len(noise)}")
            for i, (m, (h, w)) in enumerate(zip(noise, shapes)):
                if m.ndim != 4 or m.shape[0] not in (1, ws.shape[0]) or tuple(m.shape[1:]) != (1, h, w):
                    raise ShapeError(f"synthesis: noise map {i} must be [{ws.shape[0]} or 1, 1, {h}, {w}], "
                                     f"got {list(m.shape)}")
        ws = ws.to(torch.float32)
        x = img = None
        w_idx = 0
        n_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            block_ws = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
            num_noise = len(block.noise_layers)
            block_noise = noise[n_idx:n_idx + num_noise] if noise is not None else None
            w_idx += block.num_conv
            n_idx += num_noise
            x, img = block(x, img, block_ws, noise_mode=noise_mode, force_fp32=force_fp32,
                           fused_modconv=fused_modconv, noise=block_noise)
        return img


class Generator(nn.Module):
    """StyleGAN2 generator: ``G(z, c)``, ``G.mapping(z, c)``, ``G.synthesis(ws)`` as in the official code.

    Unlike the official code, noise defaults to ``"const"`` at every level (Generator, SynthesisNetwork,
    SynthesisBlock, SynthesisLayer), so a call without ``noise_mode`` is deterministic; training passes
    explicit noise maps.
    """

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        self.cfg = cfg
        self.z_dim = cfg.z_dim
        self.c_dim = cfg.c_dim
        self.w_dim = cfg.w_dim
        self.img_resolution = cfg.img_resolution
        self.img_channels = cfg.img_channels
        self.synthesis = SynthesisNetwork(cfg.w_dim, cfg.img_resolution, cfg.img_channels, cfg.synthesis)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(cfg.z_dim, cfg.c_dim, cfg.w_dim, self.num_ws, cfg.mapping)

    @property
    def w_avg(self) -> torch.Tensor:
        return self.mapping.w_avg

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None, noise_mode=DEFAULT_NOISE_MODE,
                **synthesis_kwargs):
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode, **synthesis_kwargs)
