"""Reference ops against independent float64 implementations, and the dispatch rules."""

import warnings

import numpy as np
import pytest
import torch

from stylegan2_core import InputError, OpUnavailableError, S2EditError, ShapeError, ops
from stylegan2_core.ops import _dispatch


def _naive_upfirdn2d(x, f, up, down, pad):
    """Direct loops in float64: zero-insert, pad (negative = crop), true convolution, decimate.

    ``up`` and ``down`` are ints or ``(x, y)`` pairs.
    """
    upx, upy = (up, up) if np.isscalar(up) else up
    downx, downy = (down, down) if np.isscalar(down) else down
    n, c, h, w = x.shape
    px0, px1, py0, py1 = pad
    up_img = np.zeros([n, c, h * upy, w * upx])
    up_img[:, :, ::upy, ::upx] = x
    padded = np.zeros([n, c, h * upy + max(py0, 0) + max(py1, 0), w * upx + max(px0, 0) + max(px1, 0)])
    padded[:, :, max(py0, 0):max(py0, 0) + h * upy, max(px0, 0):max(px0, 0) + w * upx] = up_img
    padded = padded[:, :, max(-py0, 0):padded.shape[2] - max(-py1, 0), max(-px0, 0):padded.shape[3] - max(-px1, 0)]
    fh, fw = f.shape
    oh, ow = padded.shape[2] - fh + 1, padded.shape[3] - fw + 1
    out = np.zeros([n, c, oh, ow])
    ff = f[::-1, ::-1]
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = (padded[:, :, i:i + fh, j:j + fw] * ff).sum(axis=(2, 3))
    return out[:, :, ::downy, ::downx]


UPFIRDN_CASES = [
    (1, 1, (1, 2, 2, 1)), (2, 1, (2, 1, 2, 1)), (1, 2, (1, 1, 1, 1)), (2, 2, (2, 2, 1, 1)),
    (1, 1, (0, 0, 0, 0)), (1, 2, (0, 0, 0, 0)), (1, 3, (2, 0, 1, 2)),  # no padding; odd sizes left over
    (1, 2, (-1, 2, 1, -2)), (2, 1, (-2, -1, 0, -3)),  # crops
    ((2, 1), (1, 2), (1, 2, 0, 1)), ((1, 1), (3, 2), (2, 2, 1, 1)),  # per-axis factors
]


@pytest.mark.parametrize("up,down,pad", UPFIRDN_CASES)
@pytest.mark.parametrize("channels_last", [False, True])
def test_upfirdn2d_matches_naive(up, down, pad, channels_last):
    rng = np.random.RandomState(0)
    x = rng.randn(2, 3, 7, 6)
    f = rng.rand(4, 3) + 0.1  # asymmetric, so a flipped filter would be caught
    xt = torch.from_numpy(x)
    if channels_last:
        xt = xt.contiguous(memory_format=torch.channels_last)
    ours = ops.upfirdn2d(xt, torch.from_numpy(f), up=up, down=down, padding=list(pad), impl="ref")
    np.testing.assert_allclose(ours.numpy(), _naive_upfirdn2d(x, f, up, down, pad), atol=1e-12)


@pytest.mark.parametrize("down", [1, 2, (2, 1)])
def test_separable_filter_equals_outer_product(down):
    x = torch.randn(1, 2, 9, 9, dtype=torch.float64)
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0, 2.0, 5.0, 1.0, 1.0], dtype=torch.float64)
    sep = ops.setup_filter(taps, separable=True).double()
    full = ops.setup_filter(taps, separable=False).double()
    torch.testing.assert_close(ops.upfirdn2d(x, sep, down=down, padding=[2, 1, 3, 0], impl="ref"),
                               ops.upfirdn2d(x, full, down=down, padding=[2, 1, 3, 0], impl="ref"))
    torch.testing.assert_close(ops.filter2d(x, sep), ops.filter2d(x, full))


def test_upsample_downsample_preserve_constant():
    f = ops.setup_filter([1, 3, 3, 1])
    x = torch.full([1, 1, 8, 8], 2.0)
    up = ops.upsample2d(x, f)
    down = ops.downsample2d(x, f)
    assert up.shape[-1] == 16 and down.shape[-1] == 4
    torch.testing.assert_close(up[..., 2:-2, 2:-2], torch.full_like(up[..., 2:-2, 2:-2], 2.0))
    torch.testing.assert_close(down[..., 1:-1, 1:-1], torch.full_like(down[..., 1:-1, 1:-1], 2.0))


def test_bias_act_against_float64():
    x = torch.randn(3, 5, 4, 4, dtype=torch.float64)
    b = torch.randn(5, dtype=torch.float64)
    y = ops.bias_act(x, b, act="lrelu", gain=1.7, clamp=0.9)
    z = x + b[None, :, None, None]
    expected = (torch.where(z >= 0, z, 0.2 * z) * 1.7).clamp(-0.9, 0.9)
    torch.testing.assert_close(y, expected)
    assert ops.bias_act(x, None, act="lrelu").sub(torch.where(x >= 0, x, 0.2 * x) * np.sqrt(2)).abs().max() < 1e-12


@pytest.mark.parametrize("act", sorted(ops.ACTIVATIONS))
def test_bias_act_gradcheck(act):
    x = torch.randn(2, 3, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(lambda x, b: ops.bias_act(x, b, act=act, clamp=5.0), (x, b))


def test_conv2d_resample_up_matches_composition():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    w = torch.randn(3, 4, 3, 3, dtype=torch.float64)
    f = ops.setup_filter([1, 3, 3, 1]).double()
    fused = ops.conv2d_resample(x, w, f=f, up=2, padding=1)
    # The same operator, written as: FIR-upsample first, then 3x3 convolution.
    composed = ops.conv2d_resample(ops.upsample2d(x, f), w, padding=1)
    assert fused.shape == composed.shape == (2, 3, 10, 10)
    # Transposed-conv and upsample-then-conv differ only by where the filter sits; both are linear maps
    # of x with identical output for a constant input away from the border.
    const = torch.ones(1, 4, 6, 6, dtype=torch.float64)
    a = ops.conv2d_resample(const, w, f=f, up=2, padding=1)[..., 3:-3, 3:-3]
    b = ops.conv2d_resample(ops.upsample2d(const, f), w, padding=1)[..., 3:-3, 3:-3]
    torch.testing.assert_close(a, b)


def test_modulated_conv_demodulation_unit_norm():
    torch.manual_seed(0)
    w = torch.randn(6, 4, 3, 3, dtype=torch.float64)
    styles = torch.rand(2, 4, dtype=torch.float64) + 0.5
    x = torch.zeros(2, 4, 5, 5, dtype=torch.float64)
    x[:, :, 2, 2] = 1  # impulse: the output is the per-sample kernel
    for fused in (True, False):
        y = ops.modulated_conv2d(x, w, styles, padding=1, fused_modconv=fused)
        # Sum over input channels of the impulse response = per-sample weights summed over input channels.
        expected_w = w[None] * styles[:, None, :, None, None]
        expected_w = expected_w * (expected_w.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8).rsqrt()
        torch.testing.assert_close(y[:, :, 1:4, 1:4], expected_w.sum(dim=2).flip([2, 3]))


def test_dispatch_precedence(monkeypatch):
    x = torch.zeros(1)
    monkeypatch.setenv("S2EDIT_OPS", "ref")
    assert _dispatch.requested_impl() == ("ref", "S2EDIT_OPS environment variable")
    with ops.use_impl("auto"):
        assert _dispatch.requested_impl()[0] == "auto"
        assert _dispatch.requested_impl("ref") == ("ref", "argument")
    monkeypatch.setenv("S2EDIT_OPS", "bogus")
    with pytest.raises(OpUnavailableError, match="S2EDIT_OPS"):
        _dispatch.resolve("bias_act", x)
    monkeypatch.delenv("S2EDIT_OPS")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # auto on a CPU tensor is silent
        assert _dispatch.resolve("bias_act", x) == "ref"
    with pytest.raises(OpUnavailableError, match="needs a CUDA tensor"):
        ops.bias_act(x, impl="cuda")


def test_status_reports_reference_on_cpu():
    report = ops.status()
    assert set(report["ops"]) == {"bias_act", "upfirdn2d"}
    if not torch.cuda.is_available():
        assert all(impl == "ref" for impl, _ in report["ops"].values())


_X = torch.zeros(1, 2, 8, 8)
_F = torch.ones(4) / 4


@pytest.mark.parametrize("call, error, message", [
    (lambda: ops.upfirdn2d(_X, _F, up=1.5), InputError, "up must be an integer"),
    (lambda: ops.upfirdn2d(_X, _F, down=[2, 2, 2]), InputError, "down must be an integer or a list of 2"),
    (lambda: ops.upfirdn2d(_X, _F, down=0), InputError, "down factors must be >= 1"),
    (lambda: ops.upfirdn2d(_X, _F, up=True), InputError, "up must be an integer"),
    (lambda: ops.upfirdn2d(_X, _F, padding=1.5), InputError, "padding must be an integer"),
    (lambda: ops.upfirdn2d(_X, _F, padding=[1, 2, 3]), InputError, "list of 2 or 4 integers"),
    (lambda: ops.upfirdn2d(_X, _F, padding=[1.0, 2]), InputError, "padding must be"),
    (lambda: ops.upfirdn2d(_X[0], _F), ShapeError, "NCHW"),
    (lambda: ops.upfirdn2d(_X, torch.ones(1, 2, 2)), ShapeError, "1-D .* or 2-D"),
    (lambda: ops.upfirdn2d(_X, [1, 3, 3, 1]), InputError, "filter must be a tensor"),
    (lambda: ops.upsample2d(_X, _F, up=[2]), InputError, "up must be"),
    (lambda: ops.downsample2d(_X, _F, down=2.0), InputError, "down must be"),
    (lambda: ops.filter2d(_X, _F, padding=(1, 2, 3)), InputError, "padding must be"),
    (lambda: ops.bias_act(_X, act="nope"), InputError, "unknown activation 'nope'"),
    (lambda: ops.bias_act(_X, torch.zeros(3)), ShapeError, r"b must have shape \[2\]"),
    (lambda: ops.bias_act(_X, torch.zeros(8), dim=4), ShapeError, "dim must be in"),
    (lambda: ops.bias_act(_X, clamp=-1), InputError, "clamp must be None or >= 0"),
    (lambda: ops.conv2d_resample(_X, torch.zeros(3, 2, 3, 3), up=2.0), InputError, "up must be an integer >= 1"),
    (lambda: ops.conv2d_resample(_X, torch.zeros(3, 2, 3, 3), groups=0), InputError, "groups must be"),
    (lambda: ops.conv2d_resample(_X, torch.zeros(3, 2, 3), padding=1), ShapeError, "w must be a 4-D tensor"),
    (lambda: ops.conv2d_resample(_X, torch.zeros(3, 2, 3, 3), padding=[1, 1, 1]), InputError, "padding must be"),
    (lambda: ops.modulated_conv2d(_X, torch.zeros(3, 2, 3, 3), torch.ones(1, 3)), ShapeError, "styles must be"),
    (lambda: ops.modulated_conv2d(_X, torch.zeros(3, 4, 3, 3), torch.ones(1, 4)), ShapeError, "x has 2 channels"),
])
def test_bad_op_arguments_raise_the_projects_errors(call, error, message):
    """What a caller can get wrong raises ShapeError / InputError (reported in one line), never a bare
    ValueError, TypeError or a torch RuntimeError (which the CLI reports as an internal error)."""
    with pytest.raises(error, match=message) as info:
        call()
    assert isinstance(info.value, S2EditError)


def test_parse_helpers_accept_integer_types():
    """numpy integers and torch.Size entries are integers; the parsed values are plain ints."""
    y = ops.upfirdn2d(_X, _F, up=np.int64(2), padding=[np.int32(1), 2])
    assert y.shape == (1, 2, 16 + 4 - 3, 16 + 2 - 3)  # upsampled + padding - (taps - 1)
    assert ops.upfirdn2d(_X, _F, down=(2, 1), padding=torch.Size([1, 2, 1, 2])).shape == (1, 2, 8, 4)
