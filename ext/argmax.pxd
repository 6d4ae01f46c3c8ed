# Argmax with ties to the lowest index (np.argmax's rule), the decision rule of both decoders
# (docs/semantics.md, "Counts"). Cimported by ext/spike_count_decoder.pyx and
# ext/first_to_spike_decoder.pyx (``cdef inline`` only, as in ext/layers.pxd).

cdef inline Py_ssize_t argmax_lowest(const int* values, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i, best = 0
    for i in range(1, n):
        if values[i] > values[best]:
            best = i
    return best
