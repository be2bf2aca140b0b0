"""The kernel sources compile, without a GPU: nvcc on each .cu, a g++ syntax check of the .cpp bindings.

The .cu files include no torch headers, so nvcc compiles each in seconds. The bindings need
torch/extension.h, the CUDA runtime headers and Python.h; both are checked in one translation
unit so that the torch headers are parsed once.
"""

import os
import shutil
import subprocess
import sysconfig
import time
from pathlib import Path

import pytest
import torch
from torch.utils import cpp_extension

CSRC = Path(__file__).resolve().parents[2] / "stylegan2_core" / "ops" / "csrc"
CU_FILES = sorted(CSRC.glob("*.cu"))
CPP_FILES = sorted(CSRC.glob("*.cpp"))
TIMEOUT_S = 300


def _nvcc() -> str | None:
    if shutil.which("nvcc"):
        return shutil.which("nvcc")
    home = _cuda_home()
    return str(home / "bin" / "nvcc") if home and (home / "bin" / "nvcc").is_file() else None


def _cuda_home() -> Path | None:
    """The CUDA toolkit root: the one whose include/ has the runtime headers."""
    candidates = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), cpp_extension.CUDA_HOME, "/usr/local/cuda"]
    nvcc = shutil.which("nvcc")
    if nvcc:
        candidates.append(str(Path(nvcc).resolve().parents[1]))
    for c in candidates:
        if c and (Path(c) / "include" / "cuda_runtime_api.h").is_file():
            return Path(c)
    return None


def _run(cmd: list[str]) -> tuple[subprocess.CompletedProcess, float]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    return proc, time.perf_counter() - start


def test_sources_present():
    assert [p.name for p in CU_FILES] == ["bias_act.cu", "upfirdn2d.cu"]
    assert [p.name for p in CPP_FILES] == ["bias_act.cpp", "upfirdn2d.cpp"]


@pytest.mark.parametrize("cu", CU_FILES, ids=lambda p: p.name)
def test_cu_includes_no_torch_headers(cu):
    includes = [ln.strip() for ln in cu.read_text().splitlines() if ln.strip().startswith("#include")]
    assert not [ln for ln in includes if "torch/" in ln], f"{cu.name} must stay free of torch headers: {includes}"


@pytest.mark.parametrize("cu", CU_FILES, ids=lambda p: p.name)
def test_nvcc_compiles(cu, tmp_path):
    nvcc = _nvcc()
    if nvcc is None:
        pytest.skip("nvcc not found (PATH, CUDA_HOME): cannot compile the CUDA kernels here")
    includes = [f"-I{p}" for p in cpp_extension.include_paths()]
    proc, seconds = _run([nvcc, "-c", "-std=c++17", *includes, str(cu), "-o", str(tmp_path / f"{cu.stem}.o")])
    assert proc.returncode == 0, f"nvcc failed on {cu.name} after {seconds:.1f} s:\n{proc.stderr}{proc.stdout}"
    assert (tmp_path / f"{cu.stem}.o").stat().st_size > 0


def test_bindings_pass_syntax_check(tmp_path):
    cxx = shutil.which(os.environ.get("CXX", "g++")) or shutil.which("c++")
    cuda_home = _cuda_home()
    python_include = Path(sysconfig.get_paths()["include"])
    if cxx is None:
        pytest.skip("no C++ compiler (g++/c++) found")
    if cuda_home is None:
        pytest.skip("CUDA toolkit headers (cuda_runtime_api.h) not found: set CUDA_HOME")
    if not (python_include / "Python.h").is_file():
        pytest.skip(f"Python.h not found in {python_include}")

    include_dirs = [*cpp_extension.include_paths(), str(cuda_home / "include"), str(python_include)]
    macros = Path(cpp_extension.include_paths()[0]) / "c10" / "cuda" / "impl" / "cuda_cmake_macros.h"
    if not macros.is_file():
        # CPU-only torch wheels leave out this generated header; CUDA wheels ship exactly this content.
        stub = tmp_path / "stub" / "c10" / "cuda" / "impl" / "cuda_cmake_macros.h"
        stub.parent.mkdir(parents=True)
        stub.write_text("#pragma once\n#define C10_CUDA_BUILD_SHARED_LIBS\n")
        include_dirs.append(str(tmp_path / "stub"))

    unit = tmp_path / "bindings.cpp"
    lines = []
    for cpp in CPP_FILES:  # each file gets its own module name, as in separate builds
        lines += [f"#define TORCH_EXTENSION_NAME s2edit_check_{cpp.stem}", f'#include "{cpp}"',
                  "#undef TORCH_EXTENSION_NAME"]
    unit.write_text("\n".join(lines) + "\n")
    abi = int(torch._C._GLIBCXX_USE_CXX11_ABI)
    cmd = [cxx, "-fsyntax-only", "-std=c++20", "-Wall", "-Werror", "-DTORCH_API_INCLUDE_EXTENSION_H",
           f"-D_GLIBCXX_USE_CXX11_ABI={abi}", *[f"-isystem{d}" for d in include_dirs], str(unit)]
    proc, seconds = _run(cmd)
    assert proc.returncode == 0, f"{Path(cxx).name} rejected the bindings after {seconds:.1f} s:\n{proc.stderr}"


def test_nvcc_rejects_a_broken_kernel(tmp_path):
    """The compile check is not vacuous: a kernel with an error fails it."""
    nvcc = _nvcc()
    if nvcc is None:
        pytest.skip("nvcc not found (PATH, CUDA_HOME)")
    broken = tmp_path / "broken.cu"
    source = (CSRC / "bias_act.cu").read_text()
    assert "S v = to_acc(x[i]);" in source
    broken.write_text(source.replace("S v = to_acc(x[i]);", "S v = to_acc(x[i]) + undefined_name;"))
    shutil.copy(CSRC / "bias_act.h", tmp_path / "bias_act.h")
    proc, _ = _run([nvcc, "-c", "-std=c++17", str(broken), "-o", str(tmp_path / "broken.o")])
    assert proc.returncode != 0 and "undefined_name" in proc.stderr + proc.stdout

