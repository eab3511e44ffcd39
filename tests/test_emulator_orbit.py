"""The emulator driven by the orbit module: an SGP4 pass (hil.orbit DelayTrack) through OrbitTrajectory.

The references are hil.orbit.geometry (direct SGP4 propagation): tone frequency -fc range_rate / c
within 0.1 Hz, delay range / c within 1 ns by correlation, at several points of one pass.
"""

import numpy as np
import pytest

from dsp.delay import ChannelStream
from hil.emulator.trajectory import LinkProfile, OrbitTrajectory
from tests.test_delayline import measure_delay, wideband

orbit = pytest.importorskip("hil.orbit")

EPOCH = "2026-01-01T00:00:00Z"
FC = 2e9


@pytest.fixture(scope="module")
def pass_():
    shell = orbit.preset("starlink-1584")
    g = orbit.GroundStation(36.0, 90.0, 0.0)
    p = max((p for p in orbit.find_passes(shell[200:240], g, EPOCH, 1200.0)
             if not p.aos_clipped and not p.los_clipped), key=lambda p: p.max_elevation_deg)
    return shell[200 + p.sat_index], g, p


def _points(p):
    return [p.aos_s + 30.0, p.tca_s - 40.0, p.tca_s, p.los_s - 30.0]


def test_sgp4_pass_tone_frequency(pass_):
    sat, g, p = pass_
    fs = 200e3
    seen = []
    for t0 in _points(p):
        track = orbit.make_track(sat, g, EPOCH, 0.2, 1e-3, start_s=t0)
        traj = OrbitTrajectory(track, FC)
        y = ChannelStream(fs, FC, traj, epoch=t0).process(np.ones(12000, np.complex64))[2000:]
        t = t0 + np.arange(2000, 12000) / fs
        tc = t.mean()
        f_meas = np.polyfit(t - tc, np.unwrap(np.angle(y.astype(np.complex128))), 3)[-2] / (2 * np.pi)
        geo = orbit.geometry(sat, g, np.array([tc]), epoch=EPOCH)
        # SGP4's velocity and the derivative of its position differ by ~3e-11 s/s (0.06 Hz at 2 GHz)
        assert f_meas == pytest.approx(-FC * geo.range_rate_mps[0] / orbit.C_MPS, abs=0.1), t0
        seen.append(f_meas)
    assert max(seen) > 20e3 and min(seen) < -20e3


def test_sgp4_pass_delay_within_1ns(pass_):
    sat, g, p = pass_
    fs = 10e6
    x = wideband(1 << 17)
    for t0 in _points(p):
        track = orbit.make_track(sat, g, EPOCH, 0.02, 1e-3, start_s=t0)
        D0 = float(track.delay(t0)) * fs
        n_c = int(D0) + 20000
        y = ChannelStream(fs, FC, OrbitTrajectory(track, FC), epoch=t0).process(x[:n_c + 4096])
        d = measure_delay(y, x, n_c, D0, lambda n, tr=track, t0=t0: -FC * tr.delay(t0 + n / fs))
        geo = orbit.geometry(sat, g, np.array([t0 + (n_c - 0.5) / fs]), epoch=EPOCH)
        assert abs(d / fs - geo.range_m[0] / orbit.C_MPS) < 1e-9, t0


def test_link_budget_path_loss(pass_):
    sat, g, p = pass_
    track = orbit.make_track(sat, g, EPOCH, 1.0, 1e-3, start_s=p.tca_s)
    budget = orbit.linkbudget.LinkBudget(fc_hz=FC, bandwidth_hz=1e6, tx_power_dbw=0.0)
    traj = OrbitTrajectory(track, FC, budget=budget, extra_loss_db=1.5)
    t = p.tca_s + 0.5
    rng_m = float(track.delay(t)) * orbit.C_MPS
    ref = budget.path_loss_db(rng_m, float(track.elevation(t))) + 1.5
    assert float(traj.path_loss_db(t)) == pytest.approx(ref, abs=1e-9)
    assert float(OrbitTrajectory(track, FC).path_loss_db(t)) == pytest.approx(
        float(orbit.linkbudget.fspl_db(rng_m, FC)), abs=1e-9)
    assert float(LinkProfile(traj, 170.0).gain_db(t)) == pytest.approx(170.0 - ref, abs=1e-9)


def test_orbit_trajectory_from_a_scenario_file(tmp_path):
    """kind: orbit builds an SGP4 DelayTrack through hil.orbit from TLE lines in the file."""
    from hil.emulator.config import load_emulator_config
    from hil.emulator.link import Link

    l1, l2 = orbit.format_tle(satnum=40001, epoch=orbit.as_epoch(EPOCH), inclination_deg=53.0, raan_deg=10.0,
                              eccentricity=0.0001, argp_deg=0.0, mean_anomaly_deg=0.0, mean_motion_revpd=15.06)
    text = f"""
sample_rate_hz: 1.0e6
endpoints:
  - {{name: tx, address: "tcp://127.0.0.1:*", pattern: pull}}
  - {{name: rx, address: "tcp://127.0.0.1:*", pattern: push}}
links:
  - name: dl
    source: tx
    sink: rx
    carrier_hz: 2.0e9
    max_delay_s: 0.1
    trajectory:
      - kind: orbit
        tle: ["{l1}", "{l2}"]
        station: [0.0, 10.0, 0.0]
        epoch_utc: "{EPOCH}"
        duration_s: 2.0
        min_elevation_deg: -90.0
        light_time: false   # both default on since issue 13: this test compares with the geometric range
        gases: false
"""
    path = tmp_path / "orbit.yaml"
    path.write_text(text)
    cfg = load_emulator_config(path)
    lk = Link.from_config(cfg.links[0], cfg.sample_rate_hz, 0.0, np.random.default_rng(0))
    sat = orbit.Constellation.from_tle_text(f"{l1}\n{l2}")[0]
    geo = orbit.geometry(sat, orbit.GroundStation(0.0, 10.0, 0.0), np.array([1.0]), epoch=EPOCH)
    assert float(lk.trajectory.delay(1.0)) == pytest.approx(geo.range_m[0] / orbit.C_MPS, abs=1e-12)
    assert lk.telemetry()["doppler_hz"] == pytest.approx(-FC * float(
        orbit.geometry(sat, orbit.GroundStation(0.0, 10.0, 0.0), np.array([0.0]), epoch=EPOCH).range_rate_mps[0])
        / orbit.C_MPS, abs=0.1)
