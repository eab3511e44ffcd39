"""A link derived from a node pair: the trajectory interface :mod:`hil.emulator.link` uses.

:class:`PairTrajectory` (``tx`` node -> ``rx`` node, carrier ``fc``) has ``delay(t)``, ``delay_rate(t)``,
``path_loss_db(t)``, ``visible(t)``, ``elevation(t)`` and ``discontinuities(t0, t1)`` (``t`` in s since the
network epoch), so :class:`hil.emulator.link.Link` drives the same delay-line kernel with it (one delay
line per link). Both ends move:

    tau(t)        = |r_rx(t) - r_tx(t)| / c                   (instantaneous range, light time not solved)
    dtau/dt       = (r_rx - r_tx) . (v_rx - v_tx) / (|r_rx - r_tx| c)
    Doppler       = -fc dtau/dt                               (two-ended)

Path loss: ``model`` (see :mod:`hil.network.pathloss`), chosen from the node kinds when ``auto``:
satellite-ground: ``satellite`` (hil.orbit.LinkBudget, free space + P.676 gases at the ground end's
elevation); satellite-satellite and UAV-UAV: ``free_space``; UAV-ground: ``rma_av`` (TR 36.777);
ground-ground: ``rma`` (TR 38.901). Heights above the ellipsoid stand for heights above ground (a sea
surface at 0 m). Net loss = path loss - TX antenna gain toward RX - RX antenna gain toward TX (dB), so
:meth:`path_loss_db` may be negative for high-gain antennas at short range.

Line of sight (3GPP models): ``los="los"`` / ``"nlos"`` fixes it; ``"random"`` draws it every
``los_interval_s`` (s) from the model's LOS probability at the interval's start, from a counter-based
hash of (seed, interval index): reproducible, the same however the time axis is cut. Path loss steps at
an interval boundary (the kernel's gain is linear in dB across the one segment that holds the step).

Visibility: a satellite end needs the ground end's elevation >= ``mask_deg``; two satellites need the
straight line between them to clear the Earth by 100 km (atmosphere); two non-satellite nodes need
``d2D <= sqrt(2 k R h1) + sqrt(2 k R h2)`` (radio horizon, k = 4/3 standard refraction).
"""

from __future__ import annotations

import numpy as np

from hil.errors import ConfigError, check_range
from hil.orbit import ecef_to_geodetic
from hil.orbit.constants import C_MPS, R_EARTH_MEAN_M

from . import pathloss as pl
from .motion import enu_axes
from .nodes import Node

__all__ = ["PairTrajectory", "choose_model", "LOS_MODES", "GRAZING_M", "K_REFRACTION"]

LOS_MODES = ("los", "nlos", "random")
GRAZING_M = 100e3        # a satellite-satellite line must clear the Earth by this much
K_REFRACTION = 4.0 / 3.0  # effective Earth radius factor of the terrestrial radio horizon


def choose_model(a: Node, b: Node) -> str:
    """The ``auto`` path-loss model of a node pair."""
    sats = a.is_satellite + b.is_satellite
    if sats == 2:
        return "free_space"
    if sats == 1:
        return "satellite"
    uavs = (a.kind == "uav") + (b.kind == "uav")
    if uavs == 2:
        return "free_space"
    if uavs == 1:
        return "rma_av"
    return "rma"


def _mix64(x):
    """SplitMix64 finaliser on uint64 arrays (counter-based uniform numbers for the LOS draws)."""
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)).astype(np.uint64)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


class PairTrajectory:
    """The trajectory of the one-way link ``tx`` -> ``rx`` at carrier ``carrier_hz`` (see the module doc).

    ``locate(name, t)``: positions of other nodes (antennas steered at a third node); ``budget``: a
    :class:`hil.orbit.LinkBudget` for the ``satellite`` model (default: free space + gases at fc);
    ``tx_antenna`` / ``rx_antenna``: this link's antenna at either end (default: the node's own);
    ``t0``/``t1``: the span (s) the emulator may ask for (None: unbounded). ``fixed_delay_s``: a constant
    delay (s) added to the geometric one (cables, processing - and what lets a link shorter than the
    interpolator's look-ahead, taps/2 samples, e.g. 1.25 km at 1.92 MSPS, run); Doppler is unchanged."""

    def __init__(self, tx: Node, rx: Node, carrier_hz: float, *, model: str = "auto", los: str = "random",
                 los_interval_s: float = 1.0, seed: int = 0, mask_deg: float = 10.0, locate=None, budget=None,
                 extra_loss_db: float = 0.0, fixed_delay_s: float = 0.0, name: str = "", t0: float | None = None,
                 t1: float | None = None, tx_antenna=None, rx_antenna=None):
        if tx is rx or tx.name == rx.name:
            raise ConfigError.bad_value("link.rx", rx.name, f"a node other than the transmitter {tx.name!r}")
        self.tx, self.rx = tx, rx
        self.name = name or f"{tx.name}->{rx.name}"
        self.carrier_hz = float(check_range("carrier_hz", carrier_hz, lo=1e6, hi=100e9, unit="Hz"))
        if model == "auto":
            model = choose_model(tx, rx)
        if model not in pl.MODELS:
            raise ConfigError.bad_value("link.model", model, "auto, " + ", ".join(pl.MODELS))
        sats = tx.is_satellite + rx.is_satellite
        if model == "satellite" and sats != 1:
            raise ConfigError.bad_value("link.model", model, "free_space, rma or rma_av (the satellite model needs "
                                        "exactly one satellite end)")
        if model in ("rma", "rma_av") and sats:
            raise ConfigError.bad_value("link.model", model, "satellite or free_space for a link with a satellite")
        if model == "rma_av" and "uav" not in (tx.kind, rx.kind):
            raise ConfigError.bad_value("link.model", model, "rma (TR 36.777 RMa-AV needs a UAV end)")
        self.model = model
        if los not in LOS_MODES:
            raise ConfigError.bad_value("link.los", los, ", ".join(LOS_MODES))
        self.los_mode = los
        self.los_interval_s = float(check_range("los_interval_s", los_interval_s, lo=1e-3, hi=1e6, unit="s"))
        self.seed = int(seed)
        if not 0 <= self.seed < 1 << 63:
            raise ConfigError.bad_value("seed", seed, "0 .. 2^63 - 1")
        self.mask_deg = float(check_range("mask_deg", mask_deg, lo=-90.0, hi=90.0, unit="deg"))
        self.extra_loss_db = float(check_range("extra_loss_db", extra_loss_db, lo=0.0, hi=300.0, unit="dB"))
        self.fixed_delay_s = float(check_range("fixed_delay_s", fixed_delay_s, lo=0.0, hi=1.0, unit="s"))
        # a link may use its own antenna at either end (a relay node: one antenna per hop); default the node's
        self.tx_antenna = tx_antenna if tx_antenna is not None else tx.antenna
        self.rx_antenna = rx_antenna if rx_antenna is not None else rx.antenna
        self.locate = locate if locate is not None else self._locate_ends
        self.budget = budget
        if model == "satellite" and budget is None:
            from hil.orbit import LinkBudget

            gases = 1e9 <= self.carrier_hz <= 54e9
            self.budget = LinkBudget(fc_hz=self.carrier_hz, bandwidth_hz=1.0, tx_power_dbw=0.0, gases=gases,
                                     direction="downlink" if tx.is_satellite else "uplink")
        self.t0, self.t1 = t0, t1
        self._cache_key = None
        self._cache = None

    def _locate_ends(self, name, t):
        for n in (self.tx, self.rx):
            if n.name == name:
                return n.state(t)[0]
        raise ConfigError.bad_value("antenna.pointing", name, f"{self.tx.name} or {self.rx.name} (no network "
                                    "given to find other nodes)")

    # ------------------------------------------------------------------ geometry
    def geometry(self, t) -> dict:
        """Everything at times ``t`` (1-D arrays): range_m, range_rate_mps, elevation_deg (of the upper end
        seen from the lower; for two satellites the angle above rx's horizon), d2d_m, h_low_m, h_high_m,
        visible, los, loss_db (propagation), tx_gain_dbi, rx_gain_dbi, net_loss_db, in_range (the TR's
        stated range)."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        key = (t.size, t.tobytes())
        if self._cache_key == key:
            return self._cache
        ra, va = self.tx.state(t)
        rb, vb = self.rx.state(t)
        d = rb - ra
        rng = np.sqrt(np.einsum("ij,ij->i", d, d))
        rr = np.einsum("ij,ij->i", d, vb - va) / rng
        lat_a, lon_a, h_a = ecef_to_geodetic(ra)
        lat_b, lon_b, h_b = ecef_to_geodetic(rb)
        # the lower end (a ground end if there is a satellite) looks at the other
        a_low = h_a <= h_b
        if self.tx.is_satellite != self.rx.is_satellite:
            a_low = np.full(t.size, not self.tx.is_satellite)
        lat_l = np.where(a_low, lat_a, lat_b)
        lon_l = np.where(a_low, lon_a, lon_b)
        _, _, up = enu_axes(lat_l, lon_l)
        u = np.where(a_low[:, None], d, -d) / rng[:, None]
        el = np.degrees(np.arcsin(np.clip(np.einsum("ij,ij->i", u, up), -1.0, 1.0)))
        h_low, h_high = np.where(a_low, h_a, h_b), np.where(a_low, h_b, h_a)
        dh = h_high - h_low
        d2d = np.sqrt(np.maximum(rng**2 - dh**2, 0.0))
        vis = self._visible(ra, rb, rng, el, h_low, h_high, d2d)
        los = self._los(t)
        loss = self._loss(rng, el, d2d, h_low, h_high, h_a, h_b, los) + self.extra_loss_db
        g_tx, off_tx = self.tx_antenna.gain_toward(t, ra, rb, self.locate)
        g_rx, off_rx = self.rx_antenna.gain_toward(t, rb, ra, self.locate)
        if self.model in ("rma", "rma_av"):
            h_ut, h_bs = ((h_a, h_b) if self.tx.kind == "uav" else (h_b, h_a)) if self.model == "rma_av" \
                else (h_low, h_high)
            inr = pl.validity(self.model, d2d, h_bs, h_ut, los)
        else:
            inr = np.ones(t.size, bool)
        self._cache_key = key
        self._cache = dict(range_m=rng, range_rate_mps=rr, elevation_deg=el, d2d_m=d2d, h_low_m=h_low,
                           h_high_m=h_high, visible=vis, los=los, loss_db=loss, tx_gain_dbi=g_tx, rx_gain_dbi=g_rx,
                           tx_off_axis_deg=off_tx, rx_off_axis_deg=off_rx, net_loss_db=loss - g_tx - g_rx,
                           in_range=inr)
        return self._cache

    def _visible(self, ra, rb, rng, el, h_low, h_high, d2d):
        sats = self.tx.is_satellite + self.rx.is_satellite
        if sats == 1:
            return el >= self.mask_deg
        if sats == 2:
            # closest approach of the segment ra..rb to the Earth's centre
            d = rb - ra
            s = np.clip(-np.einsum("ij,ij->i", ra, d) / (rng * rng), 0.0, 1.0)
            p = ra + s[:, None] * d
            return np.linalg.norm(p, axis=1) >= R_EARTH_MEAN_M + GRAZING_M
        kr = 2.0 * K_REFRACTION * R_EARTH_MEAN_M
        horizon = np.sqrt(kr * np.maximum(h_low, 0.0)) + np.sqrt(kr * np.maximum(h_high, 0.0))
        return d2d <= horizon

    def _los(self, t):
        if self.model not in ("rma", "rma_av") or self.los_mode == "los":
            return np.ones(t.size, bool)
        if self.los_mode == "nlos":
            return np.zeros(t.size, bool)
        k = np.floor(t / self.los_interval_s)
        # LOS probability at each interval's start (geometry there, not at t)
        t_k = k * self.los_interval_s
        dk, hu = self._bare_geometry(t_k)
        p = pl.rma_los_probability(dk) if self.model == "rma" else pl.rma_av_los_probability(dk, hu)
        with np.errstate(over="ignore"):
            key = _mix64(np.uint64(self.seed) * np.uint64(0x100000001B3) + k.astype(np.int64).astype(np.uint64))
        u = (key >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
        return u < p

    def _bare_geometry(self, t):
        """d2D (m) and the UAV end's height (m; rma: rx's) at ``t``."""
        ra, _ = self.tx.state(t)
        rb, _ = self.rx.state(t)
        _, _, h_a = ecef_to_geodetic(ra)
        _, _, h_b = ecef_to_geodetic(rb)
        rng = np.linalg.norm(rb - ra, axis=1)
        h_uav = h_a if self.tx.kind == "uav" else h_b
        return np.sqrt(np.maximum(rng**2 - (h_a - h_b) ** 2, 0.0)), h_uav

    def _loss(self, rng, el, d2d, h_low, h_high, h_a, h_b, los):
        fc = self.carrier_hz
        if self.model == "free_space":
            return pl.fspl_db(rng, fc)
        if self.model == "satellite":
            elev = np.maximum(el, 5.0) if getattr(self.budget, "gases", False) else el
            return np.asarray(self.budget.path_loss_db(rng, elev), dtype=float)
        if self.model == "rma":
            return np.where(los, pl.rma_los_db(d2d, h_high, h_low, fc), pl.rma_nlos_db(d2d, h_high, h_low, fc))
        # rma_av: the UAV is the aerial UE (h_UT), the other end the BS (h_BS)
        h_ut, h_bs = (h_a, h_b) if self.tx.kind == "uav" else (h_b, h_a)
        return np.where(los, pl.rma_av_los_db(d2d, h_bs, h_ut, fc), pl.rma_av_nlos_db(d2d, h_bs, h_ut, fc))

    # ------------------------------------------------------------------ the trajectory interface
    def delay(self, t):
        out = self.geometry(t)["range_m"] / C_MPS + self.fixed_delay_s
        return out if np.ndim(t) else float(out[0])

    def delay_rate(self, t):
        out = self.geometry(t)["range_rate_mps"] / C_MPS
        return out if np.ndim(t) else float(out[0])

    def doppler(self, t, carrier_hz=None):
        """Two-ended Doppler (Hz): -fc dtau/dt."""
        fc = self.carrier_hz if carrier_hz is None else carrier_hz
        return -fc * np.asarray(self.delay_rate(t))

    def path_loss_db(self, t):
        out = self.geometry(t)["net_loss_db"]
        return out if np.ndim(t) else float(out[0])

    def visible(self, t):
        out = self.geometry(t)["visible"]
        return out if np.ndim(t) else bool(out[0])

    def elevation(self, t):
        out = self.geometry(t)["elevation_deg"]
        return out if np.ndim(t) else float(out[0])

    def discontinuities(self, t0, t1):
        return []

    def __repr__(self):
        return f"PairTrajectory({self.name!r}, {self.model}, fc={self.carrier_hz:g} Hz)"
