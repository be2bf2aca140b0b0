"""Lazy build and cache of the bundled CUDA kernels.

Nothing is compiled at import. The first CUDA call of an op builds its extension with
``torch.utils.cpp_extension.load`` into a cache directory keyed by the source digest,
the GPU architecture and the torch version. Success and failure are memoised.
"""

import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

import torch

__all__ = ["OPS", "available", "get_plugin", "cache_dir"]

OPS = ("bias_act", "upfirdn2d")
_SOURCES = {
    "bias_act": ("bias_act.cpp", "bias_act.cu", "bias_act.h"),
    "upfirdn2d": ("upfirdn2d.cpp", "upfirdn2d.cu", "upfirdn2d.h"),
}
_CSRC = Path(__file__).parent / "csrc"
_cache: dict[str, object] = {}
_failures: dict[str, str] = {}


def cache_dir() -> Path:
    root = os.environ.get("S2EDIT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "s2edit")
    return Path(root) / "kernels"


def _digest(op: str) -> str:
    h = hashlib.sha256()
    for name in _SOURCES[op]:
        h.update(name.encode())
        h.update((_CSRC / name).read_bytes())
    major, minor = torch.cuda.get_device_capability()
    h.update(f"sm{major}{minor}-torch{torch.__version__}-py{sys.version_info[:2]}".encode())
    return h.hexdigest()[:16]


def _build(op: str):
    from torch.utils import cpp_extension

    missing = [n for n in _SOURCES[op] if not (_CSRC / n).is_file()]
    if missing:
        raise RuntimeError(f"kernel sources missing from the package: {', '.join(missing)}")
    if cpp_extension.CUDA_HOME is None:
        raise RuntimeError("CUDA toolkit (nvcc) not found; set CUDA_HOME")
    name = f"s2edit_{op}_{_digest(op)}"
    target = cache_dir() / name
    if not target.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
        for n in _SOURCES[op]:
            shutil.copyfile(_CSRC / n, staging / n)
        sources = [str(staging / n) for n in _SOURCES[op] if not n.endswith(".h")]
        cpp_extension.load(name=name, sources=sources, build_directory=str(staging), verbose=False,
                           extra_cuda_cflags=["--use_fast_math"])
        try:
            os.replace(staging, target)
        except OSError:  # another process won the race; its build is equivalent
            shutil.rmtree(staging, ignore_errors=True)
    so = next(target.glob(f"{name}*.so"), None)
    if so is None:
        raise RuntimeError(f"no built library in {target}")
    spec = importlib.util.spec_from_file_location(name, so)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def get_plugin(op: str):
    """The compiled extension for ``op``; raises RuntimeError with the reason if it cannot be built."""
    if op in _cache:
        return _cache[op]
    if op in _failures:
        raise RuntimeError(_failures[op])
    try:
        _cache[op] = _build(op)
    except Exception as err:  # any build failure means: fall back, and remember why
        _failures[op] = f"build failed: {type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"
        raise RuntimeError(_failures[op]) from err
    return _cache[op]


def available(op: str) -> tuple[bool, str]:
    """Whether the CUDA kernel for ``op`` can run, and a one-line reason."""
    if not torch.cuda.is_available():
        return False, "no CUDA device"
    try:
        get_plugin(op)
    except RuntimeError as err:
        return False, str(err)
    return True, f"CUDA kernel built in {cache_dir()}"
