"""`hil network relay`: a regenerative relay as its own process on the framed wire, between two
`hil emulate` processes (the satellite hop and the vessel -> ship hop of arm_hand_regenerative.yaml).
The test transmits, the relay decodes and re-sends, the user's receiver decodes; every frame the user
decodes is one the relay sent, with the transmitter's bits."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading

import numpy as np
import pytest

from hil.network import build_network, load_network_config
from hil.network.run import _EmulatorProcess, traffic

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NET = os.path.join(ROOT, "scenarios", "network", "arm_hand_regenerative.yaml")


@pytest.fixture
def dirs():
    ds = [tempfile.mkdtemp(prefix="hil", dir="/tmp") for _ in range(2)]
    yield ds
    for d in ds:
        shutil.rmtree(d, ignore_errors=True)


def test_regenerative_relay_process_between_two_emulators(dirs):
    from dsp.framing import Transmitter
    from dsp.receiver import Receiver
    from hil.emulator import wire
    from hil.loop.run import FramedReceiver, FramedSender
    from hil.network.regen import RegenerativeRelay

    net = build_network(load_network_config(NET))
    fmt, layout, det, schedule, eob = traffic(net, max_bursts=3)
    fs = net.cfg.sample_rate_hz
    delay = int(round(0.05 * fs))
    sink_schedule = RegenerativeRelay("x", None, None, fmt, schedule, None, delay_samples=delay).sink_schedule()
    up = dn = relay = None
    try:
        up = _EmulatorProcess(net, ["sat1-vessel"], NET, dirs[0])
        dn = _EmulatorProcess(net, ["vessel-ship1"], NET, dirs[1])
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        relay = subprocess.Popen([sys.executable, "-m", "hil", "network", "relay", NET, "--relay", "vessel-bs",
                                  "--input", up.addresses["rx0"], "--output", dn.addresses["tx0"], "--max-bursts", "3"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        tx = Transmitter(fmt, schedule, seed=net.cfg.seed)
        sender = FramedSender(up.addresses["tx0"], fs, 2.0e9)
        receiver = FramedReceiver(dn.addresses["rx0"])
        lo, hi = 0.2e-3, 1.2e-3  # the vessel -> ship hop: 0.5 ms fixed delay + 4.4 km
        rx = Receiver(fmt, sink_schedule, 2.1e9, mode="blind", delay_range_s=(lo, hi), detector=det, layout=layout)

        def send():
            for b, k, x in tx.bursts():
                sender.send_burst(k, x, end_of_burst=eob[b])
            sender.close(hold_s=0.5)

        th = threading.Thread(target=send, daemon=True)
        th.start()
        frames, ends = [], 0
        while ends < 3:
            got = receiver.recv(60.0)
            assert got is not None, "nothing came out of the downlink emulator"
            frames += rx.process(got[0], got[1])
            ends += bool(got[2] & wire.FLAG_END_OF_BURST)
        frames += rx.flush()
        th.join(30)
        receiver.close()
        out, err = relay.communicate(timeout=60)
        assert relay.returncode == 0, err
    finally:
        for p in (up, dn):
            if p is not None:
                p.stop()
        if relay is not None and relay.poll() is None:
            relay.kill()
    counters = json.loads(next(ln for ln in out.splitlines() if ln.startswith("RELAY "))[6:])
    assert counters["bursts_ended"] == counters["bursts_expected"] == 3
    assert counters["relay_frames_sent"] + counters["relay_frames_dropped"] == schedule.n_frames == 12
    # decoding quality is the blind receiver's (bursts 20 s apart here); what is checked is the chain
    assert counters["relay_frames_sent"] >= 6
    got = {f.frame_no: f for f in frames if f.header_ok and f.bits is not None}
    assert 4 <= len(got) <= counters["relay_frames_sent"]
    clean = sum(int(np.count_nonzero(np.asarray(f.bits, np.uint8) != tx.bits(n))) == 0 for n, f in got.items())
    assert clean >= len(got) - 2
