"""NumPy twin of ``_track.pyx``: the Doppler tracking loop fused with its NCO (same API and results to rounding).

One call runs the per-sample correction and the per-frame loop over a chunk:

* NCO: ``out[n] = x[n] exp(-j 2 pi phi[n])``, ``phi[n+1] = phi[n] + fp[n] + fl[n]`` (cycles), where
  ``fp`` is the *predicted* Doppler (ephemeris pre-compensation), piecewise linear between knots
  every ``U`` samples on the absolute sample grid, and ``fl`` is the *loop* estimate, which moves
  with the loop's rate ``rl`` (cycles/sample^2) between updates.
* In TRACK mode the corrected samples under the expected preamble window are correlated with the
  known preamble per repetition at the two integer lags around the expected position and, once the
  window is complete, a
  two-state Kalman filter (frequency, frequency rate) is updated with the frequency error measured
  from the repetitions; the preamble timing is refined from the two lags' ratio and the next window
  is placed one frame period later, shortened or stretched by the code Doppler.
* The kernel returns early when the sample index reaches ``ist[I_STOP]`` or when it declares loss of
  lock (``ist[I_LOST]`` set), so that the caller can run an acquisition.

All state lives in the caller's arrays ``st`` (float64), ``ist`` (int64), ``acc`` (complex128);
the layout constants below are shared with the compiled kernel (a test checks they agree).
Units: frequency in cycles/sample, rate in cycles/sample^2, positions in samples (absolute index).
"""

import math

import numpy as np

# float state
(PH, PF, PR, LF, LR, P00, P01, P11, NC, NEXT, EN, Q, PERIOD, CODE, THR_NC, THR_COH, KT,
 RSCALE) = range(18)
NST = 18
# integer state
I_N, I_MODE, I_WIN, I_MISS, I_MAXMISS, I_STOP, I_U, I_L, I_R, I_LOCK, I_LOST = range(11)
NIST = 11
# log columns (one row per measurement window)
(G_CENTRE, G_NU, G_MCOH, G_MNC, G_FTOT, G_LF, G_LR, G_POS, G_VALID, G_LOCK, G_VAR) = range(11)
NLOG = 11
HOLD, TRACK = 0, 1
MAX_REPEATS = 16
LAYOUT = (NST, NIST, NLOG, PH, RSCALE, I_LOST, G_VAR, HOLD, TRACK, MAX_REPEATS)

TWO_PI = 2.0 * math.pi


def _sinc(x):
    return 1.0 if x == 0.0 else math.sin(math.pi * x) / (math.pi * x)


def _measure(st, ist, acc, n_next, row):
    """Loop update at the end of a preamble window; ``n_next`` = index of the next sample.

    The window correlates the preamble at the two integer lags ``a = floor(NEXT)`` and ``a + 1`` around
    the expected (fractional) position; per repetition the two are combined with the weights
    ``sinc(delta)``, ``sinc(1 - delta)`` (``delta = NEXT - a``) that maximise the SNR of a flat-spectrum
    sequence. Writes one log row; returns True when loss of lock is declared.
    """
    L = int(ist[I_L])
    R = int(ist[I_R])
    Np = L * R
    a0 = int(ist[I_WIN])
    en = st[EN]
    dp = st[NEXT] - a0
    w0 = _sinc(dp)
    w1 = _sinc(1.0 - dp)
    wn = w0 * w0 + w1 * w1
    r0 = complex(0.0, 0.0)
    r1 = complex(0.0, 0.0)
    ptot = complex(0.0, 0.0)
    snc = 0.0
    s = [complex(0.0, 0.0)] * R
    for k in range(R):
        r0 += acc[k]
        r1 += acc[R + k]
        s[k] = w0 * acc[k] + w1 * acc[R + k]
        ptot += s[k]
        snc += s[k].real * s[k].real + s[k].imag * s[k].imag
    if en > 0.0:
        m_coh = (ptot.real * ptot.real + ptot.imag * ptot.imag) / (wn * en)
        m_nc = snc / (wn * en)
    else:
        m_coh = 0.0
        m_nc = 0.0
    centre = st[NEXT] + 0.5 * (Np - 1)
    lost = False
    nu = math.nan
    var = math.nan
    pos = st[NEXT]
    if m_nc >= st[THR_NC]:
        ist[I_MISS] = 0
        pair = complex(0.0, 0.0)
        for k in range(R - 1):
            pair += s[k + 1] * s[k].conjugate()
        nu = math.atan2(pair.imag, pair.real) / (TWO_PI * L)
        # m_nc / L = wn rho / (1 + rho); the combined measurement's SNR is wn rho
        a = m_nc / (L * wn)
        if a > 0.999:
            a = 0.999
        rho = wn * a / (1.0 - a)
        # endpoint-phase variance of the repetition estimator, low-SNR term included
        var = st[RSCALE] * (1.0 + 1.0 / rho) / ((TWO_PI * L) ** 2 * L * rho * (R - 1) ** 2)
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
            # flat-spectrum (sinc) correlation: R(a+1)/R(a) = delta/(1-delta)
            c = r1.real * r0.real + r1.imag * r0.imag
            den = r0.real * r0.real + r0.imag * r0.imag + c
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
            ist[I_MODE] = HOLD
            ist[I_LOST] = 1
            lost = True
    ftot = st[PF] + st[LF]
    nxt = pos + st[PERIOD] * (1.0 - ftot * st[CODE])
    while math.floor(nxt) < n_next:
        nxt += st[PERIOD]
    st[NEXT] = nxt
    ist[I_WIN] = int(math.floor(nxt))
    for k in range(2 * R):
        acc[k] = 0.0
    st[EN] = 0.0
    dc = n_next - centre
    row[G_CENTRE] = centre
    row[G_NU] = nu
    row[G_MCOH] = m_coh
    row[G_MNC] = m_nc
    row[G_FTOT] = ftot - (st[PR] + st[LR]) * dc
    row[G_LF] = st[LF] - st[LR] * dc
    row[G_LR] = st[LR]
    row[G_POS] = pos
    row[G_VALID] = valid
    row[G_LOCK] = float(ist[I_LOCK])
    row[G_VAR] = st[P00]
    return lost


def track(x, out, knots, k0, pre, st, ist, acc, log):
    """Correct ``x`` into ``out`` and run the loop; returns ``(n_done, n_log)``.

    ``knots[i]``: predicted Doppler (cycles/sample) at absolute index ``(k0 + i) * U``; it must cover
    every knot boundary reached plus one. ``pre``: the preamble (complex128, ``L * R`` samples).
    ``log``: float64 ``(rows, NLOG)``; ``n_log`` rows are written. Stops early at ``ist[I_STOP]``
    (if >= 0) or when loss of lock is declared. Raises ValueError on a short ``knots``/``log``.
    """
    x = np.asarray(x)
    nx = x.shape[0]
    if out.shape[0] != nx:
        raise ValueError(f"out has {out.shape[0]} samples, x has {nx}")
    L = int(ist[I_L])
    R = int(ist[I_R])
    Np = L * R
    U = int(ist[I_U])
    n0 = int(ist[I_N])
    i = 0
    nlog = 0
    while i < nx:
        n = n0 + i
        stop = int(ist[I_STOP])
        if 0 <= stop <= n:
            break
        if n % U == 0:
            ki = n // U - k0
            if ki < 0 or ki + 1 >= knots.shape[0]:
                raise ValueError(f"knots do not cover sample {n} "
                                 f"(knot {n // U}, given {k0}..{k0 + knots.shape[0] - 1})")
            st[PF] = knots[ki]
            st[PR] = (knots[ki + 1] - knots[ki]) / U
        end = nx
        end = min(end, (n // U + 1) * U - n0)
        if stop >= 0:
            end = min(end, stop - n0)
        in_win = False
        a0 = int(ist[I_WIN])
        if ist[I_MODE] == TRACK:
            if n < a0:
                end = min(end, a0 - n0)
            elif n <= a0 + Np:
                end = min(end, a0 + Np + 1 - n0)
                in_win = True
        m = end - i
        k = np.arange(m, dtype=np.float64)
        f0 = st[PF] + st[LF]
        r = st[PR] + st[LR]
        ph = np.mod(st[PH] + f0 * k + r * (k * (k - 1.0) / 2.0), 1.0)
        y = x[i:end].astype(np.complex128) * np.exp(-1j * TWO_PI * ph)
        out[i:end] = y.astype(np.complex64)
        st[PH] = (st[PH] + f0 * m + r * (m * (m - 1.0) / 2.0)) % 1.0
        st[PF] += st[PR] * m
        st[LF] += st[LR] * m
        i = end
        if in_win:
            j = np.arange(n, n + m) - a0
            sel = j < Np  # lag a: pre[j], j in [0, Np)
            if sel.any():
                prod = y[sel] * np.conj(pre[j[sel]])
                seg = j[sel] // L
                acc[:R] += (np.bincount(seg, weights=prod.real, minlength=R)
                            + 1j * np.bincount(seg, weights=prod.imag, minlength=R))
                st[EN] += float(np.sum(y[sel].real ** 2 + y[sel].imag ** 2))
            sel = j >= 1  # lag a + 1: pre[j - 1], j in [1, Np]
            if sel.any():
                prod = y[sel] * np.conj(pre[j[sel] - 1])
                seg = (j[sel] - 1) // L
                acc[R:2 * R] += (np.bincount(seg, weights=prod.real, minlength=R)
                                 + 1j * np.bincount(seg, weights=prod.imag, minlength=R))
            if n + m - 1 == a0 + Np:
                if nlog >= log.shape[0]:
                    raise ValueError(f"log has {log.shape[0]} rows; more measurements in this chunk")
                lost = _measure(st, ist, acc, n0 + i, log[nlog])
                nlog += 1
                if lost:
                    break
    ist[I_N] = n0 + i
    return i, nlog
