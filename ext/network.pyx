"""Cython twin of the whole-network evaluator (``sw/network.py`` states the semantics).

:class:`CompiledNetwork` flattens a :class:`twinspike.network.Network` once into tables and
the ``layers.pxd`` layouts (membranes, biases and spikes of ``(C, H, W)`` populations are
channel-last inside; events and outputs use the canonical ``c*H*W + y*W + x`` order).
:func:`run_batch` then runs a batch in one nogil call, OpenMP over the images, each thread on
its own scratch membranes (never more threads than images). ``ext/evaluate.py`` streams
a data set through it.

A direct-encoded input sends the same events every timestep, so a dense or conv projection
from it adds the same current each step: :func:`run_image` sums its positive and negative
parts once per image and adds the current whole whenever no partial sum can saturate, which is
exactly the event-by-event result (and the same SOP count) at a fraction of the work; a dense
or conv projection of spikes skips the per-add clamps when no membrane can reach its bounds.
"""
import cython
import numpy as np
cimport numpy as cnp
cimport openmp
from cython.parallel import prange, threadid

from twinspike.ext.layers cimport (conv_event, dense_event, dense_events_unsaturated, fire,
                                   point_event, pool_event, v_t, w_t, within)
from twinspike.sw.network_model import INPUT, Network, as_chw
from twinspike.sw.common import signed_max, signed_min

COMPILED = cython.compiled

ctypedef cnp.uint8_t u8
ctypedef cnp.int64_t i64

KINDS = {"dense": 0, "conv": 1, "pool": 2, "identity": 3}
cdef enum:
    DENSE = 0
    CONV = 1
    POOL = 2
    IDENTITY = 3

# Columns of the source table: row 0 is the input, row l + 1 population l.
cdef enum:
    S_SIZE = 0        # neurons
    S_C = 1
    S_H = 2
    S_W = 3
    S_EVENTS = 4      # offset of this source's events in the event buffer
    S_V = 5           # offset of its membranes (and biases) in the membrane buffer
    S_THETA = 6
    S_V0 = 7
    S_LEAK = 8
    S_FIRST = 9       # its projections: rows FIRST..LAST-1 of the projection table
    S_LAST = 10
    S_COLS = 11

# Columns of the projection table.
cdef enum:
    P_KIND = 0
    P_SOURCE = 1      # row of the source table
    P_WEIGHTS = 2     # offset in the weight array
    P_K = 3
    P_STRIDE = 4
    P_PAD = 5
    P_POS = 6         # a direct-input dense/conv projection: offsets of its positive and
    P_NEG = 7         # negative weight parts, and of its positive/negative current sums in
    P_CURRENT = 8     # the per-image current buffer; -1 for other projections
    P_BOUND = 9       # a spike-driven dense/conv projection: offset of its per-target sums of
                      # the positive and of the negative weights in the bounds array; else -1
    P_COLS = 10


ctypedef struct Net:
    const i64* sources
    const i64* projections
    const w_t* weights
    const v_t* bias
    const v_t* bounds
    Py_ssize_t n_pops, n_in, T
    bint direct
    v_t lo, hi


def channel_last(shape):
    """``perm[i]`` = canonical address of internal (channel-last) index ``i``."""
    c, h, w = as_chw(shape)
    return np.arange(c * h * w).reshape(c, h * w).T.reshape(-1)


class CompiledNetwork:
    """A Network flattened for :func:`run_batch`: source and projection tables (int64), int8
    weights (dense ``[n_in, n_out]`` with channel-last targets, conv ``[c_in, k, k, c_out]``;
    a direct-input dense/conv projection's positive and negative parts appended) and int32
    biases in channel-last order."""

    def __init__(self, net):
        if not isinstance(net, Network):
            raise ValueError(f"CompiledNetwork expects a Network, got {type(net).__name__}")
        self.net = net
        rows = {INPUT: 0}
        sources = [[net.n_inputs, *as_chw(net.input_shape), 0, 0, 0, 0, 0, 0, 0]]
        projections, weights, biases = [], [], []
        n_weights, n_neurons, n_current, n_bounds = 0, 0, 0, 0
        bounds = []
        split = []                    # direct-input dense/conv: (row, weights, target size)
        for l, pop in enumerate(net.populations):
            perm = channel_last(pop.shape)
            first = len(projections)
            for proj in pop.projections:
                w = np.zeros(0, dtype=np.int8)
                if proj.kind == "dense":
                    w = proj.weight[perm, :].T
                elif proj.kind == "conv":
                    w = proj.weight.transpose(1, 2, 3, 0)
                constant = (net.encoding == "direct" and proj.source == INPUT
                            and proj.kind in ("dense", "conv"))
                bound = -1
                if proj.kind in ("dense", "conv") and not constant:
                    # Per target, the sums of its positive and of its negative weights: in
                    # one step a source neuron spikes at most once and reaches a target
                    # through at most one synapse, so every partial sum of the step's adds
                    # lies in v + neg .. v + pos. int64 sums, capped (a cap only makes the
                    # test stricter). A conv target's sums are its output channel's,
                    # repeated over the channel-last positions.
                    taps = w.reshape(-1, w.shape[w.ndim - 1])   # (no [-1]: wraparound=False)
                    up = np.minimum(np.maximum(taps, 0).sum(axis=0, dtype=np.int64), CAP)
                    down = np.maximum(np.minimum(taps, 0).sum(axis=0, dtype=np.int64), -CAP)
                    reps = pop.size // taps.shape[1]
                    bound = n_bounds
                    bounds += [np.tile(up, reps), np.tile(down, reps)]
                    n_bounds += 2 * pop.size
                projections.append([KINDS[proj.kind], rows[proj.source], n_weights,
                                    proj.kernel, proj.stride, proj.padding, -1, -1, -1, bound])
                weights.append(w.reshape(-1))
                n_weights += w.size
                if constant:
                    split.append((len(projections) - 1, w.reshape(-1), pop.size))
            rows[pop.name] = l + 1
            sources.append([pop.size, *as_chw(pop.shape), net.n_inputs + n_neurons, n_neurons,
                            pop.theta, pop.v0, pop.leak_shift, first, len(projections)])
            biases.append(pop.bias[perm])
            n_neurons += pop.size
        for j, w, size in split:
            projections[j][P_POS:P_BOUND] = [n_weights, n_weights + w.size, n_current]
            weights += [np.maximum(w, 0), np.minimum(w, 0)]
            n_weights += 2 * w.size
            n_current += 2 * size
        self.sources = np.array(sources, dtype=np.int64)
        self.projections = np.array(projections, dtype=np.int64).reshape(-1, P_COLS)
        self.weights = np.concatenate(weights).astype(np.int8)
        self.n_current = n_current
        self.bias = np.concatenate(biases).astype(np.int32)
        self.bounds = np.concatenate(bounds + [np.zeros(1)]).astype(np.int32)  # never empty
        self.n_neurons = n_neurons


cdef inline Py_ssize_t internal(const i64* s, Py_ssize_t address) noexcept nogil:
    """Channel-last index of canonical ``address`` in source/target ``s``."""
    cdef Py_ssize_t plane = s[S_H] * s[S_W]
    return (address % plane) * s[S_C] + address // plane


cdef inline Py_ssize_t project_events(const Net* n, const i64* p, const w_t* weights,
                                      const i64* src, const i64* dst, const int* events,
                                      Py_ssize_t n_events, const u8* x, v_t* v, v_t lo,
                                      v_t hi, bint clamp=True) noexcept nogil:
    """Every event of the source through projection ``p`` (its weights at ``weights``) in
    ascending address order into target membranes ``v``, each add saturating at ``lo..hi``
    (a conv's adds only if ``clamp``: ``False`` when the caller proved no partial sum can
    saturate); the input's events carry their pixel value when direct-encoded. Returns the
    SOPs. Because the addresses ascend, their (channel, row, column) are tracked by stepping
    forward, without a division per event."""
    cdef Py_ssize_t e, a, sops = 0, kind = p[P_KIND]
    cdef Py_ssize_t ci = 0, yi = 0, xi, base = 0, row = 0
    cdef Py_ssize_t plane = src[S_H] * src[S_W], width = src[S_W]
    cdef bint valued = p[P_SOURCE] == 0 and n.direct
    cdef v_t value = 1
    for e in range(n_events):
        a = events[e]
        if valued:
            value = x[a]
        if kind == DENSE:
            dense_event(v, weights + a * dst[S_SIZE], dst[S_SIZE], value, lo, hi)
            sops += dst[S_SIZE]
            continue
        while a >= base + plane:                     # next channel
            ci += 1
            base += plane
            yi = 0
            row = base
        while a >= row + width:                      # next row
            yi += 1
            row += width
        xi = a - row
        if kind == IDENTITY:                         # same shape: channel-last index
            point_event(v + (yi * width + xi) * dst[S_C] + ci, value, lo, hi)
            sops += 1
        elif kind == CONV:
            sops += conv_event(v, weights, dst[S_C], p[P_K], p[P_STRIDE], p[P_PAD],
                               dst[S_H], dst[S_W], ci, yi, xi, value, lo, hi, clamp)
        else:
            sops += pool_event(v, dst[S_C], p[P_K], dst[S_H], dst[S_W], ci, yi, xi, value,
                               lo, hi)
    return sops


#: Bound of the constant-current sums: no int32 overflow when a membrane or a product is added.
cdef enum:
    CURRENT_CAP = 1 << 30
CAP = CURRENT_CAP
#: Up to this many inputs a current sum of pixel x weight products stays below CURRENT_CAP
#: (32768 * 255 * 128 < 2**30), so its clamps could never act: plain adds.
cdef enum:
    MAX_UNCLAMPED_INPUTS = 32768


cdef inline bint add_constant(v_t* v, const v_t* pos, const v_t* neg, Py_ssize_t size,
                              v_t lo, v_t hi) noexcept nogil:
    """``v += pos + neg`` if no neuron can saturate on the way -- every partial sum of the
    projection's saturating adds lies in ``v + neg .. v + pos`` -- so that the result equals
    the event-by-event one; returns False (``v`` untouched) otherwise."""
    cdef Py_ssize_t i
    if not within(v, pos, neg, size, lo, hi):
        return False
    for i in range(size):
        v[i] = v[i] + pos[i] + neg[i]
    return True


cdef inline Py_ssize_t gather(const u8* spikes, const i64* s, int* events) noexcept nogil:
    """Canonical addresses of the spiking neurons of ``s``, ascending; returns how many."""
    cdef Py_ssize_t c, r, count = 0, plane = s[S_H] * s[S_W]
    for c in range(s[S_C]):
        for r in range(plane):
            events[count] = c * plane + r        # kept only if it spiked (branch-free)
            count += spikes[r * s[S_C] + c]
    return count


cdef i64 run_image(const Net* n, const u8* x, const u8* levels, v_t* v, u8* spikes,
                   int* events, Py_ssize_t* n_events, v_t* current, i64* constant_sops,
                   u8* out_spikes, v_t* out_v, i64* pop_spikes) noexcept nogil:
    """One image from reset; fills its output spikes ``[T, n_out]``, final output membranes
    and spike count per population; returns its SOPs.

    A direct-encoded input sends the same events every timestep, so a dense or conv
    projection from it adds the same current each step: its positive and negative parts are
    summed once (``current``, with the split weights) and added whole at each step when no
    partial sum can saturate (:func:`add_constant`), event by event otherwise. Likewise a
    dense or conv projection of spikes adds its events with plain adds (dense: four rows at a
    time) when even the sums of all its positive and of all its negative weights keep every
    membrane in range (:func:`within`, the per-target sums in ``n.bounds``). The SOPs counted
    are the same either way."""
    cdef Py_ssize_t t, l, j, e, a, i, n_out
    cdef i64 sops = 0
    cdef const i64* dst
    cdef const i64* src
    cdef const i64* p
    cdef const i64* out = n.sources + n.n_pops * S_COLS
    cdef v_t* pos
    cdef bint unclamped
    n_out = out[S_SIZE]
    for l in range(n.n_pops):
        dst = n.sources + (l + 1) * S_COLS
        for i in range(dst[S_SIZE]):
            v[dst[S_V] + i] = <v_t>dst[S_V0]
    for t in range(n.T):
        if t == 0 or not n.direct:
            n_events[0] = 0
            for a in range(n.n_in):
                events[n_events[0]] = a                   # kept only if it is an event
                n_events[0] += (x[a] != 0) if n.direct else (levels[t * n.n_in + a] < x[a])
        for l in range(n.n_pops):
            dst = n.sources + (l + 1) * S_COLS
            for j in range(dst[S_FIRST], dst[S_LAST]):
                p = n.projections + j * P_COLS
                src = n.sources + p[P_SOURCE] * S_COLS
                unclamped = p[P_BOUND] >= 0 and within(
                    v + dst[S_V], n.bounds + p[P_BOUND], n.bounds + p[P_BOUND] + dst[S_SIZE],
                    dst[S_SIZE], n.lo, n.hi)
                if unclamped and p[P_KIND] == DENSE:
                    dense_events_unsaturated(v + dst[S_V], n.weights + p[P_WEIGHTS],
                                             events + src[S_EVENTS], NULL,
                                             n_events[p[P_SOURCE]], dst[S_SIZE])
                    sops += n_events[p[P_SOURCE]] * dst[S_SIZE]
                    continue
                if p[P_POS] < 0:
                    sops += project_events(n, p, n.weights + p[P_WEIGHTS], src, dst,
                                           events + src[S_EVENTS], n_events[p[P_SOURCE]], x,
                                           v + dst[S_V], n.lo, n.hi, not unclamped)
                    continue
                pos = current + p[P_CURRENT]
                if t == 0:
                    for i in range(2 * dst[S_SIZE]):
                        pos[i] = 0
                if t == 0 and p[P_KIND] == DENSE and n.n_in <= MAX_UNCLAMPED_INPUTS:
                    dense_events_unsaturated(pos, n.weights + p[P_POS], events, x,
                                             n_events[0], dst[S_SIZE])
                    dense_events_unsaturated(pos + dst[S_SIZE], n.weights + p[P_NEG], events,
                                             x, n_events[0], dst[S_SIZE])
                    constant_sops[j] = n_events[0] * dst[S_SIZE]
                elif t == 0:
                    constant_sops[j] = project_events(
                        n, p, n.weights + p[P_POS], src, dst, events, n_events[0], x, pos,
                        -CURRENT_CAP, CURRENT_CAP, n.n_in > MAX_UNCLAMPED_INPUTS)
                    project_events(n, p, n.weights + p[P_NEG], src, dst, events, n_events[0],
                                   x, pos + dst[S_SIZE], -CURRENT_CAP, CURRENT_CAP,
                                   n.n_in > MAX_UNCLAMPED_INPUTS)
                if not add_constant(v + dst[S_V], pos, pos + dst[S_SIZE], dst[S_SIZE], n.lo,
                                    n.hi):
                    project_events(n, p, n.weights + p[P_WEIGHTS], src, dst, events,
                                   n_events[0], x, v + dst[S_V], n.lo, n.hi)
                sops += constant_sops[j]
            pop_spikes[l] += fire(v + dst[S_V], n.bias + dst[S_V], dst[S_SIZE],
                                  <v_t>dst[S_THETA], <int>dst[S_LEAK], n.lo, n.hi, spikes)
            n_events[l + 1] = gather(spikes, dst, events + dst[S_EVENTS])
        for e in range(n_events[n.n_pops]):
            out_spikes[t * n_out + events[out[S_EVENTS] + e]] = 1
    for a in range(n_out):
        out_v[a] = v[out[S_V] + internal(out, a)]
    return sops


def run_batch(compiled, pixels, levels, Py_ssize_t T):
    """Run ``pixels`` uint8 ``[B, n_inputs]`` for ``T`` timesteps (``levels`` uint8
    ``[T, n_inputs]`` from ``ext.rate_encoder.levels`` for rate encoding, else None).
    Returns ``(spikes u8[B, T, n_out], membranes i32[B, n_out], sops i64[B],
    population_spikes i64[B, n_populations])``."""
    if not isinstance(compiled, CompiledNetwork):
        raise ValueError(f"run_batch expects a CompiledNetwork, got {type(compiled).__name__}")
    net = compiled.net
    if T < 1:
        raise ValueError(f"run_batch.T={T} is out of range: expected >= 1")
    px = np.ascontiguousarray(pixels)
    if px.dtype != np.uint8 or px.ndim != 2 or px.shape[1] != net.n_inputs:
        raise ValueError(f"run_batch.pixels: expected uint8 (B, {net.n_inputs}), got "
                         f"{px.dtype} {px.shape}")
    if px.size and px.max() >= (1 << net.input_bits):
        raise ValueError(f"run_batch.pixels holds {px.max()}, out of range: expected "
                         f"0..{(1 << net.input_bits) - 1}")
    direct = net.encoding == "direct"
    if direct != (levels is None):
        raise ValueError("run_batch.levels: expected None for direct encoding and the LFSR "
                         "levels for rate encoding")
    levels_arr = np.zeros((T, net.n_inputs), np.uint8) if direct else np.asarray(levels)
    if levels_arr.dtype != np.uint8 or levels_arr.shape != (T, net.n_inputs):
        raise ValueError(f"run_batch.levels: expected uint8 ({T}, {net.n_inputs}), got "
                         f"{levels_arr.dtype} {levels_arr.shape}")
    cdef const u8[:, ::1] lv = np.ascontiguousarray(levels_arr)
    cdef Py_ssize_t B = px.shape[0], n_pops = len(net.populations), n_out = net.n_outputs
    cdef int threads = max(1, min(openmp.omp_get_max_threads(), B))   # no idle threads
    spikes_arr = np.zeros((B, T, n_out), dtype=np.uint8)
    membranes_arr = np.zeros((B, n_out), dtype=np.int32)
    sops_arr = np.zeros(B, dtype=np.int64)
    pop_spikes_arr = np.zeros((B, n_pops), dtype=np.int64)
    cdef const u8[:, ::1] xv = px
    cdef u8[:, :, ::1] spikes = spikes_arr
    cdef v_t[:, ::1] membranes = membranes_arr
    cdef i64[::1] sops = sops_arr
    cdef i64[:, ::1] pop_spikes = pop_spikes_arr
    cdef const i64[:, ::1] sources = compiled.sources
    cdef const i64[:, ::1] projections = compiled.projections
    cdef const w_t[::1] weights = compiled.weights
    cdef const v_t[::1] bias = compiled.bias
    cdef const v_t[::1] bounds = compiled.bounds
    # Per-thread scratch (+1 keeps every buffer non-empty).
    cdef v_t[:, ::1] v = np.zeros((threads, compiled.n_neurons + 1), dtype=np.int32)
    cdef u8[:, ::1] spk = np.zeros((threads, compiled.sources[:, S_SIZE].max() + 1), np.uint8)
    cdef int[:, ::1] events = np.zeros((threads, net.n_inputs + compiled.n_neurons + 1),
                                       dtype=np.intc)
    cdef Py_ssize_t[:, ::1] n_events = np.zeros((threads, n_pops + 1), dtype=np.intp)
    cdef v_t[:, ::1] current = np.zeros((threads, compiled.n_current + 1), dtype=np.int32)
    cdef i64[:, ::1] constant_sops = np.zeros((threads, len(compiled.projections) + 1),
                                              dtype=np.int64)
    cdef Net n
    n.sources = &sources[0, 0]
    n.projections = &projections[0, 0]
    n.weights = &weights[0] if weights.shape[0] else NULL
    n.bias = &bias[0]
    n.bounds = &bounds[0]
    n.n_pops, n.n_in, n.T, n.direct = n_pops, net.n_inputs, T, direct
    n.lo, n.hi = signed_min(net.membrane_bits), signed_max(net.membrane_bits)
    cdef Py_ssize_t b
    cdef int tid
    for b in prange(B, nogil=True, schedule="dynamic", num_threads=threads):
        tid = threadid()
        sops[b] = run_image(&n, &xv[b, 0], &lv[0, 0], &v[tid, 0], &spk[tid, 0], &events[tid, 0],
                            &n_events[tid, 0], &current[tid, 0], &constant_sops[tid, 0],
                            &spikes[b, 0, 0], &membranes[b, 0], &pop_spikes[b, 0])
    return spikes_arr, membranes_arr, sops_arr, pop_spikes_arr
