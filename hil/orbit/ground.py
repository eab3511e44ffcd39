"""Ground points on the WGS-84 ellipsoid."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hil.errors import ConfigError, check_range

from .constants import WGS84_A_M, WGS84_B_M, WGS84_E2

__all__ = ["GroundStation", "geodetic_to_ecef", "ecef_to_geodetic", "seed_area_grid"]


def geodetic_to_ecef(lat_deg, lon_deg, alt_m) -> np.ndarray:
    """WGS-84 geodetic latitude/longitude (deg) and ellipsoidal height (m) -> ECEF (m), shape (..., 3)."""
    lat = np.radians(np.asarray(lat_deg, dtype=np.float64))
    lon = np.radians(np.asarray(lon_deg, dtype=np.float64))
    h = np.asarray(alt_m, dtype=np.float64)
    sl = np.sin(lat)
    n = WGS84_A_M / np.sqrt(1.0 - WGS84_E2 * sl * sl)
    return np.stack([(n + h) * np.cos(lat) * np.cos(lon),
                     (n + h) * np.cos(lat) * np.sin(lon),
                     (n * (1.0 - WGS84_E2) + h) * sl], axis=-1)


def ecef_to_geodetic(xyz_m) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ECEF (m, shape (..., 3)) -> WGS-84 (lat_deg, lon_deg, alt_m).

    Bowring's initial guess plus fixed-point iterations on the latitude; converged to < 1 mm for
    points from the surface to GEO altitude.
    """
    xyz = np.asarray(xyz_m, dtype=np.float64)
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    p = np.hypot(x, y)
    lon = np.arctan2(y, x)
    ep2 = (WGS84_A_M**2 - WGS84_B_M**2) / WGS84_B_M**2
    th = np.arctan2(z * WGS84_A_M, p * WGS84_B_M)
    lat = np.arctan2(z + ep2 * WGS84_B_M * np.sin(th) ** 3, p - WGS84_E2 * WGS84_A_M * np.cos(th) ** 3)
    for _ in range(3):
        sl = np.sin(lat)
        n = WGS84_A_M / np.sqrt(1.0 - WGS84_E2 * sl * sl)
        h = p / np.cos(lat) - n
        lat = np.arctan2(z, p * (1.0 - WGS84_E2 * n / (n + h)))
    sl = np.sin(lat)
    n = WGS84_A_M / np.sqrt(1.0 - WGS84_E2 * sl * sl)
    # height from the formula that stays well conditioned at any latitude
    h = p * np.cos(lat) + z * sl - WGS84_A_M * np.sqrt(1.0 - WGS84_E2 * sl * sl)
    return np.degrees(lat), np.degrees(lon), h


@dataclass(frozen=True)
class GroundStation:
    """A terminal / base station fixed to the Earth.

    ``lat_deg`` geodetic latitude (-90..90 deg, north positive), ``lon_deg`` longitude (-180..360 deg,
    east positive; stored as given), ``alt_m`` height above the WGS-84 ellipsoid (-500 m .. 100 km).
    """

    lat_deg: float
    lon_deg: float
    alt_m: float = 0.0
    name: str = ""
    ecef_m: np.ndarray = field(init=False, repr=False, compare=False)
    enu: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        for fname in ("lat_deg", "lon_deg", "alt_m"):
            v = getattr(self, fname)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise ConfigError.bad_value(fname, v, "a number")
        check_range("lat_deg", float(self.lat_deg), -90.0, 90.0, unit="deg")
        check_range("lon_deg", float(self.lon_deg), -180.0, 360.0, unit="deg")
        check_range("alt_m", float(self.alt_m), -500.0, 100_000.0, unit="m")
        lat, lon = math.radians(self.lat_deg), math.radians(self.lon_deg)
        object.__setattr__(self, "ecef_m", geodetic_to_ecef(self.lat_deg, self.lon_deg, self.alt_m))
        east = np.array([-math.sin(lon), math.cos(lon), 0.0])
        north = np.array([-math.sin(lat) * math.cos(lon), -math.sin(lat) * math.sin(lon), math.cos(lat)])
        up = np.array([math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat)])
        object.__setattr__(self, "enu", np.stack([east, north, up]))  # rows: east, north, up (geodetic)

    def __str__(self) -> str:
        label = f"{self.name} " if self.name else ""
        return f"{label}({self.lat_deg:.4f} deg, {self.lon_deg:.4f} deg, {self.alt_m:.0f} m)"


def seed_area_grid(n_lat: int = 3, n_lon: int = 3, *, lat_range=(33.0, 39.0), lon_range=(87.0, 93.0),
                   alt_m: float = 0.0) -> list[GroundStation]:
    """Ground points on a regular grid over the seed paper's area (33-39 N, 87-93 E), corners included."""
    check_range("n_lat", n_lat, 1, 1000)
    check_range("n_lon", n_lon, 1, 1000)
    lats = np.linspace(*lat_range, n_lat) if n_lat > 1 else [0.5 * sum(lat_range)]
    lons = np.linspace(*lon_range, n_lon) if n_lon > 1 else [0.5 * sum(lon_range)]
    return [GroundStation(float(a), float(o), alt_m, name=f"grid{i}_{j}")
            for i, a in enumerate(lats) for j, o in enumerate(lons)]
