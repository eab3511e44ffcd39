"""The one exception hierarchy of the testbed.

Every module (dsp, hil, calibration) raises these, never a bare ``Exception``. Messages carry the
value received and what is allowed, so a user can fix the input without reading the code::

    HILError
    +-- ConfigError (also a ValueError)   bad parameter, scenario field, profile or file content
    +-- DeviceError                       a radio (or its driver/library) refused or is unreachable
    +-- StreamError                       a sample stream failed; ``kind`` tells how
        +-- StreamOverflow   (kind "overflow")   samples were lost on receive
        +-- StreamUnderflow  (kind "underflow")  the transmitter ran dry
        +-- StreamTimeout    (kind "timeout")    nothing arrived in time
"""

from __future__ import annotations

__all__ = [
    "HILError",
    "ConfigError",
    "DeviceError",
    "StreamError",
    "StreamOverflow",
    "StreamUnderflow",
    "StreamTimeout",
    "stream_error",
    "check_range",
    "check_choice",
]


class HILError(Exception):
    """Base class of every error raised by the testbed."""


class ConfigError(HILError, ValueError):
    """A configuration value (parameter, scenario field, profile entry, file content) is not allowed.

    ``field`` names the offending field (a dotted path where there is one), ``value`` is what was given
    and ``allowed`` says what would have been accepted; all three are also in the message.
    """

    def __init__(self, message: str, *, field: str | None = None, value=None, allowed: str | None = None,
                 source: str | None = None):
        super().__init__(message)
        self.field = field
        self.value = value
        self.allowed = allowed
        self.source = source

    @classmethod
    def bad_value(cls, field: str, value, allowed: str, *, source: str | None = None) -> ConfigError:
        """Build the standard message: ``[source: ]field: got VALUE; allowed: ALLOWED``."""
        prefix = f"{source}: " if source else ""
        return cls(f"{prefix}{field}: got {value!r}; allowed: {allowed}",
                   field=field, value=value, allowed=allowed, source=source)


class DeviceError(HILError):
    """A radio, its driver or its library failed or refused a request (say which device and why)."""


class StreamError(HILError):
    """A sample stream failed. ``kind`` is one of ``"overflow"``, ``"underflow"``, ``"timeout"``,
    ``"error"``; ``count`` is the number of samples lost or missing where known."""

    kind = "error"

    def __init__(self, message: str, *, count: int | None = None, sample_index: int | None = None):
        super().__init__(message)
        self.count = count
        self.sample_index = sample_index


class StreamOverflow(StreamError):
    """Receive samples were dropped (the host did not read fast enough)."""

    kind = "overflow"


class StreamUnderflow(StreamError):
    """The transmitter ran out of samples (the host did not write fast enough)."""

    kind = "underflow"


class StreamTimeout(StreamError):
    """No samples arrived (or could be sent) within the timeout."""

    kind = "timeout"


_KINDS = {cls.kind: cls for cls in (StreamError, StreamOverflow, StreamUnderflow, StreamTimeout)}


def stream_error(kind: str, message: str, **kw) -> StreamError:
    """Make the StreamError subclass for ``kind`` ("overflow", "underflow", "timeout" or "error")."""
    try:
        cls = _KINDS[kind]
    except KeyError:
        raise ConfigError.bad_value("kind", kind, ", ".join(sorted(_KINDS))) from None
    return cls(message, **kw)


def check_range(field: str, value, lo=None, hi=None, *, unit: str = "", source: str | None = None):
    """Return ``value`` if ``lo <= value <= hi`` (either bound may be None), else raise ConfigError.

    NaN is always refused. The message names the field, the value and the closed range allowed.
    """
    u = f" {unit}" if unit else ""
    try:
        ok = value == value  # NaN check without importing math for non-floats
        if lo is not None:
            ok = ok and value >= lo
        if hi is not None:
            ok = ok and value <= hi
    except TypeError:
        ok = False
    if not ok:
        if lo is not None and hi is not None:
            allowed = f"{lo}..{hi}{u}"
        elif lo is not None:
            allowed = f">= {lo}{u}"
        elif hi is not None:
            allowed = f"<= {hi}{u}"
        else:
            allowed = "a number (not NaN)"
        raise ConfigError.bad_value(field, value, allowed, source=source)
    return value


def check_choice(field: str, value, choices, *, source: str | None = None):
    """Return ``value`` if it is one of ``choices``, else raise ConfigError listing them."""
    if value not in choices:
        raise ConfigError.bad_value(field, value, "one of " + ", ".join(repr(c) for c in choices),
                                    source=source)
    return value
