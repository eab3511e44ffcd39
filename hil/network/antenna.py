"""Node antennas: isotropic, dish with a beamwidth, steerable pencil beam.

Pattern of a dish (one pattern, stated): TR 38.901 Table 7.3-1's element pattern made circularly
symmetric, ``G(theta) = G_max - min(12 (theta / theta_3dB)^2, SLA)`` dB, theta the angle off boresight,
``theta_3dB`` the full half-power beamwidth, SLA the side-lobe floor (default 30 dB). Above the floor
this is a Gaussian beam (linear power ``exp(-4 ln2 (theta/theta_3dB)^2)`` is -12.04 (theta/theta_3dB)^2
dB; 3GPP rounds 12.04 to 12).

Boresight (``pointing``):

* ``"nadir"`` / ``"zenith"``: down / up along the local geodetic vertical of the node's current position;
* ``[az_deg, el_deg]``: fixed in the node's local east-north-up frame (azimuth from north through east);
* a node name: steered at that node at every instant (a pencil beam that tracks its target). The target
  may change over time (:meth:`Antenna.point`, the scenario's ``point`` events).
"""

from __future__ import annotations

import math

import numpy as np

from hil.errors import ConfigError, check_range
from hil.orbit import ecef_to_geodetic

from .motion import enu_axes

__all__ = ["Antenna", "isotropic", "dish", "pencil_beam", "ANTENNA_KINDS"]

ANTENNA_KINDS = ("isotropic", "dish", "pencil")


def _unit(v):
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(n > 0, n, 1.0)


class Antenna:
    """One antenna on one node. ``kind``: isotropic | dish | pencil; ``gain_dbi`` (peak, dBi);
    ``beamwidth_deg`` (full half-power width, dish/pencil); ``side_lobe_db`` (SLA, dB below the peak);
    ``pointing``: see the module doc (a pencil's pointing is a node name)."""

    def __init__(self, kind: str = "isotropic", gain_dbi: float = 0.0, beamwidth_deg: float | None = None, *,
                 pointing=None, side_lobe_db: float = 30.0):
        if kind not in ANTENNA_KINDS:
            raise ConfigError.bad_value("antenna.kind", kind, ", ".join(ANTENNA_KINDS))
        self.kind = kind
        self.gain_dbi = float(check_range("antenna.gain_dbi", gain_dbi, lo=-50.0, hi=80.0, unit="dBi"))
        self.side_lobe_db = float(check_range("antenna.side_lobe_db", side_lobe_db, lo=0.0, hi=100.0, unit="dB"))
        if kind == "isotropic":
            if beamwidth_deg is not None or pointing is not None:
                raise ConfigError.bad_value("antenna.beamwidth_deg" if beamwidth_deg is not None
                                            else "antenna.pointing", beamwidth_deg if beamwidth_deg is not None
                                            else pointing, "null for an isotropic antenna (no boresight)")
            self.beamwidth_deg = None
        else:
            if beamwidth_deg is None:
                raise ConfigError.bad_value("antenna.beamwidth_deg", None, f"0 < width <= 180 deg for a {kind}")
            self.beamwidth_deg = float(check_range("antenna.beamwidth_deg", beamwidth_deg, lo=1e-3, hi=180.0,
                                                   unit="deg"))
            if pointing is None:
                raise ConfigError.bad_value("antenna.pointing", None, "nadir, zenith, [az_deg, el_deg] or a node "
                                            "name" + (" (a pencil beam points at a node)" if kind == "pencil" else ""))
            if kind == "pencil" and (not isinstance(pointing, str) or pointing in ("nadir", "zenith")):
                raise ConfigError.bad_value("antenna.pointing", pointing, "a node name (a pencil beam tracks a node)")
        self._schedule = []  # [(start_s, pointing)], sorted
        if pointing is not None:
            self._schedule.append((-math.inf, self._check_pointing(pointing)))

    @staticmethod
    def _check_pointing(p):
        if isinstance(p, str):
            if not p:
                raise ConfigError.bad_value("antenna.pointing", p, "nadir, zenith, [az_deg, el_deg] or a node name")
            return p
        if isinstance(p, (list, tuple)) and len(p) == 2:
            az = check_range("antenna.pointing[0]", float(p[0]), -360.0, 360.0, unit="deg (azimuth)")
            el = check_range("antenna.pointing[1]", float(p[1]), -90.0, 90.0, unit="deg (elevation)")
            return (az, el)
        raise ConfigError.bad_value("antenna.pointing", p, "nadir, zenith, [az_deg, el_deg] or a node name")

    # ------------------------------------------------------------------ pointing over time
    def point(self, pointing, at_s: float):
        """From ``at_s`` (s) on, point at ``pointing`` (same forms as the constructor's)."""
        if self.kind == "isotropic":
            raise ConfigError.bad_value("antenna.kind", "isotropic", "dish or pencil to be pointed")
        p = self._check_pointing(pointing)
        self._schedule.append((float(at_s), p))
        self._schedule.sort(key=lambda e: e[0])

    def targets(self) -> set:
        """Node names this antenna points at, at any time."""
        return {p for _, p in self._schedule if isinstance(p, str) and p not in ("nadir", "zenith")}

    def pointing_at(self, t) -> list:
        """``[(mask, pointing), ...]`` partitioning the times ``t`` by the pointing in force."""
        t = np.atleast_1d(np.asarray(t, dtype=float))
        starts = np.array([s for s, _ in self._schedule])
        idx = np.searchsorted(starts, t, side="right") - 1
        return [(idx == i, p) for i, (_, p) in enumerate(self._schedule) if np.any(idx == i)]

    # ------------------------------------------------------------------ gain
    def pattern_db(self, off_axis_deg):
        """Gain (dBi) at ``off_axis_deg`` from boresight (isotropic: the constant gain)."""
        th = np.abs(np.asarray(off_axis_deg, dtype=float))
        if self.kind == "isotropic":
            return np.full(th.shape, self.gain_dbi)
        return self.gain_dbi - np.minimum(12.0 * (th / self.beamwidth_deg) ** 2, self.side_lobe_db)

    def boresight(self, t, r_self, locate):
        """Unit boresight vectors (n, 3) at times ``t`` for the node at ``r_self`` (n, 3); ``locate(name,
        t)`` gives another node's position (n, 3)."""
        t = np.atleast_1d(np.asarray(t, dtype=float))
        out = np.full((t.size, 3), np.nan)
        lat, lon, _ = ecef_to_geodetic(r_self)
        e, n, u = enu_axes(lat, lon)
        for mask, p in self.pointing_at(t):
            if p == "nadir":
                out[mask] = -u[mask]
            elif p == "zenith":
                out[mask] = u[mask]
            elif isinstance(p, tuple):
                az, el = math.radians(p[0]), math.radians(p[1])
                out[mask] = (math.cos(el) * math.sin(az) * e[mask] + math.cos(el) * math.cos(az) * n[mask]
                             + math.sin(el) * u[mask])
            else:
                out[mask] = _unit(locate(p, t[mask]) - r_self[mask])
        return out

    def gain_toward(self, t, r_self, r_peer, locate):
        """Gain (dBi) toward the peer at ``r_peer`` (n, 3) and the off-axis angle (deg)."""
        t = np.atleast_1d(np.asarray(t, dtype=float))
        if self.kind == "isotropic":
            return np.full(t.size, self.gain_dbi), np.zeros(t.size)
        b = self.boresight(t, r_self, locate)
        d = _unit(r_peer - r_self)
        off = np.degrees(np.arccos(np.clip(np.sum(b * d, axis=-1), -1.0, 1.0)))
        return self.pattern_db(off), off

    def __repr__(self):
        if self.kind == "isotropic":
            return f"Antenna(isotropic, {self.gain_dbi:g} dBi)"
        return (f"Antenna({self.kind}, {self.gain_dbi:g} dBi, {self.beamwidth_deg:g} deg, "
                f"pointing={[p for _, p in self._schedule]})")


def isotropic(gain_dbi: float = 0.0) -> Antenna:
    return Antenna("isotropic", gain_dbi)


def dish(gain_dbi: float, beamwidth_deg: float, pointing="zenith", side_lobe_db: float = 30.0) -> Antenna:
    return Antenna("dish", gain_dbi, beamwidth_deg, pointing=pointing, side_lobe_db=side_lobe_db)


def pencil_beam(gain_dbi: float, beamwidth_deg: float, target: str, side_lobe_db: float = 30.0) -> Antenna:
    return Antenna("pencil", gain_dbi, beamwidth_deg, pointing=target, side_lobe_db=side_lobe_db)
