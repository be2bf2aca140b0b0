"""Where the time of one projection step goes (CPU or GPU), part by part.

Times each part of the official projection step in isolation on the same inputs, median
over ``--repeats`` runs, then the whole step as ``project`` runs it:

    generator forward        G.synthesis(ws, noise) under no_grad
    generator fwd+bwd        forward with autograd, backward of a scalar to ws and noise
    perceptual fwd+bwd       embed + distance to the cached target features, backward to the image
    noise regulariser        fwd+bwd over the optimised noise maps
    optimizer                Adam step + noise renormalisation
    latent noise + schedule  the per-step random draws and learning-rate update (Python)
    whole step               one step of ``projector.project`` (from its callback timestamps)

The remainder "whole step - sum of parts" is Python overhead and data movement between parts.

    python benchmarks/profile_projector.py --network demo --threads 1
    python benchmarks/profile_projector.py --network demo --threads 2 --variants
"""

import argparse
import os
import platform
import statistics
import time

import torch

from projector import ProjectorConfig, project
from projector.losses import make_perceptual, noise_regularizer
from stylegan2_core import load_generator, z_from_seeds

__all__ = ["profile_step", "main"]


def _median_seconds(fn, repeats: int, device) -> float:
    times = []
    fn()  # warm-up
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def profile_step(G, distance, batch: int = 1, repeats: int = 10, fused: bool | None = None,
                 channels_last: bool = False) -> dict[str, float]:
    """Seconds per part of one projection step (see the module docstring)."""
    device = G.mapping.w_avg.device
    fused = batch == 1 if fused is None else fused
    with torch.no_grad():
        target = G(z_from_seeds(list(range(batch)), G.z_dim).to(device), noise_mode="const")
    ws = G.mapping.w_avg.reshape(1, 1, -1).repeat(batch, G.num_ws, 1).requires_grad_(True)
    noise = [torch.randn([batch, 1, h, w], device=device).requires_grad_(True) for h, w in G.synthesis.noise_shapes()]
    target_small = target if target.shape[-1] <= 256 else torch.nn.functional.interpolate(target, 256, mode="area")
    if channels_last:
        target_small = target_small.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        target_features = distance.embed(target_small)
    image = target_small.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([ws, *noise], lr=0.01)

    def synth_forward():
        with torch.no_grad():
            G.synthesis(ws, noise=noise, fused_modconv=fused)

    def synth_backward():
        G.synthesis(ws, noise=noise, fused_modconv=fused).square().sum().backward()

    def perceptual():
        distance.distance(distance.embed(image), target_features).sum().backward()

    def regulariser():
        noise_regularizer(noise).sum().backward()

    def optimizer_step():
        optimizer.step()
        with torch.no_grad():
            for m in noise:
                m -= m.mean(dim=(1, 2, 3), keepdim=True)
                m *= m.square().mean(dim=(1, 2, 3), keepdim=True).rsqrt()

    gens = [torch.Generator().manual_seed(i) for i in range(batch)]

    def latent_noise():
        for group in optimizer.param_groups:
            group["lr"] = 0.01
        torch.cat([torch.randn([1, 1, ws.shape[-1]], generator=g) for g in gens]).to(device)

    parts = {
        "generator forward": _median_seconds(synth_forward, repeats, device),
        "generator fwd+bwd": _median_seconds(synth_backward, repeats, device),
        "perceptual fwd+bwd": _median_seconds(perceptual, repeats, device),
        "noise regulariser fwd+bwd": _median_seconds(regulariser, repeats, device),
        "optimizer (Adam + renorm)": _median_seconds(optimizer_step, repeats, device),
        "latent noise + schedule": _median_seconds(latent_noise, repeats, device),
    }
    stamps = []
    cfg = ProjectorConfig(steps=repeats + 2, w_avg_samples=1000)
    project(G, target, cfg, distance=distance, callback=lambda s: stamps.append(time.perf_counter()))
    parts["whole step (project)"] = statistics.median(b - a for a, b in zip(stamps[1:], stamps[2:]))
    return parts


def _print_table(parts: dict[str, float], title: str) -> None:
    whole = parts["whole step (project)"]
    accounted = sum(v for k, v in parts.items() if k not in ("generator forward", "whole step (project)"))
    print(f"\n{title}\n")
    print("| part | ms | share of the step |")
    print("| --- | ---: | ---: |")
    for name, seconds in parts.items():
        print(f"| {name} | {seconds * 1e3:.1f} | {seconds / whole:.0%} |")
    print(f"| remainder (Python, data movement) | {(whole - accounted) * 1e3:.1f} | {(whole - accounted) / whole:.0%} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--network", default="demo")
    ap.add_argument("--loss", default="effnet")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--variants", action="store_true",
                    help="also time the non-fused modulated convolution and channels_last")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    G = load_generator(args.network, device=device)
    distance, notice = make_perceptual(args.loss, device=device)
    machine = torch.cuda.get_device_name() if device.type == "cuda" else (platform.processor() or platform.machine())
    print(f"Projection step profile: network {args.network} ({G.img_resolution}px), loss {distance.name}, "
          f"batch {args.batch}, device {args.device} ({machine}), {torch.get_num_threads()} threads "
          f"(OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}), torch {torch.__version__}, "
          f"load average {os.getloadavg()[0]:.1f}" + (f"; {notice}" if notice else ""))
    _print_table(profile_step(G, distance, args.batch, args.repeats), "default path")
    if args.variants:
        _print_table(profile_step(G, distance, args.batch, args.repeats, fused=args.batch != 1),
                     "fused_modconv flipped (" + ("non-fused" if args.batch == 1 else "fused") + ")")
        G_cl = G.to(memory_format=torch.channels_last)
        _print_table(profile_step(G_cl, distance, args.batch, args.repeats, channels_last=True),
                     "channels_last generator and perceptual input")


if __name__ == "__main__":
    main()
