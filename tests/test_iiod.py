"""The iiod protocol server and the emulated Pluto, over raw sockets and through unmodified libiio.

The libiio tests run the real client stack (Debian libiio0 0.24 + pylibiio + pyadi-iio) against the
emulator on an ephemeral loopback port; nothing of the project sits between adi.Pluto and the socket.
"""

from __future__ import annotations

import errno
import gc
import socket
import threading
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from hil.errors import ConfigError
from hil.iiod import IiodServer, LoopPath, PlutoEmulator, RfLoop, format_mask, parse_command, parse_mask
from hil.iiod.model import IioErrno
from hil.iiod.pluto import parse_fir_config

try:
    import adi
except (ImportError, OSError) as _exc:  # OSError: pylibiio is there but libiio.so.0 is not
    adi, _WHY = None, f"pyadi-iio + libiio not usable: {_exc}"
else:
    _WHY = ""
needs_adi = pytest.mark.skipif(adi is None, reason=_WHY)


# ---------------------------------------------------------------------------------------------- helpers
def _iiod_threads():
    return [t for t in threading.enumerate() if t.name.startswith("iiod-")]


@pytest.fixture
def emu():
    before = set(_iiod_threads())
    e = PlutoEmulator("pluto_ad9363", receiver="ideal").start(port=0, payload_timeout_s=0.5)
    yield e
    gc.collect()  # drop libiio contexts (they send EXIT) before the server goes away
    e.stop()
    left = [t for t in _iiod_threads() if t not in before and t.is_alive()]
    assert not left, f"server threads still running: {left}"


class Raw:
    """A hand-driven iiod client (line in, line/bytes out)."""

    def __init__(self, port: int):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.f = self.s.makefile("rb")

    def cmd(self, text: bytes | str) -> int:
        self.send(text if isinstance(text, bytes) else text.encode() + b"\r\n")
        return self.int()

    def send(self, data: bytes) -> None:
        self.s.sendall(data)

    def int(self) -> int:
        return int(self.f.readline())

    def read(self, n: int) -> bytes:
        return self.f.read(n)

    def close(self):
        self.f.close()
        self.s.close()


@pytest.fixture
def pluto(emu):
    sdr = adi.Pluto(emu.uri)
    yield sdr
    sdr.rx_destroy_buffer()
    sdr.tx_destroy_buffer()
    del sdr


# ---------------------------------------------------------------------------------------------- protocol
def test_parse_commands():
    c = parse_command(b"READ iio:device0 INPUT voltage0 hardwaregain\r\n")
    assert (c.op, c.dev, c.kind, c.chan, c.attr) == ("READ", "iio:device0", "INPUT", "voltage0", "hardwaregain")
    c = parse_command("WRITE iio:device0 DEBUG loopback 2")
    assert (c.kind, c.attr, c.nbytes) == ("DEBUG", "loopback", 2)
    c = parse_command("WRITE iio:device0 calib_mode 5")
    assert (c.kind, c.chan, c.attr, c.nbytes) == (None, None, "calib_mode", 5)
    c = parse_command("OPEN iio:device2 1024 00000003 CYCLIC")
    assert (c.samples, c.mask, c.cyclic) == (1024, 3, True)
    assert parse_command("\r\n") is None
    assert parse_command("SET iio:device1 BUFFERS_COUNT 4").value == 4


@pytest.mark.parametrize("line", [
    "FROB x", "READ iio:device0", "WRITE iio:device0 attr", "WRITE iio:device0 attr -3", "WRITE a b notanumber",
    "OPEN iio:device2 1024", "OPEN iio:device2 0 00000003", "OPEN iio:device2 16 3", "OPEN iio:device2 16 zzzzzzzz",
    "READBUF iio:device2", "TIMEOUT", "TIMEOUT x", "PRINT extra", "READ iio:device0 INPUT voltage0",
    "SET iio:device1 FOO 3", b"READ \xff\xfe x",
])
def test_malformed_commands_are_einval(line):
    with pytest.raises(IioErrno) as ei:
        parse_command(line)
    assert ei.value.errno == errno.EINVAL


@given(st.integers(0, 2**96 - 1), st.integers(3, 4))
def test_mask_round_trip(mask, nwords):
    text = format_mask(mask, nwords)
    assert len(text) == 8 * nwords
    assert parse_mask(text) == mask
    assert int(text, 16) == mask  # most significant word first


# ---------------------------------------------------------------------------------------------- FIR text
def test_fir_config_parser():
    taps = "\n".join(f"{k},{-k}" for k in range(64))
    cfg = parse_fir_config(f"# comment\nRX 3 GAIN -6 DEC 4\nTX 3 GAIN 0 INT 4\nBWRX 900000\n{taps}\n")
    assert (cfg.rx_decimation, cfg.tx_interpolation, cfg.taps, cfg.rx_bandwidth) == (4, 4, 64, 900000)
    for bad in ("RX 3 GAIN -6 DEC 3\nTX 3 GAIN 0 INT 4\n" + taps,       # DEC 3
                "RX 3 GAIN -6 DEC 4\n" + taps,                            # no TX line
                "RX 3 GAIN -6 DEC 4\nTX 3 GAIN 0 INT 4\n" + "1,1\n" * 20,  # 20 taps
                "RX 3 GAIN -6 DEC 4\nTX 3 GAIN 0 INT 4\n" + "40000,1\n" * 16):  # not int16
        with pytest.raises(IioErrno):
            parse_fir_config(bad)


# ---------------------------------------------------------------------------------------------- raw socket
def test_raw_session_version_print_read_write(emu):
    c = Raw(emu.server.port)
    try:
        c.send(b"VERSION\r\n")
        major, minor, _tag = c.f.readline().decode().strip().split(".")
        assert (int(major), int(minor)) == (0, 24)
        n = c.cmd("PRINT")
        xml = c.read(n + 1)
        assert xml.endswith(b"\n") and b'name="ad9361-phy"' in xml and b'name="cf-ad9361-lpc"' in xml
        n = c.cmd("READ ad9361-phy OUTPUT altvoltage0 frequency")
        assert c.read(n + 1) == b"2400000000\n"
        c.send(b"WRITE ad9361-phy OUTPUT altvoltage0 frequency 10\r\n915000000\0")
        assert c.int() == 10
        n = c.cmd("READ ad9361-phy OUTPUT altvoltage0 frequency")
        assert c.read(n + 1) == b"915000000\n"
        # out of range for the AD9363 (325 MHz..3.8 GHz): the driver's -EINVAL, value unchanged
        c.send(b"WRITE ad9361-phy OUTPUT altvoltage0 frequency 10\r\n100000000\0")
        assert c.int() == -errno.EINVAL
        c.send(b"WRITE ad9361-phy OUTPUT altvoltage0 frequency 6\r\n2.4e9\0")  # kstrtoull refuses this
        assert c.int() == -errno.EINVAL
        n = c.cmd("READ ad9361-phy OUTPUT altvoltage0 frequency")
        assert c.read(n + 1) == b"915000000\n"
        assert c.cmd("READ iio:device9 calib_mode") == -errno.ENODEV
        assert c.cmd("READ ad9361-phy no_such_attr") == -errno.ENOENT
        assert c.cmd("READ ad9361-phy INPUT voltage7 hardwaregain") == -errno.ENOENT
    finally:
        c.close()


def test_malformed_and_truncated_commands_keep_serving(emu):
    a, b = Raw(emu.server.port), Raw(emu.server.port)
    try:
        assert a.cmd("FROBNICATE now") == -errno.EINVAL
        assert a.cmd("READ ad9361-phy") == -errno.EINVAL             # truncated: attribute missing
        assert a.cmd(b"\x00\xff\x01garbage\r\n") == -errno.EINVAL
        assert a.cmd(b"A" * 10000 + b"\r\n") == -errno.EINVAL          # over-long line, discarded whole
        assert a.cmd("TIMEOUT 100") == 0                               # the same session still works
        # A WRITE whose payload never fully arrives: -ETIMEDOUT, and that session is closed.
        a.send(b"WRITE ad9361-phy calib_mode 10\r\nman")
        # meanwhile another client is served normally
        n = b.cmd("READ ad9361-phy calib_mode")
        assert b.read(n + 1) == b"auto\n"
        assert a.int() == -errno.ETIMEDOUT
        assert a.f.readline() == b""                                   # closed by the server
        n = b.cmd("READ ad9361-phy calib_mode")
        assert b.read(n + 1) == b"auto\n"
        # a client vanishing in the middle of a command does not disturb the server either
        c = Raw(emu.server.port)
        c.send(b"WRITEBUF cf-ad9361-dds-core-lpc 4096\r")
        c.close()
        b.send(b"VERSION\r\n")
        assert b.f.readline().startswith(b"0.24.")
    finally:
        a.close()
        b.close()
    d = Raw(emu.server.port)
    try:
        n = d.cmd("READ ad9361-phy ensm_mode")
        assert d.read(n + 1) == b"fdd\n"
    finally:
        d.close()
    assert emu.server.errors_replied >= 5


def test_raw_buffers_and_cyclic(emu):
    emu.set_channel(delay=3)
    tx, rx = Raw(emu.server.port), Raw(emu.server.port)
    try:
        assert tx.cmd("OPEN cf-ad9361-dds-core-lpc 8 00000003 CYCLIC") == 0
        assert rx.cmd("OPEN cf-ad9361-lpc 8 00000003") == 0
        assert Raw(emu.server.port).cmd("OPEN cf-ad9361-lpc 8 00000003") == -errno.EBUSY
        i = np.array([1600, -3200, 4800, 0, 16000, -16000, 320, 160], "<i2")
        q = -i
        payload = np.stack([i, q], 1).astype("<i2").tobytes()
        assert tx.cmd("WRITEBUF cf-ad9361-dds-core-lpc 32") == 32
        tx.send(payload)
        assert tx.int() == 32
        assert tx.cmd("WRITEBUF cf-ad9361-dds-core-lpc 32") == 32   # a cyclic buffer is pushed once
        tx.send(payload)
        assert tx.int() == -errno.EBUSY
        assert rx.cmd("READBUF cf-ad9361-lpc 63") == -errno.EINVAL  # not whole samples
        got = []
        for _ in range(3):
            n = rx.cmd("READBUF cf-ad9361-lpc 64")
            assert n == 64 and rx.f.readline() == b"00000003\n"
            got.append(np.frombuffer(rx.read(n), "<i2").reshape(-1, 2))
        y = np.concatenate(got)
        # DAC keeps the 12 MSBs; level 1.0 = 16384 at TX, 2048 at RX; delay 3; repeats every 8
        ref_i = np.rint(((i.astype(int) >> 4) << 4) / 16384 * 2048)
        ref = np.tile(ref_i, 6)[:45]                   # 3 reads x 16 samples, minus the delay
        assert np.array_equal(y[3:, 0], ref)
        assert np.array_equal(y[3:, 1], -ref)
        assert np.array_equal(y[:3], np.zeros((3, 2)))
        assert tx.cmd("CLOSE cf-ad9361-dds-core-lpc") == 0 and rx.cmd("CLOSE cf-ad9361-lpc") == 0
        assert rx.cmd("CLOSE cf-ad9361-lpc") == -errno.EBADF
        assert rx.cmd("READBUF cf-ad9361-lpc 64") == -errno.EBADF
        assert rx.cmd("OPEN ad9361-phy 8 00000001") == -errno.ENOSYS   # the phy has no buffer
        assert rx.cmd("OPEN cf-ad9361-lpc 8 00000010") == -errno.EINVAL   # no such channel bit
    finally:
        tx.close()
        rx.close()


def test_server_stop_joins_threads_with_idle_clients():
    before = set(_iiod_threads())
    emu = PlutoEmulator("pluto_ad9364").start(port=0)
    clients = [Raw(emu.server.port) for _ in range(3)]
    clients[0].send(b"READ iio:dev")  # a half line pending
    time.sleep(0.05)
    t0 = time.monotonic()
    emu.stop()
    assert time.monotonic() - t0 < 3
    assert not [t for t in _iiod_threads() if t not in before and t.is_alive()]
    for c in clients:
        c.close()


def test_server_rejects_bad_context_and_busy_port():
    with pytest.raises(Exception, match="IioContext"):
        IiodServer("not a context")
    with PlutoEmulator() as e1:
        e2 = PlutoEmulator()
        with pytest.raises(Exception, match="cannot bind"):
            e2.start(port=e1.server.port)


# ---------------------------------------------------------------------------------------------- RF loop
@given(st.lists(st.integers(1, 40), min_size=1, max_size=6), st.floats(0, 9), st.floats(-2e4, 2e4))
def test_rf_loop_capture_split_invariant(chunks, delay, f_hz):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((1, 64)) + 1j * rng.standard_normal((1, 64))) * 0.1
    total = sum(chunks)
    outs = []
    for parts in ([total], chunks):
        rf = RfLoop(1, 1, [LoopPath(0.5, delay, f_hz)], noise_var=1e-3, seed=7)
        rf.capturing = True
        rf.transmit(x, cyclic=False)
        outs.append(np.concatenate([rf.capture(k, 1e6) for k in parts], axis=1))
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-12)


def test_rf_loop_matches_closed_form_integer_delay():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 50)) + 1j * rng.standard_normal((1, 50))
    rf = RfLoop(1, 1, [LoopPath(0.5j, 7, 1e3), LoopPath(0.25, 2, 0.0)])
    rf.transmit(x, cyclic=False)
    y = rf.capture(60, 1e5, lo_offset_hz=500.0)[0]
    n = np.arange(60)
    xs = lambda d: np.concatenate([np.zeros(d), x[0], np.zeros(60)])[:60]  # noqa: E731
    ref = (0.5j * np.exp(2j * np.pi * (1e3 + 500) / 1e5 * n) * xs(7)
           + 0.25 * np.exp(2j * np.pi * 500 / 1e5 * n) * xs(2))
    np.testing.assert_allclose(y, ref, atol=1e-9)


def test_rf_loop_rejects_bad_paths():
    with pytest.raises(ConfigError):
        RfLoop(1, 1, [LoopPath(1.0, -1.0, 0.0)])
    with pytest.raises(ConfigError):
        RfLoop(1, 1, ["nonsense"])


# ---------------------------------------------------------------------------------------------- pyadi-iio
@needs_adi
def test_pyadi_settings_round_trip(pluto):
    sdr = pluto
    for rate in (2_500_000, 1_000_000, 10_000_000, 600_000):  # 1 MS/s and 600 kS/s need the FIR
        sdr.sample_rate = rate
        assert sdr.sample_rate == rate
    assert sdr._get_iio_attr("out", "voltage_filter_fir_en", False) == 1
    sdr.rx_lo = 915_000_000
    sdr.tx_lo = 2_400_000_000
    assert (sdr.rx_lo, sdr.tx_lo) == (915_000_000, 2_400_000_000)
    sdr.rx_rf_bandwidth = 1_000_000
    sdr.tx_rf_bandwidth = 3_000_000
    assert (sdr.rx_rf_bandwidth, sdr.tx_rf_bandwidth) == (1_000_000, 3_000_000)
    # The trap: a fresh Pluto is in slow_attack, and pyadi-iio silently skips the gain write.
    assert sdr.gain_control_mode_chan0 == "slow_attack"
    sdr.rx_hardwaregain_chan0 = 55
    assert sdr.rx_hardwaregain_chan0 == 30  # the (emulated) AGC's gain, not 55
    sdr.gain_control_mode_chan0 = "manual"
    sdr.rx_hardwaregain_chan0 = 55
    assert sdr.gain_control_mode_chan0 == "manual" and sdr.rx_hardwaregain_chan0 == 55
    sdr.tx_hardwaregain_chan0 = -20.25
    assert sdr.tx_hardwaregain_chan0 == -20.25


@needs_adi
def test_pyadi_out_of_range_fails(pluto):
    sdr = pluto
    sdr.rx_lo = 2_000_000_000
    with pytest.raises(OSError) as ei:
        sdr.rx_lo = 6_000_000_000          # an AD9364 would take it, the AD9363 does not
    assert ei.value.errno == errno.EINVAL
    assert sdr.rx_lo == 2_000_000_000
    with pytest.raises(OSError):
        sdr.tx_lo = 100_000_000
    with pytest.raises(OSError):
        sdr.rx_rf_bandwidth = 40_000_000   # AD9363: at most 20 MHz
    with pytest.raises(OSError):
        sdr.gain_control_mode_chan0 = "turbo"
    sdr.gain_control_mode_chan0 = "manual"
    with pytest.raises(OSError):
        sdr.rx_hardwaregain_chan0 = 90
    with pytest.raises(OSError):
        sdr.tx_hardwaregain_chan0 = 5.0
    with pytest.raises(OSError):   # below 2.083 MS/s without the FIR, written directly
        sdr._set_iio_attr("voltage0", "sampling_frequency", False, 1_000_000)


@needs_adi
def test_pyadi_ad9364_profile_accepts_wider_range():
    with PlutoEmulator("pluto_ad9364") as emu:
        sdr = adi.Pluto(emu.uri)
        sdr.rx_lo = 6_000_000_000
        sdr.rx_rf_bandwidth = 40_000_000
        assert (sdr.rx_lo, sdr.rx_rf_bandwidth) == (6_000_000_000, 40_000_000)
        with pytest.raises(OSError):
            sdr.rx_lo = 6_100_000_000
        del sdr
        gc.collect()


def _delay_and_frequency(tx, rx, fs, max_lag=200, block=256):
    """Delay (samples) and frequency offset (Hz) of ``rx`` against ``tx``.

    Delay: the lag maximising a non-coherent sum of block correlations (robust to the rotation a
    frequency offset causes over a long block); frequency: the phase slope of rx[n + d] conj(tx[n]).
    """
    n = len(tx) - len(tx) % block
    score = [np.sum(np.abs((rx[k:k + n] * np.conj(tx[:n])).reshape(-1, block).sum(axis=1)))
             for k in range(max_lag)]
    d = int(np.argmax(score))
    z = rx[d:d + n] * np.conj(tx[:n])
    nu = np.angle(np.sum(z[1:] * np.conj(z[:-1]))) / (2 * np.pi)
    return d, nu * fs


@needs_adi
def test_pyadi_tx_then_rx_delay_and_doppler(emu, pluto, rng):
    fs, delay, f_off = 2_500_000, 37, 1234.0
    emu.set_channel(delay=delay, frequency_offset_hz=f_off, gain=0.8)
    sdr = pluto
    sdr.sample_rate = fs
    sdr.rx_buffer_size = 8192
    n = 4096
    sym = (rng.integers(0, 2, n) * 2 - 1) + 1j * (rng.integers(0, 2, n) * 2 - 1)
    x = sym / np.sqrt(2) * 0.5                      # |I|,|Q| <= 0.36 of full scale
    sdr.tx(x * 16384)                               # pyadi-iio takes int16-scaled samples
    y = sdr.rx() / 2048.0
    d, f_hat = _delay_and_frequency(x, y, fs)
    assert d == delay
    assert abs(f_hat - f_off) < 5.0
    # amplitude: gain 0.8 through the unit-gain loop (12-bit quantisation only)
    z = y[d:d + n] / x
    assert abs(np.median(np.abs(z)) - 0.8) < 0.01
    assert np.all(y[:delay] == 0)


@needs_adi
def test_pyadi_lo_difference_shifts_spectrum_and_cyclic_tx_repeats(emu, pluto):
    fs = 2_500_000
    sdr = pluto
    sdr.sample_rate = fs
    sdr.rx_lo = 2_400_000_000
    sdr.tx_lo = 2_400_010_000           # TX 10 kHz above RX: the tone appears at +10 kHz
    sdr.tx_cyclic_buffer = True
    sdr.rx_buffer_size = 2000
    period = 250
    x = np.full(period, 0.25 + 0j)
    sdr.tx(x * 16384)
    y = np.concatenate([sdr.rx(), sdr.rx()]) / 2048.0
    spec = np.abs(np.fft.fft(y))
    f = np.fft.fftfreq(len(y), 1 / fs)
    assert abs(f[np.argmax(spec)] - 10_000) < fs / len(y)
    assert abs(np.mean(np.abs(y)) - 0.25) < 0.002   # a cyclic buffer keeps playing across reads


@needs_adi
def test_pyadi_digital_loopback_bypasses_channel(emu, pluto):
    emu.set_channel(delay=100, frequency_offset_hz=5e3)
    sdr = pluto
    sdr.loopback = 1
    sdr.rx_buffer_size = 64
    x = np.arange(64) * 100 + 1j * np.arange(64)[::-1] * 100
    sdr.tx(x)
    y = sdr.rx()
    ref = (x.real.astype(int) >> 4) + 1j * (x.imag.astype(int) >> 4)   # the FPGA: RX = TX >> 4, bit-exact
    assert np.array_equal(y, ref)


# ---------------------------------------------------------------------------------------------- CLI
@needs_adi
def test_cli_pluto_emulator_serves_until_terminated():
    import os
    import re
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "hil", "pluto-emulator", "--port", "0", "--delay", "4",
                             "--profile", "pluto_ad9364", "--receiver", "ideal"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = proc.stdout.readline()
        m = re.search(r"serving on (ip:127\.0\.0\.1:\d+)", line)
        assert m, (line, proc.stderr.read() if proc.poll() is not None else "")
        sdr = adi.Pluto(m.group(1))
        sdr.rx_lo = sdr.tx_lo = 5_000_000_000          # AD9364 range
        assert sdr.rx_lo == 5_000_000_000
        sdr.rx_buffer_size = 32
        sdr.tx(np.full(32, 8000 + 0j))
        y = sdr.rx()
        assert np.all(y[:4] == 0) and np.all(y[4:] == 1000)  # delay 4; 8000/16384 * 2048
        sdr.rx_destroy_buffer()
        sdr.tx_destroy_buffer()
        del sdr
        gc.collect()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0 and "stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@hsettings(max_examples=10)
@given(st.lists(st.binary(min_size=1, max_size=60).filter(lambda b: b"\n" not in b), min_size=1, max_size=8))
def test_fuzzed_garbage_lines_each_get_one_error_reply(lines):
    # Lines that start with a byte no verb starts with: never a valid command, never a payload wait.
    lines = [b"#" + b for b in lines]
    with PlutoEmulator() as emu:
        c = Raw(emu.server.port)
        try:
            for line in lines:
                c.send(line + b"\r\n")
            replies = [c.int() for _ in lines]
            c.send(b"VERSION\r\n")
            assert c.f.readline().startswith(b"0.24.")
        finally:
            c.close()
    assert replies == [-errno.EINVAL] * len(lines)


@needs_adi
def test_pyadi_dds_single_tone_comes_back_until_a_buffer_replaces_it(emu, pluto):
    fs = 2_500_000
    sdr = pluto
    sdr.sample_rate = fs
    sdr.rx_buffer_size = 2500
    sdr.dds_single_tone(-125_000, 0.25)          # negative: the Q/I roles swap (single-sided tone)
    y = sdr.rx()
    f = np.fft.fftfreq(y.size, 1 / fs)
    assert f[np.argmax(np.abs(np.fft.fft(y)))] == -125_000
    # scale 0.25 of int16 full scale = 8192 at TX; 8192 / 16384 * 2048 = 1024 at RX
    assert abs(np.mean(np.abs(y)) - 0.25 * 32767 / 16384 * 2048) < 2
    with pytest.raises(OSError):
        sdr.dds_frequencies = [str(2 * fs)] * 4  # above fs/2
    sdr.tx(np.zeros(256, complex))                 # a DMA buffer: the DDS no longer plays ...
    sdr.dds_enabled = [1] * 4                      # ... even with its tones switched on again
    assert np.max(np.abs(sdr.rx()[300:])) == 0
