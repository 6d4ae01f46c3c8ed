"""Cython twin of the rate encoder (see ``sw/rate_encoder.py`` for the semantics).

The LFSR bank restarts from its seeds for every image, so its lane levels are computed once
per call with the LFSR step of ``ext/lfsr_step.pxd`` and every image of the batch is compared
against them in parallel (OpenMP over the batch).
"""
import cython
import numpy as np
cimport numpy as cnp
cimport openmp
from cython.parallel import prange

from twinspike.ext.lfsr_step cimport lfsr_step, u32
from twinspike.sw.rate_encoder import RateEncoderParams

COMPILED = cython.compiled

ctypedef cnp.uint8_t u8

#: Below this many output spikes one thread is faster than waking (and waiting for) a team.
PARALLEL_MIN_OUTPUTS = 1 << 16


def levels(p, Py_ssize_t n_steps):
    """Lane levels ``lfsr_i(t) >> (W - in_bits)`` as uint8 ``(n_steps, n_inputs)``."""
    if not isinstance(p, RateEncoderParams):
        raise ValueError(f"levels expects RateEncoderParams, got {type(p).__name__}")
    if n_steps < 0:
        raise ValueError(f"levels.n_steps={n_steps} is out of range: expected >= 0")
    bank = p.lfsr
    cdef const u32[::1] seeds = np.asarray(bank.seeds, dtype=np.uint32)
    cdef u32 mask = bank.mask, s
    cdef int shift = p.shift
    out_arr = np.empty((n_steps, seeds.shape[0]), dtype=np.uint8)
    cdef u8[:, ::1] out = out_arr
    cdef Py_ssize_t lane, t
    with nogil:
        for lane in range(seeds.shape[0]):
            s = seeds[lane]
            for t in range(n_steps):
                out[t, lane] = <u8>(s >> shift)      # in_bits <= 8 bits: fits
                s = lfsr_step(s, mask)
    return out_arr


def encode(p, x, Py_ssize_t n_steps):
    """Spike trains of a batch: ``x`` uint8 ``(B, n_inputs)`` -> uint8 ``(B, n_steps, n_inputs)``
    (== ``sw.rate_encoder.encode``)."""
    if not isinstance(p, RateEncoderParams):
        raise ValueError(f"encode expects RateEncoderParams, got {type(p).__name__}")
    if n_steps < 0:
        raise ValueError(f"encode.n_steps={n_steps} is out of range: expected >= 0")
    images = np.ascontiguousarray(x)
    if images.dtype != np.uint8:
        raise ValueError(f"encode.x must be uint8, got dtype {images.dtype}")
    if images.ndim != 2 or images.shape[1] != p.n_inputs:
        raise ValueError(f"encode.x must have shape (B, {p.n_inputs}), got {images.shape}")
    if images.size and images.max() > p.max_intensity:
        raise ValueError(f"encode.x holds {images.max()}, out of range: expected "
                         f"0..{p.max_intensity}")
    out_arr = np.empty((images.shape[0], n_steps, p.n_inputs), dtype=np.uint8)
    cdef const u8[:, ::1] xv = images
    cdef const u8[:, ::1] lv = levels(p, n_steps)
    cdef u8[:, :, ::1] out = out_arr
    cdef Py_ssize_t b, t, i
    cdef int n_threads = 1 if out_arr.size < PARALLEL_MIN_OUTPUTS else openmp.omp_get_max_threads()
    for b in prange(xv.shape[0], nogil=True, schedule="static", num_threads=n_threads):
        for t in range(n_steps):
            for i in range(xv.shape[1]):
                out[b, t, i] = lv[t, i] < xv[b, i]
    return out_arr
