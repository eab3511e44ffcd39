"""NumPy twin of ``_modmap.pyx``: bits -> QAM symbols placed on the data cells of frame grids, and the
reverse (hard decisions read from the data cells), batched over frames. Same signatures and results.
Status: 0 ok, 1 a bit value other than 0/1, 2 shape mismatch.
"""

import numpy as np


def map_grid(bits, bps, lut, data_idx, fill, out):
    """out[b] = fill; out[b, data_idx[k]] = lut[value of bits[b, k*bps:(k+1)*bps]] (MSB first)."""
    B, nbits = bits.shape
    n_data = data_idx.shape[0]
    if out.shape[0] != B or nbits != n_data * bps or fill.shape[0] != out.shape[1]:
        return 2
    if bits.size and bits.max() > 1:
        return 1
    v = bits.reshape(B, n_data, bps).astype(np.int64) @ (1 << np.arange(bps - 1, -1, -1, dtype=np.int64))
    if n_data != out.shape[1]:
        out[:] = fill
    out[:, data_idx] = lut[v]
    return 0


def demap_grid(y, data_idx, h, scale, gray, out):
    """Hard decisions of y[b, data_idx[k]] (Gray QAM, ``h`` bits per axis) as bits in out[b] (MSB first)."""
    B = y.shape[0]
    n_data = data_idx.shape[0]
    if out.shape[0] != B or out.shape[1] != n_data * 2 * h:
        return 2
    nlev = 1 << h
    d = y[:, data_idx]

    def pos(u):
        return np.clip(np.rint(((nlev - 1) - u * scale) / 2.0), 0, nlev - 1).astype(np.int64)

    v = (gray[pos(d.real)] << h) | gray[pos(d.imag)]
    shifts = np.arange(2 * h - 1, -1, -1, dtype=np.int64)
    out[:] = ((v[:, :, None] >> shifts) & 1).astype(np.uint8).reshape(B, -1)
    return 0
