"""NumPy twin of ``_chanop.pyx``: the doubly-dispersive channel operator (same signature and results).

For every row b of ``x`` and every path p::

    out[b, n] += gains[p] * exp(j 2 pi dopplers[p] n) * sum_t taps[p, t] * x[b, n - offsets[p] - t]

for t < ntaps[p], with x taken as 0 outside 0..L-1. ``out`` must be zeroed by the caller.
Returns 0 (status; the compiled kernel has no failure modes after the wrapper's checks).
"""

import numpy as np


def apply(x, out, gains, dopplers, offsets, ntaps, taps):
    x = np.asarray(x)
    nb, length = x.shape
    n = np.arange(length)
    for p in range(gains.shape[0]):
        acc = np.zeros((nb, length), np.complex128)
        for t in range(int(ntaps[p])):
            s = int(offsets[p]) + t  # x index = n - s
            if s >= length or s <= -length:
                continue
            if s >= 0:
                acc[:, s:] += taps[p, t] * x[:, : length - s]
            else:
                acc[:, : length + s] += taps[p, t] * x[:, -s:]
        rot = np.exp(2j * np.pi * np.mod(dopplers[p] * n, 1.0))
        out += gains[p] * rot * acc
    return 0
