"""StyleGAN2 training as the paper describes it: losses, lazy regularization, EMA, checkpoints, metrics."""

from .config import TrainConfig, network_configs
from .loop import Trainer, TrainEvent, TrainResult, train

__all__ = ["TrainConfig", "network_configs", "TrainEvent", "TrainResult", "Trainer", "train"]
