# distutils: extra_compile_args = -fno-math-errno
# (-fno-math-errno only lets sqrtf compile to one instruction so the noise loop vectorises; no fast-math,
# no reassociation: results are the same as without it.)
#
# Fused per-sample channel kernel of the emulator: a time-varying fractional delay line (polyphase
# band-limited interpolator, nearest of finely tabulated fractions) + a carrier-phase / gain
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
#     out[n] = sum_p z_p(j) * x(n - D_p(j)) + noise_amp w(n)
#   w(n) is complex white Gaussian noise of unit power, a pure function of (key, n): counter-based, so
#   the output does not depend on how the stream is split into calls or threads. SplitMix64 of
#   key + (n + 1) * 0x9E3779B97F4A7C15 gives 64 bits; the high 32 make u = ((hi >> 1) + 1/2) 2^-31 in
#   (0, 1] (float32), the low 32 (as int32) make v = lo 2^-32 in [-1/2, 1/2) cycles, and
#   w = sqrt(-ln u) exp(j 2 pi v) (Box-Muller in polar form: |w|^2 ~ Exp(1), uniform phase).
#   ln, sin, cos are float32 polynomials here (|error| < 1e-6 of |w|); the twin uses NumPy's.
#   x(m) between samples comes from an L-tap interpolator whose coefficients for fraction mu are
#   row q = floor(mu P + 1/2) of tab (the nearest of P + 1 tabulated fractions; tab has 2 L columns:
#   each coefficient twice, for I and Q; L a multiple of 4; tap t multiplies x[k - L/2 + 1 + t] where
#   k = floor(position)). The fraction is then off by <= 1/(2P) sample: with P = 4096 that is an
#   error <= pi f / P (-70 dB at 0.42 fs), below the interpolator's own design error, and it saves
#   the per-sample interpolation between rows (half the multiplies).
#   ring holds the input history: sample m at ring[m & (size - 1)], size = len(ring) - L a power of
#   two; its first L entries are mirrored after the end so every tap window is contiguous.
cimport cython
from libc.math cimport M_PI, cos, exp, sin, sqrtf, INFINITY
from libc.stdint cimport int32_t, uint32_t, uint64_t

cdef enum:
    OK = 0
    ERR_TOO_SHORT = -1   # delay < L/2 samples: the interpolator would need future input
    ERR_TOO_LONG = -2    # delay beyond the history the ring holds
    ERR_SHAPE = -3       # inconsistent array shapes


cdef inline double complex _cexp(double re, double cyc) noexcept nogil:
    cdef double a = exp(re)
    cdef double w = 2.0 * M_PI * cyc
    return a * cos(w) + 1j * (a * sin(w))


# The tap loop as an explicit 4-lane SIMD dot product (GCC/Clang vector extensions, SSE2 on any
# x86-64, NEON on arm64): GCC 12 at -O3 left the plain Cython form scalar. Lanes are (I, Q, I, Q)
# because the table stores each coefficient twice; no reassociation across lanes, so no fast-math.
# Other compilers get the same arithmetic in scalar code.
cdef extern from *:
    """
    #include <string.h>
    #if defined(__GNUC__) || defined(__clang__)
    typedef float hil_dl_v4 __attribute__((vector_size(16)));
    static inline void hil_dl_dot(const float *h, const float *x, Py_ssize_t n2, float *re, float *im) {
        hil_dl_v4 a0 = {0.0f, 0.0f, 0.0f, 0.0f}, a1 = a0, h0, h1, x0, x1;
        for (Py_ssize_t t = 0; t < n2; t += 8) {
            memcpy(&h0, h + t, 16); memcpy(&h1, h + t + 4, 16);
            memcpy(&x0, x + t, 16); memcpy(&x1, x + t + 4, 16);
            a0 += h0 * x0;
            a1 += h1 * x1;
        }
        a0 += a1;
        *re = a0[0] + a0[2];
        *im = a0[1] + a0[3];
    }
    #else
    static inline void hil_dl_dot(const float *h, const float *x, Py_ssize_t n2, float *re, float *im) {
        float a[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
        for (Py_ssize_t t = 0; t < n2; t += 8)
            for (int u = 0; u < 8; u++) a[u] += h[t + u] * x[t + u];
        *re = (a[0] + a[4]) + (a[2] + a[6]);
        *im = (a[1] + a[5]) + (a[3] + a[7]);
    }
    #endif
    """
    void hil_dl_dot(const float *h, const float *x, Py_ssize_t n2, float *re, float *im) noexcept nogil


cdef union _f32:
    float f
    uint32_t u


@cython.cdivision(True)
cdef void _noise(float *of, long long n_lo, long long n_hi, uint64_t key, float amp) noexcept nogil:
    """of[2 i], of[2 i + 1] = amp * w(n_lo + i): counter-based complex Gaussian noise (see the header).

    Straight-line float32 code with no libm calls but sqrtf, so the compiler vectorises the loop."""
    cdef long long n
    cdef Py_ssize_t i
    cdef uint64_t z
    cdef uint32_t hi, lo, ix
    cdef int32_t k
    cdef float u, x, sx, s2, lnu, r, a, a2, sn, cs
    cdef _f32 cv
    for n in range(n_lo, n_hi):
        i = n - n_lo
        z = key + <uint64_t> (n + 1) * <uint64_t> 0x9E3779B97F4A7C15ULL
        z = (z ^ (z >> 30)) * <uint64_t> 0xBF58476D1CE4E5B9ULL
        z = (z ^ (z >> 27)) * <uint64_t> 0x94D049BB133111EBULL
        z = z ^ (z >> 31)
        hi = <uint32_t> (z >> 32)
        lo = <uint32_t> z
        u = (<float> <int32_t> (hi >> 1) + <float> 0.5) * <float> 4.656612873077393e-10  # 2^-31: u in (0, 1]
        # ln u = k ln 2 + ln(1 + x), x in [sqrt(1/2) - 1, sqrt(2) - 1): exponent split by bits, then
        # ln(1 + x) = 2 atanh(s), s = x / (2 + x), |s| < 0.1716, odd series to s^9 (error < 1e-9).
        cv.f = u
        ix = cv.u + (0x3F800000 - 0x3F3504F3)
        k = <int32_t> (ix >> 23) - 127
        cv.u = (ix & 0x007FFFFF) + 0x3F3504F3
        x = cv.f - <float> 1.0
        sx = x / (<float> 2.0 + x)
        s2 = sx * sx
        lnu = <float> k * <float> 0.6931471805599453 + <float> 2.0 * sx * (
            <float> 1.0 + s2 * (<float> 0.3333333333 + s2 * (<float> 0.2 + s2 * (
                <float> 0.1428571429 + s2 * <float> 0.1111111111))))
        r = amp * sqrtf(-lnu)  # lnu <= 0: u <= 1 exactly and each piece keeps the sign
        # exp(j 2 pi v) as the square of exp(j pi v), |pi v| <= pi/2: Taylor to a^11 / a^12 (error < 1e-7).
        a = <float> <int32_t> lo * <float> 7.314590128178802e-10  # pi 2^-32
        a2 = a * a
        sn = a * (<float> 1.0 + a2 * (<float> -1.6666666667e-1 + a2 * (<float> 8.3333333333e-3 + a2 * (
            <float> -1.9841269841e-4 + a2 * (<float> 2.7557319224e-6 + a2 * <float> -2.5052108385e-8)))))
        cs = <float> 1.0 + a2 * (<float> -0.5 + a2 * (<float> 4.1666666667e-2 + a2 * (<float> -1.3888888889e-3 + a2 * (
            <float> 2.4801587302e-5 + a2 * (<float> -2.7557319224e-7 + a2 * <float> 2.0876756988e-9)))))
        of[2 * i] = r * (cs * cs - sn * sn)
        of[2 * i + 1] = r * (<float> 2.0 * sn * cs)


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
cdef int _run(const float complex[::1] x, float complex[::1] out, float complex[::1] ring,
              long long n0, const double[:, ::1] dcoef, const double[:, ::1] pcoef,
              long long seg0, long long S, const float[:, ::1] tab,
              uint64_t noise_key, double noise_amp, long long written_end, long long *where) noexcept nogil:
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
    cdef double e0, e1, e2, e3, a0, a1, a2, a3, b0, b1, b2, b3, jd, D, pr, fl, mu
    cdef double complex z, w, v, u
    cdef double zre, zim, wre, wim, vre, vim, ure, uim, tre
    cdef float acc_re, acc_im, h
    cdef float zr, zi
    cdef Py_ssize_t L2
    cdef float *rf = <float *> &ring[0]
    L2 = 2 * L
    cdef float *of = <float *> &out[0] if m > 0 else NULL
    cdef const float *xf = <const float *> &x[0] if m > 0 else NULL
    cdef const float *tq
    cdef const float *tab0
    cdef const float *dq
    cdef const float *xs

    if m == 0:
        return OK
    tab0 = &tab[0, 0]
    if out.shape[0] != m or pcoef.shape[1] != 8 * npath or pcoef.shape[0] != dcoef.shape[0] \
            or tab.shape[1] % 8 or P < 1 or size <= 0 or (size & mask) != 0:
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
        if noise_amp != 0.0:
            _noise(of + 2 * (lo - n0), lo, hi, noise_key, <float> noise_amp)
        else:
            for n in range(lo, hi):
                i = n - n0
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
            # The recurrences below on plain doubles (same products and sums as complex *; GCC kept
            # the complex temporaries in memory).
            zre = z.real; zim = z.imag; wre = w.real; wim = w.imag
            vre = v.real; vim = v.imag; ure = u.real; uim = u.imag
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
                q = <Py_ssize_t> (mu * P + 0.5)  # nearest row, 0 .. P (mu < 1)
                tq = tab0 + q * L2
                start = (k - half + 1) & mask
                xs = rf + 2 * start
                if L2 == 32:  # the default 16 taps: a constant trip count, fully unrolled once inlined
                    hil_dl_dot(tq, xs, 32, &acc_re, &acc_im)
                else:
                    hil_dl_dot(tq, xs, L2, &acc_re, &acc_im)  # L2 = 2 L, a multiple of 8
                i = n - n0
                zr = <float> zre  # the rotator runs in double; its product with the taps in float
                zi = <float> zim
                of[2 * i] += zr * acc_re - zi * acc_im
                of[2 * i + 1] += zr * acc_im + zi * acc_re
                tre = zre * wre - zim * wim  # z *= w
                zim = zre * wim + zim * wre
                zre = tre
                tre = wre * vre - wim * vim  # w *= v
                wim = wre * vim + wim * vre
                wre = tre
                tre = vre * ure - vim * uim  # v *= u
                vim = vre * uim + vim * ure
                vre = tre
        s += 1
    return OK


def run(const float complex[::1] x, float complex[::1] out, float complex[::1] ring, long long n0,
        const double[:, ::1] dcoef, const double[:, ::1] pcoef, long long seg0, long long seg_len,
        const float[:, ::1] tab, uint64_t noise_key, double noise_amp,
        long long written_end=-1):
    """Run the delay line over one chunk; see the file header for the model.

    Returns ``(status, where)``: status 0 ok, -1 delay shorter than L/2 samples at absolute sample
    ``where``, -2 delay longer than the ring holds at ``where``, -3 inconsistent shapes.
    ``ring`` is updated in place (it is the block's state); ``out`` is overwritten.
    ``noise_key`` (uint64) selects the noise stream, ``noise_amp`` its rms amplitude (0: no noise).
    ``written_end >= 0``: the input was already written to the ring (by :func:`write`) up to that
    absolute index; ``run`` then only reads the ring, so several calls on disjoint ranges of one
    chunk may run in parallel threads (the GIL is released).
    """
    cdef long long where = -1
    cdef int status
    if seg_len <= 0 or n0 < 0:
        return -3, -1
    with nogil:
        status = _run(x, out, ring, n0, dcoef, pcoef, seg0, seg_len, tab, noise_key, noise_amp, written_end,
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
