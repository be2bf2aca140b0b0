"""``s2edit widen``: a training checkpoint with more generator channels, drawing the same images."""

from pathlib import Path
from typing import Annotated

import typer

from .._options import ForceOpt


def widen_command(
    checkpoint: Annotated[str, typer.Argument(help="Training checkpoint, or a run folder (its latest checkpoint.safetensors).")],
    outdir: Annotated[Path, typer.Option("--outdir", "-o", help="New run folder; the widened checkpoint.safetensors goes there.")],
    cmax: Annotated[int | None, typer.Option("--cmax", min=1, help="New maximum channels per generator layer.")] = None,
    cbase: Annotated[int | None, typer.Option("--cbase", min=1, help="New generator channel base.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the new channels' initial weights.")] = 0,
    force: ForceOpt = False,
) -> None:
    """Give G and G_ema more channels without changing their output, to continue a run that has levelled off.

    New channels enter every layer through zero weights; the discriminator,
    optimizer moments and progress carry over.
    Continue with: s2edit train --resume OUTDIR.
    """
    from projector import load_network
    from projector.training.checkpoint import CHECKPOINT_NAME, resolve_resume
    from projector.training.widen import widen_training_checkpoint
    from stylegan2_core.errors import InputError

    from .._console import out
    from .._options import check_outputs

    if cmax is None and cbase is None:
        raise InputError("pass --cmax and/or --cbase: the generator's new channel maximum / base")
    src = resolve_resume(checkpoint)
    dst = outdir / CHECKPOINT_NAME
    check_outputs([dst], force)
    outdir.mkdir(parents=True, exist_ok=True)
    before = sum(p.numel() for p in load_network(src).parameters())
    cfg = widen_training_checkpoint(src, dst, channel_base=cbase, channel_max=cmax, seed=seed)
    after = sum(p.numel() for p in load_network(dst).parameters())
    syn = cfg.G.synthesis
    out.print(f"{src} -> {dst}: G {before / 1e6:.2f}M -> {after / 1e6:.2f}M parameters "
              f"(channel_base {syn.channel_base}, channel_max {syn.channel_max}); "
              f"continue with: s2edit train --resume {outdir}",
              soft_wrap=True)
