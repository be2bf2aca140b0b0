"""``s2edit train-encoder``: train an encoder that inverts a photo into a network's W+ in a few passes.

Several processes: ``torchrun --nproc_per_node 2 -m cli train-encoder --network N ...``; ``--batch``
is the global batch, split evenly over the processes; rank 0 writes the run folder.
"""

from pathlib import Path
from typing import Annotated

import typer

from .._options import finite

NAME = "train-encoder"


def train_encoder_command(
    network: Annotated[str | None, typer.Option("--network", "-n", help="Generator to invert: checkpoint path, URL, known name or 'demo' (default on --resume: the one it was trained for).")] = None,
    outdir: Annotated[Path | None, typer.Option("--outdir", "-o", help="Parent folder of the run folder (default: runs, or the resumed run's folder).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Run folder name (default: NNNNN-encoder-RESpx).")] = None,
    kimg: Annotated[float | None, typer.Option("--kimg", parser=finite(0), help="Train until this many thousand images have been shown (total, counting resumed progress; default 100).")] = None,
    resume: Annotated[str | None, typer.Option("--resume", help="Encoder run folder or its encoder-checkpoint.safetensors.")] = None,
    data: Annotated[str | None, typer.Option("--data", help="Also train on real images (image losses only): a folder, a zip, or 'world'.")] = None,
    real_fraction: Annotated[float | None, typer.Option("--real-fraction", parser=finite(0, 0.99), help="Share of each batch taken from --data (default 0.5).")] = None,
    batch: Annotated[int | None, typer.Option("--batch", min=1, help="Global batch size (default 8).")] = None,
    passes: Annotated[int | None, typer.Option("--passes", min=1, help="Refinement passes, in training and stored as the encoder's default (default 3).")] = None,
    lr: Annotated[float | None, typer.Option("--lr", parser=finite(0), help="Adam learning rate (default 1e-4).")] = None,
    latent_weight: Annotated[float | None, typer.Option("--latent-weight", parser=finite(0), help="Weight of the latent regression on generated samples (default 1).")] = None,
    pixel_weight: Annotated[float | None, typer.Option("--pixel-weight", parser=finite(0), help="Weight of the pixel MSE (default 1).")] = None,
    perceptual_weight: Annotated[float | None, typer.Option("--perceptual-weight", parser=finite(0), help="Weight of the perceptual distance (default 0.8; 0 skips it, the costliest loss on a CPU).")] = None,
    loss: Annotated[str | None, typer.Option("--loss", help="Perceptual distance: auto (LPIPS when its weights are cached, else EfficientNet-Lite0), lpips, effnet.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed (default 0).")] = None,
    tick: Annotated[float | None, typer.Option("--tick", parser=finite(0), help="Log interval in kimg (default 1).")] = None,
    snap: Annotated[float | None, typer.Option("--snap", parser=finite(0), help="Checkpoint and encoder-file interval in kimg (default 10).")] = None,
    max_minutes: Annotated[float | None, typer.Option("--max-minutes", parser=finite(0), help="Stop after this much wall-clock time with a checkpoint (continue with --resume).")] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="CPU threads per process.")] = None,
    device: Annotated[str, typer.Option("--device", help="auto (cuda:LOCAL_RANK when available), cpu, cuda.")] = "auto",
) -> None:
    """Train an encoder for a network on its own samples (e4e base w + offsets, ReStyle refinement passes).

    Writes encoder-<network id>.safetensors (use it with projector.encoder.load_encoder; s2edit info
    describes it), encoder-checkpoint.safetensors (--resume continues exactly) and log.jsonl into
    the run folder. Ctrl-C saves a checkpoint and exits with 130.
    """
    import contextlib
    import os

    import torch

    from projector.encoder import configure_encoder_run, train_encoder

    from .._console import console, graceful_stop, progress
    from .._options import resolve_device

    torch.set_num_threads(threads or torch.get_num_threads())
    dev = None if device == "auto" else resolve_device(device)
    cfg, G, run_dir = configure_encoder_run(
        network, resume=resume, outdir=outdir, name=name, passes=passes, device=dev or "cpu", kimg=kimg, data=data,
        real_fraction=real_fraction, batch_size=batch, lr=lr, latent_weight=latent_weight, pixel_weight=pixel_weight,
        perceptual_weight=perceptual_weight, perceptual=loss, seed=seed, tick_kimg=tick,
        snapshot_kimg=snap)
    rank0 = int(os.environ.get("RANK", "0")) == 0
    with progress() if rank0 else contextlib.nullcontext() as bar, graceful_stop() as stop_requested:
        result = train_encoder(cfg, G, run_dir, resume=resume, progress=_reporter(bar, cfg, run_dir) if rank0 else None,
                               device=dev, should_stop=stop_requested,
                               max_seconds=max_minutes * 60 if max_minutes is not None else None)
    if rank0:
        console.print(f"done at kimg {result.trainer.nimg / 1000:g}; encoder {result.encoder_file}")


def _reporter(bar, cfg, run_dir):
    """A ``train_encoder`` progress callback: the bar follows kimg; ticks, snapshots and notices are printed."""
    from .._console import console

    console.print(f"run folder: {run_dir}  (network {cfg.model_id[:12]}, {cfg.encoder.arch} encoder at "
                  f"{cfg.encoder.resolution} px, {cfg.encoder.passes} passes, batch {cfg.batch_size})")
    task = bar.add_task("train-encoder kimg", total=cfg.kimg, status="")

    def report(event) -> None:
        bar.update(task, completed=min(event.kimg, cfg.kimg))
        if event.kind == "step" and event.losses:
            bar.update(task, status=f"{event.sec_per_kimg:.1f} s/kimg loss {event.losses['loss']:.4f}")
        elif event.kind == "tick":
            parts = " ".join(f"{k} {v:.4g}" for k, v in event.losses.items())
            console.print(f"kimg {event.kimg:g}  step {event.step}  {event.sec_per_kimg:.1f} s/kimg  {parts}")
        elif event.kind == "snapshot":
            console.print(f"encoder: {event.path}")
        elif event.kind == "notice":
            console.print(f"[yellow]note:[/] {event.message}")

    return report
