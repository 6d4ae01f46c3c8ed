"""Twin harness for the spike-count decoder: per-cycle counts and decisions agree.

A case is ``(params, first, valid, spikes)``: per cycle a new-image flag, a timestep strobe and
a spike vector ``(cycles, n_classes)``. Random cases draw narrow counters often, so
saturation (and the ties it makes) is common, and draw densities from silent to all-ones.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from twinspike.ext import spike_count_decoder as cy
from twinspike.sw import spike_count_decoder as ref
from twinspike.sw.spike_count_decoder import MAX_COUNT_BITS, SpikeCountDecoderParams

DENSITIES = (0.0, 0.1, 0.5, 0.9, 1.0)


def params(max_classes: int = 12) -> st.SearchStrategy[SpikeCountDecoderParams]:
    count_bits = st.one_of(st.integers(1, 3), st.integers(4, MAX_COUNT_BITS))
    return st.builds(SpikeCountDecoderParams, n_classes=st.integers(2, max_classes),
                     count_bits=count_bits)


@st.composite
def stimulus(draw, p: SpikeCountDecoderParams, max_cycles: int = 24):
    n = draw(st.integers(1, max_cycles))
    first_density = draw(st.sampled_from([0.0, 0.1, 0.3]))
    valid_density = draw(st.sampled_from([0.5, 0.9, 1.0]))
    spike_density = draw(st.sampled_from(DENSITIES))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return ((rng.random(n) < first_density).astype(np.int64),
            (rng.random(n) < valid_density).astype(np.int64),
            (rng.random((n, p.n_classes)) < spike_density).astype(np.int64))


@st.composite
def cases(draw, max_classes: int = 12, max_cycles: int = 24):
    p = draw(params(max_classes))
    return (p, *draw(stimulus(p, max_cycles)))


def images(n_images: int, n_steps: int, idle: int = 1):
    """``first``/``valid`` for back-to-back images of ``n_steps`` timesteps with ``idle``
    invalid cycles after each."""
    per_image = np.r_[np.ones(n_steps, np.int64), np.zeros(idle, np.int64)]
    first = np.zeros_like(per_image)
    first[0] = 1
    return np.tile(first, n_images), np.tile(per_image, n_images)


def default_case():
    """Default parameters: three images of 8 timesteps at rising spike densities."""
    p = SpikeCountDecoderParams()
    first, valid = images(3, 8)
    rng = np.random.default_rng(10)
    density = np.repeat([0.1, 0.3, 0.6], 9)[:, np.newaxis]
    return p, first, valid, (rng.random((len(first), p.n_classes)) < density).astype(np.int64)


def corner_cases():
    p = SpikeCountDecoderParams(n_classes=3, count_bits=2)
    ones, zeros = np.ones((6, 3), np.int64), np.zeros((6, 3), np.int64)
    first_each = np.array([1, 0, 0, 1, 0, 0])
    return [
        (p, np.r_[1, np.zeros(5, np.int64)], np.ones(6, np.int64), ones),   # all-ones: saturate, tie
        (p, first_each, np.ones(6, np.int64), zeros),                       # silent: decision 0
        # saturation ties to the lowest index: class 2 saturates first, class 0 catches up
        (p, np.zeros(6, np.int64), np.ones(6, np.int64),
         np.array([[0, 0, 1]] * 3 + [[1, 0, 0]] * 3)),
        # a clear without a timestep, a restart with one, widest counters
        (SpikeCountDecoderParams(n_classes=2, count_bits=MAX_COUNT_BITS), np.array([0, 1, 0, 1]),
         np.array([1, 0, 1, 1]), np.array([[1, 1], [1, 1], [0, 1], [1, 0]])),
    ]


def run_reference(p, first, valid, spikes):
    return ref.run(p, first, valid, spikes)


def run_cython(p, first, valid, spikes):
    return cy.run(p, first, valid, spikes)
