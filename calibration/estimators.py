"""Estimators of front-end impairments (see :mod:`dsp.impairments` for the models and conventions).

Streaming estimators (``process(x)`` returns ``x`` unchanged and accumulates; ``estimate`` reads the
result; ``reset()``): :class:`DcEstimator`, :class:`BlindIqEstimator`, :class:`PowerMeter`.
Tracking blocks that also correct live in :mod:`calibration.correctors` (:class:`DcIqTracker`).
Burst estimators (functions of a whole capture): :func:`estimate_delay` (TX->RX latency against a
periodic pilot), :func:`estimate_tone` / :func:`ppm_from_tone` (frequency offset and reference error
against a known tone), :func:`estimate_cfo_pilot` (against a known, aligned pilot),
:func:`estimate_iq_pilot` (joint TX/RX IQ imbalance, TX LO leakage and RX DC against a pilot),
:func:`measure_irr` (image rejection of a tone).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from hil.errors import ConfigError, check_range

__all__ = [
    "DcEstimator",
    "BlindIqEstimator",
    "PowerMeter",
    "blind_iq_w",
    "DelayEstimate",
    "estimate_delay",
    "ToneEstimate",
    "estimate_tone",
    "ppm_from_tone",
    "estimate_cfo_pilot",
    "PilotIqEstimate",
    "estimate_iq_pilot",
    "measure_irr",
]


def _as_stream(x, name: str = "x") -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.complex128)
    if x.ndim != 1:
        raise ConfigError.bad_value(f"{name}.ndim", x.ndim, "1 (a 1-D stream)")
    return x


# --------------------------------------------------------------------------------------------------------------
# Streaming (accumulating) estimators
# --------------------------------------------------------------------------------------------------------------


class DcEstimator:
    """Mean of a stream (the DC offset, full scale 1.0), accumulated over ``process`` calls."""

    def __init__(self):
        self.reset()

    def process(self, x) -> np.ndarray:
        x = _as_stream(x)
        self._sum += x.sum()
        self._n += x.size
        return x

    def reset(self) -> None:
        self._sum = 0j
        self._n = 0

    @property
    def count(self) -> int:
        return self._n

    @property
    def estimate(self) -> complex:
        if self._n == 0:
            raise ConfigError.bad_value("samples", 0, "at least 1 sample before reading the estimate")
        return complex(self._sum / self._n)

    @property
    def level_dbfs(self) -> float:
        e = abs(self.estimate)
        return float(20 * np.log10(e)) if e > 0 else float("-inf")

    def __repr__(self) -> str:
        est = f"{self.estimate:.4g}" if self._n else "none yet"
        return f"DcEstimator({self._n} samples, dc={est})"


def blind_iq_w(power: float, pseudo: complex) -> complex:
    """Receive IQ correction ``w`` that makes ``z = y - w conj(y)`` proper (``E[z^2] = 0``).

    ``power = E|y|^2`` and ``pseudo = E[y^2]`` (DC removed). The small root of
    ``conj(C) w^2 - 2 P w + C = 0``; exact for a proper (circular) input signal.
    """
    c = complex(pseudo)
    disc = max(power * power - abs(c) ** 2, 0.0)
    den = power + np.sqrt(disc)
    return c / den if den > 0 else 0j


class BlindIqEstimator:
    """Circularity-based (blind) receive IQ-imbalance estimator, accumulated over ``process`` calls.

    Needs a proper input: any signal with ``E[x^2] = 0`` (noise, OFDM, QAM, a loopback with an LO
    offset between TX and RX). Removes the mean first (a DC offset is not circular). ``estimate`` is
    ``w`` of :func:`blind_iq_w`; :meth:`imbalance` converts it to gain/phase.
    """

    def __init__(self):
        self.reset()

    def process(self, x) -> np.ndarray:
        x = _as_stream(x)
        self._n += x.size
        self._s1 += x.sum()
        self._s2 += np.vdot(x, x).real
        self._sp += np.sum(x * x)
        return x

    def reset(self) -> None:
        self._n = 0
        self._s1 = 0j
        self._s2 = 0.0
        self._sp = 0j

    @property
    def estimate(self) -> complex:
        if self._n < 2:
            raise ConfigError.bad_value("samples", self._n, "at least 2 samples before reading the estimate")
        m = self._s1 / self._n
        power = self._s2 / self._n - abs(m) ** 2
        pseudo = self._sp / self._n - m * m
        return blind_iq_w(power, pseudo)

    def imbalance(self):
        from dsp.impairments import IqImbalance

        return IqImbalance.from_w(self.estimate)

    def __repr__(self) -> str:
        est = f"{self.estimate:.4g}" if self._n >= 2 else "none yet"
        return f"BlindIqEstimator({self._n} samples, w={est})"


class PowerMeter:
    """Mean power of a stream (dBFS), accumulated over ``process`` calls; ``remove_dc`` subtracts the mean."""

    def __init__(self, remove_dc: bool = True):
        self.remove_dc = bool(remove_dc)
        self.reset()

    def process(self, x) -> np.ndarray:
        x = _as_stream(x)
        self._n += x.size
        self._s1 += x.sum()
        self._s2 += np.vdot(x, x).real
        return x

    def reset(self) -> None:
        self._n = 0
        self._s1 = 0j
        self._s2 = 0.0

    @property
    def power(self) -> float:
        if self._n == 0:
            raise ConfigError.bad_value("samples", 0, "at least 1 sample before reading the power")
        p = self._s2 / self._n
        if self.remove_dc:
            p -= abs(self._s1 / self._n) ** 2
        return float(p)

    @property
    def power_dbfs(self) -> float:
        return float(10 * np.log10(max(self.power, 1e-300)))

    def __repr__(self) -> str:
        p = f"{self.power_dbfs:.2f} dBFS" if self._n else "none yet"
        return f"PowerMeter({self._n} samples, {p}, remove_dc={self.remove_dc})"


# --------------------------------------------------------------------------------------------------------------
# TX -> RX delay
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DelayEstimate:
    """TX->RX latency: ``delay`` samples (fractional) from the first transmitted sample; ``gain`` the
    complex loopback gain at the pilot; ``snr_db`` the pilot-to-residual ratio in the fit window;
    ``bins`` (cycles/sample) and ``response`` (complex gain per pilot bin, delay removed): the loopback
    response across the band."""

    delay: float
    coarse: int
    gain: complex
    snr_db: float
    bins: np.ndarray
    response: np.ndarray

    @property
    def response_db(self) -> np.ndarray:
        return 20 * np.log10(np.abs(self.response))


def estimate_delay(rx, period_signal, repeats: int, *, max_delay: int | None = None) -> DelayEstimate:
    """Estimate the delay of a burst ``tile(period_signal, repeats)`` transmitted at sample 0 in ``rx``.

    Coarse: the integer lag of the cross-correlation peak with the whole burst (unambiguous up to
    ``max_delay``). Fine: in a window of whole periods after the first (cyclic), the delay is a linear
    phase across the pilot bins; its slope (the mean phase step between adjacent bins, then a weighted
    least-squares refinement) gives the fractional part. Needs no carrier offset (a shared-reference
    loopback) and a pilot with adjacent occupied bins (:func:`calibration.signals.multitone`).
    """
    rx = _as_stream(rx, "rx")
    p = _as_stream(period_signal, "period_signal")
    P = p.size
    if not isinstance(repeats, (int, np.integer)) or repeats < 3:
        raise ConfigError.bad_value("repeats", repeats, "an integer >= 3 (one period of prefix, two to fit)")
    burst = np.tile(p, int(repeats))
    max_delay = rx.size - burst.size if max_delay is None else int(max_delay)
    if max_delay < 0 or rx.size < burst.size + max_delay:
        raise ConfigError.bad_value("len(rx)", rx.size, f">= burst ({burst.size}) + max_delay ({max_delay}) samples")
    n = int(2 ** np.ceil(np.log2(rx.size + burst.size)))
    c = np.fft.ifft(np.fft.fft(rx - rx.mean(), n) * np.conj(np.fft.fft(burst, n)))[: max_delay + 1]
    lag = int(np.argmax(np.abs(c)))
    # Window: whole periods 1 .. repeats-2 of the received burst: the first acts as a cyclic prefix, the
    # last carries the interpolation tail of the burst's end.
    start = lag + P
    nper = min(int(repeats) - 2, (rx.size - start) // P)
    if nper < 1:
        raise ConfigError.bad_value("len(rx)", rx.size, f">= {start + P} samples (a whole period after the prefix)")
    seg = rx[start: start + nper * P].reshape(nper, P).mean(axis=0)
    X = np.fft.fft(p)
    Y = np.fft.fft(seg)
    on = np.abs(X) > 1e-6 * np.abs(X).max()
    G = np.zeros(P, np.complex128)
    G[on] = Y[on] / X[on]  # = g exp(-j 2 pi f (D - start)) on the pilot bins
    idx = np.flatnonzero(on)
    f = np.fft.fftfreq(P)
    order = np.argsort(f[idx])
    k = idx[order]
    adj = np.flatnonzero(np.diff(f[k]) * P < 1.5)  # adjacent-bin pairs
    if adj.size == 0:
        raise ConfigError.bad_value("period_signal", "no adjacent occupied bins", "a multitone with adjacent bins")
    step = np.angle(np.sum(G[k[adj + 1]] * np.conj(G[k[adj]])))
    resid = -step * P / (2 * np.pi)  # D - start (mod P), small
    # Weighted LS refinement of the slope after removing the first estimate (phases now near constant).
    w = np.abs(X[k]) ** 2
    for _ in range(2):
        g = G[k] * np.exp(2j * np.pi * f[k] * resid)
        ph = np.angle(g * np.conj(np.sum(w * g)))
        A = np.vstack((np.ones(k.size), -2 * np.pi * f[k])).T * np.sqrt(w)[:, None]
        sol, *_ = np.linalg.lstsq(A, ph * np.sqrt(w), rcond=None)
        resid += sol[1]
    # The cyclic window says D = start + resid (mod P); the coarse lag picks the period.
    delay = start + resid - P * np.round((start + resid - lag) / P)
    gain = complex(np.sum(w * G[k] * np.exp(2j * np.pi * f[k] * (delay - start))) / np.sum(w))
    model = np.fft.ifft(X * gain * np.exp(-2j * np.pi * f * (delay - start)))
    err = np.mean(np.abs(seg - seg.mean() - model) ** 2)  # DC is not part of the pilot
    snr = float(10 * np.log10(np.mean(np.abs(model) ** 2) / max(err, 1e-300)))
    resp = G[k] * np.exp(2j * np.pi * f[k] * (delay - start))
    return DelayEstimate(float(delay), lag, gain, snr, f[k].copy(), resp)


# --------------------------------------------------------------------------------------------------------------
# Frequency offset
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToneEstimate:
    """A tone ``amplitude * exp(j 2 pi frequency n)``: frequency in cycles/sample, complex amplitude."""

    frequency: float
    amplitude: complex


def estimate_tone(y, near: float | None = None, search: float | None = None) -> ToneEstimate:
    """Frequency (cycles/sample) of the strongest tone in ``y``, refined to a small fraction of a bin.

    A Hann window keeps a DC offset, an image or leakage at other frequencies from biasing the result;
    the peak of the windowed periodogram is located on a 4x zero-padded FFT and refined by maximising
    ``|sum y w exp(-j 2 pi f n)|`` (bounded scalar search). ``near``/``search`` restrict the search to
    ``near +/- search`` cycles/sample.
    """
    y = _as_stream(y, "y")
    if y.size < 16:
        raise ConfigError.bad_value("len(y)", y.size, ">= 16 samples")
    n = np.arange(y.size)
    win = np.hanning(y.size + 2)[1:-1]
    yw = y * win
    nfft = int(2 ** np.ceil(np.log2(4 * y.size)))
    spec_ = np.abs(np.fft.fft(yw, nfft))
    freqs = np.fft.fftfreq(nfft)
    if near is not None:
        check_range("near", near, -0.5, 0.5, unit="cycles/sample")
        width = 4.0 / y.size if search is None else float(check_range("search", search, 0, 0.5))
        d = np.abs((freqs - near + 0.5) % 1.0 - 0.5)
        spec_ = np.where(d <= width, spec_, 0.0)
    f0 = freqs[int(np.argmax(spec_))]

    def neg(f):
        return -abs(np.sum(yw * np.exp(-2j * np.pi * np.mod(f * n, 1.0))))

    res = minimize_scalar(neg, bounds=(f0 - 1.0 / nfft, f0 + 1.0 / nfft), method="bounded",
                          options={"xatol": 1e-12})
    f = float(res.x)
    amp = complex(np.sum(yw * np.exp(-2j * np.pi * np.mod(f * n, 1.0))) / np.sum(win))
    return ToneEstimate(f, amp)


def ppm_from_tone(frequency: float, *, tone_hz: float, sample_rate: float, tx_frequency: float,
                  rx_frequency: float, source_ppm: float = 0.0) -> float:
    """Receiver reference error (ppm) from the measured frequency of a known tone.

    The source emits ``tone_hz`` (baseband, nominal) on ``tx_frequency`` with its own reference error
    ``source_ppm`` (0 for a GPS-locked generator); the receiver is tuned to ``rx_frequency`` and saw the
    tone at ``frequency`` cycles/sample. With one reference per device (LO and sample clock), solving
    ``frequency = ((tx + tone)(1 + e_s) - rx (1 + e_r)) / (fs (1 + e_r))`` for ``e_r`` gives the result,
    exactly (the sample-clock part included).
    """
    check_range("frequency", frequency, -0.5, 0.5, unit="cycles/sample")
    check_range("sample_rate", sample_rate, lo=1.0, unit="Hz")
    check_range("rx_frequency", rx_frequency, lo=1.0, unit="Hz")
    a = (tx_frequency + tone_hz) * (1 + source_ppm * 1e-6)
    v = frequency * sample_rate
    return float((a - rx_frequency - v) / (rx_frequency + v) * 1e6)


def estimate_cfo_pilot(rx, pilot_aligned) -> ToneEstimate:
    """Frequency offset (cycles/sample) of ``rx`` against the known pilot as it arrives (delay removed).

    ``rx * conj(pilot)`` is a tone at the offset (the pilot's modulation stripped); its frequency
    comes from :func:`estimate_tone`. The amplitude is the complex gain times the pilot power.
    """
    rx = _as_stream(rx, "rx")
    p = _as_stream(pilot_aligned, "pilot_aligned")
    if p.size != rx.size:
        raise ConfigError.bad_value("len(pilot_aligned)", p.size, f"{rx.size} (as rx)")
    return estimate_tone(rx * np.conj(p))


# --------------------------------------------------------------------------------------------------------------
# IQ imbalance, LO leakage and DC against a pilot
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PilotIqEstimate:
    """Result of :func:`estimate_iq_pilot`.

    ``rx_w``: receive correction (``z = y - w conj(y)``); ``tx_beta``: transmit pre-distortion
    (``x' = x - beta conj(x)``); ``tx_leak_add``: the constant to add to the (pre-distorted) TX samples
    that cancels the LO leakage; ``rx_dc``: the receive DC offset; ``gain``: the loopback gain at the
    pilot; ``separated``: False when no LO offset was used - then ``rx_w`` corrects TX and RX together
    for this loopback only and ``tx_beta``/``tx_leak_add`` are 0; ``residual_db``: fit residual
    relative to the received power.
    """

    rx_w: complex
    tx_beta: complex
    tx_leak_add: complex
    rx_dc: complex
    gain: complex
    separated: bool
    residual_db: float


def estimate_iq_pilot(rx, pilot_aligned, lo_offset: float = 0.0, taps: int = 3) -> PilotIqEstimate:
    """Joint least-squares fit of the widely-linear loopback model to a known pilot.

    With TX imbalance ``s = k1 x + k2 x* + L``, a short channel ``h`` (``taps`` taps around the
    alignment), an LO offset ``lo_offset`` cycles/sample between TX and RX and RX imbalance
    ``y = m1 r + m2 r* + d``, the received signal is linear in the regressors
    ``e^{+j D n} x, e^{+j D n} x*, e^{-j D n} x*, e^{-j D n} x, e^{+j D n}, e^{-j D n}, 1`` (each pilot
    regressor per tap) with coefficients ``m1 h k1, m1 h k2, m2 h* k1*, m2 h* k2*, m1 sum(h) L, ...``.
    Their ratios give ``beta = k2 / k1``, ``w = m2 / conj(m1)``, ``L / k1`` and ``d``. Without an LO
    offset (``lo_offset == 0``) TX and RX images coincide and only their sum can be corrected at RX.

    Parameters
    ----------
    rx : complex array
        Received samples.
    pilot_aligned : complex array
        The transmitted pilot as it arrives (same length as rx; latency removed, e.g. with
        :func:`calibration.signals.periodic_delay`).
    lo_offset : float
        ``(f_tx - f_rx) / fs`` in cycles/sample; choose it so that the shifted pilot stays in band.
    taps : int
        Odd number of channel taps fitted (absorbs a residual delay and in-band ripple).
    """
    y = _as_stream(rx, "rx")
    x = _as_stream(pilot_aligned, "pilot_aligned")
    if x.size != y.size:
        raise ConfigError.bad_value("len(pilot_aligned)", x.size, f"{y.size} (as rx)")
    check_range("lo_offset", lo_offset, -0.5, 0.5, unit="cycles/sample")
    if not isinstance(taps, (int, np.integer)) or taps % 2 == 0 or not 1 <= taps <= 15:
        raise ConfigError.bad_value("taps", taps, "an odd integer 1..15")
    half = taps // 2
    n = np.arange(y.size)
    shifts = range(-half, half + 1)
    xs = [np.roll(x, s) for s in shifts]  # x[n - s]; the pilot is periodic in the capture window
    sep = lo_offset != 0.0
    if sep:
        ep = np.exp(2j * np.pi * np.mod(lo_offset * n, 1.0))
        em = np.conj(ep)
        cols = ([ep * v for v in xs] + [ep * np.conj(v) for v in xs] + [em * np.conj(v) for v in xs]
                + [em * v for v in xs] + [ep, em, np.ones(y.size)])
    else:
        cols = xs + [np.conj(v) for v in xs] + [np.ones(y.size, np.complex128)]
    A = np.column_stack(cols)
    # Normal equations: a handful of columns, thousands of rows (much cheaper than an SVD-based lstsq).
    gram = A.conj().T @ A
    rhs = A.conj().T @ y
    try:
        coef = np.linalg.solve(gram, rhs)
    except np.linalg.LinAlgError:
        raise ConfigError.bad_value("pilot_aligned", "a degenerate pilot",
                                    "energy on several bins (not real-valued, not a single tone)") from None
    resid = y - A @ coef
    residual_db = float(10 * np.log10(np.mean(np.abs(resid) ** 2) / np.mean(np.abs(y - y.mean()) ** 2)))
    t = len(xs)
    c1 = coef[:t]
    c2 = coef[t: 2 * t]
    e1 = np.sum(np.abs(c1) ** 2)
    if sep:
        c3 = coef[2 * t: 3 * t]
        c_leak = coef[4 * t]
        dc = complex(coef[4 * t + 2])
        beta = complex(np.sum(c2 * np.conj(c1)) / e1)
        w = complex(np.sum(c3 * c1) / e1)  # c3 = w conj(c1)
        q = -c_leak / np.sum(c1)  # -L / k1
        a = complex((q - beta * np.conj(q)) / (1 - abs(beta) ** 2))  # solves k1 a + k2 a* = -L
        gain = complex(np.sum(c1))
    else:
        dc = complex(coef[2 * t])
        w = complex(np.sum(c2 * c1) / e1)  # y = a x + g x*: w = g / conj(a)
        beta, a = 0j, 0j
        gain = complex(np.sum(c1))
    return PilotIqEstimate(w, beta, a, dc, gain, sep, residual_db)


def measure_irr(y, frequency: float) -> float:
    """Image rejection ratio (dB) of a received tone: power at ``frequency`` over power at ``-frequency``.

    ``y`` should hold a whole number of tone periods or be long (the estimate uses a Hann-windowed
    projection, which suppresses DC and neighbours).
    """
    y = _as_stream(y, "y")
    check_range("frequency", abs(frequency), 1.0 / max(y.size, 1), 0.5, unit="cycles/sample")
    n = np.arange(y.size)
    win = np.hanning(y.size + 2)[1:-1]
    sig = np.sum(y * win * np.exp(-2j * np.pi * np.mod(frequency * n, 1.0)))
    img = np.sum(y * win * np.exp(2j * np.pi * np.mod(frequency * n, 1.0)))
    return float(20 * np.log10(abs(sig) / max(abs(img), 1e-300)))
