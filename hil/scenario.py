"""Scenario files: the YAML that describes one experiment, validated into typed objects.

The sections grow with the testbed; every section is a frozen dataclass validated by
:func:`hil.config.parse`, so a bad file fails before anything touches a socket or a radio, with the
file, the field path, the value and what is allowed in the message.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from hil.config import load_yaml, parse, spec
from hil.errors import ConfigError

__all__ = ["WaveformConfig", "BackendConfig", "Scenario", "load_scenario"]

WAVEFORMS = ("otfs", "oddm", "afdm", "gfdm", "ofdm")
BACKENDS = ("mock", "mock-zmq", "pluto", "soapy")


@dataclass(frozen=True)
class WaveformConfig:
    """One waveform under test. ``M`` x ``N`` is the frame grid (delay x Doppler bins for OTFS/ODDM,
    subcarriers x symbols for OFDM, subcarriers x subsymbols for GFDM; AFDM uses ``M * N`` chirps)."""

    kind: str = field(metadata=spec(choices=WAVEFORMS, doc="waveform family"))
    M: int = field(default=64, metadata=spec(ge=2, le=65536, doc="delay bins / subcarriers"))
    N: int = field(default=16, metadata=spec(ge=1, le=4096, doc="Doppler bins / symbols"))
    qam: int = field(default=4, metadata=spec(choices=(4, 16, 64), doc="QAM order (Gray, unit energy)"))


@dataclass(frozen=True)
class BackendConfig:
    """Which radio carries the samples, with which firmware_cfg profile."""

    kind: str = field(default="mock", metadata=spec(choices=BACKENDS))
    profile: str = field(default="mock", metadata=spec(doc="firmware_cfg profile name"))
    uri: str | None = field(default=None, metadata=spec(doc="device URI / SoapySDR args"))


@dataclass(frozen=True)
class Scenario:
    """A whole experiment."""

    name: str = field(metadata=spec(min_len=1))
    description: str = ""
    seed: int = field(default=0, metadata=spec(ge=0, doc="seed of every random generator in the run"))
    sample_rate_hz: float = field(default=1.92e6, metadata=spec(gt=0, le=250e6, unit="Hz"))
    carrier_hz: float = field(default=2.0e9, metadata=spec(gt=0, le=100e9, unit="Hz"))
    duration_s: float = field(default=10.0, metadata=spec(gt=0, le=86400.0, unit="s"))
    waveforms: list[WaveformConfig] = field(default_factory=lambda: [WaveformConfig("otfs")],
                                            metadata=spec(min_len=1))
    backend: BackendConfig = field(default_factory=BackendConfig)

    def validate(self):
        if self.sample_rate_hz >= self.carrier_hz:
            raise ConfigError.bad_value("sample_rate_hz", self.sample_rate_hz,
                                        f"< carrier_hz ({self.carrier_hz} Hz)")


def load_scenario(path: str | os.PathLike) -> Scenario:
    """Read and validate a scenario YAML file (errors name the file, field path, value, allowed)."""
    path = os.fspath(path)
    return parse(Scenario, load_yaml(path), source=path)
