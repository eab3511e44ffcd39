"""Look geometry between satellites and ground points: range, range rate, range acceleration, elevation,
azimuth; delay and Doppler; visibility, pass prediction and the serving-satellite sequence.

Frames: SGP4 gives TEME; it is rotated to ECEF by the GMST angle (IAU-82), velocities get the
``-omega x r`` term and accelerations the Coriolis and centrifugal terms, with omega the derivative of
the same GMST expression (so range rate is exactly the derivative of range). With an IERS EOP table
(``eop=``, :mod:`hil.orbit.eop`) GMST is taken at UT1 and polar motion rotates PEF to ITRF; without
one UT1 = UTC and the pole is fixed (see :mod:`hil.orbit.timebase` and docs/orbit.md for the cost).
Elevation and azimuth are geodetic (WGS-84 normal), azimuth from north through east. No refraction.

Range acceleration uses the satellite acceleration of a two-body + J2 gravity field at the SGP4
position (SGP4 is an analytic theory and has no acceleration output); the difference from the
derivative of SGP4's own velocity is far below 1e-3 of the range acceleration (tested numerically).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hil.errors import ConfigError, check_choice, check_range

from .constants import C_MPS, J2, MU_M3PS2, WGS84_A_M
from .eop import as_eop, earth_rotation, itrf_to_pef, pef_to_itrf
from .ground import GroundStation
from .satellites import Constellation, Satellite
from .timebase import Epoch, as_epoch

__all__ = ["Geometry", "geometry", "geometry_many", "teme_to_ecef", "delay_s", "doppler_hz",
           "doppler_rate_hz_per_s", "Pass", "find_passes", "ServingSequence", "Slot", "serving_sequence",
           "SERVING_RULES", "slant_range_m"]

SERVING_RULES = ("highest-elevation", "nearest")


def delay_s(range_m):
    """One-way propagation delay (s) of a slant range (m)."""
    return np.asarray(range_m, dtype=np.float64) / C_MPS


def doppler_hz(range_rate_mps, fc_hz):
    """Doppler shift (Hz) at carrier ``fc_hz``: ``-fc * range_rate / c`` (approaching = positive)."""
    return -float(fc_hz) * np.asarray(range_rate_mps, dtype=np.float64) / C_MPS


def doppler_rate_hz_per_s(range_accel_mps2, fc_hz):
    """Doppler rate (Hz/s) at carrier ``fc_hz``: ``-fc * range_acceleration / c``."""
    return -float(fc_hz) * np.asarray(range_accel_mps2, dtype=np.float64) / C_MPS


def slant_range_m(elevation_deg, altitude_m, earth_radius_m: float = 6_371_000.0):
    """Spherical-Earth slant range (m) to altitude ``altitude_m`` seen at ``elevation_deg`` (TR 38.811)."""
    e = np.radians(np.asarray(elevation_deg, dtype=np.float64))
    r = earth_radius_m
    return np.sqrt((r * np.sin(e)) ** 2 + altitude_m**2 + 2.0 * r * altitude_m) - r * np.sin(e)


def _gravity_teme(r):
    """Two-body + J2 acceleration (m/s^2) at TEME positions ``r`` (m), shape (..., 3)."""
    x, y, z = r[..., 0], r[..., 1], r[..., 2]
    r2 = x * x + y * y + z * z
    rn = np.sqrt(r2)
    k = -MU_M3PS2 / (r2 * rn)
    zr2 = z * z / r2
    j = 1.5 * J2 * (WGS84_A_M * WGS84_A_M) / r2
    fxy = k * (1.0 + j * (1.0 - 5.0 * zr2))
    fz = k * (1.0 + j * (3.0 - 5.0 * zr2))
    return np.stack([fxy * x, fxy * y, fz * z], axis=-1)


def teme_to_ecef(r_teme, v_teme, epoch: Epoch, t_s, a_teme=None, *, eop=None):
    """Rotate TEME states (time along the second-to-last axis, matching ``t_s``) to ECEF.

    Returns ``(r, v)`` or ``(r, v, a)`` in ECEF; ``v`` is relative to the rotating Earth and ``a``
    includes the Coriolis and centrifugal terms. ``eop``: None (UT1 = UTC, no polar motion), an
    :class:`~hil.orbit.eop.EarthOrientation` or a finals file path (GMST of UT1, then ``W^T``).
    """
    th, w, pole = earth_rotation(epoch, t_s, as_eop(eop))
    c, s = np.cos(th), np.sin(th)
    r_teme = np.asarray(r_teme)
    v_teme = np.asarray(v_teme)
    xe = c * r_teme[..., 0] + s * r_teme[..., 1]
    ye = -s * r_teme[..., 0] + c * r_teme[..., 1]
    ze = r_teme[..., 2]
    vxe = c * v_teme[..., 0] + s * v_teme[..., 1] + w * ye
    vye = -s * v_teme[..., 0] + c * v_teme[..., 1] - w * xe
    vze = v_teme[..., 2]
    r = np.stack([xe, ye, ze], axis=-1)
    v = np.stack([vxe, vye, vze], axis=-1)
    pm = (lambda q: q) if pole is None else (lambda q: np.stack(pef_to_itrf(q, pole), axis=-1))
    if a_teme is None:
        return pm(r), pm(v)
    a_teme = np.asarray(a_teme)
    axe = c * a_teme[..., 0] + s * a_teme[..., 1] + 2.0 * w * vye + w * w * xe
    aye = -s * a_teme[..., 0] + c * a_teme[..., 1] - 2.0 * w * vxe + w * w * ye
    return pm(r), pm(v), pm(np.stack([axe, aye, a_teme[..., 2]], axis=-1))


@dataclass(frozen=True)
class Geometry:
    """Look geometry arrays (shape ``(n_t,)`` for one satellite, ``(n_sat, n_t)`` for a constellation).

    ``t_s`` seconds since ``epoch``; ranges in m, rates in m/s and m/s^2, angles in deg.
    """

    epoch: Epoch
    t_s: np.ndarray
    range_m: np.ndarray
    range_rate_mps: np.ndarray
    range_accel_mps2: np.ndarray
    elevation_deg: np.ndarray
    azimuth_deg: np.ndarray

    @property
    def delay_s(self) -> np.ndarray:
        """One-way delay (s)."""
        return self.range_m / C_MPS

    @property
    def delay_rate(self) -> np.ndarray:
        """d(delay)/dt (s/s) = range_rate / c."""
        return self.range_rate_mps / C_MPS

    def doppler_hz(self, fc_hz: float) -> np.ndarray:
        """Doppler (Hz) at carrier ``fc_hz`` = -fc * range_rate / c."""
        return doppler_hz(self.range_rate_mps, fc_hz)

    def doppler_rate_hz_per_s(self, fc_hz: float) -> np.ndarray:
        """Doppler rate (Hz/s) at carrier ``fc_hz`` = -fc * range_accel / c."""
        return doppler_rate_hz_per_s(self.range_accel_mps2, fc_hz)

    def visible(self, mask_deg: float = 10.0) -> np.ndarray:
        """Elevation at or above the mask (deg)."""
        return self.elevation_deg >= mask_deg


def _check_ground(ground):
    if not isinstance(ground, GroundStation):
        raise ConfigError.bad_value("ground", ground, "a GroundStation(lat_deg, lon_deg, alt_m)")
    return ground


def _look(r_e, v_e, a_e, ground: GroundStation):
    """Range, range rate, range accel, elevation, azimuth from ECEF states (component arrays)."""
    g = ground.ecef_m
    dx, dy, dz = r_e[..., 0] - g[0], r_e[..., 1] - g[1], r_e[..., 2] - g[2]
    rng = np.sqrt(dx * dx + dy * dy + dz * dz)
    inv = 1.0 / rng
    ux, uy, uz = dx * inv, dy * inv, dz * inv
    vx, vy, vz = v_e[..., 0], v_e[..., 1], v_e[..., 2]
    rr = ux * vx + uy * vy + uz * vz
    ra = None
    if a_e is not None:
        ra = (vx * vx + vy * vy + vz * vz - rr * rr) * inv + ux * a_e[..., 0] + uy * a_e[..., 1] + uz * a_e[..., 2]
    e_, n_, u_ = ground.enu
    sin_el = ux * u_[0] + uy * u_[1] + uz * u_[2]
    el = np.degrees(np.arcsin(np.clip(sin_el, -1.0, 1.0)))
    az = np.degrees(np.arctan2(ux * e_[0] + uy * e_[1] + uz * e_[2], ux * n_[0] + uy * n_[1] + uz * n_[2]))
    az = np.mod(az, 360.0)
    return rng, rr, ra, el, az


def _default_epoch(sat) -> Epoch:
    if isinstance(sat, Satellite):
        return sat.element_epoch
    return sat[0].element_epoch


def _ground_frames_teme(ground: GroundStation, ep: Epoch, t, eop=None):
    """Per time: ground position (km), inertial velocity (km/s), omega^2 and ENU axes, all in TEME.

    With an EOP table the angle is GMST of UT1 and the ITRF vectors are first turned to the true pole
    (``W``)."""
    th, w, pole = earth_rotation(ep, t, eop)
    c, s = np.cos(th), np.sin(th)

    def rot(vec):  # ECEF -> TEME is a rotation by +theta about z (after ITRF -> PEF with a pole)
        if pole is not None:
            vec = itrf_to_pef(tuple(np.full_like(c, x) for x in vec), pole)
            return c * vec[0] - s * vec[1], s * vec[0] + c * vec[1], vec[2]
        return c * vec[0] - s * vec[1], s * vec[0] + c * vec[1], np.full_like(c, vec[2])

    gx, gy, gz = rot(ground.ecef_m * 1e-3)
    e_, n_, u_ = ground.enu
    return dict(g=(gx, gy, gz), gv=(-w * gy, w * gx), w2=w * w, e=rot(e_), n=rot(n_), u=rot(u_))


_MU_KM = MU_M3PS2 * 1e-9
_J2R2_KM = 1.5 * J2 * (WGS84_A_M * 1e-3) ** 2


def _look_teme(r, v, fr, accel: bool = True):
    """Look quantities from TEME states ``r``, ``v`` ((n_sat, n_t, 3), km and km/s) and the ground
    frames ``fr`` of :func:`_ground_frames_teme`; returns range (m), range rate (m/s), range acceleration
    (m/s^2, None without ``accel``), elevation and azimuth (deg).

    The ground moves as a point fixed to the Earth (inertial velocity omega x r, acceleration
    -omega^2 r_xy). Range, range rate and range acceleration are frame invariants, so this equals the
    ECEF computation (:func:`teme_to_ecef` + :func:`_look`, tested) at a fraction of the cost: only the
    ground point and its axes are rotated, once per time.
    """
    gx, gy, gz = fr["g"]
    x, y, z = r[..., 0], r[..., 1], r[..., 2]
    dx, dy, dz = x - gx, y - gy, z - gz
    rng = dx * dx
    rng += dy * dy
    rng += dz * dz
    np.sqrt(rng, out=rng)
    inv = 1.0 / rng
    vx = v[..., 0] - fr["gv"][0]
    vy = v[..., 1] - fr["gv"][1]
    vz = v[..., 2]
    rr = dx * vx
    rr += dy * vy
    rr += dz * vz
    rr *= inv
    ra = None
    if accel:
        r2 = x * x + y * y + z * z
        k = -_MU_KM / (r2 * np.sqrt(r2))
        zr2 = z * z / r2
        j = _J2R2_KM / r2
        fxy = k * (1.0 + j * (1.0 - 5.0 * zr2))
        fz = k * (1.0 + j * (3.0 - 5.0 * zr2))
        w2 = fr["w2"]
        # relative acceleration: satellite gravity minus the ground's centripetal acceleration
        ra = ((vx * vx + vy * vy + vz * vz - rr * rr)
              + dx * (fxy * x + w2 * gx) + dy * (fxy * y + w2 * gy) + dz * (fz * z)) * inv
        ra *= 1e3
    ux, uy, uz = fr["u"]
    s = dx * ux
    s += dy * uy
    s += dz * uz
    s *= inv
    np.clip(s, -1.0, 1.0, out=s)
    el = np.degrees(np.arcsin(s, out=s), out=s)
    ex, ey, _ = fr["e"]
    nx, ny, nz = fr["n"]
    north = dx * nx
    north += dy * ny
    north += dz * nz
    az = np.arctan2(dx * ex + dy * ey, north)
    np.degrees(az, out=az)
    az[az < 0.0] += 360.0
    rng *= 1e3
    rr *= 1e3
    return rng, rr, ra, el, az


def geometry_many(cons, grounds, t_s, *, epoch=None, allow_stale=False, accel=True, chunk_points: int = 131072,
                  eop=None):
    """Propagate once, look from several ground points: a list of :class:`Geometry`, one per ground.

    Arrays are ``(n_sat, n_t)``. Works in time chunks of about ``chunk_points`` satellite-epochs so the
    temporaries stay in cache. ``eop``: Earth orientation table or file (None: UT1 = UTC, no pole).
    """
    eop = as_eop(eop)
    if isinstance(cons, Satellite):
        cons = Constellation([cons])
    grounds = [_check_ground(g) for g in grounds]
    ep = _default_epoch(cons) if epoch is None else as_epoch(epoch)
    t = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
    if t.ndim != 1 or not np.all(np.isfinite(t)):
        raise ConfigError.bad_value("t_s", f"shape {t.shape}", "a finite scalar or 1-D array of seconds")
    cons.check_span(ep, t, allow_stale=allow_stale)
    n_sat, n_t = len(cons), t.size
    step = max(1, chunk_points // n_sat)
    if step >= n_t:  # one chunk: no copies
        r, v = cons._propagate_km(ep, t)
        out = []
        for g in grounds:
            res = _look_teme(r, v, _ground_frames_teme(g, ep, t, eop), accel)
            res = tuple(np.full((n_sat, n_t), np.nan) if x is None else x for x in res)
            out.append(Geometry(ep, t, *res))
        return out
    outs = [tuple(np.empty((n_sat, n_t)) for _ in range(5)) for _ in grounds]
    for a in range(0, n_t, step):
        b = min(n_t, a + step)
        r, v = cons._propagate_km(ep, t[a:b])
        for g, out in zip(grounds, outs):
            res = _look_teme(r, v, _ground_frames_teme(g, ep, t[a:b], eop), accel)
            for dst, src in zip(out, res):
                dst[:, a:b] = np.nan if src is None else src
    return [Geometry(ep, t, *out) for out in outs]


def geometry(sat, ground: GroundStation, t_s, *, epoch=None, allow_stale: bool = False, eop=None) -> Geometry:
    """Look geometry of ``sat`` (a Satellite or a Constellation) from ``ground`` at ``t_s``.

    ``t_s`` are seconds since ``epoch`` (any form :func:`~hil.orbit.timebase.as_epoch` takes); without
    ``epoch`` they count from the (first) satellite's element epoch. Arrays are ``(n_t,)`` for a
    Satellite and ``(n_sat, n_t)`` for a Constellation. ``eop``: see :func:`teme_to_ecef`.
    """
    _check_ground(ground)
    if not isinstance(sat, (Satellite, Constellation)):
        raise ConfigError.bad_value("sat", sat, "a Satellite or a Constellation")
    g = geometry_many(sat, [ground], t_s, epoch=epoch, allow_stale=allow_stale, eop=eop)[0]
    if isinstance(sat, Satellite):
        g = Geometry(g.epoch, g.t_s, *(np.asarray(x)[0] for x in (g.range_m, g.range_rate_mps, g.range_accel_mps2,
                                                                   g.elevation_deg, g.azimuth_deg)))
    return g


# --------------------------------------------------------------------------------------------- passes
@dataclass(frozen=True)
class Pass:
    """One pass of a satellite over a ground point above the elevation mask.

    Times in seconds since ``epoch``. ``aos_clipped``/``los_clipped``: the pass was already under way
    at the start of the search window / still under way at its end, so that time is the window edge.
    """

    sat_index: int
    sat_name: str
    epoch: Epoch
    aos_s: float
    tca_s: float
    los_s: float
    max_elevation_deg: float
    mask_deg: float
    aos_clipped: bool = False
    los_clipped: bool = False

    @property
    def duration_s(self) -> float:
        return self.los_s - self.aos_s


def _elev_fn(sat: Satellite, ground: GroundStation, ep: Epoch, eop=None):
    sr = sat.satrec

    def el(t):
        jd, fr = ep.jd, ep.fr + t / 86400.0
        e, r, v = sr.sgp4(jd, fr)
        if e:
            raise ConfigError.bad_value(f"propagation of {sat.name!r} at {ep.plus(t)}", f"sgp4 error {e}",
                                        "no error")
        r = np.asarray(r)[None, None, :] * 1e3
        r_e, _ = teme_to_ecef(r, np.zeros_like(r), ep, np.array([t]), eop=eop)
        d = r_e[0, 0] - ground.ecef_m
        return math.degrees(math.asin(float(np.dot(d, ground.enu[2])) / float(np.linalg.norm(d))))

    return el


def find_passes(sat, ground: GroundStation, epoch, duration_s: float, *, start_s: float = 0.0,
                mask_deg: float = 10.0, coarse_step_s: float | None = None, allow_stale: bool = False,
                time_tol_s: float = 1e-3, eop=None) -> list[Pass]:
    """All passes of ``sat`` (Satellite or Constellation) over ``ground`` in ``[start_s, start_s + duration_s]``.

    The elevation of every satellite is sampled on a coarse grid (vectorised; default step: 1/300 of the
    shortest orbital period, at most 60 s); AOS and LOS are then found with Brent's root finder
    (``el(t) = mask`` to ``time_tol_s``) and the culmination by bounded Brent maximisation. Passes
    whose peak falls between two grid samples that are both below the mask are still found: every
    local maximum of the sampled elevation within 10 deg of the mask is refined. Sorted by AOS.
    ``eop``: Earth orientation table or file (see :func:`teme_to_ecef`).
    """
    eop = as_eop(eop)
    from scipy.optimize import brentq, minimize_scalar  # here: keeps `import hil.orbit` light for the CLI

    _check_ground(ground)
    check_range("duration_s", duration_s, 0.0, 400 * 86400.0, unit="s")
    check_range("mask_deg", mask_deg, -5.0, 89.0, unit="deg")
    ep = as_epoch(epoch)
    cons = Constellation([sat]) if isinstance(sat, Satellite) else sat
    if coarse_step_s is None:
        period = min(2.0 * math.pi / (s.satrec.no_kozai / 60.0) for s in cons.satellites)
        coarse_step_s = min(60.0, period / 300.0)
    check_range("coarse_step_s", coarse_step_s, 1e-3, 3600.0, unit="s")
    n = max(2, int(math.ceil(duration_s / coarse_step_s)) + 1)
    t = start_s + np.linspace(0.0, duration_s, n)
    geo = geometry_many(cons, [ground], t, epoch=ep, allow_stale=allow_stale, accel=False, eop=eop)[0]
    E = geo.elevation_deg
    t_end = t[-1]
    passes: list[Pass] = []
    for i in range(len(cons)):
        s = cons[i]
        e = E[i]
        el = _elev_fn(s, ground, ep, eop)

        def f(x, el=el):
            return el(x) - mask_deg

        def peak(a, b, el=el):
            res = minimize_scalar(lambda x: -el(x), bounds=(a, b), method="bounded",
                                  options={"xatol": time_tol_s})
            return float(res.x), -float(res.fun)

        above = e >= mask_deg
        found: list[tuple[float, float, float, float, bool, bool]] = []
        k = 0
        while k < n:
            if not above[k]:
                k += 1
                continue
            k0 = k
            while k < n and above[k]:
                k += 1
            k1 = k - 1
            aos = t[0] if k0 == 0 else brentq(f, t[k0 - 1], t[k0], xtol=time_tol_s)
            los = t_end if k1 == n - 1 else brentq(f, t[k1], t[k1 + 1], xtol=time_tol_s)
            j = k0 + int(np.argmax(e[k0:k1 + 1]))
            tca, emax = peak(t[max(j - 1, 0)], t[min(j + 1, n - 1)])
            if emax < e[j]:  # maximiser stopped at a window edge sample
                tca, emax = float(t[j]), float(e[j])
            found.append((aos, tca, los, emax, k0 == 0, k1 == n - 1))
        # peaks between two samples that are both under the mask
        cand = np.nonzero((e[1:-1] < mask_deg) & (e[1:-1] >= e[:-2]) & (e[1:-1] >= e[2:])
                          & (e[1:-1] > mask_deg - 10.0))[0] + 1
        for j in cand:
            tca, emax = peak(t[j - 1], t[j + 1])
            if emax >= mask_deg:
                aos = brentq(f, t[j - 1], tca, xtol=time_tol_s) if f(t[j - 1]) < 0 else t[j - 1]
                los = brentq(f, tca, t[j + 1], xtol=time_tol_s) if f(t[j + 1]) < 0 else t[j + 1]
                found.append((aos, tca, los, emax, False, False))
        for aos, tca, los, emax, c0, c1 in found:
            passes.append(Pass(i, s.name, ep, float(aos), float(tca), float(los), float(emax), float(mask_deg),
                               c0, c1))
    passes.sort(key=lambda p: (p.aos_s, p.sat_index))
    return passes


# ------------------------------------------------------------------------------------ serving sequence
@dataclass(frozen=True)
class Slot:
    """A time slot ``[start_s, end_s)`` during which the serving satellite of every ground point is
    constant. ``serving[g]`` is the satellite index for ground point g, -1 where none is visible."""

    start_s: float
    end_s: float
    serving: tuple[int, ...]

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class ServingSequence:
    """Serving satellite per ground point and time, and the slots where the serving set is constant.

    ``t_s`` the sample times (s since ``epoch``), ``serving`` ``(n_ground, n_t)`` int (-1: no satellite
    above the mask), ``elevation_deg`` of the serving satellite (NaN where none). A slot boundary is
    known to within ``step_s`` (the sampling step).
    """

    epoch: Epoch
    t_s: np.ndarray
    step_s: float
    rule: str
    mask_deg: float
    serving: np.ndarray
    elevation_deg: np.ndarray
    slots: list[Slot] = field(default_factory=list)

    @property
    def coverage_fraction(self) -> np.ndarray:
        """Per ground point, the fraction of samples with a serving satellite."""
        return np.mean(self.serving >= 0, axis=1)

    @property
    def continuous(self) -> bool:
        """True when every ground point has a serving satellite at every sample."""
        return bool(np.all(self.serving >= 0))

    def gaps(self, ground_index: int = 0) -> list[tuple[float, float]]:
        """Intervals ``(start_s, end_s)`` (sample resolution) without any satellite for one ground point."""
        none = self.serving[ground_index] < 0
        out = []
        k, n = 0, none.size
        while k < n:
            if none[k]:
                k0 = k
                while k < n and none[k]:
                    k += 1
                end = self.t_s[k] if k < n else self.t_s[-1] + self.step_s
                out.append((float(self.t_s[k0]), float(end)))
            else:
                k += 1
        return out

    def handovers(self, ground_index: int = 0) -> list[tuple[float, int, int]]:
        """``(time_s, from_sat, to_sat)`` for each change of the serving satellite of one ground point."""
        s = self.serving[ground_index]
        idx = np.nonzero(s[1:] != s[:-1])[0] + 1
        return [(float(self.t_s[k]), int(s[k - 1]), int(s[k])) for k in idx]


def serving_sequence(cons: Constellation, grounds, epoch, duration_s: float, *, step_s: float = 1.0,
                     start_s: float = 0.0, mask_deg: float = 10.0, rule: str = "highest-elevation",
                     allow_stale: bool = False, chunk_times: int | None = None, progress=None,
                     eop=None) -> ServingSequence:
    """Which satellite serves each ground point over time, and the time slots of constant serving set.

    Rules: ``"highest-elevation"`` (default) serves from the satellite with the highest elevation above
    the mask; ``"nearest"`` from the visible satellite at the smallest slant range (the seed paper's
    location-based rule; for one shell at one altitude the two agree except within metres of a tie).
    Ties keep the lower satellite index. Sampled every ``step_s``. ``eop``: see :func:`teme_to_ecef`.
    """
    eop = as_eop(eop)
    check_choice("rule", rule, SERVING_RULES)
    check_range("duration_s", duration_s, 0.0, 30 * 86400.0, unit="s")
    check_range("step_s", step_s, 1e-3, 3600.0, unit="s")
    if isinstance(grounds, GroundStation):
        grounds = [grounds]
    grounds = [_check_ground(g) for g in grounds]
    if not grounds:
        raise ConfigError.bad_value("grounds", grounds, "at least one GroundStation")
    ep = as_epoch(epoch)
    n = int(math.floor(duration_s / step_s + 1e-9)) + 1
    t = start_s + step_s * np.arange(n)
    serving = np.full((len(grounds), n), -1, dtype=np.int64)
    elev = np.full((len(grounds), n), np.nan)
    if chunk_times is None:
        chunk_times = max(1, 400_000 // len(cons))
    for a in range(0, n, chunk_times):
        b = min(n, a + chunk_times)
        geos = geometry_many(cons, grounds, t[a:b], epoch=ep, allow_stale=allow_stale, accel=False, eop=eop)
        for gi, g in enumerate(geos):
            el = g.elevation_deg
            vis = el >= mask_deg
            if rule == "highest-elevation":
                score = np.where(vis, el, -np.inf)
                best = np.argmax(score, axis=0)
            else:
                score = np.where(vis, g.range_m, np.inf)
                best = np.argmin(score, axis=0)
            any_vis = vis.any(axis=0)
            cols = np.arange(b - a)
            serving[gi, a:b] = np.where(any_vis, best, -1)
            elev[gi, a:b] = np.where(any_vis, el[best, cols], np.nan)
        if progress is not None:
            progress(b - a)
    # slots: maximal runs of identical serving columns
    change = np.nonzero(np.any(serving[:, 1:] != serving[:, :-1], axis=0))[0] + 1
    bounds = np.concatenate([[0], change, [n]])
    slots = []
    for k0, k1 in zip(bounds[:-1], bounds[1:]):
        end = t[k1] if k1 < n else t[-1] + step_s
        slots.append(Slot(float(t[k0]), float(end), tuple(int(x) for x in serving[:, k0])))
    return ServingSequence(ep, t, float(step_s), rule, float(mask_deg), serving, elev, slots)
