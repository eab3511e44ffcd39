"""NumPy twin of ``_modqam.pyx``: Gray QAM mapping and demapping (same signatures, same results).

Square Gray QAM with ``h = bits_per_symbol / 2`` bits per axis: the top ``h`` bits of a symbol choose
the in-phase level, the low ``h`` bits the quadrature level. Per axis the ``L = 2**h`` levels are
``levels[p]`` (position p) carrying the Gray code ``gray[p]``. Every function returns an int status:
0 = ok, 1 = a bit value other than 0/1 (map_bits only).
"""

import numpy as np


def map_bits(bits, bps, lut, out):
    """out[k] = lut[v_k] with v_k the integer value of bits[k*bps:(k+1)*bps] (MSB first)."""
    bits = np.asarray(bits)
    if bits.size and bits.max() > 1:
        return 1
    b = bits.reshape(-1, bps).astype(np.int64)
    v = b @ (1 << np.arange(bps - 1, -1, -1, dtype=np.int64))
    out[:] = lut[v]
    return 0


def _axis_positions(u, scale, nlev):
    # level p sits at (nlev - 1 - 2p) / scale; nearest position, clipped to the outer levels
    p = np.rint(((nlev - 1) - u * scale) / 2.0)
    return np.clip(p, 0, nlev - 1).astype(np.int64)


def demap_hard(y, h, scale, gray, out):
    """Nearest-point decisions per axis, written as bits (MSB first) into ``out`` (len(y) * 2h)."""
    y = np.asarray(y)
    nlev = 1 << h
    gi = gray[_axis_positions(y.real, scale, nlev)]
    gq = gray[_axis_positions(y.imag, scale, nlev)]
    v = (gi << h) | gq
    shifts = np.arange(2 * h - 1, -1, -1, dtype=np.int64)
    out[:] = ((v[:, None] >> shifts) & 1).astype(np.uint8).ravel()
    return 0


def maxlog_llr(y, h, levels, gray, inv_noise_var, out):
    """Max-log LLRs, positive = bit 0 more likely: (min_{b=1} d^2 - min_{b=0} d^2) / noise_var per bit."""
    y = np.asarray(y)
    nlev = 1 << h
    res = np.empty((y.shape[0], 2 * h))
    for axis, u in enumerate((y.real, y.imag)):
        d2 = (u[:, None] - levels[None, :]) ** 2  # (n, L)
        for j in range(h):
            bit = (gray >> (h - 1 - j)) & 1
            d0 = d2[:, bit == 0].min(axis=1)
            d1 = d2[:, bit == 1].min(axis=1)
            res[:, axis * h + j] = (d1 - d0) * inv_noise_var
    del nlev
    out[:] = res.ravel()
    return 0
