"""Reference models of the accelerator's AXI plumbing (the MyHDL blocks are ``hw/axi.py``).

**Register file** (:class:`RegisterFileModel`): what a correct AXI4-Lite slave built from
``sw/register_map.REGISTERS`` answers to a sequence of complete transactions, and what it
shows the core. Semantics per access kind are in ``sw/register_map.py``; the bus rules
(SLVERR for unmapped addresses and writes to ``ro`` registers, OKAY and 0 for reads of ``wo``
registers, low two address bits ignored, addresses decoded over ``addr_bits``) in
``docs/register-map.md``. Observable per transaction: the response (and read data), every
one-cycle *pulse* the core sees (a ``pulse`` field written 1, a ``wo`` write strobe: the
:func:`pulse_ports` at that cycle), and afterwards the core-side outputs
(:func:`output_ports`).

**Stream adapters** (:class:`SkidBufferModel`): ``axis_input`` and ``axis_output`` are one
registered skid buffer between a valid/ready source and sink, cycle by cycle:

* shown during cycle ``c``, from state only: ``s_ready = not skid_full``, and the output
  register ``m_valid, m_data, m_last`` (``m_valid`` never depends on ``m_ready`` in the same
  cycle, as AXI4-Stream requires of a master);
* at the edge: the source's word is taken iff ``s_valid and s_ready``; if the output register
  is empty or handed over (``m_valid and m_ready``) it loads the skid word if there is one,
  else the incoming word, else empties; otherwise an incoming word goes to the skid register.

So every word taken leaves exactly once, in order, whatever the stall pattern; with a sink
that is always ready the buffer passes one word per cycle with one cycle of latency.
:func:`stream_run` plays a holding source (AXI rule: a word once offered stays until taken)
and a stalling sink against it.
"""
from __future__ import annotations

from dataclasses import dataclass

from .common import check_range
from .register_map import (DATA_BITS, INTERRUPT, REGISTERS, RESP_OKAY, RESP_SLVERR, SPAN,
                           WORD_BYTES, Register)

#: Address bits of the AXI4-Lite slave by default (a 4 KiB window, Vivado's smallest).
DEFAULT_ADDR_BITS = 12


@dataclass(frozen=True)
class AxiLiteParams:
    """``addr_bits``: the slave decodes byte addresses ``0 .. 2**addr_bits - 1`` (the map must
    fit; 3..32)."""

    addr_bits: int = DEFAULT_ADDR_BITS

    def __post_init__(self) -> None:
        check_range("AxiLiteParams", "addr_bits", self.addr_bits,
                    max(3, (SPAN - 1).bit_length()), 32)

    @property
    def words(self) -> int:
        """Word slots the address decodes to."""
        return 1 << (self.addr_bits - 2)


@dataclass(frozen=True)
class AxisParams:
    """A stream of ``lanes`` lanes of ``lane_bits`` each (the core's word); TDATA is that word
    zero-extended to whole bytes (``tdata_bits``), as AXI4-Stream requires."""

    lanes: int = 1
    lane_bits: int = 8

    def __post_init__(self) -> None:
        check_range("AxisParams", "lanes", self.lanes, 1, 64)
        check_range("AxisParams", "lane_bits", self.lane_bits, 1, 64)
        check_range("AxisParams", "lanes * lane_bits", self.lanes * self.lane_bits, 1, 1024)

    @property
    def data_bits(self) -> int:
        return self.lanes * self.lane_bits

    @property
    def tdata_bits(self) -> int:
        return 8 * -(-self.data_bits // 8)


# ------------------------------------------------------------------ register file


def core_inputs(registers=REGISTERS) -> tuple[Register, ...]:
    """Registers the core drives (``ro``, not constant), in table order."""
    return tuple(r for r in registers if r.access == "ro" and not r.constant)


def set_inputs(registers=REGISTERS) -> tuple[Register, ...]:
    """``w1c`` registers: the core sets their bits through ``<port>_set``."""
    return tuple(r for r in registers if r.access == "w1c")


def output_ports(registers=REGISTERS) -> tuple[tuple[str, int], ...]:
    """The core-side outputs, ``(port, width)`` in table order: every ``rw``, ``wo`` and
    ``w1c`` register's value, then ``interrupt``. (``wo`` strobes are ``<port>_we``.)"""
    ports = tuple((r.port, r.width) for r in registers if r.access in ("rw", "wo", "w1c"))
    return ports + (("interrupt", 1),)


def pulse_ports(registers=REGISTERS) -> tuple[tuple[str, int], ...]:
    """What the core sees in a pulse cycle, ``(port, width)``: each register with ``pulse``
    fields, each ``wo`` strobe and value, each auto-incremented register."""
    ports = []
    for r in registers:
        if r.pulse_mask:
            ports.append((r.port, r.width))
        elif r.access == "wo":
            ports += [(f"{r.port}_we", 1), (r.port, r.width)]
        elif r.increment_on:
            ports.append((r.port, r.width))
    return tuple(ports)


def strobe_mask(strb: int) -> int:
    """The bit mask of the bytes ``strb`` enables."""
    return sum(0xFF << (8 * i) for i in range(WORD_BYTES) if (strb >> i) & 1)


@dataclass(frozen=True)
class Transaction:
    """One complete bus access: ``kind`` 'write' or 'read', the byte address, the write data
    and strobes, and the stalls the bench applies (cycles before AWVALID, WVALID, BREADY,
    ARVALID, RREADY are raised). ``inputs``: the values of :func:`core_inputs` from this
    transaction on; ``sets``: bits the core sets in each :func:`set_inputs` register (one
    pulse, before the access)."""

    kind: str
    addr: int
    data: int = 0
    strb: int = 0xF
    aw_delay: int = 0
    w_delay: int = 0
    b_delay: int = 0
    ar_delay: int = 0
    r_delay: int = 0
    inputs: tuple[int, ...] = ()
    sets: tuple[int, ...] = ()


class RegisterFileModel:
    """The register file, one complete transaction at a time."""

    def __init__(self, registers=REGISTERS, p: AxiLiteParams = AxiLiteParams()):
        self.registers, self.p = tuple(registers), p
        self.by_index = {r.index: r for r in self.registers}
        self.stored = {r.name: r.reset for r in self.registers if r.access != "ro"}
        self.inputs = {r.name: 0 for r in core_inputs(self.registers)}
        self.pulses: list[dict[str, int]] = []

    def decode(self, addr: int) -> Register | None:
        return self.by_index.get((addr & ((1 << self.p.addr_bits) - 1)) >> 2)

    def set_input(self, name: str, value: int) -> None:
        self.inputs[name] = value & next(r.mask for r in self.registers if r.name == name)

    def core_set(self, name: str, bits: int) -> None:
        reg = next(r for r in self.registers if r.name == name)
        self.stored[name] |= bits & reg.mask

    def read(self, addr: int) -> tuple[int, int]:
        """``(rresp, rdata)``."""
        r = self.decode(addr)
        if r is None:
            return RESP_SLVERR, 0
        if r.access == "ro":
            return RESP_OKAY, r.reset if r.constant else self.inputs[r.name]
        if r.access == "wo":
            return RESP_OKAY, 0
        return RESP_OKAY, self.stored[r.name] & ~r.pulse_mask

    def write(self, addr: int, data: int, strb: int = 0xF) -> int:
        """Perform a write; returns ``bresp`` and appends any pulse to :attr:`pulses`."""
        r = self.decode(addr)
        if r is None or r.access == "ro":
            return RESP_SLVERR
        bm = strobe_mask(strb) & r.mask
        old = self.stored[r.name]
        if r.access == "w1c":
            self.stored[r.name] = old & ~(data & bm)
            return RESP_OKAY
        new = (old & ~bm) | (data & bm)
        if r.access == "rw":
            self.stored[r.name] = new
            if new & r.pulse_mask:
                self.pulses.append(self._pulse_view())
            self.stored[r.name] = new & ~r.pulse_mask
            return RESP_OKAY
        self.stored[r.name] = new  # wo
        self.pulses.append(self._pulse_view(strobe=r.name))
        for other in self.registers:
            if other.increment_on == r.name:
                self.stored[other.name] = (self.stored[other.name] + 1) & other.mask
        return RESP_OKAY

    def _pulse_view(self, strobe: str | None = None) -> dict[str, int]:
        view = {}
        for r in self.registers:
            if r.pulse_mask or r.increment_on:
                view[r.port] = self.stored[r.name]
            elif r.access == "wo":
                view[f"{r.port}_we"] = int(r.name == strobe)
                view[r.port] = self.stored[r.name]
        return view

    def outputs(self) -> dict[str, int]:
        """The core-side outputs between transactions (pulse bits 0)."""
        out = {r.port: self.stored[r.name] for r in self.registers
               if r.access in ("rw", "wo", "w1c")}
        irq, ctl, enable = INTERRUPT
        en = next(r for r in self.registers if r.name == ctl).field(enable)
        pending = self.stored.get(irq, 0) != 0
        out["interrupt"] = int(pending and (self.stored[ctl] >> en.lsb) & 1)
        return out


def run_transactions(txns, registers=REGISTERS, p: AxiLiteParams = AxiLiteParams()) -> list[dict]:
    """Per transaction: ``resp``, ``rdata`` (reads; 0 for writes), ``pulses`` (list of
    :func:`pulse_ports` dicts) and ``outputs`` (:meth:`RegisterFileModel.outputs` after it)."""
    model = RegisterFileModel(registers, p)
    ins, sets = core_inputs(model.registers), set_inputs(model.registers)
    records = []
    for t in txns:
        for r, v in zip(ins, t.inputs):
            model.set_input(r.name, v)
        for r, v in zip(sets, t.sets):
            model.core_set(r.name, v)
        model.pulses = []
        if t.kind == "write":
            resp, rdata = model.write(t.addr, t.data, t.strb), 0
        elif t.kind == "read":
            resp, rdata = model.read(t.addr)
        else:
            raise ValueError(f"transaction kind {t.kind!r}: expected 'write' or 'read'")
        records.append(dict(kind=t.kind, resp=resp, rdata=rdata, pulses=model.pulses,
                            outputs=model.outputs()))
    return records


def check_transactions(txns, registers=REGISTERS, p: AxiLiteParams = AxiLiteParams()) -> None:
    n_in, n_set = len(core_inputs(registers)), len(set_inputs(registers))
    for i, t in enumerate(txns):
        where = f"transaction {i}"
        if t.kind not in ("write", "read"):
            raise ValueError(f"{where}: kind {t.kind!r}")
        check_range(where, "addr", t.addr, 0, (1 << p.addr_bits) - 1)
        check_range(where, "data", t.data, 0, (1 << DATA_BITS) - 1)
        check_range(where, "strb", t.strb, 0, 0xF)
        for name in ("aw_delay", "w_delay", "b_delay", "ar_delay", "r_delay"):
            check_range(where, name, getattr(t, name), 0, 255)
        if len(t.inputs) != n_in or len(t.sets) != n_set:
            raise ValueError(f"{where}: expected {n_in} inputs and {n_set} sets, got "
                             f"{len(t.inputs)} and {len(t.sets)}")


# ------------------------------------------------------------------ stream adapters

#: Per-cycle outputs of a stream bench, in print order (data and last 0 while not valid).
STREAM_OUTPUTS = ("s_ready", "m_valid", "m_last", "m_data")


class SkidBufferModel:
    """The registered skid buffer, one clock edge at a time."""

    def __init__(self):
        self.out: tuple[int, int] | None = None   # (data, last) in the output register
        self.skid: tuple[int, int] | None = None

    def outputs(self) -> dict[str, int]:
        data, last = self.out if self.out is not None else (0, 0)
        return dict(s_ready=int(self.skid is None), m_valid=int(self.out is not None),
                    m_last=last, m_data=data)

    def clock(self, s_valid: int, s_data: int, s_last: int, m_ready: int) -> bool:
        """Apply one edge; returns whether the source's word was taken."""
        take = bool(s_valid) and self.skid is None
        word = (int(s_data), int(s_last))
        if self.out is None or m_ready:
            if self.skid is not None:
                self.out, self.skid = self.skid, None
            else:
                self.out = word if take else None
        elif take:
            self.skid = word
        return take


def _pattern(bits, c: int) -> int:
    """A stall pattern's flag at cycle ``c``: 1 past its end (everything drains)."""
    return int(bits[c]) if c < len(bits) else 1


def stream_run(words, lasts, willing, ready, max_cycles: int = 100_000):
    """A holding source (offers its next word when ``willing[c]`` or still holding one) and a
    sink ready when ``ready[c]`` (both 1 past their patterns' ends) against the skid buffer,
    until every word has arrived. Returns ``(rows, received)``: per cycle the
    :data:`STREAM_OUTPUTS`, and the ``(data, last)`` words the sink took, in order."""
    buf, rows, received = SkidBufferModel(), [], []
    sent, holding, c, n = 0, False, 0, len(words)
    while len(received) < n:
        if c >= max_cycles:
            raise RuntimeError(f"stream_run: {len(received)} of {n} words after {c} cycles")
        valid = sent < n and (holding or _pattern(willing, c))
        rdy = _pattern(ready, c)
        out = buf.outputs()
        rows.append(out)
        if out["m_valid"] and rdy:
            received.append((out["m_data"], out["m_last"]))
        data, last = (words[sent], lasts[sent]) if valid else (0, 0)
        taken = buf.clock(valid, data, last, rdy)
        holding = valid and not taken
        sent += taken
        c += 1
    return rows, received
