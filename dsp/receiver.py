"""The HIL loop's receiver: a streaming block over the received sample stream, blind to the channel truth.

Its only inputs are received samples (with their absolute sample index), the known transmit schedule
(:class:`dsp.framing.TxSchedule`: frame period and burst start times, as on a bench with a shared
clock), the frame format and - in ephemeris mode - the terminal's **own** ephemeris (``delay(t)``,
``doppler(t)``; e.g. :class:`hil.orbit.ReceiverEphemeris`). It never sees what the channel applied.

Per expected burst it opens a receive window where its own prediction says the burst will arrive:

* ``ephemeris``: the ephemeris delay (wide window at first); once locked, the last measured delay
  carried over the gap with the ephemeris' delay change and the loop's residual frequency.
* ``blind``: the whole ``delay_range_s`` at first; once locked, the last measured delay extrapolated
  with the tracked Doppler and Doppler rate (at most ``blind_max_gap_s``; else search again).
* ``none``: timing only (no Doppler correction) over the whole ``delay_range_s``.

In a window :class:`dsp.tracking.DopplerTracker` (ephemeris pre-compensation + Kalman loop, or blind
acquisition) corrects the samples and measures every preamble; per preamble the fractional timing is
refined, the complex gain taken, the header decoded (frame number, burst id, CRC) and the frame
equalised and detected: delay-Doppler channel estimation from the embedded pilot and MP / MRC / LMMSE
detection for OTFS/AFDM, pilot-lattice one-tap for OFDM, or the preamble's one-tap gain. The frame
number comes from the header alone; a decoded header ends the burst where the schedule says.

Any chunking of the input gives identical decisions: a window is processed only once all of it has
arrived (or the stream moved past it: missing samples are zeros and counted in ``samples_missing``).
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field

import numpy as np

from dsp.errors import ConfigError, check_choice, check_range
from dsp.framing import FrameFormat, TxSchedule, downsample
from dsp.sync import PreambleDetector, fractional_timing

__all__ = ["Receiver", "RxFrame", "RX_MODES", "DETECTORS"]

RX_MODES = ("ephemeris", "blind", "none")
DETECTORS = ("onetap", "pilot-onetap", "mp", "mrc", "lmmse")


@dataclass
class RxFrame:
    """One preamble the receiver found, with what it decoded (truth-free)."""

    window: int                  # the expected burst whose window it was found in
    position: float              # absolute RX sample index of the preamble start (fractional)
    header_ok: bool
    frame_no: int | None         # from the header (None when the CRC failed)
    burst_id: int | None
    doppler_hz: float            # the receiver's frequency estimate at this frame (Hz; NaN: none)
    delay_s: float | None        # position - scheduled TX start of frame_no, over fs (None: no header)
    snr_db: float                # per-sample SNR estimated on the preamble
    bits: np.ndarray | None = field(default=None, repr=False)
    symbols: np.ndarray | None = field(default=None, repr=False)   # equalised data symbols (pre-decision)
    paths: int = 0               # delay-Doppler paths estimated from the pilot

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("window", "position", "header_ok", "frame_no", "burst_id", "doppler_hz",
                                           "delay_s", "snr_db", "paths")}
        d["bits"] = None if self.bits is None else np.packbits(self.bits).tobytes().hex()
        if self.symbols is not None and self.frame_no is not None and self.frame_no % 16 == 0:
            s = np.asarray(self.symbols)  # a sample of equalised symbols for the constellation plot
            d["symbols"] = [np.round(s.real, 4).tolist(), np.round(s.imag, 4).tolist()]
        return d


def _sinc(x):
    return float(np.sinc(x))


class Receiver:
    """Streaming receiver (see the module doc). ``process(sample_index, x) -> [RxFrame]``, ``flush()``.

    Parameters
    ----------
    fmt, schedule : the frame format and the transmit schedule (shared knowledge of the bench).
    carrier_hz : carrier frequency (Hz).
    mode : ``ephemeris`` | ``blind`` | ``none``.
    ephemeris : object with ``doppler(t)`` (Hz) and ``delay(t)`` (s), t in the schedule's time base;
        required in ephemeris mode (the terminal's own prediction, never the channel's truth).
    delay_range_s : (lo, hi) one-way delays (s) a first search covers (blind / none; e.g. a LEO shell's
        zenith and horizon delays).
    detector : one of :data:`DETECTORS`; ``layout`` the embedded pilot (mp / mrc / lmmse on OTFS/AFDM).
    latency_samples : the radio's TX->RX latency (from ``hil calibrate``), removed from delay estimates.
    """

    def __init__(self, fmt: FrameFormat, schedule: TxSchedule, carrier_hz: float, *, mode: str = "ephemeris",
                 ephemeris=None, delay_range_s=(1e-3, 15e-3), detector: str = "onetap", layout=None,
                 loop_bandwidth_hz: float | None = None, max_misses: int = 2, latency_samples: int = 0,
                 margin: int = 96, blind_max_gap_s: float = 20.0, blind_carry_gap_s: float = 0.5,
                 detector_options: dict | None = None):
        if schedule.period != fmt.period:
            raise ConfigError.bad_value("schedule.period", schedule.period, f"{fmt.period} (the frame format's)")
        self.fmt, self.schedule = fmt, schedule
        self.fs = float(schedule.sample_rate_hz)
        self.fc = float(check_range("carrier_hz", carrier_hz, lo=1.0, unit="Hz"))
        self.mode = check_choice("mode", mode, RX_MODES)
        if mode == "ephemeris" and not (callable(getattr(ephemeris, "doppler", None))
                                        and callable(getattr(ephemeris, "delay", None))):
            raise ConfigError.bad_value("ephemeris", ephemeris, "an object with doppler(t) and delay(t) in "
                                        "ephemeris mode")
        self.ephemeris = ephemeris
        lo, hi = (float(v) for v in delay_range_s)
        if not 0 <= lo < hi:
            raise ConfigError.bad_value("delay_range_s", delay_range_s, "(lo, hi) with 0 <= lo < hi seconds")
        self.delay_range_s = (lo, hi)
        self.detector_name = check_choice("detector", detector, DETECTORS)
        self.layout = layout
        modem = fmt.modem
        if detector in ("mp", "mrc", "lmmse"):
            if layout is None and detector != "lmmse":
                raise ConfigError.bad_value("layout", None, f"an embedded pilot layout for detector {detector!r}")
            from dsp.detection import make_detector

            self._det = make_detector(detector, modem, **(detector_options or {}))
        elif detector == "pilot-onetap":
            if not hasattr(modem, "estimate_one_tap"):
                raise ConfigError.bad_value("detector", detector, "a waveform with a pilot lattice (ofdm)")
            from dsp.pilot_rx import OfdmDftEstimator

            # DFT-based estimate: a short impulse response fitted to all pilots of a symbol (exact for delays
            # shorter than the fit; averages their noise), then a straight line in time per subcarrier
            # (averages the symbols' estimates: 0.9 -> 0.15 dB of SNR loss on the line-of-sight demo pass)
            opts = detector_options or {}
            self._ofdm_est = OfdmDftEstimator(modem, taps=int(opts.get("taps", 4)),
                                              time_degree=opts.get("time_degree", 1 if modem.N >= 3 else None))
        self.latency = int(check_range("latency_samples", latency_samples, lo=0))
        self.margin = int(check_range("margin", margin, lo=8))
        self.blind_max_gap_s = float(blind_max_gap_s)
        self.blind_carry_gap_s = float(blind_carry_gap_s)
        self.loop_bandwidth_hz = loop_bandwidth_hz
        self.max_misses = int(max_misses)
        self._p = fmt.preamble.samples.astype(np.complex128)
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        from dsp.tracking import DopplerTracker

        self.tracker = None
        if self.mode in ("ephemeris", "blind"):
            kw = dict(mode=self.mode, t0=self.schedule.t0_s, max_misses=self.max_misses)
            if self.mode == "ephemeris":
                kw["predict"] = self.ephemeris.doppler
            if self.loop_bandwidth_hz is not None:
                kw["loop_bandwidth_hz"] = self.loop_bandwidth_hz
            self.tracker = DopplerTracker(self.fs, self.fc, self.fmt.preamble, self.fmt.period, **kw)
        self._buf: list[tuple[int, np.ndarray]] = []
        self._seen_upto = 0          # one past the highest sample index received
        self._b = 0                  # next expected burst
        self._window = None
        self._force_acq = False
        self._carry = None           # (start, corrected samples, measured preambles) past the last window
        self._emitted = collections.deque(maxlen=256)  # positions of the frames already returned
        self._last = None            # (preamble position, tx index) of the last decoded frame
        self._n_log = 0
        self._n_acq = 0
        self.frames: list[RxFrame] = []
        self.samples_received = 0
        self.samples_missing = 0
        self.windows = 0
        self.lost_lock = 0
        self.windows_locked = 0      # windows in which a header decoded with this burst's id

    # ------------------------------------------------------------------ streaming
    def process(self, sample_index: int, x) -> list[RxFrame]:
        """Take received samples starting at absolute ``sample_index``; return the frames finished now."""
        x = np.ascontiguousarray(x, dtype=np.complex64).ravel()
        n0 = int(sample_index)
        if n0 < 0:
            raise ConfigError.bad_value("sample_index", sample_index, ">= 0")
        if x.size:
            self._buf.append((n0, x))
            self.samples_received += x.size
            self._seen_upto = max(self._seen_upto, n0 + x.size)
        return self._drain(final=False)

    def flush(self) -> list[RxFrame]:
        """End of stream: process every remaining window (missing samples count as missing)."""
        return self._drain(final=True)

    def _drain(self, final: bool) -> list[RxFrame]:
        out = []
        sch = self.schedule
        while self._b < sch.n_bursts:
            if self._window is None:
                self._window = self._plan(self._b)
            w0, w1, next_pre, reacquire = self._window
            if not final and self._seen_upto < w1:
                break
            y = self._assemble(w0, w1)
            out += self._run_window(self._b, w0, y, next_pre, reacquire)
            self._b += 1
            self._window = None
            if self._b < sch.n_bursts:
                keep = sch.burst_starts[self._b]
                self._buf = [(s, a) for s, a in self._buf if s + a.size > keep]
        self.frames += out
        return out

    def _assemble(self, w0: int, w1: int) -> np.ndarray:
        y = np.zeros(w1 - w0, np.complex64)
        have = np.zeros(w1 - w0, bool)
        for s, a in self._buf:
            a0, a1 = max(s, w0), min(s + a.size, w1)
            if a1 > a0:
                y[a0 - w0:a1 - w0] = a[a0 - s:a1 - s]
                have[a0 - w0:a1 - w0] = True
        self.samples_missing += int(np.count_nonzero(~have))
        return y

    # ------------------------------------------------------------------ windows
    def _plan(self, b: int):
        """Receive window (w0, w1) for burst ``b`` from the receiver's own knowledge only."""
        sch, fs, fc = self.schedule, self.fs, self.fc
        kb = sch.burst_starts[b]
        tr = self.tracker
        np_ = self.fmt.n_pre
        m = self.margin
        lat = self.latency
        gap = (kb - self._last[1]) / fs if self._last is not None else math.inf
        tracking_now = tr is not None and not tr.acquiring and self._last is not None
        next_pre = None
        if tracking_now and self.mode == "ephemeris":
            pos_l, tx_l = self._last
            eph = self.ephemeris
            d_l = pos_l - tx_l
            d_pred = d_l + fs * float(np.asarray(eph.delay(sch.time_of(kb + d_l - lat)))
                                      - np.asarray(eph.delay(sch.time_of(pos_l - lat))))
            d_pred -= tr.residual_frequency / fc * (kb - tx_l)
            lo, hi = d_pred - m, d_pred + m
            next_pre = kb + d_pred
        elif tracking_now and gap <= self.blind_max_gap_s:
            pos_l, tx_l = self._last
            dn = kb - tx_l
            d_pred = (pos_l - tx_l) - (tr.frequency / fc) * dn - 0.5 * (tr.rate / fc) * dn * dn / fs
            lo, hi = d_pred - m, d_pred + m
            next_pre = kb + d_pred
            if gap > self.blind_carry_gap_s:
                # A Doppler rate learnt within a short burst is too noisy to carry the frequency over a long
                # gap: acquire again (coherent search around the carried frequency) where the delay,
                # extrapolated, puts the burst - its first frame is demodulated with the acquisition's offset.
                lo -= 2 * np_
                next_pre = None
                self._force_acq = True
        elif self.mode == "ephemeris":
            d_pred = float(np.asarray(self.ephemeris.delay(sch.time_of(kb)))) * fs + lat
            lo, hi = d_pred - m - 2 * np_, d_pred + m
        else:
            lo = self.delay_range_s[0] * fs + lat - m - 2 * np_
            hi = self.delay_range_s[1] * fs + lat + m
        reacquire = tr is not None and (self._force_acq or not tracking_now) and not tr.acquiring
        self._force_acq = False
        lo = max(lo, np_)
        w0 = kb + int(math.floor(lo))
        w1 = kb + int(math.ceil(hi)) + sch.burst_length + 4
        if tr is not None:
            # never before what the tracker has corrected, unless the previous window's corrected samples
            # (kept when bursts follow closely) cover it
            c = self._carry
            w0 = max(w0, c[0] if c is not None and c[1].size else tr.sample_index)
        return w0, w1, next_pre, reacquire

    def _rows(self, w0: int, y: np.ndarray, next_pre, reacquire, b):
        """Corrected samples and preamble rows (position, f_est Hz, cfo Hz, preamble offset Hz)."""
        tr = self.tracker
        K, P = self.schedule.per_burst, self.fmt.period
        if tr is None:
            det = PreambleDetector(self.fmt.preamble, max_cfo=0.5, method="differential")
            rows = [(w0 + d.index, 0.0, 0.0, d.cfo * self.fs) for d in det.process(y) + det.flush()]
            return y, rows
        out = np.zeros_like(y)
        rows = []
        pending = []
        a = 0
        carry = self._carry
        self._carry = None
        if carry is not None and carry[0] <= w0 < carry[0] + carry[1].size:
            # the previous window ran past this one's start (bursts back to back): keep its corrected
            # samples and the preambles it measured there instead of jumping the tracker
            c0, cs, crows = carry
            a = min(cs.size - (w0 - c0), y.size)
            out[:a] = cs[w0 - c0:w0 - c0 + a]
            pending = [r for r in crows if r[0] >= w0]
            if next_pre is not None:  # re-place the loop's next preamble by the schedule (the gap between
                n = tr.sample_index   # bursts is not a whole frame period)
                j = max(0, math.ceil((n - next_pre) / self.fmt.period))
                tr.skip_to(n, next_pre + j * self.fmt.period)
        else:
            tr.skip_to(w0, next_pre, reacquire=reacquire)
        n_acq0 = len(tr.acquisitions)
        end = y.size
        while a < end:
            step = min(P, end - a)
            out[a:a + step] = tr.process(y[a:a + step])
            a += step
            meas = tr.measurements(since=self._n_log)
            new = [(float(meas["preamble_index"][i]), float(meas["frequency_hz"][i]), 0.0, float(meas["error_hz"][i]))
                   for i in range(meas["sample"].size) if meas["valid"][i]]
            self._n_log = tr.n_measurements
            for acq in tr.acquisitions[self._n_acq:]:
                # the acquisition frame went through the NCO before the offset was known
                new.append((float(acq["index"]), float(acq["frequency_hz"]), float(acq["cfo_hz"]), 0.0))
            self._n_acq = len(tr.acquisitions)
            pending += new
            # decode each frame once the tracker has corrected all of it (and one sample more: the preamble's
            # peak may be one lag on from the tracker's position)
            ready = [r for r in pending if int(round(r[0])) - w0 + P + 3 <= a or a >= end]
            pending = [r for r in pending if r not in ready]
            for row in ready:
                fr = self._frame(b, w0, out[:a], row)
                rows.append((row, fr))
                if fr is not None and fr.header_ok and fr.burst_id == b and not tr.acquiring:
                    j = fr.frame_no - b * K
                    if 0 <= j < K:  # the schedule says where this burst ends: no windows on silence
                        end = min(end, max(a, int(math.ceil(fr.position - w0)) + (K - j) * P + 4))
        later = [r for r in pending if int(round(r[0])) - w0 + P + 3 > a]  # frames running past what we have
        for row in pending:
            if row not in later:
                rows.append((row, self._frame(b, w0, out[:a], row)))
        c = max(0, min(end, a) - 16)  # a few samples of overlap: the next burst may start right at the cut
        self._carry = (w0 + c, out[c:a].copy(), later) if a > c else None
        if len(tr.acquisitions) > n_acq0 and n_acq0 > 0:
            self.lost_lock += 1
        return out[:end], rows

    def _run_window(self, b: int, w0: int, y: np.ndarray, next_pre, reacquire) -> list[RxFrame]:
        self.windows += 1
        while self._emitted and self._emitted[0] < w0 - 2:  # no frame of this window starts before w0 + 1
            self._emitted.popleft()
        if self.tracker is None:
            y, rows = self._rows(w0, y, next_pre, reacquire, b)
            rows = [(row, self._frame(b, w0, y, row, always=True)) for row in rows]
        else:
            y, rows = self._rows(w0, y, next_pre, reacquire, b)
        frames: list[RxFrame] = []
        for _row, fr in sorted(rows, key=lambda r: r[1] is None or not r[1].header_ok):
            if fr is None:
                continue
            if any(abs(fr.position - f.position) < 2.0 for f in frames) or \
                    any(abs(fr.position - p) < 2.0 for p in self._emitted):
                continue  # the same preamble measured twice (acquisition + loop, or two adjoining windows)
            frames.append(fr)
            if fr.header_ok and fr.frame_no is not None:
                try:
                    tx = self.schedule.frame_start(fr.frame_no)
                except ConfigError:
                    continue
                if self._last is None or fr.position > self._last[0]:
                    self._last = (fr.position, tx)
        frames += self._fill_in(b, w0, y, frames, next_pre)
        frames = [f for f in frames if not any(abs(f.position - p) < 2.0 for p in self._emitted)]
        frames.sort(key=lambda f: f.position)
        self._emitted.extend(f.position for f in frames)
        if any(f.header_ok and f.burst_id == b for f in frames):
            self.windows_locked += 1
        return frames

    def _fill_in(self, b, w0, y, frames, next_pre=None) -> list[RxFrame]:
        """Frames of burst ``b`` whose preamble measurement was not valid (a fade, a weak preamble): tried at
        the position the schedule gives from a decoded frame of the same burst (frame spacing = the
        period, plus the time compression the receiver measures: its own Doppler estimate). With no
        decoded frame in the burst but a tracked prediction of where it starts (``next_pre``), every frame
        is tried there (+-1 sample): the header's CRC decides, so a wrong guess is only a missed frame."""
        K, P = self.schedule.per_burst, self.fmt.period
        anchors = [f for f in frames if f.header_ok and f.burst_id == b and f.frame_no is not None
                   and 0 <= f.frame_no - b * K < K]
        offsets = (0.0,)
        if anchors:
            a = max(anchors, key=lambda f: f.snr_db)
            pos_a, ja, f_a = a.position, a.frame_no - b * K, a.doppler_hz
        elif next_pre is not None and self.tracker is not None and not self.tracker.acquiring:
            pos_a, ja, f_a = float(next_pre), 0, float(self.tracker.frequency)
            offsets = (0.0, -1.0, 1.0)
        else:
            return []
        scale = 1.0 - (f_a / self.fc if math.isfinite(f_a) else 0.0)  # rx spacing = P (1 + dtau/dt)
        out = []
        for j in range(K):
            pos = pos_a + (j - ja) * P * scale
            if any(abs(f.position - pos) < 4.0 for f in frames):
                continue
            for off in offsets:
                fr = self._frame(b, w0, y, (pos + off, f_a, 0.0, 0.0))
                if fr is not None and (fr.header_ok or off == offsets[-1]):
                    if fr.header_ok or anchors:
                        out.append(fr)
                    break
        return out

    # ------------------------------------------------------------------ one frame
    def _frame(self, b, w0, y, row, always: bool = False) -> RxFrame | None:
        pos, f_est, cfo, err = row
        fmt = self.fmt
        os_ = fmt.oversample
        np_, P = fmt.n_pre, fmt.period
        i = int(round(pos)) - w0
        if i < 1 or i + P + 2 > y.size:
            return None
        pc = np.conj(self._p)

        def corr(s):
            return complex(np.dot(s[:np_], pc)), complex(np.dot(s[1:np_ + 1], pc)), complex(np.dot(s[2:np_ + 2], pc))

        def segment(i):
            s = y[i - 1:i + P + 1].astype(np.complex128)
            return s * np.exp(-2j * np.pi * (cfo / self.fs) * (np.arange(s.size) + i)) if cfo else s

        def power(s):  # preamble amplitude over the three lags and per-sample SNR
            e, p, lt = corr(s)
            amp = math.sqrt(abs(e) ** 2 + abs(p) ** 2 + abs(lt) ** 2) / np_
            en = float(np.mean(np.abs(s[1:np_ + 1]) ** 2))
            return amp, min(max(amp**2 / max(en - amp**2, 1e-12), 1e-3), 1e6)

        seg = segment(i)
        measured = err / self.fs
        use = False
        if measured and math.isfinite(measured):
            use = always
            if not use:
                rho = power(seg)[1]
                L, R = fmt.preamble.period, fmt.preamble.repeats
                sigma = math.sqrt((1.0 + 1.0 / rho) / ((2 * math.pi * L) ** 2 * L * rho * (R - 1) ** 2))
                use = abs(measured) > 4.0 * sigma
        c = 0.5 * (np_ - 1)
        rot = np.exp(-2j * np.pi * measured * (np.arange(np_ + 2) - 1 - c)) if use else None
        ref = measured * (np_ - c) if use else 0.0

        def lags(s):  # the three lags, with the measured frequency offset removed over the preamble if used
            return corr(s[:np_ + 2] * rot) if use else corr(s)

        def timed(i):  # (header EVM, i, segment, delta, amplitude, gain, header symbols) at integer lag i
            s = segment(i)
            e, p, lt = lags(s)
            delta = fractional_timing(e, p, lt)
            amp = math.sqrt(abs(e) ** 2 + abs(p) ** 2 + abs(lt) ** 2) / np_
            g = _sinc(-1 - delta) * e + _sinc(-delta) * p + _sinc(1 - delta) * lt
            side = (abs(p) < max(abs(e), abs(lt)), 1 if abs(lt) > abs(e) else -1)
            if abs(delta) > 0.75 or amp <= 0 or g == 0:
                return (math.inf, i, s, delta, amp, None, None) + side  # no usable timing here
            gain = amp * g / abs(g) * np.exp(2j * np.pi * ref)
            zh = downsample(s[1 + h0:1 + h1], os_, delta) / gain
            evm = float(np.mean((np.abs(zh.real) - 1.0) ** 2 + zh.imag ** 2))
            return (evm, i, s, delta, amp, gain, zh) + side

        h0, h1 = fmt.header_span
        best = timed(i)
        # The preamble's peak should be the middle lag: the sinc model of fractional_timing holds for
        # |delta| < 1 around it only (a position from the tracker's smoothed timing loop can be more than half
        # a sample off: then the peak is a side lag and the estimate is pulled halfway back). But a stronger
        # later multipath component (resolvable at higher sample rates) also makes a side lag the peak, and
        # moving there would put the first path at a negative delay. So the lag one step towards the peak is
        # tried too, and the timing whose header symbols sit closer to +-1 (less ISI) is kept.
        if best[7] and 1 <= i + best[8] <= y.size - P - 2:
            alt = timed(i + best[8])
            if alt[0] < best[0]:
                best = alt
        evm, i, seg, delta, amp, gain, zh = best[:7]
        if not math.isfinite(evm):
            return None
        rho = power(seg)[1]
        hd = fmt.header.decode(zh)
        position = w0 + i + delta
        f_hz = f_est if self.tracker is not None else math.nan
        snr_db = 10 * math.log10(rho)
        fr = RxFrame(b, position, hd.ok, hd.frame_no if hd.ok else None, hd.burst_id if hd.ok else None, f_hz,
                     None, snr_db)
        if not hd.ok:
            return fr
        try:
            fr.delay_s = (position - self.schedule.frame_start(hd.frame_no) - self.latency) / self.fs
        except ConfigError:
            fr.delay_s = None  # a frame number the schedule never sent: a false lock (the metrics count it)
        b0, b1 = fmt.body_span
        z = downsample(seg[1 + b0:1 + b1], os_, delta) / gain
        noise_var = 1.0 / (os_ * rho)
        fr.bits, fr.symbols, fr.paths = self._detect(z, noise_var)
        return fr

    def _detect(self, z, noise_var):
        bits, shown, paths = self._detect_once(z, noise_var)
        if self.detector_name in ("mp", "mrc", "lmmse") and self.layout is not None:
            # the residual frequency over the frame (the tracker's is some 15 Hz RMS off: a phase ramp across
            # the body that the integer-Doppler pilot estimate does not model), decision-directed: the frame
            # re-modulated from the first decisions (pilot included) against the received body, the phase
            # advance between its two halves; then detected again on the derotated body
            xh = np.asarray(self.fmt.modem.modulate(bits[None]))[0]
            r = z * np.conj(xh)
            h = r.size // 2
            nu = float(np.angle(np.vdot(r[:h], r[h:2 * h]))) / (2 * np.pi * h)
            bits, shown, paths = self._detect_once(z * np.exp(-2j * np.pi * nu * np.arange(z.size)), noise_var)
        return bits, shown, paths

    def _detect_once(self, z, noise_var):
        modem = self.fmt.modem
        y_grid = np.asarray(modem.demodulate_grid(z.astype(np.complex64)))
        name = self.detector_name
        paths = 0
        if name == "onetap":
            est = y_grid
        elif name == "pilot-onetap":
            H = self._ofdm_est.estimate(y_grid)
            est = modem.equalize_one_tap(y_grid, H, noise_var)
        else:
            if self.layout is not None:
                from dsp.estimation import estimate_paths

                pd = estimate_paths(y_grid, self.layout, noise_var, modem)
                if pd.shape[0] == 0:
                    pd = np.array([[1.0, 0.0, 0.0]], np.complex128)
            else:
                pd = np.array([[1.0, 0.0, 0.0]], np.complex128)
            paths = int(pd.shape[0])
            est = self._det.detect(y_grid, pd, noise_var)
        syms = np.asarray(modem.data_symbols(np.asarray(est)[None] if np.ndim(est) == len(modem.shape) else est))
        syms = syms.ravel()
        bits = np.asarray(modem.qam.demap_hard(syms)).ravel().astype(np.uint8)
        shown = np.asarray(modem.data_symbols(y_grid[None])).ravel() if name in ("mp", "mrc", "lmmse") else syms
        return bits, shown, paths

    def __repr__(self):
        return (f"Receiver({self.mode}, {self.detector_name}, {self.fmt!r}, windows={self.windows}, "
                f"frames={len(self.frames)})")
