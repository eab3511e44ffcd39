"""ZeroMQ endpoint addresses: parsed, not prefix-matched.

A string such as ``tcp://127.0.0.1:5555`` is split into scheme, host and port (or an ipc path / an
inproc name) by :func:`parse_address`, which refuses everything that is not exactly one endpoint of an
allowed transport. Why a parser: libzmq reads ``tcp://A;B:PORT`` as "source address A, destination
B" and binds/connects the part after ``;``, so a string test such as ``startswith("tcp://127.0.0.1:")``
passes ``tcp://127.0.0.1:1;0.0.0.0:2`` - an unauthenticated sample input on every interface.

Rules (every refusal is a :class:`~hil.errors.ConfigError` naming the field, the value and what is
allowed):

* schemes ``tcp``, ``ipc`` and ``inproc`` only, spelt in lower case (``TCP://``, ``ws://``, ``tipc://``,
  ``udp://``, ``pgm://`` ... are refused: none of them is needed by the emulator);
* exactly one endpoint: no ``;`` (source-address syntax), no ``,``, no white space or control
  characters, nothing after the port;
* ``tcp``: ``HOST:PORT`` with PORT 1..65535, or ``*`` / ``0`` (an ephemeral port, bind only); HOST is an
  IPv4 literal, ``[IPv6]``, a host or interface name, or ``*`` (all interfaces, bind only);
* without ``allow_remote``: tcp HOST must be loopback - ``127.0.0.0/8``, ``[::1]`` or ``localhost``;
* ``ipc``: a path of 1..107 bytes (the size of ``sun_path``), ``@name`` (Linux abstract) or ``*``
  (bind only); ``inproc``: a name of 1..256 characters.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from hil.errors import ConfigError

__all__ = ["Address", "parse_address", "SCHEMES"]

SCHEMES = ("tcp", "ipc", "inproc")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*$")
_FORBIDDEN = re.compile(r"[;,\s\x00-\x1f\x7f]")
_IPC_MAX = 107  # sizeof(sockaddr_un.sun_path) - 1 on Linux


@dataclass(frozen=True)
class Address:
    """One parsed endpoint. ``host``/``port`` for tcp (port None = ephemeral ``*``), ``path`` for
    ipc/inproc. ``loopback``: traffic cannot leave this machine."""

    scheme: str
    host: str | None = None
    port: int | None = None
    path: str | None = None

    @property
    def loopback(self) -> bool:
        if self.scheme != "tcp":
            return True  # ipc and inproc never leave the machine
        return _is_loopback(self.host)

    @property
    def url(self) -> str:
        if self.scheme == "tcp":
            host = f"[{self.host}]" if ":" in self.host else self.host
            return f"tcp://{host}:{'*' if self.port is None else self.port}"
        return f"{self.scheme}://{self.path}"

    def __str__(self) -> str:
        return self.url


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_address(text, field: str = "address", *, allow_remote: bool = False,
                  bind: bool | None = None) -> Address:
    """Parse one ZeroMQ address (see the module doc for the rules).

    ``field`` names the config field in the error; ``allow_remote`` admits non-loopback tcp hosts;
    ``bind``: True admits the bind-only wildcards (``*`` host, ``*``/``0`` port, ``ipc://*``), False
    refuses them, None admits them (the caller does not know yet).
    """
    remote_hint = "" if allow_remote else " on loopback (127.0.0.1, [::1], localhost; set allow_remote: true " \
        "for lab networks, ideally with curve)"
    allowed = ("one endpoint tcp://HOST:PORT" + remote_hint + ", ipc://PATH or inproc://NAME")

    def bad(why: str):
        return ConfigError.bad_value(field, text, f"{allowed} ({why})")

    if not isinstance(text, str):
        raise ConfigError.bad_value(field, text, allowed)
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise bad("no scheme://")
    if scheme not in SCHEMES:
        raise bad(f"scheme {scheme!r} is not one of {', '.join(SCHEMES)} (lower case)")
    if not rest:
        raise bad("nothing after scheme://")
    if _FORBIDDEN.search(rest):
        ch = _FORBIDDEN.search(rest).group()
        raise bad(f"character {ch!r} is not allowed: exactly one endpoint per address")
    if scheme == "inproc":
        if len(rest) > 256:
            raise bad("inproc name longer than 256 characters")
        return Address("inproc", path=rest)
    if scheme == "ipc":
        if rest == "*":
            if bind is False:
                raise bad("ipc://* is for bind only")
            return Address("ipc", path=rest)
        if len(rest.encode("utf-8")) > _IPC_MAX:
            raise bad(f"ipc path longer than {_IPC_MAX} bytes")
        return Address("ipc", path=rest)
    # tcp
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0 or rest[end + 1:end + 2] != ":":
            raise bad("an IPv6 host is written [ADDR]:PORT")
        host, port_s = rest[1:end], rest[end + 2:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise bad(f"{host!r} is not an IPv6 address") from None
    else:
        host, sep, port_s = rest.rpartition(":")
        if not sep or not host:
            raise bad("tcp needs HOST:PORT")
        if ":" in host:
            raise bad("an IPv6 host is written [ADDR]:PORT")
        if host != "*" and not _HOSTNAME.match(host):
            try:
                ipaddress.IPv4Address(host)
            except ValueError:
                raise bad(f"{host!r} is not a host name or IPv4 address") from None
    if host == "*" and bind is False:
        raise bad("host * (every interface) is for bind only")
    if port_s in ("*", "0"):
        if bind is False:
            raise bad("an ephemeral port (* or 0) is for bind only")
        port = None
    elif port_s.isdigit() and port_s.isascii() and 1 <= int(port_s) <= 65535 and len(port_s) <= 5:
        port = int(port_s)
    else:
        raise bad(f"port {port_s!r} is not 1..65535 or *")
    addr = Address("tcp", host=host, port=port)
    if not allow_remote and not addr.loopback:
        raise bad(f"host {host!r} is not loopback")
    return addr
