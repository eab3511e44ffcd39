"""The per-device calibration store: one versioned JSON file per (profile, serial), with a checksum.

Layout::

    $HIL_CALIBRATION_DIR (default ~/.local/share/leo-hil/calibration)/
        <profile>/<serial>.json                  the current calibration of that device
        <profile>/history/<serial>-<UTC>-<unique>.json   every earlier one (never overwritten)
        <profile>/.<serial>.lock                 the writers' lock (flock)

File format (``format`` = ``"leo-hil-calibration"``, ``version`` = 1)::

    {"format": "leo-hil-calibration", "version": 1,
     "checksum": "sha256:<hex of the canonical JSON of record>",
     "record": {...}}            # see CalibrationRecord

Complex numbers are stored as ``[re, im]``. Loading:

* no file -> ``None`` from :func:`calibration.apply.load_for` (the backend runs uncorrected and says so
  at WARNING, or fails when calibration is required);
* not JSON, unknown format/version, missing/invalid fields, or a checksum that does not match (the file
  was edited or damaged) -> :class:`~hil.errors.ConfigError`, refused: re-run ``hil calibrate``;
* a file for another profile or serial, an old one (``max_age_days``), or one made at another sample
  rate / frequency than the radio now uses -> :class:`CalibrationWarning` (the values are still
  returned; the caller decides whether to apply them).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import logging
import os
import re
import secrets
import tempfile
import warnings
from dataclasses import asdict, dataclass, field, fields

from hil.errors import ConfigError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: atomic replace still holds, writers are not queued
    fcntl = None

__all__ = [
    "FORMAT",
    "VERSION",
    "CalibrationRecord",
    "CalibrationWarning",
    "GainTable",
    "calibration_dir",
    "calibration_path",
    "save",
    "load",
]

log = logging.getLogger(__name__)

FORMAT = "leo-hil-calibration"
VERSION = 1
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class CalibrationWarning(UserWarning):
    """A calibration file exists but may not fit this radio (another serial, too old, other settings)."""


def _cplx(v) -> list[float]:
    v = complex(v)
    return [v.real, v.imag]


@dataclass
class GainTable:
    """Gain error over RF frequency and RX gain setting, relative to the reference point.

    ``offset_db[i][j]`` = measured loopback gain - nominal (``rx_gain + tx_gain``) at
    ``frequencies_hz[i]``, ``rx_gains_db[j]``, minus the same at the reference (the calibration's own
    frequency and gain). :meth:`error_db` interpolates (bilinear); outside the table it uses the edge
    value and warns.
    """

    frequencies_hz: list[float] = field(default_factory=list)
    rx_gains_db: list[float] = field(default_factory=list)
    offset_db: list[list[float]] = field(default_factory=list)

    def validate(self, where: str = "gain_table") -> None:
        nf, ng = len(self.frequencies_hz), len(self.rx_gains_db)
        if len(self.offset_db) != nf or any(len(r) != ng for r in self.offset_db):
            raise ConfigError.bad_value(f"{where}.offset_db", f"{len(self.offset_db)} rows",
                                        f"{nf} rows of {ng} values (frequencies x gains)")
        for name, axis in (("frequencies_hz", self.frequencies_hz), ("rx_gains_db", self.rx_gains_db)):
            if any(b <= a for a, b in zip(axis, axis[1:])):
                raise ConfigError.bad_value(f"{where}.{name}", axis, "strictly increasing values")

    def error_db(self, frequency_hz: float, rx_gain_db: float) -> float:
        import numpy as np

        if not self.frequencies_hz:
            return 0.0
        f = np.asarray(self.frequencies_hz, float)
        g = np.asarray(self.rx_gains_db, float)
        t = np.asarray(self.offset_db, float)
        if not (f[0] <= frequency_hz <= f[-1]) or not (g[0] <= rx_gain_db <= g[-1]):
            warnings.warn(f"gain table covers {f[0]:g}..{f[-1]:g} Hz and {g[0]:g}..{g[-1]:g} dB; "
                          f"{frequency_hz:g} Hz / {rx_gain_db:g} dB is outside: using the nearest edge value",
                          CalibrationWarning, stacklevel=2)
        col = np.array([np.interp(rx_gain_db, g, row) for row in t])
        return float(np.interp(frequency_hz, f, col))


@dataclass
class CalibrationRecord:
    """Everything one calibration run found for one device (units in the names).

    Conditions: ``profile``, ``serial``, ``created_utc`` (ISO 8601), ``software`` (leo-hil version),
    ``backend``, ``sample_rate_hz``, ``frequency_hz``, ``tx_gain_db``, ``rx_gain_db``.
    Results: ``rx_dc`` and ``rx_iq_w`` (receive correction), ``tx_iq_beta`` and ``tx_leak_add``
    (transmit pre-distortion), ``iq_separated`` (False: ``rx_iq_w`` corrects TX and RX together),
    ``delay_samples`` (TX->RX latency of this backend's loopback), ``ppm`` (receiver reference error
    against the source named in ``ppm_reference``; None if not measured), ``gain_table``,
    ``inband_freqs``/``inband_db`` (loopback response across the band, cycles/sample and dB),
    ``metrics`` (before/after numbers of the report).
    """

    profile: str
    serial: str
    created_utc: str
    sample_rate_hz: float
    frequency_hz: float
    tx_gain_db: float = 0.0
    rx_gain_db: float = 0.0
    backend: str = ""
    software: str = ""
    rx_dc: complex = 0j
    rx_iq_w: complex = 0j
    tx_iq_beta: complex = 0j
    tx_leak_add: complex = 0j
    iq_separated: bool = False
    delay_samples: float | None = None
    ppm: float | None = None
    ppm_reference: str = ""
    gain_table: GainTable = field(default_factory=GainTable)
    inband_freqs: list[float] = field(default_factory=list)
    inband_db: list[float] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)

    _COMPLEX = ("rx_dc", "rx_iq_w", "tx_iq_beta", "tx_leak_add")

    def to_json(self) -> dict:
        d = asdict(self)
        for k in self._COMPLEX:
            d[k] = _cplx(getattr(self, k))
        return d

    @classmethod
    def from_json(cls, d, source: str = "") -> CalibrationRecord:
        if not isinstance(d, dict):
            raise ConfigError.bad_value("record", type(d).__name__, "a mapping", source=source)
        names = {f.name for f in fields(cls)}
        unknown = [k for k in d if k not in names]
        if unknown:
            raise ConfigError.bad_value(f"record.{unknown[0]}", d[unknown[0]],
                                        "no such field; known: " + ", ".join(sorted(names)), source=source)
        kw = dict(d)
        try:
            for k in cls._COMPLEX:
                if k in kw:
                    v = kw[k]
                    if not (isinstance(v, list) and len(v) == 2 and all(isinstance(a, (int, float)) for a in v)):
                        raise ConfigError.bad_value(f"record.{k}", v, "[re, im] (two numbers)", source=source)
                    kw[k] = complex(v[0], v[1])
            if "gain_table" in kw:
                gt = kw["gain_table"]
                if not isinstance(gt, dict):
                    raise ConfigError.bad_value("record.gain_table", gt, "a mapping", source=source)
                kw["gain_table"] = GainTable(**gt)
                kw["gain_table"].validate("record.gain_table")
            rec = cls(**kw)
        except TypeError as exc:
            raise ConfigError(f"{source}: calibration record incomplete or malformed: {exc}", source=source) from None
        for k in ("profile", "serial", "created_utc"):
            if not isinstance(getattr(rec, k), str) or not getattr(rec, k):
                raise ConfigError.bad_value(f"record.{k}", getattr(rec, k), "a non-empty string", source=source)
        for k in ("sample_rate_hz", "frequency_hz"):
            v = getattr(rec, k)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                raise ConfigError.bad_value(f"record.{k}", v, "a number > 0", source=source)
        for k in ("rx_iq_w", "tx_iq_beta"):
            if not abs(getattr(rec, k)) < 1:
                raise ConfigError.bad_value(f"record.{k}", _cplx(getattr(rec, k)), "|value| < 1", source=source)
        return rec

    @property
    def created(self) -> _dt.datetime:
        return _dt.datetime.fromisoformat(self.created_utc)

    def age_days(self, now: _dt.datetime | None = None) -> float:
        now = now or _dt.datetime.now(_dt.timezone.utc)
        return (now - self.created).total_seconds() / 86400.0


def _checksum(record: dict) -> str:
    canon = json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return "sha256:" + hashlib.sha256(canon.encode("utf-8")).hexdigest()


def _check_name(field_name: str, value: str) -> str:
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise ConfigError.bad_value(field_name, value,
                                    "1..128 characters of A-Z a-z 0-9 . _ - (not starting with . _ -)")
    return value


def calibration_dir(directory: str | os.PathLike | None = None) -> str:
    """The store's root: ``directory``, else ``$HIL_CALIBRATION_DIR``, else ``~/.local/share/leo-hil/calibration``."""
    if directory is not None:
        return os.fspath(directory)
    env = os.environ.get("HIL_CALIBRATION_DIR", "").strip()
    if env:
        return env
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "leo-hil", "calibration")


def calibration_path(profile: str, serial: str, directory: str | os.PathLike | None = None) -> str:
    """Path of the current calibration file of device (profile, serial)."""
    return os.path.join(calibration_dir(directory), _check_name("profile", profile),
                        _check_name("serial", serial) + ".json")


@contextlib.contextmanager
def _device_lock(folder: str, serial: str):
    """An exclusive advisory lock (``flock``) per device, held by :func:`save`: concurrent writers in any
    process queue up instead of interleaving their read-previous / replace / history steps."""
    lock_path = os.path.join(folder, f".{serial}.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def _write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a unique temporary file in the same folder, flush + fsync,
    ``os.replace``, then fsync of the folder (so the rename itself survives a power cut). A reader sees
    the old file or the new one, never a partial or a missing one."""
    folder = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(folder)


def _fsync_dir(folder: str) -> None:
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(dfd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on a directory
        pass
    finally:
        os.close(dfd)


def save(record: CalibrationRecord, directory: str | os.PathLike | None = None) -> str:
    """Write ``record`` as the current calibration of its device; the previous one is kept in history/.

    Safe against crashes and concurrent writers (processes or threads): under a per-device lock the
    previous file's bytes are read, the new file is written atomically (:func:`_write_atomic`: unique
    temporary file, fsync, ``os.replace``) so readers always find a complete current file, and only then
    is the previous content written to ``history/<serial>-<UTC>-<unique>.json`` (atomically too).
    Returns the path of the current file.
    """
    path = calibration_path(record.profile, record.serial, directory)
    body = record.to_json()
    doc = {"format": FORMAT, "version": VERSION, "checksum": _checksum(body), "record": body}
    data = (json.dumps(doc, indent=1, sort_keys=True, allow_nan=False) + "\n").encode("utf-8")
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise ConfigError.bad_value("calibration store", calibration_dir(directory),
                                    f"a writable directory ({exc.strerror or exc})") from None
    if not os.path.isdir(folder):
        raise ConfigError.bad_value("calibration store", calibration_dir(directory), "a directory")
    try:
        with _device_lock(folder, record.serial):
            try:
                with open(path, "rb") as fh:
                    previous = fh.read()
            except FileNotFoundError:
                previous = None
            _write_atomic(path, data)
            if previous is not None:
                hist = os.path.join(folder, "history")
                os.makedirs(hist, exist_ok=True)
                stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
                # unique even for two saves in the same microsecond (the lock serialises, the clock may not)
                hpath = os.path.join(hist, f"{record.serial}-{stamp}-{os.getpid()}-{secrets.token_hex(4)}.json")
                _write_atomic(hpath, previous)
    except OSError as exc:
        raise ConfigError.bad_value("calibration store", calibration_dir(directory),
                                    f"a writable directory ({exc.strerror or exc})") from None
    return path


def load(path: str | os.PathLike) -> CalibrationRecord:
    """Read and verify one calibration file; ConfigError (naming the file and the problem) if it is
    not a valid, intact calibration of a supported version."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such calibration file", source=path) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: calibration file is corrupted (not UTF-8 text); re-run `hil calibrate`",
                          source=path) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: calibration file is corrupted (not valid JSON: {exc.msg} at line {exc.lineno}, "
                          f"column {exc.colno}); re-run `hil calibrate`", source=path) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        got = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise ConfigError.bad_value("format", got, repr(FORMAT), source=path)
    if doc.get("version") != VERSION:
        raise ConfigError.bad_value("version", doc.get("version"),
                                    f"{VERSION} (this leo-hil reads calibration format version {VERSION}; "
                                    "re-run `hil calibrate`)", source=path)
    body = doc.get("record")
    if not isinstance(body, dict):
        raise ConfigError.bad_value("record", type(body).__name__, "a mapping", source=path)
    try:
        expect = _checksum(body)
    except ValueError:  # NaN/inf smuggled in
        raise ConfigError(f"{path}: calibration file is corrupted (non-finite numbers); re-run `hil calibrate`",
                          source=path) from None
    if doc.get("checksum") != expect:
        raise ConfigError(f"{path}: calibration file is corrupted: checksum mismatch (stored "
                          f"{doc.get('checksum')!r}, content gives {expect!r}) - it was edited or damaged; "
                          "refusing to apply it; re-run `hil calibrate`", field="checksum",
                          value=doc.get("checksum"), allowed=expect, source=path)
    return CalibrationRecord.from_json(body, source=path)
