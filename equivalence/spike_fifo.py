"""Twin harness for the spike FIFO: per-cycle outputs of reference, Cython and MyHDL agree.

A case is ``(params, push_valid, push_addr, push_eot, pop)``, one entry per cycle. Random
cases draw the push and pop densities first, so traces range from always-empty to
always-full and include long runs of refused pushes and empty pops.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from twinspike.ext import spike_fifo as cy
from twinspike.sw import spike_fifo as ref
from twinspike.sw.spike_fifo import SpikeFifoParams


def params(max_addr_bits: int = 16) -> st.SearchStrategy[SpikeFifoParams]:
    """Mostly shallow FIFOs (they fill within a bench), sometimes deeper ones (wider pointers)."""
    depth = st.one_of(st.integers(1, 8), st.integers(9, 70))
    return st.builds(SpikeFifoParams, depth=depth, addr_bits=st.integers(1, max_addr_bits))


@st.composite
def stimulus(draw, p: SpikeFifoParams, max_cycles: int = 40):
    """Per-cycle push/pop requests at a drawn density each (0 = never, 1 = every cycle)."""
    n = draw(st.integers(1, max_cycles))
    push_density = draw(st.sampled_from([0.0, 0.2, 0.5, 0.8, 1.0]))
    pop_density = draw(st.sampled_from([0.0, 0.2, 0.5, 0.8, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return ((rng.random(n) < push_density).astype(np.int64),
            rng.integers(0, 1 << p.addr_bits, n, dtype=np.int64),
            rng.integers(0, 2, n, dtype=np.int64),
            (rng.random(n) < pop_density).astype(np.int64))


@st.composite
def cases(draw, max_addr_bits: int = 16, max_cycles: int = 40):
    p = draw(params(max_addr_bits))
    return (p, *draw(stimulus(p, max_cycles)))


def _ones(n):
    return np.ones(n, dtype=np.int64)


def _zeros(n):
    return np.zeros(n, dtype=np.int64)


def default_case():
    """Default parameters (1024 deep): push past full (4 pushes refused), then push and pop
    together (refused push while full, then both accepted), then drain past empty (empty pops).
    EOT bits are random (~10 %): the FIFO stores them verbatim."""
    p = SpikeFifoParams()
    d, rng = p.depth, np.random.default_rng(2024)
    push_valid = np.r_[_ones(d + 4), _ones(4), _zeros(d + 4)]       # fill, overfill, idle
    pop = np.r_[_zeros(d + 4), _ones(4), _ones(d + 4)]              # push+pop while full, drain
    n = len(pop)
    return (p, push_valid, rng.integers(0, 1 << p.addr_bits, n, dtype=np.int64),
            (rng.random(n) < 0.1).astype(np.int64), pop)


def corner_cases():
    full_then_drain = np.r_[_ones(6), _zeros(6)]
    return [
        # depth 1 alternates full and empty: every other push refused, every other pop empty
        (SpikeFifoParams(depth=1, addr_bits=1), _ones(8), np.array([1, 0] * 4), _zeros(8), _ones(8)),
        # widest address, non-power-of-two depth filled past full then drained past empty
        (SpikeFifoParams(depth=3, addr_bits=ref.MAX_ADDR_BITS), full_then_drain,
         np.full(12, (1 << ref.MAX_ADDR_BITS) - 1), np.r_[_zeros(11), 1], 1 - full_then_drain),
        # pops only: nothing valid ever comes out
        (SpikeFifoParams(depth=4, addr_bits=4), _zeros(5), _ones(5), _ones(5), _ones(5)),
    ]


def run_reference(p, push_valid, push_addr, push_eot, pop):
    return ref.simulate(p, push_valid, push_addr, push_eot, pop)


def run_cython(p, push_valid, push_addr, push_eot, pop):
    return cy.simulate(p, push_valid, push_addr, push_eot, pop)


def accepted_pushes(push_valid, push_addr, push_eot, outputs) -> list[tuple[int, int]]:
    """The words the FIFO took in, in order: pushes made while ``ready`` was high."""
    taken = (np.asarray(push_valid) == 1) & (outputs["ready"] == 1)
    return list(zip(np.asarray(push_addr)[taken].tolist(), np.asarray(push_eot)[taken].tolist()))


def popped_words(outputs) -> list[tuple[int, int]]:
    """The words the FIFO gave out, in order: ``(addr_out, eot_out)`` wherever ``valid_out``."""
    valid = outputs["valid_out"] == 1
    return list(zip(outputs["addr_out"][valid].tolist(), outputs["eot_out"][valid].tolist()))
