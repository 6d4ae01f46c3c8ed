"""Whole-network reference evaluator: runs a :class:`twinspike.sw.network_model.Network` event by event.

Semantics (``docs/semantics.md``; this module is its readable statement):

* Each image starts afresh: every membrane at its population's ``v0``, rate LFSRs at their
  seeds. Timesteps ``t = 0..T-1``; within a timestep the populations run in order, and a
  projection sees its source's events **of the same timestep**.
* Input events: *direct* -- every non-zero pixel ``x`` is an event of value ``x`` each
  timestep; *rate* -- pixel ``i`` is an event of value 1 at timestep ``t`` iff
  ``lfsr_i(t) >> (W - input_bits) < x_i`` (``sw/rate_encoder.py``: ``W = lfsr_width``, base
  seed ``seed``, one LFSR lane per pixel in address order). Population spikes are events of
  value 1.
* Accumulate: for each projection in declared order, for each source event in ascending source
  address, every target the event touches gets ``v = sat_m(v + w * value)`` -- one synaptic
  operation (SOP) each. Pool and identity weights are 1. An event touches a target at most once,
  so the order of targets within one event does not change the result.
* Fire: per neuron leak, saturating bias, ``v >= theta`` spikes and subtracts ``theta``
  (``sw/if_pe_array.fire``).
* Decoding: spike counts of the output population; prediction = argmax, ties to the lowest index.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .common import check_array_range, check_range, saturate_array
from .if_pe_array import fire
from .network_model import INPUT, ArrayEq, Network, Projection, as_chw
from .rate_encoder import RateEncoderParams, encode

MAX_TIMESTEPS = 1 << 16


@dataclass(frozen=True, eq=False)
class Result(ArrayEq):
    """What an evaluator returns for a batch of ``B`` images over ``T`` timesteps.

    ``spikes`` uint8 ``[B, T, n_out]`` (output spikes per timestep), ``counts`` int64
    ``[B, n_out]``, ``predictions`` int64 ``[B]``, ``membranes`` int64 ``[B, n_out]`` (output
    membranes after the last timestep), ``sops`` int64 ``[B]`` (synaptic operations per image),
    ``population_spikes`` int64 ``[B, n_populations]`` (total spikes of each population).
    """

    spikes: np.ndarray
    counts: np.ndarray
    predictions: np.ndarray
    membranes: np.ndarray
    sops: np.ndarray
    population_spikes: np.ndarray


def check_call(net: Network, shape: tuple, T: int) -> None:
    """Validate the network, ``T`` and the shape ``(B, *input_shape)`` of a batch."""
    if not isinstance(net, Network):
        raise ValueError(f"run expects a Network, got {type(net).__name__}")
    check_range("run", "T", T, 1, MAX_TIMESTEPS)
    if tuple(shape[1:]) != net.input_shape:
        raise ValueError(f"run.images has shape {tuple(shape)}: expected (B, "
                         f"{', '.join(map(str, net.input_shape))})")


def check_inputs(net: Network, images, T: int) -> np.ndarray:
    """Validate a batch against ``net``; returns it flattened to ``[B, n_inputs]`` uint8."""
    arr = np.asarray(images)
    check_call(net, arr.shape, T)
    arr = check_array_range("run", "images", arr, 0, (1 << net.input_bits) - 1)
    return np.ascontiguousarray(arr.reshape(len(arr), net.n_inputs), dtype=np.uint8)


def rate_encoder_params(net: Network) -> RateEncoderParams:
    """The rate encoder of a ``rate`` network's input (one LFSR lane per pixel)."""
    return RateEncoderParams(n_inputs=net.n_inputs, in_bits=net.input_bits,
                             lfsr_width=net.lfsr_width, seed=net.seed)


def argmax_lowest(counts: np.ndarray) -> np.ndarray:
    """Row-wise argmax with ties to the lowest index (``np.argmax`` already does this)."""
    return np.argmax(counts, axis=-1).astype(np.int64)


def touched(proj: Projection, src: tuple, dst: tuple, address: int):
    """The targets one source event at ``address`` touches: ``(target addresses, weights)``."""
    if proj.kind == "dense":
        return np.arange(proj.weight.shape[0]), proj.weight[:, address]
    if proj.kind == "identity":
        return np.array([address]), np.array([1])
    c_in, h_in, w_in = as_chw(src)
    c_out, h_out, w_out = as_chw(dst)
    ci, yi, xi = address // (h_in * w_in), address // w_in % h_in, address % w_in
    k, s, p = proj.kernel, proj.stride, proj.padding
    targets, weights = [], []
    for ky in range(k):
        for kx in range(k):
            ny, nx = yi + p - ky, xi + p - kx     # == yo * s and xo * s for a touched output
            if ny < 0 or nx < 0 or ny % s or nx % s or ny // s >= h_out or nx // s >= w_out:
                continue
            yo, xo = ny // s, nx // s
            if proj.kind == "pool":              # all-ones kernel within channel ci
                targets.append([ci * h_out * w_out + yo * w_out + xo])
                weights.append([1])
            else:
                targets.append(np.arange(c_out) * h_out * w_out + yo * w_out + xo)
                weights.append(proj.weight[:, ci, ky, kx])
    if not targets:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(targets), np.concatenate(weights)


def run_image(net: Network, pixels: np.ndarray, T: int, input_spikes: np.ndarray | None):
    """One image (flat pixels; ``input_spikes[T, n_inputs]`` if rate-encoded). Returns
    ``(spikes[T, n_out], membranes[n_out], sops, population_spikes[n_populations])``."""
    m = net.membrane_bits
    shapes = {INPUT: net.input_shape, **{pop.name: pop.shape for pop in net.populations}}
    v = {pop.name: np.full(pop.size, pop.v0, dtype=np.int64) for pop in net.populations}
    out_spikes = np.zeros((T, net.n_outputs), dtype=np.uint8)
    pop_spikes = np.zeros(len(net.populations), dtype=np.int64)
    sops = 0
    pixels = pixels.astype(np.int64)
    for t in range(T):
        if net.encoding == "direct":
            events = {INPUT: [(a, int(pixels[a])) for a in np.flatnonzero(pixels)]}
        else:
            events = {INPUT: [(a, 1) for a in np.flatnonzero(input_spikes[t])]}
        for index, pop in enumerate(net.populations):
            vm = v[pop.name]
            for proj in pop.projections:
                for address, value in events[proj.source]:
                    targets, weights = touched(proj, shapes[proj.source], pop.shape, address)
                    vm[targets] = saturate_array(vm[targets] + weights * value, m)
                    sops += len(targets)
            spiked = np.zeros(pop.size, dtype=np.uint8)
            for i in range(pop.size):
                vm[i], spiked[i] = fire(int(vm[i]), int(pop.bias[i]), pop.theta, pop.leak_shift, m)
            events[pop.name] = [(a, 1) for a in np.flatnonzero(spiked)]
            pop_spikes[index] += len(events[pop.name])
        out_spikes[t] = spiked
    return out_spikes, v[net.output.name], sops, pop_spikes


def run(net: Network, images, T: int) -> Result:
    """Evaluate a batch ``images[B, *input_shape]`` (unsigned ``input_bits``) for ``T`` steps."""
    pixels = check_inputs(net, images, T)
    if net.encoding == "rate":
        trains = encode(rate_encoder_params(net), pixels, T)
        per_image = [run_image(net, x, T, train) for x, train in zip(pixels, trains)]
    else:
        per_image = [run_image(net, x, T, None) for x in pixels]
    B, n_out, n_pops = len(pixels), net.n_outputs, len(net.populations)
    spikes = np.array([r[0] for r in per_image], dtype=np.uint8).reshape(B, T, n_out)
    counts = spikes.sum(axis=1, dtype=np.int64)
    return Result(spikes=spikes, counts=counts, predictions=argmax_lowest(counts),
                  membranes=np.array([r[1] for r in per_image], dtype=np.int64).reshape(B, n_out),
                  sops=np.array([r[2] for r in per_image], dtype=np.int64),
                  population_spikes=np.array([r[3] for r in per_image],
                                             dtype=np.int64).reshape(B, n_pops))
