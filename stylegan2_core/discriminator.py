"""The StyleGAN2 discriminator, as in the official ``training/networks.py``.

Module and parameter names match the official code (``b{res}.fromrgb/conv0/conv1/skip``,
``b4.conv/fc/out``, ``mapping.embed/fc{i}`` for the label map), so official ``D`` state
dicts load by name.
"""

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import ops
from .config import ARCHITECTURES
from .errors import InputError, ShapeError
from .networks import Conv2dLayer, FullyConnectedLayer, normalize_2nd_moment

__all__ = ["DiscriminatorConfig", "Discriminator", "DiscriminatorBlock", "DiscriminatorEpilogue", "MinibatchStdLayer"]


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Official ``Discriminator`` arguments. Channels at resolution r: min(channel_base // r, channel_max)."""

    c_dim: int = 0
    img_resolution: int = 1024
    img_channels: int = 3
    architecture: str = "resnet"
    channel_base: int = 32768
    channel_max: int = 512
    num_fp16_res: int = 0
    conv_clamp: float | None = None
    cmap_dim: int | None = None  # width of the mapped label; None = channels at 4x4
    mbstd_group_size: int | None = 4  # None = the whole minibatch
    mbstd_num_channels: int = 1
    mapping_layers: int = 8  # label mapping depth (official MappingNetwork default)
    mapping_lr_multiplier: float = 0.01
    activation: str = "lrelu"
    resample_filter: tuple[int, ...] = (1, 3, 3, 1)

    def __post_init__(self):
        r = self.img_resolution
        if r < 4 or r & (r - 1):
            raise InputError(f"img_resolution must be a power of two >= 4, got {r}")
        if self.architecture not in ARCHITECTURES:
            raise InputError(f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}")
        object.__setattr__(self, "resample_filter", tuple(self.resample_filter))

    def channels(self, resolution: int) -> int:
        return min(self.channel_base // resolution, self.channel_max)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["resample_filter"] = list(self.resample_filter)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "DiscriminatorConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InputError(f"discriminator config: unknown keys {unknown}; expected a subset of {sorted(names)}")
        return cls(**data)


def _check(x: torch.Tensor, expected: list, what: str) -> None:
    if x.ndim != len(expected) or any(e is not None and int(s) != e for s, e in zip(x.shape, expected)):
        want = "[" + ", ".join("*" if e is None else str(e) for e in expected) + "]"
        raise ShapeError(f"{what}: expected shape {want}, got {list(x.shape)}")


class DiscriminatorBlock(nn.Module):
    """One resolution: (fromrgb +) 3x3 conv, 3x3 conv with 2x FIR downsampling, and the resnet skip."""

    def __init__(self, in_channels, tmp_channels, out_channels, resolution, img_channels, architecture="resnet",
                 activation="lrelu", resample_filter=(1, 3, 3, 1), conv_clamp=None, use_fp16=False):
        super().__init__()
        self.in_channels = in_channels
        self.resolution = resolution
        self.img_channels = img_channels
        self.architecture = architecture
        self.use_fp16 = use_fp16
        self.register_buffer("resample_filter", ops.setup_filter(list(resample_filter)))
        if in_channels == 0 or architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, kernel_size=1, activation=activation,
                                       conv_clamp=conv_clamp)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, kernel_size=3, activation=activation,
                                 conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, kernel_size=3, activation=activation, down=2,
                                 resample_filter=resample_filter, conv_clamp=conv_clamp)
        if architecture == "resnet":
            self.skip = Conv2dLayer(tmp_channels, out_channels, kernel_size=1, bias=False, down=2,
                                    resample_filter=resample_filter)

    def forward(self, x, img, force_fp32=False):
        on_cuda = (x if x is not None else img).device.type == "cuda"
        dtype = torch.float16 if self.use_fp16 and not force_fp32 and on_cuda else torch.float32
        if x is not None:
            _check(x, [None, self.in_channels, self.resolution, self.resolution], f"D block {self.resolution} x")
            x = x.to(dtype)
        if self.in_channels == 0 or self.architecture == "skip":
            _check(img, [None, self.img_channels, self.resolution, self.resolution], f"D block {self.resolution} img")
            img = img.to(dtype)
            y = self.fromrgb(img)
            x = x + y if x is not None else y
            img = ops.downsample2d(img, self.resample_filter) if self.architecture == "skip" else None
        if self.architecture == "resnet":
            y = self.skip(x, gain=np.sqrt(0.5))
            x = self.conv0(x)
            x = self.conv1(x, gain=np.sqrt(0.5))
            x = y + x
        else:
            x = self.conv0(x)
            x = self.conv1(x)
        return x, img


class MinibatchStdLayer(nn.Module):
    """Append the average standard deviation over groups of ``group_size`` samples as extra channels."""

    def __init__(self, group_size, num_channels=1):
        super().__init__()
        self.group_size = group_size
        self.num_channels = num_channels

    def forward(self, x):
        n, c, h, w = x.shape
        g = min(self.group_size, n) if self.group_size is not None else n
        if n % g:
            raise ShapeError(f"minibatch std: batch {n} is not a multiple of the group size {g}")
        f = self.num_channels
        y = x.reshape(g, -1, f, c // f, h, w)  # [G, n, F, c, H, W]
        y = y - y.mean(dim=0)
        y = y.square().mean(dim=0)
        y = (y + 1e-8).sqrt()
        y = y.mean(dim=[2, 3, 4])  # [n, F]
        y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w)  # [N, F, H, W]
        return torch.cat([x, y], dim=1)

    def extra_repr(self):
        return f"group_size={self.group_size}, num_channels={self.num_channels}"


class DiscriminatorEpilogue(nn.Module):
    """4x4 head: (fromrgb +) minibatch std, conv, fc, out; projection onto the label map when conditional."""

    def __init__(self, in_channels, cmap_dim, resolution, img_channels, architecture="resnet", mbstd_group_size=4,
                 mbstd_num_channels=1, activation="lrelu", conv_clamp=None):
        super().__init__()
        self.in_channels = in_channels
        self.cmap_dim = cmap_dim
        self.resolution = resolution
        self.img_channels = img_channels
        self.architecture = architecture
        if architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, in_channels, kernel_size=1, activation=activation)
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, kernel_size=3, activation=activation,
                                conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution**2, in_channels, activation=activation)
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def forward(self, x, img, cmap):
        _check(x, [None, self.in_channels, self.resolution, self.resolution], "D epilogue x")
        x = x.to(torch.float32)
        if self.architecture == "skip":
            x = x + self.fromrgb(img.to(torch.float32))
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        x = self.fc(x.flatten(1))
        x = self.out(x)
        if self.cmap_dim > 0:
            _check(cmap, [None, self.cmap_dim], "D cmap")
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / np.sqrt(self.cmap_dim))
        return x


class LabelMapping(nn.Module):
    """The official ``MappingNetwork(z_dim=0, num_ws=None, w_avg_beta=None)``: class label -> cmap."""

    def __init__(self, c_dim, cmap_dim, num_layers=8, lr_multiplier=0.01, activation="lrelu"):
        super().__init__()
        self.c_dim = c_dim
        self.num_layers = num_layers
        self.embed = FullyConnectedLayer(c_dim, cmap_dim)
        for idx in range(num_layers):
            setattr(self, f"fc{idx}", FullyConnectedLayer(cmap_dim, cmap_dim, activation=activation,
                                                          lr_multiplier=lr_multiplier))

    def forward(self, c):
        x = normalize_2nd_moment(self.embed(c.to(torch.float32)))
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        return x


class Discriminator(nn.Module):
    """StyleGAN2 discriminator: ``D(img, c) -> logits [N, 1]``; images NCHW in [-1, 1]."""

    def __init__(self, cfg: DiscriminatorConfig):
        super().__init__()
        self.cfg = cfg
        self.c_dim = cfg.c_dim
        self.img_resolution = cfg.img_resolution
        self.img_channels = cfg.img_channels
        log2 = int(np.log2(cfg.img_resolution))
        self.block_resolutions = [2**i for i in range(log2, 2, -1)]
        fp16_resolution = max(2 ** (log2 + 1 - cfg.num_fp16_res), 8)
        cmap_dim = cfg.channels(4) if cfg.cmap_dim is None else cfg.cmap_dim
        if cfg.c_dim == 0:
            cmap_dim = 0
        common = {"img_channels": cfg.img_channels, "architecture": cfg.architecture, "conv_clamp": cfg.conv_clamp,
                      "activation": cfg.activation}
        for res in self.block_resolutions:
            in_channels = cfg.channels(res) if res < cfg.img_resolution else 0
            block = DiscriminatorBlock(in_channels, cfg.channels(res), cfg.channels(res // 2), res,
                                       resample_filter=cfg.resample_filter, use_fp16=(res >= fp16_resolution), **common)
            setattr(self, f"b{res}", block)
        if cfg.c_dim > 0:
            self.mapping = LabelMapping(cfg.c_dim, cmap_dim, cfg.mapping_layers, cfg.mapping_lr_multiplier)
        self.b4 = DiscriminatorEpilogue(cfg.channels(4), cmap_dim, 4, mbstd_group_size=cfg.mbstd_group_size,
                                        mbstd_num_channels=cfg.mbstd_num_channels, **common)

    def forward(self, img, c=None, force_fp32=False):
        r = self.img_resolution
        _check(img, [None, self.img_channels, r, r], "discriminator img")
        x = None
        for res in self.block_resolutions:
            x, img = getattr(self, f"b{res}")(x, img, force_fp32=force_fp32)
        cmap = None
        if self.c_dim > 0:
            if c is None:
                raise ShapeError(f"this discriminator is conditional (c_dim={self.c_dim}): pass a class label c")
            _check(c, [img.shape[0] if img is not None else x.shape[0], self.c_dim], "discriminator c")
            cmap = self.mapping(c)
        return self.b4(x, img, cmap)
