"""``s2edit train``: StyleGAN2 training with the paper's losses and regularizers.

Several processes (one per GPU, or CPU processes with gloo):
``torchrun --nproc_per_node 2 -m cli train --data world --resolution 64 --kimg 10 --outdir runs``.
``--batch`` is the global batch, split evenly over the processes; rank 0 writes the run folder.
"""

from pathlib import Path
from typing import Annotated

import typer

from .._options import finite


def train_command(
    data: Annotated[str | None, typer.Option("--data", help="Image folder, zip of images, or 'world' (the procedural world, streamed).")] = None,
    resolution: Annotated[int | None, typer.Option("--resolution", help="Training resolution (power of two).")] = None,
    kimg: Annotated[float | None, typer.Option("--kimg", parser=finite(0), help="Train until this many thousand real images have been shown (total, counting resumed progress).")] = None,
    outdir: Annotated[Path | None, typer.Option("--outdir", "-o", help="Parent folder of the run folder (default: runs, or the resumed run's folder).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Run folder name (default: NNNNN-DATA-RESpx).")] = None,
    resume: Annotated[str | None, typer.Option("--resume", help="Training checkpoint, or a run folder (its latest checkpoint.safetensors).")] = None,
    batch: Annotated[int | None, typer.Option("--batch", help="Global batch size (default 32).")] = None,
    z_dim: Annotated[int | None, typer.Option("--z-dim", help="z and w width (default 512).")] = None,
    mapping_layers: Annotated[int | None, typer.Option("--map", help="Mapping network depth (default 8).")] = None,
    cbase: Annotated[int | None, typer.Option("--cbase", help="Channel base: channels at r = min(cbase // r, cmax) (default 32768).")] = None,
    cmax: Annotated[int | None, typer.Option("--cmax", help="Maximum channels per layer (default 512).")] = None,
    lr: Annotated[float | None, typer.Option("--lr", parser=finite(0), help="Adam learning rate (default 0.002).")] = None,
    gamma: Annotated[float | None, typer.Option("--gamma", parser=finite(0), help="R1 weight (default 10).")] = None,
    pl_weight: Annotated[float | None, typer.Option("--pl-weight", parser=finite(0), help="Path-length regularization weight (default 2).")] = None,
    mixing: Annotated[float | None, typer.Option("--mixing", parser=finite(0), help="Style-mixing probability (default 0.9).")] = None,
    ema_kimg: Annotated[float | None, typer.Option("--ema-kimg", parser=finite(0), help="G_ema half-life in kimg (default 10).")] = None,
    ema_rampup: Annotated[float | None, typer.Option("--ema-rampup", parser=finite(0), help="Cap the G_ema half-life at this fraction of the images seen (default off).")] = None,
    xflip: Annotated[bool | None, typer.Option("--xflip/--no-xflip", help="Random horizontal flips of the real images (default off).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed (default 0).")] = None,
    tick: Annotated[float | None, typer.Option("--tick", parser=finite(0), help="Log interval in kimg (default 1).")] = None,
    snap: Annotated[float | None, typer.Option("--snap", parser=finite(0), help="Checkpoint interval in kimg (default 50).")] = None,
    sample_every: Annotated[float | None, typer.Option("--sample-every", parser=finite(0), help="Sample-grid interval in kimg (default 10).")] = None,
    metric_every: Annotated[float | None, typer.Option("--metric-every", parser=finite(0), help="FD-EffNetLite0 and PPL interval in kimg, 0 = off (default 0).")] = None,
    max_minutes: Annotated[float | None, typer.Option("--max-minutes", parser=finite(0), help="Stop after this much wall-clock time with a checkpoint (continue with --resume).")] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="CPU threads per process.")] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=0, help="Background processes per training process that render or decode the real images (default: 0 on the CPU, 4 on a GPU).")] = None,
    device: Annotated[str, typer.Option("--device", help="auto (cuda:LOCAL_RANK when available), cpu, cuda.")] = "auto",
) -> None:
    """Train a StyleGAN2 generator (paper config: Adam 0.002, lazy R1 and path-length reg., style mixing, G_ema).

    Checkpoints (checkpoint.safetensors: G, G_ema, D, optimizers, step, random states) resume
    exactly with --resume; projector.load_network and --network read G_ema from them. Several
    processes: torchrun --nproc_per_node N -m cli train ... (gloo on CPU, nccl on GPUs,
    one GPU per process); --batch is the global batch and must divide by N.
    """
    import contextlib
    import os

    import torch

    from projector.training import train
    from projector.training.run import configure_run

    from .._console import console, progress

    torch.set_num_threads(threads or torch.get_num_threads())
    cfg, run_dir = configure_run(
        data=data, resolution=resolution, resume=resume, outdir=outdir, name=name,
        arch={"z_dim": z_dim, "w_dim": z_dim, "mapping_layers": mapping_layers, "channel_base": cbase, "channel_max": cmax},
        batch_size=batch, kimg=kimg, lr=lr, r1_gamma=gamma, pl_weight=pl_weight, style_mixing_prob=mixing, xflip=xflip,
        ema_kimg=ema_kimg, ema_rampup=ema_rampup, seed=seed, tick_kimg=tick, snapshot_kimg=snap,
        sample_kimg=sample_every, metric_kimg=metric_every)
    rank0 = int(os.environ.get("RANK", "0")) == 0
    with progress() if rank0 else contextlib.nullcontext() as bar:
        result = train(cfg, run_dir, resume=resume, progress=_reporter(bar, cfg, run_dir) if rank0 else None,
                       device=None if device == "auto" else torch.device(device), data_workers=workers,
                       max_seconds=max_minutes * 60 if max_minutes is not None else None)
    if rank0:
        console.print(f"done at kimg {result.trainer.nimg / 1000:.1f}; checkpoint {result.checkpoint}")


def _reporter(bar, cfg, run_dir):
    """A ``train`` progress callback: the bar follows kimg; ticks, checkpoints, metrics and notices are printed."""
    import os

    from .._console import console

    console.print(f"run folder: {run_dir}  (resolution {cfg.resolution}, batch {cfg.batch_size}, "
                  f"{int(os.environ.get('WORLD_SIZE', '1'))} process(es))")
    total_kimg = cfg.kimg
    task = bar.add_task("train kimg", total=total_kimg, status="")

    def report(event) -> None:
        bar.update(task, completed=min(event.kimg, total_kimg))
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

    return report
