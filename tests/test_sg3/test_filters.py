"""StyleGAN3's filter design and the filtered leaky ReLU op."""

from pathlib import Path

import numpy as np
import pytest
import torch

from stylegan2_core import OpUnavailableError, StyleGAN3Generator, ops
from stylegan2_core.checkpoints._safe_pickle import safe_load
from stylegan2_core.checkpoints.nvlabs_pkl import ada_state_dict, stylegan3_config
from stylegan2_core.sg3.filters import bessel_j1, kaiser_beta, lowpass_filter

FIXTURES = Path(__file__).parents[1] / "fixtures"


def test_bessel_j1_matches_tabulated_values():
    x = np.array([0.0, 0.5, 1.0, 3.8317059702075125, 10.0, 30.0])
    table = np.array([0.0, 0.24226845767487387, 0.44005058574493355, 0.0, 0.043472746168861436,
                      -0.11875106261662294])  # Abramowitz & Stegun; 3.8317... is J1's first zero
    assert np.abs(bessel_j1(x) - table).max() < 1e-14


def test_kaiser_sinc_filter_properties():
    f = lowpass_filter(12, cutoff=4.0, width=4.0, fs=32.0).double()
    assert f.shape == (12,) and abs(float(f.sum()) - 1) < 1e-6 and torch.allclose(f, f.flip(0))
    assert kaiser_beta(10) == 0.0 and kaiser_beta(60) == pytest.approx(0.1102 * 51.3)
    radial = lowpass_filter(12, cutoff=4.0, width=4.0, fs=32.0, radial=True).double()
    assert radial.shape == (12, 12) and torch.allclose(radial, radial.t()) and torch.allclose(radial, radial.flip(0))
    assert lowpass_filter(1, cutoff=4.0, width=4.0, fs=32.0) is None


@pytest.mark.parametrize("name", ["sg3t_tiny", "sg3r_tiny_cond"])
def test_designed_filters_equal_the_official_ones(name):
    """Every up/down filter the official constructor designed (scipy) and pickled, rebuilt with numpy alone."""
    with open(FIXTURES / f"{name}.pkl", "rb") as f:
        record = safe_load(f)["G_ema"]
    stored = ada_state_dict(record)
    designed = StyleGAN3Generator(stylegan3_config(record)).state_dict()
    keys = [k for k in designed if k.endswith(("up_filter", "down_filter"))]
    assert len(keys) > 20 and any(designed[k].ndim == 2 for k in keys) == name.startswith("sg3r")
    for key in keys:
        assert (designed[key] - stored[key]).abs().max() < 1e-7, key


def _filtered_lrelu_float64(x, fu, fd, b, up, down, padding, gain, slope, clamp):
    """The op written out directly: zero-insert, pad, convolve, activate, convolve, subsample (float64)."""
    x = x.double() + b.double().reshape(1, -1, 1, 1)
    n, ch, h, w = x.shape
    xu = torch.zeros([n, ch, h * up, w * up], dtype=torch.float64)
    xu[:, :, ::up, ::up] = x
    x = torch.nn.functional.pad(xu, padding)
    kernel = torch.outer(fu, fu).double() * up**2
    x = torch.nn.functional.conv2d(x, kernel.flip([0, 1])[None, None].repeat(ch, 1, 1, 1), groups=ch)
    x = (torch.nn.functional.leaky_relu(x, slope) * gain).clamp(-clamp, clamp)
    kernel = fd.double()
    x = torch.nn.functional.conv2d(x, kernel.flip([0, 1])[None, None].repeat(ch, 1, 1, 1), groups=ch)
    return x[:, :, ::down, ::down]


def test_filtered_lrelu_matches_a_direct_float64_computation():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn([2, 3, 9, 9], generator=gen) * 2
    b = torch.randn([3], generator=gen)
    fu = lowpass_filter(12, cutoff=3.0, width=3.0, fs=16.0)
    fd = lowpass_filter(12, cutoff=3.0, width=3.0, fs=16.0, radial=True)
    padding = [11, 10, 11, 10]
    out = ops.filtered_lrelu(x, fu=fu, fd=fd, b=b, up=2, down=2, padding=padding, gain=np.sqrt(2), slope=0.2,
                             clamp=1.5)
    expected = _filtered_lrelu_float64(x, fu, fd, b, 2, 2, padding, np.sqrt(2), 0.2, 1.5)
    assert out.shape == expected.shape == (2, 3, 9, 9)
    assert (out.double() - expected).abs().max() < 1e-5


def test_filtered_lrelu_has_no_cuda_kernel():
    with pytest.raises(OpUnavailableError, match="no CUDA kernel"):
        ops.filtered_lrelu(torch.zeros([1, 1, 4, 4]), impl="cuda")
