"""Size of a saved pivotal-tuning update next to the generator it modifies, per representation.

For the demo network and for the FFHQ 1024² configuration (randomly initialised: only the
shapes matter), writes the generator and each update (``full``: every synthesis parameter;
``lora`` rank r: low-rank factors of the convolution weights plus the small vectors) to a
temporary folder with the project's writers and reports the file sizes.

With ``--fidelity``, also tunes the off-world images of ``projector.world.offworld`` (W
pivots of ``--pivot-steps``) with each ``--variants`` entry (``full`` or
``lora:RANK:LR_SCALE``), the variants interleaved image by image so that they share the
machine's load, and reports PSNR, perceptual distance and seconds per image.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_tune_size.py --ranks 1 2 4 8 16
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_tune_size.py --fidelity --images 6 --pivot-steps 30 \
        --tune-steps 20 --variants full lora:4:1 lora:4:10 lora:16:10
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from projector import ProjectorConfig, TuneConfig, project, tune
from projector.losses import make_perceptual
from projector.tune import init_update, update_size
from projector.tuned_file import save_tuned
from projector.world.offworld import offworld_set
from stylegan2_core import Generator, GeneratorConfig, from_uint8, load_generator, save_generator


def _variant(text: str, steps: int, stop_distance: float) -> TuneConfig:
    """``full`` or ``lora:RANK:LR_SCALE``."""
    if text == "full":
        return TuneConfig(steps=steps, update="full", locality=False, stop_distance=stop_distance)
    _, rank, scale = text.split(":")
    return TuneConfig(steps=steps, update="lora", rank=int(rank), lora_lr_scale=float(scale), locality=False,
                      stop_distance=stop_distance)


def fidelity(args) -> None:
    """Tune the same pivots with every variant, interleaved per image; print PSNR, distance, time."""
    G = load_generator(args.network)
    distance, _ = make_perceptual("auto")
    kinds = ("headwear", "sticker", "eye_patch", "beard", "noise_jpeg", "photo_blend")  # as bench_inversion's run
    targets = from_uint8(np.stack([x.image for x in offworld_set(args.images, size=G.img_resolution, kinds=kinds)]))
    pivot = project(G, targets, ProjectorConfig(steps=args.pivot_steps), distance=distance)
    figures = {v: [] for v in args.variants}
    for i in range(len(targets)):
        for v in args.variants:
            cfg = _variant(v, args.tune_steps, args.stop_distance)
            r = tune(G, targets[i:i + 1], pivot.ws[i:i + 1], cfg, distance=distance,
                     noise=[m[i:i + 1] for m in pivot.noise], seed=i)
            figures[v].append((float(r.psnr[0]), float(r.distance[0]), r.seconds, float(r.pivot_psnr[0])))
    full = np.mean([f[0] for f in figures.get("full", [])]) if "full" in figures else None
    print(f"\n{len(targets)} off-world images, W pivot {args.pivot_steps} steps (PSNR "
          f"{np.mean([f[3] for f in next(iter(figures.values()))]):.2f} dB), tuning {args.tune_steps} steps, "
          f"early stop at {args.stop_distance:g}, no locality, {distance.name} distance\n")
    print("| update | PSNR dB | vs full | perceptual | s/image |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for v, f in figures.items():
        p = np.mean([x[0] for x in f])
        delta = f"{p - full:+.2f}" if full is not None else "-"
        print(f"| {v} | {p:.2f} | {delta} | {np.mean([x[1] for x in f]):.4f} | {np.mean([x[2] for x in f]):.1f} |")


def _rows(name: str, G, generator_bytes: int, ranks: list[int], folder: Path) -> list[str]:
    rows = []
    for update, rank in [("full", None)] + [("lora", r) for r in ranks]:
        tensors = init_update(G, update, rank or 1)
        path = save_tuned(folder / f"{name}-{update}-{rank}.safetensors", G, tensors)
        size = path.stat().st_size
        label = "full" if rank is None else f"lora r={rank}"
        rows.append(f"| {name} | {label} | {update_size(tensors):,} | {size / 2**20:.2f} | "
                    f"{100 * size / generator_bytes:.1f} % |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--network", default="demo")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    ap.add_argument("--fidelity", action="store_true", help="also tune with each variant and compare")
    ap.add_argument("--images", type=int, default=6)
    ap.add_argument("--pivot-steps", type=int, default=100)
    ap.add_argument("--tune-steps", type=int, default=50)
    ap.add_argument("--variants", nargs="+", default=["full", "lora:1:10", "lora:2:10", "lora:4:10", "lora:8:10"],
                    help="full or lora:RANK:LR_SCALE")
    ap.add_argument("--stop-distance", type=float, default=0.0, help="tuning's early stop (0: every variant runs "
                    "every step, so they compare at one budget)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print("| network | update | values | file MiB | of the generator file |")
    print("| --- | --- | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        G = load_generator(args.network)
        for row in _rows(args.network, G, Path(G.checkpoint.path).stat().st_size, args.ranks, folder):
            print(row)
        big = Generator(GeneratorConfig()).eval().requires_grad_(False)
        generator_bytes = save_generator(big, folder / "ffhq1024.safetensors").stat().st_size
        for row in _rows("FFHQ-config 1024²", big, generator_bytes, args.ranks, folder):
            print(row)
        print(f"\nGenerator files: {args.network} {Path(G.checkpoint.path).stat().st_size / 2**20:.2f} MiB, "
              f"FFHQ-config 1024² {generator_bytes / 2**20:.1f} MiB (native safetensors, float32).")
    if args.fidelity:
        fidelity(args)


if __name__ == "__main__":
    main()
