"""Twin harness for the dense event engine: reference, Cython and MyHDL give the same output
spikes per timestep, final membranes and cycle count. A case is ``(params, layer, events)``
or, for valued events, ``(params, layer, events, values)``."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from twinspike.equivalence.if_pe_array import boundary_ints, enables
from twinspike.ext import dense_engine as cy
from twinspike.sw import dense_engine as ref
from twinspike.sw.common import signed_max, signed_min
from twinspike.sw.dense_engine import DenseEngineParams, DenseLayer
from twinspike.sw.dense_engine import MAX_VALUE_BITS
from twinspike.sw.if_pe_array import (MAX_MEMBRANE_BITS, MAX_WEIGHT_BITS, MIN_MEMBRANE_BITS,
                                      MIN_WEIGHT_BITS)


@st.composite
def params(draw, max_neurons: int = 12, max_lanes: int = 6) -> DenseEngineParams:
    """Every legal width pair; lanes below, equal to and above n_out (one word: forwarding);
    spikes (``value_bits = 1``) half of the time, else valued events of 2..8 bits."""
    w = draw(st.integers(MIN_WEIGHT_BITS, MAX_WEIGHT_BITS))
    m = draw(st.integers(max(MIN_MEMBRANE_BITS, w + 1), MAX_MEMBRANE_BITS))
    value_bits = draw(st.one_of(st.just(1), st.integers(2, MAX_VALUE_BITS)))
    return DenseEngineParams(n_in=draw(st.integers(1, max_neurons)),
                             n_out=draw(st.integers(1, max_neurons)),
                             lanes=draw(st.integers(1, max_lanes)), weight_bits=w, membrane_bits=m,
                             value_bits=value_bits)


@st.composite
def layers(draw, p: DenseEngineParams) -> DenseLayer:
    """Extreme weights, limit biases and v0, theta 1..max, any leak."""
    m, w = p.membrane_bits, p.weight_bits
    size = p.n_in * p.n_out
    weights = draw(st.lists(boundary_ints(signed_min(w), signed_max(w)), min_size=size,
                            max_size=size))
    bias = draw(st.lists(boundary_ints(signed_min(m), signed_max(m)), min_size=p.n_out,
                         max_size=p.n_out))
    return ref.make_layer(p, np.reshape(weights, (p.n_in, p.n_out)), bias,
                          draw(boundary_ints(signed_min(m), signed_max(m))),
                          draw(boundary_ints(1, signed_max(m))), draw(st.integers(0, m - 1)))


@st.composite
def spike_trains(draw, n_in: int, max_steps: int = 3) -> list[list[int]]:
    """Ascending source addresses per timestep, at a random density in [0, 1]."""
    mask = draw(enables(draw(st.integers(0, max_steps)), n_in))
    return [[int(j) for j in np.flatnonzero(row)] for row in mask]


@st.composite
def event_values(draw, p: DenseEngineParams, events) -> list[list[int]] | None:
    """None (all 1) for spikes, else a value ``1..2**value_bits - 1`` per event (extremes
    likely)."""
    if p.value_bits == 1:
        return None
    return [draw(st.lists(boundary_ints(1, p.max_value), min_size=len(step), max_size=len(step)))
            for step in events]


@st.composite
def cases(draw, max_neurons: int = 12, max_lanes: int = 6, max_steps: int = 3):
    """(params, layer, events, values) quadruples."""
    p = draw(params(max_neurons, max_lanes))
    events = draw(spike_trains(p.n_in, max_steps))
    return p, draw(layers(p)), events, draw(event_values(p, events))


def uniform_case(p: DenseEngineParams, weight: int, v0: int, theta: int, events, bias: int = 0,
                 leak_shift: int = 0):
    return (p, ref.make_layer(p, np.full((p.n_in, p.n_out), weight), np.full(p.n_out, bias),
                              v0, theta, leak_shift), events)


def default_case() -> tuple[DenseEngineParams, DenseLayer, list[list[int]]]:
    p = DenseEngineParams()
    rng = np.random.default_rng(3)
    w = p.weight_bits
    layer = ref.make_layer(p, rng.integers(signed_min(w), signed_max(w) + 1, (p.n_in, p.n_out)),
                           rng.integers(-200, 200, p.n_out), 100, 200, 3)
    events = [sorted(int(j) for j in rng.choice(p.n_in, 12, replace=False)) for _ in range(2)]
    return p, layer, events


def corner_cases() -> list[tuple[DenseEngineParams, DenseLayer, list[list[int]]]]:
    narrow = DenseEngineParams(n_in=5, n_out=7, lanes=3, weight_bits=7, membrane_bits=8)
    wide = DenseEngineParams(n_in=3, n_out=2, lanes=4, weight_bits=2, membrane_bits=24)
    every = [list(range(narrow.n_in))] * 3
    m8, m24 = narrow.membrane_bits, wide.membrane_bits
    return [uniform_case(narrow, 63, 100, signed_max(m8), every),            # saturates at max
            uniform_case(narrow, -64, signed_min(m8), 1, every, bias=signed_min(m8),
                         leak_shift=m8 - 1),                                 # saturates at min
            uniform_case(wide, 1, signed_max(m24) - 1, 1, [[0, 1, 2]] * 2,   # one word: forwarding
                         bias=signed_max(m24)),
            uniform_case(narrow, 5, 0, 3, [[], [], []], bias=2),             # empty trains
            uniform_case(DenseEngineParams(n_in=1, n_out=1, lanes=1), -1, 0, 1, []),  # no steps
            valued_corner_case()]


def valued_corner_case():
    """Valued events whose products exceed the membrane range in both directions: the single
    saturating add must clamp the exact sum (weights +-max, values max, m = 9 bits)."""
    p = DenseEngineParams(n_in=3, n_out=5, lanes=2, weight_bits=8, membrane_bits=9,
                          value_bits=8)
    weights = np.array([[127, -128, 1, -1, 0], [-128, 127, 2, -2, 5], [1, 1, -1, 1, -1]])
    layer = ref.make_layer(p, weights, [0, 0, 3, -3, 255], signed_max(9) - 1, 200)
    return p, layer, [[0, 1, 2], [1], [0, 2]], [[255, 255, 255], [1], [2, 200]]


def run_reference(p: DenseEngineParams, layer: DenseLayer, events, values=None) -> dict:
    return ref.run(p, layer, events, values)


def run_cython(p: DenseEngineParams, layer: DenseLayer, events, values=None) -> dict:
    return cy.run(p, layer, events, values)
