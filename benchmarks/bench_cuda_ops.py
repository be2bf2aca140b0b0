"""Time the generator with the bundled CUDA kernels against the reference ops, in one run.

Synthesis forward (no grad) and forward + backward with respect to ws (a projector step) at
config-f (1024 px, 512 channels at the low resolutions, conv clamp 256, the four highest
resolutions in float16), for batch 1 and 8, with float32 layers (``force_fp32``) and with the
float16 layers. CUDA timings use CUDA events after warm-up and report the median; the table
also gives the peak memory of the backward pass and the largest difference between the CUDA
and the reference images. Prints a markdown table (and writes it with ``--out``).

    python benchmarks/bench_cuda_ops.py                                  # a CUDA machine
    python benchmarks/bench_cuda_ops.py --device cpu --resolution 64     # smoke run, reference ops only
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from stylegan2_core import Generator, GeneratorConfig, MappingConfig, SynthesisConfig, ops  # noqa: E402
from stylegan2_core.ops import _plugin  # noqa: E402

IMPLS = ("ref", "cuda")


def build_generator(resolution: int, channel_base: int, channel_max: int, device: torch.device) -> Generator:
    """A randomly initialised config-f generator (the timings do not depend on trained weights)."""
    cfg = GeneratorConfig(
        z_dim=512, w_dim=512, img_resolution=resolution, mapping=MappingConfig(num_layers=8),
        synthesis=SynthesisConfig(channel_base=channel_base, channel_max=channel_max, num_fp16_res=4, conv_clamp=256),
    )
    torch.manual_seed(0)
    return Generator(cfg).eval().requires_grad_(False).to(device)


def median_ms(fn, device: torch.device, warmup: int, iters: int) -> float:
    """Median wall time of ``fn()`` in milliseconds: CUDA events on a GPU, perf_counter on CPU."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize(device)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize(device)
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def measure(G, ws, probe, impl, force_fp32, device, warmup, iters) -> dict:
    """Forward and forward+backward timings of one configuration, its backward peak memory and its image."""

    def forward():
        with torch.no_grad(), ops.use_impl(impl):
            return G.synthesis(ws, noise_mode="const", force_fp32=force_fp32)

    def forward_backward():
        w = ws.detach().requires_grad_(True)
        with ops.use_impl(impl):
            img = G.synthesis(w, noise_mode="const", force_fp32=force_fp32)
        return torch.autograd.grad((img.float() * probe).sum(), w)[0]

    result = {"image": forward().float(), "fwd": median_ms(forward, device, warmup, iters)}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    result["fwd_bwd"] = median_ms(forward_backward, device, warmup, iters)
    result["peak_mib"] = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return result


def _cell(value, fmt="{:.2f}"):
    return "n/a" if value is None else value if isinstance(value, str) else fmt.format(value)


def run(args) -> str:
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench_cuda_ops: --device cuda, but torch sees no CUDA device (use --device cpu)")
    unavailable = {}
    if device.type == "cuda":
        for op in _plugin.OPS:  # build the kernels before any timing
            ok, reason = _plugin.available(op)
            if not ok:
                unavailable[op] = reason
    else:
        unavailable["all"] = "CUDA kernels need a CUDA device"
    precisions = args.precisions or (["fp32", "fp16"] if device.type == "cuda" else ["fp32"])

    G = build_generator(args.resolution, args.channel_base, args.channel_max, device)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        tf32 = torch.backends.cudnn.allow_tf32
        header = f"GPU: {name}, torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN TF32 {tf32}"
    else:
        cpu = platform.processor() or platform.machine()
        header = f"CPU: {cpu}, torch threads: {torch.get_num_threads()}, torch {torch.__version__}"
    lines = [
        f"### Generator synthesis, {args.resolution}x{args.resolution}, CUDA ops vs reference ops",
        "",
        f"{header}; median of {args.iters} after {args.warmup} warm-up; fp16 = the float16 layers of "
        f"num_fp16_res=4; fwd+bwd = gradient w.r.t. ws.",
    ]
    if unavailable:
        lines.append(f"CUDA ops not run: {'; '.join(f'{k}: {v}' for k, v in unavailable.items())}")
    lines += [
        "",
        "| layers | batch | ref fwd ms | cuda fwd ms | speed-up | ref fwd+bwd ms | cuda fwd+bwd ms | speed-up "
        "| ref / cuda peak MiB | max abs diff |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for precision in precisions:
        for batch in args.batch_sizes:
            rng = torch.Generator().manual_seed(batch)
            z = torch.randn([batch, G.z_dim], generator=rng).to(device)
            probe = torch.randn([batch, 3, args.resolution, args.resolution], generator=rng).to(device)
            with torch.no_grad():
                ws = G.mapping(z)
            results = {}
            for impl in IMPLS:
                if impl == "cuda" and unavailable:
                    continue
                try:
                    results[impl] = measure(G, ws, probe, impl, precision == "fp32", device, args.warmup, args.iters)
                except torch.cuda.OutOfMemoryError:
                    results[impl] = {"fwd": "OOM", "fwd_bwd": "OOM", "peak_mib": "OOM", "image": None}
                if device.type == "cuda":
                    torch.cuda.empty_cache()
            ref, cuda = results.get("ref", {}), results.get("cuda", {})

            def speedup(key, ref=ref, cuda=cuda):
                a, b = ref.get(key), cuda.get(key)
                return f"{a / b:.2f}x" if isinstance(a, float) and isinstance(b, float) else None

            diff = None
            if ref.get("image") is not None and cuda.get("image") is not None:
                diff = f"{(ref['image'] - cuda['image']).abs().max().item():.1e}"
            peak = f"{_cell(ref.get('peak_mib'), '{:.0f}')} / {_cell(cuda.get('peak_mib'), '{:.0f}')}"
            lines.append(
                f"| {precision} | {batch} "
                f"| {_cell(ref.get('fwd'))} | {_cell(cuda.get('fwd'))} | {_cell(speedup('fwd'))} "
                f"| {_cell(ref.get('fwd_bwd'))} | {_cell(cuda.get('fwd_bwd'))} | {_cell(speedup('fwd_bwd'))} "
                f"| {peak} | {_cell(diff)} |"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--resolution", type=int, default=1024)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--precisions", nargs="+", choices=["fp32", "fp16"],
                        help="layer precisions (default: fp32 fp16 on CUDA, fp32 on CPU)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--channel-base", type=int, default=32768, help="config-f: 32768")
    parser.add_argument("--channel-max", type=int, default=512, help="config-f: 512")
    parser.add_argument("--out", type=Path, help="also write the markdown table here")
    args = parser.parse_args(argv)
    table = run(args)
    print(table)
    if args.out:
        args.out.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
