"""How much the paper's goal depends on the training seed.

For each model and seed, the whole recipe of ``twinspike accuracy`` (fp32 -> QCFS -> quantised
DNN -> SNN fine-tune, every weight width) is retrained with only ``Recipe.seed`` changed, and
the fine-tuned SNN is run by the Cython evaluator on the digits test split at T = 8 with
direct input. Prints one markdown row per model, seed and weight width: FP32 accuracy, SNN
accuracy and the gap (goal: at most 1 point).

    python examples/seed_spread.py --models cnn,vgg11,resnet18 --seeds 1,2
"""
from __future__ import annotations

import argparse
import dataclasses

from twinspike.convert.report import (GOAL_POINTS, GOAL_T, RECIPES, integer_snn, setup_torch,
                                      snn_accuracy)
from twinspike.convert.train import co_optimise, dnn_accuracy
from twinspike.data import load_digits_split


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="cnn,vgg11,resnet18")
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    setup_torch(args.threads)
    models = args.models.split(",")
    for model in models:
        if model not in RECIPES:
            raise SystemExit(f"--models: {model!r} is not one of {', '.join(RECIPES)}")
    split = load_digits_split()
    print(f"| model | seed | w bits | FP32 DNN | SNN T={GOAL_T} | gap | goal |")
    print("|---|---|---|---|---|---|---|")
    for model in models:
        for seed in (int(s) for s in args.seeds.split(",")):
            recipe = dataclasses.replace(RECIPES[model], seed=seed)
            trained = co_optimise(recipe, split.x_train, split.y_train)
            fp32 = dnn_accuracy(trained.fp32, split.x_test, split.y_test)
            for bits, net in trained.snn.items():
                snn = snn_accuracy(integer_snn(net, split.x_train), split.x_test,
                                   split.y_test, (GOAL_T,))[GOAL_T]
                gap = 100 * (fp32 - snn)
                print(f"| {model} | {seed} | {bits} | {100 * fp32:.2f} | {100 * snn:.2f} | "
                      f"{gap:+.2f} | {'met' if gap <= GOAL_POINTS else 'missed'} |", flush=True)


if __name__ == "__main__":
    main()
