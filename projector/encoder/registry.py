"""The shipped encoders: one file per network in ``projector/assets/encoders/``, found by the network's model id.

``find_encoder(G)`` is the lookup behind every default (``s2edit project``, ``s2edit studio``): an encoder
file named ``encoder_file_name(model_id(G))`` placed in ``ENCODER_ASSETS`` is picked up with no code change.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from stylegan2_core import model_id
from stylegan2_core.errors import InputError

from .file import encoder_file_name, load_encoder
from .network import Encoder

__all__ = ["ENCODER_ASSETS", "NO_ENCODER", "find_encoder", "resolve_encoder", "require_encoder", "encoder_identity",
           "projection_encoder", "studio_encoders"]

ENCODER_ASSETS = Path(__file__).resolve().parent.parent / "assets" / "encoders"

NO_ENCODER = ("no encoder was found for this network (id {id}); train one with s2edit train-encoder --network ... "
              "and pass --encoder FILE")


def find_encoder(G) -> Path | None:
    """The shipped encoder file for ``G`` (by its model id), or None when none ships for it."""
    path = ENCODER_ASSETS / encoder_file_name(model_id(G))
    return path if path.is_file() else None


def resolve_encoder(spec, G, device=None) -> Encoder | None:
    """The encoder a command names: a file path, ``'none'`` (no encoder), or None: the shipped one for ``G``
    (``find_encoder``; None when there is none). Loaded on ``G``'s device; refused for another network."""
    if spec is not None and str(spec).lower() == "none":
        return None
    path = find_encoder(G) if spec is None else Path(spec)
    if path is None:
        return None
    return load_encoder(path, G, device=device if device is not None else G.mapping.w_avg.device)


def require_encoder(encoder: Encoder | None, G) -> Encoder:
    """``encoder``, or ``InputError`` saying that none was found and how to train one."""
    if encoder is None:
        raise InputError(NO_ENCODER.format(id=model_id(G)[:12]))
    return encoder


def encoder_identity(encoder: Encoder) -> str:
    """A digest of the encoder's config and weights: what a resumable projection records about its start."""
    digest = hashlib.sha256(json.dumps(encoder.cfg.to_dict(), sort_keys=True).encode())
    for name, tensor in sorted(encoder.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def projection_encoder(spec, G, cfg, device=None) -> Encoder | None:
    """The encoder a projection with settings ``cfg`` uses (``s2edit project --encoder``): the one ``spec``
    names (``resolve_encoder``); by default (``spec`` None) the shipped one, where the preset would search
    W samples for its start (``fast``; ``official`` stays the paper's algorithm). ``cfg.encoder_only``
    (preset ``'instant'``) needs one: ``InputError`` saying none was found and how to train one."""
    encoder = resolve_encoder(spec, G, device)
    if cfg.encoder_only:
        return require_encoder(encoder, G)
    return encoder if spec is not None or cfg.init_samples else None


def studio_encoders(spec, generators: list, device=None) -> list[Encoder | None]:
    """One encoder (or None) per network of the studio: by default each network's shipped one
    (``find_encoder``); ``'none'``: none; a file: for the network it was trained for (``InputError`` when it
    fits none of them), the shipped ones for the others."""
    if spec is not None and str(spec).lower() == "none":
        return [None] * len(generators)
    if spec is None:
        return [resolve_encoder(None, G, device) for G in generators]
    named = load_encoder(spec, device="cpu")
    fits = [named.meta.get("model_id") == model_id(G) for G in generators]
    if not any(fits):
        raise InputError(f"{spec}: encoder trained for network {str(named.meta.get('model_id'))[:12]}, none of the "
                         "--network ones; train one with s2edit train-encoder --network ...")
    return [named.to(device if device is not None else G.mapping.w_avg.device) if fit else resolve_encoder(None, G, device)
            for G, fit in zip(generators, fits)]
