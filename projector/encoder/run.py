"""Where an encoder training run starts from and where it writes: the set-up half of ``s2edit train-encoder``::

    cfg, G, run_dir = configure_encoder_run(network="demo", outdir="runs", kimg=10)
    train_encoder(cfg, G, run_dir)
"""

from __future__ import annotations

from pathlib import Path

from stylegan2_core import model_id
from stylegan2_core.errors import InputError

from ..loader import load_network
from ..training.run import next_run_dir
from .config import EncoderTrainConfig, default_encoder_config
from .train import load_encoder_checkpoint, resolve_encoder_resume

__all__ = ["configure_encoder_run"]


def configure_encoder_run(network: str | None = None, *, resume=None, outdir=None, name: str | None = None,
                          passes: int | None = None, device="cpu", progress=None, **overrides):
    """(training config, generator, run folder) for a new run or a resumed one.

    New run: ``network`` (anything ``projector.load_network`` reads), ``passes`` (default 3) and
    ``overrides`` (``EncoderTrainConfig`` fields such as ``kimg``, ``batch_size``, ``data``); the
    folder is the next free ``outdir/NNNNN-encoder-RESpx`` (``outdir`` default 'runs'), or
    ``outdir/name``. Resume: ``resume`` is a run folder or its checkpoint; the network defaults to
    the one it was trained for and must be that network (same model id); ``overrides`` apply;
    the run continues in the checkpoint's folder unless ``outdir`` or ``name`` says otherwise.
    """
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if resume is not None:
        path = resolve_encoder_resume(resume)
        _, _, cfg = load_encoder_checkpoint(path)
        if passes is not None and passes != cfg.encoder.passes:
            overrides["encoder"] = cfg.encoder.replace(passes=passes)
        G = load_network(network or cfg.network, device=device, progress=progress)
        if model_id(G) != cfg.model_id:
            raise InputError(f"{path}: trained for network {cfg.model_id[:12]}, but {network} is "
                             f"{model_id(G)[:12]}; resume with the same --network")
        cfg = cfg.replace(**overrides)
        run_dir = next_run_dir(outdir, name, "encoder", cfg.encoder.resolution) if (outdir or name) else path.parent
        return cfg, G, run_dir
    if network is None:
        raise InputError("pass --network (the generator to invert) or --resume")
    G = load_network(network, device=device, progress=progress)
    encoder = default_encoder_config(G, passes=passes if passes is not None else 3)
    cfg = EncoderTrainConfig(network=str(network), model_id=model_id(G), encoder=encoder, **overrides)
    return cfg, G, next_run_dir(Path(outdir or "runs"), name, "encoder", G.img_resolution)
