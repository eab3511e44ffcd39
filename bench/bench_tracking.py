"""Doppler tracker throughput: compiled kernel vs its NumPy twin, measured in the same run.

    python bench/bench_tracking.py                 # throughput (MSPS) and ratio, < 60 s
    python bench/bench_tracking.py --seconds 1.0   # longer stream
    python bench/bench_tracking.py --pass S        # a whole 550 km zenith pass (10..90..10 deg) at S band
    python bench/bench_tracking.py --pass Ka --fs 1e6 --span 60   # 60 s around culmination

The throughput run tracks a stream of preamble + QPSK frames (2048 samples, 1.92 MSPS, 10 dB SNR) that
crossed the analytic 550 km zenith pass of ``dsp.tracking.LeoPassModel`` at 2 GHz with a stale-TLE
ephemeris error, in chunks of 65536 samples (as a receiver would), and prints MSPS of both
implementations (CPU time of this process, best of 2), the ratio and the real-time factor at the
demo's 1.92 MSPS.

``--pass`` renders and tracks the whole pass in one-second pieces (slow: the signal synthesis costs far
more than the tracker) and prints the residual Doppler error per elevation band and overall, after the
first second (acquisition and settling).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from dsp._kernels import load_compiled, load_twin  # noqa: E402
from dsp.sync import Preamble  # noqa: E402
from dsp.tracking import DopplerTracker, EphemerisError, LeoPassModel, render_frames  # noqa: E402

PERIOD = 2048


def _frame(rng, pre):
    n = PERIOD - pre.length
    return pre.prepend(((2 * rng.integers(0, 2, n) - 1) + 1j * (2 * rng.integers(0, 2, n) - 1)) / math.sqrt(2))


def _noise(rng, n, snr_db):
    return ((rng.standard_normal(n) + 1j * rng.standard_normal(n)) * math.sqrt(10 ** (-snr_db / 10) / 2))


def throughput(seconds: float, fs: float = 1.92e6, fc: float = 2e9, chunk: int = 65536) -> None:
    rng = np.random.default_rng(1)
    pre = Preamble()
    model = LeoPassModel()
    t0 = -seconds / 2
    n = int(seconds * fs)
    y = render_frames([_frame(rng, pre)] * (n // PERIOD + 8), fs, fc, model.delay, n, t0=t0, frame_period=PERIOD)
    y = (y + _noise(rng, n, 10.0)).astype(np.complex64)
    pred = EphemerisError.stale_tle(fc).apply(lambda t: model.doppler(t, fc), t_ref=t0)
    rates = {}
    outs = {}
    for name, mod in (("compiled", load_compiled("_track")), ("numpy", load_twin("_track"))):
        best = math.inf
        for _ in range(2):
            trk = DopplerTracker(fs, fc, pre, PERIOD, mode="ephemeris", predict=pred, t0=t0)
            trk._kernel = mod
            t = time.process_time()  # CPU time: the shared machine's load distorts wall time
            outs[name] = np.concatenate([trk.process(y[i:i + chunk]) for i in range(0, n, chunk)])
            best = min(best, time.process_time() - t)
        rates[name] = n / best / 1e6
        m = trk.measurements()
        err = m["frequency_hz"] - model.doppler(m["time_s"], fc)
        late = m["time_s"] > t0 + 0.3
        print(f"{name:>9}: {rates[name]:8.2f} MSPS  ({best * 1e3:7.1f} ms for {n} samples; "
              f"{n / best / fs:6.1f}x real time at {fs / 1e6:g} MSPS; residual {np.sqrt(np.mean(err[late] ** 2)):.2f} "
              f"Hz RMS)")
    diff = np.max(np.abs(outs["compiled"] - outs["numpy"]))
    print(f"ratio compiled/numpy: {rates['compiled'] / rates['numpy']:.1f}x   (max |output difference| {diff:.1e})")


def whole_pass(band: str, fs: float, snr_db: float, min_el: float = 10.0, span: float | None = None) -> None:
    fc = {"S": 2e9, "Ka": 20e9}[band]
    rng = np.random.default_rng(2)
    pre = Preamble()
    model = LeoPassModel()
    t_end = model.time_at_elevation(min_el)
    if span is not None:
        t_end = min(t_end, span / 2)
    t0 = -t_end
    pred = EphemerisError.stale_tle(fc).apply(lambda t: model.doppler(t, fc), t_ref=t0)
    trk = DopplerTracker(fs, fc, pre, PERIOD, mode="ephemeris", predict=pred, t0=t0)
    frame = _frame(rng, pre)
    piece = int(fs)
    total = int(2 * t_end * fs)
    t_start = time.perf_counter()
    for a in range(0, total, piece):
        n = min(piece, total - a)
        ta = t0 + a / fs
        # frames that can arrive in [ta, ta + n/fs): sent between ta - 7 ms and ta + n/fs
        k0 = max(0, int((ta - t0 - 7e-3) * fs) // PERIOD)
        k1 = int((ta - t0 + n / fs) * fs) // PERIOD + 1
        y = render_frames([frame] * (k1 - k0), fs, fc, model.delay, n, t0=ta, frame_period=PERIOD, tx_start=t0,
                          first_frame=k0)
        trk.process((y + _noise(rng, n, snr_db)).astype(np.complex64))
        done = (a + n) / total
        el = float(model.elevation(ta))
        print(f"\r{done * 100:5.1f}%  t={ta:7.1f} s  elevation {el:5.1f} deg  {trk.frequency:10.1f} Hz  "
              f"locked={trk.locked}  acquisitions={len(trk.acquisitions)}  {time.perf_counter() - t_start:6.0f} s",
              end="", file=sys.stderr)
    print(file=sys.stderr)
    m = trk.measurements()
    err = m["frequency_hz"] - model.doppler(m["time_s"], fc)
    ok = m["time_s"] > t0 + 1.0
    el = model.elevation(m["time_s"])
    el0 = float(model.elevation(t0))
    print(f"{band} band, fc {fc / 1e9:g} GHz, fs {fs / 1e6:g} MSPS, SNR {snr_db:g} dB, {2 * t_end:.0f} s of the pass "
          f"({el0:.1f}..90..{el0:.1f} deg), ephemeris error {EphemerisError.stale_tle(fc)}")
    print(f"acquisitions: {len(trk.acquisitions)}; valid {m['valid'][ok].mean() * 100:.2f} %, "
          f"locked {m['locked'][ok].mean() * 100:.2f} % of {ok.sum()} frames")
    for lo, hi in ((0, 20), (20, 45), (45, 70), (70, 90.1)):
        sel = ok & (el >= lo) & (el < hi)
        if sel.any():
            r = np.sqrt(np.mean(err[sel] ** 2))
            print(f"  elevation {lo:4.0f}..{hi:4.0f} deg: residual {r:8.2f} Hz RMS = {r / fc * 1e6:.5f} ppm, "
                  f"max {np.max(np.abs(err[sel])):8.2f} Hz")
    r = np.sqrt(np.mean(err[ok] ** 2))
    print(f"  whole pass: residual {r:.2f} Hz RMS = {r / fc * 1e6:.5f} ppm (target < 0.01 ppm)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=0.5, help="stream length for the throughput run (s)")
    ap.add_argument("--pass", dest="band", choices=["S", "Ka"], help="track a whole pass at this band instead")
    ap.add_argument("--fs", type=float, default=1.92e6, help="sample rate for --pass (Hz)")
    ap.add_argument("--snr", type=float, default=10.0, help="per-sample SNR for --pass (dB)")
    ap.add_argument("--span", type=float, default=None,
                    help="for --pass: only this many seconds centred on culmination (default: 10..90..10 deg)")
    args = ap.parse_args(argv)
    if args.band:
        whole_pass(args.band, args.fs, args.snr, span=args.span)
    else:
        throughput(args.seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
