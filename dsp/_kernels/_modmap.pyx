# Bits -> Gray-QAM symbols written straight onto the data cells of a batch of frame grids (one pass,
# no temporaries), and hard decisions read straight from the data cells. NumPy twin: _modmap_py.py.
# Status: 0 ok, 1 a bit value other than 0/1, 2 shape mismatch.
cimport cython
from dsp._kernels._qam_common cimport qam_level

ctypedef fused cplx:
    float complex
    double complex


@cython.boundscheck(False)
@cython.wraparound(False)
cdef int _map_grid(const unsigned char[:, ::1] bits, int bps, const cplx[::1] lut, const long long[::1] data_idx,
                   const cplx[::1] fill, cplx[:, ::1] out) noexcept nogil:
    cdef Py_ssize_t b, k, j, c, n_data = data_idx.shape[0], n_cells = out.shape[1]
    cdef unsigned int v, seen = 0
    cdef const unsigned char *row
    if out.shape[0] != bits.shape[0] or bits.shape[1] != n_data * bps or fill.shape[0] != n_cells:
        return 2
    for b in range(out.shape[0]):
        if n_data != n_cells:
            for c in range(n_cells):
                out[b, c] = fill[c]
        if bits.shape[1] == 0:
            continue
        row = &bits[b, 0]
        for k in range(n_data):
            v = 0
            for j in range(bps):
                v = (v << 1) | row[j]
                seen |= row[j]  # any byte > 1 sets a bit above bit 0; checked once per frame (no branch here)
            row += bps
            if v >= <unsigned int>lut.shape[0]:
                v = 0
            out[b, data_idx[k]] = lut[v]
        if seen > 1:
            return 1
    return 0


def map_grid(const unsigned char[:, ::1] bits, int bps, const cplx[::1] lut, const long long[::1] data_idx,
             const cplx[::1] fill, cplx[:, ::1] out):
    """out[b] = fill; out[b, data_idx[k]] = lut[value of bits[b, k bps:(k+1) bps]] (MSB first). Returns a status."""
    cdef int st
    with nogil:
        st = _map_grid(bits, bps, lut, data_idx, fill, out)
    return st


@cython.boundscheck(False)
@cython.wraparound(False)
cdef int _demap_grid(const double complex[:, ::1] y, const long long[::1] data_idx, int h, double scale,
                     const long long[::1] gray, unsigned char[:, ::1] out) noexcept nogil:
    cdef Py_ssize_t b, k, j, n_data = data_idx.shape[0]
    cdef long nlev = 1 << h
    cdef long v
    cdef int nb = 2 * h
    cdef double complex s
    if out.shape[0] != y.shape[0] or out.shape[1] != n_data * nb:
        return 2
    for b in range(y.shape[0]):
        for k in range(n_data):
            s = y[b, data_idx[k]]
            v = (gray[qam_level(s.real, scale, nlev)] << h) | gray[qam_level(s.imag, scale, nlev)]
            for j in range(nb):
                out[b, k * nb + j] = (v >> (nb - 1 - j)) & 1
    return 0


def demap_grid(const double complex[:, ::1] y, const long long[::1] data_idx, int h, double scale,
               const long long[::1] gray, unsigned char[:, ::1] out):
    """Hard Gray-QAM decisions of y[b, data_idx[k]] as bits in out[b] (MSB first). Returns a status."""
    cdef int st
    with nogil:
        st = _demap_grid(y, data_idx, h, scale, gray, out)
    return st
