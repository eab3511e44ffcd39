"""Ephemeris, pass geometry, handover and the NTN link budget.

* satellites: :class:`Constellation` (TLE files via sgp4, :class:`WalkerConstellation`, presets such as
  the seed's 1584-satellite shell), all propagated with SGP4 (``SatrecArray`` for many at once);
* :class:`GroundStation` (WGS-84), :func:`geometry` (range, range rate, range acceleration, elevation,
  azimuth), delay/Doppler helpers, :func:`find_passes`, :func:`serving_sequence` (handover slots);
* :class:`DelayTrack` / :func:`make_track`: smooth delay and Doppler for the channel emulator;
* :class:`ReceiverEphemeris`: the receiver's own (aged, erroneous) TLE propagated with SGP4, as delay /
  Doppler / elevation predictions (:class:`EphemerisErrorConfig` says what it gets wrong);
* :class:`EarthOrientation` / :func:`load_eop`: UT1-UTC and polar motion from IERS finals files (``eop=``);
* link budget: :func:`fspl_db`, gases, TR 38.811 shadow fading / clutter loss, antennas, :class:`LinkBudget`.

All times are seconds since an epoch (UTC); see :mod:`hil.orbit.timebase`.
"""

from .constants import C_MPS
from .eop import EarthOrientation, as_eop, earth_rotation, load_eop, parse_eop_text
from .ephemeris import (
    EphemerisErrorConfig,
    ReceiverEphemeris,
    ephemeris_rtn_error,
    receiver_satellite,
    rtn_difference,
)
from .geometry import (
    SERVING_RULES,
    Geometry,
    Pass,
    ServingSequence,
    Slot,
    delay_s,
    doppler_hz,
    doppler_rate_hz_per_s,
    find_passes,
    geometry,
    geometry_many,
    serving_sequence,
    slant_range_m,
    teme_to_ecef,
)
from .ground import GroundStation, ecef_to_geodetic, geodetic_to_ecef, seed_area_grid
from .linkbudget import (
    SCENARIOS,
    LinkBudget,
    fspl_db,
    gas_attenuation_db,
    gas_zenith_attenuation_db,
    los_probability,
    noise_power_dbw,
    reflector_gain_db,
    reflector_radius_for_gain,
    sample_shadow_fading_db,
    shadow_fading_params,
    shannon_rate_bps,
)
from .satellites import (
    DEFAULT_WALKER_EPOCH,
    PRESETS,
    Constellation,
    Satellite,
    WalkerConstellation,
    geostationary,
    load_constellation,
    preset,
)
from .timebase import Epoch, as_epoch, gmst_rad
from .tle import TleRecord, format_tle, load_tle_file, parse_tle_text, tle_checksum, validate_tle
from .track import LIGHT_TIME_MODES, DelayTrack, make_track, serving_tracks

__all__ = [
    "C_MPS", "Epoch", "as_epoch", "gmst_rad",
    "TleRecord", "format_tle", "load_tle_file", "parse_tle_text", "tle_checksum", "validate_tle",
    "Satellite", "Constellation", "WalkerConstellation", "geostationary", "PRESETS", "preset",
    "load_constellation", "DEFAULT_WALKER_EPOCH",
    "GroundStation", "geodetic_to_ecef", "ecef_to_geodetic", "seed_area_grid",
    "Geometry", "geometry", "geometry_many", "teme_to_ecef", "delay_s", "doppler_hz", "doppler_rate_hz_per_s",
    "slant_range_m", "Pass", "find_passes", "ServingSequence", "Slot", "serving_sequence", "SERVING_RULES",
    "DelayTrack", "make_track", "serving_tracks", "LIGHT_TIME_MODES",
    "ReceiverEphemeris", "EphemerisErrorConfig", "receiver_satellite", "rtn_difference", "ephemeris_rtn_error",
    "EarthOrientation", "load_eop", "parse_eop_text", "as_eop", "earth_rotation",
    "LinkBudget", "fspl_db", "gas_attenuation_db", "gas_zenith_attenuation_db", "shadow_fading_params",
    "los_probability", "sample_shadow_fading_db", "reflector_gain_db", "reflector_radius_for_gain",
    "noise_power_dbw", "shannon_rate_bps", "SCENARIOS",
]
