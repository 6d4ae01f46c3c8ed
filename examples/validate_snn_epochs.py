"""Pick the SNN fine-tuning length on a validation split, never on the test split.

The digits training split (1347 images) is cut once, with a fixed seed, into a training part
and a held-out validation part. The recipe's stages up to the quantised DNN run on the training
part only; then the SNN stage (``to_snn(T)`` + BPTT) is run from the same quantised net for each
candidate number of epochs, and each result is converted to the integer network and run by the
Cython evaluator on the validation part at T = 4, 8 and 16.

    python examples/validate_snn_epochs.py --model resnet18 --bits 4 --epochs 6,12,20

This is how ``Recipe.epochs_snn`` was chosen (numbers in docs/accuracy.md).
"""
from __future__ import annotations

import argparse
import copy
import dataclasses

import numpy as np
import torch

from twinspike.convert.report import RECIPES, integer_snn, setup_torch, snn_accuracy
from twinspike.convert.train import co_optimise, fit
from twinspike.data import load_digits_split


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet18", choices=sorted(RECIPES))
    ap.add_argument("--bits", type=int, default=4, help="weight width")
    ap.add_argument("--epochs", default="6,12,20", help="comma-separated SNN-stage epochs")
    ap.add_argument("--holdout", type=int, default=247, help="validation images")
    ap.add_argument("--seed", type=int, default=123, help="seed of the train/validation cut")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    setup_torch(args.threads)

    split = load_digits_split()
    if not 0 < args.holdout < len(split.x_train):
        raise SystemExit(f"--holdout={args.holdout}: expected 1..{len(split.x_train) - 1}")
    order = np.random.default_rng(args.seed).permutation(len(split.x_train))
    fit_idx, val_idx = order[:-args.holdout], order[-args.holdout:]
    x_fit, y_fit = split.x_train[fit_idx], split.y_train[fit_idx]
    x_val, y_val = split.x_train[val_idx], split.y_train[val_idx]

    recipe = dataclasses.replace(RECIPES[args.model], weight_bits=(args.bits,), epochs_snn=0)
    quant = co_optimise(recipe, x_fit, y_fit).quant[args.bits]
    x, y = torch.as_tensor(x_fit), torch.as_tensor(y_fit).long()
    timesteps = (4, 8, 16)
    print("| model | w bits | SNN epochs | " + " | ".join(f"val T={T}" for T in timesteps) + " |")
    print("|---|---|---|" + "---|" * len(timesteps))
    for epochs in (int(e) for e in args.epochs.split(",")):
        net = copy.deepcopy(quant)
        net.to_snn(recipe.timesteps)
        fit(net, x, y, epochs, recipe.lr_snn, recipe, f"snn {epochs} epochs")
        acc = snn_accuracy(integer_snn(net, x_fit, "direct", max(timesteps)), x_val, y_val,
                           timesteps)
        print(f"| {args.model} | {args.bits} | {epochs} | "
              + " | ".join(f"{100 * acc[T]:.2f}" for T in timesteps) + " |", flush=True)


if __name__ == "__main__":
    main()
