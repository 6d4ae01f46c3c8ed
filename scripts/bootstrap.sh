#!/usr/bin/env bash
# One-shot set-up for a fresh machine: HDL tools (Debian), CPU torch, and twinspike itself.
# Idempotent: re-running skips what is already there.
#   TWINSPIKE_INSTALL=editable (default) -> pip install -e .   (developers)
#   TWINSPIKE_INSTALL=wheel              -> pip install .      (CI: proves the real install)
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for tool in ghdl yosys iverilog; do command -v "$tool" >/dev/null || need_apt+=("$tool"); done
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq ghdl yosys iverilog >/dev/null
fi

PIP="python3 -m pip --disable-pip-version-check -q"
# The CPU build of torch: an unpinned torch would pull a multi-GB CUDA build.
python3 -c "import torch" 2>/dev/null || $PIP install "torch==2.13.0"
$PIP install "Cython>=3.0" "numpy>=1.24" "setuptools>=64" wheel
if [ "${TWINSPIKE_INSTALL:-editable}" = "wheel" ]; then
  $PIP install ".[test]"
else
  $PIP install -e ".[test]"
fi
echo "bootstrap: ghdl $(ghdl --version | head -1 | cut -d' ' -f2), $(yosys -V | cut -d' ' -f1-2), torch $(python3 -c 'import torch; print(torch.__version__)'), twinspike installed"
