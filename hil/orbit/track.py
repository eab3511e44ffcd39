"""Smooth delay/Doppler tracks for the channel emulator.

A :class:`DelayTrack` holds the one-way delay ``tau`` and its rate ``d tau/dt`` at uniformly spaced knots
(default every 1 ms) and evaluates them at any time with a cubic Hermite interpolant. The knot delays
come from direct SGP4 propagation; the knot slopes are the derivative of that same delay sequence
(5-point central stencil: on the knots themselves for steps <= 10 ms, else on +-10/20 ms around
each knot), *not* SGP4's velocity output, which differs from the derivative of SGP4's position by up
to ~1e-6 relative (~1 cm/s) and would otherwise put a spurious ~6 * 1 cm/s / h into the Doppler
rate. Value and slope match at every knot, so delay and Doppler are C1-continuous and mutually
consistent: ``doppler = -fc * d(delay)/dt`` of the very curve that delays the samples).

Error bound (stated and tested): for knot step h and ``M4 = max |d^4 tau/dt^4|`` over the track,

    |delay error|      <= h^4 / 384        * M4
    |delay-rate error| <= sqrt(3)/216 * h^3 * M4
    |second-derivative error| <= h^2 / 12   * M4   (Doppler rate)

For a 550 km pass ``M4 * c`` is below about 0.1 m/s^4, so at h = 1 ms the delay error is < 1e-21 s
(far below float64 resolution of the delay itself, ~1e-19 s) and at h = 1 s it is < 1e-12 s.
:attr:`DelayTrack.error_bound_s` estimates M4 from the knots and reports the bound.

Times ``t`` are seconds since the track's ``epoch``; the emulator evaluates ``t = t_start + n / fs``
from its sample counter, never wall-clock time.

Light time: by default (``light_time="none"``) the delay is the instantaneous geometric range / c at
time t, as the contract defines it (``delay_rate = range_rate / c``). ``"downlink"`` solves
``c tau = |r_sat(t - tau) - r_ground(t)|`` (signal received on the ground at t) and ``"uplink"``
``c tau = |r_sat(t) - r_ground(t - tau)|`` (received at the satellite at t), both in the inertial
frame (so the Sagnac term is included); they differ from "none" by up to ~0.15 us at 10 deg and
by ~2e-5 relative in Doppler.
"""

from __future__ import annotations

import math

import numpy as np

from hil.errors import ConfigError, check_choice, check_range

from .constants import C_MPS
from .eop import as_eop, earth_rotation, itrf_to_pef
from .geometry import _look, teme_to_ecef
from .ground import GroundStation
from .satellites import Constellation, Satellite
from .timebase import Epoch, as_epoch

__all__ = ["DelayTrack", "make_track", "serving_tracks", "LIGHT_TIME_MODES"]

LIGHT_TIME_MODES = ("none", "downlink", "uplink")
_FINE_STEP_S = 0.01  # knots finer than this get their slopes from the knots, coarser ones from a local stencil
_MAX_KNOTS = 50_000_000


class DelayTrack:
    """Delay, Doppler and elevation of one satellite-ground link as smooth functions of time.

    Build with :func:`make_track` (from ephemeris) or :meth:`from_knots` (any knot values, e.g.
    synthetic tests). ``t0``/``t1`` (s since ``epoch``) bound the valid interval; evaluating outside
    it raises ConfigError.
    """

    def __init__(self, *, t0: float, knot_step_s: float, delay_s, delay_rate, elevation_deg=None,
                 mask_deg: float = 10.0, epoch=None, sat_name: str = "", ground: GroundStation | None = None,
                 light_time: str = "none", fourth_derivative_max: float | None = None):
        check_range("knot_step_s", knot_step_s, 1e-7, 3600.0, unit="s")
        tau = np.ascontiguousarray(delay_s, dtype=np.float64)
        rate = np.ascontiguousarray(delay_rate, dtype=np.float64)
        if tau.ndim != 1 or tau.size < 2 or rate.shape != tau.shape:
            raise ConfigError.bad_value("delay_s/delay_rate", (tau.shape, rate.shape),
                                        "two 1-D arrays of the same length >= 2")
        if not (np.all(np.isfinite(tau)) and np.all(np.isfinite(rate))):
            raise ConfigError.bad_value("delay_s/delay_rate", "non-finite values", "finite knots")
        if elevation_deg is None:
            el = np.full(tau.shape, 90.0)
        else:
            el = np.ascontiguousarray(elevation_deg, dtype=np.float64)
            if el.shape != tau.shape:
                raise ConfigError.bad_value("elevation_deg", el.shape, f"shape {tau.shape} like the delay knots")
        self.t0 = float(t0)
        self.knot_step_s = float(knot_step_s)
        self.t1 = self.t0 + (tau.size - 1) * self.knot_step_s
        self._tau, self._rate, self._el = tau, rate, el
        self.mask_deg = float(mask_deg)
        self.epoch = None if epoch is None else as_epoch(epoch)
        self.sat_name = sat_name
        self.ground = ground
        self.light_time = light_time
        self._m4 = None if fourth_derivative_max is None else float(fourth_derivative_max)

    @classmethod
    def from_knots(cls, t0: float, knot_step_s: float, delay_s, delay_rate, elevation_deg=None, **kw):
        """A track from explicit knot values (delay in s, delay rate in s/s)."""
        return cls(t0=t0, knot_step_s=knot_step_s, delay_s=delay_s, delay_rate=delay_rate,
                   elevation_deg=elevation_deg, **kw)

    def __repr__(self) -> str:
        return (f"DelayTrack({self.sat_name or 'synthetic'}, t=[{self.t0:g}, {self.t1:g}] s, "
                f"{self._tau.size} knots every {self.knot_step_s:g} s, light_time={self.light_time!r})")

    @property
    def n_knots(self) -> int:
        return self._tau.size

    @property
    def knot_times(self) -> np.ndarray:
        """Knot times (s since epoch)."""
        return self.t0 + self.knot_step_s * np.arange(self._tau.size)

    @property
    def knot_delays(self) -> np.ndarray:
        """Delay at the knots (s), read-only: for a compiled evaluator of the same Hermite curve."""
        v = self._tau.view()
        v.flags.writeable = False
        return v

    @property
    def knot_delay_rates(self) -> np.ndarray:
        """d(delay)/dt at the knots (s/s), read-only."""
        v = self._rate.view()
        v.flags.writeable = False
        return v

    # ------------------------------------------------------------------ evaluation
    def _locate(self, t):
        t = np.asarray(t, dtype=np.float64)
        h = self.knot_step_s
        u = (t - self.t0) / h
        k = self._tau.size - 1
        tol = 1e-9 / h + 1e-12 * abs(self.t1) / h
        if t.size and (not np.all(np.isfinite(u)) or u.min() < -tol or u.max() > k + tol):
            bad = t.min() if (not np.isfinite(u).all() or u.min() < -tol) else t.max()
            raise ConfigError.bad_value("t", float(bad), f"{self.t0}..{self.t1} s (the track's span)")
        i = np.clip(np.floor(u), 0, k - 1).astype(np.intp)
        s = np.clip(u - i, 0.0, 1.0)
        return i, s

    def _hermite(self, t, order: int):
        i, s = self._locate(t)
        h = self.knot_step_s
        p0, p1 = self._tau[i], self._tau[i + 1]
        m0, m1 = h * self._rate[i], h * self._rate[i + 1]
        if order == 0:
            s2 = s * s
            s3 = s2 * s
            return (2 * s3 - 3 * s2 + 1) * p0 + (s3 - 2 * s2 + s) * m0 + (3 * s2 - 2 * s3) * p1 + (s3 - s2) * m1
        if order == 1:
            s2 = s * s
            return ((6 * s2 - 6 * s) * (p0 - p1) + (3 * s2 - 4 * s + 1) * m0 + (3 * s2 - 2 * s) * m1) / h
        return ((12 * s - 6) * (p0 - p1) + (6 * s - 4) * m0 + (6 * s - 2) * m1) / (h * h)

    def delay(self, t):
        """One-way delay (s) at ``t`` (s since epoch)."""
        return self._hermite(t, 0)

    def delay_rate(self, t):
        """d(delay)/dt (s/s) = range_rate / c."""
        return self._hermite(t, 1)

    def delay_accel(self, t):
        """d^2(delay)/dt^2 (1/s)."""
        return self._hermite(t, 2)

    def doppler(self, t, fc):
        """Doppler shift (Hz) at carrier ``fc`` (Hz): ``-fc * delay_rate``."""
        return -float(fc) * self._hermite(t, 1)

    def doppler_rate(self, t, fc):
        """Doppler rate (Hz/s) at carrier ``fc`` (Hz): ``-fc * d^2 delay / dt^2``."""
        return -float(fc) * self._hermite(t, 2)

    def carrier_phase(self, t, fc):
        """Carrier phase (rad) the delay imposes, ``-2 pi fc delay(t)`` (not wrapped)."""
        return -2.0 * math.pi * float(fc) * self._hermite(t, 0)

    def elevation(self, t):
        """Elevation (deg), linear between knots (knot spacing makes this smooth to < 1e-3 deg at 1 s)."""
        i, s = self._locate(t)
        return self._el[i] + s * (self._el[i + 1] - self._el[i])

    def visible(self, t):
        """Elevation at or above the track's mask."""
        return self.elevation(t) >= self.mask_deg

    def range_m(self, t):
        """delay * c (m)."""
        return self.delay(t) * C_MPS

    # ------------------------------------------------------------------ error bound
    def fourth_derivative_max(self) -> float:
        """max |d^4 tau/dt^4| (1/s^3): as measured by :func:`make_track` (4th differences of the delay on a
        0.5 s grid), else estimated from the knot slopes (3rd differences over >= 0.5 s)."""
        if self._m4 is not None:
            return self._m4
        h = self.knot_step_s
        stride = max(1, int(math.ceil(0.5 / h)))
        r = self._rate[::stride]
        H = stride * h
        if r.size < 4:
            return float("nan")
        d3 = np.diff(r, 3) / H**3
        return float(np.max(np.abs(d3)))

    @property
    def error_bound_s(self) -> float:
        """Bound on the interpolated delay error (s): h^4/384 * max|tau''''| (x2 for the estimate).

        Rounding is not included: below h of about 10 ms the float64 rounding of the delay (~1e-18 s)
        dominates this bound."""
        return 2.0 * self.knot_step_s**4 / 384.0 * self.fourth_derivative_max()

    @property
    def rate_error_bound(self) -> float:
        """Bound on the interpolated delay-rate error (s/s): sqrt(3)/216 h^3 max|tau''''| (x2)."""
        return 2.0 * math.sqrt(3.0) / 216.0 * self.knot_step_s**3 * self.fourth_derivative_max()


def _ground_teme(ground: GroundStation, ep: Epoch, t, eop=None):
    """Ground position and velocity in TEME (m, m/s) at times t, shape (n, 3)."""
    th, w, pole = earth_rotation(ep, t, eop)
    c, s = np.cos(th), np.sin(th)
    x, y, z = ground.ecef_m
    if pole is not None:
        x, y, z = itrf_to_pef(tuple(np.full_like(c, q) for q in (x, y, z)), pole)
    xt = c * x - s * y
    yt = s * x + c * y
    r = np.stack([xt, yt, np.broadcast_to(z, xt.shape)], axis=-1)
    v = np.stack([-w * yt, w * xt, np.zeros_like(xt)], axis=-1)
    return r, v


def _delays(sat: Satellite, ground: GroundStation, ep: Epoch, t: np.ndarray, light_time: str, allow_stale: bool,
            eop=None):
    """Delay (s) and elevation (deg) at times t."""
    cons = Constellation([sat])
    r, v = cons.propagate_teme(ep, t, allow_stale=allow_stale)
    r_e, v_e = teme_to_ecef(r, v, ep, t, eop=eop)
    rng, _rr, _ra, el, _az = _look(r_e, v_e, None, ground)
    rng, el = rng[0], el[0]
    tau = rng / C_MPS
    if light_time == "downlink":
        rg, _ = _ground_teme(ground, ep, t, eop)
        for _ in range(3):  # fixed point; each pass gains a factor ~ range_rate / c ~ 2e-5
            rs, _ = cons.propagate_teme(ep, t - tau, allow_stale=allow_stale)
            tau = np.linalg.norm(rs[0] - rg, axis=-1) / C_MPS
    elif light_time == "uplink":
        rs = r[0]
        for _ in range(3):
            rg, _ = _ground_teme(ground, ep, t - tau, eop)
            tau = np.linalg.norm(rs - rg, axis=-1) / C_MPS
    return tau, el


def _stencil_slopes(tau_ext: np.ndarray, h: float) -> np.ndarray:
    """d tau/dt at the inner knots of ``tau_ext`` (two extra knots each side), 5-point central stencil."""
    return (tau_ext[:-4] - 8.0 * tau_ext[1:-3] + 8.0 * tau_ext[3:-1] - tau_ext[4:]) / (12.0 * h)


def make_track(sat, ground: GroundStation, epoch, duration_s: float, knot_step_s: float = 1e-3, *,
               start_s: float = 0.0, mask_deg: float = 10.0, light_time: str = "none",
               allow_stale: bool = False, chunk_knots: int = 500_000, eop=None) -> DelayTrack:
    """Build a :class:`DelayTrack` for ``sat`` seen from ``ground``.

    Knots at ``start_s + k * knot_step_s`` (s since ``epoch``), k = 0..K with K = ceil(duration / step):
    the track covers at least ``[start_s, start_s + duration_s]``. ``sat`` is a Satellite or a
    one-satellite Constellation. See the module doc for ``light_time`` and the error bound. ``eop``: an
    IERS Earth orientation table or file (:mod:`hil.orbit.eop`; None: UT1 = UTC, no polar motion).
    """
    eop = as_eop(eop)
    if isinstance(sat, Constellation):
        if len(sat) != 1:
            raise ConfigError.bad_value("sat", f"{len(sat)} satellites", "one Satellite (index the constellation)")
        sat = sat[0]
    if not isinstance(sat, Satellite):
        raise ConfigError.bad_value("sat", sat, "a Satellite")
    if not isinstance(ground, GroundStation):
        raise ConfigError.bad_value("ground", ground, "a GroundStation")
    check_choice("light_time", light_time, LIGHT_TIME_MODES)
    check_range("duration_s", duration_s, 0.0, None, unit="s")
    check_range("knot_step_s", knot_step_s, 1e-6, 60.0, unit="s")
    check_range("mask_deg", mask_deg, -90.0, 90.0, unit="deg")
    ep = as_epoch(epoch)
    k = max(1, int(math.ceil(duration_s / knot_step_s - 1e-9)))
    if k + 1 > _MAX_KNOTS:
        raise ConfigError.bad_value("duration_s / knot_step_s", k + 1, f"at most {_MAX_KNOTS} knots")
    h = knot_step_s
    if h <= _FINE_STEP_S:
        # knot slopes from the knots themselves: two extra knots each side for the 5-point stencil
        t = start_s + h * np.arange(-2, k + 3)
        tau_ext = np.empty(k + 5)
        el_ext = np.empty(k + 5)
        for a in range(0, k + 5, chunk_knots):
            b = min(k + 5, a + chunk_knots)
            tau_ext[a:b], el_ext[a:b] = _delays(sat, ground, ep, t[a:b], light_time, allow_stale, eop)
        t = t[2:-2]
        tau, el, rate = tau_ext[2:-2], el_ext[2:-2], _stencil_slopes(tau_ext, h)
    else:
        # coarse knots: slopes from a fine stencil (+-1, +-2 x 10 ms) around each knot
        t = start_s + h * np.arange(k + 1)
        tau, el = _delays(sat, ground, ep, t, light_time, allow_stale, eop)
        d = _FINE_STEP_S
        offs = [_delays(sat, ground, ep, t + o * d, light_time, allow_stale, eop)[0] for o in (-2, -1, 1, 2)]
        rate = (offs[0] - 8.0 * offs[1] + 8.0 * offs[2] - offs[3]) / (12.0 * d)
    # max |4th derivative of tau| from 4th differences on a 0.5 s grid spanning the track (for the stated bound)
    H = 0.5
    tm = np.arange(t[0] - 2 * H, t[-1] + 2 * H + 1e-9, H)
    tau_m, _ = _delays(sat, ground, ep, tm, light_time, allow_stale, eop)
    m4 = float(np.max(np.abs(np.diff(tau_m, 4)))) / H**4
    return DelayTrack(t0=float(t[0]), knot_step_s=h, delay_s=tau, delay_rate=rate, elevation_deg=el,
                      mask_deg=mask_deg, epoch=ep, sat_name=sat.name, ground=ground, light_time=light_time,
                      fourth_derivative_max=m4)


def serving_tracks(cons: Constellation, ground: GroundStation, epoch, duration_s: float, *, start_s: float = 0.0,
                   step_s: float = 1.0, knot_step_s: float = 1e-3, mask_deg: float = 10.0,
                   rule: str = "highest-elevation", light_time: str = "none", allow_stale: bool = False,
                   eop=None):
    """The serving sequence of one ground point as ``[(slot, DelayTrack or None), ...]``.

    Each slot of :func:`~hil.orbit.geometry.serving_sequence` (boundaries to ``step_s``) gets a track of its
    serving satellite over the slot (None where no satellite is above the mask): what an emulator
    switches between at handovers. ``eop``: see :func:`make_track`.
    """
    from .geometry import serving_sequence

    eop = as_eop(eop)
    seq = serving_sequence(cons, [ground], epoch, duration_s, step_s=step_s, start_s=start_s, mask_deg=mask_deg,
                           rule=rule, allow_stale=allow_stale, eop=eop)
    out = []
    for slot in seq.slots:
        i = slot.serving[0]
        tr = None
        if i >= 0:
            tr = make_track(cons[i], ground, epoch, slot.duration_s, knot_step_s, start_s=slot.start_s,
                            mask_deg=mask_deg, light_time=light_time, allow_stale=allow_stale, eop=eop)
        out.append((slot, tr))
    return out
