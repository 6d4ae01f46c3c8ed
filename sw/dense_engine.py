"""Dense event engine: one dense projection ``n_in -> n_out`` of IF neurons, event driven.

Semantics (shared by all three twins; per-neuron arithmetic as ``sw/if_pe_array.py`` and
``docs/semantics.md``):

* A layer (:class:`DenseLayer`) holds ``weights[n_in, n_out]`` (signed ``weight_bits``),
  ``bias[n_out]`` (signed ``membrane_bits``) and the per-layer scalars ``v0``, ``theta``,
  ``leak_shift``. Membranes start at ``v0``.
* Timestep ``t`` receives the source addresses ``events[t]`` (strictly ascending, each in
  ``0..n_in-1``), each with an unsigned value ``x`` (``values[t]``, ``1..2**value_bits - 1``;
  with ``value_bits = 1``, the default, every event is a spike of value 1). Each event ``j``
  does ``v[i] = sat_m(v[i] + weights[j, i] * x)`` for ``i = 0..n_out-1`` (the product is exact,
  one saturation per add: a direct-encoded pixel is one event, not ``x`` spikes); then the fire
  phase does, for every neuron in ascending address order, leak, ``sat_m(v + bias[i])``,
  ``v >= theta`` -> spike and ``v -= theta``.
* Outputs: ``spikes[T, n_out]`` (0/1; the output events of timestep ``t`` are the addresses
  of row ``t`` in ascending order), the final ``membranes[n_out]`` and ``cycles``.

Hardware (``hw/dense_engine.py``), which fixes the cycle count. The ``n_out`` neurons are
held ``lanes`` per word in ``words = ceil(n_out / lanes)`` membrane-RAM words (neuron
``k*lanes + i`` is lane ``i`` of word ``k``; lanes past ``n_out`` are padding, never enabled
and never reported). The engine runs a command stream, one command accepted per ``words``
cycles, through a two-stage pipeline (issue: RAM addresses; execute: registered RAM data
through ``lanes`` ``if_lane`` datapaths and write-back), one word per cycle, no stalls:

* ``INIT``: every membrane word := ``v0``;
* ``EVENT j x``: accumulate weight row ``j`` times ``x`` into every word (``value_bits > 1``
  puts one ``weight_bits x value_bits`` multiplier in front of each lane's adder; with
  ``value_bits = 1`` there is none and ``x`` is 1);
* ``FIRE``: fire every word, emitting its spike mask (one word of ``lanes`` bits per cycle);
* ``READ``: emit every membrane word (the final membranes).

The program of a run is ``INIT``, then per timestep its events and one ``FIRE``, then
``READ``; so with ``E`` events in all over ``T`` timesteps::

    cycles = words * (E + T + 2) + PIPELINE_LATENCY        (PIPELINE_LATENCY = 2)

counted from the clock edge that accepts ``INIT`` to the edge after which the engine is idle
(one edge to accept the first command, one to drain the execute stage). Loading the weight
and bias memories through their write ports happens before and is not counted.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .common import check_array_range, check_range, signed_max, signed_min
from .if_pe_array import IfPeParams, accumulate, check_layer_values, fire

#: Cycles a command stream spends beyond one cycle per word (command register + RAM read).
PIPELINE_LATENCY = 2
MAX_NEURONS = 1 << 16
#: Widest event value (the network model's widest input pixel).
MAX_VALUE_BITS = 8
#: xc7z020 block RAM: 140 BRAM36 of 36 Kbit; the three memories must fit in it.
DEVICE_RAM_BITS = 140 * 36 * 1024


@dataclass(frozen=True)
class DenseEngineParams:
    """Hardware parameters: layer sizes ``n_in``, ``n_out``, ``lanes`` (P), the weight and
    membrane widths and ``value_bits``, the width of an event's unsigned value (1: spikes)."""

    n_in: int = 64
    n_out: int = 32
    lanes: int = 8
    weight_bits: int = 8
    membrane_bits: int = 16
    value_bits: int = 1

    def __post_init__(self) -> None:
        check_range("DenseEngineParams", "n_in", self.n_in, 1, MAX_NEURONS)
        check_range("DenseEngineParams", "n_out", self.n_out, 1, MAX_NEURONS)
        check_range("DenseEngineParams", "value_bits", self.value_bits, 1, MAX_VALUE_BITS)
        try:
            IfPeParams(self.lanes, self.weight_bits, self.membrane_bits)
        except ValueError as exc:
            raise ValueError(str(exc).replace("IfPeParams", "DenseEngineParams")) from None
        if self.ram_bits > DEVICE_RAM_BITS:
            raise ValueError(f"DenseEngineParams n_in={self.n_in}, n_out={self.n_out}, "
                             f"lanes={self.lanes}: memories need {self.ram_bits} bits, more "
                             f"than the xc7z020's {DEVICE_RAM_BITS}")

    @property
    def pe(self) -> IfPeParams:
        return IfPeParams(self.lanes, self.weight_bits, self.membrane_bits)

    @property
    def max_value(self) -> int:
        """Largest event value: ``2**value_bits - 1`` (1 for spikes)."""
        return (1 << self.value_bits) - 1

    @property
    def words(self) -> int:
        """Membrane (and bias) words: ``ceil(n_out / lanes)``."""
        return -(-self.n_out // self.lanes)

    @property
    def word_bits(self) -> int:
        """Bits of a word index (0 when there is a single word)."""
        return (self.words - 1).bit_length()

    @property
    def row_stride(self) -> int:
        """Weight-RAM words per source row: ``words`` rounded up to a power of two, so the
        address of word ``k`` of row ``j`` is the concatenation ``j . k``."""
        return 1 << self.word_bits

    @property
    def ram_bits(self) -> int:
        weights = self.n_in * self.row_stride * self.lanes * self.weight_bits
        return weights + 2 * self.words * self.lanes * self.membrane_bits


@dataclass(frozen=True)
class DenseLayer:
    """One layer's data: ``weights[n_in, n_out]``, ``bias[n_out]``, ``v0``, ``theta``,
    ``leak_shift``; build it with :func:`make_layer` (validated)."""

    weights: np.ndarray
    bias: np.ndarray
    v0: int
    theta: int
    leak_shift: int


def make_layer(p: DenseEngineParams, weights, bias, v0: int, theta: int,
               leak_shift: int = 0) -> DenseLayer:
    m, w = p.membrane_bits, p.weight_bits
    weights = check_array_range("DenseLayer", "weights", weights, signed_min(w), signed_max(w))
    if weights.shape != (p.n_in, p.n_out):
        raise ValueError(f"DenseLayer.weights has shape {weights.shape}: expected "
                         f"{(p.n_in, p.n_out)} (n_in, n_out)")
    bias = check_array_range("DenseLayer", "bias", bias, signed_min(m), signed_max(m))
    if bias.shape != (p.n_out,):
        raise ValueError(f"DenseLayer.bias has shape {bias.shape}: expected {(p.n_out,)}")
    check_range("DenseLayer", "v0", v0, signed_min(m), signed_max(m))
    check_layer_values("DenseLayer", m, theta=theta, leak_shift=leak_shift)
    return DenseLayer(weights, bias, int(v0), int(theta), int(leak_shift))


def check_run(p: DenseEngineParams, layer: DenseLayer, events, values=None
              ) -> tuple[tuple[tuple[int, ...], ...], tuple[tuple[int, ...], ...]]:
    """Validate a run's arguments (the entry check of every twin); returns ``(events,
    values)`` as tuples of tuples of ints (``values`` None: every event has value 1)."""
    if not isinstance(p, DenseEngineParams):
        raise ValueError(f"run expects DenseEngineParams, got {type(p).__name__}")
    if not isinstance(layer, DenseLayer):
        raise ValueError(f"run expects a DenseLayer, got {type(layer).__name__}")
    layer = make_layer(p, layer.weights, layer.bias, layer.v0, layer.theta, layer.leak_shift)
    checked = []
    for t, step in enumerate(events):
        addrs = check_array_range(f"events[{t}]", "address",
                                  np.asarray(step).reshape(-1), 0, p.n_in - 1)
        if np.any(np.diff(addrs) <= 0):
            raise ValueError(f"events[{t}]={list(addrs)} must be strictly ascending")
        checked.append(tuple(int(a) for a in addrs))
    if values is None:
        return tuple(checked), tuple((1,) * len(step) for step in checked)
    if len(values) != len(checked):
        raise ValueError(f"values has {len(values)} timesteps: expected {len(checked)} "
                         "(one list per timestep of events)")
    checked_values = []
    for t, (step, xs) in enumerate(zip(checked, values)):
        xs = check_array_range(f"values[{t}]", "value", np.asarray(xs).reshape(-1), 1,
                               p.max_value)
        if len(xs) != len(step):
            raise ValueError(f"values[{t}] has {len(xs)} values for {len(step)} events")
        checked_values.append(tuple(int(x) for x in xs))
    return tuple(checked), tuple(checked_values)


def cycle_count(p: DenseEngineParams, events) -> int:
    """The documented formula: ``words * (E + T + 2) + PIPELINE_LATENCY``."""
    n_events = sum(len(step) for step in events)
    return p.words * (n_events + len(events) + 2) + PIPELINE_LATENCY


def run(p: DenseEngineParams, layer: DenseLayer, events, values=None) -> dict:
    """Run ``len(events)`` timesteps (event values ``values``, default all 1). Returns
    ``{"spikes": int64[T, n_out], "membranes": int64[n_out], "cycles": int}``."""
    events, values = check_run(p, layer, events, values)
    m = p.membrane_bits
    v = [layer.v0] * p.n_out
    spikes = np.zeros((len(events), p.n_out), dtype=np.int64)
    for t, (step, xs) in enumerate(zip(events, values)):
        for j, x in zip(step, xs):
            for i in range(p.n_out):
                v[i] = accumulate(v[i], int(layer.weights[j, i]) * x, m)
        for i in range(p.n_out):
            v[i], spikes[t, i] = fire(v[i], int(layer.bias[i]), layer.theta, layer.leak_shift, m)
    return {"spikes": spikes, "membranes": np.array(v, dtype=np.int64),
            "cycles": cycle_count(p, events)}


def output_events(spikes: np.ndarray) -> list[list[int]]:
    """The output address events per timestep (ascending), from a ``spikes[T, n_out]`` array."""
    return [[int(i) for i in np.flatnonzero(row)] for row in spikes]
