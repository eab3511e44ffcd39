"""DelayTrack: cubic-Hermite delay/Doppler against direct SGP4 propagation, the stated error bound,
continuity, light-time modes and errors."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hil.errors import ConfigError
from hil.orbit import C_MPS, DelayTrack, GroundStation, as_epoch, find_passes, geometry, make_track, preset

EPOCH = "2026-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def setup():
    shell = preset("starlink-1584")
    g = GroundStation(36.0, 90.0, 0.0)
    p = max((p for p in find_passes(shell[200:240], g, EPOCH, 1200.0) if not p.aos_clipped and not p.los_clipped),
            key=lambda p: p.max_elevation_deg)
    return shell[200 + p.sat_index], g, p


def test_1ms_knots_match_direct_propagation(setup):
    sat, g, p = setup
    start = p.tca_s - 20.0  # the most curved part of the pass
    tr = make_track(sat, g, EPOCH, 40.0, 1e-3, start_s=start)
    rng = np.random.default_rng(1)
    t = np.sort(rng.uniform(tr.t0, tr.t1, 400))
    geo = geometry(sat, g, t, epoch=EPOCH)
    assert np.max(np.abs(tr.delay(t) - geo.range_m / C_MPS)) < 1e-15  # 0.3 um; stated bound ~1e-24 s + rounding
    # SGP4's velocity output differs from the derivative of its own position by ~1 cm/s (3e-11 s/s)
    assert np.max(np.abs(tr.delay_rate(t) - geo.range_rate_mps / C_MPS)) < 1.5e-10
    fc = 20e9
    np.testing.assert_allclose(tr.doppler(t, fc), geo.doppler_hz(fc), atol=3.0)  # Hz, of ~+-400 kHz
    np.testing.assert_allclose(tr.doppler_rate(t, fc), geo.doppler_rate_hz_per_s(fc), atol=10.0)  # of ~6 kHz/s
    np.testing.assert_allclose(tr.elevation(t), geo.elevation_deg, atol=1e-6)
    assert tr.error_bound_s < 1e-20


@pytest.mark.parametrize("step", [2.0, 10.0, 20.0])
def test_stated_error_bound_holds_against_direct_propagation(setup, step):
    sat, g, p = setup
    tr = make_track(sat, g, EPOCH, 200.0, step, start_s=p.tca_s - 100.0)
    t = np.linspace(tr.t0, tr.t1, 4001)
    geo = geometry(sat, g, t, epoch=EPOCH)
    err = np.max(np.abs(tr.delay(t) - geo.range_m / C_MPS))
    assert err <= tr.error_bound_s + 1e-15
    if step >= 10.0:  # large enough that interpolation, not rounding, dominates: the bound is not loose
        assert err > tr.error_bound_s / 100.0
    # the delay-rate bound, against the derivative of the direct delay (SGP4 velocity differs by ~3e-11 s/s)
    rate_err = np.max(np.abs(tr.delay_rate(t) - geo.range_rate_mps / C_MPS))
    assert rate_err <= tr.rate_error_bound + 1.5e-10


def test_doppler_consistent_with_delay_and_c1_at_knots(setup):
    sat, g, p = setup
    tr = make_track(sat, g, EPOCH, 10.0, 0.5, start_s=p.tca_s)
    fc = 2e9
    t = np.linspace(tr.t0 + 0.01, tr.t1 - 0.01, 50)
    h = 1e-4
    num = (tr.delay(t + h) - tr.delay(t - h)) / (2 * h)
    np.testing.assert_allclose(tr.delay_rate(t), num, rtol=1e-7, atol=1e-14)
    np.testing.assert_allclose(tr.doppler(t, fc), -fc * tr.delay_rate(t), rtol=1e-15)
    num2 = (tr.doppler(t + h, fc) - tr.doppler(t - h, fc)) / (2 * h)
    np.testing.assert_allclose(tr.doppler_rate(t, fc), num2, rtol=1e-5, atol=1e-3)
    # value and slope continuous across every inner knot
    k = tr.knot_times[1:-1]
    e = 1e-9
    np.testing.assert_allclose(tr.delay(k - e), tr.delay(k + e), atol=1e-17)
    np.testing.assert_allclose(tr.delay_rate(k - e), tr.delay_rate(k + e), atol=1e-14)
    np.testing.assert_allclose(tr.carrier_phase(t, fc), -2 * math.pi * fc * tr.delay(t), rtol=1e-15)
    assert np.all(tr.visible(t) == (tr.elevation(t) >= 10.0))


def test_light_time_modes_solve_their_equations(setup):
    sat, g, p = setup
    ep = as_epoch(EPOCH)
    t = np.array([p.aos_s + 1.0, p.tca_s, p.los_s - 1.0])
    down = make_track(sat, g, EPOCH, p.los_s - p.aos_s, 1.0, start_s=p.aos_s, light_time="downlink")
    up = make_track(sat, g, EPOCH, p.los_s - p.aos_s, 1.0, start_s=p.aos_s, light_time="uplink")
    inst = make_track(sat, g, EPOCH, p.los_s - p.aos_s, 1.0, start_s=p.aos_s)
    from hil.orbit.track import _ground_teme

    tau = down.delay(t)
    rs, _ = sat.propagate_teme(ep, t - tau)  # satellite at emission time
    rg, _ = _ground_teme(g, ep, t)  # ground at reception time
    np.testing.assert_allclose(tau * C_MPS, np.linalg.norm(rs - rg, axis=1), atol=1e-3)
    tau = up.delay(t)
    rs, _ = sat.propagate_teme(ep, t)
    rg, _ = _ground_teme(g, ep, t - tau)
    np.testing.assert_allclose(tau * C_MPS, np.linalg.norm(rs - rg, axis=1), atol=1e-3)
    # the light-time difference is about range_rate * tau (tens of metres), in opposite directions
    d_down = (down.delay(t) - inst.delay(t)) * C_MPS
    d_up = (up.delay(t) - inst.delay(t)) * C_MPS
    assert np.all(np.abs(d_down) < 100) and np.all(np.abs(d_up) < 100)
    assert d_down[0] * d_down[-1] < 0 and np.max(np.abs(d_down)) > 10


@given(start=st.floats(0.0, 9.0), n=st.integers(1, 50))
def test_array_evaluation_equals_scalar_evaluation(start, n):
    tr = DelayTrack.from_knots(0.0, 0.25, np.linspace(2e-3, 3e-3, 41), np.full(41, 1e-4 / 4),
                               np.linspace(10, 50, 41))
    t = np.linspace(start, min(10.0, start + 1.0), n)
    np.testing.assert_array_equal(tr.delay(t), [float(tr.delay(x)) for x in t])
    np.testing.assert_array_equal(tr.doppler(t, 1e9), [float(tr.doppler(x, 1e9)) for x in t])


def test_synthetic_linear_track_is_exact():
    rate = 2.5e-5
    tr = DelayTrack.from_knots(5.0, 0.1, 1e-3 + rate * 0.1 * np.arange(11), np.full(11, rate))
    t = np.linspace(5.0, 6.0, 37)
    np.testing.assert_allclose(tr.delay(t), 1e-3 + rate * (t - 5.0), rtol=0, atol=1e-18)
    np.testing.assert_allclose(tr.doppler(t, 1e9), -1e9 * rate, rtol=1e-12)
    np.testing.assert_allclose(tr.doppler_rate(t, 1e9), 0.0, atol=1e-3)


def test_errors(setup):
    sat, g, _ = setup
    tr = DelayTrack.from_knots(0.0, 1.0, [1e-3, 2e-3, 3e-3], [1e-3, 1e-3, 1e-3])
    with pytest.raises(ConfigError, match=r"t: got 2.5; allowed: 0.0..2.0 s"):
        tr.delay([0.0, 2.5])
    with pytest.raises(ConfigError, match="t: got -1"):
        tr.doppler(-1.0, 1e9)
    with pytest.raises(ConfigError, match="delay_s/delay_rate"):
        DelayTrack.from_knots(0.0, 1.0, [1e-3], [0.0])
    with pytest.raises(ConfigError, match="light_time"):
        make_track(sat, g, EPOCH, 1.0, light_time="both")
    with pytest.raises(ConfigError, match="knot_step_s"):
        make_track(sat, g, EPOCH, 1.0, 0.0)
    with pytest.raises(ConfigError, match="sat"):
        make_track(preset("starlink-sparse"), g, EPOCH, 1.0)


def test_serving_tracks_follow_the_handovers():
    from hil.orbit import serving_tracks

    shell = preset("starlink-1584")
    g = GroundStation(36.0, 90.0, 0.0)
    tracks = serving_tracks(shell, g, EPOCH, 120.0, step_s=2.0, knot_step_s=0.5)
    assert len(tracks) >= 2
    for slot, tr in tracks:
        assert tr is not None and tr.t0 == slot.start_s and tr.t1 >= slot.end_s - 1e-9
        mid = 0.5 * (slot.start_s + slot.end_s)
        geo = geometry(shell[slot.serving[0]], g, [mid], epoch=EPOCH)
        assert abs(float(tr.delay(mid)) - geo.range_m[0] / C_MPS) < 1e-12
        assert float(tr.elevation(mid)) >= 10.0
