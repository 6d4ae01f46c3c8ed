"""LFSR: maximal-length Galois linear-feedback shift registers, N parallel lanes.

Semantics (shared by all three twins):

* Polynomial: for width ``W`` the taps of ``TAPS[W]`` (Xilinx XAPP052's table of maximal-length
  taps, numbered 1..W). The Galois feedback mask is ``sum(1 << (t - 1) for t in taps)``.
* Step (Galois, right shift): ``lsb = s & 1; s >>= 1; if lsb: s ^= mask``. The all-zero state is
  never reached from a non-zero seed; the period is ``2**W - 1``.
* Lane seeds: lane ``i`` of an LFSR with base seed ``S`` starts at
  ``mix32((S + 0x9E3779B9 * (i + 1)) mod 2**32) mod (2**W - 1) + 1`` where ``mix32`` is the
  "lowbias32" integer hash (``x ^= x >> 16; x *= 0x7FEB352D; x ^= x >> 15; x *= 0x846CA68B;
  x ^= x >> 16``, all mod 2**32). Always non-zero; computed at elaboration time for the hardware.
* Timing: the value a consumer sees at timestep ``t`` (0-based) is the lane state after ``t``
  steps, i.e. ``value[0] == seed``; the register advances once per timestep.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .common import check_range

#: Maximal-length tap positions by register width (Xilinx XAPP052, Table 3).
TAPS: dict[int, tuple[int, ...]] = {
    3: (3, 2), 4: (4, 3), 5: (5, 3), 6: (6, 5), 7: (7, 6), 8: (8, 6, 5, 4),
    9: (9, 5), 10: (10, 7), 11: (11, 9), 12: (12, 6, 4, 1), 13: (13, 4, 3, 1),
    14: (14, 5, 3, 1), 15: (15, 14), 16: (16, 15, 13, 4), 17: (17, 14), 18: (18, 11),
    19: (19, 6, 2, 1), 20: (20, 17), 21: (21, 19), 22: (22, 21), 23: (23, 18),
    24: (24, 23, 22, 17), 25: (25, 22), 26: (26, 6, 2, 1), 27: (27, 5, 2, 1),
    28: (28, 25), 29: (29, 27), 30: (30, 6, 4, 1), 31: (31, 28), 32: (32, 22, 2, 1),
}
MIN_WIDTH, MAX_WIDTH = min(TAPS), max(TAPS)
MAX_LANES = 4096
GOLDEN = 0x9E3779B9
MASK32 = 0xFFFFFFFF


def feedback_mask(width: int) -> int:
    return sum(1 << (t - 1) for t in TAPS[width])


def mix32(x: int) -> int:
    """lowbias32 integer hash (public domain, C. Wellons)."""
    x &= MASK32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & MASK32
    x ^= x >> 15
    x = (x * 0x846CA68B) & MASK32
    x ^= x >> 16
    return x


def lane_seed(width: int, base_seed: int, lane: int) -> int:
    """The documented per-lane seed rule; never zero."""
    return mix32((base_seed + GOLDEN * (lane + 1)) & MASK32) % ((1 << width) - 1) + 1


def step(state: int, mask: int) -> int:
    """One Galois right-shift step."""
    return (state >> 1) ^ mask if state & 1 else state >> 1


@dataclass(frozen=True)
class LfsrParams:
    """Parameters of an LFSR bank: register ``width``, number of ``lanes``, base ``seed``."""

    width: int = 16
    lanes: int = 4
    seed: int = 1

    def __post_init__(self) -> None:
        check_range("LfsrParams", "width", self.width, MIN_WIDTH, MAX_WIDTH)
        check_range("LfsrParams", "lanes", self.lanes, 1, MAX_LANES)
        check_range("LfsrParams", "seed", self.seed, 0, MASK32)

    @property
    def mask(self) -> int:
        return feedback_mask(self.width)

    @cached_property
    def seeds(self) -> tuple[int, ...]:
        return tuple(lane_seed(self.width, self.seed, i) for i in range(self.lanes))


def sequence(p: LfsrParams, n_steps: int) -> np.ndarray:
    """Lane values for timesteps ``0..n_steps-1``: array ``(lanes, n_steps)`` of uint32."""
    check_range("sequence", "n_steps", n_steps, 0, 1 << 31)
    out = np.zeros((p.lanes, n_steps), dtype=np.uint32)
    mask = p.mask
    for lane, s in enumerate(p.seeds):
        for t in range(n_steps):
            out[lane, t] = s
            s = step(s, mask)
    return out


def period(width: int, seed: int = 1) -> int:
    """Number of steps until the register returns to ``seed`` (slow: for small widths)."""
    mask, s, n = feedback_mask(width), seed, 0
    while True:
        s = step(s, mask)
        n += 1
        if s == seed:
            return n
