"""firmware_cfg: device profiles (YAML), AD9361 FIR (.ftr) files and the schema that validates them.

Device specifics are data: backends read ranges, channel names, default URIs and rates from here::

    from firmware_cfg import load_profile, list_profiles, load_ftr
    prof = load_profile("pluto_ad9363")
    prof.check("rx_frequency", 2.4e9)      # -> 2400000000.0 (or ConfigError with the allowed range)
"""

from firmware_cfg.ftr import FirFilter, FirPath, load_ftr, parse_ftr, write_ftr
from firmware_cfg.profile import (
    PROFILE_DIR,
    SETTINGS,
    Profile,
    list_profiles,
    load_profile,
    profile_path,
)

__all__ = ["PROFILE_DIR", "SETTINGS", "Profile", "list_profiles", "load_profile", "profile_path",
           "FirFilter", "FirPath", "load_ftr", "parse_ftr", "write_ftr"]
