"""Kernel build plumbing on CPU: arch flags, atomic cache, one-line failure reasons, the dispatch warning."""

import os
import types
import warnings
from pathlib import Path

import pytest
import torch
from torch.utils import cpp_extension

from stylegan2_core import OpUnavailableError
from stylegan2_core.fileio import atomic_write, cache_root
from stylegan2_core.ops import _dispatch, _plugin

NVCC_LOG = """Error building extension 's2edit_bias_act_0123': [1/3] c++ -MMD -MF bias_act.o.d -O3 -c bias_act.cpp
FAILED: bias_act.cuda.o
/cache/.s2edit_bias_act_0123-x/bias_act.cu(42): error: identifier "undefined_name" is undefined
1 error detected in the compilation of "bias_act.cu".
ninja: build stopped: subcommand failed.
"""


@pytest.fixture
def fresh_plugin(monkeypatch):
    monkeypatch.setattr(_plugin, "_cache", {})
    monkeypatch.setattr(_plugin, "_failures", {})


@pytest.fixture
def fake_toolchain(monkeypatch, fresh_plugin, tmp_path):
    """A CUDA 'machine' without a GPU: capability 9.0, nvcc and ninja present, load() recorded, an empty cache."""
    calls = []
    monkeypatch.setenv("S2EDIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (9, 0))
    monkeypatch.setattr(cpp_extension, "CUDA_HOME", "/usr/local/cuda")
    monkeypatch.setattr(cpp_extension, "is_ninja_available", lambda: True)

    def load(**kwargs):
        calls.append(kwargs)
        return types.SimpleNamespace(name=kwargs["name"])

    monkeypatch.setattr(cpp_extension, "load", load)
    return calls


def test_one_line_picks_the_compiler_error():
    assert _plugin._one_line(NVCC_LOG) == (
        '/cache/.s2edit_bias_act_0123-x/bias_act.cu(42): error: identifier "undefined_name" is undefined')
    assert _plugin._one_line("first\nlast line\n") == "last line"
    assert len(_plugin._one_line("error: " + "x" * 1000)) == 300


def test_build_flags_and_atomic_cache(fake_toolchain):
    env_before = dict(os.environ)
    module = _plugin.get_plugin("upfirdn2d")
    (kwargs,) = fake_toolchain
    assert module.name == kwargs["name"] and kwargs["name"].startswith("s2edit_upfirdn2d_")
    assert "-gencode=arch=compute_90,code=sm_90" in kwargs["extra_cuda_cflags"]
    assert sorted(os.path.basename(s) for s in kwargs["sources"]) == ["upfirdn2d.cpp", "upfirdn2d.cu"]
    assert dict(os.environ) == env_before  # no TORCH_CUDA_ARCH_LIST or other process-wide changes
    target = _plugin.cache_dir() / kwargs["name"]
    assert target.is_dir() and (target / "upfirdn2d.h").is_file()
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]  # no staging left behind
    assert _plugin.get_plugin("upfirdn2d") is module and len(fake_toolchain) == 1


def test_cache_key_follows_arch_and_sources(fake_toolchain, monkeypatch):
    key = _plugin._digest("bias_act", "90")
    assert _plugin._digest("bias_act", "80") != key
    monkeypatch.setattr(torch, "__version__", torch.__version__ + "-other")
    assert _plugin._digest("bias_act", "90") != key


def test_build_failure_is_one_line_with_log(fake_toolchain, monkeypatch):
    def failing_load(**kwargs):
        raise RuntimeError(NVCC_LOG)

    written = []

    def recording_atomic_write(path, write_fn):
        written.append(path)
        return atomic_write(path, write_fn)

    monkeypatch.setattr(cpp_extension, "load", failing_load)
    monkeypatch.setattr(_plugin, "atomic_write", recording_atomic_write)
    with pytest.raises(RuntimeError) as info:
        _plugin.get_plugin("bias_act")
    reason = str(info.value)
    assert "\n" not in reason and 'identifier "undefined_name" is undefined' in reason
    log = reason.rsplit("(log: ", 1)[1].rstrip(")")
    assert "ninja: build stopped" in Path(log).read_text()
    assert [str(p) for p in written] == [log]  # the log is written atomically, through stylegan2_core.fileio
    assert _plugin.cache_dir() == cache_root() / "kernels"
    assert not [p for p in _plugin.cache_dir().iterdir() if p.is_dir()]  # the failed staging dir is gone
    monkeypatch.setattr(cpp_extension, "load", lambda **kw: pytest.fail("rebuilt after a failure"))
    with pytest.raises(RuntimeError, match="undefined_name"):  # memoised
        _plugin.get_plugin("bias_act")


def test_missing_sources_and_toolkit_reasons(fresh_plugin, monkeypatch, tmp_path):
    monkeypatch.setattr(_plugin, "_CSRC", tmp_path)
    with pytest.raises(RuntimeError, match="^kernel sources missing from the package: bias_act.cpp, bias_act.cu"):
        _plugin.get_plugin("bias_act")
    monkeypatch.setattr(_plugin, "_CSRC", _plugin.Path(_plugin.__file__).parent / "csrc")
    monkeypatch.setattr(cpp_extension, "CUDA_HOME", None)
    with pytest.raises(RuntimeError, match="^CUDA toolkit"):
        _plugin.get_plugin("upfirdn2d")


def test_dispatch_warns_once_with_the_reason(monkeypatch):
    reason = "build failed: bias_act.cu(42): error: boom (log: /tmp/x.log)"
    monkeypatch.setattr(_plugin, "available", lambda op: (False, reason))
    monkeypatch.setattr(_dispatch, "_warned", set())
    cuda_tensor = types.SimpleNamespace(device=torch.device("cuda"))  # resolve() reads only .device
    with pytest.warns(RuntimeWarning) as record:
        assert _dispatch.resolve("bias_act", cuda_tensor) == "ref"
    (message,) = [str(w.message) for w in record]
    assert reason in message and "\n" not in message
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _dispatch.resolve("bias_act", cuda_tensor) == "ref"
    with pytest.raises(OpUnavailableError, match="error: boom"):
        _dispatch.resolve("bias_act", cuda_tensor, impl="cuda")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only answer")
def test_available_without_gpu():
    assert _plugin.available("bias_act") == (False, "no CUDA device")
