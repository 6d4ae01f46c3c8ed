#!/usr/bin/env bash
# CI: the application works from a plain `pip install .` -- no extras, so no hypothesis and no
# pytest -- in a fresh venv: convert every block to VHDL (GHDL-checked), run the demo, and
# evaluate the network the demo wrote. Run from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
pip="$work/venv/bin/python -m pip --disable-pip-version-check -q"
$pip install "torch==2.13.0"            # the CPU build first (an unpinned resolve pulls CUDA)
$pip install "$repo"
for module in hypothesis pytest; do
  if "$work/venv/bin/python" -c "import $module" 2>/dev/null; then
    echo "check_app_install: $module is installed without the test extra" >&2
    exit 1
  fi
done
cd "$work"                              # away from the source tree: the installed package runs
bin="$work/venv/bin"
"$bin/twinspike" hdl convert --all --out build/vhdl --check
"$bin/twinspike" demo --out out/demo --runs runs
"$bin/twinspike" eval --model runs/digits-cnn-w8.npz --data digits -T 8
"$bin/twinspike" compile runs/digits-cnn-w8.npz --out build/acc
if "$bin/twinspike" hdl verify lfsr 2>err.txt; then
  echo "check_app_install: hdl verify ran without the test extra" >&2
  exit 1
fi
grep -q "pip install 'twinspike\[test\]'" err.txt
echo "check_app_install: ok (no hypothesis, no pytest; convert --all --check, demo, eval, compile)"
