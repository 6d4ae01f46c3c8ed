"""Rate encoder: Bernoulli spike trains from unsigned pixel intensities, one LFSR lane per input.

Semantics (shared by all three twins):

* Input: one image of ``n_inputs`` unsigned intensities ``x_i`` of ``in_bits`` bits
  (``0 <= x_i <= 2**in_bits - 1``).
* Random source: the LFSR bank of ``sw/lfsr.py`` with ``width = lfsr_width``,
  ``lanes = n_inputs`` and base ``seed`` (its polynomial, step and lane-seed rule); lane ``i``
  belongs to input ``i``. ``lfsr_i(t)`` is lane ``i`` after ``t`` steps (``lfsr_i(0)`` is its seed).
* Spike rule: input ``i`` spikes at timestep ``t`` (0-based) iff
  ``lfsr_i(t) >> (lfsr_width - in_bits) < x_i``, i.e. the top ``in_bits`` bits of the lane,
  read as an unsigned level, are below the intensity. ``x_i = 0`` never spikes.
* Per image: the LFSR bank is reset to its lane seeds at the start of every image, so an
  image's spike trains depend on that image alone (not on its position in a batch).
* Rate: over one full LFSR period (``2**W - 1`` steps, every non-zero state once) input ``i``
  spikes exactly ``max(0, x_i * 2**(W - in_bits) - 1)`` times (the missing state is zero, whose
  level is 0), so its rate is within ``1 / (2**W - 1)`` of ``x_i / 2**in_bits``.
* Impossible: ``lfsr_width < in_bits`` (the lane has fewer bits than the level it must give).
  ``in_bits`` is at most 8: intensities are bytes (``uint8`` pixels) in every twin.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from . import lfsr
from .common import check_array_range, check_range
from .lfsr import MASK32, MAX_LANES, MAX_WIDTH, MIN_WIDTH, LfsrParams

MAX_IN_BITS = 8


@dataclass(frozen=True)
class RateEncoderParams:
    """``n_inputs`` pixels of ``in_bits`` bits, LFSR lanes of ``lfsr_width`` bits, base ``seed``.

    ``n_inputs`` defaults to 64, the 8x8 digits images."""

    n_inputs: int = 64
    in_bits: int = 8
    lfsr_width: int = 16
    seed: int = 1

    def __post_init__(self) -> None:
        owner = "RateEncoderParams"
        check_range(owner, "n_inputs", self.n_inputs, 1, MAX_LANES)
        check_range(owner, "in_bits", self.in_bits, 1, MAX_IN_BITS)
        check_range(owner, "lfsr_width", self.lfsr_width, MIN_WIDTH, MAX_WIDTH)
        if self.lfsr_width < self.in_bits:
            raise ValueError(f"{owner}.lfsr_width={self.lfsr_width} is out of range: expected "
                             f"{self.in_bits}..{MAX_WIDTH} (at least in_bits={self.in_bits})")
        check_range(owner, "seed", self.seed, 0, MASK32)

    @cached_property
    def lfsr(self) -> LfsrParams:
        """The LFSR bank: one lane per input."""
        return LfsrParams(width=self.lfsr_width, lanes=self.n_inputs, seed=self.seed)

    @property
    def shift(self) -> int:
        """Right shift that leaves a lane's top ``in_bits`` bits (its level)."""
        return self.lfsr_width - self.in_bits

    @property
    def max_intensity(self) -> int:
        return (1 << self.in_bits) - 1


def check_images(p: RateEncoderParams, images, owner: str = "encode") -> np.ndarray:
    """Validate a batch ``(B, n_inputs)`` of intensities in ``0..2**in_bits - 1``; returns int64."""
    arr = np.asarray(images)
    if arr.ndim != 2 or arr.shape[1] != p.n_inputs:
        raise ValueError(f"{owner}.x must have shape (B, {p.n_inputs}), got {arr.shape}")
    return check_array_range(owner, "x", arr, 0, p.max_intensity)


def encode(p: RateEncoderParams, images, n_steps: int) -> np.ndarray:
    """Spike trains of a batch: ``images`` ``(B, n_inputs)`` -> uint8 ``(B, n_steps, n_inputs)``
    with ``out[b, t, i] = 1`` iff ``lfsr_i(t) >> (W - in_bits) < images[b, i]``."""
    x = check_images(p, images)
    check_range("encode", "n_steps", n_steps, 0, 1 << 31)
    # The bank restarts from its seeds for every image, so one sequence serves the whole batch.
    levels = lfsr.sequence(p.lfsr, n_steps) >> p.shift           # (n_inputs, n_steps)
    return (levels.T[np.newaxis, :, :] < x[:, np.newaxis, :]).astype(np.uint8)
