#!/usr/bin/env bash
# Every check that needs a CUDA GPU, in one go: the CUDA op tests (kernel build, compile checks,
# parity with the reference path, gradcheck, the fixture generators with CUDA ops), then the
# config-f benchmark of CUDA ops against reference ops. Logs and the table go to one folder.
#
#   bash benchmarks/gpu_suite.sh [output-dir]       # default: out/gpu_suite/ (git-ignored)
#   PYTHON=/path/to/python bash benchmarks/gpu_suite.sh
#
# Exits non-zero if torch sees no GPU, if any test fails, or if the benchmark fails.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
OUT_DIR=${1:-out/gpu_suite}
mkdir -p "$OUT_DIR"

"$PYTHON" - <<'PY' || exit 1
import sys
import torch
if not torch.cuda.is_available():
    sys.exit(f"gpu_suite: torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device")
print(f"gpu_suite: {torch.cuda.get_device_name()}, torch {torch.__version__}, CUDA {torch.version.cuda}")
PY

status=0
"$PYTHON" -m pytest tests/test_ops_cuda -q -rs --junitxml="$OUT_DIR/pytest.xml" 2>&1 | tee "$OUT_DIR/pytest.log" || status=1
"$PYTHON" benchmarks/bench_cuda_ops.py --out "$OUT_DIR/bench.md" 2>&1 | tee "$OUT_DIR/bench.log" || status=1
echo "gpu_suite: results in $OUT_DIR/ (exit $status)"
exit $status
