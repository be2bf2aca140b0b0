"""The native format: one ``.safetensors`` file, tensors plus the JSON config in its metadata.

Nothing in it is executable; the header is plain JSON.
"""

import torch

from ..config import GeneratorConfig
from ..errors import CheckpointError, InputError
from ..fileio import read_safetensors, write_safetensors
from ..sg3.config import ARCHITECTURE as STYLEGAN3
from ..sg3.config import StyleGAN3Config

__all__ = ["read_native", "write_native", "native_generator_state", "config_from_dict"]

FORMAT_VERSION = 1


def config_from_dict(data: dict) -> GeneratorConfig | StyleGAN3Config:
    """The generator config a native file records: StyleGAN3's when it says ``architecture: stylegan3``."""
    if isinstance(data, dict) and data.get("architecture") == STYLEGAN3:
        return StyleGAN3Config.from_dict(data)
    return GeneratorConfig.from_dict(data)


def write_native(path, tensors: dict[str, torch.Tensor], config: GeneratorConfig | StyleGAN3Config | None, extra: dict | None = None,
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


def native_generator_state(path) -> tuple[dict[str, torch.Tensor], GeneratorConfig | StyleGAN3Config, dict]:
    """State dict, config and metadata of a native generator file (kind ``"generator"``).

    Training checkpoints (kind ``"training"``) are ``projector``'s format: they are refused here with a
    message that says how to load them.
    """
    tensors, meta = read_native(path)
    kind = meta.get("kind")
    if kind == "training":
        raise CheckpointError(f"{path}: an s2edit training checkpoint, not a generator file; load its G_ema with "
                              "projector.load_network(path), as every s2edit command's --network does")
    if kind != "generator":
        raise CheckpointError(f"{path}: holds a {kind!r}, not a generator")
    if "config" not in meta:
        raise CheckpointError(f"{path}: no generator config in metadata")
    try:
        cfg = config_from_dict(meta["config"])
    except InputError as err:
        raise CheckpointError(f"{path}: bad generator config in metadata ({err})") from None
    return tensors, cfg, meta
