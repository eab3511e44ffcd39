"""SigMF captures: written files validate (sigmf's own validator), keep gaps and ephemeris state under
the declared ``hil`` namespace, and replay bit-exactly through a backend."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sigmf import sigmffile
from sigmf.validate import main as sigmf_validate_cli
from sigmf.validate import validate as sigmf_schema_validate

from hil.backends.mock import LoopbackChannel, MockRadio
from hil.capture import CaptureWriter, capture_paths, read_capture, validate_capture, write_capture
from hil.cli import main
from hil.commands.replay import replay_stream
from hil.errors import ConfigError


def _record_with_gap(base, lost=37):
    """Record 3 x 500 samples of seeded noise from the mock with an overflow before the third block."""
    ch = LoopbackChannel(noise_power=0.01, rng=7)
    with MockRadio("mock", channel=ch, stream_errors="mark") as r:
        r.configure(sample_rate=1e6, rx_frequency=2.2e9)
        w = CaptureWriter(base, r.sample_rate, r.rx_frequency, description="gap test",
                          extra={"profile": r.profile.name, "settings": r.settings()})
        r.start()
        blocks = []
        for i in range(3):
            if i == 2:
                r.inject_overflow(lost)
            x, meta = r.read(500)
            w.append(x, meta)
            blocks.append(x)
        w.annotate_ephemeris(250, range_m=1.2e6, range_rate_mps=-6.5e3, doppler_hz=47e3, elevation_deg=31.5)
        path = w.close()
    return path, np.concatenate(blocks)


def test_recorded_capture_validates_with_gaps_and_ephemeris(tmp_path):
    path, x = _record_with_gap(str(tmp_path / "rec"))
    validate_capture(path)
    raw = json.load(open(path))
    sigmf_schema_validate(raw)  # the schema itself, independently of our reader
    g = raw["global"]
    assert g["core:datatype"] == "cf32_le" and g["core:sample_rate"] == 1e6
    assert {"name": "hil", "version": "0.1.0", "optional": True} in g["core:extensions"]
    assert g["hil:profile"] == "mock" and g["hil:settings"]["rx_frequency"] == 2.2e9
    caps = raw["captures"]
    assert [(c["core:sample_start"], c["core:global_index"]) for c in caps] == [(0, 0), (1000, 1037)]
    assert all(c["core:frequency"] == 2.2e9 and c["core:datetime"].endswith("Z") for c in caps)
    ov = [a for a in raw["annotations"] if a["core:label"] == "overflow"]
    assert ov == [{"core:sample_start": 1000, "core:sample_count": 0, "core:label": "overflow",
                   "core:comment": "RX overflow: 37 samples lost before this sample",
                   "hil:lost_samples": 37, "hil:global_index": 1037}]
    eph = [a for a in raw["annotations"] if a["core:label"] == "ephemeris"][0]
    assert eph["hil:doppler_hz"] == 47e3 and eph["hil:elevation_deg"] == 31.5
    cap = read_capture(path)
    assert cap.samples.dtype == np.complex64
    assert np.array_equal(cap.samples.view(np.uint64), x.view(np.uint64))
    assert [(s, g, seg.size) for s, g, seg in cap.segments()] == [(0, 0, 1000), (1000, 1037, 500)]


def test_the_sigmf_command_line_validator_accepts_it(tmp_path):
    path = write_capture(tmp_path / "t", np.full(64, 0.25 - 0.5j, np.complex64), 2e6, 1e9)
    sigmf_validate_cli((path,))  # sigmf_validate's entry point: exits 1 on any invalid file
    raw = json.load(open(path))
    raw["global"]["core:datatype"] = "cf33"
    json.dump(raw, open(path, "w"))
    with pytest.raises(SystemExit):  # and it does catch a broken one
        sigmf_validate_cli((path,))


@settings(max_examples=6)
@given(x=arrays(np.complex64, st.integers(1, 300),
                elements=st.complex_numbers(max_magnitude=1.0, allow_nan=False, allow_infinity=False, width=64)))
def test_write_read_is_bit_exact(tmp_path_factory, x):
    base = tmp_path_factory.mktemp("c") / "x"
    write_capture(base, x, 1e6, 2.4e9)
    y = read_capture(base).samples
    assert np.array_equal(y.view(np.uint64), x.view(np.uint64))


def test_replay_through_the_mock_is_bit_exact(tmp_path, capsys):
    path, x = _record_with_gap(str(tmp_path / "rec"), lost=20)
    cap = read_capture(path)
    stream = replay_stream(cap, "zeros")
    assert stream.size == 1520 and not np.any(stream[1000:1020])
    np.testing.assert_array_equal(replay_stream(cap, "skip"), x)
    # through the radio: everything written comes back on RX, sample for sample
    with MockRadio("mock") as r:
        r.configure(sample_rate=cap.sample_rate, tx_frequency=cap.frequency)
        r.start()
        r.write(stream, end_burst=True)
        y, _ = r.read(stream.size)
    assert np.array_equal(y.view(np.uint64), stream.view(np.uint64))
    # and the command does the same, checking it itself
    assert main(["replay", path, "--verify", "--block", "300"]) == 0
    assert "loopback verified bit-exact" in capsys.readouterr().out


def test_record_and_replay_commands(tmp_path, capsys):
    base = str(tmp_path / "cli")
    assert main(["record", base, "--samples", "3000", "--rate", "100e3", "--profile", "pluto_ad9363"]) == 2
    assert "sample_rate: got 100000.0; allowed: 521 kHz..61.44 MHz" in capsys.readouterr().err
    assert main(["record", base, "--samples", "3000", "--rate", "2.5e6", "--freq", "915e6",
                 "--mock-noise-dbfs", "-20", "--block", "1000", "--profile", "pluto_ad9363"]) == 0
    out = capsys.readouterr().out
    assert "recorded 3000 samples" in out and "valid SigMF" in out
    meta, data = capture_paths(base)
    cap = read_capture(meta)
    assert cap.samples.size == 3000 and cap.frequency == 915e6 and cap.global_info["hil:profile"] == "pluto_ad9363"
    assert 0.005 < np.mean(np.abs(cap.samples) ** 2) < 0.02  # -20 dBFS of noise
    assert main(["record", base, "--samples", "10"]) == 2  # exists: refused without --overwrite
    assert "overwrite" in capsys.readouterr().err
    assert main(["replay", base, "--verify", "--repeat", "2"]) == 0
    assert "replayed 6000 samples" in capsys.readouterr().out
    assert main(["replay", base, "--profile", "pluto_ad9363", "--freq", "70e9"]) == 2
    assert "325 MHz..3.8 GHz" in capsys.readouterr().err


def test_replay_refuses_samples_beyond_full_scale(tmp_path, capsys):
    p = write_capture(tmp_path / "loud", np.full(10, 1.5 + 0j, np.complex64), 1e6, 1e9)
    assert main(["replay", p]) == 2
    assert "full scale" in capsys.readouterr().err


def test_undeclared_namespace_and_corrupt_data_are_errors(tmp_path):
    p = write_capture(tmp_path / "u", np.zeros(16, np.complex64), 1e6, 1e9)
    raw = json.load(open(p))
    raw["annotations"].append({"core:sample_start": 1, "other:thing": 1})
    json.dump(raw, open(p, "w"))
    with pytest.raises(ConfigError, match=r"core:extensions.*\['other'\]"):
        validate_capture(p)
    p2 = write_capture(tmp_path / "c", np.zeros(16, np.complex64), 1e6, 1e9)
    with open(capture_paths(p2)[1], "r+b") as fh:
        fh.write(b"\x01")
    with pytest.raises(ConfigError, match="not a valid SigMF capture"):
        validate_capture(p2)


def test_writer_input_checks(tmp_path):
    w = CaptureWriter(tmp_path / "w", 1e6, 1e9)
    with pytest.raises(ConfigError, match="one channel per capture"):
        w.append(np.zeros((2, 4), np.complex64))
    with pytest.raises(ConfigError, match="range_m, range_rate_mps"):
        w.annotate_ephemeris(0, altitude=5)
    w.append(np.zeros(4, np.complex64))
    w.close()
    assert sigmffile.fromfile(w.meta_path).get_global_field("core:datatype") == "cf32_le"
    with pytest.raises(ConfigError, match="close"):
        w.append(np.zeros(4, np.complex64))
