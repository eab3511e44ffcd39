"""NumPy twin of ``_nco.pyx`` (reference implementation, same signature and results to rounding)."""

import numpy as np


def rotate(x, out, phase, freq, rate):
    """out[n] = x[n] * exp(j 2 pi phi[n]), phi[n] = phase + freq n + rate n (n - 1) / 2 (cycles).

    Returns ``(phase, freq)`` after the last sample, the phase wrapped to [0, 1).
    """
    x = np.asarray(x)
    if out.shape[0] != x.shape[0]:
        raise ValueError(f"out has {out.shape[0]} samples, x has {x.shape[0]}")
    n = np.arange(x.shape[0], dtype=np.float64)
    # Wrap each term before summing so large n keeps full precision in the fractional part.
    ph = np.mod(phase + np.mod(freq * n, 1.0) + np.mod(rate * (n * (n - 1) / 2), 1.0), 1.0)
    out[:] = (x * np.exp(2j * np.pi * ph)).astype(np.complex64)
    m = x.shape[0]
    end_phase = float(np.mod(phase + np.mod(freq * m, 1.0) + np.mod(rate * (m * (m - 1) / 2), 1.0), 1.0))
    return end_phase, float(freq + rate * m)
