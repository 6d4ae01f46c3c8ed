"""Whole networks on the cycle-accurate MyHDL engines, scheduled as the layer sequencer runs them.

:func:`run_network_on_engines` computes what ``sw/network.py`` states (``docs/semantics.md``),
but every synaptic operation and every fire step happens inside a MyHDL engine simulation:

* **Mapping** (:func:`engine_plan`): each population gets one engine instance configured from
  the network (the network is data; the engines are the hardware). A population fed by one
  ``dense`` projection runs on ``hw/dense_engine.py``; one fed by ``conv``, ``pool`` and
  ``identity`` projections runs on ``hw/conv_engine.py``, a pool as a conv with the all-ones
  diagonal kernel (``sum_pool_weights``), an identity as a 1x1 conv with the identity matrix,
  several projections as weight banks of one geometry (they must share the source shape and,
  after ``shortcut_weights`` widens a 1x1 bank, the kernel). The conv engine holds one bias per
  channel. Events from a direct-encoded input carry the pixel value: that engine gets
  ``value_bits = input_bits`` (one multiplier per lane); every other event is a spike.
  Anything else raises ``NotImplementedError`` naming the population.
* **Schedule**: populations in declared (topological) order; for each one, one MyHDL
  simulation covers every image and all ``T`` timesteps. It sets the population's ``theta``,
  ``leak_shift`` and ``v0`` inputs, resets the engine and loads its weight and bias memories
  through the write ports (``load_cycles``, once per engine, not part of an inference), then
  per image presents the engine's input stream as fast as its ready signal allows -- clear
  (``INIT``); per timestep the source's events of that timestep in ascending address, then
  fire; for the dense engine a final ``READ`` -- and lets the engine finish before the next
  image. The fire phase's outputs (the dense engine's spike mask words, the conv engine's
  address events) become the population's events, ascending, which feed later engines. As the
  network is feed-forward, running a population over all ``T`` timesteps after its sources is
  the same computation as interleaving the populations within each timestep, as a
  single-sequencer schedule does, and takes the same engine cycles. The queue between two
  engines (``sw/spike_fifo.py``) is not simulated; it adds no engine cycles.
* **Input events**: *direct* -- every non-zero pixel ``x`` is an event of value ``x`` every
  timestep; *rate* -- the spikes of ``sw/rate_encoder.py`` (value 1).
* **Counts**: ``cycles`` of an image is the sum over populations of the clock edges its engine
  spends on that image, measured in the simulation as each engine documents it (dense: from
  the edge accepting ``INIT`` to idle; conv: from the edge accepting the clear to the one
  completing the last fire step); ``formula_cycles`` holds the engines' documented formulas
  for comparison. ``sops`` counts synaptic operations as the evaluator does (one
  ``v = sat(v + w*x)`` per event and touched target, 1 per touched output for pool and
  identity); ``engine_ops`` counts the lane accumulations the engines performed, which is
  more where a pool or identity runs as a conv of mostly zero weights.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numpy as np
from myhdl import StopSimulation, block, instance

from twinspike.hw import conv_engine as hw_conv
from twinspike.hw import dense_engine as hw_dense
from twinspike.hw import toolchain
from twinspike.hw.common import pack_lanes
from twinspike.network import INPUT, ArrayEq, Network, Population, as_chw
from twinspike.sw import conv_engine as sw_conv
from twinspike.sw import dense_engine as sw_dense
from twinspike.sw.common import check_range
from twinspike.sw.conv_engine import ConvEngineParams, FireConfig
from twinspike.sw.dense_engine import DenseEngineParams
from twinspike.sw.if_pe_array import MAX_LANES
from twinspike.sw.network import argmax_lowest, check_inputs, rate_encoder_params
from twinspike.sw.rate_encoder import encode

DEFAULT_LANES = 8


@dataclass(frozen=True)
class EngineSlot:
    """The engine instance that runs one population: ``kind`` (a key of :data:`ENGINES`),
    its hardware ``params`` and the projection kinds of its weight banks."""

    population: str
    kind: str
    params: DenseEngineParams | ConvEngineParams
    banks: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class HwResult(ArrayEq):
    """What :func:`run_network_on_engines` returns for ``B`` images, ``T`` timesteps.

    ``spikes`` uint8 ``[B, T, n_out]``, ``counts`` int64 ``[B, n_out]``, ``predictions`` int64
    ``[B]`` (argmax, ties to the lowest index), ``membranes`` int64 ``[B, n_out]`` (output
    membranes after the last timestep, as the engine reports them), ``sops`` and
    ``engine_ops`` int64 ``[B]``, ``population_sops`` and ``population_spikes`` int64
    ``[B, n_populations]``,
    ``cycles`` int64 ``[B]`` (all engines), ``population_cycles`` and ``formula_cycles`` int64
    ``[B, n_populations]`` (measured, and the engines' documented formulas), ``load_cycles``
    int64 ``[n_populations]`` (write-port cycles configuring each engine, once) and the
    ``engines``.
    """

    spikes: np.ndarray
    counts: np.ndarray
    predictions: np.ndarray
    membranes: np.ndarray
    sops: np.ndarray
    engine_ops: np.ndarray
    population_sops: np.ndarray
    population_spikes: np.ndarray
    cycles: np.ndarray
    population_cycles: np.ndarray
    formula_cycles: np.ndarray
    load_cycles: np.ndarray
    engines: tuple[EngineSlot, ...]


@dataclass
class _EngineRun:
    """One population's simulation over ``B`` images: ``spikes`` uint8 ``[B, T, size]``,
    ``membranes``, ``cycles``, ``formula``, ``sops``, ``engine_ops`` (each ``[B]`` but the
    membranes ``[B, size]``) and the ``load_cycles``."""

    spikes: np.ndarray
    membranes: np.ndarray
    cycles: np.ndarray
    formula: np.ndarray
    sops: np.ndarray
    engine_ops: np.ndarray
    load_cycles: int


# ----------------------------------------------------------------------------- mapping

def engine_plan(net: Network, lanes: int = DEFAULT_LANES) -> tuple[EngineSlot, ...]:
    """The engine instance of every population (module docstring, *Mapping*); raises
    ``NotImplementedError`` naming a population no engine can run."""
    if not isinstance(net, Network):
        raise ValueError(f"engine_plan expects a Network, got {type(net).__name__}")
    check_range("engine_plan", "lanes", lanes, 1, MAX_LANES)
    return tuple(_slot(net, pop, lanes) for pop in net.populations)


def _value_bits(net: Network, pop: Population) -> int:
    """``input_bits`` if a projection takes direct-encoded pixels (valued events), else 1."""
    valued = net.encoding == "direct" and any(q.source == INPUT for q in pop.projections)
    return net.input_bits if valued else 1


def _slot(net: Network, pop: Population, lanes: int) -> EngineSlot:
    kinds = tuple(proj.kind for proj in pop.projections)
    widths = dict(lanes=lanes, weight_bits=net.weight_bits, membrane_bits=net.membrane_bits,
                  value_bits=_value_bits(net, pop))
    if kinds == ("dense",):
        return EngineSlot(pop.name, "dense", DenseEngineParams(
            n_in=pop.projections[0].weight.shape[1], n_out=pop.size, **widths), kinds)
    if "dense" in kinds:
        raise NotImplementedError(
            f"population {pop.name!r} has projections {list(kinds)}: a dense projection runs "
            "on the dense engine only as the population's single projection")
    sources = {net.shape_of(proj.source) for proj in pop.projections}
    if len(sources) > 1:
        raise NotImplementedError(
            f"population {pop.name!r}: its projections come from sources of different shapes "
            f"{sorted(sources)}; the conv engine's weight banks share one source geometry")
    main = max(pop.projections, key=lambda q: q.kernel)
    for proj in pop.projections:
        if proj.kernel != main.kernel and not (proj.kernel == 1 and proj.stride == main.stride):
            raise NotImplementedError(
                f"population {pop.name!r}: a {proj.kind} projection of kernel {proj.kernel}, "
                f"stride {proj.stride} cannot share the conv engine geometry (kernel "
                f"{main.kernel}, stride {main.stride}) of the other projection")
    bias = pop.bias.reshape(pop.shape[0], -1)
    if (bias != bias[:, :1]).any():
        raise NotImplementedError(f"population {pop.name!r}: the conv engine holds one bias "
                                  "per channel, this population's bias varies within a channel")
    c_in, h_in, w_in = as_chw(sources.pop())
    return EngineSlot(pop.name, "conv", ConvEngineParams(
        c_in=c_in, h_in=h_in, w_in=w_in, c_out=pop.shape[0], kernel=main.kernel,
        stride=main.stride, padding=main.padding, projections=len(kinds), **widths), kinds)


def _bank_weights(p: ConvEngineParams, pop: Population) -> np.ndarray:
    """``weights[projections, c_out, c_in, k, k]`` of a conv slot (module docstring)."""
    banks = []
    for proj in pop.projections:
        if proj.kind == "conv":
            w = proj.weight
        elif proj.kind == "pool":
            w = sw_conv.sum_pool_weights(p.c_out, proj.kernel)
        else:
            w = np.eye(p.c_out, dtype=np.int64).reshape(p.c_out, p.c_out, 1, 1)
        if w.shape[2] != p.kernel:
            w = sw_conv.shortcut_weights(w[:, :, 0, 0], p.kernel, p.padding)
        banks.append(w)
    return np.stack(banks)


# ----------------------------------------------------------------------------- events

def input_events(net: Network, pixels: np.ndarray, T: int) -> np.ndarray:
    """The input's event values ``[B, T, n_inputs]`` (0: no event; module docstring)."""
    if net.encoding == "direct":
        return np.repeat(pixels[:, np.newaxis, :], T, axis=1)
    return encode(rate_encoder_params(net), pixels, T)


# ----------------------------------------------------------------------------- dense engine

@block
def _dense_sequencer(p: DenseEngineParams, layer: sw_dense.DenseLayer, load, programs, record):
    """Drives one dense engine: the ``layer``'s configuration inputs, reset, the memory
    ``load`` rows through the write ports, then each image's command ``programs[b]`` (waiting
    for idle in between). ``record`` receives, per image, the fired spike-mask words, the READ
    membrane words and the cycle count."""
    s = hw_dense.ports(p)
    clk, rst = s["clk"], s["rst"]
    dut = hw_dense.dense_engine(p=p, **s)
    w, m = p.weight_bits, p.membrane_bits

    @instance
    def sequencer():
        s["v0"].next, s["theta"].next = layer.v0, layer.theta
        s["leak_shift"].next = layer.leak_shift
        rst.next = 1
        yield clk.posedge
        rst.next = 0
        for is_weight, address, lanes in load:      # one write per cycle
            s["wt_we"].next, s["bias_we"].next = is_weight, not is_weight
            if is_weight:
                s["wt_addr"].next, s["wt_data"].next = address, pack_lanes(lanes, w)
            else:
                s["bias_addr"].next, s["bias_data"].next = address, pack_lanes(lanes, m)
            yield clk.posedge
        s["wt_we"].next, s["bias_we"].next = 0, 0
        for program in programs:
            fired, read, cycles, index = [], [], 0, 0
            s["cmd_valid"].next = 1
            s["cmd"].next, s["cmd_addr"].next, s["cmd_value"].next = program[0]
            while True:
                yield clk.posedge                  # the values read here are those the edge saw
                if s["out_valid"]:
                    word = (int(s["out_word"]), int(s["out_spikes"]), int(s["out_membranes"]))
                    (read if s["out_read"] else fired).append(word)
                if s["cmd_valid"] or s["busy"]:
                    cycles += 1
                elif index == len(program):
                    break
                if s["cmd_valid"] and s["cmd_ready"]:
                    index += 1
                    if index < len(program):
                        s["cmd"].next, s["cmd_addr"].next, s["cmd_value"].next = program[index]
                    else:
                        s["cmd_valid"].next = 0
            record.append((fired, read, cycles))
        raise StopSimulation()

    return dut, toolchain.bench_clock(clk), sequencer


def _run_dense(slot: EngineSlot, pop: Population, sources: list[np.ndarray]) -> _EngineRun:
    p, (events,) = slot.params, sources
    layer = sw_dense.make_layer(p, pop.projections[0].weight.T, pop.bias, pop.v0, pop.theta,
                                pop.leak_shift)
    programs, formula = [], []
    for image in events:
        addrs = [np.flatnonzero(row) for row in image]
        addrs, values = sw_dense.check_run(p, layer, addrs,
                                           [row[a] for row, a in zip(image, addrs)])
        programs.append(hw_dense.program(addrs, values))
        formula.append(sw_dense.cycle_count(p, addrs))
    load = hw_dense.memory_load(p, layer)
    record: list = []
    toolchain.simulate(_dense_sequencer(p, layer, load, programs, record))
    B, T, _ = events.shape
    spikes = np.zeros((B, T, p.n_out), dtype=np.uint8)
    membranes = np.zeros((B, p.n_out), dtype=np.int64)
    for b, (fired, read, _) in enumerate(record):
        if len(fired) != T * p.words:
            raise RuntimeError(f"dense engine of {slot.population!r}, image {b}: {len(fired)} "
                               f"fire words, expected {T * p.words}")
        out = hw_dense.read_back(p, [(k, mask) for k, mask, _ in fired],
                                 [(k, word) for k, _, word in read])
        spikes[b], membranes[b] = out["spikes"], out["membranes"]
    sops = np.count_nonzero(events, axis=(1, 2)).astype(np.int64) * p.n_out
    return _EngineRun(spikes, membranes,
                      np.array([r[2] for r in record], dtype=np.int64),
                      np.array(formula, dtype=np.int64), sops, sops, len(load))


# ----------------------------------------------------------------------------- conv engine

@block
def _conv_sequencer(p: ConvEngineParams, config: FireConfig, load, streams, n_steps: int,
                    record):
    """Drives one conv engine: the configuration inputs, reset, the memory ``load`` rows
    ``(is_weight, address, lane, value)`` through the write ports, then each image's input
    stream (``hw/conv_engine.input_stream``). ``record`` receives, per image, the output
    events and fired membrane words per timestep, the cycle count and the SOP counter's
    increase."""
    s = hw_conv.ports(p)
    clk, rst, ready = s["clk"], s["rst"], s["ready"]
    dut = hw_conv.conv_engine(p=p, **s)
    strobe = {hw_conv.IN_CLEAR: s["clear"], hw_conv.IN_EVENT: s["ev_valid"],
              hw_conv.IN_FIRE: s["fire"]}
    fields = [s["ev_bank"], s["ev_c"], s["ev_y"], s["ev_x"], s["ev_value"]]

    def present(item):
        for sig in strobe.values():
            sig.next = 0
        if item is not None:
            strobe[item[0]].next = 1
            for sig, value in zip(fields, item[1:]):
                sig.next = value

    @instance
    def sequencer():
        s["theta"].next, s["leak_shift"].next, s["v0"].next = (config.theta, config.leak_shift,
                                                               config.v0)
        rst.next = 1
        yield clk.posedge
        rst.next = 0
        for is_weight, address, lane, value in load:    # one lane written per cycle
            prefix = "wt" if is_weight else "bias"
            s["wt_we"].next, s["bias_we"].next = is_weight, not is_weight
            s[f"{prefix}_addr"].next, s[f"{prefix}_lane"].next = address, lane
            s[f"{prefix}_data"].next = int(value) & ((1 << len(s[f"{prefix}_data"])) - 1)
            yield clk.posedge
        s["wt_we"].next, s["bias_we"].next = 0, 0
        for stream in streams:
            events = [[] for _ in range(n_steps)]
            fired = [[] for _ in range(n_steps)]
            t, index, cycles, counting, sops = 0, 0, 0, False, int(s["sop_count"])
            present(stream[0])
            while t < n_steps:
                yield clk.posedge                  # the values read here are those the edge saw
                if counting:
                    cycles += 1
                if s["out_valid"]:
                    events[t].append(int(s["out_addr"]))
                if s["fire_v_valid"]:
                    fired[t].append(int(s["fire_v"]))
                if s["fire_done"]:
                    t += 1
                if index < len(stream) and ready:
                    counting = True                # from the edge accepting the clear
                    index += 1
                    present(stream[index] if index < len(stream) else None)
            record.append((events, fired, cycles,
                           (int(s["sop_count"]) - sops) % (1 << hw_conv.SOP_BITS)))
        raise StopSimulation()

    return dut, toolchain.bench_clock(clk), sequencer


def _conv_sops(p: ConvEngineParams, pop: Population, trains: np.ndarray) -> int:
    """The evaluator's SOP count of one image's ``trains[banks, T, c, h, w]``: each event
    touches the outputs of its own projection's geometry, every channel for a conv and its
    own channel for a pool or identity."""
    total = 0
    for proj, train in zip(pop.projections, trains):
        channels = p.c_out if proj.kind == "conv" else 1
        for _, _, yi, xi in zip(*np.nonzero(train)):
            total += channels * (
                sw_conv.axis_taps(yi, p.h_out, proj.kernel, proj.stride, proj.padding)[2]
                * sw_conv.axis_taps(xi, p.w_out, proj.kernel, proj.stride, proj.padding)[2])
    return total


def _run_conv(slot: EngineSlot, pop: Population, sources: list[np.ndarray]) -> _EngineRun:
    p = slot.params
    weights = _bank_weights(p, pop)
    config = FireConfig(pop.bias.reshape(p.c_out, -1)[:, 0], pop.theta, pop.leak_shift, pop.v0)
    B, T = sources[0].shape[:2]
    trains = np.stack(sources, axis=1).reshape(B, p.projections, T, *p.input_shape)
    for image in trains:
        sw_conv.check_run(sw_conv.engine_projections(p, weights, image), config)
    load = hw_conv.memory_load(p, weights, config.bias)
    streams = [hw_conv.input_stream(p, image) for image in trains]
    record: list = []
    toolchain.simulate(_conv_sequencer(p, config, load, streams, T, record))
    spikes = np.zeros((B, T, pop.size), dtype=np.uint8)
    membranes = np.zeros((B, pop.size), dtype=np.int64)
    for b, (events, fired, _, _) in enumerate(record):
        out = hw_conv.read_back(p, events, fired[-1])
        for t, addrs in enumerate(out["events"]):
            spikes[b, t, addrs] = 1
        membranes[b] = out["v"].reshape(-1)
    return _EngineRun(spikes, membranes,
                      np.array([r[2] for r in record], dtype=np.int64),
                      np.array([sw_conv.cycles(p, image) for image in trains], dtype=np.int64),
                      np.array([_conv_sops(p, pop, image) for image in trains],
                               dtype=np.int64),
                      np.array([r[3] for r in record], dtype=np.int64), len(load))


# ----------------------------------------------------------------------------- adapters

def _describe_dense(p: DenseEngineParams) -> str:
    return f"{p.n_in}->{p.n_out}"


def _describe_conv(p: ConvEngineParams) -> str:
    banks = f" {p.projections} banks" if p.projections > 1 else ""
    return (f"{p.c_in}x{p.h_in}x{p.w_in}->{p.c_out}x{p.h_out}x{p.w_out} k{p.kernel} s{p.stride} "
            f"p{p.padding}{banks}")


@dataclass(frozen=True)
class EngineAdapter:
    """How the runner and the metrics use one engine twin: its ``hw`` module (``top(params)``
    converts and synthesises it as ``name``), ``run(slot, population, sources)`` simulates a
    population over a batch (``sources``: the event trains ``[B, T, n]`` of its projections),
    and ``describe(params)`` is its shape in one line."""

    name: str
    hw: ModuleType
    run: Callable[[EngineSlot, Population, list[np.ndarray]], _EngineRun]
    describe: Callable[[DenseEngineParams | ConvEngineParams], str]


#: The engine twins a population can run on, by :attr:`EngineSlot.kind`.
ENGINES = {"dense": EngineAdapter("dense_engine", hw_dense, _run_dense, _describe_dense),
           "conv": EngineAdapter("conv_engine", hw_conv, _run_conv, _describe_conv)}


# ----------------------------------------------------------------------------- whole network

def run_network_on_engines(net: Network, images, T: int, lanes: int = DEFAULT_LANES,
                           workers: int = 1) -> HwResult:
    """Run ``images[B, *input_shape]`` for ``T`` timesteps on the MyHDL engines (module
    docstring): the outputs of ``twinspike.ext.evaluate.evaluate`` plus the hardware counts.

    ``workers > 1`` splits the images into that many contiguous chunks, each simulated in its
    own process (MyHDL is pure Python and single-threaded); the engines keep no state from one
    image to the next, so the joined result is the one a single run gives."""
    pixels = check_inputs(net, images, T)
    if not len(pixels):
        raise ValueError("run_network_on_engines needs at least one image")
    check_range("run_network_on_engines", "workers", workers, 1, 256)
    plan = engine_plan(net, lanes)
    chunks = [c for c in np.array_split(np.arange(len(pixels)), workers) if len(c)]
    if len(chunks) > 1:
        import concurrent.futures
        import multiprocessing

        # spawn, not fork: the parent may hold OpenMP and torch threads.
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(len(chunks), mp_context=context) as pool:
            parts = list(pool.map(run_network_on_engines, [net] * len(chunks),
                                  [np.asarray(images)[c] for c in chunks], [T] * len(chunks),
                                  [lanes] * len(chunks)))
        return _join(parts)
    events = {INPUT: input_events(net, pixels, T)}
    runs = []
    for slot, pop in zip(plan, net.populations):
        run = ENGINES[slot.kind].run(slot, pop, [events[q.source] for q in pop.projections])
        runs.append(run)
        events[pop.name] = run.spikes
    out = runs[-1]
    counts = out.spikes.sum(axis=1, dtype=np.int64)
    population_cycles = np.stack([r.cycles for r in runs], axis=1)
    population_sops = np.stack([r.sops for r in runs], axis=1)
    return HwResult(spikes=out.spikes, counts=counts, predictions=argmax_lowest(counts),
                    membranes=out.membranes, sops=population_sops.sum(axis=1),
                    engine_ops=sum(r.engine_ops for r in runs), population_sops=population_sops,
                    population_spikes=np.stack([r.spikes.sum(axis=(1, 2), dtype=np.int64)
                                                for r in runs], axis=1),
                    cycles=population_cycles.sum(axis=1), population_cycles=population_cycles,
                    formula_cycles=np.stack([r.formula for r in runs], axis=1),
                    load_cycles=np.array([r.load_cycles for r in runs], dtype=np.int64),
                    engines=plan)


def _join(parts: list[HwResult]) -> HwResult:
    """One :class:`HwResult` of consecutive image chunks (per-image arrays concatenated; the
    engines and their load cycles are the same in every part)."""
    once = {"load_cycles", "engines"}
    return HwResult(**{f.name: getattr(parts[0], f.name) if f.name in once
                       else np.concatenate([getattr(p, f.name) for p in parts])
                       for f in dataclasses.fields(HwResult)})
