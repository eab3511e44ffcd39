"""ZeroMQ channel emulator: per-link ephemeris-driven delay, Doppler, path loss, multipath and noise.

Submodules: :mod:`~hil.emulator.wire` (raw and framed formats), :mod:`~hil.emulator.trajectory`
(delay/geometry protocol and analytic passes), :mod:`~hil.emulator.link`, :mod:`~hil.emulator.server`
(:class:`EmulatorServer`), :mod:`~hil.emulator.telemetry`, :mod:`~hil.emulator.config`.
See docs/emulator.md and docs/wire.md.
"""

from hil.emulator.config import EmulatorConfig, load_emulator_config

__all__ = ["EmulatorConfig", "load_emulator_config", "EmulatorServer"]


def __getattr__(name):  # the server pulls in zmq; load it on first use
    if name == "EmulatorServer":
        from hil.emulator.server import EmulatorServer

        return EmulatorServer
    raise AttributeError(name)
