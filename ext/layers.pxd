# Shared IF layer kernels: the one software implementation of each layer's integer semantics
# (docs/semantics.md). Cimported (``from twinspike.ext.layers cimport ...``) by the engine twins
# (ext/dense_engine.pyx, ext/conv_engine.pyx, ext/if_pe_array.pyx) and by the whole-network
# batch evaluator (ext/network.pyx), so the block proofs and the data-set evaluation run the
# very same code. Only ctypedefs and ``cdef inline`` functions live here: Cython copies them into
# each cimporting module's C file (inlined as before, no runtime import of a ``layers`` module,
# which does not exist), so keep it that way -- a non-inline cdef function or a cdef class here
# would need a ``layers.pyx`` module behind it.
#
# Layouts (internal to the software twin; outputs use the canonical C*H*W address order):
#   dense weights   : w_t[n_in, n_out]            (a source's fan-out is contiguous)
#   conv weights    : w_t[c_in, k, k, c_out]      (a tap's output channels are contiguous)
#   conv membranes  : v_t[h_out, w_out, c_out]    (channel-last; sum-pool uses it too)
# All inner loops run over a contiguous run of targets with a clamp, so they vectorise.

ctypedef signed char w_t     # weights: at most 8 bits
ctypedef int v_t             # membranes: at most 24 bits, kept in int32
ctypedef int acc_t           # v + w * x: |v| < 2**23, |w * x| <= 128 * 255 < 2**15, so int32
                             # holds it (and, unlike int64, lets the saturating loops vectorise)


cdef inline v_t sat(acc_t x, v_t lo, v_t hi) noexcept nogil:
    """Clamp to ``lo..hi`` as min then max (``lo <= hi``), which vectorises to two ops."""
    cdef acc_t y = x if x < hi else hi
    return <v_t>(y if y > lo else lo)


cdef inline void dense_event(v_t* v, const w_t* w_row, Py_ssize_t n_out, v_t value,
                             v_t lo, v_t hi) noexcept nogil:
    """One source event of magnitude ``value`` (1 for a spike) into every target."""
    cdef Py_ssize_t i
    if value == 1:                                   # a spike: no multiply
        for i in range(n_out):
            v[i] = sat(<acc_t>v[i] + w_row[i], lo, hi)
        return
    for i in range(n_out):
        v[i] = sat(<acc_t>v[i] + <acc_t>w_row[i] * value, lo, hi)


cdef inline void dense_events_unsaturated(v_t* v, const w_t* w, const int* events,
                                         const unsigned char* values, Py_ssize_t n_events,
                                         Py_ssize_t n_out) noexcept nogil:
    """Events at source addresses ``events`` (spikes if ``values`` is NULL, else of magnitude
    ``values[address]``) into every target with plain adds, four weight rows per pass over
    ``v``. Equal to one :func:`dense_event` per event only when no partial sum can leave
    ``lo..hi`` (the caller proves it): then every clamp is the identity and integer addition
    is associative."""
    cdef Py_ssize_t e = 0, i
    cdef const w_t* r0
    cdef const w_t* r1
    cdef const w_t* r2
    cdef const w_t* r3
    cdef v_t a0, a1, a2, a3
    while e + 4 <= n_events:
        r0 = w + events[e] * n_out
        r1 = w + events[e + 1] * n_out
        r2 = w + events[e + 2] * n_out
        r3 = w + events[e + 3] * n_out
        if values == NULL:
            for i in range(n_out):
                v[i] = v[i] + ((<v_t>r0[i] + r1[i]) + (<v_t>r2[i] + r3[i]))
        else:
            a0, a1 = values[events[e]], values[events[e + 1]]
            a2, a3 = values[events[e + 2]], values[events[e + 3]]
            for i in range(n_out):
                v[i] = v[i] + ((r0[i] * a0 + r1[i] * a1) + (r2[i] * a2 + r3[i] * a3))
        e += 4
    while e < n_events:
        r0 = w + events[e] * n_out
        a0 = 1 if values == NULL else values[events[e]]
        for i in range(n_out):
            v[i] = v[i] + r0[i] * a0
        e += 1


cdef inline bint within(const v_t* v, const v_t* up, const v_t* down, Py_ssize_t size,
                        v_t lo, v_t hi) noexcept nogil:
    """True if ``v + up <= hi`` and ``v + down >= lo`` for every neuron (``|v| < 2**23``,
    ``|up|, |down| <= 2**30``: no int32 overflow)."""
    cdef Py_ssize_t i
    cdef bint unsafe = False
    for i in range(size):
        unsafe |= (v[i] + up[i] > hi) | (v[i] + down[i] < lo)
    return not unsafe


cdef inline Py_ssize_t conv_event(v_t* v, const w_t* w, Py_ssize_t c_out, Py_ssize_t k,
                                  Py_ssize_t stride, Py_ssize_t pad,
                                  Py_ssize_t h_out, Py_ssize_t w_out,
                                  Py_ssize_t ci, Py_ssize_t yi, Py_ssize_t xi, v_t value,
                                  v_t lo, v_t hi, bint clamp) noexcept nogil:
    """One source event at (ci, yi, xi): visit exactly the output positions and taps it
    touches (yo*stride + ky - pad == yi, same for x). Returns the SOPs performed.
    ``clamp=False`` drops the per-add saturation: only for a caller that has proven no
    partial sum can leave ``lo..hi`` (then the clamps are the identity)."""
    cdef Py_ssize_t ky, kx, yo, co, ny, nx, j, n_x = 0
    cdef Py_ssize_t sops = 0
    cdef Py_ssize_t taps_x[32]
    cdef Py_ssize_t outs_x[32]
    cdef const w_t* wt
    cdef v_t* vt
    # (stride 1 is the common case: no integer division per tap)
    for kx in range(k):
        nx = xi + pad - kx
        if stride == 1:
            if 0 <= nx < w_out:
                taps_x[n_x] = kx
                outs_x[n_x] = nx
                n_x += 1
        elif nx >= 0 and nx % stride == 0 and nx // stride < w_out:
            taps_x[n_x] = kx
            outs_x[n_x] = nx // stride
            n_x += 1
    for ky in range(k):
        ny = yi + pad - ky
        if ny < 0:
            continue
        if stride == 1:
            yo = ny
        elif ny % stride != 0:
            continue
        else:
            yo = ny // stride
        if yo >= h_out:
            continue
        for j in range(n_x):
            wt = w + ((ci * k + ky) * k + taps_x[j]) * c_out
            vt = v + (yo * w_out + outs_x[j]) * c_out
            if clamp:
                for co in range(c_out):
                    vt[co] = sat(<acc_t>vt[co] + <acc_t>wt[co] * value, lo, hi)
            elif value == 1:                 # a spike: no multiply
                for co in range(c_out):
                    vt[co] = vt[co] + wt[co]
            else:
                for co in range(c_out):
                    vt[co] = vt[co] + wt[co] * value
            sops += c_out
    return sops


cdef inline void point_event(v_t* v, v_t value, v_t lo, v_t hi) noexcept nogil:
    """One event into one target with weight 1 (identity projections, pooling)."""
    v[0] = sat(<acc_t>v[0] + value, lo, hi)


cdef inline Py_ssize_t pool_event(v_t* v, Py_ssize_t channels, Py_ssize_t k,
                                  Py_ssize_t h_out, Py_ssize_t w_out,
                                  Py_ssize_t ci, Py_ssize_t yi, Py_ssize_t xi, v_t value,
                                  v_t lo, v_t hi) noexcept nogil:
    """Sum-pool (kernel = stride = k, no padding, weight 1): one source event at (ci, yi, xi)
    into the one output of channel ci covering it, if any (channel-last membranes). Returns
    the SOPs performed (0 or 1)."""
    cdef Py_ssize_t yo, xo
    if k == 2:                                       # the common pool: no division
        yo, xo = yi >> 1, xi >> 1
    else:
        yo, xo = yi // k, xi // k
    if yo >= h_out or xo >= w_out:
        return 0
    point_event(v + (yo * w_out + xo) * channels + ci, value, lo, hi)
    return 1


cdef inline v_t leak(v_t v, int leak_shift) noexcept nogil:
    return v - (v >> leak_shift) if leak_shift > 0 else v


cdef inline Py_ssize_t fire(v_t* v, const v_t* bias, Py_ssize_t n, v_t theta, int leak_shift,
                            v_t lo, v_t hi, unsigned char* spikes) noexcept nogil:
    """Fire phase over ``n`` neurons: leak, saturating bias, compare, reset by subtraction.
    Writes 0/1 into ``spikes``; returns the number of spikes."""
    cdef Py_ssize_t i, count = 0
    cdef v_t x
    cdef unsigned char s
    if leak_shift > 0:
        for i in range(n):
            x = sat(<acc_t>leak(v[i], leak_shift) + bias[i], lo, hi)
            s = x >= theta
            spikes[i] = s
            v[i] = x - s * theta
            count += s
        return count
    for i in range(n):                   # branch-free, so that it vectorises
        x = sat(<acc_t>v[i] + bias[i], lo, hi)
        s = x >= theta
        spikes[i] = s
        v[i] = x - s * theta
        count += s
    return count
