"""Doppler tracking over a LEO pass: ephemeris-aided pre-compensation plus a closed loop on the residual.

:class:`DopplerTracker` is a streaming block (``process(x) -> corrected samples``, ``reset()``, state
readable) for a stream of frames that each start with the shared :class:`dsp.sync.Preamble`, sent
every ``frame_period`` samples. It multiplies the stream by ``exp(-j 2 pi phi)``, where the phase
``phi`` integrates the estimated Doppler ``f_hat = f_pred + f_loop``:

* ``f_pred(t)`` (mode ``"ephemeris"``): the predicted Doppler (Hz) as a callable of time (s) - e.g.
  ``track.doppler(t, fc)`` of ``hil.orbit.DelayTrack``, or :meth:`EphemerisError.apply` of it for a
  stale ephemeris - sampled every ``knot_interval`` samples on the absolute sample grid and linearly
  interpolated (the NCO advances frequency *and* rate per sample). Mode ``"blind"``: ``f_pred = 0``.
* ``f_loop``: a Kalman filter with state (frequency, frequency rate) and a rate random walk, updated
  once per frame with the frequency error measured from the preamble's repetitions (data-aided,
  unambiguous over +-fs/(2L)); measurement variance from the measured SNR. In steady state it is a
  second-order FLL (natural frequency ``(q/N)^(1/4)``, damping 0.707) and follows a Doppler ramp with
  no steady-state error; ``loop_bandwidth_hz`` sets ``q`` at ``nominal_snr_db``.
* Timing: the next preamble is expected one frame period later, shortened/stretched by the code
  Doppler ``f_hat / fc``, and refined from the correlations at the two integer lags around it
  (first-order loop, gain ``timing_gain``), so frames are followed across the whole delay range of a
  pass (the per-repetition sums of the two lags are combined with sinc weights: at most 0.9 dB loss
  at a half-sample offset).
* Lock: a measurement is valid when the non-coherent preamble energy exceeds ``valid_threshold`` times
  the noise-only level; ``locked`` when the coherent one exceeds ``lock_threshold``. After
  ``max_misses`` invalid frames in a row (a handover: Doppler and delay jump) the tracker declares
  loss of lock and **re-acquires**: it collects ``frame_period + 2 L R + 4`` corrected samples and runs
  :class:`dsp.sync.PreambleDetector` on them (blind: CFO-invariant search over the whole band;
  ephemeris: coherent search over ``search_hz``), then restarts the loop from the detection.
  The tracker starts in acquisition at sample 0.

The per-sample NCO and the per-frame loop are one compiled kernel (``dsp._kernels._track``; NumPy
twin ``_track_py``). Splitting the input anywhere gives the same output (knots, windows and the
acquisition windows live on the absolute sample grid).

Signs: ``frequency`` is the Doppler of the *incoming* signal (Hz; positive when approaching), the
same sign as ``DelayTrack.doppler``; the output is the input shifted by ``-frequency``.

Also here, for tests and benchmarks (the emulator itself uses ``hil.orbit``): :class:`LeoPassModel`,
an analytic circular-orbit zenith pass with the ``DelayTrack`` method names, :class:`EphemerisError`,
and :func:`render_frames`, which puts frames through the delay/Doppler of a pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dsp._kernels import _track_py as _lay
from dsp._kernels import load
from dsp.errors import ConfigError, check_choice, check_range
from dsp.sync import Preamble, PreambleDetector

__all__ = ["DopplerTracker", "LeoPassModel", "EphemerisError", "render_frames", "SPEED_OF_LIGHT"]

SPEED_OF_LIGHT = 299_792_458.0
_MODES = ("ephemeris", "blind")


class DopplerTracker:
    """Streaming Doppler (and frame-timing) tracker; see the module doc.

    Parameters
    ----------
    sample_rate : float
        Sample rate fs in Hz.
    carrier_hz : float
        Carrier frequency fc in Hz (code Doppler ``f/fc``; ppm figures).
    preamble : Preamble
        The preamble at the start of every frame.
    frame_period : int
        Transmit frame period in samples (preamble included), >= preamble length + 8.
    mode : {"ephemeris", "blind"}
    predict : callable t -> Hz, optional
        Predicted Doppler (Hz) at time ``t`` (s, array in, array out); required in ephemeris mode,
        refused in blind mode. Sample ``n`` is at ``t0 + n / fs``.
    t0 : float
        Time (s) of sample 0, in the predictor's time base.
    knot_interval : int, optional
        Samples between prediction knots (default about 1 ms).
    loop_bandwidth_hz : float, optional
        Loop noise bandwidth (Hz) at ``nominal_snr_db``; default 2 Hz (ephemeris) / 5 Hz (blind).
    nominal_snr_db : float
        Per-sample SNR (dB) at which ``loop_bandwidth_hz`` holds (the Kalman gains adapt to the
        measured SNR: wider when it is higher).
    acq_rate_std_hz_s : float, optional
        Prior standard deviation (Hz/s) of the loop's rate at acquisition; default 0.05 ppm/s of fc
        (ephemeris: the residual rate) or 0.5 ppm/s (blind: the whole Doppler rate, 1 kHz/s at 2 GHz).
    valid_threshold, lock_threshold : float
        Non-coherent / coherent preamble metrics (noise-only mean 1) for a valid measurement / lock.
    max_misses : int
        Invalid frames in a row that declare loss of lock.
    timing_gain : float
        Gain (0..1] of the first-order timing loop.
    search_hz : float, optional
        Largest |CFO| (Hz) an acquisition searches, relative to the current estimate. Default: 0.5 ppm
        of fc in ephemeris mode (1 kHz at 2 GHz, 10 kHz at 20 GHz; the stale-TLE model below errs by up to
        0.18 ppm): a coherent search over a few frequency bins, which acquires some 5 dB lower in SNR;
        fs/2 in blind mode (differential, CFO-invariant search over the band).
    detect_threshold : float
        Detection-metric threshold of the acquisition (noise-only mean 1; see PreambleDetector).
    """

    def __init__(self, sample_rate: float, carrier_hz: float, preamble: Preamble, frame_period: int, *,
                 mode: str = "ephemeris", predict=None, t0: float = 0.0, knot_interval: int | None = None,
                 loop_bandwidth_hz: float | None = None, nominal_snr_db: float = 10.0,
                 acq_rate_std_hz_s: float | None = None, valid_threshold: float = 8.0,
                 lock_threshold: float = 30.0, max_misses: int = 4, timing_gain: float = 0.25,
                 search_hz: float | None = None, detect_threshold: float = 25.0):
        self.sample_rate = float(check_range("sample_rate", sample_rate, lo=1.0, unit="Hz"))
        self.carrier_hz = float(check_range("carrier_hz", carrier_hz, lo=1.0, unit="Hz"))
        if not isinstance(preamble, Preamble):
            raise ConfigError.bad_value("preamble", preamble, "a dsp.sync.Preamble")
        self.preamble = preamble
        np_ = preamble.length
        if not isinstance(frame_period, (int, np.integer)) or frame_period < np_ + 8:
            raise ConfigError.bad_value("frame_period", frame_period, f"an integer >= {np_ + 8} samples")
        self.frame_period = int(frame_period)
        self.mode = check_choice("mode", mode, _MODES)
        if mode == "ephemeris" and not callable(predict):
            raise ConfigError.bad_value("predict", predict, "a callable t (s) -> Doppler (Hz) in ephemeris mode")
        if mode == "blind" and predict is not None:
            raise ConfigError.bad_value("predict", predict, "None in blind mode")
        self.predict = predict
        self.t0 = float(check_range("t0", t0, unit="s"))
        fs = self.sample_rate
        self.knot_interval = int(max(1, round(fs * 1e-3)) if knot_interval is None else
                                 check_range("knot_interval", knot_interval, lo=1, unit="samples"))
        bw = (2.0 if mode == "ephemeris" else 5.0) if loop_bandwidth_hz is None else loop_bandwidth_hz
        self.loop_bandwidth_hz = float(check_range("loop_bandwidth_hz", bw, lo=1e-3,
                                                   hi=0.25 * fs / frame_period, unit="Hz"))
        self.nominal_snr_db = float(check_range("nominal_snr_db", nominal_snr_db, lo=-20.0, hi=60.0, unit="dB"))
        ppm_s = 0.05e-6 if mode == "ephemeris" else 0.5e-6
        rs = ppm_s * self.carrier_hz if acq_rate_std_hz_s is None else acq_rate_std_hz_s
        self.acq_rate_std_hz_s = float(check_range("acq_rate_std_hz_s", rs, lo=0.0, unit="Hz/s"))
        self.valid_threshold = float(check_range("valid_threshold", valid_threshold, lo=1.0))
        self.lock_threshold = float(check_range("lock_threshold", lock_threshold, lo=1.0))
        if not isinstance(max_misses, (int, np.integer)) or max_misses < 1:
            raise ConfigError.bad_value("max_misses", max_misses, "an integer >= 1")
        self.max_misses = int(max_misses)
        self.timing_gain = float(check_range("timing_gain", timing_gain, lo=1e-6, hi=1.0))
        sh = (min(fs / 2, 0.5e-6 * self.carrier_hz) if mode == "ephemeris" else fs / 2) if search_hz is None \
            else search_hz
        self.search_hz = float(check_range("search_hz", sh, lo=0.0, hi=fs / 2, unit="Hz"))
        self.detect_threshold = float(check_range("detect_threshold", detect_threshold, lo=1.0))
        self._kernel = load("_track")
        self._pre = preamble.samples.astype(np.complex128)
        self._acq_len = self.frame_period + 2 * np_ + 4
        self._detector = PreambleDetector(preamble, threshold=self.detect_threshold, max_cfo=self.search_hz / fs)
        # Loop design: continuous-time steady state of the (frequency, rate) Kalman filter with
        # measurement noise density N = var * T is a 2nd-order loop with w_n = (q/N)^(1/4), zeta = 0.707,
        # noise bandwidth B_L = 0.530 w_n (w_n in rad/s).
        wn = self.loop_bandwidth_hz / 0.530 / fs  # rad/sample
        self._q = wn**4 * self._meas_var(10 ** (self.nominal_snr_db / 10)) * self.frame_period
        self.reset()

    # -- helpers -------------------------------------------------------------------------------
    def _meas_var(self, rho: float) -> float:
        """Variance (cycles/sample)^2 of the per-frame repetition frequency measurement at SNR rho."""
        L, R = self.preamble.period, self.preamble.repeats
        return (1.0 + 1.0 / rho) / ((2 * math.pi * L) ** 2 * L * rho * (R - 1) ** 2)

    def _knots(self, k0: int, k1: int) -> np.ndarray:
        """Predicted Doppler (cycles/sample) at knots k0..k1 inclusive."""
        if self.predict is None:
            return np.zeros(k1 - k0 + 1)
        t = self.t0 + np.arange(k0, k1 + 1) * (self.knot_interval / self.sample_rate)
        f = np.asarray(self.predict(t), dtype=np.float64)
        if f.shape != t.shape or not np.all(np.isfinite(f)):
            raise ConfigError.bad_value("predict(t)", f"shape {f.shape}", f"finite values of shape {t.shape}")
        bad = np.abs(f) >= self.sample_rate / 2
        if bad.any():
            raise ConfigError.bad_value("predict(t)", float(f[bad][0]),
                                        f"|Doppler| < fs/2 = {self.sample_rate / 2:g} Hz")
        return f / self.sample_rate

    def reset(self) -> None:
        """Back to the start of a stream: acquisition from sample 0, empty log."""
        st = np.zeros(_lay.NST)
        ist = np.zeros(_lay.NIST, dtype=np.int64)
        L, R = self.preamble.period, self.preamble.repeats
        st[_lay.Q] = self._q
        st[_lay.PERIOD] = self.frame_period
        st[_lay.CODE] = self.sample_rate / self.carrier_hz
        st[_lay.THR_NC] = self.valid_threshold
        st[_lay.THR_COH] = self.lock_threshold
        st[_lay.KT] = self.timing_gain
        st[_lay.RSCALE] = 1.0
        ist[_lay.I_MODE] = _lay.HOLD
        ist[_lay.I_MAXMISS] = self.max_misses
        ist[_lay.I_U] = self.knot_interval
        ist[_lay.I_L] = L
        ist[_lay.I_R] = R
        ist[_lay.I_STOP] = self._acq_len
        self._st, self._ist = st, ist
        self._acc = np.zeros(2 * R, dtype=np.complex128)
        self._acq_start = 0
        self._acq_buf: list[np.ndarray] = []
        self._logs: list[np.ndarray] = []
        self._n_logged = 0  # rows in self._logs
        self.acquisitions: list[dict] = []

    # -- acquisition -------------------------------------------------------------------------------
    def _acquire(self) -> None:
        """Run the detector on the collected window; start tracking or open the next window."""
        st, ist = self._st, self._ist
        buf = np.concatenate(self._acq_buf) if self._acq_buf else np.zeros(0, np.complex64)
        self._acq_buf = []
        fs = self.sample_rate
        n_now = int(ist[_lay.I_N])
        dets = self._detector.detect(buf)
        if not dets:
            self._acq_start = n_now
            ist[_lay.I_STOP] = n_now + self._acq_len
            return
        d = max(dets, key=lambda q: q.metric)
        np_ = self.preamble.length
        idx = self._acq_start + d.index
        centre = idx + 0.5 * (np_ - 1)
        rho = 10 ** (d.snr_db / 10) if np.isfinite(d.snr_db) else 1e-3
        rho = min(max(rho, 1e-3), 1e6)
        st[_lay.LF] += d.cfo  # the offset measured against the correction applied to the window
        st[_lay.P00] = 4.0 * self._meas_var(rho)
        st[_lay.P01] = 0.0
        st[_lay.P11] = (self.acq_rate_std_hz_s / fs**2) ** 2
        st[_lay.NC] = centre
        ftot = st[_lay.PF] + st[_lay.LF]
        period = self.frame_period * (1.0 - ftot * st[_lay.CODE])
        m = max(1, math.ceil((n_now + 1 - idx) / period))
        nxt = idx + m * period
        while math.floor(nxt) < n_now:
            nxt += period
        st[_lay.NEXT] = nxt
        ist[_lay.I_WIN] = int(math.floor(nxt))
        ist[_lay.I_MODE] = _lay.TRACK
        ist[_lay.I_MISS] = 0
        ist[_lay.I_LOCK] = 1
        ist[_lay.I_STOP] = -1
        self._acc[:] = 0
        st[_lay.EN] = 0.0
        self.acquisitions.append({"index": float(idx), "cfo_hz": d.cfo * fs, "snr_db": d.snr_db,
                                  "at_sample": n_now, "frequency_hz": ftot * fs})

    # -- streaming -------------------------------------------------------------------------------
    def process(self, x) -> np.ndarray:
        """Correct ``x`` (1-D complex) and return complex64 samples of the same length."""
        x = np.ascontiguousarray(x, dtype=np.complex64)
        if x.ndim != 1:
            raise ConfigError.bad_value("x.ndim", x.ndim, "1 (a 1-D stream)")
        out = np.empty_like(x)
        st, ist, U = self._st, self._ist, self.knot_interval
        pos = 0
        cap = x.size // (self.preamble.length + 4) + 2  # windows are >= frame_period - 2 apart
        while pos < x.size:
            n = int(ist[_lay.I_N])
            k0 = n // U
            k1 = (n + x.size - pos - 1) // U + 1
            log = np.empty((cap, _lay.NLOG))
            done, nlog = self._kernel.track(x[pos:], out[pos:], self._knots(k0, k1), k0, self._pre,
                                            st, ist, self._acc, log)
            if nlog:
                self._logs.append(log[:nlog].copy())
                self._n_logged += nlog
            if ist[_lay.I_MODE] == _lay.HOLD and done:
                self._acq_buf.append(out[pos:pos + done].copy())
            pos += done
            if ist[_lay.I_LOST]:
                ist[_lay.I_LOST] = 0
                self._acq_start = int(ist[_lay.I_N])
                self._acq_buf = []
                ist[_lay.I_STOP] = self._acq_start + self._acq_len
            elif ist[_lay.I_MODE] == _lay.HOLD and ist[_lay.I_N] == ist[_lay.I_STOP]:
                self._acquire()
        return out

    def skip_to(self, n_new: int, next_preamble: float | None = None, *, reacquire: bool = False) -> None:
        """Carry the tracker across a gap in the received stream to absolute sample ``n_new``.

        For burst-mode receivers (the experiment runner sends a burst every second or so of a pass).
        The NCO phase keeps integrating the predicted + loop frequency and rates over the gap, the loop
        frequency moves with its rate, and the ephemeris prediction is re-read at ``n_new``. While
        tracking, the next preamble window is placed at ``next_preamble`` (absolute sample index, e.g.
        from the receiver's delay prediction) or the loop's own next-frame estimate; while acquiring (or
        with ``reacquire=True``) a new acquisition window opens at ``n_new``. The Kalman covariance grows
        over the gap by itself (its prediction step uses the distance between measurements).
        """
        st, ist = self._st, self._ist
        n = int(ist[_lay.I_N])
        g = int(n_new) - n
        if g < 0:
            raise ConfigError.bad_value("n_new", n_new, f">= the tracker's next sample ({n})")
        if g == 0 and next_preamble is None and not reacquire:
            return
        f0 = st[_lay.PF] + st[_lay.LF]
        r = st[_lay.PR] + st[_lay.LR]
        # Same phase recurrence as the kernel: phi += f; f += r, summed in closed form (wrapped terms).
        st[_lay.PH] = math.fmod(st[_lay.PH] + math.fmod(f0 * g, 1.0) + math.fmod(r * (g * (g - 1.0) / 2.0), 1.0), 1.0)
        st[_lay.LF] += st[_lay.LR] * g
        U = self.knot_interval
        k = int(n_new) // U
        kn = self._knots(k, k + 1)
        st[_lay.PR] = (kn[1] - kn[0]) / U
        st[_lay.PF] = kn[0] + (int(n_new) - k * U) * st[_lay.PR]
        ist[_lay.I_N] = int(n_new)
        self._acc[:] = 0
        st[_lay.EN] = 0.0
        if reacquire:
            ist[_lay.I_MODE] = _lay.HOLD
            ist[_lay.I_MISS] = 0
        if ist[_lay.I_MODE] == _lay.TRACK:
            nxt = float(next_preamble) if next_preamble is not None else st[_lay.NEXT]
            while math.floor(nxt) < n_new:
                nxt += st[_lay.PERIOD]
            st[_lay.NEXT] = nxt
            ist[_lay.I_WIN] = int(math.floor(nxt))
        else:
            self._acq_start = int(n_new)
            self._acq_buf = []
            ist[_lay.I_STOP] = int(n_new) + self._acq_len

    # -- state -------------------------------------------------------------------------------
    @property
    def frequency(self) -> float:
        """Estimated Doppler (Hz) at the next sample: predicted + loop."""
        return float((self._st[_lay.PF] + self._st[_lay.LF]) * self.sample_rate)

    @property
    def rate(self) -> float:
        """Estimated Doppler rate (Hz/s): predicted + loop."""
        return float((self._st[_lay.PR] + self._st[_lay.LR]) * self.sample_rate**2)

    @property
    def residual_frequency(self) -> float:
        """The loop's part of the estimate (Hz): what the prediction missed."""
        return float(self._st[_lay.LF] * self.sample_rate)

    @property
    def locked(self) -> bool:
        """True while tracking and the last preamble was coherent."""
        return bool(self._ist[_lay.I_MODE] == _lay.TRACK and self._ist[_lay.I_LOCK])

    @property
    def acquiring(self) -> bool:
        return bool(self._ist[_lay.I_MODE] == _lay.HOLD)

    @property
    def next_frame(self) -> float:
        """Expected start (absolute sample index, fractional) of the next preamble while tracking."""
        return float(self._st[_lay.NEXT])

    @property
    def sample_index(self) -> int:
        """Absolute index of the next input sample."""
        return int(self._ist[_lay.I_N])

    @property
    def n_measurements(self) -> int:
        """Rows logged so far (one per preamble window)."""
        return self._n_logged

    def measurements(self, since: int = 0) -> dict[str, np.ndarray]:
        """Per-frame log: ``sample`` (preamble centre, abs index), ``time_s`` (``t0 + sample/fs``),
        ``frequency_hz`` (estimate there), ``loop_hz``, ``rate_hz_s`` (loop rate), ``error_hz`` (measured
        residual, NaN when invalid), ``metric_coherent``, ``metric_noncoherent``, ``preamble_index``
        (estimated start, fractional), ``valid``, ``locked``, ``std_hz`` (filter's frequency std).

        ``since``: only rows from that one on (a streaming caller reads what is new in O(new rows))."""
        if not 0 <= since <= self._n_logged:
            raise ConfigError.bad_value("since", since, f"0 .. {self._n_logged} (the rows logged so far)")
        parts, n = [], self._n_logged
        for blk in reversed(self._logs):  # newest first: a streaming caller only walks the new blocks
            if n <= since:
                break
            parts.append(blk[max(0, since - (n - blk.shape[0])):])
            n -= blk.shape[0]
        rows = np.concatenate(parts[::-1]) if parts else np.zeros((0, _lay.NLOG))
        fs = self.sample_rate
        return {
            "sample": rows[:, _lay.G_CENTRE],
            "time_s": self.t0 + rows[:, _lay.G_CENTRE] / fs,
            "frequency_hz": rows[:, _lay.G_FTOT] * fs,
            "loop_hz": rows[:, _lay.G_LF] * fs,
            "rate_hz_s": rows[:, _lay.G_LR] * fs**2,
            "error_hz": rows[:, _lay.G_NU] * fs,
            "metric_coherent": rows[:, _lay.G_MCOH],
            "metric_noncoherent": rows[:, _lay.G_MNC],
            "preamble_index": rows[:, _lay.G_POS],
            "valid": rows[:, _lay.G_VALID] > 0,
            "locked": rows[:, _lay.G_LOCK] > 0,
            "std_hz": np.sqrt(np.maximum(rows[:, _lay.G_VAR], 0.0)) * fs,
        }

    def __repr__(self):
        state = "acquiring" if self.acquiring else ("locked" if self.locked else "tracking (unlocked)")
        return (f"DopplerTracker(mode={self.mode!r}, fs={self.sample_rate:g} Hz, fc={self.carrier_hz:g} Hz, "
                f"frame_period={self.frame_period}, {self.preamble!r}, loop_bandwidth={self.loop_bandwidth_hz:g} Hz, "
                f"state={state}, frequency={self.frequency:.6g} Hz, rate={self.rate:.6g} Hz/s, "
                f"acquisitions={len(self.acquisitions)}, kernel={self._kernel.__name__})")


# ---------------------------------------------------------------------------------------------------
# Reference models for tests and benchmarks
# ---------------------------------------------------------------------------------------------------
class LeoPassModel:
    """Analytic zenith pass of a circular orbit over a spherical, non-rotating Earth.

    Same method names as ``hil.orbit.DelayTrack``: ``delay(t)`` (s), ``delay_rate(t)`` (s/s),
    ``doppler(t, fc)`` (Hz), ``doppler_rate(t, fc)`` (Hz/s), ``elevation(t)`` (deg); ``t`` in s with
    the culmination (zenith) at ``t_zenith``. 550 km: delay 1.835 ms at zenith, 6.05 ms at 10 deg
    elevation (6.4 ms at 8.5 deg); Doppler rate at zenith -643 Hz/s at 2 GHz; |Doppler| 22.9 ppm at 10 deg.
    """

    MU_EARTH = 3.986004418e14  # m^3/s^2

    def __init__(self, altitude_m: float = 550e3, earth_radius_m: float = 6_371_000.0, t_zenith: float = 0.0):
        self.altitude_m = float(check_range("altitude_m", altitude_m, lo=1e5, hi=5e7, unit="m"))
        self.earth_radius_m = float(check_range("earth_radius_m", earth_radius_m, lo=1e6, unit="m"))
        self.t_zenith = float(t_zenith)
        self._rs = self.earth_radius_m + self.altitude_m
        self.omega = math.sqrt(self.MU_EARTH / self._rs**3)  # rad/s

    def _geom(self, t):
        th = self.omega * (np.asarray(t, dtype=np.float64) - self.t_zenith)
        re, rs, w = self.earth_radius_m, self._rs, self.omega
        # rho^2 = h^2 + 4 Re Rs sin^2(th/2): no cancellation near zenith
        rho = np.sqrt(self.altitude_m**2 + 4 * re * rs * np.sin(th / 2) ** 2)
        rdot = re * rs * w * np.sin(th) / rho
        rddot = (re * rs * w**2 * np.cos(th) - rdot**2) / rho
        return th, rho, rdot, rddot

    def delay(self, t):
        return self._geom(t)[1] / SPEED_OF_LIGHT

    def delay_rate(self, t):
        return self._geom(t)[2] / SPEED_OF_LIGHT

    def doppler(self, t, fc):
        return -fc * self._geom(t)[2] / SPEED_OF_LIGHT

    def doppler_rate(self, t, fc):
        return -fc * self._geom(t)[3] / SPEED_OF_LIGHT

    def elevation(self, t):
        th, rho, _, _ = self._geom(t)
        return np.degrees(np.arcsin((self._rs * np.cos(th) - self.earth_radius_m) / rho))

    def time_at_elevation(self, elevation_deg: float) -> float:
        """Time after culmination (s, > 0) at which the elevation falls to ``elevation_deg``."""
        check_range("elevation_deg", elevation_deg, lo=0.0, hi=89.999, unit="deg")
        el = math.radians(elevation_deg)
        # central angle from the ground point to the satellite at elevation el
        th = math.acos(self.earth_radius_m * math.cos(el) / self._rs) - el
        return self.t_zenith + th / self.omega

    def __repr__(self):
        return f"LeoPassModel(altitude={self.altitude_m:g} m, period={2 * math.pi / self.omega:.1f} s)"


@dataclass(frozen=True)
class EphemerisError:
    """Error model of a predicted Doppler: ``f_pred(t) = f(t + time_shift_s) + offset_hz + drift_hz_per_s t``.

    ``time_shift_s`` models an along-track position error (the dominant error of an old TLE):
    ``shift = along_track_error / v``; it gives ``Doppler_rate x shift``, largest at culmination.
    :meth:`stale_tle` gives the numbers used in the tests.
    """

    offset_hz: float = 0.0
    drift_hz_per_s: float = 0.0
    time_shift_s: float = 0.0

    @classmethod
    def stale_tle(cls, carrier_hz: float, along_track_m: float = 3000.0, speed_mps: float = 7590.0,
                  offset_ppm: float = 0.05, drift_ppm_per_s: float = 0.001) -> EphemerisError:
        """A TLE a few days old: 3 km along-track (0.40 s), plus 0.05 ppm offset (position/oscillator)
        and 0.001 ppm/s drift. At 2 GHz: 100 Hz + 2 Hz/s + (0.40 s x up to 643 Hz/s = 254 Hz)."""
        return cls(offset_hz=offset_ppm * 1e-6 * carrier_hz, drift_hz_per_s=drift_ppm_per_s * 1e-6 * carrier_hz,
                   time_shift_s=along_track_m / speed_mps)

    def apply(self, doppler, t_ref: float = 0.0):
        """Wrap ``doppler(t) -> Hz`` into the erroneous prediction (drift counted from ``t_ref``)."""
        def predict(t):
            t = np.asarray(t, dtype=np.float64)
            return doppler(t + self.time_shift_s) + self.offset_hz + self.drift_hz_per_s * (t - t_ref)
        return predict


def render_frames(frames, sample_rate: float, carrier_hz: float, delay, n_out: int, *, t0: float = 0.0,
                  frame_period: int | None = None, pad: int = 64, tx_start: float | None = None,
                  first_frame: int = 0) -> np.ndarray:
    """Receive-side samples of frames sent back to back through a propagation delay ``delay(t)`` (s).

    Frame ``k`` (``frames[k - first_frame]``) leaves at ``tx_start + k P / fs`` (``tx_start`` defaults to
    ``t0``, the time of output sample 0; the two apart let a long stream be rendered in pieces) and arrives at
    ``t_a`` with ``t_a - delay(t_a) = t_tx`` (solved by fixed-point iteration); it is placed there with a
    band-limited (FFT) fractional shift that is constant over the frame (the time compression inside
    one frame, <= 24 ppm of its length, is neglected), and every output sample ``n`` is multiplied by
    the carrier term ``exp(-j 2 pi fc delay(t0 + n/fs))``, which carries the exact Doppler and rate.

    frames : 2-D array (n_frames, frame_len) or list of 1-D arrays; n_out: output length (samples).
    Returns complex64 of length ``n_out`` (zeros where nothing has arrived).
    """
    fs = float(check_range("sample_rate", sample_rate, lo=1.0, unit="Hz"))
    conv: dict[int, np.ndarray] = {}  # a frame repeated as the same object is converted (and transformed) once
    frames = [conv.setdefault(id(f), np.asarray(f, dtype=np.complex128)) for f in frames]
    if not frames:
        raise ConfigError.bad_value("frames", "[]", "at least one frame")
    period = max(f.size for f in frames) if frame_period is None else int(frame_period)
    flen = max(f.size for f in frames)
    out = np.zeros(int(n_out) + 2 * pad, np.complex128)
    t_tx = (t0 if tx_start is None else float(tx_start)) + (first_frame + np.arange(len(frames))) * period / fs
    t_a = t_tx + np.asarray(delay(t_tx), dtype=np.float64)
    for _ in range(4):
        t_a = t_tx + np.asarray(delay(t_a), dtype=np.float64)
    a = (t_a - t0) * fs
    start = np.floor(a).astype(np.int64)
    frac = a - start
    nfft = 1 << int(math.ceil(math.log2(flen + 2 * pad)))
    f = np.fft.fftfreq(nfft)
    keep = np.flatnonzero((start - pad < n_out) & (start + nfft > 0))
    cache: dict[int, np.ndarray] = {}
    for blk in np.array_split(keep, max(1, keep.size // 128)):
        if blk.size == 0:
            continue
        spec = np.empty((blk.size, nfft), np.complex128)
        for r, k in enumerate(blk):
            key = id(frames[k])
            if key not in cache:  # the same frame object is transformed once
                buf = np.zeros(nfft, np.complex128)
                buf[pad:pad + frames[k].size] = frames[k]
                cache[key] = np.fft.fft(buf)
            spec[r] = cache[key]
        shifted = np.fft.ifft(spec * np.exp(-2j * np.pi * np.outer(frac[blk], f)), axis=1)
        for r, k in enumerate(blk):
            lo = int(start[k])  # index in `out` of shifted[r, 0] (`out` has `pad` extra samples in front)
            s0, s1 = max(0, lo), min(out.size, lo + nfft)
            if s1 > s0:
                out[s0:s1] += shifted[r, s0 - lo:s1 - lo]
    y = out[pad:pad + int(n_out)]
    t = t0 + np.arange(int(n_out)) / fs
    cyc = np.mod(carrier_hz * np.asarray(delay(t), dtype=np.float64), 1.0)
    return (y * np.exp(-2j * np.pi * cyc)).astype(np.complex64)
