"""Scenario files: the YAML that describes one experiment, validated into typed objects.

The sections grow with the testbed; every section is a frozen dataclass validated by
:func:`hil.config.parse`, so a bad file fails before anything touches a socket or a radio, with the
file, the field path, the value and what is allowed in the message.

A scenario for ``hil run`` (see docs/experiments.md) has these sections, all optional except ``name``:

* top level: ``seed``, ``sample_rate_hz`` (the radio's sample rate), ``carrier_hz``, ``duration_s``
  (longest stretch of pass time to fly), ``epoch`` (UTC, start of the search for the pass);
* ``waveforms``: the waveforms under test (:class:`WaveformConfig`);
* ``backend``: which radio carries the samples (:class:`BackendConfig`);
* ``orbit``: constellation or TLE file, satellite, ground point, which pass (:class:`OrbitConfig`);
* ``link``: link budget that sets the SNR over the pass (:class:`LinkConfig`);
* ``frames``: how bursts of frames are spread over the pass (:class:`FramesConfig`);
* ``tracking``: Doppler pre-compensation / tracking mode and ephemeris error (:class:`TrackingConfig`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from hil.config import load_yaml, parse, spec
from hil.emulator.config import EmulatorConfig
from hil.errors import ConfigError
from hil.orbit.ephemeris import EphemerisErrorConfig  # the receiver's own-ephemeris errors (see there)

__all__ = ["WaveformConfig", "BackendConfig", "GroundConfig", "OrbitConfig", "LinkConfig", "FramesConfig",
           "EphemerisErrorConfig", "TrackingConfig", "ChannelConfig", "Scenario", "load_scenario", "TRACKING_MODES"]

WAVEFORMS = ("otfs", "oddm", "afdm", "gfdm", "ofdm")
BACKENDS = ("mock", "mock-zmq", "pluto", "soapy")
TRACKING_MODES = ("ephemeris", "blind", "none")
PASS_STARTS = ("next-pass", "epoch", "handover")
PASS_SELECT = ("first", "highest")
LINK_PRESETS = ("seed-downlink", "custom")
DETECTOR_CHOICES = ("auto", "onetap", "pilot-onetap", "mp", "mrc", "lmmse")
NTN_TDL = (None, "NTN-TDL-A", "NTN-TDL-B", "NTN-TDL-C", "NTN-TDL-D")


@dataclass(frozen=True)
class WaveformConfig:
    """One waveform under test. ``M`` x ``N`` is the frame grid (delay x Doppler bins for OTFS/ODDM,
    subcarriers x symbols for OFDM, subcarriers x subsymbols for GFDM; AFDM uses ``M * N`` chirps)."""

    kind: str = field(metadata=spec(choices=WAVEFORMS, doc="waveform family"))
    M: int = field(default=64, metadata=spec(ge=2, le=65536, doc="delay bins / subcarriers"))
    N: int = field(default=16, metadata=spec(ge=1, le=4096, doc="Doppler bins / symbols"))
    qam: int = field(default=4, metadata=spec(choices=(4, 16, 64), doc="QAM order (Gray, unit energy)"))
    detector: str = field(default="auto", metadata=spec(
        choices=DETECTOR_CHOICES, doc="receiver detection: auto (OTFS/AFDM: embedded pilot + mrc; OFDM: "
        "pilot lattice + one-tap; others: preamble one-tap), onetap, pilot-onetap, mp, mrc, lmmse"))
    pilot_l_max: int = field(default=4, metadata=spec(ge=0, le=64, doc="embedded-pilot guard: delay bins"))
    pilot_k_max: int = field(default=1, metadata=spec(ge=0, le=16, doc="embedded-pilot guard: Doppler bins"))


@dataclass(frozen=True)
class BackendConfig:
    """Which radio carries the samples, with which firmware_cfg profile."""

    kind: str = field(default="mock", metadata=spec(choices=BACKENDS))
    profile: str = field(default="mock", metadata=spec(doc="firmware_cfg profile name"))
    uri: str | None = field(default=None, metadata=spec(doc="device URI / SoapySDR args"))


@dataclass(frozen=True)
class GroundConfig:
    """The ground terminal (WGS-84). Default: the seed paper's area (36 N, 90 E)."""

    lat_deg: float = field(default=36.0, metadata=spec(ge=-90, le=90, unit="deg"))
    lon_deg: float = field(default=90.0, metadata=spec(ge=-180, le=360, unit="deg"))
    alt_m: float = field(default=0.0, metadata=spec(ge=-500, le=9000, unit="m"))


@dataclass(frozen=True)
class OrbitConfig:
    """Where the satellite comes from and which stretch of which pass is flown.

    ``constellation``: a ``hil.orbit`` preset (e.g. ``starlink-1584``) or a TLE file (relative paths are
    relative to the scenario file). ``satellite``: index or name in it (ignored with ``start: handover``,
    where the serving satellite - highest elevation - changes). ``start``: ``next-pass`` (AOS of the
    ``select`` pass of that satellite within ``search_s`` after the epoch, plus ``offset_s``), ``epoch``
    (the epoch plus ``offset_s``) or ``handover`` (centred on the first change of serving satellite
    after the epoch, plus ``offset_s``).
    """

    constellation: str = field(default="starlink-1584", metadata=spec(min_len=1))
    satellite: int | str = 0
    ground: GroundConfig = field(default_factory=GroundConfig)
    mask_deg: float = field(default=10.0, metadata=spec(ge=0, le=80, unit="deg"))
    start: str = field(default="next-pass", metadata=spec(choices=PASS_STARTS))
    select: str = field(default="highest", metadata=spec(choices=PASS_SELECT))
    search_s: float = field(default=86400.0, metadata=spec(gt=0, le=30 * 86400.0, unit="s"))
    offset_s: float = field(default=0.0, metadata=spec(ge=-86400, le=86400, unit="s"))
    knot_step_s: float = field(default=0.01, metadata=spec(ge=1e-4, le=1.0, unit="s",
                                                           doc="DelayTrack knot spacing"))
    eop_file: str | None = field(default=None, metadata=spec(min_len=1, doc=(
        "IERS finals2000A.all-format EOP file (UT1-UTC, polar motion; relative to the scenario file); "
        "none: UT1 = UTC, no polar motion (~75 ns / 17 Hz at 20 GHz for UT1-UTC = 0.074 s)")))


@dataclass(frozen=True)
class LinkConfig:
    """Link budget (``hil.orbit.LinkBudget``) that sets Es/N0 over the pass.

    ``preset: seed-downlink`` starts from the seed paper's Ka-band downlink (30 dBW, 38.5 / 39.7 dBi);
    any field given here overrides it. ``custom`` uses the fields alone. ``bandwidth_hz`` defaults to
    the waveform bandwidth (sample rate / oversampling). ``snr_db`` (optional) replaces the budget by a
    constant Es/N0 (the path loss is still reported).
    """

    preset: str = field(default="custom", metadata=spec(choices=LINK_PRESETS))
    tx_power_dbw: float | None = field(default=None, metadata=spec(ge=-100, le=100, unit="dBW"))
    tx_gain_dbi: float | None = field(default=None, metadata=spec(ge=-50, le=80, unit="dBi"))
    rx_gain_dbi: float | None = field(default=None, metadata=spec(ge=-50, le=80, unit="dBi"))
    noise_figure_db: float | None = field(default=None, metadata=spec(ge=0, le=30, unit="dB"))
    antenna_temperature_k: float | None = field(default=None, metadata=spec(ge=0, le=1e5, unit="K"))
    bandwidth_hz: float | None = field(default=None, metadata=spec(gt=0, le=1e11, unit="Hz"))
    gases: bool = True
    extra_loss_db: float = field(default=0.0, metadata=spec(ge=0, le=100, unit="dB"))
    snr_db: float | None = field(default=None, metadata=spec(ge=-20, le=80, unit="dB"))


@dataclass(frozen=True)
class FramesConfig:
    """Bursts of ``per_burst`` frames (preamble + frame each), one burst every ``interval_s`` of pass time.

    Every burst goes through the channel with the continuous delay of its own samples; the receiver
    carries its tracking state across the gaps. ``oversample``: radio samples per waveform sample (the
    waveform occupies ``sample_rate / oversample``; 2 keeps it inside the channel interpolator's band).
    ``max_bursts`` caps the number of bursts (the interval is widened to fit; 0 = no cap).
    """

    interval_s: float = field(default=1.0, metadata=spec(ge=1e-3, le=600, unit="s"))
    per_burst: int = field(default=4, metadata=spec(ge=1, le=1000))
    oversample: int = field(default=2, metadata=spec(choices=(1, 2, 4)))
    max_bursts: int = field(default=0, metadata=spec(ge=0, le=1_000_000))
    preamble_degree: int = field(default=7, metadata=spec(ge=5, le=10, doc="m-sequence degree of the preamble"))
    preamble_repeats: int = field(default=4, metadata=spec(choices=(2, 3, 4, 5, 7, 11, 13)))
    header_repeats: int = field(default=4, metadata=spec(ge=1, le=64, doc="repetitions of each header bit"))
    pace: str = field(default="fast", metadata=spec(
        choices=("fast", "realtime"), doc="fast: as fast as the blocks run; realtime: the emulator streams at "
        "the sample rate (overflows/underflows counted)"))


@dataclass(frozen=True)
class ChannelConfig:
    """What the emulator imposes besides the pass geometry: NTN-TDL multipath (TR 38.811, scaled to
    ``delay_spread_s``, Rayleigh taps fading with terminal-motion Doppler ``fading_doppler_hz``), and
    the receiver's oscillator error relative to the transmitter (a real frequency offset and drift)."""

    ntn_tdl: str | None = field(default=None, metadata=spec(choices=NTN_TDL))
    delay_spread_s: float = field(default=100e-9, metadata=spec(ge=0, le=1e-3, unit="s"))
    fading_doppler_hz: float = field(default=0.0, metadata=spec(ge=0, le=1e5, unit="Hz"))
    oscillator_ppm: float = field(default=0.0, metadata=spec(ge=-100, le=100, unit="ppm",
                                                             doc="receiver LO offset (applied by the emulator)"))
    oscillator_drift_ppm_per_s: float = field(default=0.0, metadata=spec(ge=-1, le=1, unit="ppm/s"))
    light_time: bool = field(default=True, metadata=spec(doc="emulated orbit delay includes light time"))
    gases: bool = field(default=True, metadata=spec(doc="emulated path loss includes atmospheric gases"))


# EphemerisErrorConfig (tracking.ephemeris_error) is imported from hil.orbit.ephemeris, next to the code that
# applies it: tle_age_days, tle_growth_m_per_day(2), epoch_shift_s, along_track_m, cross_track_m, radial_m,
# clock_offset_s, offset_ppm, drift_ppm_per_s (units and ranges there).


@dataclass(frozen=True)
class TrackingConfig:
    """Doppler handling at the receiver: ``ephemeris`` (pre-compensation from the terminal's ephemeris +
    closed loop), ``blind`` (acquisition over the whole band + closed loop), ``none`` (timing only).
    ``compare``: further modes run on the same frames, for the report's comparison."""

    mode: str = field(default="ephemeris", metadata=spec(choices=TRACKING_MODES))
    compare: list[str] = field(default_factory=list)
    ephemeris_error: EphemerisErrorConfig = field(default_factory=EphemerisErrorConfig)
    loop_bandwidth_hz: float | None = field(default=None, metadata=spec(gt=0, le=1000, unit="Hz"))
    max_misses: int = field(default=2, metadata=spec(ge=1, le=100))
    settle_s: float = field(default=5.0, metadata=spec(ge=0, le=3600, unit="s",
                                                        doc="excluded from tracking statistics after acquisition"))
    own_satellite: int | str | None = field(default=None, metadata=spec(
        doc="the satellite whose TLE the receiver propagates (index or name; default: the serving one the "
            "network announces) - a wrong one is a receiver that must lose lock and say so"))

    def validate(self):
        for i, m in enumerate(self.compare):
            if m not in TRACKING_MODES:
                raise ConfigError.bad_value(f"compare[{i}]", m, "one of " + ", ".join(repr(x) for x in TRACKING_MODES))
            if m == self.mode or m in self.compare[:i]:
                raise ConfigError.bad_value(f"compare[{i}]", m, f"a mode other than {self.mode!r} and not repeated")


@dataclass(frozen=True)
class Scenario:
    """A whole experiment."""

    name: str = field(metadata=spec(min_len=1))
    description: str = ""
    seed: int = field(default=0, metadata=spec(ge=0, doc="seed of every random generator in the run"))
    sample_rate_hz: float = field(default=1.92e6, metadata=spec(gt=0, le=250e6, unit="Hz"))
    carrier_hz: float = field(default=2.0e9, metadata=spec(gt=0, le=100e9, unit="Hz"))
    duration_s: float = field(default=10.0, metadata=spec(gt=0, le=86400.0, unit="s"))
    epoch: str = field(default="2026-01-01T00:00:00Z", metadata=spec(min_len=1, doc="UTC, ISO-8601"))
    waveforms: list[WaveformConfig] = field(default_factory=lambda: [WaveformConfig("otfs")],
                                            metadata=spec(min_len=1))
    backend: BackendConfig = field(default_factory=BackendConfig)
    orbit: OrbitConfig = field(default_factory=OrbitConfig)
    link: LinkConfig = field(default_factory=LinkConfig)
    frames: FramesConfig = field(default_factory=FramesConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    channel: ChannelConfig = field(default_factory=ChannelConfig)
    emulator: EmulatorConfig | None = field(default=None, metadata=spec(
        doc="optional channel-emulator section (endpoints + links), as `hil emulate` reads it"))

    def validate(self):
        if self.sample_rate_hz >= self.carrier_hz:
            raise ConfigError.bad_value("sample_rate_hz", self.sample_rate_hz,
                                        f"< carrier_hz ({self.carrier_hz} Hz)")


def load_scenario(path: str | os.PathLike) -> Scenario:
    """Read and validate a scenario YAML file (errors name the file, field path, value, allowed)."""
    path = os.fspath(path)
    return parse(Scenario, load_yaml(path), source=path)
