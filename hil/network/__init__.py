"""Networks of moving nodes: satellites, UAVs, ships/vehicles and fixed stations, the links between
them (delay, two-ended Doppler, 3GPP/ITU path loss, visibility, antenna gains) and transparent relays,
in the form the emulator's links take (see docs/network.md)."""

from .antenna import ANTENNA_KINDS, Antenna, dish, isotropic, pencil_beam
from .config import STRUCTURES, Network, NetworkConfig, build_network, load_network_config
from .link import LOS_MODES, PairTrajectory, choose_model
from .motion import (
    CircularOrbitMotion,
    FixedMotion,
    LoiterMotion,
    Motion,
    SatelliteMotion,
    WaypointMotion,
)
from .nodes import GROUND_KINDS, NODE_KINDS, Node, Nodes
from .relay import TransparentRelay

__all__ = ["Antenna", "ANTENNA_KINDS", "dish", "isotropic", "pencil_beam", "PairTrajectory", "choose_model",
           "LOS_MODES", "Motion", "FixedMotion", "WaypointMotion", "LoiterMotion", "SatelliteMotion",
           "CircularOrbitMotion", "Node", "Nodes", "NODE_KINDS", "GROUND_KINDS", "TransparentRelay", "STRUCTURES",
           "Network", "NetworkConfig", "build_network", "load_network_config"]
