"""Twin harness for the IF PE array: reference, Cython and MyHDL give the same membranes and
spikes after every cycle of an operation sequence (load / accumulate / fire / hold)."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from twinspike.ext import if_pe_array as cy
from twinspike.sw import if_pe_array as ref
from twinspike.sw.common import signed_max, signed_min
from twinspike.sw.if_pe_array import (MAX_MEMBRANE_BITS, MAX_WEIGHT_BITS, MIN_MEMBRANE_BITS,
                                      MIN_WEIGHT_BITS, OP_ACC, OP_FIRE, OP_HOLD, OP_LOAD,
                                      IfPeOps, IfPeParams)


@st.composite
def params(draw, max_lanes: int = 6) -> IfPeParams:
    """Every legal width pair: weight_bits 2..8, membrane_bits max(8, w+1)..24."""
    w = draw(st.integers(MIN_WEIGHT_BITS, MAX_WEIGHT_BITS))
    m = draw(st.integers(max(MIN_MEMBRANE_BITS, w + 1), MAX_MEMBRANE_BITS))
    return IfPeParams(lanes=draw(st.integers(1, max_lanes)), weight_bits=w, membrane_bits=m)


def boundary_ints(lo: int, hi: int) -> st.SearchStrategy[int]:
    """Integers in ``lo..hi`` with the saturation boundaries (and 0, +-1) drawn often."""
    corners = sorted({x for x in (lo, lo + 1, -1, 0, 1, hi - 1, hi) if lo <= x <= hi})
    return st.one_of(st.sampled_from(corners), st.integers(lo, hi))


@st.composite
def enables(draw, n: int, lanes: int) -> np.ndarray:
    """Enable bits at a random density in [0, 1] (0 and 1 themselves included)."""
    density = draw(st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0)))
    draws = draw(st.lists(st.floats(0.0, 1.0, exclude_max=True), min_size=n * lanes,
                          max_size=n * lanes))
    return (np.array(draws, dtype=float).reshape(n, lanes) < density).astype(np.int64)


@st.composite
def operations(draw, p: IfPeParams, max_cycles: int = 24) -> IfPeOps:
    """Random cycle sequences; loads put membranes at the limits, accumulates use extreme
    weights, fires use limit biases and thetas, so every saturation boundary is reached."""
    m, w, lanes = p.membrane_bits, p.weight_bits, p.lanes
    n = draw(st.integers(0, max_cycles))
    code = draw(st.lists(st.sampled_from([OP_HOLD, OP_LOAD, OP_ACC, OP_ACC, OP_ACC, OP_FIRE,
                                          OP_FIRE]), min_size=n, max_size=n))

    def grid(strategy):
        return np.array(draw(st.lists(strategy, min_size=n * lanes, max_size=n * lanes)),
                        dtype=np.int64).reshape(n, lanes)

    def column(strategy):
        return np.array(draw(st.lists(strategy, min_size=n, max_size=n)), dtype=np.int64)

    return ref.make_ops(p, code, draw(enables(n, lanes)),
                        grid(boundary_ints(signed_min(w), signed_max(w))),
                        grid(boundary_ints(signed_min(m), signed_max(m))),
                        column(boundary_ints(1, signed_max(m))),
                        column(boundary_ints(0, m - 1)))


@st.composite
def cases(draw, max_lanes: int = 6, max_cycles: int = 24):
    """(params, ops) pairs."""
    p = draw(params(max_lanes))
    return p, draw(operations(p, max_cycles))


def scripted_ops(p: IfPeParams, script) -> IfPeOps:
    """Ops from ``(code, enable, weight, bias, theta, leak_shift)`` rows; scalar enable, weight
    and bias apply to every lane."""
    rows = [tuple(np.broadcast_to(np.asarray(x), (p.lanes,)) if k in (1, 2, 3) else x
                  for k, x in enumerate(row)) for row in script]
    cols = list(zip(*rows)) if rows else [[]] * 6
    shape = (len(rows), p.lanes)
    return ref.make_ops(p, cols[0], np.reshape(cols[1], shape), np.reshape(cols[2], shape),
                        np.reshape(cols[3], shape), cols[4], cols[5])


def saturation_script(p: IfPeParams) -> list[tuple]:
    """Membranes to max and min, extreme weights and limit biases, full leak, theta 1 and max."""
    m, w = p.membrane_bits, p.weight_bits
    vmax, vmin, wmax, wmin = signed_max(m), signed_min(m), signed_max(w), signed_min(w)
    return [(OP_LOAD, 0, 0, vmax, 1, 0),
            (OP_ACC, 1, wmax, 0, 1, 0),         # saturates at max
            (OP_FIRE, 0, 0, vmax, vmax, 0),     # bias saturates, spikes at theta = max
            (OP_LOAD, 0, 0, vmin, 1, 0),
            (OP_ACC, 1, wmin, 0, 1, 0),         # saturates at min
            (OP_FIRE, 0, 0, vmin, 1, m - 1),    # leak of a negative value, bias at min
            (OP_ACC, 1, wmax, 0, 1, 0),
            (OP_FIRE, 1, 0, 0, 1, 1),           # leak by half, theta 1
            (OP_HOLD, 1, wmax, vmax, vmax, m - 1)]


def default_case() -> tuple[IfPeParams, IfPeOps]:
    p = IfPeParams()
    rng = np.random.default_rng(2)
    n, m, w = 24, p.membrane_bits, p.weight_bits
    code = [OP_LOAD] + list(rng.choice([OP_HOLD, OP_ACC, OP_ACC, OP_ACC, OP_FIRE], n - 1))
    ops = ref.make_ops(p, code, rng.integers(0, 2, (n, p.lanes)),
                       rng.integers(signed_min(w), signed_max(w) + 1, (n, p.lanes)),
                       rng.integers(-300, 300, (n, p.lanes)), rng.integers(1, 400, n),
                       rng.integers(0, m, n))
    return p, ops


def corner_cases() -> list[tuple[IfPeParams, IfPeOps]]:
    narrow, wide = IfPeParams(lanes=3, weight_bits=7, membrane_bits=8), IfPeParams(1, 2, 24)
    full = IfPeParams(lanes=4, weight_bits=8, membrane_bits=9)
    all_on = [(OP_LOAD, 0, 0, -5, 1, 0)] + [(OP_ACC, 1, 255 // 2, 0, 1, 0)] * 5 + [
        (OP_FIRE, 1, 0, 100, 3, 2)]
    return [(narrow, scripted_ops(narrow, saturation_script(narrow))),
            (wide, scripted_ops(wide, saturation_script(wide))),
            (full, scripted_ops(full, all_on)),                         # every lane enabled
            (full, scripted_ops(full, [(OP_ACC, 0, -128, 0, 1, 0)] * 3)),  # no lane enabled
            (narrow, scripted_ops(narrow, []))]                        # no cycles at all


def run_reference(p: IfPeParams, ops: IfPeOps):
    return ref.run(p, ops)


def run_cython(p: IfPeParams, ops: IfPeOps):
    return cy.run(p, ops)
