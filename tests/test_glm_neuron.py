import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twinspike.equivalence import glm_neuron as eq
from twinspike.equivalence import profiles
from twinspike.equivalence.harness import assert_same
from twinspike.ext import glm_neuron as cy
from twinspike.hw import glm_neuron as hw
from twinspike.sw import glm_neuron as ref
from twinspike.sw.common import signed_max, signed_min
from twinspike.sw.glm_neuron import GlmNeuronParams


def _unit(**kw):
    base = dict(n_in=3, n_out=2, n_kernels=2, tau=3, membrane_bits=8, bias_bits=8, lut_in_bits=4,
                lut_shift=3, max_steps=20)
    return GlmNeuronParams(**{**base, **kw})


@pytest.mark.parametrize("field,value", [
    ("n_in", 0), ("n_out", 31), ("n_kernels", 5), ("tau", 9), ("tau", 0), ("kernel_bits", 13),
    ("kernel_frac_bits", 8), ("membrane_bits", 3), ("membrane_bits", 25), ("bias_bits", 17),
    ("bias_bits", 1), ("lut_in_bits", 11), ("lut_shift", 16), ("lut_out_bits", 17),
    ("lfsr_width", 2), ("seed", -1), ("max_steps", 0), ("n_in", 4.0)])
def test_impossible_params_raise_valueerror(field, value):
    with pytest.raises(ValueError, match=f"GlmNeuronParams.{field}"):
        GlmNeuronParams(**{field: value})


def test_lut_out_bits_cannot_exceed_sampler_width():
    with pytest.raises(ValueError, match=r"lut_out_bits=9 is out of range: expected 1\.\.8"):
        GlmNeuronParams(lfsr_width=8, lut_out_bits=9)


@pytest.mark.parametrize("field,rom", [("kernel_table", (1, 2, 3)), ("kernel_table", [0] * 8),
                                       ("kernel_table", (128,) * 8), ("sigmoid_lut", (0,) * 255),
                                       ("sigmoid_lut", (-1,) * 256)])
def test_rom_contents_are_validated(field, rom):
    with pytest.raises(ValueError, match=f"GlmNeuronParams.{field}"):
        GlmNeuronParams(n_kernels=2, tau=4, kernel_bits=7, **{field: rom})


def test_default_tables_are_raised_cosine_and_sigmoid():
    p = GlmNeuronParams(n_kernels=3, tau=8)
    a = p.kernels
    assert a.shape == (3, 8) and a.min() >= 0 and a.max() == 1 << p.kernel_frac_bits
    assert np.argmax(a[0]) == 0 and np.argmax(a[-1]) == 7      # newest ... oldest input
    lut = np.asarray(p.sigmoid_lut)
    assert (np.diff(lut) >= 0).all() and lut[0] == 0 and lut[-1] == 255
    assert abs(lut[128] - 128) <= 2                              # sigmoid(~0) = 1/2


@given(st.integers(1, 4), st.integers(1, 8))
def test_trace_rom_is_the_kernel_sum_of_each_history(n_kernels, tau):
    p = GlmNeuronParams(n_kernels=n_kernels, tau=tau)
    for h in range(1 << tau):
        for k in range(n_kernels):
            expected = sum(p.kernels[k, d] for d in range(tau) if h >> d & 1)
            assert p.trace_rom[(k << tau) | h] == expected


def test_lut_index_clamps_both_ways():
    p = _unit(lut_in_bits=3, lut_shift=2)
    assert [ref.lut_index(p, u) for u in (-128, -17, -16, -1, 0, 15, 16, 127)] == \
        [0, 0, 0, 3, 4, 7, 7, 7]


def _bad_arguments(p):
    w = np.ones((p.n_out, p.n_in, p.n_kernels), dtype=np.int64)
    b = np.zeros(p.n_out, dtype=np.int64)
    s = np.zeros((1, 4, p.n_in), dtype=np.uint8)
    zero_w = w.copy()
    zero_w[0, 0, 0] = 0
    big_b = b.copy()
    big_b[0] = signed_max(p.bias_bits) + 1
    return [("weights", zero_w, b, s), ("weights", w[:, :, :1], b, s), ("biases", w, big_b, s),
            ("spikes", w, b, s + 2), ("spikes", w, b, s[:, :, :1]),
            ("T", w, b, np.zeros((1, p.max_steps + 1, p.n_in), np.uint8)),
            ("T", w, b, np.zeros((1, 0, p.n_in), np.uint8))]


@pytest.mark.parametrize("impl", ["reference", "cython", "evaluate", "myhdl"])
def test_every_twin_rejects_bad_arguments(impl):
    p = _unit()
    run = {"reference": ref.infer_batch, "cython": cy.infer_batch, "evaluate": cy.evaluate,
           "myhdl": hw.testbench}[impl]
    for what, w, b, s in _bad_arguments(p):
        with pytest.raises(ValueError, match=what):
            run(p, w, b, s)
    with pytest.raises(ValueError, match="GlmNeuronParams"):
        run(dataclasses.asdict(p), *_bad_arguments(p)[0][1:])


def test_hardware_block_rejects_foreign_params():
    with pytest.raises(ValueError, match="GlmNeuronParams"):
        hw.top(ref.LfsrParams())


def _random_data(p, rng, runs, steps, density=0.5):
    w = rng.choice((-1, 1), size=(p.n_out, p.n_in, p.n_kernels))
    b = rng.integers(signed_min(p.bias_bits), signed_max(p.bias_bits) + 1, size=p.n_out)
    return w, b, (rng.random((runs, steps, p.n_in)) < density).astype(np.uint8)


def test_early_exit_records_stop_at_the_decision():
    p = _unit(n_out=4, seed=3)
    w, b, s = _random_data(p, np.random.default_rng(1), 40, 12)
    for r in ref.infer_batch(p, w, b, s):
        assert len(r["spikes"]) == r["step"] and 1 <= r["step"] <= 12
        if r["fallback"]:
            assert r["step"] == 12 and not r["spikes"].any()
            assert r["decision"] == int(np.argmax(r["membranes"][-1]))
        else:
            assert not r["spikes"][:-1].any()
            assert r["decision"] == int(np.flatnonzero(r["spikes"][-1])[0])


def test_state_restarts_every_inference():
    """An inference's result depends on its own spikes only, not on its place in the batch."""
    p = _unit(seed=9)
    w, b, s = _random_data(p, np.random.default_rng(2), 6, 10)
    together = cy.infer_batch(p, w, b, s)
    alone = [cy.infer_batch(p, w, b, s[i:i + 1])[0] for i in range(len(s))]
    assert_same(together, alone)
    assert_same(hw.run_bench(p, w, b, s[[0, 0]]), [alone[0], alone[0]])


@pytest.mark.parametrize("q", [0, 1, 64, 200, 255])
def test_sampler_spikes_with_probability_q_over_2_pow_p(q):
    """``spike iff lfsr >> (W - P) < q``: over 30 lanes and many sampler seeds, an output fires
    at the first timestep with frequency ~ q / 2**P (exactly never for q = 0)."""
    fired = []
    for seed in range(150):
        p = GlmNeuronParams(n_in=1, n_out=30, n_kernels=1, tau=1, lut_in_bits=1, seed=seed,
                            sigmoid_lut=(q, q), max_steps=1)
        (record,) = cy.infer_batch(p, np.ones((30, 1, 1), dtype=int), np.zeros(30, dtype=int),
                                   np.zeros((1, 1, 1), np.uint8))
        fired.extend(record["spikes"][0])
    assert abs(np.mean(fired) - q / 256) < 0.02
    if q == 0:
        assert not any(fired)


@settings(max_examples=profiles.examples("cython") // 2)
@given(eq.params(max_in=10, max_out=6, max_steps=12), st.integers(0, 2**32 - 1))
def test_batch_evaluator_gives_the_records_decisions(p, seed):
    w, b, s = _random_data(p, np.random.default_rng(seed), 17, p.max_steps // 2 + 1)
    decision, step, fallback = cy.evaluate(p, w, b, s)
    records = ref.infer_batch(p, w, b, s)
    assert decision.tolist() == [r["decision"] for r in records]
    assert step.tolist() == [r["step"] for r in records]
    assert fallback.tolist() == [r["fallback"] for r in records]


@st.composite
def _saturating_case(draw):
    """Narrow membranes, one-signed weights, dense inputs, biases at the boundaries."""
    p = draw(eq.params(max_in=5, max_out=3))
    p = dataclasses.replace(p, membrane_bits=4 + draw(st.integers(0, 2)),
                            bias_bits=2 + draw(st.integers(0, 2)),
                            lut_shift=draw(st.integers(0, 3)))
    sign = draw(st.sampled_from((-1, 1)))
    w = np.full((p.n_out, p.n_in, p.n_kernels), sign)
    lo, hi = signed_min(p.bias_bits), signed_max(p.bias_bits)
    b = np.array(draw(st.lists(st.sampled_from((lo, hi)), min_size=p.n_out, max_size=p.n_out)))
    s = np.ones((1, draw(st.integers(1, 6)), p.n_in), dtype=np.uint8)
    return p, w, b, s


@profiles.settings_for("myhdl")
@given(_saturating_case())
def test_membrane_saturation_in_all_twins(case):
    p = case[0]
    expected = eq.run_reference(*case)
    u = expected[0]["membranes"]
    assert u.min() >= signed_min(p.membrane_bits) and u.max() <= signed_max(p.membrane_bits)
    assert_same(eq.run_cython(*case), expected, "cython")
    assert_same(hw.run_bench(*case), expected, "myhdl")


def test_saturation_corner_reaches_both_rails():
    high, low = eq.corner_cases()[:2]
    m = high[0].membrane_bits
    assert (ref.infer_batch(*high)[0]["membranes"][:, :2] == signed_max(m)).all()
    assert (ref.infer_batch(*low)[0]["membranes"][:, :2] == signed_min(m)).all()


def test_weight_words_pack_one_bit_per_output():
    p = _unit(n_in=2, n_out=3, n_kernels=1)
    w = np.array([[[1], [-1]], [[-1], [-1]], [[1], [1]]])
    assert hw.weight_words(p, w) == (0b101, 0b100)
