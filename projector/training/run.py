"""Where a training run starts from and where it writes: a fresh config, or a checkpoint to resume, and its folder.

This is the set-up half of ``s2edit train``::

    cfg, run_dir = configure_run(data="world", resolution=64, outdir="runs", kimg=100)
    train(cfg, run_dir)
"""

from __future__ import annotations

from pathlib import Path

from stylegan2_core.errors import InputError

from .checkpoint import load_checkpoint, resolve_resume
from .config import TrainConfig, network_configs

__all__ = ["next_run_dir", "configure_run"]

ARCH_KEYS = ("z_dim", "w_dim", "mapping_layers", "channel_base", "channel_max")


def next_run_dir(outdir, name: str | None, data: str, resolution: int) -> Path:
    """``outdir/name``, or the next free ``outdir/NNNNN-DATA-RESpx`` (DATA: 'world' or the data's stem)."""
    outdir = Path(outdir)
    if name:
        return outdir / name
    taken = [int(p.name[:5]) for p in outdir.glob("[0-9][0-9][0-9][0-9][0-9]-*")] if outdir.is_dir() else []
    label = "world" if data == "world" else Path(data).stem
    return outdir / f"{max(taken, default=-1) + 1:05d}-{label}-{resolution}px"


def configure_run(*, data: str | None = None, resolution: int | None = None, resume=None, outdir=None,
                  name: str | None = None, arch: dict | None = None, **overrides) -> tuple[TrainConfig, Path]:
    """The training config and run folder for a new run or a resumed one.

    New run: ``data`` (an image folder, a zip, or 'world'), ``resolution`` (default 64), ``arch``
    (``network_configs`` keywords such as ``channel_base``) and ``overrides`` (``TrainConfig``
    fields); the folder is ``next_run_dir(outdir or 'runs', ...)``. Resume: ``resume`` is a
    checkpoint or a run folder; its config with ``overrides`` (and ``data``, if given) applied,
    in the checkpoint's folder unless ``outdir`` or ``name`` says otherwise. Architecture changes
    on resume raise ``InputError`` (use ``s2edit widen`` for that).
    """
    arch = {k: v for k, v in (arch or {}).items() if v is not None}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if resume is not None:
        ckpt_path = resolve_resume(resume)
        _, _, cfg = load_checkpoint(ckpt_path)
        if arch or (resolution is not None and resolution != cfg.resolution):
            raise InputError("--resume continues the checkpoint's networks: drop the architecture options")
        if data is not None:
            overrides["data"] = data
        cfg = cfg.replace(**overrides)
        run_dir = next_run_dir(outdir, name, cfg.data, cfg.resolution) if (outdir or name) else ckpt_path.parent
        return cfg, run_dir
    if data is None:
        raise InputError("pass --data (an image folder, a zip, or 'world') or --resume")
    resolution = resolution or 64
    G, D = network_configs(resolution, **arch)
    return TrainConfig(data=data, G=G, D=D, **overrides), next_run_dir(outdir or Path("runs"), name, data, resolution)
