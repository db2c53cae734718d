#!/usr/bin/env bash
# Train on NYU raw-layout recordings, evaluate on the labelled layout: the embedded rooms written as Kinect dumps
# (3 views of each of the 1200 rooms), cached, then each core method trained on the cache (the test rooms left out)
# and judged on the labelled rooms' test split. The same commands run on the real recordings and
# nyu_depth_v2_labeled.mat. Usage: tools/raw_layout_results.sh [OUT] [SEEDS]   (defaults: runs/raw-layout, 3)
set -euo pipefail
out=${1:-runs/raw-layout}
seeds=${2:-3}
data=$(python -c "from crossmodal.data.kinds import default_data_dir; print(default_data_dir())")  # $CROSSMODAL_DATA or the user cache
rooms=$data/synthetic-rooms-n1200-120x160-seed0.mat   # the demo's rooms, what --data synthetic-rooms generates
raw=$data/nyu-raw-rooms-seed0-x3
cache=$raw-cache

[ -f "$rooms" ] || crossmodal-prepare synthetic-rooms --num 1200 --size 120x160 --seed 0 --out "$rooms"
[ -d "$raw" ] || crossmodal-prepare synthetic-nyu-raw --scenes 1200 --frames 3 --seed 0 --out "$raw"
crossmodal-prepare nyu-raw --src "$raw" --out "$cache"
crossmodal-benchmark --targets depth --methods none,kd,crd --seeds "$seeds" --out "$out" --jobs 2 \
  --set data.name=nyu-raw "data.options.path=$cache" "data.options.labelled=$rooms"
