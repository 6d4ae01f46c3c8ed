"""MyHDL twin of the LFSR bank (semantics in ``sw/lfsr.py``).

Ports: ``clk``, ``rst`` (synchronous, active high: loads the lane seeds), ``en`` (advance every
lane one step on this clock edge) and ``value`` (all lane states, lane ``i`` in bits
``[i*W, (i+1)*W)``). One single-lane register per lane, so the Verilog stays free of
variable part-selects.
"""
import numpy as np
from myhdl import (ConcatSignal, ResetSignal, Signal, StopSimulation, always_comb, always_seq, block, instance, intbv)

from twinspike.sw.lfsr import LfsrParams
from twinspike.hw import toolchain
from twinspike.hw.toolchain import bench_clock

Params = LfsrParams


@block
def lfsr_lane(clk, rst, en, state_out, width, mask, seed):
    """One Galois LFSR register; resets to ``seed``."""
    state = Signal(intbv(seed)[width:])

    @always_seq(clk.posedge, reset=rst)
    def advance():
        if en:
            if state[0]:
                state.next = (state >> 1) ^ mask
            else:
                state.next = state >> 1

    @always_comb
    def drive():
        state_out.next = state

    return advance, drive


@block
def lfsr(clk, rst, en, value, p: LfsrParams):
    width, mask = p.width, p.mask
    lane_states = [Signal(intbv(s)[width:]) for s in p.seeds]
    lanes = [lfsr_lane(clk, rst, en, lane_states[i], width, mask, p.seeds[i])
             for i in range(p.lanes)]
    flat = ConcatSignal(*reversed(lane_states)) if p.lanes > 1 else lane_states[0]

    @always_comb
    def gather():
        value.next = flat

    return lanes, gather


def ports(p: LfsrParams) -> dict:
    return dict(clk=Signal(bool(0)), rst=ResetSignal(0, active=1, isasync=False),
                en=Signal(bool(0)), value=Signal(intbv(0)[p.width * p.lanes:]))


def top(p: LfsrParams):
    """The block with fresh ports, ready to convert or synthesise."""
    return lfsr(p=p, **ports(p))


@block
def testbench(p: LfsrParams, n_steps: int):
    """Self-checking bench: resets, then prints every lane state (hex, all lanes in one word)
    for ``n_steps`` timesteps, advancing once per timestep."""
    s = ports(p)
    clk, rst, en, value = s["clk"], s["rst"], s["en"], s["value"]
    dut = lfsr(clk, rst, en, value, p)

    clock = bench_clock(clk)

    @instance
    def stimulus():
        rst.next = 1
        en.next = 0
        yield clk.posedge
        yield clk.negedge
        rst.next = 0
        en.next = 1
        for t in range(n_steps):  # noqa: B007 (VHDL forbids leading _)
            print(value)
            yield clk.posedge
            yield clk.negedge
        print("done")
        raise StopSimulation()

    return dut, clock, stimulus


def parse_lines(p: LfsrParams, lines: list[str]) -> np.ndarray:
    """Split the bench's hex words back into ``(lanes, n_steps)``."""
    out = np.zeros((p.lanes, len(lines)), dtype=np.uint32)
    lane_mask = (1 << p.width) - 1
    for t, line in enumerate(lines):
        word = int(line, 16)
        for lane in range(p.lanes):
            out[lane, t] = (word >> (lane * p.width)) & lane_mask
    return out


def run_bench(p: LfsrParams, n_steps: int):
    """Simulate :func:`testbench` in MyHDL and parse what it printed."""
    return parse_lines(p, toolchain.run_myhdl(testbench(p, n_steps)))
