"""Earth orientation from IERS EOP files: UT1-UTC and polar motion, and the rotation they give.

SGP4 states are in TEME. The Earth-fixed frame (ITRF, where ground stations sit) is reached by

    r_ITRF = W^T(t) R3(theta(t)) r_TEME,    theta = GMST_IAU82(UT1),    W = R2(x_p) R1(y_p)

(Vallado et al., "Revisiting Spacetrack Report #3", 2006, sec. "TEME"; IERS Conventions 2010 eq. 5.3
for W, without the microarcsecond term s'). Without an EOP table this package takes UT1 = UTC and
x_p = y_p = 0 (see docs/orbit.md for what that costs: ~75 ns of delay and ~17 Hz of Doppler at
20 GHz for UT1-UTC = 0.074 s on a 550 km pass; < 15 m of ground position for polar motion).

File format: IERS/USNO ``finals2000A.all`` / ``finals2000A.data`` / ``finals.all`` (the same fixed
columns for everything read here; columns are 1-based, inclusive)::

     1-2 year (2 digits)  3-4 month  5-6 day   8-15 MJD (UTC, 0h)
    17 PM flag (I/P)  19-27 Bull. A x_p (arcsec)  38-46 Bull. A y_p (arcsec)
    58 UT1 flag (I/P) 59-68 Bull. A UT1-UTC (s)
    135-144 Bull. B x_p   145-154 Bull. B y_p   155-165 Bull. B UT1-UTC   (final values, when present)

Bulletin B (final) values are used where a line has them, Bulletin A (rapid / predicted) otherwise.
Lines past the end of the predictions (date only) end the table; a line with data after them, a
malformed number, a date that does not match its MJD or MJDs that do not increase are errors naming
the line and columns. Values are interpolated linearly in MJD; a leap second (a jump of UT1-UTC by
about 1 s between two days) is kept as a step at 0h UTC of the day after the leap second, not smeared.
"""

from __future__ import annotations

import datetime as _dt
import functools
import os

import numpy as np

from hil.errors import ConfigError

from .constants import DAY_S
from .timebase import Epoch, gmst_rad, gmst_rate_radps

__all__ = ["EarthOrientation", "load_eop", "parse_eop_text", "as_eop", "earth_rotation", "itrf_to_pef",
           "pef_to_itrf", "ARCSEC_RAD"]

#: one second of arc in radians
ARCSEC_RAD = np.pi / (180.0 * 3600.0)
_MJD0_ORDINAL = _dt.date(1858, 11, 17).toordinal()  # MJD 0
_JD_MJD = 2400000.5

# (first column, last column, field name, expected form) - 1-based, inclusive
_COLS = {
    "year": (1, 2, "year", "2 digits"),
    "month": (3, 4, "month", "1..12"),
    "day": (5, 6, "day", "1..31"),
    "mjd": (8, 15, "MJD", "F8.2 days, e.g. '61010.00'"),
    "xa": (19, 27, "Bull. A PM-x", "F9.6 arcsec"),
    "ya": (38, 46, "Bull. A PM-y", "F9.6 arcsec"),
    "ua": (59, 68, "Bull. A UT1-UTC", "F10.7 s, |value| < 1"),
    "xb": (135, 144, "Bull. B PM-x", "F10.6 arcsec"),
    "yb": (145, 154, "Bull. B PM-y", "F10.6 arcsec"),
    "ub": (155, 165, "Bull. B UT1-UTC", "F11.7 s, |value| < 1"),
}


def _col(line: str, key: str) -> str:
    a, b, _, _ = _COLS[key]
    return line[a - 1:b]


def _bad(source, lineno, key, text, allowed=None):
    a, b, name, form = _COLS[key]
    raise ConfigError.bad_value(f"line {lineno} columns {a}-{b} ({name})", text, allowed or form, source=source)


def _num(line: str, key: str, source, lineno, *, lo=None, hi=None) -> float:
    text = _col(line, key)
    try:
        v = float(text)
    except ValueError:
        _bad(source, lineno, key, text)
    if not np.isfinite(v) or (lo is not None and v < lo) or (hi is not None and v > hi):
        _bad(source, lineno, key, text, f"{_COLS[key][3].split(',')[0]} in {lo}..{hi}")
    return v


class EarthOrientation:
    """A table of Earth orientation parameters, interpolated linearly in MJD (UTC).

    ``mjd`` strictly increasing days; ``ut1_utc_s`` UT1 - UTC (s, |.| < 1; leap-second steps allowed);
    ``xp_arcsec`` / ``yp_arcsec`` polar motion (arcsec, |.| < 2). Times outside the table raise.
    """

    def __init__(self, mjd, ut1_utc_s, xp_arcsec, yp_arcsec, *, source: str = ""):
        m = np.ascontiguousarray(mjd, dtype=np.float64)
        u = np.ascontiguousarray(ut1_utc_s, dtype=np.float64)
        x = np.ascontiguousarray(xp_arcsec, dtype=np.float64)
        y = np.ascontiguousarray(yp_arcsec, dtype=np.float64)
        if m.ndim != 1 or m.size < 2 or not (u.shape == x.shape == y.shape == m.shape):
            raise ConfigError.bad_value("EOP table", f"shapes {m.shape}, {u.shape}, {x.shape}, {y.shape}",
                                        "four 1-D arrays of the same length >= 2", source=source or None)
        for name, a, lim in (("mjd", m, None), ("ut1_utc_s", u, 1.0), ("xp_arcsec", x, 2.0),
                             ("yp_arcsec", y, 2.0)):
            if not np.all(np.isfinite(a)):
                raise ConfigError.bad_value(name, "non-finite values", "finite numbers", source=source or None)
            if lim is not None and np.max(np.abs(a)) >= lim:
                raise ConfigError.bad_value(name, float(a[np.argmax(np.abs(a))]), f"|value| < {lim}",
                                            source=source or None)
        if np.any(np.diff(m) <= 0):
            k = int(np.argmax(np.diff(m) <= 0))
            raise ConfigError.bad_value(f"mjd[{k + 1}]", float(m[k + 1]), f"> {m[k]} (strictly increasing)",
                                        source=source or None)
        self.mjd, self.ut1_utc_s, self.xp_arcsec, self.yp_arcsec = m, u, x, y
        self.source = source
        # leap seconds: UT1-UTC jumps by ~ +-1 s; interpolate the continuous part, add the steps back
        jumps = np.concatenate([[0.0], np.round(np.diff(u)) * (np.abs(np.diff(u)) > 0.5)])
        self._steps = np.cumsum(jumps)
        self._cont = u - self._steps

    @classmethod
    def constant(cls, ut1_utc_s: float = 0.0, xp_arcsec: float = 0.0, yp_arcsec: float = 0.0, *,
                 mjd_range=(40000.0, 80000.0)) -> EarthOrientation:
        """Constant parameters over ``mjd_range`` (for tests and what-if runs)."""
        m = np.asarray(mjd_range, dtype=np.float64)
        return cls(m, [ut1_utc_s] * 2, [xp_arcsec] * 2, [yp_arcsec] * 2, source="constant")

    def __repr__(self) -> str:
        src = f" from {os.path.basename(self.source)}" if self.source else ""
        return (f"EarthOrientation({self.mjd.size} rows{src}, MJD {self.mjd[0]:g}..{self.mjd[-1]:g}, "
                f"UT1-UTC {self.ut1_utc_s.min():+.4f}..{self.ut1_utc_s.max():+.4f} s)")

    @property
    def mjd_range(self) -> tuple[float, float]:
        return float(self.mjd[0]), float(self.mjd[-1])

    def _locate(self, mjd):
        q = np.asarray(mjd, dtype=np.float64)
        if q.size and (not np.all(np.isfinite(q)) or q.min() < self.mjd[0] - 1e-9 or q.max() > self.mjd[-1] + 1e-9):
            bad = q.min() if (not np.all(np.isfinite(q)) or q.min() < self.mjd[0]) else q.max()
            raise ConfigError.bad_value("time (MJD UTC)", float(bad),
                                        f"{self.mjd[0]:g}..{self.mjd[-1]:g} (the span of the EOP table"
                                        f"{' ' + self.source if self.source else ''})")
        k = np.clip(np.searchsorted(self.mjd, q, side="right") - 1, 0, self.mjd.size - 2)
        f = (q - self.mjd[k]) / (self.mjd[k + 1] - self.mjd[k])
        return q, k, f

    def ut1_utc(self, mjd) -> np.ndarray:
        """UT1 - UTC (s) at ``mjd`` (UTC days); a leap second is a step at 0h of the following day."""
        q, k, f = self._locate(mjd)
        cont = self._cont[k] + f * (self._cont[k + 1] - self._cont[k])
        # the step belongs to the row at or before q (at q == mjd[k+1] exactly, the new value)
        at_next = q >= self.mjd[k + 1]
        return cont + np.where(at_next, self._steps[k + 1], self._steps[k])

    def ut1_utc_rate(self, mjd) -> np.ndarray:
        """d(UT1 - UTC)/dt (s/s), from the same linear interpolation (= -excess length of day / 86400 s)."""
        _, k, _ = self._locate(mjd)
        return (self._cont[k + 1] - self._cont[k]) / ((self.mjd[k + 1] - self.mjd[k]) * DAY_S)

    def polar_motion(self, mjd) -> tuple[np.ndarray, np.ndarray]:
        """Pole coordinates ``(x_p, y_p)`` in radians at ``mjd`` (UTC days)."""
        _, k, f = self._locate(mjd)
        x = self.xp_arcsec[k] + f * (self.xp_arcsec[k + 1] - self.xp_arcsec[k])
        y = self.yp_arcsec[k] + f * (self.yp_arcsec[k + 1] - self.yp_arcsec[k])
        return x * ARCSEC_RAD, y * ARCSEC_RAD


def parse_eop_text(text: str, *, source: str = "<eop>") -> EarthOrientation:
    """Parse IERS finals (finals2000A.all / .data / finals.all) text; see the module doc for the columns."""
    rows = []
    ended_at = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        if len(line) < 15:
            raise ConfigError.bad_value(f"line {lineno} (length)", len(line),
                                        "at least 15 characters (date and MJD, columns 1-15)", source=source)
        yy, mo, dd = (_col(line, k) for k in ("year", "month", "day"))
        try:
            date = (int(yy), int(mo), int(dd))
        except ValueError:
            bad = next(k for k, v in (("year", yy), ("month", mo), ("day", dd)) if not v.strip().isdigit())
            _bad(source, lineno, bad, _col(line, bad))
        mjd = _num(line, "mjd", source, lineno, lo=0.0, hi=200000.0)
        year = date[0] + (1900 if mjd <= 51543 else 2000)
        try:
            want = _dt.date(year, date[1], date[2]).toordinal() - _MJD0_ORDINAL
        except ValueError:
            _bad(source, lineno, "day", line[4:6], f"a day of {year}-{date[1]:02d} (YYMMDD in columns 1-6)")
        if abs(want - mjd) > 1e-6:
            _bad(source, lineno, "mjd", _col(line, "mjd"), f"{want}.00, the MJD of the date in columns 1-6")
        has_a = bool(_col(line, "ua").strip())
        has_b = len(line) >= 165 and bool(_col(line, "ub").strip())
        if not (has_a or has_b):
            # past the end of the predictions: only the date is given
            ended_at = ended_at or lineno
            continue
        if ended_at:
            raise ConfigError.bad_value(f"line {lineno}", "UT1-UTC values",
                                        f"no data after line {ended_at}, where the table ended (no UT1-UTC)",
                                        source=source)
        if has_b:
            x = _num(line, "xb", source, lineno, lo=-2.0, hi=2.0)
            y = _num(line, "yb", source, lineno, lo=-2.0, hi=2.0)
            u = _num(line, "ub", source, lineno, lo=-1.0, hi=1.0)
        else:
            x = _num(line, "xa", source, lineno, lo=-2.0, hi=2.0)
            y = _num(line, "ya", source, lineno, lo=-2.0, hi=2.0)
            u = _num(line, "ua", source, lineno, lo=-1.0, hi=1.0)
        if rows and mjd <= rows[-1][0]:
            _bad(source, lineno, "mjd", _col(line, "mjd"), f"> {rows[-1][0]:.2f} (the previous line's MJD)")
        rows.append((mjd, u, x, y))
    if len(rows) < 2:
        raise ConfigError.bad_value("content", f"{len(rows)} rows with UT1-UTC",
                                    "at least 2 lines of IERS finals data (finals2000A.all format)", source=source)
    a = np.array(rows)
    return EarthOrientation(a[:, 0], a[:, 1], a[:, 2], a[:, 3], source=source)


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int, size: int) -> EarthOrientation:
    try:
        with open(path, encoding="ascii", errors="strict") as fh:
            text = fh.read()
    except UnicodeDecodeError as exc:
        raise ConfigError.bad_value("content", f"byte {exc.object[exc.start]:#04x} at offset {exc.start}",
                                    "ASCII text", source=path) from None
    return parse_eop_text(text, source=path)


def load_eop(path: str | os.PathLike) -> EarthOrientation:
    """Read an IERS finals file (``finals2000A.all`` format). Cached by path, size and modification time."""
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (EOP table, IERS finals2000A.all format)", source=path) from None
    return _load_cached(os.path.abspath(path), st.st_mtime_ns, st.st_size)


def as_eop(value, *, field: str = "eop") -> EarthOrientation | None:
    """None (UT1 = UTC, no polar motion), an :class:`EarthOrientation`, or the path of a finals file."""
    if value is None or isinstance(value, EarthOrientation):
        return value
    if isinstance(value, (str, os.PathLike)):
        return load_eop(value)
    raise ConfigError.bad_value(field, value, "None, an EarthOrientation or the path of an IERS finals file")


def _mjd(epoch: Epoch, t) -> np.ndarray:
    return (epoch.jd - _JD_MJD) + epoch.fr + np.asarray(t, dtype=np.float64) / DAY_S


def earth_rotation(epoch: Epoch, t_s, eop: EarthOrientation | None = None):
    """Earth rotation angle (GMST of UT1, rad), its rate (rad/s) and the pole ``(x_p, y_p)`` (rad, or
    None without a table) at ``t_s`` seconds (UTC) after ``epoch``."""
    t = np.asarray(t_s, dtype=np.float64)
    if eop is None:
        return gmst_rad(epoch, t), gmst_rate_radps(epoch, t), None
    m = _mjd(epoch, t)
    dut1 = eop.ut1_utc(m)
    th = gmst_rad(epoch, t + dut1)
    w = gmst_rate_radps(epoch, t + dut1) * (1.0 + eop.ut1_utc_rate(m))
    return th, w, eop.polar_motion(m)


def _xyz(vec):
    if isinstance(vec, np.ndarray):
        return vec[..., 0], vec[..., 1], vec[..., 2]
    return vec


def _pm_terms(pole):
    xp, yp = pole
    return np.cos(xp), np.sin(xp), np.cos(yp), np.sin(yp)


def itrf_to_pef(vec, pole):
    """``W vec`` for ITRF vectors ``vec`` (shape (..., 3) or a 3-tuple of arrays): coordinates in the
    pseudo-Earth-fixed frame of the true pole. ``W = R2(x_p) R1(y_p)``. Returns a 3-tuple."""
    x, y, z = _xyz(vec)
    cx, sx, cy, sy = _pm_terms(pole)
    return (cx * x + sx * sy * y - sx * cy * z,
            cy * y + sy * z,
            sx * x - cx * sy * y + cx * cy * z)


def pef_to_itrf(vec, pole):
    """``W^T vec``: pseudo-Earth-fixed coordinates to ITRF (the inverse of :func:`itrf_to_pef`)."""
    x, y, z = _xyz(vec)
    cx, sx, cy, sy = _pm_terms(pole)
    return (cx * x + sx * z,
            sx * sy * x + cy * y - cx * sy * z,
            -sx * cy * x + sy * y + cx * cy * z)
