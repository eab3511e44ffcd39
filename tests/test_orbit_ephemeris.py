"""The receiver's own ephemeris (hil.orbit.ephemeris): its TLE is built once from the true elements and an
error spec, then propagated on its own. Checked against the truth (make_track / SGP4 of the true
elements) and against closed forms: RTN errors at the reference time, the TLE-age growth model at a
time it was not fitted to, the drift a semi-major-axis error must cause, clock offset = delay_rate *
offset, the oscillator terms, a wrong satellite's Doppler, handover pieces."""

import math

import numpy as np
import pytest

from hil.config import parse
from hil.errors import ConfigError
from hil.orbit import (
    EphemerisErrorConfig,
    GroundStation,
    ReceiverEphemeris,
    Satellite,
    ephemeris_rtn_error,
    find_passes,
    make_track,
    preset,
    receiver_satellite,
    validate_tle,
)
from hil.orbit.constants import MU_M3PS2

EPOCH = "2026-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def setup():
    shell = preset("starlink-1584")
    g = GroundStation(36.0, 90.0, 0.0)
    p = max((p for p in find_passes(shell[200:240], g, EPOCH, 1200.0) if not p.aos_clipped and not p.los_clipped),
            key=lambda p: p.max_elevation_deg)
    return shell, shell[200 + p.sat_index], g, p


def _mean_motion_radps(sat: Satellite) -> float:
    return sat.satrec.no_kozai / 60.0


@pytest.mark.parametrize("light_time", ["none", "downlink"])
def test_zero_error_reproduces_the_true_track(setup, light_time):
    shell, sat, g, p = setup
    rx = ReceiverEphemeris(sat, g, EPOCH, p.aos_s, p.los_s, 20e9, light_time=light_time)
    tr = make_track(sat, g, EPOCH, p.duration_s, 0.01, start_s=p.aos_s, light_time=light_time)
    t = np.linspace(p.aos_s, p.los_s, 5001)
    assert np.max(np.abs(rx.delay(t) - tr.delay(t))) < 1e-9  # measured 7e-17 s
    assert np.max(np.abs(rx.doppler(t) - tr.doppler(t, 20e9))) < 0.01  # Hz at 20 GHz; measured 1e-4
    np.testing.assert_allclose(rx.elevation(t), tr.elevation(t), atol=1e-3)
    assert rx.visible(p.tca_s) and rx.visible(t).mean() > 0.99
    assert rx.pieces[0]["fit_rms_m"] == 0.0 and rx.satellites[0].satrec is sat.satrec
    assert isinstance(rx.delay(p.tca_s), float) and rx.delay(t.reshape(5001, 1)).shape == (5001, 1)


def test_receiver_uses_its_earth_orientation(setup):
    import os

    shell, sat, g, p = setup
    eop = os.path.join(os.path.dirname(__file__), "data", "eop", "finals2000A_sample.txt")
    rx = ReceiverEphemeris(sat, g, EPOCH, p.aos_s, p.los_s, 20e9, eop=eop)
    rx0 = ReceiverEphemeris(sat, g, EPOCH, p.aos_s, p.los_s, 20e9)
    tr = make_track(sat, g, EPOCH, p.duration_s, 0.1, start_s=p.aos_s, light_time="downlink", eop=eop)
    t = np.linspace(p.aos_s, p.los_s, 1001)
    assert np.max(np.abs(rx.delay(t) - tr.delay(t))) < 1e-12
    assert 50e-9 < np.max(np.abs(rx.delay(t) - rx0.delay(t))) < 150e-9  # UT1-UTC 0.074 s + the pole
    assert 10.0 < np.max(np.abs(rx.doppler(t) - rx0.doppler(t))) < 40.0  # Hz at 20 GHz


@pytest.mark.parametrize("rtn", [(0.0, 1000.0, 0.0), (0.0, 0.0, 500.0), (100.0, 0.0, 0.0),
                                 (-50.0, -3000.0, 800.0), (20.0, 200e3, -2e3)])
def test_position_errors_at_t_ref_are_the_ones_asked(setup, rtn):
    shell, sat, g, p = setup
    err = {"radial_m": rtn[0], "along_track_m": rtn[1], "cross_track_m": rtn[2]}
    own, info = receiver_satellite(sat, EPOCH, p.aos_s, err)
    got = ephemeris_rtn_error(own, sat, EPOCH, [p.aos_s])[0]
    np.testing.assert_allclose(got, rtn, atol=0.5 + 1e-6 * np.linalg.norm(rtn))
    assert own.satrec is not sat.satrec


def test_radial_error_is_an_energy_error_that_drifts_along_track(setup):
    """A radial error made by the semi-major axis must drift along track at -3/2 n dr (Kepler: da = dr,
    dn = -3/2 n da / a, along-track rate a dn), and a plane error gives a cross-track error of the same
    amplitude a quarter orbit later (cross = c cos(n dt))."""
    shell, sat, g, p = setup
    dr, dc = 100.0, 500.0
    own, _ = receiver_satellite(sat, EPOCH, 0.0, {"radial_m": dr, "cross_track_m": dc})
    n = _mean_motion_radps(sat)
    t = np.array([0.0, 600.0])
    e = ephemeris_rtn_error(own, sat, EPOCH, t)
    drift = (e[1, 1] - e[0, 1]) / 600.0
    assert abs(drift - (-1.5 * n * dr)) < 0.05 * 1.5 * n * dr
    assert abs(e[1, 2] - dc * math.cos(n * 600.0)) < 0.03 * dc
    quarter = 0.5 * math.pi / n
    assert abs(abs(ephemeris_rtn_error(own, sat, EPOCH, [2 * quarter])[0, 2]) - dc) < 0.03 * dc


@pytest.mark.parametrize("age_days", [1.0, 3.0])
def test_aged_tle_follows_the_stated_growth_model(setup, age_days):
    """The element set is fitted to the truth A days before t_ref (error there: metres), then carries a
    mean-motion error (linear) and a B* error (quadratic) sized for the model's value at t_ref. The model
    is checked where it was *not* sized: half-way through the age, the along-track error must be
    g1 A/2 + g2 (A/2)^2 (the physics of those two element errors), within 3 %."""
    shell, sat, g, p = setup
    cfg = EphemerisErrorConfig(tle_age_days=age_days)
    t_ref = p.aos_s
    own, info = receiver_satellite(sat, EPOCH, t_ref, cfg)
    assert info["fit_rms_m"] < 1.0
    assert own.element_epoch.seconds_since(sat.element_epoch) == pytest.approx(t_ref - age_days * 86400, abs=1e-3)
    day = 86400.0
    at = ephemeris_rtn_error(own, sat, EPOCH, [t_ref, t_ref - 0.5 * age_days * day, t_ref - age_days * day])
    assert at[0, 1] == pytest.approx(cfg.aging_along_track_m(), abs=1.0)
    assert at[1, 1] == pytest.approx(cfg.aging_along_track_m(age_days / 2), rel=0.03)
    assert abs(at[2, 1]) < 1.0 and np.max(np.abs(at[2])) < 15.0  # at its own epoch: the fit (+ Kozai radius)
    # plausible: 1-3 km/day for LEO in the first days (the assumption stated in docs/orbit.md)
    assert 1000.0 <= cfg.aging_along_track_m() / age_days <= 3000.0
    # the receiver built on it still sees the pass; its delay is off by ~ along-track error * cos(angle)
    rx = ReceiverEphemeris(sat, g, EPOCH, p.aos_s, p.los_s, 2e9, cfg, light_time="none")
    tr = make_track(sat, g, EPOCH, p.duration_s, 0.1, start_s=p.aos_s)
    t = np.linspace(p.aos_s, p.los_s, 501)
    err_m = np.max(np.abs(rx.delay(t) - tr.delay(t))) * 299792458.0
    assert 0.5 * cfg.aging_along_track_m() < err_m < 1.2 * cfg.aging_along_track_m()


def test_aged_tle_of_a_satellite_with_drag():
    """The same model on a real element set with drag (ISS, 2019-12-09; B* = 3.9e-5 /ER): the fit to
    SGP4-with-drag over one orbit is good to centimetres, the error at t_ref is the model's and half-way
    through the age it follows the model to 3 %."""
    l1 = "1 25544U 98067A   19343.69339541  .00001764  00000-0  38792-4 0  9991"
    l2 = "2 25544  51.6439 211.2001 0007417  17.6667  85.6398 15.50103472202482"
    rec = validate_tle(l1, l2, name="ISS")
    epoch = rec.epoch.plus(2 * 86400.0)
    cfg = EphemerisErrorConfig(tle_age_days=5.0)
    own, info = receiver_satellite(rec, epoch, 0.0, cfg)
    assert info["fit_rms_m"] < 0.5
    e = ephemeris_rtn_error(own, rec, epoch, [0.0, -2.5 * 86400.0])
    assert e[0, 1] == pytest.approx(cfg.aging_along_track_m(), abs=1.0)  # 17.5 km
    assert e[1, 1] == pytest.approx(cfg.aging_along_track_m(2.5), rel=0.03)
    assert -100.0 < e[0, 0] < 0.0  # more drag in the receiver's model: lower, hence ahead


def test_epoch_shift_lags_by_orbital_speed(setup):
    shell, sat, g, p = setup
    own, _ = receiver_satellite(sat, EPOCH, p.aos_s, {"epoch_shift_s": 0.5})
    _, v = sat.propagate_teme(EPOCH, [p.aos_s])
    e = ephemeris_rtn_error(own, sat, EPOCH, [p.aos_s])[0]
    assert e[1] == pytest.approx(-0.5 * np.linalg.norm(v[0]), rel=2e-3)
    a = (MU_M3PS2 / _mean_motion_radps(sat) ** 2) ** (1 / 3)
    assert abs(e[0]) < 30.0 and a > 6.8e6


def test_clock_offset_shifts_the_prediction_by_delay_rate_times_offset(setup):
    shell, sat, g, p = setup
    off = 0.05
    rx0 = ReceiverEphemeris(sat, g, EPOCH, p.aos_s, p.los_s, 2e9)
    rx1 = ReceiverEphemeris(sat, g, EPOCH, p.aos_s, p.los_s, 2e9, {"clock_offset_s": off})
    t = np.linspace(p.aos_s, p.los_s, 2001)
    d = rx1.delay(t) - rx0.delay(t)
    accel = np.max(np.abs(rx0._eval(t, lambda tr, x: tr.delay_accel(x))))
    assert np.max(np.abs(d - rx0.delay_rate(t) * off)) <= 0.5 * off**2 * accel * 1.05 + 1e-15
    assert np.max(np.abs(d)) > 1e-7  # it did move (~ 7 km/s * 50 ms / c)
    np.testing.assert_allclose(rx1.doppler(t), rx0.doppler(t) + off * rx0.doppler_rate(t), atol=0.5 * off**2 * 30)


def test_oscillator_terms_add_to_doppler_only(setup):
    shell, sat, g, p = setup
    fc, ppm, drift = 2e9, 0.3, 2e-3
    rx0 = ReceiverEphemeris(sat, g, EPOCH, p.aos_s, p.los_s, fc)
    rx1 = ReceiverEphemeris(sat, g, EPOCH, p.aos_s, p.los_s, fc, {"offset_ppm": ppm, "drift_ppm_per_s": drift})
    t = np.linspace(p.aos_s, p.los_s, 101)
    np.testing.assert_allclose(rx1.doppler(t) - rx0.doppler(t), fc * 1e-6 * (ppm + drift * (t - p.aos_s)), atol=1e-6)
    np.testing.assert_array_equal(rx1.delay(t), rx0.delay(t))
    np.testing.assert_allclose(rx1.doppler_rate(t) - rx0.doppler_rate(t), fc * 1e-6 * drift, atol=1e-6)


def test_wrong_satellites_tle_is_kilohertz_off_at_s_band(setup):
    """The receiver holding a neighbour's TLE (same plane, next slot; and another plane) predicts a
    Doppler kHz away from the truth at 2 GHz over most of the pass - the case the receiver must detect."""
    shell, sat, g, p = setup
    i = shell.index(sat.name)
    tr = make_track(sat, g, EPOCH, p.duration_s, 0.1, start_s=p.aos_s)
    t = np.linspace(p.aos_s, p.los_s, 501)
    for j in (i + 1, (i + 66) % len(shell)):
        rx = ReceiverEphemeris(shell[j], g, EPOCH, p.aos_s, p.los_s, 2e9)
        df = np.abs(rx.doppler(t) - tr.doppler(t, 2e9))
        assert np.median(df) > 2e3
        assert rx.pieces[0]["true_satellite"] == shell[j].name
    # the same from TLE lines (what a receiver is actually handed)
    l1, l2 = receiver_satellite(shell[i + 1], EPOCH)[1]["tle_lines"]
    rx = ReceiverEphemeris((l1, l2), g, EPOCH, p.aos_s, p.los_s, 2e9)
    assert np.median(np.abs(rx.doppler(t) - tr.doppler(t, 2e9))) > 2e3


def test_tle_lines_are_valid_and_propagate_like_the_receiver(setup):
    shell, sat, g, p = setup
    own, info = receiver_satellite(sat, EPOCH, p.aos_s, {"tle_age_days": 2.0, "cross_track_m": 300.0})
    rec = validate_tle(*info["tle_lines"])
    assert rec.epoch.seconds_since(own.element_epoch) == pytest.approx(0.0, abs=1e-3)
    d = ephemeris_rtn_error(rec.satrec, own, EPOCH, [p.aos_s, p.los_s])
    assert np.max(np.abs(d)) < 60.0  # the format's rounding (1e-4 deg ~ 12 m, mean motion 1e-8 rev/day)


def test_handover_pieces_join_at_the_switch_times(setup):
    shell, sat, g, p = setup
    other = shell[shell.index(sat.name) + 1]
    ts = p.tca_s
    pieces = [(p.aos_s - 100.0, sat), (ts, other)]
    rx = ReceiverEphemeris.handover(pieces, g, EPOCH, p.aos_s, p.los_s, 2e9, error={"cross_track_m": 100.0})
    a = ReceiverEphemeris(sat, g, EPOCH, p.aos_s, p.los_s, 2e9, {"cross_track_m": 100.0})
    b = ReceiverEphemeris(other, g, EPOCH, p.aos_s, p.los_s, 2e9, {"cross_track_m": 100.0}, t_ref=ts)
    t = np.linspace(p.aos_s, p.los_s, 1001)
    before, after = t < ts, t >= ts
    np.testing.assert_allclose(rx.delay(t[before]), a.delay(t[before]), atol=1e-15)
    np.testing.assert_allclose(rx.delay(t[after]), b.delay(t[after]), atol=1e-15)
    np.testing.assert_allclose(rx.doppler(t[after]), b.doppler(t[after]), atol=1e-6)
    np.testing.assert_array_equal(rx.serving(t), after.astype(int))
    np.testing.assert_array_equal(rx.switch_times_s, [ts])
    assert abs(rx.delay(ts) - rx.delay(ts - 1e-6)) > 1e-6  # a real jump, not smoothed over
    # by the receiver's clock: with a clock 1 s ahead it switches 1 s early (true time)
    rxc = ReceiverEphemeris.handover(pieces, g, EPOCH, p.aos_s, p.los_s, 2e9, error={"clock_offset_s": 1.0})
    assert rxc.serving(ts - 0.5) == 1 and rxc.serving(ts - 1.5) == 0


def test_receiver_holds_no_reference_to_the_truth(setup):
    shell, sat, g, p = setup
    rx = ReceiverEphemeris(sat, g, EPOCH, p.aos_s, p.los_s, 2e9, {"along_track_m": 10.0})

    def walk(obj, seen, depth=0):
        if id(obj) in seen or depth > 6:
            return
        seen.add(id(obj))
        assert obj is not sat and obj is not sat.satrec
        items = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else \
            vars(obj).values() if hasattr(obj, "__dict__") else ()
        for x in items:
            if not isinstance(x, (np.ndarray, str, float, int)):
                walk(x, seen, depth + 1)

    walk(rx, set())


def test_errors_are_one_line_config_errors(setup):
    shell, sat, g, p = setup
    with pytest.raises(ConfigError, match=r"ephemeris_error.radial_m: got 20000.0; allowed: .*10000.0 m"):
        ReceiverEphemeris(sat, g, EPOCH, p.aos_s, p.los_s, 2e9, {"radial_m": 2e4})
    with pytest.raises(ConfigError, match=r"ephemeris_error.tle_agedays: got 1; allowed: no such field"):
        ReceiverEphemeris(sat, g, EPOCH, p.aos_s, p.los_s, 2e9, {"tle_agedays": 1})
    rx = ReceiverEphemeris(sat, g, EPOCH, p.aos_s, p.aos_s + 10.0, 2e9)
    with pytest.raises(ConfigError, match=r"^t: got .*; allowed: .* \(the ephemeris window\)$"):
        rx.delay([p.aos_s, p.aos_s + 11.0])
    with pytest.raises(ConfigError, match="t_end"):
        ReceiverEphemeris(sat, g, EPOCH, 10.0, 5.0, 2e9)
    with pytest.raises(ConfigError, match=r"pieces\[1\]\[0\]"):
        ReceiverEphemeris.handover([(5.0, sat), (1.0, sat)], g, EPOCH, 0.0, 10.0, 2e9)
    with pytest.raises(ConfigError, match="sat: got"):
        ReceiverEphemeris("ISS", g, EPOCH, 0.0, 10.0, 2e9)
    with pytest.raises(ConfigError, match="line 1"):
        ReceiverEphemeris(("1 bad", "2 bad"), g, EPOCH, 0.0, 10.0, 2e9)
    geo = preset("geo-90e")[0]
    with pytest.raises(ConfigError, match="cross_track_m: got 10.0; allowed: 0 for an equatorial orbit"):
        receiver_satellite(geo, EPOCH, 0.0, {"cross_track_m": 10.0})
    with pytest.raises(ConfigError, match="tle_age_days: got 1.0; allowed: 0 for 'geo-90e'.*near-Earth orbits"):
        receiver_satellite(geo, EPOCH, 0.0, {"tle_age_days": 1.0})


def test_scenario_section_parses_every_field():
    from hil.scenario import Scenario

    fields = {"tle_age_days": 3.0, "tle_growth_m_per_day": 1500.0, "tle_growth_m_per_day2": 0.0,
              "epoch_shift_s": 0.1, "along_track_m": 100.0, "cross_track_m": -50.0, "radial_m": 5.0,
              "clock_offset_s": 1e-3, "offset_ppm": 0.05, "drift_ppm_per_s": 1e-3}
    sc = parse(Scenario, {"name": "x", "tracking": {"ephemeris_error": fields}})
    e = sc.tracking.ephemeris_error
    assert isinstance(e, EphemerisErrorConfig) and {k: getattr(e, k) for k in fields} == fields
    assert e.aging_along_track_m() == pytest.approx(4500.0)
    with pytest.raises(ConfigError, match=r"tracking.ephemeris_error.clock_offset_s: got 100.0"):
        parse(Scenario, {"name": "x", "tracking": {"ephemeris_error": {"clock_offset_s": 100.0}}})
