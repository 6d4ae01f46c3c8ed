"""Twin harness for the rate encoder: reference, Cython and MyHDL give the same spike trains.

A case is ``(params, images, n_steps)`` with ``images`` uint8 ``(B, n_inputs)``, ``B >= 1``;
outputs are uint8 ``(B, n_steps, n_inputs)``.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from twinspike.ext import rate_encoder as cy
from twinspike.sw import rate_encoder as ref
from twinspike.sw.lfsr import MAX_WIDTH, MIN_WIDTH
from twinspike.sw.rate_encoder import MAX_IN_BITS, RateEncoderParams


@st.composite
def params(draw, max_inputs: int = 8) -> RateEncoderParams:
    """Every legal (in_bits, lfsr_width) pair, including lfsr_width == in_bits."""
    in_bits = draw(st.integers(1, MAX_IN_BITS))
    return RateEncoderParams(n_inputs=draw(st.integers(1, max_inputs)),
                             in_bits=in_bits,
                             lfsr_width=draw(st.integers(max(MIN_WIDTH, in_bits), MAX_WIDTH)),
                             seed=draw(st.integers(0, 0xFFFFFFFF)))


@st.composite
def images(draw, p: RateEncoderParams, max_images: int = 3) -> np.ndarray:
    """A batch at one of several densities: all zero, all maximal, uniform, or a per-pixel mix
    weighted towards the corners 0 and 2**in_bits - 1."""
    top = p.max_intensity
    shape = (draw(st.integers(1, max_images)), p.n_inputs)
    density = draw(st.sampled_from(["zero", "max", "uniform", "corners"]))
    if density in ("zero", "max"):
        return np.full(shape, 0 if density == "zero" else top, dtype=np.uint8)
    pixel = st.integers(0, top) if density == "uniform" else st.sampled_from([0, 1, top - 1, top])
    values = draw(st.lists(pixel, min_size=shape[0] * shape[1], max_size=shape[0] * shape[1]))
    return np.array(values, dtype=np.uint8).reshape(shape)


def cases(max_inputs: int = 8, max_images: int = 3, max_steps: int = 24):
    """(params, images, n_steps) triples."""
    return params(max_inputs).flatmap(
        lambda p: st.tuples(st.just(p), images(p, max_images), st.integers(0, max_steps)))


def default_case() -> tuple[RateEncoderParams, np.ndarray, int]:
    """16 inputs (a quarter of the 8x8 digits' 64, to keep synthesis short), two images
    (a ramp over 0..255 and its reverse), 8 timesteps."""
    ramp = (np.arange(16, dtype=np.uint8) * 17).reshape(1, 16)
    return RateEncoderParams(n_inputs=16), np.vstack([ramp, ramp[:, ::-1]]), 8


def corner_cases() -> list[tuple[RateEncoderParams, np.ndarray, int]]:
    full = np.array([[0, 255, 0, 255]], dtype=np.uint8)
    return [(RateEncoderParams(n_inputs=4, in_bits=8, lfsr_width=8), np.vstack([full, full]), 20),
            (RateEncoderParams(n_inputs=2, in_bits=1, lfsr_width=MIN_WIDTH, seed=0),
             np.array([[1, 0], [0, 1]], dtype=np.uint8), 9),       # past the period of 7
            (RateEncoderParams(n_inputs=3, in_bits=8, lfsr_width=MAX_WIDTH, seed=0xFFFFFFFF),
             np.array([[255, 254, 1]], dtype=np.uint8), 12),
            (RateEncoderParams(n_inputs=1, in_bits=4, lfsr_width=4), np.array([[0]], np.uint8), 16),
            (RateEncoderParams(n_inputs=5), np.full((2, 5), 200, dtype=np.uint8), 0)]


def run_reference(p: RateEncoderParams, images: np.ndarray, n_steps: int) -> np.ndarray:
    return ref.encode(p, images, n_steps)


def run_cython(p: RateEncoderParams, images: np.ndarray, n_steps: int) -> np.ndarray:
    return cy.encode(p, images, n_steps)
