"""Hardware metrics of a network on the accelerator (``docs/hardware.md``; the design brief's
"Metrics: Hardware").

* The network is compiled for one synthesised accelerator (``sw/layer_sequencer.py``:
  :class:`AcceleratorParams`, memory images) and every image runs on the cycle-accurate MyHDL
  layer sequencer (``hw/layer_sequencer.py``), checked against the Cython batch evaluator
  (classes, spike counts, SOPs) and against the sequencer's cycle model.
* Cycles per inference come from the simulation: clock edges from the edge that takes an
  image's last pixel to the end of its last fire scan. SOPs are the sequencer's own counter of
  the lane additions it performed (padding lanes excluded), which equals the evaluator's count.
* ``GSOPS = SOPs / (cycles / f_clk)`` at a stated clock (100 MHz by default: an assumption,
  not timing closure), and at the clock the synthesised top's cell-delay estimate supports
  (Yosys ``sta`` with the Xilinx cell delays, no routing, 30 % of the period left for routing).
* Resources: Yosys ``synth_xilinx -family xc7`` LUT/FF/DSP/BRAM36 of the **whole top**
  (``hw/top.py``: the sequencer -- the one engine every layer time-shares, with all its
  memories -- behind the AXI register file and stream adapters) at those parameters, and
  whether it fits the xc7z020.
* Efficiency: GSOPS per PE (the ``P`` lanes), per DSP and per 1k LUT, beside the paper's
  figures (:data:`PAPER`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from twinspike.ext.evaluate import evaluate
from twinspike.network import Network
from twinspike.sw.common import check_range
from twinspike.sw.layer_sequencer import AcceleratorParams, Images, compile_network, run

DEFAULT_CLOCK_MHZ = 100.0
#: Nimbekar et al., arXiv 2410.16298 (PYNQ-Z2 prototype).
PAPER = {"gops": 38.4, "watts": 1.54, "pes": 64, "gops_per_pe": 0.6, "gops_per_dsp": 2.25}
PAPER_LINE = ("paper (arXiv 2410.16298): 38.4 GOPS at 1.54 W on PYNQ-Z2, 64 PEs: "
              "0.6 GOPS/PE, 2.25 GOPS/DSP")
#: xc7z020 (PYNQ-Z2) capacity.
XC7Z020 = {"lut": 53_200, "ff": 106_400, "dsp": 220, "bram36": 140}


@dataclass(frozen=True)
class HwMetrics:
    """The hardware metrics of ``images`` images at ``T`` timesteps (module docstring).
    ``agrees``: the MyHDL run equals the Cython evaluator (classes, counts, SOPs);
    ``model_holds``: its cycles less those stalled on DDR weight lines (``stalls``; the bench
    DDR of ``hw/axi.bench_ddr``) equal the cycle model and its line fills the reference's;
    ``resources`` is None when synthesis was skipped."""

    images: int
    T: int
    params: AcceleratorParams
    clock_mhz: float
    agrees: bool
    model_holds: bool
    cycles: np.ndarray
    sops: np.ndarray
    compiled: Images
    resources: object = None
    stalls: np.ndarray | None = None

    @property
    def cycles_per_inference(self) -> float:
        return float(self.cycles.mean())

    @property
    def sops_per_inference(self) -> float:
        return float(self.sops.mean())

    @property
    def gsops(self) -> float:
        """``SOPs / (cycles / f_clk)`` over all images, in 1e9 SOP/s."""
        seconds = self.cycles.sum() / (self.clock_mhz * 1e6)
        return float(self.sops.sum() / seconds / 1e9)

    @property
    def met_clock_mhz(self) -> float | None:
        """The clock the cell-delay estimate supports with a routing margin (None without
        synthesis): ``hw/toolchain.clock_mhz_for``."""
        from twinspike.hw.toolchain import clock_mhz_for

        r = self.resources
        return None if r is None or r.arrival_ns is None else clock_mhz_for(r.arrival_ns)

    def gsops_at(self, clock_mhz: float) -> float:
        return self.gsops * clock_mhz / self.clock_mhz

    @property
    def fits(self) -> bool:
        r = self.resources
        return (r.lut <= XC7Z020["lut"] and r.ff <= XC7Z020["ff"] and r.dsp <= XC7Z020["dsp"]
                and r.bram36 <= XC7Z020["bram36"])


def run_images(compiled: Images, pixels: np.ndarray, T: int, workers: int = 1) -> list[dict]:
    """Every image through the MyHDL sequencer (``hw/layer_sequencer.run_bench``); ``workers >
    1`` splits the images over that many processes (MyHDL is single-threaded; the sequencer
    keeps no state between images, so the joined records are those of one run)."""
    from twinspike.hw import layer_sequencer as hw

    chunks = [c for c in np.array_split(np.arange(len(pixels)), workers) if len(c)]
    if len(chunks) == 1:
        return hw.run_bench(compiled, pixels, T)
    import concurrent.futures
    import multiprocessing

    # spawn, not fork: the parent may hold OpenMP and torch threads.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(len(chunks), mp_context=context) as pool:
        parts = pool.map(hw.run_bench, [compiled] * len(chunks), [pixels[c] for c in chunks],
                         [T] * len(chunks))
        return [record for part in parts for record in part]


def hw_metrics(net: Network, images, T: int, params: AcceleratorParams | None = None,
               clock_mhz: float = DEFAULT_CLOCK_MHZ, synth: bool = True,
               workers: int = 1, vcd=None) -> HwMetrics:
    """Run ``images`` on the MyHDL sequencer of ``params`` (default
    :class:`AcceleratorParams`) and on the Cython evaluator and derive the metrics (module
    docstring); ``synth=False`` skips Yosys. A network that does not fit raises
    ``ValueError`` naming the memory. ``vcd``: also trace the first image's run into that
    VCD file and draw one timestep of it beside it (same name, ``.png``;
    ``twinspike/timing.py``)."""
    params = AcceleratorParams() if params is None else params
    if not isinstance(clock_mhz, (int, float)) or not 0 < clock_mhz <= 1000:
        raise ValueError(f"hw_metrics.clock_mhz={clock_mhz!r} is out of range: expected a "
                         "number in (0, 1000]")
    check_range("hw_metrics", "images", len(images), 1, 1 << 20)
    check_range("hw_metrics", "workers", workers, 1, 256)
    if vcd is not None and Path(vcd).suffix != ".vcd":
        raise ValueError(f"hw_metrics.vcd={str(vcd)!r}: expected a file name ending in .vcd")
    compiled = compile_network(net, params)
    images = np.asarray(images)
    records = run_images(compiled, images.reshape(len(images), -1), T, workers)
    fast, model = evaluate(net, images, T), run(net, compiled, images, T)
    if len(records) != len(images) or any(r.get("error") for r in records):
        raise RuntimeError(f"the sequencer stopped with errors: {records[-1:]}")
    agrees = (np.array_equal([r["class"] for r in records], fast.predictions)
              and np.array_equal([r["counts"] for r in records], fast.counts)
              and np.array_equal([r["sops"] for r in records], fast.sops))
    cycles = np.array([r["cycles"] for r in records], dtype=np.int64)
    stalls = np.array([r["stalls"] for r in records], dtype=np.int64)
    fills = np.array([r["fills"] for r in records], dtype=np.int64)
    if vcd is not None:
        from twinspike.hw import layer_sequencer as hw
        from twinspike.timing import plot_timestep

        hw.run_bench(compiled, images.reshape(len(images), -1)[:1], T, vcd=vcd)
        plot_timestep(vcd, Path(vcd).with_suffix(".png"), step=min(1, T - 1))
    resources = None
    if synth:
        from twinspike.hw import toolchain
        from twinspike.hw import top as hw_top

        resources = toolchain.synth_xc7(hw_top.top(params), "accelerator_top", timing=True)
    holds = (np.array_equal(cycles - stalls, model.cycles)
             and np.array_equal(fills, model.weight_fills))
    return HwMetrics(len(images), T, params, float(clock_mhz), agrees, bool(holds), cycles,
                     np.array([r["sops"] for r in records], dtype=np.int64), compiled, resources,
                     stalls)


def summary(m: HwMetrics) -> dict:
    """The metrics as one flat JSON-able object (``twinspike report --json``): per-inference
    means of ``cycles``, ``sops`` and ``stalls``; ``gsops`` and ``clock_mhz`` at the clock
    the cell-delay estimate supports (None without synthesis) and ``gsops_assumed`` at the
    assumed ``assumed_clock_mhz``; resources of the whole top; the paper's figures."""
    r, p = m.resources, m.params
    clock = m.met_clock_mhz
    gsops = None if clock is None else m.gsops_at(clock)
    out = {"images": m.images, "T": m.T, "agrees": m.agrees, "model_holds": m.model_holds,
           "cycles": m.cycles_per_inference, "sops": m.sops_per_inference,
           "stalls": None if m.stalls is None else float(m.stalls.mean()),
           "lanes": p.lanes, "assumed_clock_mhz": m.clock_mhz, "gsops_assumed": m.gsops,
           "clock_mhz": clock, "gsops": gsops,
           "arrival_ns": None if r is None else r.arrival_ns,
           "ltp_cells": None if r is None else r.ltp_cells,
           "lut": None if r is None else r.lut, "ff": None if r is None else r.ff,
           "dsp": None if r is None else r.dsp, "bram36": None if r is None else r.bram36,
           "fits_xc7z020": None if r is None else m.fits,
           "gsops_per_pe": None if gsops is None else gsops / p.lanes,
           "gsops_per_dsp": None if gsops is None or not r.dsp else gsops / r.dsp,
           "gsops_per_klut": None if gsops is None else gsops / (r.lut / 1000),
           "paper": dict(PAPER)}
    return out


def _per(value: float, amount: float, none: str) -> str:
    return f"{value / amount:.4g}" if amount else none


def report(m: HwMetrics, title: str = "") -> str:
    """The metrics as markdown."""
    p = m.params
    lines = [title] if title else []
    lines += [f"{m.images} test images, T={m.T}, accelerator: {p.lanes} lanes, "
              f"{p.weight_bits}-bit weights, {p.membrane_bits}-bit membranes; clock "
              f"{m.clock_mhz:g} MHz (an assumption, not timing closure)", "",
              ("MyHDL accelerator == Cython evaluator: classes, spike counts and SOPs agree"
               if m.agrees else "MISMATCH: the MyHDL accelerator and the Cython evaluator "
               "disagree"),
              ("cycles == the sequencer's cycle model (sw/layer_sequencer.py)"
               + (" plus the cycles stalled on DDR weight lines" if m.stalls is not None
                  and m.stalls.any() else "") if m.model_holds
               else "MISMATCH: cycles differ from the cycle model"), "",
              "| memory | words used | depth |", "|---|---:|---:|"]
    lines += [f"| {u.memory} | {u.used:,} | {u.depth:,} |" for u in m.compiled.use]
    lines += ["", f"- cycles per inference: {m.cycles_per_inference:.0f} "
                  f"(min {m.cycles.min()}, max {m.cycles.max()})"]
    if m.stalls is not None and m.stalls.any():
        lines += [f"- of which stalled on DDR weight lines: {m.stalls.mean():.0f} per inference "
                  f"(the bench DDR's latency, hw/axi.bench_ddr: a board's differs)"]
    lines += [f"- SOPs per inference: {m.sops_per_inference:.0f}",
              f"- GSOPS at {m.clock_mhz:g} MHz: {m.gsops:.4g} (peak {p.lanes} lanes x "
              f"{m.clock_mhz:g} MHz = {p.lanes * m.clock_mhz / 1000:.4g})",
              f"- GSOPS per PE (P = {p.lanes} lanes): {m.gsops / p.lanes:.4g}   "
              f"[paper: {PAPER['gops_per_pe']} GOPS/PE]"]
    r = m.resources
    if r is not None:
        lines += [f"- Yosys xc7, whole top (sequencer + AXI): LUT {r.lut:,}, FF {r.ff:,}, DSP {r.dsp}, "
                  f"BRAM36 {r.bram36:g} -- "
                  + ("fits" if m.fits else "**does not fit**")
                  + f" the xc7z020 ({XC7Z020['lut']:,} LUT, {XC7Z020['ff']:,} FF, "
                    f"{XC7Z020['dsp']} DSP, {XC7Z020['bram36']} BRAM36)",
                  f"- timing estimate (Yosys sta, Xilinx cell delays, no routing): worst arrival "
                  f"{r.arrival_ns:.2f} ns; leaving 30 % of the period for routing the clock is "
                  f"at most {m.met_clock_mhz:.1f} MHz, where the GSOPS are "
                  f"{m.gsops_at(m.met_clock_mhz):.4g}; longest path {r.ltp_cells} cells "
                  f"(Yosys ltp, flip-flops and RAMs cut)"
                  + ("" if m.met_clock_mhz >= m.clock_mhz else
                     f" (the {m.clock_mhz:g} MHz above is not supported by this estimate)"),
                  f"- GSOPS per DSP: {_per(m.gsops, r.dsp, 'n/a (no DSP used)')}   "
                  f"[paper: {PAPER['gops_per_dsp']} GOPS/DSP]",
                  f"- GSOPS per 1k LUT: {_per(m.gsops, r.lut / 1000, 'n/a')}"]
    else:
        lines.append("- resources: synthesis skipped (no GSOPS per DSP / per 1k LUT)")
    lines.append(f"- {PAPER_LINE}")
    return "\n".join(lines)


def demo_hw_check(net: Network, images, T: int, params: AcceleratorParams | None = None,
                  clock_mhz: float = DEFAULT_CLOCK_MHZ, workers: int = 1) -> str:
    """Run ``images`` on the MyHDL accelerator and the Cython evaluator; the one line the demo
    prints: whether they agree, with the cycles per inference and the GSOPS."""
    m = hw_metrics(net, images, T, params, clock_mhz, synth=False, workers=workers)
    numbers = (f"cycles={m.cycles_per_inference:.0f} per inference, GSOPS={m.gsops:.3g} at "
               f"{m.clock_mhz:g} MHz")
    if m.agrees and m.model_holds:
        return (f"MyHDL accelerator == Cython evaluator on {m.images} test images: classes, "
                f"counts and SOPs agree ({numbers})")
    return f"MyHDL accelerator != Cython evaluator on {m.images} test images ({numbers})"


def params_from(pairs, lanes: int | None = None) -> AcceleratorParams:
    """:class:`AcceleratorParams` from ``KEY=VALUE`` strings (and a ``lanes`` shortcut);
    ``ValueError`` naming the bad pair."""
    from twinspike.options import params_from_pairs

    return params_from_pairs(AcceleratorParams, pairs, **({} if lanes is None else
                                                          {"lanes": lanes}))
