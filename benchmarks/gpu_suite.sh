#!/usr/bin/env bash
# Every check that needs a CUDA GPU, in one go, sized for one 10-minute device slot:
#   1. the CUDA op tests (kernel build, parity with the reference path, gradcheck, fixtures);
#   2. the config-f benchmark of CUDA ops against reference ops (bench_cuda_ops.py);
#   3. projection at 1024² on the config-f generator (num_fp16_res 4, conv_clamp 256, random
#      weights, LPIPS with a random VGG16): official preset at batch 1, fast preset at batch 1, 8,
#      32 (bench_projector.py gpu): seconds per image, peak memory, final distance;
#   3b. the encoder at 1024² on that network (bench_encoder.py): inversion ms/image, training images/s;
#   4. the CLI smoke test a user's first GPU run would be, on that network: project (W, W+, the
#      fast preset, --tune), directions + edit, mix, video, each output checked for finite values.
# Logs and tables go to one folder; each part has its own time limit and the suite goes on
# after a failure, so one run reports everything.
#
#   bash benchmarks/gpu_suite.sh [output-dir]            # default: out/gpu_suite/ (git-ignored)
#   bash benchmarks/gpu_suite.sh --dry-run [output-dir]  # CPU, tiny network, few steps: checks the script
#   PYTHON=/path/to/python bash benchmarks/gpu_suite.sh
#
# Exits non-zero if torch sees no GPU (unless --dry-run) or if any part fails.
set -uo pipefail
cd "$(dirname "$0")/.."

DRY_RUN=0
if [ "${1:-}" = "--dry-run" ]; then DRY_RUN=1; shift; fi
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
OUT_DIR=${1:-out/gpu_suite}
mkdir -p "$OUT_DIR"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

# Time limits per part (seconds) add up to 650 s on the GPU, and the parts usually end well inside
# them, so a run fits one 10-minute slot; the CPU dry run is slower.
if [ "$DRY_RUN" = 1 ]; then
    DEVICE=cpu RES=32 CHANNEL_BASE=1024 BATCHES="1 2" STEPS_OVERRIDE="--steps 3" CLI_STEPS=2
    LIMIT_PROJECTION=600 LIMIT_ENCODER=600 LIMIT_CLI=900
else
    DEVICE=cuda RES=1024 CHANNEL_BASE=32768 BATCHES="1 8 32" STEPS_OVERRIDE="" CLI_STEPS=20
    LIMIT_PROJECTION=230 LIMIT_ENCODER=60 LIMIT_CLI=150
    "$PYTHON" - <<'PY' || exit 1
import sys
import torch
if not torch.cuda.is_available():
    sys.exit(f"gpu_suite: torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device")
print(f"gpu_suite: {torch.cuda.get_device_name()}, torch {torch.__version__}, CUDA {torch.version.cuda}")
PY
fi

status=0
part() {  # part NAME SECONDS COMMAND...: run with a time limit, log to $OUT_DIR/NAME.log
    local name=$1 limit=$2; shift 2
    local t0=$SECONDS
    timeout "$limit" "$@" >"$OUT_DIR/$name.log" 2>&1
    local rc=$?
    echo "gpu_suite: $name exit $rc ($((SECONDS - t0)) s)" | tee -a "$OUT_DIR/summary.txt"
    [ $rc -eq 0 ] || { status=1; tail -n 5 "$OUT_DIR/$name.log"; }
}

# 1-2. Kernels (GPU only; the dry run only collects the tests).
if [ "$DRY_RUN" = 1 ]; then
    part ops_tests 120 "$PYTHON" -m pytest tests/test_ops_cuda -q --collect-only
else
    part ops_tests 150 "$PYTHON" -m pytest tests/test_ops_cuda -q -rs --junitxml="$OUT_DIR/pytest.xml"
    part ops_bench 60 "$PYTHON" benchmarks/bench_cuda_ops.py --out "$OUT_DIR/bench.md"
fi

# 3. Projection speed at 1024² (official batch 1, fast batch 1/8/32).
# shellcheck disable=SC2086
part projection "$LIMIT_PROJECTION" "$PYTHON" benchmarks/bench_projector.py gpu --device "$DEVICE" --resolution "$RES" \
    --channel-base "$CHANNEL_BASE" --batches $BATCHES $STEPS_OVERRIDE --out "$OUT_DIR/projection.md"

# 3b. Encoder inversion time (batch 1 and 8) and training throughput at 1024², config-f random weights.
part encoder_bench "$LIMIT_ENCODER" "$PYTHON" benchmarks/bench_encoder.py --device "$DEVICE" --resolution "$RES" \
    --channel-base "$CHANNEL_BASE"

# 4. CLI smoke test on the same kind of network.
NET="$OUT_DIR/config_f_random.safetensors"
SMOKE="$OUT_DIR/smoke"
rm -rf "$SMOKE" "$NET"
part cli_smoke "$LIMIT_CLI" bash -c '
set -euo pipefail
PY=$1 NET=$2 SMOKE=$3 DEVICE=$4 RES=$5 CB=$6 STEPS=$7
"$PY" - "$NET" "$RES" "$CB" <<"PY"
import sys, torch
sys.path.insert(0, "benchmarks")
from bench_projector import config_f
from stylegan2_core import Generator, save_generator, z_from_seeds, to_uint8
from projector.images import save_image
cfg = config_f(int(sys.argv[2]), int(sys.argv[3]))
torch.manual_seed(0)
G = Generator(cfg).eval()
save_generator(G, sys.argv[1])
with torch.no_grad():
    save_image(sys.argv[1] + ".target.png", G(z_from_seeds([3], G.z_dim), noise_mode="const")[0])
PY
run() { "$PY" -m cli "$@" --device "$DEVICE"; }
run project "$NET.target.png" --network "$NET" --preset official --steps "$STEPS" --loss effnet --outdir "$SMOKE/w"
run project "$NET.target.png" --network "$NET" --preset official --steps "$STEPS" --loss effnet --space w+ \
    --outdir "$SMOKE/wplus"
run project "$NET.target.png" --network "$NET" --preset fast --steps "$STEPS" --refine-steps "$STEPS" --loss effnet \
    --outdir "$SMOKE/fast"
run project "$NET.target.png" --network "$NET" --preset official --steps "$STEPS" --loss effnet --tune \
    --outdir "$SMOKE/tune"
run directions sefa --network "$NET" --output "$SMOKE/sefa.npz"
run edit "$SMOKE/w/"*/latent.safetensors --network "$NET" -d "$SMOKE/sefa.npz" --strength=-2,2 --outdir "$SMOKE/edit"
run mix --network "$NET" --rows 0,1 --cols 2 --styles coarse --outdir "$SMOKE/mix"
run video --network "$NET" --seeds 0,1 --frames 4 --output "$SMOKE/walk.mp4"
"$PY" - "$SMOKE" <<"PY"
import sys
from pathlib import Path
import numpy as np
import torch
from safetensors.torch import load_file
from projector.images import read_image
root = Path(sys.argv[1])
latents = sorted(root.rglob("latent.safetensors"))
images = sorted(root.rglob("*.png"))
assert latents and images and (root / "walk.mp4").stat().st_size > 0, "missing outputs"
for path in latents:
    assert all(torch.isfinite(t).all() for t in load_file(path).values()), f"{path}: non-finite values"
for path in images:
    assert np.isfinite(read_image(path)).all(), f"{path}: non-finite pixels"
print(f"smoke outputs finite: {len(latents)} latent files, {len(images)} images, walk.mp4")
PY
' _ "$PYTHON" "$NET" "$SMOKE" "$DEVICE" "$RES" "$CHANNEL_BASE" "$CLI_STEPS"

echo "gpu_suite: results in $OUT_DIR/ (exit $status)"
exit $status
