import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from twinspike.ext import lfsr as cy
from twinspike.sw import lfsr as ref
from twinspike.sw.lfsr import TAPS, LfsrParams


@pytest.mark.parametrize("width", range(3, 17))
def test_period_is_maximal_for_small_widths(width):
    assert ref.period(width) == (1 << width) - 1


@pytest.mark.parametrize("width", [17, 18, 19, 20, 21, 22])
def test_period_is_maximal_cython(width):
    """Cython walks the full 2**W - 1 cycle for wider registers and never hits zero."""
    p = LfsrParams(width=width, lanes=1, seed=0)
    n = (1 << width) - 1
    seq = cy.sequence(p, n + 1)[0]
    assert seq[n] == seq[0]
    assert len(np.unique(seq[:n])) == n and seq.min() > 0


def test_taps_table_covers_8_to_32():
    assert set(range(8, 33)) <= set(TAPS)


@given(st.integers(3, 32), st.integers(0, 2**32 - 1), st.integers(0, 4095))
def test_lane_seeds_are_nonzero_and_in_range(width, seed, lane):
    s = ref.lane_seed(width, seed, lane)
    assert 1 <= s < (1 << width)


@pytest.mark.parametrize("field,value", [("width", 2), ("width", 33), ("lanes", 0),
                                         ("seed", -1), ("seed", 2**32), ("width", 8.0)])
def test_impossible_params_raise_valueerror(field, value):
    with pytest.raises(ValueError, match=f"LfsrParams.{field}"):
        LfsrParams(**{field: value})


def test_cython_rejects_bad_arguments_like_reference():
    p = LfsrParams()
    for impl in (ref.sequence, cy.sequence):
        with pytest.raises(ValueError, match="n_steps"):
            impl(p, -1)
    with pytest.raises(ValueError):
        cy.sequence({"width": 8}, 4)
