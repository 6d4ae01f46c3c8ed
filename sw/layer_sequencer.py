"""Reference of the layer sequencer: a whole network as *data* for one reconfigurable engine.

The accelerator's hardware is fixed at synthesis (:class:`AcceleratorParams`: ``lanes`` P,
lane widths, memory depths); a network is loaded as memory images (:func:`compile_network`)
and the sequencer walks the **layer table** timestep by timestep. This module states what
the images hold and what running them computes (:func:`run`), which is exactly
``sw/network.py`` for every network the accelerator accepts. The MyHDL sequencer implements
this module; the compiler's files (``twinspike compile``) are these images.

Memories (every word of the lane memories holds P lanes, lane ``i`` in bits
``[i*bits, (i+1)*bits)``, two's complement; ``cwords(C) = ceil(C / P)``):

* **weights** (``weight_bits`` lanes): per projection, from its ``weight_base``, one *row* of
  ``cwords(C_out)`` words per source row -- dense: row ``j`` (flat source address),
  conv: row ``(c_in * k + ky) * k + kx`` -- lane ``i`` of word ``w`` holding the weight to
  output channel ``w*P + i`` (0 in padding lanes). Pool and identity projections store
  nothing (their weights are 1 on the channel diagonal). The depth used is the **sum over
  projections**, not the largest layer. The weight *address space* is ``weight_depth``
  words on chip, then ``external_weight_depth`` words in DDR (word ``a`` at byte
  ``WEIGHT_ADDR + (a - weight_depth) * 8``, one 64-bit beat per word): the compiler places
  the words in order, so a network that fits on chip never touches DDR, and one that does
  not (ResNet-18, VGG-11) runs on the same hardware with its later layers' weights read
  through a direct-mapped line cache (:class:`WeightCache`); the sequencer stalls while a
  line is fetched, which changes when, never what, it computes.
* **state** (membranes, ``membrane_bits`` lanes): per population, ``positions * cwords(C)``
  words from ``state_base``, word ``pos * cwords + w`` holding channels ``w*P ..`` at position
  ``pos = y * W + x`` (channel-last, as the Cython kernels lay them out).
* **bias** (``membrane_bits`` lanes): per population from ``bias_base``, ``cwords(C)`` words
  when the bias is constant over each channel's positions (``bias_mode`` 0), else one word per
  state word (``bias_mode`` 1).
* **geometry** (three fields per entry): per conv, pool or identity projection, ``H_src``
  entries from ``geo_y_base`` and ``W_src`` from ``geo_x_base``. For a source coordinate
  ``i`` with ``(o_first, k_first, count) = sw/conv_engine.axis_taps(i, ...)`` (the touched
  outputs ``o_first + j`` through taps ``k_first - j*stride``, ``j < count``) the y entry
  holds ``(o_first * state_row_step, k_first * k * cwords, count)`` and the x entry
  ``(o_first * cwords, k_first * cwords, count)``: the state and weight word offsets of the
  first touched output and its tap. The hardware then walks the touched words by adding the
  projection's steps -- no multiply, no divide by a run-time stride.
* **spikes** (``spike_word_bits``-bit words): per population, from ``spike_base``, the
  bitmap of the spikes it fired in the current timestep: one word per row ``(c, y)`` of a
  ``(C, H, W)`` population (bit ``x``; ``W <= spike_word_bits``), or ``ceil(N /
  spike_word_bits)`` words of a flat ``(N,)`` population (neuron ``n`` in word ``n //
  bits``, bit ``n % bits``). A consumer scans the words in order and each set bit is an event
  of value 1, so events come in ascending canonical address ``c*H*W + y*W + x`` and the
  hardware keeps ``(c, y, x)`` and the address as counters, never dividing. The bitmap is
  written by the population's fire scan and read by its consumers within the same timestep.
* **input** (``input_bits`` entries): the image's pixels in canonical order, written once per
  image; every timestep each non-zero pixel ``x`` is an event of value ``x`` (direct
  encoding).
* **table** (32-bit words): a header (:data:`HEADER_FIELDS`), then one record per population
  (:data:`POPULATION_FIELDS`), then one per projection (:data:`PROJECTION_FIELDS`); signed
  fields are two's complement.

Running (per image): clear every membrane to its population's ``v0``; for ``t < T``, for each
population in order: for each of its projections in order, for each event of the source's
bitmap (or the input) in order, add ``w * value`` (saturating at the *network's* ``membrane_bits``, a table
field) into every touched membrane -- one synaptic operation (SOP) per touched neuron, padding
lanes excluded; then the fire scan over the population in canonical order (leak, saturating
bias, ``v >= theta`` spikes and subtracts ``theta``) writes its spike bitmap. The output
population's spikes are counted per class; the class is the argmax (ties to the lowest).

Not accepted (:func:`compile_network` raises ``ValueError`` naming the reason): rate-encoded
input (the accelerator takes pixels; rate networks run on the Cython evaluator), widths above
the accelerator's lanes, and any memory that is too small (naming the memory and the
shortfall).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .common import check_range, signed_max, signed_min
from .lfsr import feedback_mask, lane_seed
from .lfsr import step as lfsr_step
from .conv_engine import axis_taps
from .if_pe_array import MAX_LANES, MAX_MEMBRANE_BITS, MAX_WEIGHT_BITS, MIN_MEMBRANE_BITS
from .network import Result, argmax_lowest, check_inputs
from .network_model import INPUT, MAX_INPUT_BITS, Network, as_chw

#: Table header word 0: ``TSL`` and the table format version.
MAGIC = 0x54534C01
HEADER_FIELDS = ("magic", "n_populations", "n_projections", "membrane_bits", "membrane_min",
                 "membrane_max", "input_channels",
                 "input_height", "input_width", "lanes", "weight_bits", "input_bits",
                 "output_population", "spike_word_bits", "input_size", "n_outputs",
                 "encoding", "lfsr_shift", "lfsr_mask", "seed_base", "input_spike_base",
                 "input_rows", "input_row_bits", "projection_table")
HEADER_WORDS = 24
POPULATION_FIELDS = ("channels", "height", "width", "cwords", "last_lanes", "positions",
                     "state_words", "theta", "v0",
                     "leak_shift", "state_base", "bias_base", "bias_mode", "spike_base",
                     "spike_rows", "row_bits", "projection_first", "projection_count")
PROJECTION_FIELDS = ("kind", "source", "kernel", "stride", "padding", "weight_base",
                     "geo_y_base", "geo_x_base", "state_row_step", "weight_row_step",
                     "weight_col_step", "weight_channel_step", "source_channels",
                     "source_height", "source_width", "source_spike_base", "source_rows",
                     "source_row_bits", "weight_word_step")
#: Bits of each geometry field (state and weight word offsets, tap count).
GEOMETRY_FIELD_BITS = 24
#: Population and input sides (H, W) are below ``2**SIDE_BITS`` (the hardware's coordinates).
SIDE_BITS = 16
#: Bits of one DDR read beat: a weight word in DDR occupies one beat (8 bytes).
DDR_BEAT_BITS = 64
DDR_BEAT_BYTES = DDR_BEAT_BITS // 8
#: Projection ``kind`` codes in the table.
KIND_CODES = {"dense": 0, "conv": 1, "pool": 2, "identity": 3}
#: The sequencer's cycle model (``hw/layer_sequencer.py`` meets it edge for edge; ``cycles``
#: counts from the edge that takes an image's last pixel to the end of its last fire scan):
#: reading a table record takes its field count + 1 cycles; the input scan 3 cycles per pixel
#: and the bitmap scan 2 per word plus 2 per bit of a non-zero word (each + 1 to finish);
#: an event 1 (dense) or 4 (geometry fetch) cycles plus, if it touches anything, 1 per state
#: word and 3 to drain the pipeline; the fire scan 1 per neuron and 3 to drain; clearing a
#: population its record, 1 per state word and 1. Per timestep a population adds its record
#: and 1 after its projections.
RECORD_CYCLES = {"population": len(POPULATION_FIELDS) + 1, "projection": len(PROJECTION_FIELDS) + 1}
SCAN_CYCLES = {"pixel": 3, "word": 2, "bit": 2}
FIRE_DRAIN = 3


def event_cycles(kind: int, words: int) -> int:
    """Cycles of one event that touches ``words`` state words."""
    fetch = 1 if kind == KIND_CODES["dense"] else 4
    return fetch + (words + 3 if words else 0)


#: ``source`` of a projection fed by the input region.
INPUT_SOURCE = 0xFFFF
#: ``source`` of a projection fed by the rate encoder's input spike bitmap.
INPUT_SPIKES = 0xFFFE
#: Header ``encoding`` codes.
ENCODING_CODES = {"direct": 0, "rate": 1}
#: The rate encoder pass that opens every timestep of a rate network: 3 cycles per pixel
#: (address its pixel and LFSR state, wait for the RAMs, compare, step and pack the spike)
#: and 1 to finish.
ENCODE_CYCLES = 3
_SIGNED = {"theta", "v0", "membrane_min", "membrane_max"}


@dataclass(frozen=True)
class AcceleratorParams:
    """What is fixed at synthesis: ``lanes`` P, the lane widths of the weight and state
    memories (a network with narrower weights or membranes runs on them: weights
    sign-extend, saturation follows the network's ``membrane_bits``) and the depth of every
    memory, in words (entries for geometry and input pixels); ``spike_word_bits`` is the width
    of a spike bitmap word (and so the widest row of a ``(C, H, W)`` population) and
    ``max_classes`` the largest output population (one spike counter each)."""

    lanes: int = 8
    weight_bits: int = 8
    membrane_bits: int = 24
    input_bits: int = 8
    weight_depth: int = 1 << 15
    state_depth: int = 1 << 13
    bias_depth: int = 1 << 11
    geometry_depth: int = 1 << 10
    spike_depth: int = 1 << 13
    input_depth: int = 1 << 10
    table_depth: int = 1 << 10
    spike_word_bits: int = 32
    max_classes: int = 16
    external_weight_depth: int = 1 << 22
    cache_lines: int = 64
    line_words: int = 16

    def __post_init__(self) -> None:
        owner = "AcceleratorParams"
        check_range(owner, "lanes", self.lanes, 1, MAX_LANES)
        check_range(owner, "weight_bits", self.weight_bits, 2, MAX_WEIGHT_BITS)
        check_range(owner, "membrane_bits", self.membrane_bits,
                    max(MIN_MEMBRANE_BITS, self.weight_bits + 1), MAX_MEMBRANE_BITS)
        check_range(owner, "input_bits", self.input_bits, 1, MAX_INPUT_BITS)
        for name in ("weight_depth", "state_depth", "bias_depth", "geometry_depth",
                     "spike_depth", "input_depth", "table_depth"):
            check_range(owner, name, getattr(self, name), 2, 1 << 24)
        check_range(owner, "spike_word_bits", self.spike_word_bits, 1, 64)
        check_range(owner, "max_classes", self.max_classes, 1, 256)
        check_range(owner, "external_weight_depth", self.external_weight_depth, 0, 1 << 26)
        if self.external_weight_depth:
            # A line is one AXI4 burst: at most 256 beats (ARLEN is 8 bits), and 256 beats of
            # 8 bytes never cross a 4 KB boundary from an aligned buffer.
            for name, top in (("cache_lines", 1 << 12), ("line_words", 256)):
                value = getattr(self, name)
                check_range(owner, name, value, 2, top)
                if value & (value - 1):
                    raise ValueError(f"{owner}: {name}={value} must be a power of two")
            if self.lanes * self.weight_bits > DDR_BEAT_BITS:
                raise ValueError(f"{owner}: external weights need lanes * weight_bits <= "
                                 f"{DDR_BEAT_BITS} (one weight word per DDR beat), got "
                                 f"{self.lanes} * {self.weight_bits}")
            if self.weight_depth & (self.weight_depth - 1) or self.weight_depth < self.line_words:
                raise ValueError(f"{owner}: weight_depth={self.weight_depth} must be a power of "
                                 f"two of at least line_words={self.line_words} when external "
                                 "weights are on (external_weight_depth > 0)")
            if self.external_weight_depth % self.line_words:
                raise ValueError(f"{owner}: external_weight_depth={self.external_weight_depth} "
                                 f"must be a multiple of line_words={self.line_words}")

    @property
    def weight_space(self) -> int:
        """Words of the weight address space: on chip, then in DDR."""
        return self.weight_depth + self.external_weight_depth


@dataclass(frozen=True)
class MemoryUse:
    """Words (entries) a network needs in one memory, against the accelerator's depth."""

    memory: str
    used: int
    depth: int

    @property
    def fits(self) -> bool:
        return self.used <= self.depth


@dataclass(frozen=True, eq=False)
class Images:
    """The memory images of one compiled network: ``table`` uint32 words, ``weights`` and
    ``biases`` int64 ``[words, lanes]`` (signed lane values), ``geometry`` int64
    ``[entries, 3]``, and ``use`` (one :class:`MemoryUse` per memory, the state, spike and
    input memories included though they have no image)."""

    params: AcceleratorParams
    table: np.ndarray
    weights: np.ndarray
    biases: np.ndarray
    geometry: np.ndarray
    use: tuple[MemoryUse, ...] = field(default=())

    def __eq__(self, other):
        if not isinstance(other, Images):
            return NotImplemented
        return (self.params == other.params and self.use == other.use
                and all(np.array_equal(getattr(self, n), getattr(other, n))
                        for n in ("table", "weights", "biases", "geometry")))

    __hash__ = None

    @property
    def onchip_weights(self) -> np.ndarray:
        """The weight words held on chip (loaded through the load port)."""
        return self.weights[:self.params.weight_depth]

    @property
    def external_weights(self) -> np.ndarray:
        """The weight words held in DDR from word address ``weight_depth`` on (the host
        writes them to the buffer at ``WEIGHT_ADDR``; the sequencer reads them by lines)."""
        return self.weights[self.params.weight_depth:]


def cwords(channels: int, lanes: int) -> int:
    return -(-channels // lanes)


def spike_rows(shape: tuple, word_bits: int) -> tuple[int, int]:
    """``(words, bits per row)`` of a population's spike bitmap (module docstring)."""
    if len(shape) == 1:
        return -(-shape[0] // word_bits), word_bits
    return shape[0] * shape[1], shape[2]


def _u32(value: int) -> int:
    return int(value) & 0xFFFFFFFF


def _s32(word: int) -> int:
    word = int(word)
    return word - (1 << 32) if word >> 31 else word


def _lane_rows(matrix: np.ndarray, lanes: int) -> np.ndarray:
    """``matrix[rows, C]`` as lane words ``[rows * cwords(C), lanes]`` (padding lanes 0)."""
    rows, channels = matrix.shape
    words = cwords(channels, lanes)
    padded = np.zeros((rows, words * lanes), dtype=np.int64)
    padded[:, :channels] = matrix
    return padded.reshape(rows * words, lanes)


def check_network(net: Network, params: AcceleratorParams) -> None:
    """Raise ``ValueError`` naming what keeps ``net`` off an accelerator of ``params``
    (memory depths are checked by :func:`compile_network`, which reports all shortfalls)."""
    if not isinstance(net, Network):
        raise ValueError(f"compile expects a Network, got {type(net).__name__}")
    if not isinstance(params, AcceleratorParams):
        raise ValueError(f"compile expects AcceleratorParams, got {type(params).__name__}")
    if net.encoding not in ENCODING_CODES:
        raise ValueError(f"the accelerator takes direct or rate-encoded pixels; this network "
                         f"is {net.encoding!r}-encoded")
    if net.encoding == "rate" and len(net.input_shape) == 3 and \
            net.input_shape[2] > params.spike_word_bits:
        raise ValueError(f"input rows of {net.input_shape[2]} pixels do not fit a "
                         f"{params.spike_word_bits}-bit spike word (rate input is a bitmap)")
    for name, have, need in (("weight_bits", params.weight_bits, net.weight_bits),
                             ("membrane_bits", params.membrane_bits, net.membrane_bits),
                             ("input_bits", params.input_bits, net.input_bits)):
        if need > have:
            raise ValueError(f"the network needs {name}={need}, the accelerator has {have}")
    for name, shape in (("input", net.input_shape), *((p.name, p.shape) for p in net.populations)):
        if max(as_chw(shape)[1:]) >> SIDE_BITS:
            raise ValueError(f"{name}: shape {shape} has a side of {SIDE_BITS} bits or more; "
                             "the sequencer's coordinates are narrower")
    if net.n_outputs > params.max_classes:
        raise ValueError(f"the output population has {net.n_outputs} neurons, the accelerator "
                         f"counts spikes of at most max_classes={params.max_classes}")
    for pop in net.populations:
        if len(pop.shape) == 3 and pop.shape[2] > params.spike_word_bits:
            raise ValueError(f"population {pop.name!r}: rows of {pop.shape[2]} neurons do not "
                             f"fit a {params.spike_word_bits}-bit spike word")
        if len(pop.shape) == 3 and pop.shape[1] * pop.shape[2] > 1 and any(
                q.kind == "dense" for q in pop.projections):
            raise ValueError(f"population {pop.name!r}: a dense projection into a (C, H, W) "
                             "population is not supported by the accelerator (make the "
                             "population flat)")
        if pop.theta > signed_max(net.membrane_bits) or not (
                signed_min(net.membrane_bits) <= pop.v0 <= signed_max(net.membrane_bits)):
            raise ValueError(f"population {pop.name!r}: theta={pop.theta} or v0={pop.v0} "
                             f"does not fit {net.membrane_bits}-bit membranes")


def compile_network(net: Network, params: AcceleratorParams) -> Images:
    """The memory images of ``net`` on an accelerator of ``params`` (module docstring).
    Raises ``ValueError`` naming every memory that is too small and by how much."""
    check_network(net, params)
    P = params.lanes
    index = {pop.name: i for i, pop in enumerate(net.populations)}
    n_proj = sum(len(pop.projections) for pop in net.populations)
    pop_words, proj_words = [], []
    weights, biases, geometry = [], [], []
    state = bias_words = geo = weight_words = 0
    spike = 0
    spike_bases, rows_of = {}, {}
    for pop in net.populations:
        rows_of[pop.name] = spike_rows(pop.shape, params.spike_word_bits)
        spike_bases[pop.name] = spike
        spike += rows_of[pop.name][0]
    rate = net.encoding == "rate"
    if rate:                             # the encoder's bitmap: one more "population"
        # Rows (c, y) of W bits even for a flat input ((N,) is (N, 1, 1): one bit per row), so
        # the scan's channel counter is the pixel's channel for every projection kind.
        rows_of[INPUT] = spike_rows(as_chw(net.input_shape), params.spike_word_bits)
        spike_bases[INPUT] = spike
        spike += rows_of[INPUT][0]
    shapes = {INPUT: as_chw(net.input_shape), **{p.name: as_chw(p.shape)
                                                 for p in net.populations}}
    first = 0
    for pop in net.populations:
        C, H, W = shapes[pop.name]
        words, positions = cwords(C, P), H * W
        bias = pop.bias.reshape(C, positions)
        per_channel = bool((bias == bias[:, :1]).all())
        rows = bias[:, :1].T if per_channel else bias.T        # [1 or positions, C]
        biases.append(_lane_rows(rows, P))
        record = dict(channels=C, height=H, width=W, cwords=words,
                      last_lanes=C - (words - 1) * P, positions=positions,
                      state_words=positions * words,
                      theta=pop.theta, v0=pop.v0, leak_shift=pop.leak_shift, state_base=state,
                      bias_base=bias_words, bias_mode=0 if per_channel else 1,
                      spike_base=spike_bases[pop.name], spike_rows=rows_of[pop.name][0],
                      row_bits=rows_of[pop.name][1], projection_first=first,
                      projection_count=len(pop.projections))
        pop_words.append([record[f] for f in POPULATION_FIELDS])
        state += positions * words
        bias_words += len(rows) * words
        first += len(pop.projections)
        for proj in pop.projections:
            sc, sh, sw = shapes[proj.source]
            rec = dict(kind=KIND_CODES[proj.kind],
                       source=(INPUT_SPIKES if rate else INPUT_SOURCE) if proj.source == INPUT
                       else index[proj.source],
                       kernel=proj.kernel, stride=proj.stride, padding=proj.padding,
                       weight_base=weight_words, geo_y_base=0, geo_x_base=0,
                       state_row_step=W * words, weight_row_step=proj.stride * proj.kernel * words,
                       weight_col_step=proj.stride * words,
                       weight_channel_step=(words if proj.kind == "dense"
                                            else proj.kernel ** 2 * words),
                       source_channels=sc, source_height=sh, source_width=sw,
                       source_spike_base=spike_bases.get(proj.source, 0),
                       source_rows=rows_of.get(proj.source, (0, 0))[0],
                       source_row_bits=rows_of.get(proj.source, (0, 0))[1],
                       weight_word_step=(rows_of.get(proj.source, (0, 0))[1] * words
                                         if proj.kind == "dense" else 0))
            if proj.kind == "dense":
                block = _lane_rows(proj.weight.T, P)             # row j: weights of source j
            elif proj.kind == "conv":
                w = proj.weight.transpose(1, 2, 3, 0).reshape(-1, C)   # [(ci, ky, kx), C]
                block = _lane_rows(w, P)
            else:
                block = np.zeros((0, P), dtype=np.int64)
            weights.append(block)
            weight_words += len(block)
            if proj.kind != "dense":
                k = proj.kernel
                rec["geo_y_base"], rec["geo_x_base"] = geo, geo + sh
                for size_in, size_out, o_step, k_step in ((sh, H, W * words, k * words),
                                                          (sw, W, words, words)):
                    for i in range(size_in):
                        o, t, n = axis_taps(i, size_out, k, proj.stride, proj.padding)
                        geometry.append((o * o_step, t * k_step, n))
                geo += sh + sw
            proj_words.append([rec[f] for f in PROJECTION_FIELDS])
    ic, ih, iw = shapes[INPUT]
    n_seeds = math.prod(net.input_shape) if rate else 0
    seed_base = (HEADER_WORDS + len(net.populations) * len(POPULATION_FIELDS)
                 + n_proj * len(PROJECTION_FIELDS))
    header = dict(magic=MAGIC, n_populations=len(net.populations), n_projections=n_proj,
                  membrane_bits=net.membrane_bits, membrane_min=signed_min(net.membrane_bits),
                  membrane_max=signed_max(net.membrane_bits), input_channels=ic, input_height=ih,
                  input_width=iw, lanes=P, weight_bits=net.weight_bits,
                  input_bits=net.input_bits, output_population=len(net.populations) - 1,
                  spike_word_bits=params.spike_word_bits,
                  input_size=math.prod(net.input_shape), n_outputs=net.n_outputs,
                  encoding=ENCODING_CODES[net.encoding],
                  lfsr_shift=net.lfsr_width - net.input_bits if rate else 0,
                  lfsr_mask=feedback_mask(net.lfsr_width) if rate else 0,
                  seed_base=seed_base if rate else 0,
                  input_spike_base=spike_bases.get(INPUT, 0),
                  input_rows=rows_of.get(INPUT, (0, 0))[0],
                  input_row_bits=rows_of.get(INPUT, (0, 0))[1],
                  projection_table=HEADER_WORDS + len(net.populations) * len(POPULATION_FIELDS))
    table = [header[f] for f in HEADER_FIELDS] + [0] * (HEADER_WORDS - len(HEADER_FIELDS))
    for words in pop_words + proj_words:
        table += words
    # Rate input: each pixel's LFSR lane seed (sw/lfsr.lane_seed) after the records.
    table += [lane_seed(net.lfsr_width, net.seed, i) for i in range(n_seeds)]
    on_chip = min(weight_words, params.weight_depth) if params.external_weight_depth \
        else weight_words
    use = (MemoryUse("weight", on_chip, params.weight_depth),
           MemoryUse("weight_ddr", weight_words - on_chip, params.external_weight_depth),
           MemoryUse("state", state, params.state_depth),
           MemoryUse("bias", bias_words, params.bias_depth),
           MemoryUse("geometry", geo, params.geometry_depth),
           MemoryUse("spike", spike, params.spike_depth),
           MemoryUse("input", math.prod(net.input_shape), params.input_depth),
           MemoryUse("table", len(table), params.table_depth))
    short = [f"{u.memory} memory needs {u.used:,} words, the accelerator has {u.depth:,} "
             f"(short by {u.used - u.depth:,})" for u in use if not u.fits]
    if params.external_weight_depth and weight_words > params.weight_space:
        short = [f"weight memory needs {weight_words:,} words (the sum over projections), the "
                 f"accelerator has {params.weight_depth:,} on chip + "
                 f"{params.external_weight_depth:,} in DDR (short by "
                 f"{weight_words - params.weight_space:,})"] + [
            m for m in short if not m.startswith("weight_ddr")]
    if short:
        raise ValueError("the network does not fit: " + "; ".join(short))
    return Images(params=params,
                  table=np.array([_u32(w) for w in table], dtype=np.uint32),
                  weights=np.concatenate(weights) if weights else np.zeros((0, P), np.int64),
                  biases=np.concatenate(biases), geometry=np.array(geometry, dtype=np.int64
                                                                    ).reshape(-1, 3),
                  use=use)


# ----------------------------------------------------------------------------- the table

def decode_table(table) -> tuple[dict, list[dict], list[dict]]:
    """``(header, populations, projections)`` records of a table image (the fields of
    :data:`HEADER_FIELDS`, :data:`POPULATION_FIELDS`, :data:`PROJECTION_FIELDS`); raises
    ``ValueError`` on a table that is not one."""
    words = [int(w) for w in np.asarray(table, dtype=np.uint64)]
    if len(words) < HEADER_WORDS or words[0] != MAGIC:
        raise ValueError(f"not a layer table (magic {words[0] if words else None!r:}, "
                         f"expected {MAGIC:#x})")
    header = {k: _s32(v) if k in _SIGNED else v for k, v in zip(HEADER_FIELDS, words)}
    n_pop, n_proj = header["n_populations"], header["n_projections"]
    need = HEADER_WORDS + n_pop * len(POPULATION_FIELDS) + n_proj * len(PROJECTION_FIELDS)
    if header.get("encoding") == ENCODING_CODES["rate"]:
        need += header["input_size"]                       # the LFSR lane seeds
    if len(words) != need:
        raise ValueError(f"layer table has {len(words)} words, its header says {need}")

    def records(start, count, names):
        out = []
        for r in range(count):
            rec = dict(zip(names, words[start + r * len(names):start + (r + 1) * len(names)]))
            out.append({k: _s32(v) if k in _SIGNED else v for k, v in rec.items()})
        return out

    pops = records(HEADER_WORDS, n_pop, POPULATION_FIELDS)
    projs = records(HEADER_WORDS + n_pop * len(POPULATION_FIELDS), n_proj, PROJECTION_FIELDS)
    return header, pops, projs


# ----------------------------------------------------------------------------- running

@dataclass(frozen=True, eq=False)
class SequencerResult(Result):
    """:class:`twinspike.sw.network.Result` plus, int64 ``[B]``: ``first_spike_step`` (the
    first timestep, 1-based, at which any output neuron spiked, 0 if none did), ``cycles``
    (the cycle model, DDR stalls left out) and ``weight_fills`` (DDR weight line fetches)."""

    first_spike_step: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    cycles: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    weight_fills: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def _bitmap_words(spiked: np.ndarray, rows: int, row_bits: int) -> list[int]:
    """A population's fire-scan output (flat, canonical order) as its spike bitmap words."""
    bits = np.zeros(rows * row_bits, dtype=np.int64)
    bits[:len(spiked)] = spiked
    return [int(sum(int(b) << i for i, b in enumerate(bits[r * row_bits:(r + 1) * row_bits])))
            for r in range(rows)]


def _scan_bitmap(words, row_bits: int, height: int) -> list[tuple]:
    """A consumer's scan of a spike bitmap: ``(address, c, y, x, 1)`` per set bit, in order
    (for a flat population ``c`` is the address and ``y = x = 0``)."""
    events = []
    for r, word in enumerate(words):
        for b in range(row_bits):
            if int(word) >> b & 1:
                address = r * row_bits + b
                c, y, x = (r // height, r % height, b) if height else (address, 0, 0)
                events.append((address, c, y, x, 1))
    return events


class WeightCache:
    """The sequencer's direct-mapped cache of DDR weight lines: a weight word at address
    ``a >= weight_depth`` lies in line ``a // line_words`` (lines start at DDR byte
    ``WEIGHT_ADDR + (a - weight_depth) * 8`` rounded down to a line), held in slot ``line %
    cache_lines``; a read whose slot holds another line (or none: the cache is empty when an
    image starts) fetches the line from DDR -- one *fill*, one AXI4 burst of ``line_words``
    64-bit beats -- while the sequencer stalls. On-chip words never touch it."""

    def __init__(self, params: AcceleratorParams):
        self.params = params
        self.slots = [-1] * params.cache_lines
        self.fills = 0

    def read(self, address: int) -> None:
        p = self.params
        if address < p.weight_depth:
            return
        line = address // p.line_words
        slot = line % p.cache_lines
        if self.slots[slot] != line:
            self.slots[slot] = line
            self.fills += 1


def run_image(images: Images, pixels: np.ndarray, T: int):
    """One image from the memory images alone, word address by word address as the hardware
    computes them. Returns ``(spikes[T, n_out], membranes[n_out], sops, population_spikes,
    first_spike_step, cycles, weight_fills)``: ``cycles`` leaves out the cycles stalled on
    DDR (they depend on the memory system; the hardware counts them apart), ``weight_fills``
    the DDR line fetches (:class:`WeightCache`)."""
    header, pops, projs = decode_table(images.table)
    cache = WeightCache(images.params)
    P = header["lanes"]
    lo, hi = header["membrane_min"], header["membrane_max"]
    state = np.zeros((sum(p["positions"] * p["cwords"] for p in pops), P), dtype=np.int64)
    for pop in pops:                                            # clear: every membrane = v0
        state[pop["state_base"]:pop["state_base"] + pop["positions"] * pop["cwords"]] = pop["v0"]
    spike_memory = [0] * (sum(pop["spike_rows"] for pop in pops) + header["input_rows"])
    H, W = header["input_height"], header["input_width"]
    rate = header["encoding"] == ENCODING_CODES["rate"]
    n_in = header["input_size"]
    lanes = [int(w) for w in images.table[header["seed_base"]:header["seed_base"] + n_in]]
    inputs = [(int(a), int(a) // (H * W), int(a) // W % H, int(a) % W, int(pixels[a]))
              for a in np.flatnonzero(pixels)]
    out_index = header["output_population"]
    out = pops[out_index]
    n_out = out["channels"] * out["positions"]
    spikes = np.zeros((T, n_out), dtype=np.uint8)
    pop_spikes = np.zeros(len(pops), dtype=np.int64)
    sops, first_spike = 0, 0
    cycles = sum(RECORD_CYCLES["population"] + pop["state_words"] + 1 for pop in pops)  # clear
    for t in range(T):
        if rate:                         # the encoder pass: bitmap of this step's input spikes
            cycles += ENCODE_CYCLES * n_in + 1
            fired = np.array([(lanes[i] >> header["lfsr_shift"]) < int(pixels[i])
                              for i in range(n_in)], dtype=np.uint8)
            lanes = [lfsr_step(v, header["lfsr_mask"]) for v in lanes]
            start = header["input_spike_base"]
            spike_memory[start:start + header["input_rows"]] = _bitmap_words(
                fired, header["input_rows"], header["input_row_bits"])
        for q, pop in enumerate(pops):
            cycles += RECORD_CYCLES["population"] + 1
            for proj in projs[pop["projection_first"]:pop["projection_first"]
                              + pop["projection_count"]]:
                cycles += RECORD_CYCLES["projection"]
                if proj["source"] == INPUT_SOURCE:
                    events = inputs
                    cycles += SCAN_CYCLES["pixel"] * header["input_size"] + 1
                else:
                    if proj["source"] == INPUT_SPIKES:
                        height = H if H * W > 1 else 0
                    else:
                        src = pops[proj["source"]]
                        height = src["height"] if src["positions"] > 1 else 0
                    start = proj["source_spike_base"]
                    words = spike_memory[start:start + proj["source_rows"]]
                    events = _scan_bitmap(words, proj["source_row_bits"], height)
                    cycles += sum(SCAN_CYCLES["word"] + (SCAN_CYCLES["bit"] *
                                                         proj["source_row_bits"] if w else 0)
                                  for w in words) + 1
                for address, c, y, x, value in events:
                    added, words_touched = _accumulate(images, state, pop, proj, address, c, y,
                                                       x, value, lo, hi, cache)
                    sops += added
                    cycles += event_cycles(proj["kind"], words_touched)
            spiked = _fire(images, state, pop, lo, hi)
            cycles += pop["channels"] * pop["positions"] + FIRE_DRAIN
            start = pop["spike_base"]
            spike_memory[start:start + pop["spike_rows"]] = _bitmap_words(
                spiked, pop["spike_rows"], pop["row_bits"])
            pop_spikes[q] += int(spiked.sum())
            if q == out_index:
                spikes[t] = spiked
        if not first_spike and spikes[t].any():
            first_spike = t + 1
    words = state[out["state_base"]:out["state_base"] + out["positions"] * out["cwords"]]
    v = words.reshape(out["positions"], -1)[:, :out["channels"]].T.reshape(-1)
    return spikes, v, sops, pop_spikes, first_spike, cycles, cache.fills


def _touched_words(images: Images, pop: dict, proj: dict, address: int, c: int, y: int,
                   x: int) -> list[tuple[int, int]]:
    """``(state word, weight word)`` offsets of the first word (lane group 0) of every output
    an event touches, in ascending output address (weight offset -1 for the diagonal kinds)."""
    if proj["kind"] == KIND_CODES["dense"]:
        return [(0, address * proj["weight_channel_step"])]
    sy, wy, ny = images.geometry[proj["geo_y_base"] + y]
    sx, wx, nx = images.geometry[proj["geo_x_base"] + x]
    base = c * proj["weight_channel_step"]
    return [(int(sy + a * proj["state_row_step"] + sx + b * pop["cwords"]),
             int(base + wy - a * proj["weight_row_step"] + wx - b * proj["weight_col_step"]))
            for a in range(ny) for b in range(nx)]


def _accumulate(images, state, pop, proj, address, c, y, x, value, lo, hi,
                cache: WeightCache) -> tuple[int, int]:
    """One event into the population's membranes; returns the SOPs (neurons touched) and the
    state words it read and wrote."""
    P, cw, sops, words = images.params.lanes, pop["cwords"], 0, 0
    diagonal = proj["kind"] in (KIND_CODES["pool"], KIND_CODES["identity"])
    for s_off, w_off in _touched_words(images, pop, proj, address, c, y, x):
        if diagonal:                                    # weight 1 into channel c only
            word, lane = pop["state_base"] + s_off + c // P, c % P
            state[word, lane] = min(max(state[word, lane] + value, lo), hi)
            sops += 1
            words += 1
            continue
        for w in range(cw):
            lanes = P if w < cw - 1 else pop["last_lanes"]
            word = pop["state_base"] + s_off + w
            cache.read(proj["weight_base"] + w_off + w)
            weight = images.weights[proj["weight_base"] + w_off + w]
            state[word, :lanes] = np.clip(state[word, :lanes] + weight[:lanes] * value, lo, hi)
            sops += lanes
            words += 1
    return sops, words


def _fire(images, state, pop, lo, hi) -> np.ndarray:
    """The fire scan: channel by channel, position by position (canonical order); returns
    the spikes ``[C * positions]``."""
    P, cw = images.params.lanes, pop["cwords"]
    spiked = np.zeros(pop["channels"] * pop["positions"], dtype=np.uint8)
    for c in range(pop["channels"]):
        for pos in range(pop["positions"]):
            offset = pos * cw + c // P
            word, lane = pop["state_base"] + offset, c % P
            bias = images.biases[pop["bias_base"] + (offset if pop["bias_mode"] else c // P), lane]
            v = int(state[word, lane])
            v = v - (v >> pop["leak_shift"]) if pop["leak_shift"] else v
            v = min(max(v + int(bias), lo), hi)
            if v >= pop["theta"]:
                v -= pop["theta"]
                spiked[c * pop["positions"] + pos] = 1
            state[word, lane] = v
    return spiked


def run(net: Network, images: Images, batch, T: int) -> SequencerResult:
    """Run ``batch[B, *input_shape]`` for ``T`` timesteps from ``images`` (compiled from
    ``net``, which only validates the batch); the same outputs as ``sw/network.run`` plus the
    first output spike step."""
    pixels = check_inputs(net, batch, T)
    per = [run_image(images, x, T) for x in pixels]
    B, n_out = len(pixels), net.n_outputs
    spikes = np.array([r[0] for r in per], dtype=np.uint8).reshape(B, T, n_out)
    counts = spikes.sum(axis=1, dtype=np.int64)
    return SequencerResult(
        spikes=spikes, counts=counts, predictions=argmax_lowest(counts),
        membranes=np.array([r[1] for r in per], dtype=np.int64).reshape(B, n_out),
        sops=np.array([r[2] for r in per], dtype=np.int64),
        population_spikes=np.array([r[3] for r in per], dtype=np.int64).reshape(B, -1),
        first_spike_step=np.array([r[4] for r in per], dtype=np.int64),
        cycles=np.array([r[5] for r in per], dtype=np.int64),
        weight_fills=np.array([r[6] for r in per], dtype=np.int64))
