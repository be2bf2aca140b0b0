"""The project's one way to touch files: atomic writes, safetensors with s2edit metadata, cached downloads.

Every file s2edit writes goes through ``atomic_write`` or ``atomic_path`` (a fresh temporary file in
the same folder, then a rename), so an interrupt or a crash never leaves half a file and a symlink
in the way is replaced, never written through. safetensors files carry
their JSON metadata under one key, ``MAGIC_KEY``. Downloads land in ``cache_root()``.
"""

import contextlib
import hashlib
import http.client
import json
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import torch

from .errors import CheckpointError, InputError

__all__ = ["MAGIC_KEY", "Progress", "atomic_path", "atomic_write", "is_safetensors", "read_metadata", "safetensors_metadata",
           "read_safetensors", "write_safetensors", "cache_root", "sha256_file", "download"]

MAGIC_KEY = "s2edit"

Progress = Callable[[int, int | None], None]


def is_safetensors(head: bytes) -> bool:
    """safetensors files start with a little-endian u64 header length and a JSON object."""
    return len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 100_000_000


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path, suffix: str = ".tmp"):
    """A fresh temporary path beside ``path`` for a writer that needs a file name (a video encoder, say);
    it becomes ``path`` when the block ends normally and is removed when it raises.

    The temporary file is created anew (``O_EXCL``, so nothing planted under its name is written
    through), and the rename replaces ``path`` itself: when ``path`` is a symlink the link is
    replaced, never the file it points to. ``suffix`` ends the temporary name (writers that pick
    the format by suffix need the real one).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; finished files get the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: Path, write_fn) -> None:
    """Write via a temporary file in the same directory, then rename (``atomic_path``): a crash never leaves
    half a file, and a symlink at ``path`` is replaced, not written through."""
    with atomic_path(path) as tmp:
        write_fn(str(tmp))


def write_safetensors(path, tensors: dict[str, torch.Tensor], meta: dict | None = None) -> Path:
    """Write ``tensors`` (moved to CPU, made contiguous) with ``meta`` as JSON under ``MAGIC_KEY``, atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    flat = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    metadata = {MAGIC_KEY: json.dumps(meta, default=str)} if meta is not None else None
    atomic_write(path, lambda tmp: save_file(flat, tmp, metadata=metadata))
    return path


def read_metadata(path) -> dict | None:
    """The s2edit metadata of a safetensors file (None when it carries none), without its tensors."""
    return _read(path, with_tensors=False)[1]


def safetensors_metadata(path) -> dict:
    """The s2edit metadata of ``path`` when it is a safetensors file; {} for a missing file, another
    format, or a file without metadata."""
    path = Path(path)
    if not path.is_file():
        return {}
    with open(path, "rb") as f:
        if not is_safetensors(f.read(16)):
            return {}
    return read_metadata(path) or {}


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


def cache_root() -> Path:
    """``$S2EDIT_CACHE``, else ``~/.cache/s2edit``: downloads, kernels and weights live under it."""
    root = os.environ.get("S2EDIT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "s2edit")
    return Path(root)


def sha256_file(path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(url: str, sha256: str | None = None, progress: Progress | None = None, timeout: float = 30,
             validate: Callable[[Path], None] | None = None, target: Path | None = None) -> Path:
    """Download ``url`` once into the cache and return the cached path.

    The bytes go to a temporary file; the length, the optional ``sha256`` and the optional
    ``validate(tmp_path)`` (which raises on content that does not load, e.g. an HTML error page
    served with HTTP 200) are checked before the file is renamed into place, so nothing bad is
    ever cached. ``target`` overrides the cache location (default ``cache_root()/downloads``).
    """
    name = url.rstrip("/").rsplit("/", 1)[-1] or "download"
    key = hashlib.sha256(url.encode()).hexdigest()[:12]
    target = Path(target) if target is not None else cache_root() / "downloads" / f"{key}-{name}"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as f:
            total = response.headers.get("Content-Length")
            total = int(total) if total and total.isdigit() else None
            done = 0
            while chunk := response.read(1 << 20):
                f.write(chunk)
                h.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
        if total is not None and done != total:
            raise InputError(f"{url}: download truncated ({done} of {total} bytes)")
        if sha256 and h.hexdigest() != sha256.lower():
            raise InputError(f"{url}: sha256 mismatch (expected {sha256}, got {h.hexdigest()})")
        if validate is not None:
            validate(tmp)
        os.replace(tmp, target)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
        raise InputError(f"{url}: download failed ({getattr(err, 'reason', err)})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return target
