"""TLE parsing: strict layout/checksum validation with clear errors, formatting round trips, TLE files
against the Walker satellites they were written from, and the sane-span rule."""

import math
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hil.errors import ConfigError
from hil.orbit import (
    Constellation,
    as_epoch,
    format_tle,
    load_tle_file,
    parse_tle_text,
    preset,
    tle_checksum,
    validate_tle,
)

DATA = os.path.join(os.path.dirname(__file__), "data", "tle")

# The ISS element set printed in Vallado et al. (2006) / CelesTrak documentation (public example).
ISS1 = "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927"
ISS2 = "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537"


def _fix_checksum(line: str) -> str:
    return line[:68] + str(tle_checksum(line))


def test_checksum_of_published_lines():
    assert tle_checksum(ISS1) == 7 and tle_checksum(ISS2) == 7
    # the rule itself: digits count their value, '-' counts one, everything else zero
    assert tle_checksum("1 -9" + " " * 64) == (1 + 1 + 9) % 10


def test_parse_two_and_three_line_sets():
    recs = parse_tle_text(f"ISS (ZARYA)\n{ISS1}\n{ISS2}\n\n{ISS1}\n{ISS2}\n")
    assert [r.name for r in recs] == ["ISS (ZARYA)", ""]
    r = recs[0]
    assert r.satnum == 25544
    assert math.isclose(math.degrees(r.satrec.inclo), 51.6416, abs_tol=1e-9)
    assert math.isclose(r.satrec.ecco, 0.0006703, abs_tol=1e-12)
    # epoch 2008 day 264.51782528 -> 2008-09-20 12:25:40.104 UTC
    assert r.epoch.isoformat().startswith("2008-09-20T12:25:40.10")
    assert parse_tle_text(f"0 ISS\n{ISS1}\n{ISS2}")[0].name == "ISS"


@pytest.mark.parametrize("line1,line2,where", [
    (ISS1[:68] + "3", ISS2, "line 1 columns 69 (checksum)"),
    (ISS1, ISS2[:68] + "0", "line 2 columns 69 (checksum)"),
    (ISS1[:-1], ISS2, "line 1 (TLE line 1 length)"),
    ("3" + ISS1[1:], ISS2, "line 1 columns 1 (line number)"),
    (_fix_checksum(ISS1[:20] + "X" + ISS1[21:]), ISS2, "line 1 columns 21-32 (epoch day)"),
    (ISS1, _fix_checksum(ISS2[:8] + "51.64160" + ISS2[16:]), "line 2 columns 9-16 (inclination)"),
    (ISS1, _fix_checksum(ISS2[:8] + "181.0000" + ISS2[16:]), "line 2 columns 9-16 (inclination)"),
    (ISS1, _fix_checksum(ISS2[:26] + ".000670" + ISS2[33:]), "line 2 columns 27-33 (eccentricity)"),
    (ISS1, _fix_checksum(ISS2[:2] + "25545" + ISS2[7:]), "line 2 columns 3-7 (catalogue number)"),
    (_fix_checksum(ISS1[:33] + "-.0000218 " + ISS1[43:]), ISS2, "line 1 columns 34-43 (ndot/2)"),
    (ISS1, _fix_checksum(ISS2[:52] + "25.72125391" + ISS2[63:]), "line 2 columns 53-63 (mean motion)"),
])
def test_bad_lines_name_line_columns_value_and_expectation(line1, line2, where):
    with pytest.raises(ConfigError) as ex:
        validate_tle(line1, line2, source="bad.tle")
    msg = str(ex.value)
    assert msg.startswith("bad.tle: ") and where in msg, msg
    assert "got" in msg and "allowed" in msg


def test_checksum_error_says_expected_digit():
    with pytest.raises(ConfigError, match=r"got '3'; allowed: 7 "):
        validate_tle(ISS1[:68] + "3", ISS2)


def test_file_structure_errors_name_lines(tmp_path):
    p = tmp_path / "x.tle"
    p.write_text(f"NAME\n{ISS1}\n")
    with pytest.raises(ConfigError, match=r"x.tle: line 3 \(TLE line 2\)"):
        load_tle_file(p)
    p.write_text(f"{ISS2}\n{ISS1}\n")
    with pytest.raises(ConfigError, match=r"line 1 \(TLE line 2\)"):
        load_tle_file(p)
    p.write_text("A\nB\n")
    with pytest.raises(ConfigError, match="line 2"):
        load_tle_file(p)
    p.write_text("")
    with pytest.raises(ConfigError, match="at least one TLE"):
        load_tle_file(p)
    with pytest.raises(ConfigError, match="no such file"):
        load_tle_file(tmp_path / "missing.tle")


@given(inc=st.floats(0, 180), raan=st.floats(0, 359.99), ecc=st.floats(0, 0.02), argp=st.floats(0, 359.99),
       m=st.floats(0, 359.99), n=st.floats(0.9, 15.5), day=st.floats(0, 364),
       bstar=st.floats(-1e-3, 1e-3) | st.sampled_from([0.0, 2.7e-77, -3e-15, 9.99999e-4]))
def test_format_then_parse_round_trip(inc, raan, ecc, argp, m, n, day, bstar):
    ep = as_epoch("2026-01-01T00:00:00Z").plus(day * 86400.0)
    l1, l2 = format_tle(satnum=12345, epoch=ep, inclination_deg=inc, raan_deg=raan, eccentricity=ecc, argp_deg=argp,
                        mean_anomaly_deg=m, mean_motion_revpd=n, bstar=bstar)
    r = validate_tle(l1, l2)
    sr = r.satrec

    def angle_close(a, b):
        return abs((a - b + 180.0) % 360.0 - 180.0) <= 0.6e-4

    assert abs(math.degrees(sr.inclo) - inc) <= 0.6e-4
    assert angle_close(math.degrees(sr.nodeo), raan)
    assert angle_close(math.degrees(sr.mo), m)
    assert abs(sr.ecco - ecc) <= 0.6e-7
    assert abs(sr.no_kozai * 1440 / (2 * math.pi) - n) <= 0.6e-8
    assert abs(r.epoch.seconds_since(ep)) <= 0.5e-8 * 86400 + 1e-6
    assert abs(sr.bstar - bstar) <= max(abs(bstar) * 1e-4, 1e-14)  # 5 significant digits


def test_tle_file_reproduces_the_walker_satellites():
    cons = Constellation.from_tle_file(os.path.join(DATA, "walker550_sample.tle"))
    shell = preset("starlink-1584")[[0, 1, 67]]
    assert cons.names == shell.names
    t = np.linspace(0.0, 6000.0, 7)
    r1, _ = cons.propagate_teme("2026-01-01T00:00:00Z", t)
    r2, _ = shell.propagate_teme("2026-01-01T00:00:00Z", t)
    # TLE rounding: 1e-4 deg of angle (~12 m) and 1e-8 rev/day of mean motion (~0.1 m over 6000 s)
    assert np.max(np.linalg.norm(r1 - r2, axis=-1)) < 30.0


def test_times_far_from_the_tle_epoch_are_refused_unless_allowed():
    cons = Constellation.from_tle_file(os.path.join(DATA, "walker550_sample.tle"))
    with pytest.raises(ConfigError, match=r"days from its element epoch .*allowed: within \+/-30 days"):
        cons.propagate_teme("2026-03-01T00:00:00Z", [0.0])
    with pytest.raises(ConfigError, match="allow_stale"):
        cons.propagate_teme("2026-01-01T00:00:00Z", [-31 * 86400.0])
    r, _ = cons.propagate_teme("2026-03-01T00:00:00Z", [0.0], allow_stale=True)
    assert np.all(np.isfinite(r))
    # a per-file span can be set
    short = Constellation.from_tle_file(os.path.join(DATA, "walker550_sample.tle"), max_span_days=1.0)
    with pytest.raises(ConfigError, match=r"\+/-1 days"):
        short.propagate_teme("2026-01-03T00:00:00Z", [0.0])
