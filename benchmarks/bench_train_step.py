"""Training step time on the CPU, side by side: activation layouts and huge pages, or network widths.

Each configuration runs in a fresh process (the allocator's state and THP_MEM_ALLOC_ENABLE
are per process), starting from a training checkpoint: ``--warmup`` steps, then ``--steps``
timed steps with the lazy R1 and path-length phases at their usual intervals. With one
checkpoint the rows are the activation layouts with and without huge pages; with several
(e.g. a run and its ``s2edit widen`` copy) the rows are the checkpoints, in the trainer's
default layout. Prints a markdown table.

    python benchmarks/bench_train_step.py --checkpoint runs/demo/checkpoint.safetensors [MORE ...]
        [--steps 48] [--warmup 8] [--threads 2] [--rounds 2]
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYOUTS = ("contiguous_format", "channels_last")


def _worker(args) -> None:
    import torch

    sys.path.insert(0, str(ROOT))
    from projector.training import Trainer
    from projector.training.checkpoint import load_checkpoint

    torch.set_num_threads(args.threads)
    tensors, meta, cfg = load_checkpoint(args.checkpoint[0])
    trainer = Trainer(cfg, "cpu", memory_format=getattr(torch, args.layout))
    trainer.load(tensors, meta)
    for _ in range(args.warmup):
        trainer.step()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        trainer.step()
    seconds = (time.perf_counter() - t0) / args.steps
    syn = trainer.G.synthesis
    print(json.dumps({"ms_per_step": seconds * 1e3, "s_per_kimg": seconds * 1000 / cfg.batch_size,
                      "batch": cfg.batch_size, "resolution": cfg.G.img_resolution,
                      "channels": [cfg.G.synthesis.channels(r) for r in syn.block_resolutions],
                      "G_params": sum(p.numel() for p in trainer.G.parameters())}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, nargs="+", required=True,
                    help="training checkpoint(s), e.g. runs/demo/checkpoint.safetensors")
    ap.add_argument("--steps", type=int, default=48)
    ap.add_argument("--warmup", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2, help="every configuration runs this many times, interleaved")
    ap.add_argument("--layout", choices=LAYOUTS, help=argparse.SUPPRESS)  # set in the worker processes
    args = ap.parse_args()
    if args.layout:
        _worker(args)
        return

    if len(args.checkpoint) == 1:
        configs = [(args.checkpoint[0], layout, thp) for thp in (False, True) for layout in LAYOUTS]
    else:
        configs = [(path, "channels_last", False) for path in args.checkpoint]
    results = {c: [] for c in configs}
    info = {}
    for _ in range(args.rounds):
        for path, layout, thp in configs:
            env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
            env.pop("THP_MEM_ALLOC_ENABLE", None)
            if thp:
                env["THP_MEM_ALLOC_ENABLE"] = "1"
            out = subprocess.run([sys.executable, __file__, "--layout", layout, "--checkpoint", str(path),
                                  "--steps", str(args.steps), "--warmup", str(args.warmup),
                                  "--threads", str(args.threads)],
                                 env=env, check=True, capture_output=True, text=True).stdout
            info = json.loads(out.strip().splitlines()[-1])
            results[(path, layout, thp)].append(info)

    import torch

    cpu = platform.processor() or platform.machine()
    names = ", ".join(str(p) for p in args.checkpoint)
    print(f"Training step, {info['resolution']} px, batch {info['batch']}, CPU, {args.threads} threads, "
          f"torch {torch.__version__}, {cpu}, {os.cpu_count()} cores; {args.steps} steps after {args.warmup} "
          f"warm-up, median of {args.rounds} interleaved runs, from {names}")
    print()
    baseline = statistics.median(r["ms_per_step"] for r in results[configs[0]])
    if len(args.checkpoint) == 1:
        print("| activation layout | THP_MEM_ALLOC_ENABLE | ms / step | s / kimg | speed-up |")
        print("| --- | --- | ---: | ---: | ---: |")
    else:
        print("| checkpoint | G channels (4 px ... full) | G parameters | ms / step | s / kimg | time vs first |")
        print("| --- | --- | ---: | ---: | ---: | ---: |")
    for (path, layout, thp), runs in results.items():
        ms = statistics.median(r["ms_per_step"] for r in runs)
        if len(args.checkpoint) == 1:
            print(f"| {layout} | {'1' if thp else 'unset'} | {ms:.0f} | {ms / info['batch']:.1f} | "
                  f"{baseline / ms:.2f}x |")
        else:
            channels = "/".join(str(c) for c in runs[0]["channels"])
            print(f"| {path} | {channels} | {runs[0]['G_params'] / 1e6:.2f}M | {ms:.0f} | "
                  f"{ms / runs[0]['batch']:.1f} | {ms / baseline:.2f}x |")


if __name__ == "__main__":
    main()
