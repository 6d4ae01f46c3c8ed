"""MyHDL AXI plumbing of the accelerator's top level (reference models in ``sw/axi.py``).

* :func:`axi_lite_regs` -- the AXI4-Lite slave *generated from the register table*
  (``sw/register_map.REGISTERS``): one cell per register (``rw``, ``wo``, ``w1c``; ``ro``
  values come from the core), one read tap per mapped register chained into the read mux, so
  a new table row is a new cell and nothing else. Bus rules (responses, channel order, one
  write and one read in flight) are in ``docs/register-map.md``. Ports: ``clk``, ``rst``
  (synchronous, active high: every register to its reset value), ``axi`` (an
  :class:`AxiLiteBus`) and ``core`` (:func:`core_ports`: one signal per register, named in
  lower case -- outputs for ``rw``/``wo``/``w1c``, inputs for ``ro`` -- plus ``<wo>_we``
  strobes, ``<w1c>_set`` inputs and ``interrupt``). Timing: AW and W are each registered
  (``AWREADY``/``WREADY`` = their holding register is empty); the write is performed on the
  edge after both are held and B is free, ``BVALID`` rises with it, pulses and strobes are
  high in the cycle after that edge. A read is taken when ``RVALID`` is low and answered from
  registers the next cycle (``RDATA`` is registered).
* :func:`axis_input` -- AXI4-Stream slave (``TVALID/TREADY/TDATA/TLAST``) to the core's
  valid/ready pixel port; :func:`axis_output` -- the core's valid/ready result port to an
  AXI4-Stream master. Both are :func:`skid_buffer`: a registered output stage plus one skid
  register, so ``TREADY`` (input) and ``TVALID``/``TDATA`` (output) come straight from
  flip-flops, one word per cycle at full rate, and back-pressure loses or duplicates nothing.

Conversion notes: chain starts and unused strobes are undriven signals, which MyHDL converts to
constant assignments (a "Signal is not driven" warning, no initial value needed); the
adapters copy a top-level port's bits with an ``always_comb`` instead of a shadow slice, and
read single bits of an output port by constant index, because MyHDL converts a shadow of a
top-level port wrongly (a constant, or a dangling name). ``tests/test_axi.py`` elaborates each
converted top in GHDL.

Benches: :func:`regs_testbench` plays :class:`~twinspike.sw.axi.Transaction` lists (random
AW/W order and stalls, B/R back-pressure) and prints each response, pulse and the core-side
outputs; :func:`stream_testbench` plays a holding source and a stalling sink through either
adapter and prints one row per cycle. Both convert to VHDL and are checked in GHDL.
"""
from __future__ import annotations

from types import SimpleNamespace

from myhdl import (ConcatSignal, ResetSignal, Signal, StopSimulation, always_comb, always_seq, block,
                   enum, instance, intbv, modbv)

from twinspike.hw import toolchain
from twinspike.hw.common import index_signal, rom_driver, rom_values, unsigned_signal
from twinspike.hw.toolchain import bench_clock
from twinspike.sw.axi import (STREAM_OUTPUTS, AxiLiteParams, AxisParams, check_transactions,
                              core_inputs, output_ports, pulse_ports, set_inputs)
from twinspike.sw.register_map import DATA_BITS, INTERRUPT, REGISTERS, RESP_OKAY, RESP_SLVERR

__all__ = ["AxiLiteBus", "AxisBus", "axi_lite_regs", "axis_input", "axis_output", "skid_buffer",
           "core_ports", "regs_top", "stream_top", "regs_testbench", "stream_testbench",
           "parse_regs_lines", "parse_stream_lines", "run_regs_bench", "run_stream_bench"]


class AxiLiteBus:
    """The five AXI4-Lite channels (names as in the AXI spec, lower case; no PROT)."""

    def __init__(self, p: AxiLiteParams = AxiLiteParams()):
        a = p.addr_bits
        self.awvalid, self.awready, self.awaddr = Signal(bool(0)), Signal(bool(0)), unsigned_signal(a)
        self.wvalid, self.wready = Signal(bool(0)), Signal(bool(0))
        self.wdata, self.wstrb = unsigned_signal(DATA_BITS), unsigned_signal(DATA_BITS // 8)
        self.bvalid, self.bready, self.bresp = Signal(bool(0)), Signal(bool(0)), unsigned_signal(2)
        self.arvalid, self.arready, self.araddr = Signal(bool(0)), Signal(bool(0)), unsigned_signal(a)
        self.rvalid, self.rready = Signal(bool(0)), Signal(bool(0))
        self.rdata, self.rresp = unsigned_signal(DATA_BITS), unsigned_signal(2)


class AxisBus:
    """One AXI4-Stream interface: ``tvalid``, ``tready``, ``tdata`` (``tdata_bits``), ``tlast``."""

    def __init__(self, p: AxisParams):
        self.tvalid, self.tready = Signal(bool(0)), Signal(bool(0))
        self.tdata, self.tlast = unsigned_signal(p.tdata_bits), Signal(bool(0))


def core_ports(registers=REGISTERS) -> SimpleNamespace:
    """The register file's core-side signals (see the module docstring)."""
    s = {}
    for r in registers:
        if r.access == "ro" and r.constant:
            continue
        s[r.port] = Signal(intbv(r.reset)[r.width:]) if r.access != "ro" else unsigned_signal(r.width)
        if r.access == "wo":
            s[f"{r.port}_we"] = Signal(bool(0))
        if r.access == "w1c":
            s[f"{r.port}_set"] = unsigned_signal(r.width)
    s["interrupt"] = Signal(bool(0))
    return SimpleNamespace(**s)


def _low(sig, width):
    """The low ``width`` bits of ``sig`` (the signal itself when it is that wide)."""
    return sig if len(sig) == width else sig(width, 0)


@block
def reg_cell(clk, rst, wr_fire, wr_index, wr_data, wr_mask, inc, setb, q, we, ok_in, ok_out,
             index, access, width, pulse_mask):
    """One writable register: ``rw`` (``pulse_mask`` bits self-clear, ``inc`` adds 1),
    ``wo`` (``we`` strobes for a cycle after each write) or ``w1c`` (``setb`` sets,
    writing 1 clears; a set wins). ``ok_out = ok_in or (wr_index == index)``: the write
    decode chain."""
    keep = ((1 << width) - 1) & ~pulse_mask
    hit = Signal(bool(0))

    @always_comb
    def decode():
        hit.next = wr_fire and wr_index == index
        ok_out.next = ok_in or wr_index == index

    if access == "rw":
        @always_seq(clk.posedge, reset=rst)
        def rw_update():
            bumped = intbv(0)[width + 1:]
            bumped[:] = q + 1
            if hit:
                q.next = (q & ~wr_mask) | (wr_data & wr_mask)
            elif inc:
                q.next = bumped[width:]  # wraps to 0
            else:
                q.next = q & keep

        return decode, rw_update

    if access == "wo":
        @always_seq(clk.posedge, reset=rst)
        def wo_update():
            if hit:
                q.next = (q & ~wr_mask) | (wr_data & wr_mask)
                we.next = 1
            else:
                we.next = 0

        return decode, wo_update

    @always_seq(clk.posedge, reset=rst)
    def w1c_update():
        if hit:
            q.next = (q & ~(wr_data & wr_mask)) | setb
        else:
            q.next = q | setb

    return decode, w1c_update


@block
def read_tap(rd_index, value, prev, nxt, hit_in, hit_out, index, keep):
    """One stage of the read mux: ``nxt = prev | (value & keep)`` when ``rd_index == index``
    (``value`` zero-extended to 32 bits), else ``prev``; ``hit_out = hit_in or match``."""
    wide = unsigned_signal(DATA_BITS)

    @always_comb
    def widen():
        wide.next = value & keep

    @always_comb
    def tap():
        if rd_index == index:
            nxt.next = prev | wide
            hit_out.next = 1
        else:
            nxt.next = prev
            hit_out.next = hit_in

    return widen, tap


@block
def const_tap(rd_index, prev, nxt, hit_in, hit_out, index, value):
    """A read-mux stage for a constant register."""

    @always_comb
    def tap():
        if rd_index == index:
            nxt.next = prev | value
            hit_out.next = 1
        else:
            nxt.next = prev
            hit_out.next = hit_in

    return tap


@block
def axi_lite_regs(clk, rst, axi, core, registers=REGISTERS, p: AxiLiteParams = AxiLiteParams()):
    """The AXI4-Lite register file generated from ``registers`` (module docstring)."""
    if not isinstance(p, AxiLiteParams):
        raise ValueError(f"axi_lite_regs expects AxiLiteParams, got {type(p).__name__}")
    registers = tuple(registers)
    ib = p.addr_bits - 2
    if any(r.index >= (1 << ib) for r in registers):
        raise ValueError(f"AxiLiteParams.addr_bits={p.addr_bits} is too small for the map")
    awvalid, awready, awaddr = axi.awvalid, axi.awready, axi.awaddr
    wvalid, wready, wdata, wstrb = axi.wvalid, axi.wready, axi.wdata, axi.wstrb
    bvalid, bready, bresp = axi.bvalid, axi.bready, axi.bresp
    arvalid, arready, araddr = axi.arvalid, axi.arready, axi.araddr
    rvalid, rready, rdata, rresp = axi.rvalid, axi.rready, axi.rdata, axi.rresp

    aw_full, w_full = Signal(bool(0)), Signal(bool(0))
    aw_index = unsigned_signal(ib)
    w_data, w_strb = unsigned_signal(DATA_BITS), unsigned_signal(DATA_BITS // 8)
    w_mask = unsigned_signal(DATA_BITS)
    wr_fire = Signal(bool(0))
    rd_index = unsigned_signal(ib)
    no = Signal(bool(0))         # chain inputs: nothing matched yet
    zero = unsigned_signal(DATA_BITS)

    cells, taps = [], []
    ok = no
    by_name = {r.name: r for r in registers}
    for r in registers:
        if r.access == "ro":
            continue
        q = getattr(core, r.port)
        we = getattr(core, f"{r.port}_we") if r.access == "wo" else Signal(bool(0))
        setb = getattr(core, f"{r.port}_set") if r.access == "w1c" else unsigned_signal(r.width)
        inc = (getattr(core, f"{by_name[r.increment_on].port}_we") if r.increment_on
               else Signal(bool(0)))
        ok_next = Signal(bool(0))
        cells.append(reg_cell(clk, rst, wr_fire, aw_index, _low(w_data, r.width),
                              _low(w_mask, r.width), inc, setb, q, we, ok, ok_next,
                              r.index, r.access, r.width, r.pulse_mask))
        ok = ok_next
    word, hit = zero, no
    for r in registers:
        nxt, hit_next = unsigned_signal(DATA_BITS), Signal(bool(0))
        if r.access == "ro" and r.constant:
            taps.append(const_tap(rd_index, word, nxt, hit, hit_next, r.index, r.reset))
        else:
            keep = 0 if r.access == "wo" else r.mask & ~r.pulse_mask
            taps.append(read_tap(rd_index, getattr(core, r.port), word, nxt, hit, hit_next,
                                 r.index, keep))
        word, hit = nxt, hit_next
    wr_ok, rd_word, rd_hit = ok, word, hit

    irq_name, ctl_name, enable_name = INTERRUPT
    interrupt = core.interrupt
    if irq_name in by_name:
        pending = getattr(core, by_name[irq_name].port)
        enable_word = getattr(core, by_name[ctl_name].port)
        enable_bit = by_name[ctl_name].field(enable_name).lsb
    else:
        pending, enable_word, enable_bit = unsigned_signal(1), unsigned_signal(1), 0

    @always_comb
    def handshake():
        awready.next = not aw_full
        wready.next = not w_full
        arready.next = not rvalid
        wr_fire.next = aw_full and w_full and (not bvalid or bready)
        rd_index.next = araddr[p.addr_bits:2]

    @always_comb
    def byte_mask():
        m = intbv(0)[DATA_BITS:]
        if w_strb[0]:
            m[8:0] = 0xFF
        if w_strb[1]:
            m[16:8] = 0xFF
        if w_strb[2]:
            m[24:16] = 0xFF
        if w_strb[3]:
            m[32:24] = 0xFF
        w_mask.next = m

    @always_seq(clk.posedge, reset=rst)
    def write_channel():
        if awvalid and not aw_full:
            aw_full.next = 1
            aw_index.next = awaddr[p.addr_bits:2]
        if wvalid and not w_full:
            w_full.next = 1
            w_data.next = wdata
            w_strb.next = wstrb
        if wr_fire:
            aw_full.next = 0
            w_full.next = 0
            bvalid.next = 1
            if wr_ok:
                bresp.next = RESP_OKAY
            else:
                bresp.next = RESP_SLVERR
        elif bvalid and bready:
            bvalid.next = 0

    @always_seq(clk.posedge, reset=rst)
    def read_channel():
        if arvalid and not rvalid:
            rvalid.next = 1
            rdata.next = rd_word
            if rd_hit:
                rresp.next = RESP_OKAY
            else:
                rresp.next = RESP_SLVERR
        elif rvalid and rready:
            rvalid.next = 0

    @always_seq(clk.posedge, reset=rst)
    def interrupt_line():
        interrupt.next = pending != 0 and enable_word[enable_bit]

    return cells, taps, handshake, byte_mask, write_channel, read_channel, interrupt_line


@block
def skid_buffer(clk, rst, s_valid, s_ready, s_data, s_last, m_valid, m_ready, m_data, m_last):
    """Registered valid/ready stage with one skid register (``sw/axi.SkidBufferModel``)."""
    skid_full, skid_last = Signal(bool(0)), Signal(bool(0))
    skid_data = unsigned_signal(len(s_data))

    @always_comb
    def ready_out():
        s_ready.next = not skid_full

    @always_seq(clk.posedge, reset=rst)
    def advance():
        if not m_valid or m_ready:
            if skid_full:
                m_valid.next = 1
                m_data.next = skid_data
                m_last.next = skid_last
                skid_full.next = 0
            elif s_valid:
                m_valid.next = 1
                m_data.next = s_data
                m_last.next = s_last
            else:
                m_valid.next = 0
        elif s_valid and not skid_full:
            skid_full.next = 1
            skid_data.next = s_data
            skid_last.next = s_last

    return ready_out, advance


@block
def axis_input(clk, rst, s_axis, valid, ready, data, last, p: AxisParams):
    """AXI4-Stream slave ``s_axis`` -> the core's ``valid/ready/data/last`` port; ``data`` is
    the low ``p.data_bits`` of TDATA, TLAST marks an image's last pixel."""
    if len(data) != p.data_bits or len(s_axis.tdata) != p.tdata_bits:
        raise ValueError(f"axis_input: data/tdata widths {len(data)}/{len(s_axis.tdata)}, "
                         f"expected {p.data_bits}/{p.tdata_bits}")
    if p.data_bits == p.tdata_bits:
        return skid_buffer(clk, rst, s_axis.tvalid, s_axis.tready, s_axis.tdata, s_axis.tlast,
                           valid, ready, data, last)
    # A copy, not a shadow slice: MyHDL converts a slice of a top-level input as a constant.
    low, tdata = unsigned_signal(p.data_bits), s_axis.tdata

    @always_comb
    def narrow():
        low.next = tdata[p.data_bits:]

    stage = skid_buffer(clk, rst, s_axis.tvalid, s_axis.tready, low, s_axis.tlast, valid, ready,
                        data, last)
    return narrow, stage


@block
def axis_output(clk, rst, valid, ready, data, last, m_axis, p: AxisParams):
    """The core's ``valid/ready/data/last`` result port -> AXI4-Stream master ``m_axis``
    (TDATA = ``data`` zero-extended to whole bytes)."""
    if len(data) != p.data_bits or len(m_axis.tdata) != p.tdata_bits:
        raise ValueError(f"axis_output: data/tdata widths {len(data)}/{len(m_axis.tdata)}, "
                         f"expected {p.data_bits}/{p.tdata_bits}")
    if p.data_bits == p.tdata_bits:
        return skid_buffer(clk, rst, valid, ready, data, last, m_axis.tvalid, m_axis.tready,
                           m_axis.tdata, m_axis.tlast)
    data_q = unsigned_signal(p.data_bits)
    tdata = m_axis.tdata
    stage = skid_buffer(clk, rst, valid, ready, data, last, m_axis.tvalid, m_axis.tready, data_q,
                        m_axis.tlast)

    @always_comb
    def extend():
        tdata.next = data_q

    return stage, extend


def _clock_reset():
    return Signal(bool(0)), ResetSignal(0, active=1, isasync=False)


@block
def regs_block(clk, rst, axi, core, p: AxiLiteParams):
    """:func:`axi_lite_regs` on the project's table with explicit ports (conversion top)."""
    return axi_lite_regs(clk, rst, axi, core, REGISTERS, p)


def regs_top(p: AxiLiteParams = AxiLiteParams()):
    """The register file with fresh ports (``axi_*``, ``core_*``), to convert or synthesise."""
    clk, rst = _clock_reset()
    return regs_block(clk, rst, AxiLiteBus(p), core_ports(), p)


def stream_top(direction: str, p: AxisParams):
    """``axis_input`` (``direction='input'``) or ``axis_output`` with fresh ports."""
    clk, rst = _clock_reset()
    valid, ready, last = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    data = unsigned_signal(p.data_bits)
    if direction == "input":
        return axis_input(clk, rst, AxisBus(p), valid, ready, data, last, p)
    if direction == "output":
        return axis_output(clk, rst, valid, ready, data, last, AxisBus(p), p)
    raise ValueError(f"direction={direction!r}: expected 'input' or 'output'")


# ------------------------------------------------------------------ register-file bench


@block
def set_gate(en, value, out):
    @always_comb
    def gate():
        if en:
            out.next = value
        else:
            out.next = 0

    return gate


def _cat(sigs):
    """One signal of ``sigs``, the first in the lowest bits."""
    return ConcatSignal(*reversed(sigs)) if len(sigs) > 1 else sigs[0]


@block
def regs_testbench(txns, p: AxiLiteParams = AxiLiteParams()):
    """Self-checking bench of :func:`axi_lite_regs` on the project's table. Per transaction:
    a setup cycle (the core inputs take the transaction's values, ``<w1c>_set`` pulses), the
    access with its stalls, two idle cycles; it prints ``W bresp`` or ``R rresp rdata``, a
    ``P word`` line for every cycle with a pulse (:func:`~twinspike.sw.axi.pulse_ports`,
    first port in the low bits) and finally ``O word`` (the
    :func:`~twinspike.sw.axi.output_ports`)."""
    txns = tuple(txns)
    check_transactions(txns, REGISTERS, p)
    n = len(txns)
    clk, rst = _clock_reset()
    axi, core = AxiLiteBus(p), core_ports()
    dut = axi_lite_regs(clk, rst, axi, core, REGISTERS, p)
    tidx = Signal(intbv(0, min=0, max=n + 1))
    set_en = Signal(bool(0))
    roms = []
    for k, r in enumerate(core_inputs()):
        roms.append(rom_driver(tidx, getattr(core, r.port),
                               rom_values([t.inputs[k] for t in txns] + [0])))
    for k, r in enumerate(set_inputs()):
        raw = unsigned_signal(r.width)
        roms += [rom_driver(tidx, raw, rom_values([t.sets[k] for t in txns] + [0])),
                 set_gate(set_en, raw, getattr(core, f"{r.port}_set"))]
    observed = _cat([getattr(core, name) for name, _ in output_ports()])
    pulse_sigs = [getattr(core, name) for name, _ in pulse_ports()]
    pulse_view = _cat(pulse_sigs)
    pulse_any = Signal(bool(0))
    pulse_mask = 0
    bit = 0
    for r in REGISTERS:  # the pulse bits and strobes inside pulse_view
        if r.pulse_mask:
            pulse_mask |= r.pulse_mask << bit
            bit += r.width
        elif r.access == "wo":
            pulse_mask |= 1 << bit
            bit += 1 + r.width
        elif r.increment_on:
            bit += r.width

    @always_comb
    def any_pulse():
        pulse_any.next = (pulse_view & pulse_mask) != 0

    kind = rom_values(int(t.kind == "read") for t in txns)
    addr = rom_values(t.addr for t in txns)
    data = rom_values(t.data for t in txns)
    strb = rom_values(t.strb for t in txns)
    aw_d, w_d, b_d = (rom_values(getattr(t, f) for t in txns) for f in ("aw_delay", "w_delay", "b_delay"))
    ar_d, r_d = (rom_values(getattr(t, f) for t in txns) for f in ("ar_delay", "r_delay"))
    awvalid, awaddr, wvalid, wdata, wstrb = axi.awvalid, axi.awaddr, axi.wvalid, axi.wdata, axi.wstrb
    awready, wready, bvalid, bready, bresp = axi.awready, axi.wready, axi.bvalid, axi.bready, axi.bresp
    arvalid, araddr, arready = axi.arvalid, axi.araddr, axi.arready
    rvalid, rready, rdata, rresp = axi.rvalid, axi.rready, axi.rdata, axi.rresp
    abits = p.addr_bits

    clock = bench_clock(clk)

    @instance
    def stimulus():
        is_read = intbv(0)[1:]
        a = intbv(0)[abits:]
        d = intbv(0)[DATA_BITS:]
        s = intbv(0)[4:]
        awd = intbv(0)[8:]
        wd = intbv(0)[8:]
        bd = intbv(0)[8:]
        ard = intbv(0)[8:]
        rd = intbv(0)[8:]
        rst.next = 1
        tidx.next = n
        yield clk.posedge
        yield clk.negedge
        rst.next = 0
        for t in range(n):
            tidx.next = t
            set_en.next = 1
            yield clk.posedge
            yield clk.negedge
            set_en.next = 0
            is_read[:] = kind[t]
            a[:] = addr[t]
            d[:] = data[t]
            s[:] = strb[t]
            awd[:] = aw_d[t]
            wd[:] = w_d[t]
            bd[:] = b_d[t]
            ard[:] = ar_d[t]
            rd[:] = r_d[t]
            awaddr.next = a
            araddr.next = a
            wdata.next = d
            wstrb.next = s
            c = 0
            finished = False
            aw_done = False
            w_done = False
            ar_done = False
            while not finished:
                if is_read:
                    arvalid.next = not ar_done and c >= ard
                    rready.next = c >= rd
                else:
                    awvalid.next = not aw_done and c >= awd
                    wvalid.next = not w_done and c >= wd
                    bready.next = c >= bd
                yield clk.posedge
                if awvalid and awready:
                    aw_done = True
                if wvalid and wready:
                    w_done = True
                if arvalid and arready:
                    ar_done = True
                if bvalid and bready:
                    print("W %d" % bresp)
                    finished = True
                if rvalid and rready:
                    print("R %d %s" % (rresp, rdata))
                    finished = True
                if pulse_any:
                    print("P %s" % pulse_view)
                yield clk.negedge
                c += 1
            awvalid.next = 0
            wvalid.next = 0
            bready.next = 0
            arvalid.next = 0
            rready.next = 0
            for i in range(2):
                yield clk.posedge
                if pulse_any:
                    print("P %s" % pulse_view)
                yield clk.negedge
            print("O %s" % observed)
        print("done")
        raise StopSimulation()

    return dut, roms, any_pulse, clock, stimulus


def _split(word: int, ports) -> dict[str, int]:
    out, shift = {}, 0
    for name, width in ports:
        out[name] = (word >> shift) & ((1 << width) - 1)
        shift += width
    return out


def parse_regs_lines(lines: list[str]) -> list[dict]:
    """The bench's lines as :func:`twinspike.sw.axi.run_transactions` records (less ``kind``)."""
    records, current = [], dict(resp=None, rdata=0, pulses=[])
    for line in lines:
        tag, *rest = line.split()
        if tag == "W":
            current["resp"] = int(rest[0])
        elif tag == "R":
            current["resp"], current["rdata"] = int(rest[0]), int(rest[1], 16)
        elif tag == "P":
            current["pulses"].append(_split(int(rest[0], 16), pulse_ports()))
        elif tag == "O":
            current["outputs"] = _split(int(rest[0], 16), output_ports())
            records.append(current)
            current = dict(resp=None, rdata=0, pulses=[])
        else:
            raise ValueError(f"regs bench line {line!r}")
    return records


def run_regs_bench(txns, p: AxiLiteParams = AxiLiteParams()) -> list[dict]:
    """Simulate :func:`regs_testbench` in MyHDL and parse what it printed."""
    return parse_regs_lines(toolchain.run_myhdl(regs_testbench(txns, p)))


# ------------------------------------------------------------------ stream bench


@block
def stream_testbench(direction: str, p: AxisParams, words, lasts, willing, ready):
    """A holding source (next word offered when ``willing[c]``, held until taken) and a sink
    (``ready[c]``; both 1 past the patterns' ends) through ``axis_input`` or ``axis_output``
    until every word arrived; prints, per cycle, ``s_ready m_valid m_last m_data`` (the
    adapter's outputs during that cycle, last and data 0 while not valid; data in hex)."""
    n = len(words)
    if n != len(lasts) or n < 1:
        raise ValueError("stream_testbench: words and lasts must be equally long and non-empty")
    clk, rst = _clock_reset()
    s_valid, s_ready, s_last = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    m_valid, m_ready, m_last = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    if direction == "input":
        s_bus = AxisBus(p)
        s_valid, s_ready, s_data, s_last = s_bus.tvalid, s_bus.tready, s_bus.tdata, s_bus.tlast
        m_data = unsigned_signal(p.data_bits)
        dut = axis_input(clk, rst, s_bus, m_valid, m_ready, m_data, m_last, p)
    elif direction == "output":
        m_bus = AxisBus(p)
        s_data = unsigned_signal(p.data_bits)
        m_valid, m_ready, m_data, m_last = m_bus.tvalid, m_bus.tready, m_bus.tdata, m_bus.tlast
        dut = axis_output(clk, rst, s_valid, s_ready, s_data, s_last, m_bus, p)
    else:
        raise ValueError(f"direction={direction!r}: expected 'input' or 'output'")
    shown_data = unsigned_signal(len(m_data))
    shown_last = Signal(bool(0))
    word_rom, last_rom = rom_values(words), rom_values(lasts)
    will_rom, ready_rom = rom_values(willing), rom_values(ready)
    n_will, n_ready = len(willing), len(ready)

    @always_comb
    def show():
        if m_valid:
            shown_data.next = m_data
            shown_last.next = m_last
        else:
            shown_data.next = 0
            shown_last.next = 0

    clock = bench_clock(clk)

    @instance
    def stimulus():
        w = intbv(0)[1:]
        r = intbv(0)[1:]
        rst.next = 1
        yield clk.posedge
        yield clk.negedge
        rst.next = 0
        sent = 0
        received = 0
        holding = False
        c = 0
        while received < n:
            if c < n_will:
                w[:] = will_rom[c]
            else:
                w[:] = 1
            if c < n_ready:
                r[:] = ready_rom[c]
            else:
                r[:] = 1
            if sent < n and (holding or w == 1):
                s_valid.next = 1
                s_data.next = word_rom[sent]
                s_last.next = last_rom[sent]
            else:
                s_valid.next = 0
                s_data.next = 0
                s_last.next = 0
            m_ready.next = r
            yield clk.posedge
            print("%d %d %d %s" % (s_ready, m_valid, shown_last, shown_data))
            if m_valid and m_ready:
                received += 1
            if s_valid and s_ready:
                sent += 1
                holding = False
            else:
                holding = bool(s_valid)
            yield clk.negedge
            c += 1
        print("done")
        raise StopSimulation()

    return dut, show, clock, stimulus


def parse_stream_lines(lines: list[str]) -> list[dict[str, int]]:
    """Per cycle, the :data:`~twinspike.sw.axi.STREAM_OUTPUTS` of the stream bench."""
    rows = []
    for line in lines:
        s_ready, m_valid, m_last, m_data = line.split()
        rows.append(dict(zip(STREAM_OUTPUTS, (int(s_ready), int(m_valid), int(m_last),
                                              int(m_data, 16)))))
    return rows


def run_stream_bench(direction: str, p: AxisParams, words, lasts, willing, ready):
    """Simulate :func:`stream_testbench` in MyHDL and parse what it printed."""
    tb = stream_testbench(direction, p, words, lasts, willing, ready)
    return parse_stream_lines(toolchain.run_myhdl(tb))

# ----------------------------------------------------------------------------- bench master

#: Operations of :func:`bench_master`'s program.
OP_WRITE, OP_READ, OP_WAIT = 0, 1, 2


@block
def bench_master(clk, aresetn, awvalid, awready, awaddr, wvalid, wready, wdata, wstrb, bvalid,
                 bready, bresp, arvalid, arready, araddr, rvalid, rready, rdata, interrupt, oi,
                 op_kind, op_addr, op_data, n_ops: int, wait_limit: int):
    """The convertible AXI4-Lite master of the top-level benches: holds ``aresetn`` low for
    three cycles, then plays ``n_ops`` operations from ROMs indexed by ``oi`` (``op_kind``:
    :data:`OP_WRITE` -- AW and W together, B accepted at once, ``b addr resp`` printed unless
    OKAY; :data:`OP_READ` -- ``R addr value`` printed; :data:`OP_WAIT` -- until ``interrupt``,
    at most ``wait_limit`` cycles, else ``t cycles`` printed), then prints ``done`` and stops
    the simulation."""

    @instance
    def master():
        aresetn.next = 0
        for i in range(3):
            yield clk.posedge
        yield clk.negedge
        aresetn.next = 1
        wstrb.next = 0xF
        for k in range(n_ops):
            oi.next = k
            yield clk.negedge
            if op_kind == OP_WRITE:
                awaddr.next = op_addr
                wdata.next = op_data
                awvalid.next = 1
                wvalid.next = 1
                bready.next = 1
                finished = False
                while not finished:
                    yield clk.posedge
                    if awvalid and awready:
                        awvalid.next = 0
                    if wvalid and wready:
                        wvalid.next = 0
                    if bvalid and bready:
                        finished = True
                        if bresp != 0:
                            print("b %d %d" % (op_addr, bresp))
                    yield clk.negedge
                bready.next = 0
            elif op_kind == OP_READ:
                araddr.next = op_addr
                arvalid.next = 1
                rready.next = 1
                finished = False
                while not finished:
                    yield clk.posedge
                    if arvalid and arready:
                        arvalid.next = 0
                    if rvalid and rready:
                        finished = True
                        print("R %d %s" % (op_addr, rdata))
                    yield clk.negedge
                rready.next = 0
            else:
                waited = 0
                while not interrupt and waited < wait_limit:
                    yield clk.negedge
                    waited += 1
                if not interrupt:
                    print("t %d" % waited)          # no interrupt: a line MyHDL never prints
        print("done")
        raise StopSimulation()

    return master


# ----------------------------------------------------------------------------- top-level benches
# The convertible bench around a top with these ports (hw/top.py, hw/glm_top.py): an AXI4-Lite
# master playing a program from ROMs, a stream source with gaps and a sink with stalls.

#: Registers a top-level bench reads (and prints) after its run, then ``IRQ`` and ``STATUS``
#: again after clearing ``IRQ``.
BENCH_READS = ("STATUS", "IRQ", "ERROR", "CYCLES_LO", "CYCLES_HI", "SOPS_LO", "SOPS_HI",
               "SATURATION", "VERSION", "HW_PARAMS", "STALLS_LO", "STALLS_HI", "WEIGHT_FILLS")
#: Stall patterns of the benches (period 16): the source's willingness and the sink's TREADY.
SOURCE_PATTERN = (1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1)
SINK_PATTERN = (1, 0, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 0, 1, 1, 1)


def bench_ops(setup_writes, start_word: int) -> list[tuple[int, int, int]]:
    """``(op, addr, data)``: the setup writes, the start, wait for the interrupt, read
    :data:`BENCH_READS`, clear ``IRQ`` and read ``IRQ`` and ``STATUS`` again."""
    offset = {r.name: r.offset for r in REGISTERS}
    ops = [(OP_WRITE, a, d) for a, d in setup_writes]
    ops.append((OP_WRITE, offset["CONTROL"], start_word))
    ops.append((OP_WAIT, 0, 0))
    ops += [(OP_READ, offset[n], 0) for n in BENCH_READS]
    ops += [(OP_WRITE, offset["IRQ"], 1), (OP_READ, offset["IRQ"], 0),
            (OP_READ, offset["STATUS"], 0)]
    return ops


@block
def bench_harness(s: dict, ops, beats, wait_limit: int, axi_p: AxiLiteParams):
    """Everything of a top-level bench but the top: the ROM-driven master of ``ops``
    (:func:`bench_master`), a source streaming ``beats`` (``(TDATA, TLAST)``) with the gaps
    of :data:`SOURCE_PATTERN` from the end of reset, a sink taking result words with the
    stalls of :data:`SINK_PATTERN` and printing ``r word last``, and the clock. ``s``: the
    top's ports, ``aresetn`` a reset signal the master drives."""
    clk, aresetn = s["aclk"], s["aresetn"]
    n_ops, n_beats = len(ops), len(beats)
    oi, bi = index_signal(n_ops + 1), index_signal(n_beats + 1)
    op_kind, op_addr, op_data = unsigned_signal(2), unsigned_signal(axi_p.addr_bits), unsigned_signal(32)
    px_d, px_l = unsigned_signal(len(s["s_axis_tdata"])), unsigned_signal(1)
    roms = [rom_driver(oi, op_kind, rom_values([o[0] for o in ops] + [0])),
            rom_driver(oi, op_addr, rom_values([o[1] for o in ops] + [0])),
            rom_driver(oi, op_data, rom_values([o[2] for o in ops] + [0])),
            rom_driver(bi, px_d, rom_values([b[0] for b in beats] + [0])),
            rom_driver(bi, px_l, rom_values([b[1] for b in beats] + [0]))]
    tick = Signal(modbv(0)[4:])
    src_pat, sink_pat = rom_values(SOURCE_PATTERN), rom_values(SINK_PATTERN)
    awvalid, awready, awaddr = s["s_axi_awvalid"], s["s_axi_awready"], s["s_axi_awaddr"]
    wvalid, wready, wdata, wstrb = s["s_axi_wvalid"], s["s_axi_wready"], s["s_axi_wdata"], s["s_axi_wstrb"]
    bvalid, bready, bresp = s["s_axi_bvalid"], s["s_axi_bready"], s["s_axi_bresp"]
    arvalid, arready, araddr = s["s_axi_arvalid"], s["s_axi_arready"], s["s_axi_araddr"]
    rvalid, rready, rdata = s["s_axi_rvalid"], s["s_axi_rready"], s["s_axi_rdata"]
    tvalid, tready, tdata, tlast = s["s_axis_tvalid"], s["s_axis_tready"], s["s_axis_tdata"], s["s_axis_tlast"]
    mvalid, mready, mdata, mlast = s["m_axis_tvalid"], s["m_axis_tready"], s["m_axis_tdata"], s["m_axis_tlast"]
    interrupt = s["interrupt"]
    clock = bench_clock(clk)

    master = bench_master(clk, aresetn, awvalid, awready, awaddr, wvalid, wready, wdata, wstrb,
                          bvalid, bready, bresp, arvalid, arready, araddr, rvalid, rready, rdata,
                          interrupt, oi, op_kind, op_addr, op_data, n_ops, wait_limit)

    @instance
    def source():
        w = intbv(0)[1:]
        holding = False
        n = 0
        yield aresetn.posedge
        while True:
            yield clk.negedge
            w[:] = src_pat[tick]
            if n < n_beats and (holding or w == 1):
                tvalid.next = 1
                tdata.next = px_d
                tlast.next = px_l[0]
                holding = True
            else:
                tvalid.next = 0
            yield clk.posedge
            if tvalid and tready:
                n += 1
                bi.next = n
                holding = False

    @instance
    def sink():
        r = intbv(0)[1:]
        while True:
            yield clk.negedge
            r[:] = sink_pat[tick]
            mready.next = r == 1
            yield clk.posedge
            if mvalid and mready:
                print("r %s %d" % (mdata, mlast))

    @always_seq(clk.posedge, reset=None)
    def ticker():
        tick.next = tick + 1

    return roms, clock, master, source, sink, ticker


def parse_bench(lines: list[str]) -> tuple[list[tuple[int, int]], dict, list]:
    """A top-level bench's lines: the result beats ``(word, last)``, ``regs`` (the reads of
    :data:`BENCH_READS`, then ``IRQ_AFTER``, ``STATUS_AFTER``; 64-bit ``CYCLES``/``SOPS``
    when all came) and the bus errors (``b``: a write's non-OKAY response, ``t``: no
    interrupt)."""
    words, reads, errors = [], [], []
    for line in lines:
        tag, *rest = line.split()
        if tag == "r":
            words.append((int(rest[0], 16), int(rest[1])))
        elif tag == "R":
            reads.append(int(rest[1], 16))
        elif tag == "t":
            errors.append(("no interrupt", int(rest[0])))
        elif tag == "b":
            errors.append((int(rest[0]), int(rest[1])))
        else:
            raise ValueError(f"unexpected bench line {line!r}")
    names = BENCH_READS + ("IRQ_AFTER", "STATUS_AFTER")
    regs = dict(zip(names, reads))
    if len(reads) == len(names):
        regs["CYCLES"] = regs["CYCLES_HI"] << 32 | regs["CYCLES_LO"]
        regs["SOPS"] = regs["SOPS_HI"] << 32 | regs["SOPS_LO"]
        regs["STALLS"] = regs["STALLS_HI"] << 32 | regs["STALLS_LO"]
    return words, regs, errors


# ----------------------------------------------------------------------------- DDR (benches)

#: RVALID pattern of the bench DDR (period 16): gaps inside a burst, as an interconnect makes.
DDR_PATTERN = (1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1)
#: Byte address at which the benches place the DDR weight buffer (``WEIGHT_ADDR``).
DDR_BENCH_BASE = 0x08000000
DDR_CHUNK = 16


@block
def bench_ddr(clk, rst, araddr, arlen, arvalid, arready, rdata, rresp, rvalid, rlast, rready,
              words, base: int = DDR_BENCH_BASE, latency: int = 6):
    """A read-only AXI4 slave standing in for the PS DDR in benches (convertible): 64-bit
    ``words`` from byte ``base``. It raises ARREADY ``latency`` cycles after ARVALID, waits
    ``latency`` cycles more, then returns ``ARLEN + 1`` beats (INCR, 8 bytes each) with the
    RVALID gaps of :data:`DDR_PATTERN`, RLAST on the last, holding each beat until RREADY,
    RRESP OKAY. A word outside ``words`` reads as 0."""
    n = len(words)
    top = base + 8 * n
    idx = index_signal(n + 1)
    chunks = [unsigned_signal(DDR_CHUNK) for _ in range(64 // DDR_CHUNK)]
    roms = [rom_driver(idx, chunks[k], rom_values([(int(v) >> (k * DDR_CHUNK)) & 0xFFFF
                                                   for v in words] + [0]))
            for k in range(len(chunks))]
    word = ConcatSignal(*reversed(chunks))
    dst = enum("D_IDLE", "D_ACCEPT", "D_DELAY", "D_BURST")
    ds = Signal(dst.D_IDLE)
    cnt = index_signal(latency + 1)
    left = unsigned_signal(9)
    tick = Signal(modbv(0)[4:])
    gap = unsigned_signal(1)
    roms.append(rom_driver(tick, gap, rom_values(DDR_PATTERN)))

    @always_comb
    def drive():
        rdata.next = word
        rresp.next = 0

    @always_seq(clk.posedge, reset=rst)
    def serve():
        tick.next = tick + 1
        if ds == dst.D_IDLE:
            if arvalid:
                cnt.next = 0
                ds.next = dst.D_ACCEPT
        elif ds == dst.D_ACCEPT:
            if arready and arvalid:
                arready.next = 0
                left.next = arlen + 1
                if araddr >= base and araddr < top:
                    idx.next = (araddr - base) >> 3
                else:
                    idx.next = n
                cnt.next = 0
                ds.next = dst.D_DELAY
            elif cnt == latency:
                arready.next = 1
            else:
                cnt.next = cnt + 1
        elif ds == dst.D_DELAY:
            if cnt == latency:
                rvalid.next = gap[0]
                rlast.next = left == 1
                ds.next = dst.D_BURST
            else:
                cnt.next = cnt + 1
        else:
            if rvalid and rready:
                if idx < n:
                    idx.next = idx + 1
                left.next = left - 1
                if left == 1:
                    rvalid.next = 0
                    rlast.next = 0
                    ds.next = dst.D_IDLE
                else:
                    rvalid.next = gap[0]
                    rlast.next = left == 2
            elif not rvalid:
                rvalid.next = gap[0]
                rlast.next = left == 1

    return roms, drive, serve
