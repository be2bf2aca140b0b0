"""Size of a saved pivotal-tuning update next to the generator it modifies, per representation.

For the demo network and for the FFHQ 1024² configuration (randomly initialised: only the
shapes matter), writes the generator and each update (``full``: every synthesis parameter;
``lora`` rank r: low-rank factors of the convolution weights plus the small vectors) to a
temporary folder with the project's writers and reports the file sizes. Fidelity and time of
each representation come from ``bench_inversion.py``, which tunes with them side by side.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_tune_size.py --ranks 1 2 4 8 16
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from projector.tune import init_update, save_tuned, update_size
from stylegan2_core import Generator, GeneratorConfig, load_generator, save_generator


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
    args = ap.parse_args()
    torch.set_num_threads(2)
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


if __name__ == "__main__":
    main()
