"""Twin harness for whole networks: the Cython batch evaluator equals the reference.

``networks()`` draws small random networks that exercise every projection kind (dense, conv
with stride and padding, sum-pool, identity), residual populations with several projections,
both encodings, every weight width and membranes near saturation. Array contents come from a
drawn numpy seed (drawing hundreds of integers one by one would be slow); the structure and
the ranges that matter (widths, thresholds, initial membranes, sparsity) are drawn directly.
"""
from __future__ import annotations

from dataclasses import asdict

import numpy as np
from hypothesis import strategies as st

from twinspike.ext.evaluate import evaluate
from twinspike.sw.conv_engine import conv_output_size
from twinspike.sw.network_model import INPUT, Network, Population, Projection
from twinspike.sw import network as ref
from twinspike.sw.common import signed_max, signed_min


def _shape(draw, allow_flat=True):
    if allow_flat and draw(st.booleans()):
        return (draw(st.integers(1, 12)),)
    return (draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(1, 6)))


def _main_projection(draw, rng, sources: dict, wb: int):
    """A first projection from a random earlier source and the target shape it implies."""
    name = draw(st.sampled_from(sorted(sources)))
    src = sources[name]
    kinds = ["dense", "identity"] + (["conv", "pool"] if len(src) == 3 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "conv":
        k = draw(st.integers(1, 3))
        s, p = draw(st.integers(1, 3)), draw(st.integers(0, k - 1))
        ho, wo = (conv_output_size(n, k, s, p) for n in src[1:])
        if ho >= 1 and wo >= 1:
            c_out = draw(st.integers(1, 3))
            return Projection("conv", name, _weights(rng, wb, (c_out, src[0], k, k)), kernel=k,
                              stride=s, padding=p), (c_out, ho, wo)
    if kind == "pool":
        k = draw(st.integers(1, min(3, *src[1:])))
        return Projection("pool", name, kernel=k, stride=k), (src[0], src[1] // k, src[2] // k)
    if kind == "identity":
        return Projection("identity", name), src
    shape = _shape(draw)
    return Projection("dense", name, _weights(rng, wb, (int(np.prod(shape)), int(np.prod(src))))), \
        shape


def _extra_projection(draw, rng, sources: dict, shape: tuple, wb: int):
    """A further projection into an existing ``shape`` (residual / shortcut)."""
    name = draw(st.sampled_from(sorted(sources)))
    src = sources[name]
    options = ["dense"]
    if src == shape:
        options.append("identity")
    if len(src) == 3 and len(shape) == 3 and src[1:] == shape[1:]:
        options.append("conv")                       # 1x1 shortcut, channels may change
    kind = draw(st.sampled_from(options))
    if kind == "identity":
        return Projection("identity", name)
    if kind == "conv":
        return Projection("conv", name, _weights(rng, wb, (shape[0], src[0], 1, 1)))
    return Projection("dense", name, _weights(rng, wb, (int(np.prod(shape)), int(np.prod(src)))))


def _weights(rng, wb: int, shape) -> np.ndarray:
    w = rng.integers(signed_min(wb), signed_max(wb) + 1, size=shape)
    return np.where(rng.random(shape) < rng.random(), 0, w)       # random sparsity


@st.composite
def networks(draw, max_populations: int = 4) -> Network:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="array seed"))
    wb = draw(st.integers(2, 8), label="weight_bits")
    m = draw(st.one_of(st.integers(max(8, wb + 1), 12), st.integers(13, 24)),
             label="membrane_bits")
    lo, hi = signed_min(m), signed_max(m)
    input_bits = draw(st.integers(1, 8))
    sources = {INPUT: _shape(draw)}
    populations = []
    for index in range(draw(st.integers(1, max_populations))):
        first, shape = _main_projection(draw, rng, sources, wb)
        projections = [first] + [_extra_projection(draw, rng, sources, shape, wb)
                                 for _ in range(draw(st.integers(0, 2)))]
        size = int(np.prod(shape))
        theta = draw(st.one_of(st.integers(1, min(4 << wb, hi)), st.integers(1, hi)),
                     label="theta")
        v0 = draw(st.sampled_from([0, theta // 2, lo, hi, int(rng.integers(lo, hi + 1))]))
        bias_span = draw(st.sampled_from([0, 2, 1 << wb, hi]))
        bias = rng.integers(max(lo, -bias_span), min(hi, bias_span) + 1, size=size)
        leak = draw(st.one_of(st.just(0), st.integers(1, m - 1)), label="leak_shift")
        name = f"pop{index}"
        populations.append(Population(name, shape, tuple(projections), bias, theta, v0, leak))
        sources[name] = shape
    return Network(sources[INPUT], tuple(populations), input_bits=input_bits,
                   encoding=draw(st.sampled_from(["direct", "rate"])), weight_bits=wb,
                   membrane_bits=m, lfsr_width=draw(st.integers(max(3, input_bits), 20)),
                   seed=draw(st.integers(0, 2**32 - 1)))


@st.composite
def cases(draw, max_batch: int = 4, max_T: int = 6, max_populations: int = 4):
    """(network, images[B, *input_shape] uint8, T)."""
    net = draw(networks(max_populations))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="image seed"))
    top = (1 << net.input_bits) - 1
    shape = (draw(st.integers(1, max_batch)), *net.input_shape)
    images = np.where(rng.random(shape) < draw(st.sampled_from([0.0, 0.3, 0.8, 1.0])),
                      rng.integers(0, top + 1, size=shape), 0)
    if draw(st.booleans()):
        images[0] = top                                   # one all-maximum image
    return net, images.astype(np.uint8), draw(st.integers(1, max_T), label="T")


def run_reference(net: Network, images: np.ndarray, T: int) -> dict:
    return asdict(ref.run(net, images, T))


def run_cython(net: Network, images: np.ndarray, T: int, batch: int = 3) -> dict:
    return asdict(evaluate(net, images, T, batch=batch))
