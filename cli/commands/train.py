"""``s2edit train``: StyleGAN2 training with the paper's losses and regularizers.

Several processes (one per GPU, or CPU processes with gloo):
``torchrun --nproc_per_node 2 -m cli train --data world --resolution 64 --kimg 10 --outdir runs``.
``--batch`` is the global batch, split evenly over the processes; rank 0 writes the run folder.
"""

from pathlib import Path
from typing import Annotated

import typer


def _run_dir(outdir: Path, name: str | None, data: str, resolution: int) -> Path:
    if name:
        return outdir / name
    taken = [int(p.name[:5]) for p in outdir.glob("[0-9][0-9][0-9][0-9][0-9]-*")] if outdir.is_dir() else []
    label = "world" if data == "world" else Path(data).stem
    return outdir / f"{max(taken, default=-1) + 1:05d}-{label}-{resolution}px"


def command(
    data: Annotated[str | None, typer.Option("--data", help="Image folder, zip of images, or 'world' (the procedural world, streamed).")] = None,
    resolution: Annotated[int | None, typer.Option("--resolution", help="Training resolution (power of two).")] = None,
    kimg: Annotated[float | None, typer.Option("--kimg", help="Train until this many thousand real images have been shown (total, counting resumed progress).")] = None,
    outdir: Annotated[Path | None, typer.Option("--outdir", "-o", help="Parent folder of the run folder (default: runs, or the resumed run's folder).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Run folder name (default: NNNNN-DATA-RESpx).")] = None,
    resume: Annotated[str | None, typer.Option("--resume", help="Training checkpoint, or a run folder (its latest checkpoint.safetensors).")] = None,
    batch: Annotated[int | None, typer.Option("--batch", help="Global batch size (default 32).")] = None,
    z_dim: Annotated[int | None, typer.Option("--z-dim", help="z and w width (default 512).")] = None,
    mapping_layers: Annotated[int | None, typer.Option("--map", help="Mapping network depth (default 8).")] = None,
    cbase: Annotated[int | None, typer.Option("--cbase", help="Channel base: channels at r = min(cbase // r, cmax) (default 32768).")] = None,
    cmax: Annotated[int | None, typer.Option("--cmax", help="Maximum channels per layer (default 512).")] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Adam learning rate (default 0.002).")] = None,
    gamma: Annotated[float | None, typer.Option("--gamma", help="R1 weight (default 10).")] = None,
    pl_weight: Annotated[float | None, typer.Option("--pl-weight", help="Path-length regularization weight (default 2).")] = None,
    mixing: Annotated[float | None, typer.Option("--mixing", help="Style-mixing probability (default 0.9).")] = None,
    ema_kimg: Annotated[float | None, typer.Option("--ema-kimg", help="G_ema half-life in kimg (default 10).")] = None,
    ema_rampup: Annotated[float | None, typer.Option("--ema-rampup", help="Cap the G_ema half-life at this fraction of the images seen (default off).")] = None,
    xflip: Annotated[bool | None, typer.Option("--xflip/--no-xflip", help="Random horizontal flips of the real images (default off).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed (default 0).")] = None,
    tick: Annotated[float | None, typer.Option("--tick", help="Log interval in kimg (default 1).")] = None,
    snap: Annotated[float | None, typer.Option("--snap", help="Checkpoint interval in kimg (default 50).")] = None,
    sample_every: Annotated[float | None, typer.Option("--sample-every", help="Sample-grid interval in kimg (default 10).")] = None,
    metric_every: Annotated[float | None, typer.Option("--metric-every", help="FD-EffNetLite0 and PPL interval in kimg, 0 = off (default 0).")] = None,
    max_minutes: Annotated[float | None, typer.Option("--max-minutes", min=0.0, help="Stop after this much wall-clock time with a checkpoint (continue with --resume).")] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="CPU threads per process.")] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=0, help="Background processes per training process that render or decode the real images (default: 0 on the CPU, 4 on a GPU).")] = None,
    device: Annotated[str, typer.Option("--device", help="auto (cuda:LOCAL_RANK when available), cpu, cuda.")] = "auto",
) -> None:
    """Train a StyleGAN2 generator (paper config: Adam 0.002, lazy R1 and path-length reg., style mixing, G_ema).

    Checkpoints (checkpoint.safetensors: G, G_ema, D, optimizers, step, random states) resume
    exactly with --resume; projector.load_network and --network read G_ema from them.

    Several processes: torchrun --nproc_per_node N -m cli train ... (gloo on CPU, nccl on GPUs,
    one GPU per process); --batch is the global batch and must divide by N.
    """
    import os

    import torch

    from projector.training import TrainConfig, network_configs, train
    from projector.training.checkpoint import load_checkpoint, resolve_resume
    from stylegan2_core.errors import InputError

    from .._console import console, progress

    if threads is not None:
        torch.set_num_threads(threads)
    overrides = {k: v for k, v in dict(
        batch_size=batch, kimg=kimg, lr=lr, r1_gamma=gamma, pl_weight=pl_weight, style_mixing_prob=mixing,
        ema_kimg=ema_kimg, ema_rampup=ema_rampup, xflip=xflip, seed=seed, tick_kimg=tick, snapshot_kimg=snap,
        sample_kimg=sample_every, metric_kimg=metric_every).items() if v is not None}
    arch = {k: v for k, v in dict(z_dim=z_dim, w_dim=z_dim, mapping_layers=mapping_layers, channel_base=cbase,
                                  channel_max=cmax).items() if v is not None}
    if resume is not None:
        ckpt_path = resolve_resume(resume)
        _, _, cfg = load_checkpoint(ckpt_path)
        if arch or (resolution is not None and resolution != cfg.resolution):
            raise InputError("--resume continues the checkpoint's networks: drop the architecture options")
        if data is not None:
            overrides["data"] = data
        cfg = cfg.replace(**overrides)
        run_dir = _run_dir(outdir, name, cfg.data, cfg.resolution) if (outdir or name) else ckpt_path.parent
    else:
        if data is None:
            raise InputError("pass --data (an image folder, a zip, or 'world') or --resume")
        resolution = resolution or 64
        G, D = network_configs(resolution, **arch)
        cfg = TrainConfig(data=data, G=G, D=D, **overrides)
        run_dir = _run_dir(outdir or Path("runs"), name, data, resolution)
    dev = None if device == "auto" else torch.device(device)
    max_seconds = max_minutes * 60 if max_minutes is not None else None
    if int(os.environ.get("RANK", "0")) != 0:
        train(cfg, run_dir, resume=resume, device=dev, max_seconds=max_seconds, data_workers=workers)
        return

    console.print(f"run folder: {run_dir}  (resolution {cfg.resolution}, batch {cfg.batch_size}, "
                  f"{int(os.environ.get('WORLD_SIZE', '1'))} process(es))")
    with progress() as bar:
        task = bar.add_task("train kimg", total=cfg.kimg, status="")

        def report(event) -> None:
            bar.update(task, completed=min(event.kimg, cfg.kimg))
            if event.kind in ("step", "tick") and event.losses:
                losses = " ".join(f"{k} {v:.3f}" for k, v in event.losses.items() if k in ("G/loss", "D/loss"))
                bar.update(task, status=f"{event.sec_per_kimg:.1f} s/kimg {losses}")
            if event.kind == "tick":
                parts = " ".join(f"{k} {v:.4g}" for k, v in event.losses.items())
                console.print(f"kimg {event.kimg:.1f}  step {event.step}  {event.sec_per_kimg:.1f} s/kimg  {parts}")
            elif event.kind == "snapshot":
                console.print(f"checkpoint: {event.path}")
            elif event.kind == "metrics":
                console.print("metrics: " + "  ".join(f"{k} {v:.4g}" for k, v in event.metrics.items()))
            elif event.kind == "notice":
                console.print(f"[yellow]note:[/] {event.message}")

        result = train(cfg, run_dir, resume=resume, progress=report, device=dev, max_seconds=max_seconds,
                       data_workers=workers)
    console.print(f"done at kimg {result.trainer.nimg / 1000:.1f}; checkpoint {result.checkpoint}")
