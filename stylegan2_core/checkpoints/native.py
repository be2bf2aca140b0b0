"""The native format: one ``.safetensors`` file, tensors plus the JSON config in its metadata.

Nothing in it is executable; the header is plain JSON.
"""

import torch

from ..config import GeneratorConfig
from ..errors import CheckpointError
from ..fileio import read_safetensors, write_safetensors

__all__ = ["read_native", "write_native", "native_generator_state"]

FORMAT_VERSION = 1


def write_native(path, tensors: dict[str, torch.Tensor], config: GeneratorConfig | None, extra: dict | None = None,
                 kind: str = "generator") -> None:
    """Save ``tensors`` with ``{"format_version", "kind", "config", **extra}`` as metadata."""
    meta = {"format_version": FORMAT_VERSION, "kind": kind, **(extra or {})}
    if config is not None:
        meta["config"] = config.to_dict()
    write_safetensors(path, tensors, meta)


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
