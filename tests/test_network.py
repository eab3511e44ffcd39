"""hil.network: moving nodes, node-pair links and their path loss, against closed forms.

References: the law of cosines for a UAV at constant velocity past a ground node and for two satellites
on circular orbits (delay within 1 ns, Doppler within 0.1 Hz); hil.orbit.geometry (SGP4 + the project's
tested look geometry) for a Walker member seen from a fixed node; TR 38.901 / TR 36.777 path-loss
values worked by hand (the arithmetic is in the comments); the emulator's own Link run with a tone.
"""

import math

import numpy as np
import pytest

from hil.errors import ConfigError
from hil.network import (
    CircularOrbitMotion,
    FixedMotion,
    LoiterMotion,
    Node,
    PairTrajectory,
    SatelliteMotion,
    WaypointMotion,
    dish,
    isotropic,
    pencil_beam,
)
from hil.network import pathloss as pl
from hil.orbit import C_MPS, GroundStation, geodetic_to_ecef, geometry, preset

FC = 2e9


# ---------------------------------------------------------------------------------- closed forms
def test_uav_constant_velocity_vs_ground_closed_form():
    """A UAV flying a straight chord at 40 m/s past a BS: rho^2 = rho0^2 + 2 rho0 v t cos(a) + v^2 t^2."""
    bs = Node("bs", "bs", FixedMotion(31.0, 121.0, 25.0))
    a, b = [31.02, 121.01, 120.0], [31.10, 121.12, 120.0]
    v = 40.0
    uav = Node("uav", "uav", WaypointMotion([a, b], v, start_s=-1.0))  # already moving at t = 0
    tr = PairTrajectory(uav, bs, FC, los="los")
    p0, p1, g = (geodetic_to_ecef(*p) for p in (a, b, [31.0, 121.0, 25.0]))
    u = (p1 - p0) / np.linalg.norm(p1 - p0)
    start = p0 + v * 1.0 * u                   # position at t = 0
    rho0 = np.linalg.norm(start - g)
    cos_a = float(np.dot(start - g, u)) / rho0  # angle between the line of sight and the track
    t = np.linspace(0.0, 200.0, 41)
    rho = np.sqrt(rho0**2 + 2 * rho0 * v * t * cos_a + v * v * t * t)
    rho_dot = (rho0 * v * cos_a + v * v * t) / rho
    assert np.max(np.abs(tr.delay(t) - rho / C_MPS)) < 1e-9
    dop = -FC * rho_dot / C_MPS
    assert np.max(np.abs(tr.doppler(t) - dop)) < 0.1
    assert np.max(np.abs(dop)) > 200.0  # a real Doppler (40 m/s at 2 GHz is 267 Hz head-on)
    # reciprocity: the reverse link has the same delay and Doppler
    back = PairTrajectory(bs, uav, FC, los="los")
    assert np.allclose(back.delay(t), tr.delay(t), rtol=0, atol=1e-15)
    assert np.allclose(back.delay_rate(t), tr.delay_rate(t), rtol=0, atol=1e-18)


def test_two_satellites_circular_closed_form():
    """Two circular orbits in one plane: rho^2 = r1^2 + r2^2 - 2 r1 r2 cos(du0 + (n1 - n2) t)."""
    s1 = CircularOrbitMotion(550e3, inclination_deg=53.0, raan_deg=40.0, phase_deg=0.0)
    s2 = CircularOrbitMotion(1200e3, inclination_deg=53.0, raan_deg=40.0, phase_deg=25.0)
    tr = PairTrajectory(Node("a", "satellite", s1), Node("b", "satellite", s2), 26e9)
    assert tr.model == "free_space"
    t = np.linspace(0.0, 3000.0, 301)
    r1, r2, n1, n2 = s1.radius_m, s2.radius_m, s1.n, s2.n
    # independent: the orbit radii and mean motions from Kepler's third law
    assert n1 == pytest.approx(math.sqrt(3.986004418e14 / (6378137.0 + 550e3) ** 3), rel=1e-15)
    psi = math.radians(25.0) + (n2 - n1) * t
    rho = np.sqrt(r1**2 + r2**2 - 2 * r1 * r2 * np.cos(psi))
    rho_dot = r1 * r2 * (n2 - n1) * np.sin(psi) / rho
    assert np.max(np.abs(tr.delay(t) - rho / C_MPS)) < 1e-9
    assert np.max(np.abs(tr.doppler(t) - (-26e9 * rho_dot / C_MPS))) < 0.1
    # the line of sight clears the Earth at 25 deg separation and is blocked near 180 deg
    assert bool(tr.visible(0.0))
    t_opp = (math.pi - math.radians(25.0)) / (n1 - n2)
    assert not bool(tr.visible(abs(t_opp)))


def test_sgp4_member_vs_orbit_geometry():
    """A Walker preset member seen from a fixed terminal matches hil.orbit.geometry (range, range rate)."""
    shell = preset("starlink-sparse")
    sat = shell[5]
    epoch = "2026-01-01T00:00:00Z"
    node = Node("sat", "satellite", SatelliteMotion(sat, epoch))
    term = Node("ut", "terminal", FixedMotion(36.0, 90.0, 10.0))
    tr = PairTrajectory(node, term, FC)
    t = np.linspace(0.0, 3000.0, 61)
    geo = geometry(sat, GroundStation(36.0, 90.0, 10.0), t, epoch=epoch)
    assert np.max(np.abs(tr.delay(t) - geo.range_m / C_MPS)) < 1e-9
    assert np.max(np.abs(tr.doppler(t) - (-FC * geo.range_rate_mps / C_MPS))) < 0.1
    assert np.max(np.abs(tr.elevation(t) - geo.elevation_deg)) < 1e-6
    np.testing.assert_array_equal(tr.visible(t), geo.elevation_deg >= 10.0)


def test_loiter_speed_and_radius():
    c = [20.0, 110.0, 300.0]
    m = LoiterMotion(c, 2000.0, 35.0, phase_deg=30.0)
    t = np.linspace(0, 400, 81)
    r, v = m.state(t)
    assert np.allclose(np.linalg.norm(r - geodetic_to_ecef(*c), axis=1), 2000.0, atol=1e-6)
    assert np.allclose(np.linalg.norm(v, axis=1), 35.0, atol=1e-9)
    # velocity is the derivative of position (central difference)
    h = 1e-3
    dr = (m.state(t + h)[0] - m.state(t - h)[0]) / (2 * h)
    assert np.max(np.abs(dr - v)) < 1e-4
    # one lap takes 2 pi R / v
    T = 2 * math.pi * 2000.0 / 35.0
    assert np.allclose(m.state(np.array([T]))[0], m.state(np.array([0.0]))[0], atol=1e-6)


def test_waypoints_hold_and_loop():
    pts = [[10.0, 10.0, 0.0], [10.0, 10.1, 0.0], [10.1, 10.1, 0.0]]
    m = WaypointMotion(pts, 10.0)
    L = m.cum[-1]
    r, v = m.state(np.array([-5.0, L / 10.0 + 100.0]))
    assert np.allclose(r[0], geodetic_to_ecef(*pts[0])) and np.allclose(v[0], 0.0)
    assert np.allclose(r[1], geodetic_to_ecef(*pts[-1])) and np.allclose(v[1], 0.0)
    loop = WaypointMotion(pts, 10.0, loop=True)
    P = loop.period_s
    assert np.allclose(loop.state(np.array([0.3 * P + P]))[0], loop.state(np.array([0.3 * P]))[0], atol=1e-6)
    assert np.allclose(np.linalg.norm(loop.state(np.array([0.5 * P]))[1], axis=1), 10.0)
    assert len(loop.corners(0.0, 2 * P)) == 6


@pytest.mark.parametrize("bad, field", [
    (dict(waypoints=[[1.0, 2.0, 3.0]], speed_mps=5.0), "waypoints"),
    (dict(waypoints=[[1.0, 2.0], [1.0, 2.1]], speed_mps=-5.0), "speed_mps"),
    (dict(waypoints=[[1.0, 2.0], [1.0, 2.0]], speed_mps=5.0), "waypoints[1]"),
    (dict(waypoints=[[1.0, 200.0 + 500], [1.0, 2.0]], speed_mps=5.0), "waypoints[0][1]"),
])
def test_waypoint_errors_name_the_field(bad, field):
    with pytest.raises(ConfigError) as e:
        WaypointMotion(**bad)
    assert str(e.value).startswith(field) and "\n" not in str(e.value)


# ---------------------------------------------------------------------------------- path loss (TR values)
def test_rma_los_by_hand():
    # TR 38.901 RMa LOS, fc = 2 GHz, d2D = 1000 m, hBS = 35 m, hUT = 1.5 m, h = 5 m:
    # d3D = sqrt(1000^2 + 33.5^2) = 1000.5610; dBP = 2 pi 35 1.5 2e9 / c = 2200.64 m > d2D -> PL1
    # h^1.72 = 15.9305; 20 log10(40 pi 1000.561 2/3) = 98.4672; + 0.477914 * 3.000244 = 1.43386
    # - 0.700940 + 0.002 * 0.698970 * 1000.561 = 1.398724  -> 100.5989 dB
    assert float(pl.rma_los_db(1000.0, 35.0, 1.5, 2e9)) == pytest.approx(100.5989, abs=0.01)
    # beyond the break point (d2D = 5 km): PL1(dBP) + 40 log10(d3D / dBP) = 123.543 dB
    assert float(pl.rma_los_db(5000.0, 35.0, 1.5, 2e9)) == pytest.approx(123.543, abs=0.01)


def test_rma_nlos_by_hand():
    # d2D = 2 km, same heights: PL'_NLOS = 161.04 - 7.1 log10 20 + 7.5 log10 5 - (24.37 - 3.7 (5/35)^2) log10 35
    #   + (43.42 - 3.1 log10 35)(log10 2000.28 - 3) + 20 log10 2 - (3.2 (log10 17.625)^2 - 4.97) = 137.186 dB
    #   (LOS there: 108.157 dB; NLOS = max of the two)
    assert float(pl.rma_nlos_db(2000.0, 35.0, 1.5, 2e9)) == pytest.approx(137.186, abs=0.01)
    assert float(pl.rma_los_db(2000.0, 35.0, 1.5, 2e9)) == pytest.approx(108.157, abs=0.01)


def test_rma_av_by_hand():
    # TR 36.777 RMa-AV, hUT = 100 m, hBS = 35 m, d2D = 1 km, fc = 2 GHz: d3D = sqrt(1000^2 + 65^2) = 1002.110
    # LOS: max(23.9 - 1.8 * 2, 20) = 20.3; 20.3 * 3.000915 + 20 log10(40 pi 2 / 3) = 60.9186 + 38.4624 = 99.381
    assert float(pl.rma_av_los_db(1000.0, 35.0, 100.0, 2e9)) == pytest.approx(99.381, abs=0.01)
    # NLOS: max(LOS, -12 + (35 - 10.6) * 3.000915 + 38.4624 = 99.685)
    assert float(pl.rma_av_nlos_db(1000.0, 35.0, 100.0, 2e9)) == pytest.approx(99.685, abs=0.01)
    # below 10 m the aerial model is the terrestrial RMa one
    assert float(pl.rma_av_los_db(1000.0, 35.0, 1.5, 2e9)) == pytest.approx(100.5989, abs=0.01)


def test_los_probabilities_by_hand():
    assert float(pl.rma_los_probability(510.0)) == pytest.approx(math.exp(-0.5), abs=1e-12)
    assert float(pl.rma_los_probability(5.0)) == 1.0
    # RMa-AV, hUT = 30 m, d2D = 2 km: p1 = 15021 log10 30 - 16053 = 6134.84, d1 = 1350.8 log10 30 - 1602 = 393.30
    # P = 393.30/2000 + exp(-2000/6134.84)(1 - 393.30/2000) = 0.77651
    assert float(pl.rma_av_los_probability(2000.0, 30.0)) == pytest.approx(0.77651, abs=1e-4)
    assert float(pl.rma_av_los_probability(2000.0, 120.0)) == 1.0
    assert float(pl.rma_av_los_probability(200.0, 30.0)) == 1.0  # d2D <= d1


def test_random_los_draws_follow_the_probability_and_are_reproducible():
    bs = Node("bs", "bs", FixedMotion(0.0, 0.0, 35.0))
    ship = Node("ship", "ship", FixedMotion(0.0, 0.0 + 1500.0 / 111320.0, 1.5))  # ~1.5 km east
    tr = PairTrajectory(ship, bs, FC, los="random", seed=7)
    t = np.arange(4000) * 1.0
    g = tr.geometry(t)
    p = float(pl.rma_los_probability(g["d2d_m"][0]))
    frac = g["los"].mean()
    assert abs(frac - p) < 4 * math.sqrt(p * (1 - p) / t.size)
    # same draws however the time axis is cut, and for the same seed
    t2 = np.concatenate([t[:1234], t[1234:]])
    again = PairTrajectory(ship, bs, FC, los="random", seed=7).geometry(t2[1000:3000])["los"]
    np.testing.assert_array_equal(again, g["los"][1000:3000])
    # loss is the LOS or NLOS formula sample by sample
    los_db = pl.rma_los_db(g["d2d_m"], 35.0, 1.5, FC)
    nlos_db = pl.rma_nlos_db(g["d2d_m"], 35.0, 1.5, FC)
    np.testing.assert_allclose(g["loss_db"], np.where(g["los"], los_db, nlos_db), atol=0.02)  # heights +-mm


def test_satellite_model_is_the_link_budget():
    from hil.orbit import LinkBudget

    sat = Node("sat", "satellite", CircularOrbitMotion(550e3, inclination_deg=0.0, phase_deg=0.0))
    ut = Node("ut", "terminal", FixedMotion(0.0, 5.0, 0.0))
    tr = PairTrajectory(sat, ut, 20e9)
    g = tr.geometry(np.array([0.0]))
    ref = LinkBudget(fc_hz=20e9, bandwidth_hz=1.0, tx_power_dbw=0.0).path_loss_db(g["range_m"], g["elevation_deg"])
    assert g["loss_db"][0] == pytest.approx(float(ref[0]), abs=1e-9)
    assert g["loss_db"][0] > pl.fspl_db(g["range_m"][0], 20e9) + 0.1  # gases add something at 20 GHz


def test_terrestrial_horizon():
    bs = Node("bs", "bs", FixedMotion(0.0, 0.0, 30.0))
    near = Node("s1", "ship", FixedMotion(0.0, 20e3 / 111320.0, 10.0))
    far = Node("s2", "ship", FixedMotion(0.0, 60e3 / 111320.0, 10.0))
    # horizon sqrt(2 k R 30) + sqrt(2 k R 10) = 22.6 + 13.0 = 35.6 km (k = 4/3, R = 6371 km)
    assert bool(PairTrajectory(bs, near, FC).visible(0.0))
    assert not bool(PairTrajectory(bs, far, FC).visible(0.0))


# ---------------------------------------------------------------------------------- antennas
def test_dish_pattern_3gpp():
    a = dish(30.0, 4.0, pointing="zenith")
    assert float(a.pattern_db(2.0)) == pytest.approx(30.0 - 3.0)  # half the beamwidth: -3 dB
    assert float(a.pattern_db(0.0)) == 30.0
    assert float(a.pattern_db(40.0)) == pytest.approx(0.0)        # floor: 30 - SLA (30 dB)


def test_pencil_beam_tracks_its_target_and_misses_others():
    bs = Node("bs", "bs", FixedMotion(0.0, 0.0, 30.0), pencil_beam(25.0, 3.0, "s1"))
    s1 = Node("s1", "ship", WaypointMotion([[0.0, 0.1, 5.0], [0.1, 0.2, 5.0]], 10.0, start_s=-1.0))
    s2 = Node("s2", "ship", FixedMotion(0.1, 0.0, 5.0))
    nodes = {n.name: n for n in (bs, s1, s2)}

    def locate(name, t):
        return nodes[name].state(t)[0]

    t = np.linspace(0, 600, 13)
    g1 = PairTrajectory(bs, s1, FC, los="los", locate=locate).geometry(t)
    g2 = PairTrajectory(bs, s2, FC, los="los", locate=locate).geometry(t)
    assert np.allclose(g1["tx_gain_dbi"], 25.0, atol=1e-6)
    assert np.all(g2["tx_gain_dbi"] == pytest.approx(25.0 - 30.0))  # ~45 deg off: side-lobe floor
    # a fixed [az, el] pointing: due east, on the horizon, seen from the equator at lon 0 is +y ECEF
    a = dish(20.0, 10.0, pointing=[90.0, 0.0])
    b = a.boresight(np.array([0.0]), geodetic_to_ecef(0.0, 0.0, 0.0)[None], locate)
    assert np.allclose(b[0], [0.0, 1.0, 0.0], atol=1e-12)
    # net loss subtracts both antenna gains
    iso = PairTrajectory(Node("x", "bs", FixedMotion(0.0, 0.0, 30.0)), s1, FC, los="los").geometry(t)
    assert np.allclose(g1["net_loss_db"], iso["loss_db"] - 25.0, atol=1e-9)


def test_antenna_errors():
    with pytest.raises(ConfigError, match="antenna.pointing"):
        pencil_beam(20.0, 2.0, "nadir")
    with pytest.raises(ConfigError, match="antenna.beamwidth_deg"):
        dish(20.0, None)
    with pytest.raises(ConfigError, match="antenna.kind"):
        isotropic().point("x", 1.0)


# ---------------------------------------------------------------------------------- through the emulator's Link
def test_pair_trajectory_drives_the_emulator_link():
    """A UAV -> BS link through hil.emulator.link.Link (the server's per-burst interface): the tone's
    measured frequency equals the two-ended Doppler within 0.1 Hz; the telemetry reports it."""
    from hil.emulator.link import Link

    bs = Node("bs", "bs", FixedMotion(31.0, 121.0, 25.0))
    uav = Node("uav", "uav", LoiterMotion([31.01, 121.0, 150.0], 800.0, 45.0))
    tr = PairTrajectory(uav, bs, FC, los="los", fixed_delay_s=100e-6)  # ~1 km: below taps/2 without it
    assert float(tr.delay(3.0)) == pytest.approx(float(tr.geometry(3.0)["range_m"][0]) / C_MPS + 100e-6, abs=1e-15)
    fs = 200e3
    link = Link("uav-bs", fs, FC, tr, epoch=10.0, max_delay=0.001)
    outs = link.accept(0, np.ones(40000, np.complex64), end_of_burst=True)
    y = np.concatenate([o[1] for o in outs])[:40000][5000:]
    t = 10.0 + np.arange(5000, 40000) / fs
    tc = t.mean()
    f_meas = np.polyfit(t - tc, np.unwrap(np.angle(y.astype(np.complex128))), 3)[-2] / (2 * np.pi)
    assert f_meas == pytest.approx(float(tr.doppler(tc)), abs=0.1)
    assert abs(f_meas) > 10.0
    rec = link.bursts[0]
    assert rec["doppler_hz_start"] == pytest.approx(float(tr.doppler(10.0)), abs=1e-6)
    assert rec["path_loss_db_start"] == pytest.approx(float(tr.path_loss_db(10.0)), abs=1e-9)
