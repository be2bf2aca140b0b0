"""The single place that decides which implementation an op runs.

Precedence: the op's ``impl`` argument, then the innermost ``use_impl()`` context,
then the ``S2EDIT_OPS`` environment variable, then ``"auto"``. ``auto`` runs the CUDA
kernels for CUDA tensors when they build, and the reference path otherwise (a failed
build is warned about once and remembered). ``cuda`` raises if the kernels cannot run.
"""

import contextlib
import os
import threading
import warnings

import torch

from ..errors import OpUnavailableError

__all__ = ["IMPLS", "REFERENCE_ONLY_OPS", "resolve", "use_impl", "requested_impl", "status"]

IMPLS = ("auto", "cuda", "ref")
# Ops with only the reference path (no bundled kernel): "auto" runs it on every device, "cuda" is refused.
REFERENCE_ONLY_OPS = ("filtered_lrelu",)
_local = threading.local()
_warned: set[str] = set()


def _stack() -> list[str]:
    if not hasattr(_local, "stack"):
        _local.stack = []
    return _local.stack


def _check(impl: str, origin: str) -> str:
    if impl not in IMPLS:
        raise OpUnavailableError(f"{origin}: unknown op implementation {impl!r}; expected one of {', '.join(IMPLS)}")
    return impl


@contextlib.contextmanager
def use_impl(impl: str):
    """Run the ops inside the block with ``impl`` unless an op call names its own."""
    _stack().append(_check(impl, "use_impl"))
    try:
        yield
    finally:
        _stack().pop()


def requested_impl(impl: str | None = None) -> tuple[str, str]:
    """The requested implementation and where the request came from."""
    if impl is not None:
        return _check(impl, "impl argument"), "argument"
    if _stack():
        return _stack()[-1], "use_impl() context"
    env = os.environ.get("S2EDIT_OPS")
    if env:
        return _check(env.strip().lower(), "S2EDIT_OPS"), "S2EDIT_OPS environment variable"
    return "auto", "default"


def resolve(op: str, x: torch.Tensor, impl: str | None = None) -> str:
    """Return ``"cuda"`` or ``"ref"`` for running ``op`` on tensor ``x``."""
    wanted, origin = requested_impl(impl)
    if wanted == "ref":
        return "ref"
    if op in REFERENCE_ONLY_OPS:
        if wanted == "cuda":
            raise OpUnavailableError(f"{op}: impl='cuda' ({origin}) is not available: this op has no CUDA kernel")
        return "ref"
    from . import _plugin

    if x.device.type != "cuda":
        if wanted == "cuda":
            raise OpUnavailableError(f"{op}: impl='cuda' ({origin}) needs a CUDA tensor, got one on {x.device}")
        return "ref"
    ok, reason = _plugin.available(op)
    if ok:
        return "cuda"
    if wanted == "cuda":
        raise OpUnavailableError(f"{op}: CUDA kernels unavailable ({reason})")
    if op not in _warned:
        _warned.add(op)
        warnings.warn(f"s2edit: {op} CUDA kernel unavailable ({reason}); using the reference PyTorch path", RuntimeWarning, stacklevel=3)
    return "ref"


def status() -> dict:
    """What would run for CUDA and CPU tensors, and why (for ``s2edit info --ops``)."""
    from . import _plugin

    wanted, origin = requested_impl()
    report = {"requested": wanted, "requested_by": origin, "cuda_device": torch.cuda.is_available(), "ops": {}}
    for op in _plugin.OPS:
        if wanted == "ref":
            report["ops"][op] = ("ref", f"reference path requested ({origin})")
        elif not torch.cuda.is_available():
            report["ops"][op] = ("ref", "no CUDA device: the reference PyTorch path runs")
        else:
            ok, reason = _plugin.available(op)
            report["ops"][op] = ("cuda", reason) if ok else ("ref", reason)
    return report
