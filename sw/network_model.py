"""The integer SNN network model: populations of IF neurons joined by projections.

A :class:`Network` is data, validated on construction; ``docs/semantics.md`` says how it runs
(``sw/network.py`` is the readable evaluator, ``ext/evaluate.py`` the fast one;
``twinspike/network.py`` reads and writes it as files).

* Shapes are ``(C, H, W)`` or ``(N,)``; a neuron's address is ``c*H*W + y*W + x`` (``(N,)``
  behaves as ``(N, 1, 1)``). The input is the pseudo-population ``"input"`` of
  ``input_shape`` (unsigned ``input_bits`` pixels, ``direct`` or ``rate`` encoded).
* :class:`Projection` kinds: ``dense`` (``weight[n_out, n_in]``), ``conv``
  (``weight[c_out, c_in, k, k]``, ``stride``, zero ``padding``; output size
  ``sw/conv_engine.conv_output_size``), ``pool`` (sum-pool, ``kernel == stride``, no
  padding, weight 1 per channel) and ``identity`` (one-to-one, same shape, weight 1).
  Kernel and stride limits are the conv engine's.
* :class:`Population` ``bias`` is per neuron; ``theta`` (> 0), ``v0`` and ``leak_shift`` are
  per population. Populations are listed in topological order (a projection's source is
  ``"input"`` or an earlier population); the last one is the output.
* Widths are those of the IF PE array (``sw/if_pe_array.py``): ``weight_bits`` 2..8,
  ``membrane_bits`` 8..24 and larger than ``weight_bits``; weights fit ``weight_bits`` signed,
  bias and ``v0`` fit ``membrane_bits`` signed, ``theta`` is ``1..2**(m-1)-1``, ``leak_shift``
  ``0..m-1``.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields

import numpy as np

from .common import check_array_range, check_range, signed_max, signed_min
from .conv_engine import MAX_KERNEL, MAX_STRIDE, conv_output_size
from .if_pe_array import MAX_MEMBRANE_BITS, MAX_WEIGHT_BITS, MIN_MEMBRANE_BITS, MIN_WEIGHT_BITS
from .lfsr import MAX_LANES, MAX_WIDTH, MIN_WIDTH

INPUT = "input"
KINDS = ("dense", "conv", "pool", "identity")
ENCODINGS = ("direct", "rate")
MAX_INPUT_BITS = 8


def as_chw(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """``(C, H, W)`` view of a shape: ``(N,)`` is ``(N, 1, 1)``."""
    return (shape[0], 1, 1) if len(shape) == 1 else shape


def check_shape(owner: str, name: str, shape) -> tuple[int, ...]:
    if not isinstance(shape, (tuple, list)) or len(shape) not in (1, 3):
        raise ValueError(f"{owner}.{name}={shape!r}: expected a tuple (C, H, W) or (N,)")
    for axis, size in enumerate(shape):
        check_range(owner, f"{name}[{axis}]", size, 1, 1 << 24)
    return tuple(int(s) for s in shape)


def _frozen_array(owner: str, name: str, values, lo: int, hi: int) -> np.ndarray:
    arr = check_array_range(owner, name, values, lo, hi).copy()
    arr.setflags(write=False)
    return arr


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
                and a.shape == b.shape and np.array_equal(a, b))
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


class ArrayEq:
    """Field-wise equality that compares numpy arrays by shape and value (not dtype)."""

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return all(_same(getattr(self, f.name), getattr(other, f.name)) for f in fields(self))

    __hash__ = None


@dataclass(frozen=True, eq=False)
class Projection(ArrayEq):
    """Synapses from population ``source`` (or ``"input"``) into the owning population.

    ``weight`` is ``[n_out, n_in]`` (dense), ``[c_out, c_in, k, k]`` (conv) or ``None`` (pool,
    identity). Stored as a read-only int64 copy. Geometry against the source and target shapes
    and the weight width are checked by :class:`Network`.
    """

    kind: str
    source: str
    weight: np.ndarray | None = None
    kernel: int = 1
    stride: int = 1
    padding: int = 0

    def __post_init__(self) -> None:
        owner = "Projection"
        if self.kind not in KINDS:
            raise ValueError(f"{owner}.kind={self.kind!r}: expected one of {', '.join(KINDS)}")
        if not isinstance(self.source, str) or not self.source:
            raise ValueError(f"{owner}.source={self.source!r}: expected a population name "
                             f"or {INPUT!r}")
        check_range(owner, "kernel", self.kernel, 1, MAX_KERNEL)
        check_range(owner, "stride", self.stride, 1, MAX_STRIDE)
        check_range(owner, "padding", self.padding, 0, self.kernel - 1)
        if self.kind in ("pool", "identity"):
            if self.weight is not None:
                raise ValueError(f"{owner}.weight must be None for kind {self.kind!r} "
                                 "(its weights are fixed at 1)")
            if self.kind == "pool" and (self.stride != self.kernel or self.padding):
                raise ValueError(f"{owner} pool: expected stride == kernel and padding 0, got "
                                 f"kernel={self.kernel} stride={self.stride} "
                                 f"padding={self.padding}")
            if self.kind == "identity" and (self.kernel, self.stride, self.padding) != (1, 1, 0):
                raise ValueError(f"{owner} identity: expected kernel=1 stride=1 padding=0")
            return
        if self.weight is None:
            raise ValueError(f"{owner}.weight is required for kind {self.kind!r}")
        weight = _frozen_array(owner, "weight", self.weight, signed_min(MAX_WEIGHT_BITS),
                               signed_max(MAX_WEIGHT_BITS))
        if self.kind == "dense":
            if weight.ndim != 2 or self.kernel != 1 or self.stride != 1 or self.padding:
                raise ValueError(f"{owner} dense: expected a 2-D weight [n_out, n_in] and "
                                 f"kernel=1 stride=1 padding=0, got weight shape "
                                 f"{weight.shape}")
        elif weight.ndim != 4 or weight.shape[2:] != (self.kernel, self.kernel):
            raise ValueError(f"{owner} conv: weight shape {weight.shape}: expected "
                             f"[c_out, c_in, {self.kernel}, {self.kernel}]")
        object.__setattr__(self, "weight", weight)


@dataclass(frozen=True, eq=False)
class Population(ArrayEq):
    """IF neurons of ``shape`` fed by ``projections`` (applied in order each timestep)."""

    name: str
    shape: tuple[int, ...]
    projections: tuple[Projection, ...]
    bias: np.ndarray
    theta: int
    v0: int = 0
    leak_shift: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or self.name == INPUT:
            raise ValueError(f"Population.name={self.name!r}: expected a non-empty name other "
                             f"than {INPUT!r}")
        owner = f"Population[{self.name}]"
        object.__setattr__(self, "shape", check_shape(owner, "shape", self.shape))
        projections = tuple(self.projections) if isinstance(self.projections, (list, tuple)) \
            else None
        if not projections or not all(isinstance(p, Projection) for p in projections):
            raise ValueError(f"{owner}.projections: expected a non-empty tuple of Projection")
        object.__setattr__(self, "projections", projections)
        bias = _frozen_array(owner, "bias", self.bias, signed_min(MAX_MEMBRANE_BITS),
                             signed_max(MAX_MEMBRANE_BITS))
        if bias.shape != (self.size,):
            raise ValueError(f"{owner}.bias has shape {bias.shape}: expected ({self.size},)")
        object.__setattr__(self, "bias", bias)
        check_range(owner, "theta", self.theta, 1, signed_max(MAX_MEMBRANE_BITS))
        check_range(owner, "v0", self.v0, signed_min(MAX_MEMBRANE_BITS),
                    signed_max(MAX_MEMBRANE_BITS))
        check_range(owner, "leak_shift", self.leak_shift, 0, MAX_MEMBRANE_BITS - 1)

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True, eq=False)
class Network(ArrayEq):
    """A whole integer SNN (see the module docstring); ``metadata`` is free-form JSON."""

    input_shape: tuple[int, ...]
    populations: tuple[Population, ...]
    input_bits: int = 8
    encoding: str = "direct"
    weight_bits: int = 8
    membrane_bits: int = 16
    lfsr_width: int = 16
    seed: int = 1
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape",
                           check_shape("Network", "input_shape", self.input_shape))
        if isinstance(self.populations, (list, tuple)):
            object.__setattr__(self, "populations", tuple(self.populations))
        self.validate()

    @property
    def n_inputs(self) -> int:
        return math.prod(self.input_shape)

    @property
    def output(self) -> Population:
        return self.populations[-1]

    @property
    def n_outputs(self) -> int:
        return self.output.size

    def shape_of(self, name: str) -> tuple[int, ...]:
        """Shape of population ``name`` (or of the input)."""
        if name == INPUT:
            return self.input_shape
        for pop in self.populations:
            if pop.name == name:
                return pop.shape
        raise KeyError(name)

    def validate(self) -> None:
        """Check widths, ranges, sources and geometry; ``ValueError`` names the culprit."""
        check_range("Network", "input_bits", self.input_bits, 1, MAX_INPUT_BITS)
        if self.encoding not in ENCODINGS:
            raise ValueError(f"Network.encoding={self.encoding!r}: expected one of "
                             f"{', '.join(ENCODINGS)}")
        check_range("Network", "weight_bits", self.weight_bits, MIN_WEIGHT_BITS, MAX_WEIGHT_BITS)
        check_range("Network", "membrane_bits", self.membrane_bits,
                    max(MIN_MEMBRANE_BITS, self.weight_bits + 1), MAX_MEMBRANE_BITS)
        check_range("Network", "lfsr_width", self.lfsr_width, max(MIN_WIDTH, self.input_bits),
                    MAX_WIDTH)
        check_range("Network", "seed", self.seed, 0, 0xFFFFFFFF)
        if self.encoding == "rate":
            check_range("Network", "n_inputs (one LFSR lane per pixel)", self.n_inputs, 1,
                        MAX_LANES)
        if not isinstance(self.metadata, dict):
            raise ValueError(f"Network.metadata must be a dict, got {type(self.metadata).__name__}")
        try:
            json.dumps(self.metadata, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"Network.metadata must be JSON-serialisable: {exc}") from None
        if not self.populations or not all(isinstance(p, Population) for p in self.populations):
            raise ValueError("Network.populations: expected a non-empty tuple of Population")
        shapes = {INPUT: self.input_shape}
        for index, pop in enumerate(self.populations):
            owner = f"Network.populations[{index}] ({pop.name!r})"
            if pop.name in shapes:
                raise ValueError(f"{owner}.name: duplicate population name")
            self._check_population(owner, pop, shapes)
            shapes[pop.name] = pop.shape

    def _check_population(self, owner: str, pop: Population, shapes: dict) -> None:
        m = self.membrane_bits
        check_array_range(owner, "bias", pop.bias, signed_min(m), signed_max(m))
        check_range(owner, "theta", pop.theta, 1, signed_max(m))
        check_range(owner, "v0", pop.v0, signed_min(m), signed_max(m))
        check_range(owner, "leak_shift", pop.leak_shift, 0, m - 1)
        for j, proj in enumerate(pop.projections):
            where = f"{owner}.projections[{j}]"
            if proj.source not in shapes:
                raise ValueError(f"{where}.source={proj.source!r}: expected {INPUT!r} or an "
                                 f"earlier population ({', '.join(list(shapes)[1:]) or 'none'})")
            self._check_geometry(where, proj, shapes[proj.source], pop.shape)
            if proj.weight is not None:
                check_array_range(where, "weight", proj.weight, signed_min(self.weight_bits),
                                  signed_max(self.weight_bits))

    @staticmethod
    def _check_geometry(where: str, proj: Projection, src: tuple, dst: tuple) -> None:
        n_in, n_out = math.prod(src), math.prod(dst)
        if proj.kind == "dense":
            if proj.weight.shape != (n_out, n_in):
                raise ValueError(f"{where}.weight has shape {proj.weight.shape}: expected "
                                 f"({n_out}, {n_in}) = (target size, source size)")
            return
        if proj.kind == "identity":
            if src != dst:
                raise ValueError(f"{where} identity: source shape {src} != target shape {dst}")
            return
        if len(src) != 3 or len(dst) != 3:
            raise ValueError(f"{where} {proj.kind}: source {src} and target {dst} must both be "
                             "(C, H, W)")
        k, s, p = proj.kernel, proj.stride, proj.padding
        c_out, c_in = (src[0], src[0]) if proj.kind == "pool" else proj.weight.shape[:2]
        expected = (c_out, conv_output_size(src[1], k, s, p), conv_output_size(src[2], k, s, p))
        if c_in != src[0] or dst != expected or min(expected) < 1:
            raise ValueError(f"{where} {proj.kind}: source {src} with weight "
                             f"{None if proj.weight is None else proj.weight.shape}, kernel={k} "
                             f"stride={s} padding={p} gives {expected}: target shape is {dst}")
