"""MyHDL twin of the spike FIFO (semantics in ``sw/spike_fifo.py``).

Ports: ``clk``, ``rst`` (synchronous, active high); producer side ``push_valid``,
``push_addr``, ``push_eot``, ``ready``; consumer side ``pop``, ``valid_out``, ``addr_out``,
``eot_out``; status ``count``, ``full``, ``empty``.

The words live in a reset-free RAM (``depth`` x ``addr_bits + 1``, EOT in the top bit) with a
registered, enabled read, so synthesis maps it to block or distributed RAM. Pointers wrap by
comparison with ``depth - 1``, so any depth works. A read and a write never hit the same word
in one cycle (reading needs ``count > 0``, writing ``count < depth``).
"""
import numpy as np
from myhdl import (ResetSignal, Signal, StopSimulation, always, always_comb, always_seq, block, concat,
                   instance, intbv)

from twinspike.sw.spike_fifo import OUTPUTS, SpikeFifoParams
from twinspike.hw import toolchain
from twinspike.hw.toolchain import bench_clock

Params = SpikeFifoParams


@block
def spike_fifo(clk, rst, push_valid, push_addr, push_eot, ready, pop, valid_out, addr_out,
               eot_out, count, full, empty, p: SpikeFifoParams):
    depth, abits = p.depth, p.addr_bits
    mem = [Signal(intbv(0)[abits + 1:]) for i in range(depth)]
    word_in = Signal(intbv(0)[abits + 1:])
    word_out = Signal(intbv(0)[abits + 1:])
    wr_ptr = Signal(intbv(0)[p.ptr_bits:])
    rd_ptr = Signal(intbv(0)[p.ptr_bits:])
    held = Signal(intbv(0, min=0, max=depth + 1))
    push_ok = Signal(bool(0))
    pop_ok = Signal(bool(0))

    @always_comb
    def handshake():
        push_ok.next = push_valid and held != depth
        pop_ok.next = pop and held != 0
        word_in.next = concat(push_eot, push_addr)

    @always(clk.posedge)
    def ram():
        if push_ok:
            mem[wr_ptr].next = word_in
        if pop_ok:
            word_out.next = mem[rd_ptr]

    @always_seq(clk.posedge, reset=rst)
    def pointers():
        if push_ok:
            if wr_ptr == depth - 1:
                wr_ptr.next = 0
            else:
                wr_ptr.next = wr_ptr + 1
        if pop_ok:
            if rd_ptr == depth - 1:
                rd_ptr.next = 0
            else:
                rd_ptr.next = rd_ptr + 1
        if push_ok and not pop_ok:
            held.next = held + 1
        elif pop_ok and not push_ok:
            held.next = held - 1
        valid_out.next = pop_ok

    @always_comb
    def status():
        addr_out.next = word_out[abits:]
        eot_out.next = word_out[abits]
        count.next = held
        full.next = held == depth
        empty.next = held == 0
        ready.next = held != depth

    return handshake, ram, pointers, status


def ports(p: SpikeFifoParams) -> dict:
    return dict(clk=Signal(bool(0)), rst=ResetSignal(0, active=1, isasync=False),
                push_valid=Signal(bool(0)), push_addr=Signal(intbv(0)[p.addr_bits:]),
                push_eot=Signal(bool(0)), ready=Signal(bool(0)), pop=Signal(bool(0)),
                valid_out=Signal(bool(0)), addr_out=Signal(intbv(0)[p.addr_bits:]),
                eot_out=Signal(bool(0)), count=Signal(intbv(0)[p.count_bits:]),
                full=Signal(bool(0)), empty=Signal(bool(0)))


def top(p: SpikeFifoParams):
    """The block with fresh ports, ready to convert or synthesise."""
    return spike_fifo(p=p, **ports(p))


@block
def testbench(p: SpikeFifoParams, push_valid, push_addr, push_eot, pop):
    """Self-checking bench: resets, then for each cycle drives the stimulus and prints
    ``ready valid_out addr_out eot_out count full empty`` (decimal; address and EOT as 0 while
    ``valid_out`` is low), the outputs shown during that cycle."""
    s = ports(p)
    dut = spike_fifo(p=p, **s)
    clk, rst, push_valid_in, push_addr_in, push_eot_in, pop_in = (
        s["clk"], s["rst"], s["push_valid"], s["push_addr"], s["push_eot"], s["pop"])
    ready, valid_out, addr_out, eot_out, count, full, empty = (s[name] for name in OUTPUTS)
    valid_seq, addr_seq, eot_seq, pop_seq = (tuple(int(v) for v in a)
                                             for a in (push_valid, push_addr, push_eot, pop))
    n_cycles = len(valid_seq)

    clock = bench_clock(clk)

    @instance
    def stimulus():
        rst.next = 1
        yield clk.posedge
        yield clk.negedge
        rst.next = 0
        for c in range(n_cycles):
            push_valid_in.next = valid_seq[c]
            push_addr_in.next = addr_seq[c]
            push_eot_in.next = eot_seq[c]
            pop_in.next = pop_seq[c]
            if valid_out:
                print("%d %d %d %d %d %d %d" % (ready, 1, addr_out, eot_out, count, full, empty))
            else:
                print("%d %d %d %d %d %d %d" % (ready, 0, 0, 0, count, full, empty))
            yield clk.posedge
            yield clk.negedge
        print("done")
        raise StopSimulation()

    return dut, clock, stimulus


def parse_lines(p: SpikeFifoParams, lines: list[str]) -> dict[str, np.ndarray]:
    rows = np.array([[int(v) for v in line.split()] for line in lines], dtype=np.int64)
    rows = rows.reshape(len(lines), len(OUTPUTS))
    return {name: rows[:, k] for k, name in enumerate(OUTPUTS)}


def run_bench(p: SpikeFifoParams, push_valid, push_addr, push_eot, pop):
    """Simulate :func:`testbench` in MyHDL and parse what it printed."""
    tb = testbench(p, push_valid, push_addr, push_eot, pop)
    return parse_lines(p, toolchain.run_myhdl(tb))
