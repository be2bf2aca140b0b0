"""Projector benchmarks: ground-truth recovery quality and step time.

recovery: project held-out generated images (seeds 100000+) with W / W+, with and
without noise optimization, and report PSNR, SSIM and perceptual distance to the
truth (the image the generator drew from that seed, const noise). PSNR is unbounded for an
exact recovery, so the median, the worst image and the share at >= 30 dB are reported
next to the mean.

speed: seconds per projection step and images/second at batch 1, 4, 16 for the
256 px configuration of bench_generator.py (random weights), offline perceptual loss.

    python benchmarks/bench_projector.py recovery --network demo --images 32 --steps 1000
    python benchmarks/bench_projector.py speed --threads 2
"""

import argparse
import platform
import statistics
import time

import torch

from projector import ProjectorConfig, project
from projector.losses import make_perceptual
from projector.metrics.image_quality import psnr, ssim
from stylegan2_core import Generator, GeneratorConfig, MappingConfig, SynthesisConfig, load_generator, z_from_seeds

RECOVERY_CONFIGS = ("w:optimize", "w:fixed", "w+:optimize", "w+:fixed")  # space:noise


def recovery(args) -> None:
    G = load_generator(args.network, device=args.device)
    distance, notice = make_perceptual(args.loss, device=args.device)
    seeds = list(range(100_000, 100_000 + args.images))
    with torch.no_grad():
        truth = torch.cat([G(z_from_seeds(seeds[i:i + 8], G.z_dim).to(args.device), noise_mode="const")
                           for i in range(0, len(seeds), 8)])
    print(f"Recovery of {args.images} generated images, {G.img_resolution}px, network {args.network}, "
          f"{args.steps} steps, loss {distance.name}, device {args.device}" + (f" ({notice})" if notice else ""))
    print()
    print("| space | noise | PSNR dB (mean ± std) | median | worst | >= 30 dB | SSIM | perceptual | s/image |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    per_image_psnr = {}
    for config in args.configs:
        space, noise = config.split(":")
        cfg = ProjectorConfig(steps=args.steps, space=space, optimize_noise=noise == "optimize", seed=0)
        p, s, d = [], [], []
        t0 = time.perf_counter()
        for i in range(0, len(seeds), args.batch):
            r = project(G, truth[i:i + args.batch], cfg, distance=distance)
            img = r.images.clamp(-1, 1)
            p += psnr(img, truth[i:i + args.batch]).tolist()
            s += ssim(img, truth[i:i + args.batch]).tolist()
            d += r.distance.tolist()
        seconds_per_image = (time.perf_counter() - t0) / len(seeds)
        recovered = sum(v >= 30 for v in p)
        print(f"| {space} | {noise} | {statistics.mean(p):.2f} ± {statistics.pstdev(p):.2f} | "
              f"{statistics.median(p):.2f} | {min(p):.2f} | {recovered}/{len(p)} | {statistics.mean(s):.3f} | "
              f"{statistics.mean(d):.4f} | {seconds_per_image:.1f} |")
        per_image_psnr[config] = p
    if args.per_image:
        print()
        for config, p in per_image_psnr.items():
            print(f"{config} PSNR per image (seed order): " + " ".join(f"{v:.1f}" for v in p))


def speed(args) -> None:
    torch.manual_seed(0)
    cfg = GeneratorConfig(z_dim=512, w_dim=512, img_resolution=args.resolution, mapping=MappingConfig(num_layers=8),
                          synthesis=SynthesisConfig(channel_base=16384, channel_max=512))
    G = Generator(cfg).eval().requires_grad_(False).to(args.device)
    distance, _ = make_perceptual(args.loss, device=args.device)
    print(f"Projection step time, {args.resolution}px (channel_base 16384, channel_max 512), loss {distance.name}, "
          f"device {args.device}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"{platform.processor() or platform.machine()}")
    print()
    print("| batch | s/step | images/s (steps/s × batch) |")
    print("| ---: | ---: | ---: |")
    for batch in args.batches:
        target = torch.rand(batch, 3, args.resolution, args.resolution, device=args.device) * 2 - 1
        times = []

        def tick(step):
            times.append(time.perf_counter())

        project(G, target, ProjectorConfig(steps=args.steps, w_avg_samples=1000), distance=distance, callback=tick)
        per_step = statistics.median(b - a for a, b in zip(times[1:], times[2:]))
        print(f"| {batch} | {per_step:.3f} | {batch / per_step:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    rec = sub.add_parser("recovery")
    rec.add_argument("--network", default="demo")
    rec.add_argument("--images", type=int, default=32)
    rec.add_argument("--steps", type=int, default=1000)
    rec.add_argument("--batch", type=int, default=8)
    rec.add_argument("--per-image", action="store_true", help="also list every image's PSNR (seed order)")
    rec.add_argument("--configs", nargs="+", default=list(RECOVERY_CONFIGS), choices=RECOVERY_CONFIGS,
                     help="space:noise rows to measure (default: all four)")
    spd = sub.add_parser("speed")
    spd.add_argument("--resolution", type=int, default=256)
    spd.add_argument("--steps", type=int, default=6)
    spd.add_argument("--batches", type=int, nargs="+", default=[1, 4, 16])
    for p in (rec, spd):
        p.add_argument("--loss", default="effnet")
        p.add_argument("--device", default="cpu")
        p.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    (recovery if args.what == "recovery" else speed)(args)


if __name__ == "__main__":
    main()
