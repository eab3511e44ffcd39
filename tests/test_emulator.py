"""The emulator server through plain pyzmq clients: raw PUSH/PULL, REQ/REP (srsRAN style), PUB/SUB,
framed loss/duplication/damage counting, reconnects, bounded queues, telemetry, CurveZMQ, CLI.

Only 127.0.0.1 with ephemeral ports; every server stops at the end of its test (context manager).
"""

import csv
import json
import struct
import time

import numpy as np
import pytest
import zmq

from hil.cli import main
from hil.config import parse
from hil.emulator import wire
from hil.emulator.config import EmulatorConfig, load_emulator_config
from hil.emulator.server import EmulatorServer
from hil.errors import ConfigError

FS = 1e6
ANY = "tcp://127.0.0.1:*"
TIMEOUT_MS = 5000
# The default link (20 us, 16 taps): channel memory M = 20 + 16/2 + 2 samples after a burst's last input;
# a framed output leaves out the declared lead 20 - 16/2 - 2 (the configured delay less half the
# interpolator and a margin) before a burst that follows silence (skip_lead: auto).
M20, LEAD20 = 20 + 8 + 2, 20 - 8 - 2


def _cfg(endpoints, links=None, **kw):
    links = links or [{"name": "dl", "source": "tx", "sink": "rx", "carrier_hz": 0.0,
                       "trajectory": [{"kind": "constant", "delay_s": 20e-6, "path_loss_db": 6.0206}]}]
    return parse(EmulatorConfig, {"sample_rate_hz": FS, "endpoints": endpoints, "links": links, **kw})


def _ep(name, pattern, **kw):
    return {"name": name, "address": ANY, "pattern": pattern, **kw}


@pytest.fixture(autouse=True)
def no_threads_left():
    """Every server (and its kernel worker threads) must be gone when a test ends."""
    import threading

    before = set(threading.enumerate())
    yield
    # pyzmq's own zero-copy garbage-collector thread is process-wide and not the emulator's
    left = [t for t in threading.enumerate() if t not in before and t.is_alive()
            and type(t).__name__ != "GarbageCollectorThread"]
    assert not left, [t.name for t in left]


@pytest.fixture
def ctx():
    c = zmq.Context()
    yield c
    c.destroy(linger=0)


def _sock(ctx, kind, addr, *, bind=False, opts=None):
    s = ctx.socket(kind)
    s.linger = 0
    s.rcvtimeo = TIMEOUT_MS
    s.sndtimeo = TIMEOUT_MS
    for k, v in (opts or {}).items():
        s.setsockopt(k, v)
    (s.bind if bind else s.connect)(addr)
    return s


def _recv_samples(sock, n, framed=False):
    got, frames = [], []
    while sum(len(g) for g in got) < n:
        msg = sock.recv()
        if framed:
            f = wire.decode(msg)
            frames.append(f)
            got.append(f.samples)
        else:
            got.append(np.frombuffer(msg, np.complex64))
    return np.concatenate(got), frames


def _signal(n, seed=0):
    rng = np.random.default_rng(seed)
    return (0.1 * (rng.standard_normal(n) + 1j * rng.standard_normal(n))).astype(np.complex64)


def _expected(x, delay=20, gain=0.5):
    """Independent reference: an integer delay of 20 samples and -6.0206 dB is a shift and a halving."""
    y = np.zeros(len(x), np.complex64)
    y[delay:] = gain * x[:-delay]
    return y


def test_raw_push_pull_interop(ctx):
    with EmulatorServer(_cfg([_ep("tx", "pull"), _ep("rx", "push")])) as emu:
        push = _sock(ctx, zmq.PUSH, emu.address("tx"))
        pull = _sock(ctx, zmq.PULL, emu.address("rx"))
        x = _signal(3000)
        for k in range(0, 3000, 700):
            push.send(x[k:k + 700].tobytes())
        y, _ = _recv_samples(pull, 3000)
        np.testing.assert_allclose(y, _expected(x), atol=1e-5)
        st = emu.status()
        assert st["links"]["dl"]["samples_in"] == 3000 and st["links"]["dl"]["samples_out"] == 3000
        assert st["links"]["dl"]["gain_db"] == pytest.approx(-6.0206)


def test_raw_req_rep_like_srsran(ctx):
    """TX binds REP (emulator connects REQ, sends 1 byte); RX connects REQ to the emulator's REP."""
    tx = _sock(ctx, zmq.REP, ANY, bind=True)
    tx_addr = tx.getsockopt_string(zmq.LAST_ENDPOINT)
    eps = [{"name": "tx", "address": tx_addr, "pattern": "req", "bind": False, "request": "byte"},
           _ep("rx", "rep")]
    with EmulatorServer(_cfg(eps)) as emu:
        x = _signal(4000, 1)
        for k in range(4):
            assert tx.recv() == b"\x00"          # the emulator asks for samples ...
            tx.send(x[k * 1000:(k + 1) * 1000].tobytes())  # ... and gets a plain cf32 reply
        rx = _sock(ctx, zmq.REQ, emu.address("rx"))
        got = []
        while sum(len(g) for g in got) < 4000:
            rx.send(struct.pack("<I", 1500))     # GNU Radio REQ source: u32 items wanted
            reply = np.frombuffer(rx.recv(), np.complex64)
            assert 0 < len(reply) <= 1500
            got.append(reply)
        np.testing.assert_allclose(np.concatenate(got)[:4000], _expected(x), atol=1e-5)
        assert emu.status()["endpoints"]["rx"]["messages"] == len(got)


def test_pub_sub_both_ways(ctx):
    eps = [_ep("tx", "sub", bind=False), _ep("rx", "pub")]
    pub = _sock(ctx, zmq.PUB, ANY, bind=True)
    eps[0]["address"] = pub.getsockopt_string(zmq.LAST_ENDPOINT)
    with EmulatorServer(_cfg(eps)) as emu:
        sub = _sock(ctx, zmq.SUB, emu.address("rx"), opts={zmq.SUBSCRIBE: b""})
        x = _signal(1000, 2)
        got = []
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:  # PUB/SUB joins late: resend until one arrives
            pub.send(x.tobytes())
            if sub.poll(100):
                got.append(np.frombuffer(sub.recv(), np.complex64))
        assert got and len(got[0]) == 1000
        assert np.abs(got[0]).max() > 0


def _framed_cfg(**kw):
    return _cfg([_ep("tx", "pull", wire="framed"), _ep("rx", "push", wire="framed", stream_id=7)], **kw)


def _frame(x, seq, idx, **kw):
    return wire.encode(wire.Frame(x, seq=seq, sample_index=idx, sample_rate_hz=FS, **kw))


def test_framed_loss_duplication_and_damage_are_counted(ctx):
    with EmulatorServer(_framed_cfg()) as emu:
        push = _sock(ctx, zmq.PUSH, emu.address("tx"))
        pull = _sock(ctx, zmq.PULL, emu.address("rx"))
        x = _signal(600, 3)
        push.send(_frame(x[:100], 0, 0))
        push.send(_frame(x[100:200], 1, 100))
        push.send(_frame(x[100:200], 1, 100))         # duplicate
        push.send(b"LHIQ" + b"\0" * 30)               # truncated
        push.send(b"NOPE" + bytes(200))               # wrong magic
        bad_version = bytearray(_frame(x[:10], 2, 200))
        bad_version[4] = 9
        push.send(bytes(bad_version))
        push.send(_frame(x[300:400], 3, 300))         # seq 2 (samples 200..300) lost
        push.send(_frame(x[200:300], 2, 200))         # ... arrives late: dropped as out of order
        push.send(_frame(x[400:600], 4, 400))
        # The lost samples are not synthesised: the link outputs its tail (channel memory M, zeros in) after
        # sample 200, jumps to 300 and goes on (changed in issue 13: the gap used to be zero-filled); each
        # burst after silence starts LEAD20 samples late (issue 15). Where it outputs, the output equals
        # the zero-filled reference exactly.
        M = M20
        y, frames = _recv_samples(pull, 200 + M + 300 - 2 * LEAD20, framed=True)
        idx = np.concatenate([f.sample_index + np.arange(len(f.samples)) for f in frames])
        np.testing.assert_array_equal(idx, np.r_[LEAD20:200 + M, 300 + LEAD20:600])
        ref = np.concatenate([x[:200], np.zeros(100, np.complex64), x[300:600]])
        np.testing.assert_allclose(y, _expected(ref)[idx], atol=1e-5)
        assert [f.seq for f in frames] == list(range(len(frames)))
        assert sum(bool(f.flags & wire.FLAG_END_OF_BURST) for f in frames) == 1   # the tail before the jump
        assert all(f.stream_id == 7 and f.sample_rate_hz == FS for f in frames)
        assert frames[0].delay_s == pytest.approx(20e-6) and frames[0].gain_db == pytest.approx(-6.0206)
        time.sleep(0.05)
        st = emu.status()
        lk, ep = st["links"]["dl"], st["endpoints"]["tx"]
        # every frame counted once (issue 15): seq 2 arrived after all, so it is out of order, not also lost;
        # its 100 samples were still not emulated (samples_lost)
        assert lk["frames_lost"] == 0 and lk["frames_duplicated"] == 1 and lk["frames_out_of_order"] == 1
        assert ep["frames_lost"] == 0 and ep["frames_late"] == 1
        assert lk["frames_bad"] == 3 and lk["samples_filled"] == M
        assert lk["samples_lost"] == 100 and lk["samples_skipped"] == 100 - M
        assert ep["bad"]["short"] == 1 and ep["bad"]["magic"] == 1 and ep["bad"]["version"] == 1
        assert st["running"]


def test_peers_reconnect(ctx):
    with EmulatorServer(_framed_cfg()) as emu:
        x = _signal(800, 4)
        for run in range(2):                          # the same TX program, started twice
            push = _sock(ctx, zmq.PUSH, emu.address("tx"))
            pull = _sock(ctx, zmq.PULL, emu.address("rx"))
            for k in range(4):
                push.send(_frame(x[k * 100:(k + 1) * 100], k, k * 100))
            want = 400 - (LEAD20 if run == 0 else 0)  # the restart continues the open burst: no lead
            y, frames = _recv_samples(pull, want, framed=True)
            assert len(y) == want
            push.close()
            pull.close()
            # the next run's first messages must not go to this run's receiver (a PUSH sends to every peer
            # it still knows): wait until the server has seen it leave
            deadline = time.monotonic() + 10
            while emu.status()["endpoints"]["rx"]["peer_disconnects"] < run + 1 and time.monotonic() < deadline:
                time.sleep(0.01)
        st = emu.status()
        assert st["links"]["dl"]["restarts"] == 1      # seq 0 again: re-anchored, not counted as loss
        assert st["links"]["dl"]["frames_lost"] == 0
        assert st["links"]["dl"]["samples_in"] == 800 and st["running"]
        assert st["endpoints"]["rx"]["peer_disconnects"] == 2


def test_drop_policy_bounds_memory(ctx):
    eps = [_ep("tx", "pull", hwm=4), _ep("rx", "push", on_full="drop", buffer_samples=4096, hwm=2)]
    with EmulatorServer(_cfg(eps)) as emu:
        push = _sock(ctx, zmq.PUSH, emu.address("tx"))
        x = _signal(2048, 5)
        for _ in range(40):                           # nobody reads the output
            push.send(x.tobytes())
        deadline = time.monotonic() + 5
        while emu.status()["links"]["dl"]["samples_in"] < 40 * 2048 and time.monotonic() < deadline:
            time.sleep(0.01)
        st = emu.status()
        assert st["links"]["dl"]["samples_in"] == 40 * 2048   # inputs keep flowing ...
        assert st["endpoints"]["rx"]["queued_samples"] <= 4096 + 2048   # ... memory stays bounded ...
        assert st["endpoints"]["rx"]["samples_dropped"] > 0             # ... and the drops are counted


def test_block_policy_loses_nothing(ctx):
    eps = [_ep("tx", "pull", hwm=2), _ep("rx", "push", buffer_samples=4096, hwm=2)]
    with EmulatorServer(_cfg(eps)) as emu:
        push = _sock(ctx, zmq.PUSH, emu.address("tx"), opts={zmq.SNDHWM: 2})
        x = _signal(1024 * 30, 6)
        sent = 0
        for k in range(30):                            # no reader yet: the TX is held back, not dropped
            try:
                push.send(x[k * 1024:(k + 1) * 1024].tobytes(), zmq.NOBLOCK)
                sent += 1
            except zmq.Again:
                break
        assert sent < 30
        pull = _sock(ctx, zmq.PULL, emu.address("rx"))
        for k in range(sent, 30):
            push.send(x[k * 1024:(k + 1) * 1024].tobytes())
        y, _ = _recv_samples(pull, 30 * 1024)
        np.testing.assert_allclose(y, _expected(x), atol=1e-5)
        assert emu.status()["endpoints"]["rx"]["samples_dropped"] == 0


def test_telemetry_csv_and_visibility(ctx, tmp_path):
    path = tmp_path / "tel.csv"
    links = [{"name": "up", "source": "tx", "sink": "rx", "direction": "uplink", "carrier_hz": 2e9,
              "gain_db": 150.0, "noise_dbfs": -30.0,
              "trajectory": [{"kind": "circular", "t_closest_s": 0.0}]}]
    # epoch 100 s before culmination: visible, approaching (positive Doppler)
    cfg = _cfg([_ep("tx", "pull"), _ep("rx", "push")], links, telemetry_csv=str(path), telemetry_interval_s=0.001,
               epoch_s=-100.0)
    with EmulatorServer(cfg) as emu:
        push = _sock(ctx, zmq.PUSH, emu.address("tx"))
        pull = _sock(ctx, zmq.PULL, emu.address("rx"))
        for _ in range(5):
            push.send(np.ones(2000, np.complex64).tobytes())
        y, _ = _recv_samples(pull, 10000)
        st = emu.status()["links"]["up"]
        assert st["visible"] and st["elevation_deg"] > 10 and st["doppler_hz"] > 10e3   # approaching
        assert st["snr_db"] == pytest.approx(150 - st["path_loss_db"] + 30, abs=0.5)
    rows = list(csv.DictReader(open(path)))
    assert len(rows) >= 5 and rows[0]["link"] == "up"
    assert float(rows[-1]["samples_out"]) == 10000
    assert abs(float(rows[-1]["delay_s"]) - st["delay_s"]) < 1e-4

    hidden = _cfg([_ep("tx", "pull"), _ep("rx", "push")], links, epoch_s=1000.0)
    with EmulatorServer(hidden) as emu:
        push = _sock(ctx, zmq.PUSH, emu.address("tx"))
        pull = _sock(ctx, zmq.PULL, emu.address("rx"))
        push.send(np.ones(20000, np.complex64).tobytes())
        y, _ = _recv_samples(pull, 20000)
        assert not emu.status()["links"]["up"]["visible"]
    assert np.mean(np.abs(y) ** 2) == pytest.approx(1e-3, rel=0.1)   # -30 dBFS of noise
    assert abs(np.mean(y)) < 3e-3                                     # and no signal


def test_control_socket_answers_status_as_json(ctx):
    cfg = _cfg([_ep("tx", "pull"), _ep("rx", "push")], control="tcp://127.0.0.1:*")
    emu = EmulatorServer(cfg)
    emu.start()
    try:
        req = _sock(ctx, zmq.REQ, emu.control_address)
        req.send(b"status")
        st = json.loads(req.recv())
        assert st["links"]["dl"]["delay_s"] == pytest.approx(20e-6)
    finally:
        emu.stop()
    assert not emu.running


def test_curve_authentication(ctx):
    srv_pub, srv_sec = zmq.curve_keypair()
    cli_pub, cli_sec = zmq.curve_keypair()
    curve = {"public_key": srv_pub.decode(), "secret_key": srv_sec.decode(), "clients": [cli_pub.decode()]}
    with EmulatorServer(_cfg([_ep("tx", "pull"), _ep("rx", "push")], curve=curve)) as emu:
        keys = {zmq.CURVE_SERVERKEY: srv_pub, zmq.CURVE_PUBLICKEY: cli_pub, zmq.CURVE_SECRETKEY: cli_sec}
        push = _sock(ctx, zmq.PUSH, emu.address("tx"), opts=keys)
        pull = _sock(ctx, zmq.PULL, emu.address("rx"), opts=keys)
        x = _signal(500, 7)
        push.send(x.tobytes())
        y, _ = _recv_samples(pull, 500)
        np.testing.assert_allclose(y, _expected(x), atol=1e-5)
        other_pub, other_sec = zmq.curve_keypair()        # a valid CURVE key that is not on the list
        intruder = _sock(ctx, zmq.PUSH, emu.address("tx"), opts={zmq.CURVE_SERVERKEY: srv_pub,
                                                                 zmq.CURVE_PUBLICKEY: other_pub,
                                                                 zmq.CURVE_SECRETKEY: other_sec})
        plain = _sock(ctx, zmq.PUSH, emu.address("tx"))     # no CURVE at all
        for s in (intruder, plain):
            try:
                s.send(x.tobytes(), zmq.NOBLOCK)             # never connects: stays queued or refused
            except zmq.Again:
                pass
        time.sleep(0.2)
        assert emu.status()["links"]["dl"]["samples_in"] == 500


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="address"):
        _cfg([{"name": "tx", "address": "tcp://0.0.0.0:5000", "pattern": "pull"}, _ep("rx", "push")])
    with pytest.raises(ConfigError, match="links\\[0\\].sink"):
        _cfg([_ep("tx", "pull"), _ep("rx", "push")],
             [{"name": "a", "source": "tx", "sink": "tx"}])
    with pytest.raises(ConfigError, match="pattern"):
        _cfg([_ep("tx", "dealer"), _ep("rx", "push")])
    with pytest.raises(ConfigError, match="delay"):  # shorter than the interpolator's look-ahead
        EmulatorServer(_cfg([_ep("tx", "pull"), _ep("rx", "push")],
                            [{"name": "a", "source": "tx", "sink": "rx",
                              "trajectory": [{"kind": "constant", "delay_s": 1e-6}]}])).stop()


def test_address_in_use_is_a_config_error(ctx):
    taken = _sock(ctx, zmq.PULL, ANY, bind=True)
    addr = taken.getsockopt_string(zmq.LAST_ENDPOINT)
    emu = EmulatorServer(_cfg([{"name": "tx", "address": addr, "pattern": "pull"}, _ep("rx", "push")]))
    with pytest.raises(ConfigError, match="endpoints.tx.address"):
        emu.start()
    assert not emu.running


def test_scenario_files_validate_and_cli_runs(capsys, tmp_path):
    import glob
    import os

    root = os.path.dirname(os.path.dirname(__file__))
    files = sorted(glob.glob(os.path.join(root, "scenarios", "emulator", "*.yaml")))
    assert files
    for f in files:
        assert main(["emulate", "--check", f]) == 0
        load_emulator_config(f)
    framed = os.path.join(root, "scenarios", "emulator", "framed_multi.yaml")
    tel = tmp_path / "t.csv"
    assert main(["emulate", framed, "--duration", "0.3", "--telemetry", str(tel), "--status-every", "0"]) == 0
    out = capsys.readouterr().out
    assert "link up1" in out and "samples in 0" in out
    assert tel.read_text().startswith("link,")


def test_handover_and_gap_are_flagged_in_framed_headers(ctx):
    links = [{"name": "dl", "source": "tx", "sink": "rx", "carrier_hz": 2e9, "noise_dbfs": -40.0,
              "trajectory": [{"kind": "linear", "delay_s": 1e-3, "rate": 1e-5},
                             {"kind": "gap", "start_s": 0.002},
                             {"kind": "linear", "start_s": 0.003, "delay_s": 2e-3, "rate": -1e-5}]}]
    with EmulatorServer(_framed_cfg(links=links)) as emu:
        push = _sock(ctx, zmq.PUSH, emu.address("tx"))
        pull = _sock(ctx, zmq.PULL, emu.address("rx"))
        for k in range(8):
            push.send(_frame(np.ones(500, np.complex64), k, 500 * k))
        y, frames = _recv_samples(pull, 4000, framed=True)
        flags = [f.flags for f in frames]
        st = emu.status()["links"]["dl"]
    # frame k covers t = [0.5 k, 0.5 (k + 1)) ms: the jumps at 2 ms and 3 ms open frames 4 and 6
    assert [bool(f & wire.FLAG_DISCONTINUITY) for f in flags] == [False] * 4 + [True, False, True, False]
    assert [bool(f & wire.FLAG_NOT_VISIBLE) for f in flags] == [False] * 4 + [True, True, False, False]
    assert frames[0].doppler_hz == pytest.approx(-2e9 * 1e-5) and frames[6].doppler_hz == pytest.approx(2e9 * 1e-5)
    assert frames[6].delay_s == pytest.approx(2e-3 - 1e-5 * 0.003)
    assert st["handovers"] == 2
    assert np.mean(np.abs(y[2100:2900]) ** 2) < 1e-3      # the gap: noise only (-40 dBFS)
    assert np.mean(np.abs(y[1200:1900])) > 0.9            # before it: the unit tone


def test_real_time_pacing(ctx):
    with EmulatorServer(_cfg([_ep("tx", "pull"), _ep("rx", "push")], pace=True,
                             sample_rate_hz=FS)) as emu:
        push = _sock(ctx, zmq.PUSH, emu.address("tx"))
        pull = _sock(ctx, zmq.PULL, emu.address("rx"))
        t0 = time.monotonic()
        for _ in range(6):
            push.send(np.ones(40_000, np.complex64).tobytes())  # 0.24 s of samples at 1 MSPS, sent at once
        _recv_samples(pull, 240_000)
        elapsed = time.monotonic() - t0
    assert elapsed >= 0.19  # the last message may leave 0.2 s after the first (sample time), not earlier


def _two_terminals(**out_kw):
    links = [{"name": f"up{i}", "source": f"tx{i}", "sink": "sat", "carrier_hz": 0.0,
              "trajectory": [{"kind": "constant", "delay_s": d, "path_loss_db": loss}]}
             for i, d, loss in ((1, 20e-6, 0.0), (2, 35e-6, 6.0206))]
    return _cfg([_ep("tx1", "pull"), _ep("tx2", "pull"), _ep("sat", "push", **out_kw)], links)


def test_two_terminals_are_summed_at_one_receiver(ctx):
    with EmulatorServer(_two_terminals()) as emu:
        t1 = _sock(ctx, zmq.PUSH, emu.address("tx1"))
        t2 = _sock(ctx, zmq.PUSH, emu.address("tx2"))
        rx = _sock(ctx, zmq.PULL, emu.address("sat"))
        a, b = _signal(3000, 8), _signal(3000, 9)
        for k in range(0, 3000, 1000):      # different message sizes: the sum aligns by sample index
            t1.send(a[k:k + 1000].tobytes())
        for k in range(0, 3000, 600):
            t2.send(b[k:k + 600].tobytes())
        y, _ = _recv_samples(rx, 3000)
        np.testing.assert_allclose(y, _expected(a, 20, 1.0) + _expected(b, 35, 0.5), atol=1e-5)


def test_a_silent_terminal_does_not_stall_the_other(ctx):
    with EmulatorServer(_two_terminals(buffer_samples=4096)) as emu:
        t1 = _sock(ctx, zmq.PUSH, emu.address("tx1"))
        rx = _sock(ctx, zmq.PULL, emu.address("sat"))
        a = _signal(20000, 10)
        for k in range(0, 20000, 1000):
            t1.send(a[k:k + 1000].tobytes())
        y, _ = _recv_samples(rx, 16000)
        np.testing.assert_allclose(y[:16000], _expected(a, 20, 1.0)[:16000], atol=1e-5)
        st = emu.status()["links"]
        # the silent link jumps in O(1) (it used to be zero-filled through its channel before issue 13)
        assert st["up2"]["samples_skipped"] >= 16000 - 2048 and st["up2"]["samples_filled"] == 0
        assert st["up2"]["samples_in"] == 0


def test_a_channel_error_stops_the_server_with_the_reason(ctx):
    links = [{"name": "dl", "source": "tx", "sink": "rx", "max_delay_s": 2e-3, "threads": 0,
              "trajectory": [{"kind": "constant", "delay_s": 1e-3},
                             {"kind": "constant", "delay_s": 30e-3, "start_s": 0.01}]}]  # jumps past the line
    with EmulatorServer(_cfg([_ep("tx", "pull"), _ep("rx", "push")], links)) as emu:
        push = _sock(ctx, zmq.PUSH, emu.address("tx"))
        _sock(ctx, zmq.PULL, emu.address("rx"))
        for _ in range(6):
            push.send(np.ones(4096, np.complex64).tobytes())
        deadline = time.monotonic() + 5
        while emu.running and time.monotonic() < deadline:
            time.sleep(0.01)
        st = emu.status()
    assert not st["running"] and "max_delay" in st["error"]


def test_req_input_survives_a_restarting_transmitter(ctx):
    """srsRAN-style TX (bound REP) goes away mid-request and comes back on the same address."""
    tx = _sock(ctx, zmq.REP, ANY, bind=True)
    addr = tx.getsockopt_string(zmq.LAST_ENDPOINT)
    eps = [{"name": "tx", "address": addr, "pattern": "req", "bind": False, "request": "byte", "timeout_s": 0.6},
           _ep("rx", "push")]
    with EmulatorServer(_cfg(eps)) as emu:
        pull = _sock(ctx, zmq.PULL, emu.address("rx"))
        x = _signal(2000, 11)
        tx.recv()
        tx.send(x[:1000].tobytes())
        tx.recv()                                   # a request is outstanding when the TX dies
        tx.close(0)
        time.sleep(0.3)
        tx = _sock(ctx, zmq.REP, addr, bind=True)   # the TX program restarts
        assert tx.recv() == b"\x00"                 # the emulator asks again (relaxed REQ, resent)
        tx.send(x[1000:].tobytes())
        y, _ = _recv_samples(pull, 2000)
        np.testing.assert_allclose(y, _expected(x), atol=1e-5)
        assert emu.status()["endpoints"]["tx"]["messages"] == 2
        tx.close(0)


# ------------------------------------------------------------------ timed bursts (issue 13)
def test_two_terminals_with_timed_bursts_are_summed_by_sample_index(ctx):
    # the output waits until both transmitters have passed an index, or one is buffer_samples / 2 behind
    eps = [_ep("tx1", "pull", wire="framed"), _ep("tx2", "pull", wire="framed"),
           _ep("sat", "push", wire="framed", buffer_samples=32768)]
    links = [{"name": f"up{i}", "source": f"tx{i}", "sink": "sat", "carrier_hz": 0.0,
              "trajectory": [{"kind": "constant", "delay_s": d, "path_loss_db": loss}]}
             for i, d, loss in ((1, 20e-6, 0.0), (2, 35e-6, 6.0206))]
    with EmulatorServer(_cfg(eps, links)) as emu:
        t1 = _sock(ctx, zmq.PUSH, emu.address("tx1"))
        t2 = _sock(ctx, zmq.PUSH, emu.address("tx2"))
        rx = _sock(ctx, zmq.PULL, emu.address("sat"))
        a, b = _signal(1000, 12), _signal(1000, 13)
        eob = wire.FLAG_END_OF_BURST

        def send(sock, link, frame):
            n = emu.status()["links"][link]["samples_in"]
            sock.send(frame)
            deadline = time.monotonic() + 5
            while emu.status()["links"][link]["samples_in"] == n and time.monotonic() < deadline:
                time.sleep(0.005)

        send(t1, "up1", _frame(a, 0, 5000, flags=eob))     # terminal 1 at 5000, terminal 2 at 5500 (overlap)
        send(t2, "up2", _frame(b, 0, 5500, flags=eob))
        send(t1, "up1", _frame(a, 1, 900_000, flags=eob))  # both far later: the silence between is skipped
        send(t2, "up2", _frame(b, 1, 950_000, flags=eob))
        got = {}
        # terminal 1 outputs [5000 + L1, 5000 + 1000 + M1), terminal 2 [5500 + L2, 5500 + 1000 + M2)
        M1, M2, L1, L2 = 20 + 8 + 2, 35 + 8 + 2, LEAD20, 35 - 8 - 2
        want = np.r_[5000 + L1:5500 + 1000 + M2, 900_000 + L1:900_000 + 1000 + M1,
                     950_000 + L2:950_000 + 1000 + M2]
        while len(got) < want.size:
            f = wire.decode(rx.recv())
            for k, v in zip(f.sample_index + np.arange(len(f.samples)), f.samples):
                got[int(k)] = v
    st = emu.status()["links"]
    idx = np.array(sorted(got))
    y = np.array([got[k] for k in idx])
    np.testing.assert_array_equal(idx, want)  # the union, summed
    ref = np.zeros(1_000_000, np.complex64)
    ref[5000:7000] += _expected(np.r_[a, np.zeros(1000, np.complex64)], 20, 1.0)
    ref[5500:7500] += _expected(np.r_[b, np.zeros(1000, np.complex64)], 35, 0.5)
    ref[900_000:902_000] += _expected(np.r_[a, np.zeros(1000, np.complex64)], 20, 1.0)
    ref[950_000:952_000] += _expected(np.r_[b, np.zeros(1000, np.complex64)], 35, 0.5)
    np.testing.assert_allclose(y, ref[want], atol=1e-5)
    assert st["up1"]["samples_skipped"] > 800_000 and st["up2"]["samples_skipped"] > 900_000
    assert max(s["samples_out"] for s in st.values()) < 3000


def test_header_truth_can_be_withheld_from_the_receiver(ctx):
    cfg = _cfg([_ep("tx", "pull", wire="framed"), _ep("rx", "push", wire="framed", header_truth=False)])
    with EmulatorServer(cfg) as emu:
        push = _sock(ctx, zmq.PUSH, emu.address("tx"))
        pull = _sock(ctx, zmq.PULL, emu.address("rx"))
        push.send(_frame(_signal(500, 14), 0, 0, flags=wire.FLAG_END_OF_BURST))
        _, frames = _recv_samples(pull, 500 + M20 - LEAD20, framed=True)
    assert all(f.delay_s == 0 and f.doppler_hz == 0 and f.gain_db == 0 for f in frames)
    assert frames[-1].flags & wire.FLAG_END_OF_BURST


def test_burst_records_from_the_server_and_a_frame_outside_the_trajectory(ctx, tmp_path):
    path = tmp_path / "bursts.jsonl"
    links = [{"name": "dl", "source": "tx", "sink": "rx", "carrier_hz": 0.0,
              "trajectory": [{"kind": "constant", "delay_s": 20e-6, "path_loss_db": 6.0206}]}]
    cfg = _cfg([_ep("tx", "pull", wire="framed"), _ep("rx", "rep", wire="framed")], links,
               telemetry_bursts=str(path))
    with EmulatorServer(cfg) as emu:
        push = _sock(ctx, zmq.PUSH, emu.address("tx"))
        req = _sock(ctx, zmq.REQ, emu.address("rx"))
        x = _signal(300, 15)
        push.send(_frame(x, 0, 0, flags=wire.FLAG_END_OF_BURST))
        push.send(_frame(x, 1, 10_000))                 # left open: stop() closes its record
        replies = []
        while sum(len(f.samples) for f in replies) < 300 + M20 - LEAD20 + 300 - LEAD20:
            req.send(struct.pack("<I", 100_000))        # a framed reply never spans the jump
            replies.append(wire.decode(req.recv()))
        assert [(f.sample_index, len(f.samples)) for f in replies] == \
            [(LEAD20, 300 + M20 - LEAD20), (10_000 + LEAD20, 300 - LEAD20)]
        assert replies[0].flags & wire.FLAG_END_OF_BURST and not replies[1].flags & wire.FLAG_END_OF_BURST
        recs = [json.loads(line) for line in open(path)]
        assert len(recs) == 1 and recs[0]["ended_by"] == "end_of_burst"
    recs = [json.loads(line) for line in open(path)]
    assert [(r["burst_index"], r["sample_index"], r["n_samples"], r["ended_by"]) for r in recs] == \
        [(0, 0, 300, "end_of_burst"), (1, 10_000, 300, "finish")]
    assert recs[0]["gain_db_start"] == pytest.approx(-6.0206) and recs[0]["snr_db"] is None  # no noise

    track = {"name": "dl", "source": "tx", "sink": "rx", "carrier_hz": 0.0, "max_delay_s": 2e-3,
             "trajectory": [{"kind": "constant", "delay_s": 20e-6},
                            {"kind": "constant", "delay_s": 1e-3, "start_s": 0.5}]}
    orbit = pytest.importorskip("hil.orbit")
    tr = orbit.DelayTrack.from_knots(0.0, 0.01, np.full(11, 1e-3), np.zeros(11))   # 0..0.1 s
    with EmulatorServer(_cfg([_ep("tx", "pull", wire="framed"), _ep("rx", "push", wire="framed")],
                             [track])) as emu:
        lk = emu.links["dl"]
        from hil.emulator.trajectory import OrbitTrajectory
        lk.trajectory = OrbitTrajectory(tr, 1.0)        # a bounded trajectory: bursts must stay inside it
        emu._spans["dl"] = lk.span()
        push = _sock(ctx, zmq.PUSH, emu.address("tx"))
        push.send(_frame(_signal(100, 16), 0, 10**9))   # 1000 s: outside
        time.sleep(0.2)
        st = emu.status()
    assert st["running"] and st["endpoints"]["tx"]["bad"] == {"range": 1} and st["links"]["dl"]["samples_in"] == 0


def test_in_process_links_give_the_servers_very_samples(ctx):
    """build_links seeds the links as the server does: the mock backend's output equals mock-zmq's."""
    from hil.emulator.link import build_links

    links = [{"name": "dl", "source": "tx", "sink": "rx", "carrier_hz": 2e9, "noise_dbfs": -20.0,
              "ntn_tdl": "NTN-TDL-C", "trajectory": [{"kind": "linear", "delay_s": 1e-3, "rate": 1e-5}]}]
    cfg = _cfg([_ep("tx", "pull", wire="framed"), _ep("rx", "push", wire="framed")], links, seed=11)
    x = _signal(3000, 17)
    bursts = [(0, x[:1000], 0), (1000, x[1000:2000], wire.FLAG_END_OF_BURST), (500_000, x[2000:], 0)]
    lk = build_links(cfg)["dl"]
    ref = [o for i, b, f in bursts for o in lk.accept(i, b, bool(f & wire.FLAG_END_OF_BURST))]
    ref_idx = np.concatenate([n0 + np.arange(len(y)) for n0, y, _ in ref])
    with EmulatorServer(cfg) as emu:
        push = _sock(ctx, zmq.PUSH, emu.address("tx"))
        pull = _sock(ctx, zmq.PULL, emu.address("rx"))
        for seq, (i, b, f) in enumerate(bursts):
            push.send(_frame(b, seq, i, flags=f))
        y, frames = _recv_samples(pull, len(ref_idx), framed=True)
    idx = np.concatenate([f.sample_index + np.arange(len(f.samples)) for f in frames])
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(y, np.concatenate([y for _, y, _ in ref]))
