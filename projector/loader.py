"""One loader for every generator a user can name: training checkpoints and everything else.

``stylegan2_core.load_generator`` reads generator files (native, NVlabs, TF, rosinality; paths, URLs,
known names, ``"demo"``); a training checkpoint's layout belongs to ``projector.training``, which reads
its G_ema. ``load_network`` picks the right one, so commands and scripts never need to know which.
"""

from pathlib import Path

from stylegan2_core import Generator, load_generator
from stylegan2_core.fileio import Progress

__all__ = ["load_network"]


def load_network(source="demo", device="cpu", network: str | None = None, sha256: str | None = None,
                 progress: Progress | None = None) -> Generator:
    """Load a generator from a training checkpoint (its G_ema), or else with ``load_generator``.

    Args:
        source: checkpoint path, http(s) URL, known network name or ``"demo"``; a training checkpoint
            (``runs/x/checkpoint.safetensors``, or the run folder ``runs/x``) gives its G_ema.
        device: where to put the generator.
        network: which network of a multi-network file: ``G_ema`` / ``G`` for training checkpoints and ADA
            pickles, ``Gs`` / ``G`` for TF pickles, ``g_ema`` / ``g`` for rosinality checkpoints.
        sha256: optional expected digest of a downloaded file.
        progress: optional ``callback(done_bytes, total_bytes)`` for downloads.
    Returns:
        ``Generator`` in eval mode with gradients disabled, and ``G.checkpoint`` describing the source.
    """
    from .training.checkpoint import CHECKPOINT_NAME, is_training_checkpoint, load_training_generator

    path = Path(str(source)).expanduser()
    if path.is_dir() and (path / CHECKPOINT_NAME).is_file():  # a training run folder: its latest checkpoint
        path = path / CHECKPOINT_NAME
    if is_training_checkpoint(path):
        return load_training_generator(path, network=network or "G_ema", device=device)
    return load_generator(source, device=device, network=network, sha256=sha256, progress=progress)
