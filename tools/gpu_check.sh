#!/usr/bin/env bash
# The GPU check, in one call of about five minutes on a machine with a CUDA device and PyTorch:
#   1. the CUDA tests (tests/test_cuda.py: the CRD step against the CPU's, a short AMP +
#      channels-last run with a disk teacher cache, its student loaded on the CPU);
#   2. the default training step per precision (fp32, AMP) and memory layout (contiguous,
#      channels-last): ms per step, samples/s, CRD's share of the step, peak memory
#      (tools/bench_step.py);
#   3. the CRD objective's step against the bank size M = 10^4 .. 10^6 on the GPU, with device,
#      bfloat16 and host-placed banks (the real pinned copy), the queue and per-sample
#      negatives (tools/bench_scale.py --device cuda);
#   4. the whole default run (crossmodal-train, 20 epochs), timed, with the data loader in the
#      training process (the default) and with 4 loader workers: wall time and the median
#      epoch's samples/s, against the step's own rate in part 2.
# Every part runs even when an earlier one fails (a GPU is often lent for one call only);
# the exit status says whether all passed, and the last line names those that did not.
# Where pip cannot download, first run tools/gpu_wheels.sh on a machine that can and bring .whl/
# along: the wheels are installed into a private folder. The log goes to $OUT/gpu_check.log
# when OUT is set, else to runs/gpu_check.log.
set -uo pipefail
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
failed=()
part() {  # part NAME COMMAND...: run one part, note it if it fails, go on
    echo "== $1"
    "${@:2}" || failed+=("$1")
}
default_run() {  # default_run WORKERS: the default experiment, timed, its median epoch's samples/s
    local start run="/tmp/crossmodal-gpu-check-$$-w$1"
    start=$(date +%s)
    "$python" -m crossmodal.cli.train --out "$run" --wandb disabled --set run.progress=false "data.num_workers=$1" || return
    echo "default run, data.num_workers=$1: $(( $(date +%s) - start )) s (teacher loading included)"
    "$python" -c "import json, statistics, sys
rates = [json.loads(line)['samples_per_s'] for line in open(sys.argv[1]) if 'epoch_time_s' in line]
print('  median epoch: %.0f samples/s over %d epochs' % (statistics.median(rates), len(rates)))" "$run/metrics.jsonl"
}
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    "$python" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, 'device', torch.cuda.get_device_name())"
    part "1. CUDA tests" "$python" -m pytest -q -p no:cacheprovider tests/test_cuda.py
    part "2. training step" "$python" tools/bench_step.py --device cuda
    part "3. CRD step against bank size" "$python" tools/bench_scale.py --device cuda
    part "4. default run, loader in-process" default_run 0
    part "4. default run, 4 loader workers" default_run 4
    if [ ${#failed[@]} -gt 0 ]; then
        echo "GPU check: failed: ${failed[*]}"
        exit 1
    fi
    echo "GPU check: every part passed"
} 2>&1 | tee "$log"
