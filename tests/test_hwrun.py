"""Whole networks on the MyHDL engines (twinspike/hwrun.py) against the Cython batch evaluator,
on real digits test images; the hardware metrics built on them (twinspike/hwmetrics.py)."""
import numpy as np
import pytest

from twinspike.data import load_digits_split
from twinspike.ext.evaluate import evaluate
from twinspike.hwrun import engine_plan, run_network_on_engines
from twinspike.network import Network, Population, Projection

from networks import conv_net, dense_net  # noqa: F401  (re-exported for older imports)
from twinspike.sw import conv_engine as sw_conv
from twinspike.sw import dense_engine as sw_dense
from twinspike.sw.conv_engine import ConvEngineParams
from twinspike.sw.dense_engine import DenseEngineParams

T = 4


@pytest.fixture(scope="module")
def digits():
    return load_digits_split().x_test[:4]


def assert_same_as_evaluator(hw, sw):
    for name in ("spikes", "counts", "predictions", "membranes", "sops", "population_spikes"):
        np.testing.assert_array_equal(getattr(hw, name), getattr(sw, name), err_msg=name)
    assert (sw.population_spikes > 0).all(), "a silent population would make the test vacuous"


@pytest.mark.parametrize("encoding", ["direct", "rate"])
def test_dense_network_on_engines_equals_cython(digits, encoding):
    net = dense_net(encoding)
    lanes = 3                                            # padding lanes in the last word
    hw = run_network_on_engines(net, digits, T, lanes=lanes)
    sw = evaluate(net, digits, T)
    assert_same_as_evaluator(hw, sw)
    # Cycles: the dense engine's documented formula words * (E + T + 2) + 2 per population,
    # with E from the input (all non-zero pixels, or the rate spikes) and the hidden spikes.
    words = [-(-20 // lanes), -(-10 // lanes)]
    if encoding == "direct":
        inputs = T * np.count_nonzero(digits.reshape(len(digits), -1), axis=1)
    else:
        inputs = hw.population_sops[:, 0] // 20
    expected = np.stack([words[0] * (inputs + T + 2) + sw_dense.PIPELINE_LATENCY,
                         words[1] * (sw.population_spikes[:, 0] + T + 2)
                         + sw_dense.PIPELINE_LATENCY], axis=1)
    np.testing.assert_array_equal(hw.population_cycles, expected)
    np.testing.assert_array_equal(hw.cycles, expected.sum(axis=1))
    np.testing.assert_array_equal(hw.formula_cycles, expected)


def test_conv_network_on_engines_equals_cython(digits):
    net = conv_net()
    hw = run_network_on_engines(net, digits[:3], 3, lanes=2)
    sw = evaluate(net, digits[:3], 3)
    assert_same_as_evaluator(hw, sw)
    np.testing.assert_array_equal(hw.population_cycles, hw.formula_cycles)
    np.testing.assert_array_equal(hw.cycles, hw.formula_cycles.sum(axis=1))
    # Pools and the widened 1x1 bank run as convs of mostly zero weights: more lane work
    # than the evaluator's SOPs, never less.
    assert (hw.engine_ops > hw.sops).all()


def test_parallel_workers_give_the_single_process_result(digits):
    net = dense_net("direct")
    one = run_network_on_engines(net, digits[:3], 2, lanes=4)
    split = run_network_on_engines(net, digits[:3], 2, lanes=4, workers=2)
    assert split == one                                  # every field, images in order
    with pytest.raises(ValueError, match="workers"):
        run_network_on_engines(net, digits[:1], 2, workers=0)


def test_engine_plan_maps_populations_to_engines():
    plan = engine_plan(conv_net(), lanes=4)
    assert [(s.kind, s.banks) for s in plan] == [
        ("conv", ("conv",)), ("conv", ("pool",)), ("conv", ("conv", "conv")),
        ("conv", ("pool",)), ("dense", ("dense",))]
    assert plan[0].params == ConvEngineParams(c_in=1, h_in=8, w_in=8, c_out=4, kernel=3,
                                              stride=1, padding=1, lanes=4, value_bits=8)
    assert plan[2].params.projections == 2 and plan[2].params.value_bits == 1
    assert plan[4].params == DenseEngineParams(n_in=12, n_out=10, lanes=4)
    assert engine_plan(dense_net("rate"))[0].params.value_bits == 1


def test_conv_weight_banks_hold_pool_identity_and_widened_shortcut():
    from twinspike.hwrun import _bank_weights

    net = conv_net()
    p = engine_plan(net)[2].params
    banks = _bank_weights(p, net.populations[2])
    np.testing.assert_array_equal(banks[1], sw_conv.shortcut_weights(
        net.populations[2].projections[1].weight[:, :, 0, 0], 3, 1))
    pool = engine_plan(net)[1].params
    np.testing.assert_array_equal(_bank_weights(pool, net.populations[1])[0],
                                  sw_conv.sum_pool_weights(4, 2))


@pytest.mark.parametrize("change,message", [
    (lambda pops: pops[:2] + (Population("c2", (3, 4, 4), (
        Projection("conv", "p1", np.ones((3, 4, 3, 3), np.int64), kernel=3, padding=1),
        Projection("conv", "c1", np.ones((3, 4, 2, 2), np.int64), kernel=2, stride=2)),
        np.zeros(48, np.int64), 30),) + pops[3:], "sources of different shapes"),
    (lambda pops: pops[:2] + (Population("c2", (3, 4, 4), (
        Projection("conv", "p1", np.ones((3, 4, 3, 3), np.int64), kernel=3, padding=1),
        Projection("conv", "p1", np.ones((3, 4, 5, 5), np.int64), kernel=5, padding=2)),
        np.zeros(48, np.int64), 30),) + pops[3:],
     "cannot share the conv engine geometry"),
    (lambda pops: pops[:4] + (Population("out", (10,), (
        Projection("dense", "p2", np.ones((10, 12), np.int64)),
        Projection("dense", "c2", np.ones((10, 48), np.int64))), np.zeros(10, np.int64), 20),),
     "single projection"),
    (lambda pops: (Population("c1", (4, 8, 8), pops[0].projections, np.arange(256) % 7, 20),)
     + pops[1:], "one bias per channel")])
def test_unsupported_populations_raise_notimplementederror(change, message):
    base = conv_net()
    net = Network(base.input_shape, change(base.populations), membrane_bits=16)
    with pytest.raises(NotImplementedError, match=message):
        engine_plan(net)


def test_bad_calls_raise_valueerror(digits):
    with pytest.raises(ValueError, match="engine_plan.lanes"):
        engine_plan(dense_net("direct"), lanes=0)
    with pytest.raises(ValueError, match="at least one image"):
        run_network_on_engines(dense_net("direct"), digits[:0], T)
    with pytest.raises(ValueError, match="run.T"):
        run_network_on_engines(dense_net("direct"), digits, 0)


