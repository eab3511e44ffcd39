"""Applying a stored calibration: what a backend does when a calibration file exists.

Every :class:`hil.backends.base.Radio` does this by itself at ``start()`` (see docs/backends.md,
"Calibration"): it looks up (profile, ``radio.serial``) in the store, then corrects::

    cal = calibration.load_for(radio.profile.name, serial, sample_rate=fs, frequency=fc)
    if cal is not None:
        rx_fix = cal.rx_corrector(frequency=fc, rx_gain=g)   # process(x) on every read
        tx_fix = cal.tx_corrector()                          # process(x) on every write
        meta["calibration"] = cal.describe()                 # say so in the metadata

:func:`load_file` loads one named file with the same checks as ``load_for`` (a radio given
``calibration="path/to/file.json"`` uses it).
"""

from __future__ import annotations

import logging
import os
import warnings

import numpy as np

from calibration.correctors import ClockCorrector, RxCorrector, TxPrecorrector
from calibration.store import CalibrationRecord, CalibrationWarning, calibration_path, load
from hil.errors import ConfigError

__all__ = ["Calibration", "load_file", "load_for", "check_fit"]

log = logging.getLogger("calibration")


def check_fit(record: CalibrationRecord, *, profile: str | None = None, serial: str | None = None,
              sample_rate: float | None = None, frequency: float | None = None, max_age_days: float = 30.0,
              rel_tolerance: float = 0.05) -> list[str]:
    """Why ``record`` may not fit this radio (the rules of :func:`load_for`): another
    profile or serial, older than ``max_age_days``, or made at a sample rate / frequency (Hz) more than
    ``rel_tolerance`` (relative) away. Empty when it fits; None arguments are not checked."""
    problems = []
    if (profile is not None and record.profile != profile) or (serial is not None and record.serial != serial):
        problems.append(f"it is for {record.profile}/{record.serial}, not {profile or record.profile}/"
                        f"{serial or record.serial} (mismatched file)")
    age = record.age_days()
    if age > max_age_days:
        problems.append(f"it is {age:.1f} days old (stale: older than {max_age_days:g} days)")
    for what, now, then in (("sample rate", sample_rate, record.sample_rate_hz),
                            ("frequency", frequency, record.frequency_hz)):
        if now is not None and abs(now - then) > rel_tolerance * then:
            problems.append(f"it was made at {what} {then:g} Hz, the radio now uses {now:g} Hz")
    return problems


def load_file(path, *, profile: str | None = None, serial: str | None = None, sample_rate: float | None = None,
              frequency: float | None = None, max_age_days: float = 30.0, rel_tolerance: float = 0.05):
    """One calibration file as a :class:`Calibration`.

    Raises ConfigError for a missing, corrupted or unsupported file (as :func:`calibration.store.load`);
    warns (:class:`CalibrationWarning`) when it does not fit (see :func:`check_fit`) and still returns it.
    """
    path = os.fspath(path)
    rec = load(path)
    problems = check_fit(rec, profile=profile, serial=serial, sample_rate=sample_rate, frequency=frequency,
                         max_age_days=max_age_days, rel_tolerance=rel_tolerance)
    if problems:
        warnings.warn(f"calibration {path}: " + "; ".join(problems) + ". Re-run `hil calibrate` for this "
                      "device to refresh it.", CalibrationWarning, stacklevel=2)
    return Calibration(rec, path=path, warnings=problems)


def load_for(profile: str, serial: str, *, directory: str | os.PathLike | None = None,
             sample_rate: float | None = None, frequency: float | None = None,
             max_age_days: float = 30.0, rel_tolerance: float = 0.05, required: bool = False):
    """The stored calibration of device (``profile``, ``serial``) as a :class:`Calibration`.

    No file: a WARNING is logged (the radio runs uncorrected) and None is returned, or, with
    ``required=True`` (a scenario that needs calibrated radios), :class:`~hil.errors.ConfigError` naming the
    file expected and the command that makes it. Raises ConfigError for a corrupted or unsupported file.
    Warns (:class:`CalibrationWarning`) when the file does not fit (:func:`check_fit`: another
    profile/serial, older than ``max_age_days``, made at a sample rate / frequency (Hz) more than
    ``rel_tolerance`` away); the calibration is still returned.

    (It lives here, not in :mod:`calibration.store`: the store only reads and writes records, this module
    builds correctors from them; store does not import apply.)
    """
    path = calibration_path(profile, serial, directory)
    if not os.path.exists(path):
        if required:
            raise ConfigError.bad_value("calibration", path, f"a stored calibration of {profile}/{serial} "
                                        f"(required; make it with `hil calibrate --profile {profile} "
                                        f"--serial {serial}`)")
        log.warning("no calibration for %s/%s (expected %s): running uncorrected; `hil calibrate --profile %s` "
                    "makes one", profile, serial, path, profile)
        return None
    rec = load(path)
    problems = check_fit(rec, profile=profile, serial=serial, sample_rate=sample_rate, frequency=frequency,
                         max_age_days=max_age_days, rel_tolerance=rel_tolerance)
    if problems:
        warnings.warn(f"calibration {path}: " + "; ".join(problems) + ". Re-run `hil calibrate --profile "
                      f"{profile}` for this device to refresh it.", CalibrationWarning, stacklevel=2)
    return Calibration(rec, path=path, warnings=problems)


class Calibration:
    """A loaded calibration record with the correctors built from it.

    ``process(x)`` applies the receive correction at the record's own frequency and gain (the shortcut
    a backend uses); :meth:`rx_corrector` builds one for other settings (gain table applied).
    """

    def __init__(self, record: CalibrationRecord, *, path: str | None = None, warnings: list[str] | None = None):
        self.record = record
        self.path = path
        self.warnings = list(warnings or [])
        self._rx = self.rx_corrector()

    def rx_corrector(self, frequency: float | None = None, rx_gain: float | None = None, *,
                     track: bool = False) -> RxCorrector:
        """RX correction (DC, IQ, gain error from the table at ``frequency`` Hz / ``rx_gain`` dB)."""
        r = self.record
        f = r.frequency_hz if frequency is None else float(frequency)
        g = r.rx_gain_db if rx_gain is None else float(rx_gain)
        return RxCorrector(r.rx_dc, r.rx_iq_w, r.gain_table.error_db(f, g), track=track)

    def tx_corrector(self) -> TxPrecorrector:
        """TX pre-distortion (IQ image and LO leakage); identity when TX and RX were not separated."""
        r = self.record
        return TxPrecorrector(r.tx_iq_beta, r.tx_leak_add)

    def clock_corrector(self, frequency: float | None = None) -> ClockCorrector | None:
        """Carrier + sample-clock correction against the ppm reference (None if ppm was not measured)."""
        r = self.record
        if r.ppm is None:
            return None
        return ClockCorrector(r.ppm, sample_rate=r.sample_rate_hz,
                              frequency=r.frequency_hz if frequency is None else frequency)

    def process(self, x) -> np.ndarray:
        """Receive correction at the calibrated settings (streaming; see :class:`RxCorrector`)."""
        return self._rx.process(x)

    def reset(self) -> None:
        self._rx.reset()

    def describe(self) -> dict:
        """What a backend puts in its metadata: which file, when, and what it corrects."""
        r = self.record
        return {"file": self.path, "profile": r.profile, "serial": r.serial, "created_utc": r.created_utc,
                "rx_dc": [r.rx_dc.real, r.rx_dc.imag], "rx_iq_w": [r.rx_iq_w.real, r.rx_iq_w.imag],
                "tx_iq_beta": [r.tx_iq_beta.real, r.tx_iq_beta.imag], "delay_samples": r.delay_samples,
                "ppm": r.ppm, "warnings": list(self.warnings)}

    def __repr__(self) -> str:
        r = self.record
        return (f"Calibration({r.profile}/{r.serial}, {r.created_utc}, dc={r.rx_dc:.3g}, w={r.rx_iq_w:.3g}, "
                f"beta={r.tx_iq_beta:.3g}, delay={r.delay_samples}, ppm={r.ppm}, file={self.path})")
