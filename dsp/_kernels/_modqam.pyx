# Gray QAM mapping / demapping: bits -> symbols by a lookup table, nearest-point hard decisions and
# max-log LLRs per axis (square Gray QAM separates into two Gray PAMs). NumPy twin: _modqam_py.py.
# Every nogil kernel returns an int status: 0 ok, 1 a bit value other than 0/1.
cimport cython
from dsp._kernels._qam_common cimport qam_level


@cython.boundscheck(False)
@cython.wraparound(False)
cdef int _map_bits(const unsigned char[::1] bits, int bps, const double complex[::1] lut,
                   double complex[::1] out) noexcept nogil:
    cdef Py_ssize_t k, j
    cdef long v
    cdef unsigned char b
    for k in range(out.shape[0]):
        v = 0
        for j in range(bps):
            b = bits[k * bps + j]
            if b > 1:
                return 1
            v = (v << 1) | b
        out[k] = lut[v]
    return 0


def map_bits(const unsigned char[::1] bits, int bps, const double complex[::1] lut, double complex[::1] out):
    """out[k] = lut[v_k], v_k the value of bits[k*bps:(k+1)*bps] MSB first. Returns a status (1: bit > 1)."""
    cdef int st
    with nogil:
        st = _map_bits(bits, bps, lut, out)
    return st


@cython.boundscheck(False)
@cython.wraparound(False)
cdef int _demap_hard(const double complex[::1] y, int h, double scale, const long long[::1] gray,
                     unsigned char[::1] out) noexcept nogil:
    cdef Py_ssize_t k, j
    cdef long nlev = 1 << h
    cdef long v
    cdef int nb = 2 * h
    for k in range(y.shape[0]):
        v = (gray[qam_level(y[k].real, scale, nlev)] << h) | gray[qam_level(y[k].imag, scale, nlev)]
        for j in range(nb):
            out[k * nb + j] = (v >> (nb - 1 - j)) & 1
    return 0


def demap_hard(const double complex[::1] y, int h, double scale, const long long[::1] gray,
               unsigned char[::1] out):
    """Nearest-point decisions per axis, as bits (MSB first) in ``out`` (len(y) * 2h). Returns 0."""
    cdef int st
    with nogil:
        st = _demap_hard(y, h, scale, gray, out)
    return st


@cython.boundscheck(False)
@cython.wraparound(False)
cdef int _maxlog_llr(const double complex[::1] y, int h, const double[::1] levels, const long long[::1] gray,
                     double inv_nv, double[::1] out) noexcept nogil:
    cdef Py_ssize_t k, j, p
    cdef int axis
    cdef long nlev = 1 << h
    cdef double u, d, d0, d1
    cdef double d2[8]
    cdef int nb = 2 * h
    for k in range(y.shape[0]):
        for axis in range(2):
            u = y[k].real if axis == 0 else y[k].imag
            for p in range(nlev):
                d = u - levels[p]
                d2[p] = d * d
            for j in range(h):
                d0 = 1e300
                d1 = 1e300
                for p in range(nlev):
                    if (gray[p] >> (h - 1 - j)) & 1:
                        if d2[p] < d1:
                            d1 = d2[p]
                    elif d2[p] < d0:
                        d0 = d2[p]
                out[k * nb + axis * h + j] = (d1 - d0) * inv_nv
    return 0


def maxlog_llr(const double complex[::1] y, int h, const double[::1] levels, const long long[::1] gray,
               double inv_noise_var, double[::1] out):
    """Max-log LLRs (positive = bit 0 more likely), len(y) * 2h values in ``out``. h <= 3. Returns 0."""
    cdef int st
    if h > 3:
        return 2
    with nogil:
        st = _maxlog_llr(y, h, levels, gray, inv_noise_var, out)
    return st
