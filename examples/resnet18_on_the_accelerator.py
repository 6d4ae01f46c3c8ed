"""ResNet-18 of `twinspike accuracy` on the accelerator: the same synthesised top as the MLP
and the CNN, with the weights that do not fit on chip read from DDR.

    python examples/resnet18_on_the_accelerator.py [--runs runs] [--images 3] [--myhdl 0]

Trains the ResNet-18 recipe of `twinspike accuracy` (width 0.5, 8-bit weights, fine-tuned at
T = 8; about 5 minutes on 2 cores) or loads it from ``runs/resnet18.pt``, converts it to the
integer SNN (``runs/digits-resnet18-w8.npz``, the file `twinspike compile` takes), compiles
it for the default ``AcceleratorParams`` and prints where its words live (on chip / DDR), the
Cython evaluator's test accuracy at T = 8, and, per test image, the layer sequencer's
reference run from the memory images alone (the hardware's computation word by word: classes
and counts checked against the Cython evaluator), its cycle model and its DDR line fills.
``--myhdl K`` also runs the cycle-accurate MyHDL top through its AXI ports (AXI4-Lite
loading, pixel stream, DDR slave with random latency) on K images (about 10 minutes each)
and checks it against both.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from twinspike.convert.report import GOAL_T, RECIPES, integer_snn, setup_torch
from twinspike.convert.train import load_or_train
from twinspike.data import load_digits_split
from twinspike.ext.evaluate import evaluate
from twinspike.network import save
from twinspike.sw import layer_sequencer as seq


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", default="runs", help="cache of trained weights (default runs/)")
    ap.add_argument("--images", type=int, default=3, help="test images for the reference run")
    ap.add_argument("--myhdl", type=int, default=0, help="test images for the MyHDL top")
    args = ap.parse_args()
    setup_torch(2)
    split = load_digits_split()
    trained, cached = load_or_train(RECIPES["resnet18"], Path(args.runs), split.x_train,
                                    split.y_train)
    print(f"resnet18: {'cached' if cached else 'trained'} weights "
          f"({trained.seconds:.0f} s of training)")
    net = integer_snn(trained.snn[8], split.x_train)
    path, _ = save(net, Path(args.runs) / "digits-resnet18-w8.npz")
    params = seq.AcceleratorParams()
    images = seq.compile_network(net, params)
    use = {u.memory: u for u in images.use}
    print(f"wrote {path}; {len(net.populations)} populations, "
          f"{sum(len(p.projections) for p in net.populations)} projections")
    print(f"weights: {use['weight'].used:,} words on chip (of {params.weight_depth:,}) + "
          f"{use['weight_ddr'].used:,} in DDR ({use['weight_ddr'].used * 8 / 2**20:.2f} MiB); "
          + ", ".join(f"{u.memory} {u.used:,}/{u.depth:,}" for u in images.use
                      if not u.memory.startswith("weight")))
    fast = evaluate(net, split.x_test, GOAL_T)
    print(f"Cython evaluator, T={GOAL_T}: test accuracy "
          f"{100 * np.mean(fast.predictions == split.y_test):.2f} % "
          f"({len(split.y_test)} images)")
    x = split.x_test[:args.images]
    start = time.perf_counter()
    ref = seq.run(net, images, x, GOAL_T)
    want = evaluate(net, x, GOAL_T)
    assert np.array_equal(ref.counts, want.counts), "reference != Cython"
    print(f"reference from the memory images == Cython on {len(x)} images "
          f"({time.perf_counter() - start:.0f} s)")
    for b in range(len(x)):
        print(f"  image {b}: class {ref.predictions[b]} (label {split.y_test[b]}), "
              f"{ref.sops[b]:,} SOPs, {ref.cycles[b]:,} cycles (model, no stalls), "
              f"{ref.weight_fills[b]:,} DDR line fills")
    if args.myhdl:
        from twinspike.hw import top as ht

        xs = x[:args.myhdl].reshape(args.myhdl, -1)
        start = time.perf_counter()

        def scenario(host):
            yield from ht.run_batch(host, images, xs, GOAL_T)

        host = ht.simulate_host(params, scenario, seed=0)
        records = ht.parse_results(host.results)
        got = [r["class"] for r in records]
        assert got == list(want.predictions[:args.myhdl]), (got, want.predictions)
        assert all(np.array_equal(r["counts"], c) for r, c in zip(records, want.counts))
        regs = host.regs
        assert regs["CYCLES"] - regs["STALLS"] == int(ref.cycles[:args.myhdl].sum())
        assert regs["WEIGHT_FILLS"] == int(ref.weight_fills[:args.myhdl].sum())
        print(f"MyHDL top through its AXI ports == Cython on {args.myhdl} images "
              f"({time.perf_counter() - start:.0f} s): CYCLES {regs['CYCLES']:,} of which "
              f"STALLS {regs['STALLS']:,} (DDR), WEIGHT_FILLS {regs['WEIGHT_FILLS']:,}, "
              f"SOPS {regs['SOPS']:,}")


if __name__ == "__main__":
    main()
