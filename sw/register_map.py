"""The accelerator's AXI4-Lite register map: one table that the docs, the PYNQ driver, the
tests, the MyHDL register file (``hw/axi.axi_lite_regs``) and the Vivado script all read.

Every register is 32 bits wide on the bus at a word-aligned byte offset; ``width`` is how many
of its low bits exist (the rest read as 0 and ignore writes). Access kinds:

* ``rw``  -- the host writes it (byte strobes honoured) and reads back what it wrote; the
  core sees its value. A field marked ``pulse`` is a *self-clearing* command bit: writing 1
  gives the core a one-cycle pulse, and the bit always reads 0.
* ``ro``  -- the core drives it (``constant``: the register file drives its reset value, e.g.
  ``VERSION``); host writes are refused with SLVERR and change nothing.
* ``wo``  -- the host writes it; every write gives the core a one-cycle write strobe with the
  value; reads return 0 (OKAY).
* ``w1c`` -- sticky bits the core sets (one-cycle set pulses); the host clears a bit by
  writing 1 to it (0 leaves it). A set and a clear of the same bit in one cycle: the set wins.

``increment_on``: the register (``MEM_ADDR``) adds 1 after every write of the named ``wo``
register (``MEM_DATA``); a host write to it sets it. See :data:`MEMORY_WINDOW`.

Importing this module checks the table (:func:`check_table`): unique names and offsets, word
alignment, reset values that fit their widths, fields inside their register and disjoint.
``python -m twinspike.sw.register_map`` prints ``docs/register-map.md``
(:func:`render_doc`); a test keeps the committed page equal to it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

#: Bytes per register (the AXI4-Lite data width is 32 bits).
WORD_BYTES = 4
DATA_BITS = 32
ACCESS = ("ro", "rw", "wo", "w1c")
#: AXI response codes (AXI spec A3.4.4; AXI4-Lite uses OKAY and SLVERR/DECERR).
RESP_OKAY = 0b00
RESP_SLVERR = 0b10
#: ``VERSION``'s constant: ASCII ``TS`` and the register-map revision.
VERSION_WORD = 0x54530002
#: The interrupt line: ``(register value != 0) and enable field``, registered.
INTERRUPT = ("IRQ", "CONTROL", "irq_enable")
_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


@dataclass(frozen=True)
class Field:
    """Bits ``[lsb, lsb + width)`` of a register; ``pulse``: self-clearing command bit."""

    name: str
    lsb: int
    width: int = 1
    description: str = ""
    pulse: bool = False

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.lsb


@dataclass(frozen=True)
class Register:
    name: str
    offset: int
    access: str
    width: int
    reset: int
    description: str
    fields: tuple[Field, ...] = ()
    constant: bool = False  # ro only: the register file drives ``reset`` (no core input)
    increment_on: str | None = None  # rw only: +1 after each write of this wo register

    @property
    def index(self) -> int:
        """Word index (offset / 4): the value the bus address decodes to."""
        return self.offset // WORD_BYTES

    @property
    def mask(self) -> int:
        """The bits that exist."""
        return (1 << self.width) - 1

    @property
    def pulse_mask(self) -> int:
        """The self-clearing bits (read as 0)."""
        return sum(f.mask for f in self.fields if f.pulse)

    @property
    def port(self) -> str:
        """The core-side signal name (lower case)."""
        return self.name.lower()

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"register {self.name} has no field {name!r} "
                       f"(fields: {', '.join(f.name for f in self.fields) or 'none'})")


#: ``ERROR`` codes the core reports (0: none). The run stops with STATUS.error set.
ERROR_CODES = {
    0: ("NONE", "no error"),
    1: ("BAD_MAGIC", "the layer table's word 0 is not the magic (sw/layer_sequencer.MAGIC)"),
    2: ("T_RANGE", "T is 0 (allowed 1..65535)"),
    3: ("INPUT_SHORT", "TLAST came before the input layer's last pixel"),
    4: ("INPUT_LONG", "the input layer's last pixel came without TLAST"),
    5: ("LAYER_COUNT", "LAYER_COUNT differs from the layer table's population count"),
    6: ("DDR_READ", "a DDR weight burst was answered SLVERR/DECERR, or its RLAST came early "
                    "or late (check WEIGHT_ADDR and the buffer)"),
}
ERROR = {name: code for code, (name, _) in ERROR_CODES.items()}

#: ``MEM_SELECT`` codes: the memories a host loads through the window, in the order of
#: ``twinspike.compile.IMAGES`` (a test keeps the two equal).
MEMORIES = ("table", "weight", "bias", "geometry")

MEMORY_WINDOW = """\
The host loads the compiled memory images (`twinspike compile`) without DMA through three
registers. `MEM_SELECT` picks the memory (codes below). `MEM_ADDR` counts **32-bit chunks**:
a memory whose words have `B` bits takes `C` chunks per word, `C` the power of two
`>= ceil(B / 32)` (`chunks_per_word`), and chunk `j` (bits `[32j, 32j+32)`, lane 0 in the low
bits as in the `.mem` files) of word `w` sits at chunk address `w * C + j`. Every `MEM_DATA`
write hands the core `(MEM_SELECT, MEM_ADDR, data)` for one cycle and then adds 1 to
`MEM_ADDR` (**auto-increment**), so a whole image is one `MEM_ADDR` write followed by
`C` `MEM_DATA` writes per word, padding chunks (`j >= ceil(B / 32)`) written as 0. The core
holds chunks `0..C-2` and writes the memory word when chunk `C-1` arrives. Writing
`MEM_ADDR` restarts anywhere; reading it returns the next chunk address."""


def _reg(*args, **kwargs) -> Register:
    return Register(*args, **kwargs)


#: THE register map, in offset order.
REGISTERS: tuple[Register, ...] = (
    _reg("VERSION", 0x00, "ro", 32, VERSION_WORD,
         "constant: ASCII 'TS' and the register-map revision", constant=True),
    _reg("CONTROL", 0x04, "rw", 3, 0, "commands and the interrupt enable",
         fields=(Field("start", 0, 1, "write 1: start a run (self-clearing pulse)", pulse=True),
                 Field("soft_reset", 1, 1, "write 1: reset the core, not this register file "
                       "(self-clearing pulse)", pulse=True),
                 Field("irq_enable", 2, 1, "1: IRQ.done drives the interrupt line"))),
    _reg("STATUS", 0x08, "ro", 3, 0, "state of the core",
         fields=(Field("busy", 0, 1, "a run is in progress"),
                 Field("done", 1, 1, "the last run finished (cleared by start)"),
                 Field("error", 2, 1, "the last run stopped on an error (see ERROR)"))),
    _reg("IRQ", 0x0C, "w1c", 1, 0, "pending interrupts (write 1 to clear)",
         fields=(Field("done", 0, 1, "set when a run ends (done or error)"),)),
    _reg("T", 0x10, "rw", 16, 1, "timesteps per image, 1..65535 (0 is error T_RANGE)"),
    _reg("LAYER_COUNT", 0x14, "rw", 16, 0, "populations in the layer table"),
    _reg("TABLE_BASE", 0x18, "rw", 24, 0, "word address of the layer table in the table memory"),
    _reg("IMAGES", 0x1C, "rw", 32, 1, "images in the batch (one TLAST-framed image each)"),
    _reg("CYCLES_LO", 0x20, "ro", 32, 0, "clock cycles of the last run, bits 31..0"),
    _reg("CYCLES_HI", 0x24, "ro", 32, 0, "clock cycles of the last run, bits 63..32"),
    _reg("SOPS_LO", 0x28, "ro", 32, 0, "synaptic operations of the last run, bits 31..0"),
    _reg("SOPS_HI", 0x2C, "ro", 32, 0, "synaptic operations of the last run, bits 63..32"),
    _reg("ERROR", 0x30, "ro", 8, 0, "error code of the last run (0: none; table below)"),
    _reg("SATURATION", 0x34, "ro", 32, 0,
         "saturating membrane additions in the last run (count, stops at 2^32-1; cleared by "
         "start)"),
    _reg("HW_PARAMS", 0x38, "ro", 32, 0, "parameters fixed at synthesis, for the driver to check",
         fields=(Field("lanes", 0, 8, "lanes P"), Field("weight_bits", 8, 8, "weight lane bits"),
                 Field("membrane_bits", 16, 8, "membrane lane bits"),
                 Field("input_bits", 24, 8, "pixel bits"))),
    _reg("MEM_SELECT", 0x3C, "rw", 4, 0, "memory the window writes (codes below)"),
    _reg("MEM_ADDR", 0x40, "rw", 32, 0, "chunk address of the next MEM_DATA write "
         "(auto-increments)", increment_on="MEM_DATA"),
    _reg("MEM_DATA", 0x44, "wo", 32, 0, "write: one 32-bit chunk at MEM_ADDR of MEM_SELECT"),
    _reg("WEIGHT_ADDR", 0x48, "rw", 32, 0,
         "byte address in DDR of the weight words beyond the on-chip memory (`weight_ddr` of "
         "`twinspike compile`; 64-bit words, a multiple of 8 * line_words bytes)"),
    _reg("STALLS_LO", 0x4C, "ro", 32, 0,
         "cycles of the last run stalled on DDR weight lines, bits 31..0 (part of CYCLES)"),
    _reg("STALLS_HI", 0x50, "ro", 32, 0, "stalled cycles of the last run, bits 63..32"),
    _reg("WEIGHT_FILLS", 0x54, "ro", 32, 0,
         "DDR weight lines fetched in the last run (one AXI4 burst each; modulo 2^32)"),
)


def check_table(registers=REGISTERS) -> None:
    """Raise ``ValueError`` on any inconsistency of a register table."""
    names, offsets = set(), set()
    by_name = {r.name: r for r in registers}
    for r in registers:
        where = f"register {r.name}"
        if not _NAME.match(r.name):
            raise ValueError(f"{where}: name must be UPPER_CASE letters, digits and _")
        if r.name in names:
            raise ValueError(f"{where}: name used twice")
        if r.offset % WORD_BYTES or r.offset < 0:
            raise ValueError(f"{where}: offset {r.offset:#x} is not word-aligned")
        if r.offset in offsets:
            raise ValueError(f"{where}: offset {r.offset:#x} overlaps another register")
        names.add(r.name)
        offsets.add(r.offset)
        if r.access not in ACCESS:
            raise ValueError(f"{where}: access {r.access!r}, expected one of {ACCESS}")
        if not 1 <= r.width <= DATA_BITS:
            raise ValueError(f"{where}: width {r.width} out of range 1..{DATA_BITS}")
        if not 0 <= r.reset <= r.mask:
            raise ValueError(f"{where}: reset {r.reset:#x} does not fit {r.width} bits")
        if r.constant and r.access != "ro":
            raise ValueError(f"{where}: only ro registers can be constant")
        used = 0
        for f in r.fields:
            if f.width < 1 or f.lsb < 0 or f.lsb + f.width > r.width:
                raise ValueError(f"{where}: field {f.name} lies outside bits 0..{r.width - 1}")
            if used & f.mask:
                raise ValueError(f"{where}: field {f.name} overlaps another field")
            used |= f.mask
            if f.pulse and r.access != "rw":
                raise ValueError(f"{where}: pulse field {f.name} needs an rw register")
        if r.pulse_mask & r.reset:
            raise ValueError(f"{where}: a pulse field resets to 1")
        if r.increment_on is not None:
            other = by_name.get(r.increment_on)
            if r.access != "rw" or other is None or other.access != "wo":
                raise ValueError(f"{where}: increment_on must name a wo register and "
                                 f"{r.name} must be rw")


    irq, ctl, enable = INTERRUPT
    if irq in by_name and (by_name[irq].access != "w1c" or ctl not in by_name):
        raise ValueError(f"INTERRUPT: {irq} must be w1c and {ctl} must exist")
    if irq in by_name:
        by_name[ctl].field(enable)


check_table()
BY_NAME = {r.name: r for r in REGISTERS}
BY_OFFSET = {r.offset: r for r in REGISTERS}
#: Bytes the map spans (the highest offset + 4).
SPAN = max(r.offset for r in REGISTERS) + WORD_BYTES


def register(name: str) -> Register:
    """The register called ``name`` (case-insensitive)."""
    try:
        return BY_NAME[name.upper()]
    except KeyError:
        raise KeyError(f"no register {name!r} (registers: {', '.join(BY_NAME)})") from None


def offset(name: str) -> int:
    return register(name).offset


def at(offset_: int) -> Register | None:
    """The register at byte ``offset_`` (the low two bits ignored), or None (unmapped)."""
    return BY_OFFSET.get(offset_ - offset_ % WORD_BYTES)


def field_value(name: str, **fields: int) -> int:
    """A register word from field values, e.g. ``field_value('CONTROL', start=1)``."""
    reg, word = register(name), 0
    for fname, value in fields.items():
        f = reg.field(fname)
        if not 0 <= value < (1 << f.width):
            raise ValueError(f"{reg.name}.{fname}={value} does not fit {f.width} bits")
        word |= value << f.lsb
    return word


def field_of(name: str, word: int, fname: str) -> int:
    """Field ``fname`` of a value read from register ``name``."""
    f = register(name).field(fname)
    return (word >> f.lsb) & ((1 << f.width) - 1)


def chunks_per_word(bits: int) -> int:
    """32-bit chunks one memory word of ``bits`` bits takes in the window (a power of two)."""
    if bits < 1:
        raise ValueError(f"memory word of {bits} bits")
    need = -(-bits // DATA_BITS)
    return 1 << (need - 1).bit_length()


def memory_code(memory: str) -> int:
    """``MEM_SELECT`` code of ``memory``."""
    try:
        return MEMORIES.index(memory)
    except ValueError:
        raise KeyError(f"no memory {memory!r} (memories: {', '.join(MEMORIES)})") from None


def memory_writes(memory: str, words, bits: int, first_word: int = 0) -> list[tuple[int, int]]:
    """The ``(offset, value)`` register writes that load ``words`` (ints of ``bits`` bits)
    into ``memory`` from word ``first_word`` through the window."""
    c = chunks_per_word(bits)
    writes = [(offset("MEM_SELECT"), memory_code(memory)),
              (offset("MEM_ADDR"), first_word * c)]
    data = offset("MEM_DATA")
    for w in words:
        w = int(w)
        if not 0 <= w < (1 << bits):
            raise ValueError(f"{memory} word {w:#x} does not fit {bits} bits")
        writes.extend((data, (w >> (DATA_BITS * j)) & 0xFFFFFFFF) for j in range(c))
    return writes


def _access_text(r: Register) -> str:
    return "ro (constant)" if r.constant else r.access


def _fields_text(r: Register) -> str:
    parts = []
    for f in r.fields:
        bits = f"{f.lsb}" if f.width == 1 else f"{f.lsb + f.width - 1}:{f.lsb}"
        parts.append(f"[{bits}] `{f.name}`{' (pulse)' if f.pulse else ''}: {f.description}")
    if r.increment_on:
        parts.append(f"+1 after each `{r.increment_on}` write")
    return "<br>".join(parts)


def markdown_table(registers=REGISTERS) -> str:
    """The register map as a Markdown table (offset order)."""
    rows = ["| offset | name | access | width | reset | fields | description |",
            "|---|---|---|---:|---|---|---|"]
    for r in sorted(registers, key=lambda r: r.offset):
        rows.append(f"| `0x{r.offset:02X}` | `{r.name}` | {_access_text(r)} | {r.width} | "
                    f"`0x{r.reset:X}` | {_fields_text(r)} | {r.description} |")
    return "\n".join(rows) + "\n"


def render_doc() -> str:
    """``docs/register-map.md``: the table, the error and memory codes and the bus rules."""
    errors = "\n".join(f"| {code} | `{name}` | {text} |" for code, (name, text) in ERROR_CODES.items())
    memories = "\n".join(f"| {code} | `{m}` |" for code, m in enumerate(MEMORIES))
    return f"""<!-- Generated by `python -m twinspike.sw.register_map > docs/register-map.md` from
     sw/register_map.py (REGISTERS); tests/test_axi.py fails when this page differs. -->
# Register map (AXI4-Lite)

One table in code, `sw/register_map.REGISTERS`, read by the MyHDL register file
(`hw/axi.axi_lite_regs`), its reference model (`sw/axi.RegisterFileModel`), the tests, and the
driver. 32-bit registers at word-aligned byte offsets from the slave's base address; the map
spans `0x{SPAN:02X}` bytes. `width`: the low bits that exist; the others read 0 and ignore
writes.

{markdown_table()}
Access kinds: **rw** read/write (byte strobes honoured; `pulse` bits are self-clearing
commands: writing 1 gives the core a one-cycle pulse, they read 0); **ro** driven by the core
(or constant), writes answer SLVERR and change nothing; **wo** each write gives the core a
one-cycle strobe, reads return 0 with OKAY; **w1c** sticky bits set by the core, cleared by
writing 1 (a set in the same cycle as a clear wins). The interrupt line is
`IRQ.done and CONTROL.irq_enable`, registered.

## Bus behaviour

- **Responses.** OKAY for every access the table allows. **SLVERR** (`0b10`) for an address
  no register occupies (read data 0) and for a write to an `ro` register; neither changes
  anything. AXI4-Lite lets a slave signal SLVERR for an access that reached it but cannot
  complete (AXI spec A3.4.4); DECERR is left to the interconnect (no slave at the address).
  On a Zynq GP port an error response becomes a bus-error abort in the CPU, so a driver only
  touches offsets in this table (the PYNQ driver reads them from it).
- **Addresses.** The low two address bits are ignored (every access is a whole word with byte
  strobes); addresses are decoded over the slave's `addr_bits` (default 12: a 4 KiB window).
- **Channels.** AW and W are accepted independently, in either order or together; the write
  is performed once both have arrived and the previous B response has been accepted, so at
  most one write is in flight (one address and one data beat buffered). A read is accepted
  when no R response is waiting; one read in flight. B and R wait for BREADY and RREADY
  (any back-pressure). Reads and writes proceed independently; a read that is accepted in the
  same cycle as a write is performed returns the value before that write.
- **64-bit counters.** `CYCLES` and `SOPS` are the last run's totals, stable once
  `STATUS.done` is set; reading the two halves while `STATUS.busy` may tear.

## Error codes (`ERROR`)

| code | name | meaning |
|---:|---|---|
{errors}

## Memory window (`MEM_SELECT`, `MEM_ADDR`, `MEM_DATA`)

{MEMORY_WINDOW}

| `MEM_SELECT` | memory |
|---:|---|
{memories}
"""


if __name__ == "__main__":  # pragma: no cover
    print(render_doc(), end="")
