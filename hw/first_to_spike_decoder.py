"""MyHDL twin of the first-to-spike decoder (semantics in ``sw/first_to_spike_decoder.py``).

Ports: ``clk``, ``rst`` (synchronous, active high); inputs ``first``, ``valid``, ``spikes``
(class ``i`` in bit ``i``), ``mem_valid``, ``membranes`` (class ``i`` in bits
``[i*M, (i+1)*M)``, two's complement); outputs ``early_exit`` (combinational),
``decided``, ``decision``, ``decision_step``, ``fallback`` (registers).

Two argmax trees (``hw/argmax.py``): one over the spike bits, whose lowest-index argmax is
the lowest spiking class, and one over the membranes with their sign bits inverted (offset
binary, so unsigned order is signed order).
"""
import numpy as np
from myhdl import (ResetSignal, Signal, StopSimulation, always_comb, always_seq, block, instance,
                   intbv)

from twinspike.hw.argmax import argmax_tree
from twinspike.sw.first_to_spike_decoder import OUTPUTS, FirstToSpikeDecoderParams
from twinspike.hw import toolchain
from twinspike.hw.toolchain import bench_clock

Params = FirstToSpikeDecoderParams


@block
def offset_binary(value, biased, sign_bit: int):
    """``biased = value ^ sign_bit``: two's complement to offset binary."""

    @always_comb
    def flip_sign():
        biased.next = value ^ sign_bit

    return flip_sign


@block
def first_to_spike_decoder(clk, rst, first, valid, spikes, mem_valid, membranes, early_exit,
                           decided, decision, decision_step, fallback,
                           p: FirstToSpikeDecoderParams):
    n, m, t_steps = p.n_classes, p.mem_bits, p.t_steps
    spike_bits = [Signal(intbv(0)[1:]) for i in range(n)]
    biased = [Signal(intbv(0)[m:]) for i in range(n)]
    flips = [offset_binary(membranes((i + 1) * m, i * m), biased[i], 1 << (m - 1))
             for i in range(n)]
    lowest_spiking = Signal(intbv(0)[p.index_bits:])
    largest_membrane = Signal(intbv(0)[p.index_bits:])
    spike_tree = argmax_tree(spike_bits, lowest_spiking)
    membrane_tree = argmax_tree(biased, largest_membrane)
    seen = Signal(intbv(0, min=0, max=t_steps + 1))       # timesteps seen, register
    seen_now = Signal(intbv(0, min=0, max=t_steps + 1))   # as this cycle sees it
    seen_after = Signal(intbv(0, min=0, max=t_steps + 1))
    is_open = Signal(bool(0))
    stop = Signal(bool(0))

    @always_comb
    def split_spikes():
        for i in range(n):
            spike_bits[i].next = spikes[i]

    @always_comb
    def progress():
        if first:
            seen_now.next = 0
            is_open.next = 1
        else:
            seen_now.next = seen
            is_open.next = not decided

    @always_comb
    def exit_now():
        stop.next = valid and is_open and seen_now != t_steps and spikes != 0
        if valid and seen_now != t_steps:
            seen_after.next = seen_now + 1
        else:
            seen_after.next = seen_now

    @always_comb
    def drive_exit():
        early_exit.next = stop

    @always_seq(clk.posedge, reset=rst)
    def decide():
        if stop:
            decided.next = 1
            decision.next = lowest_spiking
            decision_step.next = seen_now
            fallback.next = 0
        elif mem_valid and is_open:
            decided.next = 1
            decision.next = largest_membrane
            decision_step.next = seen_after
            fallback.next = 1
        elif first:
            decided.next = 0
            decision.next = 0
            decision_step.next = 0
            fallback.next = 0
        seen.next = seen_after

    return flips, spike_tree, membrane_tree, split_spikes, progress, exit_now, drive_exit, decide


def ports(p: FirstToSpikeDecoderParams) -> dict:
    return dict(clk=Signal(bool(0)), rst=ResetSignal(0, active=1, isasync=False),
                first=Signal(bool(0)), valid=Signal(bool(0)), spikes=Signal(intbv(0)[p.n_classes:]),
                mem_valid=Signal(bool(0)), membranes=Signal(intbv(0)[p.n_classes * p.mem_bits:]),
                early_exit=Signal(bool(0)), decided=Signal(bool(0)),
                decision=Signal(intbv(0)[p.index_bits:]),
                decision_step=Signal(intbv(0)[p.step_bits:]), fallback=Signal(bool(0)))


def top(p: FirstToSpikeDecoderParams):
    """The block with fresh ports, ready to convert or synthesise."""
    return first_to_spike_decoder(p=p, **ports(p))


@block
def testbench(p: FirstToSpikeDecoderParams, first, valid, spikes, mem_valid, membranes):
    """Self-checking bench: resets, then per cycle drives the stimulus (membranes as
    ``mem_bits``-wide two's-complement fields), samples ``early_exit`` at the clock edge and
    prints ``early_exit decided decision decision_step fallback`` (decimal) after it."""
    s = ports(p)
    dut = first_to_spike_decoder(p=p, **s)
    clk, rst = s["clk"], s["rst"]
    first_in, valid_in, spikes_in, mem_valid_in, membranes_in = (
        s[name] for name in ("first", "valid", "spikes", "mem_valid", "membranes"))
    early_exit, decided, decision, decision_step, fallback = (s[name] for name in OUTPUTS)
    n, m = p.n_classes, p.mem_bits
    first_seq, valid_seq, mem_valid_seq = (tuple(int(v) for v in a) for a in (first, valid, mem_valid))
    spike_seq = tuple(int(v) for v in spikes.reshape(-1))                      # cycle c, class i
    membrane_seq = tuple(int(v) & ((1 << m) - 1) for v in membranes.reshape(-1))
    n_cycles = len(first_seq)
    exit_seen = Signal(bool(0))

    clock = bench_clock(clk)

    @instance
    def stimulus():
        vector = intbv(0)[n:]
        word = intbv(0)[n * m:]
        rst.next = 1
        yield clk.posedge
        yield clk.negedge
        rst.next = 0
        for c in range(n_cycles):
            first_in.next = first_seq[c]
            valid_in.next = valid_seq[c]
            mem_valid_in.next = mem_valid_seq[c]
            for i in range(n):
                vector[i] = spike_seq[c * n + i]
                word[(i + 1) * m:i * m] = membrane_seq[c * n + i]
            spikes_in.next = vector
            membranes_in.next = word
            yield clk.posedge
            exit_seen.next = early_exit
            yield clk.negedge
            print("%d %d %d %d %d" % (exit_seen, decided, decision, decision_step, fallback))
        print("done")
        raise StopSimulation()

    return dut, clock, stimulus


def parse_lines(p: FirstToSpikeDecoderParams, lines: list[str]) -> dict[str, np.ndarray]:
    rows = np.array([[int(v) for v in line.split()] for line in lines], dtype=np.int64)
    rows = rows.reshape(len(lines), len(OUTPUTS))
    return {name: rows[:, k] for k, name in enumerate(OUTPUTS)}


def run_bench(p: FirstToSpikeDecoderParams, first, valid, spikes, mem_valid, membranes):
    """Simulate :func:`testbench` in MyHDL and parse what it printed."""
    tb = testbench(p, first, valid, spikes, mem_valid, membranes)
    return parse_lines(p, toolchain.run_myhdl(tb))
