"""A small in-memory model of an IIO context (devices, channels, attributes) as iiod serves it.

The model knows nothing about sockets: the server (:mod:`hil.iiod.server`) turns protocol commands into
calls on :class:`IioContext`, and an emulated device (:mod:`hil.iiod.pluto`) fills the model with
attributes whose getters/setters implement the device's behaviour.

Attribute getters return a string; setters take the string the client wrote (NUL and trailing
whitespace stripped) and raise :class:`IioErrno` to refuse it. On the wire a refusal is the negative
errno, exactly as a Linux IIO driver's ``store`` callback returns it to iiod.
"""

from __future__ import annotations

import errno as _errno
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from xml.sax.saxutils import quoteattr

from hil.errors import DeviceError

__all__ = ["IioErrno", "Attr", "ScanElement", "Channel", "Device", "IioContext", "BufferHandler", "einval",
           "const_attr"]


class IioErrno(DeviceError):
    """A request refused with a (positive) errno code, sent to the client as ``-errno``."""

    def __init__(self, code: int, message: str = ""):
        self.errno = int(code)
        name = _errno.errorcode.get(self.errno, str(self.errno))
        super().__init__(f"{name}: {message}" if message else name)


def einval(message: str) -> IioErrno:
    """An EINVAL refusal (what IIO drivers return for out-of-range or unparsable values)."""
    return IioErrno(_errno.EINVAL, message)


Getter = Callable[[], str]
Setter = Callable[[str], None]


@dataclass
class Attr:
    """One sysfs-like attribute: ``get() -> str``; ``set(str)`` (None: read-only, writes get -EACCES)."""

    name: str
    get: Getter
    set: Setter | None = None
    filename: str | None = None

    def read(self) -> str:
        return self.get()

    def write(self, value: str) -> None:
        if self.set is None:
            raise IioErrno(_errno.EACCES, f"attribute {self.name!r} is read-only")
        self.set(value)


def const_attr(name: str, value: str, filename: str | None = None) -> Attr:
    """A read-only attribute with a fixed value."""
    return Attr(name, lambda: value, None, filename)


@dataclass(frozen=True)
class ScanElement:
    """Where a channel sits in a buffer sample: ``index`` (order in the sample) and ``format``
    (libiio notation, e.g. ``le:S12/16>>0`` = little endian, signed, 12 bits in 16, no shift)."""

    index: int
    format: str
    scale: float | None = None

    @property
    def storage_bytes(self) -> int:
        bits = int(self.format.split("/")[1].split(">>")[0])
        return bits // 8


@dataclass
class Channel:
    """An IIO channel: ``id`` (e.g. ``voltage0``), direction, optional label and scan element."""

    id: str
    output: bool
    attrs: dict[str, Attr] = field(default_factory=dict)
    name: str | None = None
    scan: ScanElement | None = None

    def add(self, *attrs: Attr) -> Channel:
        for a in attrs:
            self.attrs[a.name] = a
        return self


class BufferHandler:
    """What a device with scan elements does with buffers (an emulated device subclasses this)."""

    def open(self, samples_count: int, channels: list[Channel], cyclic: bool) -> None:
        raise IioErrno(_errno.ENOSYS, "this device has no buffer support")

    def pace(self, nbytes: int) -> None:
        """Called before :meth:`read`, outside the context lock: wait as a real-time device would."""
        return None

    def read(self, nbytes: int) -> bytes:
        raise IioErrno(_errno.ENOSYS, "this device cannot capture")

    def write(self, data: bytes) -> int:
        raise IioErrno(_errno.ENOSYS, "this device cannot transmit")

    def close(self) -> None:
        return None


@dataclass
class Device:
    """An IIO device: ``id`` (``iio:deviceN``), ``name`` (driver name), channels and attributes."""

    id: str
    name: str
    channels: list[Channel] = field(default_factory=list)
    attrs: dict[str, Attr] = field(default_factory=dict)
    debug_attrs: dict[str, Attr] = field(default_factory=dict)
    buffer_attrs: dict[str, Attr] = field(default_factory=dict)
    buffer: BufferHandler | None = None
    trigger: str | None = None
    buffers_count: int = 4  # kernel buffers behind a libiio buffer (SET <dev> BUFFERS_COUNT <n>)

    def channel(self, cid: str, output: bool) -> Channel:
        for ch in self.channels:
            if ch.id == cid and ch.output == output:
                return ch
        raise IioErrno(_errno.ENOENT, f"{self.id} has no {'output' if output else 'input'} channel {cid!r}")

    @property
    def scan_channels(self) -> list[Channel]:
        """Channels with scan elements, in buffer order (this is also the mask bit order)."""
        return sorted((c for c in self.channels if c.scan is not None), key=lambda c: c.scan.index)


@dataclass
class IioContext:
    """The whole context: devices plus context attributes; ``lock`` serialises attribute access."""

    name: str
    description: str
    devices: list[Device] = field(default_factory=list)
    context_attrs: dict[str, str] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def device(self, key: str) -> Device:
        """Look a device up by id (as libiio sends it) or by name."""
        for d in self.devices:
            if d.id == key:
                return d
        for d in self.devices:
            if d.name == key:
                return d
        raise IioErrno(_errno.ENODEV, f"no device {key!r}")

    def xml(self) -> str:
        """The context description in libiio's XML format (with its inline DTD, as iiod sends it)."""
        out = ['<?xml version="1.0" encoding="utf-8"?>', _DTD,
               f"<context name={quoteattr(self.name)} description={quoteattr(self.description)} >"]
        for k, v in self.context_attrs.items():
            out.append(f"<context-attribute name={quoteattr(k)} value={quoteattr(v)} />")
        for d in self.devices:
            out.append(f"<device id={quoteattr(d.id)} name={quoteattr(d.name)} >")
            for ch in d.channels:
                label = f" name={quoteattr(ch.name)}" if ch.name else ""
                kind = "output" if ch.output else "input"
                out.append(f"<channel id={quoteattr(ch.id)}{label} type=\"{kind}\" >")
                if ch.scan is not None:
                    scale = f" scale=\"{ch.scan.scale:f}\"" if ch.scan.scale is not None else ""
                    out.append(f"<scan-element index=\"{ch.scan.index}\" format={quoteattr(ch.scan.format)}{scale} />")
                for a in ch.attrs.values():
                    fn = a.filename or f"{'out' if ch.output else 'in'}_{ch.id}_{a.name}"
                    out.append(f"<attribute name={quoteattr(a.name)} filename={quoteattr(fn)} />")
                out.append("</channel>")
            for a in d.attrs.values():
                out.append(f"<attribute name={quoteattr(a.name)} />")
            for a in d.debug_attrs.values():
                out.append(f"<debug-attribute name={quoteattr(a.name)} />")
            for a in d.buffer_attrs.values():
                out.append(f"<buffer-attribute name={quoteattr(a.name)} />")
            out.append("</device>")
        out.append("</context>")
        return "".join(out)


# The document type of libiio's context XML (libiio validates the description against it).
_DTD = (
    "<!DOCTYPE context ["
    "<!ELEMENT context (context-attribute*, device*)>"
    "<!ELEMENT context-attribute EMPTY>"
    "<!ELEMENT device (channel*, attribute*, debug-attribute*, buffer-attribute*)>"
    "<!ELEMENT channel (scan-element?, attribute*)>"
    "<!ELEMENT attribute EMPTY>"
    "<!ELEMENT scan-element EMPTY>"
    "<!ELEMENT debug-attribute EMPTY>"
    "<!ELEMENT buffer-attribute EMPTY>"
    "<!ATTLIST context name CDATA #REQUIRED description CDATA #IMPLIED>"
    "<!ATTLIST context-attribute name CDATA #REQUIRED value CDATA #REQUIRED>"
    "<!ATTLIST device id CDATA #REQUIRED name CDATA #IMPLIED>"
    "<!ATTLIST channel id CDATA #REQUIRED type (input|output) #REQUIRED name CDATA #IMPLIED>"
    "<!ATTLIST scan-element index CDATA #REQUIRED format CDATA #REQUIRED scale CDATA #IMPLIED>"
    "<!ATTLIST attribute name CDATA #REQUIRED filename CDATA #IMPLIED>"
    "<!ATTLIST debug-attribute name CDATA #REQUIRED>"
    "<!ATTLIST buffer-attribute name CDATA #REQUIRED>"
    "]>"
)
