"""Generator forward and forward+backward (w.r.t. ws, as one projector step) timings.

Default: the 256 px configuration (channel_base 16384, channel_max 512, z/w 512,
8 mapping layers), batch 1, CPU with 2 threads, fused vs non-fused modulated
convolution side by side in one run. Prints a markdown table.

    python benchmarks/bench_generator.py [--resolution 256] [--batch 1] [--threads 2] [--repeats 7]
"""

import argparse
import platform
import statistics
import time

import torch

from stylegan2_core import Generator, GeneratorConfig, MappingConfig, SynthesisConfig


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = GeneratorConfig(z_dim=512, w_dim=512, img_resolution=args.resolution,
                          mapping=MappingConfig(num_layers=8),
                          synthesis=SynthesisConfig(channel_base=16384, channel_max=512))
    G = Generator(cfg).eval().requires_grad_(False).to(args.device)
    ws = G.mapping(torch.randn(args.batch, 512, device=args.device))

    rows = []
    for fused in (True, False):
        def forward(fused=fused):
            with torch.no_grad():
                G.synthesis(ws, noise_mode="const", fused_modconv=fused)

        def forward_backward(fused=fused):
            w = ws.detach().clone().requires_grad_(True)
            G.synthesis(w, noise_mode="const", fused_modconv=fused).square().mean().backward()

        rows.append((("fused" if fused else "non-fused") + " modconv",
                     _time(forward, args.repeats), _time(forward_backward, args.repeats)))

    cpu = platform.processor() or platform.machine()
    print(f"Generator {args.resolution}px, batch {args.batch}, device {args.device}, {args.threads} threads, "
          f"torch {torch.__version__}, {cpu}, median of {args.repeats}")
    print()
    print("| path | forward (ms) | forward+backward w.r.t. ws (ms) |")
    print("| --- | ---: | ---: |")
    for name, fwd, fb in rows:
        print(f"| {name} | {fwd * 1e3:.1f} | {fb * 1e3:.1f} |")


if __name__ == "__main__":
    main()
