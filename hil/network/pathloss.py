"""Path-loss models of node-pair links (all in dB; distances in m, heights in m, carrier in Hz).

* ``free_space``: 20 log10(4 pi d fc / c) (ITU-R P.525).
* ``satellite``: :class:`hil.orbit.LinkBudget` - free space + ITU-R P.676 gases at the ground end's
  elevation (1..54 GHz; below 1 GHz free space only). Between two satellites: free space.
* ``rma`` - 3GPP TR 38.901 V17 Table 7.4.1-1, RMa (terrestrial: a shore BS and a ship or vehicle)::

      PL1 = 20 log10(40 pi d3D fc/3) + min(0.03 h^1.72, 10) log10(d3D) - min(0.044 h^1.72, 14.77)
            + 0.002 log10(h) d3D                                          10 m <= d2D <= dBP
      PL2 = PL1(dBP) + 40 log10(d3D / dBP)                                dBP <= d2D <= 10 km
      dBP = 2 pi hBS hUT fc / c   (fc in Hz here; in GHz in the log terms)
      NLOS: max(PL_LOS, 161.04 - 7.1 log10(W) + 7.5 log10(h) - (24.37 - 3.7 (h/hBS)^2) log10(hBS)
                + (43.42 - 3.1 log10(hBS)) (log10(d3D) - 3) + 20 log10(fc) - (3.2 (log10(11.75 hUT))^2 - 4.97))
      LOS probability (Table 7.4.2-1): 1 for d2D <= 10 m, exp(-(d2D - 10) / 1000) beyond
      defaults h = 5 m (building height), W = 20 m (street width); stated range hBS 10..150 m,
      hUT 1..10 m, d2D 10 m..10 km (LOS) / 5 km (NLOS).

* ``rma_av`` - 3GPP TR 36.777 Annex B (Table B-1/B-2), RMa-AV (an aerial UE - the UAV - and a ground
  node; the maritime geometry of the seed paper is open and rural-like, so RMa-AV rather than UMa-AV)::

      hUT <= 10 m: the TR 38.901 RMa model above
      10 m < hUT <= 300 m:
        LOS  = max(23.9 - 1.8 log10(hUT), 20) log10(d3D) + 20 log10(40 pi fc / 3)
        NLOS = max(PL_LOS, -12 + (35 - 5.3 log10(hUT)) log10(d3D) + 20 log10(40 pi fc / 3))
      LOS probability: hUT <= 10 m: RMa; 10 < hUT <= 40 m: 1 for d2D <= d1, else
        d1/d2D + exp(-d2D/p1)(1 - d1/d2D), p1 = max(15021 log10(hUT) - 16053, 1000),
        d1 = max(1350.8 log10(hUT) - 1602, 18); hUT > 40 m: 1.
      stated range d2D <= 10 km, hUT <= 300 m.

``fc`` in GHz inside the 3GPP formulas (as the TRs write them); the functions take Hz. Outside the
stated ranges the formulas are evaluated as written (extrapolated) and :func:`validity` says where
the model is outside its range, so a scenario check can list it - nothing is clamped silently.
Shadow fading is not applied (its sigma is returned by :func:`shadow_sigma_db` for reports).
"""

from __future__ import annotations

import numpy as np

from hil.errors import ConfigError
from hil.orbit.constants import C_MPS

__all__ = ["fspl_db", "rma_los_db", "rma_nlos_db", "rma_los_probability", "rma_av_los_db", "rma_av_nlos_db",
           "rma_av_los_probability", "shadow_sigma_db", "validity", "MODELS"]

MODELS = ("free_space", "satellite", "rma", "rma_av")


def _a(x):
    return np.asarray(x, dtype=np.float64)


def fspl_db(d3d_m, fc_hz):
    """Free-space loss (dB)."""
    return 20.0 * np.log10(4.0 * np.pi * _a(d3d_m) * fc_hz / C_MPS)


def _breakpoint_m(h_bs, h_ut, fc_hz):
    return 2.0 * np.pi * _a(h_bs) * _a(h_ut) * fc_hz / C_MPS


def _rma_pl1(d3d, fc_ghz, h):
    hh = h ** 1.72
    return (20.0 * np.log10(40.0 * np.pi * d3d * fc_ghz / 3.0) + min(0.03 * hh, 10.0) * np.log10(d3d)
            - min(0.044 * hh, 14.77) + 0.002 * np.log10(h) * d3d)


def rma_los_db(d2d_m, h_bs_m, h_ut_m, fc_hz, *, h_building_m: float = 5.0):
    """TR 38.901 RMa LOS path loss (dB); ``d2d_m`` ground distance, heights above ground (m)."""
    d2d, hbs, hut = _a(d2d_m), _a(h_bs_m), _a(h_ut_m)
    fc = fc_hz / 1e9
    d3d = np.sqrt(d2d**2 + (hbs - hut) ** 2)
    dbp = _breakpoint_m(hbs, hut, fc_hz)
    pl1 = _rma_pl1(d3d, fc, h_building_m)
    # PL1(dBP): PL1 with its distance argument set to dBP, as the TR writes it
    pl2 = _rma_pl1(dbp, fc, h_building_m) + 40.0 * np.log10(d3d / dbp)
    return np.where(d2d <= dbp, pl1, pl2)


def rma_nlos_db(d2d_m, h_bs_m, h_ut_m, fc_hz, *, h_building_m: float = 5.0, street_width_m: float = 20.0):
    """TR 38.901 RMa NLOS path loss (dB): max(LOS, PL'_NLOS)."""
    d2d, hbs, hut = _a(d2d_m), _a(h_bs_m), _a(h_ut_m)
    fc = fc_hz / 1e9
    h, w = h_building_m, street_width_m
    d3d = np.sqrt(d2d**2 + (hbs - hut) ** 2)
    nl = (161.04 - 7.1 * np.log10(w) + 7.5 * np.log10(h) - (24.37 - 3.7 * (h / hbs) ** 2) * np.log10(hbs)
          + (43.42 - 3.1 * np.log10(hbs)) * (np.log10(d3d) - 3.0) + 20.0 * np.log10(fc)
          - (3.2 * np.log10(11.75 * hut) ** 2 - 4.97))
    return np.maximum(rma_los_db(d2d, hbs, hut, fc_hz, h_building_m=h_building_m), nl)


def rma_los_probability(d2d_m):
    """TR 38.901 Table 7.4.2-1, RMa."""
    d = _a(d2d_m)
    return np.where(d <= 10.0, 1.0, np.exp(-(d - 10.0) / 1000.0))


def rma_av_los_db(d2d_m, h_bs_m, h_ut_m, fc_hz):
    """TR 36.777 Table B-1 RMa-AV LOS (dB); ``h_ut_m`` the aerial UE's height; <= 10 m: TR 38.901 RMa."""
    d2d, hbs, hut = _a(d2d_m), _a(h_bs_m), _a(h_ut_m)
    fc = fc_hz / 1e9
    d3d = np.sqrt(d2d**2 + (hbs - hut) ** 2)
    hut_c = np.maximum(hut, 1e-3)
    air = np.maximum(23.9 - 1.8 * np.log10(hut_c), 20.0) * np.log10(d3d) + 20.0 * np.log10(40.0 * np.pi * fc / 3.0)
    return np.where(hut > 10.0, air, rma_los_db(d2d, hbs, np.minimum(hut, 10.0), fc_hz))


def rma_av_nlos_db(d2d_m, h_bs_m, h_ut_m, fc_hz):
    """TR 36.777 Table B-1 RMa-AV NLOS (dB); <= 10 m: TR 38.901 RMa NLOS."""
    d2d, hbs, hut = _a(d2d_m), _a(h_bs_m), _a(h_ut_m)
    fc = fc_hz / 1e9
    d3d = np.sqrt(d2d**2 + (hbs - hut) ** 2)
    hut_c = np.maximum(hut, 1e-3)
    air = np.maximum(rma_av_los_db(d2d, hbs, hut, fc_hz),
                     -12.0 + (35.0 - 5.3 * np.log10(hut_c)) * np.log10(d3d) + 20.0 * np.log10(40.0 * np.pi * fc / 3.0))
    return np.where(hut > 10.0, air, rma_nlos_db(d2d, hbs, np.minimum(hut, 10.0), fc_hz))


def rma_av_los_probability(d2d_m, h_ut_m):
    """TR 36.777 Table B-2, RMa-AV."""
    d2d, hut = _a(d2d_m), _a(h_ut_m)
    lh = np.log10(np.maximum(hut, 1e-3))
    p1 = np.maximum(15021.0 * lh - 16053.0, 1000.0)
    d1 = np.maximum(1350.8 * lh - 1602.0, 18.0)
    ds = np.maximum(d2d, 1e-9)
    mid = np.where(d2d <= d1, 1.0, d1 / ds + np.exp(-d2d / p1) * (1.0 - d1 / ds))
    return np.where(hut <= 10.0, rma_los_probability(d2d), np.where(hut <= 40.0, mid, 1.0))


def shadow_sigma_db(model: str, los, h_ut_m=1.5, d2d_m=0.0, h_bs_m=35.0, fc_hz=2e9):
    """Shadow-fading sigma (dB) the TR gives (not applied by the emulator; for reports)."""
    los = np.asarray(los, dtype=bool)
    if model == "rma":
        dbp = _breakpoint_m(h_bs_m, h_ut_m, fc_hz)
        return np.where(los, np.where(_a(d2d_m) <= dbp, 4.0, 6.0), 8.0)
    if model == "rma_av":
        hut = _a(h_ut_m)
        return np.where(hut > 10.0, np.where(los, 4.2 * np.exp(-0.0046 * hut), 6.0),
                        shadow_sigma_db("rma", los, hut, d2d_m, h_bs_m, fc_hz))
    if model in ("free_space", "satellite"):
        return np.zeros(los.shape)
    raise ConfigError.bad_value("model", model, ", ".join(MODELS))


def validity(model: str, d2d_m, h_bs_m, h_ut_m, los=True):
    """Boolean array: inside the TR's stated range (see the module doc)."""
    d2d, hbs, hut = _a(d2d_m), _a(h_bs_m), _a(h_ut_m)
    if model == "rma":
        dmax = np.where(np.asarray(los, dtype=bool), 10_000.0, 5_000.0)
        return (d2d >= 10.0) & (d2d <= dmax) & (hbs >= 10.0) & (hbs <= 150.0) & (hut >= 1.0) & (hut <= 10.0)
    if model == "rma_av":
        ground = validity("rma", d2d, hbs, np.minimum(hut, 10.0), los)
        return np.where(hut > 10.0, (d2d <= 10_000.0) & (hut <= 300.0) & (hbs >= 10.0) & (hbs <= 150.0), ground)
    return np.ones(np.broadcast(d2d, hbs, hut).shape, bool)
