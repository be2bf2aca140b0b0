#!/usr/bin/env bash
# Continue the demo run on one CUDA GPU for a fixed time.
#
# Same networks and losses as benchmarks/train_demo.sh, at batch 64 (the StyleGAN2-ADA batch
# for small resolutions) instead of 16: on a GPU this tiny model costs about the same per
# step at either size, so four times the images per second. Background workers render the
# world so that the GPU does not wait for OpenCV. R1 gamma and the EMA half-life (in kimg)
# stay as they are, so the run continues smoothly. Checkpoints every 40 kimg and at the end.
# Usage: benchmarks/train_demo_gpu.sh RUN_DIR MINUTES   (RUN_DIR holds checkpoint.safetensors)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
KIMG=${KIMG:-3000}
RUN=${1:?usage: train_demo_gpu.sh RUN_DIR MINUTES}
MINUTES=${2:?usage: train_demo_gpu.sh RUN_DIR MINUTES}
exec "$PY" -m cli train --resume "$RUN" --kimg "$KIMG" --batch 64 --tick 4 --snap 40 --sample-every 40 \
  --workers "${WORKERS:-12}" --device cuda --max-minutes "$MINUTES"
