"""Generator forward and forward+backward (w.r.t. ws, as one projector step) timings.

Default: the 256 px configuration (channel_base 16384, channel_max 512, z/w 512,
8 mapping layers), batch 1, CPU with 2 threads, fused vs non-fused modulated
convolution side by side in one run. ``--arch stylegan3-t`` / ``stylegan3-r`` times the
StyleGAN3 generator instead (the official 256 px training configs: channel_base 16384 and
channel_max 512 for T, doubled for R; its reference filtered_lrelu path). Prints a markdown table.

    python benchmarks/bench_generator.py [--arch stylegan2] [--resolution 256] [--batch 1] [--threads 2] [--repeats 7]
"""

import argparse
import platform
import statistics
import time

import torch

from stylegan2_core import (
    Generator,
    GeneratorConfig,
    MappingConfig,
    StyleGAN3Config,
    StyleGAN3Generator,
    StyleGAN3SynthesisConfig,
    SynthesisConfig,
)


def _time(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def _generator(arch: str, resolution: int):
    if arch == "stylegan2":
        return Generator(GeneratorConfig(z_dim=512, w_dim=512, img_resolution=resolution,
                                         mapping=MappingConfig(num_layers=8),
                                         synthesis=SynthesisConfig(channel_base=16384, channel_max=512)))
    radial = arch == "stylegan3-r"
    synthesis = StyleGAN3SynthesisConfig(channel_base=32768 if radial else 16384, channel_max=1024 if radial else 512,
                                         conv_kernel=1 if radial else 3, use_radial_filters=radial)
    return StyleGAN3Generator(StyleGAN3Config(img_resolution=resolution, synthesis=synthesis))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--arch", choices=["stylegan2", "stylegan3-t", "stylegan3-r"], default="stylegan2")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    G = _generator(args.arch, args.resolution).eval().requires_grad_(False).to(args.device)
    ws = G.mapping(torch.randn(args.batch, 512, device=args.device), None)

    rows = []
    for fused in (True, False) if args.arch == "stylegan2" else (None,):
        def forward(fused=fused):
            with torch.no_grad():
                G.synthesis(ws, noise_mode="const", fused_modconv=fused)

        def forward_backward(fused=fused):
            w = ws.detach().clone().requires_grad_(True)
            G.synthesis(w, noise_mode="const", fused_modconv=fused).square().mean().backward()

        rows.append((args.arch if fused is None else ("fused" if fused else "non-fused") + " modconv",
                     _time(forward, args.repeats), _time(forward_backward, args.repeats)))

    cpu = platform.processor() or platform.machine()
    print(f"Generator ({args.arch}) {args.resolution}px, batch {args.batch}, device {args.device}, {args.threads} threads, "
          f"torch {torch.__version__}, {cpu}, median of {args.repeats}")
    print()
    print("| path | forward (ms) | forward+backward w.r.t. ws (ms) |")
    print("| --- | ---: | ---: |")
    for name, fwd, fb in rows:
        print(f"| {name} | {fwd * 1e3:.1f} | {fb * 1e3:.1f} |")


if __name__ == "__main__":
    main()
