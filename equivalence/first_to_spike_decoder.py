"""Twin harness for the first-to-spike decoder: per-cycle early exits and decisions agree.

A case is ``(params, first, valid, spikes, mem_valid, membranes)``, one entry (or row) per
cycle. Random cases favour sparse spikes, so fallbacks, timestep caps and ties (narrow
membranes) are all common.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from twinspike.ext import first_to_spike_decoder as cy
from twinspike.sw import first_to_spike_decoder as ref
from twinspike.sw.common import signed_max, signed_min
from twinspike.sw.first_to_spike_decoder import (MAX_MEM_BITS, MIN_MEM_BITS,
                                                 FirstToSpikeDecoderParams)

SPIKE_DENSITIES = (0.0, 0.02, 0.1, 0.3, 1.0)


def params(max_classes: int = 12, max_steps: int = 10):
    mem_bits = st.one_of(st.integers(MIN_MEM_BITS, 4), st.integers(5, MAX_MEM_BITS))
    return st.builds(FirstToSpikeDecoderParams, n_classes=st.integers(2, max_classes),
                     t_steps=st.integers(1, max_steps), mem_bits=mem_bits)


def random_membranes(rng, p: FirstToSpikeDecoderParams, shape) -> np.ndarray:
    return rng.integers(signed_min(p.mem_bits), signed_max(p.mem_bits) + 1, shape, dtype=np.int64)


@st.composite
def stimulus(draw, p: FirstToSpikeDecoderParams, max_cycles: int = 30):
    n = draw(st.integers(1, max_cycles))
    first_density = draw(st.sampled_from([0.0, 0.1, 0.3]))
    valid_density = draw(st.sampled_from([0.5, 0.9, 1.0]))
    spike_density = draw(st.sampled_from(SPIKE_DENSITIES))
    mem_density = draw(st.sampled_from([0.0, 0.1, 0.3, 1.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return ((rng.random(n) < first_density).astype(np.int64),
            (rng.random(n) < valid_density).astype(np.int64),
            (rng.random((n, p.n_classes)) < spike_density).astype(np.int64),
            (rng.random(n) < mem_density).astype(np.int64),
            random_membranes(rng, p, (n, p.n_classes)))


@st.composite
def cases(draw, max_classes: int = 12, max_steps: int = 10, max_cycles: int = 30):
    p = draw(params(max_classes, max_steps))
    return (p, *draw(stimulus(p, max_cycles)))


def image_stream(spikes, membranes):
    """The per-cycle stimulus for images one after another: each image's timesteps (valid,
    the first with ``first``), then one cycle presenting its final membranes. ``spikes`` is a
    list of ``(T_i, n_classes)`` arrays, ``membranes`` a list of ``(n_classes,)`` vectors."""
    rows = []  # (first, valid, spikes, mem_valid, membranes)
    for image, final in zip(spikes, membranes):
        quiet = np.zeros_like(final)
        rows += [(int(t == 0), 1, step, 0, quiet) for t, step in enumerate(image)]
        rows.append((int(len(image) == 0), 0, np.zeros_like(final), 1, final))
    first, valid, spk, mem_valid, mem = zip(*rows)
    return (np.array(first), np.array(valid), np.array(spk), np.array(mem_valid), np.array(mem))


def default_case():
    """Default parameters, five images: a tie between two classes spiking at t = 3; silence
    then a membrane tie (fallback, lowest index); a spike at t = 0; a spike only at t = 8,
    past the 8 timesteps (ignored: fallback); and a dense image whose membranes are ignored."""
    p = FirstToSpikeDecoderParams()
    n, t = p.n_classes, p.t_steps
    rng = np.random.default_rng(5)
    silent = np.zeros((t, n), np.int64)
    tie_at_3, at_0, late = silent.copy(), silent.copy(), np.zeros((t + 1, n), np.int64)
    tie_at_3[3, [7, 4]] = 1
    tie_at_3[4:, :] = 1
    at_0[0, 9] = 1
    late[t, 2] = 1
    dense = (rng.random((t, n)) < 0.5).astype(np.int64)
    membrane_tie = random_membranes(rng, p, n) // 2
    membrane_tie[[6, 8]] = signed_max(p.mem_bits)
    finals = [random_membranes(rng, p, n) for i in range(5)]
    finals[1] = membrane_tie
    return (p, *image_stream([tie_at_3, silent, at_0, late, dense], finals))


def corner_cases():
    narrow = FirstToSpikeDecoderParams(n_classes=2, t_steps=1, mem_bits=MIN_MEM_BITS)
    wide = FirstToSpikeDecoderParams(n_classes=3, t_steps=2, mem_bits=MAX_MEM_BITS)
    lo, hi = signed_min(MAX_MEM_BITS), signed_max(MAX_MEM_BITS)
    return [
        # t_steps = 1: a spike at t = 1 is ignored; fallbacks on [-2, 1] and a tie [1, 1]
        (narrow, *image_stream([np.array([[0, 0], [1, 1]]), np.array([[0, 0]])],
                               [np.array([-2, 1]), np.array([1, 1])])),
        # all-ones trains: class 0 at t = 0, a single early exit per image
        (wide, *image_stream([np.ones((2, 3), np.int64)] * 2, [np.array([lo, hi, 0])] * 2)),
        # no timesteps at all: straight to the fallback on extreme membranes, equal minima
        (wide, *image_stream([np.zeros((0, 3), np.int64)] * 2,
                             [np.array([lo, lo, lo]), np.array([lo, hi - 1, hi])])),
        # hand-made cycles: a spike and membranes in one cycle (spike wins); membranes with a
        # silent timestep (fallback counts it); a clear without a timestep
        (wide, np.array([1, 0, 1, 0, 1]), np.array([1, 0, 1, 1, 0]),
         np.array([[0, 1, 1], [0, 0, 0], [0, 0, 0], [0, 0, 0], [1, 1, 1]]),
         np.array([1, 0, 0, 1, 0]), np.array([[hi, 0, 0], [0] * 3, [0] * 3, [0, 5, -5], [0] * 3])),
    ]


def run_reference(p, first, valid, spikes, mem_valid, membranes):
    return ref.run(p, first, valid, spikes, mem_valid, membranes)


def run_cython(p, first, valid, spikes, mem_valid, membranes):
    return cy.run(p, first, valid, spikes, mem_valid, membranes)
