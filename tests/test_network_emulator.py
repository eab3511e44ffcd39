"""A network link inside `hil emulate` (trajectory kind: network): the emulator process applies the
node-pair link of a network scenario - a tone through the framed wire comes out at the link's two-ended
Doppler, and the burst telemetry carries the PairTrajectory's delay, Doppler and net loss."""

import json
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
from hil.network import build_network, load_network_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NET = os.path.join(ROOT, "scenarios", "network", "hand_foot.yaml")
FS, FC = 1e6, 2.0e9
T0, N = 10.0, 20_000


@pytest.fixture
def ipc_dir():
    d = tempfile.mkdtemp(prefix="hil", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_network_link_in_the_emulator_process(ipc_dir):
    cfg = os.path.join(ipc_dir, "emu.yaml")
    with open(cfg, "w") as fh:
        fh.write(f"""
sample_rate_hz: {FS}
seed: 1
endpoints:
  - {{name: tx, address: "ipc://{ipc_dir}/tx", pattern: pull, wire: framed}}
  - {{name: rx, address: "ipc://{ipc_dir}/rx", pattern: push, wire: framed}}
links:
  - {{name: sat, source: tx, sink: rx, carrier_hz: {FC}, gain_db: 121, threads: 0,
     trajectory: [{{kind: network, network: "{NET}", link: sat1-ship1}}]}}
""")
    bursts = os.path.join(ipc_dir, "bursts.jsonl")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "hil", "emulate", cfg, "--bursts", bursts, "--status-every", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    ctx = zmq.Context()
    try:
        addr = None
        for line in proc.stdout:
            if line.startswith("READY "):
                addr = json.loads(line[6:])
                break
        assert addr, proc.stderr.read()
        push, pull = ctx.socket(zmq.PUSH), ctx.socket(zmq.PULL)
        push.linger = pull.linger = 0
        push.connect(addr["tx"])
        pull.connect(addr["rx"])
        pull.rcvtimeo = 30_000
        k0 = int(T0 * FS)
        push.send(wire.encode(wire.Frame(np.ones(N, np.complex64), seq=0, sample_index=k0, sample_rate_hz=FS,
                                         center_freq_hz=FC, flags=wire.FLAG_END_OF_BURST)))
        frames = []
        while not (frames and frames[-1].flags & wire.FLAG_END_OF_BURST):
            frames.append(wire.decode(pull.recv()))
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    finally:
        ctx.destroy(linger=0)
        if proc.poll() is None:
            proc.kill()
    tr = build_network(load_network_config(NET)).trajectories["sat1-ship1"]
    idx = np.concatenate([f.sample_index + np.arange(len(f.samples)) for f in frames])
    y = np.concatenate([f.samples for f in frames]).astype(np.complex128)
    D = int(np.ceil(float(tr.delay(T0)) * FS))
    sel = (idx >= k0 + D + 50) & (idx < k0 + N - 50)
    t = idx[sel] / FS
    tc = t.mean()
    f_meas = np.polyfit(t - tc, np.unwrap(np.angle(y[sel])), 3)[-2] / (2 * np.pi)
    assert f_meas == pytest.approx(float(tr.doppler(tc)), abs=0.5)
    assert abs(f_meas) > 5e3
    rec = json.loads(open(bursts).readline())
    assert rec["delay_s_start"] == pytest.approx(float(tr.delay(T0)), abs=1e-12)
    assert rec["doppler_hz_start"] == pytest.approx(float(tr.doppler(T0)), abs=1e-6)
    assert rec["path_loss_db_start"] == pytest.approx(float(tr.path_loss_db(T0)), abs=1e-9)
    assert np.abs(y[sel]).mean() == pytest.approx(10 ** ((121 - float(tr.path_loss_db(tc))) / 20), rel=0.01)


def test_network_trajectory_errors_name_the_field(tmp_path):
    from hil.config import parse
    from hil.emulator.config import EmulatorConfig
    from hil.emulator.link import build_links
    from hil.errors import ConfigError

    base = {"endpoints": [{"name": "tx", "address": "inproc://a", "pattern": "pull"},
                          {"name": "rx", "address": "inproc://b", "pattern": "push"}],
            "links": [{"name": "l", "source": "tx", "sink": "rx", "carrier_hz": 2e9,
                       "trajectory": [{"kind": "network", "network": NET, "link": "nope"}]}]}
    with pytest.raises(ConfigError, match=r"links\.l\.trajectory\[0\]\.link: got 'nope'"):
        build_links(parse(EmulatorConfig, base))
    base["links"][0]["trajectory"][0]["link"] = "uav1-ship2"  # a 2.4 GHz link
    with pytest.raises(ConfigError, match=r"links\.l\.carrier_hz: got 2000000000.0; allowed: 2.4e\+09 Hz"):
        build_links(parse(EmulatorConfig, base))
    del base["links"][0]["trajectory"][0]["network"]
    with pytest.raises(ConfigError, match=r"trajectory\[0\]: got 'network'; allowed: network: FILE.yaml"):
        build_links(parse(EmulatorConfig, base))
