"""Spike-count decoder: saturation, ties to the lowest index, batch form, errors."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from twinspike.equivalence import spike_count_decoder as eq
from twinspike.ext import spike_count_decoder as cy
from twinspike.hw import spike_count_decoder as hw
from twinspike.sw import spike_count_decoder as ref
from twinspike.sw.spike_count_decoder import MAX_CLASSES, MAX_COUNT_BITS, SpikeCountDecoderParams


@st.composite
def batches(draw):
    p = draw(st.builds(SpikeCountDecoderParams, n_classes=st.integers(2, 20),
                       count_bits=st.integers(1, 6)))
    shape = (draw(st.integers(0, 16)), draw(st.integers(0, 40)), p.n_classes)
    density = draw(st.sampled_from(eq.DENSITIES))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return p, (rng.random(shape) < density).astype(np.uint8)


@given(batches())
def test_batch_cython_equals_reference(case):
    p, spikes = case
    counts, decisions = cy.decode_batch(p, spikes)
    ref_counts, ref_decisions = ref.decode_batch(p, spikes)
    np.testing.assert_array_equal(counts, ref_counts)
    np.testing.assert_array_equal(decisions, ref_decisions)


@given(batches())
def test_batch_counts_saturate_and_decide_lowest_argmax(case):
    """Stated independently of the implementations: counts are the clamped spike sums, and
    the decision is the first index holding the largest count."""
    p, spikes = case
    counts, decisions = cy.decode_batch(p, spikes)
    np.testing.assert_array_equal(counts, np.minimum(spikes.sum(axis=1), p.count_max))
    if spikes.shape[1]:
        for b, d in enumerate(decisions[:, -1]):
            assert counts[b, d] == counts[b].max() and (counts[b, :d] < counts[b, d]).all()


def test_batch_form_is_the_cycle_form_on_back_to_back_images():
    """``decode_batch`` is the per-cycle block fed one image after another (``first`` on each
    image's first timestep, an idle cycle between images)."""
    p = SpikeCountDecoderParams(n_classes=4, count_bits=3)
    rng = np.random.default_rng(3)
    n_images, n_steps = 5, 9
    spikes = (rng.random((n_images, n_steps, p.n_classes)) < 0.6).astype(np.int64)
    first, valid = eq.images(n_images, n_steps)
    stream = np.zeros((len(first), p.n_classes), np.int64)
    stream[valid == 1] = spikes.reshape(-1, p.n_classes)
    cycles = cy.run(p, first, valid, stream)
    counts, decisions = cy.decode_batch(p, spikes)
    ends = np.flatnonzero(valid == 1).reshape(n_images, n_steps)
    np.testing.assert_array_equal(cycles["counts"][ends[:, -1]], counts)
    np.testing.assert_array_equal(cycles["decision"][ends], decisions)


def test_saturation_by_hand_in_every_twin():
    """1-bit counters: the second spike is lost, so later spikes cannot break the tie."""
    p = SpikeCountDecoderParams(n_classes=3, count_bits=1)
    first, valid = np.zeros(3, np.int64), np.ones(3, np.int64)
    spikes = np.array([[0, 1, 0], [0, 1, 1], [1, 0, 1]])
    expected = dict(counts=np.array([[0, 1, 0], [0, 1, 1], [1, 1, 1]]), decision=np.array([1, 1, 0]))
    for run in (eq.run_reference, eq.run_cython, hw.run_bench):
        out = run(p, first, valid, spikes)
        np.testing.assert_array_equal(out["counts"], expected["counts"], run.__name__)
        np.testing.assert_array_equal(out["decision"], expected["decision"], run.__name__)


@pytest.mark.parametrize("field,value", [("n_classes", 1), ("n_classes", MAX_CLASSES + 1),
                                         ("count_bits", 0), ("count_bits", MAX_COUNT_BITS + 1),
                                         ("count_bits", True)])
def test_impossible_params_raise_valueerror(field, value):
    for cls in (SpikeCountDecoderParams, hw.Params):
        with pytest.raises(ValueError, match=f"SpikeCountDecoderParams.{field}"):
            cls(**{field: value})


P = SpikeCountDecoderParams(n_classes=2, count_bits=4)


@pytest.mark.parametrize("first,valid,spikes,match", [
    ([0], [1], [[2, 0]], "spikes holds 2"),
    ([0], [1], [[1, 0, 0]], "n_classes=2"),
    ([0], [1], [1, 0], "must have 2 axes"),
    ([0, 1], [1], [[1, 0]], "first"),
    ([0], [-1], [[1, 0]], "valid holds -1"),
])
def test_bad_stimulus_raises_in_reference_and_cython(first, valid, spikes, match):
    for run in (ref.run, cy.run):
        with pytest.raises(ValueError, match=match):
            run(P, first, valid, spikes)


@pytest.mark.parametrize("spikes,match", [(np.zeros((2, 3, 3)), "n_classes=2"),
                                          (np.zeros((3, 2)), "must have 3 axes"),
                                          (np.full((1, 1, 2), 3), "spikes holds 3")])
def test_bad_batch_raises_in_reference_and_cython(spikes, match):
    for decode in (ref.decode_batch, cy.decode_batch):
        with pytest.raises(ValueError, match=match):
            decode(P, spikes.astype(np.int64))


def test_cython_rejects_wrong_params_object():
    for call in (lambda: cy.run({"n_classes": 2}, [0], [1], [[1, 0]]),
                 lambda: cy.decode_batch(None, np.zeros((1, 1, 2), np.uint8))):
        with pytest.raises(ValueError, match="expects SpikeCountDecoderParams"):
            call()
