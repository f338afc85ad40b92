#!/usr/bin/env bash
# The CIFAR-10-LT table of scripts/cifar10_lt_table.sh with the full paper recipe, on one CUDA GPU,
# in one go: SE-ResNet-32, stage 1 softmax for 400 epochs (lr 0.1, /100 at 360 and 380, batch 64,
# mixup 0.2, AutoAugment + Cutout, squashed cosine head), then post-process IIF (all variants,
# chosen on val), decoupled smooth IIF (20 epochs, BatchNorm in train mode, constant LR after
# warm-up) and post-hoc logit adjustment, each against softmax (configs/cls/cifar10_lt_jpeg/).
#
#   bash scripts/cifar10_lt_gpu.sh [WORKERS]
#
# WORKERS: data-loader processes (default 8): SE-ResNet-32 at batch 64 is cheap on a GPU, so the
# CPU-side AutoAugment sets the pace. Resumable like the CPU script (run it again after a kill).
# Environment: CIFAR10_JPEG, CIFAR10_JPEG_TAR, WORK_ROOT (default work_dirs/cifar10_lt_jpeg_table/gpu_e400),
# PYTHON, as in scripts/cifar10_lt_table.sh. IIF_CFG_OPTIONS (more --cfg-options for every run, e.g.
# "train.max_iters=3" for a smoke run in another WORK_ROOT). Label every number "CIFAR-10 (lossy JPEG copy)".
set -euo pipefail
cd "$(dirname "$0")/.."
WORKERS=${1:-8}
PYTHON=${PYTHON:-.venv/bin/python}
DATA=${CIFAR10_JPEG:-$HOME/data/cifar10_jpeg}
TARBALL=${CIFAR10_JPEG_TAR:-../shared/data/cifar10_jpeg.tar.gz}
WORK_ROOT=${WORK_ROOT:-work_dirs/cifar10_lt_jpeg_table/gpu_e400}

"$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: use scripts/cifar10_lt_table.sh')"
. scripts/cifar10_jpeg_data.sh

# No --epochs: each config's own (400 for stage 1, 20 for the decoupled stage).
# IIF_CFG_OPTIONS is split into words on purpose (one KEY=VALUE each)
# shellcheck disable=SC2086
"$PYTHON" tools/reproduce.py --datasets cifar10_lt_jpeg --seeds 0 \
  --methods softmax posthoc_iif_smooth posthoc_iif_val decoupled_iif posthoc_la \
  --work-root "$WORK_ROOT" \
  --cfg-options "data.root=$DATA" device=cuda "data.num_workers=$WORKERS" ${IIF_CFG_OPTIONS:-}

runs="$WORK_ROOT/cifar10_lt_jpeg/seed0"
for run in softmax decoupled_iif; do
  echo; echo "== $run: tools/test_cls.py (saved logits reused) =="
  "$PYTHON" tools/test_cls.py --checkpoint "$runs/$run/last.pth"
done
echo; echo "table: $WORK_ROOT/results.md (CIFAR-10 (lossy JPEG copy), full 400 + 20 epoch recipe)"
