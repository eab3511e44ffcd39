"""Typed configuration of the emulator (validated by :func:`hil.config.parse`).

An emulator file (scenarios/emulator/*.yaml) is an :class:`EmulatorConfig` at top level, or a scenario
file with an ``emulator:`` section holding one. Endpoints are sockets (each binds or connects); links
join a source endpoint (a transmitter's samples come in) to a sink endpoint (a receiver's go out) and
carry their own trajectory, gain, multipath and noise - an up-link and a down-link are two links.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from hil.config import load_yaml, parse, spec
from hil.emulator.address import parse_address
from hil.errors import ConfigError

__all__ = ["EndpointConfig", "TrajectoryConfig", "PathConfig", "LinkConfig", "CurveConfig", "EmulatorConfig",
           "load_emulator_config", "INPUT_PATTERNS", "OUTPUT_PATTERNS"]

INPUT_PATTERNS = ("pull", "sub", "req")     # the emulator's socket type for samples coming in
OUTPUT_PATTERNS = ("push", "pub", "rep")    # ... and for samples going out
TRAJECTORIES = ("constant", "linear", "circular", "orbit", "gap", "network")


@dataclass(frozen=True)
class EndpointConfig:
    """One ZeroMQ socket of the emulator.

    ``pattern`` is the emulator's own socket type: pull / sub / req receive samples (req sends a request
    first, as GNU Radio's REQ source and srsRAN's RX do), push / pub / rep deliver them (rep answers each
    request). ``bind`` chooses bind or connect. ``wire``: raw (plain cf32) or framed (docs/wire.md).
    """

    name: str = field(metadata=spec(min_len=1))
    address: str = field(metadata=spec(min_len=1, doc="ZeroMQ address, e.g. tcp://127.0.0.1:5555"))
    pattern: str = field(metadata=spec(choices=INPUT_PATTERNS + OUTPUT_PATTERNS))
    bind: bool = True
    wire: str = field(default="raw", metadata=spec(choices=("raw", "framed")))
    hwm: int = field(default=64, metadata=spec(ge=1, le=1_000_000, doc="ZeroMQ high-water mark (messages)"))
    max_message_bytes: int = field(default=16 << 20, metadata=spec(
        ge=1024, le=1 << 30, unit="bytes", doc="largest message accepted; ZeroMQ drops a peer that sends a "
        "larger one (never allocated; counted as a peer disconnect)"))
    queue_bytes: int = field(default=64 << 20, metadata=spec(
        ge=1 << 16, le=1 << 34, unit="bytes", doc="byte budget of this endpoint's ZeroMQ queue: the "
        "high-water mark used is min(hwm, queue_bytes // max_message_bytes), at least 1"))
    buffer_samples: int = field(default=1 << 20, metadata=spec(ge=1024, le=1 << 28,
                                                               doc="output queue bound (samples)"))
    on_full: str = field(default="block", metadata=spec(
        choices=("block", "drop"), doc="output queue full: block (stop reading the inputs) or drop oldest"))
    request: str = field(default="u32", metadata=spec(choices=("u32", "byte"),
                                                      doc="req inputs: request body (u32 items wanted or 1 byte)"))
    request_samples: int = field(default=4096, metadata=spec(ge=1, le=1 << 24, unit="samples"))
    reply_samples: int = field(default=1 << 16, metadata=spec(ge=1, le=1 << 24, unit="samples",
                                                              doc="rep outputs: most samples per reply"))
    subscribe: str = field(default="", metadata=spec(doc="sub inputs: topic prefix"))
    stream_id: int = field(default=0, metadata=spec(ge=0, le=(1 << 32) - 1))
    header_truth: bool = field(default=True, metadata=spec(
        doc="framed outputs: delay_s/doppler_hz/gain_db of the header carry the channel's values; false: 0 "
            "(a receiver that must not see the truth)"))
    timeout_s: float = field(default=1.0, metadata=spec(gt=0, le=3600, unit="s",
                                                        doc="req inputs: resend the request after this"))

    @property
    def is_input(self) -> bool:
        return self.pattern in INPUT_PATTERNS

    @property
    def effective_hwm(self) -> int:
        """ZeroMQ high-water mark (messages) within the byte budget: hwm x max_message_bytes <= queue_bytes."""
        return max(1, min(self.hwm, self.queue_bytes // self.max_message_bytes))


@dataclass(frozen=True)
class TrajectoryConfig:
    """One trajectory piece. kind: constant | linear | circular (closed-form pass) | orbit (hil.orbit) | gap.
    ``start_s`` matters in a list of several pieces (a handover sequence).

    ``orbit``: the satellite is ``tle: [line1, line2]``, or ``constellation`` (a hil.orbit preset such as
    starlink-1584, or a TLE file) with ``satellite`` (index or name); seen from ``station`` from
    ``epoch_utc`` + ``start_s`` for ``duration_s``. ``light_time`` (default on): the delay is solved for
    the signal's flight as the link's ``direction`` says (downlink: received on the ground at t, sent at
    t - tau; uplink: received at the satellite at t). ``gases`` (default on): the path loss is the link
    budget's (hil.orbit.LinkBudget: free space + ITU-R P.676 gases); off: free space only."""

    kind: str = field(metadata=spec(choices=TRAJECTORIES))
    start_s: float = field(default=0.0, metadata=spec(unit="s"))
    delay_s: float = field(default=2e-3, metadata=spec(ge=0, le=1.0, unit="s"))
    rate: float = field(default=0.0, metadata=spec(ge=-1e-3, le=1e-3, unit="s/s"))
    path_loss_db: float = field(default=0.0, metadata=spec(unit="dB"))
    altitude_m: float = field(default=550e3, metadata=spec(ge=100e3, le=50_000e3, unit="m"))
    offset_deg: float = field(default=0.0, metadata=spec(ge=0, le=30, unit="deg"))
    t_closest_s: float = field(default=0.0, metadata=spec(unit="s"))
    min_elevation_deg: float = field(default=10.0, metadata=spec(ge=-90, le=90, unit="deg"))
    extra_loss_db: float = field(default=0.0, metadata=spec(unit="dB"))
    tle: list[str] | None = field(default=None, metadata=spec(doc="orbit: two TLE lines"))
    station: list[float] | None = field(default=None, metadata=spec(doc="orbit: lat_deg, lon_deg, alt_m"))
    epoch_utc: str | None = field(default=None, metadata=spec(doc="orbit: ISO time of t = 0"))
    duration_s: float = field(default=900.0, metadata=spec(gt=0, le=86400, unit="s"))
    constellation: str | None = field(default=None, metadata=spec(
        min_len=1, doc="orbit: hil.orbit preset (e.g. starlink-1584) or TLE file, instead of tle:"))
    satellite: int | str | None = field(default=None, metadata=spec(doc="orbit: index or name in constellation"))
    light_time: bool = field(default=True, metadata=spec(doc="orbit: solve the light time (link direction)"))
    gases: bool = field(default=True, metadata=spec(doc="orbit: add ITU-R P.676 gas loss (LinkBudget)"))
    knot_step_s: float = field(default=1e-3, metadata=spec(ge=1e-4, le=10.0, unit="s",
                                                           doc="orbit: delay-track knot spacing"))
    eop: str | None = field(default=None, metadata=spec(
        min_len=1, doc="orbit: IERS finals2000A file (UT1-UTC, polar motion); null: UT1 = UTC, no pole"))
    network: str | None = field(default=None, metadata=spec(
        min_len=1, doc="network: a network scenario file (hil.network, docs/network.md)"))
    link: str | None = field(default=None, metadata=spec(min_len=1, doc="network: the link's name in that file"))


@dataclass(frozen=True)
class PathConfig:
    """One multipath component relative to the direct path (becomes a dsp.channel.Path)."""

    gain_db: float = field(default=0.0, metadata=spec(le=40, unit="dB"))
    phase_deg: float = field(default=0.0, metadata=spec(unit="deg"))
    delay_s: float = field(default=0.0, metadata=spec(ge=0, le=1e-3, unit="s"))
    doppler_hz: float = field(default=0.0, metadata=spec(unit="Hz"))


@dataclass(frozen=True)
class LinkConfig:
    """A one-way link from ``source`` (an input endpoint) to ``sink`` (an output endpoint)."""

    name: str = field(metadata=spec(min_len=1))
    source: str = field(metadata=spec(min_len=1))
    sink: str = field(metadata=spec(min_len=1))
    direction: str = field(default="downlink", metadata=spec(choices=("uplink", "downlink")))
    carrier_hz: float = field(default=2.0e9, metadata=spec(ge=0, le=100e9, unit="Hz"))
    gain_db: float = field(default=0.0, metadata=spec(ge=-300, le=300, unit="dB",
                                                      doc="gain before path loss (EIRP + G - offsets)"))
    noise_dbfs: float | None = field(default=None, metadata=spec(ge=-200, le=40, unit="dB",
                                                                 doc="AWGN power per sample re 1.0; null: none"))
    trajectory: list[TrajectoryConfig] = field(default_factory=lambda: [TrajectoryConfig("constant")],
                                               metadata=spec(min_len=1))
    paths: list[PathConfig] = field(default_factory=list)
    ntn_tdl: str | None = field(default=None, metadata=spec(
        choices=(None, "NTN-TDL-A", "NTN-TDL-B", "NTN-TDL-C", "NTN-TDL-D"),
        doc="TR 38.811 NTN-TDL multipath profile (instead of paths)"))
    delay_spread_s: float = field(default=100e-9, metadata=spec(ge=0, le=1e-3, unit="s",
                                                                doc="NTN-TDL RMS delay spread"))
    fading_doppler_hz: float = field(default=0.0, metadata=spec(ge=0, le=1e5, unit="Hz",
                                                                doc="NTN-TDL terminal-motion max Doppler"))
    fading_sinusoids: int = field(default=8, metadata=spec(ge=1, le=64))
    max_delay_s: float = field(default=0.02, metadata=spec(gt=0, le=1.0, unit="s"))
    taps: int = field(default=16, metadata=spec(ge=4, le=64, doc="interpolator taps, a multiple of 4"))
    segment: int = field(default=1024, metadata=spec(ge=16, le=1 << 20, unit="samples"))
    threads: int = field(default=1, metadata=spec(ge=0, le=64, doc="threads computing each chunk of the delay "
                                                  "line (0, 1: the calling thread; N: N ranges at once, "
                                                  "output bit-identical)"))
    frequency_offset_hz: float = field(default=0.0, metadata=spec(
        ge=-1e8, le=1e8, unit="Hz", doc="receiver LO error re the transmitter at trajectory time 0"))
    frequency_drift_hz_s: float = field(default=0.0, metadata=spec(
        ge=-1e6, le=1e6, unit="Hz/s", doc="receiver LO drift (phase 2 pi (f0 t + drift t^2 / 2))"))
    skip_lead: float | str = field(default="auto", metadata=spec(
        unit="s", doc="output left out before a burst that follows silence: auto (the trajectory's minimum "
        "delay less taps/2 + 2 samples; 0 into a raw output), 0 (off) or seconds up to auto"))

    def validate(self):
        v = self.skip_lead
        if v != "auto" and (isinstance(v, str) or not v >= 0):
            raise ConfigError.bad_value("skip_lead", v, "'auto', 0 (off) or seconds >= 0 (up to the link's "
                                        "minimum delay less taps/2)")


@dataclass(frozen=True)
class CurveConfig:
    """CurveZMQ (optional). Keys are Z85 strings (40 characters) as made by ``zmq.curve_keypair()``.
    Bound sockets act as CURVE servers with ``secret_key``; connecting sockets need ``server_key`` (the
    peer's public key). ``clients``: public keys allowed to connect (empty: any key)."""

    public_key: str = field(metadata=spec(min_len=40, max_len=40))
    secret_key: str = field(metadata=spec(min_len=40, max_len=40))
    server_key: str | None = field(default=None, metadata=spec(min_len=40, max_len=40))
    clients: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class EmulatorConfig:
    """The whole emulator: endpoints, links, clock and telemetry."""

    name: str = field(default="emulator", metadata=spec(min_len=1))
    description: str = ""
    seed: int = field(default=0, metadata=spec(ge=0))
    sample_rate_hz: float = field(default=1.92e6, metadata=spec(gt=0, le=250e6, unit="Hz"))
    epoch_s: float = field(default=0.0, metadata=spec(unit="s", doc="trajectory time of sample 0"))
    endpoints: list[EndpointConfig] = field(default_factory=list, metadata=spec(min_len=2))
    links: list[LinkConfig] = field(default_factory=list, metadata=spec(min_len=1))
    telemetry_csv: str | None = None
    telemetry_bursts: str | None = field(default=None, metadata=spec(
        min_len=1, doc="JSON lines: one record per burst and link (the experiment's truth)"))
    telemetry_interval_s: float = field(default=0.1, metadata=spec(
        gt=0, le=86400, unit="s", doc="of sample time: between CSV rows, and the longest burst record (a longer "
        "burst is split into records of this much input)"))
    pace: bool = field(default=False, metadata=spec(doc="real-time pacing of the outputs (hardware runs)"))
    allow_remote: bool = field(default=False, metadata=spec(doc="allow addresses other than 127.0.0.1"))
    curve: CurveConfig | None = None
    control: str | None = field(default=None, metadata=spec(doc="REP address answering b'status' with JSON"))

    def validate(self):
        names = [e.name for e in self.endpoints]
        for i, n in enumerate(names):
            if n in names[:i]:
                raise ConfigError.bad_value(f"endpoints[{i}].name", n, "a unique endpoint name")
        by = {e.name: e for e in self.endpoints}
        for i, lk in enumerate(self.links):
            if lk.source not in by or not by[lk.source].is_input:
                raise ConfigError.bad_value(f"links[{i}].source", lk.source, "the name of an input endpoint ("
                                            + ", ".join(e.name for e in self.endpoints if e.is_input) + ")")
            if lk.sink not in by or by[lk.sink].is_input:
                raise ConfigError.bad_value(f"links[{i}].sink", lk.sink, "the name of an output endpoint ("
                                            + ", ".join(e.name for e in self.endpoints if not e.is_input) + ")")
            if lk.ntn_tdl is not None and lk.paths:
                raise ConfigError.bad_value(f"links[{i}].ntn_tdl", lk.ntn_tdl,
                                            "null when paths are given (one multipath description per link)")
            fs2 = self.sample_rate_hz / 2
            for fld in ("frequency_offset_hz", "frequency_drift_hz_s"):
                if abs(getattr(lk, fld)) > fs2:
                    raise ConfigError.bad_value(f"links[{i}].{fld}", getattr(lk, fld),
                                                f"within +-sample_rate_hz/2 = {fs2:g}")
            if lk.skip_lead not in ("auto", 0.0) and by[lk.sink].wire != "framed":
                raise ConfigError.bad_value(f"links[{i}].skip_lead", lk.skip_lead, f"'auto' or 0 (sink "
                                            f"{lk.sink} is a raw output: no sample index to carry a skipped lead)")
            starts = [p.start_s for p in lk.trajectory]
            if any(b <= a for a, b in zip(starts, starts[1:])):
                raise ConfigError.bad_value(f"links[{i}].trajectory.start_s", starts, "strictly increasing")
        lnames = [lk.name for lk in self.links]
        for i, n in enumerate(lnames):
            if n in lnames[:i]:
                raise ConfigError.bad_value(f"links[{i}].name", n, "a unique link name")
        # min_len of a field is checked only when the key is given: a file without links runs nothing.
        if not self.links:
            raise ConfigError.bad_value("links", [], "at least 1 link (source endpoint -> sink endpoint)")
        if len(self.endpoints) < 2:
            raise ConfigError.bad_value("endpoints", [e.name for e in self.endpoints],
                                        "at least 2 endpoints (an input and an output)")
        # Parsed, not prefix-matched (hil.emulator.address): one endpoint of tcp/ipc/inproc per string,
        # loopback unless allow_remote.
        for i, e in enumerate(self.endpoints):
            parse_address(e.address, f"endpoints[{i}].address", allow_remote=self.allow_remote, bind=e.bind)
        if self.control:
            parse_address(self.control, "control", allow_remote=self.allow_remote, bind=True)


def load_emulator_config(path: str | os.PathLike) -> EmulatorConfig:
    """Read an emulator file, or the ``emulator:`` section of a scenario file."""
    path = os.fspath(path)
    data = load_yaml(path)
    if isinstance(data, dict) and "emulator" in data:
        return parse(EmulatorConfig, data["emulator"], source=path, path="emulator")
    return parse(EmulatorConfig, data, source=path)
