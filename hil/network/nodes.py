"""Nodes (a motion + an antenna + a kind) and the set of them a network holds."""

from __future__ import annotations

import numpy as np

from hil.errors import ConfigError

from .antenna import Antenna
from .motion import Motion

__all__ = ["Node", "Nodes", "NODE_KINDS", "GROUND_KINDS"]

#: satellite, UAV, ship/vehicle (on a lane), fixed base station / gateway / terminal
NODE_KINDS = ("satellite", "uav", "ship", "vehicle", "bs", "gateway", "terminal")
#: nodes on (or near) the ground: the "user"/"BS" end of the 3GPP terrestrial models
GROUND_KINDS = ("ship", "vehicle", "bs", "gateway", "terminal")


class Node:
    """A named node: ``kind`` (one of :data:`NODE_KINDS`), a :class:`~hil.network.motion.Motion` and an
    :class:`~hil.network.antenna.Antenna` (default isotropic 0 dBi)."""

    def __init__(self, name: str, kind: str, motion: Motion, antenna: Antenna | None = None):
        if not isinstance(name, str) or not name:
            raise ConfigError.bad_value("node.name", name, "a non-empty name")
        if kind not in NODE_KINDS:
            raise ConfigError.bad_value(f"nodes.{name}.kind", kind, ", ".join(NODE_KINDS))
        if not callable(getattr(motion, "state", None)):
            raise ConfigError.bad_value(f"nodes.{name}.motion", motion, "a hil.network.motion Motion")
        self.name, self.kind, self.motion = name, kind, motion
        self.antenna = antenna if antenna is not None else Antenna()

    @property
    def is_satellite(self) -> bool:
        return self.kind == "satellite"

    def state(self, t):
        """ECEF position (m) and velocity (m/s), each (n, 3)."""
        return self.motion.state(t)

    def __repr__(self):
        return f"Node({self.name!r}, {self.kind}, {self.motion!r}, {self.antenna!r})"


class Nodes(dict):
    """name -> :class:`Node`; :meth:`locate` gives a node's position for antenna steering."""

    def add(self, node: Node) -> Node:
        if node.name in self:
            raise ConfigError.bad_value("nodes.name", node.name, "a unique node name")
        self[node.name] = node
        return node

    def get_node(self, name: str, field: str = "node") -> Node:
        if name not in self:
            raise ConfigError.bad_value(field, name, "a node name (" + ", ".join(self) + ")")
        return self[name]

    def locate(self, name, t) -> np.ndarray:
        return self.get_node(name, "antenna.pointing").state(t)[0]
