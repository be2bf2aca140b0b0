"""What a training process needs around its loop, shared by the GAN trainer and the encoder's: the process
group under torchrun, the device, per-rank seeds, interval and time-budget checks across ranks, averaged stats."""

import atexit
import gc
import os
import time

import numpy as np
import torch
import torch.distributed as dist

__all__ = ["process_group", "default_device", "rng_seed", "crossed", "out_of_time", "global_means", "gathered_rng_states"]


def process_group(device: torch.device) -> tuple[int, int]:
    """(rank, world size) from torchrun's environment.

    The group is created once per process and kept until exit: re-creating it after a
    destroy reuses torchrun's rendezvous store and can hang, so later ``train`` calls
    in the same process (a notebook, a script training twice) share it.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return 0, 1
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo", init_method="env://")
    atexit.register(_destroy_process_group)
    return dist.get_rank(), dist.get_world_size()


def _destroy_process_group() -> None:
    """At exit, while the interpreter is whole: free unreachable DDP wrappers, then the group.

    Left to interpreter teardown, gloo's threads can release tensors after Python is gone,
    which aborts the process after a successful run.
    """
    gc.collect()
    if dist.is_initialized():
        dist.destroy_process_group()


def default_device() -> torch.device:
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


def rng_seed(seed: int, rank: int) -> int:
    return int(np.random.SeedSequence([seed, rank]).generate_state(1, np.uint64)[0] % (2**63))


def crossed(before: int, after: int, interval_kimg: float) -> bool:
    if interval_kimg <= 0:
        return False
    every = max(int(round(interval_kimg * 1000)), 1)
    return before // every != after // every


def out_of_time(deadline: float | None, world_size: int, device: torch.device) -> bool:
    """Whether the time budget is spent; with several processes, as soon as any one says so."""
    if deadline is None:
        return False
    late = torch.tensor(float(time.perf_counter() >= deadline), device=device)
    if world_size > 1:
        dist.all_reduce(late, op=dist.ReduceOp.MAX)
    return bool(late.item())


def global_means(tick_stats: dict[str, list[float]], world_size: int, device: torch.device) -> dict[str, float]:
    keys = sorted(tick_stats)
    values = torch.tensor([float(np.mean(tick_stats[k])) for k in keys], dtype=torch.float64, device=device)
    if world_size > 1:
        dist.all_reduce(values)
        values /= world_size
    return dict(zip(keys, values.tolist()))


def gathered_rng_states(rng: torch.Generator, world_size: int) -> list[torch.Tensor]:
    """Every process's random-stream state, in rank order (a collective when there are several processes)."""
    state = rng.get_state()
    if world_size == 1:
        return [state]
    states = [None] * world_size
    dist.all_gather_object(states, state)
    return states
