"""Argument parsing shared by upfirdn2d, its CUDA wrapper, the resampling helpers and conv2d_resample.

A leaf module (it imports no other op), so the ops that share these helpers never import each
other. The checks are the official parse helpers' asserts, raised as the project's errors.
"""

import numbers

import torch

from ..errors import InputError, ShapeError

__all__ = ["parse_scaling", "parse_padding", "filter_size"]


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _int_pair_or_quad(value, lengths: tuple[int, ...], what: str, op: str) -> list[int]:
    """``value`` as a list of ints: an int becomes ``[v, v]``; lists must have one of ``lengths`` ints."""
    if _is_int(value):
        value = [value, value]
    if not isinstance(value, (list, tuple)) or len(value) not in lengths or not all(_is_int(v) for v in value):
        counts = " or ".join(str(n) for n in lengths)
        raise InputError(f"{op}: {what} must be an integer or a list of {counts} integers, got {value!r}")
    return [int(v) for v in value]


def parse_scaling(scaling, what: str = "up/down", op: str = "upfirdn2d") -> tuple[int, int]:
    """An integer factor or ``[x, y]`` pair -> ``(x, y)``, each >= 1."""
    sx, sy = _int_pair_or_quad(scaling, (2,), what, op)
    if sx < 1 or sy < 1:
        raise InputError(f"{op}: {what} factors must be >= 1, got {scaling!r}")
    return sx, sy


def parse_padding(padding, op: str = "upfirdn2d") -> tuple[int, int, int, int]:
    """An int, ``[x, y]`` or ``[x0, x1, y0, y1]`` -> ``(x0, x1, y0, y1)``; negative values crop."""
    padding = _int_pair_or_quad(padding, (2, 4), "padding", op)
    if len(padding) == 2:
        px, py = padding
        padding = [px, px, py, py]
    px0, px1, py0, py1 = padding
    return px0, px1, py0, py1


def filter_size(f, op: str = "upfirdn2d") -> tuple[int, int]:
    """``(width, height)`` of a 1-D (separable) or 2-D FIR filter; ``(1, 1)`` for None."""
    if f is None:
        return 1, 1
    if not isinstance(f, torch.Tensor):
        raise InputError(f"{op}: filter must be a tensor (see setup_filter) or None, got {type(f).__name__}")
    if f.ndim not in (1, 2) or min(f.shape) < 1:
        raise ShapeError(f"{op}: filter must be 1-D (separable) or 2-D and non-empty, got shape {list(f.shape)}")
    return int(f.shape[-1]), int(f.shape[0])
