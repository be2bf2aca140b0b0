"""A restricted unpickler for NVlabs checkpoints: nothing in the file is imported or executed.

Only inert constructors are allowed (tensor/storage rebuild, numpy arrays and scalars,
OrderedDict, set). The NVlabs persistence hook, ``EasyDict`` and the TF ``Network``
class are mapped to stubs that merely record their arguments, so the ``module_src``
embedded in a pickle stays a string. Any other global is refused.
"""

import collections
import io
import pickle

import numpy as np
import torch

from ..errors import CheckpointError, UnsafeCheckpointError

__all__ = ["PersistentRecord", "EasyDictStub", "NetworkStub", "safe_load"]


class PersistentRecord:
    """Stands in for a ``torch_utils.persistence`` object: keeps its class name, state and init kwargs."""

    def __init__(self, meta: dict):
        if not isinstance(meta, dict) or meta.get("type") != "class" or "state" not in meta:
            raise CheckpointError("malformed persistent object record in pickle")
        self.class_name = meta.get("class_name")
        self.version = meta.get("version")
        self.state = meta["state"]

    @property
    def init_kwargs(self) -> dict:
        return dict(self.state.get("_init_kwargs", {}) or {})

    def __repr__(self):
        return f"PersistentRecord({self.class_name})"


class EasyDictStub(dict):
    """``dnnlib.util.EasyDict`` without attribute magic."""

    def __setstate__(self, state):  # EasyDict pickles carry an empty __dict__
        pass


class NetworkStub:
    """``dnnlib.tflib.network.Network`` reduced to its pickled state dict."""

    def __setstate__(self, state):
        if not isinstance(state, dict) or "variables" not in state:
            raise CheckpointError("malformed TensorFlow Network state in pickle")
        self.state = state

    @property
    def name(self):
        return self.state.get("name")


def _load_storage_bytes(data: bytes):
    # Legacy storages embed a nested torch.save stream: read it with torch's own
    # weights-only unpickler, never with the full one.
    return torch.load(io.BytesIO(data), weights_only=True)


def _make_record(meta):
    return PersistentRecord(meta)


try:  # numpy >= 2 moved the array internals to numpy._core
    from numpy._core import multiarray as _multiarray
except ImportError:
    from numpy.core import multiarray as _multiarray

_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage_bytes,
    ("numpy", "dtype"): np.dtype,
    ("numpy", "ndarray"): np.ndarray,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _make_record,
    ("dnnlib.util", "EasyDict"): EasyDictStub,
    ("dnnlib.tflib.network", "Network"): NetworkStub,
}
# numpy 1.x wrote numpy.core.*, numpy 2 writes numpy._core.*: accept both spellings.
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[(_mod, "_reconstruct")] = _multiarray._reconstruct
    _ALLOWED[(_mod, "scalar")] = _multiarray.scalar


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        target = _ALLOWED.get((module, name))
        if target is None:
            raise UnsafeCheckpointError(f"refusing to load global '{module}.{name}' (not an allowed checkpoint type)")
        return target

    def persistent_load(self, pid):
        raise UnsafeCheckpointError("refusing pickle with persistent ids (not an NVlabs checkpoint)")


def safe_load(stream) -> object:
    """Unpickle ``stream`` with the allowlist; raise ``UnsafeCheckpointError`` / ``CheckpointError``."""
    try:
        return _RestrictedUnpickler(stream).load()
    except (UnsafeCheckpointError, CheckpointError):
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            RuntimeError, OverflowError, MemoryError) as err:
        raise CheckpointError(f"corrupt or truncated pickle ({type(err).__name__}: {err})") from None
