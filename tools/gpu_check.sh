#!/usr/bin/env bash
# The GPU check, in one call of about five minutes on a machine with a CUDA device and PyTorch:
#   1. the CUDA tests (tests/test_cuda.py: the CRD step against the CPU's, a short AMP +
#      channels-last run with a disk teacher cache, its student loaded on the CPU);
#   2. the default training step per precision (fp32, AMP) and memory layout (contiguous,
#      channels-last): ms per step, samples/s, CRD's share of the step, peak memory
#      (tools/bench_step.py);
#   3. a 2-epoch run of the default experiment (crossmodal-train), timed.
# Where pip cannot download, first run tools/gpu_wheels.sh on a machine that can and bring .whl/
# along: the wheels are installed into a private folder. The log goes to $OUT/gpu_check.log
# when OUT is set, else to runs/gpu_check.log.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
log_dir="${OUT:-runs}"
mkdir -p "$log_dir"
log="$log_dir/gpu_check.log"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 CROSSMODAL_DATA="${CROSSMODAL_DATA:-/tmp/crossmodal-data}"
if [ -d .whl ]; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/crossmodal-site .whl/*.whl
    export PYTHONPATH="$PYTHONPATH:/tmp/crossmodal-site"
fi
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    "$python" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, 'device', torch.cuda.get_device_name())"
    echo "== 1. CUDA tests"
    "$python" -m pytest -q -p no:cacheprovider tests/test_cuda.py
    echo "== 2. training step"
    "$python" tools/bench_step.py --device cuda
    echo "== 3. 2-epoch default run"
    start=$(date +%s)
    "$python" -m crossmodal.cli.train --epochs 2 --out "/tmp/crossmodal-gpu-check-$$" --wandb disabled --set run.progress=false
    echo "2-epoch default run: $(( $(date +%s) - start )) s (data generation and teacher loading included)"
} 2>&1 | tee "$log"
