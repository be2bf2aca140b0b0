"""Option types shared by several commands."""

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

NetworkOpt = Annotated[str, typer.Option("--network", "-n", help="Checkpoint path, URL, known name (ffhq, ...) or 'demo'.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="cpu, cuda, cuda:1, mps, or auto (cuda when available).")]
OutDirOpt = Annotated[Path, typer.Option("--outdir", "-o", help="Output directory.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite existing outputs.")]
TruncOpt = Annotated[float, typer.Option("--trunc", help="Truncation psi (1 = none).")]
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
