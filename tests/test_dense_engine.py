import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twinspike.equivalence import dense_engine as eq
from twinspike.ext import dense_engine as cy
from twinspike.hw import dense_engine as hw
from twinspike.sw import dense_engine as ref
from twinspike.sw.dense_engine import PIPELINE_LATENCY, DenseEngineParams, DenseLayer


def test_cython_module_is_compiled():
    assert cy.COMPILED and cy.__file__.endswith(".so")


@pytest.mark.parametrize("field,value", [("n_in", 0), ("n_out", 0), ("n_in", 2**16 + 1),
                                         ("lanes", 0), ("lanes", 257), ("weight_bits", 1),
                                         ("weight_bits", 9), ("membrane_bits", 7),
                                         ("membrane_bits", 25), ("n_out", 3.0),
                                         ("value_bits", 0), ("value_bits", 9)])
def test_impossible_params_raise_valueerror(field, value):
    with pytest.raises(ValueError, match=f"DenseEngineParams.{field}"):
        DenseEngineParams(**{field: value})


def test_membrane_must_be_wider_than_weight_and_memories_must_fit():
    with pytest.raises(ValueError, match="DenseEngineParams.membrane_bits=8 must exceed"):
        DenseEngineParams(weight_bits=8, membrane_bits=8)
    with pytest.raises(ValueError, match="more than the xc7z020"):
        DenseEngineParams(n_in=2**16, n_out=2**10, lanes=8)


def _layer(p, **bad):
    fields = dict(weights=np.zeros((p.n_in, p.n_out), np.int64), bias=np.zeros(p.n_out, np.int64),
                  v0=0, theta=1, leak_shift=0)
    fields.update(bad)
    return DenseLayer(**fields)


P = DenseEngineParams(n_in=4, n_out=3, lanes=2)


@pytest.mark.parametrize("layer,events,message", [
    (_layer(P, weights=np.full((4, 3), 128)), [], "DenseLayer.weights"),
    (_layer(P, weights=np.zeros((3, 4), np.int64)), [], r"DenseLayer.weights has shape"),
    (_layer(P, bias=np.array([0, 2**15, 0])), [], "DenseLayer.bias"),
    (_layer(P, bias=np.zeros(4, np.int64)), [], "DenseLayer.bias has shape"),
    (_layer(P, v0=-2**15 - 1), [], "DenseLayer.v0"),
    (_layer(P, theta=0), [], "DenseLayer.theta"),
    (_layer(P, leak_shift=16), [], "DenseLayer.leak_shift"),
    (_layer(P), [[0, 4]], r"events\[0\].address"),
    (_layer(P), [[], [-1]], r"events\[1\].address"),
    (_layer(P), [[2, 1]], "strictly ascending"),
    (_layer(P), [[1, 1]], "strictly ascending"),
    (_layer(P), [[0.5]], "must hold integers"),
    ((np.zeros((4, 3)),), [], "DenseLayer")])
def test_bad_layers_and_events_raise_valueerror_in_all_three(layer, events, message):
    for impl in (ref.run, cy.run, hw.testbench):
        with pytest.raises(ValueError, match=message):
            impl(P, layer, events)


PV = DenseEngineParams(n_in=4, n_out=3, lanes=2, value_bits=3)


@pytest.mark.parametrize("p,events,values,message", [
    (PV, [[0, 1]], [[1, 8]], r"values\[0\].value holds 8, out of range: expected 1..7"),
    (PV, [[0, 1]], [[0, 1]], r"values\[0\].value holds 0, out of range"),
    (PV, [[0, 1]], [[1]], r"values\[0\] has 1 values for 2 events"),
    (PV, [[0], []], [[1]], "values has 1 timesteps: expected 2"),
    (P, [[0]], [[2]], r"values\[0\].value holds 2, out of range: expected 1..1")])
def test_bad_event_values_raise_valueerror_in_all_three(p, events, values, message):
    for impl in (ref.run, cy.run, hw.testbench):
        with pytest.raises(ValueError, match=message):
            impl(p, _layer(p), events, values)


def test_valued_event_saturates_the_exact_sum_once():
    """v = sat(v + w * x): the product is not clamped before the add (m = 9 bits: -256..255).
    Neuron 0 starts at 254: +127*255 saturates at 255, then -128*255 saturates at -256, then
    +1*255 gives -1 (a product clamped to 9 bits first would have given 255 - 256 + 255)."""
    p, layer, events, values = eq.valued_corner_case()
    v, expected = layer.v0, []
    for j, x in zip(events[0], values[0]):
        v = max(-256, min(255, v + int(layer.weights[j, 0]) * x))
        expected.append(v)
    assert expected == [255, -256, -1]
    out = ref.run(p, layer, events[:1], values[:1])
    assert out["membranes"][0] == -1 and out["spikes"][0, 0] == 0   # bias 0, -1 < theta


def test_wrong_parameter_object_raises_valueerror_in_all_three():
    bad = {"n_in": 4}
    for impl in (ref.run, cy.run, hw.testbench):
        with pytest.raises(ValueError, match="DenseEngineParams"):
            impl(bad, _layer(P), [])
    with pytest.raises(ValueError, match="DenseEngineParams"):
        hw.dense_engine(p=bad, **hw.ports(P))


def test_cycle_formula():
    p = DenseEngineParams(n_in=8, n_out=10, lanes=4)  # 3 words
    assert p.words == 3 and p.row_stride == 4
    assert ref.cycle_count(p, []) == 3 * 2 + PIPELINE_LATENCY
    assert ref.cycle_count(p, [[0, 1, 2], [], [7]]) == 3 * (4 + 3 + 2) + PIPELINE_LATENCY


@settings(max_examples=6)
@given(st.integers(1, 12), st.integers(1, 12), st.integers(1, 5), st.data())
def test_myhdl_cycle_count_equals_formula(n_in, n_out, lanes, data):
    """The bench counts clock edges from accepting INIT to idle; it must match the formula."""
    p = DenseEngineParams(n_in=n_in, n_out=n_out, lanes=lanes)
    events = data.draw(eq.spike_trains(n_in, max_steps=3))
    layer = ref.make_layer(p, np.ones((n_in, n_out), np.int64), np.zeros(n_out, np.int64), 0, 5)
    assert hw.run_bench(p, layer, events)["cycles"] == ref.cycle_count(p, events)


@given(eq.cases(max_steps=4))
def test_reference_matches_plain_numpy_when_nothing_saturates(case):
    """An independent statement of the layer for the non-saturating cases: membranes follow
    v0 + W^T (x s) + bias with reset by subtraction (no leak)."""
    p, layer, events, values = case
    p = DenseEngineParams(p.n_in, p.n_out, p.lanes, p.weight_bits, 24, p.value_bits)
    layer = ref.make_layer(p, layer.weights, np.clip(layer.bias, -1000, 1000), 0,
                           min(layer.theta, 1000), 0)
    out = ref.run(p, layer, events, values)
    values = values or [[1] * len(step) for step in events]
    v = np.zeros(p.n_out, np.int64)
    for t, (step, xs) in enumerate(zip(events, values)):
        x = np.array(xs, np.int64).reshape(-1, 1)
        v = v + (layer.weights[list(step)] * x).sum(axis=0) + layer.bias
        fired = v >= layer.theta
        np.testing.assert_array_equal(out["spikes"][t], fired)
        v = v - layer.theta * fired
    np.testing.assert_array_equal(out["membranes"], v)


def test_output_events_are_ascending_addresses():
    p, layer, events = eq.corner_cases()[0]
    out = ref.run(p, layer, events)
    assert ref.output_events(out["spikes"]) == [list(range(p.n_out))] * 3


def test_saturation_corners_reach_both_limits():
    hi, lo = eq.corner_cases()[0], eq.corner_cases()[1]
    m = hi[0].membrane_bits
    # All sources, all max weights: every neuron saturates before firing at theta = max.
    assert ref.run(*hi)["spikes"].all()
    assert (ref.run(*lo)["membranes"] == -(1 << (m - 1))).all()
