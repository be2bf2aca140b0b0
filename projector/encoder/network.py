"""The encoder network: photo + current render -> a correction of ws, applied over a few passes.

Design (docs/encoder.md says why): a residual backbone at the photo's resolution (at most 256 px)
taps feature maps at 1/4, 1/8 and 1/16 of it, merges them top-down (a feature pyramid, as pSp),
and three "map2style" trunks (strided convolutions down to one vector) feed per-layer linear heads:
coarse ws from the 1/16 map, middle ws from 1/8, fine ws from 1/4. As in e4e, the first head gives
a base w and the others per-layer offsets from it; as in ReStyle, every pass sees the photo and
the render of the current ws (6 channels) and adds its prediction to them, starting from w_avg.
The heads start at zero, so an untrained encoder returns w_avg exactly.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from stylegan2_core.errors import ShapeError

from .config import EncoderConfig

__all__ = ["Encoder", "ws_groups", "delta_regularizer"]

_SLOPE = 0.2


def ws_groups(num_ws: int) -> dict[str, range]:
    """Which ws rows each feature level predicts: pSp's split of 18 (coarse 0-2, middle 3-6, fine 7+)."""
    coarse, middle = min(3, num_ws), min(7, num_ws)
    return {"coarse": range(0, coarse), "middle": range(coarse, middle), "fine": range(middle, num_ws)}


def delta_regularizer(ws: torch.Tensor) -> torch.Tensor:
    """e4e's delta regularization, one value per latent: the summed L2 norms of the offsets ws[i] - ws[0]."""
    return (ws[:, 1:] - ws[:, :1]).norm(dim=2).sum(dim=1)


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, channels), channels)


class _ResBlock(nn.Module):
    """Two 3x3 convolutions (GroupNorm, leaky ReLU) with a skip; ``down`` halves the resolution."""

    def __init__(self, in_channels: int, out_channels: int, down: bool):
        super().__init__()
        self.down = down
        self.body = nn.Sequential(
            _norm(in_channels), nn.LeakyReLU(_SLOPE), nn.Conv2d(in_channels, in_channels, 3, padding=1),
            _norm(in_channels), nn.LeakyReLU(_SLOPE), nn.Conv2d(in_channels, out_channels, 3, padding=1))
        self.skip = nn.Conv2d(in_channels, out_channels, 1, bias=False) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        skip = self.skip(x) if self.skip is not None else x
        if self.down:
            y, skip = F.avg_pool2d(y, 2), F.avg_pool2d(skip, 2)
        return (y + skip) * (0.5**0.5)


class _Map2Style(nn.Module):
    """A feature map -> one vector per image: stride-2 convolutions down to 1x1 (pSp's GradualStyleBlock)."""

    def __init__(self, channels: int, size: int):
        super().__init__()
        layers = []
        for _ in range(int(math.log2(size))):
            layers += [nn.Conv2d(channels, channels, 3, stride=2, padding=1), nn.LeakyReLU(_SLOPE)]
        self.convs = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convs(x).flatten(1)


class Encoder(nn.Module):
    """Image [N, 3, R, R] in [-1, 1] -> ws [N, num_ws, w_dim] for the generator it was built for.

    ``encoder.invert(images, G)`` is the whole inversion; ``forward(photo, render)`` is one pass's
    correction. ``cfg`` is an ``EncoderConfig`` (``default_encoder_config(G)`` sizes it for G).
    """

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        work = cfg.working_resolution
        self.level_resolutions = {"fine": max(work // 4, 1), "middle": max(work // 8, 1), "coarse": max(work // 16, 1)}
        self.stem = nn.Conv2d(6, cfg.channels(work), 3, padding=1)
        stages, res = [], work
        while res > self.level_resolutions["coarse"]:
            blocks = [_ResBlock(cfg.channels(res), cfg.channels(res // 2), down=True)]
            blocks += [_ResBlock(cfg.channels(res // 2), cfg.channels(res // 2), down=False)
                       for _ in range(cfg.blocks - 1)]
            stages.append(nn.Sequential(*blocks))
            res //= 2
        self.stages = nn.ModuleList(stages)
        self.groups = {name: rows for name, rows in ws_groups(cfg.num_ws).items() if len(rows)}
        width = cfg.head_channels
        used = [name for name in self.level_resolutions if name in self.groups or name != "fine"]
        self.lateral = nn.ModuleDict({name: nn.Conv2d(cfg.channels(self.level_resolutions[name]), width, 1)
                                      for name in used})
        self.map2style = nn.ModuleDict({name: _Map2Style(width, self.level_resolutions[name]) for name in self.groups})
        self.heads = nn.ModuleDict({name: nn.Linear(width, len(rows) * cfg.w_dim) for name, rows in self.groups.items()})
        for head in self.heads.values():  # the first prediction is w_avg itself: zero correction
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def _pyramid(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Backbone features at the level resolutions, merged top-down (coarse into middle into fine).

        The fine level is left out for generators with 7 ws or fewer (up to 16 px), which have no fine ws.
        """
        taps = {}
        res = x.shape[-1]
        for stage in self.stages:
            x = stage(x)
            res //= 2
            for name, level_res in self.level_resolutions.items():
                if level_res == res:
                    taps[name] = x
        levels = {"coarse": self.lateral["coarse"](taps["coarse"])}
        for name, above in (("middle", "coarse"), ("fine", "middle")):
            if name in self.lateral:
                top_down = F.interpolate(levels[above], size=taps[name].shape[-2:])
                levels[name] = self.lateral[name](taps[name]) + top_down
        return levels

    def forward(self, photo: torch.Tensor, render: torch.Tensor) -> torch.Tensor:
        """One pass: the correction [N, num_ws, w_dim] to add to the ws whose render is ``render``.

        Row 0 is the base correction, added to every row; rows 1.. add their own offsets (e4e).
        """
        x = torch.cat([photo, render], dim=1)
        if x.shape[-1] != self.cfg.working_resolution:  # area downsampling, as pSp resizes 1024 px photos to 256
            x = F.adaptive_avg_pool2d(x, self.cfg.working_resolution)
        levels = self._pyramid(F.leaky_relu(self.stem(x), _SLOPE))
        rows = [self.heads[name](self.map2style[name](levels[name])).view(len(x), len(group), self.cfg.w_dim)
                for name, group in self.groups.items()]
        raw = torch.cat(rows, dim=1)
        return torch.cat([raw[:, :1], raw[:, 1:] + raw[:, :1]], dim=1)

    def check_images(self, images: torch.Tensor) -> None:
        res = self.cfg.resolution
        if images.ndim != 4 or tuple(images.shape[1:]) != (3, res, res):
            raise ShapeError(f"encoder: expected images [N, 3, {res}, {res}] (the generator's resolution), "
                             f"got {list(images.shape)}")

    def start(self, G, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The starting point of every inversion: w_avg on every layer and its render (const noise)."""
        ws = G.mapping.w_avg.detach()[None, None].repeat(n, self.cfg.num_ws, 1)
        with torch.no_grad():
            render = G.synthesis(ws[:1], noise_mode="const").expand(n, -1, -1, -1)
        return ws, render

    @torch.no_grad()
    def invert(self, images: torch.Tensor, G, passes: int | None = None) -> torch.Tensor:
        """ws [N, num_ws, w_dim] for ``images`` [N, 3, R, R] in [-1, 1] at G's resolution R.

        ``passes``: refinement passes (default ``cfg.passes``; 0 returns w_avg). Each pass renders
        the current ws with const noise (the start's render is shared by the batch).
        """
        self.check_images(images)
        images = images.to(G.mapping.w_avg.device, torch.float32)
        ws, render = self.start(G, len(images))
        passes = self.cfg.passes if passes is None else passes
        for index in range(passes):
            ws = ws + self(images, render)
            if index + 1 < passes:
                render = G.synthesis(ws, noise_mode="const")
        return ws
