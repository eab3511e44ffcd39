# Numerically controlled oscillator: multiply a complex64 stream by exp(j 2 pi phase[n]) where the
# phase (in cycles) follows a second-order recurrence: phase += freq; freq += rate.
# Used by the channel emulator (Doppler), the Doppler tracker (correction) and calibration (CFO).
# NumPy twin: _nco_py.py (same signature and results to rounding).
cimport cython
from libc.math cimport cos, sin, floor, M_PI


@cython.boundscheck(False)
@cython.wraparound(False)
cdef void _rotate(const float complex[::1] x, float complex[::1] out,
                  double *phase, double *freq, double rate) noexcept nogil:
    cdef Py_ssize_t n
    cdef double ph = phase[0]
    cdef double f = freq[0]
    cdef double c, s, xr, xi
    for n in range(x.shape[0]):
        c = cos(2.0 * M_PI * ph)
        s = sin(2.0 * M_PI * ph)
        xr = x[n].real
        xi = x[n].imag
        out[n] = (xr * c - xi * s) + 1j * (xr * s + xi * c)
        ph += f
        ph -= floor(ph)  # keep the phase in [0, 1) cycles so precision does not decay
        f += rate
    phase[0] = ph
    freq[0] = f


def rotate(const float complex[::1] x, float complex[::1] out, double phase, double freq, double rate):
    """out[n] = x[n] * exp(j 2 pi phi[n]), phi[0] = phase, phi[n+1] = phi[n] + f[n], f[n+1] = f[n] + rate.

    phase in cycles, freq in cycles/sample, rate in cycles/sample^2. ``out`` may be ``x``.
    Returns ``(phase, freq)`` after the last sample (phase wrapped to [0, 1)).
    """
    if out.shape[0] != x.shape[0]:
        raise ValueError(f"out has {out.shape[0]} samples, x has {x.shape[0]}")
    with nogil:
        _rotate(x, out, &phase, &freq, rate)
    return phase, freq
