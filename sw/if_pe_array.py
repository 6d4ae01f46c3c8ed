"""IF PE array: ``lanes`` integrate-and-fire processing elements, one membrane each.

Semantics (shared by all three twins; the per-neuron arithmetic is ``docs/semantics.md``):

* Widths: weights are signed ``weight_bits`` (2..8), membranes signed ``membrane_bits``
  (8..24), with ``membrane_bits > weight_bits``. ``theta`` is ``1..2**(m-1)-1``, ``bias`` and
  ``v0`` fit ``m`` bits signed, ``leak_shift`` is ``0..m-1`` (0 = no leak). These are runtime
  inputs (configuration registers, bias memory), not hardware parameters.
* After reset every membrane is 0. Each clock cycle applies one operation to all lanes:

  - ``OP_HOLD`` (0): membranes unchanged.
  - ``OP_LOAD`` (1): lane ``i`` loads ``v = bias[i]`` (the bias input carries ``v0``).
  - ``OP_ACC`` (2): lane ``i`` with ``enable[i]`` set does ``v = sat_m(v + weight[i])``
    (:func:`accumulate`); lanes with ``enable[i]`` clear hold.
  - ``OP_FIRE`` (3): every lane does :func:`fire` with its own ``bias[i]`` and the shared
    ``theta`` and ``leak_shift``: leak ``v -= v >> k`` (if ``k > 0``), ``v = sat_m(v + bias)``,
    then if ``v >= theta`` spike and ``v -= theta``.

* Outputs, observed after each cycle's clock edge: every lane's membrane and a spike bit per
  lane that is 1 only after a fire cycle in which that lane spiked.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .common import check_array_range, check_range, saturate, signed_max, signed_min

OP_HOLD, OP_LOAD, OP_ACC, OP_FIRE = 0, 1, 2, 3
OP_NAMES = ("hold", "load", "acc", "fire")
MIN_WEIGHT_BITS, MAX_WEIGHT_BITS = 2, 8
MIN_MEMBRANE_BITS, MAX_MEMBRANE_BITS = 8, 24
MAX_LANES = 256
#: Width of the hardware ``leak_shift`` input (holds 0..MAX_MEMBRANE_BITS-1).
LEAK_SHIFT_BITS = 5


@dataclass(frozen=True)
class IfPeParams:
    """Hardware parameters: number of ``lanes`` and the weight and membrane widths."""

    lanes: int = 8
    weight_bits: int = 8
    membrane_bits: int = 16

    def __post_init__(self) -> None:
        check_range("IfPeParams", "lanes", self.lanes, 1, MAX_LANES)
        check_range("IfPeParams", "weight_bits", self.weight_bits, MIN_WEIGHT_BITS, MAX_WEIGHT_BITS)
        check_range("IfPeParams", "membrane_bits", self.membrane_bits, MIN_MEMBRANE_BITS,
                    MAX_MEMBRANE_BITS)
        if self.membrane_bits <= self.weight_bits:
            raise ValueError(f"IfPeParams.membrane_bits={self.membrane_bits} must exceed "
                             f"weight_bits={self.weight_bits}")


def check_layer_values(owner: str, m: int, *, theta=None, leak_shift=None) -> None:
    """Validate the runtime per-layer scalars of an ``m``-bit membrane."""
    if theta is not None:
        check_range(owner, "theta", theta, 1, signed_max(m))
    if leak_shift is not None:
        check_range(owner, "leak_shift", leak_shift, 0, m - 1)


def accumulate(v: int, w: int, m: int) -> int:
    """One synaptic operation: ``sat_m(v + w)``."""
    return saturate(v + w, m)


def leak(v: int, leak_shift: int) -> int:
    """``v - (v >> k)`` (arithmetic shift) for ``k > 0``; identity for ``k == 0``."""
    return v - (v >> leak_shift) if leak_shift > 0 else v


def fire(v: int, bias: int, theta: int, leak_shift: int, m: int) -> tuple[int, int]:
    """Fire step: leak, saturating bias, compare ``>= theta``, reset by subtraction.
    Returns ``(v_new, spike)``."""
    x = saturate(leak(v, leak_shift) + bias, m)
    return (x - theta, 1) if x >= theta else (x, 0)


@dataclass(frozen=True)
class IfPeOps:
    """A per-cycle operation sequence for an ``IfPeParams`` array (``n`` cycles).

    ``code[n]`` (OP_*), ``enable[n, lanes]`` (0/1), ``weight[n, lanes]``, ``bias[n, lanes]``
    (also the ``v0`` of a load), ``theta[n]``, ``leak_shift[n]``. Every field is a port value and
    must fit its port on every cycle, whatever the operation.
    """

    code: np.ndarray
    enable: np.ndarray
    weight: np.ndarray
    bias: np.ndarray
    theta: np.ndarray
    leak_shift: np.ndarray

    @property
    def n(self) -> int:
        return len(self.code)


def make_ops(p: IfPeParams, code, enable, weight, bias, theta, leak_shift) -> IfPeOps:
    """Validate and build an :class:`IfPeOps` (``ValueError`` naming the bad field)."""
    m, w = p.membrane_bits, p.weight_bits
    code = check_array_range("IfPeOps", "code", np.asarray(code).reshape(-1), OP_HOLD, OP_FIRE)
    n = len(code)
    fields = {}
    for name, values, lo, hi in (("enable", enable, 0, 1),
                                 ("weight", weight, signed_min(w), signed_max(w)),
                                 ("bias", bias, signed_min(m), signed_max(m))):
        arr = check_array_range("IfPeOps", name, values, lo, hi)
        if arr.shape != (n, p.lanes):
            raise ValueError(f"IfPeOps.{name} has shape {arr.shape}: expected {(n, p.lanes)}")
        fields[name] = arr
    for name, values, lo, hi in (("theta", theta, 1, signed_max(m)),
                                 ("leak_shift", leak_shift, 0, m - 1)):
        arr = check_array_range("IfPeOps", name, values, lo, hi)
        if arr.shape != (n,):
            raise ValueError(f"IfPeOps.{name} has shape {arr.shape}: expected {(n,)}")
        fields[name] = arr
    return IfPeOps(code=code, **fields)


def check_ops(p: IfPeParams, ops: IfPeOps) -> IfPeOps:
    """Validate ``ops`` against ``p`` (the entry check of every twin's ``run``)."""
    if not isinstance(p, IfPeParams):
        raise ValueError(f"run expects IfPeParams, got {type(p).__name__}")
    if not isinstance(ops, IfPeOps):
        raise ValueError(f"run expects IfPeOps, got {type(ops).__name__}")
    return make_ops(p, ops.code, ops.enable, ops.weight, ops.bias, ops.theta, ops.leak_shift)


def run(p: IfPeParams, ops: IfPeOps) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``ops`` from reset. Returns ``(membranes[n, lanes], spikes[n, lanes])`` as int64,
    row ``t`` being the state after cycle ``t``."""
    ops = check_ops(p, ops)
    m = p.membrane_bits
    v = [0] * p.lanes
    membranes = np.zeros((ops.n, p.lanes), dtype=np.int64)
    spikes = np.zeros((ops.n, p.lanes), dtype=np.int64)
    for t in range(ops.n):
        code = ops.code[t]
        for i in range(p.lanes):
            if code == OP_LOAD:
                v[i] = int(ops.bias[t, i])
            elif code == OP_ACC and ops.enable[t, i]:
                v[i] = accumulate(v[i], int(ops.weight[t, i]), m)
            elif code == OP_FIRE:
                v[i], spikes[t, i] = fire(v[i], int(ops.bias[t, i]), int(ops.theta[t]),
                                          int(ops.leak_shift[t]), m)
        membranes[t] = v
    return membranes, spikes
