"""The SoapySDR module driver=leohil (soapy/LeoHilDevice.cpp) built and run for real: SoapySDRUtil
--find / --probe list the emulator, a Soapy stream through the emulator measures the pass Doppler
within 1 Hz of the closed form, timed bursts land at their sample index, overflow / late / underflow
follow Soapy's return codes, and the project's soapy backend (SoapyRadio) runs on the real module.

Needs g++, pkg-config, Debian's libsoapysdr-dev + libzmq3-dev (to build), soapysdr-tools (SoapySDRUtil)
and the SoapySDR Python binding (python3-soapysdr + scripts/link_soapysdr); each test skips with the
reason when its part is absent.
"""

import dataclasses
import os
import shutil
import subprocess

import numpy as np
import pytest

from hil.emulator.config import load_emulator_config
from hil.emulator.link import build_trajectory
from hil.emulator.server import EmulatorServer
from tests.soapy_module_build import module_dir as build_module_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENARIO = os.path.join(ROOT, "scenarios", "emulator", "soapy_loopback.yaml")


def _soapy():
    try:
        import SoapySDR
    except ImportError:
        return None
    return SoapySDR


needs_binding = pytest.mark.skipif(_soapy() is None, reason="SoapySDR Python binding not importable "
                                   "(apt-get install python3-soapysdr; scripts/link_soapysdr $(command -v python3))")
needs_util = pytest.mark.skipif(shutil.which("SoapySDRUtil") is None,
                                reason="SoapySDRUtil not installed (apt-get install soapysdr-tools)")


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory):
    """The module (build/soapy/ if up to date, else built with scripts/build_soapy_module; skip if it cannot)."""
    return build_module_dir(tmp_path_factory)


@pytest.fixture
def emulator():
    cfg = load_emulator_config(SCENARIO)
    cfg = dataclasses.replace(cfg, control="tcp://127.0.0.1:*", endpoints=[
        dataclasses.replace(e, address="tcp://127.0.0.1:*") for e in cfg.endpoints])
    with EmulatorServer(cfg) as emu:
        emu.args = (f"driver=leohil,control={emu.control_address},tx={emu.address('soapy_tx')},"
                    f"rx={emu.address('soapy_rx')}")
        yield emu


@pytest.fixture(scope="module")
def soapy(module_dir):
    S = _soapy()
    if S is None:
        pytest.skip("SoapySDR Python binding not importable")
    err = S.loadModule(os.path.join(module_dir, "libleohilSupport.so"))
    assert not err, err
    return S


def _util(module_dir, *args):
    env = {**os.environ, "SOAPY_SDR_PLUGIN_PATH": module_dir}
    for k in ("LEOHIL_TX", "LEOHIL_RX", "LEOHIL_CONTROL"):
        env.pop(k, None)
    r = subprocess.run(["SoapySDRUtil", *args], capture_output=True, text=True, timeout=60, env=env)
    return r.stdout + r.stderr


# ---------------------------------------------------------------------------------------------- SoapySDRUtil
@needs_util
def test_find_and_probe_list_the_emulator(module_dir, emulator):
    ctl = emulator.control_address
    out = _util(module_dir, f"--find=driver=leohil,control={ctl}")
    assert "driver = leohil" in out, out
    assert f"rx = {emulator.address('soapy_rx')}" in out and f"tx = {emulator.address('soapy_tx')}" in out
    assert "soapy-loopback" in out and "250000 S/s" in out
    out = _util(module_dir, f"--probe=driver=leohil,control={ctl}")
    assert "Channels: 1 Rx, 1 Tx" in out and "Timestamps: YES" in out, out
    assert "Sample rates: 0.25 MSps" in out and "Stream formats: CF32" in out


@needs_util
def test_find_lists_nothing_when_no_emulator_answers(module_dir):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    out = _util(module_dir, f"--find=driver=leohil,control=tcp://127.0.0.1:{port}")
    assert "No devices found" in out and "Found device" not in out, out


# ---------------------------------------------------------------------------------------------- streams
def _open(S, emulator, extra=""):
    d = S.Device(emulator.args + extra)
    rx = d.setupStream(S.SOAPY_SDR_RX, S.SOAPY_SDR_CF32, [0])
    tx = d.setupStream(S.SOAPY_SDR_TX, S.SOAPY_SDR_CF32, [0])
    d.activateStream(rx)
    d.activateStream(tx)
    return d, rx, tx


def _close(d, rx, tx):
    for s in (rx, tx):
        d.deactivateStream(s)
        d.closeStream(s)


def _read_all(S, d, rx, n, timeout_us=500000):
    buf = np.empty(4096, np.complex64)
    out, meta = [], []
    total = 0
    while total < n:
        r = d.readStream(rx, [buf], min(4096, n - total), timeoutUs=timeout_us)
        if r.ret == S.SOAPY_SDR_TIMEOUT:
            break
        assert r.ret > 0, r.ret
        out.append(buf[:r.ret].copy())
        meta.append((r.ret, r.flags, r.timeNs))
        total += r.ret
    return (np.concatenate(out) if out else np.zeros(0, np.complex64)), meta


def test_stream_measures_the_pass_doppler_within_1_hz(soapy, emulator):
    S = soapy
    d, rx, tx = _open(S, emulator)
    try:
        fs = d.getSampleRate(S.SOAPY_SDR_RX, 0)
        assert fs == emulator.config.sample_rate_hz  # taken from the emulator's control socket
        assert d.hasHardwareTime()
        f0, n, blk = 20e3, int(3 * fs), 25000
        x = np.exp(2j * np.pi * f0 * np.arange(n) / fs).astype(np.complex64)
        sent, got, meta = 0, [], []
        buf = np.empty(4096, np.complex64)
        while sent < n:  # interleave writes and reads (one thread, like a simple Soapy application)
            r = d.writeStream(tx, [x[sent:sent + 4096]], min(4096, n - sent), timeoutUs=100000)
            assert r.ret > 0, r.ret
            sent += r.ret
            r = d.readStream(rx, [buf], 4096, timeoutUs=0)
            if r.ret > 0:
                got.append(buf[:r.ret].copy())
                meta.append((r.ret, r.flags, r.timeNs))
        y, m2 = _read_all(S, d, rx, n - sum(len(g) for g in got) - 8192)
        y = np.concatenate(got + [y])
        meta += m2
        # HAS_TIME on every read; timestamps are sample index / fs, contiguous
        assert all(f & S.SOAPY_SDR_HAS_TIME for _, f, _ in meta)
        idx = [round(t * fs / 1e9) for _, _, t in meta]
        assert idx[0] == 0 and all(b == a + k for (k, _, _), a, b in zip(meta, idx, idx[1:]))
        link = emulator.config.links[0]
        traj = build_trajectory(link)
        errs = []
        for k in range(1, len(y) // blk):
            z = y[k * blk:(k + 1) * blk]
            f = np.angle(np.sum(z[1:] * np.conj(z[:-1]))) * fs / (2 * np.pi)
            dop = (f - f0) * link.carrier_hz / (link.carrier_hz + f0)
            t = emulator.config.epoch_s + (k * blk + np.arange(blk)) / fs
            errs.append(dop - float(np.mean(traj.doppler(t, link.carrier_hz))))
        assert len(errs) >= 20 and np.max(np.abs(errs)) < 1.0, np.max(np.abs(errs))
        # the emulator's own header says what it applied (a sensor): the same pass
        t_last = emulator.config.epoch_s + (idx[-1]) / fs
        sensor = float(d.readSensor(S.SOAPY_SDR_RX, 0, "doppler_hz"))
        assert abs(sensor - float(traj.doppler(t_last, link.carrier_hz))) < 50
    finally:
        _close(d, rx, tx)


def test_timed_burst_lands_at_its_time_and_late_or_gapped_writes_are_reported(soapy, emulator):
    S = soapy
    d, rx, tx = _open(S, emulator, ",fill=0")   # RX delivers only what was sent: the burst and its tail
    try:
        fs = d.getSampleRate(S.SOAPY_SDR_TX, 0)
        x = np.full(2000, 0.5, np.complex64)
        ns = lambda i: round(i * 1e9 / fs)  # noqa: E731
        r = d.writeStream(tx, [x], len(x), S.SOAPY_SDR_HAS_TIME | S.SOAPY_SDR_END_BURST, ns(10000), timeoutUs=100000)
        assert r.ret == len(x) and r.flags & S.SOAPY_SDR_END_BURST
        y, meta = _read_all(S, d, rx, 1 << 20, timeout_us=300000)
        # the burst (plus the channel's tail) arrives stamped at its own sample index, END_BURST at its end
        first = round(meta[0][2] * fs / 1e9)
        delay = emulator.status()["links"]["pass"]["delay_s"] * fs
        assert first <= 10000 + delay + 16 and first + len(y) >= 10000 + delay + 2000
        assert meta[-1][1] & S.SOAPY_SDR_END_BURST
        e = np.abs(y) > 0.25
        lead = first + int(np.argmax(e))
        assert abs(lead - (10000 + delay)) < 3, (lead, delay)
        # late: before the next free TX sample
        r = d.writeStream(tx, [x], 100, S.SOAPY_SDR_HAS_TIME, ns(10500), timeoutUs=100000)
        assert r.ret == S.SOAPY_SDR_TIME_ERROR
        # a burst left open, then a timed write after a gap: the stream ran dry -> UNDERFLOW status
        assert d.writeStream(tx, [x], 100, S.SOAPY_SDR_HAS_TIME, ns(20000), timeoutUs=100000).ret == 100
        assert d.writeStream(tx, [x], 100, S.SOAPY_SDR_HAS_TIME | S.SOAPY_SDR_END_BURST, ns(20500),
                             timeoutUs=100000).ret == 100
        st = d.readStreamStatus(tx, timeoutUs=100000)
        assert st.ret == S.SOAPY_SDR_UNDERFLOW and st.timeNs == ns(20100)
        assert d.readStreamStatus(tx, timeoutUs=1000).ret == S.SOAPY_SDR_TIMEOUT
    finally:
        _close(d, rx, tx)


def test_settings_are_checked_and_read_back(soapy, emulator):
    S = soapy
    d = S.Device(emulator.args)
    d.setGain(S.SOAPY_SDR_RX, 0, 20.1)
    assert d.getGain(S.SOAPY_SDR_RX, 0) == 20.0
    d.setFrequency(S.SOAPY_SDR_TX, 0, 2.2e9)
    assert d.getFrequency(S.SOAPY_SDR_TX, 0) == 2.2e9
    for bad in (lambda: d.setGain(S.SOAPY_SDR_TX, 0, 3.0), lambda: d.setSampleRate(S.SOAPY_SDR_RX, 0, 1e6),
                lambda: d.setAntenna(S.SOAPY_SDR_RX, 0, "TX"), lambda: d.setFrequency(S.SOAPY_SDR_RX, 0, -1.0)):
        with pytest.raises(Exception, match="leohil: .*got .*allowed"):
            bad()
    with pytest.raises(Exception, match="CF32"):
        d.setupStream(S.SOAPY_SDR_RX, S.SOAPY_SDR_CS16, [0])


# ---------------------------------------------------------------------------------------------- the backend
def test_soapy_backend_runs_on_the_real_module(soapy, emulator):
    from hil.backends.soapy import SoapyRadio
    from hil.errors import StreamError

    with SoapyRadio("soapy_leohil", emulator.args, module=soapy) as r:
        r.configure(sample_rate=250e3, rx_gain=6.0, tx_gain=-6.0, rx_frequency=2.2e9, tx_frequency=2.2e9)
        assert r.rx_gain == 6.0 and r.tx_gain == -6.0 and r.sample_rate == 250e3
        assert r.serial == "soapy-loopback"
        r.start()
        fs, f0, n = 250e3, 10e3, 50000
        x = (0.5 * np.exp(2j * np.pi * f0 * np.arange(n) / fs)).astype(np.complex64)
        assert r.write(x, end_burst=True) == n
        y, meta = r.read(40000, timeout=5.0)
        assert meta.sample_index == 0 and meta.lost == 0 and meta.hw_time_ns == 0
        # levels: TX -6 dB and RX +6 dB digital gains cancel; the pass gain is 156 dB - path loss
        link = emulator.config.links[0]
        traj = build_trajectory(link)
        t = emulator.config.epoch_s + np.arange(20000, 40000) / fs
        want_db = link.gain_db - float(np.mean(traj.path_loss_db(t))) + 20 * np.log10(0.5)
        got_db = 10 * np.log10(np.mean(np.abs(y[20000:]) ** 2))
        assert abs(got_db - want_db) < 0.1, (got_db, want_db)
        z = y[20000:40000]
        f = np.angle(np.sum(z[1:] * np.conj(z[:-1]))) * fs / (2 * np.pi)
        dop = (f - f0) * link.carrier_hz / (link.carrier_hz + f0)
        assert abs(dop - float(np.mean(traj.doppler(t, link.carrier_hz)))) < 1.0
        with pytest.raises(StreamError, match="late"):
            r.write(x[:100], at_sample=10, end_burst=True)


def test_rx_return_codes_against_a_scripted_peer(soapy):
    """The module's RX side against a scripted emulator output (pyzmq PUSH + hil.emulator.wire frames):
    a malformed frame is CORRUPTION, a sample-index jump is OVERFLOW once and then data at the new
    time, a jump after END_OF_BURST is skipped silence (no overflow), END_BURST marks a burst's last
    samples, an old (duplicate) frame is dropped."""
    import zmq

    from hil.emulator import wire

    S = soapy
    ctx = zmq.Context.instance()
    peer = ctx.socket(zmq.PUSH)
    peer.setsockopt(zmq.LINGER, 0)
    port = peer.bind_to_random_port("tcp://127.0.0.1")
    fs = 1e6
    d = S.Device({"driver": "leohil", "rx": f"tcp://127.0.0.1:{port}", "tx": f"tcp://127.0.0.1:{port}",
                  "control": "", "rate": str(fs), "fill": "0"})  # no control socket: the rate from the args
    rx = d.setupStream(S.SOAPY_SDR_RX, S.SOAPY_SDR_CF32, [0])
    d.activateStream(rx)
    buf = np.empty(4096, np.complex64)

    def send(seq, index, n, flags=0):
        x = (np.arange(n) + index).astype(np.complex64)
        peer.send(wire.encode(wire.Frame(x, seq=seq, sample_index=index, sample_rate_hz=fs, flags=flags)))

    def read():
        r = d.readStream(rx, [buf], 4096, timeoutUs=2_000_000)
        return r.ret, r.flags, round(r.timeNs * fs / 1e9) if r.ret > 0 else None

    try:
        peer.send(b"LHIQ" + b"\0" * 10)                              # short: malformed
        assert read()[0] == S.SOAPY_SDR_CORRUPTION
        send(0, 0, 100)
        ret, flags, idx = read()
        assert (ret, idx) == (100, 0) and flags & S.SOAPY_SDR_HAS_TIME
        assert np.array_equal(buf[:100].real, np.arange(100))
        send(1, 150, 100)                                              # 50 samples missing
        assert read()[0] == S.SOAPY_SDR_OVERFLOW                       # said once ...
        ret, flags, idx = read()
        assert (ret, idx) == (100, 150)                                # ... then the data at its new time
        send(2, 250, 60, wire.FLAG_END_OF_BURST)                       # a burst ends here
        ret, flags, idx = read()
        assert (ret, idx) == (60, 250) and flags & S.SOAPY_SDR_END_BURST
        send(3, 10_000, 40)                                            # silence skipped: no overflow
        ret, flags, idx = read()
        assert (ret, idx) == (40, 10_000) and not flags & S.SOAPY_SDR_END_BURST
        send(3, 10_000, 40)                                            # a duplicate is dropped
        send(4, 10_040, 10)
        assert read()[:3] == (10, S.SOAPY_SDR_HAS_TIME, 10_040)
        assert d.readSensor(S.SOAPY_SDR_RX, 0, "overflows") == "1"
        assert d.readSensor(S.SOAPY_SDR_RX, 0, "bad_frames") == "1"
        assert d.readStream(rx, [buf], 4096, timeoutUs=50_000).ret == S.SOAPY_SDR_TIMEOUT
    finally:
        d.deactivateStream(rx)
        d.closeStream(rx)
        peer.close()


def test_idle_transmitter_fills_so_rx_runs_like_a_receiver(soapy, emulator):
    """With nothing transmitted a read still returns samples (the DAC plays zeros; the receiver hears
    the channel's noise at the file's noise_dbfs), with contiguous timestamps from 0."""
    S = soapy
    d = S.Device(emulator.args)
    rx = d.setupStream(S.SOAPY_SDR_RX, S.SOAPY_SDR_CF32, [0])   # receive only: no TX stream at all
    d.activateStream(rx)
    try:
        y, meta = _read_all(S, d, rx, 100_000, timeout_us=2_000_000)
        fs = d.getSampleRate(S.SOAPY_SDR_RX, 0)
        idx = [round(t * fs / 1e9) for _, _, t in meta]
        assert len(y) == 100_000 and idx[0] == 0
        assert all(b == a + k for (k, _, _), a, b in zip(meta, idx, idx[1:]))
        noise_db = 10 * np.log10(np.mean(np.abs(y[10_000:]) ** 2))
        assert abs(noise_db - emulator.config.links[0].noise_dbfs) < 0.2, noise_db
    finally:
        d.deactivateStream(rx)
        d.closeStream(rx)


# ---------------------------------------------------------------------------------------------- shared suite
from tests.radio_suite import RadioSuite  # noqa: E402


class TestSoapyLeoHilSuite(RadioSuite):
    """The Radio suite every backend runs, on SoapyRadio + the real module + the emulator (one pass:
    not a bit-exact loopback; no fault injection; timed TX and late detection are real)."""

    loopback = False
    can_inject = False
    natural_underflow = False
    timed_tx = True

    @pytest.fixture(autouse=True)
    def _setup(self, soapy, emulator):
        self.S, self.emu = soapy, emulator

    def make_radio(self, **options):
        from hil.backends.soapy import SoapyRadio

        return SoapyRadio("soapy_leohil", self.emu.args, module=self.S, **options)
