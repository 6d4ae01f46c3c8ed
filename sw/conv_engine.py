"""Conv2d event engine: spike events into a population of IF neurons through conv2d projections.

Semantics (shared by all three twins; the neuron arithmetic is ``sw/if_pe_array.py`` and the
conv2d rule is ``docs/semantics.md``, "Projections / conv2d"):

* Geometry (:class:`ConvEngineParams`): ``c_in`` x ``h_in`` x ``w_in`` source events, kernel
  ``k``, stride ``s``, zero padding ``p`` (``0..k-1``), ``c_out`` output channels of
  ``h_out = (h_in + 2p - k) // s + 1`` by ``w_out`` (likewise; both must be >= 1). Addresses are
  canonical: source ``c*h_in*w_in + y*w_in + x``, target ``c*h_out*w_out + y*w_out + x``.
  Weights are ``W[c_out, c_in, k, k]`` in signed ``weight_bits``; membranes signed
  ``membrane_bits``.
* Events carry an unsigned value ``x`` of ``value_bits`` (default 1: spikes, ``x = 1``): a
  projection's input is an array of event values ``[T, c_in, h_in, w_in]``, 0 meaning no
  event. With ``value_bits > 1`` (direct-encoded pixels) every lane multiplies its weight by
  ``x`` before its adder; the add is ``v = sat_m(v + w * x)``, one saturation of the exact sum.
* Address generation (:func:`axis_taps`): source event ``(ci, yi, xi)`` touches output
  ``(co, yo, xo)`` with tap ``(ky, kx)`` iff ``yo*s + ky - p == yi`` and ``xo*s + kx - p == xi``.
  Along one axis the touched outputs are ``o_first .. o_first + count - 1`` (ascending) with
  taps ``k_first, k_first - s, ...``; the event touches ``count_y * count_x`` positions and at
  each every output channel: one SOP (``v = sat_m(v + w * x)``) per (position, channel).
* One timestep (:func:`run`): for each projection in declared order, for each source event in
  ascending source address, for each touched target in ascending target address, accumulate;
  then the fire phase of every neuron (leak, bias, compare with ``theta``, reset by
  subtraction) emits the output events in ascending target address. Membranes start at ``v0``.
  Several projections into one population (a residual shortcut) each have their own geometry
  but the same ``c_out``, ``h_out``, ``w_out`` and ``membrane_bits``.
* Sum-pooling is a conv with kernel = stride, no padding and the all-ones diagonal kernel of
  :func:`sum_pool_weights`; a 1x1 shortcut conv becomes a conv of the engine's geometry with
  :func:`shortcut_weights` (its tap ``(p, p)``), so it can run as a second weight bank.

Hardware mapping (``hw/conv_engine.py``): output channels are spread over ``lanes`` P lanes, so
each output position holds ``words = ceil(c_out / P)`` membrane words (membrane RAM address
``pos * words + word``, ``pos = yo * w_out + xo``); weight RAM address
``(((bank * c_in + ci) * k + ky) * k + kx) * words + word`` (:func:`weight_image`), bias RAM
address ``word`` (:func:`bias_image`); channel ``co`` is lane ``co % P`` of word ``co // P``.
``projections`` weight banks let the hardware run several same-geometry projections (a main
conv and its shortcut) as successive passes before one fire phase.

Cycle count of the hardware engine (:func:`cycles`), from the clock edge that accepts the clear
command to the edge that completes the last fire step, with inputs always presented as soon as
the engine is ready: one issue slot per membrane word for the clear (``positions * words``),
``max(1, count_y * count_x * words)`` for each event (an event touching nothing still takes its
acceptance cycle), ``c_out * positions`` per fire phase (one emission slot per neuron, in
canonical order; the P lanes fire a word at once in the slot of its first lane), plus one cycle
of pipeline latency::

    cycles = positions * words + 1
             + sum over timesteps (c_out * positions
                                   + sum over events e of max(1, count_y(e) * count_x(e) * words))
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .common import check_array_range, check_range, check_signed_fits, signed_max, signed_min
from .if_pe_array import (MAX_LANES, MAX_MEMBRANE_BITS, MAX_WEIGHT_BITS, MIN_MEMBRANE_BITS,
                          MIN_WEIGHT_BITS, accumulate, check_layer_values, fire)

MAX_CHANNELS = 4096
MAX_SIZE = 1024
MAX_KERNEL = 32
MAX_STRIDE = 32
MAX_PROJECTIONS = 16
#: Widest event value (the network model's widest input pixel).
MAX_VALUE_BITS = 8


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a conv/pool along one axis, ``(size + 2*padding - kernel) // stride + 1``
    (``<= 0`` when the kernel does not fit): the one statement of this formula."""
    return (size + 2 * padding - kernel) // stride + 1


@dataclass(frozen=True)
class ConvEngineParams:
    """Geometry, lanes and widths of a conv engine (see the module docstring)."""

    c_in: int = 2
    h_in: int = 6
    w_in: int = 6
    c_out: int = 8
    kernel: int = 3
    stride: int = 1
    padding: int = 1
    lanes: int = 4
    weight_bits: int = 8
    membrane_bits: int = 16
    projections: int = 1
    value_bits: int = 1

    def __post_init__(self) -> None:
        owner = "ConvEngineParams"
        for name, hi in (("c_in", MAX_CHANNELS), ("h_in", MAX_SIZE), ("w_in", MAX_SIZE),
                         ("c_out", MAX_CHANNELS), ("kernel", MAX_KERNEL), ("stride", MAX_STRIDE),
                         ("lanes", MAX_LANES), ("projections", MAX_PROJECTIONS)):
            check_range(owner, name, getattr(self, name), 1, hi)
        check_range(owner, "padding", self.padding, 0, self.kernel - 1)
        check_range(owner, "weight_bits", self.weight_bits, MIN_WEIGHT_BITS, MAX_WEIGHT_BITS)
        check_range(owner, "membrane_bits", self.membrane_bits, MIN_MEMBRANE_BITS,
                    MAX_MEMBRANE_BITS)
        check_range(owner, "value_bits", self.value_bits, 1, MAX_VALUE_BITS)
        if self.membrane_bits <= self.weight_bits:
            raise ValueError(f"{owner}.membrane_bits={self.membrane_bits} must exceed "
                             f"weight_bits={self.weight_bits}")
        for axis, size, out in (("h", self.h_in, self.h_out), ("w", self.w_in, self.w_out)):
            if out < 1:
                raise ValueError(f"{owner}: {axis}_out = ({axis}_in={size} + 2*padding="
                                 f"{2 * self.padding} - kernel={self.kernel}) // stride="
                                 f"{self.stride} + 1 = {out} must be >= 1")

    @property
    def h_out(self) -> int:
        return conv_output_size(self.h_in, self.kernel, self.stride, self.padding)

    @property
    def w_out(self) -> int:
        return conv_output_size(self.w_in, self.kernel, self.stride, self.padding)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.c_in, self.h_in, self.w_in)

    @property
    def output_shape(self) -> tuple[int, int, int]:
        return (self.c_out, self.h_out, self.w_out)

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        return (self.c_out, self.c_in, self.kernel, self.kernel)

    @property
    def max_value(self) -> int:
        """Largest event value: ``2**value_bits - 1`` (1 for spikes)."""
        return (1 << self.value_bits) - 1

    @property
    def positions(self) -> int:
        return self.h_out * self.w_out

    @property
    def words(self) -> int:
        """Membrane words per output position: ``ceil(c_out / lanes)``."""
        return -(-self.c_out // self.lanes)

    @property
    def last_lanes(self) -> int:
        """Lanes in use in the last word of a position (``1..lanes``)."""
        return self.c_out - (self.words - 1) * self.lanes

    @property
    def membrane_depth(self) -> int:
        return self.positions * self.words

    @property
    def weight_depth(self) -> int:
        return self.projections * self.c_in * self.kernel * self.kernel * self.words


@dataclass(frozen=True)
class FireConfig:
    """Runtime values of the population: per-channel ``bias[c_out]``, ``theta``,
    ``leak_shift`` (0 = none) and the initial membrane ``v0``."""

    bias: np.ndarray
    theta: int
    leak_shift: int = 0
    v0: int = 0


@dataclass(frozen=True)
class ConvProjection:
    """One conv2d projection: ``weights[c_out, c_in, k, k]`` and the source's event values
    ``spikes[T, c_in, h_in, w_in]`` (``0..2**value_bits - 1``, 0: no event; 0/1 spikes by
    default) of geometry ``params``."""

    params: ConvEngineParams
    weights: np.ndarray
    spikes: np.ndarray


@dataclass(frozen=True)
class ConvResult:
    """``spikes[T, c_out, h_out, w_out]`` (uint8), final membranes ``v[c_out, h_out, w_out]``
    (int64) and the number of synaptic operations performed."""

    spikes: np.ndarray
    v: np.ndarray
    sops: int


def axis_taps(i: int, size_out: int, kernel: int, stride: int, padding: int
              ) -> tuple[int, int, int]:
    """Outputs ``o`` and taps ``t`` with ``o*stride + t - padding == i`` along one axis:
    ``(o_first, k_first, count)``, visited as ``o = o_first + j``, ``t = k_first - j*stride``
    for ``j < count`` (ascending output). ``count == 0``: the source touches nothing."""
    o_first = max(0, -((kernel - 1 - i - padding) // stride))  # ceil((i + p - k + 1) / s)
    o_last = min(size_out - 1, (i + padding) // stride)
    count = max(0, o_last - o_first + 1)
    return (o_first, i + padding - stride * o_first, count) if count else (0, 0, 0)


def touched(p: ConvEngineParams, yi: int, xi: int) -> list[tuple[int, int, int, int]]:
    """``(yo, xo, ky, kx)`` of every output position a source at ``(yi, xi)`` touches, in
    ascending output address."""
    yo0, ky0, ny = axis_taps(yi, p.h_out, p.kernel, p.stride, p.padding)
    xo0, kx0, nx = axis_taps(xi, p.w_out, p.kernel, p.stride, p.padding)
    return [(yo0 + a, xo0 + b, ky0 - a * p.stride, kx0 - b * p.stride)
            for a in range(ny) for b in range(nx)]


def check_projection(proj: ConvProjection) -> ConvProjection:
    """Validate one projection; returns it with int64 arrays."""
    if not isinstance(proj, ConvProjection):
        raise ValueError(f"expected a ConvProjection, got {type(proj).__name__}")
    p = proj.params
    if not isinstance(p, ConvEngineParams):
        raise ValueError(f"ConvProjection.params must be ConvEngineParams, got "
                         f"{type(p).__name__}")
    w = check_array_range("ConvProjection", "weights", proj.weights, signed_min(p.weight_bits),
                          signed_max(p.weight_bits))
    if w.shape != p.weight_shape:
        raise ValueError(f"ConvProjection.weights has shape {w.shape}: expected {p.weight_shape}")
    s = check_array_range("ConvProjection", "spikes", proj.spikes, 0, p.max_value)
    if s.ndim != 4 or s.shape[1:] != p.input_shape:
        raise ValueError(f"ConvProjection.spikes has shape {s.shape}: expected "
                         f"(T, {p.c_in}, {p.h_in}, {p.w_in})")
    return ConvProjection(p, w, s)


def check_run(projections: Sequence[ConvProjection], config: FireConfig
              ) -> tuple[list[ConvProjection], FireConfig]:
    """Validate a population's projections (same output shape, membrane width and T) and its
    :class:`FireConfig`; the entry check of every twin's ``run``."""
    if not isinstance(projections, (list, tuple)) or not projections:
        raise ValueError("run expects a non-empty list of ConvProjection")
    projs = [check_projection(q) for q in projections]
    first = projs[0].params
    for i, q in enumerate(projs[1:], 1):
        for name in ("output_shape", "membrane_bits"):
            if getattr(q.params, name) != getattr(first, name):
                raise ValueError(f"projection {i}: {name}={getattr(q.params, name)} differs from "
                                 f"projection 0's {getattr(first, name)}")
        if len(q.spikes) != len(projs[0].spikes):
            raise ValueError(f"projection {i}: {len(q.spikes)} timesteps, projection 0 has "
                             f"{len(projs[0].spikes)}")
    if not isinstance(config, FireConfig):
        raise ValueError(f"run expects a FireConfig, got {type(config).__name__}")
    m = first.membrane_bits
    bias = check_array_range("FireConfig", "bias", config.bias, signed_min(m), signed_max(m))
    if bias.shape != (first.c_out,):
        raise ValueError(f"FireConfig.bias has shape {bias.shape}: expected ({first.c_out},)")
    check_layer_values("FireConfig", m, theta=config.theta, leak_shift=config.leak_shift)
    check_signed_fits("FireConfig", "v0", config.v0, m)
    return projs, FireConfig(bias, int(config.theta), int(config.leak_shift), int(config.v0))


def run(projections: Sequence[ConvProjection], config: FireConfig) -> ConvResult:
    """Run the population for ``T`` timesteps (the module docstring's semantics)."""
    projs, config = check_run(projections, config)
    first = projs[0].params
    m, (c_out, h_out, w_out) = first.membrane_bits, first.output_shape
    n_steps = len(projs[0].spikes)
    v = np.full((c_out, h_out, w_out), config.v0, dtype=np.int64)
    out = np.zeros((n_steps, c_out, h_out, w_out), dtype=np.uint8)
    sops = 0
    for t in range(n_steps):
        for proj in projs:
            for ci, yi, xi in zip(*np.nonzero(proj.spikes[t])):  # ascending source address
                x = int(proj.spikes[t, ci, yi, xi])
                for yo, xo, ky, kx in touched(proj.params, yi, xi):
                    for co in range(c_out):
                        v[co, yo, xo] = accumulate(int(v[co, yo, xo]),
                                                   int(proj.weights[co, ci, ky, kx]) * x, m)
                        sops += 1
        for co in range(c_out):
            for yo in range(h_out):
                for xo in range(w_out):
                    v[co, yo, xo], out[t, co, yo, xo] = fire(
                        int(v[co, yo, xo]), int(config.bias[co]), config.theta,
                        config.leak_shift, m)
    return ConvResult(out, v, sops)


def engine_projections(p: ConvEngineParams, weights, spikes) -> list[ConvProjection]:
    """The engine's view: ``p.projections`` same-geometry projections,
    ``weights[projections, c_out, c_in, k, k]`` and ``spikes[projections, T, c_in, h, w]``."""
    if not isinstance(p, ConvEngineParams):
        raise ValueError(f"expected ConvEngineParams, got {type(p).__name__}")
    weights, spikes = np.asarray(weights), np.asarray(spikes)
    if weights.ndim != 5 or len(weights) != p.projections:
        raise ValueError(f"weights has shape {weights.shape}: expected "
                         f"({p.projections}, {', '.join(map(str, p.weight_shape))})")
    if spikes.ndim != 5 or len(spikes) != p.projections:
        raise ValueError(f"spikes has shape {spikes.shape}: expected "
                         f"({p.projections}, T, {p.c_in}, {p.h_in}, {p.w_in})")
    return [ConvProjection(p, w, s) for w, s in zip(weights, spikes)]


def run_engine(p: ConvEngineParams, weights, spikes, config: FireConfig) -> ConvResult:
    """:func:`run` over :func:`engine_projections` (what the hardware engine computes)."""
    return run(engine_projections(p, weights, spikes), config)


def events(spikes: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per timestep, the canonical addresses of the spikes, ascending."""
    return tuple(np.flatnonzero(s) for s in spikes)


def event_visits(p: ConvEngineParams, yi: int, xi: int) -> int:
    """Membrane words the hardware visits for one source event at ``(yi, xi)``."""
    ny = axis_taps(yi, p.h_out, p.kernel, p.stride, p.padding)[2]
    nx = axis_taps(xi, p.w_out, p.kernel, p.stride, p.padding)[2]
    return ny * nx * p.words


def cycles(p: ConvEngineParams, spikes) -> int:
    """The module docstring's cycle formula for ``spikes[projections, T, c_in, h, w]``."""
    spikes = np.asarray(spikes)
    total = p.membrane_depth + 1
    for t in range(spikes.shape[1]):
        total += p.c_out * p.positions
        for bank in range(spikes.shape[0]):
            for _, yi, xi in zip(*np.nonzero(spikes[bank, t])):
                total += max(1, event_visits(p, yi, xi))
    return total


def weight_image(p: ConvEngineParams, weights) -> np.ndarray:
    """Weight RAM contents ``[weight_depth, lanes]`` for ``weights[projections, c_out, c_in,
    k, k]`` (lanes past ``c_out`` hold 0)."""
    w = np.asarray(weights, dtype=np.int64)
    padded = np.zeros((p.projections, p.words * p.lanes, p.c_in, p.kernel, p.kernel), np.int64)
    padded[:, :p.c_out] = w
    # [bank, word, lane, ci, ky, kx] -> [bank, ci, ky, kx, word, lane]
    split = padded.reshape(p.projections, p.words, p.lanes, p.c_in, p.kernel, p.kernel)
    return split.transpose(0, 3, 4, 5, 1, 2).reshape(p.weight_depth, p.lanes)


def bias_image(p: ConvEngineParams, bias) -> np.ndarray:
    """Bias RAM contents ``[words, lanes]`` (lanes past ``c_out`` hold 0)."""
    padded = np.zeros(p.words * p.lanes, dtype=np.int64)
    padded[:p.c_out] = bias
    return padded.reshape(p.words, p.lanes)


def sum_pool_params(channels: int, height: int, width: int, kernel: int,
                    **widths) -> ConvEngineParams:
    """Engine geometry of a ``kernel`` x ``kernel`` sum-pool (stride = kernel, no padding);
    ``widths`` are the optional ``lanes``, ``weight_bits``, ``membrane_bits``."""
    return ConvEngineParams(c_in=channels, h_in=height, w_in=width, c_out=channels,
                            kernel=kernel, stride=kernel, padding=0, **widths)


def sum_pool_weights(channels: int, kernel: int) -> np.ndarray:
    """Sum-pool as a full conv: ``W[c, c, :, :] = 1``, every other weight 0."""
    w = np.zeros((channels, channels, kernel, kernel), dtype=np.int64)
    w[np.arange(channels), np.arange(channels)] = 1
    return w


def shortcut_weights(w_1x1, kernel: int, padding: int) -> np.ndarray:
    """A 1x1 conv ``w_1x1[c_out, c_in]`` (stride s, no padding) as a ``kernel`` x ``kernel``
    conv with the same stride and ``padding``: its weights sit at tap ``(padding, padding)``.
    Same outputs wherever the two geometries give the same output size (e.g. k=3, p=1)."""
    w_1x1 = np.asarray(w_1x1, dtype=np.int64)
    check_range("shortcut_weights", "padding", padding, 0, kernel - 1)
    w = np.zeros((*w_1x1.shape, kernel, kernel), dtype=np.int64)
    w[:, :, padding, padding] = w_1x1
    return w
