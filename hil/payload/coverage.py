"""NTN coverage time slots of the regions, computed with :mod:`hil.orbit` from the constellation.

Each region is served by one satellite at a time (the paper: location-based handover to the nearest
satellite). A satellite's ``beams`` beams of ``beam_diameter_km`` cover ``beams * pi (d/2)^2`` km^2, so it
can serve at most ``regions_per_satellite`` regions at once (default: that area over a region's area, at
least 1; the paper's 7 x 20 km beams cover 2199 km^2: one 1200 km^2 region). Regions take satellites
greedily by slant range (nearest pair first) among those above the mask; with a capacity of at least the
number of regions this is exactly :func:`hil.orbit.serving_sequence` with ``rule="nearest"`` (tested).

A *slot* is a maximal run of samples with the same region -> satellite assignment (paper eq. 3). The
link rate of a region in a slot is the mean over the slot's samples of the rate at the serving
satellite's path loss (:meth:`hil.orbit.LinkBudget.path_loss_db`, FSPL + gases at ``carrier_hz``), mapped
linearly in dB between the paper's end points: ``rate_at_zenith_bps`` at the zenith path loss and
``rate_at_mask_bps`` at the mask-elevation path loss (130..300 Mbit/s in the paper).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from hil.errors import ConfigError
from hil.orbit import GroundStation, LinkBudget, geometry_many, load_constellation, slant_range_m

from .config import NtnConfig

__all__ = ["CoverageSlots", "compute_slots", "assign_nearest", "ntn_rate_bps", "regions_per_satellite"]


@dataclass
class CoverageSlots:
    """Slots ``k``: ``start_s[k]``, ``end_s[k]`` (s from the study start), ``sat[k, r]`` (-1: region r not
    covered), ``rate_bps[k, r]`` (0 where not covered), ``elevation_deg[k, r]`` (mean, NaN where not)."""

    start_s: np.ndarray
    end_s: np.ndarray
    sat: np.ndarray
    rate_bps: np.ndarray
    elevation_deg: np.ndarray
    constellation: str = ""
    n_satellites: int = 0

    @property
    def duration_s(self) -> np.ndarray:
        return self.end_s - self.start_s

    @property
    def n_slots(self) -> int:
        return int(self.start_s.size)

    @property
    def covered(self) -> np.ndarray:
        return self.sat >= 0

    def __repr__(self) -> str:
        d = self.duration_s
        return (f"CoverageSlots({self.constellation}, {self.n_slots} slots over {self.end_s[-1]:.0f} s, "
                f"duration {d.min():.0f}..{d.max():.0f} s, mean {d.mean():.1f} s)")


def regions_per_satellite(cfg: NtnConfig, region_area_km2: float) -> int:
    if cfg.regions_per_satellite:
        return int(cfg.regions_per_satellite)
    beam_area = cfg.beams * math.pi * (cfg.beam_diameter_km / 2.0) ** 2
    return max(1, int(beam_area // region_area_km2))


def ntn_rate_bps(path_loss_db, cfg: NtnConfig, pl_zenith_db: float, pl_mask_db: float):
    """Link rate (bit/s) at ``path_loss_db``: linear in dB between the zenith and mask-elevation losses."""
    x = (np.asarray(path_loss_db, dtype=np.float64) - pl_zenith_db) / (pl_mask_db - pl_zenith_db)
    return cfg.rate_at_zenith_bps + (cfg.rate_at_mask_bps - cfg.rate_at_zenith_bps) * x


def assign_nearest(range_m: np.ndarray, visible: np.ndarray, capacity: int) -> np.ndarray:
    """Greedy nearest assignment per time: ``range_m`` and ``visible`` are (R, S, T); returns (R, T)
    satellite indices (-1: none left). Repeatedly the closest (region, satellite) pair among unassigned
    regions and satellites with capacity left is taken; ties go to the lower region, then satellite."""
    n_r, n_s, n_t = range_m.shape
    d = np.where(visible, range_m, np.inf)
    out = np.full((n_r, n_t), -1, dtype=np.int64)
    load = np.zeros((n_s, n_t), dtype=np.int64)
    done = np.zeros((n_r, n_t), dtype=bool)
    cols = np.arange(n_t)
    for _ in range(n_r):
        flat = d.reshape(n_r * n_s, n_t)
        best = np.argmin(flat, axis=0)
        ok = np.isfinite(flat[best, cols])
        r, s = np.divmod(best, n_s)
        out[r[ok], cols[ok]] = s[ok]
        done[r[ok], cols[ok]] = True
        d[r[ok], :, cols[ok]] = np.inf  # region served
        load[s[ok], cols[ok]] += 1
        full = load[s, cols] >= capacity
        sel = ok & full
        d[:, s[sel], cols[sel]] = np.inf  # satellite at capacity
        if not ok.any():
            break
    return out


def compute_slots(cfg: NtnConfig, centres, region_area_km2: float, *, constellation=None,
                  progress=None) -> CoverageSlots:
    """Coverage slots of the region centres over ``[start_s, start_s + horizon_s)`` sampled every ``step_s``."""
    cons = load_constellation(cfg.constellation, epoch=cfg.epoch) if constellation is None else constellation
    grounds = [GroundStation(float(a), float(o)) for a, o in centres]
    cap = regions_per_satellite(cfg, region_area_km2)
    n = int(math.floor(cfg.horizon_s / cfg.step_s + 1e-9))
    t = cfg.start_s + cfg.step_s * np.arange(n)
    lb = LinkBudget.seed_downlink(fc_hz=cfg.carrier_hz)
    alt = 550e3
    if hasattr(cons, "altitude_km"):
        alt = cons.altitude_km * 1e3
    pl_zen = float(lb.path_loss_db(slant_range_m(90.0, alt), 90.0))
    pl_mask = float(lb.path_loss_db(slant_range_m(max(cfg.mask_deg, 5.0), alt), max(cfg.mask_deg, 5.0)))
    sat = np.empty((len(grounds), n), dtype=np.int64)
    rate = np.zeros((len(grounds), n))
    elev = np.full((len(grounds), n), np.nan)
    chunk = max(1, 200_000 // len(cons))
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        geos = geometry_many(cons, grounds, t[a:b], epoch=cfg.epoch, accel=False)
        rng_m = np.stack([g.range_m for g in geos])
        el = np.stack([g.elevation_deg for g in geos])
        s = assign_nearest(rng_m, el >= cfg.mask_deg, cap)
        sat[:, a:b] = s
        for r in range(len(grounds)):
            ok = s[r] >= 0
            if ok.any():
                cols = np.nonzero(ok)[0]
                e = el[r, s[r, cols], cols]
                pl = lb.path_loss_db(rng_m[r, s[r, cols], cols], np.clip(e, 5.0, 90.0))
                rate[r, a + cols] = ntn_rate_bps(pl, cfg, pl_zen, pl_mask)
                elev[r, a + cols] = e
        if progress is not None:
            progress(b - a)
    if n == 0:
        raise ConfigError.bad_value("ntn.horizon_s", cfg.horizon_s, f">= step_s ({cfg.step_s} s)")
    change = np.nonzero(np.any(sat[:, 1:] != sat[:, :-1], axis=0))[0] + 1
    bounds = np.concatenate([[0], change, [n]])
    k0, k1 = bounds[:-1], bounds[1:]
    start = t[k0] - cfg.start_s
    end = np.append(t[k1[:-1]], t[-1] + cfg.step_s) - cfg.start_s
    ss = sat[:, k0].T.copy()
    rr = np.stack([rate[:, i:j].mean(axis=1) for i, j in zip(k0, k1)])
    with warnings.catch_warnings():  # a region without a satellite in a slot: NaN, on purpose
        warnings.simplefilter("ignore", RuntimeWarning)
        ee = np.stack([np.nanmean(elev[:, i:j], axis=1) for i, j in zip(k0, k1)])
    return CoverageSlots(start, end, ss, rr, ee, getattr(cons, "name", str(cfg.constellation)), len(cons))
