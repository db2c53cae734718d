#!/usr/bin/env bash
# crossmodal-train on several nodes under Slurm: one torchrun per node, rendezvous on the first node.
#
#   sbatch --nodes 2 --gpus-per-node 4 tools/slurm_train.sh --source rgb --target depth --nyu /data/nyu_depth_v2_labeled.mat
#
# Every argument goes to crossmodal-train unchanged. The run directory (--out, or runs/<name>-<time>)
# must be on a file system all nodes see; only rank 0 writes it. To continue a run, submit the same
# script with --resume RUN and the same --nodes and --gpus-per-node: a run resumes at the world size
# it was started with.
#SBATCH --job-name=crossmodal
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=16
set -euo pipefail

nodes=${SLURM_JOB_NUM_NODES:?run this script with sbatch}
gpus=${SLURM_GPUS_ON_NODE:-1}
head_node=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
port=${CROSSMODAL_RDZV_PORT:-29500}

srun --kill-on-bad-exit=1 torchrun \
    --nnodes "$nodes" --nproc_per_node "$gpus" \
    --rdzv_backend c10d --rdzv_endpoint "$head_node:$port" --rdzv_id "$SLURM_JOB_ID" \
    -m crossmodal.cli.train --device cuda "$@"
