"""Modem throughput: Msamples/s of modulate (bits -> complex64 frames) and demodulate (frames -> hard bits)
with the compiled kernels against the same modems running on the NumPy twins, measured in the same run.

    python bench/bench_modems.py            # M=64/N=16 and M=512/N=32 frames, ~2^18 samples per call
    python bench/bench_modems.py --quick    # smaller batches (CI smoke run)

One core: OMP threads are set to 1 and scipy.fft uses one worker by default; times are the CPU time of
the calling thread (time.thread_time), i.e. Msamples per CPU-second of one core, which a shared machine
distorts less than wall time (caches are still shared: read the ratios). Many frames are batched per call
(the transmit path is written for that). Target (issue 3): TX >= 100 MSPS per core.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from dsp._kernels import load_twin  # noqa: E402
from dsp.waveforms import AfdmModem, GfdmModem, OddmModem, OfdmModem, OtfsModem  # noqa: E402


def use_twins(modem):
    """The same modem running every kernel through its NumPy twin (the baseline)."""
    modem._kmap = load_twin("_modmap")
    modem._kframe = load_twin("_modframe")
    modem.qam._kernel = load_twin("_modqam")
    if hasattr(modem, "_kernel"):
        modem._kernel = load_twin("_chirp")
    return modem


def _best(fn, repeat):
    """Best of ``repeat`` runs in CPU seconds of this thread (per-core time: immune to other processes
    taking the core away on a shared machine, unlike wall time)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.thread_time()
        fn()
        best = min(best, time.thread_time() - t)
    return best


def _modems(M, N):
    yield "otfs", lambda: OtfsModem(M, N, 4, cp="frame")
    yield "otfs-cp/sym", lambda: OtfsModem(M, N, 4, cp="symbol")
    yield "ofdm", lambda: OfdmModem(M, N, 4)
    yield "afdm", lambda: AfdmModem(M * N, 4, alpha_max=2, l_max=8)
    yield "oddm(Q=2)", lambda: OddmModem(M, N, 4)
    yield "gfdm", lambda: GfdmModem(M, N - 1, 4)  # odd subsymbol count (even M is singular for RRC)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller batches, fewer repeats")
    ap.add_argument("--samples", type=int, default=None, help="samples per call (default 2^18, quick 2^15)")
    args = ap.parse_args(argv)
    per_call = args.samples or (2**15 if args.quick else 2**18)
    repeat = 2 if args.quick else 7
    rng = np.random.default_rng(0)
    warm = OtfsModem(64, 16)  # warm-up: page in the kernels and let the clock settle before timing
    wb = rng.integers(0, 2, (64, warm.bits_per_frame), dtype=np.uint8)
    for _ in range(20):
        warm.demodulate(warm.modulate(wb))
    print(f"{'waveform':12s} {'grid':>8s} {'frames':>6s} | {'TX comp':>8s} {'TX numpy':>8s} {'ratio':>6s} | "
          f"{'RX comp':>8s} {'RX numpy':>8s} {'ratio':>6s}   (Msamples per CPU-second)")
    for M, N in ((64, 16), (512, 32)):
        for name, make in _modems(M, N):
            fast, slow = make(), use_twins(make())
            frames = max(1, per_call // fast.frame_length)
            bits = rng.integers(0, 2, (frames, fast.bits_per_frame), dtype=np.uint8)
            y = fast.modulate(bits)
            assert np.array_equal(fast.demodulate(y), bits), name
            assert np.allclose(slow.modulate(bits), y, atol=1e-5), name
            n = y.size
            res = []
            for m in (fast, slow):
                res.append(n / _best(lambda m=m, bits=bits: m.modulate(bits), repeat) / 1e6)
            for m in (fast, slow):
                res.append(n / _best(lambda m=m, y=y: m.demodulate(y), repeat) / 1e6)
            tc, tn, rc, rn = res
            print(f"{name:12s} {f'{M}x{N}':>8s} {frames:6d} | {tc:8.1f} {tn:8.1f} {tc / tn:6.2f} | "
                  f"{rc:8.1f} {rn:8.1f} {rc / rn:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
