"""The CUDA kernels against the reference path on a GPU (skipped without one).

Every kernel in float32 and float16 on random inputs of several shapes and layouts: forward,
first derivatives and second derivatives; gradcheck and gradgradcheck in float64; and the full
generator with CUDA ops on the official-output fixtures. A kernel that does not build fails
these tests with the build's one-line reason.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from stylegan2_core import InputError, OpUnavailableError, ShapeError, load_generator, ops
from stylegan2_core.ops import _plugin
from stylegan2_core.ops.bias_act import ACTIVATIONS

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

DEVICE = "cuda"
FIXTURES = Path(__file__).parents[1] / "fixtures"
CHECKPOINTS = ["ada_tiny.pkl", "ada_tiny_cond.pkl", "tf_tiny.pkl", "rosinality_tiny.pt"]
DTYPES = {"fp32": torch.float32, "fp16": torch.float16}
RTOL = {torch.float32: 1e-5, torch.float16: 1e-2}  # absolute tolerance: the same, relative to the largest value


@pytest.fixture(scope="module", autouse=True)
def cuda_setup(tmp_path_factory):
    """Build both kernels once (into the session's temp cache) and run convolutions in full float32, not TF32."""
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("S2EDIT_CACHE", str(tmp_path_factory.getbasetemp() / "s2edit-cache"))
        reasons = {op: _plugin.available(op) for op in _plugin.OPS}
    failed = {op: reason for op, (ok, reason) in reasons.items() if not ok}
    if failed:
        pytest.fail(f"CUDA kernels unavailable: {failed}")
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32


def _randn(shape, seed, dtype=torch.float32, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=g, dtype=torch.float64) * scale).to(DEVICE, dtype)


def _pair(t):
    """Two independent leaf copies of ``t``: one for the CUDA path, one for the reference path."""
    return t.detach().clone().requires_grad_(True), t.detach().clone().requires_grad_(True)


def _close(actual, expected, dtype, mask=None, what=""):
    actual, expected = actual.detach().double(), expected.detach().double()
    if mask is not None:
        actual, expected = actual[mask], expected[mask]
    atol = RTOL[dtype] * max(1.0, float(expected.abs().max())) if expected.numel() else 0.0
    torch.testing.assert_close(actual, expected, rtol=RTOL[dtype], atol=atol, msg=lambda m: f"{what}: {m}")


def test_dispatch_picks_the_kernels():
    x = torch.zeros(1, device=DEVICE)
    assert all(impl == "cuda" for impl, _ in ops.status()["ops"].values())
    from stylegan2_core.ops._dispatch import resolve

    assert resolve("bias_act", x) == "cuda" and resolve("upfirdn2d", x) == "cuda"


# ---------------------------------------------------------------------------------------------- bias_act

BIAS_ACT_CASES = {
    "2d": ([8, 16], 1, False),
    "nchw": ([2, 7, 5, 3], 1, False),
    "dim2": ([3, 4, 6], 2, False),
    "channels_last": ([2, 6, 5, 7], 1, True),
    "big": ([3, 32, 33, 31], 1, False),
}


@pytest.mark.parametrize("clamp", [None, 0.8], ids=["noclamp", "clamp"])
@pytest.mark.parametrize("case", sorted(BIAS_ACT_CASES))
@pytest.mark.parametrize("dtype", sorted(DTYPES), ids=str)
@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_bias_act_matches_reference(act, dtype, case, clamp):
    dtype = DTYPES[dtype]
    shape, dim, channels_last = BIAS_ACT_CASES[case]
    x = _randn(shape, 1, dtype, scale=2)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    b = _randn([shape[dim]], 2, dtype)
    kw = {"dim": dim, "act": act, "clamp": clamp, "gain": 1.3 if act == "tanh" else None}
    (xc, xr), (bc, br) = _pair(x), _pair(b)
    y = ops.bias_act(xc, bc, impl="cuda", **kw)
    y_ref = ops.bias_act(xr, br, impl="ref", **kw)
    assert y.dtype == dtype and y.shape == y_ref.shape
    _close(y, y_ref, dtype, what="forward")

    # float16 gradients are compared away from the clamp boundary, where rounding may decide either side.
    mask = None
    if clamp is not None and dtype == torch.float16:
        mask = (y_ref.detach().abs().double() - clamp).abs() > 2e-2
    dy = _randn(shape, 3, dtype)
    gx, gb = torch.autograd.grad(y, [xc, bc], dy, create_graph=True)
    rx, rb = torch.autograd.grad(y_ref, [xr, br], dy, create_graph=True)
    _close(gx, rx, dtype, mask, "d/dx")
    if mask is None or bool(mask.all()):
        _close(gb, rb, dtype, what="d/db")

    if ACTIVATIONS[act].has_2nd_grad:
        v = _randn(shape, 4, dtype)
        hx, hb = torch.autograd.grad((gx * v).sum(), [xc, bc])
        ex, eb = torch.autograd.grad((rx * v).sum(), [xr, br])
        _close(hx, ex, dtype, mask, "d2/dx2")
        if mask is None or bool(mask.all()):
            _close(hb, eb, dtype, what="d2/dxdb")


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
@pytest.mark.parametrize("clamp", [None, 3.0], ids=["noclamp", "clamp"])
def test_bias_act_gradcheck_float64(act, clamp):
    x = _randn([2, 3, 4], 5, torch.float64, scale=2).requires_grad_(True)
    b = _randn([3], 6, torch.float64).requires_grad_(True)

    def fn(x, b):
        return ops.bias_act(x, b, act=act, clamp=clamp, impl="cuda")

    torch.autograd.gradcheck(fn, (x, b))
    torch.autograd.gradgradcheck(fn, (x, b))


def test_bias_act_without_bias_and_linear_identity():
    x = _randn([4, 5], 7)
    expected = ops.bias_act(x, None, act="lrelu", impl="ref")
    torch.testing.assert_close(ops.bias_act(x, None, act="lrelu", impl="cuda"), expected)
    torch.testing.assert_close(ops.bias_act(x, None, impl="cuda"), x)


def test_bias_act_rejects_bad_arguments():
    x = _randn([2, 3], 8)
    with pytest.raises(ShapeError, match="b must have shape"):
        ops.bias_act(x, _randn([4], 9), impl="cuda")
    with pytest.raises(InputError, match="float16, float32 or float64"):
        ops.bias_act(x.bfloat16(), None, act="relu", impl="cuda")


# --------------------------------------------------------------------------------------------- upfirdn2d

# name: (input shape, up, down, padding, filter taps or shape, flip, gain)
UPFIRDN_CASES = {
    "filter2d_4x4": ([2, 3, 70, 45], 1, 1, [2, 1, 2, 1], [1, 3, 3, 1], False, 1.0),
    "upsample2x_4x4": ([2, 3, 33, 20], 2, 1, [2, 1, 2, 1], [1, 3, 3, 1], False, 4.0),
    "downsample2x_4x4": ([2, 3, 64, 37], 1, 2, [1, 1, 1, 1], [1, 3, 3, 1], False, 1.0),
    "after_transposed_conv": ([2, 4, 67, 67], 1, 1, [1, 1, 1, 1], [1, 3, 3, 1], False, 4.0),
    "small_image_up": ([3, 5, 4, 4], 2, 1, [2, 1, 2, 1], [1, 3, 3, 1], False, 4.0),
    "small_image_down": ([3, 5, 8, 8], 1, 2, [1, 1, 1, 1], [1, 3, 3, 1], True, 1.0),
    "asymmetric_3x4_up": ([2, 2, 19, 23], 2, 1, [1, 2, 2, 0], (3, 4), False, 1.5),
    "asymmetric_4x2_flip": ([2, 2, 40, 17], 1, 2, [0, 3, -1, 2], (4, 2), True, 1.0),
    "negative_padding": ([2, 3, 21, 18], 1, 1, [-2, 1, 3, -1], (4, 4), False, 1.0),
    "generic_up3_down2": ([2, 3, 13, 11], 3, 2, [2, 2, 1, 3], (5, 5), False, 1.0),
    "generic_anisotropic": ([2, 3, 15, 12], [2, 1], [1, 2], [1, 2, 0, 1], (3, 5), True, 1.0),
    "separable_8": ([2, 3, 24, 20], 2, 1, [4, 3, 4, 3], (8,), False, 4.0),
    "separable_1": ([2, 3, 9, 9], 1, 1, 0, (1,), False, 2.0),
    "identity_up2": ([2, 3, 9, 7], 2, 1, 0, None, False, 1.0),
    "large_filter_6x6": ([1, 2, 30, 30], 1, 1, [3, 2, 3, 2], (6, 6), False, 1.0),
    "many_planes": ([1, 70000, 4, 4], 2, 1, [2, 1, 2, 1], [1, 3, 3, 1], False, 4.0),
}


def _filter(spec, seed):
    if spec is None:
        return None
    if isinstance(spec, list):
        return ops.setup_filter(spec, device=DEVICE)
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(spec, generator=g) + 0.1).to(DEVICE)


def _upfirdn2d_case(name, dtype, layout="contiguous"):
    shape, up, down, padding, fspec, flip, gain = UPFIRDN_CASES[name]
    x = _randn(shape, 11, dtype)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    elif layout == "strided":
        x = _randn([shape[0], shape[1], shape[2] * 2, shape[3] + 3], 11, dtype)[:, :, ::2, 1:-2]
    kw = {"up": up, "down": down, "padding": padding, "flip_filter": flip, "gain": gain}
    return x, _filter(fspec, 12), kw


@pytest.mark.parametrize("dtype", sorted(DTYPES), ids=str)
@pytest.mark.parametrize("name", sorted(UPFIRDN_CASES))
def test_upfirdn2d_matches_reference(name, dtype):
    dtype = DTYPES[dtype]
    x, f, kw = _upfirdn2d_case(name, dtype)
    xc, xr = _pair(x)
    y = ops.upfirdn2d(xc, f, impl="cuda", **kw)
    y_ref = ops.upfirdn2d(xr, f, impl="ref", **kw)
    assert y.dtype == dtype and y.shape == y_ref.shape
    _close(y, y_ref, dtype, what="forward")

    dy = _randn(y.shape, 13, dtype).requires_grad_(True)
    (gx,) = torch.autograd.grad(y, xc, dy, create_graph=True)
    (rx,) = torch.autograd.grad(y_ref, xr, dy, create_graph=True)
    _close(gx, rx, dtype, what="d/dx")

    # The op is linear: its second derivative is the op itself, reached through the gradient's gradient.
    v = _randn(x.shape, 14, dtype)
    (hy,) = torch.autograd.grad((gx * v).sum(), dy)
    (ey,) = torch.autograd.grad((rx * v).sum(), dy)
    _close(hy, ey, dtype, what="d/d(dy) of d/dx")


@pytest.mark.parametrize("layout", ["channels_last", "strided"])
@pytest.mark.parametrize("name", ["filter2d_4x4", "upsample2x_4x4", "downsample2x_4x4", "generic_up3_down2"])
def test_upfirdn2d_input_layouts(name, layout):
    x, f, kw = _upfirdn2d_case(name, torch.float32, layout)
    xc, xr = _pair(x)
    y = ops.upfirdn2d(xc, f, impl="cuda", **kw)
    y_ref = ops.upfirdn2d(xr, f, impl="ref", **kw)
    _close(y, y_ref, torch.float32, what="forward")
    dy = _randn(y.shape, 15)
    _close(torch.autograd.grad(y, xc, dy)[0], torch.autograd.grad(y_ref, xr, dy)[0], torch.float32, what="d/dx")


@pytest.mark.parametrize("name", [n for n in sorted(UPFIRDN_CASES) if n != "many_planes"])
def test_upfirdn2d_gradcheck_float64(name):
    shape, up, down, padding, fspec, flip, gain = UPFIRDN_CASES[name]
    x = _randn([1, 2, min(shape[2], 10), min(shape[3], 10)], 16, torch.float64).requires_grad_(True)
    f = _filter(fspec, 17)
    f = f.double() if f is not None else None
    kw = {"up": up, "down": down, "padding": padding, "flip_filter": flip, "gain": gain}

    def fn(x):
        return ops.upfirdn2d(x, f, impl="cuda", **kw)

    torch.testing.assert_close(fn(x), ops.upfirdn2d(x, f, impl="ref", **kw))
    torch.autograd.gradcheck(fn, (x,))
    torch.autograd.gradgradcheck(fn, (x,))


def test_upfirdn2d_rejects_bad_arguments():
    x = _randn([1, 1, 4, 4], 18)
    with pytest.raises(ShapeError, match="smaller than the filter"):
        ops.upfirdn2d(x, torch.ones(4, 4, device=DEVICE), padding=-1, impl="cuda")
    with pytest.raises(OpUnavailableError, match="no gradient for the filter"):
        f = torch.ones(2, 2, device=DEVICE, requires_grad=True)
        ops.upfirdn2d(x.requires_grad_(True), f, impl="cuda").sum().backward()


# --------------------------------------------------------------------------------------------- generator


@pytest.fixture(scope="module", params=CHECKPOINTS, ids=lambda n: n.split(".")[0])
def fixture_generator(request):
    path = FIXTURES / request.param
    G = load_generator(path, device=DEVICE)
    ref = dict(np.load(path.with_name(f"{path.stem}.ref.npz")))
    return G, ref


def _synthesis(G, ws, impl, **kw):
    with ops.use_impl(impl):
        return G.synthesis(ws, noise_mode="const", **kw)


def test_generator_matches_official_outputs(fixture_generator):
    G, ref = fixture_generator
    ws = torch.from_numpy(ref["ws_psi1"]).to(DEVICE)
    with torch.no_grad():
        img = _synthesis(G, ws, "cuda", force_fp32=True)
    assert img.shape == (4, 3, 32, 32)
    np.testing.assert_allclose(img.cpu().numpy(), ref["img_psi1_const"], atol=1e-4, rtol=1e-4)


def test_generator_with_active_clamp(fixture_generator):
    G, ref = fixture_generator
    ws = torch.from_numpy(ref["ws_large"]).to(DEVICE)
    with torch.no_grad():
        img = _synthesis(G, ws, "cuda", force_fp32=True)
    np.testing.assert_allclose(img.cpu().numpy(), ref["img_large_const"], rtol=1e-4, atol=1e-3)


def test_generator_gradient_wrt_ws(fixture_generator):
    G, ref = fixture_generator
    ws = torch.from_numpy(ref["ws_psi1"][0:1]).to(DEVICE).requires_grad_(True)
    img = _synthesis(G, ws, "cuda", force_fp32=True)
    (grad,) = torch.autograd.grad((img * torch.from_numpy(ref["probe"]).to(DEVICE)).sum(), ws)
    expected = ref["grad_ws_probe"]
    np.testing.assert_allclose(grad.cpu().numpy(), expected, atol=1e-4 * np.abs(expected).max(), rtol=1e-4)


def test_generator_fp16_layers_agree_with_reference_ops(fixture_generator):
    G, ref = fixture_generator
    ws = torch.from_numpy(ref["ws_psi1"]).to(DEVICE)
    with torch.no_grad():
        ours = _synthesis(G, ws, "cuda", force_fp32=False)
        theirs = _synthesis(G, ws, "ref", force_fp32=False)
    np.testing.assert_allclose(ours.cpu().numpy(), theirs.cpu().numpy(), atol=1e-2, rtol=1e-2)
    np.testing.assert_allclose(ours.cpu().numpy(), ref["img_psi1_const"], atol=2e-2, rtol=2e-2)
