#!/usr/bin/env bash
# Build the one-folder app (dist/gmxai-desktop: gmxai-desktop + gmxai) from a clean virtual env.
#
#   packaging/build.sh                 # new venv in build/pkg-venv, CPU-only torch, then PyInstaller
#   PYTHON=python3.12 packaging/build.sh
#   TORCH_SPEC="torch==2.13.0+cpu" packaging/build.sh   # a specific CPU wheel (e.g. from a wheelhouse)
#
# CPU-only torch keeps the bundle near 1 GB; a CUDA torch pulls in several GB of NVIDIA libraries.
# pip looks for it on PyTorch's CPU index (TORCH_INDEX) as well as on the usual indexes and any
# PIP_FIND_LINKS wheelhouse. The build prints its time and the bundle size at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
VENV=${VENV:-$ROOT/build/pkg-venv}
TORCH_INDEX=${TORCH_INDEX-https://download.pytorch.org/whl/cpu}  # TORCH_INDEX= : no extra index
TORCH_SPEC=${TORCH_SPEC:-torch}
start=$(date +%s)

rm -rf "$VENV" build/gmxai-desktop dist/gmxai-desktop dist/gmxai-desktop.app
"$PY" -m venv "$VENV"
# shellcheck disable=SC1091
source "$VENV/bin/activate"
python -m pip install -q --upgrade pip wheel
# CPU torch first (its local version "+cpu" wins over the CUDA wheel of the same release), then
# pin it so torchvision resolves to the matching release instead of upgrading torch.
python -m pip install -q ${TORCH_INDEX:+--extra-index-url "$TORCH_INDEX"} "$TORCH_SPEC"
python -c 'import torch; print(torch.__version__)' | sed 's/^/torch==/' > "$VENV/torch-constraint.txt"
python -m pip install -q ${TORCH_INDEX:+--extra-index-url "$TORCH_INDEX"} -c "$VENV/torch-constraint.txt" ".[packaging]"
# A CPU torch needs the CPU torchvision of the same release: PyPI's Linux torchvision is built
# against CUDA torch, and with CPU torch `import torchvision` fails ("operator torchvision::nms
# does not exist"), which would only show when the frozen app starts.
if ! python -c 'import torchvision.ops' 2>/dev/null; then
  echo "build.sh: error: torchvision does not load with $(cat "$VENV/torch-constraint.txt")" >&2
  echo "  (a CUDA torchvision with a CPU torch?). Install the matching build, e.g. from TORCH_INDEX," >&2
  echo "  or use the same torch as your working environment: TORCH_SPEC=\"torch==<its version>\"" >&2
  exit 1
fi
python packaging/make_icons.py >/dev/null
pyinstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller packaging/gmxai-desktop.spec

end=$(date +%s)
echo "build time: $((end - start)) s"
echo "bundle size: $(du -sh dist/gmxai-desktop | cut -f1) (dist/gmxai-desktop)"
echo "torch in bundle: $(cat "$VENV/torch-constraint.txt")"
