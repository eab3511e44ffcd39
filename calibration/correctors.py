"""Correctors: streaming blocks that undo what :mod:`calibration.estimators` measured.

Receive side, in this order: :class:`DcCorrector` (fixed) or :class:`DcIqTracker` (tracking),
:class:`IqCorrector`, :class:`GainCorrector`, optionally :class:`ClockCorrector` (CFO + sample clock
against a reference); :class:`RxCorrector` chains them. Transmit side: :class:`TxPrecorrector`
(IQ pre-distortion and LO-leakage cancellation). Each block: validating ``__init__``,
``process(x) -> y``, ``reset()``, ``__repr__``; splitting the input anywhere gives the same output.
"""

from __future__ import annotations

import numpy as np

from dsp._kernels import load
from dsp.impairments import FractionalResampler
from dsp.nco import NcoRotator
from hil.errors import ConfigError, check_range

__all__ = [
    "DcCorrector",
    "IqCorrector",
    "GainCorrector",
    "TxPrecorrector",
    "DcIqTracker",
    "ClockCorrector",
    "RxCorrector",
]


def _as_stream(x, name: str = "x") -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.complex128)
    if x.ndim != 1:
        raise ConfigError.bad_value(f"{name}.ndim", x.ndim, "1 (a 1-D stream)")
    return x


def _coef(field: str, value, limit: float = 1.0) -> complex:
    try:
        v = complex(value)
    except (TypeError, ValueError):
        raise ConfigError.bad_value(field, value, "a complex number") from None
    if not (np.isfinite(v.real) and np.isfinite(v.imag)) or not abs(v) < limit:
        raise ConfigError.bad_value(field, value, f"a finite complex number with magnitude < {limit}")
    return v


class DcCorrector:
    """Subtract a fixed DC offset (complex, full scale 1.0)."""

    def __init__(self, dc: complex = 0j):
        self.dc = _coef("dc", dc, 1.0)

    def process(self, x) -> np.ndarray:
        return _as_stream(x) - self.dc

    def reset(self) -> None:
        """Memoryless."""

    def __repr__(self) -> str:
        return f"DcCorrector(dc={self.dc:.4g})"


class IqCorrector:
    """Receive IQ-imbalance correction ``z = y - w conj(y)`` (``w = K2 / conj(K1)``, |w| < 1)."""

    def __init__(self, w: complex = 0j):
        self.w = _coef("w", w, 1.0)

    def process(self, x) -> np.ndarray:
        x = _as_stream(x)
        return x - self.w * np.conj(x)

    def reset(self) -> None:
        """Memoryless."""

    def __repr__(self) -> str:
        irr = -20 * np.log10(abs(self.w)) if self.w else float("inf")
        return f"IqCorrector(w={self.w:.4g}, corrects an IRR of {irr:.1f} dB)"


class GainCorrector:
    """Scale by ``-gain_error_db``: brings a measured gain error back to the nominal gain law."""

    def __init__(self, gain_error_db: float = 0.0):
        self.gain_error_db = float(check_range("gain_error_db", gain_error_db, -60.0, 60.0, unit="dB"))
        self._scale = 10 ** (-self.gain_error_db / 20)

    def process(self, x) -> np.ndarray:
        return _as_stream(x) * self._scale

    def reset(self) -> None:
        """Memoryless."""

    def __repr__(self) -> str:
        return f"GainCorrector(removes {self.gain_error_db:+.3f} dB)"


class TxPrecorrector:
    """Transmit pre-distortion ``x' = x - beta conj(x) + leak_add``.

    ``beta = K2 / K1`` cancels the TX image; ``leak_add`` (solving ``k1 a + k2 conj(a) = -L``) cancels
    the LO leakage ``L``. Both come from :func:`calibration.estimators.estimate_iq_pilot`.
    """

    def __init__(self, beta: complex = 0j, leak_add: complex = 0j):
        self.beta = _coef("beta", beta, 1.0)
        self.leak_add = _coef("leak_add", leak_add, 1.0)

    def process(self, x) -> np.ndarray:
        x = _as_stream(x)
        return x - self.beta * np.conj(x) + self.leak_add

    def reset(self) -> None:
        """Memoryless."""

    def __repr__(self) -> str:
        return f"TxPrecorrector(beta={self.beta:.4g}, leak_add={self.leak_add:.4g})"


class DcIqTracker:
    """Tracking DC removal and blind (circularity-based) IQ correction, sample by sample.

    Per sample: subtract the running DC estimate, update it with a one-pole average (time constant
    ``dc_time_constant`` samples); correct ``z - w conj(z)`` with ``w`` from running moments ``E|z|^2``,
    ``E[z^2]`` (time constant ``iq_time_constant``) - see :func:`calibration.estimators.blind_iq_w`.
    Estimates use only past samples, so the block is causal and chunk-split invariant. Needs a
    proper (circular) signal to converge to the true imbalance. Compiled kernel ``_iqcal``.

    Parameters
    ----------
    dc_time_constant, iq_time_constant : float
        Averaging time constants in samples (>= 1); ``None`` turns that part off.
    initial_dc, initial_w : complex
        Starting estimates (e.g. from a stored calibration).
    initial_power : float
        Signal power (full scale 1.0) the seeded moments stand for: the prior weighs like
        ``iq_time_constant`` samples of a signal this strong.
    """

    def __init__(self, dc_time_constant: float | None = 1e4, iq_time_constant: float | None = 1e5,
                 initial_dc: complex = 0j, initial_w: complex = 0j, initial_power: float = 1e-2):
        if dc_time_constant is None and iq_time_constant is None:
            raise ConfigError.bad_value("dc_time_constant, iq_time_constant", None, "at least one of them set")
        self.dc_time_constant = None if dc_time_constant is None else float(
            check_range("dc_time_constant", dc_time_constant, 1.0, 1e12, unit="samples"))
        self.iq_time_constant = None if iq_time_constant is None else float(
            check_range("iq_time_constant", iq_time_constant, 1.0, 1e12, unit="samples"))
        self._init_dc = _coef("initial_dc", initial_dc, 1.0)
        self._init_w = _coef("initial_w", initial_w, 1.0)
        self._init_p = float(check_range("initial_power", initial_power, 1e-12, 1.0))
        self._kernel = load("_iqcal")
        self.reset()

    def reset(self) -> None:
        # Seed the moments so that the initial w is initial_w: C = 2 w P / (1 + |w|^2) inverts
        # w = C / (P + sqrt(P^2 - |C|^2)).
        w = self._init_w
        p = self._init_p if w else 0.0
        c = 2 * w * p / (1 + abs(w) ** 2)
        self._state = np.array([self._init_dc.real, self._init_dc.imag, p, c.real, c.imag])

    def process(self, x) -> np.ndarray:
        x = _as_stream(x)
        out = np.empty_like(x)
        a_dc = 1.0 / self.dc_time_constant if self.dc_time_constant else 0.0
        a_iq = 1.0 / self.iq_time_constant if self.iq_time_constant else 0.0
        st = self._kernel.dc_iq_track(x, out, self._state, a_dc, a_iq, self.dc_time_constant is not None,
                                      self.iq_time_constant is not None)
        if st:  # pragma: no cover - shapes are fixed above
            raise RuntimeError(f"dc_iq_track kernel failed (status {st})")
        return out

    @property
    def dc(self) -> complex:
        return complex(self._state[0], self._state[1])

    @property
    def w(self) -> complex:
        from calibration.estimators import blind_iq_w

        return blind_iq_w(self._state[2], complex(self._state[3], self._state[4]))

    def __repr__(self) -> str:
        return (f"DcIqTracker(dc_tau={self.dc_time_constant}, iq_tau={self.iq_time_constant}, "
                f"dc={self.dc:.4g}, w={self.w:.4g}, kernel={self._kernel.__name__})")


class ClockCorrector:
    """Undo a receiver's reference error against a source: carrier offset, then sample-clock offset.

    A receiver with reference error ``ppm`` listening to a source with ``source_ppm`` (both on the same
    nominal LO ``frequency``) sees a rotation of ``nu = frequency (e_s - e_r) / (fs (1 + e_r))``
    cycles/sample and samples at ``(1 + e_s) / (1 + e_r)`` source samples per sample
    (:mod:`dsp.impairments`). This block de-rotates by ``nu`` and resamples back to the source clock.
    Its output trails its input by the interpolator's look-ahead (see :class:`FractionalResampler`);
    ``flush()`` ends the stream.

    Parameters
    ----------
    ppm, source_ppm : float
        Reference errors in ppm (-100..100).
    sample_rate, frequency : float
        Nominal sample rate and LO frequency in Hz.
    """

    def __init__(self, ppm: float, *, sample_rate: float, frequency: float, source_ppm: float = 0.0,
                 taps: int = 32):
        self.ppm = float(check_range("ppm", ppm, -100.0, 100.0, unit="ppm"))
        self.source_ppm = float(check_range("source_ppm", source_ppm, -100.0, 100.0, unit="ppm"))
        self.sample_rate = float(check_range("sample_rate", sample_rate, lo=1.0, unit="Hz"))
        self.frequency = float(check_range("frequency", frequency, lo=0.0, unit="Hz"))
        e_r, e_s = self.ppm * 1e-6, self.source_ppm * 1e-6
        self.offset_hz = self.frequency * (e_s - e_r) / (1 + e_r)  # cycles/sample * fs
        self._nco = NcoRotator(self.sample_rate, -self.offset_hz)
        self._resampler = FractionalResampler((1 + e_r) / (1 + e_s), 0.0, taps)

    def process(self, x) -> np.ndarray:
        x = _as_stream(x)
        return self._resampler.process(self._nco.process(x).astype(np.complex128))

    def flush(self) -> np.ndarray:
        """End of stream: the remaining outputs; the block is then reset for a new stream."""
        out = self._resampler.flush()
        self.reset()
        return out

    def reset(self) -> None:
        self._nco.reset()
        self._resampler.reset()

    def __repr__(self) -> str:
        return (f"ClockCorrector(ppm={self.ppm:+.4f}, source_ppm={self.source_ppm:+.4f}, "
                f"removes {self.offset_hz:+.2f} Hz at fs={self.sample_rate:g} Hz)")


class RxCorrector:
    """The receive correction of a stored calibration: DC, IQ imbalance and gain, in that order.

    ``dc`` and ``w`` are the fixed estimates; with ``track=True`` a :class:`DcIqTracker` seeded with them
    keeps following slow drifts (time constants in samples). ``gain_error_db`` comes from the gain table
    at the current frequency and gain setting.
    """

    def __init__(self, dc: complex = 0j, w: complex = 0j, gain_error_db: float = 0.0, *, track: bool = False,
                 dc_time_constant: float = 1e5, iq_time_constant: float = 1e6):
        self.track = bool(track)
        if self.track:
            self._front = [DcIqTracker(dc_time_constant, iq_time_constant, initial_dc=dc, initial_w=w)]
        else:
            self._front = [DcCorrector(dc), IqCorrector(w)]
        self._gain = GainCorrector(gain_error_db)
        self.dc, self.w, self.gain_error_db = complex(dc), complex(w), float(gain_error_db)

    def process(self, x) -> np.ndarray:
        y = _as_stream(x)
        for blk in self._front:
            y = blk.process(y)
        return self._gain.process(y)

    def reset(self) -> None:
        for blk in self._front:
            blk.reset()

    def __repr__(self) -> str:
        return f"RxCorrector({' -> '.join(repr(b) for b in [*self._front, self._gain])})"
