"""``hil passes``: the pass table, the pass plot, and one-line errors for bad input."""

import os

import pytest

from hil.cli import main

DATA = os.path.join(os.path.dirname(__file__), "data", "tle")


def test_pass_table_and_plot(tmp_path, capsys):
    png = tmp_path / "pass.png"
    rc = main(["passes", "-c", "starlink-sparse", "--lat", "36", "--lon", "90", "--duration", "600", "--limit", "6",
               "--fc", "2e9", "--plot", str(png)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "passes of starlink-sparse (264 satellites)" in out and "max |Dop| kHz" in out
    rows = [line for line in out.splitlines() if "starlink-sparse-P" in line and not line.startswith("wrote")]
    assert rows
    # at 2 GHz a 550 km pass cannot exceed ~24 ppm = 48 kHz of Doppler, nor ~0.7 kHz/s of Doppler rate
    for line in rows:
        fields = line.rstrip("<> ").split()
        dop_khz, rate = float(fields[-2]), float(fields[-1])
        assert 0 <= dop_khz < 48.0 and 0 <= rate < 700.0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {png}" in out


def test_tle_file_input(capsys):
    rc = main(["passes", "-c", os.path.join(DATA, "walker550_sample.tle"), "--duration", "6000", "--lat", "10",
               "--lon", "20", "--limit", "3"])
    assert rc == 0
    assert "(3 satellites)" in capsys.readouterr().out


@pytest.mark.parametrize("argv,needle", [
    (["--lat", "95"], "lat_deg: got 95.0"),
    (["-c", "no-such-preset"], "constellation: got 'no-such-preset'"),
    (["--start", "2027-06-01T00:00:00Z", "-c", os.path.join(DATA, "walker550_sample.tle")], "allow_stale"),
    (["--plot", "x.jpg"], "--plot: got 'x.jpg'"),
    (["--start", "noon"], "--start: got 'noon'"),
])
def test_bad_input_is_one_clear_line(argv, needle, capsys):
    assert main(["passes", "--duration", "60"] + argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("hil: error: ") and needle in err, err
