"""Whole receive chain of ``hil run``: frames per second vs real time at the demo's sample rate.

    python bench/bench_rx_chain.py                # OTFS 64 x 16, QPSK, 1.92 MSPS, 200 frames; < 60 s
    python bench/bench_rx_chain.py --waveform ofdm --frames 400

The chain is what :func:`hil.experiment.run_waveform` runs per frame after the channel: the Doppler
tracker (NCO with ephemeris pre-compensation + Kalman FLL + preamble timing, ``dsp.tracking``) over the
received stream in 64 k-sample chunks, then per frame the fine timing on the preamble, one-tap
equalisation, band-limited decimation and demodulation (``hil.experiment._demodulate``). The input is a
back-to-back train of preamble + frame (oversampled 2x, as in the demo) that went through the emulator's
delay line (``dsp.delay.ChannelStream``) with a 3 ms delay, +40 kHz of Doppler and 15 dB Es/N0 - made
once, outside the timing.

Prints the chain's frames/s (CPU time of the process, best of 2) with the compiled kernels and, measured
in the same run in a child process with ``HIL_PURE_PYTHON=1``, with the NumPy twins of every kernel;
the ratio; and each against real time: a radio at ``fs`` delivers ``fs / frame_period`` frames/s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)


def make_stream(kind: str, n_frames: int, fs: float, fc: float, os_: int = 2, snr_db: float = 15.0):
    from dsp.delay import ChannelStream
    from dsp.sync import Preamble
    from dsp.waveforms import make_modem
    from hil.emulator.trajectory import LinearTrajectory
    from hil.experiment import _upsample

    modem = make_modem(kind, 64, 16, 4)
    pre = Preamble()
    rng = np.random.default_rng(1)
    bits = rng.integers(0, 2, size=(n_frames, modem.bits_per_frame), dtype=np.uint8)
    frames = _upsample(np.asarray(modem.modulate(bits), np.complex128).reshape(n_frames, -1), os_)
    tx = np.concatenate([np.concatenate([pre.samples, f]) for f in frames])
    period = pre.length + frames.shape[1]
    rate = -40e3 / fc  # +40 kHz
    traj = LinearTrajectory(3e-3, rate)
    ch = ChannelStream(fs, fc, traj, noise_power=os_ * 10 ** (-snr_db / 10), rng=2)
    y = ch.process(np.concatenate([tx, np.zeros(int(4e-3 * fs), np.complex64)]))
    return modem, pre, period, y, bits, traj


def run_chain(kind: str, n_frames: int, fs: float, fc: float, repeats: int = 2) -> dict:
    from dsp.sync import fractional_timing
    from dsp.tracking import DopplerTracker
    from hil.experiment import _demodulate

    modem, pre, period, y, bits, traj = make_stream(kind, n_frames, fs, fc)
    p_samples = pre.samples.astype(np.complex128)
    F = modem.frame_length
    best = None
    for _ in range(repeats):
        t0 = time.process_time()
        trk = DopplerTracker(fs, fc, pre, period, mode="ephemeris", predict=lambda t: traj.doppler(t, fc))
        out = np.empty_like(y)
        for a in range(0, y.size, 65536):
            out[a:a + 65536] = trk.process(y[a:a + 65536])
        m = trk.measurements()
        errs = 0
        nf = 0
        for pos, ok in zip(m["preamble_index"], m["valid"]):
            if not ok:
                continue
            res = _demodulate(out, 0, float(pos), p_samples, pre.length, F, 2, modem, fractional_timing)
            if res is None:
                continue
            j = int(round((res[0] - 3e-3 * fs) / period))
            if 0 <= j < n_frames:
                errs += int(np.count_nonzero(res[1] != bits[j]))
                nf += 1
        dt = time.process_time() - t0
        best = dt if best is None else min(best, dt)
    return {"frames": nf, "seconds": best, "fps": nf / best, "realtime_fps": fs / period,
            "bit_errors": errs, "kernel": trk._kernel.__name__}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--waveform", default="otfs", choices=("otfs", "afdm", "ofdm"))
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--fs", type=float, default=1.92e6)
    ap.add_argument("--fc", type=float, default=2e9)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(run_chain(a.waveform, a.frames, a.fs, a.fc)))
        return 0
    comp = run_chain(a.waveform, a.frames, a.fs, a.fc)
    env = dict(os.environ, HIL_PURE_PYTHON="1")
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--waveform", a.waveform,
           "--frames", str(max(20, a.frames // 4)), "--fs", str(a.fs), "--fc", str(a.fc)]
    twin = json.loads(subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout.strip()
                      .splitlines()[-1])
    rt = comp["realtime_fps"]
    print(f"RX chain ({a.waveform} 64x16 QPSK, 2x oversampled, {a.fs / 1e6:g} MSPS, frame period "
          f"{a.fs / rt:.0f} samples; real time = {rt:.0f} frames/s)")
    print(f"  compiled kernels : {comp['fps']:8.0f} frames/s  = {comp['fps'] / rt:6.2f} x real time "
          f"({comp['frames']} frames, {comp['bit_errors']} bit errors, {comp['kernel']})")
    print(f"  NumPy twins      : {twin['fps']:8.0f} frames/s  = {twin['fps'] / rt:6.2f} x real time "
          f"({twin['frames']} frames, {twin['bit_errors']} bit errors, {twin['kernel']})")
    print(f"  ratio compiled / twins: {comp['fps'] / twin['fps']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
