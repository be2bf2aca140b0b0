"""Option types shared by several commands."""

import math
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer


def finite(low: float | None = None, high: float | None = None):
    """A float option parser that refuses NaN, infinity and values outside [low, high] (inclusive)."""

    def number(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise typer.BadParameter(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise typer.BadParameter(f"{text!r} is not a finite number")
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f">= {low}" if high is None else f"<= {high}" if low is None else f"in [{low}, {high}]"
            raise typer.BadParameter(f"{value:g} is out of range: must be {bounds}")
        return value

    return number


NetworkOpt = Annotated[str, typer.Option("--network", "-n", help="Checkpoint path, URL, known name (ffhq, ...) or 'demo'.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="cpu, cuda, cuda:1, mps, or auto (cuda when available).")]
OutDirOpt = Annotated[Path, typer.Option("--outdir", "-o", help="Output directory.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite existing outputs.")]
TruncOpt = Annotated[float, typer.Option("--trunc", parser=finite(), help="Truncation psi (1 = none).")]
ClassOpt = Annotated[int | None, typer.Option("--class", help="Class index for conditional networks.")]


class NoiseMode(str, Enum):
    const = "const"
    random = "random"
    none = "none"


NoiseOpt = Annotated[NoiseMode, typer.Option("--noise-mode", help="Per-layer noise: const (deterministic), random, none.")]


def resolve_device(device: str):
    """'auto' -> cuda when available, else cpu; validates the rest."""
    import torch

    from stylegan2_core.errors import InputError

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise InputError(f"unknown device {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} requested but CUDA is not available")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"device {device!r} requested but MPS is not available")
    return dev


def load_network(network: str, device):
    """Load a generator (``projector.load_network``), with a download progress bar for URLs and known names."""
    from projector import load_network as load

    from ._console import progress

    with progress() as bar:
        task = None

        def on_bytes(done, total):
            nonlocal task
            if task is None:
                task = bar.add_task("download", total=total, status="")
            bar.update(task, completed=done, total=total)

        return load(network, device=device, progress=on_bytes)


def check_outputs(paths, force: bool) -> list[Path]:
    """Refuse to overwrite existing files unless --force; create and check output folders; returns the paths."""
    from projector.outputs import check_outputs as check

    return check(paths, force)


def hold_outdir(outdir: Path | None, command: str, rank=None):
    """Context manager: hold ``outdir`` for this run, so a second run into it is refused (nothing to hold when
    None); see ``projector.outputs.hold_outdir``."""
    import contextlib

    from projector.outputs import hold_outdir as hold

    return hold(outdir, command, rank) if outdir is not None else contextlib.nullcontext()
