"""Cython twin of the first-to-spike decoder (see ``sw/first_to_spike_decoder.py`` for the
semantics): one cycle kernel, stepped per cycle by ``run`` and per image by ``decode_batch``
(OpenMP over the batch; an image stops at its early exit, as the sequencer would)."""
import cython
import numpy as np
from cython.parallel import prange

from twinspike.ext.argmax cimport argmax_lowest
from twinspike.sw.first_to_spike_decoder import OUTPUTS, check_batch, check_stimulus

COMPILED = cython.compiled

ctypedef unsigned char u8
ctypedef long long i64


cdef struct Decoder:
    int decided, decision, step, fallback, seen


cdef inline Py_ssize_t lowest_spiking(const u8* spikes, Py_ssize_t n) noexcept nogil:
    """Lowest spiking index, -1 when none spikes."""
    cdef Py_ssize_t i
    for i in range(n):
        if spikes[i]:
            return i
    return -1


cdef inline bint decoder_cycle(Decoder* d, bint first, bint valid, const u8* spikes,
                               bint mem_valid, const int* membranes, Py_ssize_t n,
                               int t_steps) noexcept nogil:
    """One clock cycle; returns ``early_exit``. ``spikes`` is read only when ``valid``,
    ``membranes`` only when ``mem_valid``."""
    cdef bint is_open = first or not d.decided
    cdef int seen = 0 if first else d.seen
    cdef bint takes_step = valid and seen < t_steps
    cdef Py_ssize_t lowest = lowest_spiking(spikes, n) if takes_step and is_open else -1
    cdef bint early = lowest >= 0
    cdef int after = seen + 1 if takes_step else seen
    if early:
        d.decided, d.decision, d.step, d.fallback = 1, <int>lowest, seen, 0
    elif mem_valid and is_open:
        d.decided, d.decision, d.step, d.fallback = 1, <int>argmax_lowest(membranes, n), after, 1
    elif first:
        d.decided, d.decision, d.step, d.fallback = 0, 0, 0, 0
    d.seen = after
    return early


def run(p, first, valid, spikes, mem_valid, membranes):
    """Per-cycle stimulus from reset; == the reference's ``run``."""
    stim = check_stimulus(p, first, valid, spikes, mem_valid, membranes)
    cdef const i64[::1] first_v = np.ascontiguousarray(stim[0])
    cdef const i64[::1] valid_v = np.ascontiguousarray(stim[1])
    cdef const u8[:, ::1] spk = np.ascontiguousarray(stim[2], dtype=np.uint8)
    cdef const i64[::1] mem_valid_v = np.ascontiguousarray(stim[3])
    cdef const int[:, ::1] mem = np.ascontiguousarray(stim[4], dtype=np.int32)
    cdef Py_ssize_t n_cycles = spk.shape[0], n = p.n_classes, c
    cdef int t_steps = p.t_steps
    out_arr = np.zeros((len(OUTPUTS), n_cycles), dtype=np.int64)
    cdef i64[:, ::1] out = out_arr
    cdef Decoder d = Decoder(0, 0, 0, 0, 0)
    with nogil:
        for c in range(n_cycles):
            out[0, c] = decoder_cycle(&d, first_v[c] != 0, valid_v[c] != 0, &spk[c, 0],
                                      mem_valid_v[c] != 0, &mem[c, 0], n, t_steps)
            out[1, c], out[2, c], out[3, c], out[4, c] = d.decided, d.decision, d.step, d.fallback
    return {name: out_arr[k] for k, name in enumerate(OUTPUTS)}


def decode_batch(p, spikes, membranes):
    """Images ``spikes (B, T, n_classes)`` with final ``membranes (B, n_classes)``; returns
    ``decision``, ``decision_step`` and ``fallback``, each ``(B,)``; == the reference's
    ``decode_batch``."""
    spikes_arr, membranes_arr = check_batch(p, spikes, membranes)
    cdef const u8[:, :, ::1] spk = np.ascontiguousarray(spikes_arr, dtype=np.uint8)
    cdef const int[:, ::1] mem = np.ascontiguousarray(membranes_arr, dtype=np.int32)
    cdef Py_ssize_t n_batch = spk.shape[0], n_steps = spk.shape[1], n = p.n_classes, b, t
    cdef int t_steps = p.t_steps
    out_arr = np.zeros((3, n_batch), dtype=np.int64)
    cdef i64[:, ::1] out = out_arr
    cdef Decoder d
    for b in prange(n_batch, nogil=True, schedule="static"):
        d = Decoder(0, 0, 0, 0, 0)
        for t in range(n_steps):
            if decoder_cycle(&d, t == 0, True, &spk[b, t, 0], False, &mem[b, 0], n, t_steps):
                break
        decoder_cycle(&d, n_steps == 0, False, NULL, True, &mem[b, 0], n, t_steps)
        out[0, b], out[1, b], out[2, b] = d.decision, d.step, d.fallback
    return dict(decision=out_arr[0], decision_step=out_arr[1], fallback=out_arr[2])
