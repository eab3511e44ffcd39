# Doubly-dispersive channel operator: a sum of paths, each a short FIR (an integer shift, or a
# windowed-sinc fractional delay) followed by a Doppler rotation exp(j 2 pi nu n) referenced to index 0
# of the given array. Rows of a 2-D input are independent arrays. NumPy twin: _chanop_py.py.
cimport cython
from libc.math cimport cos, sin, floor, M_PI

# Re-anchor the rotation recurrence this often (samples) so rounding cannot accumulate.
DEF ANCHOR = 64


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
cdef int _apply(const double complex[:, ::1] x, double complex[:, ::1] out, const double complex[::1] gains,
                const double[::1] dopplers, const long long[::1] offsets, const long long[::1] ntaps,
                const double[:, ::1] taps) noexcept nogil:
    cdef Py_ssize_t b, p, n, t, idx, L = x.shape[1]
    cdef long long off, nt
    cdef double nu, ph, sr, si, cr, ci, tr, acc_r, acc_i, h
    cdef double complex g, xv
    for b in range(x.shape[0]):
        for p in range(gains.shape[0]):
            g = gains[p]
            nu = dopplers[p]
            off = offsets[p]
            nt = ntaps[p]
            # step rotation exp(j 2 pi nu)
            ph = nu - floor(nu)
            sr = cos(2.0 * M_PI * ph)
            si = sin(2.0 * M_PI * ph)
            cr = 1.0
            ci = 0.0
            for n in range(L):
                if n % ANCHOR == 0:
                    ph = nu * n
                    ph = ph - floor(ph)
                    cr = cos(2.0 * M_PI * ph)
                    ci = sin(2.0 * M_PI * ph)
                acc_r = 0.0
                acc_i = 0.0
                for t in range(nt):
                    idx = n - off - t
                    if idx >= 0 and idx < L:
                        h = taps[p, t]
                        xv = x[b, idx]
                        acc_r = acc_r + h * xv.real
                        acc_i = acc_i + h * xv.imag
                # out += g * rot * acc
                tr = cr * acc_r - ci * acc_i
                acc_i = cr * acc_i + ci * acc_r
                acc_r = tr
                out[b, n] = out[b, n] + g * (acc_r + 1j * acc_i)
                tr = cr * sr - ci * si
                ci = cr * si + ci * sr
                cr = tr
    return 0


def apply(const double complex[:, ::1] x, double complex[:, ::1] out, const double complex[::1] gains,
          const double[::1] dopplers, const long long[::1] offsets, const long long[::1] ntaps,
          const double[:, ::1] taps):
    """out[b, n] += sum_p gains[p] exp(j 2 pi dopplers[p] n) sum_{t < ntaps[p]} taps[p, t] x[b, n - offsets[p] - t].

    x outside 0..L-1 is zero; ``out`` must be zeroed by the caller. Returns a status (0 ok).
    """
    cdef int st
    with nogil:
        st = _apply(x, out, gains, dopplers, offsets, ntaps, taps)
    return st
