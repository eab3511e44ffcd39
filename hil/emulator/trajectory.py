"""Trajectories: what a link's geometry looks like over time, in the form the emulator needs.

A trajectory is any object with these methods (``t`` in seconds since the scenario epoch, scalar or
array; :class:`Trajectory` is the protocol)::

    delay(t)         one-way propagation delay tau (s)
    delay_rate(t)    dtau/dt (s/s) = range rate / c; the Doppler at carrier fc is -fc * delay_rate
    path_loss_db(t)  propagation loss (dB, >= 0 for a real link)
    visible(t)       bool: is the satellite above the mask (outside: the link delivers noise only)
    elevation(t)     elevation angle (deg)
    discontinuities(t0, t1)   times in [t0, t1) where delay/Doppler jump (handovers)

Implementations here: :class:`ConstantTrajectory`, :class:`LinearTrajectory`, :class:`CircularPass`
(a closed-form pass of a satellite on a circular orbit over a non-rotating Earth - an independent
reference for tests), :class:`HandoverTrajectory` (a sequence of the others) and
:class:`OrbitTrajectory`, the adapter from :mod:`hil.orbit` (``DelayTrack`` + free-space loss).
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import numpy as np

from hil.errors import ConfigError, check_range

__all__ = ["C", "MU_EARTH", "R_EARTH", "Trajectory", "ConstantTrajectory", "LinearTrajectory", "CircularPass",
           "HandoverTrajectory", "OrbitTrajectory", "fspl_db", "LinkProfile", "min_delay_s"]

C = 299_792_458.0          # m/s
MU_EARTH = 3.986004418e14  # m^3/s^2
R_EARTH = 6_371_000.0      # m (mean radius; the synthetic pass is spherical)


def fspl_db(range_m, carrier_hz):
    """Free-space path loss 20 log10(4 pi d f / c) in dB."""
    return 20.0 * np.log10(4.0 * math.pi * np.asarray(range_m, dtype=float) * carrier_hz / C)


def _full(t, v):
    return np.full(np.shape(t), v, dtype=float) if np.ndim(t) else float(v)


@runtime_checkable
class Trajectory(Protocol):
    def delay(self, t): ...

    def delay_rate(self, t): ...

    def path_loss_db(self, t): ...

    def visible(self, t): ...

    def elevation(self, t): ...

    def discontinuities(self, t0: float, t1: float) -> list: ...


class _Base:
    def discontinuities(self, t0, t1):
        return []

    def doppler(self, t, carrier_hz):
        """Doppler (Hz) at carrier ``carrier_hz``: -fc dtau/dt."""
        return -carrier_hz * np.asarray(self.delay_rate(t))


class ConstantTrajectory(_Base):
    """Fixed delay (s), path loss (dB) and elevation (deg); always visible."""

    def __init__(self, delay_s: float, path_loss_db: float = 0.0, elevation_deg: float = 90.0):
        self.delay_s = float(check_range("delay_s", delay_s, lo=0.0, unit="s"))
        self.loss = float(check_range("path_loss_db", path_loss_db, unit="dB"))
        self.el = float(check_range("elevation_deg", elevation_deg, lo=-90.0, hi=90.0, unit="deg"))

    def delay(self, t):
        return _full(t, self.delay_s)

    def delay_rate(self, t):
        return _full(t, 0.0)

    def path_loss_db(self, t):
        return _full(t, self.loss)

    def visible(self, t):
        return np.ones(np.shape(t), bool) if np.ndim(t) else True

    def elevation(self, t):
        return _full(t, self.el)

    def __repr__(self):
        return f"ConstantTrajectory(delay_s={self.delay_s:g}, path_loss_db={self.loss:g})"


class LinearTrajectory(ConstantTrajectory):
    """Delay ``delay_s + rate * t`` (s): a constant Doppler ``-fc * rate``."""

    def __init__(self, delay_s: float, rate: float, path_loss_db: float = 0.0, elevation_deg: float = 90.0):
        super().__init__(delay_s, path_loss_db, elevation_deg)
        self.rate = float(check_range("rate", rate, lo=-1e-3, hi=1e-3, unit="s/s"))

    def delay(self, t):
        return self.delay_s + self.rate * np.asarray(t, dtype=float) if np.ndim(t) else self.delay_s + self.rate * t

    def delay_rate(self, t):
        return _full(t, self.rate)

    def __repr__(self):
        return f"LinearTrajectory(delay_s={self.delay_s:g}, rate={self.rate:g}, path_loss_db={self.loss:g})"


class CircularPass(_Base):
    """Closed-form pass: circular orbit of altitude ``altitude_m`` over a spherical, non-rotating Earth.

    The ground station sits ``offset_deg`` (central angle) off the orbital plane; the satellite is at
    its closest at ``t_closest_s``. Range, range rate and elevation follow from the law of cosines:
    ``rho^2 = r^2 + R^2 - 2 r R cos(beta) cos(theta)``, ``theta = omega (t - t_closest)``,
    ``omega = sqrt(mu / r^3)``. Path loss: free space at ``carrier_hz`` plus ``extra_loss_db``.
    Visible while the elevation is >= ``min_elevation_deg``.
    """

    def __init__(self, altitude_m: float = 550e3, carrier_hz: float = 2e9, *, offset_deg: float = 0.0,
                 t_closest_s: float = 0.0, min_elevation_deg: float = 10.0, extra_loss_db: float = 0.0):
        self.altitude_m = float(check_range("altitude_m", altitude_m, lo=100e3, hi=50_000e3, unit="m"))
        self.carrier_hz = float(check_range("carrier_hz", carrier_hz, lo=1.0, unit="Hz"))
        self.offset_deg = float(check_range("offset_deg", offset_deg, lo=0.0, hi=30.0, unit="deg"))
        self.t_closest_s = float(check_range("t_closest_s", t_closest_s, unit="s"))
        self.min_elevation_deg = float(check_range("min_elevation_deg", min_elevation_deg, lo=-90, hi=90,
                                                   unit="deg"))
        self.extra_loss_db = float(check_range("extra_loss_db", extra_loss_db, unit="dB"))
        self.r = R_EARTH + self.altitude_m
        self.omega = math.sqrt(MU_EARTH / self.r**3)
        self._cb = math.cos(math.radians(self.offset_deg))

    def _theta(self, t):
        return self.omega * (np.asarray(t, dtype=float) - self.t_closest_s)

    def range_m(self, t):
        th = self._theta(t)
        return np.sqrt(self.r**2 + R_EARTH**2 - 2 * self.r * R_EARTH * self._cb * np.cos(th))

    def range_rate_mps(self, t):
        th = self._theta(t)
        return self.r * R_EARTH * self._cb * np.sin(th) * self.omega / self.range_m(t)

    def delay(self, t):
        return self.range_m(t) / C

    def delay_rate(self, t):
        return self.range_rate_mps(t) / C

    def elevation(self, t):
        th = self._theta(t)
        s = (self.r * self._cb * np.cos(th) - R_EARTH) / self.range_m(t)
        return np.degrees(np.arcsin(np.clip(s, -1.0, 1.0)))

    def visible(self, t):
        return np.asarray(self.elevation(t)) >= self.min_elevation_deg

    def path_loss_db(self, t):
        return fspl_db(self.range_m(t), self.carrier_hz) + self.extra_loss_db

    def pass_window(self):
        """(start, end) times (s) of visibility, from the closed form."""
        sin_el = math.sin(math.radians(self.min_elevation_deg))
        # rho sin(el) = r cb cos(th) - R with rho^2 = r^2 + R^2 - 2 r R cb cos(th): solve for cos(th).
        lo, hi = 0.0, math.pi
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if float(self.elevation(self.t_closest_s + mid / self.omega)) >= math.degrees(math.asin(sin_el)):
                lo = mid
            else:
                hi = mid
        half = lo / self.omega
        return self.t_closest_s - half, self.t_closest_s + half

    def __repr__(self):
        return (f"CircularPass(altitude_m={self.altitude_m:g}, carrier_hz={self.carrier_hz:g}, "
                f"offset_deg={self.offset_deg:g}, t_closest_s={self.t_closest_s:g})")


class HandoverTrajectory(_Base):
    """A sequence of trajectories, each active from its start time (s) to the next one's: a handover.

    ``pieces`` is a list of ``(start_s, trajectory)`` sorted by start; ``trajectory`` may be ``None`` for
    a gap with no satellite (not visible; delay held at the previous piece's value at the gap start).
    Each switch is a discontinuity of delay/Doppler reported by :meth:`discontinuities`.
    """

    def __init__(self, pieces):
        pieces = list(pieces)
        if not pieces:
            raise ConfigError.bad_value("pieces", pieces, "at least one (start_s, trajectory)")
        starts = [float(s) for s, _ in pieces]
        if any(b <= a for a, b in zip(starts, starts[1:])):
            raise ConfigError.bad_value("pieces.start_s", starts, "strictly increasing start times")
        if pieces[0][1] is None:
            raise ConfigError.bad_value("pieces[0]", None, "a trajectory (a gap cannot come first)")
        self.starts = np.array(starts)
        self.pieces = [p for _, p in pieces]

    def _index(self, t):
        return np.clip(np.searchsorted(self.starts, np.asarray(t, dtype=float), side="right") - 1, 0, None)

    def _eval(self, name, t, gap_value=None):
        t_arr = np.atleast_1d(np.asarray(t, dtype=float))
        idx = np.atleast_1d(self._index(t_arr))
        out = np.empty(t_arr.shape, dtype=bool if name == "visible" else float)
        for i in np.unique(idx):
            sel = idx == i
            piece = self.pieces[i]
            if piece is None:
                if name == "visible":
                    out[sel] = False
                elif gap_value is not None:
                    out[sel] = gap_value
                else:  # hold the last piece's value at the gap start
                    prev = next(j for j in range(i - 1, -1, -1) if self.pieces[j] is not None)
                    out[sel] = float(np.asarray(getattr(self.pieces[prev], name)(self.starts[i])))
            else:
                out[sel] = np.asarray(getattr(piece, name)(t_arr[sel]))
        return out if np.ndim(t) else out[0].item()

    def delay(self, t):
        return self._eval("delay", t)

    def delay_rate(self, t):
        return self._eval("delay_rate", t, gap_value=0.0)

    def path_loss_db(self, t):
        return self._eval("path_loss_db", t)

    def visible(self, t):
        return self._eval("visible", t)

    def elevation(self, t):
        return self._eval("elevation", t, gap_value=-90.0)

    def discontinuities(self, t0, t1):
        out = [float(s) for s in self.starts[1:] if t0 <= s < t1]
        for s, p in zip(self.starts, self.pieces):
            if p is not None:
                out += [d for d in p.discontinuities(max(t0, s), t1) if d >= s]
        return sorted(out)

    def __repr__(self):
        return f"HandoverTrajectory({len(self.pieces)} pieces, starts={self.starts.tolist()})"


class OrbitTrajectory(_Base):
    """Adapter from :mod:`hil.orbit`: a ``DelayTrack`` (delay, delay_rate, elevation, visible) plus a
    path loss: ``budget.path_loss_db(range_m, elevation_deg)`` when a ``hil.orbit.LinkBudget`` (or any
    object with that method) is given, else free space at ``carrier_hz``; ``extra_loss_db`` is added.
    Range is ``c * delay``. A budget with ``gases`` is evaluated at no less than 5 deg of elevation
    (P.676's cosecant law starts there): the emulator requires a mask >= 5 deg with gases, so this only
    sets the loss reported while the satellite is hidden (when the link delivers noise only).
    ``name``: the satellite's name (the track's ``sat_name``), reported as the serving satellite."""

    def __init__(self, track, carrier_hz: float, *, budget=None, extra_loss_db: float = 0.0):
        for name in ("delay", "delay_rate", "elevation", "visible"):
            if not callable(getattr(track, name, None)):
                raise ConfigError.bad_value("track", track, f"a hil.orbit DelayTrack (needs .{name}(t))")
        if budget is not None and not callable(getattr(budget, "path_loss_db", None)):
            raise ConfigError.bad_value("budget", budget, "a hil.orbit.LinkBudget (path_loss_db(range_m, el))")
        self.track = track
        self.carrier_hz = float(check_range("carrier_hz", carrier_hz, lo=1.0, unit="Hz"))
        self.extra_loss_db = float(check_range("extra_loss_db", extra_loss_db, unit="dB"))
        self.budget = budget
        self.name = getattr(track, "sat_name", "") or ""

    def delay(self, t):
        return self.track.delay(t)

    def delay_rate(self, t):
        return self.track.delay_rate(t)

    def elevation(self, t):
        return self.track.elevation(t)

    def visible(self, t):
        return self.track.visible(t)

    def path_loss_db(self, t):
        rng = np.asarray(self.track.delay(t)) * C
        if self.budget is not None:
            el = np.asarray(self.track.elevation(t))
            if getattr(self.budget, "gases", False):
                el = np.maximum(el, 5.0)
            loss = self.budget.path_loss_db(rng, el)
        else:
            loss = fspl_db(rng, self.carrier_hz)
        return np.asarray(loss) + self.extra_loss_db

    @property
    def t0(self):
        return getattr(self.track, "t0", None)

    @property
    def t1(self):
        return getattr(self.track, "t1", None)

    def __repr__(self):
        return f"OrbitTrajectory({self.track!r}, carrier_hz={self.carrier_hz:g})"


class LinkProfile:
    """A trajectory seen as the delay profile of one link (:class:`dsp.delay.DelayProfile`):
    gain (dB) = ``gain_db - path_loss_db(t)``; delay, rate, visibility and jumps pass through."""

    def __init__(self, trajectory, gain_db: float = 0.0):
        self.trajectory = trajectory
        self.gain_offset_db = float(check_range("gain_db", gain_db, unit="dB"))

    def delay(self, t):
        return self.trajectory.delay(t)

    def delay_rate(self, t):
        return self.trajectory.delay_rate(t)

    def gain_db(self, t):
        return self.gain_offset_db - np.asarray(self.trajectory.path_loss_db(t))

    def visible(self, t):
        return self.trajectory.visible(t)

    def discontinuities(self, t0, t1):
        return self.trajectory.discontinuities(t0, t1)

    def __repr__(self):
        return f"LinkProfile({self.trajectory!r}, gain_db={self.gain_offset_db:g})"


def _sampled_min_delay(tr, t0, t1):
    """A lower bound on ``tr.delay`` over [t0, t1] (finite) from a grid of 0.1 s steps (longer beyond
    200,000 s of span: at most 2 M points): per step ``min(d_k, d_k+1) - h max(|r_k|, |r_k+1|)`` (r: delay
    rate) - twice what the mean-value theorem asks if the rate stays within its end values, which holds
    exactly for the quadratic shape of a delay around its minimum (the only place the bound is tight:
    there it is ~ d'' h^2, 4e-9 s for a LEO pass overhead)."""
    n = max(2, int(math.ceil((t1 - t0) / max(0.1, (t1 - t0) / 2e6))) + 1)
    t = np.linspace(t0, t1, n)
    d = np.asarray(tr.delay(t), dtype=float)
    r = np.abs(np.asarray(tr.delay_rate(t), dtype=float))
    h = (t1 - t0) / (n - 1)
    return float(np.min(np.minimum(d[:-1], d[1:]) - h * np.maximum(r[:-1], r[1:])))


def min_delay_s(tr, t0: float, t1: float = math.inf):
    """A lower bound on the delay of trajectory ``tr`` over the times [t0, t1] (s), or None when it is not
    known (an unbounded trajectory of a kind without a closed form). Closed forms for constant, linear and
    circular trajectories; pieces of a handover each over their own time; anything with a bounded span
    (``t0``/``t1`` attributes: orbit tracks, network links) sampled densely (:func:`_sampled_min_delay`).
    A constant of the configuration (geometry), never the delay of one instant."""
    if t1 < t0:
        return None
    if isinstance(tr, LinearTrajectory):
        if tr.rate == 0.0:
            return tr.delay_s
        t = t0 if tr.rate > 0 else t1
        return float(tr.delay(t)) if math.isfinite(t) else None
    if isinstance(tr, ConstantTrajectory):
        return tr.delay_s
    if isinstance(tr, CircularPass):  # the closest approach of any revolution (theta = 0)
        return math.sqrt(tr.r**2 + R_EARTH**2 - 2 * tr.r * R_EARTH * tr._cb) / C
    if isinstance(tr, HandoverTrajectory):
        ends = [*tr.starts[1:], math.inf]
        lows = []
        for s, e, piece in zip(tr.starts, ends, tr.pieces):
            a, b = max(t0, float(s)), min(t1, float(e))
            if piece is None or b < a:
                continue  # a gap holds the previous piece's value: no lower
            m = min_delay_s(piece, a, b)
            if m is None:
                return None
            lows.append(m)
        return min(lows) if lows else None
    lo, hi = getattr(tr, "t0", None), getattr(tr, "t1", None)
    a = t0 if lo is None else max(t0, float(lo))
    b = t1 if hi is None else min(t1, float(hi))
    if not (math.isfinite(a) and math.isfinite(b)) or b < a:
        return None
    return _sampled_min_delay(tr, a, b)
