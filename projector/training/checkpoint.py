"""Training checkpoints in the native safetensors format (kind ``"training"``).

Tensors: ``G.*``, ``G_ema.*``, ``D.*`` (state dicts without the constant FIR filters),
``opt_G.*`` / ``opt_D.*`` (optimizer state tensors), ``pl_mean`` and ``rng.<rank>`` (each
process's generator state). JSON metadata: the generator config, the training config, step,
image count, elapsed time and the non-tensor optimizer state. Written atomically: a crash never
leaves half a file. This module owns the layout: ``load_training_generator`` reads G_ema (or G)
as a ``Generator``; ``stylegan2_core.load_generator`` refuses these files and points here.
"""

from __future__ import annotations

from pathlib import Path

import torch

from stylegan2_core.checkpoints import CheckpointInfo, load_generator
from stylegan2_core.checkpoints.native import read_native, write_native
from stylegan2_core.config import GeneratorConfig
from stylegan2_core.errors import CheckpointError, InputError
from stylegan2_core.fileio import safetensors_metadata, sha256_file
from stylegan2_core.networks import Generator

from .config import TrainConfig

__all__ = ["CHECKPOINT_NAME", "TRAINING_FORMAT", "flatten_optimizer", "unflatten_optimizer", "module_tensors",
           "load_module", "save_checkpoint", "load_checkpoint", "is_training_checkpoint", "load_training_generator",
           "resolve_resume", "snapshot_name", "snapshot_paths", "average_generators"]

CHECKPOINT_NAME = "checkpoint.safetensors"
TRAINING_FORMAT = "s2edit-training"  # ``G.checkpoint.format`` of generators read from a training checkpoint
_GENERATORS = ("G_ema", "G")


def module_tensors(prefix: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``prefix.name -> tensor`` for a state dict, leaving out the constant resampling filters."""
    return {f"{prefix}.{k}": v for k, v in module.state_dict().items() if not k.endswith("resample_filter")}


def load_module(module: torch.nn.Module, prefix: str, tensors: dict[str, torch.Tensor]) -> None:
    state = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    for key, value in module.state_dict().items():
        if key.endswith("resample_filter"):
            state[key] = value
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise CheckpointError(f"checkpoint {prefix} does not match the configured network: {first}") from None


def flatten_optimizer(prefix: str, state_dict: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state dict into tensors ``prefix.<param>.<key>`` and a JSON-able rest."""
    tensors, scalars = {}, {}
    for index, entry in state_dict["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.{index}.{key}"] = value
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def unflatten_optimizer(prefix: str, tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    """Inverse of ``flatten_optimizer``."""
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            index, key = name[len(prefix) + 1:].split(".", 1)
            state.setdefault(int(index), {})[key] = value
    for index, entry in meta["scalars"].items():
        state.setdefault(int(index), {}).update(entry)
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(path: Path, cfg: TrainConfig, modules: dict[str, torch.nn.Module],
                    optimizers: dict[str, torch.optim.Optimizer], pl_mean: torch.Tensor,
                    rng_states: list[torch.Tensor], progress: dict) -> None:
    """Write everything needed to continue training exactly where it stopped."""
    tensors = {}
    for name, module in modules.items():
        tensors.update(module_tensors(name, module))
    opt_meta = {}
    for name, opt in optimizers.items():
        flat, rest = flatten_optimizer(f"opt_{name}", opt.state_dict())
        tensors.update(flat)
        opt_meta[name] = rest
    tensors["pl_mean"] = pl_mean.detach().reshape([])
    for rank, state in enumerate(rng_states):
        tensors[f"rng.{rank}"] = state
    extra = {"train_config": cfg.to_dict(), "optimizers": opt_meta, "world_size": len(rng_states), **progress}
    write_native(path, tensors, cfg.G, extra=extra, kind="training")


def load_checkpoint(path) -> tuple[dict[str, torch.Tensor], dict, TrainConfig]:
    """Tensors, metadata and training config of a training checkpoint."""
    tensors, meta = read_native(path)
    if meta.get("kind") != "training" or "train_config" not in meta:
        raise CheckpointError(f"{path}: not a training checkpoint (kind {meta.get('kind')!r})")
    try:
        return tensors, meta, TrainConfig.from_dict(meta["train_config"])
    except InputError as err:
        raise CheckpointError(f"{path}: bad training config in metadata ({err})") from None


def is_training_checkpoint(path) -> bool:
    """Whether ``path`` is a file in this module's format (a native safetensors file of kind ``"training"``)."""
    return safetensors_metadata(path).get("kind") == "training"


def load_training_generator(path, network: str = "G_ema", device="cpu") -> Generator:
    """The generator ``network`` (``"G_ema"``, default, or ``"G"``) of a training checkpoint, like ``load_generator``.

    Returns a ``Generator`` in eval mode without gradients, with ``G.checkpoint`` describing the source.
    """
    if network not in _GENERATORS:
        raise InputError(f"{path}: training checkpoints hold generators {', '.join(_GENERATORS)}; "
                         f"{network!r} is not one")
    tensors, meta = read_native(path)
    if meta.get("kind") != "training" or "config" not in meta:
        raise CheckpointError(f"{path}: not a training checkpoint with a generator config (kind {meta.get('kind')!r})")
    try:
        G = Generator(GeneratorConfig.from_dict(meta["config"]))
    except InputError as err:
        raise CheckpointError(f"{path}: bad generator config in metadata ({err})") from None
    load_module(G, network, tensors)
    G.checkpoint = CheckpointInfo(format=TRAINING_FORMAT, path=str(path), sha256=sha256_file(path), network=network)
    return G.eval().requires_grad_(False).to(device)


def resolve_resume(resume) -> Path:
    """A checkpoint file, or a run folder meaning its latest ``checkpoint.safetensors``."""
    path = Path(resume)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise InputError(f"cannot resume: {path} does not exist")
    return path


def snapshot_name(kimg: float) -> str:
    """File name of the G_ema snapshot a run writes at ``kimg`` (whole kimg, zero-padded)."""
    return f"network-snapshot-{int(kimg):06d}.safetensors"


def snapshot_paths(run, spec: str, step_kimg: int = 4) -> list[Path]:
    """The run's G_ema snapshots for ``"KIMG"`` or an inclusive range ``"LO:HI"`` (every ``step_kimg``)."""
    lo, _, hi = str(spec).partition(":")
    try:
        first, last = int(lo), int(hi or lo)
    except ValueError:
        raise InputError(f"snapshot range {spec!r}: expected KIMG or LO:HI in whole kimg") from None
    paths = [Path(run) / snapshot_name(k) for k in range(first, last + 1, step_kimg)]
    found = [p for p in paths if p.is_file()]
    if not found:
        raise InputError(f"{run}: no snapshots for {spec}")
    return found


def average_generators(paths: list[Path]) -> Generator:
    """One generator whose floating-point weights and buffers are the mean of the snapshots'.

    A uniform average of consecutive G_ema snapshots is a post-hoc longer EMA; integer
    buffers are taken from the first snapshot.
    """
    G = load_generator(paths[0])
    states = [G.state_dict()]
    for path in paths[1:]:
        other = load_generator(path)
        if other.cfg != G.cfg:
            raise CheckpointError(f"{path}: generator config differs from {paths[0]}'s, cannot average")
        states.append(other.state_dict())
    G.load_state_dict({k: torch.stack([s[k] for s in states]).mean(0) if v.is_floating_point() else v
                       for k, v in states[0].items()})
    return G
