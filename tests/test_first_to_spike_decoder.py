"""First-to-spike decoder: early exit, fallback, timestep cap, batch form, errors."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from twinspike.equivalence import first_to_spike_decoder as eq
from twinspike.ext import first_to_spike_decoder as cy
from twinspike.hw import first_to_spike_decoder as hw
from twinspike.sw import first_to_spike_decoder as ref
from twinspike.sw.first_to_spike_decoder import (MAX_CLASSES, MAX_MEM_BITS, MAX_STEPS, MIN_MEM_BITS,
                                                 FirstToSpikeDecoderParams)


@st.composite
def batches(draw, max_batch: int = 16):
    p = draw(eq.params())
    shape = (draw(st.integers(0, max_batch)), draw(st.integers(0, 12)), p.n_classes)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    spikes = (rng.random(shape) < draw(st.sampled_from(eq.SPIKE_DENSITIES))).astype(np.uint8)
    return p, spikes, eq.random_membranes(rng, p, (shape[0], p.n_classes))


@given(batches())
def test_batch_cython_equals_reference(case):
    p, spikes, membranes = case
    out = cy.decode_batch(p, spikes, membranes)
    expected = ref.decode_batch(p, spikes, membranes)
    for name in expected:
        np.testing.assert_array_equal(out[name], expected[name], name)


@given(batches(max_batch=6))
def test_cycle_form_on_image_stream_matches_batch(case):
    """Images fed through the per-cycle block one after another: exactly one early exit per
    image decided by a spike, in the cycle of its decision timestep, none for fallbacks; the
    decision registers after each image's membrane cycle equal ``decode_batch``."""
    p, spikes, membranes = case
    if not len(spikes):
        return
    stream = eq.image_stream(list(spikes), list(membranes))
    out = cy.run(p, *stream)
    batch = ref.decode_batch(p, spikes, membranes)
    cycles_per_image = spikes.shape[1] + 1
    exits = out["early_exit"].reshape(len(spikes), cycles_per_image)
    last = np.arange(1, len(spikes) + 1) * cycles_per_image - 1
    for name in ("decision", "decision_step", "fallback"):
        np.testing.assert_array_equal(out[name][last], batch[name], name)
    assert (out["decided"][last] == 1).all()
    np.testing.assert_array_equal(exits.sum(axis=1), 1 - batch["fallback"])
    for b in np.flatnonzero(batch["fallback"] == 0):
        assert exits[b, batch["decision_step"][b]] == 1


def test_scenario_by_hand_in_every_twin():
    """3 classes, 4 timesteps: classes 1 and 2 both spike first at t = 1 (lowest wins, early
    exit in that cycle, later spikes and the membranes ignored); then a silent image of two
    timesteps falls back to the membrane argmax [3, -8, 3] (tie: class 0) at step 2."""
    p = FirstToSpikeDecoderParams(n_classes=3, t_steps=4, mem_bits=4)
    stream = eq.image_stream([np.array([[0, 0, 0], [0, 1, 1], [1, 1, 1]]), np.zeros((2, 3), int)],
                             [np.array([7, 7, 7]), np.array([3, -8, 3])])
    expected = dict(early_exit=[0, 1, 0, 0, 0, 0, 0], decided=[0, 1, 1, 1, 0, 0, 1],
                    decision=[0, 1, 1, 1, 0, 0, 0], decision_step=[0, 1, 1, 1, 0, 0, 2],
                    fallback=[0, 0, 0, 0, 0, 0, 1])
    for run in (eq.run_reference, eq.run_cython, hw.run_bench):
        out = run(p, *stream)
        for name, values in expected.items():
            assert out[name].tolist() == values, (run.__name__, name)


def test_timesteps_past_t_steps_are_ignored():
    p = FirstToSpikeDecoderParams(n_classes=4, t_steps=3, mem_bits=8)
    spikes = np.zeros((2, 5, 4), np.uint8)
    spikes[0, 3, 1] = 1   # t = 3: past the cap, ignored
    spikes[1, 2, 3] = 1   # t = 2: the last timestep that counts
    membranes = np.array([[1, 2, 100, -5], [0, 0, 0, 0]])
    for decode in (ref.decode_batch, cy.decode_batch):
        out = decode(p, spikes, membranes)
        assert out["decision"].tolist() == [2, 3]
        assert out["decision_step"].tolist() == [3, 2]
        assert out["fallback"].tolist() == [1, 0]


@pytest.mark.parametrize("field,value", [("n_classes", 1), ("n_classes", MAX_CLASSES + 1),
                                         ("t_steps", 0), ("t_steps", MAX_STEPS + 1),
                                         ("mem_bits", MIN_MEM_BITS - 1),
                                         ("mem_bits", MAX_MEM_BITS + 1), ("t_steps", "8")])
def test_impossible_params_raise_valueerror(field, value):
    for cls in (FirstToSpikeDecoderParams, hw.Params):
        with pytest.raises(ValueError, match=f"FirstToSpikeDecoderParams.{field}"):
            cls(**{field: value})


P = FirstToSpikeDecoderParams(n_classes=2, t_steps=4, mem_bits=4)
GOOD = dict(first=[1], valid=[1], spikes=[[0, 1]], mem_valid=[0], membranes=[[0, 0]])


@pytest.mark.parametrize("bad,match", [
    (dict(spikes=[[0, 2]]), "spikes holds 2"),
    (dict(membranes=[[8, 0]]), "membranes holds 8"),
    (dict(membranes=[[0, -9]]), "membranes holds -9"),
    (dict(spikes=[[0, 1, 0]]), "n_classes=2"),
    (dict(mem_valid=[0, 1]), "one entry per row"),
    (dict(membranes=[[0, 0], [0, 0]]), "one entry per row"),
    (dict(first=[3]), "first holds 3"),
])
def test_bad_stimulus_raises_in_reference_and_cython(bad, match):
    for run in (ref.run, cy.run):
        with pytest.raises(ValueError, match=match):
            run(P, **(GOOD | bad))


@pytest.mark.parametrize("spikes,membranes,match", [
    (np.zeros((2, 3, 2)), np.zeros((3, 2)), "3 membrane vectors for 2 images"),
    (np.zeros((2, 3)), np.zeros((2, 2)), "must have 3 axes"),
    (np.zeros((1, 3, 2)), np.full((1, 2), -9), "membranes holds -9"),
    (np.full((1, 3, 2), 2), np.zeros((1, 2)), "spikes holds 2"),
])
def test_bad_batch_raises_in_reference_and_cython(spikes, membranes, match):
    for decode in (ref.decode_batch, cy.decode_batch):
        with pytest.raises(ValueError, match=match):
            decode(P, spikes.astype(np.int64), membranes.astype(np.int64))


def test_cython_rejects_wrong_params_object():
    with pytest.raises(ValueError, match="expects FirstToSpikeDecoderParams"):
        cy.run(object(), **GOOD)
    with pytest.raises(ValueError, match="expects FirstToSpikeDecoderParams"):
        cy.decode_batch(None, np.zeros((1, 1, 2), np.uint8), np.zeros((1, 2), np.int64))
