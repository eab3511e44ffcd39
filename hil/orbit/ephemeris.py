"""The receiver's own ephemeris: its own (aged, erroneous) TLE propagated with SGP4, as delay/Doppler tables.

A real terminal does not know where the satellite is; it knows a TLE that is some days old, a clock and
an oscillator that are a little off. :class:`ReceiverEphemeris` builds such a terminal's element set
*once*, from the true satellite's elements and an error spec (:class:`EphemerisErrorConfig`), and from
then on uses only its own elements: SGP4 -> delay / delay rate / elevation knots
(:class:`~hil.orbit.track.DelayTrack`, cubic Hermite) over the window the receiver will run.

How each error is made (docs/orbit.md has the numbers and their sources):

* ``tle_age_days`` A: the receiver's element epoch is A days before the reference time ``t_ref``. Its
  elements are fitted (least squares, SGP4 against SGP4, one orbit of positions centred on that epoch)
  to the true trajectory - what an orbit determination of that day gives - and then carry the errors
  that make TLEs age: a mean-motion error (along-track error growing linearly) and a drag (B*) error
  (growing quadratically), sized so that the along-track error at ``t_ref`` is
  ``tle_growth_m_per_day * A + tle_growth_m_per_day2 * A**2`` (defaults 1 km/day and 0.5 km/day^2:
  1.5 km after 1 day, 7.5 km after 3 days - the 1-3 km/day usually quoted for LEO TLEs; an
  assumption). The radial error that goes with a drag error comes out of SGP4 by itself.
* ``along_track_m`` / ``cross_track_m`` / ``radial_m``: a position error at ``t_ref`` in the true
  orbit's RTN frame (radial, along-track = h x r, cross-track = h), made by changing the mean anomaly
  (along), the semi-major axis / mean motion (radial: an energy error, so the along-track error then
  drifts by -3 pi radial per orbit, as it physically must) and the orbit plane (inclination and RAAN
  together, cross); solved by Newton iterations on SGP4 itself so the RTN difference at ``t_ref`` is
  the one asked (tested to < 1 m).
* ``epoch_shift_s``: the element set is time-tagged ``epoch_shift_s`` late (its satellite runs that
  much behind: about -7.6 km per second in LEO), the Earth's rotation being unaffected.
* ``clock_offset_s``: the receiver's clock is ahead by that much: it evaluates its prediction at
  ``t + clock_offset_s`` (the whole geometry, Earth rotation included).
* ``offset_ppm`` / ``drift_ppm_per_s``: the receiver's oscillator: its Doppler prediction is off by
  ``fc * 1e-6 * (offset_ppm + drift_ppm_per_s * (t - t_ref))`` Hz. Delay predictions are unaffected
  (the bench shares the sample clock between TX and RX).

With every error zero the receiver's elements are the true ones (same SGP4 record) and its delay and
Doppler equal :func:`~hil.orbit.track.make_track`'s to float rounding. Propagation uses the elements at
full precision; :attr:`ReceiverEphemeris.tle_lines` writes them as a TLE (the format rounds angles to
1e-4 deg, ~12 m).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from sgp4.api import WGS72, Satrec

from hil.config import parse, spec, to_dict
from hil.errors import ConfigError, check_range

from .constants import C_MPS, DAY_S
from .eop import as_eop
from .ground import GroundStation
from .satellites import Constellation, Satellite
from .timebase import Epoch, as_epoch
from .tle import SGP4_ERRORS, TleRecord, format_tle, validate_tle
from .track import LIGHT_TIME_MODES, DelayTrack, make_track

__all__ = ["EphemerisErrorConfig", "ReceiverEphemeris", "receiver_satellite", "rtn_difference",
           "ephemeris_rtn_error"]

_EPOCH_1949 = 2433281.5  # JD origin of sgp4init's epoch argument
_RE_KM = 6378.135  # WGS-72 equatorial radius (SGP4's "earth radius")


@dataclass(frozen=True)
class EphemerisErrorConfig:
    """What the receiver's own ephemeris gets wrong (all zero: it has the channel's exact elements).

    Orbit: ``tle_age_days`` (its TLE is that old at ``t_ref``; along-track error grows as
    ``tle_growth_m_per_day * A + tle_growth_m_per_day2 * A^2``), ``epoch_shift_s`` (elements time-tagged
    late: the satellite lags), ``along_track_m`` / ``cross_track_m`` / ``radial_m`` (RTN position error at
    ``t_ref``, receiver minus truth). Time and frequency: ``clock_offset_s`` (the receiver evaluates its
    prediction at ``t + offset``), ``offset_ppm`` and ``drift_ppm_per_s`` (oscillator: added to the
    predicted Doppler as ``fc 1e-6 (offset + drift (t - t_ref))``). See :mod:`hil.orbit.ephemeris`.
    """

    tle_age_days: float = field(default=0.0, metadata=spec(ge=0, le=60, unit="days",
                                                            doc="age of the receiver's TLE at t_ref"))
    tle_growth_m_per_day: float = field(default=1000.0, metadata=spec(
        ge=-1e5, le=1e5, unit="m/day", doc="linear along-track growth of an aged TLE (mean-motion error)"))
    tle_growth_m_per_day2: float = field(default=500.0, metadata=spec(
        ge=-1e5, le=1e5, unit="m/day^2", doc="quadratic along-track growth of an aged TLE (drag error)"))
    epoch_shift_s: float = field(default=0.0, metadata=spec(ge=-3600, le=3600, unit="s",
                                                             doc="element epoch tagged late by this much"))
    along_track_m: float = field(default=0.0, metadata=spec(ge=-1e6, le=1e6, unit="m"))
    cross_track_m: float = field(default=0.0, metadata=spec(ge=-1e5, le=1e5, unit="m"))
    radial_m: float = field(default=0.0, metadata=spec(ge=-1e4, le=1e4, unit="m"))
    clock_offset_s: float = field(default=0.0, metadata=spec(ge=-60, le=60, unit="s"))
    offset_ppm: float = field(default=0.0, metadata=spec(ge=-100, le=100, unit="ppm"))
    drift_ppm_per_s: float = field(default=0.0, metadata=spec(ge=-1, le=1, unit="ppm/s"))

    @property
    def orbit_exact(self) -> bool:
        """True when the receiver's elements are the true ones (no age, shift or position error)."""
        return (self.tle_age_days == 0 and self.epoch_shift_s == 0 and self.along_track_m == 0
                and self.cross_track_m == 0 and self.radial_m == 0)

    def aging_along_track_m(self, age_days: float | None = None) -> float:
        """Along-track error (m) of the stated growth model after ``age_days`` (default: ``tle_age_days``)."""
        a = self.tle_age_days if age_days is None else float(age_days)
        return self.tle_growth_m_per_day * a + self.tle_growth_m_per_day2 * a * a


def _as_error(error) -> EphemerisErrorConfig:
    if error is None:
        return EphemerisErrorConfig()
    if isinstance(error, EphemerisErrorConfig):
        return parse(EphemerisErrorConfig, to_dict(error), path="ephemeris_error")  # range checks
    if isinstance(error, dict):
        return parse(EphemerisErrorConfig, error, path="ephemeris_error")
    # duck-typed (e.g. another config class with the same fields)
    names = EphemerisErrorConfig.__dataclass_fields__
    if all(hasattr(error, k) for k in ("along_track_m", "offset_ppm")):
        return parse(EphemerisErrorConfig, {k: getattr(error, k) for k in names if hasattr(error, k)},
                     path="ephemeris_error")
    raise ConfigError.bad_value("error", error, "an EphemerisErrorConfig, a dict of its fields or None")


def _as_satellite(sat, field_name: str = "sat") -> Satellite:
    if isinstance(sat, Constellation):
        if len(sat) != 1:
            raise ConfigError.bad_value(field_name, f"{len(sat)} satellites", "one Satellite")
        sat = sat[0]
    if isinstance(sat, Satellite):
        return sat
    if isinstance(sat, TleRecord):
        return Satellite(sat.name or f"SAT-{sat.satnum:05d}", sat.satrec, sat.epoch)
    if isinstance(sat, Satrec):
        return Satellite(f"SAT-{sat.satnum:05d}", sat, Epoch(float(sat.jdsatepoch), float(sat.jdsatepochF)))
    if isinstance(sat, (tuple, list)) and len(sat) == 2 and all(isinstance(x, str) for x in sat):
        rec = validate_tle(sat[0], sat[1], source=field_name)
        return Satellite(f"SAT-{rec.satnum:05d}", rec.satrec, rec.epoch)
    raise ConfigError.bad_value(field_name, sat, "a Satellite, a TleRecord, an sgp4 Satrec or (line1, line2)")


# ------------------------------------------------------------------------------------------ elements
@dataclass(frozen=True)
class _Elements:
    """SGP4 input elements (rad, Kozai mean motion in rad/min, B* in 1/earth radii) at ``epoch``."""

    epoch: Epoch
    inc: float
    raan: float
    ecc: float
    argp: float
    mo: float
    n: float
    bstar: float
    satnum: int

    @classmethod
    def of(cls, sr: Satrec) -> _Elements:
        return cls(Epoch(float(sr.jdsatepoch), float(sr.jdsatepochF)), sr.inclo, sr.nodeo, sr.ecco, sr.argpo,
                   sr.mo, sr.no_kozai, sr.bstar, int(sr.satnum))

    def replace(self, **kw) -> _Elements:
        d = dict(self.__dict__)
        d.update(kw)
        return _Elements(**d)

    def satrec(self) -> Satrec:
        sr = Satrec()
        ep = self.epoch
        sr.sgp4init(WGS72, "i", self.satnum, (ep.jd - _EPOCH_1949) + ep.fr, self.bstar, 0.0, 0.0, self.ecc,
                    self.argp % (2 * math.pi), self.inc, self.mo % (2 * math.pi), self.n, self.raan % (2 * math.pi))
        if sr.error:
            raise ConfigError.bad_value("receiver elements", f"sgp4init error {sr.error}",
                                        f"elements SGP4 accepts ({SGP4_ERRORS.get(sr.error, 'unknown')})")
        return sr

    def tle_lines(self) -> tuple[str, str]:
        return format_tle(satnum=self.satnum % 100000, epoch=self.epoch, inclination_deg=math.degrees(self.inc),
                          raan_deg=math.degrees(self.raan), eccentricity=self.ecc,
                          argp_deg=math.degrees(self.argp), mean_anomaly_deg=math.degrees(self.mo),
                          mean_motion_revpd=self.n * 1440.0 / (2 * math.pi), bstar=self.bstar)


def _teme_km(sr: Satrec, epoch: Epoch, t) -> tuple[np.ndarray, np.ndarray]:
    """TEME position (km) and velocity (km/s), (n, 3), at ``t`` s after ``epoch``; SGP4 errors raise."""
    t = np.atleast_1d(np.asarray(t, dtype=np.float64))
    jd, fr = epoch.split(t)
    e, r, v = sr.sgp4_array(jd, fr)
    if np.any(e):
        k = int(np.argmax(e != 0))
        raise ConfigError.bad_value(f"propagation of the receiver's elements at {epoch.plus(float(t[k]))}",
                                    f"sgp4 error {int(e[k])}",
                                    f"no error ({SGP4_ERRORS.get(int(e[k]), 'unknown')}); reduce the TLE age "
                                    "or the orbit errors")
    return r, v


def rtn_difference(r_a, r_b, v_b) -> np.ndarray:
    """Components ``(radial, along-track, cross-track)`` of ``r_a - r_b`` in the RTN frame of the orbit
    ``(r_b, v_b)``: R = r/|r|, N = r x v/|r x v|, T = N x R. Any consistent length unit; shape (..., 3)."""
    r_a, r_b, v_b = (np.asarray(x, dtype=np.float64) for x in (r_a, r_b, v_b))
    R = r_b / np.linalg.norm(r_b, axis=-1, keepdims=True)
    h = np.cross(r_b, v_b)
    N = h / np.linalg.norm(h, axis=-1, keepdims=True)
    T = np.cross(N, R)
    d = r_a - r_b
    return np.stack([np.sum(d * R, -1), np.sum(d * T, -1), np.sum(d * N, -1)], axis=-1)


def ephemeris_rtn_error(sat_a, sat_b, epoch, t_s) -> np.ndarray:
    """RTN position difference (m, shape (n, 3): radial, along, cross) of ``sat_a`` minus ``sat_b`` at ``t_s``
    s after ``epoch``, in ``sat_b``'s orbit frame (e.g. receiver minus truth). For reports and tests."""
    a, b = _as_satellite(sat_a, "sat_a"), _as_satellite(sat_b, "sat_b")
    ep = as_epoch(epoch)
    ra, _ = _teme_km(a.satrec, ep, t_s)
    rb, vb = _teme_km(b.satrec, ep, t_s)
    return rtn_difference(ra, rb, vb) * 1e3


def _fit_elements(truth: Satrec, epoch: Epoch) -> tuple[_Elements, float]:
    """SGP4 elements at ``epoch`` that best fit (least squares) the true trajectory over one orbit centred
    on it; B* is the truth's. Returns the elements and the RMS position residual (m)."""
    from scipy.optimize import least_squares  # here: keeps `import hil.orbit` light

    period_s = 2 * math.pi / (truth.no_kozai / 60.0)
    t = np.linspace(-0.5 * period_s, 0.5 * period_s, 49)
    r_true, _ = _teme_km(truth, epoch, t)
    _teme_km(truth, epoch, 0.0)  # leaves the truth's mean elements at the epoch in truth.{im, Om, em, om, mm}
    e0 = _Elements.of(truth)
    ecc, argp = float(truth.em), float(truth.om)
    x0 = np.array([truth.no_kozai * truth.nm / truth.no, ecc * math.cos(argp), ecc * math.sin(argp),
                   float(truth.im), float(truth.Om), float(truth.om + truth.mm)])
    scale = np.array([1e-7 * x0[0], 1e-5, 1e-5, 1e-5, 1e-5, 1e-5])

    def elements(z):
        x = x0 + scale * z
        e = float(math.hypot(x[1], x[2]))
        w = math.atan2(x[2], x[1]) if e > 0 else 0.0
        return e0.replace(epoch=epoch, n=float(x[0]), ecc=e, argp=w, inc=float(x[3]), raan=float(x[4]),
                          mo=float(x[5]) - w)

    def resid(z):
        try:
            r, _ = _teme_km(elements(z).satrec(), epoch, t)
        except ConfigError:
            return np.full(r_true.size, 1e3)
        return (r - r_true).ravel()

    sol = least_squares(resid, np.zeros(6), method="lm", x_scale=1.0, diff_step=1e-3, xtol=1e-12, ftol=1e-12)
    el = elements(sol.x)
    rms = float(np.sqrt(np.mean(resid(sol.x) ** 2))) * 1e3 * math.sqrt(3.0)
    return el, rms


def _rtn_at(el: _Elements, truth_r, truth_v, epoch: Epoch, t) -> np.ndarray:
    r, _ = _teme_km(el.satrec(), epoch, t)
    return rtn_difference(r, truth_r, truth_v)[0] * 1e3


def _age(el: _Elements, err: EphemerisErrorConfig, truth_r, truth_v, epoch: Epoch, t_ref: float, info: dict):
    """Add the mean-motion (linear) and B* (quadratic) errors that give the stated along-track growth."""
    a_days = err.tle_age_days
    want_lin, want_quad = err.tle_growth_m_per_day * a_days, err.tle_growth_m_per_day2 * a_days**2
    base = _rtn_at(el, truth_r, truth_v, epoch, t_ref)[1]
    dn = db = 0.0
    slope_n = slope_b = 0.0
    if want_lin:
        trial = 1e-7 * el.n
        slope_n = (_rtn_at(el.replace(n=el.n + trial), truth_r, truth_v, epoch, t_ref)[1] - base) / trial
        dn = want_lin / slope_n
    if want_quad:
        trial = 1e-5
        slope_b = (_rtn_at(el.replace(bstar=el.bstar + trial), truth_r, truth_v, epoch, t_ref)[1] - base) / trial
        db = want_quad / slope_b
    # The model's value is the total along-track error at t_ref (the fit's own extrapolation error
    # included). The two effects are close to linear and additive; Newton steps on the quadratic (drag)
    # term, or on the linear one without it, absorb the rest.
    target = want_lin + want_quad
    for _ in range(8):
        if not (want_lin or want_quad):
            break
        f = _rtn_at(el.replace(n=el.n + dn, bstar=el.bstar + db), truth_r, truth_v, epoch, t_ref)[1] - target
        if abs(f) < 0.1 + 1e-6 * abs(target):
            break
        if want_quad:
            db -= f / slope_b
        else:
            dn -= f / slope_n
    if abs(el.bstar + db) > 1.0:  # 1/earth radii; real LEO values are 1e-5..1e-2
        raise ConfigError.bad_value("tle_growth_m_per_day2", err.tle_growth_m_per_day2,
                                    f"a growth a drag error can give (needs B* = {el.bstar + db:.3g} /ER)")
    info.update(aging_delta_n_radpmin=dn, aging_delta_bstar=db, aging_model_along_track_m=want_lin + want_quad)
    return el.replace(n=el.n + dn, bstar=el.bstar + db)


def _position_errors(el: _Elements, target, truth_r, truth_v, epoch: Epoch, t_ref: float, info: dict,
                     cross_asked: float):
    """Newton iterations on (mean anomaly, mean motion, orbit plane) so that the RTN difference from the
    truth at ``t_ref`` equals ``target`` (m)."""
    rv = truth_r[0]
    h = np.cross(rv, truth_v[0])
    sin_i = math.hypot(h[0], h[1]) / np.linalg.norm(h)
    if cross_asked != 0 and sin_i < 1e-3:
        raise ConfigError.bad_value("cross_track_m", float(cross_asked),
                                    "0 for an equatorial orbit (inclination < 0.06 deg)")
    node = np.cross([0.0, 0.0, 1.0], h)
    node = node / np.linalg.norm(node) if np.linalg.norm(node) > 0 else np.array([1.0, 0.0, 0.0])
    rhat = rv / np.linalg.norm(rv)
    cos_u = float(node @ rhat)
    sin_u = float(np.cross(h / np.linalg.norm(h), node) @ rhat)
    d_plane = np.array([sin_u, -cos_u / max(sin_i, 1e-3)])  # (d inc, d raan) per unit cross-track angle

    def make(x):
        return el.replace(mo=el.mo + x[0], n=el.n + x[1], inc=el.inc + x[2] * d_plane[0],
                          raan=el.raan + x[2] * d_plane[1])

    steps = np.array([1e-6, 1e-6 * el.n, 1e-6])
    x = np.zeros(3)
    tgt = np.asarray(target, dtype=np.float64)
    tol = 1e-3 + 1e-7 * np.linalg.norm(tgt)
    for _ in range(6):
        f0 = _rtn_at(make(x), truth_r, truth_v, epoch, t_ref) - tgt
        if np.max(np.abs(f0)) < tol:
            break
        J = np.empty((3, 3))
        for k in range(3):
            xk = x.copy()
            xk[k] += steps[k]
            J[:, k] = (_rtn_at(make(xk), truth_r, truth_v, epoch, t_ref) - tgt - f0) / steps[k]
        x = x - np.linalg.solve(J, f0)
    miss = _rtn_at(make(x), truth_r, truth_v, epoch, t_ref) - tgt
    if np.max(np.abs(miss)) > 0.5 + 1e-5 * np.linalg.norm(tgt):
        raise ConfigError.bad_value("radial_m/along_track_m/cross_track_m", tuple(float(v) for v in target),
                                    f"errors SGP4 elements can realise (missed by {np.abs(miss).max():.1f} m)")
    info.update(delta_mean_anomaly_rad=float(x[0]), delta_n_radpmin=float(x[1]),
                delta_inclination_rad=float(x[2] * d_plane[0]), delta_raan_rad=float(x[2] * d_plane[1]))
    return make(x)


def receiver_satellite(true_sat, epoch, t_ref: float = 0.0, error=None) -> tuple[Satellite, dict]:
    """The receiver's own :class:`Satellite` (its SGP4 record) made from the true satellite's elements.

    ``epoch``: the scenario epoch; ``t_ref`` (s since ``epoch``): where the position errors hold and the
    TLE age counts back from. Returns the satellite and an info dict (element epoch, fitted RMS, element
    changes, TLE lines). See the module doc for the error model.
    """
    truth = _as_satellite(true_sat, "true_sat")
    err = _as_error(error)
    ep = as_epoch(epoch)
    check_range("t_ref", float(t_ref), -400 * DAY_S, 400 * DAY_S, unit="s")
    info: dict = {"true_satellite": truth.name}
    sr_true = truth.satrec
    if err.orbit_exact:
        el = _Elements.of(sr_true)
        sat = Satellite(f"{truth.name} (receiver)", sr_true, truth.element_epoch, None)
        info.update(element_epoch=str(truth.element_epoch), fit_rms_m=0.0, tle_lines=el.tle_lines())
        return sat, info
    t_abs = ep.plus(float(t_ref))
    truth_r, truth_v = _teme_km(sr_true, ep, float(t_ref))
    if err.tle_age_days > 0:
        if sr_true.method == "d":
            raise ConfigError.bad_value("tle_age_days", err.tle_age_days,
                                        f"0 for {truth.name!r}: the TLE-age model (mean-motion and drag errors) "
                                        "is for near-Earth orbits (period < 225 min), not deep space")
        el_epoch = t_abs.plus(-err.tle_age_days * DAY_S)
        el, rms = _fit_elements(sr_true, el_epoch)
        info.update(fit_rms_m=rms)
        el = _age(el, err, truth_r, truth_v, ep, float(t_ref), info)
    else:
        el = _Elements.of(sr_true)
        info.update(fit_rms_m=0.0)
    if err.radial_m or err.along_track_m or err.cross_track_m:
        base = _rtn_at(el, truth_r, truth_v, ep, float(t_ref))
        target = base + np.array([err.radial_m, err.along_track_m, err.cross_track_m])
        el = _position_errors(el, target, truth_r, truth_v, ep, float(t_ref), info, err.cross_track_m)
    if err.epoch_shift_s:
        el = el.replace(epoch=el.epoch.plus(err.epoch_shift_s))
    sat = Satellite(f"{truth.name} (receiver)", el.satrec(), el.epoch, None)
    info.update(element_epoch=str(el.epoch), tle_lines=el.tle_lines(),
                rtn_at_t_ref_m=tuple(float(v) for v in _rtn_at(el, truth_r, truth_v, ep, float(t_ref))))
    return sat, info


# --------------------------------------------------------------------------------------- the block
class ReceiverEphemeris:
    """The receiver's prediction of delay, Doppler and elevation, from its own elements only.

    Parameters
    ----------
    sat : the satellite whose elements the receiver was given - normally the true one (the error spec
        then makes them wrong), or another satellite's (a wrong TLE): a :class:`Satellite`, a
        :class:`TleRecord`, an sgp4 ``Satrec`` or ``(line1, line2)``.
    ground : the receiver's :class:`GroundStation`.
    epoch : the scenario epoch (UTC); every ``t`` is seconds since it.
    t_start, t_end : the window the receiver will ask about (s since ``epoch``); outside it methods raise.
    carrier_hz : carrier frequency (Hz) for :meth:`doppler`.
    error : :class:`EphemerisErrorConfig`, a dict of its fields, or None (exact elements).
    t_ref : where position errors hold, the TLE age counts back from and the oscillator drift starts
        (s since ``epoch``); default ``t_start``.
    knot_step_s : knot spacing of the delay table (s; 0.1 s gives < 1e-16 s of interpolation error).
    mask_deg : elevation mask for :meth:`visible` (deg).
    light_time : ``"downlink"`` (default: received on the ground at t), ``"uplink"`` or ``"none"``, as in
        :func:`~hil.orbit.track.make_track`.
    eop : the receiver's Earth orientation (:mod:`hil.orbit.eop` table or finals file; None: UT1 = UTC).
    """

    def __init__(self, sat, ground: GroundStation, epoch, t_start: float, t_end: float, carrier_hz: float,
                 error=None, *, t_ref: float | None = None, knot_step_s: float = 0.1, mask_deg: float = 10.0,
                 light_time: str = "downlink", eop=None):
        self._build([(None, sat)], ground, epoch, t_start, t_end, carrier_hz, error, t_ref, knot_step_s,
                    mask_deg, light_time, eop)

    @classmethod
    def handover(cls, pieces, ground: GroundStation, epoch, t_start: float, t_end: float, carrier_hz: float,
                 error=None, **kw) -> ReceiverEphemeris:
        """One ephemeris over a serving schedule: ``pieces = [(switch_time_s, sat), ...]`` in increasing time.

        The receiver uses ``pieces[k]``'s satellite from its switch time (by its own clock) until the next
        one; the first piece also covers any time before its switch time. Each satellite gets its own
        receiver elements (same error spec; position errors and TLE age referred to the later of ``t_ref``
        and the piece's switch time). Delay and Doppler jump at the switch times (:attr:`switch_times_s`).
        """
        if not isinstance(pieces, (list, tuple)) or not pieces:
            raise ConfigError.bad_value("pieces", pieces, "a non-empty list of (switch_time_s, satellite)")
        prev = -math.inf
        for k, p in enumerate(pieces):
            if not (isinstance(p, (list, tuple)) and len(p) == 2):
                raise ConfigError.bad_value(f"pieces[{k}]", p, "a (switch_time_s, satellite) pair")
            ts = p[0]
            ok = not isinstance(ts, bool) and isinstance(ts, (int, float, np.integer, np.floating))
            if k == 0:  # the first piece covers everything before the second switch: -inf is fine
                ok = ok and not math.isnan(ts) and ts < math.inf
            else:
                ok = ok and math.isfinite(ts) and ts > prev
            if not ok:
                raise ConfigError.bad_value(f"pieces[{k}][0]", ts, f"a finite number > {prev} (increasing switch "
                                            "times; the first may be -inf)")
            prev = float(ts)
        self = cls.__new__(cls)
        kw_all = dict(t_ref=None, knot_step_s=0.1, mask_deg=10.0, light_time="downlink", eop=None)
        unknown = set(kw) - set(kw_all)
        if unknown:
            raise ConfigError.bad_value("keyword", sorted(unknown)[0], "one of " + ", ".join(kw_all))
        kw_all.update(kw)
        self._build([(float(t), s) for t, s in pieces], ground, epoch, t_start, t_end, carrier_hz, error,
                    kw_all["t_ref"], kw_all["knot_step_s"], kw_all["mask_deg"], kw_all["light_time"], kw_all["eop"])
        return self

    def _build(self, pieces, ground, epoch, t_start, t_end, carrier_hz, error, t_ref, knot_step_s, mask_deg,
               light_time, eop):
        if not isinstance(ground, GroundStation):
            raise ConfigError.bad_value("ground", ground, "a GroundStation")
        for name, v in (("t_start", t_start), ("t_end", t_end), ("carrier_hz", carrier_hz)):
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
                raise ConfigError.bad_value(name, v, "a finite number")
        if not t_end > t_start:
            raise ConfigError.bad_value("t_end", t_end, f"> t_start ({t_start} s)")
        check_range("t_end - t_start", float(t_end - t_start), 0.0, 7 * DAY_S, unit="s")
        check_range("carrier_hz", float(carrier_hz), 1.0, 1e12, unit="Hz")
        check_range("knot_step_s", knot_step_s, 1e-4, 10.0, unit="s")
        check_range("mask_deg", mask_deg, -90.0, 90.0, unit="deg")
        if light_time not in LIGHT_TIME_MODES:
            raise ConfigError.bad_value("light_time", light_time, "one of " + ", ".join(LIGHT_TIME_MODES))
        self.error = _as_error(error)
        self.epoch = as_epoch(epoch)
        self.ground = ground
        self.t_start, self.t_end = float(t_start), float(t_end)
        self.carrier_hz = float(carrier_hz)
        self.t_ref = self.t_start if t_ref is None else float(t_ref)
        self.knot_step_s = float(knot_step_s)
        self.mask_deg = float(mask_deg)
        self.light_time = light_time
        eop = as_eop(eop)
        self.eop = eop
        off = self.error.clock_offset_s
        lo, hi = self.t_start + off, self.t_end + off  # the receiver's own clock
        pad = 1.0
        self._switch = np.array([-math.inf] + [t for t, _ in pieces[1:]])
        self._tracks: list[DelayTrack] = []
        self.pieces: list[dict] = []
        for k, (ts, sat) in enumerate(pieces):
            a = lo if k == 0 else max(lo, ts)
            b = hi if k + 1 == len(pieces) else min(hi, pieces[k + 1][0])
            ref = self.t_ref if k == 0 else max(self.t_ref, ts)  # errors hold where the piece starts
            own, info = receiver_satellite(sat, self.epoch, ref, self.error)
            info.update(switch_time_s=ts, t_ref_s=ref)
            self.pieces.append(info)
            if b < a:  # never used inside the window
                self._tracks.append(None)
                continue
            self._tracks.append(make_track(own, ground, self.epoch, (b - a) + 2 * pad, self.knot_step_s,
                                           start_s=a - pad, mask_deg=self.mask_deg, light_time=light_time,
                                           allow_stale=True, eop=eop))
            info["satellite"] = own
        self._osc = 1e-6 * self.carrier_hz

    # ------------------------------------------------------------------ info
    def __repr__(self) -> str:
        e = self.error
        names = ", ".join(p["true_satellite"] for p in self.pieces)
        return (f"ReceiverEphemeris({names}, t=[{self.t_start:g}, {self.t_end:g}] s, fc={self.carrier_hz:g} Hz, "
                f"age={e.tle_age_days:g} d, rtn=({e.radial_m:g}, {e.along_track_m:g}, {e.cross_track_m:g}) m, "
                f"clock={e.clock_offset_s:g} s, osc={e.offset_ppm:g} ppm + {e.drift_ppm_per_s:g} ppm/s)")

    @property
    def satellites(self) -> list[Satellite]:
        """The receiver's own satellites (its SGP4 records), one per piece."""
        return [p.get("satellite") for p in self.pieces]

    @property
    def tle_lines(self) -> list[tuple[str, str]]:
        """The receiver's element sets as TLE lines, one per piece (format rounding: ~1e-4 deg)."""
        return [p["tle_lines"] for p in self.pieces]

    @property
    def switch_times_s(self) -> np.ndarray:
        """Times (s since epoch, receiver clock) where the serving satellite changes."""
        return self._switch[1:].copy()

    # ------------------------------------------------------------------ evaluation
    def _eval(self, t, fn):
        t = np.asarray(t, dtype=np.float64)
        flat = np.atleast_1d(t).ravel()
        if flat.size and (not np.all(np.isfinite(flat)) or flat.min() < self.t_start - 1e-9
                          or flat.max() > self.t_end + 1e-9):
            bad = flat[~np.isfinite(flat)][0] if not np.all(np.isfinite(flat)) else (
                flat.min() if flat.min() < self.t_start - 1e-9 else flat.max())
            raise ConfigError.bad_value("t", float(bad), f"{self.t_start}..{self.t_end} s (the ephemeris window)")
        trx = flat + self.error.clock_offset_s
        if len(self._tracks) == 1:
            out = fn(self._tracks[0], trx)
        else:
            k = np.clip(np.searchsorted(self._switch, trx, side="right") - 1, 0, len(self._tracks) - 1)
            out = np.empty(trx.shape)
            for j in np.unique(k):
                m = k == j
                out[m] = fn(self._tracks[j], trx[m])
        return out.reshape(t.shape) if t.ndim else float(out[0])

    def delay(self, t):
        """Predicted one-way delay (s) at ``t`` (s since epoch, true time; the receiver's clock adds its offset)."""
        return self._eval(t, DelayTrack.delay)

    def delay_rate(self, t):
        """Predicted d(delay)/dt (s/s)."""
        return self._eval(t, DelayTrack.delay_rate)

    def oscillator_offset_hz(self, t):
        """The oscillator's frequency error (Hz) included in :meth:`doppler`: ``fc 1e-6 (ppm + drift (t - t_ref))``."""
        t = np.asarray(t, dtype=np.float64)
        return self._osc * (self.error.offset_ppm + self.error.drift_ppm_per_s * (t - self.t_ref))

    def doppler(self, t):
        """Predicted Doppler (Hz): ``-fc * delay_rate(t)`` plus the oscillator terms."""
        return -self.carrier_hz * self.delay_rate(t) + self.oscillator_offset_hz(t)

    def doppler_rate(self, t):
        """Predicted Doppler rate (Hz/s): ``-fc * d^2 delay/dt^2 + fc 1e-6 drift``."""
        return -self.carrier_hz * self._eval(t, DelayTrack.delay_accel) + self._osc * self.error.drift_ppm_per_s

    def elevation(self, t):
        """Predicted elevation (deg) of the serving satellite."""
        return self._eval(t, DelayTrack.elevation)

    def visible(self, t):
        """Predicted elevation at or above ``mask_deg``."""
        return np.asarray(self.elevation(t)) >= self.mask_deg

    def range_m(self, t):
        """Predicted slant range (m) = delay * c."""
        return np.asarray(self.delay(t)) * C_MPS

    def serving(self, t):
        """Index of the piece (satellite) the receiver uses at ``t``."""
        t = np.asarray(t, dtype=np.float64) + self.error.clock_offset_s
        return np.clip(np.searchsorted(self._switch, t, side="right") - 1, 0, len(self._tracks) - 1)


def _error_table():  # pragma: no cover - prints the table of docs/orbit.md ("What the errors do")
    import time

    from .geometry import find_passes
    from .satellites import preset

    shell, g, ep = preset("starlink-1584"), GroundStation(36.0, 90.0, 0.0), "2026-01-01T00:00:00Z"
    p = max((q for q in find_passes(shell[200:240], g, ep, 1200.0) if not q.aos_clipped and not q.los_clipped),
            key=lambda q: q.max_elevation_deg)
    sat = shell[200 + p.sat_index]
    t = np.linspace(p.aos_s, p.los_s, 2001)
    fc = 20e9
    truth = make_track(sat, g, ep, p.duration_s, 0.1, start_s=p.aos_s, light_time="downlink")
    print(f"{sat.name}, AOS {p.aos_s:.1f} s .. LOS {p.los_s:.1f} s, max elevation {p.max_elevation_deg:.1f} deg")
    for err in ({"tle_age_days": 1}, {"tle_age_days": 3}, {"tle_age_days": 7}, {"along_track_m": 2000},
                {"cross_track_m": 1000}, {"radial_m": 100}, {"epoch_shift_s": 0.1}, {"clock_offset_s": 1e-3}):
        t0 = time.perf_counter()
        rx = ReceiverEphemeris(sat, g, ep, p.aos_s, p.los_s, fc, err)
        build = time.perf_counter() - t0
        dd = np.max(np.abs(rx.delay(t) - truth.delay(t)))
        df = np.abs(rx.doppler(t) - truth.doppler(t, fc))
        print(f"{err}: delay error max {dd * 1e6:.3f} us ({dd * C_MPS:.0f} m), Doppler error at 20 GHz max "
              f"{df.max():.1f} Hz ({df.max() / fc * 1e6:.4f} ppm), rms {np.sqrt(np.mean(df**2)):.1f} Hz; "
              f"built in {build:.2f} s")


if __name__ == "__main__":  # pragma: no cover
    _error_table()
