"""The ``twinspike`` command: ``hdl convert | synth | verify``, ``demo``, ``eval``.

Errors a user can cause (bad block name, bad parameter, missing tool or file) print one clear
line on stderr and exit with status 2; anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from twinspike import BLOCKS


class UsageError(Exception):
    pass


def _parse_params(name: str, pairs: list[str]):
    from twinspike.equivalence.harness import block_module

    hw = block_module(name, "hw")
    fields = {f.name for f in dataclasses.fields(hw.Params)}
    kwargs = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"--param {pair!r}: expected KEY=VALUE")
        if key not in fields:
            raise UsageError(f"--param {key}: {hw.Params.__name__} has no field {key!r} "
                             f"(fields: {', '.join(sorted(fields))})")
        try:
            kwargs[key] = int(value, 0)
        except ValueError:
            raise UsageError(f"--param {key}={value!r}: expected an integer") from None
    try:
        return hw, hw.Params(**kwargs)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _selected(args) -> list[str]:
    if args.all:
        return list(BLOCKS)
    if not args.block:
        raise UsageError("name a block or pass --all (blocks: " + ", ".join(BLOCKS) + ")")
    if args.block not in BLOCKS:
        raise UsageError(f"unknown block {args.block!r}: expected one of {', '.join(BLOCKS)}")
    return [args.block]


def cmd_hdl_convert(args) -> int:
    from twinspike.hw import toolchain

    names = _selected(args)
    if args.all and args.param:
        raise UsageError("--param applies to one block, not --all")
    for name in names:
        hw, p = _parse_params(name, args.param)
        files = toolchain.convert(hw.top(p), args.hdl, args.out, name)
        note = ""
        if args.check and args.hdl == "vhdl":
            toolchain.ghdl_elaborate(files, name, Path(args.out) / "work")
            note = " (GHDL --std=08 analyse+elaborate: ok)"
        print(f"{name}: {p} -> {', '.join(str(f) for f in files)}{note}")
    return 0


def cmd_hdl_synth(args) -> int:
    from twinspike.hw import toolchain

    if args.markdown:
        print("| block | parameters | LUT | FF | DSP | BRAM36 |\n|---|---|---:|---:|---:|---:|")
    for name in _selected(args):
        hw, p = _parse_params(name, args.param)
        res = toolchain.synth_xc7(hw.top(p), name)
        if args.markdown:
            fields = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(p).items())
            print(f"| {name} | {fields} | {res.lut} | {res.ff} | {res.dsp} | {res.bram36:g} |")
        else:
            print(f"{name}: {res.as_row()}   [{p}]")
    return 0


def cmd_hdl_verify(args) -> int:
    from twinspike.equivalence.harness import assert_same, block_module
    from twinspike.hw import toolchain

    failed = 0
    for name in _selected(args):
        eq = block_module(name, "equivalence")
        case = eq.default_case()
        result = toolchain.verify_vhdl(eq.bench(*case))
        ok = result.ok
        if ok:
            assert_same(eq.parse_lines(case[0], result.ghdl_lines), eq.run_reference(*case))
        failed += not ok
        print(f"{name}: GHDL {'==' if ok else '!='} MyHDL == reference "
              f"({len(result.myhdl_lines)} lines)" + ("" if ok else "\n" + result.diff[:2000]))
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="twinspike", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)

    hdl = sub.add_parser("hdl", help="convert, synthesise and verify the hardware twins")
    hsub = hdl.add_subparsers(dest="hdl_command", required=True)
    for verb, fn, text in (("convert", cmd_hdl_convert, "write VHDL (or Verilog) for blocks"),
                           ("synth", cmd_hdl_synth, "Yosys synth_xilinx -family xc7 counts"),
                           ("verify", cmd_hdl_verify, "run the default bench in GHDL vs MyHDL")):
        p = hsub.add_parser(verb, help=text)
        p.add_argument("block", nargs="?", help="one of: " + ", ".join(BLOCKS))
        p.add_argument("--all", action="store_true", help="every block")
        p.add_argument("--param", action="append", metavar="KEY=VALUE",
                       help="parameter override (repeatable)")
        p.set_defaults(func=fn)
        if verb == "convert":
            p.add_argument("--out", required=True, help="output folder (created)")
            p.add_argument("--hdl", choices=("vhdl", "verilog"), default="vhdl")
            p.add_argument("--check", action="store_true",
                           help="analyse and elaborate the VHDL with GHDL --std=08")
        if verb == "synth":
            p.add_argument("--markdown", action="store_true", help="print a markdown table")

    _add_app_commands(sub)
    return ap


def _add_app_commands(sub) -> None:
    """Commands of the network flow (demo, eval, ...) register here as they are added."""


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
