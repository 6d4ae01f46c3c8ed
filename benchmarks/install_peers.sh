#!/usr/bin/env bash
# Install the peers of benchmarks/bench_eval.py (snnTorch, SpikingJelly, Norse) beside the CPU
# torch. Their declared dependencies pull torchvision/torchaudio and with them a CUDA torch, so
# they go in with --no-deps, followed by the few light packages they really import:
#   snntorch     -> (torch, numpy)
#   spikingjelly -> loguru
#   norse        -> nir (-> h5py), nirtorch
# Idempotent; ends by importing each peer.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="python3 -m pip --disable-pip-version-check -q"
python3 -c "import torch" 2>/dev/null || $PIP install "torch==2.13.0"
$PIP install --no-deps "snntorch==1.0.0" "spikingjelly==2.0.0" "norse==1.1.0" \
    "nir==1.0.8" "nirtorch==2.6"
$PIP install "loguru>=0.7,<1" "h5py>=3" "threadpoolctl>=3"
python3 - <<'PY'
import importlib
import torch
for name in ("snntorch", "spikingjelly.activation_based.neuron", "norse.torch"):
    importlib.import_module(name)
print(f"install_peers: snntorch, spikingjelly, norse import with torch {torch.__version__}")
PY
