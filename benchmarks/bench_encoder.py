"""Encoder speed: inversion time per image (batch 1 and batched) and training throughput (images/s).

A random-weight config-f generator at ``--resolution`` (``--channel-base`` narrows it for CPU
runs; 32768 is the official FFHQ width) and the default encoder for it
(``projector.encoder.default_encoder_config``), random weights: the cost does not depend on
them. Inversion: ``encoder.invert`` with ``--passes`` passes (each pass after the first renders
the current ws). Training: ``EncoderTrainer.step`` on the generator's own samples, all passes,
latent + pixel + perceptual (EfficientNet-Lite0, offline) + delta losses. Prints the machine
and a markdown table.

    python benchmarks/bench_encoder.py --resolution 1024 --device cuda                       # GPU suite
    python benchmarks/bench_encoder.py --resolution 64 --channel-base 2048 --threads 1       # CPU
"""

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_projector import _machine, config_f  # noqa: E402

from projector.encoder import Encoder, EncoderTrainConfig, EncoderTrainer, default_encoder_config  # noqa: E402
from stylegan2_core import Generator, model_id  # noqa: E402


def _timed(fn, device: torch.device, repeats: int) -> float:
    """Seconds per call of ``fn`` after one warm-up call (CUDA synchronised)."""
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - t0) / repeats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--channel-base", type=int, default=32768, help="generator width (config f: 32768)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8, help="batched inversion size")
    ap.add_argument("--train-batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--train-steps", type=int, default=2)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    torch.manual_seed(0)
    G = Generator(config_f(args.resolution, args.channel_base)).eval().requires_grad_(False).to(device)
    cfg = default_encoder_config(G, passes=args.passes)
    encoder = Encoder(cfg).eval().to(device)
    machine = f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}" if device.type == "cuda" else _machine()
    print(f"machine: {machine}")
    print(f"generator: config f at {args.resolution} px, channel_base {args.channel_base}, "
          f"{sum(p.numel() for p in G.parameters()):,} parameters, random weights")
    print(f"encoder: {cfg.arch}, backbone at {cfg.working_resolution} px, "
          f"{sum(p.numel() for p in encoder.parameters()):,} parameters, {cfg.passes} passes\n")

    rows = []
    for batch in (1, args.batch):
        images = torch.rand([batch, 3, args.resolution, args.resolution], device=device) * 2 - 1
        seconds = _timed(lambda: encoder.invert(images, G), device, args.repeats)  # noqa: B023
        rows.append((f"invert, batch {batch}", f"{seconds / batch * 1e3:.1f} ms/image", f"{batch / seconds:.2f}"))
        with torch.no_grad():
            one_pass = _timed(lambda: encoder(images, images), device, args.repeats)  # noqa: B023
        rows.append((f"one encoder pass (no render), batch {batch}", f"{one_pass / batch * 1e3:.1f} ms/image",
                     f"{batch / one_pass:.2f}"))

    train_cfg = EncoderTrainConfig(network="random", model_id=model_id(G), encoder=cfg, batch_size=args.train_batch,
                                   perceptual="effnet")
    trainer = EncoderTrainer(train_cfg, G, device)
    seconds = _timed(trainer.step, device, args.train_steps)
    rows.append((f"training step, batch {args.train_batch}, {cfg.passes} passes", f"{seconds:.2f} s/step",
                 f"{args.train_batch / seconds:.2f}"))

    print("| measure | time | images/s |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
