"""GLM neuron unit: a layer of probabilistic GLM neurons with binary synapses and a
first-to-spike decoder (SpinAPS; Babu, Simeone, Rajendran 2020).

Semantics (shared by all three twins), for one inference of ``T`` timesteps:

* Inputs: ``n_in`` spike trains ``s_j(t)`` in {0, 1} for input timesteps ``t = 0..T-1`` (e.g.
  the rate encoder's output); ``s_j(t) = 0`` for ``t < 0``.
* Kernels: ``n_kernels`` (``K``) basis kernels over a window of ``tau`` steps, an unsigned
  fixed-point table ``a[k][d-1]`` (``kernel_bits`` wide, value ``a / 2**kernel_frac_bits``),
  ``d = 1..tau``. The default table is Pillow et al.'s raised-cosine basis
  (:func:`raised_cosine`) rounded to ``kernel_frac_bits``.
* Synapses: binary weights ``w[i, j, k]`` in {-1, +1}; per-neuron integer bias ``b[i]``
  (signed ``bias_bits``). Both are runtime data (memories), not hardware parameters.
* Output timestep ``t = 1..T``:

  1. traces ``trace[j, k] = sum_{d=1..tau} a[k][d-1] * s_j(t - d)`` (the last ``tau`` input
     frames, the newest being ``s_j(t-1)``);
  2. membrane ``u[i] = b[i]``, then for ``j`` ascending, ``k`` ascending:
     ``u[i] = sat_m(u[i] + w[i, j, k] * trace[j, k])`` (``m = membrane_bits``, saturating);
  3. sigmoid LUT: ``q[i] = sigmoid_lut[clamp(u[i] >> lut_shift, -2**(L-1), 2**(L-1)-1) + 2**(L-1)]``
     (``L = lut_in_bits``, arithmetic shift), an unsigned ``lut_out_bits`` (``P``) probability;
  4. sampler: ``o[i](t) = 1`` iff ``lfsr_i(t-1) >> (W - P) < q[i]``, with the LFSR bank of
     ``sw/lfsr.py`` (``width = lfsr_width = W``, ``lanes = n_out``, base ``seed``; lane ``i``
     for output ``i``; ``lfsr_i(n)`` is the lane after ``n`` steps). So ``P(spike) ~ q / 2**P``:
     the hardware compares random bits with ``sigmoid(u)``; it never evaluates a logit;
  5. first-to-spike decoder with early exit: if any ``o[i](t) = 1``, the decision is the lowest
     such ``i``, the decision step is ``t`` and the inference stops (no further timesteps). If
     nothing spikes by ``t = T``, the decision is the argmax of ``u(T)`` (ties to the lowest
     index), the step is ``T`` and the ``fallback`` flag is set.

* Per inference: the input history and the sampler LFSR restart (lane seeds) every inference.
* The default sigmoid table (:func:`sigmoid_table`) is ``min(2**P - 1,
  floor(2**P * sigmoid(g * c(i)) + 1/2))`` for LUT index ``i - 2**(L-1) = n``, with ``c`` the mean
  membrane of bin ``n`` (``n * 2**lut_shift + (2**lut_shift - 1) / 2``) and ``g`` the real value
  of one membrane LSB (``2**-kernel_frac_bits`` by default; a trained network passes its own
  table). Any table of ``2**L`` entries in ``0..2**P - 1`` is legal.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from . import lfsr
from .common import check_array_range, check_range, saturate, signed_max, signed_min
from .lfsr import MASK32, MAX_WIDTH, MIN_WIDTH, LfsrParams

MAX_INPUTS = 1024
#: Weight words hold one bit per output; benches pass them as VHDL integers (< 2**31).
MAX_OUTPUTS = 30
MAX_KERNELS = 4
#: The hardware looks traces up in a ROM of ``K * 2**tau`` words (one per input history).
MAX_TAU = 8
MAX_KERNEL_BITS = 12
MIN_MEMBRANE_BITS, MAX_MEMBRANE_BITS = 4, 24
MAX_LUT_IN_BITS = 10
MAX_LUT_OUT_BITS = 16
MAX_STEPS = 1 << 12


def raised_cosine(n_kernels: int, tau: int) -> np.ndarray:
    """Raised-cosine basis ``(n_kernels, tau)`` over delays ``d = 1..tau`` (Pillow et al. 2008):
    ``a_k(d) = (1 + cos(clamp((x(d) - c_k) * pi / (2 * spacing), -pi, pi))) / 2`` with the
    log-stretched time ``x(d) = log(d)``, centres ``c_k = x(1) + k * spacing`` and
    ``spacing = (x(tau) - x(1)) / (K - 1)`` (``x(tau) - x(1)`` for one kernel, 1 if ``tau = 1``).
    Kernel 0 peaks at the newest input; later kernels reach further back."""
    x = np.log(np.arange(1, tau + 1, dtype=np.float64))
    span = x[-1] - x[0]
    spacing = (span / (n_kernels - 1) if n_kernels > 1 else span) or 1.0
    centres = x[0] + spacing * np.arange(n_kernels)
    phase = np.clip((x[np.newaxis, :] - centres[:, np.newaxis]) * math.pi / (2 * spacing),
                    -math.pi, math.pi)
    return (1 + np.cos(phase)) / 2


def kernel_table(n_kernels: int, tau: int, frac_bits: int, bits: int) -> tuple[int, ...]:
    """The raised-cosine basis in fixed point: ``floor(a * 2**frac_bits + 1/2)`` clamped to
    ``bits`` unsigned; flat, index ``k * tau + (d - 1)``."""
    scaled = np.floor(raised_cosine(n_kernels, tau) * (1 << frac_bits) + 0.5)
    return tuple(int(v) for v in np.clip(scaled, 0, (1 << bits) - 1).ravel())


def sigmoid_table(lut_in_bits: int, lut_shift: int, lut_out_bits: int,
                  lsb_gain: float) -> tuple[int, ...]:
    """Sigmoid LUT: entry ``n + 2**(L-1)`` is ``min(2**P - 1, floor(2**P * sigmoid(lsb_gain *
    (n * 2**s + (2**s - 1) / 2)) + 1/2))`` for ``n = -2**(L-1) .. 2**(L-1) - 1``."""
    half, step = 1 << (lut_in_bits - 1), 1 << lut_shift
    n = np.arange(-half, half, dtype=np.float64)
    arg = lsb_gain * (n * step + (step - 1) / 2)
    q = np.floor((1 << lut_out_bits) / (1 + np.exp(-arg)) + 0.5)
    return tuple(int(v) for v in np.clip(q, 0, (1 << lut_out_bits) - 1))


@dataclass(frozen=True)
class GlmNeuronParams:
    """Sizes, widths, ROM contents and the sampler seed of a GLM neuron unit (the defaults:
    the digits network of ``twinspike glm``, 64 inputs -> 10 outputs, K = 4, tau = 8).

    ``kernel_table`` (``K * tau`` entries) and ``sigmoid_lut`` (``2**lut_in_bits`` entries) are
    ROM tuples; ``None`` selects the documented defaults. ``max_steps`` bounds the runtime ``T``.
    """

    n_in: int = 64
    n_out: int = 10
    n_kernels: int = 4
    tau: int = 8
    kernel_bits: int = 7
    kernel_frac_bits: int = 6
    membrane_bits: int = 16
    bias_bits: int = 16
    lut_in_bits: int = 8
    lut_shift: int = 2
    lut_out_bits: int = 8
    lfsr_width: int = 16
    seed: int = 7
    max_steps: int = 255
    kernel_table: tuple[int, ...] | None = field(default=None, repr=False)
    sigmoid_lut: tuple[int, ...] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        owner = "GlmNeuronParams"
        check_range(owner, "n_in", self.n_in, 1, MAX_INPUTS)
        check_range(owner, "n_out", self.n_out, 1, MAX_OUTPUTS)
        check_range(owner, "n_kernels", self.n_kernels, 1, MAX_KERNELS)
        check_range(owner, "tau", self.tau, 1, MAX_TAU)
        check_range(owner, "kernel_bits", self.kernel_bits, 1, MAX_KERNEL_BITS)
        check_range(owner, "kernel_frac_bits", self.kernel_frac_bits, 0, self.kernel_bits)
        check_range(owner, "membrane_bits", self.membrane_bits, MIN_MEMBRANE_BITS,
                    MAX_MEMBRANE_BITS)
        check_range(owner, "bias_bits", self.bias_bits, 2, self.membrane_bits)
        check_range(owner, "lfsr_width", self.lfsr_width, MIN_WIDTH, MAX_WIDTH)
        check_range(owner, "lut_in_bits", self.lut_in_bits, 1, MAX_LUT_IN_BITS)
        check_range(owner, "lut_shift", self.lut_shift, 0, self.membrane_bits - 1)
        check_range(owner, "lut_out_bits", self.lut_out_bits, 1,
                    min(MAX_LUT_OUT_BITS, self.lfsr_width))
        check_range(owner, "seed", self.seed, 0, MASK32)
        check_range(owner, "max_steps", self.max_steps, 1, MAX_STEPS)
        if self.kernel_table is None:
            object.__setattr__(self, "kernel_table", kernel_table(
                self.n_kernels, self.tau, self.kernel_frac_bits, self.kernel_bits))
        if self.sigmoid_lut is None:
            object.__setattr__(self, "sigmoid_lut", sigmoid_table(
                self.lut_in_bits, self.lut_shift, self.lut_out_bits,
                2.0 ** -self.kernel_frac_bits))
        self._check_rom("kernel_table", self.kernel_table, self.n_kernels * self.tau,
                        (1 << self.kernel_bits) - 1)
        self._check_rom("sigmoid_lut", self.sigmoid_lut, 1 << self.lut_in_bits,
                        (1 << self.lut_out_bits) - 1)

    def _check_rom(self, field: str, rom, length: int, hi: int) -> None:
        if not isinstance(rom, tuple) or len(rom) != length:
            size = len(rom) if isinstance(rom, tuple) else type(rom).__name__
            raise ValueError(f"GlmNeuronParams.{field} must be a tuple of {length} integers, "
                             f"got {size}")
        check_array_range("GlmNeuronParams", field, np.asarray(rom), 0, hi)

    @cached_property
    def sampler(self) -> LfsrParams:
        """The sampler's LFSR bank: one lane per output neuron."""
        return LfsrParams(width=self.lfsr_width, lanes=self.n_out, seed=self.seed)

    @property
    def kernels(self) -> np.ndarray:
        """The kernel table as ``(n_kernels, tau)`` int64."""
        return np.asarray(self.kernel_table, dtype=np.int64).reshape(self.n_kernels, self.tau)

    @cached_property
    def trace_rom(self) -> tuple[int, ...]:
        """Trace of every possible input history: entry ``k * 2**tau + h`` is
        ``sum_d a[k][d-1] * bit(h, d-1)`` (bit ``d-1`` of ``h`` is ``s(t-d)``)."""
        bits = (np.arange(1 << self.tau)[:, np.newaxis] >> np.arange(self.tau)) & 1
        return tuple(int(v) for v in (self.kernels @ bits.T).ravel())

    @property
    def max_trace(self) -> int:
        return max(self.trace_rom)

    @property
    def level_shift(self) -> int:
        """Right shift that leaves a sampler lane's top ``lut_out_bits`` bits."""
        return self.lfsr_width - self.lut_out_bits


def lut_index(p: GlmNeuronParams, u: int) -> int:
    """Sigmoid LUT address of membrane ``u``: ``clamp(u >> lut_shift) + 2**(L-1)``."""
    half = 1 << (p.lut_in_bits - 1)
    return min(max(u >> p.lut_shift, -half), half - 1) + half


def check_params(p, owner: str = "infer") -> GlmNeuronParams:
    if not isinstance(p, GlmNeuronParams):
        raise ValueError(f"{owner} expects GlmNeuronParams, got {type(p).__name__}")
    return p


def check_weights(p: GlmNeuronParams, weights, owner: str = "infer") -> np.ndarray:
    """Binary weights ``(n_out, n_in, n_kernels)`` in {-1, +1}; returns int64."""
    check_params(p, owner)
    w = np.asarray(weights)
    shape = (p.n_out, p.n_in, p.n_kernels)
    if w.shape != shape:
        raise ValueError(f"{owner}.weights must have shape {shape}, got {w.shape}")
    w = check_array_range(owner, "weights", w, -1, 1)
    if (w == 0).any():
        raise ValueError(f"{owner}.weights holds 0, out of range: expected -1 or +1")
    return w


def check_biases(p: GlmNeuronParams, biases, owner: str = "infer") -> np.ndarray:
    b = np.asarray(biases)
    if b.shape != (p.n_out,):
        raise ValueError(f"{owner}.biases must have shape ({p.n_out},), got {b.shape}")
    return check_array_range(owner, "biases", b, signed_min(p.bias_bits), signed_max(p.bias_bits))


def check_spikes(p: GlmNeuronParams, spikes, owner: str = "infer") -> np.ndarray:
    """Input spike trains ``(..., T, n_in)`` of 0/1 with ``1 <= T <= max_steps``; returns them
    as an integer array."""
    check_params(p, owner)
    s = np.asarray(spikes)
    if s.ndim < 2 or s.shape[-1] != p.n_in:
        raise ValueError(f"{owner}.spikes must have shape (..., T, {p.n_in}), got {s.shape}")
    check_range(owner, "T", s.shape[-2], 1, p.max_steps)
    if s.dtype == np.uint8 and (not s.size or s.max() <= 1):
        return s                                    # the encoder's trains: no copy needed
    return check_array_range(owner, "spikes", s, 0, 1)


def infer(p: GlmNeuronParams, weights, biases, spikes) -> dict:
    """One inference over ``spikes`` ``(T, n_in)``. Returns the per-timestep record up to the
    decision (``membranes``, ``probs``, ``spikes``: ``(steps, n_out)``) and ``decision``,
    ``step`` (1-based decision timestep) and ``fallback`` (1 if nothing spiked by ``T``)."""
    w = check_weights(p, weights)
    b = check_biases(p, biases)
    s = check_spikes(p, spikes)
    if s.ndim != 2:
        raise ValueError(f"infer.spikes must have shape (T, {p.n_in}), got {s.shape}")
    n_steps = s.shape[0]
    m, a = p.membrane_bits, p.kernels
    levels = lfsr.sequence(p.sampler, n_steps).astype(np.int64) >> p.level_shift
    history = [0] * p.n_in                      # bit d-1 of history[j] is s_j(t - d)
    window = (1 << p.tau) - 1
    membranes, probs, outs = [], [], []
    for t in range(1, n_steps + 1):
        history = [((h << 1) | int(s[t - 1, j])) & window for j, h in enumerate(history)]
        u = [int(v) for v in b]
        for j in range(p.n_in):
            for k in range(p.n_kernels):
                trace = sum(int(a[k, d - 1]) for d in range(1, p.tau + 1)
                            if (history[j] >> (d - 1)) & 1)
                for i in range(p.n_out):
                    u[i] = saturate(u[i] + int(w[i, j, k]) * trace, m)
        q = [p.sigmoid_lut[lut_index(p, ui)] for ui in u]
        o = [int(levels[i, t - 1] < q[i]) for i in range(p.n_out)]
        membranes.append(u), probs.append(q), outs.append(o)
        if any(o):
            return _result(membranes, probs, outs, o.index(1), t, 0)
    return _result(membranes, probs, outs, int(np.argmax(membranes[-1])), n_steps, 1)


def _result(membranes, probs, outs, decision: int, step: int, fallback: int) -> dict:
    return dict(membranes=np.asarray(membranes, dtype=np.int64),
                probs=np.asarray(probs, dtype=np.int64),
                spikes=np.asarray(outs, dtype=np.uint8),
                decision=decision, step=step, fallback=fallback)


def infer_batch(p: GlmNeuronParams, weights, biases, spikes) -> list[dict]:
    """:func:`infer` for each of ``spikes`` ``(B, T, n_in)`` (state restarts per inference)."""
    s = check_spikes(p, spikes, "infer_batch")
    if s.ndim != 3:
        raise ValueError(f"infer_batch.spikes must have shape (B, T, {p.n_in}), got {s.shape}")
    return [infer(p, weights, biases, x) for x in s]
