"""Parsing of iiod's ASCII command protocol (the one libiio 0.x's network backend speaks).

A command is one line of space-separated words ended by ``\\n`` (clients send ``\\r\\n``). Replies are
ASCII integers on their own line: ``>= 0`` is success (often a length), ``< 0`` is ``-errno``. Commands
that carry data (attribute writes, buffer writes) announce the byte count in the command line and the
raw bytes follow it. The commands, as libiio 0.24 uses them::

    VERSION                                   -> "MAJOR.MINOR.GITTAG\\n"
    PRINT                                     -> "<len>\\n<xml>\\n"
    TIMEOUT <ms>                              -> "0\\n"
    READ <dev> [INPUT|OUTPUT <chn> | DEBUG | BUFFER] <attr>        -> "<len>\\n<value>\\n" or "-errno\\n"
    WRITE <dev> [INPUT|OUTPUT <chn> | DEBUG | BUFFER] <attr> <len>  + <len> bytes -> "<written>\\n"
    OPEN <dev> <samples_count> <mask> [CYCLIC]                      -> "0\\n"
    CLOSE <dev>                                                     -> "0\\n"
    READBUF <dev> <nbytes>                    -> "<n>\\n<mask>\\n" + n bytes (repeated until nbytes), or "-errno\\n"
    WRITEBUF <dev> <nbytes>                   -> "<nbytes>\\n", then the client sends nbytes; -> "<written>\\n"
    GETTRIG <dev> / SETTRIG <dev> [<trig>]    -> "<len>\\n<name>\\n" / "0\\n"
    SET <dev> BUFFERS_COUNT <n>               -> "0\\n"
    EXIT | QUIT                               (closes the session, no reply)

The channel mask is hexadecimal, 8 digits per 32-bit word, most significant word first.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from hil.iiod.model import IioErrno

__all__ = ["Command", "parse_command", "format_mask", "parse_mask", "MAX_LINE", "MAX_PAYLOAD"]

MAX_LINE = 4096            # bytes; a longer command line is refused (and the rest of it discarded)
MAX_PAYLOAD = 64 << 20     # bytes; the largest attribute/buffer payload accepted in one command

_ATTR_KINDS = ("INPUT", "OUTPUT", "DEBUG", "BUFFER")


@dataclass(frozen=True)
class Command:
    """A parsed command. ``op`` is the upper-case verb; unused fields are None."""

    op: str
    dev: str | None = None
    kind: str | None = None          # None (device attribute), INPUT, OUTPUT, DEBUG or BUFFER
    chan: str | None = None
    attr: str | None = None
    nbytes: int | None = None
    samples: int | None = None
    mask: int | None = None
    cyclic: bool = False
    value: int | None = None
    trigger: str | None = None


def _bad(msg: str) -> IioErrno:
    return IioErrno(errno.EINVAL, msg)


def _int(word: str, what: str, lo: int = 0, hi: int | None = None) -> int:
    try:
        v = int(word, 10)
    except ValueError:
        raise _bad(f"{what}: {word!r} is not a decimal integer") from None
    if v < lo or (hi is not None and v > hi):
        raise _bad(f"{what}: {v} outside {lo}..{hi if hi is not None else 'inf'}")
    return v


def parse_mask(word: str) -> int:
    """A channel mask as iiod writes it (hex, 8 digits per word, most significant word first)."""
    if not word or len(word) % 8 or any(c not in "0123456789abcdefABCDEF" for c in word):
        raise _bad(f"mask {word!r}: expected hexadecimal digits in groups of 8")
    return int(word, 16)


def format_mask(mask: int, nwords: int) -> str:
    """Inverse of :func:`parse_mask` for ``nwords`` 32-bit words."""
    return "".join(f"{(mask >> (32 * w)) & 0xFFFFFFFF:08x}" for w in reversed(range(nwords)))


def _attr_target(words: list[str], with_len: bool) -> Command:
    # words after the verb: dev [KIND [chn]] attr [len]
    op = "WRITE" if with_len else "READ"
    need_tail = 2 if with_len else 1
    if len(words) < 1 + need_tail:
        raise _bad(f"{op}: missing arguments")
    dev, rest = words[0], words[1:]
    kind = chan = None
    if rest and rest[0].upper() in _ATTR_KINDS and len(rest) > need_tail:
        kind = rest[0].upper()
        rest = rest[1:]
        if kind in ("INPUT", "OUTPUT"):
            if len(rest) < 1 + need_tail:
                raise _bad(f"{op}: {kind} needs a channel and an attribute")
            chan, rest = rest[0], rest[1:]
    if len(rest) != need_tail:
        raise _bad(f"{op}: wrong number of arguments")
    nbytes = _int(rest[1], "length", 0, MAX_PAYLOAD) if with_len else None
    return Command(op, dev=dev, kind=kind, chan=chan, attr=rest[0], nbytes=nbytes)


def parse_command(line: bytes | str) -> Command | None:
    """Parse one command line (without or with its ``\\r\\n``). Returns None for an empty line.

    Raises :class:`~hil.iiod.model.IioErrno` (EINVAL) for anything malformed: unknown verb, missing or
    extra arguments, non-numeric counts, bad masks, non-ASCII bytes.
    """
    if isinstance(line, bytes):
        try:
            line = line.decode("ascii")
        except UnicodeDecodeError:
            raise _bad("command is not ASCII") from None
    words = line.strip("\r\n").split()
    if not words:
        return None
    if any(not w.isprintable() for w in words):
        raise _bad("command contains control characters")
    verb, args = words[0].upper(), words[1:]
    if verb in ("VERSION", "PRINT", "ZPRINT", "HELP", "EXIT", "QUIT"):
        if args:
            raise _bad(f"{verb} takes no arguments")
        return Command("EXIT" if verb == "QUIT" else verb)
    if verb == "TIMEOUT":
        if len(args) != 1:
            raise _bad("TIMEOUT needs one argument (milliseconds)")
        return Command(verb, value=_int(args[0], "timeout", 0, 2**31 - 1))
    if verb == "READ":
        return _attr_target(args, with_len=False)
    if verb == "WRITE":
        return _attr_target(args, with_len=True)
    if verb == "OPEN":
        if len(args) not in (3, 4) or (len(args) == 4 and args[3].upper() != "CYCLIC"):
            raise _bad("OPEN <device> <samples_count> <mask> [CYCLIC]")
        return Command(verb, dev=args[0], samples=_int(args[1], "samples_count", 1, MAX_PAYLOAD),
                       mask=parse_mask(args[2]), cyclic=len(args) == 4)
    if verb in ("CLOSE", "GETTRIG"):
        if len(args) != 1:
            raise _bad(f"{verb} <device>")
        return Command(verb, dev=args[0])
    if verb in ("READBUF", "WRITEBUF"):
        if len(args) != 2:
            raise _bad(f"{verb} <device> <bytes_count>")
        return Command(verb, dev=args[0], nbytes=_int(args[1], "bytes_count", 1, MAX_PAYLOAD))
    if verb == "SETTRIG":
        if len(args) not in (1, 2):
            raise _bad("SETTRIG <device> [<trigger>]")
        return Command(verb, dev=args[0], trigger=args[1] if len(args) == 2 else None)
    if verb == "SET":
        if len(args) != 3 or args[1].upper() != "BUFFERS_COUNT":
            raise _bad("SET <device> BUFFERS_COUNT <count>")
        return Command(verb, dev=args[0], attr="BUFFERS_COUNT", value=_int(args[2], "buffers count", 1, 1024))
    raise _bad(f"unknown command {verb!r}")
