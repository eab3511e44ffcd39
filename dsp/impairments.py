"""Front-end impairment models: what a real SDR (a Pluto, a B210) does to baseband samples.

Used by the loopback mock backend and the channel emulator to inject impairments of known value, and by
the calibration estimators' tests to prove that they recover them. Every model is a streaming block
(``process(x) -> y``, ``reset()``, ``__repr__``); splitting the input anywhere gives the same output.

Conventions (all stated because public code differs):

* IQ imbalance, I branch as reference: ``y = I + j g (Q cos(phi) - I sin(phi))``, i.e.
  ``y = K1 x + K2 conj(x)`` with ``K1 = (1 + g e^{-j phi}) / 2``, ``K2 = (1 - g e^{j phi}) / 2``,
  ``g = 10^(gain_db / 20)``. Image rejection ratio ``IRR = |K1|^2 / |K2|^2``. A receiver removes it
  with ``z = y - w conj(y)``, ``w = K2 / conj(K1)``; a transmitter pre-distorts with
  ``x' = x - beta conj(x)``, ``beta = K2 / K1``.
* Levels in dBFS are relative to full scale 1.0 (complex amplitude 1 = 0 dBFS).
* Clock offset: ONE reference oscillator per device sets both its LO and its sample clock (as the
  Pluto's TCXO). A device with reference error ``eps`` (ppm * 1e-6) tunes its LO to ``f (1 + eps)``
  and samples at ``fs (1 + eps)``. Through a loopback from a transmitter (``eps_t``) to a receiver
  (``eps_r``) the received sample ``n`` is the transmitted signal at TX sample position
  ``p = n (1 + eps_t) / (1 + eps_r) - D (1 + eps_t)`` (``D`` the TX->RX latency in nominal samples),
  rotated at ``(f_t (1 + eps_t) - f_r (1 + eps_r)) / (fs (1 + eps_r))`` cycles/sample.
  A single device in a cable loopback shares one reference (``eps_t == eps_r``): the offset cancels,
  so measuring a device's ppm needs a reference source (signal generator, GPSDO, calibrated peer).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from dsp._kernels import load
from dsp.config import spec
from dsp.errors import ConfigError, check_range
from dsp.nco import NcoRotator

__all__ = [
    "IqImbalance",
    "DcOffset",
    "FractionalResampler",
    "InbandResponse",
    "RfGainError",
    "FrontEndImpairments",
    "ImpairedLoopback",
    "interp_table",
    "dbfs_to_amplitude",
]


def dbfs_to_amplitude(level_dbfs: float) -> float:
    """Amplitude of a complex constant (or RMS of a signal) at ``level_dbfs`` dB below full scale 1.0."""
    return float(10.0 ** (level_dbfs / 20.0))


def _as_stream(x, name: str = "x") -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.complex128)
    if x.ndim != 1:
        raise ConfigError.bad_value(f"{name}.ndim", x.ndim, "1 (a 1-D stream)")
    return x


# --------------------------------------------------------------------------------------------------------------
# IQ imbalance and additive offsets (memoryless)
# --------------------------------------------------------------------------------------------------------------


class IqImbalance:
    """IQ gain/phase imbalance of a mixer (RX or TX): ``y = K1 x + K2 conj(x)`` (module doc convention).

    Parameters
    ----------
    gain_db : float
        Gain of the Q branch relative to I, in dB (-6..6).
    phase_deg : float
        Phase error of the Q branch, in degrees (-45..45).
    """

    def __init__(self, gain_db: float = 0.0, phase_deg: float = 0.0):
        self.gain_db = float(check_range("gain_db", gain_db, -6.0, 6.0, unit="dB"))
        self.phase_deg = float(check_range("phase_deg", phase_deg, -45.0, 45.0, unit="deg"))
        b = 10.0 ** (self.gain_db / 20.0) * np.exp(1j * np.deg2rad(self.phase_deg))
        self.k1 = complex((1.0 + np.conj(b)) / 2.0)
        self.k2 = complex((1.0 - b) / 2.0)

    @classmethod
    def from_w(cls, w: complex) -> IqImbalance:
        """The imbalance whose receive correction coefficient is ``w = K2 / conj(K1)``."""
        w = complex(w)
        if not abs(w) < 1.0:
            raise ConfigError.bad_value("w", w, "|w| < 1")
        b = (1.0 - w) / (1.0 + w)  # w = (1 - b) / (1 + b), b = g e^{j phi}
        return cls(20.0 * np.log10(abs(b)), np.rad2deg(np.angle(b)))

    @classmethod
    def from_beta(cls, beta: complex) -> IqImbalance:
        """The imbalance whose transmit pre-distortion coefficient is ``beta = K2 / K1``."""
        rho = complex(beta)
        if not abs(rho) < 1.0:
            raise ConfigError.bad_value("beta", beta, "|beta| < 1")
        # rho (1 + a) = 1 - conj(a) with a = g e^{-j phi}; solved for a in closed form.
        a = (1.0 - 2.0 * rho.conjugate() + abs(rho) ** 2) / (1.0 - abs(rho) ** 2)
        return cls(20.0 * np.log10(abs(a)), -np.rad2deg(np.angle(a)))

    @property
    def w(self) -> complex:
        """Receive correction coefficient: ``z = y - w conj(y)`` removes the image."""
        return self.k2 / self.k1.conjugate()

    @property
    def beta(self) -> complex:
        """Transmit pre-distortion coefficient: ``x' = x - beta conj(x)`` cancels the image."""
        return self.k2 / self.k1

    @property
    def irr_db(self) -> float:
        """Image rejection ratio in dB (inf for a perfect mixer)."""
        if self.k2 == 0:
            return float("inf")
        return float(10.0 * np.log10(abs(self.k1) ** 2 / abs(self.k2) ** 2))

    def process(self, x) -> np.ndarray:
        x = _as_stream(x)
        return self.k1 * x + self.k2 * np.conj(x)

    def reset(self) -> None:
        """Memoryless: nothing to reset."""

    def __repr__(self) -> str:
        return f"IqImbalance(gain_db={self.gain_db:.4g}, phase_deg={self.phase_deg:.4g}, irr={self.irr_db:.1f} dB)"


class DcOffset:
    """Adds a complex constant: an RX DC offset, or TX LO leakage referred to baseband.

    Parameters
    ----------
    value : complex
        The constant, full scale 1.0 (``|value| <= 1``).
    """

    def __init__(self, value: complex = 0.0):
        value = complex(value)
        check_range("abs(value)", abs(value), 0.0, 1.0, unit="FS")
        self.value = value

    @classmethod
    def from_dbfs(cls, level_dbfs: float, phase_deg: float = 0.0) -> DcOffset:
        """A constant of ``level_dbfs`` (<= 0 dBFS) at ``phase_deg`` degrees."""
        check_range("level_dbfs", level_dbfs, hi=0.0, unit="dBFS")
        return cls(dbfs_to_amplitude(level_dbfs) * np.exp(1j * np.deg2rad(phase_deg)))

    @property
    def level_dbfs(self) -> float:
        return float(20 * np.log10(abs(self.value))) if self.value else float("-inf")

    def process(self, x) -> np.ndarray:
        return _as_stream(x) + self.value

    def reset(self) -> None:
        """Memoryless: nothing to reset."""

    def __repr__(self) -> str:
        return f"DcOffset({self.value:.4g}, {self.level_dbfs:.1f} dBFS)"


# --------------------------------------------------------------------------------------------------------------
# Band-limited fractional resampling (latency and sample-clock offset)
# --------------------------------------------------------------------------------------------------------------

_TABLES: dict[tuple[int, int, float], np.ndarray] = {}


def interp_table(taps: int = 32, phases: int = 512, beta: float = 8.0) -> np.ndarray:
    """Windowed-sinc interpolation table: ``table[q, t] = h(t - H + 1 - q / phases)``, ``H = taps / 2``.

    ``h`` is a sinc (cut-off at Nyquist) under a Kaiser window (``beta``) spanning ``taps`` samples;
    each row is normalised to unit DC gain. Accurate (error below about -60 dB) for signals inside
    +/-0.4 cycles/sample.
    """
    key = (taps, phases, beta)
    tab = _TABLES.get(key)
    if tab is None:
        half = taps // 2
        mu = np.arange(phases + 1)[:, None] / phases
        t = np.arange(-half + 1, half + 1)[None, :] - mu  # tap offset from the wanted position
        win = np.kaiser(2 * 4096 + 1, beta)
        # Kaiser window as a function of t in [-half, half], sampled by interpolation of a fine grid.
        wt = np.interp(t, np.linspace(-half, half, win.size), win)
        tab = np.sinc(t) * wt
        tab /= tab.sum(axis=1, keepdims=True)
        tab = np.ascontiguousarray(tab)
        tab.setflags(write=False)
        _TABLES[key] = tab
    return tab


class FractionalResampler:
    """Band-limited interpolation ``y[n] = x(n * ratio - delay)`` of a stream (``x(t) = 0`` for ``t < 0``).

    Models a fixed TX->RX latency (``delay``, samples, may be fractional) and a sample-clock offset
    (``ratio`` input samples per output sample, ``(1 + eps_t) / (1 + eps_r)``). A streaming block whose
    output count per call is the number of outputs whose interpolation window is complete: the
    concatenation of ``process`` calls plus ``flush()`` is the same however the input is split.

    Parameters
    ----------
    ratio : float
        Input samples per output sample (0.999..1.001, i.e. +/-1000 ppm).
    delay : float
        Delay in input samples (>= 0).
    taps : int
        Interpolation filter length (even, 8..128).
    """

    def __init__(self, ratio: float = 1.0, delay: float = 0.0, taps: int = 32):
        self.ratio = float(check_range("ratio", ratio, 0.999, 1.001))
        self.delay = float(check_range("delay", delay, 0.0, 1e9, unit="samples"))
        if not isinstance(taps, (int, np.integer)) or taps % 2 or not 8 <= taps <= 128:
            raise ConfigError.bad_value("taps", taps, "an even integer 8..128")
        self.taps = int(taps)
        self._half = self.taps // 2
        self._table = interp_table(self.taps)
        self._kernel = load("_iqcal")
        self.reset()

    def reset(self) -> None:
        """Start a new stream (all past input forgotten)."""
        # The buffer holds inputs from absolute index _start on; 2H - 1 leading zeros stand for x[m < 0],
        # enough for every output whose window reaches x[0] (earlier outputs are exactly zero).
        self._buf = np.zeros(2 * self._half - 1, np.complex128)
        self._start = -(2 * self._half - 1)
        self._n_in = 0
        self._n_out = 0

    def _position(self, n: int) -> float:
        return n * self.ratio - self.delay

    def _first_n(self, threshold: int) -> int:
        """Smallest output index n >= _n_out with floor(position(n)) >= threshold."""
        n = max(int(np.ceil((threshold + self.delay) / self.ratio)), self._n_out)
        # Guard the float rounding at the boundary in both directions.
        while n > self._n_out and np.floor(self._position(n - 1)) >= threshold:
            n -= 1
        while np.floor(self._position(n)) < threshold:
            n += 1
        return n

    def _run(self, limit: int) -> np.ndarray:
        """Every output from _n_out on whose window ends at or before absolute input index ``limit``."""
        n_end = self._first_n(limit - self._half + 1)
        m = n_end - self._n_out
        out = np.zeros(m, np.complex128)
        if m <= 0:
            return out
        z = min(self._first_n(-self._half) - self._n_out, m)  # leading outputs that see only x[m < 0]
        if m > z:
            st = self._kernel.resample(self._buf, out[z:], float(self._n_out + z), self.ratio,
                                       self.delay + self._start, self._table)
            if st:  # pragma: no cover - excluded by the bounds above
                raise RuntimeError(f"resample kernel: window outside the buffer (status {st})")
        self._n_out = n_end
        # Drop inputs no later output can need.
        keep_from = int(np.floor(self._position(self._n_out))) - self._half + 1
        cut = min(max(keep_from - self._start, 0), self._buf.size)
        if cut:
            self._buf = self._buf[cut:]
            self._start += cut
        return out

    def process(self, x) -> np.ndarray:
        """Append ``x`` and return every output whose interpolation window is now complete."""
        x = _as_stream(x)
        if x.size == 0:
            return np.zeros(0, np.complex128)
        self._buf = np.concatenate((self._buf, x))
        self._n_in += x.size
        return self._run(self._n_in - 1)

    def flush(self) -> np.ndarray:
        """End of stream: the remaining outputs that still see an input (zeros beyond); then reset."""
        self._buf = np.concatenate((self._buf, np.zeros(2 * self._half - 1, np.complex128)))
        out = self._run(self._n_in + 2 * self._half - 2)
        self.reset()
        return out

    @property
    def lag(self) -> int:
        """Samples of look-ahead the interpolator needs (outputs trail the inputs by this much plus the delay)."""
        return self._half

    def __repr__(self) -> str:
        ppm = (1.0 / self.ratio - 1.0) * 1e6
        return (f"FractionalResampler(ratio={self.ratio:.9f} ({ppm:+.3f} ppm), delay={self.delay:.4f} samples, "
                f"taps={self.taps}, outputs={self._n_out})")


# --------------------------------------------------------------------------------------------------------------
# Gain over frequency
# --------------------------------------------------------------------------------------------------------------


class InbandResponse:
    """A static FIR filter: non-flat gain across the baseband (anti-alias filters, cables, matching).

    ``y[n] = sum_t taps[t] x[n - t]`` with history across calls (streaming). Use :meth:`tilt` for a
    response linear in dB across the band; its group delay is ``(len(taps) - 1) / 2`` samples.
    """

    def __init__(self, taps):
        taps = np.asarray(taps, dtype=np.complex128).ravel()
        if taps.size == 0 or taps.size > 257 or not np.all(np.isfinite(taps)):
            raise ConfigError.bad_value("taps", taps.size, "1..257 finite coefficients")
        self.taps = taps
        self.reset()

    @classmethod
    def tilt(cls, tilt_db: float, ntaps: int = 15) -> InbandResponse:
        """Gain ``tilt_db * f`` dB for ``f`` in cycles/sample (so +/- tilt_db/2 at the band edges), linear phase."""
        check_range("tilt_db", tilt_db, -20.0, 20.0, unit="dB")
        if not isinstance(ntaps, (int, np.integer)) or ntaps % 2 == 0 or not 3 <= ntaps <= 257:
            raise ConfigError.bad_value("ntaps", ntaps, "an odd integer 3..257")
        nfft = 1024
        f = np.fft.fftfreq(nfft)
        mag = 10.0 ** (tilt_db * f / 20.0)
        h = np.fft.ifft(mag)  # zero-phase impulse response, centred at index 0
        half = ntaps // 2
        h = np.concatenate((h[-half:], h[: half + 1])) * np.hanning(ntaps + 2)[1:-1]
        return cls(h)

    @property
    def group_delay(self) -> float:
        return (self.taps.size - 1) / 2.0

    def response_db(self, freqs) -> np.ndarray:
        """Gain in dB at ``freqs`` (cycles/sample)."""
        f = np.asarray(freqs, dtype=float)
        h = np.exp(-2j * np.pi * f[..., None] * np.arange(self.taps.size)) @ self.taps
        return 20 * np.log10(np.abs(h))

    def process(self, x) -> np.ndarray:
        x = _as_stream(x)
        full = np.concatenate((self._hist, x))
        y = np.convolve(full, self.taps, mode="full")[self._hist.size: self._hist.size + x.size]
        self._hist = full[max(full.size - (self.taps.size - 1), 0):]
        return y

    def reset(self) -> None:
        self._hist = np.zeros(self.taps.size - 1, np.complex128)

    def __repr__(self) -> str:
        return f"InbandResponse({self.taps.size} taps, group delay {self.group_delay:g} samples)"


class RfGainError:
    """Deviation of a radio's gain from its nominal law: over RF frequency and over the gain setting.

    ``error_db(f, g) = interp(f; freqs_hz, error_db) + step_error * (g - reference_gain_db)``.

    Parameters
    ----------
    freqs_hz, error_db : sequences
        Knots of the gain error over RF frequency (Hz, increasing) in dB; linear in between, constant
        outside. Empty: no frequency dependence.
    step_error : float
        Relative error of the gain steps (dB per dB), e.g. 0.02 = a 10 dB step gives 10.2 dB.
    reference_gain_db : float
        Gain setting where the step error is zero (dB).
    """

    def __init__(self, freqs_hz=(), error_db=(), step_error: float = 0.0, reference_gain_db: float = 0.0):
        self.freqs_hz = np.asarray(freqs_hz, dtype=float).ravel()
        self.error_db_knots = np.asarray(error_db, dtype=float).ravel()
        if self.freqs_hz.size != self.error_db_knots.size:
            raise ConfigError.bad_value("error_db", self.error_db_knots.size,
                                        f"as many values as freqs_hz ({self.freqs_hz.size})")
        if self.freqs_hz.size > 1 and np.any(np.diff(self.freqs_hz) <= 0):
            raise ConfigError.bad_value("freqs_hz", self.freqs_hz.tolist(), "strictly increasing frequencies")
        self.step_error = float(check_range("step_error", step_error, -0.5, 0.5, unit="dB/dB"))
        self.reference_gain_db = float(check_range("reference_gain_db", reference_gain_db, unit="dB"))

    def error_db(self, frequency_hz: float, gain_db: float) -> float:
        base = float(np.interp(frequency_hz, self.freqs_hz, self.error_db_knots)) if self.freqs_hz.size else 0.0
        return base + self.step_error * (gain_db - self.reference_gain_db)

    def __repr__(self) -> str:
        return (f"RfGainError({self.freqs_hz.size} knots, step_error={self.step_error:g} dB/dB, "
                f"reference={self.reference_gain_db:g} dB)")


# --------------------------------------------------------------------------------------------------------------
# The whole loopback path
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrontEndImpairments:
    """Impairments of a TX -> (cable/emulator) -> RX loopback (parse from YAML with ``hil.config.parse``)."""

    tx_iq_gain_db: float = field(default=0.0, metadata=spec(ge=-6, le=6, unit="dB", doc="TX Q/I gain imbalance"))
    tx_iq_phase_deg: float = field(default=0.0, metadata=spec(ge=-45, le=45, unit="deg", doc="TX phase imbalance"))
    tx_lo_leakage_dbfs: float | None = field(default=None, metadata=spec(le=0, unit="dBFS",
                                                                         doc="TX LO leakage (None: none)"))
    tx_lo_leakage_phase_deg: float = field(default=0.0, metadata=spec(unit="deg"))
    rx_iq_gain_db: float = field(default=0.0, metadata=spec(ge=-6, le=6, unit="dB", doc="RX Q/I gain imbalance"))
    rx_iq_phase_deg: float = field(default=0.0, metadata=spec(ge=-45, le=45, unit="deg", doc="RX phase imbalance"))
    rx_dc_dbfs: float | None = field(default=None, metadata=spec(le=0, unit="dBFS", doc="RX DC offset (None: none)"))
    rx_dc_phase_deg: float = field(default=0.0, metadata=spec(unit="deg"))
    tx_ppm: float = field(default=0.0, metadata=spec(ge=-100, le=100, unit="ppm",
                                                     doc="TX reference (LO + sample clock) error"))
    rx_ppm: float = field(default=0.0, metadata=spec(ge=-100, le=100, unit="ppm",
                                                     doc="RX reference error (= tx_ppm for one device)"))
    latency_samples: float = field(default=0.0, metadata=spec(ge=0, unit="samples", doc="TX->RX latency"))
    inband_tilt_db: float = field(default=0.0, metadata=spec(ge=-20, le=20, unit="dB",
                                                             doc="gain slope across the band (dB per fs)"))
    rf_gain_freqs_hz: tuple[float, ...] = field(default=(), metadata=spec(unit="Hz"))
    rf_gain_error_db: tuple[float, ...] = field(default=(), metadata=spec(unit="dB"))
    rx_gain_step_error: float = field(default=0.0, metadata=spec(ge=-0.5, le=0.5, unit="dB/dB"))
    noise_dbfs: float | None = field(default=None, metadata=spec(le=0, unit="dBFS",
                                                                 doc="AWGN power at the RX input (None: none)"))
    interp_taps: int = field(default=32, metadata=spec(ge=8, le=128))

    def validate(self):
        if len(self.rf_gain_freqs_hz) != len(self.rf_gain_error_db):
            raise ConfigError.bad_value("rf_gain_error_db", list(self.rf_gain_error_db),
                                        f"{len(self.rf_gain_freqs_hz)} values (one per rf_gain_freqs_hz)")
        if self.interp_taps % 2:
            raise ConfigError.bad_value("interp_taps", self.interp_taps, "an even number")

    def replace(self, **changes) -> FrontEndImpairments:
        out = dataclasses.replace(self, **changes)
        out.validate()
        return out

    @property
    def tx_iq(self) -> IqImbalance:
        return IqImbalance(self.tx_iq_gain_db, self.tx_iq_phase_deg)

    @property
    def rx_iq(self) -> IqImbalance:
        return IqImbalance(self.rx_iq_gain_db, self.rx_iq_phase_deg)

    @property
    def rx_dc(self) -> complex:
        if self.rx_dc_dbfs is None:
            return 0j
        return DcOffset.from_dbfs(self.rx_dc_dbfs, self.rx_dc_phase_deg).value

    @property
    def tx_lo_leakage(self) -> complex:
        if self.tx_lo_leakage_dbfs is None:
            return 0j
        return DcOffset.from_dbfs(self.tx_lo_leakage_dbfs, self.tx_lo_leakage_phase_deg).value

    @property
    def rf_gain(self) -> RfGainError:
        return RfGainError(self.rf_gain_freqs_hz, self.rf_gain_error_db, self.rx_gain_step_error)


class ImpairedLoopback:
    """The TX -> RX loopback of one radio (or two) with every impairment of :class:`FrontEndImpairments`.

    Order, as in hardware: TX IQ imbalance, TX LO leakage, in-band response, latency + sample-clock
    offset (:class:`FractionalResampler`), carrier offset (LO difference and ppm), RF gain error,
    receiver noise, RX IQ imbalance, RX DC offset. A streaming block: ``process(x)`` returns the
    received samples that are complete (the count trails the input by the latency and the
    interpolator's look-ahead; :meth:`apply` gives an exact-length one-shot result).

    Parameters
    ----------
    impairments : FrontEndImpairments
    sample_rate : float
        Nominal sample rate in Hz.
    tx_frequency, rx_frequency : float
        Nominal LO frequencies in Hz; their difference (plus the ppm offsets) appears as a frequency offset.
    rx_gain : float
        RX gain setting in dB (only the gain *error* of :class:`RfGainError` is applied here; the nominal
        gains are the backend's business).
    rng : numpy.random.Generator or int or None
        Source of the receiver noise (seeded; required when ``noise_dbfs`` is set).
    """

    def __init__(self, impairments: FrontEndImpairments | None = None, *, sample_rate: float,
                 tx_frequency: float = 2.4e9, rx_frequency: float | None = None, rx_gain: float = 0.0,
                 rng=None):
        self.impairments = impairments if impairments is not None else FrontEndImpairments()
        if not isinstance(self.impairments, FrontEndImpairments):
            raise ConfigError.bad_value("impairments", type(self.impairments).__name__, "a FrontEndImpairments")
        self.impairments.validate()
        imp = self.impairments
        if imp.noise_dbfs is not None and rng is None:
            raise ConfigError.bad_value("rng", rng, "a numpy Generator or seed when noise_dbfs is set")
        self._rng_seed = rng
        self.sample_rate = float(check_range("sample_rate", sample_rate, lo=1.0, unit="Hz"))
        self._tx_iq = imp.tx_iq
        self._rx_iq = imp.rx_iq
        self._leak = imp.tx_lo_leakage
        self._dc = imp.rx_dc
        self._inband = InbandResponse.tilt(imp.inband_tilt_db) if imp.inband_tilt_db else None
        self._gain_error = imp.rf_gain
        eps_t, eps_r = imp.tx_ppm * 1e-6, imp.rx_ppm * 1e-6
        self._eps = (eps_t, eps_r)
        self._resampler = FractionalResampler((1 + eps_t) / (1 + eps_r), imp.latency_samples * (1 + eps_t),
                                              imp.interp_taps)
        self._noise_sigma = (dbfs_to_amplitude(imp.noise_dbfs) / np.sqrt(2.0)
                             if imp.noise_dbfs is not None else 0.0)
        self.tx_frequency = float(check_range("tx_frequency", tx_frequency, lo=0.0, unit="Hz"))
        self.rx_frequency = float(check_range("rx_frequency", rx_frequency if rx_frequency is not None
                                              else tx_frequency, lo=0.0, unit="Hz"))
        self.rx_gain = float(check_range("rx_gain", rx_gain, unit="dB"))
        self._nco = NcoRotator(self.sample_rate)
        self.reset()

    # -- radio state ---------------------------------------------------------------------------------------
    @property
    def frequency_offset_hz(self) -> float:
        """Carrier offset seen in the received baseband (Hz at the nominal rate)."""
        eps_t, eps_r = self._eps
        cyc = (self.tx_frequency * (1 + eps_t) - self.rx_frequency * (1 + eps_r)) / (self.sample_rate * (1 + eps_r))
        return cyc * self.sample_rate

    @property
    def gain_error_db(self) -> float:
        return self._gain_error.error_db(self.rx_frequency, self.rx_gain)

    def retune(self, *, tx_frequency: float | None = None, rx_frequency: float | None = None,
               rx_gain: float | None = None) -> None:
        """Change LO frequencies (Hz) / RX gain (dB) from the next sample on (stream state is kept)."""
        if tx_frequency is not None:
            self.tx_frequency = float(check_range("tx_frequency", tx_frequency, lo=0.0, unit="Hz"))
        if rx_frequency is not None:
            self.rx_frequency = float(check_range("rx_frequency", rx_frequency, lo=0.0, unit="Hz"))
        if rx_gain is not None:
            self.rx_gain = float(check_range("rx_gain", rx_gain, unit="dB"))
        self._tune_nco()

    @property
    def in_band(self) -> bool:
        """False when the TX carrier falls outside the RX band (|offset| >= fs/2): nothing arrives."""
        return abs(self.frequency_offset_hz) < self.sample_rate / 2

    def _tune_nco(self) -> None:
        if self.in_band:
            self._nco.frequency = self.frequency_offset_hz

    # -- streaming -------------------------------------------------------------------------------------------
    def _tx_side(self, x):
        s = self._tx_iq.process(x) + self._leak
        if self._inband is not None:
            s = self._inband.process(s)
        return s

    def _rx_side(self, r):
        if self.in_band:
            r = self._nco.process(r).astype(np.complex128)
        else:  # the transmission lands outside the receiver's band; keep the NCO's clock running
            self._nco.process(r)
            r = np.zeros_like(r)
        r = r * 10.0 ** (self.gain_error_db / 20.0)
        if self._noise_sigma:
            # interleaved draws (re, im, re, im, ...) so that any chunking consumes the same sequence
            r = r + self._noise_sigma * self._rng.standard_normal(2 * r.size).view(np.complex128)
        return self._rx_iq.process(r) + self._dc

    def process(self, x) -> np.ndarray:
        """Transmit ``x`` (complex, full scale 1) and return the received samples that are complete."""
        return self._rx_side(self._resampler.process(self._tx_side(_as_stream(x))))

    def flush(self) -> np.ndarray:
        """End of the transmission: the received tail (until the last transmitted sample has arrived);
        the block is then reset for a new stream."""
        out = self._rx_side(self._resampler.flush())
        self.reset()
        return out

    def apply(self, x, n_out: int | None = None) -> np.ndarray:
        """One shot from a fresh state: receive exactly ``n_out`` (default ``len(x)``) samples for ``x``.

        Samples after the transmission carry only noise and DC (the transmitter is silent, as is its LO
        leakage: the model switches the TX path off with the burst).
        """
        x = _as_stream(x)
        n_out = x.size if n_out is None else int(check_range("n_out", n_out, 0, 10**9, unit="samples"))
        self.reset()
        r = np.concatenate((self._resampler.process(self._tx_side(x)), self._resampler.flush()))
        r = np.concatenate((r[:n_out], np.zeros(max(n_out - r.size, 0), np.complex128)))
        out = self._rx_side(r)
        self.reset()
        return out

    def reset(self) -> None:
        self._resampler.reset()
        if self._inband is not None:
            self._inband.reset()
        self._nco.reset()
        self._tune_nco()
        self._rng = np.random.default_rng(self._rng_seed) if not isinstance(self._rng_seed, np.random.Generator) \
            else self._rng_seed

    def __repr__(self) -> str:
        return (f"ImpairedLoopback(fs={self.sample_rate:g} Hz, tx={self.tx_frequency:g} Hz, "
                f"rx={self.rx_frequency:g} Hz, offset={self.frequency_offset_hz:.3f} Hz, {self._tx_iq!r} TX, "
                f"{self._rx_iq!r} RX, dc={self._dc:.3g}, leak={self._leak:.3g}, {self._resampler!r})")
