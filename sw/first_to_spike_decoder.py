"""First-to-spike decoder: the class is the lowest-index output spiking at the first timestep
with any output spike; an early-exit strobe lets the sequencer stop the image there.

Semantics (``docs/semantics.md``, "Counts"):

* Decision by spike: at the first timestep ``t`` (0-based, ``t < t_steps``) whose spike vector
  has any spike, the class is the lowest index spiking at ``t`` and the decision timestep is
  ``t``. Timesteps from ``t_steps`` on are ignored (the image is over).
* **Fallback**: if nothing spikes, the class is ``argmax`` of the final membranes (signed,
  ``mem_bits`` wide), ties to the lowest index, the ``fallback`` flag is set, and the decision
  timestep is the number of timesteps seen (``t_steps`` for a full image).

Cycle model (one row per clock cycle; inputs ``first``, ``valid``, ``spikes[n_classes]``,
``mem_valid``, ``membranes[n_classes]``). The state is ``decided, decision, decision_step,
fallback`` and ``seen`` (timesteps seen, never beyond ``t_steps``):

* ``first`` begins a new image with this cycle: the cycle sees ``seen = 0`` and no decision.
  Otherwise it sees the state as it stands. ``open = first or not decided``.
* ``early_exit`` (combinational, during the cycle) ``= valid and open and seen < t_steps and
  any(spikes)``: the decision is known this very cycle.
* At the clock edge, with ``after = seen + 1`` if ``valid and seen < t_steps`` else ``seen``:
  if ``early_exit``: decide (lowest spiking index, step ``seen``, no fallback); elif
  ``mem_valid and open``: decide by fallback (membrane argmax, step ``after``, flag set); elif
  ``first``: clear the decision (all 0). Then ``seen = after``. A decided image ignores further
  timesteps and membranes until the next ``first``. Reset clears everything.
* Row ``c``: ``early_exit`` during cycle ``c``; ``decided, decision, decision_step, fallback``
  after its edge.

Batch form (the data-set evaluators): one image is its timesteps (all valid, the first with
``first``) followed by one cycle presenting its final membranes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .common import check_array_range, check_range, signed_max, signed_min

MAX_CLASSES = 1024
MAX_STEPS = 65535
MIN_MEM_BITS, MAX_MEM_BITS = 2, 24
#: Names of the per-cycle outputs, in the order the bench prints them.
OUTPUTS = ("early_exit", "decided", "decision", "decision_step", "fallback")


@dataclass(frozen=True)
class FirstToSpikeDecoderParams:
    """``n_classes`` outputs (2..1024), images of up to ``t_steps`` timesteps (1..65535),
    fallback membranes ``mem_bits`` wide, signed (2..24)."""

    n_classes: int = 10
    t_steps: int = 8
    mem_bits: int = 16

    def __post_init__(self) -> None:
        owner = "FirstToSpikeDecoderParams"
        check_range(owner, "n_classes", self.n_classes, 2, MAX_CLASSES)
        check_range(owner, "t_steps", self.t_steps, 1, MAX_STEPS)
        check_range(owner, "mem_bits", self.mem_bits, MIN_MEM_BITS, MAX_MEM_BITS)

    @property
    def index_bits(self) -> int:
        """Width of ``decision`` (holds 0..n_classes-1)."""
        return (self.n_classes - 1).bit_length()

    @property
    def step_bits(self) -> int:
        """Width of ``decision_step`` (holds 0..t_steps)."""
        return self.t_steps.bit_length()


def _check_params(p) -> None:
    if not isinstance(p, FirstToSpikeDecoderParams):
        raise ValueError(f"first_to_spike_decoder expects FirstToSpikeDecoderParams, "
                         f"got {type(p).__name__}")


def _check_vectors(p, field: str, values, lo: int, hi: int, ndim: int) -> np.ndarray:
    arr = check_array_range("first_to_spike_decoder", field, values, lo, hi)
    if arr.ndim != ndim or arr.shape[-1] != p.n_classes:
        raise ValueError(f"first_to_spike_decoder.{field} must have {ndim} axes, the last of "
                         f"n_classes={p.n_classes}, got shape {arr.shape}")
    return arr


def check_membranes(p: FirstToSpikeDecoderParams, membranes, ndim: int) -> np.ndarray:
    return _check_vectors(p, "membranes", membranes, signed_min(p.mem_bits),
                          signed_max(p.mem_bits), ndim)


def check_stimulus(p: FirstToSpikeDecoderParams, first, valid, spikes, mem_valid, membranes):
    """Validate the per-cycle stimulus: flags ``(C,)`` of 0/1, ``spikes (C, n_classes)`` of
    0/1, signed ``membranes (C, n_classes)``; returns int64 arrays. Shared with the Cython twin."""
    _check_params(p)
    spikes = _check_vectors(p, "spikes", spikes, 0, 1, 2)
    membranes = check_membranes(p, membranes, 2)
    flags = [check_array_range("first_to_spike_decoder", name, values, 0, 1)
             for name, values in (("first", first), ("valid", valid), ("mem_valid", mem_valid))]
    if any(f.shape != (len(spikes),) for f in flags) or len(membranes) != len(spikes):
        raise ValueError(f"first_to_spike_decoder: first, valid, mem_valid and membranes must "
                         f"have one entry per row of spikes ({len(spikes)})")
    return flags[0], flags[1], spikes, flags[2], membranes


def check_batch(p: FirstToSpikeDecoderParams, spikes, membranes):
    """Validate ``spikes (B, T, n_classes)`` of 0/1 and ``membranes (B, n_classes)``."""
    _check_params(p)
    spikes = _check_vectors(p, "spikes", spikes, 0, 1, 3)
    membranes = check_membranes(p, membranes, 2)
    if len(membranes) != len(spikes):
        raise ValueError(f"first_to_spike_decoder: {len(membranes)} membrane vectors for "
                         f"{len(spikes)} images")
    return spikes, membranes


def run(p: FirstToSpikeDecoderParams, first, valid, spikes, mem_valid, membranes):
    """Per-cycle stimulus from reset; returns each output of ``OUTPUTS`` per cycle."""
    first, valid, spikes, mem_valid, membranes = check_stimulus(
        p, first, valid, spikes, mem_valid, membranes)
    decided = decision = step = fallback = seen = 0
    rows = []
    for c in range(len(spikes)):
        is_open = bool(first[c]) or not decided
        if first[c]:
            seen = 0
        takes_step = bool(valid[c]) and seen < p.t_steps
        early = takes_step and is_open and bool(spikes[c].any())
        after = seen + 1 if takes_step else seen
        if early:
            decided, decision, step, fallback = 1, int(np.argmax(spikes[c])), seen, 0
        elif mem_valid[c] and is_open:
            decided, decision, step, fallback = 1, int(np.argmax(membranes[c])), after, 1
        elif first[c]:
            decided = decision = step = fallback = 0
        seen = after
        rows.append((int(early), decided, decision, step, fallback))
    table = np.array(rows, dtype=np.int64).reshape(len(rows), len(OUTPUTS))
    return {name: table[:, k] for k, name in enumerate(OUTPUTS)}


def decode_batch(p: FirstToSpikeDecoderParams, spikes, membranes):
    """Images ``spikes (B, T, n_classes)`` with final ``membranes (B, n_classes)``; returns
    ``decision``, ``decision_step`` and ``fallback``, each ``(B,)``. An early exit is
    ``fallback == 0`` (then ``decision_step < min(T, t_steps)``)."""
    spikes, membranes = check_batch(p, spikes, membranes)
    n_batch, n_steps = spikes.shape[:2]
    decision = np.zeros(n_batch, dtype=np.int64)
    step = np.zeros(n_batch, dtype=np.int64)
    fallback = np.zeros(n_batch, dtype=np.int64)
    for b in range(n_batch):
        spiking = np.flatnonzero(spikes[b, :p.t_steps].any(axis=1))
        if spiking.size:
            step[b] = spiking[0]
            decision[b] = np.argmax(spikes[b, step[b]])
        else:
            step[b] = min(n_steps, p.t_steps)
            decision[b] = np.argmax(membranes[b])
            fallback[b] = 1
    return dict(decision=decision, decision_step=step, fallback=fallback)
