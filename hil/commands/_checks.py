"""Checks of command-line values shared by the ``hil`` subcommands (not a subcommand: the name starts with _).

Every check raises :class:`~hil.errors.ConfigError` naming the option, the value and what is allowed, so
that ``hil`` prints one line and exits 2 before anything is allocated, opened or written.
"""

from __future__ import annotations

import math
import os

from hil.errors import ConfigError

__all__ = ["number", "integer", "seed", "output_file", "output_dir", "input_file", "MAX_SEED"]

MAX_SEED = 2**63 - 1


def number(field: str, value, lo=None, hi=None, *, unit: str = "", lo_open: bool = False):
    """A finite float within [lo, hi] (``lo_open``: > lo). None passes through (an option not given)."""
    if value is None:
        return None
    u = f" {unit}" if unit else ""
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {lo:g}{u}")
    if hi is not None:
        parts.append(f"<= {hi:g}{u}")
    allowed = "a finite number" + (" " + " and ".join(parts) if parts else "")
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError.bad_value(field, value, allowed) from None
    if not math.isfinite(v) or (lo is not None and (v <= lo if lo_open else v < lo)) or (hi is not None and v > hi):
        raise ConfigError.bad_value(field, value, allowed)
    return v


def integer(field: str, value, lo=None, hi=None, *, unit: str = ""):
    """An integer within [lo, hi]. None passes through."""
    if value is None:
        return None
    u = f" {unit}" if unit else ""
    if isinstance(value, bool) or not isinstance(value, int) or (lo is not None and value < lo) or \
            (hi is not None and value > hi):
        rng = f"{lo}..{hi}" if lo is not None and hi is not None else (f">= {lo}" if lo is not None else f"<= {hi}")
        raise ConfigError.bad_value(field, value, f"an integer {rng}{u}")
    return value


def seed(field: str, value):
    """A seed for numpy's SeedSequence: 0..2**63-1."""
    return integer(field, value, 0, MAX_SEED)


def output_file(field: str, path):
    """A file the command will write: its directory must exist (nothing is created implicitly) and the
    path must not be a directory. Returns the path."""
    if path is None:
        return None
    p = os.fspath(path)
    if not p or "\0" in p:
        raise ConfigError.bad_value(field, path, "a file path")
    if os.path.isdir(p):
        raise ConfigError.bad_value(field, p, "a file path (this is a directory)")
    folder = os.path.dirname(os.path.abspath(p))
    if not os.path.isdir(folder):
        what = "is a file" if os.path.exists(folder) else "does not exist"
        raise ConfigError.bad_value(field, p, f"a file in an existing directory ({folder} {what})")
    if not os.access(folder, os.W_OK):
        raise ConfigError.bad_value(field, p, f"a file in a writable directory ({folder} is not writable)")
    return p


def output_dir(field: str, path):
    """A directory the command will write into: created if missing (with its parents), refused if the
    path or one of its parents is a file or it cannot be created. Returns the path."""
    if path is None:
        return None
    p = os.fspath(path)
    if not p or "\0" in p:
        raise ConfigError.bad_value(field, path, "a directory path")
    if os.path.exists(p) and not os.path.isdir(p):
        raise ConfigError.bad_value(field, p, "a directory (this is a file)")
    try:
        os.makedirs(p, exist_ok=True)
    except OSError as exc:
        raise ConfigError.bad_value(field, p, f"a directory that can be created ({exc.strerror or exc})") from None
    if not os.access(p, os.W_OK):
        raise ConfigError.bad_value(field, p, "a writable directory")
    return p


def input_file(field: str, path):
    """A file the command will read: it must exist and be a regular file."""
    p = os.fspath(path)
    if not p or "\0" in p:
        raise ConfigError.bad_value(field, path, "an existing file")
    if os.path.isdir(p):
        raise ConfigError.bad_value(field, p, "an existing file (this is a directory)")
    if not os.path.isfile(p):
        raise ConfigError.bad_value(field, p, "an existing file (not found)")
    return p
