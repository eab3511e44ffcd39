"""Emulator limits (issue 15): memory bounded in bytes with 8 MiB and 100 MB messages (RSS of a `hil emulate`
child read from /proc/PID/status), peers that vanish are counted, the control socket speaks CURVE.

Byte budget stated and checked: with one framed input and one output at the defaults (max_message_bytes
16 MiB, queue_bytes 64 MiB -> ZeroMQ high-water mark 4 messages, buffer_samples 2^20 = 8 MiB), the
emulator's resident memory may grow above its idle level by at most
2 x queue_bytes + 8 x buffer_samples + 4 x max_message_bytes = 200 MiB (the ZeroMQ queues of both
endpoints, the output queue, and the messages being processed), whatever is sent to it. Before issue 15 it
reached 1.1 GB with 8 MiB frames, and a 100 MB frame was accepted.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest
import zmq

from hil.config import parse
from hil.emulator import wire
from hil.emulator.config import EmulatorConfig
from hil.emulator.server import EmulatorServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MiB = 1 << 20
BUDGET = 2 * 64 * MiB + 8 * (1 << 20) + 4 * 16 * MiB  # 200 MiB, see the module doc


def _rss(pid):
    """(VmRSS, VmHWM) of a process in bytes, from /proc/PID/status."""
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, val = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(val.split()[0]) * 1024
    return out["VmRSS"], out["VmHWM"]


@pytest.fixture
def ipc_dir():
    d = tempfile.mkdtemp(prefix="hil", dir="/tmp")  # ipc:// paths must stay short
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _start(d):
    cfg = os.path.join(d, "emu.yaml")
    with open(cfg, "w") as fh:
        fh.write(f"""
sample_rate_hz: 1.0e6
control: "ipc://{d}/ctl"
endpoints:
  - {{name: tx, address: "ipc://{d}/tx", pattern: pull, wire: framed}}
  - {{name: rx, address: "ipc://{d}/rx", pattern: push, wire: framed}}
links:
  - {{name: l, source: tx, sink: rx, carrier_hz: 0, threads: 0,
      trajectory: [{{kind: constant, delay_s: 1.0e-4}}]}}
""")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "hil", "emulate", cfg, "--status-every", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    for line in proc.stdout:
        if line.startswith("READY "):
            return proc, json.loads(line[len("READY "):])
    proc.kill()
    raise AssertionError("no READY line: " + proc.stderr.read())


def _status(ctx, d):
    s = ctx.socket(zmq.REQ)
    s.linger = 0
    s.rcvtimeo = 5000
    s.connect(f"ipc://{d}/ctl")
    s.send(b"status")
    st = json.loads(s.recv())
    s.close()
    return st


def _send_all(sock, msgs, seconds):
    """Send what the emulator takes within ``seconds`` (it stops reading when its budget is full)."""
    sent, deadline = 0, time.monotonic() + seconds
    for m in msgs:
        while True:
            try:
                sock.send(m, zmq.NOBLOCK, copy=False)
                sent += 1
                break
            except zmq.Again:
                if time.monotonic() > deadline:
                    return sent
                time.sleep(0.01)
    return sent


def test_rss_stays_within_the_byte_budget_with_8_mib_and_100_mb_messages(ipc_dir):
    proc, _ = _start(ipc_dir)
    ctx = zmq.Context()
    try:
        idle, _ = _rss(proc.pid)
        tx = ctx.socket(zmq.PUSH)
        tx.linger = 0
        tx.sndhwm = 2
        tx.connect(f"ipc://{ipc_dir}/tx")
        n = 1 << 20  # 8 MiB of cf32 per message
        x = np.full(n, 0.25 + 0.25j, np.complex64)
        frames = (wire.encode(wire.Frame(x, seq=k, sample_index=k * n, sample_rate_hz=1e6)) for k in range(40))
        sent_8 = _send_all(tx, frames, 3.0)  # no receiver: the emulator's queues fill, then it stops reading
        time.sleep(0.5)
        _, peak_8 = _rss(proc.pid)
        # then a receiver drains what was let in (the flow still works)
        rx = ctx.socket(zmq.PULL)
        rx.linger = 0
        rx.rcvtimeo = 5000
        rx.connect(f"ipc://{ipc_dir}/rx")
        got = 0
        while True:
            try:
                got += wire.decode(rx.recv(copy=False).buffer).samples.shape[0]
            except zmq.Again:
                break
        # 100 MB messages: above max_message_bytes, never allocated (ZeroMQ drops the sending peer)
        big = np.zeros(100_000_000 // 8, np.complex64)
        before_big = _status(ctx, ipc_dir)["endpoints"]["tx"]["peer_disconnects"]
        huge = (wire.encode(wire.Frame(big, seq=100 + k, sample_index=10**8 + k * big.size, sample_rate_hz=1e6))
                for k in range(2))
        _send_all(tx, huge, 2.0)
        time.sleep(0.5)
        _, peak_all = _rss(proc.pid)
        st = _status(ctx, ipc_dir)["endpoints"]["tx"]
        print(f"idle RSS {idle / MiB:.0f} MiB; 8 MiB messages: {sent_8} taken, peak +{(peak_8 - idle) / MiB:.0f} MiB; "
              f"after 100 MB messages: peak +{(peak_all - idle) / MiB:.0f} MiB; budget {BUDGET / MiB:.0f} MiB; "
              f"drained {got} samples; peer disconnects {st['peer_disconnects']}")
        assert sent_8 >= 4 and got > 0
        assert peak_8 - idle <= BUDGET
        assert peak_all - idle <= BUDGET
        assert st["peer_disconnects"] > before_big  # the oversized sender was dropped and counted
        assert st["max_message_bytes"] == 16 * MiB and st["hwm"] == 4
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
        ctx.destroy(0)
    assert proc.returncode == 0


def test_an_output_peer_that_vanishes_is_counted():
    cfg = parse(EmulatorConfig, dict(sample_rate_hz=1e6, endpoints=[
        dict(name="tx", address="tcp://127.0.0.1:*", pattern="pull", wire="framed"),
        dict(name="rx", address="tcp://127.0.0.1:*", pattern="push", wire="framed")],
        links=[dict(name="l", source="tx", sink="rx", carrier_hz=0.0, trajectory=[dict(kind="constant",
                                                                                        delay_s=2e-5)])]))
    ctx = zmq.Context()
    try:
        with EmulatorServer(cfg) as emu:
            tx = ctx.socket(zmq.PUSH)
            tx.linger = 0
            tx.connect(emu.address("tx"))
            rx = ctx.socket(zmq.PULL)
            rx.linger = 0
            rx.connect(emu.address("rx"))
            deadline = time.monotonic() + 5
            while emu.status()["endpoints"]["rx"]["peers_connected"] < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            x = np.full(1000, 0.1, np.complex64)
            for k in range(20):
                tx.send(wire.encode(wire.Frame(x, seq=k, sample_index=1000 * k, sample_rate_hz=1e6)))
            while emu.status()["links"]["l"]["samples_out"] < 19_000 and time.monotonic() < deadline:
                time.sleep(0.01)
            rx.close(0)  # the receiver dies without reading
            while emu.status()["endpoints"]["rx"]["peer_disconnects"] < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            ep = emu.status()["endpoints"]["rx"]
            assert ep["peer_disconnects"] == 1 and ep["peers_connected"] == 0
            assert 0 < ep["samples_unconfirmed"] <= ep["samples"]
            assert emu.status()["endpoints"]["tx"]["peers_connected"] == 1
            tx.close(0)
    finally:
        ctx.destroy(0)


def test_control_socket_is_covered_by_curve():
    server_pub, server_sec = zmq.curve_keypair()
    client_pub, client_sec = zmq.curve_keypair()
    cfg = parse(EmulatorConfig, dict(sample_rate_hz=1e6, control="tcp://127.0.0.1:*",
                                     curve=dict(public_key=server_pub.decode(), secret_key=server_sec.decode()),
                                     endpoints=[dict(name="tx", address="tcp://127.0.0.1:*", pattern="pull"),
                                                dict(name="rx", address="tcp://127.0.0.1:*", pattern="push")],
                                     links=[dict(name="l", source="tx", sink="rx")]))
    ctx = zmq.Context()
    try:
        with EmulatorServer(cfg) as emu:
            plain = ctx.socket(zmq.REQ)  # without the server's key: no answer
            plain.linger = 0
            plain.rcvtimeo = 500
            plain.connect(emu.control_address)
            plain.send(b"status")
            with pytest.raises(zmq.Again):
                plain.recv()
            s = ctx.socket(zmq.REQ)
            s.linger = 0
            s.rcvtimeo = 5000
            s.curve_serverkey = server_pub
            s.curve_publickey = client_pub
            s.curve_secretkey = client_sec
            s.connect(emu.control_address)
            s.send(b"status")
            assert json.loads(s.recv())["name"] == "emulator"
    finally:
        ctx.destroy(0)
