"""MyHDL twin of the spike-count decoder (semantics in ``sw/spike_count_decoder.py``).

Ports: ``clk``, ``rst`` (synchronous, active high), ``first``, ``valid``, ``spikes``
(class ``i`` in bit ``i``), ``counts`` (class ``i`` in bits ``[i*C, (i+1)*C)``) and
``decision``. One saturating counter per class, then a combinational argmax tree
(``hw/argmax.py``) over the registered counts.
"""
import numpy as np
from myhdl import (ConcatSignal, ResetSignal, Signal, StopSimulation, always_comb, always_seq, block,
                   instance, intbv)

from twinspike.hw.argmax import argmax_tree
from twinspike.sw.spike_count_decoder import SpikeCountDecoderParams
from twinspike.hw import toolchain
from twinspike.hw.toolchain import bench_clock

Params = SpikeCountDecoderParams


@block
def class_counter(clk, rst, first, valid, spike, count, count_max: int):
    """``count = 0 if first``, then ``+ spike`` when ``valid``, saturating at ``count_max``."""

    @always_seq(clk.posedge, reset=rst)
    def accumulate():
        if first:
            if valid and spike:
                count.next = 1
            else:
                count.next = 0
        elif valid and spike and count != count_max:
            count.next = count + 1

    return accumulate


@block
def spike_count_decoder(clk, rst, first, valid, spikes, counts, decision, p: SpikeCountDecoderParams):
    class_counts = [Signal(intbv(0)[p.count_bits:]) for i in range(p.n_classes)]
    counters = [class_counter(clk, rst, first, valid, spikes(i), class_counts[i], p.count_max)
                for i in range(p.n_classes)]
    flat = ConcatSignal(*reversed(class_counts)) if p.n_classes > 1 else class_counts[0]
    tree = argmax_tree(class_counts, decision)

    @always_comb
    def gather():
        counts.next = flat

    return counters, tree, gather


def ports(p: SpikeCountDecoderParams) -> dict:
    return dict(clk=Signal(bool(0)), rst=ResetSignal(0, active=1, isasync=False),
                first=Signal(bool(0)), valid=Signal(bool(0)),
                spikes=Signal(intbv(0)[p.n_classes:]),
                counts=Signal(intbv(0)[p.n_classes * p.count_bits:]),
                decision=Signal(intbv(0)[p.index_bits:]))


def top(p: SpikeCountDecoderParams):
    """The block with fresh ports, ready to convert or synthesise."""
    return spike_count_decoder(p=p, **ports(p))


@block
def testbench(p: SpikeCountDecoderParams, first, valid, spikes):
    """Self-checking bench: resets, then per cycle drives ``first``, ``valid`` and the spike
    vector and, after the clock edge, prints ``counts`` (hex, all classes in one word) and
    ``decision`` (decimal) on one line."""
    s = ports(p)
    dut = spike_count_decoder(p=p, **s)
    clk, rst, first_in, valid_in, spikes_in, counts, decision = (
        s["clk"], s["rst"], s["first"], s["valid"], s["spikes"], s["counts"], s["decision"])
    n_classes = p.n_classes
    first_seq = tuple(int(v) for v in first)
    valid_seq = tuple(int(v) for v in valid)
    spike_seq = tuple(int(v) for v in spikes.reshape(-1))  # row-major: cycle c, class i
    n_cycles = len(first_seq)

    clock = bench_clock(clk)

    @instance
    def stimulus():
        vector = intbv(0)[n_classes:]
        rst.next = 1
        yield clk.posedge
        yield clk.negedge
        rst.next = 0
        for c in range(n_cycles):
            first_in.next = first_seq[c]
            valid_in.next = valid_seq[c]
            for i in range(n_classes):
                vector[i] = spike_seq[c * n_classes + i]
            spikes_in.next = vector
            yield clk.posedge
            yield clk.negedge
            print("%s %d" % (counts, decision))
        print("done")
        raise StopSimulation()

    return dut, clock, stimulus


def parse_lines(p: SpikeCountDecoderParams, lines: list[str]) -> dict[str, np.ndarray]:
    """Each line: all counts as one hex word (class ``i`` in bits ``[i*C, (i+1)*C)``), decision."""
    counts = np.zeros((len(lines), p.n_classes), dtype=np.int64)
    decision = np.zeros(len(lines), dtype=np.int64)
    for c, line in enumerate(lines):
        word, dec = line.split()
        word = int(word, 16)
        for i in range(p.n_classes):
            counts[c, i] = (word >> (i * p.count_bits)) & p.count_max
        decision[c] = int(dec)
    return dict(counts=counts, decision=decision)


def run_bench(p: SpikeCountDecoderParams, first, valid, spikes):
    """Simulate :func:`testbench` in MyHDL and parse what it printed."""
    return parse_lines(p, toolchain.run_myhdl(testbench(p, first, valid, spikes)))
