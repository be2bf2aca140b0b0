"""The StyleGAN2 training loop, single- or multi-process.

One process: ``train(cfg, outdir)``. Several: launch under ``torchrun`` (for example
``torchrun --nproc_per_node 2 -m cli train ...``); the process group is initialised from
torchrun's environment (gloo on CPU, nccl on CUDA), G and D are wrapped in
``DistributedDataParallel``, every process takes its share of the batch, and rank 0
writes the checkpoints, samples and logs. The library never prints: ``progress`` gets a
``TrainEvent`` after every step and at every tick, snapshot, sample grid and metric.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from stylegan2_core.discriminator import Discriminator
from stylegan2_core.errors import InputError
from stylegan2_core.image import from_uint8
from stylegan2_core.latent import sample_ws
from stylegan2_core.networks import Generator

from ..images import save_grid
from . import checkpoint as ckpt
from .config import TrainConfig
from .data import RealStream, open_source
from .loss import GeneratorStep, StyleGAN2Loss
from .runtime import crossed, default_device, gathered_rng_states, global_means, out_of_time, process_group, rng_seed

__all__ = ["TrainEvent", "TrainResult", "Trainer", "train"]


@dataclass
class TrainEvent:
    """What ``train`` reports. ``kind``: step | tick | snapshot | samples | metrics | notice | done."""

    kind: str
    step: int
    kimg: float
    total_kimg: float
    sec_per_kimg: float | None = None
    losses: dict[str, float] = field(default_factory=dict)
    path: str | None = None
    metrics: dict[str, float] | None = None
    message: str | None = None


@dataclass
class TrainResult:
    trainer: Trainer
    checkpoint: Path | None


class Trainer:
    """G, G_ema, D, their optimizers and the per-process generator; ``step()`` runs one minibatch."""

    def __init__(self, cfg: TrainConfig, device: torch.device | str = "cpu", rank: int = 0, world_size: int = 1,
                 memory_format: torch.memory_format | None = None, data_workers: int = 0):
        self.cfg = cfg
        self.data_workers = data_workers
        self.device = torch.device(device)
        self.rank = rank
        self.world_size = world_size
        self.distributed = world_size > 1
        if cfg.batch_size % world_size:
            raise InputError(f"batch size {cfg.batch_size} is not divisible by {world_size} processes")
        with torch.random.fork_rng(devices=[]):  # identical initial weights on every process
            torch.manual_seed(cfg.seed)
            self.G = Generator(cfg.G).train().to(self.device)
            self.D = Discriminator(cfg.D).train().to(self.device)
        # Layout of the weights and real images, which the activations follow. Default: channels_last
        # on the CPU, where oneDNN's convolutions and their weight gradients run faster on NHWC
        # (benchmarks/bench_train_step.py); the values are the same in either layout.
        if memory_format is None:
            memory_format = torch.channels_last if self.device.type == "cpu" else torch.contiguous_format
        self.memory_format = memory_format
        self.G.to(memory_format=self.memory_format)
        self.D.to(memory_format=self.memory_format)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.rng = torch.Generator(self.device)
        self.rng.manual_seed(rng_seed(cfg.seed, rank))

        G_step = GeneratorStep(self.G)
        D = self.D
        if self.distributed:
            ddp = {"device_ids": [self.device.index] if self.device.type == "cuda" else None, "broadcast_buffers": False}
            G_step = DistributedDataParallel(G_step, **ddp)
            D = DistributedDataParallel(D, **ddp)
        self.G.requires_grad_(False)
        self.D.requires_grad_(False)
        self.loss = StyleGAN2Loss(G_step, D, cfg, self.rng, self.device)

        # Lazy regularization: the main phases run every step, the regularizers every `interval` steps.
        self.opt = {name: torch.optim.Adam(module.parameters(), **self._adam_hyperparameters(name))
                    for name, module in (("G", self.G), ("D", self.D))}
        source = open_source(cfg.data, cfg.resolution, cfg.world_start_seed)
        self.stream = RealStream(source, cfg.batch_size, cfg.seed, rank, world_size, cfg.xflip)
        self._reals = None  # (step, batch) iterator, restarted whenever step_index moves elsewhere
        self.step_index = 0
        self.nimg = 0

    def _adam_hyperparameters(self, name: str) -> dict:
        """Adam settings of ``name``'s optimizer, with the paper's lazy-regularization correction of lr and betas."""
        cfg = self.cfg
        interval = cfg.pl_interval if name == "G" else cfg.r1_interval
        ratio = interval / (interval + 1)
        return {"lr": cfg.lr * ratio, "betas": tuple(b**ratio for b in cfg.betas), "eps": cfg.eps}

    def _phases(self):
        cfg = self.cfg
        yield "Gmain", "G", 1
        if cfg.pl_weight != 0 and self.step_index % cfg.pl_interval == 0:
            yield "Greg", "G", cfg.pl_interval
        yield "Dmain", "D", 1
        if cfg.r1_gamma != 0 and self.step_index % cfg.r1_interval == 0:
            yield "Dreg", "D", cfg.r1_interval

    def step(self) -> dict[str, float]:
        """One minibatch: the four phases, the G_ema update, and the w_avg synchronisation."""
        real = self._real_batch().to(self.device, memory_format=self.memory_format)
        stats = {}
        for phase, name, gain in self._phases():
            module = self.G if name == "G" else self.D
            opt = self.opt[name]
            opt.zero_grad(set_to_none=True)
            module.requires_grad_(True)
            stats.update(self.loss.accumulate_gradients(phase, real, gain))
            module.requires_grad_(False)
            for p in module.parameters():
                if p.grad is not None:
                    torch.nan_to_num(p.grad, nan=0, posinf=1e5, neginf=-1e5, out=p.grad)
            opt.step()
        if self.distributed:  # each process tracked w_avg over its own samples: average them
            dist.all_reduce(self.G.mapping.w_avg)
            self.G.mapping.w_avg.div_(self.world_size)
        self._update_ema()
        self.step_index += 1
        self.nimg += self.cfg.batch_size
        return stats

    def _real_batch(self) -> torch.Tensor:
        if self._reals is not None:
            step, real = next(self._reals)
            if step == self.step_index:
                return real
            self.release_data()
        self._reals = self.stream.batches(self.step_index, self.data_workers)
        return next(self._reals)[1]

    def release_data(self) -> None:
        """Stop the background loader processes, if any (the next step starts them again)."""
        if self._reals is not None:
            self._reals.close()
            self._reals = None

    @torch.no_grad()
    def _update_ema(self) -> None:
        ema_nimg = self.cfg.ema_kimg * 1000
        if self.cfg.ema_rampup is not None:
            ema_nimg = min(ema_nimg, self.nimg * self.cfg.ema_rampup)
        beta = 0.5 ** (self.cfg.batch_size / max(ema_nimg, 1e-8))
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.copy_(p.lerp(p_ema, beta))
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    def save(self, path: Path, extra: dict) -> None:
        """Checkpoint (a collective: every process must call it; rank 0 writes)."""
        states = gathered_rng_states(self.rng, self.world_size)
        if self.rank == 0:
            ckpt.save_checkpoint(path, self.cfg, {"G": self.G, "G_ema": self.G_ema, "D": self.D}, self.opt,
                                 self.loss.pl_mean, states, {"step": self.step_index, "nimg": self.nimg, **extra})

    def load(self, tensors: dict[str, torch.Tensor], meta: dict) -> list[str]:
        """Restore from a checkpoint; returns notes about anything that could not be restored exactly."""
        notes = []
        for prefix, module in (("G", self.G), ("G_ema", self.G_ema), ("D", self.D)):
            ckpt.load_module(module, prefix, tensors)
        for name, opt in self.opt.items():
            opt.load_state_dict(ckpt.unflatten_optimizer(f"opt_{name}", tensors, meta["optimizers"][name]))
            for group in opt.param_groups:  # the moments resume; lr and betas follow this run's config
                group.update(self._adam_hyperparameters(name))
        self.loss.pl_mean.copy_(tensors["pl_mean"].to(self.device))
        self.step_index = int(meta["step"])
        self.nimg = int(meta["nimg"])
        state = tensors.get(f"rng.{self.rank}")
        if int(meta.get("world_size", 1)) == self.world_size and state is not None:
            try:
                self.rng.set_state(state)
                return notes
            except RuntimeError:  # a generator state of another device type
                pass
        self.rng.manual_seed(rng_seed(self.cfg.seed + self.step_index, self.rank))
        notes.append(f"checkpoint written by {meta.get('world_size')} process(es) on another setup, resumed with "
                     f"{self.world_size} on {self.device.type}: random streams reseeded, not bitwise reproducible")
        return notes

    @torch.no_grad()
    def sample_images(self, seeds, batch: int = 16) -> torch.Tensor:
        """G_ema images for ``seeds`` (official seed -> z, constant noise), NCHW on the CPU."""
        ws = sample_ws(self.G_ema, seeds)
        return torch.cat([self.G_ema.synthesis(chunk, noise_mode="const").cpu() for chunk in ws.split(batch)])


def train(cfg: TrainConfig, outdir, resume=None, progress: Callable[[TrainEvent], None] | None = None,
          device: torch.device | str | None = None, max_seconds: float | None = None,
          data_workers: int | None = None) -> TrainResult:
    """Train until ``cfg.kimg`` thousand real images have been shown; returns the trainer and last checkpoint.

    ``max_seconds``: stop earlier, after the first step that ends past this wall-clock budget,
    writing a checkpoint there, so that a run splits across time-limited processes.
    ``data_workers``: background processes that render or decode the real images (0: the
    training loop does it; None: 4 on a GPU, 0 on the CPU, where the cores are busy training);
    the batches, and so the weights, do not depend on it.

    ``resume``: a training checkpoint or a run folder (its latest checkpoint). The
    checkpoint's networks, optimizers, step, image count and random states are restored,
    so N steps + resume + M steps gives the same weights as N + M steps in one go
    (same number of processes and device). ``cfg`` must describe the same networks.
    Writes into ``outdir``: ``checkpoint.safetensors``, ``network-snapshot-KKKKKK.safetensors``
    (G_ema only), ``samples-KKKKKK.png``, ``reals.png``, ``log.jsonl``, ``metrics.jsonl``.
    """
    device = torch.device(device) if device is not None else default_device()
    rank, world_size = process_group(device)
    if data_workers is None:
        data_workers = 4 if device.type == "cuda" else 0
    return _train(cfg, Path(outdir), resume, progress, device, rank, world_size, max_seconds, data_workers)


def _train(cfg, outdir, resume, progress, device, rank, world_size, max_seconds=None, data_workers=0) -> TrainResult:
    deadline = time.perf_counter() + max_seconds if max_seconds is not None else None
    trainer = Trainer(cfg, device, rank, world_size, data_workers=data_workers)
    report = progress if (progress is not None and rank == 0) else (lambda event: None)
    elapsed = 0.0
    if resume is not None:
        tensors, meta, saved = ckpt.load_checkpoint(ckpt.resolve_resume(resume))
        if (saved.G, saved.D) != (cfg.G, cfg.D):
            raise InputError("cannot resume: the checkpoint's networks differ from the configured ones")
        for note in trainer.load(tensors, meta):
            report(TrainEvent("notice", trainer.step_index, trainer.nimg / 1000, cfg.kimg, message=note))
        elapsed = float(meta.get("elapsed_s", 0.0))
    if rank == 0:
        outdir.mkdir(parents=True, exist_ok=True)
    cols, rows = cfg.grid_size
    grid_seeds = list(range(cols * rows))
    metric_state = {}
    if rank == 0 and trainer.nimg == 0:
        reals = from_uint8(np.stack([trainer.stream.item(i) for i in range(cols * rows)]))
        save_grid(outdir / "reals.png", reals, cols)
        path = save_grid(outdir / "samples-000000.png", trainer.sample_images(grid_seeds), cols)
        report(TrainEvent("samples", 0, 0.0, cfg.kimg, path=str(path)))

    last = None
    tick_start, tick_nimg, tick_stats = time.perf_counter(), trainer.nimg, {}
    done = trainer.nimg >= cfg.total_nimg
    while not done:
        before = trainer.nimg
        t0 = time.perf_counter()
        stats = trainer.step()
        elapsed += time.perf_counter() - t0
        for key, value in stats.items():
            tick_stats.setdefault(key, []).append(value)
        kimg = trainer.nimg / 1000
        done = trainer.nimg >= cfg.total_nimg or out_of_time(deadline, world_size, device)
        tick_secs = time.perf_counter() - tick_start
        sec_per_kimg = tick_secs / max(trainer.nimg - tick_nimg, 1) * 1000
        means = {k: float(np.mean(v)) for k, v in tick_stats.items()}
        report(TrainEvent("step", trainer.step_index, kimg, cfg.kimg, sec_per_kimg, means))

        tick_done = crossed(before, trainer.nimg, cfg.tick_kimg) or done
        if tick_done:
            means = global_means(tick_stats, world_size, device)
            if rank == 0:
                entry = {"kimg": kimg, "step": trainer.step_index, "sec_per_kimg": sec_per_kimg,
                         "elapsed_s": elapsed, "time": time.time(), **means}
                with open(outdir / "log.jsonl", "a") as f:
                    f.write(json.dumps(entry) + "\n")
            report(TrainEvent("tick", trainer.step_index, kimg, cfg.kimg, sec_per_kimg, means))
        maintenance = time.perf_counter()
        if crossed(before, trainer.nimg, cfg.snapshot_kimg) or done:
            last = outdir / ckpt.CHECKPOINT_NAME
            trainer.save(last, {"elapsed_s": elapsed})
            if rank == 0:
                from stylegan2_core.checkpoints import save_generator

                save_generator(trainer.G_ema, outdir / ckpt.snapshot_name(kimg),
                               extra={"kimg": kimg, "step": trainer.step_index})
            report(TrainEvent("snapshot", trainer.step_index, kimg, cfg.kimg, path=str(last)))
        if rank == 0 and (crossed(before, trainer.nimg, cfg.sample_kimg) or done):
            path = save_grid(outdir / f"samples-{int(kimg):06d}.png", trainer.sample_images(grid_seeds), cols)
            report(TrainEvent("samples", trainer.step_index, kimg, cfg.kimg, path=str(path)))
        if cfg.metric_kimg > 0 and (crossed(before, trainer.nimg, cfg.metric_kimg) or done):
            if rank == 0:
                values = _training_metrics(trainer, metric_state)
                with open(outdir / "metrics.jsonl", "a") as f:
                    f.write(json.dumps({"kimg": kimg, "step": trainer.step_index, **values}) + "\n")
                report(TrainEvent("metrics", trainer.step_index, kimg, cfg.kimg, metrics=values))
            if world_size > 1:
                dist.barrier()
        if tick_done:
            tick_start, tick_nimg, tick_stats = time.perf_counter(), trainer.nimg, {}
        else:
            tick_start += time.perf_counter() - maintenance  # keep sec/kimg about training only
    if world_size > 1:
        dist.barrier()  # every process returns once rank 0 has written the last files
    trainer.release_data()
    report(TrainEvent("done", trainer.step_index, trainer.nimg / 1000, cfg.kimg, path=str(last) if last else None))
    return TrainResult(trainer, last)


def _training_metrics(trainer: Trainer, state: dict) -> dict[str, float]:
    """FD-EffNetLite0 against the training data and PPL in W, on G_ema (rank 0)."""
    from projector.losses import EffNetPerceptual
    from projector.metrics.features import FeatureExtractor

    from ..metrics.generative import fd_effnet_lite0, ppl_w, real_feature_stats

    cfg, device = trainer.cfg, trainer.device
    if not state:  # networks and real statistics are made once per run
        state["extractor"] = FeatureExtractor(device)
        state["distance"] = EffNetPerceptual(device)
        state["real"] = real_feature_stats(trainer.stream.source, cfg.metric_num_images, device=device,
                                           extractor=state["extractor"])
    fd = fd_effnet_lite0(trainer.G_ema, state["real"], cfg.metric_num_images, device=device,
                         extractor=state["extractor"])
    ppl = ppl_w(trainer.G_ema, cfg.metric_ppl_samples, distance=state["distance"], device=device)
    return {fd.name: fd.value, ppl.name: ppl.value}
