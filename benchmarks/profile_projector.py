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

``--sample-batches`` times instead what the fast preset does before its first step: rendering
W samples with constant noise, per image, at several batch sizes, on ``--network`` and on
random-weight networks at ``--sample-resolutions`` (channel_base 16384, channel_max 512).

    python benchmarks/profile_projector.py --network demo --threads 1
    python benchmarks/profile_projector.py --network demo --threads 2 --variants
    python benchmarks/profile_projector.py --threads 1 --sample-batches --repeats 3
"""

import argparse
import os
import platform
import statistics
import time

import torch

from projector.losses import make_perceptual, noise_regularizer
from stylegan2_core import (
    Generator,
    GeneratorConfig,
    MappingConfig,
    SynthesisConfig,
    load_generator,
    z_from_seeds,
    z_samples,
)

__all__ = ["main", "profile_sample_batches", "profile_step"]


def _interleaved_medians(parts: dict, repeats: int, device) -> dict[str, float]:
    """Median seconds of each callable, timed round-robin (one of each per round) so that every
    part sees the same machine load."""
    times = {name: [] for name in parts}
    for fn in parts.values():  # warm-up
        fn()
    for _ in range(repeats):
        for name, fn in parts.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(v) for name, v in times.items()}


def profile_step(G, distance, batch: int = 1, repeats: int = 10, fused: bool = False,
                 channels_last: bool = True) -> dict[str, float]:
    """Seconds per part of one projection step (see the module docstring). The defaults are
    ``project``'s path: non-fused modulated convolution, channels-last perceptual input."""
    device = G.mapping.w_avg.device
    with torch.no_grad():
        target = G(z_from_seeds(list(range(batch)), G.z_dim).to(device), noise_mode="const")
    ws = G.mapping.w_avg.reshape(1, 1, -1).repeat(batch, G.num_ws, 1).requires_grad_(True)
    noise = [torch.randn([batch, 1, h, w], device=device).requires_grad_(True) for h, w in G.synthesis.noise_shapes()]
    small = target if target.shape[-1] <= 256 else torch.nn.functional.interpolate(target, 256, mode="area")

    def loss_input(x):
        return x.contiguous(memory_format=torch.channels_last) if channels_last else x

    with torch.no_grad():
        target_features = distance.embed(loss_input(small))
    image = small.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([ws, *noise], lr=0.01)
    gens = [torch.Generator().manual_seed(i) for i in range(batch)]

    def synth_forward():
        with torch.no_grad():
            G.synthesis(ws, noise=noise, fused_modconv=fused)

    def synth_backward():
        G.synthesis(ws, noise=noise, fused_modconv=fused).square().sum().backward()

    def perceptual():
        distance.distance(distance.embed(loss_input(image)), target_features).sum().backward()

    def regulariser():
        noise_regularizer(noise).sum().backward()

    def optimizer_step():
        optimizer.step()
        with torch.no_grad():
            for m in noise:
                m -= m.mean(dim=(1, 2, 3), keepdim=True)
                m *= m.square().mean(dim=(1, 2, 3), keepdim=True).rsqrt()

    def latent_noise():
        for group in optimizer.param_groups:
            group["lr"] = 0.01
        return torch.cat([torch.randn([1, 1, ws.shape[-1]], generator=g) for g in gens]).to(device)

    def whole_step():  # the body of project's loop
        w = ws + latent_noise() * 0.01
        synth = G.synthesis(w, noise=noise, fused_modconv=fused)
        x = synth if synth.shape[-1] <= 256 else torch.nn.functional.interpolate(synth, 256, mode="area")
        loss = distance.distance(distance.embed(loss_input(x)), target_features) + 1e5 * noise_regularizer(noise)
        optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()
        optimizer_step()

    return _interleaved_medians({
        "generator forward": synth_forward,
        "generator fwd+bwd": synth_backward,
        "perceptual fwd+bwd": perceptual,
        "noise regulariser fwd+bwd": regulariser,
        "optimizer (Adam + renorm)": optimizer_step,
        "latent noise + schedule": latent_noise,
        "whole step": whole_step,
    }, repeats, device)


def profile_sample_batches(G, sizes=(1, 2, 4, 8, 16), count: int = 16, repeats: int = 3) -> dict[int, float]:
    """Seconds per image to render ``count`` W samples with constant noise in batches of each size
    (how the fast preset draws the samples it ranks), timed round-robin."""
    device = G.mapping.w_avg.device
    with torch.no_grad():
        ws = G.mapping(z_samples(count, G.z_dim, 123).to(device), None)[:, :1].expand(-1, G.num_ws, -1)

    def render(size):
        def run():
            with torch.no_grad():
                for chunk in ws.split(size):
                    G.synthesis(chunk, noise_mode="const", fused_modconv=False)
        return run

    medians = _interleaved_medians({size: render(size) for size in sizes}, repeats, device)
    return {size: seconds / count for size, seconds in medians.items()}


def _random_network(resolution: int, device) -> Generator:
    torch.manual_seed(0)
    cfg = GeneratorConfig(z_dim=512, w_dim=512, img_resolution=resolution, mapping=MappingConfig(num_layers=8),
                          synthesis=SynthesisConfig(channel_base=16384, channel_max=512))
    return Generator(cfg).eval().requires_grad_(False).to(device)


def _print_table(parts: dict[str, float], title: str) -> None:
    whole = parts["whole step"]
    accounted = sum(v for k, v in parts.items() if k not in ("generator forward", "whole step"))
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
                    help="also time the previous path (fused modulated convolution, contiguous perceptual input)")
    ap.add_argument("--sample-batches", action="store_true",
                    help="time rendering the fast preset's initial W samples at batch sizes 1-16 instead")
    ap.add_argument("--sample-resolutions", type=int, nargs="*", default=[128, 256])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    G = load_generator(args.network, device=device)
    distance, notice = make_perceptual(args.loss, device=device)
    machine = torch.cuda.get_device_name() if device.type == "cuda" else (platform.processor() or platform.machine())
    if args.sample_batches:
        print(f"Rendering initial W samples (16 per size, median of {args.repeats}), device {args.device} ({machine}), "
              f"{torch.get_num_threads()} threads, torch {torch.__version__}, load average {os.getloadavg()[0]:.1f}\n")
        sizes = (1, 2, 4, 8, 16)
        print("| network | " + " | ".join(f"batch {b}: ms / image" for b in sizes) + " |")
        print("| --- |" + " ---: |" * len(sizes))
        nets = [(f"{args.network} ({G.img_resolution} px)", G)] + [
            (f"random {r} px", _random_network(r, device)) for r in args.sample_resolutions]
        for name, net in nets:
            per_image = profile_sample_batches(net, sizes, repeats=args.repeats)
            print(f"| {name} | " + " | ".join(f"{per_image[b] * 1e3:.1f}" for b in sizes) + " |", flush=True)
        return
    print(f"Projection step profile: network {args.network} ({G.img_resolution}px), loss {distance.name}, "
          f"batch {args.batch}, device {args.device} ({machine}), {torch.get_num_threads()} threads "
          f"(OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}), torch {torch.__version__}, "
          f"load average {os.getloadavg()[0]:.1f}" + (f"; {notice}" if notice else ""))
    _print_table(profile_step(G, distance, args.batch, args.repeats),
                 "project's path (non-fused modulated convolution, channels-last perceptual input)")
    if args.variants:
        _print_table(profile_step(G, distance, args.batch, args.repeats, fused=True, channels_last=False),
                     "the previous single-image path (fused modulated convolution, contiguous perceptual input)")


if __name__ == "__main__":
    main()
