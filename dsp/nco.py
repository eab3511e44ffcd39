"""Numerically controlled oscillator (complex rotator) as a streaming block."""

from __future__ import annotations

import numpy as np

from dsp._kernels import load
from dsp.errors import ConfigError, check_range

__all__ = ["NcoRotator"]


class NcoRotator:
    """Multiply a complex baseband stream by ``exp(j 2 pi (f0 t + rate t^2 / 2) + j phase0)``.

    A streaming block: ``process(x)`` continues where the previous call stopped, so splitting the
    input anywhere gives the same output as one call; ``reset()`` returns to the initial state.

    Parameters
    ----------
    sample_rate : float
        Sample rate in Hz (> 0).
    frequency : float
        Initial frequency shift in Hz; |frequency| <= sample_rate / 2.
    rate : float
        Frequency rate (chirp) in Hz/s, e.g. a Doppler rate.
    phase : float
        Initial phase in radians.
    """

    def __init__(self, sample_rate: float, frequency: float = 0.0, rate: float = 0.0, phase: float = 0.0):
        self.sample_rate = float(check_range("sample_rate", sample_rate, lo=1e-9, unit="Hz"))
        check_range("rate", rate, unit="Hz/s")
        check_range("phase", phase, unit="rad")
        self._init = (float(frequency), float(rate), float(phase))
        self._kernel = load("_nco")
        self.rate = float(rate)
        self.frequency = frequency  # validated by the setter
        self._phase_cycles = (float(phase) / (2 * np.pi)) % 1.0

    # The kernel's phase recurrence is phi[n+1] = phi[n] + g[n], g[n+1] = g[n] + rate (cycles/sample).
    # With g[0] = f0 + rate / 2 this is exactly the continuous chirp f0 t + rate t^2 / 2 sampled at
    # t = n / fs, so ``_freq`` holds the half-sample-advanced increment; the API speaks Hz at t.
    @property
    def _rate_c(self) -> float:
        return self.rate / self.sample_rate**2

    @property
    def frequency(self) -> float:
        """Instantaneous frequency shift in Hz at the next sample."""
        return (self._freq - self._rate_c / 2) * self.sample_rate

    @frequency.setter
    def frequency(self, hz: float) -> None:
        half = self.sample_rate / 2
        check_range("frequency", hz, lo=-half, hi=half, unit="Hz")
        self._freq = float(hz) / self.sample_rate + self._rate_c / 2

    @property
    def phase(self) -> float:
        """Current phase in radians, in [0, 2 pi)."""
        return self._phase_cycles * 2 * np.pi

    def process(self, x) -> np.ndarray:
        """Rotate ``x`` (any complex array-like, 1-D) and return a new complex64 array."""
        x = np.ascontiguousarray(x, dtype=np.complex64)
        if x.ndim != 1:
            raise ConfigError.bad_value("x.ndim", x.ndim, "1 (a 1-D stream)")
        out = np.empty_like(x)
        self._phase_cycles, self._freq = self._kernel.rotate(x, out, self._phase_cycles, self._freq,
                                                             self._rate_c)
        return out

    def reset(self) -> None:
        """Back to the frequency, rate and phase given to the constructor."""
        f, r, p = self._init
        self.rate = r
        self.frequency = f
        self._phase_cycles = (p / (2 * np.pi)) % 1.0

    def __repr__(self) -> str:
        return (f"NcoRotator(sample_rate={self.sample_rate:g} Hz, frequency={self.frequency:.6g} Hz, "
                f"rate={self.rate:g} Hz/s, phase={self.phase:.4f} rad, kernel={self._kernel.__name__})")
