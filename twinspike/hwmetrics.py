"""Hardware metrics of a network on the engines (``docs/hardware.md``; the design brief's
"Metrics: Hardware").

* Cycles per inference and SOPs actually performed come from the cycle-accurate MyHDL run
  (:func:`twinspike.hwrun.run_network_on_engines`), which is first checked against the Cython
  batch evaluator (spikes per timestep, counts, classes, SOPs).
* ``GSOPS = SOPs / (cycles / f_clk)`` at a stated clock (100 MHz by default: an assumption,
  not timing closure).
* Resources: Yosys ``synth_xilinx -family xc7`` LUT/FF/DSP/BRAM36 of every population's engine
  at the network's parameters (``hw/toolchain.synth_xc7`` of the engine tops), summed.
* Efficiency: GSOPS per PE (the ``P`` lanes of the engine at work: populations run one at a
  time), per DSP (``n/a`` when no DSP is used) and per 1k LUT, beside the paper's figures
  (:data:`PAPER`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twinspike.ext.evaluate import evaluate
from twinspike.hwrun import DEFAULT_LANES, ENGINES, EngineSlot, HwResult, run_network_on_engines
from twinspike.network import Network
from twinspike.sw.common import check_range

DEFAULT_CLOCK_MHZ = 100.0
#: Nimbekar et al., arXiv 2410.16298 (PYNQ-Z2 prototype).
PAPER = {"gops": 38.4, "watts": 1.54, "pes": 64, "gops_per_pe": 0.6, "gops_per_dsp": 2.25}
PAPER_LINE = ("paper (arXiv 2410.16298): 38.4 GOPS at 1.54 W on PYNQ-Z2, 64 PEs: "
              "0.6 GOPS/PE, 2.25 GOPS/DSP")


@dataclass(frozen=True)
class EngineResources:
    """Yosys xc7 counts of one population's engine."""

    slot: EngineSlot
    lut: int
    ff: int
    dsp: int
    bram36: float


@dataclass(frozen=True)
class HwMetrics:
    """The hardware metrics of ``images`` images at ``T`` timesteps (module docstring);
    ``agrees`` says whether the MyHDL run equals the Cython evaluator; ``resources`` is empty
    when synthesis was skipped."""

    images: int
    T: int
    lanes: int
    clock_mhz: float
    agrees: bool
    result: HwResult
    resources: tuple[EngineResources, ...]

    @property
    def cycles_per_inference(self) -> float:
        return float(self.result.cycles.mean())

    @property
    def sops_per_inference(self) -> float:
        return float(self.result.sops.mean())

    @property
    def gsops(self) -> float:
        """``SOPs / (cycles / f_clk)`` over all images, in 1e9 SOP/s."""
        seconds = self.result.cycles.sum() / (self.clock_mhz * 1e6)
        return float(self.result.sops.sum() / seconds / 1e9)

    @property
    def lut(self) -> int:
        return sum(r.lut for r in self.resources)

    @property
    def dsp(self) -> int:
        return sum(r.dsp for r in self.resources)


def agree(hw: HwResult, sw) -> bool:
    """Same output spikes per timestep, counts, classes, output membranes, SOPs and spikes per
    population as the evaluator's :class:`twinspike.sw.network.Result`."""
    return all(np.array_equal(getattr(hw, name), getattr(sw, name))
               for name in ("spikes", "counts", "predictions", "membranes", "sops",
                            "population_spikes"))


def synthesise(slots, workdir=None) -> tuple[EngineResources, ...]:
    """Yosys xc7 counts of each engine (identical engines are synthesised once)."""
    from twinspike.hw import toolchain

    cache, out = {}, []
    for slot in slots:
        if slot.params not in cache:
            engine = ENGINES[slot.kind]
            cache[slot.params] = toolchain.synth_xc7(engine.hw.top(slot.params), engine.name,
                                                     workdir)
        res = cache[slot.params]
        out.append(EngineResources(slot, res.lut, res.ff, res.dsp, res.bram36))
    return tuple(out)


def hw_metrics(net: Network, images, T: int, lanes: int = DEFAULT_LANES,
               clock_mhz: float = DEFAULT_CLOCK_MHZ, synth: bool = True,
               workers: int = 1) -> HwMetrics:
    """Run ``images`` on the MyHDL engines (``workers`` processes) and on the Cython evaluator
    and derive the metrics (module docstring); ``synth=False`` skips Yosys."""
    if not isinstance(clock_mhz, (int, float)) or not 0 < clock_mhz <= 1000:
        raise ValueError(f"hw_metrics.clock_mhz={clock_mhz!r} is out of range: expected a "
                         "number in (0, 1000]")
    check_range("hw_metrics", "images", len(images), 1, 1 << 20)
    result = run_network_on_engines(net, images, T, lanes, workers)
    agrees = agree(result, evaluate(net, images, T))
    resources = synthesise(result.engines) if synth else ()
    return HwMetrics(len(images), T, lanes, float(clock_mhz), agrees, result, resources)


def _engine_text(slot: EngineSlot) -> str:
    p = slot.params
    value = f", {p.value_bits}-bit events" if p.value_bits > 1 else ""
    return f"{slot.kind} {ENGINES[slot.kind].describe(p)}{value} ({'+'.join(slot.banks)})"


def _per(value: float, amount: float, none: str) -> str:
    return f"{value / amount:.4g}" if amount else none


def report(m: HwMetrics, title: str = "") -> str:
    """The metrics as markdown: a per-population table and the summary lines."""
    r = m.result
    synth = bool(m.resources)
    head = "| population | engine | cycles/inference | SOPs/inference |"
    rule = "|---|---|---:|---:|"
    if synth:
        head += " LUT | FF | DSP | BRAM36 |"
        rule += "---:|---:|---:|---:|"
    lines = [title] if title else []
    lines += [f"{m.images} test images, T={m.T}, P={m.lanes} lanes per engine, clock "
              f"{m.clock_mhz:g} MHz (an assumption, not timing closure)", "",
              ("MyHDL engines == Cython evaluator: output spikes per timestep, counts, classes, "
               "membranes and SOPs agree" if m.agrees else
               "MISMATCH: the MyHDL engines and the Cython evaluator disagree"), "", head, rule]
    sops = r.population_sops.mean(axis=0)
    for i, slot in enumerate(r.engines):
        row = (f"| {slot.population} | {_engine_text(slot)} | "
               f"{r.population_cycles[:, i].mean():.0f} | {sops[i]:.0f} |")
        if synth:
            res = m.resources[i]
            row += f" {res.lut} | {res.ff} | {res.dsp} | {res.bram36:g} |"
        lines.append(row)
    total = f"| **all** | {len(r.engines)} engines | {m.cycles_per_inference:.0f} | " \
            f"{m.sops_per_inference:.0f} |"
    if synth:
        total += (f" {m.lut} | {sum(x.ff for x in m.resources)} | {m.dsp} | "
                  f"{sum(x.bram36 for x in m.resources):g} |")
    lines += [total, ""]
    lines.append(f"- cycles per inference: {m.cycles_per_inference:.0f} (engine write-port "
                 f"loading, once per network: {int(r.load_cycles.sum())} cycles)")
    lines.append(f"- SOPs per inference: {m.sops_per_inference:.0f} (lane accumulations "
                 f"performed: {r.engine_ops.mean():.0f})")
    lines.append(f"- GSOPS at {m.clock_mhz:g} MHz: {m.gsops:.4g} (peak {m.lanes} lanes x "
                 f"{m.clock_mhz:g} MHz = {m.lanes * m.clock_mhz / 1000:.4g})")
    lines.append(f"- GSOPS per PE (P = {m.lanes} lanes at work): "
                 f"{m.gsops / m.lanes:.4g}   [paper: {PAPER['gops_per_pe']} GOPS/PE]")
    if synth:
        lines.append(f"- GSOPS per DSP: {_per(m.gsops, m.dsp, 'n/a (no DSP used)')}   "
                     f"[paper: {PAPER['gops_per_dsp']} GOPS/DSP]")
        lines.append(f"- GSOPS per 1k LUT: {_per(m.gsops, m.lut / 1000, 'n/a')}")
    else:
        lines.append("- resources: synthesis skipped (no GSOPS per DSP / per 1k LUT)")
    lines.append(f"- {PAPER_LINE}")
    return "\n".join(lines)


def demo_hw_check(net: Network, images, T: int, lanes: int = DEFAULT_LANES,
                  clock_mhz: float = DEFAULT_CLOCK_MHZ, workers: int = 1) -> str:
    """Run ``images`` on the MyHDL engines and the Cython evaluator; the one line the demo
    prints: whether they agree, with the cycles per inference and the GSOPS."""
    m = hw_metrics(net, images, T, lanes, clock_mhz, synth=False, workers=workers)
    numbers = (f"cycles={m.cycles_per_inference:.0f} per inference, GSOPS={m.gsops:.3g} at "
               f"{m.clock_mhz:g} MHz")
    if m.agrees:
        return (f"MyHDL engines == Cython evaluator on {m.images} test images: spikes, counts "
                f"and classes agree ({numbers})")
    return f"MyHDL engines != Cython evaluator on {m.images} test images ({numbers})"
