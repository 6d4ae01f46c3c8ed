"""The ``twinspike`` command: ``hdl convert | synth | verify``, ``demo``, ``eval``, ``hw-metrics``.

Errors a user can cause (bad block name, bad parameter, missing tool or file) print one clear
line on stderr and exit with status 2; anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from twinspike.sw.blocks import BLOCKS, block_module


class UsageError(Exception):
    pass


def _parse_params(name: str, pairs: list[str]):
    import importlib

    from twinspike.options import params_from_pairs

    hw = importlib.import_module(TOPS[name]) if name in TOPS else block_module(name, "hw")
    try:
        return hw, params_from_pairs(hw.Params, pairs)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


#: Whole designs ``hdl convert`` and ``hdl synth`` also take by name (their proofs are
#: tests/test_layer_sequencer.py, test_top.py and test_glm_top.py, not the block levels).
TOPS = {"layer_sequencer": "twinspike.hw.layer_sequencer", "accelerator_top": "twinspike.hw.top",
        "glm_top": "twinspike.hw.glm_top"}


def _selected(args, tops: bool = False) -> list[str]:
    names = list(BLOCKS) + (list(TOPS) if tops else [])
    if args.all:
        return list(BLOCKS)
    if not args.block:
        raise UsageError("name a block or pass --all (blocks: " + ", ".join(names) + ")")
    if args.block not in names:
        raise UsageError(f"unknown block {args.block!r}: expected one of {', '.join(names)}")
    return [args.block]


#: Designs ``hdl convert --images`` gives initial RAM contents (their ``top(p, init=...)``).
INIT_TOPS = ("layer_sequencer", "accelerator_top")


def _image_init(args, name: str):
    """``--images DIR``: the compiled images as the design's initial RAM contents; returns
    ``(module, params, init)``. The parameters are the images' (``manifest.json``)."""
    import importlib

    from twinspike.compile import read_images
    from twinspike.hw.layer_sequencer import image_init

    if name not in INIT_TOPS:
        raise UsageError(f"--images applies to {' or '.join(INIT_TOPS)}, not {name}")
    if args.param:
        raise UsageError("--images: the parameters are the images' (manifest.json); "
                         "compile them with --param instead")
    try:
        images = read_images(args.images)
    except ValueError as exc:
        raise UsageError(f"--images: {exc}") from None
    hw = importlib.import_module(TOPS[name])
    mem_dir = args.mem_dir or str(Path(args.images).resolve())
    try:
        return hw, images.params, image_init(images, mem_dir)
    except ValueError as exc:
        raise UsageError(f"--mem-dir: {exc}") from None


def cmd_hdl_convert(args) -> int:
    from twinspike.hw import toolchain

    names = _selected(args, tops=True)
    if args.all and (args.param or args.images or args.name):
        raise UsageError("--param, --images and --name apply to one block, not --all")
    if args.mem_dir and not args.images:
        raise UsageError("--mem-dir needs --images")
    for name in names:
        if args.images:
            hw, p, init = _image_init(args, name)
            inst = hw.top(p, init=init)
        else:
            hw, p = _parse_params(name, args.param)
            init, inst = None, hw.top(p)
        entity = args.name or name
        files = toolchain.convert(inst, args.hdl, args.out, entity)
        note = ""
        if args.check and args.hdl == "vhdl":
            toolchain.ghdl_elaborate(files, entity, Path(args.out) / "work")
            note = " (GHDL --std=08 analyse+elaborate: ok)"
        print(f"{name}: {p} -> {', '.join(str(f) for f in files)}{note}")
        if init is not None:
            print(f"  initial RAM contents: {', '.join(r.path for r in init.rams.values())} "
                  f"(read when the {args.hdl.upper()} is elaborated)")
    return 0


def _short(value) -> str:
    """A parameter value for a table cell: long tables (LUT contents) by their length only."""
    if isinstance(value, (tuple, list)) and len(value) > 4:
        return f"({len(value)} entries)"
    return str(value)


#: The README block ``twinspike hdl synth --all --markdown`` rewrites (``twinspike/readme.py``).
SYNTH_README_BLOCK = ("blocks", "twinspike hdl synth --all --markdown")


def cmd_hdl_synth(args) -> int:
    from twinspike.hw import toolchain

    rows = []
    for name in _selected(args, tops=True):
        hw, p = _parse_params(name, args.param)
        res = toolchain.synth_xc7(hw.top(p), name, timing=args.timing)
        if args.markdown:
            fields = ", ".join(f"{k}={_short(v)}" for k, v in dataclasses.asdict(p).items())
            rows.append(f"| {name} | {fields} | {res.lut} | {res.ff} | {res.dsp} | "
                        f"{res.bram36:g} |")
        else:
            clock = ("" if res.arrival_ns is None else
                     f" -> <= {toolchain.clock_mhz_for(res.arrival_ns):.1f} MHz with 30 % "
                     "left for routing")
            print(f"{name}: {res.as_row()}{clock}   [{p}]")
    if args.markdown:
        table = ("| block | parameters | LUT | FF | DSP | BRAM36 |\n|---|---|---:|---:|---:|---:|\n"
                 + "\n".join(rows) + "\n")
        print(table, end="")
        # Only the whole table at the default parameters is the README's.
        if args.all and not args.param and not args.no_readme:
            from twinspike.readme import update_block

            if update_block(args.readme, *SYNTH_README_BLOCK, table):
                print(f"{args.readme}: block table updated", file=sys.stderr)
    return 0


def cmd_hdl_verify(args) -> int:
    names = _selected(args)
    try:
        from twinspike.equivalence import levels

        for name in names:                  # the block harnesses import hypothesis
            block_module(name, "equivalence")
    except ImportError as exc:
        raise UsageError(f"`twinspike hdl verify` runs the proof harness, which needs the test "
                         f"extra ({exc}): pip install 'twinspike[test]'") from None

    try:
        level = levels.level(args.level)
    except ValueError as exc:
        raise UsageError(f"--level: {exc}") from None
    failed = 0
    for name in names:
        try:
            summary = levels.check(level, name, levels.pinned_cases(name, "default")[0])
            print(f"{name}: {summary}")
        except AssertionError as exc:
            failed += 1
            print(f"{name}: FAILED {level.claim}\n{str(exc)[:2000]}")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="twinspike", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)

    hdl = sub.add_parser("hdl", help="convert, synthesise and verify the hardware twins")
    hsub = hdl.add_subparsers(dest="hdl_command", required=True)
    for verb, fn, text in (("convert", cmd_hdl_convert, "write VHDL (or Verilog) for blocks"),
                           ("synth", cmd_hdl_synth, "Yosys synth_xilinx -family xc7 counts"),
                           ("verify", cmd_hdl_verify, "check a proof level on the default case")):
        p = hsub.add_parser(verb, help=text)
        p.add_argument("block", nargs="?", help="one of: " + ", ".join(BLOCKS) + (
            "; or a whole design: " + ", ".join(TOPS) if verb != "verify" else ""))
        p.add_argument("--all", action="store_true", help="every block")
        p.add_argument("--param", action="append", metavar="KEY=VALUE",
                       help="parameter override (repeatable)")
        p.set_defaults(func=fn)
        if verb == "convert":
            p.add_argument("--out", required=True, help="output folder (created)")
            p.add_argument("--hdl", choices=("vhdl", "verilog"), default="vhdl")
            p.add_argument("--check", action="store_true",
                           help="analyse and elaborate the VHDL with GHDL --std=08")
            p.add_argument("--name", help="entity (module) and file name (default: the "
                                          "block's)")
            p.add_argument("--images", metavar="DIR",
                           help="accelerator_top or layer_sequencer with a `twinspike compile` "
                                "folder's images as the initial contents of its table, "
                                "weight, bias and geometry RAMs (a bitstream comes up with "
                                "the network loaded); the parameters are the images'")
            p.add_argument("--mem-dir", metavar="PATH",
                           help="with --images: the folder of the .mem files as the VHDL "
                                "names it, where GHDL or Vivado will read them (default: "
                                "DIR as an absolute path)")
        if verb == "synth":
            p.add_argument("--markdown", action="store_true",
                           help="print a markdown table (with --all and no --param, it also "
                                "rewrites the README's marked block table)")
            p.add_argument("--readme", default="README.md",
                           help="README whose marked block table --all --markdown rewrites "
                                "(default README.md; skipped if absent or without the markers)")
            p.add_argument("--no-readme", action="store_true", help="leave the README alone")
            p.add_argument("--timing", action="store_true",
                           help="also a cell-delay timing estimate (Yosys sta, Xilinx cell "
                                "delays, no routing) and the clock it supports")
        if verb == "verify":
            p.add_argument("--level", default="ghdl",
                           help="proof level of twinspike.equivalence.levels: cython, myhdl or "
                                "ghdl (default: the converted VHDL bench in GHDL == MyHDL == "
                                "reference)")

    _add_app_commands(sub)
    return ap


def cmd_eval(args) -> int:
    import time

    import numpy as np

    from twinspike.data import load_dataset
    from twinspike.ext.evaluate import evaluate
    from twinspike.network import load

    try:
        net = load(args.model)
        _, _, x_test, y_test = load_dataset(args.data)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    x_test = np.asarray(x_test)
    if not len(x_test) or x_test[0].size != net.n_inputs:
        raise UsageError(f"{args.data}: test images of shape {x_test.shape[1:]}, but "
                         f"{args.model} expects {net.input_shape}")
    images = x_test.reshape(len(x_test), *net.input_shape)
    start = time.perf_counter()
    try:
        result = evaluate(net, images, args.T, batch=args.batch, progress=True)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    seconds = time.perf_counter() - start
    correct = int((result.predictions == np.asarray(y_test)).sum())
    sops = int(result.sops.sum())
    print(f"{args.model}: {len(net.populations)} populations, {net.n_inputs} -> "
          f"{net.n_outputs}, {net.encoding} input, {net.weight_bits}-bit weights, "
          f"{net.membrane_bits}-bit membranes")
    print(f"{args.data}: {len(images)} test images, T={args.T}")
    print(f"accuracy {100 * correct / len(images):.2f}% ({correct}/{len(images)})")
    print(f"{len(images) / seconds:.0f} images/s, {sops / seconds / 1e9:.3f} GSOP/s, "
          f"{sops / len(images):.0f} SOPs per image (Cython, batch {args.batch})")
    return 0


def cmd_hw_metrics(args) -> int:
    import numpy as np

    from twinspike.data import load_dataset
    from twinspike.hwmetrics import hw_metrics, params_from, report
    from twinspike.network import load

    try:
        params = params_from(args.param, args.lanes)
        net = load(args.model)
        _, _, x_test, _ = load_dataset(args.data)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    x_test = np.asarray(x_test)[:args.images]
    if not len(x_test) or x_test[0].size != net.n_inputs:
        raise UsageError(f"{args.data}: test images of shape {x_test.shape[1:]}, but "
                         f"{args.model} expects {net.input_shape}")
    images = x_test.reshape(len(x_test), *net.input_shape)
    try:
        metrics = hw_metrics(net, images, args.T, params, clock_mhz=args.clock_mhz,
                             synth=not args.no_synth, workers=args.workers, vcd=args.vcd)
    except ValueError as exc:
        raise UsageError(f"{args.model}: {exc}") from None
    if getattr(args, "json", False):
        import json

        from twinspike.hwmetrics import summary

        print(json.dumps(summary(metrics), indent=1))
    else:
        print(report(metrics, f"{args.model} on {args.data}"))
    return 0 if metrics.agrees and metrics.model_holds else 1


def cmd_glm(args) -> int:
    from twinspike.glm.experiment import GlmConfig, run, write

    try:
        cfg = GlmConfig(data=args.data, n_kernels=args.kernels, tau=args.tau, max_steps=args.T,
                        epochs=args.epochs, seed=args.seed, myhdl_images=args.myhdl_images)
        results = run(cfg)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    table, png = write(results, Path(args.out))
    print(f"{args.data}: binary GLM SNN {100 * results.final:.1f}% at T={args.T}, "
          f"{100 * results.fraction_at(min(4, args.T)):.0f}% of it at T=4, mean decision step "
          f"{results.mean_step[-1]:.2f}; ANN float {100 * results.ann_float:.1f}%, "
          f"binary {100 * results.ann_binary:.1f}%")
    if results.myhdl_checked:
        print(f"MyHDL == Cython on {results.myhdl_checked} test samples: {results.myhdl_agrees}")
    print(f"wrote {table} and {png}")
    return 0 if results.myhdl_agrees in (None, True) else 1


def _setup_torch(args) -> None:
    from twinspike.convert.report import setup_torch

    if args.threads < 1:
        raise UsageError(f"--threads {args.threads}: expected at least 1")
    setup_torch(args.threads)


def _torch_models(args) -> list[str]:
    from twinspike.convert.report import RECIPES

    models = args.models.split(",")
    unknown = [m for m in models if m not in RECIPES]
    if unknown:
        raise UsageError(f"--models: unknown model(s) {', '.join(unknown)}: expected a "
                         f"comma-separated subset of {','.join(RECIPES)}")
    return models


def cmd_accuracy(args) -> int:
    from twinspike.convert.report import run_accuracy

    models = _torch_models(args)
    _setup_torch(args)
    out = Path(args.out)
    run_accuracy(models, Path(args.runs), out, out.with_suffix(".png"), retrain=args.retrain,
                 readme=None if args.no_readme else Path(args.readme))
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return 0


def cmd_compile(args) -> int:
    from twinspike.glm.export import is_glm_network

    if is_glm_network(args.model):
        return _compile_glm(args)
    from twinspike.compile import DDR_BIN, DDR_MEM, use_report, write_images
    from twinspike.hwmetrics import params_from
    from twinspike.network import load, network_files
    from twinspike.sw.layer_sequencer import compile_network

    if args.vivado:
        from twinspike.vivado import check_clock
        try:
            check_clock(args.clock_mhz)
        except ValueError as exc:
            raise UsageError(f"--clock-mhz: {exc}") from None
    try:
        params = params_from(args.param)
        net = load(args.model)
        images = compile_network(net, params)
    except ValueError as exc:
        raise UsageError(f"{args.model}: {exc}") from None
    manifest = write_images(images, args.out, network_files(args.model))
    print(f"{args.model}: {len(net.populations)} populations on {params.lanes} lanes")
    print(use_report(images))
    print(f"wrote {manifest} and the .mem/.coe images beside it")
    ddr = len(images.external_weights)
    if ddr:
        print(f"{ddr:,} weight words ({8 * ddr:,} bytes) live in DDR: {DDR_MEM} and {DDR_BIN} "
              f"(the driver copies {DDR_BIN} into a buffer and writes its address to "
              f"WEIGHT_ADDR)")
    if args.vivado:
        from twinspike.vivado import write_vivado_project
        written = write_vivado_project(Path(args.out) / "vivado", params, images,
                                       clock_mhz=args.clock_mhz,
                                       network_files=network_files(args.model))
        print(f"wrote {written['tcl']} (Vivado project for the PYNQ-Z2, FCLK0 "
              f"{args.clock_mhz:g} MHz; not run here: `vivado -mode batch -source build.tcl`)")
    return 0


def _compile_glm(args) -> int:
    """``twinspike compile`` of a GLM network file (``twinspike/glm/deploy.py``)."""
    from twinspike.glm.deploy import write_images
    from twinspike.glm.export import load
    from twinspike.network import network_files

    if args.vivado:
        from twinspike.vivado import check_clock
        try:
            check_clock(args.clock_mhz)
        except ValueError as exc:
            raise UsageError(f"--clock-mhz: {exc}") from None
    if args.param:
        raise UsageError(f"{args.model}: --param does not apply to a GLM network (the top "
                         f"is generated from the network's own GlmNeuronParams)")
    try:
        net = load(args.model)
    except ValueError as exc:
        raise UsageError(f"{args.model}: {exc}") from None
    manifest = write_images(net, args.out, network_files(args.model))
    p = net.params
    print(f"{args.model}: GLM network {p.n_in} inputs -> {p.n_out} outputs, K={p.n_kernels}, "
          f"tau={p.tau}, T={net.steps} (top: hw/glm_top.py generated from these params)")
    print(f"  weight memory: {p.n_in * p.n_kernels} words of {p.n_out} bits; bias memory: "
          f"{p.n_out} words of {p.bias_bits} bits")
    print(f"wrote {manifest} and the .mem/.coe images beside it")
    if args.vivado:
        from twinspike.vivado import write_vivado_project
        written = write_vivado_project(Path(args.out) / "vivado", p, net,
                                       clock_mhz=args.clock_mhz,
                                       network_files=network_files(args.model))
        print(f"wrote {written['tcl']} (Vivado project of the GLM top for the PYNQ-Z2, FCLK0 "
              f"{args.clock_mhz:g} MHz; not run here: `vivado -mode batch -source build.tcl`)")
    return 0


def cmd_demo(args) -> int:
    from twinspike.convert.report import run_demo

    _setup_torch(args)
    run_demo(Path(args.out), Path(args.runs), retrain=args.retrain)
    return 0


def _add_app_commands(sub) -> None:
    """Commands of the network flow (demo, eval, ...) register here as they are added."""
    p = sub.add_parser("compile", help="a network's memory images and layer table for the "
                                       "accelerator (.mem, .coe, manifest.json)")
    p.add_argument("model", help="network file PATH.npz (with PATH.json)")
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--param", action="append", metavar="KEY=VALUE",
                   help="accelerator parameter override, e.g. lanes=16 (repeatable)")
    p.add_argument("--vivado", action="store_true",
                   help="also write OUT/vivado: build.tcl (Zynq PS7, AXI DMA, the top as "
                        "VHDL-2008) for the PYNQ-Z2")
    p.add_argument("--clock-mhz", type=float, default=100.0,
                   help="fabric clock FCLK_CLK0 of the Vivado project (default 100)")
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("eval", help="accuracy and speed of a network on a test set (Cython)")
    p.add_argument("--model", required=True, help="network file PATH.npz (with PATH.json)")
    p.add_argument("--data", default="digits", help="data set: digits | mnist:/dir | ...")
    p.add_argument("-T", type=int, default=8, help="timesteps per image (default 8)")
    p.add_argument("--batch", type=int, default=256, help="images per Cython call")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("hw-metrics", help="cycles, SOPs, GSOPS and Yosys resources of a network "
                                          "on the MyHDL accelerator")
    p.add_argument("--model", required=True, help="network file PATH.npz (with PATH.json)")
    p.add_argument("--data", default="digits", help="data set: digits | mnist:/dir | ...")
    p.add_argument("--images", type=int, default=10, help="test images to simulate (default 10)")
    p.add_argument("-T", type=int, default=8, help="timesteps per image (default 8)")
    p.add_argument("--lanes", type=int, default=None, help="P lanes (default 8; shortcut for "
                                                              "--param lanes=P)")
    p.add_argument("--param", action="append", metavar="KEY=VALUE",
                   help="accelerator parameter override, e.g. weight_depth=65536 (repeatable)")
    p.add_argument("--clock-mhz", type=float, default=100.0,
                   help="assumed clock for GSOPS (default 100 MHz; not timing closure)")
    p.add_argument("--no-synth", action="store_true",
                   help="skip the Yosys synthesis of the whole sequencer (about a minute)")
    p.add_argument("--workers", type=int, default=1,
                   help="processes simulating the images in parallel (default 1)")
    p.add_argument("--vcd", metavar="PATH.vcd",
                   help="also trace the first image into this VCD and draw one timestep of it "
                        "as PATH.png")
    p.set_defaults(func=cmd_hw_metrics)

    p = sub.add_parser("report", help="hw-metrics of a few images with synthesis and the timing "
                                      "estimate; --json for scripts")
    p.add_argument("--model", required=True, help="network file PATH.npz (with PATH.json)")
    p.add_argument("--data", default="digits", help="data set: digits | mnist:/dir | ...")
    p.add_argument("--images", type=int, default=3, help="test images to simulate (default 3)")
    p.add_argument("-T", type=int, default=8, help="timesteps per image (default 8)")
    p.add_argument("--lanes", type=int, default=None, help="P lanes (default 8)")
    p.add_argument("--param", action="append", metavar="KEY=VALUE",
                   help="accelerator parameter override (repeatable)")
    p.add_argument("--clock-mhz", type=float, default=100.0,
                   help="the assumed clock of gsops_assumed (default 100 MHz)")
    p.add_argument("--workers", type=int, default=1,
                   help="processes simulating the images in parallel (default 1)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (gsops, clock_mhz, arrival_ns, cycles, sops, "
                        "lanes, lut, ff, dsp, bram36, fits_xc7z020, ltp_cells, ...)")
    p.set_defaults(func=cmd_hw_metrics, no_synth=False, vcd=None)

    p = sub.add_parser("glm", help="train the binary GLM SNN (first-to-spike), accuracy vs T")
    p.add_argument("--data", default="digits", help="data set: digits | har:/dir | ...")
    p.add_argument("--out", default="docs/glm.md", help="markdown table (plot: same name .png)")
    p.add_argument("-T", type=int, default=16, help="largest number of timesteps (default 16)")
    p.add_argument("--kernels", type=int, default=4, help="raised-cosine kernels K (default 4)")
    p.add_argument("--tau", type=int, default=8, help="kernel window in steps (default 8)")
    p.add_argument("--epochs", type=int, default=200, help="training epochs (default 200)")
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument("--myhdl-images", type=int, default=4,
                   help="test samples also run on the MyHDL unit (default 4; 0 = none)")
    p.set_defaults(func=cmd_glm)

    p = sub.add_parser("accuracy", help="train/convert MLP, CNN, VGG-11, ResNet-18 (QCFS, "
                                        "w-bit weights); FP32 vs quantised DNN vs SNN at T")
    p.add_argument("--models", default="mlp,cnn,vgg11,resnet18",
                   help="comma-separated models (default: all four)")
    p.add_argument("--out", default="docs/accuracy.md", help="markdown table (plot: same "
                                                             "name .png)")
    p.add_argument("--runs", default="runs", help="cache of trained weights (default runs/)")
    p.add_argument("--retrain", action="store_true", help="ignore the cached weights")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--readme", default="README.md",
                   help="README whose marked accuracy block is rewritten when all four models "
                        "ran (default README.md; skipped if absent or without the markers)")
    p.add_argument("--no-readme", action="store_true", help="leave the README alone")
    p.set_defaults(func=cmd_accuracy)

    p = sub.add_parser("demo", help="train the digits CNN, convert it to an integer SNN, "
                                    "accuracy vs T, plot and spike raster")
    p.add_argument("--out", default="out/demo", help="folder for the PNGs (default out/demo)")
    p.add_argument("--runs", default="runs", help="cache of trained weights (default runs/)")
    p.add_argument("--retrain", action="store_true", help="ignore the cached weights")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.set_defaults(func=cmd_demo)


def main(argv: list[str] | None = None) -> int:
    from twinspike.hw.toolchain import ToolMissing

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, ToolMissing, FileNotFoundError) as exc:
        print(f"twinspike: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
