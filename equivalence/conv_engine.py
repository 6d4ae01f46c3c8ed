"""Twin harness for the conv2d event engine: reference, Cython and MyHDL give the same output
events (canonical addresses, ascending, per timestep), final membranes and SOP count.

A case is ``(params, weights[projections, c_out, c_in, k, k], spikes[projections, T, c_in, h,
w], FireConfig)``; ``spikes`` holds event values (0/1, or ``0..2**value_bits - 1``)."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from twinspike.equivalence.if_pe_array import boundary_ints, enables
from twinspike.ext import conv_engine as cy
from twinspike.hw import conv_engine as hw
from twinspike.sw import conv_engine as ref
from twinspike.sw.common import signed_max, signed_min
from twinspike.sw.conv_engine import MAX_VALUE_BITS, ConvEngineParams, ConvResult, FireConfig
from twinspike.sw.if_pe_array import (MAX_MEMBRANE_BITS, MAX_WEIGHT_BITS, MIN_MEMBRANE_BITS,
                                      MIN_WEIGHT_BITS)


@st.composite
def params(draw, max_channels: int = 3, max_size: int = 5, max_kernel: int = 4,
           max_stride: int = 3, max_lanes: int = 4, max_projections: int = 2) -> ConvEngineParams:
    """Random geometry (1x1 images, kernels larger than the image with padding, strides > 1,
    events touching nothing) at every legal width pair, narrow membranes drawn often; spikes
    half of the time, else valued events of 2..8 bits."""
    k = draw(st.integers(1, max_kernel))
    pad = draw(st.integers(0, k - 1))
    smallest = max(1, k - 2 * pad)  # h_out >= 1
    h, w = (draw(st.integers(smallest, max(smallest, max_size))) for _ in range(2))
    wb = draw(st.integers(MIN_WEIGHT_BITS, MAX_WEIGHT_BITS))
    narrowest = max(MIN_MEMBRANE_BITS, wb + 1)
    m = draw(st.one_of(st.just(narrowest), st.integers(narrowest, MAX_MEMBRANE_BITS)))
    return ConvEngineParams(c_in=draw(st.integers(1, max_channels)), h_in=h, w_in=w,
                            c_out=draw(st.integers(1, max_channels)), kernel=k,
                            stride=draw(st.integers(1, max_stride)), padding=pad,
                            lanes=draw(st.integers(1, max_lanes)), weight_bits=wb,
                            membrane_bits=m,
                            projections=draw(st.integers(1, max_projections)),
                            value_bits=draw(st.one_of(st.just(1),
                                                      st.integers(2, MAX_VALUE_BITS))))


@st.composite
def fire_configs(draw, c_out: int, m: int) -> FireConfig:
    """Bias, theta, leak and v0 with their saturation boundaries drawn often."""
    lo, hi = signed_min(m), signed_max(m)
    bias = draw(st.lists(boundary_ints(lo, hi), min_size=c_out, max_size=c_out))
    return FireConfig(np.array(bias, dtype=np.int64), draw(boundary_ints(1, hi)),
                      draw(boundary_ints(0, m - 1)), draw(boundary_ints(lo, hi)))


@st.composite
def layer_stimulus(draw, p: ConvEngineParams, max_steps: int = 2, min_steps: int = 1):
    """Weights at the width's limits, event trains of any density (0..1) per projection with
    values at their limits (1 and ``2**value_bits - 1``) drawn often."""
    n_w = p.projections * int(np.prod(p.weight_shape))
    weights = np.array(draw(st.lists(boundary_ints(signed_min(p.weight_bits),
                                                   signed_max(p.weight_bits)),
                                     min_size=n_w, max_size=n_w)), dtype=np.int64)
    n_steps = draw(st.integers(min_steps, max_steps))
    shape = (p.projections, n_steps, *p.input_shape)
    spikes = draw(enables(int(np.prod(shape)), 1)).reshape(shape)
    if p.value_bits > 1:
        values = draw(st.lists(boundary_ints(1, p.max_value), min_size=spikes.size,
                               max_size=spikes.size))
        spikes = spikes * np.array(values, dtype=np.int64).reshape(shape)
    return weights.reshape(p.projections, *p.weight_shape), spikes


@st.composite
def cases(draw, max_channels: int = 3, max_size: int = 5, max_steps: int = 2, **geometry):
    """Whole-layer cases small enough for the MyHDL simulation."""
    p = draw(params(max_channels, max_size, **geometry))
    weights, spikes = draw(layer_stimulus(p, max_steps))
    return p, weights, spikes, draw(fire_configs(p.c_out, p.membrane_bits))


def _random_case(p: ConvEngineParams, n_steps: int, density: float, seed: int,
                 config: FireConfig | None = None):
    rng = np.random.default_rng(seed)
    wmin, wmax = signed_min(p.weight_bits), signed_max(p.weight_bits)
    weights = rng.integers(wmin, wmax + 1, size=(p.projections, *p.weight_shape))
    spikes = (rng.random((p.projections, n_steps, *p.input_shape)) < density).astype(np.int64)
    if config is None:
        theta = 1 << (p.weight_bits - 1)  # one or two events of large weights make a spike
        config = FireConfig(rng.integers(-theta // 4, theta // 4, size=p.c_out), theta, 2,
                            theta // 2)
    return p, weights, spikes, config


def default_case():
    return _random_case(ConvEngineParams(), 2, 0.3, seed=7)


def corner_cases():
    m8 = dict(weight_bits=7, membrane_bits=8)
    top, bottom = signed_max(8), signed_min(8)
    saturate_up = ConvEngineParams(c_in=2, h_in=3, w_in=3, c_out=2, lanes=2, **m8)
    saturate_down = ConvEngineParams(c_in=1, h_in=2, w_in=3, c_out=3, lanes=2, padding=0,
                                     kernel=2, **m8)
    ones = lambda p, t: np.ones((p.projections, t, *p.input_shape), dtype=np.int64)  # noqa: E731
    full = lambda p, v: np.full((p.projections, *p.weight_shape), v)  # noqa: E731
    tiny = ConvEngineParams(c_in=1, h_in=1, w_in=1, c_out=2, kernel=3, padding=1, lanes=3)
    skip = ConvEngineParams(c_in=2, h_in=4, w_in=3, c_out=3, kernel=1, stride=2, padding=0,
                            lanes=2, projections=2)
    empty = ConvEngineParams(c_in=1, h_in=3, w_in=3, c_out=3, lanes=1)
    return [
        # all-ones train, maximal weights: +max reached, theta = max fires exactly there
        (saturate_up, full(saturate_up, signed_max(7)), ones(saturate_up, 2),
         FireConfig(np.full(2, top), top, 0, top - 3)),
        # minimal weights and bias from the bottom: pinned at -max - 1
        (saturate_down, full(saturate_down, signed_min(7)), ones(saturate_down, 2),
         FireConfig(np.full(3, bottom), 1, 7, bottom + 2)),
        # a 1x1 image under a 3x3 kernel, more lanes than channels
        _random_case(tiny, 2, 1.0, seed=1),
        # stride 2, 1x1 kernel: odd coordinates touch nothing; two banks (shortcut pass)
        _random_case(skip, 2, 0.6, seed=2),
        # empty train: only bias and leak move the membranes
        (empty, full(empty, 5), np.zeros((1, 2, *empty.input_shape), dtype=np.int64),
         FireConfig(np.array([3, -2, 1]), 4, 1, 2)),
        valued_corner_case(),
    ]


def valued_corner_case():
    """8-bit event values whose products (up to 127 * 255) exceed a 9-bit membrane both ways:
    one saturating add of the exact product per target."""
    p = ConvEngineParams(c_in=1, h_in=3, w_in=3, c_out=3, lanes=2, weight_bits=8,
                         membrane_bits=9, value_bits=8)
    weights = np.zeros((1, *p.weight_shape), dtype=np.int64)
    weights[0, :, 0] = np.array([127, -128, 1]).reshape(3, 1, 1)
    weights[0, 2, 0, 1, 1] = -1
    spikes = np.zeros((1, 2, *p.input_shape), dtype=np.int64)
    spikes[0, 0, 0] = [[255, 0, 1], [2, 255, 0], [0, 7, 255]]
    spikes[0, 1, 0, 1, 1] = 128
    return p, weights, spikes, FireConfig(np.array([0, 3, -3]), 200, 0, signed_max(9) - 1)


def outputs(result: ConvResult) -> dict:
    """The comparable outputs of a run."""
    return dict(events=ref.events(result.spikes), v=result.v, sops=result.sops % (1 << hw.SOP_BITS))


def run_reference(p, weights, spikes, config) -> dict:
    return outputs(ref.run_engine(p, weights, spikes, config))


def run_cython(p, weights, spikes, config) -> dict:
    return outputs(cy.run_engine(p, weights, spikes, config))
