"""Emulator throughput: compiled kernel vs NumPy twin, through ZeroMQ, on one link.

The link applies a fractional, time-varying delay (550 km pass, 200 s before culmination: ~44 kHz
Doppler at 2 GHz), path loss and AWGN at the sample rate of a Pluto at full speed (61.44 MSPS). A TX
thread pushes raw cf32 messages into the emulator (PUSH -> PULL), an RX thread pulls the output
(PUSH -> PULL); the emulator's output policy is ``block``, so no sample may be lost - the script checks
samples in == samples out == samples sent and prints the lost count.

Printed: MSPS of the channel alone (ChannelStream.process) and end to end through ZeroMQ, for the
compiled kernel and the NumPy twin measured in the same run, and their ratio. The target is 61.44 MSPS
end to end with zero samples lost. Run: ``python bench/bench_emulator.py [--seconds S] [--chunk N]``.

Instruction counts (repeatable on a loaded machine): ``--fixed N`` only pushes N samples through the
channel (compiled kernel, no timing, no ZeroMQ); run it under callgrind twice with different N and
divide the difference of the totals by the difference of N::

    valgrind --tool=callgrind --callgrind-out-file=cg.a python bench/bench_emulator.py --fixed 131072
    valgrind --tool=callgrind --callgrind-out-file=cg.b python bench/bench_emulator.py --fixed 393216
    # (total(cg.b) - total(cg.a)) / 262144 = instructions per sample (callgrind_annotate prints totals)
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

import numpy as np
import zmq

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dsp._kernels import load_compiled, load_twin  # noqa: E402
from dsp.delay import ChannelStream  # noqa: E402
from hil.config import parse  # noqa: E402
from hil.emulator.config import EmulatorConfig  # noqa: E402
from hil.emulator.server import EmulatorServer  # noqa: E402
from hil.emulator.trajectory import CircularPass, LinkProfile  # noqa: E402

FS = 61.44e6
FC = 2.0e9


def _config(chunk, threads):
    return parse(EmulatorConfig, {
        "name": "bench", "sample_rate_hz": FS, "epoch_s": -200.0, "seed": 1,
        "endpoints": [
            {"name": "tx", "address": "tcp://127.0.0.1:*", "pattern": "pull", "hwm": 8},
            {"name": "rx", "address": "tcp://127.0.0.1:*", "pattern": "push", "hwm": 8,
             "buffer_samples": 8 * chunk},
        ],
        "links": [{"name": "dl", "source": "tx", "sink": "rx", "carrier_hz": FC, "gain_db": 160.0,
                   "noise_dbfs": -30.0, "threads": threads,
                   "trajectory": [{"kind": "circular", "offset_deg": 3.0}]}],
    })


def channel_only(kernel, seconds, chunk, threads=0):
    """MSPS of ChannelStream.process alone (fractional delay + Doppler + path loss + AWGN)."""
    prof = LinkProfile(CircularPass(550e3, FC, offset_deg=3.0), 160.0)
    cs = ChannelStream(FS, FC, prof, noise_power=1e-3, rng=1, epoch=-200.0, threads=threads)
    cs._kernel = kernel
    x = (0.1 * np.exp(2j * np.pi * 0.01 * np.arange(chunk))).astype(np.complex64)
    cs.process(x)
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < seconds:
        cs.process(x)
        n += chunk
    msps = n / (time.perf_counter() - t0) / 1e6
    cpu_ns = (time.process_time() - c0) / n * 1e9
    cs.close()
    return msps, cpu_ns


def fixed_workload(n, chunk, noise=True):
    """Push ``n`` samples (whole chunks) through the compiled channel once: the callgrind workload."""
    prof = LinkProfile(CircularPass(550e3, FC, offset_deg=3.0), 160.0)
    cs = ChannelStream(FS, FC, prof, noise_power=1e-3 if noise else 0.0, rng=1, epoch=-200.0)
    cs._kernel = load_compiled("_delayline")
    x = (0.1 * np.exp(2j * np.pi * 0.01 * np.arange(chunk))).astype(np.complex64)
    out = np.empty(chunk, np.complex64)
    for _ in range(max(1, n // chunk)):
        cs.process(x, out=out)
    return out


def through_zmq(kernel, n_total, chunk, threads=0):
    """End-to-end MSPS through the emulator; returns (msps, sent, received, link status)."""
    emu = EmulatorServer(_config(chunk, threads))
    emu.links["dl"].channel._kernel = kernel
    ctx = zmq.Context()
    x = (0.1 * np.exp(2j * np.pi * 0.01 * np.arange(chunk))).astype(np.complex64).tobytes()
    got = [0]
    done = threading.Event()
    with emu:
        push = ctx.socket(zmq.PUSH)
        push.sndhwm = 8
        push.connect(emu.address("tx"))
        pull = ctx.socket(zmq.PULL)
        pull.rcvhwm = 8
        pull.rcvtimeo = 20000
        pull.connect(emu.address("rx"))

        def rx():
            try:
                while got[0] < n_total:
                    got[0] += len(pull.recv(copy=False).buffer) // 8
            except zmq.Again:
                pass
            done.set()

        th = threading.Thread(target=rx, daemon=True)
        th.start()
        t0 = time.perf_counter()
        sent = 0
        while sent < n_total:
            push.send(x, copy=False)
            sent += chunk
        done.wait(120)
        elapsed = time.perf_counter() - t0
        th.join(5)
        st = emu.status()["links"]["dl"]
        push.close(0)
        pull.close(0)
    ctx.term()
    return got[0] / elapsed / 1e6, sent, got[0], st


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="duration of each channel-only measurement")
    ap.add_argument("--samples", type=int, default=1 << 23, help="samples sent through ZMQ (compiled run)")
    ap.add_argument("--chunk", type=int, default=1 << 16, help="samples per ZMQ message")
    ap.add_argument("--threads", type=int, default=min(4, max(1, (os.cpu_count() or 2) - 1)),
                    help="kernel worker threads of the threaded compiled run")
    ap.add_argument("--fixed", type=int, default=0, metavar="N",
                    help="only run N samples through the compiled channel (a workload for callgrind) and exit")
    ap.add_argument("--no-noise", action="store_true", help="with --fixed: leave the noise out")
    args = ap.parse_args(argv)
    if args.fixed:
        fixed_workload(args.fixed, args.chunk, noise=not args.no_noise)
        return 0
    compiled, twin = load_compiled("_delayline"), load_twin("_delayline")
    print(f"one link at {FS / 1e6:.2f} MSPS: fractional delay (550 km pass) + Doppler + path loss + AWGN; "
          f"chunk {args.chunk} samples")
    (c_ch, c_cpu), (t_ch, t_cpu) = channel_only(compiled, args.seconds, args.chunk), \
        channel_only(twin, args.seconds, args.chunk)
    m_ch, _ = channel_only(compiled, args.seconds, args.chunk, args.threads)
    print(f"channel only   compiled {c_ch:8.2f} MSPS   numpy twin {t_ch:8.2f} MSPS   ratio {c_ch / t_ch:6.1f}x   "
          f"compiled, {args.threads} worker thread(s) {m_ch:8.2f} MSPS")
    print(f"  CPU time per sample (load-independent): compiled {c_cpu:.1f} ns, twin {t_cpu:.1f} ns "
          f"(ratio {t_cpu / c_cpu:.1f}x); one idle core at this CPU cost gives {1e3 / c_cpu:.1f} MSPS")
    n_twin = max(args.chunk, int(args.samples * t_ch / max(c_ch, 1e-9)) // args.chunk * args.chunk)
    c_z, c_sent, c_got, c_st = through_zmq(compiled, args.samples, args.chunk)
    t_z, t_sent, t_got, t_st = through_zmq(twin, n_twin, args.chunk)
    m_z, m_sent, m_got, m_st = through_zmq(compiled, args.samples, args.chunk, args.threads)
    print(f"through ZMQ    compiled {c_z:8.2f} MSPS   numpy twin {t_z:8.2f} MSPS   ratio {c_z / t_z:6.1f}x   "
          f"compiled, {args.threads} worker thread(s) {m_z:8.2f} MSPS")
    for name, sent, got, st in (("compiled", c_sent, c_got, c_st), ("twin", t_sent, t_got, t_st),
                                (f"compiled x{args.threads}", m_sent, m_got, m_st)):
        lost = sent - got
        print(f"  {name:<8} sent {sent} received {got} lost {lost} (emulator in {st['samples_in']}, "
              f"out {st['samples_out']}, dropped {st['samples_dropped']}); Doppler {st['doppler_hz']:.0f} Hz, "
              f"delay {st['delay_s'] * 1e3:.4f} ms, path loss {st['path_loss_db']:.1f} dB")
    best = max(c_z if c_sent == c_got else 0.0, m_z if m_sent == m_got else 0.0)
    verdict = "meets" if best >= 61.44 else "does NOT meet"
    print(f"target 61.44 MSPS with zero loss: best compiled {best:.2f} MSPS {verdict} it here "
          f"({os.cpu_count()} CPU(s), load {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
