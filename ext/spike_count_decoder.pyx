"""Cython twin of the spike-count decoder (see ``sw/spike_count_decoder.py`` for the semantics):
``run`` steps the per-cycle interface, ``decode_batch`` decodes a batch of images in parallel
(OpenMP over the batch) with the same kernel."""
import cython
import numpy as np
from cython.parallel import prange

from twinspike.ext.argmax cimport argmax_lowest
from twinspike.sw.spike_count_decoder import check_spikes, check_stimulus

COMPILED = cython.compiled

ctypedef unsigned char u8


cdef inline void add_timestep(int* counts, const u8* spikes, Py_ssize_t n, int count_max) noexcept nogil:
    """``counts[i] = min(counts[i] + spikes[i], count_max)``."""
    cdef Py_ssize_t i
    for i in range(n):
        if spikes[i] and counts[i] < count_max:
            counts[i] += 1


def run(p, first, valid, spikes):
    """Per-cycle stimulus from reset; == the reference's ``run``."""
    first_arr, valid_arr, spikes_arr = check_stimulus(p, first, valid, spikes)
    cdef const long long[::1] first_v = np.ascontiguousarray(first_arr)
    cdef const long long[::1] valid_v = np.ascontiguousarray(valid_arr)
    cdef const u8[:, ::1] spk = np.ascontiguousarray(spikes_arr, dtype=np.uint8)
    cdef Py_ssize_t n_cycles = spk.shape[0], n = p.n_classes, c, i
    cdef int count_max = p.count_max
    counts_arr = np.zeros((n_cycles, n), dtype=np.int32)
    decision_arr = np.zeros(n_cycles, dtype=np.int32)
    cdef int[:, ::1] out_counts = counts_arr
    cdef int[::1] decision = decision_arr
    cdef int[::1] counts = np.zeros(n, dtype=np.int32)
    with nogil:
        for c in range(n_cycles):
            if first_v[c]:
                counts[:] = 0
            if valid_v[c]:
                add_timestep(&counts[0], &spk[c, 0], n, count_max)
            out_counts[c, :] = counts
            decision[c] = <int>argmax_lowest(&counts[0], n)
    return dict(counts=counts_arr, decision=decision_arr)


def decode_batch(p, spikes):
    """Images ``spikes (B, T, n_classes)``; returns the final ``counts (B, n_classes)`` and
    ``decisions (B, T)`` (after timesteps 0..t); == the reference's ``decode_batch``."""
    cdef const u8[:, :, ::1] spk = np.ascontiguousarray(check_spikes(p, spikes, 3), dtype=np.uint8)
    cdef Py_ssize_t n_batch = spk.shape[0], n_steps = spk.shape[1], n = p.n_classes, b, t
    cdef int count_max = p.count_max
    counts_arr = np.zeros((n_batch, n), dtype=np.int32)
    decisions_arr = np.zeros((n_batch, n_steps), dtype=np.int32)
    cdef int[:, ::1] counts = counts_arr
    cdef int[:, ::1] decisions = decisions_arr
    for b in prange(n_batch, nogil=True, schedule="static"):
        for t in range(n_steps):
            add_timestep(&counts[b, 0], &spk[b, t, 0], n, count_max)
            decisions[b, t] = <int>argmax_lowest(&counts[b, 0], n)
    return counts_arr, decisions_arr
