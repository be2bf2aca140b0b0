"""The low-pass filters of StyleGAN3's layers, designed in float64 with numpy alone.

Separable Kaiser-windowed sinc filters (the window method, as ``scipy.signal.firwin`` designs them) and, for
config R, radially symmetric Kaiser-windowed jinc filters (paper, appendix E/F).
"""

import math

import numpy as np
import torch

__all__ = ["kaiser_beta", "kaiser_attenuation", "bessel_j1", "lowpass_filter"]


def kaiser_attenuation(numtaps: int, width: float) -> float:
    """Stopband attenuation (dB) of a Kaiser-window filter of ``numtaps`` taps and transition ``width``
    (a fraction of the Nyquist rate), by Kaiser's empirical formula."""
    return 2.285 * (numtaps - 1) * np.pi * width + 7.95


def kaiser_beta(attenuation: float) -> float:
    """The Kaiser window shape parameter for a stopband ``attenuation`` in dB (Kaiser's formula)."""
    if attenuation > 50:
        return 0.1102 * (attenuation - 8.7)
    if attenuation > 21:
        return 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21)
    return 0.0


def bessel_j1(x: np.ndarray) -> np.ndarray:
    """Bessel function of the first kind, order 1, in float64.

    Bessel's integral J1(x) = 1/(2 pi) * integral over one period of cos(t - x sin t): the trapezoidal rule on a
    periodic integrand converges exponentially, so a few more points than |x| give double precision.
    """
    x = np.asarray(x, dtype=np.float64)
    points = 64 + 2 * math.ceil(float(np.abs(x).max(initial=0)))
    t = np.arange(points) * (2 * np.pi / points)
    return np.cos(t - x[..., None] * np.sin(t)).mean(axis=-1)


def lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float, radial: bool = False) -> torch.Tensor | None:
    """A float32 low-pass filter: 1-D separable Kaiser-sinc, or 2-D ``[numtaps, numtaps]`` jinc if ``radial``.

    ``cutoff`` and transition ``width`` are in the units of the sampling rate ``fs``; None for ``numtaps == 1``
    (no filtering).
    """
    if numtaps == 1:
        return None
    nyquist = fs / 2
    beta = kaiser_beta(kaiser_attenuation(numtaps, width / nyquist))
    window = np.kaiser(numtaps, beta)
    if not radial:
        taps = np.arange(numtaps) - (numtaps - 1) / 2
        f = (cutoff / nyquist) * np.sinc((cutoff / nyquist) * taps) * window
        return torch.as_tensor(f / f.sum(), dtype=torch.float32)
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    safe_r = np.where(r > 0, r, 1.0)
    f = np.where(r > 0, bessel_j1(2 * np.pi * cutoff * safe_r) / (np.pi * safe_r), cutoff)
    f = f * np.outer(window, window)
    return torch.as_tensor(f / f.sum(), dtype=torch.float32)
