"""Cython twin of the IF PE array (see ``sw/if_pe_array.py`` for the semantics), built on the
shared layer kernels ``sat`` and ``fire`` of ``ext/layers.pxd``."""
import cython
import numpy as np
cimport numpy as cnp

from twinspike.ext.layers cimport acc_t, fire, sat, v_t, w_t
from twinspike.sw.common import signed_max, signed_min
from twinspike.sw.if_pe_array import OP_ACC, OP_FIRE, OP_LOAD, check_ops

COMPILED = cython.compiled


def run(p, ops):
    """Apply ``ops`` from reset: ``(membranes[n, lanes], spikes[n, lanes])`` (== reference).
    Raises ``ValueError`` for a bad parameter object or operation sequence."""
    ops = check_ops(p, ops)
    cdef Py_ssize_t n = ops.n, lanes = p.lanes, t, i
    cdef v_t lo = signed_min(p.membrane_bits), hi = signed_max(p.membrane_bits)
    cdef const cnp.int64_t[::1] code = ops.code, theta = ops.theta, leak_shift = ops.leak_shift
    cdef const cnp.int64_t[:, ::1] enable = np.ascontiguousarray(ops.enable)
    cdef const w_t[:, ::1] weight = ops.weight.astype(np.int8)
    cdef const v_t[:, ::1] bias = ops.bias.astype(np.intc)
    membranes_arr = np.zeros((n, lanes), dtype=np.int64)
    spikes_arr = np.zeros((n, lanes), dtype=np.int64)
    cdef cnp.int64_t[:, ::1] membranes = membranes_arr, spikes = spikes_arr
    cdef v_t[::1] v = np.zeros(lanes, dtype=np.intc)
    cdef unsigned char[::1] fired = np.zeros(lanes, dtype=np.uint8)
    cdef int op_load = OP_LOAD, op_acc = OP_ACC, op_fire = OP_FIRE
    with nogil:
        for t in range(n):
            if code[t] == op_load:
                for i in range(lanes):
                    v[i] = bias[t, i]
            elif code[t] == op_acc:
                for i in range(lanes):
                    if enable[t, i]:
                        v[i] = sat(<acc_t>v[i] + weight[t, i], lo, hi)
            elif code[t] == op_fire:
                fire(&v[0], &bias[t, 0], lanes, <v_t>theta[t], <int>leak_shift[t], lo, hi,
                     &fired[0])
                for i in range(lanes):
                    spikes[t, i] = fired[i]
            for i in range(lanes):
                membranes[t, i] = v[i]
    return membranes_arr, spikes_arr
