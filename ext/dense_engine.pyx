"""Cython twin of the dense event engine (see ``sw/dense_engine.py`` for the semantics), built
on the shared layer kernels ``dense_event`` and ``fire`` of ``ext/layers.pxd``."""
import cython
import numpy as np
cimport numpy as cnp

from twinspike.ext.layers cimport dense_event, fire, v_t, w_t
from twinspike.sw.common import signed_max, signed_min
from twinspike.sw.dense_engine import check_run, cycle_count

COMPILED = cython.compiled


def run(p, layer, events, values=None):
    """Run ``len(events)`` timesteps (event values ``values``, default all 1): ``{"spikes",
    "membranes", "cycles"}`` (== reference). Raises ``ValueError`` for a bad parameter object,
    layer, event or value list."""
    events, values = check_run(p, layer, events, values)
    cdef Py_ssize_t n_out = p.n_out, n_steps = len(events), t, e, i
    cdef v_t lo = signed_min(p.membrane_bits), hi = signed_max(p.membrane_bits)
    cdef v_t theta = layer.theta
    cdef int leak_shift = layer.leak_shift
    cdef const w_t[:, ::1] weights = np.ascontiguousarray(layer.weights, dtype=np.int8)
    cdef const v_t[::1] bias = np.ascontiguousarray(layer.bias, dtype=np.intc)
    cdef v_t[::1] v = np.full(n_out, layer.v0, dtype=np.intc)
    spikes_arr = np.zeros((n_steps, n_out), dtype=np.uint8)
    cdef unsigned char[:, ::1] spikes = spikes_arr
    cdef Py_ssize_t[::1] sources
    cdef v_t[::1] magnitudes
    for t in range(n_steps):
        sources = np.asarray(events[t], dtype=np.intp)
        magnitudes = np.asarray(values[t], dtype=np.intc)
        with nogil:
            for e in range(sources.shape[0]):
                dense_event(&v[0], &weights[sources[e], 0], n_out, magnitudes[e], lo, hi)
            fire(&v[0], &bias[0], n_out, theta, leak_shift, lo, hi, &spikes[t, 0])
    return {"spikes": spikes_arr.astype(np.int64), "membranes": np.asarray(v, dtype=np.int64),
            "cycles": cycle_count(p, events)}
