"""Emulator throughput: compiled kernel vs NumPy twin, through ZeroMQ, on one link.

The link applies a fractional, time-varying delay (550 km pass, 200 s before culmination: ~44 kHz
Doppler at 2 GHz), path loss and AWGN at the sample rate of a Pluto at full speed (61.44 MSPS). A TX
thread pushes raw cf32 messages into the emulator (PUSH -> PULL), an RX thread pulls the output
(PUSH -> PULL); the emulator's output policy is ``block``, so no sample may be lost - the script checks
samples in == samples out == samples sent and prints the lost count.

Printed, each against a baseline measured in the same run (the machine may be shared: ratios are
the comparable numbers, and the load average is printed):

* the channel alone (ChannelStream.process): compiled kernel vs its NumPy twin, MSPS and CPU time per
  sample; 1 vs 2 threads (``threads``: output ranges computed at once); NTN-TDL-C with fading (7 paths:
  LOS + two Rayleigh taps of 3 sinusoids) vs the one-path link;
* GNU Radio's ``channels.channel_model`` (AWGN + frequency offset + fractional resampler, no
  time-varying delay) in a subprocess of the system Python (``/usr/bin/python3``, Debian's
  ``gnuradio``), when ``import gnuradio`` works there; otherwise a line saying it could not;
* end to end through ZeroMQ (raw cf32, PUSH -> emulator -> PUSH), compiled and twin, zero loss checked.

Targets (issue 14): 61.44 MSPS end to end with zero loss and >= 100 MSPS channel alone on one core;
2 threads >= 1.8x 1 thread; NTN-TDL-C >= 15 MSPS; >= 3x GNU Radio's channel_model.
Run: ``python bench/bench_emulator.py [--seconds S] [--chunk N] [--scaling-chunks N ...]``.

Instruction counts (repeatable on a loaded machine): ``--fixed N`` only pushes N samples through the
channel (compiled kernel, no timing, no ZeroMQ); run it under callgrind twice with different N and
divide the difference of the totals by the difference of N (PYTHONHASHSEED=0: hash randomisation
moves the Python part by tens of instructions per sample; valgrind runs the AVX2 code path)::

    export PYTHONHASHSEED=0
    valgrind --tool=callgrind --callgrind-out-file=cg.a python bench/bench_emulator.py --fixed 131072
    valgrind --tool=callgrind --callgrind-out-file=cg.b python bench/bench_emulator.py --fixed 393216
    # (total(cg.b) - total(cg.a)) / 262144 = instructions per sample (callgrind_annotate prints totals)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
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


def _config(chunk, threads, transport="tcp"):
    if transport == "ipc":
        base = f"ipc://{tempfile.gettempdir()}/hil-bench-{os.getpid()}-{threads}"
        addrs = (base + "-tx", base + "-rx")
    else:
        addrs = ("tcp://127.0.0.1:*", "tcp://127.0.0.1:*")
    return parse(EmulatorConfig, {
        "name": "bench", "sample_rate_hz": FS, "epoch_s": -200.0, "seed": 1,
        "endpoints": [
            {"name": "tx", "address": addrs[0], "pattern": "pull", "hwm": 8},
            {"name": "rx", "address": addrs[1], "pattern": "push", "hwm": 8,
             "buffer_samples": 8 * chunk},
        ],
        "links": [{"name": "dl", "source": "tx", "sink": "rx", "carrier_hz": FC, "gain_db": 160.0,
                   "noise_dbfs": -30.0, "threads": threads,
                   "trajectory": [{"kind": "circular", "offset_deg": 3.0}]}],
    })


def ntn_tdl_c_paths():
    """NTN-TDL-C, 100 ns delay spread, 100 Hz fading with 3 sinusoids per Rayleigh tap: 7 paths
    (LOS + 3 at delay 0, 3 at 14.8 x 100 ns)."""
    from hil.emulator.ntn_tdl import ntn_tdl_paths

    return ntn_tdl_paths("C", 100e-9, FS, np.random.default_rng(1), max_doppler_hz=100.0, sinusoids=3)


class _TimedPool:
    """Wraps a ChannelStream's kernel pool: the calling thread's CPU time from each call's start to its
    finish (its ranges, and the next coefficients it computes while the workers run - work the pool
    balances, not serial)."""

    def __init__(self, pool):
        self.pool, self.cpu, self._c = pool, 0.0, None

    def start(self, *args):
        self._c = time.thread_time()
        r = self.pool.start(*args)
        if r is not None:
            self.cpu += time.thread_time() - self._c
        return r

    def finish(self):
        try:
            return self.pool.finish()
        finally:
            self.cpu += time.thread_time() - self._c

    def close(self):
        self.pool.close()


def predicted_speedup(one_cpu, many_cpu, serial_ns, threads):
    """Wall speed-up on idle cores: the pool hands ranges out as threads come free, so the parallel
    CPU (all threads' CPU less the calling thread's serial part) is shared evenly."""
    return one_cpu / (serial_ns + (many_cpu - serial_ns) / threads)


def channel_only(kernel, seconds, chunk, threads=0, paths=None):
    """(MSPS, CPU ns per sample) of ChannelStream.process alone (fractional delay + Doppler + path loss
    + AWGN); the CPU time counts every thread of the process."""
    prof = LinkProfile(CircularPass(550e3, FC, offset_deg=3.0), 160.0)
    cs = ChannelStream(FS, FC, prof, paths=paths, noise_power=1e-3, rng=1, epoch=-200.0, threads=threads)
    cs._kernel = kernel
    x = (0.1 * np.exp(2j * np.pi * 0.01 * np.arange(chunk))).astype(np.complex64)
    out = np.empty(chunk, np.complex64)
    cs.process(x, out=out)
    timed = _TimedPool(cs._pool) if cs._pool is not None else None
    if timed is not None:
        cs._pool = timed
    n, t0, c0, m0 = 0, time.perf_counter(), time.process_time(), time.thread_time()
    while time.perf_counter() - t0 < seconds:
        cs.process(x, out=out)
        n += chunk
    msps = n / (time.perf_counter() - t0) / 1e6
    cpu_ns = (time.process_time() - c0) / n * 1e9
    channel_only.main_ns = (time.thread_time() - m0) / n * 1e9  # the calling thread's share
    # the calling thread's CPU outside the pool's calls: the serial part (Python around the kernel)
    channel_only.serial_ns = channel_only.main_ns - (timed.cpu / n * 1e9 if timed is not None else 0.0)
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


def _thread_cpu_s(native_id):
    """CPU time (user + system, s) of one thread of this process, from /proc (Linux); None elsewhere."""
    try:
        with open(f"/proc/self/task/{native_id}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def through_zmq(kernel, n_total, chunk, threads=0, transport="tcp"):
    """End-to-end MSPS through the emulator; returns (msps, sent, received, link status, emulator-thread
    CPU ns per sample or None). The emulator's loop thread is "the one core" of the target: its CPU
    time excludes the sender, the receiver and ZeroMQ's I/O threads."""
    emu = EmulatorServer(_config(chunk, threads, transport))
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
        emu_tid = getattr(emu._thread, "native_id", None)
        e0 = _thread_cpu_s(emu_tid)
        t0 = time.perf_counter()
        sent = 0
        while sent < n_total:
            push.send(x, copy=False)
            sent += chunk
        done.wait(120)
        elapsed = time.perf_counter() - t0
        e1 = _thread_cpu_s(emu_tid)
        th.join(5)
        st = emu.status()["links"]["dl"]
        push.close(0)
        pull.close(0)
    ctx.term()
    emu_ns = (e1 - e0) / max(got[0], 1) * 1e9 if e0 is not None and e1 is not None else None
    return got[0] / elapsed / 1e6, sent, got[0], st, emu_ns


_GR_SCRIPT = r"""
import json, os, sys, time
import numpy as np
from gnuradio import blocks, channels, gr
n, chunk = int(sys.argv[1]), int(sys.argv[2])
fs, doppler = float(sys.argv[3]), float(sys.argv[4])
x = (0.1 * np.exp(2j * np.pi * 0.01 * np.arange(chunk))).astype(np.complex64)
tb = gr.top_block()
src = blocks.vector_source_c(x.tolist(), True)
# AWGN (-30 dBFS) + frequency offset (the link's Doppler) + fractional resampler (epsilon: time
# compression of the same Doppler); one unit tap.
ch = channels.channel_model(noise_voltage=10 ** (-30 / 20), frequency_offset=doppler / fs,
                            epsilon=1.0 + doppler / 2e9, taps=[1.0 + 0j], noise_seed=1)
head = blocks.head(gr.sizeof_gr_complex, n)
tb.connect(src, ch, head, blocks.null_sink(gr.sizeof_gr_complex))
c0, t0 = os.times(), time.perf_counter()
tb.run()
dt, c1 = time.perf_counter() - t0, os.times()
cpu = (c1.user - c0.user) + (c1.system - c0.system)
print(json.dumps({"version": gr.version(), "msps": n / dt / 1e6, "cpu_ns": cpu / n * 1e9}))
"""


def gnuradio_channel_model(n, chunk, python="/usr/bin/python3", doppler=44028.0):
    """GNU Radio's channels.channel_model run by the system Python: (result dict or None, message)."""
    if not os.path.exists(python):
        return None, f"GNU Radio not measured: {python} does not exist"
    probe = subprocess.run([python, "-c", "import gnuradio"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        return None, (f"GNU Radio not measured: `import gnuradio` fails in {python} "
                      f"({probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else 'no module'}); "
                      "install Debian's gnuradio to compare")
    try:
        r = subprocess.run([python, "-c", _GR_SCRIPT, str(n), str(chunk), str(FS), str(doppler)],
                           capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return None, "GNU Radio not measured: the flowgraph did not finish in 300 s"
    if r.returncode != 0:
        tail = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit status {r.returncode}"
        return None, f"GNU Radio not measured: the flowgraph failed ({tail})"
    return json.loads(r.stdout.strip().splitlines()[-1]), ""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="duration of each channel-only measurement")
    ap.add_argument("--samples", type=int, default=1 << 23, help="samples sent through ZMQ (compiled run)")
    ap.add_argument("--chunk", type=int, default=1 << 16, help="samples per ZMQ message")
    ap.add_argument("--threads", type=int, default=2, help="threads of the threaded runs (compared with 1)")
    ap.add_argument("--scaling-chunks", type=int, nargs="*", default=[1 << 18, 1 << 20], metavar="N",
                    help="further chunk sizes of the 1 vs N threads comparison (sync cost per chunk)")
    ap.add_argument("--gr-samples", type=int, default=1 << 25, help="samples through GNU Radio's channel_model")
    ap.add_argument("--no-gnuradio", action="store_true", help="skip the GNU Radio comparison")
    ap.add_argument("--fixed", type=int, default=0, metavar="N",
                    help="only run N samples through the compiled channel (a workload for callgrind) and exit")
    ap.add_argument("--no-noise", action="store_true", help="with --fixed: leave the noise out")
    args = ap.parse_args(argv)
    if args.fixed:
        fixed_workload(args.fixed, args.chunk, noise=not args.no_noise)
        return 0
    compiled, twin = load_compiled("_delayline"), load_twin("_delayline")
    isa = compiled.isa() if hasattr(compiled, "isa") else "?"
    print(f"one link at {FS / 1e6:.2f} MSPS: fractional delay (550 km pass) + Doppler + path loss + AWGN; "
          f"chunk {args.chunk} samples; kernel code path {isa}; {os.cpu_count()} CPU(s), "
          f"load {os.getloadavg()[0]:.1f} at start")
    c_ch, c_cpu = channel_only(compiled, args.seconds, args.chunk)
    t_ch, t_cpu = channel_only(twin, args.seconds, args.chunk)
    print(f"channel only   compiled {c_ch:8.2f} MSPS   numpy twin {t_ch:8.2f} MSPS   ratio {c_ch / t_ch:6.1f}x")
    print(f"  CPU time per sample (all threads): compiled {c_cpu:.2f} ns, twin {t_cpu:.1f} ns "
          f"(ratio {t_cpu / c_cpu:.1f}x); one idle core at this CPU cost gives {1e3 / c_cpu:.1f} MSPS "
          f"(target >= 100)")
    one, one_cpu = channel_only(compiled, args.seconds, args.chunk, threads=1)
    many, many_cpu = channel_only(compiled, args.seconds, args.chunk, threads=args.threads)
    main_ns = channel_only.main_ns
    workers_ns = (many_cpu - main_ns) / max(args.threads - 1, 1)
    print(f"threads        1 thread {one:8.2f} MSPS   {args.threads} threads {many:8.2f} MSPS   "
          f"ratio {many / one:5.2f}x (target >= 1.8x on {args.threads} idle cores; wall depends on free cores)")
    serial_ns = channel_only.serial_ns
    print(f"  CPU ns/sample: 1 thread {one_cpu:.2f}; {args.threads} threads {many_cpu:.2f} in all = calling thread "
          f"{main_ns:.2f} (of which {serial_ns:.2f} serial, outside the kernel) + {args.threads - 1} worker(s) "
          f"{workers_ns:.2f} each; the ranges go to whichever thread is free, so on idle cores: predicted "
          f"{predicted_speedup(one_cpu, many_cpu, serial_ns, args.threads):.2f}x")
    # The same at larger chunks: the per-call costs (Python around the kernel, waking the workers,
    # waiting for the last range) shrink per sample, so the gap to the chunk above is what they cost.
    for big in args.scaling_chunks:
        if big == args.chunk:
            continue
        b1, b1_cpu = channel_only(compiled, args.seconds, big, threads=1)
        bn, bn_cpu = channel_only(compiled, args.seconds, big, threads=args.threads)
        b_main, b_serial = channel_only.main_ns, channel_only.serial_ns
        b_work = (bn_cpu - b_main) / max(args.threads - 1, 1)
        print(f"  chunk {big:>8}: 1 thread {b1:8.2f} MSPS, {args.threads} threads {bn:8.2f} MSPS, ratio "
              f"{bn / b1:5.2f}x; CPU ns/sample 1 thread {b1_cpu:.2f}, {args.threads} threads {bn_cpu:.2f} = "
              f"calling {b_main:.2f} (serial {b_serial:.2f}) + worker(s) {b_work:.2f} each: predicted "
              f"{predicted_speedup(b1_cpu, bn_cpu, b_serial, args.threads):.2f}x")
    ntn = ntn_tdl_c_paths()
    n_ch, n_cpu = channel_only(compiled, args.seconds, args.chunk, paths=ntn)
    print(f"NTN-TDL-C      {len(ntn)} paths {n_ch:8.2f} MSPS, {n_cpu:.2f} ns CPU/sample = {1e3 / n_cpu:.1f} MSPS "
          f"per core (target >= 15); cost vs one path {n_cpu / c_cpu:.2f}x")
    if args.no_gnuradio:
        print("GNU Radio      not measured (--no-gnuradio)")
    else:
        g, msg = gnuradio_channel_model(args.gr_samples, args.chunk)
        if g is None:
            print(msg)
        else:
            print(f"GNU Radio {g['version']} channels.channel_model {g['msps']:8.2f} MSPS (wall, its blocks on "
                  f"threads), {g['cpu_ns']:.1f} ns CPU/sample; emulator channel / channel_model: "
                  f"{c_ch / g['msps']:.1f}x MSPS, {g['cpu_ns'] / c_cpu:.1f}x CPU per sample (target >= 3x)")
    n_twin = max(args.chunk, int(args.samples * t_ch / max(c_ch, 1e-9)) // args.chunk * args.chunk)
    runs = [("compiled tcp", compiled, args.samples, 0, "tcp"), ("compiled ipc", compiled, args.samples, 0, "ipc"),
            (f"compiled tcp {args.threads} threads", compiled, args.samples, args.threads, "tcp"),
            ("twin tcp", twin, n_twin, 0, "tcp")]
    res = {}
    for name, kern, n, thr, tr in runs:
        c0 = time.process_time()
        msps, sent, got, st, emu_ns = through_zmq(kern, n, args.chunk, thr, tr)
        res[name] = (msps, sent, got, st, (time.process_time() - c0) / max(sent, 1) * 1e9, emu_ns)
    print("through ZMQ    (raw cf32, PUSH -> emulator -> PUSH; the sender and receiver run in this process "
          "too: 'process' CPU counts them and ZeroMQ's I/O threads, 'loop' is the emulator thread alone)")
    for name, (msps, sent, got, st, cpu, emu_ns) in res.items():
        loop = f"{emu_ns:6.1f} ns loop ({1e3 / emu_ns:6.1f} MSPS/core)" if emu_ns else "loop CPU n/a"
        print(f"  {name:<24} {msps:8.2f} MSPS  {cpu:6.1f} ns process, {loop} CPU/sample; sent {sent} "
              f"received {got} lost {sent - got} (emulator in {st['samples_in']}, out {st['samples_out']}, "
              f"dropped {st['samples_dropped']})")
    st = res["compiled tcp"][3]
    print(f"  link state at the end: Doppler {st['doppler_hz']:.0f} Hz, delay {st['delay_s'] * 1e3:.4f} ms, "
          f"path loss {st['path_loss_db']:.1f} dB; compiled / twin over tcp: "
          f"{res['compiled tcp'][0] / res['twin tcp'][0]:.1f}x")
    best = max((v[0] for k, v in res.items() if k.startswith("compiled") and v[1] == v[2]), default=0.0)
    loop = res["compiled tcp"][5]
    if loop:
        print(f"  the emulator loop thread alone (tcp, 0 threads) needs {loop:.1f} ns CPU per sample: one idle core "
              f"would carry {1e3 / loop:.1f} MSPS (target 61.44)")
    verdict = "meets" if best >= 61.44 else "does NOT meet"
    print(f"target 61.44 MSPS with zero loss: best compiled {best:.2f} MSPS {verdict} it here "
          f"({os.cpu_count()} CPU(s), load {os.getloadavg()[0]:.1f} at the end)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
