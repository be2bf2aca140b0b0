"""The CUDA ops' autograd wiring, checked on CPU.

The adjoint padding of upfirdn2d is checked with the reference op through <A x, y> == <x, A* y>.
The autograd Functions of ``_bias_act_cuda`` and ``_upfirdn2d_cuda`` run against a stand-in
plugin: PyTorch code with the kernels' contract (same arguments, the same layout checks as the
.cpp bindings, the same gradient formulas as bias_act.cu). gradcheck and gradgradcheck then test
the first- and second-derivative plumbing and formulas without a GPU; the kernels themselves are
tested against the reference path in test_parity.py on a CUDA machine.
"""

import math
import random

import pytest
import torch

from stylegan2_core import InputError, OpUnavailableError, ShapeError, ops
from stylegan2_core.ops import _plugin
from stylegan2_core.ops._bias_act_cuda import bias_act_function
from stylegan2_core.ops._upfirdn2d_cuda import adjoint_padding, upfirdn2d_function
from stylegan2_core.ops.bias_act import ACTIVATIONS, _bias_act_ref
from stylegan2_core.ops.upfirdn2d import _upfirdn2d_ref

SELU_SCALE = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The tensors here are tiny: intra-op threads would only add synchronisation, badly so on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _forward_size(n, up, down, p0, p1, f):
    return (n * up + p0 + p1 - f) // down + 1


@pytest.mark.parametrize("seed", range(40))
def test_adjoint_padding_gives_the_adjoint(seed):
    rng = random.Random(seed)
    up = [rng.randint(1, 3), rng.randint(1, 3)]
    down = [rng.randint(1, 3), rng.randint(1, 3)]
    separable = rng.random() < 0.3
    fw = fh = rng.randint(1, 6)
    if not separable:
        fh = rng.randint(1, 6)
    in_size = [rng.randint(1, 9), rng.randint(1, 9)]
    while True:
        pad = [rng.randint(-3, 4) for _ in range(4)]
        out_size = [_forward_size(in_size[a], up[a], down[a], pad[2 * a], pad[2 * a + 1], (fw, fh)[a]) for a in (0, 1)]
        if min(out_size) >= 1 and all(in_size[a] * up[a] + pad[2 * a] + pad[2 * a + 1] >= (fw, fh)[a] for a in (0, 1)):
            break
    flip = rng.random() < 0.5
    gain = rng.uniform(0.5, 2)
    gen = torch.Generator().manual_seed(seed)
    f = torch.rand([fw] if separable else [fh, fw], generator=gen, dtype=torch.float64) + 0.1
    x = torch.randn([2, 3, in_size[1], in_size[0]], generator=gen, dtype=torch.float64)

    y = _upfirdn2d_ref(x, f, up=up, down=down, padding=pad, flip_filter=flip, gain=gain)
    assert list(y.shape[2:]) == out_size[::-1]
    dy = torch.randn(y.shape, generator=gen, dtype=torch.float64)
    p = adjoint_padding(in_size, out_size, up, down, pad, (fw, fh))
    dx = _upfirdn2d_ref(dy, f, up=down, down=up, padding=p, flip_filter=not flip, gain=gain)
    assert dx.shape == x.shape
    torch.testing.assert_close((y * dy).sum(), (x * dx).sum(), rtol=1e-12, atol=1e-12)


def _check_dense_like(t, x, name):
    if t is None:
        return
    assert t.dtype == x.dtype and t.shape == x.shape and t.stride() == x.stride(), f"{name} layout differs from x"


class _BiasActPlugin:
    """bias_act.cu's contract in PyTorch: one formula per activation and gradient mode, in the kernel's arithmetic."""

    @staticmethod
    def bias_act(x, b, xref, yref, dy, grad, dim, act, alpha, gain, clamp):
        assert x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last), "x must be dense"
        for t, name in ((xref, "xref"), (yref, "yref"), (dy, "dy")):
            _check_dense_like(t, x, name)
        assert grad < 2 or dy is not None
        assert b is None or (b.ndim == 1 and b.is_contiguous() and b.shape[0] == x.shape[dim] and b.dtype == x.dtype)
        dtype = x.dtype
        x, b, xref, yref, dy = (t.to(_acc(dtype)) if t is not None else None for t in (x, b, xref, yref, dy))
        b = b.reshape([-1 if i == dim else 1 for i in range(x.ndim)]) if b is not None else 0
        zero = torch.zeros_like(x)
        xr = (xref if xref is not None else zero) + (b if grad else 0)
        yr = yref if yref is not None else zero
        g = dy if dy is not None else 1
        yy = yr / gain if gain != 0 else zero
        v = x + b if grad == 0 else x
        out = _activation_formula(act, grad, v, xr, yy, alpha) * (gain * g)
        if clamp >= 0:
            out = out.clamp(-clamp, clamp) if grad == 0 else torch.where((yr > -clamp) & (yr < clamp), out, 0)
        return out.to(dtype)


def _acc(dtype):
    """The kernels' arithmetic type: float32 for float16 data."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _activation_formula(act, grad, x, xr, yy, alpha):
    w = torch.where
    if act == 1:
        return x * 0 if grad == 2 else x
    if act == 2:
        return [w(x < 0, 0, x), w(yy > 0, x, 0), x * 0][grad]
    if act == 3:
        return [w(x < 0, x * alpha, x), w(yy > 0, x, x * alpha), x * 0][grad]
    if act == 4:
        return [torch.tanh(x), x * (1 - yy**2), x * (1 - yy**2) * (-2 * yy)][grad]
    if act == 5:
        return [torch.sigmoid(x), x * yy * (1 - yy), x * yy * (1 - yy) * (1 - 2 * yy)][grad]
    if act == 6:
        return [w(x > 0, x, torch.expm1(x)), w(yy > 0, x, x * (yy + 1)), w(yy >= 0, 0, x * (yy + 1))][grad]
    if act == 7:
        sa = SELU_SCALE * SELU_ALPHA
        return [w(x > 0, SELU_SCALE * x, sa * torch.expm1(x)), w(yy > 0, x * SELU_SCALE, x * (yy + sa)),
                w(yy >= 0, 0, x * (yy + sa))][grad]
    if act == 8:
        s = -torch.expm1(-yy)
        return [w(x > 20, x, torch.log1p(torch.exp(x))), x * s, x * s * (1 - s)][grad]
    if act == 9:
        c = torch.exp(xr)
        d = c + 1
        big = xr > 709.0 / 2
        return [x * torch.sigmoid(x), w(big, x, x * c * (xr + d) / d**2),
                w(big, 0, x * c * (xr * (2 - d) + 2 * d) / d**3)][grad]
    raise AssertionError(f"unknown activation index {act}")


class _Upfirdn2dPlugin:
    """upfirdn2d.cu's contract: a 2-D filter in the arithmetic type, any input strides, the reference arithmetic."""

    @staticmethod
    def upfirdn2d(x, f, up_x, up_y, down_x, down_y, pad_x0, pad_x1, pad_y0, pad_y1, flip, gain):
        assert x.ndim == 4 and f.ndim == 2 and f.is_contiguous()
        assert f.dtype == _acc(x.dtype)
        y = _upfirdn2d_ref(x.to(f.dtype), f, up=[up_x, up_y], down=[down_x, down_y],
                           padding=[pad_x0, pad_x1, pad_y0, pad_y1], flip_filter=flip, gain=gain)
        return y.to(x.dtype)


@pytest.fixture
def stand_in_plugin(monkeypatch):
    plugins = {"bias_act": _BiasActPlugin, "upfirdn2d": _Upfirdn2dPlugin}
    monkeypatch.setattr(_plugin, "get_plugin", lambda op: plugins[op])


def _bias_act_inputs(shape, dim, channels_last=False, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen, dtype=torch.float64) * 2
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    b = torch.randn([shape[dim]], generator=gen, dtype=torch.float64)
    return x.requires_grad_(True), b.requires_grad_(True)


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
@pytest.mark.parametrize("clamp", [None, 1.5])
def test_bias_act_function_gradients(stand_in_plugin, act, clamp):
    x, b = _bias_act_inputs([2, 3, 4], dim=1)
    fn = bias_act_function(dim=1, act=act, clamp=clamp)
    ref = _bias_act_ref(x, b, dim=1, act=act, clamp=clamp)
    torch.testing.assert_close(fn.apply(x, b), ref)

    dy = torch.randn_like(ref)
    grads = torch.autograd.grad(fn.apply(x, b), [x, b], dy)
    expected = torch.autograd.grad(ref, [x, b], dy)
    for ours, theirs in zip(grads, expected):
        torch.testing.assert_close(ours, theirs)

    torch.autograd.gradcheck(fn.apply, (x, b))
    torch.autograd.gradgradcheck(fn.apply, (x, b))


@pytest.mark.parametrize("act", ["tanh", "swish", "softplus"])
def test_bias_act_second_derivative_matches_reference(stand_in_plugin, act):
    x, b = _bias_act_inputs([3, 5], dim=1, seed=1)
    fn = bias_act_function(dim=1, act=act, gain=1.3)
    v = torch.randn(3, 5, dtype=torch.float64)

    def hvp(f):
        (gx,) = torch.autograd.grad(f(x, b).square().sum(), [x], create_graph=True)
        return torch.autograd.grad((gx * v).sum(), [x, b])

    for ours, theirs in zip(hvp(fn.apply), hvp(lambda x, b: _bias_act_ref(x, b, act=act, gain=1.3))):
        torch.testing.assert_close(ours, theirs)


def test_bias_act_function_layouts(stand_in_plugin):
    """Channels-last, non-dense inputs and expanded gradients all reach the kernel with x's strides."""
    x, b = _bias_act_inputs([2, 3, 4, 5], dim=1, channels_last=True)
    fn = bias_act_function(dim=1, act="tanh", clamp=2.0)
    torch.autograd.gradgradcheck(fn.apply, (x, b))
    strided = x.detach()[:, :, ::2].requires_grad_(True)
    torch.autograd.gradgradcheck(fn.apply, (strided, b))
    y = fn.apply(x, b)
    (gx,) = torch.autograd.grad(y.sum(), [x])  # the incoming gradient is an expanded scalar
    (ex,) = torch.autograd.grad(_bias_act_ref(x, b, act="tanh", clamp=2.0).sum(), [x])
    torch.testing.assert_close(gx, ex)


def test_bias_act_linear_clamp_masks_gradient(stand_in_plugin):
    x = torch.tensor([[-3.0, -0.5, 0.5, 3.0]], dtype=torch.float64, requires_grad=True)
    y = bias_act_function(act="linear", clamp=1.0).apply(x, None)
    (gx,) = torch.autograd.grad(y.sum(), [x])
    assert gx.tolist() == [[0.0, 1.0, 1.0, 0.0]]


def test_bias_act_identity_and_no_bias(stand_in_plugin):
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    fn = bias_act_function(act="linear")
    torch.autograd.gradcheck(fn.apply, (x, None))
    torch.autograd.gradcheck(bias_act_function(act="lrelu", alpha=0.1, gain=0.7).apply, (x, None))


def test_bias_act_functions_are_cached():
    assert bias_act_function(act="lrelu", clamp=256) is bias_act_function(act="lrelu", clamp=256.0)
    assert bias_act_function(act="lrelu") is not bias_act_function(act="lrelu", gain=1)


UPFIRDN_CASES = [
    # up, down, padding, filter shape
    (1, 1, [2, 1, 2, 1], (4, 4)),
    (2, 1, [2, 1, 2, 1], (4, 4)),
    (1, 2, [1, 1, 1, 1], (4, 4)),
    ([2, 1], [1, 3], [0, 2, -1, 3], (3, 5)),
    (3, 2, [-2, 1, 2, -1], (8,)),
    (1, 1, 0, (1,)),
]


@pytest.mark.parametrize("up,down,padding,fshape", UPFIRDN_CASES)
@pytest.mark.parametrize("flip", [False, True])
def test_upfirdn2d_function_gradients(stand_in_plugin, up, down, padding, fshape, flip):
    gen = torch.Generator().manual_seed(3)
    x = torch.randn([2, 3, 7, 6], generator=gen, dtype=torch.float64, requires_grad=True)
    f = torch.rand(fshape, generator=gen, dtype=torch.float64) + 0.1
    fn = upfirdn2d_function(up=up, down=down, padding=padding, flip_filter=flip, gain=1.7)
    ref = _upfirdn2d_ref(x, f, up=up, down=down, padding=padding, flip_filter=flip, gain=1.7)
    torch.testing.assert_close(fn.apply(x, f), ref)
    dy = torch.randn(ref.shape, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(torch.autograd.grad(fn.apply(x, f), x, dy)[0], torch.autograd.grad(ref, x, dy)[0])
    torch.autograd.gradcheck(lambda x: fn.apply(x, f), (x,))
    torch.autograd.gradgradcheck(lambda x: fn.apply(x, f), (x,))


def test_upfirdn2d_function_float32_filter_for_half_and_float(stand_in_plugin):
    x = torch.randn(1, 2, 5, 5)
    f = ops.setup_filter([1, 3, 3, 1]).double()
    y = upfirdn2d_function(up=2, padding=[2, 1, 2, 1]).apply(x, f)  # the stand-in asserts a float32 filter
    torch.testing.assert_close(y, _upfirdn2d_ref(x, f.float(), up=2, padding=[2, 1, 2, 1]))
    assert math.isclose(float(upfirdn2d_function().apply(x, None).sum()), float(x.sum()), rel_tol=1e-6)


def test_upfirdn2d_function_refuses_filter_gradient(stand_in_plugin):
    x = torch.randn(1, 1, 4, 4, requires_grad=True)
    f = torch.ones(2, 2, requires_grad=True)
    with pytest.raises(OpUnavailableError, match="no gradient for the filter"):
        upfirdn2d_function().apply(x, f).sum().backward()


class _Unreachable:
    """A plugin that fails the test if a call gets past the Python-side checks."""

    def __getattr__(self, name):
        raise AssertionError(f"bad arguments reached the compiled {name}")


@pytest.mark.parametrize("call, error, message", [
    (lambda: bias_act_function(dim=1).apply(torch.zeros(2, 3), torch.zeros(4)), ShapeError, r"b must have shape \[3\]"),
    (lambda: bias_act_function(dim=2).apply(torch.zeros(2, 3), torch.zeros(3)), ShapeError, "dim must be in"),
    (lambda: bias_act_function(dim=1).apply(torch.zeros(2, 3), torch.zeros(3, dtype=torch.float64)), InputError,
     "must match x"),
    (lambda: bias_act_function(act="relu").apply(torch.zeros(2, 3, dtype=torch.bfloat16), None), InputError,
     "float16, float32 or float64"),
    (lambda: upfirdn2d_function(padding=-1).apply(torch.zeros(1, 1, 4, 4), torch.ones(4, 4)), ShapeError,
     "smaller than the filter"),
    (lambda: upfirdn2d_function(padding=[0, 0, -2, 0]).apply(torch.zeros(1, 1, 5, 5), torch.ones(4)), ShapeError,
     r"\(3x5\) is smaller than the filter \(4x4\)"),
    (lambda: upfirdn2d_function().apply(torch.zeros(1, 1, 4, 4, dtype=torch.bfloat16), None), InputError,
     "float16, float32 or float64"),
    (lambda: upfirdn2d_function(up=2**27).apply(torch.zeros(1, 1, 2, 2), None), ShapeError, "must stay below"),
    (lambda: upfirdn2d_function(up=1.5), InputError, "up must be an integer"),
    (lambda: upfirdn2d_function(padding=[1, 2, 3]), InputError, "padding must be an integer or a list of 2 or 4"),
])
def test_bad_arguments_raise_before_the_extension(monkeypatch, call, error, message):
    """A failed check inside a compiled extension can take the process down on some toolchains (seen on an
    H100 machine with torch 2.11 / CUDA 13); the wrappers check first and raise the project's errors."""
    monkeypatch.setattr(_plugin, "get_plugin", lambda op: _Unreachable())
    with pytest.raises(error, match=message):
        call()
