"""AD9361 .ftr FIR files: the shipped file parses, regenerates identically and filters as designed;
writer/parser round trip; every rule violated gives a clear error with the line and what is allowed."""

import os
import runpy

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.signal import freqz

from firmware_cfg.ftr import FIR_DIR, FirFilter, FirPath, load_ftr, parse_ftr, write_ftr
from hil.errors import ConfigError

SHIPPED = os.path.join(FIR_DIR, "pluto_lowrate_dec4_1msps.ftr")


def test_shipped_file_parses_with_its_clock_tree():
    f = load_ftr(SHIPPED)
    assert f.ntaps == 128 and f.rx.ratio == 4 and f.tx.ratio == 4
    assert f.rx_sample_rate == 1_000_000 and f.rx.clocks[4] == 4_000_000
    assert load_ftr("pluto_lowrate_dec4_1msps.ftr") == f  # bare names resolve in firmware_cfg/fir/


def test_shipped_file_is_a_lowpass_for_1_msps():
    f = load_ftr(SHIPPED)
    h = f.rx_taps.astype(float) / 32768
    fs_in = f.rx.clocks[4]
    w, H = freqz(h, worN=[0, 200e3, 400e3, 600e3, 1.0e6, 1.5e6], fs=fs_in)
    mag = 20 * np.log10(np.abs(H))
    assert abs(mag[0]) < 0.01  # unity DC gain (Q15)
    assert np.all(np.abs(mag[1:3]) < 0.5)  # passband flat to 0.5 dB up to 400 kHz
    assert np.all(mag[3:] < -40)  # aliases of the 4x decimation folded in from >= 600 kHz are suppressed


def test_generator_reproduces_the_shipped_files():
    gen = runpy.run_path(os.path.join(FIR_DIR, "generate.py"), run_name="generate")
    for name in gen["FILES"]:
        with open(os.path.join(FIR_DIR, name)) as fh:
            assert gen["render"](name) == fh.read(), name


@given(n16=st.integers(1, 8), seed=st.integers(0, 2**32 - 1), two_cols=st.booleans(),
       tx_gain=st.sampled_from([0, -6]), rx_gain=st.sampled_from([-12, -6, 0, 6]), ratio=st.sampled_from([2, 4]))
def test_write_parse_round_trip(n16, seed, two_cols, tx_gain, rx_gain, ratio):
    rng = np.random.default_rng(seed)
    t = rng.integers(-32768, 32768, 16 * n16).astype(np.int16)
    r = rng.integers(-32768, 32768, 16 * n16).astype(np.int16) if two_cols else t.copy()
    f = FirFilter(FirPath(3, tx_gain, ratio), FirPath(1, rx_gain, ratio), t, r)
    g = parse_ftr(write_ftr(f))
    assert g == f
    np.testing.assert_array_equal(g.rx_taps, r)


HEAD = "TX 3 GAIN 0 INT 4\nRX 3 GAIN 0 DEC 4\n"
RRX = "RRX 768000000 48000000 16000000 8000000 4000000 1000000\n"


def _taps(n):
    return "".join(f"{(i % 7) - 3}\n" for i in range(n))


@pytest.mark.parametrize("text,needle", [
    (HEAD + _taps(130), "TX taps: got 130; allowed: 16..128 taps in multiples of 16"),
    (HEAD + _taps(100), "got 100; allowed: 16..128 taps in multiples of 16"),
    ("TX 3 GAIN 0 INT 1\nRX 3 GAIN 0 DEC 4\n" + _taps(80), "TX taps: got 80; allowed: <= 64 when INT = 1"),
    ("TX 3 GAIN 0 INT 4\nRX 3 GAIN 3 DEC 4\n" + _taps(64), "RX GAIN: got 3; allowed: one of -12, -6, +0, +6 dB"),
    ("TX 3 GAIN 0 INT 4\nRX 3 GAIN 0 DEC 3\n" + _taps(64), "RX DEC: got 3; allowed: 1, 2 or 4"),
    ("TX 4 GAIN 0 INT 4\nRX 3 GAIN 0 DEC 4\n" + _taps(64), "TX chains: got 4; allowed: 1, 2 or 3"),
    (HEAD + _taps(63) + "40000\n", "line 66: coefficient: got 40000; allowed: -32768..32767 (int16)"),
    ("RX 3 GAIN 0 DEC 4\n" + _taps(64), "header: got 'missing TX'"),
    ("TX 3 GAIN 0 INTERP 4\nRX 3 GAIN 0 DEC 4\n" + _taps(64), "line 1: got 'TX 3 GAIN 0 INTERP 4'"),
    (HEAD + _taps(16) + "1,2\n" + _taps(15), "line 19: got '1,2'; allowed: 1 column(s)"),
    (HEAD + "abc\n" + _taps(16), "line 3: coefficient: got 'abc'; allowed: an integer"),
    (HEAD + "RRX 768000000 48000000 16000000 8000000 4000000 2000000\n" + _taps(64),
     "RRX RXSAMP: got 2000000; allowed: RF / DEC = 4000000 / 4 Hz"),
    (HEAD + "RRX 2000000000 48000000 16000000 8000000 4000000 1000000\n" + _taps(64),
     "RRX BBPLL: got 2000000000; allowed: 715827882..1430000000 Hz"),
    (HEAD + "RRX 768000000 48000000 12000000 8000000 4000000 1000000\n" + _taps(64), "RRX R2: got 12000000"),
    ("TX 3 GAIN 0 INT 1\nRX 3 GAIN 0 DEC 1\nRRX 983040000 61440000 30720000 30720000 30720000 30720000\n"
     + _taps(64), "taps: got 64; allowed: <= 16 * (ADC/2) / RXSAMP = 16 at these clocks"),
])
def test_a_broken_ftr_gives_a_clear_error(tmp_path, text, needle):
    p = tmp_path / "bad.ftr"
    p.write_text(text)
    with pytest.raises(ConfigError) as ex:
        load_ftr(p)
    msg = str(ex.value)
    assert msg.startswith(f"{p}: ") and needle in msg, msg


def test_valid_clock_tree_accepted_and_written_back():
    f = parse_ftr(HEAD + RRX + _taps(128))
    assert f.rx.clocks == (768000000, 48000000, 16000000, 8000000, 4000000, 1000000)
    assert parse_ftr(write_ftr(f)) == f


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_ftr(tmp_path / "none.ftr")
    p = tmp_path / "bin.ftr"
    p.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not a text .ftr file"):
        load_ftr(p)
