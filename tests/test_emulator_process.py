"""`hil emulate` as a child process, the way the experiment runner starts it: an emulator YAML with
ipc:// endpoints (framed PULL input bound, framed PUSH output bound), `READY {...}` on stdout, two timed
bursts 10 s of samples apart, END_OF_BURST tails, per-burst JSON lines, exit 0 on SIGTERM / SIGINT.

References: the closed form of a tone through LinearTrajectory (delay d0 + r t: output frequency
f(1 - r) - fc r, signal onset at the delay) and the emulator's own burst records.
"""

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile

import numpy as np
import pytest
import zmq

from hil.emulator import wire

FS = 1e6
FC = 2e9
D0, RATE = 1.0e-3, 1.0e-5          # Doppler -fc * rate = -20 kHz
F_TONE = 30e3
N_BURST = 20_000
GAP_S = 10.0
TAPS = 16
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def ipc_dir():
    d = tempfile.mkdtemp(prefix="hil", dir="/tmp")  # ipc:// paths must stay short (~100 bytes)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _write_cfg(d, noise_dbfs=-40.0):
    text = f"""
sample_rate_hz: {FS}
seed: 3
endpoints:
  - {{name: tx, address: "ipc://{d}/tx", pattern: pull, wire: framed, bind: true}}
  - {{name: rx, address: "ipc://{d}/rx", pattern: push, wire: framed, bind: true}}
links:
  - name: dl
    source: tx
    sink: rx
    carrier_hz: {FC}
    gain_db: -6.0206
    noise_dbfs: {noise_dbfs}
    threads: 0
    trajectory: [{{kind: linear, delay_s: {D0}, rate: {RATE}}}]
"""
    path = os.path.join(d, "emu.yaml")
    with open(path, "w") as fh:
        fh.write(text)
    return path


def _start(cfg, bursts):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "hil", "emulate", cfg, "--bursts", bursts, "--status-every", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    for line in proc.stdout:
        if line.startswith("READY "):
            return proc, json.loads(line[len("READY "):])
    proc.kill()
    raise AssertionError("no READY line: " + proc.stderr.read())


def _stop(proc, sig=signal.SIGTERM):
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:  # pragma: no cover - would be the bug under test
        proc.kill()
        raise
    return proc.returncode, out, err


def test_two_timed_bursts_through_the_emulator_process(ipc_dir):
    cfg = _write_cfg(ipc_dir)
    bursts_path = os.path.join(ipc_dir, "bursts.jsonl")
    proc, addr = _start(cfg, bursts_path)
    ctx = zmq.Context()
    try:
        assert set(addr) == {"tx", "rx"} and addr["tx"].startswith("ipc://")
        push, pull = ctx.socket(zmq.PUSH), ctx.socket(zmq.PULL)
        for s in (push, pull):
            s.linger = 0
        push.connect(addr["tx"])
        pull.connect(addr["rx"])
        pull.rcvtimeo = 20_000
        starts = [0, int(GAP_S * FS)]
        seq = 0
        for s in starts:
            x = np.exp(2j * np.pi * F_TONE * np.arange(N_BURST) / FS).astype(np.complex64)
            cuts = [0, 3000, 9000, 16000, N_BURST]
            for a, b in zip(cuts, cuts[1:]):
                flags = wire.FLAG_END_OF_BURST if b == N_BURST else 0
                push.send(wire.encode(wire.Frame(x[a:b], seq=seq, sample_index=s + a, sample_rate_hz=FS,
                                                 center_freq_hz=FC, flags=flags)))
                seq += 1
        frames, ends = [], 0
        while ends < 2:                      # the tail arrives without waiting for anything else
            f = wire.decode(pull.recv())
            frames.append(f)
            ends += bool(f.flags & wire.FLAG_END_OF_BURST)
        code, out, err = _stop(proc)
    finally:
        ctx.destroy(linger=0)
        if proc.poll() is None:
            proc.kill()
    assert code == 0, err
    assert "link dl: samples in 40000" in out and "bursts 2" in out

    recs = [json.loads(line) for line in open(bursts_path)]
    assert [r["sample_index"] for r in recs] == starts and [r["n_samples"] for r in recs] == [N_BURST] * 2
    assert [r["ended_by"] for r in recs] == ["end_of_burst"] * 2

    idx = np.concatenate([f.sample_index + np.arange(len(f.samples)) for f in frames])
    y = np.concatenate([f.samples for f in frames])
    assert [f.seq for f in frames] == list(range(len(frames)))
    total = 0
    for s, r in zip(starts, recs):
        t0, t1 = s / FS, (s + N_BURST - 1) / FS
        # telemetry against the closed form
        assert r["delay_s_start"] == pytest.approx(D0 + RATE * t0, abs=1e-15)
        assert r["delay_s_end"] == pytest.approx(D0 + RATE * t1, abs=1e-15)
        assert r["doppler_hz_start"] == pytest.approx(-FC * RATE)
        assert r["gain_db_start"] == pytest.approx(-6.0206) and r["input_power"] == pytest.approx(1.0, rel=1e-6)
        assert r["snr_db"] == pytest.approx(-6.0206 + 40.0, abs=1e-6)
        # output indices: from the declared lead L (the trajectory's minimum delay, D0 at t = 0, less
        # taps/2 + 2) to the end of the tail of M = ceil(delay fs) + taps/2 + 2 samples
        L = math.floor(D0 * FS) - TAPS // 2 - 2
        M = r["tail_samples"]
        assert abs(M - (math.ceil(r["delay_s_end"] * FS) + TAPS // 2 + 2)) <= 1
        sel = (idx >= s) & (idx < s + N_BURST + M)
        np.testing.assert_array_equal(idx[sel], np.arange(s + L, s + N_BURST + M))
        total += N_BURST + M - L
        yb = np.r_[np.zeros(L, np.complex64), y[sel]]  # from the burst start (the lead is not sent)
        # delay: the signal (amplitude 0.5) sets in at the delay, in samples from the burst start
        D = (D0 + RATE * t0) * FS
        onset = int(np.argmax(np.abs(yb) > 0.25))
        assert abs(onset - D) <= 1.5
        assert np.abs(yb[L:int(D) - TAPS // 2]).max() < 0.05      # noise only before the signal arrives
        end = math.ceil(r["delay_s_end"] * FS) + N_BURST + TAPS // 2  # the interpolator's last look-back
        assert end < yb.size and np.abs(yb[end:]).max() < 0.05      # ... and after its end, in the tail
        # Doppler: the tone comes out at f (1 - r) - fc r (time compression and carrier Doppler of one tau)
        seg = yb[int(D) + 100:int(D) + N_BURST - 100].astype(np.complex128)
        ph = np.unwrap(np.angle(seg))
        f_meas = np.polyfit(np.arange(len(seg)) / FS, ph, 1)[0] / (2 * np.pi)
        assert f_meas == pytest.approx(F_TONE * (1 - RATE) - FC * RATE, abs=0.5)
        assert f_meas - F_TONE == pytest.approx(r["doppler_hz_start"] - F_TONE * RATE, abs=0.5)
    # the 10 s gap was not streamed: output = the bursts + their tails, nothing else
    assert len(y) == total < 2 * 2 * N_BURST + 2 * 2000


def test_sigint_with_no_traffic_exits_0_with_counters(ipc_dir):
    cfg = _write_cfg(ipc_dir, noise_dbfs=-30.0)
    proc, addr = _start(cfg, os.path.join(ipc_dir, "b.jsonl"))
    try:
        code, out, err = _stop(proc, signal.SIGINT)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0, err
    assert "link dl: samples in 0" in out and "Traceback" not in err
    assert open(os.path.join(ipc_dir, "b.jsonl")).read() == ""
