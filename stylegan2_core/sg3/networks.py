"""The StyleGAN3 generator (Karras et al. 2021, "Alias-Free Generative Adversarial Networks"), configs T and R.

Numerically equivalent to the official implementation; module, parameter and buffer names follow it so that
official state dicts load by name. The interface is the StyleGAN2 ``Generator``'s: ``G.mapping(z, c, ...)``,
``G.synthesis(ws, ...)`` and ``G(z, c, ...)``. StyleGAN3 has no noise inputs: ``noise_mode`` and ``noise``
are accepted for the same calls and change nothing.
"""

import numpy as np
import torch
from torch import nn

from .. import ops
from ..errors import ShapeError
from ..networks import (
    DEFAULT_NOISE_MODE,
    FullyConnectedLayer,
    MappingNetwork,
    _check_noise_mode,
    _check_shape,
)
from .config import StyleGAN3Config, StyleGAN3SynthesisConfig
from .filters import lowpass_filter

__all__ = ["make_transform", "SynthesisInput", "SynthesisLayer", "SynthesisNetwork", "Generator"]


def make_transform(translate=(0.0, 0.0), rotate: float = 0.0) -> np.ndarray:
    """The 3x3 image transform of the official ``gen_images.py``: rotate by ``rotate`` degrees, translate by
    ``translate`` (x, y, in image widths: the image spans [-0.5, 0.5]). The synthesis input takes its inverse."""
    angle = np.deg2rad(rotate)
    s, c = np.sin(angle), np.cos(angle)
    return np.array([[c, s, translate[0]], [-s, c, translate[1]], [0, 0, 1]], dtype=np.float64)


def modulated_conv2d(x, weight, styles, demodulate=True, padding=0, input_gain=None):
    """StyleGAN3's modulated convolution: weights and styles pre-normalised (for fp16 range), modulated,
    optionally demodulated, input channels scaled by ``input_gain``, then one grouped convolution."""
    batch_size = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    if demodulate:
        weight = weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()
        styles = styles * styles.square().mean().rsqrt()
    w = weight.unsqueeze(0) * styles.reshape(batch_size, 1, in_channels, 1, 1)
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(batch_size, out_channels, 1, 1, 1)
    if input_gain is not None:
        w = w * input_gain.expand(batch_size, in_channels).reshape(batch_size, 1, in_channels, 1, 1)
    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_channels, kh, kw)
    x = torch.nn.functional.conv2d(x, w.to(x.dtype), padding=padding, groups=batch_size)
    return x.reshape(batch_size, -1, *x.shape[2:])


class SynthesisInput(nn.Module):
    """Fourier features of random frequencies in a disc, rotated and translated per sample by an affine of
    ``w`` and by the user ``transform`` (the inverse of the wanted image transform), then mixed linearly."""

    def __init__(self, w_dim, channels, size, sampling_rate, bandwidth):
        super().__init__()
        self.w_dim = w_dim
        self.channels = channels
        self.size = size
        self.sampling_rate = sampling_rate
        self.bandwidth = bandwidth
        freqs = torch.randn([channels, 2])
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth
        self.weight = nn.Parameter(torch.randn([channels, channels]))
        self.affine = FullyConnectedLayer(w_dim, 4)
        nn.init.zeros_(self.affine.weight)
        with torch.no_grad():
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        self.register_buffer("transform", torch.eye(3, 3))
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand([channels]) - 0.5)

    def forward(self, w):
        batch = w.shape[0]
        # The learned rotation (r_c, r_s) and translation (t_x, t_y), as inverse transforms of the image.
        t = self.affine(w)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        m_r = torch.eye(3, device=w.device).unsqueeze(0).repeat([batch, 1, 1])
        m_r[:, 0, 0] = t[:, 0]
        m_r[:, 0, 1] = -t[:, 1]
        m_r[:, 1, 0] = t[:, 1]
        m_r[:, 1, 1] = t[:, 0]
        m_t = torch.eye(3, device=w.device).unsqueeze(0).repeat([batch, 1, 1])
        m_t[:, 0, 2] = -t[:, 2]
        m_t[:, 1, 2] = -t[:, 3]
        transforms = m_r @ m_t @ self.transform.unsqueeze(0)

        # Transformed frequencies and phases; out-of-band frequencies (from the user transform) faded out.
        freqs = self.freqs.unsqueeze(0)
        phases = self.phases.unsqueeze(0) + (freqs @ transforms[:, :2, 2:]).squeeze(2)
        freqs = freqs @ transforms[:, :2, :2]
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)

        # Sample the features on the pixel grid (with margin) and mix the channels.
        theta = torch.eye(2, 3, device=w.device)
        theta[0, 0] = theta[1, 1] = 0.5 * self.size / self.sampling_rate
        grid = nn.functional.affine_grid(theta.unsqueeze(0), [1, 1, self.size, self.size], align_corners=False)
        x = (grid.unsqueeze(3) @ freqs.permute(0, 2, 1).unsqueeze(1).unsqueeze(2)).squeeze(3)
        x = torch.sin((x + phases.unsqueeze(1).unsqueeze(2)) * (np.pi * 2)) * amplitudes.unsqueeze(1).unsqueeze(2)
        x = x @ (self.weight / np.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2)


class SynthesisLayer(nn.Module):
    """Modulated convolution, then the filtered leaky ReLU (or, for ToRGB, bias and clamp only).

    The input is scaled by the inverse RMS of the inputs seen in training (``magnitude_ema``). Up- and
    downsampling filters are Kaiser-windowed low-pass filters designed from the layer's cutoffs; config R
    downsamples with radially symmetric ones except in the critically sampled layers.
    """

    def __init__(self, w_dim, is_torgb, is_critically_sampled, use_fp16, in_channels, out_channels, in_size,
                 out_size, in_sampling_rate, out_sampling_rate, in_cutoff, out_cutoff, in_half_width, out_half_width,
                 cfg: StyleGAN3SynthesisConfig):
        super().__init__()
        self.is_torgb = is_torgb
        self.use_fp16 = use_fp16
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.in_size = in_size
        self.out_size = out_size
        self.conv_kernel = 1 if is_torgb else cfg.conv_kernel
        self.conv_clamp = cfg.conv_clamp
        tmp_sampling_rate = max(in_sampling_rate, out_sampling_rate) * (1 if is_torgb else cfg.lrelu_upsampling)
        self.up_factor = int(np.rint(tmp_sampling_rate / in_sampling_rate))
        self.down_factor = int(np.rint(tmp_sampling_rate / out_sampling_rate))
        up_taps = cfg.filter_size * self.up_factor if self.up_factor > 1 and not is_torgb else 1
        down_taps = cfg.filter_size * self.down_factor if self.down_factor > 1 and not is_torgb else 1
        radial = cfg.use_radial_filters and not is_critically_sampled

        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, self.conv_kernel, self.conv_kernel]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.register_buffer("magnitude_ema", torch.ones([]))
        self.register_buffer("up_filter", lowpass_filter(up_taps, in_cutoff, in_half_width * 2, tmp_sampling_rate))
        self.register_buffer("down_filter", lowpass_filter(down_taps, out_cutoff, out_half_width * 2,
                                                           tmp_sampling_rate, radial=radial))

        # Pad so that output samples sit where the symmetric interpretation puts them (paper, appendix C.3).
        pad_total = (out_size - 1) * self.down_factor + 1
        pad_total -= (in_size + self.conv_kernel - 1) * self.up_factor
        pad_total += up_taps + down_taps - 2
        pad_lo = (pad_total + self.up_factor) // 2
        self.padding = [pad_lo, pad_total - pad_lo, pad_lo, pad_total - pad_lo]

    def forward(self, x, w, force_fp32=False):
        styles = self.affine(w)
        if self.is_torgb:
            styles = styles * (1 / np.sqrt(self.in_channels * self.conv_kernel**2))
        dtype = torch.float16 if self.use_fp16 and not force_fp32 and x.device.type == "cuda" else torch.float32
        x = modulated_conv2d(x.to(dtype), self.weight, styles, padding=self.conv_kernel - 1,
                             demodulate=not self.is_torgb, input_gain=self.magnitude_ema.rsqrt())
        return ops.filtered_lrelu(x, fu=self.up_filter, fd=self.down_filter, b=self.bias.to(x.dtype),
                                  up=self.up_factor, down=self.down_factor, padding=self.padding,
                                  gain=1 if self.is_torgb else np.sqrt(2), slope=1 if self.is_torgb else 0.2,
                                  clamp=self.conv_clamp)


def _layer_schedule(cfg: StyleGAN3SynthesisConfig, img_resolution: int, img_channels: int) -> dict[str, np.ndarray]:
    """Per-layer cutoffs, stopbands, sampling rates, transition half-widths, sizes and channels (paper, sec. 3.3):
    geometric progressions from the first layer to the last non-critical one, then constant."""
    last_cutoff = img_resolution / 2
    last_stopband = last_cutoff * cfg.last_stopband_rel
    exponents = np.minimum(np.arange(cfg.num_layers + 1) / (cfg.num_layers - cfg.num_critical), 1)
    cutoffs = cfg.first_cutoff * (last_cutoff / cfg.first_cutoff) ** exponents
    stopbands = cfg.first_stopband * (last_stopband / cfg.first_stopband) ** exponents
    sampling_rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
    half_widths = np.maximum(stopbands, sampling_rates / 2) - cutoffs
    sizes = sampling_rates + cfg.margin_size * 2
    sizes[-2:] = img_resolution
    channels = np.rint(np.minimum((cfg.channel_base / 2) / cutoffs, cfg.channel_max))
    channels[-1] = img_channels
    return {"cutoffs": cutoffs, "sampling_rates": sampling_rates, "half_widths": half_widths, "sizes": sizes,
            "channels": channels}


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] -> image [N, img_channels, R, R]: Fourier input, ``num_layers`` layers, ToRGB."""

    def __init__(self, w_dim, img_resolution, img_channels, cfg: StyleGAN3SynthesisConfig):
        super().__init__()
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.num_ws = cfg.num_layers + 2
        self.output_scale = cfg.output_scale
        s = _layer_schedule(cfg, img_resolution, img_channels)
        self.cutoffs = [float(c) for c in s["cutoffs"]]
        self.input = SynthesisInput(w_dim, int(s["channels"][0]), int(s["sizes"][0]), s["sampling_rates"][0],
                                    s["cutoffs"][0])
        self.layer_names = []
        for idx in range(cfg.num_layers + 1):
            prev = max(idx - 1, 0)
            layer = SynthesisLayer(
                w_dim, is_torgb=idx == cfg.num_layers, is_critically_sampled=idx >= cfg.num_layers - cfg.num_critical,
                use_fp16=bool(s["sampling_rates"][idx] * 2**cfg.num_fp16_res > img_resolution),
                in_channels=int(s["channels"][prev]), out_channels=int(s["channels"][idx]),
                in_size=int(s["sizes"][prev]), out_size=int(s["sizes"][idx]),
                in_sampling_rate=int(s["sampling_rates"][prev]), out_sampling_rate=int(s["sampling_rates"][idx]),
                in_cutoff=s["cutoffs"][prev], out_cutoff=s["cutoffs"][idx],
                in_half_width=s["half_widths"][prev], out_half_width=s["half_widths"][idx], cfg=cfg)
            name = f"L{idx}_{layer.out_size}_{layer.out_channels}"
            setattr(self, name, layer)
            self.layer_names.append(name)

    @property
    def layers(self) -> list[SynthesisLayer]:
        return [getattr(self, name) for name in self.layer_names]

    @property
    def fp16_resolutions(self) -> list[int]:
        """Output sizes of the layers that run in fp16 on a GPU (fp32 on the CPU)."""
        return sorted({layer.out_size for layer in self.layers if layer.use_fp16})

    def ws_resolutions(self) -> list[float]:
        """The image resolution each ws row controls: twice the cutoff frequency of the layer it modulates (the
        input's bandwidth for row 0), as StyleGAN2's rows control 4, 4, 8, 8, ... px (style mixing groups)."""
        return [2 * c for c in [self.cutoffs[0], *self.cutoffs]]

    def noise_shapes(self) -> list[tuple[int, int]]:
        """StyleGAN3 has no noise inputs: always empty (the StyleGAN2 synthesis lists one per noisy layer)."""
        return []

    def const_noise(self) -> list[torch.Tensor]:
        """Always empty: no noise inputs."""
        return []

    def set_transform(self, translate=(0.0, 0.0), rotate: float = 0.0) -> None:
        """Translate (x, y) and rotate (degrees) every image this network draws, as ``gen_images.py`` does."""
        m = np.linalg.inv(make_transform(translate, rotate))
        self.input.transform.copy_(torch.from_numpy(m).to(self.input.transform))

    def forward(self, ws, noise_mode=DEFAULT_NOISE_MODE, force_fp32=False, fused_modconv=None, noise=None):
        """Render ``ws`` [N, num_ws, w_dim]; ``noise_mode`` and ``fused_modconv`` are accepted and ignored,
        ``noise`` must be None or empty (``noise_shapes()`` is empty)."""
        _check_shape(ws, [None, self.num_ws, self.w_dim], "synthesis ws")
        _check_noise_mode(noise_mode)
        if noise is not None and len(noise) != 0:
            raise ShapeError(f"synthesis: a StyleGAN3 network takes no noise maps, got {len(noise)}")
        ws = ws.to(torch.float32).unbind(dim=1)
        x = self.input(ws[0])
        for layer, w in zip(self.layers, ws[1:]):
            x = layer(x, w, force_fp32=force_fp32)
        if self.output_scale != 1:
            x = x * self.output_scale
        return x.to(torch.float32)


class Generator(nn.Module):
    """StyleGAN3 generator: ``G(z, c)``, ``G.mapping(z, c)``, ``G.synthesis(ws)`` as in the official code."""

    def __init__(self, cfg: StyleGAN3Config):
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
