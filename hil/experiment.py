"""The experiment runner behind ``hil run`` and ``hil demo``: fly a satellite pass over the bench.

What one run does (docs/experiments.md has the full story and the honest limits):

1. **Geometry** (:func:`build_pass`): the scenario's constellation or TLE file, satellite and ground
   point give a :class:`hil.orbit.DelayTrack` (SGP4, cubic Hermite between knots) over the chosen pass,
   wrapped as a :class:`hil.emulator.trajectory.OrbitTrajectory`; with ``start: handover`` the serving
   satellite (highest elevation, :func:`hil.orbit.serving_sequence`) changes during the run and the
   pieces form a :class:`~hil.emulator.trajectory.HandoverTrajectory`. The link budget
   (:class:`hil.orbit.LinkBudget`) gives Es/N0 over the pass.
2. **Bursts**: streaming every sample of a 10-minute pass is too slow for a demo, so the transmitter
   sends a burst of ``frames.per_burst`` frames (each: the shared :class:`dsp.sync.Preamble` + one frame
   of the waveform, oversampled ``frames.oversample`` times) every ``frames.interval_s`` of pass time,
   on one absolute sample grid (the clock is the sample count). Each burst goes through
   :class:`dsp.delay.ChannelStream` - the emulator's delay line - with the *continuous* ``tau(t)`` of
   its own samples: ``r(t) = a(t) x(t - tau(t)) exp(-j 2 pi fc tau(t)) + n(t)``, so Doppler, Doppler rate
   and time compression all follow from the ephemeris. The samples then pass through the backend's
   Radio (the loopback mock by default).
3. **Receiver**: :class:`dsp.tracking.DopplerTracker` (ephemeris pre-compensation from the terminal's
   own, erroneous, ephemeris, or blind acquisition; closed-loop Kalman FLL) runs on a receive window
   around each burst; between bursts its state is carried over the gap (the NCO, the loop frequency
   predicted with its rate, the next preamble position predicted from the delay and Doppler
   estimates). Mode ``none`` only detects preambles (timing) and corrects no Doppler. Per frame the
   fractional timing is refined on the corrected preamble (:func:`dsp.sync.fractional_timing`), the
   frame is resampled and equalised with the preamble's complex gain (one tap: the satellite channel
   is a single line-of-sight path) and demodulated.
4. **Record** per frame: time, elevation, range, path loss, SNR, true vs estimated delay and Doppler,
   tracking residual, bits, bit errors, synced flag -> :func:`hil.report.write_report`.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

from hil.errors import ConfigError, DeviceError, HILError
from hil.report import WaveformRun, write_report
from hil.scenario import Scenario, TrackingConfig

__all__ = ["PassModel", "build_pass", "run_waveform", "run_scenario", "ExperimentResult", "C_MPS",
           "KM_PER_DAY_TLE_AGE"]

C_MPS = 299_792_458.0
#: along-track error growth assumed per day of TLE age (m/day); SGP4 grows ~1-3 km/day for LEO
KM_PER_DAY_TLE_AGE = 2000.0
_MARGIN = 96  # receive-window margin around the predicted burst arrival (samples)
_BLIND_MAX_GAP_S = 20.0  # a blind receiver extrapolates its delay over at most this gap, else re-acquires


# ---------------------------------------------------------------------------------------- geometry
class _Shifted:
    """A trajectory seen ``shift`` seconds ahead: ``delay(t) = trajectory.delay(t + shift)`` (an along-track
    position error of ``shift`` times the orbital speed)."""

    def __init__(self, trajectory, shift: float):
        self.trajectory = trajectory
        self.shift = float(shift)

    def delay(self, t):
        return self.trajectory.delay(np.asarray(t, dtype=np.float64) + self.shift)

    def delay_rate(self, t):
        return self.trajectory.delay_rate(np.asarray(t, dtype=np.float64) + self.shift)


class _Prediction:
    """The terminal's own ephemeris: the true trajectory shifted in time (along-track error) plus a
    frequency offset and drift - what an aged TLE and a free-running oscillator give. With a handover
    the switch times are the network's schedule (true), each satellite's track is shifted."""

    def __init__(self, trajectory, carrier_hz: float, time_shift_s: float, offset_hz: float, drift_hz_s: float,
                 t_ref: float):
        self.trajectory = trajectory
        self.carrier_hz = float(carrier_hz)
        self.time_shift_s = float(time_shift_s)
        self.offset_hz = float(offset_hz)
        self.drift_hz_s = float(drift_hz_s)
        self.t_ref = float(t_ref)

    def doppler(self, t):
        t = np.asarray(t, dtype=np.float64)
        f = -self.carrier_hz * np.asarray(self.trajectory.delay_rate(t + self.time_shift_s))
        return f + self.offset_hz + self.drift_hz_s * (t - self.t_ref)

    def delay(self, t):
        return np.asarray(self.trajectory.delay(np.asarray(t, dtype=np.float64) + self.time_shift_s))

    def __repr__(self):
        return (f"EphemerisPrediction(time_shift={self.time_shift_s:g} s, offset={self.offset_hz:g} Hz, "
                f"drift={self.drift_hz_s:g} Hz/s)")


@dataclass
class PassModel:
    """Everything the runner needs to know about the pass (times in s since ``epoch``).

    ``trajectory``: the truth (delay, delay_rate, elevation, visible, path_loss_db, discontinuities);
    ``snr_db(t)``: Es/N0 the channel imposes; ``serving(t)``: serving satellite index (handover runs);
    ``prediction``: the terminal's ephemeris (used in ephemeris mode) with delay(t) and doppler(t).
    """

    trajectory: object
    t_start: float
    t_end: float
    carrier_hz: float
    snr_db: object
    path_loss_db: object
    prediction: _Prediction
    delay_range_s: tuple[float, float]
    epoch: object = None
    serving: object = None
    info: dict = field(default_factory=dict)

    def doppler(self, t):
        return -self.carrier_hz * np.asarray(self.trajectory.delay_rate(t))


def _ground(sc: Scenario):
    from hil.orbit import GroundStation

    g = sc.orbit.ground
    return GroundStation(g.lat_deg, g.lon_deg, g.alt_m)


def _constellation(sc: Scenario, base_dir: str | None):
    from hil.orbit import PRESETS, load_constellation

    spec = sc.orbit.constellation
    if spec not in PRESETS and not os.path.isabs(spec) and base_dir:
        cand = os.path.join(base_dir, spec)
        if os.path.exists(cand):
            spec = cand
    return load_constellation(spec)  # Walker presets: their own element epoch, not the scenario's


def _pick_satellite(cons, which):
    if isinstance(which, str):
        return cons.index(which)
    n = len(cons)
    if not -n <= which < n:
        raise ConfigError.bad_value("orbit.satellite", which, f"an index -{n}..{n - 1} or a satellite name")
    return which % n


def _budget(sc: Scenario, bandwidth_hz: float):
    from hil.orbit import LinkBudget

    lk = sc.link
    over = {k: getattr(lk, k) for k in ("tx_power_dbw", "tx_gain_dbi", "rx_gain_dbi", "noise_figure_db",
                                         "antenna_temperature_k") if getattr(lk, k) is not None}
    over.update(fc_hz=sc.carrier_hz, bandwidth_hz=lk.bandwidth_hz or bandwidth_hz, gases=lk.gases,
                extra_loss_db=lk.extra_loss_db)
    if lk.preset == "seed-downlink":
        return LinkBudget.seed_downlink(**over)
    over.setdefault("tx_power_dbw", 0.0)
    return LinkBudget(**over)


def _orbital_speed(sat) -> float:
    """Mean orbital speed (m/s) from the SGP4 mean motion."""
    mu = 3.986004418e14
    n = sat.satrec.no_kozai / 60.0  # rad/s
    a = (mu / n**2) ** (1.0 / 3.0)
    return math.sqrt(mu / a)


def build_pass(sc: Scenario, base_dir: str | None = None) -> PassModel:
    """Geometry, link budget and the terminal's ephemeris prediction for the scenario (see module doc)."""
    from hil.emulator.trajectory import HandoverTrajectory, OrbitTrajectory
    from hil.orbit import find_passes, make_track, serving_sequence

    oc = sc.orbit
    ground = _ground(sc)
    cons = _constellation(sc, base_dir)
    fc = sc.carrier_hz
    budget = _budget(sc, sc.sample_rate_hz / sc.frames.oversample)
    err = sc.tracking.ephemeris_error
    along = err.along_track_m + KM_PER_DAY_TLE_AGE * err.tle_age_days
    pad = 5.0 + abs(along) / 5000.0  # track margin so the shifted prediction stays inside it
    info: dict = {"ground": str(ground), "constellation": getattr(cons, "name", "") or oc.constellation}
    serving_fn = None
    if oc.start == "handover":
        win = min(oc.search_s, 7200.0)
        seq = serving_sequence(cons, ground, sc.epoch, win, step_s=1.0, mask_deg=oc.mask_deg)
        hos = [h for h in seq.handovers() if h[1] >= 0 and h[2] >= 0]
        if not hos:
            raise ConfigError.bad_value("orbit.start", "handover",
                                        f"a window with a change of serving satellite (none in {win:g} s "
                                        "after the epoch; raise orbit.search_s or move the epoch)")
        t_ho, _, _ = hos[0]
        t_start = t_ho - sc.duration_s / 2 + oc.offset_s
        t_end = t_start + sc.duration_s
        s = seq.serving[0]
        k0 = int(np.searchsorted(seq.t_s, t_start, side="right")) - 1
        k1 = int(np.searchsorted(seq.t_s, t_end, side="right"))
        idx = [int(x) for x in s[max(k0, 0):k1]]
        times = [float(x) for x in seq.t_s[max(k0, 0):k1]]
        pieces, sats = [], []
        for t, i in zip(times, idx):
            if i < 0:
                raise ConfigError.bad_value("orbit", f"no satellite above the mask at t = {t:g} s",
                                            "continuous coverage over the handover window")
            if not sats or sats[-1] != i:
                sats.append(i)
                pieces.append((max(t, t_start - pad), i))
        trajs = []
        for j, (t, i) in enumerate(pieces):
            t_next = pieces[j + 1][0] if j + 1 < len(pieces) else t_end + pad
            tr = make_track(cons[i], ground, sc.epoch, (t_next - t) + 2 * pad, oc.knot_step_s, start_s=t - pad,
                            mask_deg=oc.mask_deg - 5.0)
            trajs.append((t if j else t_start - pad, OrbitTrajectory(tr, fc, budget=budget)))
        trajectory = HandoverTrajectory(trajs) if len(trajs) > 1 else trajs[0][1]
        def predicted(sh, trajs=trajs):
            if len(trajs) == 1:
                return _Shifted(trajs[0][1], sh)
            return HandoverTrajectory([(t, _Shifted(tr, sh)) for t, tr in trajs])

        starts = np.array([t for t, _ in trajs])

        def serving_fn(t, starts=starts, sats=tuple(sats)):
            k = np.clip(np.searchsorted(starts, np.asarray(t, float), side="right") - 1, 0, len(sats) - 1)
            return np.asarray(sats)[k]

        speed = _orbital_speed(cons[sats[0]])
        info.update(satellites=[cons[i].name for i in sats], handovers_s=[p[0] for p in pieces[1:]])
    else:
        si = _pick_satellite(cons, oc.satellite)
        sat = cons[si]
        if oc.start == "next-pass":
            passes = find_passes(sat, ground, sc.epoch, oc.search_s, mask_deg=oc.mask_deg)
            passes = [p for p in passes if not p.aos_clipped]
            if not passes:
                raise ConfigError.bad_value("orbit.search_s", oc.search_s,
                                            f"a window holding a pass of {sat.name} above {oc.mask_deg:g} deg "
                                            "(none found; raise search_s or move the epoch)")
            p = passes[0] if oc.select == "first" else max(passes, key=lambda q: q.max_elevation_deg)
            t_start = p.aos_s + oc.offset_s
            t_end = min(t_start + sc.duration_s, p.los_s)
            if t_end - t_start < 1.0:
                raise ConfigError.bad_value("orbit.offset_s", oc.offset_s,
                                            f"an offset inside the pass (AOS..LOS = {p.duration_s:.0f} s)")
            info.update(pass_aos_s=p.aos_s, pass_tca_s=p.tca_s, pass_los_s=p.los_s,
                        max_elevation_deg=p.max_elevation_deg)
        else:
            t_start = oc.offset_s
            t_end = t_start + sc.duration_s
        tr = make_track(sat, ground, sc.epoch, (t_end - t_start) + 2 * pad, oc.knot_step_s, start_s=t_start - pad,
                        mask_deg=oc.mask_deg)
        trajectory = OrbitTrajectory(tr, fc, budget=budget)
        def predicted(sh, trajectory=trajectory):
            return _Shifted(trajectory, sh)

        speed = _orbital_speed(sat)
        info.update(satellites=[sat.name])
    shift = along / speed
    pred = _Prediction(predicted(shift), fc, 0.0, err.offset_ppm * 1e-6 * fc, err.drift_ppm_per_s * 1e-6 * fc,
                       t_start)

    def path_loss(t, trajectory=trajectory):
        return np.asarray(trajectory.path_loss_db(t), dtype=float)

    if sc.link.snr_db is not None:
        snr_const = float(sc.link.snr_db)

        def snr_fn(t):
            return np.full(np.shape(t), snr_const) if np.ndim(t) else snr_const
    else:
        # Es/N0 = received power - noise over the signal bandwidth; the budget's own terms.
        ref_r, ref_el = 1e6, 45.0
        const = float(budget.snr_db(ref_r, ref_el) + budget.path_loss_db(ref_r, ref_el))

        def snr_fn(t, trajectory=trajectory, const=const):
            return const - np.asarray(trajectory.path_loss_db(t), dtype=float)

    tt = np.linspace(t_start, t_end, 257)
    d = np.asarray(trajectory.delay(tt))
    info.update(budget=repr(budget), ephemeris_time_shift_s=shift, along_track_error_m=along,
                t_start_s=t_start, t_end_s=t_end)
    from hil.orbit import as_epoch

    return PassModel(trajectory=trajectory, t_start=float(t_start), t_end=float(t_end), carrier_hz=fc,
                     snr_db=snr_fn, path_loss_db=path_loss, prediction=pred,
                     delay_range_s=(float(d.min()), float(d.max())), epoch=as_epoch(sc.epoch),
                     serving=serving_fn, info=info)


class _ChannelProfile:
    """A trajectory as a :class:`dsp.delay.DelayProfile` whose gain makes Es/N0 = ``snr_db(t)`` against
    noise of power ``oversample * 10**(-snr_ref/10)`` per sample (the waveform's band is 1/oversample)."""

    def __init__(self, trajectory, snr_db, snr_ref_db: float):
        self.trajectory = trajectory
        self._snr = snr_db
        self.snr_ref_db = float(snr_ref_db)

    def delay(self, t):
        return self.trajectory.delay(t)

    def delay_rate(self, t):
        return self.trajectory.delay_rate(t)

    def gain_db(self, t):
        return np.asarray(self._snr(t), dtype=float) - self.snr_ref_db

    def visible(self, t):
        return self.trajectory.visible(t)

    def discontinuities(self, t0, t1):
        f = getattr(self.trajectory, "discontinuities", None)
        return f(t0, t1) if callable(f) else []


# ---------------------------------------------------------------------------------------- radio link
class _RadioPath:
    """Moves a receive window through the backend's Radio: written right after what was sent before and
    read back, with the radio's own TX->RX latency (known for the mocks) dropped. ``mock``: the in-process
    loopback returns the window unchanged; ``mock-zmq``: it crosses the ZeroMQ channel emulator (framed
    wire) on an identity link. Samples are scaled into +-0.5 full scale for the radio and back after."""

    def __init__(self, backend, sample_rate: float, carrier_hz: float):
        from hil.backends import make_radio

        self.kind = backend.kind
        self.radio = make_radio(backend.kind, backend.profile, backend.uri)
        try:
            self.radio.open()
            self.radio.configure(sample_rate=sample_rate, rx_frequency=carrier_hz, tx_frequency=carrier_hz)
            self.radio.start()
        except BaseException:
            self.radio.close()
            raise
        lat = getattr(self.radio, "latency", 0) if backend.kind in ("mock", "mock-zmq") else None
        if backend.kind in ("mock", "mock-zmq") and not isinstance(lat, (int, np.integer)):
            lat = 0
        # hardware: the TX->RX latency is unknown here (hil calibrate measures it); it adds to the delay
        self._lead = int(lat) if lat is not None else 0

    def transfer(self, x: np.ndarray) -> np.ndarray:
        peak = float(max(np.max(np.abs(x.real)), np.max(np.abs(x.imag)), 1e-30))
        scale = 0.5 / peak
        r = self.radio
        r.write((x * scale).astype(np.complex64), end_burst=True)
        out = []
        need = x.size + self._lead
        while need > 0:
            y, _meta = r.read(int(min(need, 1 << 20)))
            out.append(y)
            need -= y.size
        y = np.concatenate(out)[self._lead:self._lead + x.size]
        return (y / scale).astype(np.complex64)

    def close(self):
        try:
            self.radio.stop()
        except HILError:
            pass
        self.radio.close()


# ---------------------------------------------------------------------------------------- DSP helpers
def _upsample(frames: np.ndarray, os_: int) -> np.ndarray:
    """Band-limited (FFT) interpolation of each row by ``os_``; amplitude (and power) preserved."""
    if os_ == 1:
        return frames.astype(np.complex64)
    F = frames.shape[-1]
    X = np.fft.fft(frames, axis=-1)
    Y = np.zeros(frames.shape[:-1] + (F * os_,), np.complex128)
    h = (F + 1) // 2
    Y[..., :h] = X[..., :h]
    Y[..., -(F - h):] = X[..., h:]
    return (np.fft.ifft(Y, axis=-1) * os_).astype(np.complex64)


def _downsample(y: np.ndarray, os_: int, advance: float) -> np.ndarray:
    """Inverse of :func:`_upsample` with a fractional timing correction: ``y`` is advanced by ``advance``
    samples (of the radio rate) before the band-limited decimation."""
    n = y.size
    F = n // os_
    f = np.fft.fftfreq(n)
    Y = np.fft.fft(y) * np.exp(2j * np.pi * f * advance)
    h = (F + 1) // 2
    X = np.concatenate([Y[:h], Y[-(F - h):]]) if os_ > 1 else Y
    return np.fft.ifft(X) / os_


def _sinc(x):
    return float(np.sinc(x))


# ---------------------------------------------------------------------------------------- one waveform
def run_waveform(sc: Scenario, wf, pm: PassModel, mode: str, *, name: str | None = None, progress=None,
                 max_bursts: int | None = None, tracking: TrackingConfig | None = None) -> WaveformRun:
    """Fly the pass with one waveform and one tracking mode; returns its per-frame columns.

    ``progress``: optional tqdm-like bar (``total`` grows by this run's bursts, ``update(1)`` per burst).
    """
    from dsp.delay import ChannelStream
    from dsp.sync import Preamble, PreambleDetector, fractional_timing
    from dsp.tracking import DopplerTracker
    from dsp.waveforms import make_modem
    from hil.errors import check_choice
    from hil.scenario import TRACKING_MODES

    check_choice("mode", mode, TRACKING_MODES)
    tc = tracking or sc.tracking
    fs, fc = sc.sample_rate_hz, sc.carrier_hz
    fr = sc.frames
    os_ = fr.oversample
    modem = make_modem(wf.kind, wf.M, wf.N, wf.qam)
    pre = Preamble(fr.preamble_degree, fr.preamble_repeats)
    Np = pre.length
    p_samples = pre.samples.astype(np.complex128)
    F = modem.frame_length
    P = Np + os_ * F
    K = fr.per_burst
    burst_len = K * P
    bpf = modem.bits_per_frame
    seed = sc.seed
    rng_bits = np.random.default_rng([seed, 1, len(wf.kind), wf.M, wf.N])
    rng_noise = np.random.default_rng([seed, 2, wf.M, wf.N])
    d_lo_s, d_hi_s = pm.delay_range_s
    span = pm.t_end - pm.t_start - d_hi_s - burst_len / fs
    if span <= 0:
        raise ConfigError.bad_value("duration_s", sc.duration_s, f"> {burst_len / fs + d_hi_s:.3g} s (one burst)")
    interval = fr.interval_s
    n_b = int(math.floor(span / interval)) + 1
    cap = max_bursts if max_bursts is not None else (fr.max_bursts or None)
    if cap and n_b > cap:
        n_b = cap
        interval = span / max(cap - 1, 1)
    k_burst = [int(round(b * interval * fs)) for b in range(n_b)]
    if progress is not None:
        progress.total = (progress.total or 0) + n_b
        progress.refresh()
    t_ref = pm.t_start
    # Es/N0 reference for the noise floor: the best SNR of the pass (signal gain <= 0 dB elsewhere)
    tt = t_ref + np.array(k_burst) / fs
    snr_ref = float(np.max(pm.snr_db(tt)))
    noise_power = os_ * 10 ** (-snr_ref / 10)
    profile = _ChannelProfile(pm.trajectory, pm.snr_db, snr_ref)
    max_delay = d_hi_s + 0.002
    radio = _RadioPath(sc.backend, fs, fc)
    tracker = None
    if mode in ("ephemeris", "blind"):
        kw = dict(mode=mode, t0=t_ref, max_misses=tc.max_misses)
        if mode == "ephemeris":
            kw["predict"] = pm.prediction.doppler
        if tc.loop_bandwidth_hz is not None:
            kw["loop_bandwidth_hz"] = tc.loop_bandwidth_hz
        tracker = DopplerTracker(fs, fc, pre, P, **kw)
    cols: dict[str, list] = {c: [] for c in (
        "t_s", "elevation_deg", "range_m", "path_loss_db", "snr_db", "delay_true_s", "delay_est_s",
        "doppler_true_hz", "doppler_est_hz", "tracking_residual_hz", "bits", "bit_errors", "synced", "satellite",
        "burst")}
    snap = None
    snap_score = -1e9
    last = None  # (preamble position, tx index) of the last good measurement
    n_log_seen = 0
    n_acq_seen = 0
    t_first_sync = None
    notes = []
    d_lo, d_hi = d_lo_s * fs, d_hi_s * fs
    try:
        for b, kb in enumerate(k_burst):
            # --- transmitter: K frames of random bits, preamble + oversampled frame each
            bits = rng_bits.integers(0, 2, size=(K, bpf), dtype=np.uint8)
            frames = _upsample(np.asarray(modem.modulate(bits), dtype=np.complex128).reshape(K, F), os_)
            burst = np.concatenate([np.concatenate([pre.samples, frames[j]]) for j in range(K)])
            tx_idx = [kb + j * P for j in range(K)]
            # --- truth (for the metrics, and the frame counter a header would carry)
            t_tx = t_ref + np.array(tx_idx) / fs
            t_a = t_tx + np.asarray(pm.trajectory.delay(t_tx))
            for _ in range(3):
                t_a = t_tx + np.asarray(pm.trajectory.delay(t_a))
            d_true = (t_a - t_tx)

            def frame_of(pos, kb=kb, d_true=d_true, tx_idx=tx_idx):
                j = int(round((pos - kb - d_true[0] * fs) / P))
                ok = 0 <= j < K and abs(pos - (tx_idx[j] + d_true[j] * fs)) < 2.5
                return j if ok else None

            # --- receive window: where the receiver expects the burst
            gap = (kb - last[1]) / fs if last is not None else math.inf
            tracking_now = tracker is not None and not tracker.acquiring and last is not None
            if tracking_now and mode == "ephemeris":
                # delay change over the gap from the terminal's ephemeris (handovers included)
                # (the shape - handovers included), corrected by the loop's measured frequency residual
                pos_l, tx_l = last
                t_l = t_ref + pos_l / fs
                d_pred = (pos_l - tx_l) + fs * float(pm.prediction.delay(t_ref + (kb + pos_l - tx_l) / fs)
                                                     - pm.prediction.delay(t_l))
                d_pred -= tracker.residual_frequency / fc * (kb - tx_l)
                lo, hi = d_pred - _MARGIN, d_pred + _MARGIN
                next_pre = kb + d_pred
            elif tracking_now and gap <= _BLIND_MAX_GAP_S:
                # blind: extrapolate the delay with the tracked Doppler and Doppler rate
                pos_l, tx_l = last
                dn = kb - tx_l
                f_hat, r_hat = tracker.frequency, tracker.rate
                d_pred = (pos_l - tx_l) - (f_hat / fc) * dn - 0.5 * (r_hat / fc) * dn * dn / fs
                lo, hi = d_pred - _MARGIN, d_pred + _MARGIN
                next_pre = kb + d_pred
            elif mode == "ephemeris":
                d_pred = float(pm.prediction.delay(t_ref + kb / fs)) * fs
                lo, hi = d_pred - _MARGIN - 2 * Np, d_pred + _MARGIN
                next_pre = None
            else:
                lo, hi = d_lo - _MARGIN - 2 * Np, d_hi + _MARGIN
                next_pre = None
            reacquire = tracker is not None and not tracking_now and not tracker.acquiring
            lo = max(lo, pre.length)  # never before the burst itself could arrive
            w0 = kb + int(math.floor(lo))
            w1 = kb + int(math.ceil(hi)) + burst_len + 4
            if tracker is not None:
                w0 = max(w0, tracker.sample_index)
            # --- channel: the burst through the delay line with the true tau(t) of every sample
            ch = ChannelStream(fs, fc, profile, noise_power=noise_power, rng=rng_noise, epoch=t_ref + kb / fs,
                               max_delay=max_delay)
            x = np.zeros(w1 - kb, np.complex64)
            x[:burst.size] = burst
            rx_full = ch.process(x)
            rx = radio.transfer(rx_full[w0 - kb:])
            # --- receiver
            if tracker is not None:
                tracker.skip_to(w0, next_pre, reacquire=reacquire)
                y = np.zeros_like(rx)
                rows = []
                end = rx.size
                a = 0
                while a < end:
                    step = min(P, end - a)
                    y[a:a + step] = tracker.process(rx[a:a + step])
                    a += step
                    meas = tracker.measurements()
                    new = []
                    for i in range(n_log_seen, meas["sample"].size):
                        if meas["valid"][i]:
                            new.append((float(meas["preamble_index"][i]), float(meas["frequency_hz"][i]), 0.0,
                                        float(meas["error_hz"][i])))
                    n_log_seen = meas["sample"].size
                    for acq_ in tracker.acquisitions[n_acq_seen:]:
                        # the acquisition frame went through the NCO before the offset was known
                        new.append((float(acq_["index"]), float(acq_["frequency_hz"]), float(acq_["cfo_hz"]), 0.0))
                    n_acq_seen = len(tracker.acquisitions)
                    rows += new
                    if new and not tracker.acquiring:
                        # the frame counter tells where the burst ends: stop there (no windows on silence)
                        pos_n = max(r[0] for r in new)
                        j = frame_of(pos_n)
                        if j is not None:
                            end = min(end, max(a, int(math.ceil(pos_n - w0)) + (K - j) * P + 4))
                y = y[:end]
            else:
                y = rx
                det = PreambleDetector(pre, max_cfo=0.5, method="differential")
                # timing only: the detector's CFO serves the timing/gain correlations, not the data
                rows = [(w0 + d.index, 0.0, 0.0, d.cfo * fs) for d in det.process(rx) + det.flush()]
            t_c = t_a + 0.5 * (Np - 1) / fs
            dop_true = -fc * np.asarray(pm.trajectory.delay_rate(t_c))
            el = np.asarray(pm.trajectory.elevation(t_a))
            pl = pm.path_loss_db(t_a)
            snr = np.asarray(pm.snr_db(t_a))
            sat_idx = pm.serving(t_a) if pm.serving is not None else np.zeros(K)
            got = {}
            for pos, f_est, cfo, err in rows:
                j = frame_of(pos)
                if j is not None and j not in got:
                    got[j] = (pos, f_est, cfo, err)
            for j in range(K):
                synced, errs, d_est, f_est = 0, bpf // 2, math.nan, math.nan
                if j in got:
                    pos, f_est, cfo, err = got[j]
                    res = _demodulate(y, w0, pos, p_samples, Np, F, os_, modem, fractional_timing, cfo / fs,
                                      err / fs, pre, always=tracker is None)
                    if res is not None:
                        pos_f, hard, syms = res
                        errs = int(np.count_nonzero(hard != bits[j]))
                        synced = 1
                        d_est = (pos_f - tx_idx[j]) / fs
                        last = (pos_f, tx_idx[j])
                        if t_first_sync is None:
                            t_first_sync = float(t_tx[j])
                        score = float(el[j])
                        if score > snap_score:
                            snap_score, snap = score, syms
                if mode == "none":
                    f_est = 0.0 if synced else math.nan
                cols["t_s"].append(float(t_tx[j]))
                cols["elevation_deg"].append(float(el[j]))
                cols["range_m"].append(float(d_true[j] * C_MPS))
                cols["path_loss_db"].append(float(np.asarray(pl)[j]))
                cols["snr_db"].append(float(snr[j]))
                cols["delay_true_s"].append(float(d_true[j]))
                cols["delay_est_s"].append(d_est)
                cols["doppler_true_hz"].append(float(dop_true[j]))
                cols["doppler_est_hz"].append(f_est)
                cols["tracking_residual_hz"].append(f_est - float(dop_true[j]))
                cols["bits"].append(bpf)
                cols["bit_errors"].append(errs)
                cols["synced"].append(synced)
                cols["satellite"].append(float(np.asarray(sat_idx)[j]))
                cols["burst"].append(b)
            if progress is not None:
                progress.update(1)
    finally:
        radio.close()
    acq = (t_first_sync if t_first_sync is not None else pm.t_end) + tc.settle_s
    if tracker is not None and len(tracker.acquisitions) > 1:
        notes.append(f"{len(tracker.acquisitions)} acquisitions (re-acquired after loss of lock)")
    if t_first_sync is None:
        notes.append("never synchronised")
    notes.append("a lost frame counts half its bits in error")
    run = WaveformRun(name=name or wf.kind, columns={k: np.asarray(v, dtype=float) for k, v in cols.items()},
                      carrier_hz=fc, constellation=snap, reference_points=modem.qam.constellation,
                      acquisition_s=acq, notes=notes)
    run.tracker = tracker  # for tests and benchmarks
    run.modem = modem
    return run


def _demodulate(y, w0, pos, p_samples, Np, F, os_, modem, fractional_timing, cfo: float = 0.0,
                measured: float = 0.0, preamble=None, always: bool = False):
    """Fine timing on the preamble, one-tap equalisation with its complex gain, decimation, demodulation.

    ``cfo`` (cycles/sample) is removed from the whole frame first. ``measured`` (cycles/sample) is an
    offset present on this frame's *preamble* but not on its body - the tracker measures it there and
    corrects the body after it - or, with ``always`` (no tracking), the detector's estimate, used for the
    timing and gain correlations only (the body keeps its offset). It is removed from the preamble when
    ``always`` or when it stands out of its own noise (> 4 sigma, e.g. the first frame after a gap), and
    the phase is carried from the preamble centre to the body start.

    Returns (refined preamble position (absolute, fractional), hard bits, equalised symbols) or None when
    the frame is not wholly inside the window.
    """
    i = int(round(pos)) - w0
    n_body = os_ * F
    if i < 1 or i + Np + n_body + 2 > y.size:
        return None
    seg = y[i - 1:i + Np + n_body + 1].astype(np.complex128)
    if cfo:
        seg = seg * np.exp(-2j * np.pi * cfo * np.arange(seg.size))
    pc = np.conj(p_samples)

    def corr(s):
        return complex(np.dot(s[:Np], pc)), complex(np.dot(s[1:Np + 1], pc)), complex(np.dot(s[2:Np + 2], pc))

    e, p, lt = corr(seg)
    amp = math.sqrt(abs(e) ** 2 + abs(p) ** 2 + abs(lt) ** 2) / Np
    ref = 0.0  # phase (cycles) from the preamble centre to the body start at the preamble's offset
    if measured and math.isfinite(measured) and (always or preamble is not None):
        use = always
        if not use:
            en = float(np.mean(np.abs(seg[1:Np + 1]) ** 2))
            rho = min(max(amp**2 / max(en - amp**2, 1e-12), 1e-3), 1e6)
            L, R = preamble.period, preamble.repeats
            sigma = math.sqrt((1.0 + 1.0 / rho) / ((2 * math.pi * L) ** 2 * L * rho * (R - 1) ** 2))
            use = abs(measured) > 4.0 * sigma
        if use:
            c = 0.5 * (Np - 1)
            n = np.arange(Np + 2)
            e, p, lt = corr(seg[:Np + 2] * np.exp(-2j * np.pi * measured * (n - 1 - c)))
            amp = math.sqrt(abs(e) ** 2 + abs(p) ** 2 + abs(lt) ** 2) / Np
            ref = measured * (Np - c)
    delta = fractional_timing(e, p, lt)
    if abs(delta) > 0.75:
        return None
    g = _sinc(-1 - delta) * e + _sinc(-delta) * p + _sinc(1 - delta) * lt
    if amp <= 0 or g == 0:
        return None
    gain = amp * g / abs(g) * np.exp(2j * np.pi * ref)
    body = seg[1 + Np:1 + Np + n_body]
    z = _downsample(body, os_, delta) / gain
    zc = z.astype(np.complex64)
    hard = np.asarray(modem.demodulate(zc)).ravel()
    grid = np.asarray(modem.demodulate_grid(zc))
    syms = grid[modem.data_mask] if hasattr(modem, "data_mask") else grid.ravel()
    return w0 + i + delta, hard, syms


# ---------------------------------------------------------------------------------------- whole scenario
@dataclass
class ExperimentResult:
    summary: dict
    runs: list
    outdir: str
    seconds: float
    backend_note: str


def backend_note(sc: Scenario) -> str:
    kind = sc.backend.kind
    if kind == "mock":
        return ("mock: in-process channel (dsp.delay.ChannelStream, the emulator's delay line) + loopback "
                "MockRadio")
    if kind == "mock-zmq":
        return ("mock-zmq: pass channel applied in-process per burst (dsp.delay.ChannelStream), then the samples "
                "cross the ZeroMQ channel emulator (framed wire, identity link) into the MockRadio")
    return f"{kind}: channel applied in-process to the TX samples, then over the radio ({sc.backend.profile})"


def run_scenario(sc: Scenario, outdir: str, *, base_dir: str | None = None, progress: bool = True,
                 modes: list[str] | None = None, max_bursts: int | None = None, html: bool = True,
                 title: str | None = None) -> ExperimentResult:
    """Run every waveform of the scenario in every tracking mode asked for and write the report."""
    t0 = time.perf_counter()
    if sc.backend.kind == "mock-zmq":
        # fail before the (slow) geometry if the emulator-backed transport is missing
        from hil.backends import backend_class

        backend_class("mock-zmq")
    elif sc.backend.kind in ("pluto", "soapy"):
        _RadioPath(sc.backend, sc.sample_rate_hz, sc.carrier_hz).close()  # no device: DeviceError now
    pm = build_pass(sc, base_dir)
    modes = modes or [sc.tracking.mode, *sc.tracking.compare]
    runs = []
    bar = None
    if progress:
        try:
            import sys

            from tqdm import tqdm

            bar = tqdm(total=0, unit="burst", file=sys.stderr, desc=sc.name, leave=False)
        except ImportError:  # pragma: no cover - tqdm is a dependency
            bar = None
    try:
        for wf in sc.waveforms:
            for mode in modes:
                name = wf.kind if len(modes) == 1 else f"{wf.kind}-{mode}"
                if len([w for w in sc.waveforms if w.kind == wf.kind]) > 1:
                    name += f"-{wf.M}x{wf.N}-q{wf.qam}"
                if bar is not None:
                    bar.set_postfix_str(name)
                run = run_waveform(sc, wf, pm, mode, name=name, max_bursts=max_bursts, progress=bar)
                runs.append(run)
    finally:
        if bar is not None:
            bar.close()
    meta = {
        "scenario": sc.name,
        "description": sc.description,
        "backend": backend_note(sc),
        "carrier": f"{sc.carrier_hz / 1e9:g} GHz",
        "sample rate": f"{sc.sample_rate_hz / 1e6:g} MSPS (waveform band "
                       f"{sc.sample_rate_hz / sc.frames.oversample / 1e6:g} MHz)",
        "pass": _pass_text(pm),
        "bursts": f"{sc.frames.per_burst} frames every {sc.frames.interval_s:g} s of pass time (max "
                  f"{sc.frames.max_bursts or 'unlimited'} bursts); tracker state carried across the gaps",
        "tracking modes": ", ".join(modes),
        "ephemeris error": f"{pm.info['along_track_error_m']:g} m along track "
                           f"({pm.info['ephemeris_time_shift_s'] * 1e3:.1f} ms), "
                           f"{sc.tracking.ephemeris_error.offset_ppm:g} ppm offset",
    }
    seconds = time.perf_counter() - t0
    meta["run time"] = f"{seconds:.1f} s"
    summary = write_report(outdir, runs, title=title or f"hil run: {sc.name}", meta=meta, html=html)
    return ExperimentResult(summary, runs, outdir, seconds, backend_note(sc))


def _pass_text(pm: PassModel) -> str:
    i = pm.info
    sats = ", ".join(i.get("satellites", []))
    txt = f"{sats} over {i['ground']}, t = {pm.t_start:.1f}..{pm.t_end:.1f} s after the epoch"
    if "max_elevation_deg" in i:
        txt += f", max elevation {i['max_elevation_deg']:.1f} deg"
    if i.get("handovers_s"):
        txt += ", handover at " + ", ".join(f"{t:.0f} s" for t in i["handovers_s"])
    return txt


def summary_table(summary: dict) -> str:
    """A short fixed-width table of the report's per-waveform numbers (for the terminal)."""
    head = (f"{'run':<22} {'frames':>7} {'synced':>7} {'BER':>10} {'BLER':>7} {'resid. Doppler RMS':>20} "
            f"{'delay err':>10}")
    lines = [head, "-" * len(head)]
    for s in summary["waveforms"]:
        ber = "-" if s.get("ber") is None else f"{s['ber']:.2e}"
        bler = "-" if s.get("bler") is None else f"{s['bler']:.3f}"
        rr = s.get("residual_doppler_rms_hz")
        rp = s.get("residual_doppler_rms_ppm")
        res = "-" if rr is None else f"{rr:.2f} Hz ({rp:.4f} ppm)"
        de = s.get("delay_error_rms_ns")
        lines.append(f"{s['waveform']:<22} {s['frames']:>7} {s['frames_synced']:>7} {ber:>10} {bler:>7} {res:>20} "
                     f"{'-' if de is None else f'{de:.1f} ns':>10}")
    return "\n".join(lines)


__all__ += ["summary_table", "backend_note", "DeviceError"]
