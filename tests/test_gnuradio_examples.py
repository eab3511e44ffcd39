"""The GNU Radio examples (scenarios/gnuradio/, scenarios/emulator/gnuradio_*.yaml) against the real
GNU Radio 3.10: the flowgraph streams a tone through the emulator with GNU Radio's own ZMQ blocks
(push_sink binds / pull_source connects; rep_sink binds / req_source connects) and the Doppler it
measures is the closed-form pass Doppler within 1 Hz. The .grc compiles with grcc.

GNU Radio lives in Debian's Python (``apt-get install gnuradio``), not in this venv: the flowgraph runs
under ``$HIL_GNURADIO_PYTHON`` (default /usr/bin/python3); without it these tests skip with the reason.
"""

import dataclasses
import os
import shutil
import socket
import subprocess

import numpy as np
import pytest

from hil.emulator.config import load_emulator_config
from hil.emulator.link import build_trajectory
from hil.emulator.server import EmulatorServer
from tests.soapy_module_build import module_dir as build_module_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLOWGRAPH = os.path.join(ROOT, "scenarios", "gnuradio", "leo_pass_doppler.py")
GRC = os.path.join(ROOT, "scenarios", "gnuradio", "leo_pass_doppler.grc")
FILES = {"pushpull": os.path.join(ROOT, "scenarios", "emulator", "gnuradio_pushpull.yaml"),
         "reqrep": os.path.join(ROOT, "scenarios", "emulator", "gnuradio_reqrep.yaml"),
         "soapy": os.path.join(ROOT, "scenarios", "emulator", "soapy_loopback.yaml")}
GR_PY = os.environ.get("HIL_GNURADIO_PYTHON", "/usr/bin/python3")


def _gnuradio_missing() -> str:
    if not os.path.exists(GR_PY):
        return f"no {GR_PY} (set HIL_GNURADIO_PYTHON to a Python with GNU Radio 3.10)"
    try:
        r = subprocess.run([GR_PY, "-c", "from gnuradio import gr, zeromq, analog, blocks; print(gr.version())"],
                           capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{GR_PY} does not run: {exc}"
    if r.returncode != 0:
        return f"GNU Radio not importable from {GR_PY} (apt-get install gnuradio): {r.stderr.strip()[-200:]}"
    if not r.stdout.startswith("3.10"):
        return f"GNU Radio {r.stdout.strip()} from {GR_PY}; these examples are for 3.10"
    return ""


_WHY = _gnuradio_missing()
needs_gr = pytest.mark.skipif(bool(_WHY), reason=_WHY)


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_endpoint_roles_match_gnuradio_310_blocks():
    # GNU Radio 3.10: push_sink and rep_sink bind, pull_source and req_source connect. The emulator's
    # side of each pair must therefore connect to the TX flowgraph and bind for the RX flowgraph.
    pp = {e.name: e for e in load_emulator_config(FILES["pushpull"]).endpoints}
    roles = lambda c: (c["gr_tx"].pattern, c["gr_tx"].bind, c["gr_rx"].pattern, c["gr_rx"].bind)  # noqa: E731
    assert roles(pp) == ("pull", False, "push", True)
    rr = {e.name: e for e in load_emulator_config(FILES["reqrep"]).endpoints}
    assert roles(rr) == ("req", False, "rep", True)
    assert rr["gr_tx"].request == "u32"  # GNU Radio's rep_sink reads a uint32 "items wanted"
    # the flowgraph's defaults are these files' addresses
    text = open(FLOWGRAPH).read()
    for cfg in (pp, rr):
        for e in cfg.values():
            assert e.address.rsplit(":", 1)[1] in text


@pytest.fixture(scope="module")
def soapy_module(tmp_path_factory):
    """The SoapySDR module built with the documented command (for --wire soapy), or a skip with the reason."""
    r = subprocess.run([GR_PY, "-c", "from gnuradio import soapy"], capture_output=True, text=True, timeout=60)
    if r.returncode:
        pytest.skip(f"gr-soapy not importable from {GR_PY}: {r.stderr.strip()[-160:]}")
    return build_module_dir(tmp_path_factory)


@needs_gr
@pytest.mark.parametrize("wire", ["pushpull", "reqrep", "soapy"])
def test_flowgraph_measures_the_pass_doppler_within_1_hz(wire, tmp_path, request):
    env = dict(os.environ)
    cfg = load_emulator_config(FILES[wire])
    ports = {e.name: _free_port() for e in cfg.endpoints}
    cfg = dataclasses.replace(cfg, endpoints=[dataclasses.replace(e, address=f"tcp://127.0.0.1:{ports[e.name]}")
                                              for e in cfg.endpoints])
    names = [e.name for e in cfg.endpoints]          # the TX-side endpoint first, then the RX side
    extra = []
    if wire == "soapy":
        env["SOAPY_SDR_PLUGIN_PATH"] = request.getfixturevalue("soapy_module")
        cfg = dataclasses.replace(cfg, control=f"tcp://127.0.0.1:{_free_port()}")
        extra = ["--soapy-args", f"tx=tcp://127.0.0.1:{ports[names[0]]},rx=tcp://127.0.0.1:{ports[names[1]]},"
                                 f"control={cfg.control}"]
    link = cfg.links[0]
    fs, duration, block = cfg.sample_rate_hz, 6.0, 0.1
    csv = tmp_path / "doppler.csv"
    with EmulatorServer(cfg) as emu:
        r = subprocess.run([GR_PY, FLOWGRAPH, "--wire", wire, "--tx-address", f"tcp://127.0.0.1:{ports[names[0]]}",
                            "--rx-address", f"tcp://127.0.0.1:{ports[names[1]]}", "--samp-rate", str(fs),
                            "--duration", str(duration), "--block", str(block), "--carrier", str(link.carrier_hz),
                            "--epoch", str(cfg.epoch_s), "--csv", str(csv), "--quiet", *extra],
                           capture_output=True, text=True, timeout=120, env=env)
        st = emu.status()["links"][link.name]
    assert r.returncode == 0, r.stdout + r.stderr
    d = np.loadtxt(csv, delimiter=",", skiprows=1)
    assert len(d) == int((duration - 0.05) / block)
    traj = build_trajectory(link)
    errs = []
    for t, _f, dop, _p in d[1:]:  # the first block holds the ~2.6 ms before the first delayed sample
        tt = np.linspace(t - block / 2, t + block / 2, 1001)
        errs.append(dop - float(np.mean(traj.doppler(tt, link.carrier_hz))))
    assert np.max(np.abs(errs)) < 1.0, np.max(np.abs(errs))
    assert d[1, 2] > 29000 and d[-1, 2] < d[1, 2] - 2000  # a real sweep: about -400 Hz/s at 60 s before culmination
    assert st["frames_lost"] == 0 and st["samples_dropped"] == 0 and st["samples_in"] >= duration * fs - 20000


@pytest.mark.skipif(shutil.which("grcc") is None, reason="grcc (GNU Radio Companion compiler) not installed")
def test_grc_compiles_with_grcc(tmp_path):
    r = subprocess.run(["grcc", "-o", str(tmp_path), GRC], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    out = (tmp_path / "leo_pass_doppler_gui.py").read_text()
    assert "zeromq.push_sink" in out and "'tcp://127.0.0.1:5700'" in out
    assert "zeromq.pull_source" in out and "'tcp://127.0.0.1:5701'" in out
