"""MyHDL twin of the IF PE array (semantics in ``sw/if_pe_array.py``).

``if_lane`` is the combinational single-lane datapath that the event engines reuse:

* ``op`` (``intbv(0)[2:]``): ``OP_HOLD`` v_out = v_in; ``OP_LOAD`` v_out = ``bias`` (the bias
  port carries v0 on a load); ``OP_ACC`` v_out = sat(v_in + weight) if ``enable`` else v_in;
  ``OP_FIRE`` leak, sat(+ bias), compare with ``theta``, reset by subtraction, ``spike`` = 1 on
  a spike (``spike`` is 0 for every other op).
* ``weight`` signed ``weight_bits``; ``bias``, ``theta``, ``v_in``, ``v_out`` signed ``m_bits``;
  ``leak_shift`` unsigned 5 bits. One saturating adder serves accumulate (addend = weight)
  and fire (addend = bias). ``weight`` may also be wider than ``m_bits`` (an engine's product
  ``w * x`` of a valued event): the adder then widens to the weight's range, so the sum
  saturates once, exactly. ``lane_multiplier`` (with ``scaled_weight``, the product signal)
  is the multiplier an engine puts in front of that input for valued events.

``if_pe_array`` = ``lanes`` if_lanes + one membrane register and one spike register per lane.
Ports: ``clk``, ``rst`` (synchronous, active high: membranes and spikes to 0), ``op``,
``enable`` (bit ``i`` = lane ``i``), ``weights`` (lane ``i`` in bits ``[i*w, (i+1)*w)``,
two's complement), ``bias`` (lane ``i`` in bits ``[i*m, (i+1)*m)``), ``theta`` (signed ``m``),
``leak_shift``; outputs ``membranes`` (lane ``i`` in bits ``[i*m, (i+1)*m)``) and ``spikes``.
"""
import numpy as np
from myhdl import (ConcatSignal, ResetSignal, Signal, StopSimulation, always_comb, always_seq, block,
                   instance, intbv)

from twinspike.hw.common import low_bits, rom_driver, signed_signal, unsigned_signal
from twinspike.hw import toolchain
from twinspike.hw.toolchain import bench_clock
from twinspike.sw.common import check_range, signed_max, signed_min
from twinspike.sw.if_pe_array import (LEAK_SHIFT_BITS, MAX_MEMBRANE_BITS, MIN_MEMBRANE_BITS,
                                      OP_ACC, OP_FIRE, OP_HOLD, OP_LOAD, IfPeOps, IfPeParams,
                                      check_ops)

Params = IfPeParams
__all__ = ["OP_HOLD", "OP_LOAD", "OP_ACC", "OP_FIRE", "if_lane", "if_pe_array", "ports", "top",
           "testbench", "scaled_weight", "lane_multiplier"]


def scaled_weight(weight: Signal, value: Signal) -> Signal:
    """A signal for a lane's addend ``weight * value`` (``value`` unsigned; a 1-bit value is
    a spike and the addend is the weight itself)."""
    if len(value) == 1:
        return Signal(intbv(0, min=weight.min, max=weight.max))
    top_value = (1 << len(value)) - 1
    return Signal(intbv(0, min=weight.min * top_value, max=(weight.max - 1) * top_value + 1))


@block
def lane_multiplier(weight, value, product):
    """``product = weight * value`` (signed weight, unsigned event value), the multiplier an
    engine puts in front of a lane's adder for valued events; ``product = weight`` when
    ``value`` has one bit (spikes: no multiplier)."""
    if len(value) == 1:
        @always_comb
        def pass_weight():
            product.next = weight

        return pass_weight

    x = signed_signal(len(value) + 1)

    @always_comb
    def widen():
        x.next = value

    @always_comb
    def multiply():
        product.next = weight * x

    return widen, multiply


@block
def if_lane(op, enable, weight, bias, theta, leak_shift, v_in, v_out, spike, m_bits):
    """One IF lane, combinational: see the module docstring for each ``op``."""
    check_range("if_lane", "m_bits", m_bits, MIN_MEMBRANE_BITS, MAX_MEMBRANE_BITS)
    lo, hi = signed_min(m_bits), signed_max(m_bits)
    add_lo, add_hi = min(lo, weight.min), max(hi, weight.max - 1)  # addend range

    @always_comb
    def datapath():
        base = intbv(0, min=lo, max=hi + 1)
        addend = intbv(0, min=add_lo, max=add_hi + 1)
        total = intbv(0, min=lo + add_lo, max=hi + add_hi + 2)
        clamped = intbv(0, min=lo, max=hi + 1)
        # Leak (fire only): v - (v >> k), never overflows.
        if op == OP_FIRE and leak_shift != 0:
            base[:] = v_in - (v_in >> leak_shift)
        else:
            base[:] = v_in
        if op == OP_ACC and enable:
            addend[:] = weight
        elif op == OP_FIRE:
            addend[:] = bias
        else:
            addend[:] = 0
        total[:] = base + addend
        if total > hi:
            clamped[:] = hi
        elif total < lo:
            clamped[:] = lo
        else:
            clamped[:] = total
        if op == OP_LOAD:
            v_out.next = bias
            spike.next = 0
        elif op == OP_FIRE and clamped >= theta:
            v_out.next = clamped - theta
            spike.next = 1
        else:
            v_out.next = clamped
            spike.next = 0

    return datapath


@block
def lane_slot(clk, rst, op, enable, weight_bits, bias_bits, theta, leak_shift, v_bits, spike,
              m_bits):
    """One lane of the array: unpacks its slice of the flat ports (two's-complement bits),
    runs ``if_lane`` and registers the membrane and the spike."""
    w_bits = len(weight_bits)
    weight = signed_signal(w_bits)
    bias = signed_signal(m_bits)
    v = signed_signal(m_bits)
    v_next = signed_signal(m_bits)
    spike_next = Signal(bool(0))
    lane = if_lane(op, enable, weight, bias, theta, leak_shift, v, v_next, spike_next, m_bits)

    @always_comb
    def unpack():
        weight.next = weight_bits.signed()
        bias.next = bias_bits.signed()
        v_bits.next = v[m_bits:]

    @always_seq(clk.posedge, reset=rst)
    def registers():
        v.next = v_next
        spike.next = spike_next

    return lane, unpack, registers


@block
def if_pe_array(clk, rst, op, enable, weights, bias, theta, leak_shift, membranes, spikes,
                p: IfPeParams):
    if not isinstance(p, IfPeParams):
        raise ValueError(f"if_pe_array expects IfPeParams, got {type(p).__name__}")
    w, m = p.weight_bits, p.membrane_bits
    v_bits = [unsigned_signal(m) for _ in range(p.lanes)]
    spike = [Signal(bool(0)) for _ in range(p.lanes)]
    slots = [lane_slot(clk, rst, op, enable(i), weights((i + 1) * w, i * w),
                       bias((i + 1) * m, i * m), theta, leak_shift, v_bits[i], spike[i], m)
             for i in range(p.lanes)]
    flat_v = ConcatSignal(*reversed(v_bits)) if p.lanes > 1 else v_bits[0]
    flat_s = ConcatSignal(*reversed(spike)) if p.lanes > 1 else spike[0]

    @always_comb
    def gather():
        membranes.next = flat_v
        spikes.next = flat_s

    return slots, gather


def ports(p: IfPeParams) -> dict:
    m, n = p.membrane_bits, p.lanes
    return dict(clk=Signal(bool(0)), rst=ResetSignal(0, active=1, isasync=False),
                op=unsigned_signal(2), enable=unsigned_signal(n),
                weights=unsigned_signal(n * p.weight_bits), bias=unsigned_signal(n * m),
                theta=signed_signal(m, 1), leak_shift=unsigned_signal(LEAK_SHIFT_BITS),
                membranes=unsigned_signal(n * m), spikes=unsigned_signal(n))


def top(p: IfPeParams):
    """The block with fresh ports, ready to convert or synthesise."""
    return if_pe_array(p=p, **ports(p))


@block
def testbench(p: IfPeParams, ops: IfPeOps):
    """Self-checking bench: resets, applies one operation per clock cycle and prints, after
    each edge, one hex word ``spikes . membranes`` (spikes in the top ``lanes`` bits)."""
    ops = check_ops(p, ops)
    s = ports(p)
    clk, rst = s["clk"], s["rst"]
    m, w, n = p.membrane_bits, p.weight_bits, ops.n
    dut = if_pe_array(p=p, **s)
    cycle = Signal(intbv(0, min=0, max=n + 1))
    # Every stimulus column is a ROM of n + 1 entries (a trailing idle entry: cycle == n).
    pad = lambda col: tuple(col) + (0,)  # noqa: E731
    en = [Signal(bool(0)) for _ in range(p.lanes)]
    wt = [unsigned_signal(w) for _ in range(p.lanes)]
    bs = [unsigned_signal(m) for _ in range(p.lanes)]
    roms = [rom_driver(cycle, s["op"], pad(int(c) for c in ops.code)),
            rom_driver(cycle, s["theta"], tuple(int(c) for c in ops.theta) + (1,)),
            rom_driver(cycle, s["leak_shift"], pad(int(c) for c in ops.leak_shift))]
    for i in range(p.lanes):
        roms += [rom_driver(cycle, en[i], pad(int(c) for c in ops.enable[:, i])),
                 rom_driver(cycle, wt[i], pad(low_bits(ops.weight[:, i], w))),
                 rom_driver(cycle, bs[i], pad(low_bits(ops.bias[:, i], m)))]
    cat = lambda sigs: ConcatSignal(*reversed(sigs)) if len(sigs) > 1 else sigs[0]  # noqa: E731
    en_flat, wt_flat, bs_flat = cat(en), cat(wt), cat(bs)
    observed = ConcatSignal(s["spikes"], s["membranes"])
    enable, weights, bias = s["enable"], s["weights"], s["bias"]

    @always_comb
    def pack():
        enable.next = en_flat
        weights.next = wt_flat
        bias.next = bs_flat

    clock = bench_clock(clk)

    @instance
    def stimulus():
        rst.next = 1
        cycle.next = n
        yield clk.posedge
        yield clk.negedge
        rst.next = 0
        for t in range(n):
            cycle.next = t
            yield clk.posedge
            yield clk.negedge
            print(observed)
        print("done")
        raise StopSimulation()

    return dut, roms, pack, clock, stimulus


def parse_lines(p: IfPeParams, lines: list[str]):
    """Split the bench's ``spikes . membranes`` hex words into the two arrays."""
    m, lanes = p.membrane_bits, p.lanes
    membranes = np.zeros((len(lines), lanes), dtype=np.int64)
    spikes = np.zeros((len(lines), lanes), dtype=np.int64)
    for t, line in enumerate(lines):
        word = int(line, 16)
        for i in range(lanes):
            bits = (word >> (i * m)) & ((1 << m) - 1)
            membranes[t, i] = bits - (1 << m) if bits >> (m - 1) else bits
            spikes[t, i] = (word >> (lanes * m + i)) & 1
    return membranes, spikes


def run_bench(p: IfPeParams, ops: IfPeOps):
    """Simulate :func:`testbench` in MyHDL and parse what it printed."""
    return parse_lines(p, toolchain.run_myhdl(testbench(p, ops)))
