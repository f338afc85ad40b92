#!/usr/bin/env bash
# The README's toy-LVIS comparison, softmax vs IIF Mask R-CNN, end to end:
#   bash scripts/setup.sh det && bash scripts/toy_lvis.sh
# 1. generate the toy LVIS (data/toy_lvis, deterministic) unless it is there;
# 2. train both configs at once, one torch thread each (on 2 cores that beats two threads each,
#    one after the other); --resume: an interrupted run continues from its last checkpoint
#    (every 4 epochs) when the script is run again, and a finished one is not retrained;
# 3. evaluate each final checkpoint with the LVIS metric and print the table.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${VIRTUAL_ENV:-}" ] && [ -f .venv/bin/activate ]; then
  # shellcheck disable=SC1091
  source .venv/bin/activate
fi
# deterministic: an existing copy (from this script or by hand) is the same data
[ -f data/toy_lvis/annotations/lvis_v1_val.json ] || python tools/make_toy_lvis.py --out data/toy_lvis > /dev/null
mkdir -p work_dirs
pids=()
for m in softmax iif; do
  OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python tools/train_det.py "configs/lvis/toy/${m}_r18_toy.py" --resume \
    > "work_dirs/toy_${m}_train.log" 2>&1 &
  pids+=($!)
done
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    echo "training failed: see work_dirs/toy_$([ "$i" = 0 ] && echo softmax || echo iif)_train.log" >&2
    exit 1
  fi
done
for m in softmax iif; do
  python tools/test_det.py "configs/lvis/toy/${m}_r18_toy.py" "work_dirs/${m}_r18_toy/epoch_12.pth" \
    --out "work_dirs/${m}_r18_toy/metrics.json" > "work_dirs/toy_${m}_test.log" 2>&1
done
python tools/det_table.py work_dirs/softmax_r18_toy/metrics.json work_dirs/iif_r18_toy/metrics.json \
  --names "softmax" "IIF (base10 IOF)"
