"""Spike FIFO: back-pressure, no loss / duplication / reordering, EOT framing, errors."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from twinspike.equivalence import spike_fifo as eq
from twinspike.equivalence.harness import assert_same
from twinspike.ext import spike_fifo as cy
from twinspike.hw import spike_fifo as hw
from twinspike.sw import spike_fifo as ref
from twinspike.sw.spike_fifo import SpikeFifoParams


def test_backpressure_scenario_by_hand_in_every_twin():
    """Depth 2: a third push is refused while full; the producer holds it (pushes 3 again)
    until a pop frees a slot; a simultaneous push and pop keeps the count; a pop while
    empty yields nothing valid."""
    p = SpikeFifoParams(depth=2, addr_bits=4)
    stim = (np.array([1, 1, 1, 1, 1, 0, 0, 0]), np.array([1, 2, 3, 3, 3, 0, 0, 0]),
            np.zeros(8, dtype=np.int64), np.array([0, 0, 0, 1, 1, 1, 1, 0]))
    expected = dict(ready=[1, 1, 0, 0, 1, 1, 1, 1], valid_out=[0, 0, 0, 0, 1, 1, 1, 0],
                    addr_out=[0, 0, 0, 0, 1, 2, 3, 0], eot_out=[0] * 8,
                    count=[0, 1, 2, 2, 1, 1, 0, 0], full=[0, 0, 1, 1, 0, 0, 0, 0],
                    empty=[1, 0, 0, 0, 0, 0, 1, 1])
    expected = {k: np.array(v) for k, v in expected.items()}
    for run in (eq.run_reference, eq.run_cython, hw.run_bench):
        assert_same(run(p, *stim), expected, run.__name__)


def _drained(stim, depth):
    """Append enough pop-only cycles to empty the FIFO and show the last popped word."""
    tail = depth + 1
    pv, addr, eot, pop = stim
    return (np.r_[pv, np.zeros(tail, np.int64)], np.r_[addr, np.zeros(tail, np.int64)],
            np.r_[eot, np.zeros(tail, np.int64)], np.r_[pop, np.ones(tail, np.int64)])


@given(st.data())
def test_popped_sequence_is_accepted_sequence(data):
    """No loss, no duplication, order kept: for any push/pop pattern (any density, depths
    1..64, address widths 1..16), once drained, the popped words are the accepted pushes."""
    p = data.draw(st.builds(SpikeFifoParams, depth=st.integers(1, 64), addr_bits=st.integers(1, 16)))
    stim = _drained(data.draw(eq.stimulus(p, max_cycles=300)), p.depth)
    for run in (ref.simulate, cy.simulate):
        out = run(p, *stim)
        assert eq.popped_words(out) == eq.accepted_pushes(*stim[:3], out)
        assert out["count"][-1] == 0


@given(st.data())
def test_status_outputs_are_consistent(data):
    p = data.draw(eq.params())
    pv, addr, eot, pop = stim = data.draw(eq.stimulus(p, max_cycles=200))
    out = cy.simulate(p, *stim)
    pushed = (pv == 1) & (out["ready"] == 1)
    popped = (pop == 1) & (out["empty"] == 0)
    np.testing.assert_array_equal(out["count"][1:], (out["count"] + pushed - popped)[:-1])
    np.testing.assert_array_equal(out["valid_out"][1:], popped[:-1])
    assert out["valid_out"][0] == 0 and out["count"][0] == 0
    np.testing.assert_array_equal(out["full"], out["count"] == p.depth)
    np.testing.assert_array_equal(out["empty"], out["count"] == 0)
    np.testing.assert_array_equal(out["ready"], 1 - out["full"])
    assert 0 <= out["count"].min() and out["count"].max() <= p.depth


@given(depth=st.integers(1, 6), timesteps=st.lists(st.sets(st.integers(0, 255), max_size=5),
                                                    max_size=6),
       consumer=st.lists(st.booleans(), min_size=1), producer=st.lists(st.booleans(), min_size=1))
def test_holding_producer_delivers_every_timestep(depth, timesteps, consumer, producer):
    """A producer that offers its next framed word when it likes and holds it until ``ready``,
    against a consumer popping when it likes: every timestep (empty ones too) arrives intact.
    The recorded open-loop stimulus then gives the same rows in the Cython twin."""
    p = SpikeFifoParams(depth=depth, addr_bits=8)
    words = ref.frame(timesteps)
    fifo = ref.SpikeFifoModel(p)
    rows, stim, popped, sent, holding, c = [], [], [], 0, False, 0
    impatient = 10 * len(words) + depth  # after this, both sides act every cycle
    while len(popped) < len(words):
        offer = sent < len(words) and (holding or producer[c % len(producer)] or c > impatient)
        addr, eot = words[sent] if offer else (0, 0)
        pop = int(consumer[c % len(consumer)] or c > impatient)
        out = fifo.outputs()
        rows.append(out)
        if out["valid_out"]:
            popped.append((out["addr_out"], out["eot_out"]))
        stim.append((int(offer), addr, eot, pop))
        accepted = fifo.clock(int(offer), addr, eot, pop)
        holding = offer and not accepted
        sent += accepted
        c += 1
    assert ref.unframe(popped) == [sorted(t) for t in timesteps]
    cols = np.array(stim, dtype=np.int64).reshape(-1, 4).T
    out = cy.simulate(p, *cols)
    for name in ref.OUTPUTS:
        assert out[name].tolist() == [r[name] for r in rows], name


def test_batch_rows_equal_single_traces():
    rng = np.random.default_rng(7)
    p = SpikeFifoParams(depth=5, addr_bits=6)
    n_batch, n = 9, 120
    stim = (rng.integers(0, 2, (n_batch, n)), rng.integers(0, 64, (n_batch, n)),
            rng.integers(0, 2, (n_batch, n)), rng.integers(0, 2, (n_batch, n)))
    batch = cy.simulate_batch(p, *stim)
    for b in range(n_batch):
        assert_same({k: v[b] for k, v in batch.items()}, ref.simulate(p, *(a[b] for a in stim)))


def test_frame_and_unframe():
    assert ref.frame([[5, 2], [], [7]]) == [(2, 0), (5, 0), (0, 1), (0, 1), (7, 0), (0, 1)]
    assert ref.unframe(ref.frame([[5, 2], [], [7]])) == [[2, 5], [], [7]]
    with pytest.raises(ValueError, match="after the last EOT"):
        ref.unframe([(1, 0)])


def test_default_bench_fills_and_drains():
    """The default case refuses pushes while full and pops while empty, so level 3 sees both."""
    p, push_valid, _, _, pop = case = eq.default_case()
    out = eq.run_reference(*case)
    assert ((push_valid == 1) & (out["full"] == 1)).any()
    assert ((pop == 1) & (out["empty"] == 1)).any()


@pytest.mark.parametrize("field,value", [("depth", 0), ("depth", ref.MAX_DEPTH + 1),
                                         ("addr_bits", 0), ("addr_bits", ref.MAX_ADDR_BITS + 1),
                                         ("depth", 4.0)])
def test_impossible_params_raise_valueerror(field, value):
    with pytest.raises(ValueError, match=f"SpikeFifoParams.{field}"):
        SpikeFifoParams(**{field: value})
    with pytest.raises(ValueError, match=f"SpikeFifoParams.{field}"):
        hw.Params(**{field: value})


@pytest.mark.parametrize("bad,match", [
    (dict(push_addr=[16, 0]), "push_addr holds 16"),
    (dict(push_valid=[2, 0]), "push_valid holds 2"),
    (dict(pop=[0, -1]), "pop holds -1"),
    (dict(push_eot=[0.5, 0]), "push_eot must hold integers"),
    (dict(pop=[0, 0, 0]), "share one shape"),
])
def test_bad_stimulus_raises_in_reference_and_cython(bad, match):
    p = SpikeFifoParams(depth=2, addr_bits=4)
    stim = dict(push_valid=[1, 0], push_addr=[3, 0], push_eot=[0, 1], pop=[0, 1]) | bad
    for run in (ref.simulate, cy.simulate):
        with pytest.raises(ValueError, match=match):
            run(p, **stim)
    with pytest.raises(ValueError, match=match):
        cy.simulate_batch(p, **{k: [v] for k, v in stim.items()})


def test_cython_rejects_wrong_params_and_shapes():
    with pytest.raises(ValueError, match="SpikeFifoParams"):
        cy.simulate({"depth": 4}, [1], [0], [0], [0])
    with pytest.raises(ValueError, match="1-D"):
        cy.simulate(SpikeFifoParams(), [[1]], [[0]], [[0]], [[0]])
    with pytest.raises(ValueError, match="batch, cycles"):
        cy.simulate_batch(SpikeFifoParams(), [1], [0], [0], [0])
