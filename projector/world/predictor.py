"""A small CNN that reads the procedural world's attributes back from an image.

It scores edits: an edit direction found in the GAN's latent space should move the
predicted attribute it targets and leave the others alone. Continuous attributes are
regressed in standardized units (the training-label mean and std are stored with the
weights), binary ones as logits.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from stylegan2_core.errors import CheckpointError, InputError, ShapeError
from stylegan2_core.fileio import MAGIC_KEY, read_safetensors, write_safetensors
from stylegan2_core.image import from_uint8

from . import faces as world

__all__ = [
    "PredictorConfig",
    "PredictorTrainConfig",
    "AttributePredictor",
    "TRAIN_START_SEED",
    "VAL_START_SEED",
    "train_predictor",
    "evaluate",
    "save_predictor",
    "load_predictor",
    "default_predictor",
    "DEFAULT_WEIGHTS",
]

DEFAULT_WEIGHTS = Path(__file__).parents[1] / "assets" / "world_predictor.safetensors"
# World seeds the predictor trains and validates on; evaluate on seeds outside both ranges.
TRAIN_START_SEED = 1_000_000
VAL_START_SEED = 2_000_000

_FORMAT = "s2edit.world_predictor/1"


@dataclass(frozen=True)
class PredictorConfig:
    """Architecture and output layout of an ``AttributePredictor``."""

    attributes: tuple[str, ...]
    kinds: tuple[str, ...]  # 'continuous' or 'binary', one per attribute
    channels: tuple[int, ...] = (32, 64, 96, 128)
    bottleneck: int = 32
    hidden: int = 128
    image_size: int = 64

    @classmethod
    def for_world(cls) -> PredictorConfig:
        return cls(
            attributes=tuple(a.name for a in world.ATTRIBUTES),
            kinds=tuple(a.kind for a in world.ATTRIBUTES),
        )


@dataclass(frozen=True)
class PredictorTrainConfig:
    """How ``train_predictor`` trains: data sizes, optimisation, augmentation."""

    num_train: int
    num_val: int
    steps: int
    batch_size: int
    seed: int
    lr: float = 2e-3
    weight_decay: float = 1e-4
    noise: float = 0.04  # max std of additive pixel noise, for robustness to generated images


class AttributePredictor(nn.Module):
    """Stride-2 conv stack -> 1x1 bottleneck -> MLP; one output per attribute."""

    def __init__(self, config: PredictorConfig, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        n = len(config.attributes)
        if len(config.kinds) != n or len(mean) != n or len(std) != n:
            raise ShapeError("config.attributes, config.kinds, mean and std must have the same length")
        self.config = config
        layers: list[nn.Module] = []
        c = 3
        for out in config.channels:
            layers += [nn.Conv2d(c, out, 3, 2, 1), nn.GroupNorm(8, out), nn.SiLU()]
            c = out
        cells = (config.image_size // 2 ** len(config.channels)) ** 2
        layers += [
            nn.Conv2d(c, config.bottleneck, 1),
            nn.SiLU(),
            nn.Flatten(),
            nn.Linear(config.bottleneck * cells, config.hidden),
            nn.SiLU(),
            nn.Linear(config.hidden, n),
        ]
        self.net = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32), persistent=False)
        self.register_buffer("binary", torch.tensor([k == "binary" for k in config.kinds]), persistent=False)
        self.report: dict | None = None  # held-out scores from training, saved with the weights

    @property
    def names(self) -> tuple[str, ...]:
        return self.config.attributes

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """NCHW float images in [-1, 1], any size -> raw outputs [N, A] (standardized values and logits)."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ShapeError(f"expected NCHW RGB images, got shape {tuple(images.shape)}")
        size = self.config.image_size
        if images.shape[-2:] != (size, size):
            mode = "area" if images.shape[-1] > size else "bilinear"
            images = F.interpolate(images, size=(size, size), mode=mode)
        return self.net(images)

    def predict_labels(self, images: torch.Tensor) -> torch.Tensor:
        """[N, A] in label units, probabilities for binary attributes (differentiable)."""
        raw = self.forward(images)
        return torch.where(self.binary, torch.sigmoid(raw), raw * self.std + self.mean)

    def predict(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Attribute name -> [N] prediction in label units (probability for binary attributes)."""
        values = self.predict_labels(images)
        return {name: values[:, i] for i, name in enumerate(self.names)}


def _scores(model: AttributePredictor, pred: np.ndarray, labels: np.ndarray) -> dict[str, dict[str, float]]:
    scores = {}
    for i, (name, kind) in enumerate(zip(model.config.attributes, model.config.kinds)):
        if kind == "binary":
            acc = float(np.mean((pred[:, i] >= 0.5) == (labels[:, i] >= 0.5)))
            scores[name] = {"kind": kind, "accuracy": acc}
        else:
            mae = float(np.mean(np.abs(pred[:, i] - labels[:, i])))
            std = float(model.std[i])
            scores[name] = {"kind": kind, "mae": mae, "std": std, "mae_over_std": mae / std}
    return scores


@torch.no_grad()
def evaluate(
    model: AttributePredictor, images: np.ndarray, labels: np.ndarray, batch_size: int = 256
) -> dict[str, dict[str, float]]:
    """Per-attribute error on NHWC uint8 ``images`` with label rows in ``model.names`` order.

    Continuous: ``mae`` (label units), ``std`` (training-label std) and ``mae_over_std``;
    binary: ``accuracy`` at probability 0.5.
    """
    preds = [
        model.predict_labels(from_uint8(images[i : i + batch_size])).numpy()
        for i in range(0, len(images), batch_size)
    ]
    return _scores(model, np.concatenate(preds), np.asarray(labels, np.float32))


def _loss(model: AttributePredictor, raw: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    target = torch.where(model.binary, labels, (labels - model.mean) / model.std)
    bce = F.binary_cross_entropy_with_logits(raw, target, reduction="none")
    reg = F.smooth_l1_loss(raw, target, reduction="none", beta=0.5)
    return torch.where(model.binary, bce, reg).mean()


def train_predictor(
    num_train: int,
    num_val: int,
    steps: int,
    batch_size: int,
    seed: int,
    progress: Callable[[str, int, int, float | None], None] | None = None,
    lr: float = 2e-3,
) -> tuple[AttributePredictor, dict]:
    """Train on world seeds from ``TRAIN_START_SEED``, report held-out error on seeds from ``VAL_START_SEED``.

    The training images are rendered once into memory. ``progress(stage, done, total, loss)``
    is called while rendering ('render train', 'render val') and training ('train', with the
    running loss).
    Returns the model in eval mode and a JSON-ready report.
    """
    cfg = PredictorTrainConfig(num_train=num_train, num_val=num_val, steps=steps, batch_size=batch_size, seed=seed,
                               lr=lr)
    if min(num_train, num_val, steps, batch_size) < 1:
        raise InputError("num_train, num_val, steps and batch_size must be positive")
    started = time.perf_counter()

    def rendered(start: int, count: int, stage: str) -> tuple[np.ndarray, np.ndarray]:
        chunk = 1000
        parts = []
        for lo in range(0, count, chunk):
            parts.append(world.render_batch(range(start + lo, start + min(lo + chunk, count)), 64))
            if progress is not None:
                progress(stage, min(lo + chunk, count), count, None)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    train_images, train_labels = rendered(TRAIN_START_SEED, num_train, "render train")
    val_images, val_labels = rendered(VAL_START_SEED, num_val, "render val")

    config = PredictorConfig.for_world()
    binary = np.array([k == "binary" for k in config.kinds])
    mean = np.where(binary, 0.0, train_labels.mean(0))
    std = np.where(binary, 1.0, train_labels.std(0))
    with torch.random.fork_rng():  # seeded initialisation without touching the caller's global RNG
        torch.manual_seed(seed)
        model = AttributePredictor(config, mean.tolist(), std.tolist())
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=cfg.weight_decay)
    warmup = max(1, steps // 50)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))
    )
    rng = torch.Generator().manual_seed(seed)
    labels_t = torch.from_numpy(train_labels)
    model.train()
    running = None
    for step in range(steps):
        idx = torch.randint(0, num_train, (batch_size,), generator=rng)
        x = from_uint8(train_images[idx.numpy()])
        sigma = torch.rand(batch_size, 1, 1, 1, generator=rng) * cfg.noise
        x = x + sigma * torch.randn(x.shape, generator=rng)
        loss = _loss(model, model(x), labels_t[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if progress is not None and ((step + 1) % 50 == 0 or step + 1 == steps):
            progress("train", step + 1, steps, running)
    model.eval()
    model.report = {
        "train_config": asdict(cfg),
        "train_seeds": [TRAIN_START_SEED, TRAIN_START_SEED + num_train],
        "val_seeds": [VAL_START_SEED, VAL_START_SEED + num_val],
        "final_train_loss": running,
        "seconds": round(time.perf_counter() - started, 1),
        "attributes": evaluate(model, val_images, val_labels),
    }
    return model, model.report


def save_predictor(model: AttributePredictor, path: str | Path) -> Path:
    """Write weights as safetensors with config, normalization stats and ``model.report`` in the metadata.

    Written atomically (``stylegan2_core.fileio``): an interrupt never leaves half a file.
    """
    meta = {
        "format": _FORMAT,
        "config": asdict(model.config),
        "mean": model.mean.tolist(),
        "std": model.std.tolist(),
        "report": model.report,
    }
    return write_safetensors(path, model.state_dict(), meta)


def load_predictor(path: str | Path) -> AttributePredictor:
    """Load a predictor written by ``save_predictor``, in eval mode, with its stored ``report``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"predictor weights not found: {path}")
    tensors, meta = read_safetensors(path)  # CheckpointError naming the file if it is not safetensors
    if meta is None:
        raise CheckpointError(f"{path} has no '{MAGIC_KEY}' metadata; not a saved attribute predictor")
    if meta.get("format") != _FORMAT:
        raise CheckpointError(f"{path}: unsupported predictor format {meta.get('format')!r}")
    cfg = meta["config"]
    config = PredictorConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()})
    model = AttributePredictor(config, meta["mean"], meta["std"])
    try:
        model.load_state_dict(tensors)
    except RuntimeError as err:
        raise CheckpointError(f"predictor {path} does not match its config: {err}") from err
    model.report = meta["report"]
    return model.eval()


def default_predictor() -> AttributePredictor:
    """The shipped predictor for the procedural world (``projector/assets/world_predictor.safetensors``)."""
    model = load_predictor(DEFAULT_WEIGHTS)
    if model.names != world.ATTRIBUTE_NAMES:
        raise CheckpointError(
            f"shipped predictor covers {model.names}, the world has {world.ATTRIBUTE_NAMES}; retrain it with "
            "benchmarks/train_predictor.py"
        )
    return model
