"""Small helpers every hardware twin shares: signal constructors, stimulus ROMs, and the lane
packing of memory and output words (the host side of every engine's ports).

Lane ``i`` of a word always sits in bits ``[i*bits, (i+1)*bits)``, two's complement where the
lane is signed (``docs/semantics.md``); :func:`pack_lanes` and :func:`unpack_lanes` are the one
implementation of that layout for benches, parsers and the whole-network runner.
"""
from __future__ import annotations

from dataclasses import dataclass

from myhdl import Signal, always, always_comb, block, intbv

from twinspike.sw.common import signed_max, signed_min


def signed_signal(bits: int, value: int = 0) -> Signal:
    """A two's complement signal of ``bits`` bits."""
    return Signal(intbv(value, min=signed_min(bits), max=signed_max(bits) + 1))


def unsigned_signal(bits: int, value: int = 0) -> Signal:
    """An unsigned signal of ``bits`` bits."""
    return Signal(intbv(value)[bits:])


def index_signal(n: int, value: int = 0) -> Signal:
    """A counter or address for ``0..n-1`` (at least one bit wide)."""
    return Signal(intbv(value, min=0, max=max(n, 2)))


def address_bits(n: int) -> int:
    """Width of an index into ``n`` entries (at least 1 bit)."""
    return max(1, (n - 1).bit_length())


@dataclass(frozen=True)
class RamInit:
    """Initial contents of a :func:`ram`: ``words`` from address 0 (the rest of the RAM starts
    at zero) and ``path``, the ``.mem`` file that holds the same words (one hex word per
    line, ``ceil(bits / 4)`` digits, ``$readmemh`` style: ``twinspike compile``'s files), as
    the converted VHDL names it. The VHDL reads that file when it is elaborated (a GHDL run,
    Vivado's synthesis), so ``path`` must be valid where that tool runs: an absolute path. The
    caller keeps the two in step (``hw/layer_sequencer.image_init``)."""

    words: tuple[int, ...]
    path: str

    def __post_init__(self):
        object.__setattr__(self, "words", tuple(int(w) for w in self.words))
        path = str(self.path)
        if not path or any(c in path for c in '"\n\r'):
            raise ValueError(f"RamInit.path={path!r}: expected a file name without quotes or "
                             "line breaks (it is written into the VHDL as a string)")
        object.__setattr__(self, "path", path)


@block
def ram(clk, we, waddr, wdata, raddr, q, depth, re=None, init=None):
    """Simple dual-port RAM, ``depth`` words: write on ``we``, registered read of ``raddr``
    (read-first: a read of the word written on the same edge returns the old word); with a
    read enable ``re`` the output holds while ``re`` is low. A reset-free ``@always`` block
    with a registered read, so Yosys infers block or distributed RAM.

    ``init`` (a :class:`RamInit`): the RAM starts with those words -- in MyHDL the memory
    list does, and in the converted VHDL (:func:`ram_contents`) the RAM's signal is
    initialised from ``init.path`` at elaboration, the form Vivado synthesis turns into
    block RAM contents. Without ``init`` the RAM and its conversion are unchanged."""
    if init is not None:
        return (ram_contents if re is None else ram_contents_re)(
            clk, we, waddr, wdata, raddr, q, depth, re, init)
    mem = [Signal(intbv(0)[len(wdata):]) for _ in range(depth)]

    if re is None:
        @always(clk.posedge)
        def read_write():
            if we:
                mem[waddr].next = wdata
            q.next = mem[raddr]
    else:
        @always(clk.posedge)
        def read_write():
            if we:
                mem[waddr].next = wdata
            if re:
                q.next = mem[raddr]

    return read_write


def ram_with_contents(clk, we, waddr, wdata, raddr, q, depth, re, init):
    """:func:`ram` with initial contents ``init``: the same MyHDL process on a memory list that
    starts with ``init.words``; converted, the user-defined VHDL of :data:`RAM_CONTENTS_VHDL`."""
    bits = len(wdata)
    if len(init.words) > depth:
        raise ValueError(f"{init.path}: {len(init.words)} words for a RAM of {depth}")
    if any(w < 0 or w >> bits for w in init.words):
        raise ValueError(f"{init.path}: a word is wider than the RAM's {bits} bits")
    mem = [Signal(intbv(w)[bits:]) for w in init.words + (0,) * (depth - len(init.words))]
    # Names the VHDL template interpolates (the signals' converted names come from them).
    last_bit, last_word = bits - 1, depth - 1
    hex_bits = 4 * -(-bits // 4)            # the digits of a .mem line, as bits
    hex_last = hex_bits - 1
    file_name = init.path
    n_words = len(init.words)
    # Verilog: around the memory's name, $readmemh of the words, or a comment when none.
    read_open, read_close = ((f'$readmemh("{file_name}", ', f", 0, {n_words - 1});")
                             if n_words else ("// no words: ", ""))
    # The template reads (and drives) these signals in its own code.
    q.driven = "reg"
    for sig in (clk, we, waddr, wdata, raddr) + (() if re is None else (re,)):
        sig.read = True

    if re is None:
        @always(clk.posedge)
        def read_write():
            if we:
                mem[waddr].next = wdata
            q.next = mem[raddr]
    else:
        @always(clk.posedge)
        def read_write():
            if we:
                mem[waddr].next = wdata
            if re:
                q.next = mem[raddr]

    return read_write


# The converted form of a RAM with contents: a VHDL block statement (its own declarations:
# the array type, the loader, the RAM signal) holding the process MyHDL writes for ram().
#
# Why a file read at elaboration and not the words as a constant aggregate: the VHDL then does
# not depend on the network (another compiled network of the same AcceleratorParams only
# replaces the .mem files before synthesis), the .mem files twinspike compile writes are the
# one source of the contents (the test parses the same files for MyHDL), and it is the idiom
# UG901 gives for VHDL ("Initializing Block RAM From an External Data File": a signal of the
# RAM's array type whose default value is an impure function reading the file with textio).
# Why user-defined code and not MyHDL's initial values: those are one switch for the whole
# conversion, and the top is converted with them off on purpose (registers start from reset,
# hw/top.run_split_ghdl); RAM contents in a bitstream are legitimate, register values are not.
# Each line is read with hread into whole hex digits and cut to the word's width.
RAM_CONTENTS_VHDL = """\
${q}_init: block
    type t_ts_mem is array(0 to $last_word) of unsigned($last_bit downto 0);
    impure function ts_read_mem(name: string) return t_ts_mem is
        file f: text open read_mode is name;
        variable l: line;
        variable digits: std_logic_vector($hex_last downto 0);
        variable contents: t_ts_mem := (others => (others => '0'));
        variable i: natural := 0;
    begin
        while i <= $last_word and not endfile(f) loop
            readline(f, l);
            hread(l, digits);
            contents(i) := unsigned(digits($last_bit downto 0));
            i := i + 1;
        end loop;
        return contents;
    end function;
    signal ts_mem: t_ts_mem := ts_read_mem("$file_name");
begin
    ${q}_read_write: process ($clk) is
    begin
        if rising_edge($clk) then
            if $we = '1' then
                ts_mem(to_integer($waddr)) <= $wdata;
            end if;
            {read}
        end if;
    end process ${q}_read_write;
end block ${q}_init;"""

# The Verilog form (Yosys counts, simulators): the same RAM with $readmemh of the same file,
# its words (as many as init has) in an initial block, the words above them set to zero as in
# MyHDL and the VHDL. The two ranges must not overlap: Yosys 0.23 lets a loop over the whole
# RAM win over $readmemh, whatever their order.
RAM_CONTENTS_VERILOG = """\
reg [$last_bit:0] ${q}_ts_mem [0:$last_word];
integer ${q}_ts_i;
initial begin
    $read_open${q}_ts_mem$read_close
    for (${q}_ts_i = $n_words; ${q}_ts_i <= $last_word; ${q}_ts_i = ${q}_ts_i + 1)
        ${q}_ts_mem[${q}_ts_i] = 0;
end
always @(posedge $clk) begin: ${q}_read_write
    if ($we) begin
        ${q}_ts_mem[$waddr] <= $wdata;
    end
    {read}
end"""

#: One block object per read form (a block's user-defined code belongs to the decorator, so
#: the two templates need two), both around the same function.
ram_contents = block(ram_with_contents)
ram_contents.vhdl_code = RAM_CONTENTS_VHDL.replace(
    "{read}", "$q <= ts_mem(to_integer($raddr));")
ram_contents.verilog_code = RAM_CONTENTS_VERILOG.replace(
    "{read}", "$q <= ${q}_ts_mem[$raddr];")
ram_contents_re = block(ram_with_contents)
ram_contents_re.vhdl_code = RAM_CONTENTS_VHDL.replace(
    "{read}", "if $re = '1' then\n                $q <= ts_mem(to_integer($raddr));\n"
              "            end if;")
ram_contents_re.verilog_code = RAM_CONTENTS_VERILOG.replace(
    "{read}", "if ($re) begin\n        $q <= ${q}_ts_mem[$raddr];\n    end")


@block
def rom_driver(index, out, values):
    """``out = values[index]``: one stimulus column as a ROM a bench indexes per cycle."""

    @always_comb
    def lookup():
        out.next = values[index]

    return lookup


def rom_values(values) -> tuple[int, ...]:
    """ROM contents as a tuple of at least two ints (a one-entry ROM does not convert)."""
    values = tuple(int(v) for v in values)
    return values + (0,) * (2 - len(values))


def low_bits(values, bits: int) -> tuple[int, ...]:
    """Each value's low ``bits`` bits (two's complement bit patterns for a ROM of raw words)."""
    mask = (1 << bits) - 1
    return tuple(int(v) & mask for v in values)


def pack_lanes(values, bits: int) -> int:
    """One word of ``bits``-wide lanes, lane ``i`` = ``values[i]`` (two's complement)."""
    mask = (1 << bits) - 1
    return sum((int(v) & mask) << (i * bits) for i, v in enumerate(values))


def unpack_lanes(word: int, lanes: int, bits: int, signed: bool = True) -> list[int]:
    """The ``lanes`` lanes of a word, as signed (two's complement) or unsigned ints."""
    mask, sign = (1 << bits) - 1, (1 << (bits - 1)) if signed else 0
    return [(((int(word) >> (i * bits)) & mask) ^ sign) - sign for i in range(lanes)]
