"""The calibration procedure over a TX->RX loopback (a cable, an attenuator, or the emulator).

Steps, each over the :class:`hil.backends.base.Radio` API (write a burst, read it back):

1. ``dc``: TX idle; RX DC offset and noise floor.
2. ``frequency``: a known tone; receiver reference error in ppm against the source
   (:func:`~calibration.estimators.ppm_from_tone`). In a one-device loopback TX and RX share one
   reference, so this is ~0 by construction; an external reference (``source_ppm`` known) measures the
   device itself.
3. ``delay``: a periodic multitone burst; TX->RX latency (fractional samples), loopback gain and the
   response across the band.
4. ``iq``: TX tuned ``lo_offset * fs`` above RX so that TX and RX images separate; joint least squares
   gives RX IQ correction, TX pre-distortion, TX LO-leakage cancellation and RX DC
   (:func:`~calibration.estimators.estimate_iq_pilot`). If the radio refuses the offset, the combined
   correction is applied at RX.
5. ``gain``: the loopback gain over the requested RF frequencies and RX gain settings.
6. ``verify``: before/after image rejection, DC level and 16-QAM OFDM EVM with the corrections applied
   (the report's numbers).

The result is a :class:`~calibration.store.CalibrationRecord` (saved per device) plus the captures the
report plots.
"""

from __future__ import annotations

import datetime as _dt
import logging
from dataclasses import dataclass, field

import numpy as np

from calibration.correctors import ClockCorrector, RxCorrector, TxPrecorrector
from calibration.estimators import (
    DcEstimator,
    PowerMeter,
    estimate_cfo_pilot,
    estimate_delay,
    estimate_iq_pilot,
    estimate_tone,
    measure_irr,
    ppm_from_tone,
)
from calibration.signals import OfdmTestFrame, multitone, periodic_at, tone
from calibration.store import CalibrationRecord, GainTable
from hil.config import spec
from hil.errors import ConfigError, DeviceError, HILError

__all__ = ["CalibrationSettings", "CalibrationResult", "CalibrationProcedure", "run_calibration", "device_serial"]

log = logging.getLogger(__name__)

STEPS = ("dc", "frequency", "delay", "iq", "gain", "verify")


@dataclass(frozen=True)
class CalibrationSettings:
    """What to measure and how (None: the profile default / the radio's current setting)."""

    sample_rate: float | None = field(default=None, metadata=spec(gt=0, unit="Hz"))
    frequency: float | None = field(default=None, metadata=spec(gt=0, unit="Hz", doc="RX (and TX) LO"))
    tx_gain: float | None = field(default=None, metadata=spec(unit="dB"))
    rx_gain: float | None = field(default=None, metadata=spec(unit="dB"))
    pilot_period: int = field(default=1024, metadata=spec(ge=64, le=16384, unit="samples"))
    repeats: int = field(default=16, metadata=spec(ge=4, le=256, doc="pilot periods per burst"))
    pilot_level_dbfs: float = field(default=-15.0, metadata=spec(le=-6, unit="dBFS"))
    lo_offset: float = field(default=0.125, metadata=spec(ge=0, le=0.25, unit="cycles/sample",
                                                          doc="TX-RX LO offset of the IQ step (0: do not separate)"))
    iq_band: float = field(default=0.2, metadata=spec(gt=0, le=0.25, unit="cycles/sample"))
    dc_samples: int = field(default=16384, metadata=spec(ge=1024, unit="samples"))
    tone_samples: int = field(default=16384, metadata=spec(ge=1024, unit="samples"))
    tone_frequency: float = field(default=0.1, metadata=spec(gt=0, lt=0.5, unit="cycles/sample"))
    source_ppm: float = field(default=0.0, metadata=spec(ge=-100, le=100, unit="ppm",
                                                         doc="reference error of the tone source"))
    gain_frequencies: tuple[float, ...] = field(default=(), metadata=spec(unit="Hz"))
    gain_rx_gains: tuple[float, ...] = field(default=(), metadata=spec(unit="dB"))
    gain_scales_samples: bool | None = None
    verify: bool = True
    lead: int = field(default=256, metadata=spec(ge=0, unit="samples", doc="read margin before a timed burst"))
    tail: int = field(default=2048, metadata=spec(ge=64, unit="samples", doc="extra samples read after a burst"))
    untimed_margin: int = field(default=32768, metadata=spec(ge=0, unit="samples",
                                                             doc="extra samples read when TX cannot be timed"))


@dataclass
class CalibrationResult:
    """The record to store plus the captures and numbers the report needs."""

    record: CalibrationRecord
    captures: dict = field(default_factory=dict)
    steps: list = field(default_factory=list)


def device_serial(radio) -> str:
    """A device's serial for the store: ``radio.serial`` where the backend knows it, else one derived
    from the URI (the mock: ``mock``)."""
    for attr in ("serial", "hw_serial"):
        v = getattr(radio, attr, None)
        if isinstance(v, str) and v:
            return "".join(c if c.isalnum() or c in "._-" else "_" for c in v)[:128]
    uri = getattr(radio, "uri", "") or "unknown"
    out = "".join(c if c.isalnum() or c in "._-" else "_" for c in uri).strip("._-")
    return (out or "unknown")[:128]


def _finite(v):
    """JSON-safe metric: a float, or None for inf/NaN (say 'not measurable' rather than write inf)."""
    v = float(v)
    return v if np.isfinite(v) else None


class CalibrationProcedure:
    """Run the calibration steps on an open radio (see the module doc).

    Parameters
    ----------
    radio : hil.backends.base.Radio
        Opened (configured or not); streaming is started and stopped here.
    settings : CalibrationSettings
    serial : str | None
        Device serial for the record (default :func:`device_serial`).
    progress : callable(str) | None
        Called with each step name as it starts (the CLI drives a progress bar with it).
    """

    def __init__(self, radio, settings: CalibrationSettings | None = None, *, serial: str | None = None,
                 progress=None):
        self.radio = radio
        self.settings = settings or CalibrationSettings()
        self.serial = serial or device_serial(radio)
        self.progress = progress
        self._timed = True
        self._clock_ppm: float | None = None

    # -- radio I/O ---------------------------------------------------------------------------------
    def _read(self, n: int) -> np.ndarray:
        y, _ = self.radio.read(int(n), timeout=10.0)
        return np.asarray(y, np.complex128)

    @property
    def timed(self) -> bool:
        """True while the radio accepts timed bursts (the captures then start where the burst left TX)."""
        return self._timed

    def transceive(self, tx, n_rx: int) -> np.ndarray:
        """Send burst ``tx`` and return ``n_rx`` received samples starting where the burst left TX.

        Without timed bursts the capture starts at the next RX sample and is ``untimed_margin`` longer; the
        burst is somewhere in it and the delay then includes the host's latency.
        """
        s = self.settings
        tx = np.asarray(tx, np.complex64)
        if self._timed:
            _, meta = self.radio.read(16, timeout=10.0)
            at = meta.sample_index + 16 + s.lead
            try:
                self.radio.write(tx, at_sample=at, end_burst=True)
            except (DeviceError, ConfigError) as exc:
                log.info("timed bursts not available (%s); using untimed writes", exc)
                self._timed = False
            else:
                return self._read(s.lead + n_rx)[s.lead:]
        # Untimed (e.g. a Pluto: no hardware timestamps): the burst leaves some time after the call, so read
        # a margin more; the steps locate the burst in the capture themselves.
        self.radio.write(tx, end_burst=True)
        return self._read(n_rx + s.untimed_margin)

    def _fc(self) -> tuple[float, float, float]:
        r = self.radio
        return float(r.sample_rate), float(r.tx_frequency), float(r.rx_frequency)

    def _rx_rotation(self) -> tuple[float, float]:
        """(cycles/sample of the carrier offset seen at RX, TX samples per RX sample) from the ppm."""
        fs, ftx, frx = self._fc()
        es = self.settings.source_ppm * 1e-6
        er = (self._clock_ppm if self._clock_ppm is not None else self.settings.source_ppm) * 1e-6
        return (ftx * (1 + es) - frx * (1 + er)) / (fs * (1 + er)), (1 + es) / (1 + er)

    def _declock(self, y: np.ndarray) -> np.ndarray:
        """Remove the measured carrier/clock offset (two-reference loopbacks); identity for one reference."""
        if self._clock_ppm is None or abs(self._clock_ppm - self.settings.source_ppm) < 1e-3:
            return y
        fs, _, frx = self._fc()
        cc = ClockCorrector(self._clock_ppm, sample_rate=fs, frequency=frx, source_ppm=self.settings.source_ppm)
        out = np.concatenate((cc.process(y), cc.flush()))
        return np.concatenate((out[: y.size], np.zeros(max(0, y.size - out.size), np.complex128)))

    # -- steps -------------------------------------------------------------------------------------
    def run(self) -> CalibrationResult:
        s = self.settings
        r = self.radio
        if not r.is_open:
            r.open()
        conf = {}
        for name, val in (("sample_rate", s.sample_rate), ("rx_frequency", s.frequency),
                          ("tx_frequency", s.frequency), ("tx_gain", s.tx_gain), ("rx_gain", s.rx_gain)):
            if val is not None:
                conf[name] = val
        if r.streaming:
            r.stop()
        r.configure(**conf)
        if s.frequency is None:
            r.tx_frequency = r.rx_frequency  # the loopback steps assume TX and RX on one LO frequency
        if r.get("rx_gain_mode") != "manual":
            r.rx_gain_mode = "manual"  # an AGC would change the gain under the measurement
        fs, f0, _ = self._fc()
        rx_gain0, tx_gain0 = float(r.rx_gain), float(r.tx_gain)
        from hil import __version__

        rec = CalibrationRecord(profile=r.profile.name, serial=self.serial,
                                created_utc=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                                sample_rate_hz=fs, frequency_hz=f0, tx_gain_db=tx_gain0, rx_gain_db=rx_gain0,
                                backend=type(r).__name__, software=__version__)
        res = CalibrationResult(rec)
        # Measure the raw front end: a calibration already stored for this device must not correct
        # the samples we are about to calibrate from (we would store only the leftover error).
        prior = getattr(r, "use_calibration", None)
        if prior is not None:
            r.use_calibration = False
        r.start()
        try:
            for step in STEPS:
                if step == "verify" and not s.verify:
                    continue
                if self.progress:
                    self.progress(step)
                getattr(self, f"_step_{step}")(res)
                res.steps.append(step)
        finally:
            r.stop()
            if prior is not None:
                r.use_calibration = prior
        return res

    def _step_dc(self, res):
        s = self.settings
        self._read(4096)  # let any transient of start()/configure() pass
        y = self._read(s.dc_samples)
        dc = DcEstimator()
        pm = PowerMeter(remove_dc=True)
        dc.process(y)
        pm.process(y)
        res.record.rx_dc = dc.estimate
        res.record.metrics["noise_floor_dbfs"] = _finite(pm.power_dbfs)
        res.record.metrics["dc_before_dbfs"] = _finite(dc.level_dbfs)
        res.captures["idle"] = y

    def _step_frequency(self, res):
        s = self.settings
        fs, ftx, frx = self._fc()
        x = tone(s.tone_samples, s.tone_frequency, s.pilot_level_dbfs + 3)
        y = self.transceive(x, s.tone_samples)
        skip = min(1024, s.tone_samples // 8)  # latency and start-up transient
        y = y[skip: s.tone_samples - skip]
        te = estimate_tone(y - y.mean())
        ppm = ppm_from_tone(te.frequency, tone_hz=s.tone_frequency * fs, sample_rate=fs, tx_frequency=ftx,
                            rx_frequency=frx, source_ppm=s.source_ppm)
        self._clock_ppm = ppm
        res.record.ppm = ppm
        res.record.ppm_reference = (f"loopback tone from this device's TX (source_ppm={s.source_ppm:g}); "
                                    "0 expected when TX and RX share one reference")
        res.record.metrics["tone_offset_hz"] = _finite((te.frequency - s.tone_frequency) * fs)

    def _step_delay(self, res):
        s = self.settings
        pil = multitone(s.pilot_period, 0.4, s.pilot_level_dbfs, seed=11)
        burst = np.tile(pil, s.repeats)
        y = self._declock(self.transceive(burst, burst.size + s.tail))
        de = estimate_delay(y, pil, s.repeats)
        res.record.delay_samples = de.delay
        # The response across the band, averaged over 32 sub-bands (per-bin values carry noise and image).
        groups = np.array_split(np.arange(de.bins.size), min(32, de.bins.size))
        res.record.inband_freqs = [float(de.bins[g].mean()) for g in groups]
        res.record.inband_db = [float(10 * np.log10(np.mean(np.abs(de.response[g]) ** 2) / abs(de.gain) ** 2))
                                for g in groups]
        res.record.metrics["delay_snr_db"] = _finite(de.snr_db)
        res.record.metrics["loopback_gain_db"] = _finite(20 * np.log10(abs(de.gain)))
        self._delay = de

    def _iq_capture(self, lo_offset: float):
        """Capture the IQ pilot with TX tuned ``lo_offset * fs`` above RX.

        Returns (y, pilot, lo_offset used, carrier rotation at RX in cycles/sample, TX samples per RX sample).
        """
        s = self.settings
        r = self.radio
        fs, f_tx0, frx = self._fc()
        if lo_offset:
            try:
                r.tx_frequency = frx + lo_offset * fs
            except HILError as exc:
                log.warning("cannot offset the TX LO by %g Hz (%s): TX and RX IQ imbalance are corrected "
                            "together at RX", lo_offset * fs, exc)
                lo_offset = 0.0
        pil = multitone(s.pilot_period, s.iq_band, s.pilot_level_dbfs, seed=12)
        burst = np.tile(pil, s.repeats)
        try:
            rot, ratio = self._rx_rotation()  # with the TX LO where it is now (read back from the radio)
            y = self.transceive(burst, burst.size + s.tail)
        finally:
            r.tx_frequency = f_tx0
        return y, pil, lo_offset, rot, ratio

    def _step_iq(self, res):
        s = self.settings
        d = self._delay.delay
        y, pil, lo, rot, ratio = self._iq_capture(s.lo_offset)
        fs, _, _ = self._fc()
        P = s.pilot_period
        if not self._timed:  # the burst moved: find it again, with the expected rotation taken off first
            k = np.arange(y.size)
            d = estimate_delay(y * np.exp(-2j * np.pi * np.mod(rot * k, 1.0)), pil, s.repeats).delay
        first = int(np.ceil(d)) + P  # skip the first period (transient), keep whole periods after it
        nper = s.repeats - 2
        n = np.arange(first, first + nper * P)
        # Expected arrival of the pilot in the RX clock (delay and, for two references, the clock offset).
        xa = periodic_at(pil, n * ratio - d)
        seg = y[first: first + nper * P]
        # The rotation actually seen (a radio may quantise or ignore the LO offset): measure it against the
        # pilot; fewer than 4 turns over the capture and TX and RX images do not separate.
        seen = estimate_cfo_pilot(seg, xa).frequency
        if abs(seen - rot) * seg.size > 0.5:
            log.warning("TX-RX carrier offset in the IQ step: expected %.6g, measured %.6g cycles/sample; "
                        "using the measured one", rot, seen)
        offset_cyc = seen if abs(seen) * seg.size >= 4 else 0.0
        # The rotation's phase at the segment start is absorbed by the fitted coefficients.
        est = estimate_iq_pilot(seg, xa, lo_offset=float(offset_cyc), taps=3)
        rec = res.record
        rec.rx_iq_w = est.rx_w
        rec.tx_iq_beta = est.tx_beta
        rec.tx_leak_add = est.tx_leak_add
        rec.iq_separated = est.separated
        if est.separated:
            rec.rx_dc = est.rx_dc  # the idle DC also holds the TX LO leakage; this one is RX only
        rec.metrics["iq_residual_db"] = _finite(est.residual_db)
        rec.metrics["iq_lo_offset_hz"] = _finite(lo * fs)
        rec.metrics["iq_offset_seen_hz"] = _finite(seen * fs)

    def _step_gain(self, res):
        s = self.settings
        r = self.radio
        rec = res.record
        freqs = sorted(set(s.gain_frequencies) | {rec.frequency_hz})
        gains = sorted(set(s.gain_rx_gains) | {rec.rx_gain_db})
        scales = s.gain_scales_samples
        if scales is None:
            from hil.backends.mock import MockRadio

            scales = not isinstance(r, MockRadio)  # the mock's gains do not scale samples
        pil = multitone(s.pilot_period, 0.4, s.pilot_level_dbfs, seed=11)
        reps = 4
        burst = np.tile(pil, reps)
        table = np.zeros((len(freqs), len(gains)))
        try:
            for i, f in enumerate(freqs):
                r.rx_frequency = f
                r.tx_frequency = f
                for j, g in enumerate(gains):
                    r.rx_gain = g
                    y = self._declock(self.transceive(burst, burst.size + s.tail))
                    de = estimate_delay(y, pil, reps)
                    nominal = (g - rec.rx_gain_db) if scales else 0.0
                    table[i, j] = 20 * np.log10(abs(de.gain)) - nominal
        finally:
            r.rx_frequency = rec.frequency_hz
            r.tx_frequency = rec.frequency_hz
            r.rx_gain = rec.rx_gain_db
        i0, j0 = freqs.index(rec.frequency_hz), gains.index(rec.rx_gain_db)
        table -= table[i0, j0]
        rec.gain_table = GainTable([float(f) for f in freqs], [float(g) for g in gains],
                                   [[float(v) for v in row] for row in table])

    def _step_verify(self, res):
        s = self.settings
        rec = res.record
        tx_fix = TxPrecorrector(rec.tx_iq_beta, rec.tx_leak_add)
        rx_fix = RxCorrector(rec.rx_dc, rec.rx_iq_w)
        m = rec.metrics
        # image rejection of a tone
        x = tone(s.tone_samples, s.tone_frequency, s.pilot_level_dbfs + 3)
        skip = min(1024, s.tone_samples // 8)
        raw = self.transceive(x, s.tone_samples)[skip:-skip]
        fixed = rx_fix.process(self.transceive(tx_fix.process(x), s.tone_samples))[skip:-skip]
        f_rx = estimate_tone(raw - raw.mean()).frequency
        m["irr_before_db"] = _finite(measure_irr(raw, f_rx))
        m["irr_after_db"] = _finite(measure_irr(fixed, f_rx))
        res.captures["tone_before"], res.captures["tone_after"] = raw, fixed
        # DC with the transmitter idle (its LO leakage included): before, and with both corrections
        idle_tx = np.zeros(s.dc_samples, np.complex128)
        before = self.transceive(idle_tx, s.dc_samples)
        after = rx_fix.process(self.transceive(tx_fix.process(idle_tx), s.dc_samples))
        m["dc_before_dbfs"] = _finite(20 * np.log10(max(abs(before.mean()), 1e-15)))
        m["dc_after_dbfs"] = _finite(20 * np.log10(max(abs(after.mean()), 1e-15)))
        # 16-QAM OFDM EVM
        frame = OfdmTestFrame(level_dbfs=s.pilot_level_dbfs)
        n = len(frame) + s.tail
        y0 = self._declock(self.transceive(frame.samples, n))
        y1 = self._declock(rx_fix.process(self.transceive(tx_fix.process(frame.samples), n)))
        m["evm_before_db"] = _finite(frame.evm_db(y0))
        m["evm_after_db"] = _finite(frame.evm_db(y1))
        res.captures["constellation_before"] = frame.equalised(y0).ravel()
        res.captures["constellation_after"] = frame.equalised(y1).ravel()
        res.captures["constellation_reference"] = frame.data.ravel()


def run_calibration(radio, settings: CalibrationSettings | None = None, *, serial: str | None = None,
                    progress=None) -> CalibrationResult:
    """Run the whole procedure (see :class:`CalibrationProcedure`)."""
    return CalibrationProcedure(radio, settings, serial=serial, progress=progress).run()
