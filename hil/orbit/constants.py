"""Physical constants of the orbit package (SI units unless the name says otherwise)."""

from __future__ import annotations

#: speed of light in vacuum, m/s
C_MPS = 299_792_458.0
#: Boltzmann constant, J/K
K_BOLTZMANN = 1.380649e-23

# WGS-84 ellipsoid (ground stations, geodetic elevation)
WGS84_A_M = 6_378_137.0
WGS84_F = 1.0 / 298.257223563
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)
WGS84_B_M = WGS84_A_M * (1.0 - WGS84_F)

# Gravity model for the range acceleration (two-body + J2, EGM-96/WGS-84 values)
MU_M3PS2 = 3.986004418e14
J2 = 1.08262668e-3

#: mean Earth radius used by the 3GPP/ITU spherical-Earth slant-range formula, m
R_EARTH_MEAN_M = 6_371_000.0

#: seconds per day
DAY_S = 86_400.0
