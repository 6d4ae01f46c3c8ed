"""The one place twinspike touches MyHDL and the HDL tools: simulate, convert, GHDL-verify and
Yosys-synthesise, the bench clock, and the single use of a MyHDL internal (the speed patch).

Every block bench, the whole-network runner, the equivalence levels, the CLI and the benchmarks
go through these functions. Tools that are missing raise ``ToolMissing`` with the install
command; tests turn that into a skip, or a failure when ``TWINSPIKE_REQUIRE_HDL_TOOLS=1`` (set
by ``.ci/run``). Every function leaves the process as it found it (working directory, MyHDL's
module state): ``tests/test_toolchain.py`` checks that.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import myhdl
import myhdl._intbv
from myhdl import Simulation, StopSimulation, block, delay, instance

PCK_NAME = f"pck_myhdl_{myhdl.__version__.replace('.', '')[:3]}.vhd"
INSTALL_HINT = "apt-get update && apt-get install -y ghdl yosys iverilog"


class ToolMissing(RuntimeError):
    """An external HDL tool (ghdl, yosys, iverilog) is not on PATH."""


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise ToolMissing(f"'{tool}' is not installed (install with: {INSTALL_HINT})")
    return path


@block
def bench_clock(clk, half_period: int = 5):
    """The test benches' free-running clock (an @instance loop: VHDL benches cannot convert
    ``@always(delay(..))``)."""

    @instance
    def clock():
        while True:
            yield delay(half_period)
            clk.next = not clk

    return clock


#: Every bench prints this as its last line, so an early stop (or no output) is caught.
DONE = "done"


def strip_done(lines: list[str], simulator: str) -> list[str]:
    if not lines or lines[-1].strip().lower() != DONE:
        tail = "\n".join(lines[-5:])
        raise RuntimeError(f"{simulator} bench did not reach its end (no '{DONE}' line); tail:\n{tail}")
    return lines[:-1]


def bitstring(num, width: int = 0) -> str:
    """``myhdl.bin(num, width)``, with the common ``width = 0`` case (the minimal two's
    complement digits) computed by ``format`` instead of MyHDL's Python loop over the bits."""
    if width:
        return myhdl.bin(num, width)
    num = int(num)
    if num >= 0:
        return format(num, "b")
    digits = (~num).bit_length() + 1
    return format(num & ((1 << digits) - 1), "b")


def _patchable() -> bool:
    """The speed patch replaces ``myhdl._intbv.bin``, a private name: only where it still is
    MyHDL's ``bin`` (as in the tested releases) is the replacement known to be equivalent."""
    return getattr(myhdl._intbv, "bin", None) is myhdl.bin


_warned = False


@contextlib.contextmanager
def fast_intbv_widths():
    """Within the block, ``intbv(min=..., max=...)`` measures its bounds with :func:`bitstring`
    (the same strings as ``myhdl.bin``). The engines' lanes build bounded ``intbv`` locals on
    every evaluation, and MyHDL's bit loop was 40 % of an engine simulation's time. Where the
    MyHDL internals differ from the tested ones this is a no-op with a warning: slower, never
    wrong."""
    global _warned
    if not _patchable():
        if not _warned:
            warnings.warn(f"MyHDL {myhdl.__version__}: myhdl._intbv.bin is not myhdl.bin, so "
                          "the intbv speed patch is off (simulations run at MyHDL's own speed)",
                          RuntimeWarning, stacklevel=3)
            _warned = True
        yield
        return
    original = myhdl._intbv.bin
    myhdl._intbv.bin = bitstring
    try:
        yield
    finally:
        myhdl._intbv.bin = original


_TRACE_OPTIONS = ("name", "directory", "filename", "timescale", "tracelists", "tracebackup")


@contextlib.contextmanager
def _vcd_trace(top, vcd):
    """Within the block, ``top`` writes a VCD of its signals to ``vcd`` (a path ending in
    ``.vcd``); signal lists (the RAMs' contents) are left out. MyHDL keeps its trace options in
    process-wide state: they are restored afterwards."""
    if vcd is None:
        yield
        return
    vcd = Path(vcd)
    vcd.parent.mkdir(parents=True, exist_ok=True)
    saved = {k: getattr(myhdl.traceSignals, k) for k in _TRACE_OPTIONS}
    try:
        top.config_sim(trace=True, directory=str(vcd.parent), filename=vcd.stem,
                       tracelists=False, tracebackup=False, timescale="1ns")
        yield
    finally:
        for k, v in saved.items():
            setattr(myhdl.traceSignals, k, v)


def simulate(top, vcd=None) -> None:
    """Run a MyHDL instance until it raises ``StopSimulation`` (or runs out of events);
    ``vcd``: also write a value-change dump of its signals there."""
    with _vcd_trace(top, vcd):
        sim = Simulation(top)
        try:
            with fast_intbv_widths():
                sim.run(quiet=True)
        except StopSimulation:
            pass
        finally:
            sim.quit()


def run_myhdl(tb, vcd=None) -> list[str]:
    """Simulate a test bench instance in MyHDL; return the lines it printed before 'done'
    (``vcd``: also write a value-change dump there)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        simulate(tb, vcd)
    return strip_done(buf.getvalue().splitlines(), "MyHDL")


def convert(inst, hdl: str, out_dir: str | os.PathLike, name: str) -> list[Path]:
    """Convert a block instance to ``hdl`` ('vhdl' or 'verilog') under ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    hdl = hdl.lower()
    if hdl not in ("vhdl", "verilog"):
        raise ValueError(f"hdl={hdl!r}: expected 'vhdl' or 'verilog'")
    # initial_values explicitly: MyHDL keeps conversion options between calls, so a preceding
    # verify_vhdl (initial values on) would otherwise leak into this conversion.
    if hdl == "vhdl":
        inst.convert(hdl="VHDL", path=str(out), name=name, initial_values=False)
    else:
        inst.convert(hdl="Verilog", path=str(out), name=name, testbench=False,
                     initial_values=False)
    if hdl == "vhdl":
        return [out / PCK_NAME, out / f"{name}.vhd"]
    return [out / f"{name}.v"]


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)


def ghdl_elaborate(vhdl_files: list[Path], top: str, workdir: Path) -> None:
    """Analyse (VHDL-2008) and elaborate; raises RuntimeError with GHDL's message on failure."""
    require("ghdl")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    # GHDL runs inside workdir: name the sources absolutely, or a relative --out breaks.
    sources = [str(Path(f).resolve()) for f in vhdl_files]
    for step in (["ghdl", "-a", "--std=08", *sources],
                 ["ghdl", "-e", "--std=08", top.lower()]):
        proc = _run(step, workdir)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(step)} failed:\n{proc.stdout}{proc.stderr}")


@dataclass
class VerifyResult:
    ok: bool
    myhdl_lines: list[str]
    ghdl_lines: list[str]
    diff: str


def verify_vhdl(tb, workdir: str | os.PathLike | None = None) -> VerifyResult:
    """MyHDL's ``verify_convert`` with GHDL: convert the test bench to VHDL (initial values on),
    run it in MyHDL and in GHDL, and compare the printed lines. Stricter than MyHDL alone: the
    two outputs must have the same number of lines and both must end with the 'done' line.
    The returned lines exclude that marker."""
    require("ghdl")
    from myhdl.conversion import verify

    tmp = tempfile.mkdtemp(prefix="twinspike-verify-") if workdir is None else str(workdir)
    Path(tmp).mkdir(parents=True, exist_ok=True)
    # verify() also resets sys.stdout to sys.__stdout__ after its MyHDL run, and leaves
    # initial_values on for later conversions.
    old_cwd, old_simulator, old_stdout = os.getcwd(), verify.simulator, sys.stdout
    old_initial = myhdl.toVHDL.initial_values
    try:
        # MyHDL's verify writes its files into, and runs GHDL in, the working directory.
        os.chdir(tmp)
        verify.simulator = "ghdl"
        with contextlib.redirect_stderr(io.StringIO()), fast_intbv_widths():
            ret = verify(tb, initial_values=True)
        read = lambda f: Path(f).read_text().splitlines() if Path(f).exists() else []  # noqa: E731
        mine, theirs = read("MyHDL.log"), read("ghdl.log")
        diff = Path("diff.log").read_text() if Path("diff.log").exists() else "(no diff.log)"
    finally:
        verify.simulator = old_simulator
        myhdl.toVHDL.initial_values = old_initial
        sys.stdout = old_stdout
        os.chdir(old_cwd)
        if workdir is None:
            shutil.rmtree(tmp, ignore_errors=True)
    ok = ret == 0 and [m.lower() for m in mine] == [g.lower() for g in theirs]
    if ok:
        mine, theirs = strip_done(mine, "MyHDL"), strip_done(theirs, "GHDL")
    return VerifyResult(ok, mine, theirs, diff)


#: Yosys xc7 primitive names grouped into the four resource kinds we report.
_LUT = re.compile(r"^LUT[1-6]$")
_FF = re.compile(r"^FD[CPRS]E?$")
#: Distributed RAM and shift registers occupy SLICEM LUTs: LUTs per primitive (UG474).
_LUTRAM = {"RAM32M": 4, "RAM64M": 4, "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4,
           "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2, "RAM256X1S": 4,
           "SRL16E": 1, "SRLC32E": 1}


@dataclass(frozen=True)
class Resources:
    lut: int  # logic LUTs plus the LUTs used as distributed RAM / shift registers
    ff: int
    dsp: int
    bram36: float  # RAMB36 + RAMB18 / 2
    cells: dict
    #: Worst arrival time in ns by Yosys ``sta`` with the Xilinx cell delays (no routing);
    #: None unless asked for.
    arrival_ns: float | None = None
    #: Longest path in cells (Yosys ``ltp`` on the netlist with flip-flops, RAMs and shift
    #: registers cut; a CARRY4 or a DSP48 counts one); None unless timing was asked for.
    ltp_cells: int | None = None

    def as_row(self) -> str:
        row = f"LUT={self.lut} FF={self.ff} DSP={self.dsp} BRAM36={self.bram36:g}"
        if self.arrival_ns is not None:
            row += f" arrival={self.arrival_ns:.2f}ns"
        return row if self.ltp_cells is None else row + f" ltp={self.ltp_cells}"


#: Share of the clock period left for routing when a clock is derived from cell delays alone.
ROUTING_MARGIN = 0.30


def clock_mhz_for(arrival_ns: float, margin: float = ROUTING_MARGIN) -> float:
    """The highest clock whose period leaves ``margin`` of itself for routing after
    ``arrival_ns`` of cell delay: ``1000 * (1 - margin) / arrival_ns``."""
    return 1000.0 * (1.0 - margin) / arrival_ns


_ARRIVAL = re.compile(r"Latest arrival time in '[^']*' is (\d+)")


def parse_sta(text: str) -> float:
    """The worst arrival time (ns) of a Yosys ``sta`` report (it prints picoseconds)."""
    match = _ARRIVAL.search(text)
    if match is None:
        raise RuntimeError(f"no arrival time in the sta report:\n{text[:1000]}")
    return int(match.group(1)) / 1000.0


_LTP = re.compile(r"Longest topological path in \S+ \(length=(-?\d+)\)")


def parse_ltp(text: str) -> int:
    """The length (cells) of a Yosys ``ltp`` report."""
    match = _LTP.search(text)
    if match is None or int(match.group(1)) < 0:
        raise RuntimeError(f"no longest path in the ltp report:\n{text[:1000]}")
    return int(match.group(1))


def parse_yosys_stat(stat_json: dict, top: str) -> Resources:
    mods = stat_json.get("modules", {})
    key = next((k for k in mods if k.strip("\\") == top), None)
    cells = (mods[key] if key else stat_json.get("design", {})).get("num_cells_by_type", {})
    lut = sum(n for c, n in cells.items() if _LUT.match(c)) + sum(
        n * _LUTRAM[c] for c, n in cells.items() if c in _LUTRAM)
    ff = sum(n for c, n in cells.items() if _FF.match(c))
    dsp = sum(n for c, n in cells.items() if c.startswith("DSP48"))
    bram = sum(n for c, n in cells.items() if c.startswith("RAMB36")) + 0.5 * sum(
        n for c, n in cells.items() if c.startswith("RAMB18"))
    return Resources(lut, ff, dsp, bram, dict(cells))


def synth_xc7(inst, name: str, workdir: str | os.PathLike | None = None,
              timing: bool = False) -> Resources:
    """Convert to Verilog and run ``yosys synth_xilinx -family xc7``; return the counts.
    ``timing``: also run ``sta`` on the netlist with the Xilinx cell delays
    (``read_verilog -lib -specify +/xilinx/cells_sim.v``): cell delays only, no routing; and
    ``ltp`` with the sequential cells cut (:attr:`Resources.ltp_cells`)."""
    require("yosys")
    tmp = Path(tempfile.mkdtemp(prefix="twinspike-synth-") if workdir is None else workdir)
    try:
        (vfile,) = convert(inst, "verilog", tmp, name)
        script = (f"read_verilog {vfile.name}; synth_xilinx -family xc7 -top {name}; "
                  f"tee -q -o stat.json stat -json")
        if timing:
            script += ("; select -set cut t:FD* t:RAM* t:SRL* %u %u; tee -q -o ltp.txt ltp @cut %n"
                       "; read_verilog -lib -specify +/xilinx/cells_sim.v; tee -q -o sta.txt sta")
        proc = _run(["yosys", "-q", "-p", script], tmp)
        if proc.returncode != 0:
            raise RuntimeError(f"yosys failed on {name}:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
        res = parse_yosys_stat(json.loads((tmp / "stat.json").read_text()), name)
        if timing:
            res = dataclasses.replace(res, arrival_ns=parse_sta((tmp / "sta.txt").read_text()),
                                      ltp_cells=parse_ltp((tmp / "ltp.txt").read_text()))
        return res
    finally:
        if workdir is None:
            shutil.rmtree(tmp, ignore_errors=True)
