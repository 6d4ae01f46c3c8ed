# The LFSR step of sw/lfsr.py (Galois, right shift: ``lsb = s & 1; s >>= 1; if lsb: s ^= mask``),
# cimported (``from twinspike.ext.lfsr_step cimport u32, lfsr_step``) by the LFSR bank's twin
# (ext/lfsr.pyx) and by the blocks that restart an LFSR bank per image or inference
# (ext/rate_encoder.pyx, ext/glm_neuron.pyx), so they step it in C, not through Python.
# ``cdef inline`` only, as in ext/layers.pxd. Not named ``lfsr.pxd``: Cython would take a .pxd
# beside ext/lfsr.pyx as that module's declaration file in some builds and not in others (see
# setup.py on how cimports resolve).
from libc.stdint cimport uint32_t

ctypedef uint32_t u32


cdef inline u32 lfsr_step(u32 s, u32 mask) noexcept nogil:
    """One step: branch-free so the compiler can vectorise lanes."""
    return (s >> 1) ^ (mask & (<u32>0 - (s & 1)))
