#!/usr/bin/env bash
# CIFAR-10-LT (imbalance factor 100, 12,406 images) on the lossy JPEG copy of CIFAR-10, on CPU:
# SE-ResNet-32 with the paper recipe as the authors ran it (configs/cls/cifar10_lt_jpeg/, see
# docs/FIDELITY.md) except the length of stage 1, then one table:
#   softmax (stage 1) | post-process IIF smooth | post-process IIF, variant chosen on val |
#   decoupled IIF smooth | post-hoc logit adjustment (tau = 1)
#
#   bash scripts/cifar10_lt_table.sh EPOCHS [DECOUPLED_EPOCHS]
#
# EPOCHS: stage-1 epochs (the paper: 400; the LR steps at 360/380 move to 90% / 95% of EPOCHS).
# DECOUPLED_EPOCHS: the decoupled stage (default 20, the paper's).
# One process, one torch thread (train.threads=1, data in memory, no loader workers): on a shared
# 2-core machine that was the fastest setting; about 1.7-1.9 min per stage-1 epoch measured here
# (load average ~3 from other jobs).
# Resumable: run the same command again and it continues a killed training from its last.pth and
# skips finished cells (tools/reproduce.py). Writes $WORK_ROOT/results.md (the table) and, per run,
# <run>/eval/results.{txt,csv,json} (tools/test_cls.py's full report: every IIF variant, logit
# adjustment and tau-norm on val and test, from the saved logits).
# Environment: CIFAR10_JPEG (the unpacked copy, default ~/data/cifar10_jpeg; unpacked from
# CIFAR10_JPEG_TAR, default ../shared/data/cifar10_jpeg.tar.gz, when missing; never inside the
# repository), WORK_ROOT (default work_dirs/cifar10_lt_jpeg_table/e<EPOCHS>_d<DECOUPLED_EPOCHS>),
# PYTHON (default .venv/bin/python). IIF_CFG_OPTIONS (more --cfg-options for every run, e.g.
# "train.max_iters=3" for a smoke run in another WORK_ROOT). Label every number "CIFAR-10 (lossy JPEG copy)".
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${1:?usage: bash scripts/cifar10_lt_table.sh EPOCHS [DECOUPLED_EPOCHS]}
DEC_EPOCHS=${2:-20}
PYTHON=${PYTHON:-.venv/bin/python}
DATA=${CIFAR10_JPEG:-$HOME/data/cifar10_jpeg}
TARBALL=${CIFAR10_JPEG_TAR:-../shared/data/cifar10_jpeg.tar.gz}
WORK_ROOT=${WORK_ROOT:-work_dirs/cifar10_lt_jpeg_table/e${EPOCHS}_d${DEC_EPOCHS}}

. scripts/cifar10_jpeg_data.sh

export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
# IIF_CFG_OPTIONS is split into words on purpose (one KEY=VALUE each)
# shellcheck disable=SC2086
"$PYTHON" tools/reproduce.py --datasets cifar10_lt_jpeg --seeds 0 \
  --methods softmax posthoc_iif_smooth posthoc_iif_val decoupled_iif posthoc_la \
  --epochs "$EPOCHS" --decoupled-epochs "$DEC_EPOCHS" --work-root "$WORK_ROOT" --threads 1 \
  --cfg-options "data.root=$DATA" device=cpu train.threads=1 data.num_workers=0 ${IIF_CFG_OPTIONS:-}

runs="$WORK_ROOT/cifar10_lt_jpeg/seed0"
for run in softmax decoupled_iif; do
  echo; echo "== $run: tools/test_cls.py (saved logits reused) =="
  "$PYTHON" tools/test_cls.py --checkpoint "$runs/$run/last.pth"
done
echo; echo "table: $WORK_ROOT/results.md (CIFAR-10 (lossy JPEG copy), stage 1 $EPOCHS epochs, decoupled $DEC_EPOCHS)"
