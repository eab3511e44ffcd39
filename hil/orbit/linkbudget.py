"""NTN link budget: free-space loss, atmospheric gases, TR 38.811 shadow fading / clutter loss, antenna
gains (circular-aperture reflector), noise, SNR and Shannon rate, for downlink and uplink.

Models (each a plain function, composed by :class:`LinkBudget`):

* free-space path loss ``20 log10(4 pi d f / c)`` (ITU-R P.525; TR 38.811 eq. 6.6-2 up to rounding);
* atmospheric gases, ITU-R P.676 *simplified* (the Annex 2 approximation of P.676-9/-10): specific
  attenuation of dry air (f <= 54 GHz branch) and water vapour from surface pressure, temperature and
  water-vapour density, times the equivalent heights, divided by sin(elevation) (valid 5..90 deg,
  1..54 GHz here; TR 38.811 sec. 6.6.4 uses the same cosecant law above 10 deg). Standard atmosphere
  defaults: 1013.25 hPa, 15 C, 7.5 g/m^3 -> 0.26 dB at zenith at 20 GHz;
* TR 38.811 Table 6.6.2-1/-2/-3 shadow-fading sigma (LOS, NLOS) and clutter loss (NLOS) by scenario,
  band (S, Ka) and elevation (10..90 deg, linear between the 10-deg rows), and Table 6.6.1-1 LOS
  probability;
* antenna: TR 38.811 sec. 6.4.1 reflector pattern ``G(theta) = Gmax |2 J1(k a sin theta) / (k a sin theta)|^2``;
* noise ``k T B`` with ``T = T_ant + T0 (F - 1)``, T0 = 290 K; SNR; Shannon rate ``B log2(1 + snr)``.

The seed's figures (30 dBW, 38.5 dBi TX, 39.7 dBi RX, 100 MHz) are :meth:`LinkBudget.seed_downlink`. Its
path-loss span (173.4 dB at 90 deg, 184.9 dB at 10 deg, 550 km) is reproduced by FSPL + gases at
20 GHz (Ka-band downlink): 173.5 dB and 185.0 dB (see docs/orbit.md for the carrier derivation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from hil.config import spec
from hil.errors import ConfigError, check_choice, check_range

from .constants import C_MPS, K_BOLTZMANN

__all__ = ["fspl_db", "gas_specific_attenuation_db_per_km", "gas_equivalent_heights_km",
           "gas_zenith_attenuation_db", "gas_attenuation_db", "SCENARIOS", "shadow_fading_params",
           "los_probability", "sample_shadow_fading_db", "reflector_gain_db", "reflector_radius_for_gain",
           "half_power_beamwidth_deg", "noise_power_dbw", "shannon_rate_bps", "LinkBudget", "BAND_SPLIT_HZ"]

T0_K = 290.0


def fspl_db(range_m, fc):
    """Free-space path loss (dB) over ``range_m`` (m) at carrier ``fc`` (Hz)."""
    d = np.asarray(range_m, dtype=np.float64)
    if np.any(d <= 0) or not np.all(np.isfinite(d)):
        raise ConfigError.bad_value("range_m", d.min() if d.size else d, "> 0 m (finite)")
    check_range("fc", float(fc), 1e6, 1e12, unit="Hz")
    return 20.0 * np.log10(4.0 * np.pi * d * float(fc) / C_MPS)


# ----------------------------------------------------------------------------------- gases (P.676)
def _phi(rp, rt, a, b, c, d):
    return rp**a * rt**b * math.exp(c * (1.0 - rp) + d * (1.0 - rt))


def _check_atm(f_ghz, pressure_hpa, temperature_c, rho_gm3):
    check_range("frequency", f_ghz, 1.0, 54.0, unit="GHz (simplified P.676 model)")
    check_range("pressure_hpa", pressure_hpa, 100.0, 1100.0, unit="hPa")
    check_range("temperature_c", temperature_c, -60.0, 60.0, unit="C")
    check_range("rho_gm3", rho_gm3, 0.0, 50.0, unit="g/m^3")


def gas_specific_attenuation_db_per_km(fc, *, pressure_hpa: float = 1013.25, temperature_c: float = 15.0,
                                       rho_gm3: float = 7.5) -> tuple[float, float]:
    """Specific attenuation (dB/km) of dry air and of water vapour at the surface (P.676 Annex 2)."""
    f = float(fc) / 1e9
    _check_atm(f, pressure_hpa, temperature_c, rho_gm3)
    rp = pressure_hpa / 1013.0
    rt = 288.0 / (273.0 + temperature_c)
    x1 = _phi(rp, rt, 0.0717, -1.8132, 0.0156, -1.6515)
    x2 = _phi(rp, rt, 0.5146, -4.6368, -0.1921, -5.7416)
    x3 = _phi(rp, rt, 0.3414, -6.5851, 0.2130, -8.5854)
    g_o = (7.2 * rt**2.8 / (f * f + 0.34 * rp * rp * rt**1.6)
           + 0.62 * x3 / ((54.0 - f) ** (1.16 * x1) + 0.83 * x2)) * f * f * rp * rp * 1e-3
    eta1 = 0.955 * rp * rt**0.68 + 0.006 * rho_gm3
    eta2 = 0.735 * rp * rt**0.5 + 0.0353 * rt**4 * rho_gm3

    def g(fi):
        return 1.0 + ((f - fi) / (f + fi)) ** 2

    e1 = 1.0 - rt
    g_w = (3.98 * eta1 * math.exp(2.23 * e1) / ((f - 22.235) ** 2 + 9.42 * eta1**2) * g(22.0)
           + 11.96 * eta1 * math.exp(0.7 * e1) / ((f - 183.31) ** 2 + 11.14 * eta1**2)
           + 0.081 * eta1 * math.exp(6.44 * e1) / ((f - 321.226) ** 2 + 6.29 * eta1**2)
           + 3.66 * eta1 * math.exp(1.6 * e1) / ((f - 325.153) ** 2 + 9.22 * eta1**2)
           + 25.37 * eta1 * math.exp(1.09 * e1) / (f - 380.0) ** 2
           + 17.4 * eta1 * math.exp(1.46 * e1) / (f - 448.0) ** 2
           + 844.6 * eta1 * math.exp(0.17 * e1) / (f - 557.0) ** 2 * g(557.0)
           + 290.0 * eta1 * math.exp(0.41 * e1) / (f - 752.0) ** 2 * g(752.0)
           + 8.3328e4 * eta2 * math.exp(0.99 * e1) / (f - 1780.0) ** 2 * g(1780.0)
           ) * f * f * rt**2.5 * rho_gm3 * 1e-4
    return g_o, g_w


def gas_equivalent_heights_km(fc, *, pressure_hpa: float = 1013.25) -> tuple[float, float]:
    """Equivalent heights (km) of dry air and water vapour (P.676 Annex 2)."""
    f = float(fc) / 1e9
    _check_atm(f, pressure_hpa, 15.0, 7.5)
    rp = pressure_hpa / 1013.0
    t1 = 4.64 / (1.0 + 0.066 * rp**-2.3) * math.exp(-(((f - 59.7) / (2.87 + 12.4 * math.exp(-7.9 * rp))) ** 2))
    t2 = 0.14 * math.exp(2.12 * rp) / ((f - 118.75) ** 2 + 0.031 * math.exp(2.2 * rp))
    t3 = (0.0114 / (1.0 + 0.14 * rp**-2.6) * f * (-0.0247 + 0.0001 * f + 1.61e-6 * f * f)
          / (1.0 - 0.0169 * f + 4.1e-5 * f * f + 3.2e-7 * f**3))
    h_o = 6.1 / (1.0 + 0.17 * rp**-1.1) * (1.0 + t1 + t2 + t3)
    h_o = min(h_o, 10.7 * rp**0.3)  # the Recommendation's cap below 70 GHz
    sw = 1.013 / (1.0 + math.exp(-8.6 * (rp - 0.57)))
    h_w = 1.66 * (1.0 + 1.39 * sw / ((f - 22.235) ** 2 + 2.56 * sw) + 3.37 * sw / ((f - 183.31) ** 2 + 4.69 * sw)
                  + 1.58 * sw / ((f - 325.1) ** 2 + 2.89 * sw))
    return h_o, h_w


def gas_zenith_attenuation_db(fc, *, pressure_hpa: float = 1013.25, temperature_c: float = 15.0,
                              rho_gm3: float = 7.5) -> float:
    """Zenith attenuation (dB) by oxygen and water vapour (P.676 Annex 2, equivalent heights)."""
    g_o, g_w = gas_specific_attenuation_db_per_km(fc, pressure_hpa=pressure_hpa, temperature_c=temperature_c,
                                                  rho_gm3=rho_gm3)
    h_o, h_w = gas_equivalent_heights_km(fc, pressure_hpa=pressure_hpa)
    return g_o * h_o + g_w * h_w


def gas_attenuation_db(elevation_deg, fc, **atm):
    """Slant-path gas attenuation (dB) at ``elevation_deg`` (5..90 deg): zenith value / sin(elevation)."""
    el = np.asarray(elevation_deg, dtype=np.float64)
    if el.size and (not np.all(np.isfinite(el)) or el.min() < 5.0 or el.max() > 90.0):
        bad = el[~((el >= 5.0) & (el <= 90.0))].flat[0]
        raise ConfigError.bad_value("elevation_deg", float(bad), "5..90 deg (cosecant law of P.676 Annex 2)")
    return gas_zenith_attenuation_db(fc, **atm) / np.sin(np.radians(el))


# ------------------------------------------------------------------------- TR 38.811 SF / CL tables
_ELEV_ROWS = np.arange(10.0, 91.0, 10.0)
# columns: S-band sigma LOS, sigma NLOS, clutter loss NLOS; Ka-band sigma LOS, sigma NLOS, clutter loss NLOS (dB)
_SFCL = {
    "dense-urban": np.array([
        [3.5, 15.5, 34.3, 2.9, 17.1, 44.3], [3.4, 13.9, 30.9, 2.4, 17.1, 39.9],
        [2.9, 12.4, 29.0, 2.7, 15.6, 37.5], [3.0, 11.7, 27.7, 2.4, 14.6, 35.8],
        [3.1, 10.6, 26.8, 2.4, 14.2, 34.6], [2.7, 10.5, 26.2, 2.7, 12.6, 33.8],
        [2.5, 10.1, 25.8, 2.6, 12.1, 33.3], [2.3, 9.2, 25.5, 2.8, 12.3, 33.0],
        [1.2, 9.2, 25.5, 0.6, 12.3, 32.9]]),
    "urban": np.array([
        [4, 6, 34.3, 4, 6, 44.3], [4, 6, 30.9, 4, 6, 39.9], [4, 6, 29.0, 4, 6, 37.5],
        [4, 6, 27.7, 4, 6, 35.8], [4, 6, 26.8, 4, 6, 34.6], [4, 6, 26.2, 4, 6, 33.8],
        [4, 6, 25.8, 4, 6, 33.3], [4, 6, 25.5, 4, 6, 33.0], [4, 6, 25.5, 4, 6, 32.9]], dtype=float),
    "suburban": np.array([
        [1.79, 8.93, 19.52, 1.9, 10.7, 29.5], [1.14, 9.08, 18.17, 1.6, 10.0, 24.6],
        [1.14, 8.78, 18.42, 1.9, 11.2, 21.9], [0.92, 10.25, 18.28, 2.3, 11.6, 20.0],
        [1.42, 10.56, 18.63, 2.7, 11.8, 18.7], [1.56, 10.74, 17.68, 3.1, 10.8, 17.8],
        [0.85, 10.17, 16.5, 3.0, 10.8, 17.2], [0.72, 11.52, 16.3, 3.6, 10.8, 16.9],
        [0.72, 11.52, 16.3, 0.4, 10.8, 16.8]]),
}
_SFCL["rural"] = _SFCL["suburban"]  # TR 38.811 gives one table for suburban and rural
# LOS probability (%) Table 6.6.1-1
_PLOS = {
    "dense-urban": np.array([28.2, 33.1, 39.8, 46.8, 53.7, 61.2, 73.8, 82.0, 98.1]),
    "urban": np.array([24.6, 38.6, 49.3, 61.3, 72.6, 80.5, 91.9, 96.8, 99.2]),
    "suburban": np.array([78.2, 86.9, 91.9, 92.9, 93.5, 94.0, 94.9, 95.2, 99.8]),
}
_PLOS["rural"] = _PLOS["suburban"]
SCENARIOS = ("dense-urban", "urban", "suburban", "rural")
#: carriers below this use the S-band columns of the TR 38.811 tables, at or above it the Ka-band ones
BAND_SPLIT_HZ = 13e9


def _elev_interp(elevation_deg, col):
    el = np.asarray(elevation_deg, dtype=np.float64)
    if el.size and (not np.all(np.isfinite(el)) or el.min() < 10.0 or el.max() > 90.0):
        bad = el[~((el >= 10.0) & (el <= 90.0))].flat[0]
        raise ConfigError.bad_value("elevation_deg", float(bad), "10..90 deg (rows of the TR 38.811 tables)")
    return np.interp(el, _ELEV_ROWS, col)


def _band(band: str, fc) -> str:
    check_choice("band", band, ("auto", "S", "Ka"))
    if band != "auto":
        return band
    if fc is None:
        raise ConfigError.bad_value("fc", None, "a carrier (Hz) when band='auto'")
    return "S" if float(fc) < BAND_SPLIT_HZ else "Ka"


def shadow_fading_params(scenario: str, elevation_deg, *, los: bool = True, band: str = "auto", fc=None):
    """TR 38.811 shadow-fading sigma (dB) and clutter loss (dB, 0 for LOS) at ``elevation_deg``.

    ``band`` is "S", "Ka" or "auto" (from ``fc``: S below 13 GHz). Linear between the 10-deg rows.
    """
    check_choice("scenario", scenario, SCENARIOS)
    b = _band(band, fc)
    tab = _SFCL[scenario]
    off = 0 if b == "S" else 3
    if los:
        return _elev_interp(elevation_deg, tab[:, off]), np.zeros_like(np.asarray(elevation_deg, dtype=float))
    return _elev_interp(elevation_deg, tab[:, off + 1]), _elev_interp(elevation_deg, tab[:, off + 2])


def los_probability(scenario: str, elevation_deg):
    """TR 38.811 Table 6.6.1-1 LOS probability (0..1) at ``elevation_deg`` (linear between rows)."""
    check_choice("scenario", scenario, SCENARIOS)
    return _elev_interp(elevation_deg, _PLOS[scenario]) / 100.0


def sample_shadow_fading_db(rng: np.random.Generator, scenario: str, elevation_deg, *, los: bool = True,
                            band: str = "auto", fc=None):
    """Draws of the log-normal shadow fading (dB, zero mean) with the table's sigma; ``rng`` is required."""
    if not isinstance(rng, np.random.Generator):
        raise ConfigError.bad_value("rng", rng, "a numpy.random.Generator")
    sigma, _ = shadow_fading_params(scenario, elevation_deg, los=los, band=band, fc=fc)
    return rng.normal(0.0, 1.0, np.shape(sigma)) * sigma


# ------------------------------------------------------------------------------------------ antenna
def reflector_gain_db(off_axis_deg, peak_gain_dbi: float, aperture_radius_m: float, fc):
    """Gain (dBi) of a circular-aperture reflector ``off_axis_deg`` from boresight (TR 38.811 6.4.1).

    ``G = Gmax * |2 J1(x) / x|^2`` with ``x = 2 pi a f / c * sin(theta)``; the pattern's nulls are
    -inf dB (exact zeros of J1).
    """
    from scipy.special import j1

    check_range("aperture_radius_m", aperture_radius_m, 1e-3, 1e3, unit="m")
    check_range("fc", float(fc), 1e6, 1e12, unit="Hz")
    th = np.radians(np.asarray(off_axis_deg, dtype=np.float64))
    if th.size and (np.abs(th).max() > np.pi / 2 or not np.all(np.isfinite(th))):
        raise ConfigError.bad_value("off_axis_deg", float(np.degrees(np.abs(th)).max()), "-90..90 deg")
    x = 2.0 * np.pi * aperture_radius_m * float(fc) / C_MPS * np.sin(th)
    with np.errstate(divide="ignore", invalid="ignore"):
        patt = np.where(np.abs(x) < 1e-9, 1.0, (2.0 * j1(x) / np.where(x == 0, 1.0, x)) ** 2)
        return peak_gain_dbi + 10.0 * np.log10(patt)


def reflector_radius_for_gain(peak_gain_dbi: float, fc, efficiency: float = 0.65) -> float:
    """Aperture radius (m) of a dish with ``peak_gain_dbi`` at ``fc``: G = eta (pi D / lambda)^2."""
    check_range("efficiency", efficiency, 0.01, 1.0)
    lam = C_MPS / float(fc)
    return 0.5 * lam / math.pi * math.sqrt(10.0 ** (peak_gain_dbi / 10.0) / efficiency)


def half_power_beamwidth_deg(aperture_radius_m: float, fc) -> float:
    """Full -3 dB beamwidth (deg) of the 2 J1(x)/x pattern: x = 1.6163 at the -3 dB point."""
    k = 2.0 * math.pi * float(fc) / C_MPS
    return 2.0 * math.degrees(math.asin(min(1.0, 1.6163 / (k * aperture_radius_m))))


# ---------------------------------------------------------------------------------- noise and rate
def noise_power_dbw(bandwidth_hz: float, noise_figure_db: float = 0.0, antenna_temperature_k: float = T0_K):
    """Noise power (dBW) in ``bandwidth_hz``: k (T_ant + T0 (F - 1)) B, T0 = 290 K."""
    check_range("bandwidth_hz", bandwidth_hz, 1.0, 1e11, unit="Hz")
    check_range("noise_figure_db", noise_figure_db, 0.0, 30.0, unit="dB")
    check_range("antenna_temperature_k", antenna_temperature_k, 0.0, 1e5, unit="K")
    t_sys = antenna_temperature_k + T0_K * (10.0 ** (noise_figure_db / 10.0) - 1.0)
    if t_sys <= 0:
        raise ConfigError.bad_value("system temperature", t_sys, "> 0 K (raise the noise figure or T_ant)")
    return 10.0 * math.log10(K_BOLTZMANN * t_sys * bandwidth_hz)


def shannon_rate_bps(snr_db, bandwidth_hz: float):
    """Shannon capacity (bit/s) ``B log2(1 + snr)``."""
    check_range("bandwidth_hz", bandwidth_hz, 1.0, 1e11, unit="Hz")
    return bandwidth_hz * np.log2(1.0 + 10.0 ** (np.asarray(snr_db, dtype=np.float64) / 10.0))


# -------------------------------------------------------------------------------------- LinkBudget
@dataclass(frozen=True)
class LinkBudget:
    """One direction of a satellite link (downlink: satellite transmits; uplink: ground transmits).

    Loss = FSPL + gases (if ``gases``) + clutter loss (if ``scenario`` set and ``los`` False) + ``extra_loss_db``.
    Shadow fading is a zero-mean random term: pass ``shadow_db`` (e.g. from :func:`sample_shadow_fading_db`).
    Satellite beam off-axis loss uses the reflector pattern when ``sat_aperture_radius_m`` is set.
    """

    fc_hz: float = field(metadata=spec(gt=0, unit="Hz", doc="carrier frequency"))
    bandwidth_hz: float = field(metadata=spec(gt=0, unit="Hz", doc="noise / signal bandwidth"))
    tx_power_dbw: float = field(metadata=spec(ge=-100, le=100, unit="dBW", doc="transmit power"))
    tx_gain_dbi: float = field(default=0.0, metadata=spec(ge=-50, le=80, unit="dBi"))
    rx_gain_dbi: float = field(default=0.0, metadata=spec(ge=-50, le=80, unit="dBi"))
    noise_figure_db: float = field(default=0.0, metadata=spec(ge=0, le=30, unit="dB"))
    antenna_temperature_k: float = field(default=290.0, metadata=spec(ge=0, le=1e5, unit="K"))
    direction: str = field(default="downlink", metadata=spec(choices=("downlink", "uplink")))
    gases: bool = True
    pressure_hpa: float = field(default=1013.25, metadata=spec(ge=100, le=1100, unit="hPa"))
    temperature_c: float = field(default=15.0, metadata=spec(ge=-60, le=60, unit="C"))
    rho_gm3: float = field(default=7.5, metadata=spec(ge=0, le=50, unit="g/m^3"))
    scenario: str = field(default="none", metadata=spec(choices=("none",) + SCENARIOS))
    los: bool = True
    extra_loss_db: float = field(default=0.0, metadata=spec(ge=0, le=100, unit="dB"))
    sat_aperture_radius_m: float | None = field(default=None, metadata=spec(gt=0, le=100, unit="m"))

    def __post_init__(self):
        check_range("fc_hz", self.fc_hz, 1e6, 1e12, unit="Hz")
        check_range("bandwidth_hz", self.bandwidth_hz, 1.0, 1e11, unit="Hz")
        check_choice("direction", self.direction, ("downlink", "uplink"))
        check_choice("scenario", self.scenario, ("none",) + SCENARIOS)

    validate = __post_init__

    # -- presets
    @classmethod
    def seed_downlink(cls, **overrides) -> LinkBudget:
        """The seed paper's NTN link: 30 dBW, 38.5 dBi TX, 39.7 dBi RX, 100 MHz, Ka-band 20 GHz.

        The noise figure (1.2 dB) and the antenna temperature (290 K) are not in the seed: they are
        assumptions (a VSAT-class receiver); override them as needed.
        """
        base = dict(fc_hz=20e9, bandwidth_hz=100e6, tx_power_dbw=30.0, tx_gain_dbi=38.5, rx_gain_dbi=39.7,
                    noise_figure_db=1.2, direction="downlink",
                    sat_aperture_radius_m=reflector_radius_for_gain(38.5, 20e9))
        base.update(overrides)
        return cls(**base)

    @classmethod
    def seed_uplink(cls, **overrides) -> LinkBudget:
        """An illustrative Ka-band uplink to the same satellite (30 GHz, 2 W VSAT, 43.2 dBi / 38.5 dBi).

        Not from the seed (which gives downlink figures only): magnitudes of a VSAT return link; the
        satellite receive noise figure (2 dB) is an assumption.
        """
        base = dict(fc_hz=30e9, bandwidth_hz=100e6, tx_power_dbw=3.0, tx_gain_dbi=43.2, rx_gain_dbi=38.5,
                    noise_figure_db=2.0, direction="uplink",
                    sat_aperture_radius_m=reflector_radius_for_gain(38.5, 30e9))
        base.update(overrides)
        return cls(**base)

    def with_(self, **changes) -> LinkBudget:
        return replace(self, **changes)

    # -- terms
    def path_loss_db(self, range_m, elevation_deg):
        """Deterministic path loss (dB): FSPL + gases + clutter (NLOS) + extra."""
        loss = fspl_db(range_m, self.fc_hz)
        if self.gases:
            loss = loss + gas_attenuation_db(elevation_deg, self.fc_hz, pressure_hpa=self.pressure_hpa,
                                             temperature_c=self.temperature_c, rho_gm3=self.rho_gm3)
        if self.scenario != "none" and not self.los:
            _, cl = shadow_fading_params(self.scenario, elevation_deg, los=False, fc=self.fc_hz)
            loss = loss + cl
        return loss + self.extra_loss_db

    def sat_gain_dbi(self, off_axis_deg=0.0):
        """Satellite antenna gain (dBi) ``off_axis_deg`` from its beam centre."""
        peak = self.tx_gain_dbi if self.direction == "downlink" else self.rx_gain_dbi
        if self.sat_aperture_radius_m is None:
            if np.any(np.asarray(off_axis_deg) != 0):
                raise ConfigError.bad_value("off_axis_deg", off_axis_deg,
                                            "0 unless sat_aperture_radius_m is set (no pattern known)")
            return np.full(np.shape(off_axis_deg), peak, dtype=float) if np.ndim(off_axis_deg) else float(peak)
        return reflector_gain_db(off_axis_deg, peak, self.sat_aperture_radius_m, self.fc_hz)

    def received_power_dbw(self, range_m, elevation_deg, *, off_axis_deg=0.0, shadow_db=0.0):
        """Received power (dBW)."""
        sat = self.sat_gain_dbi(off_axis_deg)
        ground = self.rx_gain_dbi if self.direction == "downlink" else self.tx_gain_dbi
        return (self.tx_power_dbw + sat + ground - self.path_loss_db(range_m, elevation_deg)
                - np.asarray(shadow_db, dtype=float))

    @property
    def noise_power_dbw(self) -> float:
        """k T_sys B (dBW)."""
        return noise_power_dbw(self.bandwidth_hz, self.noise_figure_db, self.antenna_temperature_k)

    def snr_db(self, range_m, elevation_deg, *, off_axis_deg=0.0, shadow_db=0.0):
        """SNR (dB) over the bandwidth."""
        return self.received_power_dbw(range_m, elevation_deg, off_axis_deg=off_axis_deg,
                                       shadow_db=shadow_db) - self.noise_power_dbw

    def shannon_rate_bps(self, range_m, elevation_deg, **kw):
        """Shannon rate (bit/s) over the bandwidth."""
        return shannon_rate_bps(self.snr_db(range_m, elevation_deg, **kw), self.bandwidth_hz)

    def amplitude(self, range_m, elevation_deg, **kw):
        """Linear amplitude gain sqrt(P_rx / P_tx) for the emulator (includes both antenna gains)."""
        db = self.received_power_dbw(range_m, elevation_deg, **kw) - self.tx_power_dbw
        return 10.0 ** (np.asarray(db) / 20.0)
