"""Encoder training on a generator's own samples (and optionally real images), single- or multi-process.

One process: ``train_encoder(cfg, G, run_dir)``. Several: launch under ``torchrun``; the process
group comes from its environment (gloo on CPU, nccl on CUDA), the passes run inside
``DistributedDataParallel`` and rank 0 writes the files. Every batch runs all refinement passes
(ReStyle): pass k sees the photo and the detached render of pass k-1 and gets its own losses.
Checkpoints hold the encoder, Adam's state, step, image count and every process's random state,
so a resumed run equals an uninterrupted one. The library never prints: ``progress`` gets an
``EncoderEvent`` after every step and at every tick, snapshot and notice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from stylegan2_core.errors import InputError, Interrupted
from stylegan2_core.fileio import read_safetensors, write_safetensors

from ..training.checkpoint import flatten_optimizer, unflatten_optimizer
from ..training.data import RealStream, open_source
from ..training.runtime import (
    crossed,
    default_device,
    gathered_rng_states,
    global_means,
    out_of_time,
    process_group,
    rng_seed,
)
from .config import EncoderTrainConfig
from .file import encoder_file_name, save_encoder
from .network import Encoder, delta_regularizer

__all__ = ["CHECKPOINT_NAME", "EncoderEvent", "EncoderTrainResult", "EncoderTrainer", "train_encoder",
           "load_encoder_checkpoint", "resolve_encoder_resume"]

CHECKPOINT_NAME = "encoder-checkpoint.safetensors"
CHECKPOINT_KIND = "encoder-training"
PERCEPTUAL_RESOLUTION = 256  # larger images are area-downsampled before the perceptual distance, as the projector does


@dataclass
class EncoderEvent:
    """What ``train_encoder`` reports. ``kind``: step | tick | snapshot | notice | done."""

    kind: str
    step: int
    kimg: float
    total_kimg: float
    sec_per_kimg: float | None = None
    losses: dict[str, float] = field(default_factory=dict)
    path: str | None = None
    message: str | None = None


@dataclass
class EncoderTrainResult:
    trainer: EncoderTrainer
    checkpoint: Path | None
    encoder_file: Path | None


class _Passes(nn.Module):
    """All refinement passes of one batch: the module DistributedDataParallel wraps (one forward per step)."""

    def __init__(self, encoder: Encoder, G):
        super().__init__()
        self.encoder = encoder
        self.G = G

    def forward(self, photos: torch.Tensor, ws: torch.Tensor, render: torch.Tensor, passes: int):
        outputs = []
        for _ in range(passes):
            ws = ws.detach() + self.encoder(photos, render.detach())
            render = self.G.synthesis(ws, noise_mode="const")
            outputs.append((ws, render))
        return outputs


class EncoderTrainer:
    """The encoder, its optimizer, the generator it learns to invert, and this process's random stream."""

    def __init__(self, cfg: EncoderTrainConfig, G, device: torch.device | str = "cpu", rank: int = 0,
                 world_size: int = 1):
        self.cfg = cfg
        self.device = torch.device(device)
        self.rank, self.world_size = rank, world_size
        self.distributed = world_size > 1
        synthetic = cfg.batch_size - cfg.real_batch
        if synthetic % world_size or cfg.real_batch % world_size:
            raise InputError(f"batch {cfg.batch_size} ({synthetic} generated, {cfg.real_batch} real) does not "
                             f"split evenly over {world_size} processes")
        self.local_synthetic = synthetic // world_size
        self.G = G.to(self.device).eval().requires_grad_(False)
        with torch.random.fork_rng(devices=[]):  # identical initial weights on every process
            torch.manual_seed(cfg.seed)
            self.encoder = Encoder(cfg.encoder).train().to(self.device)
        passes = _Passes(self.encoder, self.G)
        if self.distributed:
            ddp = {"device_ids": [self.device.index] if self.device.type == "cuda" else None, "broadcast_buffers": False}
            passes = DistributedDataParallel(passes, **ddp)
        self.passes = passes
        self.opt = torch.optim.Adam(self.encoder.parameters(), lr=cfg.lr, betas=cfg.betas)
        self.rng = torch.Generator(self.device)
        self.rng.manual_seed(rng_seed(cfg.seed, rank))
        self.notices: list[str] = []
        self.distance = self._perceptual()
        self.stream = None
        if cfg.real_batch:
            source = open_source(cfg.data, cfg.encoder.resolution, cfg.world_start_seed)
            self.stream = RealStream(source, cfg.real_batch, cfg.seed, rank, world_size, cfg.xflip)
        self.step_index = 0
        self.nimg = 0

    def _perceptual(self):
        if self.cfg.perceptual_weight == 0:
            return None
        from ..losses import make_perceptual

        distance, notice = make_perceptual(self.cfg.perceptual, self.device)
        if notice:
            self.notices.append(notice)
        return distance

    @torch.no_grad()
    def samples(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` generator samples from this process's stream: (images with random noise, their true ws)."""
        G, rng, device = self.G, self.rng, self.device
        z = torch.randn([n, G.z_dim], generator=rng, device=device)
        c = None
        if G.c_dim:
            c = F.one_hot(torch.randint(G.c_dim, [n], generator=rng, device=device), G.c_dim).float()
        lo, hi = self.cfg.psi_range
        psi = lo + (hi - lo) * torch.rand([n, 1, 1], generator=rng, device=device)
        w_avg = G.mapping.w_avg
        ws = w_avg + psi * (G.mapping(z, c) - w_avg)
        noise = [torch.randn([n, 1, h, w], generator=rng, device=device) for h, w in G.synthesis.noise_shapes()]
        return G.synthesis(ws, noise=noise), ws

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        images, ws = self.samples(self.local_synthetic)
        if self.stream is not None:
            images = torch.cat([images, self.stream.batch(self.step_index).to(self.device)])
        return images, ws

    def _image_losses(self, render: torch.Tensor, photos: torch.Tensor) -> dict[str, torch.Tensor]:
        losses = {"pixel": (render - photos).square().mean()}
        if self.distance is not None:
            if render.shape[-1] > PERCEPTUAL_RESOLUTION:
                render, photos = (F.adaptive_avg_pool2d(x, PERCEPTUAL_RESOLUTION) for x in (render, photos))
            losses["perceptual"] = self.distance(render, photos).mean()
        return losses

    def losses(self, photos: torch.Tensor, true_ws: torch.Tensor, passes: int | None = None):
        """(total loss, per-term means over the passes) for a batch whose first ``len(true_ws)`` photos are samples."""
        cfg = self.cfg
        passes = cfg.encoder.passes if passes is None else passes
        weights = {"latent": cfg.latent_weight, "pixel": cfg.pixel_weight, "perceptual": cfg.perceptual_weight,
                   "delta": cfg.delta_weight}
        ws0, render0 = self.encoder.start(self.G, len(photos))
        terms: dict[str, list[torch.Tensor]] = {}
        for ws, render in self.passes(photos, ws0, render0, passes):
            found = self._image_losses(render, photos)
            found["delta"] = delta_regularizer(ws).mean()
            if len(true_ws):
                found["latent"] = (ws[:len(true_ws)] - true_ws).square().mean()
            for name, value in found.items():
                terms.setdefault(name, []).append(value)
        means = {name: torch.stack(values).mean() for name, values in terms.items()}
        total = sum(weights[name] * value for name, value in means.items())
        return total, {"loss": float(total.detach()), **{name: float(value.detach()) for name, value in means.items()}}

    def step(self) -> dict[str, float]:
        """One batch: all passes forward, one backward, one Adam step."""
        photos, true_ws = self._batch()
        self.opt.zero_grad(set_to_none=True)
        total, stats = self.losses(photos, true_ws)
        total.backward()
        self.opt.step()
        self.step_index += 1
        self.nimg += self.cfg.batch_size
        return stats

    def save(self, path: Path, extra: dict) -> None:
        """Checkpoint (a collective: every process must call it; rank 0 writes)."""
        states = gathered_rng_states(self.rng, self.world_size)
        if self.rank != 0:
            return
        tensors = {f"encoder.{k}": v for k, v in self.encoder.state_dict().items()}
        opt_tensors, opt_meta = flatten_optimizer("opt", self.opt.state_dict())
        tensors.update(opt_tensors)
        tensors.update({f"rng.{rank}": state for rank, state in enumerate(states)})
        meta = {"kind": CHECKPOINT_KIND, "train_config": self.cfg.to_dict(), "optimizer": opt_meta,
                "world_size": len(states), "step": self.step_index, "nimg": self.nimg, **extra}
        write_safetensors(path, tensors, meta)

    def load(self, tensors: dict[str, torch.Tensor], meta: dict) -> list[str]:
        """Restore from a checkpoint; returns notes about anything that could not be restored exactly."""
        prefix = "encoder."
        self.encoder.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        self.opt.load_state_dict(unflatten_optimizer("opt", tensors, meta["optimizer"]))
        for group in self.opt.param_groups:  # the moments resume; lr and betas follow this run's config
            group.update(lr=self.cfg.lr, betas=self.cfg.betas)
        self.step_index, self.nimg = int(meta["step"]), int(meta["nimg"])
        state = tensors.get(f"rng.{self.rank}")
        if int(meta.get("world_size", 1)) == self.world_size and state is not None:
            try:
                self.rng.set_state(state)
                return []
            except RuntimeError:  # a generator state of another device type
                pass
        self.rng.manual_seed(rng_seed(self.cfg.seed + self.step_index, self.rank))
        return [f"checkpoint written by {meta.get('world_size')} process(es) on another setup: random streams "
                "reseeded, not bitwise reproducible"]


def resolve_encoder_resume(resume) -> Path:
    """An encoder checkpoint, or a run folder meaning its ``encoder-checkpoint.safetensors``."""
    path = Path(resume)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise InputError(f"cannot resume: {path} does not exist")
    return path


def load_encoder_checkpoint(path) -> tuple[dict[str, torch.Tensor], dict, EncoderTrainConfig]:
    """Tensors, metadata and training config of an encoder training checkpoint."""
    tensors, meta = read_safetensors(path)
    if not meta or meta.get("kind") != CHECKPOINT_KIND:
        raise InputError(f"{path}: not an encoder training checkpoint (kind {(meta or {}).get('kind')!r})")
    try:
        return tensors, meta, EncoderTrainConfig.from_dict(meta["train_config"])
    except (InputError, KeyError, TypeError) as err:
        raise InputError(f"{path}: bad encoder training config in metadata ({err})") from None


def _any_process(flag: bool, world_size: int, device: torch.device) -> bool:
    """Whether ``flag`` is set on any process (every process must call it)."""
    value = torch.tensor(float(flag), device=device)
    if world_size > 1:
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def train_encoder(cfg: EncoderTrainConfig, G, run_dir, resume=None,
                  progress: Callable[[EncoderEvent], None] | None = None, device: torch.device | str | None = None,
                  max_seconds: float | None = None, should_stop: Callable[[], bool] | None = None,
                  ) -> EncoderTrainResult:
    """Train an encoder for ``G`` until ``cfg.kimg`` thousand training images; returns the trainer and files.

    ``G`` must be the network ``cfg.model_id`` names. Writes into ``run_dir``:
    ``encoder-checkpoint.safetensors`` (resume with ``resume=run_dir``: N steps + resume + M steps
    equals N + M steps, same processes and device), the encoder file ``encoder-<id>.safetensors``
    (at every snapshot and at the end) and ``log.jsonl`` (one line per tick). ``max_seconds``:
    stop after the first step past this wall-clock budget, with a checkpoint. ``should_stop``
    (checked after every step, e.g. Ctrl-C): save a checkpoint and raise ``Interrupted``.
    """
    device = torch.device(device) if device is not None else default_device()
    rank, world_size = process_group(device)
    trainer = EncoderTrainer(cfg, G, device, rank, world_size)
    report = progress if (progress is not None and rank == 0) else (lambda event: None)
    for note in trainer.notices:
        report(EncoderEvent("notice", 0, 0.0, cfg.kimg, message=note))
    elapsed = 0.0
    if resume is not None:
        tensors, meta, saved = load_encoder_checkpoint(resolve_encoder_resume(resume))
        same_weights = saved.encoder.replace(passes=cfg.encoder.passes) == cfg.encoder  # passes may change
        if not same_weights or saved.model_id != cfg.model_id:
            raise InputError("cannot resume: the checkpoint's encoder or network differs from the configured one")
        for note in trainer.load(tensors, meta):
            report(EncoderEvent("notice", trainer.step_index, trainer.nimg / 1000, cfg.kimg, message=note))
        elapsed = float(meta.get("elapsed_s", 0.0))
    run_dir = Path(run_dir)
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
    return _loop(trainer, run_dir, report, elapsed, max_seconds, should_stop)


def _loop(trainer: EncoderTrainer, run_dir: Path, report, elapsed: float, max_seconds: float | None,
          should_stop: Callable[[], bool] | None) -> EncoderTrainResult:
    """Steps, ticks (log.jsonl) and snapshots until done, out of time, or asked to stop."""
    cfg, device, world_size = trainer.cfg, trainer.device, trainer.world_size
    deadline = time.perf_counter() + max_seconds if max_seconds is not None else None
    checkpoint = encoder_file = None
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
        stop = _any_process(should_stop is not None and should_stop(), world_size, device)
        done = trainer.nimg >= cfg.total_nimg or out_of_time(deadline, world_size, device) or stop
        sec_per_kimg = (time.perf_counter() - tick_start) / max(trainer.nimg - tick_nimg, 1) * 1000
        report(EncoderEvent("step", trainer.step_index, kimg, cfg.kimg, sec_per_kimg,
                            {k: float(np.mean(v)) for k, v in tick_stats.items()}))
        if crossed(before, trainer.nimg, cfg.tick_kimg) or done:
            means = global_means(tick_stats, world_size, device)
            if trainer.rank == 0:
                entry = {"kimg": kimg, "step": trainer.step_index, "sec_per_kimg": sec_per_kimg, "elapsed_s": elapsed,
                         "time": time.time(), **means}
                with open(run_dir / "log.jsonl", "a") as f:
                    f.write(json.dumps(entry) + "\n")
            report(EncoderEvent("tick", trainer.step_index, kimg, cfg.kimg, sec_per_kimg, means))
            tick_start, tick_nimg, tick_stats = time.perf_counter(), trainer.nimg, {}
        if crossed(before, trainer.nimg, cfg.snapshot_kimg) or done:
            checkpoint, encoder_file = _snapshot(trainer, run_dir, elapsed)
            report(EncoderEvent("snapshot", trainer.step_index, kimg, cfg.kimg, path=str(encoder_file)))
        if stop:
            raise Interrupted(f"stopped at kimg {kimg:g}; checkpoint {checkpoint} (continue with --resume {run_dir})")
    if world_size > 1:
        dist.barrier()  # every process returns once rank 0 has written the last files
    report(EncoderEvent("done", trainer.step_index, trainer.nimg / 1000, cfg.kimg,
                        path=str(encoder_file) if encoder_file else None))
    return EncoderTrainResult(trainer, checkpoint, encoder_file)


def _snapshot(trainer: EncoderTrainer, run_dir: Path, elapsed: float) -> tuple[Path, Path]:
    """The checkpoint and the encoder file (a collective; rank 0 writes)."""
    cfg = trainer.cfg
    checkpoint, encoder_file = run_dir / CHECKPOINT_NAME, run_dir / encoder_file_name(cfg.model_id)
    trainer.save(checkpoint, {"elapsed_s": elapsed})
    if trainer.rank == 0:
        save_encoder(encoder_file, trainer.encoder, cfg.model_id, network=cfg.network, kimg=trainer.nimg / 1000)
    return checkpoint, encoder_file
