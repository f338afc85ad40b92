#!/usr/bin/env bash
# The README's detection study on the generated LVIS-format set: softmax, IIF (base10 IOF),
# Balanced Softmax and Seesaw Mask R-CNNs on torchvision's ImageNet MobileNetV2, SEEDS seeds each;
# post-hoc logit adjustment and NorCal evaluate each softmax checkpoint (no training). Every run
# is evaluated with the LVIS metric and the false-positive analysis (tools/test_det.py --analyze),
# then tools/det_table.py prints mean +- std.
#   bash scripts/setup.sh det && python -m iif.data.fetch_weights mobilenet_v2   # once
#   bash scripts/toy_lvis_study.sh                 # WORKERS=2 SEEDS="0 1 2" by default
# Resumable and shareable: a cell (one method and seed) is claimed by a lock directory, skipped
# when its metrics exist, and an interrupted training continues from its last epoch. Running the
# script again (or a second copy, e.g. when a core frees up) picks up the unfinished cells.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${VIRTUAL_ENV:-}" ] && [ -f .venv/bin/activate ]; then
  # shellcheck disable=SC1091
  source .venv/bin/activate
fi
SEEDS=${SEEDS:-0 1 2}
WORKERS=${WORKERS:-2}
ROOT=${ROOT:-work_dirs/toy_study}
EPOCHS=2   # configs/lvis/toy/iif_mbv2_toy.py: train_cfg.max_epochs
TRAINED="softmax iif balanced_softmax seesaw"
[ -f data/toy_lvis/annotations/lvis_v1_val.json ] || python tools/make_toy_lvis.py --out data/toy_lvis > /dev/null
mkdir -p "$ROOT/.claims"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1   # one torch thread per process: WORKERS processes share the cores

evaluate() {  # evaluate CONFIG CKPT OUT_DIR: LVIS metrics + false-positive analysis, once
  [ -f "$3/metrics.json" ] && [ -f "$3/analysis.segm.json" ] && return 0
  python tools/test_det.py "$1" "$2" --work-dir "$3" --out "$3/metrics.json" --analyze > "$3.test.log" 2>&1
  rm -f "$3"/results.*.json   # the detections themselves are large and re-creatable
}

run_cell() {  # run_cell METHOD SEED
  local m=$1 s=$2 wd="$ROOT/$1_s$2"
  mkdir -p "$wd"
  if [ ! -f "$wd/epoch_$EPOCHS.pth" ]; then
    python tools/train_det.py "configs/lvis/toy/${m}_mbv2_toy.py" --work-dir "$wd" --resume \
      --cfg-options randomness.seed="$s" > "$wd.train.log" 2>&1
  fi
  evaluate "configs/lvis/toy/${m}_mbv2_toy.py" "$wd/epoch_$EPOCHS.pth" "$wd/eval"
  if [ "$m" = softmax ]; then  # the post-hoc rows reuse this checkpoint
    for p in posthoc_la norcal; do
      mkdir -p "$ROOT/${p}_s$s"
      evaluate "configs/lvis/toy/${p}_mbv2_toy.py" "$wd/epoch_$EPOCHS.pth" "$ROOT/${p}_s$s/eval"
    done
  fi
}

worker() {
  for s in $SEEDS; do
    for m in $TRAINED; do
      claim="$ROOT/.claims/${m}_s$s"
      if mkdir "$claim" 2>/dev/null; then
        echo "$BASHPID" > "$claim/pid"
      elif [ -f "$claim/done" ] || kill -0 "$(cat "$claim/pid" 2>/dev/null || echo 0)" 2>/dev/null; then
        continue   # finished, or another live worker has it
      else
        echo "$BASHPID" > "$claim/pid"   # its worker died: take it over
      fi
      echo "$(date +%T) ${m} seed ${s}: start"
      if run_cell "$m" "$s"; then touch "$claim/done"; echo "$(date +%T) ${m} seed ${s}: done"
      else echo "$(date +%T) ${m} seed ${s}: FAILED (see $ROOT/${m}_s$s.*.log)" >&2; rm -rf "$claim"; fi
    done
  done
}

pids=()
for _ in $(seq "$WORKERS"); do worker & pids+=($!); sleep 2; done
for p in "${pids[@]}"; do wait "$p"; done
names=() files=()
for m in softmax posthoc_la norcal iif balanced_softmax seesaw; do
  for s in $SEEDS; do
    f="$ROOT/${m}_s$s/eval/metrics.json"
      if [ -f "$f" ]; then names+=("$m"); files+=("$f"); fi
  done
done
python tools/det_table.py "${files[@]}" --names "${names[@]}" --analysis
