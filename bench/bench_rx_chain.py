"""Receive-chain cost per stage (ns per sample) and real-time factor, per waveform (issue 16).

    python bench/bench_rx_chain.py                       # OTFS + AFDM + OFDM, MP and MRC; ~1-2 min
    python bench/bench_rx_chain.py --quick               # fewer frames, a smoke run
    python bench/bench_rx_chain.py --waveform otfs --profile A --snr 18
    python bench/bench_rx_chain.py --demo-chain          # the demo's tracker chain, compiled vs NumPy twins

**Scenario** (defaults): 30.72 MSPS (an NR 30.72 MHz sampling rate), NTN-TDL-C (3GPP TR 38.811 LOS
profile) with 100 ns delay spread (taps at 0 and 45.5 samples) and 300 Hz maximum residual Doppler
(terminal motion after bulk Doppler pre-compensation), a new fade every frame, 15 dB Es/N0, 4-QAM.
OTFS 512 x 32 (one 48-sample CP per frame, Raviteja 2019 embedded pilot with guard l_max = 48,
k_max = 2), AFDM N = 16384 (Bemani 2023 pilot, l_max = 48, alpha_max = 1, k_v = 1), OFDM 512 x 32
(CP 48 per symbol, pilot lattice every 8th subcarrier of every 4th symbol) for reference. Each frame is
preceded by the m-sequence preamble of :mod:`dsp.sync` and arrives with a random common phase.

**Stages** (timed one by one per frame; median over frames; ns per received sample of the frame):

* ``gain``: per-frame complex gain/phase from the preamble correlation, applied to the frame body;
* ``demod``: ``modem.demodulate_grid`` (time -> delay-Doppler / DAFT / OFDM grid);
* ``estim``: delay-Doppler channel estimation from the embedded pilot (``dsp.estimation.estimate_paths``;
  OFDM: ``estimate_one_tap`` on the pilot lattice);
* ``detect``: MP or MRC (``dsp.detection``; OFDM: one-tap equalisation);
* ``bits``: hard decisions to bits (dd engine: inside ``detect_bits``, so counted in ``detect``).

Stage times are CPU time of the thread (``time.thread_time``: the cost on one core, not inflated when
other processes hold the CPUs); each frame runs 3 times, a stage's time is the fastest of the 3, and the
table shows the median over frames.

Tracking/timing (``dsp.tracking.DopplerTracker``, run once per stream rather than per frame) is measured
separately by ``--demo-chain``; docs/rx_cost.md lists both.

**Baseline in the same run**: every OTFS/AFDM configuration runs twice on the same frames - with the
detectors' previous float64 factor-graph engine and the previous bit decoding (``engine="graph"``, demap of
the output grid: the receiver as it was before issue 16) and with the diagonal float32 engine
(``engine="dd"``) - and prints the ratio. The machine is shared: the load average is printed, and the
ratio is the number to read.

**Real time**: a radio at ``fs`` delivers ``fs`` samples/s; the chain's real-time factor is its
throughput over ``fs``. ``--slow-factor`` (default 5) scales the time to a slower core: the fog node's
Jetson Xavier NX Carmel core. That factor is an assumption, not a measurement: AnandTech's Xavier AGX
review (2018, "NVIDIA Xavier AGX hands-on: Carmel and more", SPEC2006) puts Carmel at 2.26 GHz near Arm
Cortex-A75 level; the NX runs it at 1.4-1.9 GHz, with 128-bit NEON against this machine's 256-bit AVX2
and a ~3.5 GHz Zen 4 core. 4-8x is the plausible range; rerun with --slow-factor to taste.

``--threads N`` also times the detection stage of the whole frame set through ``detect_many`` on 1 and N
threads (speed-up of the detection stage: the frame set repeated to ~0.5 s of one-thread work, 1 and N
threads interleaved, median and spread of 5 runs; results compared; with the CPU split of the N-thread runs:
process CPU over wall time, and the share of it not on the calling thread), and measures the share ``p`` of the
detection time spent inside the kernels, which run without the GIL, and Amdahl's prediction for N idle
cores, ``1 / ((1 - p) + p / N)`` (the GIL-held part serial) - a load-independent figure; the wall-clock
ratio on a loaded shared machine is not. ``p`` counts the kernels' argument checks (GIL held) as free.

Every run of a frame starts without the detector's channel caches (a receiver sees a new channel every
frame), so ``detect`` includes building and expanding the diagonals.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

STAGES = ("gain", "demod", "estim", "detect", "bits")
# CPU time of the calling thread: what a stage costs one core, not inflated by other processes' load
_clock = time.thread_time


# --------------------------------------------------------------------------------------------- frames
def make_setup(kind: str, a):
    from dsp.estimation import afdm_pilot_layout, otfs_pilot_layout
    from dsp.waveforms import AfdmModem, OfdmModem, OtfsModem

    if kind == "otfs":
        modem = OtfsModem(a.M, a.N, 4, cp_len=a.cp)
        layout = otfs_pilot_layout(modem, l_max=a.cp, k_max=2)
        layout.apply(modem)
    elif kind == "afdm":
        modem = AfdmModem(a.M * a.N, 4, alpha_max=1, l_max=a.cp, k_v=1)
        layout = afdm_pilot_layout(modem)
        layout.apply(modem)
    else:
        modem = OfdmModem(a.M, a.N, 4, cp_len=a.cp)
        modem.set_pilots(df=8, dt=4)
        layout = None
    return modem, layout


def make_frames(modem, a, n_frames: int, seed: int):
    """Received frames (preamble + body, complex64) over independent NTN-TDL fades, with their bits."""
    from dsp.channel import DoublyDispersiveChannel
    from dsp.sync import Preamble
    from hil.emulator.ntn_tdl import ntn_tdl_paths

    rng = np.random.default_rng(seed)
    pre = Preamble().samples.astype(np.complex64)
    nv_s = modem.noise_var_per_sample(a.snr)
    out = []
    for _ in range(n_frames):
        bits = rng.integers(0, 2, modem.bits_per_frame, dtype=np.uint8)
        tx = np.concatenate([pre, modem.modulate(bits)])
        ch = DoublyDispersiveChannel(ntn_tdl_paths(a.profile, a.ds, a.fs, rng, max_doppler_hz=a.fd))
        rx = ch.apply(tx) * np.exp(2j * np.pi * rng.uniform())
        rx += math.sqrt(nv_s / 2) * (rng.standard_normal(rx.size) + 1j * rng.standard_normal(rx.size))
        out.append((bits, rx.astype(np.complex64)))
    return out, pre


# --------------------------------------------------------------------------------------------- chain
class Chain:
    """One receiver configuration; ``run(rx)`` times each stage and returns (bits, {stage: seconds})."""

    def __init__(self, modem, layout, pre, detector: str | None, engine: str, a):
        from dsp.detection import make_detector

        self.modem, self.layout, self.pre, self.engine = modem, layout, pre, engine
        self.nv = 10 ** (-a.snr / 10)
        self.np_ = pre.size
        self.pconj = np.conj(pre)
        self.pe = float(np.vdot(pre, pre).real)
        self.mask = np.asarray(modem.data_mask, bool)
        self.threshold = a.threshold
        self.prune = {"max_paths": a.max_paths, "min_rel_db": a.min_rel_db}
        self.det = None
        if detector is not None:
            kw = {"engine": engine}
            if detector == "mp":
                kw.update(stall_iter=a.stall, max_iter=a.max_iter)
            self.det = make_detector(detector, modem, **kw)

    def gain(self, rx):
        g = complex(np.dot(rx[:self.np_], self.pconj)) / self.pe
        return (rx[self.np_:] * np.complex64(1.0 / g)), self.nv / (abs(g) ** 2)

    def run(self, rx):
        from dsp.detection.lmmse import nearest
        from dsp.estimation import estimate_paths

        m = self.modem
        t = {}
        t0 = _clock()
        body, nv = self.gain(rx)
        t1 = _clock()
        Y = m.demodulate_grid(body)
        t2 = _clock()
        if self.layout is not None:
            paths = estimate_paths(Y, self.layout, nv, m, threshold=self.threshold, **self.prune)
            t3 = _clock()
            if self.engine == "graph":
                grid = self.det.detect(Y, paths, nv)
                t4 = _clock()
                bits = m.qam.demap_hard(grid[self.mask])              # the decoding before issue 16
            else:
                # what a receiver calls: bits straight from the decisions (MRC: one kernel call per frame),
                # so the bits stage is part of detect here
                bits = self.det.detect_bits(Y, paths, nv)
                t4 = _clock()
            t5 = _clock()
            self.last_paths = paths
        else:
            H = m.estimate_one_tap(Y)
            t3 = _clock()
            Z = m.equalize_one_tap(Y, H, nv)
            t4 = _clock()
            bits = m.qam.demap_hard(m.qam.constellation[nearest(Z[self.mask], m.qam.constellation)])
            t5 = _clock()
        for name, a, b in zip(STAGES, (t0, t1, t2, t3, t4), (t1, t2, t3, t4, t5)):
            t[name] = b - a
        return bits, t


def profile(chain, frames, repeats: int = 3):
    """Per stage: the fastest of ``repeats`` runs of each frame (the least disturbed by other load), then
    the median over frames; BER, mean estimated paths and detector iterations."""
    per = {s: [] for s in STAGES}
    errs = nbits = 0
    paths = []
    iters = []
    chain.run(frames[0][1])                       # warm-up (caches, first-call costs)
    for bits, rx in frames:
        best = None
        for _ in range(repeats):
            if chain.det is not None:
                # a new channel every frame: no run may reuse the previous run's diagonals or graph
                chain.det._dd_cache = chain.det._cache = None
            got, t = chain.run(rx)
            best = t if best is None else {s: min(best[s], t[s]) for s in STAGES}
        for s in STAGES:
            per[s].append(best[s])
        errs += int(np.count_nonzero(got != bits))
        nbits += bits.size
        if chain.layout is not None:
            paths.append(chain.last_paths.shape[0])
            iters.append(chain.det.last_iterations)
    n = frames[0][1].size - chain.np_
    med = {s: float(np.median(v)) / n * 1e9 for s, v in per.items()}
    med["total"] = sum(med[s] for s in STAGES)
    return med, errs / nbits, (float(np.mean(paths)) if paths else 0.0), (float(np.mean(iters)) if iters else 0.0)


def thread_scaling(chain, frames, threads: int):
    """Detection stage of the whole frame set through detect_many on 1 and ``threads`` threads."""
    from dsp.estimation import estimate_paths

    grids, paths, nvs = [], [], []
    for _, rx in frames:
        body, nv = chain.gain(rx)
        Y = chain.modem.demodulate_grid(body)
        grids.append(Y)
        paths.append(estimate_paths(Y, chain.layout, nv, chain.modem, threshold=chain.threshold, **chain.prune))
        nvs.append(nv)
    outs = {th: chain.det.detect_many(grids, paths, nvs, threads=th, bits=True) for th in (1, threads)}
    same = all(np.array_equal(x, y) for x, y in zip(outs[1], outs[threads]))
    # the frame set repeated to >= ~0.5 s of one-thread work per run, 1 and N threads interleaved, median of
    # 5 (a run of a few frames is too short to time: thread start-up and the machine's noise dominate)
    t0 = time.perf_counter()
    chain.det.detect_many(grids, paths, nvs, threads=1, bits=True)
    reps = max(1, int(np.ceil(0.5 / max(time.perf_counter() - t0, 1e-6))))
    G, Pp, V = grids * reps, paths * reps, nvs * reps
    runs = {1: [], threads: []}
    cpu = {1: [], threads: []}  # (process CPU, calling thread's CPU) per run: how the work split over threads
    for _ in range(5):
        for th in (1, threads):
            c0, m0, t0 = time.process_time(), _clock(), time.perf_counter()
            chain.det.detect_many(G, Pp, V, threads=th, bits=True)
            runs[th].append(time.perf_counter() - t0)
            cpu[th].append((time.process_time() - c0, _clock() - m0))
    res = {th: float(np.median(v)) for th, v in runs.items()}
    ratios = [a / b for a, b in zip(runs[1], runs[threads])]
    pc, mc = (float(np.median([c[i] for c in cpu[threads]])) for i in (0, 1))
    thread_scaling.spread = (min(ratios), max(ratios), len(G), res[1], res[threads],
                             pc / res[threads], (pc - mc) / pc if pc > 0 else 0.0)
    # share of the detection time spent in the kernels (GIL released) and the bound it sets for `threads`,
    # a load-independent view of what the threads can give (the wall-clock ratio needs idle cores)
    det = chain.det
    k = det._dd_kernel

    class Timed:
        t = 0.0

        def __getattr__(self, name):
            f = getattr(k, name)

            if not callable(f):
                return f

            def call(*args):
                t0 = _clock()
                try:
                    return f(*args)
                finally:
                    Timed.t += _clock() - t0
            return call

    det._dd_kernel = Timed()
    try:
        det._dd_cache = None
        t0 = _clock()
        det.detect_many(grids, paths, nvs, threads=1, bits=True)
        total = _clock() - t0
    finally:
        det._dd_kernel = k
    p = min(Timed.t / total, 1.0)
    # Amdahl: the GIL-held part (1 - p) serial, the kernels spread over N threads: 1 / ((1 - p) + p / N)
    return res[1] / res[threads], same, p, 1.0 / ((1.0 - p) + p / threads)


# --------------------------------------------------------------------------------------------- demo chain
def _demo_stream(kind: str, n_frames: int, fs: float, fc: float, snr_db: float = 15.0):
    """The loop's own frames (dsp.framing: preamble + header + frame, 2x oversampled) in bursts of 4,
    through the emulator's delay line at -40 kHz of Doppler."""
    import math

    from dsp.delay import ChannelStream
    from dsp.framing import FrameFormat, Transmitter, TxSchedule
    from dsp.sync import Preamble
    from dsp.waveforms import make_modem
    from hil.emulator.trajectory import LinearTrajectory

    fmt = FrameFormat(make_modem(kind, 64, 16, 4), Preamble(), 2)
    K = 4
    gap = K * fmt.period + 4000
    sch = TxSchedule(fs, 0.0, fmt.period, K, tuple(b * gap for b in range(math.ceil(n_frames / K))))
    tx = Transmitter(fmt, sch, seed=1)
    x = np.zeros(sch.burst_starts[-1] + sch.burst_length + int(4e-3 * fs), np.complex64)
    for _b, k, burst in tx.bursts():
        x[k:k + burst.size] = burst
    traj = LinearTrajectory(3e-3, -40e3 / fc)
    ch = ChannelStream(fs, fc, traj, noise_power=2 * 10 ** (-snr_db / 10), rng=2)
    return fmt, sch, tx, traj, ch.process(x)


def demo_chain(kind: str, n_frames: int, fs: float, fc: float, repeats: int = 2) -> dict:
    """The loop's receive chain, :class:`dsp.receiver.Receiver` (ephemeris-aided tracking, timing, header,
    the preamble's one-tap gain, demodulation), over the stream in 64 k chunks."""
    from dsp.receiver import Receiver

    fmt, sch, tx, traj, y = _demo_stream(kind, n_frames, fs, fc)

    class _Eph:  # the receiver's prediction: the line itself (this bench times the chain, not the errors)
        def delay(self, t):
            return traj.delay(t)

        def doppler(self, t):
            return -fc * np.asarray(traj.delay_rate(t))

    best = None
    for _ in range(repeats):
        t0 = time.process_time()
        rx = Receiver(fmt, sch, fc, mode="ephemeris", ephemeris=_Eph())
        frames = []
        for a in range(0, y.size, 65536):
            frames += rx.process(a, y[a:a + 65536])
        frames += rx.flush()
        dt = time.process_time() - t0
        best = dt if best is None else min(best, dt)
    ok = [f for f in frames if f.header_ok]
    errs = sum(int(np.count_nonzero(f.bits != tx.bits(f.frame_no))) for f in ok)
    return {"frames": len(ok), "seconds": best, "fps": len(ok) / best, "realtime_fps": fs / fmt.period,
            "bit_errors": errs, "kernel": rx.tracker._kernel.__name__,
            "chain_ns_per_sample": best / rx.samples_received * 1e9}


def main_demo(a):
    if a.child:
        print(json.dumps(demo_chain(a.waveform[0], a.frames, a.fs, a.fc)))
        return 0
    comp = demo_chain(a.waveform[0], a.frames, a.fs, a.fc)
    env = dict(os.environ, HIL_PURE_PYTHON="1")
    cmd = [sys.executable, os.path.abspath(__file__), "--demo-chain", "--child", "--waveform", a.waveform[0],
           "--frames", str(max(20, a.frames // 4)), "--fs", str(a.fs), "--fc", str(a.fc)]
    twin = json.loads(subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout.strip()
                      .splitlines()[-1])
    rt = comp["realtime_fps"]
    print(f"demo RX chain ({a.waveform[0]} 64x16 QPSK, 2x oversampled, {a.fs / 1e6:g} MSPS, frame period "
          f"{a.fs / rt:.0f} samples; real time = {rt:.0f} frames/s)")
    for name, r in (("compiled kernels", comp), ("NumPy twins", twin)):
        print(f"  {name:17s}: {r['fps']:8.0f} frames/s = {r['fps'] / rt:6.2f} x real time ({r['frames']} frames, "
              f"{r['bit_errors']} bit errors, {r['kernel']}); {r['chain_ns_per_sample']:.0f} ns per received sample")
    print(f"  ratio compiled / twins: {comp['fps'] / twin['fps']:.1f}")
    return 0


# --------------------------------------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--waveform", nargs="+", default=["otfs", "afdm", "ofdm"], choices=("otfs", "afdm", "ofdm"))
    ap.add_argument("--detector", nargs="+", default=["mrc", "mp"], choices=("mp", "mrc"))
    ap.add_argument("--frames", type=int, default=10, help="frames per configuration (default 10)")
    ap.add_argument("--fs", type=float, default=30.72e6, help="sample rate, Hz (default 30.72e6)")
    ap.add_argument("--fc", type=float, default=2e9, help="carrier, Hz (demo chain only)")
    ap.add_argument("--M", type=int, default=512)
    ap.add_argument("--N", type=int, default=32)
    ap.add_argument("--cp", type=int, default=48, help="CP length = pilot guard l_max, samples (default 48)")
    ap.add_argument("--profile", default="C", help="NTN-TDL profile A, B, C or D (default C)")
    ap.add_argument("--ds", type=float, default=100e-9, help="delay spread, s (default 100e-9)")
    ap.add_argument("--fd", type=float, default=300.0, help="max residual Doppler, Hz (default 300)")
    ap.add_argument("--snr", type=float, default=15.0, help="Es/N0, dB (default 15)")
    ap.add_argument("--threshold", type=float, default=3.0, help="pilot threshold in noise sigmas (default 3)")
    ap.add_argument("--max-paths", type=int, default=None, help="keep at most this many estimated paths")
    ap.add_argument("--min-rel-db", type=float, default=None,
                    help="keep estimated paths within this many dB of the strongest")
    ap.add_argument("--stall", type=int, default=3, help="MP stall_iter (default 3)")
    ap.add_argument("--max-iter", type=int, default=30, help="MP max_iter (default 30)")
    ap.add_argument("--slow-factor", type=float, default=5.0, help="slower core's time factor (default 5)")
    ap.add_argument("--threads", type=int, default=2, help="detect_many threads to compare with 1 (default 2)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the graph-engine baseline")
    ap.add_argument("--quick", action="store_true", help="4 frames, no baseline for MP")
    ap.add_argument("--json", help="also write the results to this JSON file")
    ap.add_argument("--demo-chain", action="store_true", help="the demo's tracker chain, compiled vs twins")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.demo_chain:
        if a.frames == 10:
            a.frames = 200
        if a.fs == 30.72e6:
            a.fs = 1.92e6
        return main_demo(a)
    if a.quick:
        a.frames = 4
    load = os.getloadavg()
    print(f"RX chain cost per stage: {a.fs / 1e6:g} MSPS, NTN-TDL-{a.profile} DS {a.ds * 1e9:g} ns, residual Doppler "
          f"<= {a.fd:g} Hz, {a.snr:g} dB Es/N0, 4-QAM, {a.frames} frames/config (median); load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs; paths: {a.threshold:g} sigma"
          + (f", within {a.min_rel_db:g} dB of the strongest" if a.min_rel_db is not None else "")
          + (f", at most {a.max_paths}" if a.max_paths is not None else ""))
    print(f"slow core: x{a.slow_factor:g} time (assumed Jetson Xavier NX Carmel vs this core; see the docstring)")
    hdr = (f"{'waveform':8s} {'det':4s} {'engine':6s} " + " ".join(f"{s:>7s}" for s in STAGES)
           + f" {'total':>7s} {'MS/s':>7s} {'xRT':>6s} {'xRT slow':>8s} {'paths':>5s} {'iter':>5s} {'BER':>8s}")
    print("ns per sample (thread CPU time per stage: fastest of 3 runs of each frame, median over frames):")
    print(hdr)
    results = []
    for kind in a.waveform:
        modem, layout = make_setup(kind, a)
        frames, pre = make_frames(modem, a, a.frames, seed=16)
        dets = a.detector if layout is not None else [None]
        for det in dets:
            engines = ["dd"] if (layout is None or a.no_baseline or (a.quick and det == "mp")) else ["graph", "dd"]
            if layout is None:
                engines = ["-"]
            row = {}
            for eng in engines:
                chain = Chain(modem, layout, pre, det, eng if eng != "-" else "dd", a)
                med, ber, npaths, iters = profile(chain, frames)
                msps = 1e3 / med["total"]
                rt = msps * 1e6 / a.fs
                print(f"{kind:8s} {det or 'onetap':4s} {eng:6s} " + " ".join(f"{med[s]:7.1f}" for s in STAGES)
                      + f" {med['total']:7.1f} {msps:7.2f} {rt:6.2f} {rt / a.slow_factor:8.2f} {npaths:5.1f} "
                      f"{iters:5.1f} {ber:8.1e}")
                row[eng] = med
                results.append({"waveform": kind, "detector": det or "onetap", "engine": eng, "ns_per_sample": med,
                                "msps": msps, "xrt": rt, "xrt_slow": rt / a.slow_factor, "ber": ber,
                                "paths": npaths, "iterations": iters})
            if "graph" in row and "dd" in row:
                print(f"{'':20s} ratio graph/dd: detect {row['graph']['detect'] / row['dd']['detect']:.1f}x, "
                      f"bits {row['graph']['bits'] / row['dd']['bits']:.1f}x, "
                      f"chain {row['graph']['total'] / row['dd']['total']:.1f}x")
            if layout is not None and a.threads > 1:
                chain = Chain(modem, layout, pre, det, "dd", a)
                sp, same, pfrac, bound = thread_scaling(chain, frames, a.threads)
                lo, hi, nfr, w1, wn, busy, off = thread_scaling.spread
                print(f"{'':20s} detection stage on {a.threads} threads: {sp:.2f}x one thread (median of 5 runs of "
                      f"{nfr} frames, {w1:.2f} s vs {wn:.2f} s, {lo:.2f}-{hi:.2f}x; identical: {same}); "
                      f"GIL-free share {pfrac:.2f} -> Amdahl {bound:.2f}x on {a.threads} idle cores")
                print(f"{'':20s}   {a.threads}-thread runs: {busy:.2f} cores busy (process CPU / wall), "
                      f"{off:.0%} of the CPU off the calling thread (process CPU, other processes' threads excluded)")
                results.append({"waveform": kind, "detector": det, "threads": a.threads, "speedup": sp, "same": same,
                                "gil_free_share": pfrac, "bound": bound})
    print("targets (issue 16, per core): OTFS/AFDM with MRC incl. DD estimation >= 30.72 MS/s; with MP >= 7.68 MS/s;"
          " detection on 2 threads >= 1.8x one thread")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"args": vars(a), "load": load, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
