#!/usr/bin/env bash
# Train (or continue training) the demo model on the procedural world, on the CPU.
#
# Config: 64x64, z = w = 128, 4 mapping layers, channel_base 2048 / channel_max 64
# (64 channels from 4x4 to 32x32, 32 at 64x64; G 0.46M, D 0.37M parameters), batch 16.
# Measured on 2 CPU threads: ~33 s/kimg (channels_last trainer), so ~105 kimg per CPU
# hour. The paper-sized alternatives measured 620 s/kimg (channel_base 4096, max 128)
# and 1800 s/kimg (8192, max 256): a few kimg per session, far too few for a GAN.
# R1 gamma 0.05 and an EMA half-life of 5 kimg with ramp-up 0.05 follow the official
# heuristics for 64 px at batch 16 (gamma = 0.0002 * res^2 / batch, ema = batch * 10 / 32);
# everything else is the paper's config, except late learning-rate decays: from 2008.0 kimg the run
# continued at lr 0.0005, from 5261.4 kimg at 0.00025, from 11407.6 kimg at 0.000125 and from
# 12757.5 kimg at 0.0000625 (each resumed once with --lr; the checkpoint's config keeps it).
# At 13268.9 kimg G was widened to channel_max 128 (`s2edit widen --cmax 128`: 128 channels
# from 4x4 to 16x16, G 1.13M parameters, same images) and continued at lr 0.000125; a fresh
# run below starts narrow.
#
# Run it again in every session: it resumes from runs/demo/checkpoint.safetensors when that
# exists (exact continuation; a checkpoint is written every 4 kimg, about 3 minutes), else
# from the committed training/demo/checkpoint.safetensors, which carries the run from one
# machine to the next (copy the latest checkpoint there before committing).
# Extra arguments go to `s2edit train`, e.g. `--max-minutes 90` to stop with a checkpoint
# before a session ends.
# Usage: nohup benchmarks/train_demo.sh [--max-minutes M] > runs/demo.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=2
PY=${PY:-.venv/bin/python}
KIMG=${KIMG:-300}
if [[ ! -f runs/demo/checkpoint.safetensors && -f training/demo/checkpoint.safetensors ]]; then
  mkdir -p runs/demo && cp training/demo/checkpoint.safetensors runs/demo/
fi
if [[ -f runs/demo/checkpoint.safetensors ]]; then
  exec "$PY" -m cli train --resume runs/demo --kimg "$KIMG" --threads 2 --device cpu "$@"
fi
exec "$PY" -m cli train --data world --resolution 64 --kimg "$KIMG" \
  --z-dim 128 --map 4 --cbase 2048 --cmax 64 --batch 16 \
  --gamma 0.05 --ema-kimg 5 --ema-rampup 0.05 \
  --tick 1 --snap 4 --sample-every 10 \
  --outdir runs --name demo --threads 2 --device cpu "$@"
