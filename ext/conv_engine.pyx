"""Cython twin of the conv2d event engine (see ``sw/conv_engine.py`` for the semantics), built
on the shared layer kernels ``conv_event`` and ``fire`` of ``ext/layers.pxd``.

Internally membranes are channel-last ``v[h_out, w_out, c_out]`` and weights
``w[c_in, k, k, c_out]`` (the layouts of ``layers.pxd``); results are returned in the
canonical ``[c_out, h_out, w_out]`` order. ``conv_event`` visits an event's targets in another
order than the reference, which changes nothing: one event's targets are distinct neurons.
"""
import cython
import numpy as np

from twinspike.ext.layers cimport conv_event, fire, v_t, w_t
from twinspike.sw.common import signed_max, signed_min
from twinspike.sw.conv_engine import ConvResult, check_run, engine_projections

COMPILED = cython.compiled


cdef Py_ssize_t accumulate_timestep(v_t[:, :, ::1] v, const w_t[:, :, :, ::1] w,
                                    const unsigned char[:, :, ::1] spikes, Py_ssize_t stride,
                                    Py_ssize_t pad, v_t lo, v_t hi) noexcept nogil:
    """Every source event (non-zero value) of one timestep of one projection, in ascending
    source address."""
    cdef Py_ssize_t ci, yi, xi, sops = 0
    for ci in range(spikes.shape[0]):
        for yi in range(spikes.shape[1]):
            for xi in range(spikes.shape[2]):
                if spikes[ci, yi, xi]:
                    sops += conv_event(&v[0, 0, 0], &w[0, 0, 0, 0], v.shape[2], w.shape[1],
                                       stride, pad, v.shape[0], v.shape[1], ci, yi, xi,
                                       spikes[ci, yi, xi], lo, hi, True)
    return sops


def run(projections, config):
    """Run the population for ``T`` timesteps (== ``sw.conv_engine.run``). Raises
    ``ValueError`` for bad projections or configuration."""
    projs, config = check_run(projections, config)
    first = projs[0].params
    cdef Py_ssize_t c_out = first.c_out, h_out = first.h_out, w_out = first.w_out
    cdef Py_ssize_t n_steps = len(projs[0].spikes), t, pos, sops = 0
    cdef v_t lo = signed_min(first.membrane_bits), hi = signed_max(first.membrane_bits)
    cdef v_t theta = config.theta
    cdef int leak_shift = config.leak_shift
    weights = [np.ascontiguousarray(q.weights.transpose(1, 2, 3, 0), dtype=np.int8)
               for q in projs]
    trains = [np.ascontiguousarray(q.spikes, dtype=np.uint8) for q in projs]
    v_arr = np.full((h_out, w_out, c_out), config.v0, dtype=np.intc)
    out_arr = np.zeros((n_steps, h_out, w_out, c_out), dtype=np.uint8)
    cdef v_t[:, :, ::1] v = v_arr
    cdef unsigned char[:, :, :, ::1] out = out_arr
    cdef const v_t[::1] bias = config.bias.astype(np.intc)
    cdef const w_t[:, :, :, ::1] w
    cdef const unsigned char[:, :, :, ::1] s
    cdef Py_ssize_t stride, pad
    for t in range(n_steps):
        for i in range(len(projs)):
            w, s = weights[i], trains[i]
            stride, pad = projs[i].params.stride, projs[i].params.padding
            with nogil:
                sops += accumulate_timestep(v, w, s[t], stride, pad, lo, hi)
        with nogil:
            for pos in range(h_out * w_out):
                fire(&v[0, 0, 0] + pos * c_out, &bias[0], c_out, theta, leak_shift, lo, hi,
                     &out[t, 0, 0, 0] + pos * c_out)
    return ConvResult(np.ascontiguousarray(out_arr.transpose(0, 3, 1, 2)),
                      v_arr.transpose(2, 0, 1).astype(np.int64), int(sops))


def run_engine(p, weights, spikes, config):
    """:func:`run` over ``p.projections`` same-geometry projections (== reference)."""
    return run(engine_projections(p, weights, spikes), config)
