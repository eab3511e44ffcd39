# Transpose-and-prefix for the block waveforms (OTFS both CP layouts, OFDM, GFDM): a grid src[b, q, n]
# (q = sample within block n) becomes [frame CP][bcp | block 0][bcp | block 1]... in one pass, with the
# cast to the output precision; gather() is the reverse. NumPy's strided transpose-copy plus two prefix
# copies is what this replaces. NumPy twin: _modframe_py.py. Status: 0 ok, 2 shape mismatch.
cimport cython

ctypedef fused cin:
    float complex
    double complex

ctypedef fused cout:
    float complex
    double complex

# block size of the cache-blocked transpose (elements)
DEF TILE = 16


@cython.boundscheck(False)
@cython.wraparound(False)
cdef int _place(const cin[:, :, ::1] src, Py_ssize_t fcp, Py_ssize_t bcp, cout[:, ::1] out) noexcept nogil:
    cdef Py_ssize_t B = src.shape[0], M = src.shape[1], N = src.shape[2]
    cdef Py_ssize_t b, q, n, q0, n0, q1, n1, base, F = out.shape[1], per = M + bcp
    if out.shape[0] != B or F != fcp + N * per or bcp > M or fcp > N * per:
        return 2
    for b in range(B):
        for q0 in range(0, M, TILE):
            q1 = min(q0 + TILE, M)
            for n0 in range(0, N, TILE):
                n1 = min(n0 + TILE, N)
                for n in range(n0, n1):
                    base = fcp + n * per + bcp
                    for q in range(q0, q1):
                        out[b, base + q] = <cout>src[b, q, n]
        if bcp:
            for n in range(N):
                base = fcp + n * per
                for q in range(bcp):
                    out[b, base + q] = out[b, base + M + q]
        for q in range(fcp):
            out[b, q] = out[b, F - fcp + q]
    return 0


def place(const cin[:, :, ::1] src, Py_ssize_t fcp, Py_ssize_t bcp, cout[:, ::1] out):
    """out[b, fcp + n (M + bcp) + bcp + q] = src[b, q, n] plus block and frame prefixes. Returns a status."""
    cdef int st
    with nogil:
        st = _place(src, fcp, bcp, out)
    return st


@cython.boundscheck(False)
@cython.wraparound(False)
cdef int _gather(const cin[:, ::1] y, Py_ssize_t fcp, Py_ssize_t bcp,
                 double complex[:, :, ::1] out) noexcept nogil:
    cdef Py_ssize_t B = out.shape[0], M = out.shape[1], N = out.shape[2]
    cdef Py_ssize_t b, q, n, q0, n0, q1, n1, base, per = M + bcp
    if y.shape[0] != B or y.shape[1] != fcp + N * per:
        return 2
    for b in range(B):
        for q0 in range(0, M, TILE):
            q1 = min(q0 + TILE, M)
            for n0 in range(0, N, TILE):
                n1 = min(n0 + TILE, N)
                for q in range(q0, q1):
                    for n in range(n0, n1):
                        out[b, q, n] = <double complex>y[b, fcp + n * per + bcp + q]
    return 0


def gather(const cin[:, ::1] y, Py_ssize_t fcp, Py_ssize_t bcp, double complex[:, :, ::1] out):
    """out[b, q, n] = y[b, fcp + n (M + bcp) + bcp + q] (prefixes dropped). Returns a status."""
    cdef int st
    with nogil:
        st = _gather(y, fcp, bcp, out)
    return st
