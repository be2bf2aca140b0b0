#!/usr/bin/env bash
# Continue the demo run on one CUDA GPU for a fixed time.
#
# Same networks and losses as benchmarks/train_demo.sh, by default at batch 64 (the StyleGAN2-ADA batch
# for small resolutions) instead of 16, to give a GPU more work per step. Background workers
# render the world so that the GPU does not wait for OpenCV. R1 gamma and the EMA half-life
# (in kimg) stay as they are. Checkpoints every 40 kimg and at the end.
# A step costs about the same at batch 16, 32 and 64 on the H200 (overhead-bound), so
# batch 64 sees the most images per hour. Timings of every GPU segment: docs/benchmarks.md.
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
