"""Twin harness for the GLM neuron unit: reference, Cython and MyHDL give the same per-timestep
membranes, LUT probabilities and output spikes, and the same decisions and decision steps.

A case is ``(params, weights (n_out, n_in, K), biases (n_out,), spikes (runs, T, n_in))``;
the outputs are one record per run (see ``sw.glm_neuron.infer``)."""
from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import strategies as st

from twinspike.ext import glm_neuron as cy
from twinspike.sw import glm_neuron as ref
from twinspike.sw.common import signed_max, signed_min
from twinspike.sw.glm_neuron import GlmNeuronParams


@st.composite
def params(draw, max_in: int = 6, max_out: int = 4, max_steps: int = 8) -> GlmNeuronParams:
    """Small units with random widths and random ROM contents (any table is legal)."""
    n_kernels, tau = draw(st.integers(1, 4)), draw(st.integers(1, 6))
    kernel_bits = draw(st.integers(1, 8))
    membrane_bits = draw(st.integers(4, 14))
    lut_in_bits, lfsr_width = draw(st.integers(1, 6)), draw(st.integers(3, 20))
    lut_out_bits = draw(st.integers(1, min(8, lfsr_width)))
    rom = lambda n, bits: tuple(draw(st.lists(st.integers(0, (1 << bits) - 1),  # noqa: E731
                                              min_size=n, max_size=n)))
    return GlmNeuronParams(
        n_in=draw(st.integers(1, max_in)), n_out=draw(st.integers(1, max_out)),
        n_kernels=n_kernels, tau=tau, kernel_bits=kernel_bits,
        kernel_frac_bits=draw(st.integers(0, kernel_bits)), membrane_bits=membrane_bits,
        bias_bits=draw(st.integers(2, membrane_bits)), lut_in_bits=lut_in_bits,
        lut_shift=draw(st.integers(0, membrane_bits - 1)), lut_out_bits=lut_out_bits,
        lfsr_width=lfsr_width, seed=draw(st.integers(0, 0xFFFFFFFF)),
        max_steps=draw(st.integers(max_steps, 2 * max_steps)),
        kernel_table=rom(n_kernels * tau, kernel_bits), sigmoid_lut=rom(1 << lut_in_bits, lut_out_bits))


@st.composite
def data(draw, p: GlmNeuronParams, max_runs: int = 2, max_steps: int = 8):
    """Binary weights, biases (boundaries included) and spike histories of any density."""
    n_w = p.n_out * p.n_in * p.n_kernels
    weights = np.array(draw(st.lists(st.sampled_from((-1, 1)), min_size=n_w, max_size=n_w)),
                       dtype=np.int64).reshape(p.n_out, p.n_in, p.n_kernels)
    lo, hi = signed_min(p.bias_bits), signed_max(p.bias_bits)
    biases = np.array(draw(st.lists(st.one_of(st.sampled_from((lo, hi, 0)), st.integers(lo, hi)),
                                    min_size=p.n_out, max_size=p.n_out)), dtype=np.int64)
    runs, steps = draw(st.integers(1, max_runs)), draw(st.integers(1, max_steps))
    density = draw(st.sampled_from((0.0, 0.3, 0.7, 1.0)))
    seed = draw(st.integers(0, 2**32 - 1))
    spikes = (np.random.default_rng(seed).random((runs, steps, p.n_in)) < density).astype(np.uint8)
    return weights, biases, spikes


@st.composite
def _case(draw):
    p = draw(params())
    return (p, *draw(data(p)))


def cases():
    return _case()


def default_case():
    p = GlmNeuronParams(n_in=6, n_out=3, n_kernels=2, tau=3, membrane_bits=12, bias_bits=10,
                        lut_in_bits=6, lut_shift=4, max_steps=15, seed=11)
    rng = np.random.default_rng(5)
    weights = rng.choice((-1, 1), size=(p.n_out, p.n_in, p.n_kernels))
    spikes = (rng.random((2, 6, p.n_in)) < 0.4).astype(np.uint8)
    return p, weights, np.array([-150, -140, -160]), spikes


def corner_cases():
    """Saturation both ways, silent outputs (fallback with membrane ties), certain spikes."""
    p = GlmNeuronParams(n_in=4, n_out=3, n_kernels=2, tau=4, kernel_bits=8, kernel_frac_bits=7,
                        membrane_bits=6, bias_bits=6, lut_in_bits=3, lut_shift=2, max_steps=8,
                        lfsr_width=8, lut_out_bits=4)
    ones = np.ones((p.n_out, p.n_in, p.n_kernels), dtype=np.int64)
    full = np.ones((1, 6, p.n_in), dtype=np.uint8)
    never = dataclasses.replace(p, sigmoid_lut=(0,) * 8)
    always = dataclasses.replace(p, sigmoid_lut=(15,) * 8)
    lo, hi = signed_min(6), signed_max(6)
    return [(never, ones, np.array([hi, hi, lo]), full),                 # saturates high, ties
            (never, -ones, np.array([lo, lo + 1, hi]), full),            # saturates low
            (never, ones, np.array([0, 0, 0]), np.zeros((2, 5, 4), np.uint8)),  # silent, ties
            (always, ones, np.array([lo, 0, hi]), full)]                 # spikes at t = 1


def run_reference(p, weights, biases, spikes):
    return ref.infer_batch(p, weights, biases, spikes)


def run_cython(p, weights, biases, spikes):
    return cy.infer_batch(p, weights, biases, spikes)
