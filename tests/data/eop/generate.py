"""Regenerate the illustrative EOP sample in this folder (run from the repository root):

    python tests/data/eop/generate.py

finals2000A_sample.txt: 12 lines in the IERS/USNO finals2000A.all fixed-column format (columns as in
the IERS ReadMe.finals2000A; the layout was checked against a real finals2000A.all), for
2025-12-30 .. 2026-01-10. The VALUES ARE ILLUSTRATIVE, not IERS data: UT1-UTC starts at 0.0740 s on
2026-01-01 (the figure REFERENCES.md quotes for January 2026) and falls by 0.2 ms/day (an excess length
of day of 0.2 ms), the pole is near (0.12, 0.32) arcsec and moves by about 1 mas/day. The first five
lines carry Bulletin B (final) columns as well - the reader prefers them - with UT1-UTC 0.05 ms different
from Bulletin A so a test can tell which one was read; the next five are Bulletin A only, flagged P
(prediction); the last two carry the date only, as the tail of a real file does.
"""

import datetime as dt
import os

HERE = os.path.dirname(os.path.abspath(__file__))
MJD0 = dt.date(1858, 11, 17)


def line(day: dt.date, flag: str, xp: float, yp: float, dut1: float, bull_b: bool) -> str:
    mjd = (day - MJD0).days
    s = f"{day.year % 100:2d}{day.month:2d}{day.day:2d} {mjd:8.2f} {flag} {xp:9.6f}{0.000026:9.6f} "
    s += f"{yp:9.6f}{0.000026:9.6f}  {flag}{dut1:10.7f}{0.0000080:10.7f} {0.2:7.4f}{0.0050:7.4f}  "
    s += f"{flag} {0.300:9.3f}{0.030:9.3f} {-0.040:9.3f}{0.030:9.3f}"
    assert len(s) == 134, len(s)
    if bull_b:
        s += f"{xp + 0.00002:10.6f}{yp - 0.00001:10.6f}{dut1 + 0.00005:11.7f}{0.300:10.3f}{-0.040:10.3f}"
    return s.ljust(187)


def date_only(day: dt.date) -> str:
    return f"{day.year % 100:2d}{day.month:2d}{day.day:2d} {(day - MJD0).days:8.2f}".ljust(187)


if __name__ == "__main__":
    first = dt.date(2025, 12, 30)
    ref = dt.date(2026, 1, 1)
    out = []
    for k in range(12):
        d = first + dt.timedelta(days=k)
        n = (d - ref).days
        if k >= 10:
            out.append(date_only(d))
            continue
        out.append(line(d, "I" if k < 5 else "P", 0.1200 - 0.001 * n, 0.3200 + 0.0005 * n,
                        0.0740 - 0.0002 * n, bull_b=k < 5))
    with open(os.path.join(HERE, "finals2000A_sample.txt"), "w", encoding="ascii") as fh:
        fh.write("\n".join(out) + "\n")
