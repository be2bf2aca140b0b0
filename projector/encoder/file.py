"""Encoder files: native safetensors, the weights plus JSON metadata (kind ``"encoder"``).

Metadata: the ``EncoderConfig``, the ``model_id`` of the generator it was trained for (an encoder
only makes sense with that network), the network's name as given, and the training kimg.
"""

from __future__ import annotations

from pathlib import Path

import torch

from stylegan2_core import model_id
from stylegan2_core.errors import CheckpointError, InputError
from stylegan2_core.fileio import read_safetensors, safetensors_metadata, write_safetensors

from .config import EncoderConfig
from .network import Encoder

__all__ = ["ENCODER_KIND", "encoder_file_name", "save_encoder", "load_encoder", "describe_encoder"]

ENCODER_KIND = "encoder"
FORMAT = "s2edit-encoder"


def encoder_file_name(network_id: str) -> str:
    """``encoder-<first 12 hex digits of the network's model_id>.safetensors``."""
    return f"encoder-{network_id[:12]}.safetensors"


def save_encoder(path, encoder: Encoder, network_id: str, network: str = "", kimg: float = 0.0,
                 half: bool = False) -> Path:
    """Write ``encoder`` (atomically) for the generator whose ``model_id`` is ``network_id``.

    ``half``: store the weights as float16, half the file (the shipped encoders); they load as float32.
    """
    meta = {"kind": ENCODER_KIND, "format": FORMAT, "config": encoder.cfg.to_dict(), "model_id": network_id,
            "network": network, "kimg": kimg}
    tensors = {k: v.half() if half and v.is_floating_point() else v for k, v in encoder.state_dict().items()}
    return write_safetensors(path, tensors, meta)


def _read(path) -> tuple[dict[str, torch.Tensor], dict, EncoderConfig]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such encoder file")
    kind = safetensors_metadata(path).get("kind")  # {} for other formats: nothing else is parsed
    if kind != ENCODER_KIND:
        raise InputError(f"{path}: not an encoder file (kind {kind!r}); s2edit train-encoder writes them")
    tensors, meta = read_safetensors(path)
    try:
        return tensors, meta, EncoderConfig.from_dict(meta["config"])
    except (InputError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path}: bad encoder config in metadata ({err})") from None


def load_encoder(path, G=None, device="cpu") -> Encoder:
    """The encoder in ``path``, in eval mode without gradients; ``meta`` holds the file's metadata.

    With ``G``, the file must have been trained for that network (same ``model_id``): an encoder
    used with another network would return latents of the wrong space, so it is refused.
    """
    tensors, meta, cfg = _read(path)
    if G is not None:
        wanted = model_id(G)
        if meta.get("model_id") != wanted:
            raise InputError(f"{path}: encoder trained for network {str(meta.get('model_id'))[:12]}, not this one "
                             f"({wanted[:12]}); train one with s2edit train-encoder --network ...")
    encoder = Encoder(cfg)
    try:
        encoder.load_state_dict(tensors, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise CheckpointError(f"{path}: weights do not match the encoder config ({first})") from None
    encoder.meta = meta
    return encoder.eval().requires_grad_(False).to(device)


def describe_encoder(path) -> list[tuple[str, str]]:
    """(field, value) rows for ``s2edit info``: architecture, resolution, passes, parameters, network, kimg."""
    tensors, meta, cfg = _read(path)
    params = sum(t.numel() for t in tensors.values())
    return [("format", meta.get("format", "?")),
            ("architecture", f"{cfg.arch} (backbone at {cfg.working_resolution} px, {cfg.blocks} block(s) per "
                             f"resolution, channels {cfg.channel_base} // r up to {cfg.channel_max}, "
                             f"heads {cfg.head_channels})"),
            ("resolution", f"{cfg.resolution} px"),
            ("latents", f"ws [num_ws {cfg.num_ws}, w_dim {cfg.w_dim}]"),
            ("passes", str(cfg.passes)),
            ("parameters", f"{params:,} ({', '.join(sorted({str(t.dtype).removeprefix('torch.') for t in tensors.values()}))})"),
            ("network", f"id {meta.get('model_id', '?')}" + (f" ({meta['network']})" if meta.get("network") else "")),
            ("training", f"{float(meta.get('kimg', 0)):g} kimg")]
