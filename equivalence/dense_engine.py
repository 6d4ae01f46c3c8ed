"""Twin harness for the dense event engine: reference, Cython and MyHDL give the same output
spikes per timestep, final membranes and cycle count."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from twinspike.equivalence.if_pe_array import boundary_ints, enables
from twinspike.ext import dense_engine as cy
from twinspike.hw import dense_engine as hw
from twinspike.hw import toolchain
from twinspike.sw import dense_engine as ref
from twinspike.sw.common import signed_max, signed_min
from twinspike.sw.dense_engine import DenseEngineParams, DenseLayer
from twinspike.sw.if_pe_array import (MAX_MEMBRANE_BITS, MAX_WEIGHT_BITS, MIN_MEMBRANE_BITS,
                                      MIN_WEIGHT_BITS)


@st.composite
def params(draw, max_neurons: int = 12, max_lanes: int = 6) -> DenseEngineParams:
    """Every legal width pair; lanes below, equal to and above n_out (one word: forwarding)."""
    w = draw(st.integers(MIN_WEIGHT_BITS, MAX_WEIGHT_BITS))
    m = draw(st.integers(max(MIN_MEMBRANE_BITS, w + 1), MAX_MEMBRANE_BITS))
    return DenseEngineParams(n_in=draw(st.integers(1, max_neurons)),
                             n_out=draw(st.integers(1, max_neurons)),
                             lanes=draw(st.integers(1, max_lanes)), weight_bits=w, membrane_bits=m)


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
def cases(draw, max_neurons: int = 12, max_lanes: int = 6, max_steps: int = 3):
    """(params, layer, events) triples."""
    p = draw(params(max_neurons, max_lanes))
    return p, draw(layers(p)), draw(spike_trains(p.n_in, max_steps))


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
            uniform_case(DenseEngineParams(n_in=1, n_out=1, lanes=1), -1, 0, 1, [])]  # no steps


def run_reference(p: DenseEngineParams, layer: DenseLayer, events) -> dict:
    return ref.run(p, layer, events)


def run_cython(p: DenseEngineParams, layer: DenseLayer, events) -> dict:
    return cy.run(p, layer, events)


def signed_field(word: int, bits: int) -> int:
    word &= (1 << bits) - 1
    return word - (1 << bits) if word >> (bits - 1) else word


def parse_lines(p: DenseEngineParams, lines: list[str]) -> dict:
    """The bench's output words (hex ``membranes . spikes . word . read``) and the final
    cycle count back into the reference's outputs; FIRE words come ``words`` per timestep."""
    lanes, m, k_bits = p.lanes, p.membrane_bits, hw.address_bits(p.words)
    fired, membranes = [], np.zeros(p.words * lanes, dtype=np.int64)
    for line in lines[:-1]:
        x = int(line, 16)
        read, k = x & 1, (x >> 1) & ((1 << k_bits) - 1)
        spikes, v_word = (x >> (1 + k_bits)) & ((1 << lanes) - 1), x >> (1 + k_bits + lanes)
        if read:
            membranes[k * lanes:(k + 1) * lanes] = [signed_field(v_word >> (i * m), m)
                                                    for i in range(lanes)]
        else:
            if k != len(fired) % p.words:
                raise ValueError(f"FIRE word {k} out of order (expected {len(fired) % p.words})")
            fired.append([(spikes >> i) & 1 for i in range(lanes)])
    spikes = np.array(fired, dtype=np.int64).reshape(-1, p.words * lanes)
    return {"spikes": spikes[:, :p.n_out], "membranes": membranes[:p.n_out],
            "cycles": int(lines[-1])}


def bench(p: DenseEngineParams, layer: DenseLayer, events):
    return hw.testbench(p, layer, events)


def run_myhdl(p: DenseEngineParams, layer: DenseLayer, events) -> dict:
    return parse_lines(p, toolchain.run_myhdl(bench(p, layer, events)))
