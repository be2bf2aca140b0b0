#!/usr/bin/env bash
# Continue the demo run on one CUDA GPU for a fixed time.
#
# Same networks and losses as benchmarks/train_demo.sh, by default at batch 64 (the StyleGAN2-ADA batch
# for small resolutions) instead of 16, to give a GPU more work per step. Background workers
# render the world so that the GPU does not wait for OpenCV. R1 gamma and the EMA half-life
# (in kimg) stay as they are. Checkpoints every 40 kimg and at the end.
# Measured on one H100 (torch 2.11, reference ops, 12 workers): median 2.69 s/kimg over 83 kimg,
# against 33 s/kimg for the CPU run at batch 16 on the 2-core VM. On one H200 (reference ops, 12 workers):
# median 1.91 s/kimg over 237 kimg in 8.6 minutes, then 1.84 s/kimg over 126 kimg in a second call.
# Again on one H100 (reference ops, 12 workers, lr 0.0005 from the config; a later session): median
# 1.91 s/kimg over 255 kimg in 8.9 minutes, then 1.99 s/kimg over 114 kimg in 3.9 minutes.
# On one H200 (reference ops, 12 workers, lr 0.0005; a later session): median 1.85 s/kimg over
# 261 kimg in 8.9 minutes, then 1.74 s/kimg over 119 kimg in 3.7 minutes.
# Smaller batches on one H200 (reference ops, 12 workers; a later session): BATCH=16, median
# 7.89 s/kimg over 63 kimg in 8.9 minutes; BATCH=32, median 4.08 s/kimg over 52 kimg in 3.6
# minutes. Steps at batch 16 and 32 cost nearly what batch-64 steps do, so they see fewer images.
# Back on the CPU, resume with train_demo.sh --batch 16 --tick 1 --snap 4 --sample-every 10.
# Usage: [BATCH=64] [KIMG=6000] benchmarks/train_demo_gpu.sh RUN_DIR MINUTES   (RUN_DIR holds checkpoint.safetensors)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
KIMG=${KIMG:-6000}
BATCH=${BATCH:-64}
RUN=${1:?usage: train_demo_gpu.sh RUN_DIR MINUTES}
MINUTES=${2:?usage: train_demo_gpu.sh RUN_DIR MINUTES}
exec "$PY" -m cli train --resume "$RUN" --kimg "$KIMG" --batch "$BATCH" --tick 4 --snap 40 --sample-every 40 \
  --workers "${WORKERS:-12}" --device cuda --max-minutes "$MINUTES"
