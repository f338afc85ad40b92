#!/usr/bin/env bash
# CIFAR-10-LT (imbalance factor 100, 12,406 images) on the lossy JPEG copy of CIFAR-10, on CPU:
# SE-ResNet-32 with the paper recipe as the authors ran it (configs/cls/cifar10_lt_jpeg/, see
# docs/FIDELITY.md), then one table:
#   softmax (stage 1) | post-process IIF smooth | post-process IIF, variant chosen on val |
#   decoupled IIF smooth | cRT | LWS | post-hoc logit adjustment (tau = 1)
#
#   bash scripts/cifar10_lt_table.sh EPOCHS [DECOUPLED_EPOCHS]
#
# EPOCHS: stage-1 epochs (the paper: 400; the LR steps at 360/380 move to 90% / 95% of EPOCHS).
# DECOUPLED_EPOCHS: each decoupled stage (default 20, the paper's).
# PRECISION=fast (default): the fast path of docs/BENCHMARKS.md group 8: in-memory batches
#   augmented a batch at a time (data.loader=tensor), bf16 autocast, channels_last, torch.compile;
#   accuracy checked against fp32 over 3 seeds (docs/RESULTS.md, "CIFAR-10-LT, paper recipe").
# PRECISION=fp32: the batched data path in fp32.
# One process, one torch thread (train.threads=1): on a shared 2-core machine, two 1-thread
# processes side by side beat one 2-thread process.
# Resumable: run the same command again and it continues a killed training from its last.pth and
# skips finished cells (tools/reproduce.py). Writes $WORK_ROOT/results.md (the table) and, per run,
# <run>/eval/results.{txt,csv,json} (tools/test_cls.py's full report: every IIF variant, logit
# adjustment and tau-norm on val and test, from the saved logits).
# Environment: CIFAR10_JPEG (the unpacked copy, default ~/data/cifar10_jpeg; unpacked from
# CIFAR10_JPEG_TAR, default ../shared/data/cifar10_jpeg.tar.gz, when missing; never inside the
# repository), WORK_ROOT (default ~/.cache/iif/runs/cifar10_lt_jpeg/e<EPOCHS>_d<DECOUPLED_EPOCHS>_<PRECISION>,
# outside the checkout so that a later session can continue it), PYTHON (default .venv/bin/python).
# IIF_CFG_OPTIONS (more --cfg-options for every run, e.g. "train.max_iters=3" for a smoke run in
# another WORK_ROOT). METHODS (default: the rows above), SEEDS (default 0). Label every number
# "CIFAR-10 (lossy JPEG copy)".
# The accuracy check of the fast path (3 seeds of stage 1 at a short schedule, each precision):
#   for p in fp32 fast; do SEEDS="0 1 2" METHODS=softmax PRECISION=$p bash scripts/cifar10_lt_table.sh 10; done
#   python tools/summarize_runs.py fp32="$HOME/.cache/iif/runs/cifar10_lt_jpeg/e10_d20_fp32/cifar10_lt_jpeg/seed*/softmax" \
#     fast="$HOME/.cache/iif/runs/cifar10_lt_jpeg/e10_d20_fast/cifar10_lt_jpeg/seed*/softmax"
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${1:?usage: bash scripts/cifar10_lt_table.sh EPOCHS [DECOUPLED_EPOCHS]}
DEC_EPOCHS=${2:-20}
PYTHON=${PYTHON:-.venv/bin/python}
DATA=${CIFAR10_JPEG:-$HOME/data/cifar10_jpeg}
TARBALL=${CIFAR10_JPEG_TAR:-../shared/data/cifar10_jpeg.tar.gz}
PRECISION=${PRECISION:-fast}
case "$PRECISION" in
  fast) SPEED_OPTIONS="data.loader=tensor train.amp=True train.channels_last=True train.compile=True" ;;
  fp32) SPEED_OPTIONS="data.loader=tensor train.amp=False train.channels_last=False train.compile=False" ;;
  *) echo "PRECISION must be fast or fp32, got '$PRECISION'" >&2; exit 2 ;;
esac
WORK_ROOT=${WORK_ROOT:-$HOME/.cache/iif/runs/cifar10_lt_jpeg/e${EPOCHS}_d${DEC_EPOCHS}_${PRECISION}}
METHODS=${METHODS:-softmax posthoc_iif_smooth posthoc_iif_val decoupled_iif crt lws posthoc_la}
SEEDS=${SEEDS:-0}

. scripts/cifar10_jpeg_data.sh

export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
# METHODS, SPEED_OPTIONS and IIF_CFG_OPTIONS are split into words on purpose
# shellcheck disable=SC2086
"$PYTHON" tools/reproduce.py --datasets cifar10_lt_jpeg --seeds $SEEDS --methods $METHODS \
  --epochs "$EPOCHS" --decoupled-epochs "$DEC_EPOCHS" --work-root "$WORK_ROOT" --threads 1 \
  --cfg-options "data.root=$DATA" device=cpu train.threads=1 data.num_workers=0 $SPEED_OPTIONS ${IIF_CFG_OPTIONS:-}

runs="$WORK_ROOT/cifar10_lt_jpeg/seed0"
for run in softmax decoupled_iif crt lws; do
  [ -f "$runs/$run/last.pth" ] || continue
  echo; echo "== $run: tools/test_cls.py (saved logits reused) =="
  "$PYTHON" tools/test_cls.py --checkpoint "$runs/$run/last.pth"
done
echo; echo "table: $WORK_ROOT/results.md (CIFAR-10 (lossy JPEG copy), stage 1 $EPOCHS epochs, decoupled $DEC_EPOCHS, $PRECISION)"
