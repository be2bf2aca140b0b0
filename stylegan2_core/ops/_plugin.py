"""Lazy build and cache of the bundled CUDA kernels.

Nothing is compiled at import. The first CUDA call of an op builds its extension with
``torch.utils.cpp_extension.load`` (ninja) in a staging directory, for the current GPU's
architecture only, then moves it atomically into a cache directory keyed by the source
digest, the GPU architecture, the CUDA and torch versions. Success and failure are memoised;
a failure is kept as a one-line reason, with the full compiler log written (atomically) next to the cache.
"""

import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

import torch

from ..fileio import atomic_write, cache_root

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
    """Built kernels live under the project's one cache root."""
    return cache_root() / "kernels"


def _arch() -> str:
    major, minor = torch.cuda.get_device_capability()
    return f"{major}{minor}"


def _digest(op: str, arch: str) -> str:
    h = hashlib.sha256()
    for name in _SOURCES[op]:
        h.update(name.encode())
        h.update((_CSRC / name).read_bytes())
    h.update(f"sm{arch}-cuda{torch.version.cuda}-torch{torch.__version__}-py{sys.version_info[:2]}".encode())
    return h.hexdigest()[:16]


def _one_line(text: str, limit: int = 300) -> str:
    """The first compiler error line of a build log (else its last line), shortened."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower() and not ln.startswith("Error building extension")]
    line = (errors or lines or ["unknown error"])[0 if errors else -1]
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _import(name: str, directory: Path):
    so = next(directory.glob(f"{name}*.so"), None)
    if so is None:
        raise RuntimeError(f"no built library in {directory}; delete that directory to rebuild")
    spec = importlib.util.spec_from_file_location(name, so)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _build(op: str):
    from torch.utils import cpp_extension

    missing = [n for n in _SOURCES[op] if not (_CSRC / n).is_file()]
    if missing:
        raise RuntimeError(f"kernel sources missing from the package: {', '.join(missing)}")
    if cpp_extension.CUDA_HOME is None:
        raise RuntimeError("CUDA toolkit (nvcc) not found; set CUDA_HOME")
    if not cpp_extension.is_ninja_available():
        raise RuntimeError("ninja not found; `pip install ninja` to build the kernels")
    arch = _arch()
    name = f"s2edit_{op}_{_digest(op, arch)}"
    target = cache_dir() / name
    if target.is_dir():
        return _import(name, target)

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        for n in _SOURCES[op]:
            shutil.copyfile(_CSRC / n, staging / n)
        # An explicit -gencode keeps torch from adding flags for every visible GPU or TORCH_CUDA_ARCH_LIST.
        module = cpp_extension.load(
            name=name,
            sources=[str(staging / n) for n in _SOURCES[op] if not n.endswith(".h")],
            build_directory=str(staging),
            extra_cflags=["-O3"],
            extra_cuda_cflags=["-O3", f"-gencode=arch=compute_{arch},code=sm_{arch}"],
            verbose=False,
        )
    except Exception as err:
        log = target.parent / f"{name}.log"
        text = f"{type(err).__name__}: {err}\n"
        atomic_write(log, lambda tmp: Path(tmp).write_text(text))
        shutil.rmtree(staging, ignore_errors=True)
        raise RuntimeError(f"build failed: {_one_line(str(err))} (log: {log})") from err
    try:
        os.replace(staging, target)
    except OSError:  # another process won the race; its build is equivalent
        shutil.rmtree(staging, ignore_errors=True)
    return module


def get_plugin(op: str):
    """The compiled extension for ``op``; raises RuntimeError with a one-line reason if it cannot be built."""
    if op in _cache:
        return _cache[op]
    if op in _failures:
        raise RuntimeError(_failures[op])
    try:
        _cache[op] = _build(op)
    except Exception as err:  # any build failure means: fall back, and remember why
        reason = str(err).strip() if isinstance(err, RuntimeError) else f"{type(err).__name__}: {str(err).strip()}"
        _failures[op] = reason if "\n" not in reason else _one_line(reason)
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
