"""Link budget: FSPL closed form, the seed's 173.4 / 184.9 dB path-loss span at 550 km, the carrier it
implies, P.676 gases, TR 38.811 shadow-fading / clutter tables, the reflector pattern, noise, SNR and
Shannon rate, and errors."""

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from hil.errors import ConfigError
from hil.orbit import GroundStation, find_passes, geometry, preset, slant_range_m
from hil.orbit.linkbudget import (
    LinkBudget,
    fspl_db,
    gas_attenuation_db,
    gas_zenith_attenuation_db,
    half_power_beamwidth_deg,
    los_probability,
    noise_power_dbw,
    reflector_gain_db,
    reflector_radius_for_gain,
    sample_shadow_fading_db,
    shadow_fading_params,
    shannon_rate_bps,
)

C = 299792458.0


def test_fspl_closed_form():
    # the usual engineering form: 92.45 + 20 log10(f / GHz) + 20 log10(d / km)
    for d, f in ((550e3, 20e9), (1815e3, 2e9), (35786e3, 12e9)):
        assert abs(fspl_db(d, f) - (92.45 + 20 * math.log10(f / 1e9) + 20 * math.log10(d / 1e3))) < 0.01
    # inverse-square law
    assert abs(fspl_db(2 * 550e3, 20e9) - fspl_db(550e3, 20e9) - 20 * math.log10(2)) < 1e-12


def test_slant_range_formula_against_the_geometry():
    """The spherical-Earth slant range used by TR 38.811 against real WGS-84 geometry of a 550 km pass."""
    assert abs(slant_range_m(90.0, 550e3) - 550e3) < 1e-6
    shell = preset("starlink-1584")
    g = GroundStation(36.0, 90.0, 0.0)
    p = max(find_passes(shell[200:240], g, "2026-01-01T00:00:00Z", 1200.0), key=lambda p: p.max_elevation_deg)
    geo = geometry(shell[200 + p.sat_index], g, [p.aos_s], epoch="2026-01-01T00:00:00Z")
    assert abs(geo.elevation_deg[0] - 10.0) < 1e-3
    alt = 550e3 + 21e3 * math.sin(math.radians(36.0)) ** 2  # geodetic height at 36 deg for a = R_eq + 550 km
    assert abs(geo.range_m[0] / slant_range_m(10.0, alt) - 1) < 0.02


def test_seed_path_loss_span_at_550km_20ghz():
    lb = LinkBudget.seed_downlink()
    d = slant_range_m(np.array([90.0, 10.0]), 550e3)
    pl = lb.path_loss_db(d, [90.0, 10.0])
    assert abs(pl[0] - 173.4) < 0.5 and abs(pl[1] - 184.9) < 0.5, pl


def test_carrier_implied_by_the_seed_is_about_20_ghz():
    """Solve FSPL(550 km) + A(f) = 173.4 and FSPL(d10) + A(f)/sin 10 = 184.9 for f with our gas model."""
    d90, d10 = 550e3, float(slant_range_m(10.0, 550e3))

    def mismatch(f):
        a = gas_zenith_attenuation_db(f)
        return (fspl_db(d10, f) + a / math.sin(math.radians(10))) - (fspl_db(d90, f) + a) - (184.9 - 173.4)

    f = brentq(mismatch, 15e9, 21.5e9)
    assert 19.0e9 < f < 21.0e9, f
    # and at that carrier the absolute level matches too
    assert abs(fspl_db(d90, f) + gas_zenith_attenuation_db(f) - 173.4) < 0.3


def test_gases():
    # zenith attenuation of the standard atmosphere (7.5 g/m^3, sea level): about 0.25 dB at 20 GHz (P.676 Fig.),
    # peaking at the 22.235 GHz water line, about 0.04 dB at 2 GHz
    z20 = gas_zenith_attenuation_db(20e9)
    assert 0.2 < z20 < 0.3
    assert gas_zenith_attenuation_db(22.235e9) > max(z20, gas_zenith_attenuation_db(30e9))
    assert 0.02 < gas_zenith_attenuation_db(2e9) < 0.06
    # dry air alone (no water vapour) is small at 20 GHz, and the cosecant law
    assert gas_zenith_attenuation_db(20e9, rho_gm3=0.0) < 0.1
    np.testing.assert_allclose(gas_attenuation_db([90, 30, 10], 20e9), z20 / np.sin(np.radians([90, 30, 10])))
    with pytest.raises(ConfigError, match=r"elevation_deg: got 3.0; allowed: 5..90 deg"):
        gas_attenuation_db([30.0, 3.0], 20e9)
    with pytest.raises(ConfigError, match="frequency"):
        gas_zenith_attenuation_db(60e9)


def test_tr38811_tables():
    # published rows (Tables 6.6.2-1, -3 and 6.6.1-1)
    s, cl = shadow_fading_params("dense-urban", [10.0, 90.0], los=False, band="Ka")
    np.testing.assert_allclose(s, [17.1, 12.3])
    np.testing.assert_allclose(cl, [44.3, 32.9])
    s, cl = shadow_fading_params("suburban", 10.0, los=True, band="S")
    assert float(s) == 1.79 and float(cl) == 0.0
    s, cl = shadow_fading_params("urban", 35.0, los=False, fc=2e9)
    assert float(s) == 6.0 and abs(float(cl) - (29.0 + 27.7) / 2) < 1e-12
    assert abs(float(los_probability("suburban", 10.0)) - 0.782) < 1e-12
    assert float(los_probability("dense-urban", 90)) > float(los_probability("dense-urban", 10))
    rng = np.random.default_rng(7)
    x = sample_shadow_fading_db(rng, "dense-urban", np.full(20000, 10.0), los=False, fc=20e9)
    assert abs(np.std(x) - 17.1) < 0.4 and abs(np.mean(x)) < 0.4
    with pytest.raises(ConfigError, match="10..90 deg"):
        shadow_fading_params("urban", 5.0, band="S")
    with pytest.raises(ConfigError, match="scenario"):
        shadow_fading_params("forest", 30.0, band="S")
    with pytest.raises(ConfigError, match="rng"):
        sample_shadow_fading_db(None, "urban", 30.0, band="S")


def test_reflector_pattern():
    fc, g0 = 20e9, 38.5
    a = reflector_radius_for_gain(g0, fc, efficiency=0.65)
    # G = eta (pi D / lambda)^2 inverted
    assert abs(10 * math.log10(0.65 * (math.pi * 2 * a * fc / C) ** 2) - g0) < 1e-9
    assert float(reflector_gain_db(0.0, g0, a, fc)) == g0
    hp = half_power_beamwidth_deg(a, fc)
    assert abs(float(reflector_gain_db(hp / 2, g0, a, fc)) - (g0 - 3.0103)) < 0.02
    # first null of 2 J1(x)/x at x = 3.8317
    null = math.degrees(math.asin(3.8317 / (2 * math.pi * a * fc / C)))
    assert float(reflector_gain_db(null, g0, a, fc)) < g0 - 40
    # symmetric, and the first sidelobe is 17.6 dB down
    th = np.linspace(null * 1.01, null * 1.6, 400)
    assert abs(np.max(reflector_gain_db(th, g0, a, fc)) - (g0 - 17.57)) < 0.05
    np.testing.assert_allclose(reflector_gain_db(-th, g0, a, fc), reflector_gain_db(th, g0, a, fc))
    with pytest.raises(ConfigError, match="off_axis_deg"):
        reflector_gain_db(95.0, g0, a, fc)


def test_noise_snr_rate_downlink_and_uplink():
    assert abs(noise_power_dbw(1.0) - 10 * math.log10(1.380649e-23 * 290)) < 1e-12  # -204 dBW/Hz
    assert abs(noise_power_dbw(100e6, 3.0) - (noise_power_dbw(100e6) + 3.0)) < 1e-12
    lb = LinkBudget.seed_downlink(gases=False)
    d = 550e3
    prx = 30 + 38.5 + 39.7 - fspl_db(d, 20e9)
    assert abs(lb.received_power_dbw(d, 90.0) - prx) < 1e-9
    assert abs(lb.snr_db(d, 90.0) - (prx - lb.noise_power_dbw)) < 1e-9
    rate = lb.shannon_rate_bps(d, 90.0)
    assert abs(rate - 100e6 * math.log2(1 + 10 ** (lb.snr_db(d, 90.0) / 10))) < 1e-3
    assert float(shannon_rate_bps(0.0, 1e6)) == 1e6
    # beam off-axis loss applies on the satellite side in both directions
    off = 0.5 * half_power_beamwidth_deg(lb.sat_aperture_radius_m, lb.fc_hz)
    assert abs(lb.snr_db(d, 90.0) - lb.snr_db(d, 90.0, off_axis_deg=off) - 3.01) < 0.03
    ul = LinkBudget.seed_uplink(gases=False)
    off_ul = 0.5 * half_power_beamwidth_deg(ul.sat_aperture_radius_m, ul.fc_hz)
    assert abs(ul.received_power_dbw(d, 90.0) - (3.0 + 43.2 + 38.5 - fspl_db(d, 30e9))) < 1e-9
    assert abs(ul.snr_db(d, 90.0) - ul.snr_db(d, 90.0, off_axis_deg=off_ul) - 3.01) < 0.03
    # NLOS clutter loss and shadowing reduce SNR by exactly their dB
    nlos = lb.with_(scenario="suburban", los=False)
    assert abs(lb.snr_db(d, 30.0) - nlos.snr_db(d, 30.0) - 21.9) < 1e-9
    assert abs(lb.snr_db(d, 30.0) - lb.snr_db(d, 30.0, shadow_db=4.0) - 4.0) < 1e-12
    # amplitude for the emulator is the square root of the received / transmitted power
    assert abs(20 * math.log10(float(lb.amplitude(d, 90.0))) - (prx - 30)) < 1e-9


def test_linkbudget_errors():
    with pytest.raises(ConfigError, match="range_m"):
        fspl_db(-1.0, 2e9)
    with pytest.raises(ConfigError, match="direction"):
        LinkBudget(fc_hz=2e9, bandwidth_hz=1e6, tx_power_dbw=0, direction="sideways")
    with pytest.raises(ConfigError, match="bandwidth_hz"):
        LinkBudget(fc_hz=2e9, bandwidth_hz=0.0, tx_power_dbw=0)
    with pytest.raises(ConfigError, match="off_axis_deg"):
        LinkBudget(fc_hz=2e9, bandwidth_hz=1e6, tx_power_dbw=0).snr_db(1e6, 45.0, off_axis_deg=1.0)
    with pytest.raises(ConfigError, match="noise_figure_db"):
        noise_power_dbw(1e6, -1.0)


def test_linkbudget_is_a_config_dataclass():
    from hil.config import parse

    lb = parse(LinkBudget, {"fc_hz": 2e9, "bandwidth_hz": 5e6, "tx_power_dbw": 10, "scenario": "urban"})
    assert lb.scenario == "urban" and lb.gases
    with pytest.raises(ConfigError, match=r"link.scenario: got 'city'"):
        parse(LinkBudget, {"fc_hz": 2e9, "bandwidth_hz": 5e6, "tx_power_dbw": 10, "scenario": "city"}, path="link")
