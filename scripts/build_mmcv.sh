#!/usr/bin/env bash
# Build mmcv 2.1.0 (with its compiled ops) against the installed torch, once, into a wheel cache
# outside the repo; later calls only install the cached wheel (seconds).
#
#   scripts/build_mmcv.sh [PYTHON]      PYTHON: the venv interpreter (default .venv/bin/python)
#   IIF_WHEEL_CACHE                     cache directory (default ~/.cache/iif/wheels)
#
# Why a build: mmcv publishes no wheels for torch 2.14 on the registry. Its setup.py asks for
# C++14/17, which torch 2.14's headers refuse, so the sdist is patched to C++20; it imports
# pkg_resources, so the venv needs setuptools < 81 (requirements-det.txt pins 80.10.2); and
# it must see torch, hence --no-build-isolation. CPU ops here; CUDA ops are compiled too when
# the machine has nvcc and a GPU (or FORCE_CUDA=1). About 35-40 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
# Absolute (the build runs in another directory) without resolving the venv's symlink.
PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")"
VERSION=2.1.0
CACHE=${IIF_WHEEL_CACHE:-$HOME/.cache/iif/wheels}
mkdir -p "$CACHE"
TAG=$("$PY" - <<'PYEOF'
import sys
import torch
device = "cuda" if torch.cuda.is_available() else "cpu"
print(f"torch{torch.__version__.split('+')[0]}-cp{sys.version_info[0]}{sys.version_info[1]}-{device}")
PYEOF
)
DEST="$CACHE/mmcv-$VERSION-$TAG"   # one wheel per torch / python / device flavour
PIP=("$PY" -m pip --disable-pip-version-check)

if ! ls "$DEST"/mmcv-$VERSION-*.whl >/dev/null 2>&1; then
  echo "[mmcv] no cached wheel in $DEST: building mmcv $VERSION from source (about 35-40 min on 2 cores)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # The sdist's metadata step itself needs pkg_resources: give pip's isolated env an old setuptools.
  printf 'setuptools<81\n' > "$work/constraints.txt"
  [ -f /etc/xdg/pip/constraints.txt ] && cat /etc/xdg/pip/constraints.txt >> "$work/constraints.txt"
  PIP_CONSTRAINT="$work/constraints.txt" "${PIP[@]}" download -q --no-deps --no-binary :all: \
      "mmcv==$VERSION" -d "$work"
  tar -xzf "$work/mmcv-$VERSION.tar.gz" -C "$work"
  src="$work/mmcv-$VERSION"
  sed -i -e 's/-std=c++14/-std=c++20/g; s/-std=c++17/-std=c++20/g' \
         -e 's#/std:c++14#/std:c++20#g; s#/std:c++17#/std:c++20#g' "$src/setup.py"
  grep -q 'c++20' "$src/setup.py" || { echo "[mmcv] patching the C++ standard failed" >&2; exit 1; }
  mkdir -p "$work/out"
  (cd "$src" && MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-2} "${PIP[@]}" wheel -v --no-build-isolation --no-deps \
      -w "$work/out" . > "$work/build.log" 2>&1) || { tail -50 "$work/build.log" >&2; exit 1; }
  mkdir -p "$DEST.tmp" && mv "$work"/out/mmcv-*.whl "$DEST.tmp/" && mv "$DEST.tmp" "$DEST"   # atomic publish
  echo "[mmcv] built $(ls "$DEST")"
fi
"${PIP[@]}" install -q --no-deps "$DEST"/mmcv-$VERSION-*.whl
"$PY" -c "import mmcv, mmcv.ops; print('[mmcv]', mmcv.__version__, 'with compiled ops')"
