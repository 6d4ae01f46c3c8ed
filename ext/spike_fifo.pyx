"""Cython twin of the spike FIFO (see ``sw/spike_fifo.py`` for the semantics): a ring buffer
stepped cycle by cycle; ``simulate_batch`` runs independent traces in parallel (OpenMP)."""
import cython
import numpy as np
from cython.parallel import prange

from twinspike.sw.spike_fifo import OUTPUTS, check_stimulus

COMPILED = cython.compiled

ctypedef long long i64

# Row of each output in the (batch, output, cycle) result, in OUTPUTS order.
cdef enum:
    READY, VALID_OUT, ADDR_OUT, EOT_OUT, COUNT, FULL, EMPTY


cdef void fifo_trace(i64 depth, const i64[::1] push_valid, const i64[::1] push_addr,
                     const i64[::1] push_eot, const i64[::1] pop, i64[::1] ring,
                     i64[:, ::1] out) noexcept nogil:
    """One trace from reset; ``ring`` holds ``addr * 2 + eot`` per slot."""
    cdef i64 head = 0, tail = 0, held = 0, word = 0
    cdef bint popped = False, push_ok
    cdef Py_ssize_t c
    for c in range(push_valid.shape[0]):
        out[READY, c] = held < depth
        out[VALID_OUT, c] = popped
        out[ADDR_OUT, c] = (word >> 1) if popped else 0
        out[EOT_OUT, c] = (word & 1) if popped else 0
        out[COUNT, c] = held
        out[FULL, c] = held == depth
        out[EMPTY, c] = held == 0
        push_ok = push_valid[c] != 0 and held < depth
        popped = pop[c] != 0 and held > 0
        if popped:
            word = ring[head]
            head = 0 if head == depth - 1 else head + 1
            held -= 1
        if push_ok:
            ring[tail] = push_addr[c] * 2 + push_eot[c]
            tail = 0 if tail == depth - 1 else tail + 1
            held += 1


def simulate_batch(p, push_valid, push_addr, push_eot, pop):
    """Independent traces, arrays ``(batch, cycles)``; returns each output of ``OUTPUTS`` as
    ``(batch, cycles)`` int64 (row ``b`` == the reference's ``simulate`` of trace ``b``)."""
    stim = check_stimulus(p, push_valid, push_addr, push_eot, pop)
    if stim[0].ndim != 2:
        raise ValueError(f"simulate_batch expects (batch, cycles) arrays, got shape {stim[0].shape}")
    cdef const i64[:, ::1] pv = np.ascontiguousarray(stim[0])
    cdef const i64[:, ::1] pa = np.ascontiguousarray(stim[1])
    cdef const i64[:, ::1] pe = np.ascontiguousarray(stim[2])
    cdef const i64[:, ::1] pp = np.ascontiguousarray(stim[3])
    cdef Py_ssize_t n_batch = pv.shape[0], b
    cdef i64 depth = p.depth
    out_arr = np.zeros((n_batch, len(OUTPUTS), pv.shape[1]), dtype=np.int64)
    cdef i64[:, :, ::1] out = out_arr
    cdef i64[:, ::1] rings = np.zeros((n_batch, depth), dtype=np.int64)
    for b in prange(n_batch, nogil=True, schedule="static"):
        fifo_trace(depth, pv[b], pa[b], pe[b], pp[b], rings[b], out[b])
    return {name: out_arr[:, k, :] for k, name in enumerate(OUTPUTS)}


def simulate(p, push_valid, push_addr, push_eot, pop):
    """One trace, arrays ``(cycles,)``; == the reference's ``simulate``."""
    stim = check_stimulus(p, push_valid, push_addr, push_eot, pop)
    if stim[0].ndim != 1:
        raise ValueError(f"spike_fifo stimulus must be 1-D (cycles), got shape {stim[0].shape}")
    batch = simulate_batch(p, *(a[np.newaxis, :] for a in stim))
    return {name: batch[name][0] for name in OUTPUTS}
