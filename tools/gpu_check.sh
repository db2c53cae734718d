#!/usr/bin/env bash
# The GPU check, in one call on a machine with a CUDA device and PyTorch (parts 1-4 took about five
# minutes on an H200; parts 5 and 6 have not yet run on a GPU):
#   1. the CUDA tests (tests/test_cuda.py: the CRD step against the CPU's, a short AMP +
#      channels-last run with a disk teacher cache, its student loaded on the CPU);
#   2. the default training step per precision (fp32, AMP) and memory layout (contiguous,
#      channels-last): ms per step, samples/s, CRD's share of the step, peak memory
#      (tools/bench_step.py);
#   3. the CRD objective's step against the bank size M = 10^4 .. 10^6 on the GPU, with device,
#      bfloat16 and host-placed banks (the real pinned copy), the queue and per-sample
#      negatives (tools/bench_scale.py --device cuda);
#   4. the whole default run (crossmodal-train, 20 epochs), timed, with the data loader in the
#      training process and with 4 loader workers, augmenting on the device (the CUDA default)
#      and per sample on the host: wall time and the median epoch's samples/s, against the
#      step's own rate in part 2;
#   5. each paper-scale experiment file (configs/paper/*.yaml: 224 x 224, a full-width ResNet-18
#      student, N = 16384) for 200 steps on stand-in data of its size: end-to-end samples/s
#      against its step's own rate, the share spent waiting for data, GPU utilisation
#      (tools/bench_paper.py);
#   6. the loader's CPU cost per sample of each data path, augmenting per sample and on the
#      device, with the device half timed on the GPU (tools/bench_loader.py --quick).
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
default_run() {  # default_run WORKERS PLACE: the default experiment, timed, its median epoch's samples/s
    local start run="/tmp/crossmodal-gpu-check-$$-w$1-$2"
    start=$(date +%s)
    "$python" -m crossmodal.cli.train --out "$run" --wandb disabled --set run.progress=false "data.num_workers=$1" "data.augment_on=$2" || return
    echo "default run, data.num_workers=$1, data.augment_on=$2: $(( $(date +%s) - start )) s (teacher loading included)"
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
    part "4. default run, loader in-process, device augmentation" default_run 0 device
    part "4. default run, 4 loader workers, device augmentation" default_run 4 device
    part "4. default run, loader in-process, host augmentation" default_run 0 host
    part "4. default run, 4 loader workers, host augmentation" default_run 4 host
    part "5. paper files, 200 steps each" "$python" tools/bench_paper.py
    part "6. loader cost per data path" "$python" tools/bench_loader.py --quick
    if [ ${#failed[@]} -gt 0 ]; then
        echo "GPU check: failed: ${failed[*]}"
        exit 1
    fi
    echo "GPU check: every part passed"
} 2>&1 | tee "$log"
