# Doppler tracking loop fused with its NCO: per-sample correction by the predicted (ephemeris) plus
# loop frequency, per-frame Kalman update (frequency, frequency rate) from the known preamble's
# repetitions, timing refinement from the correlations at the two integer lags around the preamble. See _track_py.py (the NumPy twin,
# same API and results to rounding) for the full description and the state layout.
cimport cython
from libc.math cimport cos, sin, floor, atan2, M_PI

# float state
DEF PH = 0
DEF PF = 1
DEF PR = 2
DEF LF = 3
DEF LR = 4
DEF P00 = 5
DEF P01 = 6
DEF P11 = 7
DEF NC = 8
DEF NEXT = 9
DEF EN = 10
DEF Q = 11
DEF PERIOD = 12
DEF CODE = 13
DEF THR_NC = 14
DEF THR_COH = 15
DEF KT = 16
DEF RSCALE = 17
DEF NST_ = 18
# integer state
DEF I_N = 0
DEF I_MODE = 1
DEF I_WIN = 2
DEF I_MISS = 3
DEF I_MAXMISS = 4
DEF I_STOP = 5
DEF I_U = 6
DEF I_L = 7
DEF I_R = 8
DEF I_LOCK = 9
DEF I_LOST = 10
DEF NIST_ = 11
# log columns
DEF G_CENTRE = 0
DEF G_NU = 1
DEF G_MCOH = 2
DEF G_MNC = 3
DEF G_FTOT = 4
DEF G_LF = 5
DEF G_LR = 6
DEF G_POS = 7
DEF G_VALID = 8
DEF G_LOCK = 9
DEF G_VAR = 10
DEF NLOG_ = 11
DEF HOLD_ = 0
DEF TRACK_ = 1
DEF MAX_REPEATS_ = 16
DEF REFRESH = 64

NST = NST_
NIST = NIST_
NLOG = NLOG_
HOLD = HOLD_
TRACK = TRACK_
MAX_REPEATS = MAX_REPEATS_
LAYOUT = (NST_, NIST_, NLOG_, PH, RSCALE, I_LOST, G_VAR, HOLD_, TRACK_, MAX_REPEATS_)

cdef double TWO_PI = 2.0 * M_PI
cdef double NAN = float("nan")


cdef inline double _sinc(double x) noexcept nogil:
    if x == 0.0:
        return 1.0
    return sin(M_PI * x) / (M_PI * x)


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
cdef bint _measure(double[::1] st, long long[::1] ist, double complex[::1] acc, long long n_next,
                   double[:, ::1] log, Py_ssize_t row) noexcept nogil:
    cdef long long L = ist[I_L]
    cdef long long R = ist[I_R]
    cdef long long Np = L * R
    cdef long long a0 = ist[I_WIN]
    cdef double en = st[EN]
    cdef double dp = st[NEXT] - a0
    cdef double w0 = _sinc(dp)
    cdef double w1 = _sinc(1.0 - dp)
    cdef double wn = w0 * w0 + w1 * w1
    cdef double r0r = 0.0, r0i = 0.0, r1r = 0.0, r1i = 0.0
    cdef double pr = 0.0, pi = 0.0, snc = 0.0, m_coh = 0.0, m_nc = 0.0
    cdef double sr[MAX_REPEATS_]
    cdef double si[MAX_REPEATS_]
    cdef double ar, ai, a, rho, var = NAN, nu = NAN, d, q, p00, p01, p11, sden, k0, k1, dt
    cdef double c, den, delta, pos, ftot, nxt, dc, valid
    cdef bint lost = False, locked
    cdef long long k
    for k in range(R):
        r0r += acc[k].real
        r0i += acc[k].imag
        r1r += acc[R + k].real
        r1i += acc[R + k].imag
        sr[k] = w0 * acc[k].real + w1 * acc[R + k].real
        si[k] = w0 * acc[k].imag + w1 * acc[R + k].imag
        pr += sr[k]
        pi += si[k]
        snc += sr[k] * sr[k] + si[k] * si[k]
    if en > 0.0:
        m_coh = (pr * pr + pi * pi) / (wn * en)
        m_nc = snc / (wn * en)
    cdef double centre = st[NEXT] + 0.5 * (Np - 1)
    pos = st[NEXT]
    if m_nc >= st[THR_NC]:
        ist[I_MISS] = 0
        ar = 0.0
        ai = 0.0
        for k in range(R - 1):
            # s[k+1] * conj(s[k])
            ar += sr[k + 1] * sr[k] + si[k + 1] * si[k]
            ai += si[k + 1] * sr[k] - sr[k + 1] * si[k]
        nu = atan2(ai, ar) / (TWO_PI * L)
        # m_nc / L = wn rho / (1 + rho); the combined measurement's SNR is wn rho
        a = m_nc / (L * wn)
        if a > 0.999:
            a = 0.999
        rho = wn * a / (1.0 - a)
        var = st[RSCALE] * (1.0 + 1.0 / rho) / ((TWO_PI * L) * (TWO_PI * L) * L * rho * (R - 1) * (R - 1))
        d = centre - st[NC]
        q = st[Q]
        p00 = st[P00] + 2.0 * d * st[P01] + d * d * st[P11] + q * d * d * d / 3.0
        p01 = st[P01] + d * st[P11] + q * d * d / 2.0
        p11 = st[P11] + q * d
        sden = p00 + var
        k0 = p00 / sden
        k1 = p01 / sden
        st[P00] = (1.0 - k0) * p00
        st[P01] = (1.0 - k0) * p01
        st[P11] = p11 - k1 * p01
        st[NC] = centre
        dt = n_next - centre
        st[LF] += k0 * nu + k1 * nu * dt
        st[LR] += k1 * nu
        locked = m_coh >= st[THR_COH]
        if locked:
            c = r1r * r0r + r1i * r0i
            den = r0r * r0r + r0i * r0i + c
            delta = c / den if den > 0.0 else dp
            if delta > 2.0:
                delta = 2.0
            elif delta < -1.0:
                delta = -1.0
            pos = st[NEXT] + st[KT] * (a0 + delta - st[NEXT])
        ist[I_LOCK] = 1 if locked else 0
        valid = 1.0
    else:
        ist[I_MISS] += 1
        ist[I_LOCK] = 0
        valid = 0.0
        if ist[I_MISS] >= ist[I_MAXMISS]:
            ist[I_MODE] = HOLD_
            ist[I_LOST] = 1
            lost = True
    ftot = st[PF] + st[LF]
    nxt = pos + st[PERIOD] * (1.0 - ftot * st[CODE])
    while <long long> floor(nxt) < n_next:
        nxt += st[PERIOD]
    st[NEXT] = nxt
    ist[I_WIN] = <long long> floor(nxt)
    for k in range(2 * R):
        acc[k] = 0.0
    st[EN] = 0.0
    dc = n_next - centre
    log[row, G_CENTRE] = centre
    log[row, G_NU] = nu
    log[row, G_MCOH] = m_coh
    log[row, G_MNC] = m_nc
    log[row, G_FTOT] = ftot - (st[PR] + st[LR]) * dc
    log[row, G_LF] = st[LF] - st[LR] * dc
    log[row, G_LR] = st[LR]
    log[row, G_POS] = pos
    log[row, G_VALID] = valid
    log[row, G_LOCK] = <double> ist[I_LOCK]
    log[row, G_VAR] = st[P00]
    return lost


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
cdef int _track(const float complex[::1] x, float complex[::1] out, const double[::1] knots, long long k0,
                const double complex[::1] pre, double[::1] st, long long[::1] ist, double complex[::1] acc,
                double[:, ::1] log, Py_ssize_t *n_done, Py_ssize_t *n_log) noexcept nogil:
    cdef Py_ssize_t nx = x.shape[0]
    cdef long long L = ist[I_L]
    cdef long long R = ist[I_R]
    cdef long long Np = L * R
    cdef long long U = ist[I_U]
    cdef long long n0 = ist[I_N]
    cdef long long n, j, ki, P0 = ist[I_WIN]
    cdef long long stop = ist[I_STOP]
    cdef Py_ssize_t i = 0, nlog = 0
    cdef double ph = st[PH], pf = st[PF], prt = st[PR], lf = st[LF], lrt = st[LR]
    cdef double c, s, xr, xi, yr, yi, wr, wi, t
    # phasor recursion: w = exp(-j 2 pi ph), d = exp(-j 2 pi f), e = exp(-j 2 pi rate); w *= d, d *= e per
    # sample, refreshed from the exact phase every REFRESH samples and after any change of f or rate
    # (cos/sin per sample would cost several times more; the drift over REFRESH steps is ~1e-14)
    cdef double vr = 1.0, vi = 0.0, dr = 1.0, di = 0.0, er = 1.0, ei = 0.0
    cdef int fresh = 0
    cdef int status = 0
    cdef bint tracking = ist[I_MODE] == TRACK_
    # next knot boundary (a multiple of U) at or after n0; a compare per sample instead of a division
    cdef long long nk = ((n0 + U - 1) // U) * U
    cdef long long n_end = n0 + nx
    if stop >= 0 and stop < n_end:
        n_end = stop if stop > n0 else n0
    while n0 + i < n_end:
        n = n0 + i
        if n == nk:
            nk += U
            ki = n // U - k0
            if ki < 0 or ki + 1 >= knots.shape[0]:
                status = -1
                break
            pf = knots[ki]
            prt = (knots[ki + 1] - knots[ki]) / U
            fresh = 0
        if fresh == 0:
            vr = cos(TWO_PI * ph)
            vi = -sin(TWO_PI * ph)
            dr = cos(TWO_PI * (pf + lf))
            di = -sin(TWO_PI * (pf + lf))
            er = cos(TWO_PI * (prt + lrt))
            ei = -sin(TWO_PI * (prt + lrt))
            fresh = REFRESH
        xr = x[i].real
        xi = x[i].imag
        yr = xr * vr - xi * vi
        yi = xr * vi + xi * vr
        out[i] = yr + 1j * yi
        ph += pf + lf
        # |f| < 1/2, so one correction keeps ph in [0, 1)
        if ph >= 1.0:
            ph -= 1.0
        elif ph < 0.0:
            ph += 1.0
        pf += prt
        lf += lrt
        t = vr * dr - vi * di
        vi = vr * di + vi * dr
        vr = t
        t = dr * er - di * ei
        di = dr * ei + di * er
        dr = t
        fresh -= 1
        i += 1
        if tracking:
            j = n - P0
            if j >= 0 and j <= Np:
                if j < Np:
                    wr = pre[j].real
                    wi = pre[j].imag
                    acc[j // L] = acc[j // L] + ((yr * wr + yi * wi) + 1j * (yi * wr - yr * wi))
                    st[EN] += yr * yr + yi * yi
                if j >= 1:
                    wr = pre[j - 1].real
                    wi = pre[j - 1].imag
                    acc[R + (j - 1) // L] = acc[R + (j - 1) // L] + ((yr * wr + yi * wi) + 1j * (yi * wr - yr * wi))
                if j == Np:
                    if nlog >= log.shape[0]:
                        status = -2
                        break
                    st[PH] = ph
                    st[PF] = pf
                    st[PR] = prt
                    st[LF] = lf
                    st[LR] = lrt
                    if _measure(st, ist, acc, n + 1, log, nlog):
                        nlog += 1
                        tracking = False
                        break
                    nlog += 1
                    lf = st[LF]
                    lrt = st[LR]
                    P0 = ist[I_WIN]
                    fresh = 0
    st[PH] = ph
    st[PF] = pf
    st[PR] = prt
    st[LF] = lf
    st[LR] = lrt
    ist[I_N] = n0 + i
    n_done[0] = i
    n_log[0] = nlog
    return status


def track(const float complex[::1] x, float complex[::1] out, const double[::1] knots, long long k0,
          const double complex[::1] pre, double[::1] st, long long[::1] ist, double complex[::1] acc,
          double[:, ::1] log):
    """Correct ``x`` into ``out`` and run the loop; returns ``(n_done, n_log)`` (see the NumPy twin)."""
    cdef Py_ssize_t n_done = 0, n_log = 0
    cdef int status
    if out.shape[0] != x.shape[0]:
        raise ValueError(f"out has {out.shape[0]} samples, x has {x.shape[0]}")
    if st.shape[0] < NST_ or ist.shape[0] < NIST_ or log.shape[1] < NLOG_ or acc.shape[0] < 2 * ist[I_R] or ist[I_R] > MAX_REPEATS_ or ist[I_R] < 2:
        raise ValueError("state arrays are smaller than the layout")
    if pre.shape[0] < ist[I_L] * ist[I_R]:
        raise ValueError(f"pre has {pre.shape[0]} samples, need {ist[I_L] * ist[I_R]}")
    with nogil:
        status = _track(x, out, knots, k0, pre, st, ist, acc, log, &n_done, &n_log)
    if status == -1:
        n = ist[I_N]
        raise ValueError(f"knots do not cover sample {n} (knot {n // ist[I_U]}, given {k0}..{k0 + knots.shape[0] - 1})")
    if status == -2:
        raise ValueError(f"log has {log.shape[0]} rows; more measurements in this chunk")
    return n_done, n_log
