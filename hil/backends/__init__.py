"""Radios behind one protocol (:class:`~hil.backends.base.Radio`): the loopback mock, the mock as a client
of the ZeroMQ channel emulator ("mock-zmq"), PlutoSDR (pyadi-iio) and any SoapySDR device (USRP
B2xx/X3xx ...), each configured from a firmware_cfg profile and corrected by its stored calibration.

``make_radio(kind, profile, uri, **options)`` builds one by name; backend modules are imported
lazily, so a missing hardware library only matters when that backend is asked for.
"""

from __future__ import annotations

import importlib
import inspect

from hil.backends.base import MAX_READ, SETTINGS, Radio, RadioState, ReadMeta, RxChunk, TxEvent
from hil.errors import ConfigError, DeviceError

__all__ = ["Radio", "RadioState", "ReadMeta", "RxChunk", "TxEvent", "SETTINGS", "MAX_READ", "BACKENDS",
           "make_radio", "backend_class"]

#: backend kind -> (module, class, default profile)
BACKENDS = {
    "mock": ("hil.backends.mock", "MockRadio", "mock"),
    "soapy": ("hil.backends.soapy", "SoapyRadio", "usrp_b210"),
    "pluto": ("hil.backends.pluto", "PlutoRadio", "pluto_ad9363"),
    "mock-zmq": ("hil.backends.zmq_transport", "ZmqMockRadio", "mock"),
}


def backend_class(kind: str):
    """The Radio class for backend ``kind`` (imports its module)."""
    if kind not in BACKENDS:
        raise ConfigError.bad_value("backend", kind, "one of " + ", ".join(BACKENDS))
    module, cls, _ = BACKENDS[kind]
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            raise DeviceError(f"backend {kind!r} is not available in this installation ({module} missing)") from None
        raise
    return getattr(mod, cls)


def make_radio(kind: str = "mock", profile: str | None = None, uri: str | None = None, **options) -> Radio:
    """Build (not open) a radio: ``make_radio("mock", "pluto_ad9363")``, ``make_radio("soapy", "usrp_b210",
    "driver=uhd,type=b200")``, ``make_radio("mock-zmq")`` (through an in-process channel emulator) or
    ``make_radio("mock-zmq", uri="tx=tcp://127.0.0.1:5600;rx=tcp://127.0.0.1:5603")`` (a running one).
    ``options`` go to the backend class (e.g. ``stream_errors``, ``channel``, ``serial``, ``calibration``)."""
    cls = backend_class(kind)
    params = inspect.signature(cls.__init__).parameters
    known = [n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    for key in options:
        if key not in known:
            raise ConfigError.bad_value(f"{kind} option", key, "one of " + ", ".join(known))
    return cls(profile if profile is not None else BACKENDS[kind][2], uri, **options)
