# Calibration / front-end impairment kernels (see _iqcal_py.py, the NumPy twin, for the exact definitions):
#   resample     band-limited fractional interpolation from a tabulated windowed sinc (delay + clock offset)
#   dc_iq_track  per-sample DC tracking and blind (circularity-based) IQ-imbalance tracking + correction
cimport cython
from libc.math cimport floor, sqrt


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
cdef int _resample(const double complex[::1] buf, double complex[::1] out, double n0, double ratio,
                   double offset, const double[:, ::1] table) noexcept nogil:
    cdef Py_ssize_t m = out.shape[0]
    cdef Py_ssize_t nq = table.shape[0] - 1
    cdef Py_ssize_t taps = table.shape[1]
    cdef Py_ssize_t half = taps // 2
    cdef Py_ssize_t nbuf = buf.shape[0]
    cdef Py_ssize_t i, j, k, q, base
    cdef double p, fk, mu, fq, f, h
    cdef double complex acc
    for i in range(m):
        p = (n0 + <double>i) * ratio - offset
        fk = floor(p)
        mu = (p - fk) * nq
        fq = floor(mu)
        f = mu - fq
        k = <Py_ssize_t>fk
        q = <Py_ssize_t>fq
        if q > nq - 1:
            q = nq - 1
        if k - half + 1 < 0 or k + half > nbuf - 1:
            return 1
        base = k - half + 1
        acc = 0
        for j in range(taps):
            h = table[q, j] * (1.0 - f) + table[q + 1, j] * f
            acc = acc + buf[base + j] * h
        out[i] = acc
    return 0


def resample(const double complex[::1] buf, double complex[::1] out, double n0, double ratio, double offset,
             const double[:, ::1] table):
    """out[i] = band-limited value of buf at position (n0 + i) * ratio - offset; 0 ok, 1 out of range."""
    cdef int status
    with nogil:
        status = _resample(buf, out, n0, ratio, offset, table)
    return status


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
cdef int _dc_iq_track(const double complex[::1] x, double complex[::1] out, double[::1] state,
                      double a_dc, double a_iq, int do_dc, int do_iq) noexcept nogil:
    cdef Py_ssize_t n
    cdef double dr = state[0], di = state[1], p = state[2], cr = state[3], ci = state[4]
    cdef double xr, xi, zr, zi, disc, den, wr, wi, c2
    for n in range(x.shape[0]):
        xr = x[n].real
        xi = x[n].imag
        zr = xr - dr
        zi = xi - di
        if do_dc:
            dr = dr + a_dc * (xr - dr)
            di = di + a_dc * (xi - di)
        if do_iq:
            c2 = cr * cr + ci * ci
            disc = p * p - c2
            if disc < 0.0:
                disc = 0.0
            den = p + sqrt(disc)
            if den > 0.0:
                wr = cr / den
                wi = ci / den
            else:
                wr = 0.0
                wi = 0.0
            # out = z - w conj(z)
            out[n] = (zr - (wr * zr + wi * zi)) + 1j * (zi - (wi * zr - wr * zi))
            p = p + a_iq * ((zr * zr + zi * zi) - p)
            cr = cr + a_iq * ((zr * zr - zi * zi) - cr)
            ci = ci + a_iq * ((2.0 * zr * zi) - ci)
        else:
            out[n] = zr + 1j * zi
    state[0] = dr
    state[1] = di
    state[2] = p
    state[3] = cr
    state[4] = ci
    return 0


def dc_iq_track(const double complex[::1] x, double complex[::1] out, double[::1] state, double a_dc,
                double a_iq, bint do_dc, bint do_iq):
    """DC + blind IQ tracking and correction, sample by sample; ``state`` updated in place. Returns 0."""
    cdef int status
    if out.shape[0] != x.shape[0] or state.shape[0] != 5:
        return 2
    with nogil:
        status = _dc_iq_track(x, out, state, a_dc, a_iq, do_dc, do_iq)
    return status
