"""Spike-count decoder: per-class output spike counts over an image's timesteps, and their argmax.

Semantics (``docs/semantics.md``, "Counts"):

* ``n_classes`` counters, unsigned, ``count_bits`` wide, **saturating** at
  ``2**count_bits - 1`` (a saturated counter stays there; saturation can create ties).
* Decision: ``argmax(counts)``, ties to the **lowest index** (``np.argmax``'s rule).

Cycle model (one row per clock cycle; inputs ``first``, ``valid``, ``spikes[n_classes]``):

* At the clock edge: if ``first``, the counts restart from zero (a new image begins with this
  cycle); then, if ``valid``, the cycle's spike vector is one timestep and
  ``counts[i] = min(counts[i] + spikes[i], 2**count_bits - 1)``. ``first`` with ``valid`` low
  only clears. Reset clears the counts.
* Outputs after the edge: ``counts`` (registers) and ``decision`` (combinational argmax of the
  registered counts; 0 after reset or a clear).

Batch form (the data-set evaluators): one image is ``T`` timesteps, all valid, the first one
with ``first``; ``decode_batch`` returns the final counts and the decision after every
timestep, so accuracy at ``T = 1..T`` comes out of one pass.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .common import check_array_range, check_range

MAX_CLASSES = 1024
MAX_COUNT_BITS = 16


@dataclass(frozen=True)
class SpikeCountDecoderParams:
    """``n_classes`` outputs (2..1024) counted in ``count_bits``-wide saturating counters (1..16)."""

    n_classes: int = 10
    count_bits: int = 8

    def __post_init__(self) -> None:
        check_range("SpikeCountDecoderParams", "n_classes", self.n_classes, 2, MAX_CLASSES)
        check_range("SpikeCountDecoderParams", "count_bits", self.count_bits, 1, MAX_COUNT_BITS)

    @property
    def count_max(self) -> int:
        return (1 << self.count_bits) - 1

    @property
    def index_bits(self) -> int:
        """Width of ``decision`` (holds 0..n_classes-1)."""
        return (self.n_classes - 1).bit_length()


def _check_params(p) -> None:
    if not isinstance(p, SpikeCountDecoderParams):
        raise ValueError(f"spike_count_decoder expects SpikeCountDecoderParams, got {type(p).__name__}")


def check_spikes(p: SpikeCountDecoderParams, spikes, ndim: int) -> np.ndarray:
    """Validate a 0/1 spike array whose last axis is the classes; returns it as int64."""
    _check_params(p)
    arr = check_array_range("spike_count_decoder", "spikes", spikes, 0, 1)
    if arr.ndim != ndim or arr.shape[-1] != p.n_classes:
        raise ValueError(f"spike_count_decoder.spikes must have {ndim} axes, the last of "
                         f"n_classes={p.n_classes}, got shape {arr.shape}")
    return arr


def check_stimulus(p: SpikeCountDecoderParams, first, valid, spikes):
    """Validate per-cycle ``first (C,)``, ``valid (C,)``, ``spikes (C, n_classes)`` (all 0/1);
    returns them as int64. Shared by the reference and the Cython twin."""
    spikes = check_spikes(p, spikes, 2)
    first = check_array_range("spike_count_decoder", "first", first, 0, 1)
    valid = check_array_range("spike_count_decoder", "valid", valid, 0, 1)
    if first.shape != (len(spikes),) or valid.shape != (len(spikes),):
        raise ValueError(f"spike_count_decoder: first {first.shape} and valid {valid.shape} must "
                         f"be ({len(spikes)},), one entry per row of spikes")
    return first, valid, spikes


def run(p: SpikeCountDecoderParams, first, valid, spikes) -> dict[str, np.ndarray]:
    """Per-cycle stimulus from reset; returns ``counts (C, n_classes)`` and ``decision (C,)``
    as shown after each cycle's clock edge."""
    first, valid, spikes = check_stimulus(p, first, valid, spikes)
    counts = np.zeros(p.n_classes, dtype=np.int64)
    out_counts = np.zeros(spikes.shape, dtype=np.int64)
    decision = np.zeros(len(spikes), dtype=np.int64)
    for c in range(len(spikes)):
        if first[c]:
            counts[:] = 0
        if valid[c]:
            counts = np.minimum(counts + spikes[c], p.count_max)
        out_counts[c] = counts
        decision[c] = np.argmax(counts)
    return dict(counts=out_counts, decision=decision)


def decode_batch(p: SpikeCountDecoderParams, spikes) -> tuple[np.ndarray, np.ndarray]:
    """Images ``spikes (B, T, n_classes)``; returns the final ``counts (B, n_classes)`` and
    ``decisions (B, T)``, the decision after timesteps ``0..t``."""
    spikes = check_spikes(p, spikes, 3)
    counts = np.zeros((spikes.shape[0], p.n_classes), dtype=np.int64)
    decisions = np.zeros(spikes.shape[:2], dtype=np.int64)
    for t in range(spikes.shape[1]):
        counts = np.minimum(counts + spikes[:, t], p.count_max)
        decisions[:, t] = np.argmax(counts, axis=1)
    return counts, decisions
