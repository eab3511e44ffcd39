# Fused per-sample channel kernel of the emulator: a time-varying fractional delay line (polyphase
# band-limited interpolator with linear interpolation between phases) + a carrier-phase / gain
# rotator + AWGN, summed over one or more paths.  NumPy twin: _delayline_py.py (same signature,
# same results to float32 rounding).
#
# Geometry of the call (all indices absolute sample counts since the stream's epoch):
#   x[i] is input sample n0 + i; out[i] is output sample n0 + i (same clock, same length).
#   Time is cut into segments of S samples on the absolute grid: segment s covers [s S, (s + 1) S).
#   Row r of dcoef / pcoef describes segment seg0 + r; for path p and local index j = n - s S:
#     delay  D(j)   = e0 + e1 j + e2 j^2 + e3 j^3                  (samples; dcoef[r, 4p:4p+4])
#     weight z(j)   = exp(a0 + a1 j + a2 j^2 + a3 j^3)             (a: log-amplitude, nepers)
#                     * exp(j 2 pi (b0 + b1 j + b2 j^2 + b3 j^3))  (b: phase, cycles)
#                     (pcoef[r, 8p:8p+8] = a0..a3, b0..b3; a0 = -inf switches the path off)
#     out[n] = sum_p z_p(j) * x(n - D_p(j)) + sigma (w[2i] + j w[2i+1])
#   x(m) between samples comes from an L-tap interpolator whose coefficients for fraction mu are
#   tab[q] + f dtab[q] with q = floor(mu P), f = mu P - q (tab has P + 1 rows and 2 L columns: each
#   coefficient twice, for I and Q; L a multiple of 4; tap t multiplies x[k - L/2 + 1 + t] where
#   k = floor(position)).
#   ring holds the input history: sample m at ring[m & (size - 1)], size = len(ring) - L a power of
#   two; its first L entries are mirrored after the end so every tap window is contiguous.
cimport cython
from libc.math cimport M_PI, cos, exp, sin, INFINITY

cdef enum:
    OK = 0
    ERR_TOO_SHORT = -1   # delay < L/2 samples: the interpolator would need future input
    ERR_TOO_LONG = -2    # delay beyond the history the ring holds
    ERR_SHAPE = -3       # inconsistent array shapes


cdef inline double complex _cexp(double re, double cyc) noexcept nogil:
    cdef double a = exp(re)
    cdef double w = 2.0 * M_PI * cyc
    return a * cos(w) + 1j * (a * sin(w))


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
cdef int _run(const float complex[::1] x, float complex[::1] out, float complex[::1] ring,
              long long n0, const double[:, ::1] dcoef, const double[:, ::1] pcoef,
              long long seg0, long long S, const float[:, ::1] tab, const float[:, ::1] dtab,
              const float[::1] noise, double sigma, long long written_end, long long *where) noexcept nogil:
    cdef Py_ssize_t m = x.shape[0]
    cdef Py_ssize_t L = tab.shape[1] // 2  # tables hold each coefficient twice (for I and Q)
    cdef Py_ssize_t P = tab.shape[0] - 1
    cdef Py_ssize_t npath = dcoef.shape[1] // 4
    cdef long long size = ring.shape[0] - L
    cdef long long mask = size - 1
    cdef long long half = L // 2
    cdef long long n_end = n0 + m
    cdef long long s, seg_start, lo, hi, n, k, start, pos, oldest
    cdef Py_ssize_t r, p, i, t, q
    cdef double e0, e1, e2, e3, a0, a1, a2, a3, b0, b1, b2, b3, jd, D, pr, fl, mu, fq
    cdef double complex z, w, v, u
    cdef float acc_re, acc_im, h, sg = <float>sigma
    cdef float acc8[8]
    cdef float fr, zr, zi
    cdef Py_ssize_t uu, L2
    cdef float *rf = <float *> &ring[0]
    L2 = 2 * L
    cdef float *of = <float *> &out[0] if m > 0 else NULL
    cdef const float *xf = <const float *> &x[0] if m > 0 else NULL
    cdef const float *tq
    cdef const float *tab0
    cdef const float *dtab0
    cdef const float *dq
    cdef const float *xs
    cdef bint use_noise = sigma != 0.0 and noise.shape[0] >= 2 * m

    if m == 0:
        return OK
    tab0 = &tab[0, 0]
    dtab0 = &dtab[0, 0]
    if out.shape[0] != m or pcoef.shape[1] != 8 * npath or pcoef.shape[0] != dcoef.shape[0] \
            or dtab.shape[0] != tab.shape[0] or dtab.shape[1] != 2 * L or tab.shape[1] % 8 or size <= 0 or (size & mask) != 0:
        return ERR_SHAPE
    if sigma != 0.0 and noise.shape[0] < 2 * m:
        return ERR_SHAPE
    if dcoef.shape[0] < (n_end - 1) // S - seg0 + 1:
        return ERR_SHAPE

    s = seg0
    while s * S < n_end:
        r = s - seg0
        seg_start = s * S
        lo = seg_start if seg_start > n0 else n0
        hi = seg_start + S if seg_start + S < n_end else n_end
        if written_end < 0:
            # Input first (ring + mirror), so every output of this segment sees its own sample.
            for n in range(lo, hi):
                pos = n & mask
                ring[pos] = x[n - n0]
                if pos < L:
                    ring[size + pos] = x[n - n0]
            oldest = hi - size
        else:
            oldest = written_end - size  # the caller wrote the input up to written_end already
        for n in range(lo, hi):
            i = n - n0
            if use_noise:
                of[2 * i] = sg * noise[2 * i]
                of[2 * i + 1] = sg * noise[2 * i + 1]
            else:
                of[2 * i] = 0.0
                of[2 * i + 1] = 0.0
        for p in range(npath):
            a0 = pcoef[r, 8 * p]
            if a0 == -INFINITY:
                continue  # path switched off for this segment (not visible)
            e0 = dcoef[r, 4 * p]; e1 = dcoef[r, 4 * p + 1]
            e2 = dcoef[r, 4 * p + 2]; e3 = dcoef[r, 4 * p + 3]
            a1 = pcoef[r, 8 * p + 1]; a2 = pcoef[r, 8 * p + 2]; a3 = pcoef[r, 8 * p + 3]
            b0 = pcoef[r, 8 * p + 4]; b1 = pcoef[r, 8 * p + 5]
            b2 = pcoef[r, 8 * p + 6]; b3 = pcoef[r, 8 * p + 7]
            # Forward differences of the cubic exponent at the first local index: three complex
            # multiplies per sample instead of an exp/sin/cos; restarted exactly every segment.
            jd = <double> (lo - seg_start)
            z = _cexp(((a3 * jd + a2) * jd + a1) * jd + a0, ((b3 * jd + b2) * jd + b1) * jd + b0)
            w = _cexp(a1 + a2 * (2 * jd + 1) + a3 * (3 * jd * jd + 3 * jd + 1),
                      b1 + b2 * (2 * jd + 1) + b3 * (3 * jd * jd + 3 * jd + 1))
            v = _cexp(2 * a2 + a3 * (6 * jd + 6), 2 * b2 + b3 * (6 * jd + 6))
            u = _cexp(6 * a3, 6 * b3)
            for n in range(lo, hi):
                jd = <double> (n - seg_start)
                D = ((e3 * jd + e2) * jd + e1) * jd + e0
                pr = jd - D
                fl = <double> (<long long> pr)  # floor without a libm call (pr may be negative)
                if fl > pr:
                    fl -= 1.0
                mu = pr - fl
                k = seg_start + <long long> fl
                if k + half > n:
                    where[0] = n
                    return ERR_TOO_SHORT
                if k - half + 1 < oldest:
                    where[0] = n
                    return ERR_TOO_LONG
                fq = mu * P
                q = <Py_ssize_t> fq
                if q >= P:
                    q = P - 1
                fr = <float> (fq - q)
                tq = tab0 + q * L2
                dq = dtab0 + q * L2
                start = (k - half + 1) & mask
                xs = rf + 2 * start
                # Eight independent lanes over the interleaved (re, im) floats: no reassociation is
                # needed, so the compiler vectorises it; even lanes are I, odd lanes are Q.
                if L2 == 32:  # the default 16 taps: constant trip counts, fully unrolled
                    for uu in range(8):
                        acc8[uu] = ((tq[uu] + fr * dq[uu]) * xs[uu]
                                    + (tq[uu + 8] + fr * dq[uu + 8]) * xs[uu + 8]) \
                            + ((tq[uu + 16] + fr * dq[uu + 16]) * xs[uu + 16]
                               + (tq[uu + 24] + fr * dq[uu + 24]) * xs[uu + 24])
                else:
                    for t in range(8):
                        acc8[t] = 0.0
                    t = 0
                    while t < L2:  # L2 is a multiple of 8 (taps a multiple of 4)
                        for uu in range(8):
                            acc8[uu] += (tq[t + uu] + fr * dq[t + uu]) * xs[t + uu]
                        t += 8
                acc_re = (acc8[0] + acc8[2]) + (acc8[4] + acc8[6])
                acc_im = (acc8[1] + acc8[3]) + (acc8[5] + acc8[7])
                i = n - n0
                zr = <float> z.real  # the rotator runs in double; its product with the taps in float
                zi = <float> z.imag
                of[2 * i] += zr * acc_re - zi * acc_im
                of[2 * i + 1] += zr * acc_im + zi * acc_re
                z = z * w
                w = w * v
                v = v * u
        s += 1
    return OK


def run(const float complex[::1] x, float complex[::1] out, float complex[::1] ring, long long n0,
        const double[:, ::1] dcoef, const double[:, ::1] pcoef, long long seg0, long long seg_len,
        const float[:, ::1] tab, const float[:, ::1] dtab, const float[::1] noise, double sigma,
        long long written_end=-1):
    """Run the delay line over one chunk; see the file header for the model.

    Returns ``(status, where)``: status 0 ok, -1 delay shorter than L/2 samples at absolute sample
    ``where``, -2 delay longer than the ring holds at ``where``, -3 inconsistent shapes.
    ``ring`` is updated in place (it is the block's state); ``out`` is overwritten.
    ``written_end >= 0``: the input was already written to the ring (by :func:`write`) up to that
    absolute index; ``run`` then only reads the ring, so several calls on disjoint ranges of one
    chunk may run in parallel threads (the GIL is released).
    """
    cdef long long where = -1
    cdef int status
    if seg_len <= 0 or n0 < 0:
        return -3, -1
    with nogil:
        status = _run(x, out, ring, n0, dcoef, pcoef, seg0, seg_len, tab, dtab, noise, sigma, written_end,
                      &where)
    return status, where


@cython.boundscheck(False)
@cython.wraparound(False)
def write(const float complex[::1] x, float complex[::1] ring, long long n0, Py_ssize_t taps):
    """Write input samples ``n0 .. n0 + len(x) - 1`` into the ring (and its mirror of ``taps`` entries).

    Returns 0, or -3 if ``len(x)`` exceeds the ring (the oldest samples would be overwritten at once).
    """
    cdef long long size = ring.shape[0] - taps
    cdef long long mask = size - 1
    cdef long long n, pos
    cdef Py_ssize_t m = x.shape[0]
    if size <= 0 or (size & mask) != 0 or m > size or n0 < 0:
        return -3
    with nogil:
        for n in range(n0, n0 + m):
            pos = n & mask
            ring[pos] = x[n - n0]
            if pos < taps:
                ring[size + pos] = x[n - n0]
    return 0
