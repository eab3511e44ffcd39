"""Satellite sources: TLE files and Walker-delta constellations, both propagated with SGP4.

One propagator for everything: TLE satellites come from ``Satrec.twoline2rv`` and Walker satellites
from ``Satrec.sgp4init`` with the generated mean elements (WGS-72 constants, as SGP4 is defined),
so a Walker shell and its TLE export give the same trajectories. Many satellites are propagated at
once with ``SatrecArray`` (the sgp4 package's vectorised C++ loop). Positions come out in TEME, in
metres and m/s.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sgp4.api import WGS72, Satrec, SatrecArray

from hil.errors import ConfigError, check_range

from .timebase import Epoch, as_epoch, gmst_rad
from .tle import SGP4_ERRORS as _SGP4_ERRORS
from .tle import format_tle, load_tle_file, parse_tle_text

__all__ = ["Satellite", "Constellation", "WalkerConstellation", "geostationary", "PRESETS", "preset",
           "load_constellation", "DEFAULT_WALKER_EPOCH", "TLE_MAX_SPAN_DAYS"]

#: element epoch of generated constellations unless one is given
DEFAULT_WALKER_EPOCH = "2026-01-01T00:00:00Z"
#: a TLE is trusted this many days either side of its epoch (SGP4 errors grow ~1-3 km/day for LEO)
TLE_MAX_SPAN_DAYS = 30.0

_MU_WGS72_KM3S2 = 398600.8
_RE_WGS72_KM = 6378.135
_RE_WGS84_KM = 6378.137
_EPOCH_1949 = 2433281.5  # JD of 1949-12-31 00:00 UT, the sgp4init epoch origin


@dataclass(frozen=True)
class Satellite:
    """One satellite: a name, its SGP4 record, its element epoch and how far from it it may be used.

    ``max_span_days`` None means no limit (generated elements without drag).
    """

    name: str
    satrec: Satrec
    element_epoch: Epoch
    max_span_days: float | None = TLE_MAX_SPAN_DAYS

    def propagate_teme(self, epoch, t_s, *, allow_stale: bool = False):
        """TEME position (m) and velocity (m/s), each shaped ``(len(t), 3)``, at ``t_s`` s after ``epoch``."""
        r, v = Constellation([self]).propagate_teme(epoch, t_s, allow_stale=allow_stale)
        return r[0], v[0]

    def __repr__(self) -> str:
        return f"Satellite({self.name!r}, satnum={self.satrec.satnum}, element_epoch={self.element_epoch})"


class Constellation(Sequence):
    """An ordered set of satellites propagated together (``SatrecArray``).

    Index with an int for a :class:`Satellite`, with a slice or a list of ints for a sub-constellation.
    """

    def __init__(self, satellites, *, name: str = ""):
        sats = list(satellites)
        if not sats:
            raise ConfigError.bad_value("satellites", sats, "at least one satellite")
        for i, s in enumerate(sats):
            if not isinstance(s, Satellite):
                raise ConfigError.bad_value(f"satellites[{i}]", s, "a Satellite")
        self._sats = sats
        self.name = name
        self._array = None

    # -- sequence protocol
    def __len__(self) -> int:
        return len(self._sats)

    def __iter__(self):
        return iter(self._sats)

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            n = len(self._sats)
            if not -n <= key < n:
                raise ConfigError.bad_value("satellite index", int(key), f"-{n}..{n - 1}")
            return self._sats[key]
        if isinstance(key, slice):
            return Constellation(self._sats[key], name=self.name)
        idx = list(key)
        return Constellation([self[int(i)] for i in idx], name=self.name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {len(self)} satellites)"

    @property
    def names(self) -> list[str]:
        return [s.name for s in self._sats]

    @property
    def satellites(self) -> list[Satellite]:
        return list(self._sats)

    def index(self, name: str) -> int:  # noqa: D102 - Sequence.index by name
        for i, s in enumerate(self._sats):
            if s.name == name:
                return i
        raise ConfigError.bad_value("satellite", name, "one of " + ", ".join(self.names[:10])
                                    + (" ..." if len(self) > 10 else ""))

    # -- propagation
    def check_span(self, epoch, t_s, *, allow_stale: bool = False) -> None:
        """Raise ConfigError if any time is farther from a satellite's element epoch than it allows."""
        if allow_stale:
            return
        epoch = as_epoch(epoch)
        t = np.asarray(t_s, dtype=np.float64)
        if t.size == 0:
            return
        lo, hi = float(t.min()), float(t.max())
        for s in self._sats:
            if s.max_span_days is None:
                continue
            for tt in (lo, hi):
                d = epoch.plus(tt).seconds_since(s.element_epoch) / 86400.0
                if abs(d) > s.max_span_days:
                    raise ConfigError.bad_value(
                        f"time {epoch.plus(tt)} for satellite {s.name!r}",
                        f"{d:+.2f} days from its element epoch {s.element_epoch}",
                        f"within +/-{s.max_span_days:g} days (pass allow_stale=True to propagate anyway)")

    def propagate_teme(self, epoch, t_s, *, allow_stale: bool = False, chunk_points: int = 2_000_000):
        """Propagate every satellite to ``t_s`` (s after ``epoch``, 1-D).

        Returns ``(r, v)``: TEME position (m) and velocity (m/s), each ``(n_sat, n_t, 3)`` float64.
        SGP4 failures (decay, eccentricity out of range) raise ConfigError naming satellite and time.
        """
        epoch = as_epoch(epoch)
        t = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
        if t.ndim != 1:
            raise ConfigError.bad_value("t_s", t.shape, "a scalar or a 1-D array of seconds")
        if not np.all(np.isfinite(t)):
            raise ConfigError.bad_value("t_s", "non-finite values", "finite seconds")
        self.check_span(epoch, t, allow_stale=allow_stale)
        n_sat, n_t = len(self), t.size
        step = max(1, chunk_points // n_sat)
        if step >= n_t:
            r, v = self._propagate_km(epoch, t)
        else:
            r = np.empty((n_sat, n_t, 3))
            v = np.empty((n_sat, n_t, 3))
            for a in range(0, n_t, step):
                b = min(n_t, a + step)
                r[:, a:b], v[:, a:b] = self._propagate_km(epoch, t[a:b])
        r *= 1e3
        v *= 1e3
        return r, v

    def _propagate_km(self, epoch: Epoch, t: np.ndarray):
        """Raw SatrecArray call: TEME km and km/s, (n_sat, n_t, 3); SGP4 errors raise ConfigError."""
        if self._array is None:
            self._array = SatrecArray([s.satrec for s in self._sats])
        jd, fr = epoch.split(t)
        e, r, v = self._array.sgp4(jd, fr)
        if e.any():
            i, k = np.argwhere(e)[0]
            raise ConfigError.bad_value(
                f"propagation of {self._sats[i].name!r} at {epoch.plus(float(t[k]))}",
                f"sgp4 error {int(e[i, k])}", f"no error ({_SGP4_ERRORS.get(int(e[i, k]), 'unknown')})")
        return r, v

    def to_tle_text(self) -> str:
        """The constellation as a 3-line TLE file (element epoch, mean elements of each satellite)."""
        out = []
        for s in self._sats:
            sr = s.satrec
            l1, l2 = format_tle(satnum=int(sr.satnum), epoch=s.element_epoch,
                                inclination_deg=math.degrees(sr.inclo), raan_deg=math.degrees(sr.nodeo),
                                eccentricity=sr.ecco, argp_deg=math.degrees(sr.argpo),
                                mean_anomaly_deg=math.degrees(sr.mo),
                                mean_motion_revpd=sr.no_kozai * 1440.0 / (2.0 * math.pi), bstar=sr.bstar)
            out += [s.name, l1, l2]
        return "\n".join(out) + "\n"

    # -- constructors
    @classmethod
    def from_tle_file(cls, path, *, max_span_days: float | None = TLE_MAX_SPAN_DAYS) -> Constellation:
        """All element sets of a TLE file (validated strictly, see :mod:`hil.orbit.tle`)."""
        recs = load_tle_file(path)
        return cls._from_records(recs, max_span_days, os.path.basename(os.fspath(path)))

    @classmethod
    def from_tle_text(cls, text: str, *, source: str = "<tle>",
                      max_span_days: float | None = TLE_MAX_SPAN_DAYS) -> Constellation:
        return cls._from_records(parse_tle_text(text, source=source), max_span_days, source)

    @classmethod
    def _from_records(cls, recs, max_span_days, name):
        if max_span_days is not None:
            check_range("max_span_days", max_span_days, 0.0, None, unit="days")
        sats = [Satellite(r.name or f"SAT-{r.satnum:05d}", r.satrec, r.epoch, max_span_days) for r in recs]
        return cls(sats, name=name)


def _sgp4_satrec(satnum, epoch: Epoch, inc, raan, ecc, argp, mean_anom, n_radpmin, bstar=0.0) -> Satrec:
    sat = Satrec()
    sat.sgp4init(WGS72, "i", int(satnum), (epoch.jd - _EPOCH_1949) + epoch.fr, bstar, 0.0, 0.0, ecc, argp,
                 inc, mean_anom, n_radpmin, raan)
    if sat.error:
        raise ConfigError.bad_value("orbital elements", f"sgp4init error {sat.error}",
                                    "elements SGP4 accepts (" + _SGP4_ERRORS.get(sat.error, "unknown") + ")")
    return sat


def _mean_motion_for_altitude(alt_km: float, inc_rad: float, epoch: Epoch) -> float:
    """SGP4 input mean motion (rad/min) whose SGP4 (Brouwer) mean semi-major axis is R_eq + alt.

    Two-body n from Kepler's law first, then one correction for the Kozai -> Brouwer conversion
    SGP4 applies (the J2 term moves a by up to ~1 km at LEO); the result is within metres.
    """
    a_km = _RE_WGS84_KM + alt_km
    n = math.sqrt(_MU_WGS72_KM3S2 / a_km**3) * 60.0
    for _ in range(2):
        sat = _sgp4_satrec(0, epoch, inc_rad, 0.0, 0.0, 0.0, 0.0, n)
        a_sgp4 = sat.a * _RE_WGS72_KM
        n *= (a_sgp4 / a_km) ** 1.5
    return n


class WalkerConstellation(Constellation):
    """A Walker-delta constellation ``i: T/P/F`` on circular orbits, propagated with SGP4.

    Parameters
    ----------
    total : int
        T, number of satellites (a multiple of ``planes``).
    planes : int
        P, number of equally spaced orbital planes (RAAN spread ``raan_spread_deg``, 360 for delta).
    phasing : int
        F in 0..P-1: satellite k of plane p has mean anomaly ``360 k/S + 360 F p / T`` deg (S = T/P).
    inclination_deg : float
        0..180 deg.
    altitude_km : float
        Mean altitude above the equatorial radius (160 .. 100000 km): SGP4 mean semi-major axis
        ``a = 6378.137 km + altitude``. Geodetic height then varies by the Earth's flattening
        (about +21 km sin^2(latitude)) plus J2 short-period terms (a few km).
    epoch : element epoch (UTC); default :data:`DEFAULT_WALKER_EPOCH`.
    raan0_deg : RAAN of plane 0 (deg).
    """

    def __init__(self, total: int, planes: int, phasing: int, inclination_deg: float, altitude_km: float, *,
                 epoch=DEFAULT_WALKER_EPOCH, raan0_deg: float = 0.0, raan_spread_deg: float = 360.0,
                 name: str = "", first_satnum: int = 1):
        for fname, v in (("total", total), ("planes", planes), ("phasing", phasing),
                         ("first_satnum", first_satnum)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ConfigError.bad_value(fname, v, "an integer")
        check_range("total", total, 1, 99999)
        check_range("planes", planes, 1, total)
        if total % planes:
            raise ConfigError.bad_value("total", total, f"a multiple of planes ({planes}): "
                                        f"{planes} planes of equal size")
        check_range("phasing", phasing, 0, planes - 1)
        check_range("inclination_deg", inclination_deg, 0.0, 180.0, unit="deg")
        check_range("altitude_km", altitude_km, 160.0, 100_000.0, unit="km")
        check_range("raan_spread_deg", raan_spread_deg, 0.0, 360.0, unit="deg")
        check_range("first_satnum", first_satnum, 0, 99999 - total + 1)
        self.total, self.planes, self.phasing = int(total), int(planes), int(phasing)
        self.inclination_deg, self.altitude_km = float(inclination_deg), float(altitude_km)
        self.element_epoch = as_epoch(epoch)
        self.per_plane = self.total // self.planes
        name = name or f"walker-{self.inclination_deg:g}:{self.total}/{self.planes}/{self.phasing}" \
                       f"@{self.altitude_km:g}km"
        inc = math.radians(self.inclination_deg)
        n = _mean_motion_for_altitude(self.altitude_km, inc, self.element_epoch)
        sats = []
        for p in range(self.planes):
            raan = math.radians((raan0_deg + raan_spread_deg * p / self.planes) % 360.0)
            for k in range(self.per_plane):
                m = math.radians((360.0 * k / self.per_plane + 360.0 * self.phasing * p / self.total) % 360.0)
                num = first_satnum + len(sats)
                sr = _sgp4_satrec(num, self.element_epoch, inc, raan, 0.0, 0.0, m, n)
                sats.append(Satellite(f"{name}-P{p:02d}-S{k:02d}", sr, self.element_epoch, None))
        super().__init__(sats, name=name)

    @property
    def mean_motion_radps(self) -> float:
        return self._sats[0].satrec.no_kozai / 60.0

    def __repr__(self) -> str:
        return (f"WalkerConstellation({self.inclination_deg:g} deg: {self.total}/{self.planes}/{self.phasing}, "
                f"{self.altitude_km:g} km, epoch {self.element_epoch})")


def geostationary(lon_deg: float, *, epoch=DEFAULT_WALKER_EPOCH, name: str = "", satnum: int = 1
                  ) -> Constellation:
    """One geostationary satellite over ``lon_deg`` (east positive) at the element epoch (SGP4/SDP4)."""
    check_range("lon_deg", lon_deg, -180.0, 360.0, unit="deg")
    ep = as_epoch(epoch)
    n = 2.0 * math.pi / 86164.0905 * 60.0  # one sidereal day, rad/min
    m = (float(gmst_rad(ep, 0.0)) + math.radians(lon_deg)) % (2.0 * math.pi)
    sr = _sgp4_satrec(satnum, ep, 0.0, 0.0, 0.0, 0.0, m, n)
    label = name or f"GEO-{lon_deg:g}E"
    return Constellation([Satellite(label, sr, ep, None)], name=label)


# name -> (description, factory(epoch))
PRESETS = {
    "starlink-1584": ("seed shell: 1584 sats, 24 planes x 66, 53 deg, 550 km, phasing F=1 (Walker delta)",
                      lambda ep: WalkerConstellation(1584, 24, 1, 53.0, 550.0, epoch=ep, name="starlink-1584")),
    "starlink-sparse": ("seed's sparse variant: 24 planes x 11 = 264 sats, 53 deg, 550 km, F=1",
                        lambda ep: WalkerConstellation(264, 24, 1, 53.0, 550.0, epoch=ep, name="starlink-sparse")),
    "starlink-792": ("seed Fig. 10: 24 planes x 33 = 792 sats, 53 deg, 550 km, F=1",
                     lambda ep: WalkerConstellation(792, 24, 1, 53.0, 550.0, epoch=ep, name="starlink-792")),
    "starlink-2376": ("seed Fig. 10: 24 planes x 99 = 2376 sats, 53 deg, 550 km, F=1",
                      lambda ep: WalkerConstellation(2376, 24, 1, 53.0, 550.0, epoch=ep, name="starlink-2376")),
    "geo-90e": ("seed's single GEO satellite, over 90 deg E (the seed area's meridian)",
                lambda ep: geostationary(90.0, epoch=ep, name="geo-90e")),
}


def preset(name: str, *, epoch=DEFAULT_WALKER_EPOCH) -> Constellation:
    """A ready constellation by name (see :data:`PRESETS`)."""
    if name not in PRESETS:
        raise ConfigError.bad_value("constellation preset", name, "one of " + ", ".join(PRESETS))
    return PRESETS[name][1](epoch)


def load_constellation(spec: str, *, epoch=DEFAULT_WALKER_EPOCH, max_span_days=TLE_MAX_SPAN_DAYS
                       ) -> Constellation:
    """A preset name, or the path of a TLE file."""
    if spec in PRESETS:
        return preset(spec, epoch=epoch)
    if os.path.exists(spec):
        return Constellation.from_tle_file(spec, max_span_days=max_span_days)
    raise ConfigError.bad_value("constellation", spec, "a preset (" + ", ".join(PRESETS) + ") or a TLE file path")
