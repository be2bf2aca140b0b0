"""Where a checkpoint comes from: a path, an http(s) URL (cached download) or a well-known short name."""

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from ..errors import InputError

__all__ = ["KNOWN_NETWORKS", "cache_root", "resolve_source", "download", "sha256_file"]

_ADA = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained"
_SG3 = "https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan3/versions/1/files"

# Official pretrained StyleGAN2 generators (stylegan2-ada-pytorch and the StyleGAN3 repository).
KNOWN_NETWORKS: dict[str, str] = {
    "ffhq": f"{_ADA}/ffhq.pkl",
    "metfaces": f"{_ADA}/metfaces.pkl",
    "afhqcat": f"{_ADA}/afhqcat.pkl",
    "afhqdog": f"{_ADA}/afhqdog.pkl",
    "afhqwild": f"{_ADA}/afhqwild.pkl",
    "brecahad": f"{_ADA}/brecahad.pkl",
    "cifar10": f"{_ADA}/cifar10.pkl",
    "ffhq-512": f"{_SG3}/stylegan2-ffhq-512x512.pkl",
    "ffhq-256": f"{_SG3}/stylegan2-ffhq-256x256.pkl",
    "ffhqu-1024": f"{_SG3}/stylegan2-ffhqu-1024x1024.pkl",
    "ffhqu-256": f"{_SG3}/stylegan2-ffhqu-256x256.pkl",
    "afhqv2": f"{_SG3}/stylegan2-afhqv2-512x512.pkl",
    "celebahq-256": f"{_SG3}/stylegan2-celebahq-256x256.pkl",
    "lsundog-256": f"{_SG3}/stylegan2-lsundog-256x256.pkl",
}

Progress = Callable[[int, int | None], None]


def cache_root() -> Path:
    root = os.environ.get("S2EDIT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "s2edit")
    return Path(root)


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(url: str, sha256: str | None = None, progress: Progress | None = None, timeout: float = 30) -> Path:
    """Download ``url`` once into the cache (atomic rename, optional sha256 check) and return the path."""
    name = url.rstrip("/").rsplit("/", 1)[-1] or "download"
    key = hashlib.sha256(url.encode()).hexdigest()[:12]
    target = cache_root() / "downloads" / f"{key}-{name}"
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
        os.replace(tmp, target)
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise InputError(f"{url}: download failed ({getattr(err, 'reason', err)})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return target


def resolve_source(source, sha256: str | None = None, progress: Progress | None = None) -> Path:
    """A local path for ``source`` (path, URL or short name), downloading when needed."""
    text = str(source)
    if text.startswith(("http://", "https://")):
        return download(text, sha256=sha256, progress=progress)
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_file():
            raise InputError(f"{path}: is a directory, not a checkpoint file")
        return path
    if text in KNOWN_NETWORKS:
        return download(KNOWN_NETWORKS[text], sha256=sha256, progress=progress)
    raise InputError(f"{text}: no such file, and not a URL or known network name "
                     f"({', '.join(['demo', *KNOWN_NETWORKS])})")
