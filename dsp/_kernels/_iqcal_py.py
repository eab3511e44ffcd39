"""NumPy twin of ``_iqcal.pyx`` (reference implementation, same signatures and results to rounding).

Two kernels of the calibration/impairment blocks:

``resample(buf, out, n0, ratio, offset, table)``
    Band-limited interpolation: ``out[i] = sum_j buf[k + j] * h(j - mu)`` for ``j = -H+1 .. H``,
    where ``p = (n0 + i) * ratio - offset`` is the (fractional) position in ``buf``, ``k = floor(p)``,
    ``mu = p - k`` and ``h`` is read from ``table`` (``Q + 1`` rows of ``2 H`` taps for
    ``mu = q / Q``, linearly interpolated between rows). Every needed ``buf`` index must exist;
    returns 1 if one does not (status), else 0.

``dc_iq_track(x, out, state, a_dc, a_iq, do_dc, do_iq)``
    Per sample: ``z = x - dc`` (the DC estimate from the samples before), ``dc += a_dc (x - dc)``;
    ``w`` = the small root of ``conj(C) w^2 - 2 P w + C = 0`` from the moments before this sample
    (0 while ``C == 0``), ``out = z - w conj(z)``, then ``P += a_iq (|z|^2 - P)``,
    ``C += a_iq (z^2 - C)``. ``state`` is float64 ``[dc.re, dc.im, P, C.re, C.im]``, updated in place.
    Returns 0.
"""

import numpy as np
from scipy.signal import lfilter


def resample(buf, out, n0, ratio, offset, table):
    buf = np.asarray(buf)
    m = out.shape[0]
    if m == 0:
        return 0
    nq = table.shape[0] - 1
    taps = table.shape[1]
    half = taps // 2
    p = (n0 + np.arange(m, dtype=np.float64)) * ratio - offset
    k = np.floor(p)
    mu = (p - k) * nq
    q = np.floor(mu)
    f = (mu - q)[:, None]
    k = k.astype(np.int64)
    q = np.minimum(q.astype(np.int64), nq - 1)
    if k[0] - half + 1 < 0 or k.min() - half + 1 < 0 or k.max() + half > buf.shape[0] - 1:
        return 1
    h = table[q] * (1.0 - f) + table[q + 1] * f
    idx = k[:, None] + np.arange(-half + 1, half + 1)[None, :]
    out[:] = np.sum(buf[idx] * h, axis=1)
    return 0


def _small_root(p, c):
    # w = (P - sqrt(P^2 - |C|^2)) / conj(C), written as C / (P + sqrt(...)) to avoid cancellation.
    disc = np.sqrt(np.maximum(p * p - np.abs(c) ** 2, 0.0))
    den = p + disc
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(den > 0, c / np.where(den > 0, den, 1.0), 0.0)
    return w


def dc_iq_track(x, out, state, a_dc, a_iq, do_dc, do_iq):
    x = np.asarray(x, dtype=np.complex128)
    n = x.shape[0]
    if out.shape[0] != n or state.shape[0] != 5:
        return 2
    if n == 0:
        return 0
    dc0 = complex(state[0], state[1])
    if do_dc:
        # dc after sample n: one-pole average; z uses the value before the sample.
        dc_after, _ = lfilter([a_dc], [1.0, -(1.0 - a_dc)], x, zi=[(1.0 - a_dc) * dc0])
        dc_before = np.concatenate(([dc0], dc_after[:-1]))
        z = x - dc_before
        dc_end = dc_after[-1]
    else:
        z = x - dc0
        dc_end = dc0
    p0, c0 = state[2], complex(state[3], state[4])
    if do_iq:
        p_after, _ = lfilter([a_iq], [1.0, -(1.0 - a_iq)], np.abs(z) ** 2, zi=[(1.0 - a_iq) * p0])
        c_after, _ = lfilter([a_iq], [1.0, -(1.0 - a_iq)], z * z, zi=[(1.0 - a_iq) * c0])
        p_before = np.concatenate(([p0], p_after[:-1]))
        c_before = np.concatenate(([c0], c_after[:-1]))
        w = _small_root(p_before, c_before)
        out[:] = z - w * np.conj(z)
        p_end, c_end = p_after[-1], c_after[-1]
    else:
        out[:] = z
        p_end, c_end = p0, c0
    state[0], state[1] = dc_end.real, dc_end.imag
    state[2] = p_end
    state[3], state[4] = c_end.real, c_end.imag
    return 0
