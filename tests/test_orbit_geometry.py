"""Geometry physics: zenith range = altitude, range rate = d(range)/dt, range acceleration = d(range
rate)/dt, Doppler = -fc range_rate / c, the 550 km pass against closed forms and REFERENCES.md, frames,
passes and the serving-satellite sequence, and clear errors for impossible inputs."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hil.errors import ConfigError
from hil.orbit import (
    C_MPS,
    GroundStation,
    WalkerConstellation,
    as_epoch,
    ecef_to_geodetic,
    find_passes,
    geodetic_to_ecef,
    geometry,
    gmst_rad,
    preset,
    seed_area_grid,
    serving_sequence,
    teme_to_ecef,
)
from hil.orbit.geometry import _gravity_teme, _look

EPOCH = "2026-01-01T00:00:00Z"
R_EQ = 6378137.0
MU = 3.986004418e14


@pytest.fixture(scope="module")
def shell():
    return preset("starlink-1584")


@pytest.fixture(scope="module")
def best_pass(shell):
    """The highest pass over (36 N, 90 E) in the first 20 minutes of the shell (an almost overhead one)."""
    g = GroundStation(36.0, 90.0, 0.0)
    passes = [p for p in find_passes(shell, g, EPOCH, 1200.0) if not (p.aos_clipped or p.los_clipped)]
    return g, max(passes, key=lambda p: p.max_elevation_deg)


def test_gmst_at_j2000_matches_the_published_value():
    # GMST at 2000-01-01 12:00 UT1 = 18h 41m 50.54841s = 280.46061837 deg (IAU 1982)
    assert math.isclose(math.degrees(float(gmst_rad(as_epoch("2000-01-01T12:00:00Z"), 0.0))), 280.46061837,
                        abs_tol=1e-7)


@given(lat=st.floats(-89.9, 89.9), lon=st.floats(-180, 180), alt=st.floats(-400, 4e7))
def test_geodetic_round_trip(lat, lon, alt):
    la, lo, h = ecef_to_geodetic(geodetic_to_ecef(lat, lon, alt))
    assert abs(la - lat) < 1e-9 and abs(h - alt) < 1e-3
    assert abs((lo - lon + 180) % 360 - 180) < 1e-9


def test_zenith_range_equals_altitude(shell):
    sat = shell[5]
    for t in (0.0, 1234.5):
        r, v = sat.propagate_teme(EPOCH, [t])
        r_e, _ = teme_to_ecef(r[None], v[None], as_epoch(EPOCH), np.array([t]))
        lat, lon, alt = ecef_to_geodetic(r_e[0, 0])
        g = GroundStation(float(lat), float(lon), 0.0)
        geo = geometry(sat, g, [t], epoch=EPOCH)
        assert abs(geo.range_m[0] - alt) < 1e-3
        assert geo.elevation_deg[0] > 89.9999
        assert 540e3 < alt < 575e3  # 550 km mean altitude above the equatorial radius, flattening, J2


def test_teme_look_equals_ecef_look(shell):
    """The fast path (ground rotated into TEME) against the textbook one (satellites rotated to ECEF)."""
    g = GroundStation(-20.0, 300.0, 1200.0)
    t = np.linspace(0.0, 300.0, 7)
    ep = as_epoch(EPOCH)
    geo = geometry(shell[:40], g, t, epoch=ep)
    r, v = shell[:40].propagate_teme(ep, t)
    r_e, v_e, a_e = teme_to_ecef(r, v, ep, t, _gravity_teme(r))
    rng, rr, ra, el, az = _look(r_e, v_e, a_e, g)
    np.testing.assert_allclose(geo.range_m, rng, rtol=1e-12)
    np.testing.assert_allclose(geo.range_rate_mps, rr, atol=1e-7)
    np.testing.assert_allclose(geo.range_accel_mps2, ra, atol=1e-9)
    np.testing.assert_allclose(geo.elevation_deg, el, atol=1e-9)
    np.testing.assert_allclose(np.cos(np.radians(geo.azimuth_deg - az)), 1.0, atol=1e-12)


def test_range_rate_and_accel_are_time_derivatives(best_pass, shell):
    g, p = best_pass
    sat = shell[p.sat_index]
    h = 0.05
    t = np.linspace(p.aos_s + 5, p.los_s - 5, 25)
    tt = np.concatenate([t - h, t, t + h])
    geo = geometry(sat, g, tt, epoch=EPOCH)
    n = t.size
    rm, r0, rp = geo.range_m[:n], geo.range_m[n:2 * n], geo.range_m[2 * n:]
    num_rate = (rp - rm) / (2 * h)
    # SGP4's velocity output differs from the derivative of its position by ~1 cm/s
    np.testing.assert_allclose(geo.range_rate_mps[n:2 * n], num_rate, atol=0.03)
    num_acc = (geo.range_rate_mps[2 * n:] - geo.range_rate_mps[:n]) / (2 * h)
    acc = geo.range_accel_mps2[n:2 * n]
    np.testing.assert_allclose(acc, num_acc, atol=2e-3 * np.abs(acc).max())
    second = (rp - 2 * r0 + rm) / h**2
    np.testing.assert_allclose(acc, second, atol=2e-3 * np.abs(acc).max())


def test_doppler_is_minus_fc_range_rate_over_c(best_pass, shell):
    g, p = best_pass
    t = np.linspace(p.aos_s, p.los_s, 11)
    geo = geometry(shell[p.sat_index], g, t, epoch=EPOCH)
    fc = 20e9
    np.testing.assert_allclose(geo.doppler_hz(fc), -fc * geo.range_rate_mps / 299792458.0, rtol=1e-15)
    np.testing.assert_allclose(geo.doppler_rate_hz_per_s(fc), -fc * geo.range_accel_mps2 / 299792458.0,
                               rtol=1e-15)
    # approaching (range shrinking) = positive Doppler
    assert geo.doppler_hz(fc)[0] > 0 > geo.doppler_hz(fc)[-1]


def test_550km_pass_doppler_and_rate_against_closed_forms_and_references(best_pass, shell):
    """Max Doppler at the 10 deg mask and the Doppler rate at culmination of an almost overhead pass.

    Closed forms on a spherical Earth for a satellite moving at speed v relative to the (rotating) ground
    along a great circle through the zenith: range rate at elevation e = v R cos(e) / (R + h); range
    acceleration at zenith = v^2 R / (h (R + h)). REFERENCES.md quotes the flat-Earth / inertial-speed
    rule of thumb (about 24 ppm, about v^2 / (c h) fc = 7 kHz/s at 20 GHz): curvature (R/(R+h) = 0.92)
    and the Earth's rotation (v relative 7.3 vs 7.6 km/s) make the true figures 8-15 % smaller.
    """
    g, p = best_pass
    assert p.max_elevation_deg > 85
    fc = 20e9
    t = np.linspace(p.aos_s, p.los_s, 2001)
    geo = geometry(shell[p.sat_index], g, t, epoch=EPOCH)
    k = int(np.argmax(geo.elevation_deg))
    # satellite speed relative to the ground point at culmination, from SGP4 (not from the geometry code)
    r, v = shell[p.sat_index].propagate_teme(EPOCH, [t[k]])
    r_e, v_e = teme_to_ecef(r[None], v[None], as_epoch(EPOCH), np.array([t[k]]))
    v_rel = float(np.linalg.norm(v_e[0, 0]))
    h = geo.range_m[k] / math.sin(math.radians(geo.elevation_deg[k]))  # ~ altitude above the ground point
    R = float(np.linalg.norm(g.ecef_m))
    max_ppm = np.max(np.abs(geo.doppler_hz(fc))) / fc * 1e6
    closed_ppm = v_rel * R * math.cos(math.radians(10.0)) / (R + h) / C_MPS * 1e6
    assert abs(max_ppm / closed_ppm - 1) < 0.03, (max_ppm, closed_ppm)
    rate = abs(geo.doppler_rate_hz_per_s(fc)[k])
    closed_rate = v_rel**2 * R / (h * (R + h)) / C_MPS * fc
    assert abs(rate / closed_rate - 1) < 0.03, (rate, closed_rate)
    # REFERENCES.md: about +/-24 ppm (+/-480 kHz at 20 GHz) and about 7 kHz/s at 20 GHz
    assert abs(max_ppm / 24.0 - 1) < 0.10, max_ppm
    assert abs(rate / 7.0e3 - 1) < 0.20, rate
    # the positive and negative extremes are symmetric within a few percent
    dop = geo.doppler_hz(fc)
    assert abs(dop.max() / -dop.min() - 1) < 0.05


def test_passes_aos_los_on_the_mask_and_against_brute_force(shell):
    g = GroundStation(36.0, 90.0, 0.0)
    sub = shell[list(range(150, 230))]
    passes = find_passes(sub, g, EPOCH, 1500.0, mask_deg=10.0)
    assert passes
    t = np.arange(0.0, 1500.0 + 0.5, 1.0)
    geo = geometry(sub, g, t, epoch=EPOCH)
    for p in passes:
        sat = sub[p.sat_index]
        e = geometry(sat, g, [p.aos_s, p.tca_s, p.los_s, p.tca_s - 2, p.tca_s + 2], epoch=EPOCH).elevation_deg
        if not p.aos_clipped:
            assert abs(e[0] - 10.0) < 1e-3
        if not p.los_clipped:
            assert abs(e[2] - 10.0) < 1e-3
        assert abs(e[1] - p.max_elevation_deg) < 1e-6
        if 2.0 < p.tca_s < 1498.0:  # culmination inside the window: a true local maximum
            assert e[1] >= max(e[3], e[4])
    # every 1-s sample above the mask lies inside a predicted pass of that satellite, and vice versa
    for i in range(len(sub)):
        vis = geo.elevation_deg[i] >= 10.0
        mine = [p for p in passes if p.sat_index == i]
        inside = np.zeros_like(vis)
        for p in mine:
            inside |= (t >= p.aos_s - 1e-3) & (t <= p.los_s + 1e-3)
        assert np.array_equal(vis, inside), i


def test_geo_satellite_is_stationary():
    geo_sat = preset("geo-90e")
    g = GroundStation(36.0, 90.0, 0.0)
    geo = geometry(geo_sat, g, np.linspace(0, 6 * 3600, 13), epoch=EPOCH)
    assert np.all(np.abs(geo.range_rate_mps) < 5.0)
    assert np.ptp(geo.elevation_deg) < 0.1 and 45 < geo.elevation_deg.mean() < 50
    assert abs(geo.range_m.mean() / C_MPS - 0.1245) < 0.002  # ~125 ms one way at 47 deg elevation


def test_serving_sequence_dense_shell_is_continuous_sparse_shell_has_gaps(shell):
    grounds = seed_area_grid(2, 2) + seed_area_grid(1, 1)  # corners and centre of 33-39 N, 87-93 E
    dense = serving_sequence(shell, grounds, EPOCH, 600.0, step_s=5.0)
    assert dense.continuous and len(dense.slots) > 1
    for s in dense.slots:
        assert s.duration_s > 0 and all(x >= 0 for x in s.serving)
    # also at the FCC filing's 25 deg minimum elevation
    assert serving_sequence(shell, grounds, EPOCH, 600.0, step_s=5.0, mask_deg=25.0).continuous
    sparse = serving_sequence(preset("starlink-sparse"), grounds, EPOCH, 1800.0, step_s=5.0, mask_deg=25.0)
    assert not sparse.continuous
    assert any(sparse.gaps(i) for i in range(len(grounds)))
    assert all(f > 0.3 for f in sparse.coverage_fraction) and min(sparse.coverage_fraction) < 1.0


def test_serving_rule_highest_elevation_and_nearest(shell):
    g = GroundStation(35.0, 89.0, 0.0)
    t0, dur, step = 100.0, 120.0, 10.0
    seq = serving_sequence(shell, [g], EPOCH, dur, step_s=step, start_s=t0)
    geo = geometry(shell, g, seq.t_s, epoch=EPOCH)
    el = np.where(geo.elevation_deg >= 10, geo.elevation_deg, -np.inf)
    np.testing.assert_array_equal(seq.serving[0], np.argmax(el, axis=0))
    near = serving_sequence(shell, [g], EPOCH, dur, step_s=step, start_s=t0, rule="nearest")
    assert np.mean(near.serving[0] == seq.serving[0]) > 0.9
    # handovers are where the serving index changes and slots tile the window
    hos = seq.handovers(0)
    assert len(hos) == len(seq.slots) - 1
    assert seq.slots[0].start_s == t0 and math.isclose(seq.slots[-1].end_s, t0 + dur + step)


@pytest.mark.parametrize("kw,field", [
    (dict(lat_deg=91.0, lon_deg=0.0), "lat_deg"),
    (dict(lat_deg=-90.5, lon_deg=0.0), "lat_deg"),
    (dict(lat_deg=10.0, lon_deg=400.0), "lon_deg"),
    (dict(lat_deg=10.0, lon_deg=0.0, alt_m=-1e4), "alt_m"),
    (dict(lat_deg=float("nan"), lon_deg=0.0), "lat_deg"),
    (dict(lat_deg="36N", lon_deg=0.0), "lat_deg"),
])
def test_bad_ground_points(kw, field):
    with pytest.raises(ConfigError, match=field):
        GroundStation(**kw)


@pytest.mark.parametrize("args,kw,match", [
    ((1584, 25, 1, 53.0, 550.0), {}, "total: got 1584; allowed: a multiple of planes"),
    ((1584, 24, 24, 53.0, 550.0), {}, "phasing: got 24; allowed: 0..23"),
    ((1584, 24, -1, 53.0, 550.0), {}, "phasing"),
    ((1584, 24, 1, 190.0, 550.0), {}, "inclination_deg"),
    ((1584, 24, 1, 53.0, 50.0), {}, "altitude_km: got 50.0; allowed: 160.0..100000.0 km"),
    ((0, 1, 0, 53.0, 550.0), {}, "total"),
    ((10, 20, 0, 53.0, 550.0), {}, "planes"),
    ((10.5, 2, 0, 53.0, 550.0), {}, "total: got 10.5; allowed: an integer"),
])
def test_impossible_constellations(args, kw, match):
    with pytest.raises(ConfigError, match=match):
        WalkerConstellation(*args, **kw)


def test_walker_layout():
    w = WalkerConstellation(12, 3, 1, 60.0, 800.0)
    assert len(w) == 12 and w.per_plane == 4
    r, v = w.propagate_teme(w.element_epoch, [0.0])
    # equal radii (circular, same altitude); plane normals 120 deg apart in RAAN, inclined 60 deg
    normals = np.cross(r[:, 0], v[:, 0])
    normals /= np.linalg.norm(normals, axis=1)[:, None]
    incl = np.degrees(np.arccos(normals[:, 2]))
    assert np.all(np.abs(incl - 60.0) < 0.1)
    raan = np.degrees(np.arctan2(normals[:, 0], -normals[:, 1]))
    assert np.allclose(np.cos(np.radians(raan[::4] - [0.0, 120.0, 240.0])), 1.0, atol=1e-4)
    # mean altitude and the two-body period for a = R + h
    a = R_EQ + 800e3
    assert abs(np.linalg.norm(r[:, 0], axis=1).mean() - a) < 10e3
    assert abs(2 * math.pi / w.mean_motion_radps - 2 * math.pi * math.sqrt(a**3 / MU)) < 60


def test_bad_geometry_inputs(shell):
    g = GroundStation(0.0, 0.0)
    with pytest.raises(ConfigError, match="ground"):
        geometry(shell[0], (0.0, 0.0), [0.0])
    with pytest.raises(ConfigError, match="t_s"):
        geometry(shell[0], g, [np.nan])
    with pytest.raises(ConfigError, match="rule"):
        serving_sequence(shell[:3], [g], EPOCH, 10.0, rule="strongest")
    with pytest.raises(ConfigError, match="epoch"):
        geometry(shell[0], g, [0.0], epoch="yesterday")
