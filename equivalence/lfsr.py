"""Twin harness for the LFSR bank: reference, Cython and MyHDL give the same lane values."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from twinspike.ext import lfsr as cy
from twinspike.sw import lfsr as ref
from twinspike.sw.lfsr import MAX_WIDTH, MIN_WIDTH, LfsrParams


def params(max_lanes: int = 8) -> st.SearchStrategy[LfsrParams]:
    return st.builds(LfsrParams,
                     width=st.integers(MIN_WIDTH, MAX_WIDTH),
                     lanes=st.integers(1, max_lanes),
                     seed=st.integers(0, 0xFFFFFFFF))


def cases(max_lanes: int = 8, max_steps: int = 64):
    """(params, n_steps) pairs."""
    return st.tuples(params(max_lanes), st.integers(0, max_steps))


def default_case() -> tuple[LfsrParams, int]:
    return LfsrParams(), 40


def corner_cases() -> list[tuple[LfsrParams, int]]:
    return [(LfsrParams(width=MIN_WIDTH, lanes=1, seed=0), 20),   # full period of width 3 (7)
            (LfsrParams(width=MAX_WIDTH, lanes=3, seed=0xFFFFFFFF), 16),
            (LfsrParams(width=8, lanes=2, seed=123), 0)]           # no steps at all


def run_reference(p: LfsrParams, n_steps: int) -> np.ndarray:
    return ref.sequence(p, n_steps)


def run_cython(p: LfsrParams, n_steps: int) -> np.ndarray:
    return cy.sequence(p, n_steps)
