"""Two-line element sets: strict parsing, validation and formatting.

The column layout is the NORAD/Space-Track one (columns are 1-based, inclusive)::

    line 1: 1 NNNNNC NNNNNAAA NNNNN.NNNNNNNN +.NNNNNNNN +NNNNN-N +NNNNN-N N NNNNC
    line 2: 2 NNNNN NNN.NNNN NNN.NNNN NNNNNNN NNN.NNNN NNN.NNNN NN.NNNNNNNNNNNNNNC

Every problem raises :class:`~hil.errors.ConfigError` naming the source and line, the columns and field,
the value found and what was expected, e.g.::

    sats.tle:2: line 1 columns 69 (checksum): got '4'; allowed: 7 (sum of digits, '-' counts 1, mod 10)

Parsing of the numbers themselves is then done by the ``sgp4`` package (``Satrec.twoline2rv``).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

from sgp4.api import WGS72, Satrec

from hil.errors import ConfigError

from .timebase import Epoch

__all__ = ["TleRecord", "tle_checksum", "validate_tle", "parse_tle_text", "load_tle_file", "format_tle"]

_ALPHA5 = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # alpha-5 catalogue numbers skip I and O
SGP4_ERRORS = {1: "mean eccentricity out of range", 2: "mean motion negative", 3: "perturbed eccentricity out of "
               "range", 4: "semi-latus rectum negative", 5: "epoch elements sub-orbital",
               6: "satellite radius below the Earth's (decayed / perigee under the surface)"}


@dataclass(frozen=True)
class TleRecord:
    """One validated element set: its name (may be empty), both lines and the sgp4 record."""

    name: str
    line1: str
    line2: str
    satnum: int
    epoch: Epoch
    satrec: Satrec


def tle_checksum(line: str) -> int:
    """Modulo-10 checksum of the first 68 columns: digits count their value, '-' counts 1."""
    total = 0
    for ch in line[:68]:
        if ch.isdigit():
            total += int(ch)
        elif ch == "-":
            total += 1
    return total % 10


def _fail(where: str, lineno: int, cols: tuple[int, int], fieldname: str, value, allowed: str):
    c = f"{cols[0]}" if cols[0] == cols[1] else f"{cols[0]}-{cols[1]}"
    raise ConfigError.bad_value(f"line {lineno} columns {c} ({fieldname})", value, allowed, source=where)


# (first column, last column, field name, regex the text must match, description)
_DEC = r"[ 0-9]*\.[0-9]+"
_LINE1 = [
    (1, 1, "line number", r"1", "'1'"),
    (2, 2, "separator", r" ", "a space"),
    (3, 7, "catalogue number", r"[ 0-9]{4}[0-9]|[" + _ALPHA5 + r"][0-9]{4}", "5 digits (or alpha-5)"),
    (8, 8, "classification", r"[UCS ]", "U, C or S"),
    (9, 9, "separator", r" ", "a space"),
    (10, 17, "international designator", r"[ 0-9A-Z]{8}", "YYNNNPPP (digits, letters, spaces)"),
    (18, 18, "separator", r" ", "a space"),
    (19, 20, "epoch year", r"[0-9]{2}", "2 digits"),
    (21, 32, "epoch day", r"[ 0-9]{3}\.[0-9]{8}", "DDD.DDDDDDDD (day of year, fraction)"),
    (33, 33, "separator", r" ", "a space"),
    (34, 43, "ndot/2", r"[ +-]\.[0-9]{8}", "+.NNNNNNNN (rev/day^2)"),
    (44, 44, "separator", r" ", "a space"),
    (45, 52, "nddot/6", r"[ +-][0-9]{5}[+-][0-9]", "+NNNNN-N (implied decimal, exponent)"),
    (53, 53, "separator", r" ", "a space"),
    (54, 61, "bstar", r"[ +-][0-9]{5}[+-][0-9]", "+NNNNN-N (implied decimal, exponent)"),
    (62, 62, "separator", r" ", "a space"),
    (63, 63, "ephemeris type", r"[0-9 ]", "a digit"),
    (64, 64, "separator", r" ", "a space"),
    (65, 68, "element set number", r"[ 0-9]{3}[0-9]", "up to 4 digits"),
]
_LINE2 = [
    (1, 1, "line number", r"2", "'2'"),
    (2, 2, "separator", r" ", "a space"),
    (3, 7, "catalogue number", r"[ 0-9]{4}[0-9]|[" + _ALPHA5 + r"][0-9]{4}", "5 digits (or alpha-5)"),
    (8, 8, "separator", r" ", "a space"),
    (9, 16, "inclination", r"[ 0-9]{3}\.[0-9]{4}", "NNN.NNNN (deg)"),
    (17, 17, "separator", r" ", "a space"),
    (18, 25, "RAAN", r"[ 0-9]{3}\.[0-9]{4}", "NNN.NNNN (deg)"),
    (26, 26, "separator", r" ", "a space"),
    (27, 33, "eccentricity", r"[0-9]{7}", "7 digits (implied leading decimal point)"),
    (34, 34, "separator", r" ", "a space"),
    (35, 42, "argument of perigee", r"[ 0-9]{3}\.[0-9]{4}", "NNN.NNNN (deg)"),
    (43, 43, "separator", r" ", "a space"),
    (44, 51, "mean anomaly", r"[ 0-9]{3}\.[0-9]{4}", "NNN.NNNN (deg)"),
    (52, 52, "separator", r" ", "a space"),
    (53, 63, "mean motion", r"[ 0-9]{2}\.[0-9]{8}", "NN.NNNNNNNN (rev/day)"),
    (64, 68, "revolution number", r"[ 0-9]{4}[0-9]", "up to 5 digits"),
]
_RANGES2 = [  # (cols, name, lo, hi, unit) checked after the format
    ((9, 16), "inclination", 0.0, 180.0, "deg"),
    ((18, 25), "RAAN", 0.0, 360.0, "deg"),
    ((35, 42), "argument of perigee", 0.0, 360.0, "deg"),
    ((44, 51), "mean anomaly", 0.0, 360.0, "deg"),
]


def _check_line(line: str, which: int, where: str, lineno: int):
    if not isinstance(line, str):
        raise ConfigError.bad_value(f"line {lineno}", line, "a string", source=where)
    line = line.rstrip("\r\n")
    if len(line) != 69:
        stripped = line.rstrip()
        if len(line) > 69 and len(stripped) == 69:
            line = stripped
        else:
            raise ConfigError.bad_value(f"line {lineno} (TLE line {which} length)", len(line),
                                        "exactly 69 characters", source=where)
    for first, last, name, pattern, desc in (_LINE1 if which == 1 else _LINE2):
        text = line[first - 1:last]
        if not re.fullmatch(pattern, text):
            _fail(where, lineno, (first, last), name, text, desc)
    if which == 1:
        day = float(line[20:32])
        if not 1.0 <= day < 367.0:
            _fail(where, lineno, (21, 32), "epoch day", line[20:32], "1.0 <= day < 367")
        if not line[68].isdigit():
            _fail(where, lineno, (69, 69), "checksum", line[68], "a digit")
    else:
        for cols, name, lo, hi, unit in _RANGES2:
            v = float(line[cols[0] - 1:cols[1]])
            if not lo <= v <= hi:
                _fail(where, lineno, cols, name, line[cols[0] - 1:cols[1]], f"{lo}..{hi} {unit}")
        n = float(line[52:63])
        if not 0.05 < n < 20.0:
            _fail(where, lineno, (53, 63), "mean motion", line[52:63], "0.05 < n < 20 rev/day")
        if not line[68].isdigit():
            _fail(where, lineno, (69, 69), "checksum", line[68], "a digit")
    want = tle_checksum(line)
    if int(line[68]) != want:
        _fail(where, lineno, (69, 69), "checksum", line[68], f"{want} (sum of digits, '-' counts 1, mod 10)")
    return line


def validate_tle(line1: str, line2: str, *, name: str = "", source: str = "<tle>", first_lineno: int = 1
                 ) -> TleRecord:
    """Check both lines strictly (layout, widths, ranges, checksums, matching catalogue numbers) and
    build the sgp4 record. ``first_lineno`` is the file line of ``line1`` (for messages)."""
    l1 = _check_line(line1, 1, source, first_lineno)
    l2 = _check_line(line2, 2, source, first_lineno + 1)
    if l1[2:7] != l2[2:7]:
        _fail(source, first_lineno + 1, (3, 7), "catalogue number", l2[2:7],
              f"{l1[2:7]!r}, the number on line 1")
    sat = Satrec.twoline2rv(l1, l2, WGS72)
    if sat.error:
        raise ConfigError.bad_value(f"line {first_lineno} (elements)",
                                    f"sgp4 error {sat.error}: {SGP4_ERRORS.get(sat.error, 'unknown')}",
                                    "elements SGP4 can initialise", source=source)
    return TleRecord(name=name.strip(), line1=l1, line2=l2, satnum=int(sat.satnum),
                     epoch=Epoch(float(sat.jdsatepoch), float(sat.jdsatepochF)), satrec=sat)


def parse_tle_text(text: str, *, source: str = "<tle>") -> list[TleRecord]:
    """Parse 2-line or 3-line (name line first; a leading '0 ' is dropped) element sets.

    Blank lines and lines starting with '#' are skipped. A line that is neither a name nor part of a
    complete pair is an error naming its line number.
    """
    lines = text.splitlines()
    out: list[TleRecord] = []
    name = ""
    name_line = 0
    i = 0
    while i < len(lines):
        raw = lines[i].rstrip()
        if not raw.strip() or raw.lstrip().startswith("#"):
            i += 1
            continue
        if raw.startswith("1 ") and len(raw) >= 60:
            if i + 1 >= len(lines) or not lines[i + 1].startswith("2"):
                got = lines[i + 1].rstrip() if i + 1 < len(lines) else "end of file"
                raise ConfigError.bad_value(f"line {i + 2} (TLE line 2)", got,
                                            "a line starting with '2 ' after line 1", source=source)
            out.append(validate_tle(raw, lines[i + 1], name=name, source=source, first_lineno=i + 1))
            name, name_line = "", 0
            i += 2
            continue
        if raw.startswith("2 ") and len(raw) >= 60:
            raise ConfigError.bad_value(f"line {i + 1} (TLE line 2)", raw, "to follow a TLE line 1",
                                        source=source)
        if name:
            raise ConfigError.bad_value(f"line {i + 1}", raw, f"TLE line 1 after the name line {name_line} "
                                        f"({name!r})", source=source)
        name = raw[2:] if raw.startswith("0 ") else raw
        name_line = i + 1
        if len(name.strip()) > 69:
            raise ConfigError.bad_value(f"line {i + 1} (name)", raw, "a name of at most 69 characters",
                                        source=source)
        i += 1
    if name:
        raise ConfigError.bad_value(f"line {name_line}", name, "a name line followed by two TLE lines",
                                    source=source)
    if not out:
        raise ConfigError.bad_value("content", "no element sets", "at least one TLE", source=source)
    return out


def load_tle_file(path: str | os.PathLike) -> list[TleRecord]:
    """Read and validate every element set of a TLE file (see :func:`parse_tle_text`)."""
    path = os.fspath(path)
    try:
        with open(path, encoding="ascii", errors="strict") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file", source=path) from None
    except UnicodeDecodeError as exc:
        raise ConfigError.bad_value("content", f"byte {exc.object[exc.start]:#04x} at offset {exc.start}",
                                    "ASCII text", source=path) from None
    return parse_tle_text(text, source=path)


def _exp_field(x: float) -> str:
    """TLE 'implied decimal' exponent field (8 chars): sign, 5 mantissa digits, exponent sign+digit."""
    if x == 0.0:
        return " 00000-0"
    sign = "-" if x < 0 else " "
    a = abs(x)
    if not math.isfinite(a) or a >= 0.999995e9:
        raise ConfigError.bad_value("exponent field", x, "|value| < 1e9")
    e = math.floor(math.log10(a)) + 1
    if e < -9:  # below the format's range: the mantissa loses digits (rounds to 0 under 5e-15), as the format does
        e = -9
    m = round(a / 10.0**e * 1e5)
    if m >= 100000:
        m = round(m / 10)
        e += 1
    if m == 0:
        return " 00000-0"
    return f"{sign}{m:05d}{'-' if e < 0 else '+'}{abs(e)}"


def format_tle(*, satnum: int, epoch: Epoch, inclination_deg: float, raan_deg: float, eccentricity: float,
               argp_deg: float, mean_anomaly_deg: float, mean_motion_revpd: float, bstar: float = 0.0,
               ndot: float = 0.0, classification: str = "U", intl_designator: str = "", elset: int = 999,
               revnum: int = 0) -> tuple[str, str]:
    """Write two TLE lines (with checksums) for the given mean elements (deg, rev/day).

    Rounding is that of the format: angles to 1e-4 deg, mean motion to 1e-8 rev/day, eccentricity to
    1e-7, epoch to 1e-8 day (0.86 ms).
    """
    if not 0 <= satnum <= 99999:
        raise ConfigError.bad_value("satnum", satnum, "0..99999")
    if not 0.0 <= eccentricity < 1.0:
        raise ConfigError.bad_value("eccentricity", eccentricity, "0 <= e < 1")
    dt = epoch.datetime
    start = dt.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    # day of year from the split JD directly (sub-microsecond), not from the rounded datetime
    day = 1.0 + epoch.seconds_since(Epoch.from_datetime(start)) / 86400.0
    yy = dt.year % 100
    day_txt = f"{day:012.8f}"
    if day_txt.startswith("367") or float(day_txt) >= 367:
        raise ConfigError.bad_value("epoch", str(epoch), "a representable day of year")
    ndot_txt = f"{ndot:+.8f}".replace("0.", ".", 1)
    ndot_txt = (" " + ndot_txt[1:]) if ndot_txt[0] == "+" else ndot_txt
    l1 = (f"1 {satnum:05d}{classification} {intl_designator:<8.8} {yy:02d}{day_txt} {ndot_txt} "
          f"{_exp_field(0.0)} {_exp_field(bstar)} 0 {elset % 10000:4d}")
    ecc_txt = f"{eccentricity:.7f}"[2:]

    def ang(x):
        return f"{x % 360.0:8.4f}".replace("360.0000", "  0.0000")

    l2 = (f"2 {satnum:05d} {inclination_deg:8.4f} {ang(raan_deg)} {ecc_txt} {ang(argp_deg)} "
          f"{ang(mean_anomaly_deg)} {mean_motion_revpd:11.8f}{revnum % 100000:5d}")
    l1 += str(tle_checksum(l1))
    l2 += str(tle_checksum(l2))
    assert len(l1) == 69 and len(l2) == 69, (l1, l2)
    return l1, l2
