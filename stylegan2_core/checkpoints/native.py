"""The native format: one ``.safetensors`` file, tensors plus the JSON config in its metadata.

Nothing in it is executable; the header is plain JSON.
"""

import json
import os
import tempfile
from pathlib import Path

import torch

from ..config import GeneratorConfig
from ..errors import CheckpointError

__all__ = ["MAGIC_KEY", "is_safetensors", "read_metadata", "read_safetensors", "read_native", "write_native",
           "atomic_write"]

MAGIC_KEY = "s2edit"
FORMAT_VERSION = 1


def is_safetensors(head: bytes) -> bool:
    """safetensors files start with a little-endian u64 header length and a JSON object."""
    return len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 100_000_000


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write_fn) -> None:
    """Write via a temporary file in the same directory, then rename: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write_fn(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; finished files get the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_native(path, tensors: dict[str, torch.Tensor], config: GeneratorConfig | None, extra: dict | None = None,
                 kind: str = "generator") -> None:
    """Save ``tensors`` with ``{"format_version", "kind", "config", **extra}`` as metadata."""
    from safetensors.torch import save_file

    meta = {"format_version": FORMAT_VERSION, "kind": kind, **(extra or {})}
    if config is not None:
        meta["config"] = config.to_dict()
    flat = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write(Path(path), lambda tmp: save_file(flat, tmp, metadata={MAGIC_KEY: json.dumps(meta)}))


def read_metadata(path) -> dict | None:
    """The s2edit metadata of a safetensors file (None when it carries none), without its tensors."""
    return _read(path, with_tensors=False)[1]


def read_safetensors(path) -> tuple[dict[str, torch.Tensor], dict | None]:
    """Tensors and s2edit metadata (None when the file carries none) of a safetensors file."""
    return _read(path, with_tensors=True)


def _read(path, with_tensors: bool) -> tuple[dict[str, torch.Tensor], dict | None]:
    """One pass over a safetensors file: its tensors (if asked) and its decoded s2edit metadata."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(MAGIC_KEY)
            tensors = {key: f.get_tensor(key) for key in f.keys()} if with_tensors else {}
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: corrupt safetensors file ({err})") from None
    if raw is None:
        return tensors, None
    try:
        return tensors, json.loads(raw)
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: unreadable s2edit metadata ({err})") from None


def read_native(path) -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors and the metadata dict of a native file."""
    tensors, meta = read_safetensors(path)
    if meta is None:
        raise CheckpointError(f"{path}: a safetensors file without s2edit metadata (not an s2edit checkpoint)")
    return tensors, meta


def native_generator_state(path) -> tuple[dict[str, torch.Tensor], GeneratorConfig, dict]:
    tensors, meta = read_native(path)
    if meta.get("kind") not in ("generator", "training"):
        raise CheckpointError(f"{path}: holds a {meta.get('kind')!r}, not a generator")
    if "config" not in meta:
        raise CheckpointError(f"{path}: no generator config in metadata")
    cfg = GeneratorConfig.from_dict(meta["config"])
    prefix = "G_ema." if meta.get("kind") == "training" else ""
    state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    return state, cfg, meta
