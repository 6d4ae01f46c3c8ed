from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from twinspike.equivalence import conv_engine as eq
from twinspike.equivalence import profiles
from twinspike.equivalence.harness import assert_same
from twinspike.ext import conv_engine as cy
from twinspike.hw import conv_engine as hw
from twinspike.sw import conv_engine as ref
from twinspike.sw.common import saturate_array, signed_max, signed_min
from twinspike.sw.conv_engine import ConvEngineParams, ConvProjection, FireConfig
from twinspike.sw.if_pe_array import fire


def direct_sum_pool(spikes: np.ndarray, kernel: int) -> np.ndarray:
    """``x[..., h, w]`` summed over ``kernel`` x ``kernel`` blocks (tails that fill no block
    dropped)."""
    h, w = spikes.shape[-2] // kernel, spikes.shape[-1] // kernel
    x = np.asarray(spikes, dtype=np.int64)[..., :h * kernel, :w * kernel]
    return x.reshape(*x.shape[:-2], h, kernel, w, kernel).sum(axis=(-3, -1))


def if_population(currents: np.ndarray, config: FireConfig, m: int):
    """IF neurons driven by per-timestep input sums ``currents[T, c, h, w]`` of +1 events
    (saturating +1 adds equal one saturating add of their sum): (spikes, v)."""
    v = np.full(currents.shape[1:], config.v0, dtype=np.int64)
    spikes = np.zeros(currents.shape, dtype=np.uint8)
    for t, current in enumerate(currents):
        v = saturate_array(v + current, m)
        for idx in np.ndindex(v.shape):
            v[idx], spikes[(t, *idx)] = fire(int(v[idx]), int(config.bias[idx[0]]),
                                             config.theta, config.leak_shift, m)
    return spikes, v


# --- parameters and arguments ---------------------------------------------------------------

@pytest.mark.parametrize("field,value", [
    ("c_in", 0), ("h_in", 0), ("w_in", 1025), ("c_out", 0), ("kernel", 0), ("kernel", 33),
    ("stride", 0), ("padding", -1), ("padding", 3), ("lanes", 0), ("lanes", 257),
    ("weight_bits", 1), ("weight_bits", 9), ("membrane_bits", 7), ("membrane_bits", 25),
    ("projections", 0), ("c_in", 2.0), ("value_bits", 0), ("value_bits", 9)])
def test_impossible_params_raise_valueerror(field, value):
    with pytest.raises(ValueError, match=f"ConvEngineParams.{field}"):
        ConvEngineParams(**{field: value})


def test_membrane_must_be_wider_than_weights():
    with pytest.raises(ValueError, match="membrane_bits=8 must exceed weight_bits=8"):
        ConvEngineParams(weight_bits=8, membrane_bits=8)


@pytest.mark.parametrize("geometry", [dict(h_in=2, kernel=5, padding=1),
                                      dict(w_in=1, kernel=4, padding=1, stride=3)])
def test_output_smaller_than_one_raises_valueerror(geometry):
    with pytest.raises(ValueError, match="_out = .* must be >= 1"):
        ConvEngineParams(**geometry)


def _bad_arguments():
    p, weights, spikes, config = eq.default_case()
    m = p.membrane_bits
    return [
        ("weights", (p, weights * 2, spikes, config)),
        ("weights has shape", (p, weights[:, :, :1], spikes, config)),
        ("spikes", (p, weights, spikes * 2, config)),
        ("spikes has shape", (p, weights, spikes[:, :, :1], config)),
        ("FireConfig.theta", (p, weights, spikes, FireConfig(config.bias, 0))),
        ("FireConfig.leak_shift", (p, weights, spikes, FireConfig(config.bias, 5, m))),
        ("FireConfig.v0", (p, weights, spikes, FireConfig(config.bias, 5, 0, 1 << m))),
        ("FireConfig.bias", (p, weights, spikes, FireConfig(config.bias + (1 << m), 5))),
        ("FireConfig.bias has shape", (p, weights, spikes, FireConfig(config.bias[:1], 5))),
        ("expected ConvEngineParams", ({"c_in": 2}, weights, spikes, config)),
        ("spikes holds 2, out of range: expected 0..1", (p, weights, spikes * 2, config)),
        ("spikes holds 4, out of range: expected 0..3",
         (replace(p, value_bits=2), weights, spikes * 4, config)),
    ]


def test_valued_event_saturates_the_exact_product_once():
    """Channel 0 (weight 127 at every tap, 9-bit membranes from 254): the 255-valued events
    pin it at 255 whatever comes later with a positive weight; channel 1 (weight -128) is pinned
    at -256 by the first 255-valued event and climbs back only through bias and fire."""
    p, weights, spikes, config = eq.valued_corner_case()
    v = ref.run_engine(p, weights, spikes[:, :1], config).v
    # Timestep 0: every position gets >= one event of value >= 1 with weight 127 -> 255, minus
    # theta 200 after firing; channel 1: saturates at -256, + bias 3.
    assert (v[0] == 255 - 200).all() and (v[1] == -256 + 3).all()


@pytest.mark.parametrize("what,case", _bad_arguments(), ids=[w for w, _ in _bad_arguments()])
def test_all_implementations_reject_bad_arguments(what, case):
    for impl in (ref.run_engine, cy.run_engine, hw.testbench):
        with pytest.raises(ValueError, match=what):
            impl(*case)


def test_projections_must_share_population_and_timesteps():
    p, weights, spikes, config = eq.default_case()
    q = ConvEngineParams(c_in=1, h_in=3, w_in=3, c_out=p.c_out)  # 3x3 output, not 6x6
    other = ConvProjection(q, np.zeros(q.weight_shape, np.int64),
                           np.zeros((2, *q.input_shape), np.int64))
    main = ConvProjection(p, weights[0], spikes[0])
    short = ConvProjection(p, weights[0], spikes[0, :1])
    for impl in (ref.run, cy.run):
        with pytest.raises(ValueError, match="output_shape"):
            impl([main, other], config)
        with pytest.raises(ValueError, match="timesteps"):
            impl([main, short], config)
        with pytest.raises(ValueError, match="non-empty list"):
            impl([], config)


def test_bench_needs_a_timestep_and_engine_needs_params():
    p, weights, spikes, config = eq.default_case()
    with pytest.raises(ValueError, match="T=0"):
        hw.testbench(p, weights, spikes[:, :0], config)
    with pytest.raises(ValueError, match="expects ConvEngineParams"):
        hw.conv_engine(**hw.ports(p), p={"c_in": 2})


def test_cython_module_is_compiled():
    assert cy.COMPILED and cy.__file__.endswith(".so")


# --- address generation and memory layout ---------------------------------------------------

@profiles.settings_for("cython")
@given(p=eq.params(max_size=7, max_kernel=5), data=st.data())
def test_address_generator_visits_exactly_the_touched_taps(p, data):
    yi = data.draw(st.integers(0, p.h_in - 1), label="yi")
    xi = data.draw(st.integers(0, p.w_in - 1), label="xi")
    k, s, pad = p.kernel, p.stride, p.padding
    brute = [(yo, xo, ky, kx) for yo in range(p.h_out) for xo in range(p.w_out)
             for ky in range(k) for kx in range(k)
             if yo * s + ky - pad == yi and xo * s + kx - pad == xi]
    assert ref.touched(p, yi, xi) == brute  # same set, ascending output address
    assert ref.event_visits(p, yi, xi) == len(brute) * p.words


def test_weight_and_bias_images_follow_the_documented_layout():
    p = ConvEngineParams(c_in=2, h_in=4, w_in=4, c_out=5, kernel=2, padding=1, lanes=2,
                         projections=2)
    weights = np.arange(np.prod((2, *p.weight_shape))).reshape(2, *p.weight_shape) % 100 - 50
    image = ref.weight_image(p, weights)
    assert image.shape == (p.weight_depth, p.lanes) and p.words == 3
    for b, co, ci, ky, kx in np.ndindex(weights.shape):
        addr = (((b * p.c_in + ci) * p.kernel + ky) * p.kernel + kx) * p.words + co // p.lanes
        assert image[addr, co % p.lanes] == weights[b, co, ci, ky, kx]
    assert np.count_nonzero(image[p.words - 1::p.words, 1]) == 0  # lane of channel 5: padding
    assert ref.bias_image(p, [1, 2, 3, 4, 5]).tolist() == [[1, 2], [3, 4], [5, 0]]


# --- semantics --------------------------------------------------------------------------------

def test_sop_count_is_touched_positions_times_output_channels():
    p, weights, spikes, config = eq.default_case()
    expected = sum(len(ref.touched(p, y, x)) * p.c_out
                   for _, _, _, y, x in zip(*np.nonzero(spikes)))
    assert ref.run_engine(p, weights, spikes, config).sops == expected > 0


def test_saturation_corners():
    """All-ones trains with extreme weights: at +max the membranes reach theta = max exactly
    (spike, reset to 0) every timestep; at -max - 1 they stay pinned and never spike."""
    up, down = eq.corner_cases()[:2]
    for impl in (ref.run_engine, cy.run_engine):
        high, low = impl(*up), impl(*down)
        assert high.spikes.all() and (high.v == 0).all()
        assert not low.spikes.any() and (low.v == signed_min(8)).all()


def test_single_event_adds_the_flipped_kernel():
    """One event at (2, 2) of a 5x5 image, 3x3 kernel, pad 1: output (yo, xo) receives tap
    (ky, kx) = (3 - yo, 3 - xo), as yo + ky - 1 == 2."""
    p = ConvEngineParams(c_in=1, h_in=5, w_in=5, c_out=2, lanes=2, membrane_bits=16)
    weights = np.arange(-9, 9).reshape(1, *p.weight_shape)
    spikes = np.zeros((1, 1, 1, 5, 5), np.int64)
    spikes[0, 0, 0, 2, 2] = 1
    config = FireConfig(np.zeros(2, np.int64), signed_max(16))
    v = ref.run_engine(p, weights, spikes, config).v
    expected = np.zeros(p.output_shape, np.int64)
    for ky in range(3):
        for kx in range(3):
            expected[:, 3 - ky, 3 - kx] = weights[0, :, 0, ky, kx]
    np.testing.assert_array_equal(v, expected)


@st.composite
def larger_cases(draw):
    """Wider layers than the MyHDL cases: up to 4 channels, 6x6 images, T up to 3."""
    p = draw(eq.params(max_channels=4, max_size=6, max_kernel=5, max_lanes=8,
                       max_projections=3))
    weights, spikes = draw(eq.layer_stimulus(p, max_steps=3))
    return p, weights, spikes, draw(eq.fire_configs(p.c_out, p.membrane_bits))


@profiles.settings_for("cython")
@given(case=larger_cases())
def test_cython_equals_reference_on_larger_layers(case):
    assert_same(eq.run_cython(*case), eq.run_reference(*case))


# --- residual shortcut: projections of different geometry --------------------------------------

@st.composite
def residual_blocks(draw):
    """A 3x3 conv (stride s, pad 1) from one population plus a 1x1 stride-s shortcut from
    another population of the same output size."""
    s = draw(st.integers(1, 2))
    c_mid, c_in, c_out = (draw(st.integers(1, 3)) for _ in range(3))
    h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    widths = dict(weight_bits=draw(st.integers(2, 8)), membrane_bits=draw(st.integers(9, 12)))
    main = ConvEngineParams(c_in=c_mid, h_in=h, w_in=w, c_out=c_out, kernel=3, stride=s,
                            padding=1, **widths)
    short = ConvEngineParams(c_in=c_in, h_in=h, w_in=w, c_out=c_out, kernel=1, stride=s,
                             padding=0, **widths)
    n_steps = draw(st.integers(1, 2))
    projs = []
    for q in (main, short):
        weights, spikes = draw(eq.layer_stimulus(q, n_steps, min_steps=n_steps))
        projs.append(ConvProjection(q, weights[0], spikes[0]))
    return projs, draw(eq.fire_configs(c_out, main.membrane_bits))


@profiles.settings_for("cython")
@given(block=residual_blocks())
def test_residual_projections(block):
    """Cython == reference on a two-geometry population; and the hardware's form of the
    shortcut (tap (1, 1) of a 3x3 pad-1 kernel, a second weight bank) gives the same spikes
    and membranes as the 1x1 projection itself (SOPs differ: 9 taps vs 1)."""
    projs, config = block
    a, b = ref.run(projs, config), cy.run(projs, config)
    assert_same((b.spikes, b.v, b.sops), (a.spikes, a.v, a.sops))
    main, short = projs
    embedded = ConvProjection(replace(short.params, kernel=3, padding=1),
                              ref.shortcut_weights(short.weights[:, :, 0, 0], 3, 1),
                              short.spikes)
    c, d = cy.run([main, short], config), cy.run([main, embedded], config)
    assert_same((d.spikes, d.v), (c.spikes, c.v))


def test_myhdl_runs_a_residual_block_as_two_banks():
    """Main 3x3 conv in bank 0, identity shortcut (same source shape) in bank 1, one fire:
    the hardware equals the reference on the two-projection population."""
    p = ConvEngineParams(c_in=2, h_in=4, w_in=3, c_out=2, lanes=2, projections=2)
    _, weights, spikes, config = eq._random_case(p, 2, 0.5, seed=11)
    weights[1] = ref.shortcut_weights(np.eye(2, dtype=np.int64), 3, 1)
    identity = replace(p, kernel=1, padding=0, projections=1)
    population = [ConvProjection(p, weights[0], spikes[0]),
                  ConvProjection(identity, np.eye(2, dtype=np.int64)[:, :, None, None],
                                 spikes[1])]
    expected = ref.run(population, config)
    got = hw.run_bench(p, weights, spikes, config)
    assert_same((got["events"], got["v"]), (ref.events(expected.spikes), expected.v))
    assert any(len(e) for e in got["events"])


# --- sum-pooling through the engine ------------------------------------------------------------

@st.composite
def pooling_cases(draw, max_channels: int = 3, max_size: int = 6, max_steps: int = 3):
    k = draw(st.integers(1, 3))
    c = draw(st.integers(1, max_channels))
    h, w = (draw(st.integers(k, max(k, max_size))) for _ in range(2))
    p = ref.sum_pool_params(c, h, w, k, lanes=draw(st.integers(1, 4)),
                            weight_bits=draw(st.integers(2, 7)), membrane_bits=8)
    _, spikes = draw(eq.layer_stimulus(p, max_steps))
    return p, ref.sum_pool_weights(c, k)[None], spikes, draw(eq.fire_configs(c, 8))


def _check_pooling(run, case):
    p, weights, spikes, config = case
    expected_spikes, expected_v = if_population(direct_sum_pool(spikes[0], p.kernel), config,
                                                p.membrane_bits)
    result = run(p, weights, spikes, config)
    np.testing.assert_array_equal(result.v, expected_v)
    np.testing.assert_array_equal(result.spikes, expected_spikes)


@profiles.settings_for("cython")
@given(case=pooling_cases())
def test_sum_pool_through_engine_equals_direct_sum_pool(case):
    _check_pooling(ref.run_engine, case)
    _check_pooling(cy.run_engine, case)


def test_myhdl_sum_pool_equals_direct_sum_pool():
    p = ref.sum_pool_params(3, 5, 4, 2, lanes=2)
    spikes = (np.random.default_rng(5).random((1, 2, *p.input_shape)) < 0.6).astype(np.int64)
    config = FireConfig(np.array([0, -1, 1]), 2, 0, 1)
    expected_spikes, expected_v = if_population(direct_sum_pool(spikes[0], 2), config, 16)
    got = hw.run_bench(p, ref.sum_pool_weights(3, 2)[None], spikes, config)
    assert_same((got["events"], got["v"]), (ref.events(expected_spikes), expected_v))
    assert any(len(e) for e in got["events"])


# --- hardware timing -----------------------------------------------------------------------------

@profiles.settings_for("ghdl")  # few examples: test_equivalence already runs MyHDL on cases()
@given(case=eq.cases(max_channels=2, max_size=4))
def test_myhdl_cycle_count_matches_the_documented_formula(case):
    p, weights, spikes, config = case
    got, cycle_count = hw.run_bench_with_cycles(*case)
    assert cycle_count == ref.cycles(p, spikes)
    for emitted in got["events"]:  # canonical order: strictly ascending addresses
        assert (np.diff(emitted) > 0).all()


def test_cycle_formula_by_hand():
    """clear 4 words + 1 latency; t0: an event touching 1 position (1 word) and one touching
    none (1 acceptance cycle), fire 2 channels x 4 positions."""
    p = ConvEngineParams(c_in=1, h_in=3, w_in=3, c_out=2, kernel=1, stride=2, padding=0,
                         lanes=2)
    spikes = np.zeros((1, 1, 1, 3, 3), np.int64)
    spikes[0, 0, 0, 0, 0] = spikes[0, 0, 0, 0, 1] = 1
    assert ref.cycles(p, spikes) == 4 + 1 + (1 + 1 + 2 * 4)
