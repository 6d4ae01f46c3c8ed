"""Small helpers every hardware twin shares: signal constructors, stimulus ROMs, and the lane
packing of memory and output words (the host side of every engine's ports).

Lane ``i`` of a word always sits in bits ``[i*bits, (i+1)*bits)``, two's complement where the
lane is signed (``docs/semantics.md``); :func:`pack_lanes` and :func:`unpack_lanes` are the one
implementation of that layout for benches, parsers and the whole-network runner.
"""
from __future__ import annotations

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


@block
def ram(clk, we, waddr, wdata, raddr, q, depth, re=None):
    """Simple dual-port RAM, ``depth`` words: write on ``we``, registered read of ``raddr``
    (read-first: a read of the word written on the same edge returns the old word); with a
    read enable ``re`` the output holds while ``re`` is low. A reset-free ``@always`` block
    with a registered read, so Yosys infers block or distributed RAM."""
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
