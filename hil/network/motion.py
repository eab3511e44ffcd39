"""Node motion: ECEF position (m) and velocity (m/s) as vectorised functions of time.

Every motion has ``state(t) -> (r, v)`` with ``t`` in seconds since the network's UTC epoch (scalar or
1-D array) and ``r``, ``v`` shaped ``(n, 3)`` (ECEF, WGS-84; velocity relative to the rotating Earth).

* :class:`FixedMotion` - a base station, gateway or terminal on the ground (geodetic lat, lon, height);
* :class:`WaypointMotion` - a UAV, ship or vehicle moving at a constant ground speed along straight ECEF
  chords between geodetic waypoints (a chord of L km sags below the ellipsoid by about L^2/8R: 20 m for
  a 30 km leg - state it, do not hide it); it holds the last waypoint, or loops back to the first;
* :class:`LoiterMotion` - a UAV circling a point at constant speed in the local horizontal plane;
* :class:`SatelliteMotion` - a hil.orbit satellite (TLE or a Walker preset member) through SGP4, TEME
  rotated to ECEF by hil.orbit (GMST; UT1 = UTC without an EOP table);
* :class:`CircularOrbitMotion` - a Keplerian circular orbit in closed form (an inertial frame aligned
  with ECEF at t = 0, turned by the Earth's rotation rate): an independent reference for tests and for
  "a satellite here" scenarios that need no elements.
"""

from __future__ import annotations

import math

import numpy as np

from hil.errors import ConfigError, check_range
from hil.orbit import geodetic_to_ecef
from hil.orbit.constants import MU_M3PS2, WGS84_A_M

__all__ = ["Motion", "FixedMotion", "WaypointMotion", "LoiterMotion", "SatelliteMotion", "CircularOrbitMotion",
           "OffsetMotion", "OMEGA_EARTH", "enu_axes"]

#: Earth rotation rate (rad/s, IERS conventional value) used by :class:`CircularOrbitMotion`
OMEGA_EARTH = 7.292115e-5


def _t1(t):
    t = np.atleast_1d(np.asarray(t, dtype=np.float64))
    if t.ndim != 1:
        raise ConfigError.bad_value("t", f"shape {t.shape}", "a scalar or a 1-D array of seconds")
    return t


def enu_axes(lat_deg, lon_deg):
    """East, north, up unit vectors (each shaped like ``lat_deg`` + (3,)) at geodetic lat/lon (deg)."""
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    sl, cl, so, co = np.sin(lat), np.cos(lat), np.sin(lon), np.cos(lon)
    east = np.stack([-so, co, np.zeros_like(so)], axis=-1)
    north = np.stack([-sl * co, -sl * so, cl], axis=-1)
    up = np.stack([cl * co, cl * so, sl], axis=-1)
    return east, north, up


class Motion:
    """Protocol: ``state(t) -> (r (n, 3) m, v (n, 3) m/s)`` in ECEF; ``kind`` names the model."""

    kind = "motion"

    def state(self, t):  # pragma: no cover - interface
        raise NotImplementedError

    def position(self, t):
        return self.state(t)[0]

    def velocity(self, t):
        return self.state(t)[1]


def _geo_point(p, field):
    if not isinstance(p, (list, tuple)) or len(p) not in (2, 3):
        raise ConfigError.bad_value(field, p, "[lat_deg, lon_deg] or [lat_deg, lon_deg, alt_m]")
    lat = check_range(f"{field}[0]", float(p[0]), -90.0, 90.0, unit="deg")
    lon = check_range(f"{field}[1]", float(p[1]), -180.0, 360.0, unit="deg")
    alt = check_range(f"{field}[2]", float(p[2]) if len(p) == 3 else 0.0, -500.0, 100_000.0, unit="m")
    return lat, lon, alt


class FixedMotion(Motion):
    """A point fixed to the Earth at geodetic ``lat_deg``, ``lon_deg`` (deg) and height ``alt_m`` (m)."""

    kind = "fixed"

    def __init__(self, lat_deg: float, lon_deg: float, alt_m: float = 0.0):
        self.lat_deg, self.lon_deg, self.alt_m = _geo_point([lat_deg, lon_deg, alt_m], "position")
        self.r = geodetic_to_ecef(self.lat_deg, self.lon_deg, self.alt_m)

    def state(self, t):
        n = _t1(t).size
        return np.broadcast_to(self.r, (n, 3)).copy(), np.zeros((n, 3))

    def __repr__(self):
        return f"FixedMotion({self.lat_deg:g}, {self.lon_deg:g}, {self.alt_m:g} m)"


class WaypointMotion(Motion):
    """Constant speed ``speed_mps`` (m/s) along straight ECEF chords through ``waypoints``
    ([lat_deg, lon_deg, alt_m], at least two), leaving the first at ``start_s`` (s; held there before).
    After the last waypoint the node holds (``loop=False``) or flies back to the first and repeats."""

    kind = "waypoints"

    def __init__(self, waypoints, speed_mps: float, *, start_s: float = 0.0, loop: bool = False):
        pts = list(waypoints) if isinstance(waypoints, (list, tuple)) else waypoints
        if not isinstance(pts, list) or len(pts) < 2:
            raise ConfigError.bad_value("waypoints", pts if not isinstance(pts, list) else f"{len(pts)} point(s)",
                                        "at least 2 points [lat_deg, lon_deg, alt_m]")
        geo = [_geo_point(p, f"waypoints[{i}]") for i, p in enumerate(pts)]
        if isinstance(speed_mps, bool) or not isinstance(speed_mps, (int, float)) or not 0.0 < speed_mps <= 1e4:
            raise ConfigError.bad_value("speed_mps", speed_mps, "0 < speed <= 1e4 m/s (a node that stays put is "
                                        "fixed: give position instead)")
        self.speed_mps = float(speed_mps)
        self.start_s = float(check_range("start_s", start_s, unit="s"))
        self.loop = bool(loop)
        p = np.array([geodetic_to_ecef(*g) for g in geo])
        if loop:
            p = np.vstack([p, p[:1]])
        legs = np.diff(p, axis=0)
        lengths = np.linalg.norm(legs, axis=1)
        if np.any(lengths <= 0.0):
            i = int(np.argmin(lengths))
            raise ConfigError.bad_value(f"waypoints[{i + 1}]", pts[(i + 1) % len(pts)],
                                        "a point different from the one before it (a leg of length 0)")
        self.geodetic = geo
        self.points = p
        self.lengths = lengths
        self.cum = np.concatenate([[0.0], np.cumsum(lengths)])
        self.units = legs / lengths[:, None]
        self.period_s = self.cum[-1] / self.speed_mps

    def state(self, t):
        t = _t1(t)
        s = (t - self.start_s) * self.speed_mps
        total = self.cum[-1]
        moving = s > 0.0
        if self.loop:
            s = np.where(moving, np.mod(s, total), 0.0)
        else:
            moving &= s < total
            s = np.clip(s, 0.0, total)
        i = np.clip(np.searchsorted(self.cum, s, side="right") - 1, 0, len(self.lengths) - 1)
        r = self.points[i] + (s - self.cum[i])[:, None] * self.units[i]
        v = np.where(moving[:, None], self.units[i] * self.speed_mps, 0.0)
        return r, v

    def corners(self, t0: float, t1: float) -> list:
        """Times in [t0, t1) where the velocity changes (waypoint passes, start, stop)."""
        out = []
        k = 0
        while True:
            base = self.start_s + k * self.period_s
            if base >= t1 or (k and not self.loop):
                break
            out += [base + c / self.speed_mps for c in self.cum[:-1 if self.loop else None]]
            k += 1
        return sorted(x for x in out if t0 <= x < t1)

    def __repr__(self):
        return f"WaypointMotion({len(self.geodetic)} points, {self.speed_mps:g} m/s, loop={self.loop})"


class LoiterMotion(Motion):
    """Circling ``center`` ([lat_deg, lon_deg, alt_m]) at ``radius_m`` (m) and ``speed_mps`` (m/s) in the
    local horizontal plane (ENU at the centre), starting at bearing ``phase_deg`` (from east through north)
    at t = 0; ``clockwise`` seen from above (default counter-clockwise)."""

    kind = "loiter"

    def __init__(self, center, radius_m: float, speed_mps: float, *, phase_deg: float = 0.0,
                 clockwise: bool = False):
        self.center = _geo_point(center, "loiter.center")
        self.radius_m = float(check_range("radius_m", radius_m, lo=1.0, hi=1e6, unit="m"))
        if isinstance(speed_mps, bool) or not isinstance(speed_mps, (int, float)) or not 0.0 <= speed_mps <= 1e4:
            raise ConfigError.bad_value("speed_mps", speed_mps, "0 <= speed <= 1e4 m/s")
        self.speed_mps = float(speed_mps)
        self.phase = math.radians(float(check_range("phase_deg", phase_deg, unit="deg")))
        self.sign = -1.0 if clockwise else 1.0
        self.omega = self.sign * self.speed_mps / self.radius_m
        self.c = geodetic_to_ecef(*self.center)
        e, n, _ = enu_axes(self.center[0], self.center[1])
        self.e, self.n = e, n

    def state(self, t):
        th = self.phase + self.omega * _t1(t)
        c, s = np.cos(th)[:, None], np.sin(th)[:, None]
        r = self.c + self.radius_m * (c * self.e + s * self.n)
        v = self.radius_m * self.omega * (-s * self.e + c * self.n)
        return r, v

    def __repr__(self):
        return f"LoiterMotion(radius {self.radius_m:g} m, {self.speed_mps:g} m/s)"


class SatelliteMotion(Motion):
    """A :class:`hil.orbit.Satellite` through SGP4, seen in ECEF (hil.orbit.teme_to_ecef) at ``t`` s after
    ``epoch`` (UTC). ``eop``: an IERS table or file (None: UT1 = UTC, no polar motion)."""

    kind = "satellite"

    def __init__(self, sat, epoch, *, eop=None, allow_stale: bool = False):
        from hil.orbit import Constellation, Satellite, as_eop, as_epoch

        if isinstance(sat, Constellation) and len(sat) == 1:
            sat = sat[0]
        if not isinstance(sat, Satellite):
            raise ConfigError.bad_value("satellite", sat, "a hil.orbit Satellite (TLE or a preset member)")
        self.sat = sat
        self.epoch = as_epoch(epoch)
        self.eop = as_eop(eop)
        self.allow_stale = allow_stale
        self._cons = Constellation([sat])

    def state(self, t):
        from hil.orbit import teme_to_ecef

        t = _t1(t)
        r, v = self._cons.propagate_teme(self.epoch, t, allow_stale=self.allow_stale)
        r_e, v_e = teme_to_ecef(r[0], v[0], self.epoch, t, eop=self.eop)
        return r_e, v_e

    @property
    def name(self):
        return self.sat.name

    def __repr__(self):
        return f"SatelliteMotion({self.sat.name!r}, epoch {self.epoch})"


class CircularOrbitMotion(Motion):
    """A circular Keplerian orbit (two-body, mu = 3.986004418e14 m^3/s^2) of ``altitude_m`` above the
    equatorial radius, ``inclination_deg``, ``raan_deg`` and argument of latitude ``phase_deg`` at t = 0,
    in an inertial frame that coincides with ECEF at t = 0; ECEF turns at :data:`OMEGA_EARTH`. Closed
    form: an independent reference for the SGP4 satellites and for tests."""

    kind = "circular-orbit"

    def __init__(self, altitude_m: float, *, inclination_deg: float = 0.0, raan_deg: float = 0.0,
                 phase_deg: float = 0.0):
        self.altitude_m = float(check_range("altitude_m", altitude_m, lo=100e3, hi=100_000e3, unit="m"))
        self.inclination_deg = float(check_range("inclination_deg", inclination_deg, lo=0.0, hi=180.0, unit="deg"))
        self.raan_deg = float(check_range("raan_deg", raan_deg, unit="deg"))
        self.phase_deg = float(check_range("phase_deg", phase_deg, unit="deg"))
        self.radius_m = WGS84_A_M + self.altitude_m
        self.n = math.sqrt(MU_M3PS2 / self.radius_m**3)  # rad/s
        i, o = math.radians(self.inclination_deg), math.radians(self.raan_deg)
        # orbit-plane axes: p toward the ascending node, q 90 deg ahead in the plane
        self.p = np.array([math.cos(o), math.sin(o), 0.0])
        self.q = np.array([-math.sin(o) * math.cos(i), math.cos(o) * math.cos(i), math.sin(i)])

    def state(self, t):
        t = _t1(t)
        u = math.radians(self.phase_deg) + self.n * t
        cu, su = np.cos(u)[:, None], np.sin(u)[:, None]
        ri = self.radius_m * (cu * self.p + su * self.q)
        vi = self.radius_m * self.n * (-su * self.p + cu * self.q)
        th = OMEGA_EARTH * t
        c, s = np.cos(th), np.sin(th)
        # ECEF = R3(theta) inertial; v_ecef = R3 v_inertial - omega x r_ecef
        x = c * ri[:, 0] + s * ri[:, 1]
        y = -s * ri[:, 0] + c * ri[:, 1]
        vx = c * vi[:, 0] + s * vi[:, 1] + OMEGA_EARTH * y
        vy = -s * vi[:, 0] + c * vi[:, 1] - OMEGA_EARTH * x
        return np.stack([x, y, ri[:, 2]], axis=-1), np.stack([vx, vy, vi[:, 2]], axis=-1)

    def __repr__(self):
        return (f"CircularOrbitMotion({self.altitude_m / 1e3:g} km, i={self.inclination_deg:g} deg, "
                f"raan={self.raan_deg:g} deg, u0={self.phase_deg:g} deg)")


class OffsetMotion(Motion):
    """What another node believes about ``motion``: its state at ``t + time_shift_s`` (an along-track
    error of a satellite's ephemeris: shift = error / speed) displaced by the constant ECEF vector
    ``offset_m`` (a position report's error). Used for receivers' own predictions, never for the truth."""

    kind = "offset"

    def __init__(self, motion: Motion, offset_m=(0.0, 0.0, 0.0), time_shift_s: float = 0.0):
        self.motion = motion
        self.offset = np.asarray(offset_m, dtype=np.float64).reshape(3)
        self.time_shift_s = float(check_range("time_shift_s", time_shift_s, lo=-3600.0, hi=3600.0, unit="s"))

    def state(self, t):
        r, v = self.motion.state(_t1(t) + self.time_shift_s)
        return r + self.offset, v

    def __repr__(self):
        return (f"OffsetMotion({self.motion!r}, |offset| {np.linalg.norm(self.offset):g} m, "
                f"shift {self.time_shift_s:g} s)")
