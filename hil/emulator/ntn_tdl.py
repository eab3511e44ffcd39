"""3GPP TR 38.811 NTN-TDL tapped-delay-line profiles as :class:`dsp.channel.Path` lists.

Tables 6.9.2-1..4 of TR 38.811 (NTN-TDL-A..D): normalised delays (multiply by the wanted RMS delay
spread ``DS``) and tap powers in dB. A and B are NLOS (all taps Rayleigh); C and D are LOS: their
first tap is the sum of a line-of-sight component and a Rayleigh component at the same delay, with
K-factors 10.224 dB (C) and 11.707 dB (D) - the table's first two rows.

The satellite's own (bulk) delay and Doppler are the trajectory's; these paths are relative to it.
A Rayleigh tap fades through a sum of ``sinusoids`` equal-power components with Doppler
``f_max cos(alpha_k)`` (angles spread uniformly with a random offset, random phases: the classical
Clarke/Jakes spectrum of terminal motion at maximum Doppler ``f_max``), each one a Path of the
emulator's kernel. With ``max_doppler_hz = 0`` each Rayleigh tap is one static complex Gaussian gain
drawn from ``rng`` (block fading). The LOS component keeps Doppler 0 relative to the bulk.
Total mean power is normalised to 1.
"""

from __future__ import annotations

import math

import numpy as np

from hil.errors import ConfigError, check_range

__all__ = ["PROFILES", "LOS_K_DB", "ntn_tdl_paths", "profile_table"]

# (normalised delay, power dB, kind) - kind "los" marks the line-of-sight component.
PROFILES = {
    "A": ((0.0, 0.0, "rayleigh"), (1.0811, -4.675, "rayleigh"), (2.8416, -6.482, "rayleigh")),
    "B": ((0.0, 0.0, "rayleigh"), (0.7249, -1.973, "rayleigh"), (0.7410, -4.332, "rayleigh"),
          (5.7392, -11.914, "rayleigh")),
    "C": ((0.0, -0.394, "los"), (0.0, -10.618, "rayleigh"), (14.8124, -23.373, "rayleigh")),
    "D": ((0.0, -0.284, "los"), (0.0, -11.991, "rayleigh"), (0.5596, -9.887, "rayleigh"),
          (7.3340, -16.771, "rayleigh")),
}
LOS_K_DB = {"C": 10.224, "D": 11.707}


def _name(profile: str) -> str:
    key = str(profile).upper().replace("NTN-TDL-", "").replace("NTN_TDL_", "").strip()
    if key not in PROFILES:
        raise ConfigError.bad_value("ntn_tdl", profile, "one of NTN-TDL-A, NTN-TDL-B, NTN-TDL-C, NTN-TDL-D")
    return key


def profile_table(profile: str, delay_spread_s: float):
    """(delays s, linear powers normalised to 1, kinds) of a profile scaled to ``delay_spread_s``."""
    key = _name(profile)
    check_range("delay_spread_s", delay_spread_s, lo=0.0, hi=1e-3, unit="s")
    rows = PROFILES[key]
    d = np.array([r[0] for r in rows]) * delay_spread_s
    p = 10 ** (np.array([r[1] for r in rows]) / 10)
    return d, p / p.sum(), [r[2] for r in rows]


def ntn_tdl_paths(profile: str, delay_spread_s: float, sample_rate: float, rng: np.random.Generator, *,
                  max_doppler_hz: float = 0.0, sinusoids: int = 8):
    """The profile as dsp.channel.Path objects (delays in samples, Doppler in cycles/sample)."""
    from dsp.channel import Path

    if not isinstance(rng, np.random.Generator):
        raise ConfigError.bad_value("rng", type(rng).__name__, "a numpy.random.Generator")
    check_range("sample_rate", sample_rate, lo=1e-3, unit="Hz")
    check_range("max_doppler_hz", max_doppler_hz, lo=0.0, hi=sample_rate / 2, unit="Hz")
    sinusoids = int(check_range("sinusoids", sinusoids, lo=1, hi=64))
    delays, powers, kinds = profile_table(profile, delay_spread_s)
    paths = []
    for d, p, kind in zip(delays, powers, kinds):
        tau = d * sample_rate
        if kind == "los":
            paths.append(Path(gain=complex(math.sqrt(p) * np.exp(2j * np.pi * rng.uniform())), delay=tau, doppler=0.0))
        elif max_doppler_hz == 0.0:
            g = math.sqrt(p / 2) * (rng.standard_normal() + 1j * rng.standard_normal())
            paths.append(Path(gain=complex(g), delay=tau, doppler=0.0))
        else:
            offset = rng.uniform(0, 2 * np.pi)
            for k in range(sinusoids):
                alpha = 2 * np.pi * (k + 0.5) / sinusoids + offset / sinusoids
                g = math.sqrt(p / sinusoids) * np.exp(2j * np.pi * rng.uniform())
                paths.append(Path(gain=complex(g), delay=tau,
                                  doppler=max_doppler_hz * math.cos(alpha) / sample_rate))
    return paths
