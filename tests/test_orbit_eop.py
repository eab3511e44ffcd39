"""Earth orientation (hil.orbit.eop): the IERS finals reader, interpolation across leap seconds, the
rotation against ERFA (GMST82 of UT1, the polar-motion matrix), and what UT1-UTC and polar motion do to a
550 km pass against first-order closed forms."""

import math
import os

import numpy as np
import pytest

from hil.errors import ConfigError
from hil.orbit import (
    C_MPS,
    EarthOrientation,
    GroundStation,
    as_epoch,
    find_passes,
    geometry,
    load_eop,
    make_track,
    parse_eop_text,
    preset,
    teme_to_ecef,
)
from hil.orbit.eop import earth_rotation, itrf_to_pef, pef_to_itrf
from hil.orbit.geometry import _gravity_teme, _look
from hil.orbit.timebase import gmst_rate_radps
from hil.orbit.track import _ground_teme

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.join(HERE, "data", "eop", "finals2000A_sample.txt")
EPOCH = "2026-01-01T00:00:00Z"  # MJD 61041


def _sample_lines():
    with open(SAMPLE, encoding="ascii") as fh:
        return fh.read().splitlines()


def test_sample_file_reads_bulletin_b_then_a_and_stops_at_the_date_only_tail():
    e = load_eop(SAMPLE)
    assert e.mjd.size == 10 and e.mjd_range == (61039.0, 61048.0)
    # lines 1-5 carry Bulletin B (A + 0.05 ms, written so the two can be told apart); 6-10 only A
    np.testing.assert_allclose(e.ut1_utc([61041.0, 61044.0]), [0.07405, 0.0734], atol=1e-12)
    np.testing.assert_allclose(e.ut1_utc(61041.25), 0.07405 + 0.25 * (0.07385 - 0.07405), atol=1e-12)
    x, y = e.polar_motion(61041.0)
    assert math.isclose(x, 0.12002 * math.pi / 648000, rel_tol=1e-12)
    assert math.isclose(y, 0.31999 * math.pi / 648000, rel_tol=1e-12)
    # UT1-UTC falls 0.2 ms/day in the file: the rate is -0.2e-3 / 86400 s/s (an excess LOD of 0.2 ms)
    assert math.isclose(float(e.ut1_utc_rate(61045.5)), -0.2e-3 / 86400, rel_tol=1e-6)


@pytest.mark.parametrize("lineno, cols, new, where", [
    (7, (59, 68), " 0.07x2000", "line 7 columns 59-68 (Bull. A UT1-UTC)"),
    (7, (19, 27), " 1.1O0000", "line 7 columns 19-27 (Bull. A PM-x)"),
    (2, (155, 165), "  1.0742500", "line 2 columns 155-165 (Bull. B UT1-UTC)"),  # |UT1-UTC| must be < 1
    (3, (8, 15), "61040.00", "line 3 columns 8-15 (MJD)"),  # does not match the date 2026-01-01
    (3, (5, 6), "32", "line 3 columns 5-6 (day)"),  # no 32 January
])
def test_malformed_line_names_line_and_columns(lineno, cols, new, where):
    lines = _sample_lines()
    a, b = cols
    s = lines[lineno - 1]
    lines[lineno - 1] = s[:a - 1] + new + s[b:]
    with pytest.raises(ConfigError) as exc:
        parse_eop_text("\n".join(lines), source="f.txt")
    msg = str(exc.value)
    assert msg.startswith(f"f.txt: {where}: got ") and "\n" not in msg
    assert repr(new) in msg or new.strip() in msg


def test_order_tail_and_length_errors():
    lines = _sample_lines()
    swapped = lines[:3] + [lines[4], lines[3]] + lines[5:]
    with pytest.raises(ConfigError, match=r"line 5 columns 8-15 \(MJD\): got '61042.00'; allowed: > 61043.00"):
        parse_eop_text("\n".join(swapped))
    with pytest.raises(ConfigError, match=r"line 12: .*no data after line 11"):
        parse_eop_text("\n".join(lines[:10] + [lines[10], lines[9][:6].replace("26 1 8", "26 111") +
                                                lines[9][6:].replace("61048.00", "61051.00")]))
    with pytest.raises(ConfigError, match=r"line 2 \(length\)"):
        parse_eop_text(lines[0] + "\n26 1\n")
    with pytest.raises(ConfigError, match="at least 2 lines"):
        parse_eop_text(lines[0])
    with pytest.raises(ConfigError, match="no such file"):
        load_eop(os.path.join(HERE, "data", "eop", "missing.txt"))


def test_time_outside_the_table_is_an_error_not_an_extrapolation():
    e = load_eop(SAMPLE)
    with pytest.raises(ConfigError, match=r"time \(MJD UTC\): got 61050.*61039..61048"):
        e.ut1_utc(61050.0)
    g = GroundStation(36.0, 90.0)
    with pytest.raises(ConfigError, match="span of the EOP table"):
        geometry(preset("starlink-1584")[0], g, [0.0, 20 * 86400.0], epoch=EPOCH, eop=e)


def test_leap_second_is_a_step_at_midnight_not_smeared():
    """2016-12-31 had a leap second: UT1-UTC goes -0.4078 -> +0.5913 s at 2017-01-01 0h UTC."""
    rows = [(16, 12, 30, 57752, -0.4069180), (16, 12, 31, 57753, -0.4077601), (17, 1, 1, 57754, 0.5912821),
            (17, 1, 2, 57755, 0.5904312)]
    text = "\n".join(f"{y:2d}{m:2d}{d:2d} {mjd:8.2f} I  0.080000 0.000028  0.263000 0.000028  I{u:10.7f}"
                     for y, m, d, mjd, u in rows)
    e = parse_eop_text(text)
    slope = (0.5912821 - 1.0) - (-0.4077601)  # the continuous part over the last day of 2016
    np.testing.assert_allclose(e.ut1_utc([57753.0, 57753.5, 57753.999999]),
                               [-0.4077601, -0.4077601 + 0.5 * slope, -0.4077601 + 0.999999 * slope], atol=1e-12)
    assert abs(float(e.ut1_utc(57754.0)) - 0.5912821) < 1e-12
    assert abs(float(e.ut1_utc_rate(57753.5)) - slope / 86400) < 1e-15  # no 1 s/day spike


def test_real_finals2000a_file_when_installed():
    """The IERS finals2000A.all that astropy-iers-data ships (optional): every line parses."""
    iers = pytest.importorskip("astropy_iers_data", reason="astropy-iers-data (a real IERS file) not installed")
    path = os.path.join(os.path.dirname(iers.__file__), "data", "finals2000A.all")
    e = load_eop(path)
    assert e.mjd[0] == 41684.0 and e.mjd.size > 15000  # 1973-01-02 onwards, daily
    assert np.all(np.diff(e.mjd) == 1.0)
    assert float(e.ut1_utc(57754.0)) - float(e.ut1_utc(57753.0)) > 0.9  # the 2016 leap second
    assert np.max(np.abs(e.ut1_utc_rate(e.mjd[:-1]))) * 86400 < 1e-2  # |LOD excess| < 10 ms: no 1 s leap spikes


def test_rotation_matches_erfa_gmst82_of_ut1_and_pom00():
    erfa = pytest.importorskip("erfa", reason="pyerfa (ERFA, the IAU SOFA library) not installed")
    e = load_eop(SAMPLE)
    ep = as_epoch("2026-01-01T06:00:00Z")
    t = np.array([0.0, 3600.0, 2.3 * 86400.0])
    th, w, (xp, yp) = earth_rotation(ep, t, e)
    mjd = (ep.jd - 2400000.5) + ep.fr + t / 86400.0
    ref = np.array([erfa.gmst82(2400000.5, m + u / 86400.0) for m, u in zip(mjd, e.ut1_utc(mjd))])
    assert np.max(np.abs(np.angle(np.exp(1j * (th - ref))))) < 1e-10  # rad (6 um at the surface)
    v = np.array([1234.5e3, -4321.0e3, 5000.0e3])
    for k in range(t.size):
        rpom = erfa.pom00(xp[k], yp[k], 0.0)  # V(ITRS) = rpom V(CIP frame)
        np.testing.assert_allclose(pef_to_itrf(v, (xp[k], yp[k])), rpom @ v, atol=1e-6)
        np.testing.assert_allclose(itrf_to_pef(rpom @ v, (xp[k], yp[k])), v, atol=1e-6)
    assert np.all(np.abs(w / gmst_rate_radps(ep, t) - 1.0 - e.ut1_utc_rate(mjd)) < 1e-15)


@pytest.fixture(scope="module")
def pass_setup():
    shell = preset("starlink-1584")
    g = GroundStation(36.0, 90.0, 0.0)
    p = max((p for p in find_passes(shell[200:240], g, EPOCH, 1200.0) if not p.aos_clipped and not p.los_clipped),
            key=lambda p: p.max_elevation_deg)
    return shell[200 + p.sat_index], g, p


def _first_order(sat, g, t, dg_fn):
    """Closed-form range change (m) for a small ground displacement dg (TEME, m): -u . dg."""
    r, _ = sat.propagate_teme(EPOCH, t)
    gt, _ = _ground_teme(g, as_epoch(EPOCH), t)
    u = r - gt
    u /= np.linalg.norm(u, axis=-1, keepdims=True)
    return -np.sum(u * dg_fn(gt), axis=-1)


def test_ut1_utc_0074_moves_delay_and_doppler_as_the_closed_form(pass_setup):
    """UT1 - UTC = 0.074 s rotates the Earth by omega * 0.074 s more: the ground moves east by
    omega dUT1 R cos(lat) = 28 m at 36 N, and the range changes by -u . dg (u: line of sight). Over the
    550 km pass: 66 ns of delay and 17.6 Hz of Doppler at 20 GHz at most (REFERENCES.md: about 75 ns and
    17 Hz); the full recomputation agrees with the first-order closed form to 2 mm and 1e-4 m/s."""
    sat, g, p = pass_setup
    t = np.linspace(p.aos_s, p.los_s, 2001)
    e = EarthOrientation.constant(0.074)
    g0 = geometry(sat, g, t, epoch=EPOCH)
    g1 = geometry(sat, g, t, epoch=EPOCH, eop=e)
    w = float(gmst_rate_radps(as_epoch(EPOCH), 0.0))
    d_th = w * 0.074
    closed = _first_order(sat, g, t, lambda gt: d_th * np.stack([-gt[:, 1], gt[:, 0], 0 * gt[:, 0]], -1))
    dr = g1.range_m - g0.range_m
    assert np.max(np.abs(dr - closed)) < 2e-3  # m; second order: |dg|^2 / range ~ 1 mm
    rate_closed = np.gradient(closed, t[1] - t[0])
    drr = g1.range_rate_mps - g0.range_rate_mps
    assert np.max(np.abs(drr - rate_closed)[2:-2]) < 1e-4  # m/s (of 0.26 m/s)
    assert 55e-9 < np.max(np.abs(dr)) / C_MPS < 80e-9
    assert 14.0 < np.max(np.abs(drr)) / C_MPS * 20e9 < 21.0
    # the same change goes through make_track (the emulator's and the receiver's path)
    tr0 = make_track(sat, g, EPOCH, 60.0, 0.1, start_s=p.tca_s - 30.0)
    tr1 = make_track(sat, g, EPOCH, 60.0, 0.1, start_s=p.tca_s - 30.0, eop=e)
    tt = np.linspace(tr0.t0, tr0.t1, 301)
    closed_t = _first_order(sat, g, tt, lambda gt: d_th * np.stack([-gt[:, 1], gt[:, 0], 0 * gt[:, 0]], -1))
    assert np.max(np.abs((tr1.delay(tt) - tr0.delay(tt)) * C_MPS - closed_t)) < 2e-3


def test_polar_motion_moves_the_ground_as_the_closed_form(pass_setup):
    """x_p = 0.3", y_p = 0.4": the ground point in the true-pole frame is W g = g + (-x_p z, y_p z,
    x_p x - y_p y) to first order (IERS W = R2(x_p) R1(y_p)); ~9 m here."""
    sat, g, p = pass_setup
    t = np.linspace(p.aos_s, p.los_s, 501)
    xs, ys = 0.3, 0.4
    e = EarthOrientation.constant(0.0, xs, ys)
    xp, yp = xs * math.pi / 648000, ys * math.pi / 648000
    x, y, z = g.ecef_m
    d_pef = np.array([-xp * z, yp * z, xp * x - yp * y])
    th = earth_rotation(as_epoch(EPOCH), t)[0]
    c, s = np.cos(th), np.sin(th)

    def dg(gt):
        return np.stack([c * d_pef[0] - s * d_pef[1], s * d_pef[0] + c * d_pef[1], np.full_like(c, d_pef[2])], -1)

    closed = _first_order(sat, g, t, dg)
    dr = geometry(sat, g, t, epoch=EPOCH, eop=e).range_m - geometry(sat, g, t, epoch=EPOCH).range_m
    assert 5.0 < np.max(np.abs(closed)) < 15.0
    assert np.max(np.abs(dr - closed)) < 1e-3


def test_fast_look_equals_ecef_look_with_eop():
    """With UT1-UTC and polar motion, rotating the ground into TEME (fast path) and rotating the satellites
    to ITRF (teme_to_ecef) still give the same look angles and rates."""
    shell = preset("starlink-1584")
    e = load_eop(SAMPLE)
    g = GroundStation(-20.0, 300.0, 1200.0)
    t = np.linspace(0.0, 300.0, 7)
    ep = as_epoch(EPOCH)
    geo = geometry(shell[:40], g, t, epoch=ep, eop=e)
    r, v = shell[:40].propagate_teme(ep, t)
    r_e, v_e, a_e = teme_to_ecef(r, v, ep, t, _gravity_teme(r), eop=e)
    rng, rr, ra, el, az = _look(r_e, v_e, a_e, g)
    np.testing.assert_allclose(geo.range_m, rng, rtol=1e-12)
    np.testing.assert_allclose(geo.range_rate_mps, rr, atol=1e-6)
    np.testing.assert_allclose(geo.range_accel_mps2, ra, atol=1e-8)
    np.testing.assert_allclose(geo.elevation_deg, el, atol=1e-9)


def test_find_passes_with_eop_and_scenario_field(pass_setup):
    sat, g, p = pass_setup
    e = load_eop(SAMPLE)
    q = find_passes(sat, g, EPOCH, 1200.0, eop=SAMPLE)
    assert len(q) == 1 and abs(q[0].aos_s - p.aos_s) < 0.05  # the Earth turned by 28 m: milliseconds
    el = geometry(sat, g, [q[0].aos_s, q[0].los_s], epoch=EPOCH, eop=e).elevation_deg
    np.testing.assert_allclose(el, 10.0, atol=2e-3)
    from hil.config import parse
    from hil.scenario import Scenario

    sc = parse(Scenario, {"name": "x", "orbit": {"eop_file": "finals2000A.all"}})
    assert sc.orbit.eop_file == "finals2000A.all"
    with pytest.raises(ConfigError, match="eop"):
        geometry(sat, g, [0.0], epoch=EPOCH, eop=42)
