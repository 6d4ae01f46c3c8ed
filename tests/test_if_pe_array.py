import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from twinspike.equivalence import if_pe_array as eq
from twinspike.ext import if_pe_array as cy
from twinspike.hw import if_pe_array as hw
from twinspike.hw.common import signed_signal, unsigned_signal
from twinspike.sw import if_pe_array as ref
from twinspike.sw.common import signed_max, signed_min
from twinspike.sw.if_pe_array import OP_ACC, OP_FIRE, OP_LOAD, IfPeOps, IfPeParams


def test_cython_module_is_compiled():
    assert cy.COMPILED and cy.__file__.endswith(".so")


@pytest.mark.parametrize("field,value", [("lanes", 0), ("lanes", 257), ("weight_bits", 1),
                                         ("weight_bits", 9), ("membrane_bits", 7),
                                         ("membrane_bits", 25), ("lanes", 2.0)])
def test_impossible_params_raise_valueerror(field, value):
    with pytest.raises(ValueError, match=f"IfPeParams.{field}"):
        IfPeParams(**{field: value})


@pytest.mark.parametrize("w,m", [(8, 8), (8, 7), (3, 2)])
def test_membrane_must_be_wider_than_weight(w, m):
    with pytest.raises(ValueError, match="IfPeParams.(membrane_bits|weight_bits)"):
        IfPeParams(weight_bits=w, membrane_bits=m)


def _ops_with(p, **bad):
    """A one-cycle fire operation with one field replaced by an out-of-range value."""
    fields = dict(code=np.array([OP_FIRE]), enable=np.ones((1, p.lanes), np.int64),
                  weight=np.zeros((1, p.lanes), np.int64), bias=np.zeros((1, p.lanes), np.int64),
                  theta=np.array([1]), leak_shift=np.array([0]))
    fields.update({k: np.asarray(v) for k, v in bad.items()})
    return IfPeOps(**fields)


@pytest.mark.parametrize("field,value", [
    ("weight", [[128, 0]]), ("weight", [[0, -129]]), ("bias", [[2**15, 0]]),
    ("theta", [0]), ("theta", [2**15]), ("leak_shift", [16]), ("leak_shift", [-1]),
    ("code", [4]), ("enable", [[2, 0]]), ("weight", [[0, 0, 0]])])
def test_bad_operations_raise_valueerror_in_all_three(field, value):
    p = IfPeParams(lanes=2, weight_bits=8, membrane_bits=16)
    ops = _ops_with(p, **{field: value})
    for impl in (ref.run, cy.run, hw.testbench):
        with pytest.raises(ValueError, match=f"IfPeOps.{field}"):
            impl(p, ops)


def test_wrong_parameter_objects_raise_valueerror_in_all_three():
    p = IfPeParams(lanes=2)
    ops = _ops_with(p)
    for impl in (ref.run, cy.run):
        with pytest.raises(ValueError, match="IfPeParams"):
            impl({"lanes": 2}, ops)
        with pytest.raises(ValueError, match="IfPeOps"):
            impl(p, (ops.code, ops.enable))
    with pytest.raises(ValueError, match="IfPeParams"):
        hw.if_pe_array(p={"lanes": 2}, **hw.ports(p))
    with pytest.raises(ValueError, match="if_lane.m_bits"):
        s = signed_signal(8)
        hw.if_lane(unsigned_signal(2), s, s, s, s, unsigned_signal(5), s, s, s, 30)


@given(st.integers(8, 24).flatmap(lambda m: st.tuples(
    st.just(m), st.integers(signed_min(m), signed_max(m)), st.integers(1, m - 1))))
@example((8, -128, 7))
@example((24, signed_max(24), 1))
def test_leak_stays_in_range_and_moves_towards_zero(case):
    m, v, k = case
    out = ref.leak(v, k)
    assert signed_min(m) <= out <= signed_max(m)
    assert abs(out) <= abs(v) and (out == 0 or np.sign(out) == np.sign(v))


@given(st.integers(8, 24).flatmap(lambda m: st.tuples(
    st.just(m), st.integers(signed_min(m), signed_max(m)), st.integers(signed_min(m), signed_max(m)),
    st.integers(1, signed_max(m)), st.integers(0, m - 1))))
def test_fire_resets_by_subtraction(case):
    m, v, bias, theta, k = case
    v_new, spike = ref.fire(v, bias, theta, k, m)
    x = max(signed_min(m), min(signed_max(m), ref.leak(v, k) + bias))
    assert (spike, v_new) == ((1, x - theta) if x >= theta else (0, x))
    assert not spike or v_new >= 0


@given(eq.cases(max_lanes=4, max_cycles=16))
def test_disabled_lanes_hold_on_accumulate(case):
    p, ops = case
    membranes, spikes = ref.run(p, ops)
    before = np.vstack([np.zeros((1, p.lanes), np.int64), membranes])[:-1]
    acc = ops.code == OP_ACC
    held = acc[:, None] & (ops.enable == 0)
    assert np.array_equal(membranes[held], before[held])
    assert not spikes[ops.code != OP_FIRE].any()
    loads = ops.code == OP_LOAD
    assert np.array_equal(membranes[loads], ops.bias[loads])


def test_saturation_corners_reach_both_limits():
    for p, ops in eq.corner_cases()[:2]:
        membranes, spikes = eq.run_reference(p, ops)
        m = p.membrane_bits
        assert membranes.max() == signed_max(m) and membranes.min() == signed_min(m)
        assert spikes.any()
