"""Cython twin of the GLM neuron unit (semantics in ``sw/glm_neuron.py``) and the batch
evaluator of a whole data set: one inference per spike-train set, OpenMP over the batch.

Like the hardware, traces come from the trace ROM (``p.trace_rom``, one word per kernel and
input history) and the sampler levels from the LFSR bank restarted for every inference."""
import cython
import numpy as np
cimport numpy as cnp
from cython.parallel import prange

from twinspike.ext.lfsr_step cimport lfsr_step, u32
from twinspike.sw.glm_neuron import check_biases, check_spikes, check_weights

COMPILED = cython.compiled

ctypedef cnp.uint8_t u8
ctypedef signed char i8
ctypedef int i32
ctypedef long long i64


cdef inline i32 sat(i64 x, i32 lo, i32 hi) noexcept nogil:
    return lo if x < lo else (hi if x > hi else <i32>x)


cdef struct Unit:
    Py_ssize_t n_in, n_out, n_kernels, tau, n_steps
    i32 lo, hi, lut_half, lut_shift
    const i32* trace_rom     # [k << tau | history]
    const i8* w              # [(j * K + k) * n_out + i]
    const i32* bias          # [i]
    const i32* lut           # [2**lut_in_bits]
    const i32* levels        # [t * n_out + i]: sampler lane i after t steps, top P bits


cdef void infer_one(const Unit* g, const u8* spikes, i32* history, i32* u,
                    i32* rec_u, i32* rec_q, u8* rec_o, i32* out) noexcept nogil:
    """One inference of ``spikes[t * n_in + j]``; ``out`` = (decision, step, fallback).
    ``rec_*`` (``[t * n_out + i]``) may be NULL: then nothing is recorded."""
    cdef Py_ssize_t t, j, k, i, n_out = g.n_out
    cdef i32 h, tr, idx, q, first
    cdef i32 window = (1 << g.tau) - 1
    cdef const i8* wrow
    for j in range(g.n_in):
        history[j] = 0
    for t in range(g.n_steps):
        for i in range(n_out):
            u[i] = g.bias[i]
        for j in range(g.n_in):
            h = ((history[j] << 1) | spikes[t * g.n_in + j]) & window
            history[j] = h
            if h == 0:
                continue
            for k in range(g.n_kernels):
                tr = g.trace_rom[(k << g.tau) | h]
                if tr == 0:
                    continue
                wrow = g.w + (j * g.n_kernels + k) * n_out
                for i in range(n_out):
                    u[i] = sat(<i64>u[i] + <i64>wrow[i] * tr, g.lo, g.hi)
        first = -1
        for i in range(n_out):
            idx = u[i] >> g.lut_shift
            idx = -g.lut_half if idx < -g.lut_half else (g.lut_half - 1 if idx > g.lut_half - 1 else idx)
            q = g.lut[idx + g.lut_half]
            if rec_u != NULL:
                rec_u[t * n_out + i] = u[i]
                rec_q[t * n_out + i] = q
                rec_o[t * n_out + i] = g.levels[t * n_out + i] < q
            if first < 0 and g.levels[t * n_out + i] < q:
                first = <i32>i
        if first >= 0:
            out[0], out[1], out[2] = first, <i32>(t + 1), 0
            return
    first = 0
    for i in range(1, n_out):
        if u[i] > u[first]:
            first = <i32>i
    out[0], out[1], out[2] = first, <i32>g.n_steps, 1


def _sampler_levels(p, Py_ssize_t n_steps):
    """Sampler lane ``i`` after ``t`` steps, top ``lut_out_bits`` bits, as int32
    ``(n_steps, n_out)`` (the LFSR bank restarts from its lane seeds every inference)."""
    sampler = p.sampler
    cdef const u32[::1] seeds = np.asarray(sampler.seeds, dtype=np.uint32)
    cdef u32 mask = sampler.mask, s
    cdef int shift = p.level_shift
    levels = np.empty((n_steps, seeds.shape[0]), dtype=np.int32)
    cdef i32[:, ::1] out = levels
    cdef Py_ssize_t lane, t
    with nogil:
        for lane in range(seeds.shape[0]):
            s = seeds[lane]
            for t in range(n_steps):
                out[t, lane] = <i32>(s >> shift)     # lut_out_bits < 32 bits: fits
                s = lfsr_step(s, mask)
    return levels


cdef class _Prepared:
    """The unit's tables and data as C arrays (kept alive while the kernel runs)."""
    cdef Unit unit
    cdef object arrays

    def __init__(self, p, weights, biases, Py_ssize_t n_steps):
        w = check_weights(p, weights, "glm_neuron")
        b = check_biases(p, biases, "glm_neuron")
        trace_rom = np.ascontiguousarray(p.trace_rom, dtype=np.int32)
        w_t = np.ascontiguousarray(w.transpose(1, 2, 0), dtype=np.int8)   # (n_in, K, n_out)
        bias = np.ascontiguousarray(b, dtype=np.int32)
        lut = np.ascontiguousarray(p.sigmoid_lut, dtype=np.int32)
        levels = _sampler_levels(p, n_steps)
        self.arrays = (trace_rom, w_t, bias, lut, levels)
        cdef const i32[::1] tr_v = trace_rom
        cdef const i8[:, :, ::1] w_v = w_t
        cdef const i32[::1] b_v = bias
        cdef const i32[::1] lut_v = lut
        cdef const i32[:, ::1] lv_v = levels
        self.unit.n_in, self.unit.n_out = p.n_in, p.n_out
        self.unit.n_kernels, self.unit.tau, self.unit.n_steps = p.n_kernels, p.tau, n_steps
        self.unit.lo = -(1 << (p.membrane_bits - 1))
        self.unit.hi = (1 << (p.membrane_bits - 1)) - 1
        self.unit.lut_half = 1 << (p.lut_in_bits - 1)
        self.unit.lut_shift = p.lut_shift
        self.unit.trace_rom = &tr_v[0]
        self.unit.w = &w_v[0, 0, 0]
        self.unit.bias = &b_v[0]
        self.unit.lut = &lut_v[0]
        self.unit.levels = &lv_v[0, 0]


def _batch(p, spikes):
    s = check_spikes(p, spikes, "glm_neuron")
    if s.ndim != 3:
        raise ValueError(f"glm_neuron.spikes must have shape (B, T, {p.n_in}), got {s.shape}")
    return np.ascontiguousarray(s, dtype=np.uint8)


def infer_batch(p, weights, biases, spikes):
    """Per-timestep records and decisions of every inference (== ``sw.glm_neuron.infer_batch``)."""
    s = _batch(p, spikes)
    cdef Py_ssize_t n_batch = s.shape[0], n_steps = s.shape[1]
    cdef _Prepared prep = _Prepared(p, weights, biases, n_steps)
    cdef const u8[:, :, ::1] s_v = s
    history = np.zeros(p.n_in, dtype=np.int32)
    u = np.zeros(p.n_out, dtype=np.int32)
    cdef i32[::1] h_v = history, u_v = u
    cdef i32[3] out
    cdef i32[:, ::1] ru_v, rq_v
    cdef u8[:, ::1] ro_v
    results = []
    cdef Py_ssize_t b
    for b in range(n_batch):
        rec_u = np.zeros((n_steps, p.n_out), dtype=np.int32)
        rec_q = np.zeros((n_steps, p.n_out), dtype=np.int32)
        rec_o = np.zeros((n_steps, p.n_out), dtype=np.uint8)
        ru_v, rq_v, ro_v = rec_u, rec_q, rec_o
        infer_one(&prep.unit, &s_v[b, 0, 0], &h_v[0], &u_v[0], &ru_v[0, 0], &rq_v[0, 0],
                  &ro_v[0, 0], out)
        n = out[1]
        results.append(dict(membranes=rec_u[:n].astype(np.int64), probs=rec_q[:n].astype(np.int64),
                            spikes=rec_o[:n], decision=int(out[0]), step=int(out[1]),
                            fallback=int(out[2])))
    return results


def evaluate(p, weights, biases, spikes):
    """Decisions of a whole data set: ``spikes`` ``(B, T, n_in)`` -> int32 arrays ``decision``,
    ``step`` and ``fallback`` of shape ``(B,)``; OpenMP over the batch, no per-step records."""
    s = _batch(p, spikes)
    cdef Py_ssize_t n_batch = s.shape[0], n_steps = s.shape[1], b
    cdef _Prepared prep = _Prepared(p, weights, biases, n_steps)
    cdef const u8[:, :, ::1] s_v = s
    history = np.zeros((n_batch, p.n_in), dtype=np.int32)
    u = np.zeros((n_batch, p.n_out), dtype=np.int32)
    outs = np.zeros((n_batch, 3), dtype=np.int32)
    cdef i32[:, ::1] h_v = history, u_v = u, o_v = outs
    cdef const Unit* unit = &prep.unit
    for b in prange(n_batch, nogil=True, schedule="static"):
        infer_one(unit, &s_v[b, 0, 0], &h_v[b, 0], &u_v[b, 0], NULL, NULL, NULL, &o_v[b, 0])
    return outs[:, 0].copy(), outs[:, 1].copy(), outs[:, 2].copy()
