"""Network scenarios: nodes, links, relays and a time-ordered event list, validated into typed objects.

A network file (scenarios/network/*.yaml) holds a ``network:`` mapping (or is one)::

    network:
      epoch_utc: "2026-01-01T00:00:00Z"     # t = 0 of every node's motion
      duration_s: 60
      nodes:
        - {name: sat1, kind: satellite, constellation: starlink-1584, satellite: 200}
        - {name: uav1, kind: uav, waypoints: [[lat, lon, alt_m], ...], speed_mps: 30}
        - {name: uav2, kind: uav, loiter: {center: [lat, lon, alt_m], radius_m: 500, speed_mps: 25}}
        - {name: bs1, kind: bs, position: [lat, lon, alt_m],
           antenna: {kind: pencil, gain_dbi: 25, beamwidth_deg: 3, pointing: ship3}}
      links:
        - {name: bs1-ship3, tx: bs1, rx: ship3, carrier_hz: 3.5e9}      # model auto: from the node kinds
      relays:
        - {name: uav1-bp, node: uav1, uplink: bs1-uav1, downlink: uav1-ship2, gain_db: 60}
      events:                                # time-ordered
        - {t_s: 0,  action: structure, structure: hand-foot}
        - {t_s: 20, action: point, node: bs1, target: ship4}
        - {t_s: 30, action: relay_off, relay: uav1-bp}

Every bad topology is one :class:`~hil.errors.ConfigError` line naming the field: a link to an unknown
node (``links[i].tx``), a relay whose hops do not meet at its node, a relay loop (``relays[i].downlink``),
a waypoint list with one point (``nodes[i].waypoints``), a negative speed (``nodes[i].speed_mps``), an
event out of time order (``events[i].t_s``), ...

:func:`build_network` turns a config into :class:`Network` (nodes, pair trajectories, emulator Links,
transparent relays, the structure timeline) with the events applied.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from hil.config import load_yaml, parse, spec
from hil.errors import ConfigError
from hil.scenario import FramesConfig, WaveformConfig

from . import pathloss as pl
from .antenna import ANTENNA_KINDS, Antenna
from .link import LOS_MODES, PairTrajectory
from .motion import CircularOrbitMotion, FixedMotion, LoiterMotion, SatelliteMotion, WaypointMotion
from .nodes import NODE_KINDS, Node, Nodes

__all__ = ["ReceiverConfig", "AntennaConfig", "LoiterConfig", "OrbitConfig", "NodeConfig", "NetLinkConfig",
           "RelayConfig", "EventConfig", "NetworkConfig", "Network", "build_network", "load_network_config",
           "STRUCTURES",
           "ACTIONS"]

#: the four basic structures of the structured satellite-UAV-terrestrial network (Feng et al., 2024)
STRUCTURES = ("arm-hand", "broadcast-communication", "hand-foot", "eye-foot")
ACTIONS = ("structure", "point", "relay_on", "relay_off")
FIXED_KINDS = ("bs", "gateway", "terminal")


@dataclass(frozen=True)
class AntennaConfig:
    """isotropic | dish | pencil; gain (dBi), half-power beamwidth (deg), pointing (nadir, zenith,
    [az_deg, el_deg] or a node name; a pencil beam points at a node)."""

    kind: str = field(default="isotropic", metadata=spec(choices=ANTENNA_KINDS))
    gain_dbi: float = field(default=0.0, metadata=spec(ge=-50, le=80, unit="dBi"))
    beamwidth_deg: float | None = field(default=None, metadata=spec(gt=0, le=180, unit="deg"))
    pointing: str | list[float] | None = None
    side_lobe_db: float = field(default=30.0, metadata=spec(ge=0, le=100, unit="dB"))


@dataclass(frozen=True)
class LoiterConfig:
    center: list[float] = field(metadata=spec(min_len=2, max_len=3, doc="[lat_deg, lon_deg, alt_m]"))
    radius_m: float = field(metadata=spec(gt=0, le=1e6, unit="m"))
    speed_mps: float = field(metadata=spec(ge=0, le=1e4, unit="m/s"))
    phase_deg: float = field(default=0.0, metadata=spec(unit="deg"))
    clockwise: bool = False


@dataclass(frozen=True)
class OrbitConfig:
    """A circular Keplerian orbit (closed form; :class:`~hil.network.motion.CircularOrbitMotion`)."""

    altitude_m: float = field(metadata=spec(ge=100e3, le=100_000e3, unit="m"))
    inclination_deg: float = field(default=0.0, metadata=spec(ge=0, le=180, unit="deg"))
    raan_deg: float = field(default=0.0, metadata=spec(unit="deg"))
    phase_deg: float = field(default=0.0, metadata=spec(unit="deg"))


@dataclass(frozen=True)
class NodeConfig:
    """One node. Motion, by kind: satellite - ``tle`` or ``constellation`` + ``satellite`` or ``orbit``;
    uav - ``waypoints`` + ``speed_mps`` or ``loiter``; ship / vehicle - ``waypoints`` + ``speed_mps`` (a
    lane) or ``position``; bs / gateway / terminal - ``position``."""

    name: str = field(metadata=spec(min_len=1))
    kind: str = field(metadata=spec(choices=NODE_KINDS))
    position: list[float] | None = field(default=None, metadata=spec(min_len=2, max_len=3,
                                                                     doc="[lat_deg, lon_deg, alt_m]"))
    waypoints: list[list[float]] | None = None
    speed_mps: float | None = field(default=None, metadata=spec(gt=0, le=1e4, unit="m/s"))
    start_s: float = field(default=0.0, metadata=spec(unit="s", doc="waypoints: leaves the first point"))
    loop: bool = False
    loiter: LoiterConfig | None = None
    tle: list[str] | None = None
    constellation: str | None = field(default=None, metadata=spec(min_len=1))
    satellite: int | str | None = None
    orbit: OrbitConfig | None = None
    antenna: AntennaConfig = field(default_factory=AntennaConfig)

    def validate(self):
        given = {k for k in ("position", "waypoints", "loiter", "tle", "constellation", "orbit")
                 if getattr(self, k) is not None}
        if self.kind == "satellite":
            allowed = ({"tle"}, {"constellation"}, {"orbit"})
            what = "tle: [line1, line2], constellation: + satellite:, or orbit:"
        elif self.kind == "uav":
            allowed = ({"waypoints"}, {"loiter"})
            what = "waypoints: + speed_mps:, or loiter:"
        elif self.kind in ("ship", "vehicle"):
            allowed = ({"waypoints"}, {"position"})
            what = "waypoints: + speed_mps: (a lane), or position:"
        else:
            allowed = ({"position"},)
            what = "position: [lat_deg, lon_deg, alt_m]"
        if given not in allowed:
            extra = sorted(given - set().union(*allowed))
            fld = extra[0] if extra else (sorted(given)[1] if len(given) > 1 else "position")
            val = getattr(self, fld, None) if given else None
            raise ConfigError.bad_value(fld, "{...}" if hasattr(val, "__dataclass_fields__") else val,
                                        f"for a {self.kind}, exactly one of: {what}")
        if self.waypoints is not None:
            if len(self.waypoints) < 2:
                raise ConfigError.bad_value("waypoints", f"{len(self.waypoints)} point(s)",
                                            "at least 2 points [lat_deg, lon_deg, alt_m]")
            if self.speed_mps is None:
                raise ConfigError.bad_value("speed_mps", None, "> 0 m/s with waypoints")
        elif self.speed_mps is not None:
            raise ConfigError.bad_value("speed_mps", self.speed_mps, "null unless waypoints are given "
                                        "(loiter: has its own speed_mps)")
        if self.constellation is not None and self.satellite is None:
            raise ConfigError.bad_value("satellite", None, "an index or a name in the constellation")
        if self.tle is not None and len(self.tle) != 2:
            raise ConfigError.bad_value("tle", f"{len(self.tle)} line(s)", "two TLE lines [line1, line2]")


@dataclass(frozen=True)
class NetLinkConfig:
    """A one-way link ``tx`` -> ``rx`` (node names) at ``carrier_hz``; path loss ``model`` (auto: from the
    node kinds, see hil.network.link); emulator gain (dB, before the net loss) and receiver noise."""

    name: str = field(metadata=spec(min_len=1))
    tx: str = field(metadata=spec(min_len=1))
    rx: str = field(metadata=spec(min_len=1))
    carrier_hz: float = field(default=2e9, metadata=spec(ge=1e6, le=100e9, unit="Hz"))
    model: str = field(default="auto", metadata=spec(choices=("auto",) + pl.MODELS))
    los: str = field(default="random", metadata=spec(choices=LOS_MODES))
    los_interval_s: float = field(default=1.0, metadata=spec(ge=1e-3, le=1e6, unit="s"))
    mask_deg: float = field(default=10.0, metadata=spec(ge=-90, le=90, unit="deg"))
    extra_loss_db: float = field(default=0.0, metadata=spec(ge=0, le=300, unit="dB"))
    fixed_delay_s: float = field(default=0.0, metadata=spec(ge=0, le=1.0, unit="s"))
    gain_db: float = field(default=0.0, metadata=spec(ge=-300, le=300, unit="dB"))
    noise_dbfs: float | None = field(default=None, metadata=spec(ge=-200, le=40, unit="dB"))
    max_delay_s: float = field(default=0.03, metadata=spec(gt=0, le=1.0, unit="s"))
    tx_antenna: AntennaConfig | None = field(default=None, metadata=spec(
        doc="this link's antenna at the tx node (default: the node's antenna; point events move the node's)"))
    rx_antenna: AntennaConfig | None = None


@dataclass(frozen=True)
class RelayConfig:
    """A transparent relay on ``node``: ``uplink`` (a link into the node) -> gain, translation ->
    ``downlink`` (a link out of it)."""

    name: str = field(metadata=spec(min_len=1))
    node: str = field(metadata=spec(min_len=1))
    uplink: str = field(metadata=spec(min_len=1))
    downlink: str = field(metadata=spec(min_len=1))
    kind: str = field(default="transparent", metadata=spec(
        choices=("transparent", "regenerative"), doc="bent pipe, or decode-and-forward (hil.network.regen)"))
    gain_db: float = field(default=0.0, metadata=spec(ge=-200, le=300, unit="dB", doc="transparent only"))
    translation_offset_hz: float = field(default=0.0, metadata=spec(ge=-1e8, le=1e8, unit="Hz",
                                                                    doc="transparent only: relay LO error"))
    processing_delay_s: float = field(default=0.05, metadata=spec(
        gt=0, le=10.0, unit="s", doc="regenerative only: re-send at the frame's scheduled start + this"))
    active: bool = field(default=True, metadata=spec(
        doc="relaying at t = 0 (relay_on / relay_off events change it; not 'on': YAML reads on as true)"))


@dataclass(frozen=True)
class EventConfig:
    """At ``t_s``: ``structure`` (the structure in force from now: arm-hand, broadcast-communication,
    hand-foot, eye-foot; ``serving``: the links that carry users' traffic under it), ``point`` (``node``'s
    antenna at ``target``), ``relay_on`` / ``relay_off`` (``relay``)."""

    t_s: float = field(metadata=spec(ge=0, unit="s"))
    action: str = field(metadata=spec(choices=ACTIONS))
    structure: str | None = field(default=None, metadata=spec(choices=(None,) + STRUCTURES))
    serving: list[str] = field(default_factory=list)
    node: str | None = None
    target: str | list[float] | None = None
    relay: str | None = None
    note: str = ""

    def validate(self):
        need = {"structure": ("structure",), "point": ("node", "target"), "relay_on": ("relay",),
                "relay_off": ("relay",)}[self.action]
        for f in need:
            if getattr(self, f) is None:
                raise ConfigError.bad_value(f, None, f"a value for action {self.action}")
        for f in ("structure", "node", "target", "relay"):
            if f not in need and getattr(self, f) is not None:
                raise ConfigError.bad_value(f, getattr(self, f), f"null for action {self.action}")
        if self.serving and self.action != "structure":
            raise ConfigError.bad_value("serving", self.serving, f"[] for action {self.action}")


@dataclass(frozen=True)
class ReceiverConfig:
    """The users' (and regenerative relays') receivers: ``blind`` (schedule + a delay window), or
    ``ephemeris`` - pre-compensation from the link as predicted from the nodes' announced positions,
    which are wrong by ``position_error_m`` (a fixed offset in a direction drawn from ``seed`` per node)
    and, for satellites, ``satellite_along_track_m`` along the orbit."""

    mode: str = field(default="blind", metadata=spec(choices=("blind", "ephemeris")))
    position_error_m: float = field(default=20.0, metadata=spec(ge=0, le=1e6, unit="m"))
    satellite_along_track_m: float = field(default=2000.0, metadata=spec(ge=-1e6, le=1e6, unit="m"))
    seed: int = field(default=0, metadata=spec(ge=0, le=(1 << 63) - 1))


@dataclass(frozen=True)
class NetworkConfig:
    name: str = field(default="network", metadata=spec(min_len=1))
    description: str = ""
    epoch_utc: str = field(default="2026-01-01T00:00:00Z", metadata=spec(min_len=1))
    duration_s: float = field(default=60.0, metadata=spec(gt=0, le=86400, unit="s"))
    sample_rate_hz: float = field(default=1.92e6, metadata=spec(gt=0, le=250e6, unit="Hz"))
    seed: int = field(default=0, metadata=spec(ge=0, le=(1 << 63) - 1))
    nodes: list[NodeConfig] = field(default_factory=list, metadata=spec(min_len=2))
    links: list[NetLinkConfig] = field(default_factory=list, metadata=spec(min_len=1))
    relays: list[RelayConfig] = field(default_factory=list)
    events: list[EventConfig] = field(default_factory=list)
    # test traffic on every serving link (hil network run): the loop's waveform and frame bursts
    waveform: WaveformConfig = field(default_factory=lambda: WaveformConfig("ofdm"))
    frames: FramesConfig = field(default_factory=lambda: FramesConfig(interval_s=2.0))
    receiver: ReceiverConfig = field(default_factory=ReceiverConfig)

    def validate(self):
        from hil.orbit import as_epoch

        as_epoch(self.epoch_utc, field="epoch_utc")
        if len(self.nodes) < 2:
            raise ConfigError.bad_value("nodes", len(self.nodes), "at least 2 nodes")
        if not self.links:
            raise ConfigError.bad_value("links", [], "at least 1 link")
        nodes = {}
        for i, n in enumerate(self.nodes):
            if n.name in nodes:
                raise ConfigError.bad_value(f"nodes[{i}].name", n.name, "a unique node name")
            nodes[n.name] = n
        known = ", ".join(nodes)
        links = {}
        for i, lk in enumerate(self.links):
            if lk.name in links:
                raise ConfigError.bad_value(f"links[{i}].name", lk.name, "a unique link name")
            for end in ("tx", "rx"):
                if getattr(lk, end) not in nodes:
                    raise ConfigError.bad_value(f"links[{i}].{end}", getattr(lk, end), f"a node name ({known})")
            if lk.tx == lk.rx:
                raise ConfigError.bad_value(f"links[{i}].rx", lk.rx, f"a node other than tx ({lk.tx})")
            links[lk.name] = lk
            for end in ("tx_antenna", "rx_antenna"):
                a = getattr(lk, end)
                if a is None:
                    continue
                p = a.pointing
                if isinstance(p, str) and p not in ("nadir", "zenith") and p not in nodes:
                    raise ConfigError.bad_value(f"links[{i}].{end}.pointing", p, f"nadir, zenith, [az, el] or a "
                                                f"node name ({known})")
                try:
                    Antenna(a.kind, a.gain_dbi, a.beamwidth_deg, pointing=a.pointing, side_lobe_db=a.side_lobe_db)
                except ConfigError as exc:
                    raise ConfigError.bad_value(f"links[{i}].{end}.{exc.field.replace('antenna.', '', 1)}",
                                                exc.value, exc.allowed) from None
        for i, n in enumerate(self.nodes):
            p = n.antenna.pointing
            if isinstance(p, str) and p not in ("nadir", "zenith") and p not in nodes:
                raise ConfigError.bad_value(f"nodes[{i}].antenna.pointing", p, f"nadir, zenith, [az, el] or a "
                                            f"node name ({known})")
            if p == n.name:
                raise ConfigError.bad_value(f"nodes[{i}].antenna.pointing", p, "another node (not itself)")
        # what the builders check (antenna fields, waypoint legs, satellite names) is checked here too,
        # so that the error carries the file and the field path
        epoch = as_epoch(self.epoch_utc)
        for i, n in enumerate(self.nodes):
            _antenna(n, i)
            _motion(n, i, epoch)
        self._validate_relays(nodes, links)
        self._validate_events(nodes)

    def _validate_relays(self, nodes, links):
        import networkx as nx

        names = set()
        fed = {}
        g = nx.DiGraph()
        for i, r in enumerate(self.relays):
            if r.name in names:
                raise ConfigError.bad_value(f"relays[{i}].name", r.name, "a unique relay name")
            names.add(r.name)
            if r.node not in nodes:
                raise ConfigError.bad_value(f"relays[{i}].node", r.node, "a node name (" + ", ".join(nodes) + ")")
            for hop in ("uplink", "downlink"):
                if getattr(r, hop) not in links:
                    raise ConfigError.bad_value(f"relays[{i}].{hop}", getattr(r, hop),
                                                "a link name (" + ", ".join(links) + ")")
            up, dn = links[r.uplink], links[r.downlink]
            if up.rx != r.node:
                raise ConfigError.bad_value(f"relays[{i}].uplink", r.uplink,
                                            f"a link into the relay node {r.node} (this one ends at {up.rx})")
            if dn.tx != r.node:
                raise ConfigError.bad_value(f"relays[{i}].downlink", r.downlink,
                                            f"a link out of the relay node {r.node} (this one starts at {dn.tx})")
            if r.uplink in fed:
                raise ConfigError.bad_value(f"relays[{i}].uplink", r.uplink,
                                            f"a link no other relay takes (relay {fed[r.uplink]} does)")
            fed[r.uplink] = r.name
            if r.kind == "regenerative":
                for fld, dflt in (("gain_db", 0.0), ("translation_offset_hz", 0.0), ("active", True)):
                    if getattr(r, fld) != dflt:
                        raise ConfigError.bad_value(f"relays[{i}].{fld}", getattr(r, fld),
                                                    f"{dflt} for a regenerative relay (a transparent relay's field)")
                if up.max_delay_s >= r.processing_delay_s:
                    raise ConfigError.bad_value(f"relays[{i}].processing_delay_s", r.processing_delay_s,
                                                f"> the uplink's max_delay_s ({up.max_delay_s:g} s): the relay "
                                                "re-sends only what it has received")
            g.add_edge(r.uplink, r.downlink, relay=r.name, index=i)
            try:
                cyc = nx.find_cycle(g)
            except nx.NetworkXNoCycle:
                continue
            chain = " -> ".join(g.edges[e]["relay"] for e in cyc)
            raise ConfigError.bad_value(f"relays[{i}].downlink", r.downlink,
                                        f"a link that does not lead back into this relay (relay loop: {chain})")

    def _validate_events(self, nodes):
        relays = {r.name for r in self.relays}
        regen = {r.name for r in self.relays if r.kind == "regenerative"}
        last = -1.0
        for i, e in enumerate(self.events):
            if e.t_s < last:
                raise ConfigError.bad_value(f"events[{i}].t_s", e.t_s, f">= {last:g} s (events in time order)")
            last = e.t_s
            if e.t_s > self.duration_s:
                raise ConfigError.bad_value(f"events[{i}].t_s", e.t_s, f"<= duration_s = {self.duration_s:g} s")
            if e.action == "point":
                if e.node not in nodes:
                    raise ConfigError.bad_value(f"events[{i}].node", e.node, "a node name (" + ", ".join(nodes) + ")")
                if nodes[e.node].antenna.kind == "isotropic":
                    raise ConfigError.bad_value(f"events[{i}].node", e.node, "a node with a dish or pencil antenna")
                if isinstance(e.target, str) and e.target not in ("nadir", "zenith") and (
                        e.target not in nodes or e.target == e.node):
                    raise ConfigError.bad_value(f"events[{i}].target", e.target,
                                                "nadir, zenith, [az, el] or another node's name")
            if e.action in ("relay_on", "relay_off") and e.relay not in relays:
                raise ConfigError.bad_value(f"events[{i}].relay", e.relay,
                                            "a relay name (" + (", ".join(sorted(relays)) or "none defined") + ")")
            if e.action in ("relay_on", "relay_off") and e.relay in regen:
                raise ConfigError.bad_value(f"events[{i}].relay", e.relay, "a transparent relay (switching a "
                                            "regenerative one is not modelled)")
            for j, s in enumerate(e.serving):
                if s not in {lk.name for lk in self.links}:
                    raise ConfigError.bad_value(f"events[{i}].serving[{j}]", s, "a link name")


def load_network_config(path) -> NetworkConfig:
    path = os.fspath(path)
    data = load_yaml(path)
    if isinstance(data, dict) and "network" in data:
        return parse(NetworkConfig, data["network"], source=path, path="network")
    return parse(NetworkConfig, data, source=path)


# ------------------------------------------------------------------------------------------- building
def _satellite(nc: NodeConfig, i: int):
    import hil.orbit as orbit

    if nc.tle is not None:
        return orbit.Constellation.from_tle_text("\n".join(nc.tle), source=f"nodes[{i}].tle")[0]
    try:
        cons = orbit.load_constellation(nc.constellation)
    except ConfigError as exc:
        raise ConfigError.bad_value(f"nodes[{i}].constellation", nc.constellation, str(exc)) from None
    which = nc.satellite
    if isinstance(which, str):
        try:
            return cons[cons.index(which)]
        except ConfigError:
            raise ConfigError.bad_value(f"nodes[{i}].satellite", which, f"a name in {nc.constellation} or an index "
                                        f"0..{len(cons) - 1}") from None
    if not 0 <= which < len(cons):
        raise ConfigError.bad_value(f"nodes[{i}].satellite", which, f"an index 0..{len(cons) - 1}")
    return cons[which]


def _motion(nc: NodeConfig, i: int, epoch):
    try:
        if nc.position is not None:
            return FixedMotion(*nc.position)
        if nc.waypoints is not None:
            return WaypointMotion(nc.waypoints, nc.speed_mps, start_s=nc.start_s, loop=nc.loop)
        if nc.loiter is not None:
            lc = nc.loiter
            return LoiterMotion(lc.center, lc.radius_m, lc.speed_mps, phase_deg=lc.phase_deg, clockwise=lc.clockwise)
        if nc.orbit is not None:
            o = nc.orbit
            return CircularOrbitMotion(o.altitude_m, inclination_deg=o.inclination_deg, raan_deg=o.raan_deg,
                                       phase_deg=o.phase_deg)
        return SatelliteMotion(_satellite(nc, i), epoch)
    except ConfigError as exc:
        if exc.field and not exc.field.startswith("nodes["):
            raise ConfigError.bad_value(f"nodes[{i}].{exc.field}", exc.value, exc.allowed) from None
        raise


def _pair_seed(seed: int, a: str, b: str) -> int:
    """One LOS draw sequence per unordered node pair (uplink and downlink see the same state)."""
    import zlib

    key = "|".join(sorted((a, b))).encode()
    return (seed * 1_000_003 + zlib.crc32(key)) % (1 << 63)


def _antenna(nc, i: int, where: str = "nodes", a=None) -> Antenna:
    a = nc.antenna if a is None else a
    try:
        return Antenna(a.kind, a.gain_dbi, a.beamwidth_deg, pointing=a.pointing, side_lobe_db=a.side_lobe_db)
    except ConfigError as exc:
        fld = exc.field if where == "nodes" else exc.field.replace("antenna.", "", 1)
        raise ConfigError.bad_value(f"{where}[{i}].{fld}", exc.value, exc.allowed) from None


class Network:
    """A built network: ``nodes`` (:class:`~hil.network.nodes.Nodes`), ``trajectories`` (link name ->
    :class:`PairTrajectory`), ``relays`` (name -> :class:`RelayConfig`), the structure timeline."""

    def __init__(self, cfg: NetworkConfig):
        from hil.orbit import as_epoch

        self.cfg = cfg
        self.epoch = as_epoch(cfg.epoch_utc)
        self.nodes = Nodes()
        for i, nc in enumerate(cfg.nodes):
            self.nodes.add(Node(nc.name, nc.kind, _motion(nc, i, self.epoch), _antenna(nc, i)))
        self.timeline = []  # [(t_s, structure, serving links, note)]
        self.relay_switches = {r.name: [] for r in cfg.relays}
        for e in cfg.events:
            if e.action == "point":
                self.nodes[e.node].antenna.point(e.target if isinstance(e.target, str) else tuple(e.target), e.t_s)
            elif e.action == "structure":
                self.timeline.append((e.t_s, e.structure, list(e.serving), e.note))
            else:
                self.relay_switches[e.relay].append((e.t_s, e.action == "relay_on"))
        self.trajectories = {}
        for i, lk in enumerate(cfg.links):
            ants = {end: None if getattr(lk, end) is None else _antenna(lk, i, "links", getattr(lk, end))
                    for end in ("tx_antenna", "rx_antenna")}
            self.trajectories[lk.name] = PairTrajectory(
                self.nodes[lk.tx], self.nodes[lk.rx], lk.carrier_hz, model=lk.model, los=lk.los,
                los_interval_s=lk.los_interval_s, seed=_pair_seed(cfg.seed, lk.tx, lk.rx), mask_deg=lk.mask_deg,
                locate=self.nodes.locate, extra_loss_db=lk.extra_loss_db, fixed_delay_s=lk.fixed_delay_s,
                name=lk.name, t0=0.0, t1=cfg.duration_s, **ants)

    def predicted(self, link_name: str):
        """The link as a receiver predicts it from the nodes' announced positions (``receiver`` section):
        a :class:`PairTrajectory` of :class:`~hil.network.motion.OffsetMotion` nodes - never the truth."""
        import zlib

        from .motion import OffsetMotion

        rc = self.cfg.receiver
        tr = self.trajectories[link_name]
        ends = []
        for node in (tr.tx, tr.rx):
            rng = np.random.default_rng([rc.seed, zlib.crc32(node.name.encode())])
            u = rng.standard_normal(3)
            off = rc.position_error_m * u / np.linalg.norm(u)
            shift = 0.0
            if node.is_satellite:
                speed = float(np.linalg.norm(node.state(0.0)[1][0]))
                shift = rc.satellite_along_track_m / speed if speed > 0 else 0.0
                off = np.zeros(3)
            ends.append(Node(node.name, node.kind, OffsetMotion(node.motion, off, shift), node.antenna))
        return PairTrajectory(ends[0], ends[1], tr.carrier_hz, model="free_space" if tr.model != "satellite"
                              else "satellite", los="los", fixed_delay_s=tr.fixed_delay_s, name=tr.name,
                              locate=self.nodes.locate)

    def structure_at(self, t):
        """The structure in force at ``t`` (s) (None before the first structure event)."""
        cur = None
        for ts, s, _, _ in self.timeline:
            if ts <= t:
                cur = s
        return cur

    def out_of_range(self, step_s: float = 1.0) -> dict:
        """link name -> fraction of the scenario's time its 3GPP model is outside the TR's stated range."""
        t = np.arange(0.0, self.cfg.duration_s + 1e-9, step_s)
        out = {}
        for name, tr in self.trajectories.items():
            g = tr.geometry(t)
            frac = float(np.mean(~g["in_range"]))
            if frac:
                out[name] = frac
        return out

    def build_links(self, *, sample_rate_hz: float | None = None, epoch_s: float = 0.0):
        """Emulator Links (hil.emulator.link.Link, one delay line each) and TransparentRelays, seeded
        from ``seed`` as the emulator seeds its links: ``(links, relays)`` dicts by name. A link that is a
        relay's downlink is fed by the relay (feed the relay, not the link)."""
        from hil.emulator.link import Link

        from .relay import TransparentRelay

        cfg = self.cfg
        fs = cfg.sample_rate_hz if sample_rate_hz is None else sample_rate_hz
        seeds = np.random.SeedSequence(cfg.seed).spawn(len(cfg.links))
        links = {}
        for i, (lk, s) in enumerate(zip(cfg.links, seeds)):
            tr = self.trajectories[lk.name]
            try:
                links[lk.name] = Link(lk.name, fs, lk.carrier_hz, tr, gain_db=lk.gain_db, noise_dbfs=lk.noise_dbfs,
                                      rng=np.random.default_rng(s), epoch=epoch_s, max_delay=lk.max_delay_s,
                                      source=lk.tx, sink=lk.rx)
            except ConfigError as exc:
                if exc.field != "profile.delay":
                    raise
                geo = float(tr.delay(epoch_s)) - lk.fixed_delay_s
                if geo + lk.fixed_delay_s > lk.max_delay_s:
                    raise ConfigError.bad_value(f"links[{i}].max_delay_s", lk.max_delay_s,
                                                f">= the link's delay {geo + lk.fixed_delay_s:.6g} s") from None
                need = 10.0 / fs - geo  # taps/2 = 8 samples of look-ahead, plus 2 of margin
                raise ConfigError.bad_value(f"links[{i}].fixed_delay_s", lk.fixed_delay_s,
                                            f">= {need:.3g} s (the geometric delay {geo:.3g} s is below the "
                                            f"interpolator's look-ahead, 8 samples at {fs:g} Hz)") from None
        relays = {}
        for r in cfg.relays:
            if r.kind != "transparent":
                continue  # a regenerative relay needs the traffic's format and schedule: hil.network.run builds it
            rel = TransparentRelay(r.name, links[r.uplink], links[r.downlink], gain_db=r.gain_db,
                                   translation_offset_hz=r.translation_offset_hz)
            if not r.active:
                rel.set_on(False, -np.inf)
            for ts, on in self.relay_switches[r.name]:
                rel.set_on(on, ts)
            relays[r.name] = rel
        return links, relays


def build_network(cfg: NetworkConfig) -> Network:
    return Network(cfg)
