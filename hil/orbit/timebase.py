"""Epochs and Earth rotation.

All times are UTC. An *epoch* is an absolute instant; every time array in this package is in seconds
since an epoch. Internally an epoch is a split Julian date ``(jd, fr)`` (``jd`` ends in .5, ``fr`` is
the fraction of the day), which keeps sub-microsecond resolution for decades.

Earth orientation: the functions here take UT1 = UTC. With an IERS EOP table (:mod:`hil.orbit.eop`,
``eop=`` in the look functions) GMST is evaluated at UT1 and polar motion rotates PEF to ITRF; without
one UT1 = UTC (|UT1 - UTC| < 0.9 s by IERS rule; 0.074 s costs 66 ns / 17.6 Hz at 20 GHz on a 550 km
pass) and TEME -> PEF is taken as TEME -> ITRF (pole offset < 0.5 arcsec, < 15 m at the surface).
GMST is the IAU-82 expression that SGP4/TEME is defined with (Vallado et al., "Revisiting Spacetrack
Report #3", 2006).
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass

import numpy as np
from sgp4.api import jday

from hil.errors import ConfigError

from .constants import DAY_S

__all__ = ["Epoch", "as_epoch", "gmst_rad", "gmst_rate_radps"]

_UTC = _dt.timezone.utc


@dataclass(frozen=True)
class Epoch:
    """An absolute UTC instant as a split Julian date (``jd`` + ``fr`` days)."""

    jd: float
    fr: float

    @classmethod
    def from_datetime(cls, when: _dt.datetime) -> Epoch:
        """From a datetime; a naive datetime is read as UTC, an aware one is converted to UTC."""
        if when.tzinfo is not None:
            when = when.astimezone(_UTC).replace(tzinfo=None)
        jd, fr = jday(when.year, when.month, when.day, when.hour, when.minute,
                      when.second + when.microsecond * 1e-6)
        return cls(float(jd), float(fr))

    @property
    def datetime(self) -> _dt.datetime:
        """The epoch as an aware UTC datetime (microsecond resolution)."""
        base = _dt.datetime(2000, 1, 1, 12, tzinfo=_UTC)  # JD 2451545.0
        days = (self.jd - 2451545.0) + self.fr
        return base + _dt.timedelta(days=days)

    def plus(self, seconds: float) -> Epoch:
        """The epoch ``seconds`` later (negative: earlier)."""
        fr = self.fr + seconds / DAY_S
        whole = math.floor(fr)
        return Epoch(self.jd + whole, fr - whole)

    def seconds_since(self, other: Epoch) -> float:
        """``self - other`` in seconds."""
        return ((self.jd - other.jd) + (self.fr - other.fr)) * DAY_S

    def split(self, t_s) -> tuple[np.ndarray, np.ndarray]:
        """Julian-date arrays ``(jd, fr)`` for times ``t_s`` (s since this epoch), as SGP4 takes them."""
        t = np.asarray(t_s, dtype=np.float64)
        fr = self.fr + t / DAY_S
        return np.full(t.shape, self.jd), fr

    def isoformat(self) -> str:
        return self.datetime.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def __str__(self) -> str:
        return self.isoformat()


def as_epoch(value, *, field: str = "epoch") -> Epoch:
    """Make an :class:`Epoch` from an Epoch, a datetime, a numpy datetime64 or an ISO-8601 string.

    Strings without a zone (``2026-03-01T12:00:00``) and naive datetimes are UTC; ``Z`` or an offset
    is honoured. Anything else raises ConfigError naming ``field``.
    """
    if isinstance(value, Epoch):
        return value
    if isinstance(value, np.datetime64):
        value = str(np.datetime_as_string(value.astype("datetime64[us]")))
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            value = _dt.datetime.fromisoformat(text)
        except ValueError:
            raise ConfigError.bad_value(field, value, "an ISO-8601 UTC time such as "
                                        "'2026-03-01T12:00:00Z'") from None
    if isinstance(value, _dt.datetime):
        return Epoch.from_datetime(value)
    if isinstance(value, _dt.date):
        return Epoch.from_datetime(_dt.datetime(value.year, value.month, value.day))
    raise ConfigError.bad_value(field, value, "an Epoch, datetime, numpy.datetime64 or ISO-8601 string")


# IAU-82 GMST polynomial (seconds of sidereal time) in Julian centuries T of UT1 from J2000.
_G0, _G1, _G2, _G3 = 67310.54841, 876600.0 * 3600.0 + 8640184.812866, 0.093104, -6.2e-6


def _poly_parts(epoch: Epoch, t_s):
    t = np.asarray(t_s, dtype=np.float64)
    T0 = ((epoch.jd - 2451545.0) + epoch.fr) / 36525.0
    dT = t / (36525.0 * DAY_S)
    return t, T0, dT


def gmst_rad(epoch: Epoch, t_s) -> np.ndarray:
    """Greenwich mean sidereal angle (rad, in [0, 2 pi)) at ``t_s`` seconds after ``epoch``.

    Evaluated as the angle at the epoch plus the polynomial's increment over ``t``: the plain
    polynomial in absolute centuries loses ~1e-7 s (tens of micrometres at the ground) to rounding,
    which would show up as noise in range rate between 1 ms knots.
    """
    t, T0, dT = _poly_parts(epoch, t_s)
    sec0 = ((_G3 * T0 + _G2) * T0 + _G1) * T0 + _G0
    th0 = math.fmod(sec0, DAY_S) * (2.0 * np.pi / DAY_S)
    dsec = (_G1 + (2.0 * _G2 + 3.0 * _G3 * T0) * T0) * dT + (_G2 + 3.0 * _G3 * T0) * dT * dT + _G3 * dT**3
    return np.mod(th0 + dsec * (2.0 * np.pi / DAY_S), 2.0 * np.pi)


def gmst_rate_radps(epoch: Epoch, t_s) -> np.ndarray:
    """Time derivative of :func:`gmst_rad` (rad/s): the Earth rotation rate of the model."""
    t, T0, dT = _poly_parts(epoch, t_s)
    T = T0 + dT
    dsec_dT = (3.0 * _G3 * T + 2.0 * _G2) * T + _G1
    return dsec_dT / (36525.0 * DAY_S) * (2.0 * np.pi / DAY_S)
