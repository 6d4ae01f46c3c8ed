"""Cython twin of the LFSR bank (see ``sw/lfsr.py`` for the semantics)."""
import cython
import numpy as np
from cython.parallel import prange

from twinspike.ext.lfsr_step cimport lfsr_step, u32
from twinspike.sw.lfsr import LfsrParams

COMPILED = cython.compiled


def sequence(p, Py_ssize_t n_steps):
    """Lane values for timesteps 0..n_steps-1 as ``(lanes, n_steps)`` uint32 (== reference)."""
    if not isinstance(p, LfsrParams):
        raise ValueError(f"sequence expects LfsrParams, got {type(p).__name__}")
    if n_steps < 0:
        raise ValueError(f"sequence.n_steps={n_steps} is out of range: expected >= 0")
    cdef u32[::1] seeds = np.asarray(p.seeds, dtype=np.uint32)
    out_arr = np.empty((p.lanes, n_steps), dtype=np.uint32)
    cdef u32[:, ::1] out = out_arr
    cdef u32 mask = p.mask
    cdef Py_ssize_t lane, t
    cdef u32 s
    # Threads only pay off for long sequences (an OpenMP region costs far more than a short
    # sequence on a loaded machine).
    cdef int threads = 0 if p.lanes * n_steps >= (1 << 20) else 1
    for lane in prange(seeds.shape[0], nogil=True, schedule="static", num_threads=threads):
        s = seeds[lane]
        for t in range(n_steps):
            out[lane, t] = s
            s = lfsr_step(s, mask)
    return out_arr


def advance(const u32[::1] states, u32 mask, u32[::1] out):
    """Advance each lane one step: ``out[i] = step(states[i])`` (used by the encoders)."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(states.shape[0]):
            out[i] = lfsr_step(states[i], mask)
