"""Spike FIFO: the address-event queue between a layer and the engine that consumes its spikes.

Words: each word is a pair ``(addr, eot)``: an ``addr_bits``-wide source address and an
end-of-timestep bit, stored side by side (``addr_bits + 1`` bits per RAM word) and returned
verbatim. Framing convention (``frame``/``unframe``): a timestep is its events in ascending
address order, ``(a, 0)`` each, followed by one **EOT token** ``(0, 1)``. The token carries no
event, so an empty timestep is a lone token and a consumer needs no look-ahead.

Cycle model (one row per clock cycle ``c``; ``depth`` words, any ``depth >= 1``):

* Outputs shown during cycle ``c`` depend only on the state, never on that cycle's inputs:
  ``count`` (words held), ``full = count == depth``, ``empty = count == 0``,
  ``ready = not full``, and ``valid_out, addr_out, eot_out``: the word popped in cycle
  ``c - 1`` (registered RAM read). ``addr_out`` and ``eot_out`` are reported as 0 while
  ``valid_out`` is 0 (the hardware holds a stale word there; it carries no meaning).
* At the clock edge closing cycle ``c``: a **push** is accepted iff ``push_valid and ready``
  (a push while full is refused, and the producer must hold its word until ``ready``; nothing
  is ever dropped or overwritten). A **pop** is accepted iff ``pop and not empty`` (a pop while
  empty returns nothing: ``valid_out`` is 0 next cycle). Both are judged on the state at the
  start of the cycle, so a simultaneous push and pop both take effect whenever
  ``0 < count < depth``; when full only the pop, when empty only the push. The popped word is
  the oldest one held before the edge, never the word pushed at the same edge.
* Reset empties the queue and clears ``valid_out``.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from .common import check_array_range, check_range

MAX_DEPTH = 1 << 16
MAX_ADDR_BITS = 24
#: Names of the per-cycle outputs, in the order the bench prints them.
OUTPUTS = ("ready", "valid_out", "addr_out", "eot_out", "count", "full", "empty")


@dataclass(frozen=True)
class SpikeFifoParams:
    """``depth`` words (1..65536, any value) of ``addr_bits``-wide addresses (1..24) plus EOT."""

    depth: int = 1024
    addr_bits: int = 16

    def __post_init__(self) -> None:
        check_range("SpikeFifoParams", "depth", self.depth, 1, MAX_DEPTH)
        check_range("SpikeFifoParams", "addr_bits", self.addr_bits, 1, MAX_ADDR_BITS)

    @property
    def count_bits(self) -> int:
        """Width of ``count`` (holds 0..depth)."""
        return self.depth.bit_length()

    @property
    def ptr_bits(self) -> int:
        return max(1, (self.depth - 1).bit_length())


def check_stimulus(p: SpikeFifoParams, push_valid, push_addr, push_eot, pop):
    """Validate the per-cycle stimulus (equal lengths, flags 0/1, addresses in range); returns
    the four arrays as int64. Shared by the reference and the Cython twin."""
    if not isinstance(p, SpikeFifoParams):
        raise ValueError(f"spike_fifo expects SpikeFifoParams, got {type(p).__name__}")
    arrays = (check_array_range("spike_fifo", "push_valid", push_valid, 0, 1),
              check_array_range("spike_fifo", "push_addr", push_addr, 0, (1 << p.addr_bits) - 1),
              check_array_range("spike_fifo", "push_eot", push_eot, 0, 1),
              check_array_range("spike_fifo", "pop", pop, 0, 1))
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"spike_fifo stimulus arrays must share one shape, got {sorted(shapes)}")
    return arrays


class SpikeFifoModel:
    """The queue, one clock edge at a time (for closed-loop producers and consumers)."""

    def __init__(self, p: SpikeFifoParams):
        self.p = p
        self.words: deque[tuple[int, int]] = deque()
        self.out: tuple[int, int] | None = None  # word popped in the previous cycle

    def outputs(self) -> dict[str, int]:
        """What the block shows during the current cycle."""
        n = len(self.words)
        addr, eot = self.out if self.out is not None else (0, 0)
        return dict(ready=int(n < self.p.depth), valid_out=int(self.out is not None),
                    addr_out=addr, eot_out=eot, count=n, full=int(n == self.p.depth),
                    empty=int(n == 0))

    def clock(self, push_valid: int, addr: int, eot: int, pop: int) -> bool:
        """Apply one clock edge; returns whether the push (if any) was accepted."""
        push_ok = bool(push_valid) and len(self.words) < self.p.depth
        self.out = self.words.popleft() if pop and self.words else None
        if push_ok:
            self.words.append((int(addr), int(eot)))
        return push_ok


def simulate(p: SpikeFifoParams, push_valid, push_addr, push_eot, pop) -> dict[str, np.ndarray]:
    """Run the per-cycle stimulus from reset; returns each output of ``OUTPUTS`` per cycle."""
    stim = check_stimulus(p, push_valid, push_addr, push_eot, pop)
    if stim[0].ndim != 1:
        raise ValueError(f"spike_fifo stimulus must be 1-D (cycles), got shape {stim[0].shape}")
    rows = []
    fifo = SpikeFifoModel(p)
    for pv, addr, eot, pp in zip(*stim):
        rows.append(fifo.outputs())
        fifo.clock(pv, addr, eot, pp)
    return {name: np.array([r[name] for r in rows], dtype=np.int64) for name in OUTPUTS}


def frame(timesteps) -> list[tuple[int, int]]:
    """Words for a list of timesteps (each a collection of addresses): the sorted events,
    then one EOT token ``(0, 1)`` per timestep."""
    words = []
    for events in timesteps:
        words.extend((int(a), 0) for a in sorted(events))
        words.append((0, 1))
    return words


def unframe(words) -> list[list[int]]:
    """Inverse of ``frame`` over complete timesteps (a trailing open timestep is an error)."""
    timesteps, current = [], []
    for addr, eot in words:
        if eot:
            timesteps.append(current)
            current = []
        else:
            current.append(int(addr))
    if current:
        raise ValueError(f"unframe: {len(current)} events after the last EOT token")
    return timesteps
