"""Image agreement measures for reports: PSNR and SSIM on [-1, 1] images (data range 2)."""

import torch
import torch.nn.functional as F

__all__ = ["psnr", "ssim"]


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image, [N]."""
    mse = (a.float() - b.float()).square().mean(dim=(1, 2, 3))
    return 10 * torch.log10(4.0 / mse.clamp_min(1e-12))


def _gaussian_window(size: int, sigma: float, channels: int, device) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g).expand(channels, 1, size, size).contiguous()


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004; Gaussian window, valid region, channel mean) per image, [N]."""
    a, b = a.double(), b.double()
    channels = a.shape[1]
    size = min(window, a.shape[-1], a.shape[-2])
    size -= 1 - size % 2  # odd window
    win = _gaussian_window(size, sigma, channels, a.device)
    c1, c2 = (0.01 * 2) ** 2, (0.03 * 2) ** 2

    def blur(x):
        return F.conv2d(x, win, groups=channels)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.mean(dim=(1, 2, 3)).float()
