"""A photo's latent in one pass: a learned encoder for any generator s2edit loads.

``encoder.invert(images, G) -> ws [N, num_ws, w_dim]`` inverts a batch in a few network passes
(e4e's base w plus per-layer offsets, ReStyle's iterative refinement), where optimization takes
minutes. Encoders are trained per network on its own samples (``train_encoder``, or
``s2edit train-encoder``) and stored as safetensors files bound to the network's model id
(``save_encoder`` / ``load_encoder``). ``find_encoder(G)`` finds the shipped encoder of a network by
its model id (``projector/assets/encoders/``); ``project(..., encoder=)`` starts from an encoder's answer.
"""

from .config import EncoderConfig, EncoderTrainConfig, default_encoder_config
from .file import describe_encoder, encoder_file_name, load_encoder, save_encoder
from .network import Encoder, delta_regularizer, ws_groups
from .quality import inversion_quality
from .registry import (
    ENCODER_ASSETS,
    encoder_identity,
    find_encoder,
    projection_encoder,
    require_encoder,
    resolve_encoder,
    studio_encoders,
)
from .run import configure_encoder_run
from .train import EncoderEvent, EncoderTrainer, EncoderTrainResult, train_encoder

__all__ = ["Encoder", "EncoderConfig", "EncoderTrainConfig", "default_encoder_config", "delta_regularizer",
           "ws_groups", "save_encoder", "load_encoder", "describe_encoder", "encoder_file_name", "EncoderEvent",
           "EncoderTrainer", "EncoderTrainResult", "train_encoder", "configure_encoder_run", "inversion_quality",
           "ENCODER_ASSETS", "find_encoder", "resolve_encoder", "require_encoder", "encoder_identity", "projection_encoder",
           "studio_encoders"]
