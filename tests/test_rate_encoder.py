"""Block-specific properties of the rate encoder (generic twin levels: test_equivalence)."""
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from twinspike.equivalence import rate_encoder as eq
from twinspike.ext import rate_encoder as cy
from twinspike.hw import rate_encoder as hw
from twinspike.sw import lfsr
from twinspike.sw import rate_encoder as ref
from twinspike.sw.rate_encoder import RateEncoderParams

IMPLS = [ref.encode, cy.encode]


def full_period(p: RateEncoderParams) -> int:
    return (1 << p.lfsr_width) - 1


@st.composite
def short_period_params_and_intensity(draw):
    """Widths up to 12 bits (periods up to 4,095 steps) and an intensity legal for in_bits."""
    in_bits = draw(st.integers(1, 8))
    p = RateEncoderParams(n_inputs=draw(st.integers(1, 4)), in_bits=in_bits,
                          lfsr_width=draw(st.integers(max(3, in_bits), 12)),
                          seed=draw(st.integers(0, 2**32 - 1)))
    return p, draw(st.integers(0, p.max_intensity))


@pytest.mark.parametrize("encode", IMPLS, ids=["reference", "cython"])
@given(case=short_period_params_and_intensity())
@example(case=(RateEncoderParams(n_inputs=1, in_bits=3, lfsr_width=3), 1))   # level never 0
@example(case=(RateEncoderParams(n_inputs=2, in_bits=8, lfsr_width=8), 255))
@example(case=(RateEncoderParams(n_inputs=2, in_bits=1, lfsr_width=12), 1))
def test_full_period_spike_count_is_exact(encode, case):
    """Over one period every non-zero lane state occurs once, so an input of intensity x > 0
    spikes x * 2**(W - in_bits) - 1 times (the level-0 bucket lacks the zero state)."""
    p, x = case
    spikes = encode(p, np.full((1, p.n_inputs), x, dtype=np.uint8), full_period(p))
    expected = max(0, x * (1 << p.shift) - 1)
    assert (spikes.sum(axis=(0, 1)) == expected).all()


def test_rate_approaches_intensity_over_a_full_period():
    """Every intensity 0..255 at the default 16-bit LFSR: from the exact count above, the rate
    over one period (65,535 steps) is within 1 / (2**16 - 1) of x / 256."""
    p = RateEncoderParams(n_inputs=2)
    intensities = np.arange(256, dtype=np.uint8)[:, np.newaxis].repeat(2, axis=1)
    rate = cy.encode(p, intensities, full_period(p)).mean(axis=1)           # (256, 2)
    error = np.abs(rate - intensities / 256)
    assert error.max() <= 1 / full_period(p)


def test_rate_over_a_partial_period_is_within_binomial_tolerance():
    """A window of T = 16,384 steps (a quarter period) behaves like T Bernoulli draws: each of
    64 lanes stays within 2 / sqrt(T) (four standard deviations at p = 1/2) of x / 256."""
    p = RateEncoderParams(n_inputs=64)
    n_steps = 1 << 14
    intensities = np.arange(0, 256, 15, dtype=np.uint8)[:, np.newaxis].repeat(64, axis=1)
    rate = cy.encode(p, intensities, n_steps).mean(axis=1)
    assert np.abs(rate - intensities / 256).max() <= 2 / np.sqrt(n_steps)


@pytest.mark.parametrize("encode", IMPLS, ids=["reference", "cython"])
@given(p=eq.params(), n_steps=st.integers(0, 300), data=st.data())
def test_zero_intensity_never_spikes(encode, p, n_steps, data):
    x = data.draw(eq.images(p), label="images")
    spikes = encode(p, x, n_steps)
    assert not spikes.transpose(0, 2, 1)[x == 0].any()


@given(p=eq.params(), n_steps=st.integers(0, 300))
def test_max_intensity_spikes_unless_the_level_is_max(p, n_steps):
    x = np.full((1, p.n_inputs), p.max_intensity, dtype=np.uint8)
    levels = cy.levels(p, n_steps)
    np.testing.assert_array_equal(cy.encode(p, x, n_steps)[0], levels != p.max_intensity)


@given(data=st.data())
def test_lfsr_restarts_for_every_image(data):
    """A batch encodes like its images one by one: position in the batch does not matter."""
    p, x, n_steps = data.draw(eq.cases(max_images=4, max_steps=40))
    batch = cy.encode(p, x, n_steps)
    for b in range(len(x)):
        np.testing.assert_array_equal(batch[b], cy.encode(p, x[b:b + 1], n_steps)[0])
        np.testing.assert_array_equal(batch[b], ref.encode(p, x[b:b + 1], n_steps)[0])


def test_hardware_restarts_the_lfsr_for_every_image():
    p = RateEncoderParams(n_inputs=3, in_bits=4, lfsr_width=5, seed=9)
    x = np.array([[15, 8, 1]] * 3, dtype=np.uint8)
    trains = hw.run_bench(p, x, 40)                     # longer than the 31-step period
    assert trains[0].any() and (trains == trains[0]).all()


def test_levels_are_the_lfsr_top_bits():
    p = RateEncoderParams(n_inputs=5, in_bits=3, lfsr_width=10, seed=77)
    np.testing.assert_array_equal(cy.levels(p, 50), (lfsr.sequence(p.lfsr, 50) >> 7).T)


@pytest.mark.parametrize("in_bits,width", [(8, 7), (8, 3), (5, 4), (4, 3)])
def test_lfsr_narrower_than_intensity_is_impossible(in_bits, width):
    for params_class in (RateEncoderParams, hw.Params):
        with pytest.raises(ValueError, match="RateEncoderParams.lfsr_width.*at least in_bits"):
            params_class(n_inputs=4, in_bits=in_bits, lfsr_width=width)


@pytest.mark.parametrize("field,value", [("n_inputs", 0), ("n_inputs", 4097), ("in_bits", 0),
                                         ("in_bits", 9), ("lfsr_width", 2), ("lfsr_width", 33),
                                         ("seed", -1), ("seed", 2**32), ("in_bits", 8.0)])
def test_impossible_params_raise_valueerror(field, value):
    with pytest.raises(ValueError, match=f"RateEncoderParams.{field}"):
        RateEncoderParams(**{field: value})


@pytest.mark.parametrize("x,n_steps,match", [
    (np.array([[0, 16]], dtype=np.uint8), 4, "x holds 16"),          # in_bits = 4: 0..15
    (np.zeros((1, 3), dtype=np.uint8), 4, r"shape \(B, 2\)"),
    (np.zeros(2, dtype=np.uint8), 4, r"shape \(B, 2\)"),
    (np.zeros((1, 2), dtype=np.uint8), -1, "n_steps"),
])
def test_cython_rejects_bad_arguments_like_reference(x, n_steps, match):
    p = RateEncoderParams(n_inputs=2, in_bits=4, lfsr_width=8)
    for encode in IMPLS:
        with pytest.raises(ValueError, match=match):
            encode(p, x, n_steps)


def test_cython_rejects_wrong_params_and_dtype():
    p = RateEncoderParams(n_inputs=2)
    with pytest.raises(ValueError, match="RateEncoderParams"):
        cy.encode({"n_inputs": 2}, np.zeros((1, 2), np.uint8), 4)
    with pytest.raises(ValueError, match="uint8"):
        cy.encode(p, np.zeros((1, 2), np.int64), 4)
    with pytest.raises(ValueError, match="n_steps"):
        cy.levels(p, -1)
