#!/usr/bin/env bash
# Is the default run (make main, stage 1: SE-ResNet-32 softmax on Fashion-MNIST-LT, 8 epochs) as
# accurate with bf16 autocast + channels_last as in fp32? Seeds 0-2 of each, two runs at a time
# with one torch thread each (2 cores). Resumable: a finished run is only re-evaluated.
#   bash scripts/speed_default.sh            # SEEDS="0 1" to run only those seeds
#   python tools/summarize_runs.py fp32='work_dirs/speed/fp32/seed*' bf16_cl='work_dirs/speed/bf16_cl/seed*'
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
jobs=()
for s in ${SEEDS:-0 1 2}; do
  jobs+=("fp32 $s train.amp=False train.channels_last=False")
  jobs+=("bf16_cl $s train.amp=True train.channels_last=True")
done
printf '%s\n' "${jobs[@]}" | xargs -P 2 -L 1 bash -c '
  name=$0; seed=$1; shift 2
  OMP_NUM_THREADS=1 '"$PY"' tools/train_cls.py --config configs/cls/fashion_mnist_lt/softmax.py \
    --work-dir work_dirs/speed/$name/seed$seed --resume \
    --cfg-options seed=$seed train.threads=1 device=cpu "$@" > work_dirs/speed/$name.seed$seed.log 2>&1 \
    && echo "done $name seed $seed" || echo "FAILED $name seed $seed (see work_dirs/speed/$name.seed$seed.log)"'
