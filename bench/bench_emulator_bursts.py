"""Timed bursts through the emulator: a whole pass costs its bursts, not its duration.

A 10-minute pass (closed-form 550 km pass, culmination at 300 s, mask 0 deg: delays up to ~9 ms) at
1.92 MSPS with one 10 ms burst per second, each sent with END_OF_BURST: 600 bursts. Timed three ways
in the same run:

* in process: ``Link.accept`` (what the ``mock`` backend runs);
* through ``EmulatorServer`` over ipc:// (framed PUSH -> PULL input, PUSH -> PULL output), all output read;
* the baseline: streaming the whole pass through the same channel (``ChannelStream.process`` on zeros,
  what a zero-filling emulator would compute), timed on ``--baseline-s`` seconds of the pass and scaled
  to the full duration (the kernel's cost is linear in samples).

Printed: wall seconds of each, samples computed, and the ratios baseline / in-process and
baseline / server. Run: ``python bench/bench_emulator_bursts.py [--minutes 10] [--ntn-tdl NTN-TDL-C]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import zmq

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dsp.delay import ChannelStream  # noqa: E402
from hil.config import parse  # noqa: E402
from hil.emulator import wire  # noqa: E402
from hil.emulator.config import EmulatorConfig  # noqa: E402
from hil.emulator.link import Link  # noqa: E402
from hil.emulator.server import EmulatorServer  # noqa: E402

FS = 1.92e6
FC = 2.0e9


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--burst-ms", type=float, default=10.0)
    ap.add_argument("--ntn-tdl", default=None, help="e.g. NTN-TDL-C (multipath on the link)")
    ap.add_argument("--baseline-s", type=float, default=5.0, help="seconds of the pass streamed for the baseline")
    a = ap.parse_args(argv)
    n_bursts = int(a.minutes * 60)
    n_burst = int(a.burst_ms * 1e-3 * FS)
    d = tempfile.mkdtemp(prefix="hilb", dir="/tmp")
    try:
        link = {"name": "dl", "source": "tx", "sink": "rx", "carrier_hz": FC, "noise_dbfs": -20.0,
                "ntn_tdl": a.ntn_tdl,
                "trajectory": [{"kind": "circular", "t_closest_s": 30.0 * a.minutes, "min_elevation_deg": 0.0}]}
        cfg = parse(EmulatorConfig, {"sample_rate_hz": FS, "links": [link], "endpoints": [
            {"name": "tx", "address": f"ipc://{d}/tx", "pattern": "pull", "wire": "framed"},
            {"name": "rx", "address": f"ipc://{d}/rx", "pattern": "push", "wire": "framed"}]})
        burst = np.exp(2j * np.pi * 0.05 * np.arange(n_burst)).astype(np.complex64)

        lk = Link.from_config(cfg.links[0], FS, 0.0, np.random.default_rng(0))
        t0 = time.perf_counter()
        for k in range(n_bursts):
            lk.accept(int(k * FS), burst, end_of_burst=True)
        t_link = time.perf_counter() - t0
        computed = lk.samples_out
        lk.close()

        with EmulatorServer(cfg) as emu:
            ctx = zmq.Context()
            push, pull = ctx.socket(zmq.PUSH), ctx.socket(zmq.PULL)
            push.connect(emu.address("tx"))
            pull.connect(emu.address("rx"))
            got = ends = 0
            t0 = time.perf_counter()
            for k in range(n_bursts):
                push.send(wire.encode(wire.Frame(burst, seq=k, sample_index=int(k * FS), sample_rate_hz=FS,
                                                 flags=wire.FLAG_END_OF_BURST)))
                while pull.poll(0):
                    f = wire.decode(pull.recv())
                    got += len(f.samples)
                    ends += bool(f.flags & wire.FLAG_END_OF_BURST)
            while ends < n_bursts:
                f = wire.decode(pull.recv())
                got += len(f.samples)
                ends += bool(f.flags & wire.FLAG_END_OF_BURST)
            t_srv = time.perf_counter() - t0
            ctx.destroy(linger=0)

        ch = Link.from_config(cfg.links[0], FS, 0.0, np.random.default_rng(0)).channel
        assert isinstance(ch, ChannelStream)
        x = np.zeros(1 << 16, np.complex64)
        n_base = int(a.baseline_s * FS)
        t0 = time.perf_counter()
        done = 0
        while done < n_base:
            ch.process(x)
            done += x.shape[0]
        t_base = (time.perf_counter() - t0) * (n_bursts * FS) / done
        ch.close()
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print(f"pass: {a.minutes:g} min at {FS / 1e6:g} MSPS, {n_bursts} bursts of {n_burst} samples"
          f"{', ' + a.ntn_tdl if a.ntn_tdl else ''}")
    print(f"  samples computed: {computed} (bursts + tails) of {int(n_bursts * FS)} in the pass; server output {got}")
    print(f"  in process (Link.accept):      {t_link:7.2f} s")
    print(f"  through EmulatorServer (ipc):  {t_srv:7.2f} s")
    print(f"  streaming the pass (baseline): {t_base:7.2f} s (extrapolated from {done / FS:.1f} s of it)")
    print(f"  ratio baseline / in process: {t_base / t_link:.1f}x, baseline / server: {t_base / t_srv:.1f}x")
    return 0 if got == computed else 1


if __name__ == "__main__":
    sys.exit(main())
