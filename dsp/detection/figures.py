"""Figures of docs/detectors.md: ``python -m dsp.detection.figures [--frames N] [--out docs/img]``.

* ``high_doppler_ber.png``: BER vs SNR under high fractional Doppler (4 equal-power Rayleigh taps at
  delays 0..3 samples, Jakes Doppler ``nu_i = nu_max cos(theta_i)`` with ``nu_max`` = 30 % of the OFDM
  subcarrier spacing) for OTFS (16 x 8, one CP) and AFDM (N = 128) with MP against OFDM (16 subcarriers
  x 8 symbols) with the one-tap and the ICI-aware block LMMSE equalisers; perfect CSI, 4-QAM.
* ``estimation_loss.png``: BER with perfect CSI and with embedded-pilot estimation (3 sigma threshold),
  OTFS 16 x 16 (Raviteja 2019 guard) and AFDM N = 128 (Bemani 2023 guard), integer delay/Doppler, MP.

Seeded; the grid-domain simulation of :mod:`dsp.detection.sim`. A few minutes with the defaults.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from dsp.channel import DoublyDispersiveChannel
from dsp.detection import make_detector
from dsp.detection.sim import grid_ber, grid_output, rayleigh_paths
from dsp.estimation import afdm_pilot_layout, estimate_paths, otfs_pilot_layout
from dsp.waveforms import AfdmModem, OfdmModem, OtfsModem


def high_doppler_curves(snrs, frames, seed=0):
    M, N = 16, 8
    nu_max = 0.3 / M
    otfs = OtfsModem(M, N, 4, cp_len=4)
    afdm = AfdmModem(M * N, 4, alpha_max=3, l_max=3, k_v=1)
    ofdm = OfdmModem(M, N, 4, cp_len=4)
    setups = {
        "OTFS, MP": (otfs, {"mp": make_detector("mp", otfs, doppler_spread=2).detect}),
        "AFDM, MP": (afdm, {"mp": make_detector("mp", afdm, doppler_spread=2).detect}),
        "OFDM, block LMMSE": (ofdm, {"mp": make_detector("lmmse", ofdm).detect}),
        "OFDM, one-tap": (ofdm, {"mp": make_detector("onetap", ofdm).detect}),
    }
    curves = {}
    for label, (m, rx) in setups.items():
        def channel(rng, m=m):
            ch = DoublyDispersiveChannel.rayleigh(rng, [0, 1, 2, 3], nu_max * np.cos(rng.uniform(-np.pi, np.pi, 4)))
            return m.dd_paths(ch)
        curves[label] = [grid_ber(m, s, channel, rx, frames, np.random.default_rng([seed, int(s * 10)])).ber("mp")
                         for s in snrs]
        print(f"{label:22s}", " ".join(f"{b:.2e}" for b in curves[label]), file=sys.stderr)
    return curves


def estimation_curves(snrs, frames, seed=0):
    out = {}
    cases = (
        ("OTFS", OtfsModem(16, 16, 4, cp_len=4), lambda m: otfs_pilot_layout(m, 3, 3),
         lambda r: rayleigh_paths(r, [0, 1, 2, 3], r.integers(-3, 4, 4))),
        ("AFDM", AfdmModem(128, 4, alpha_max=2, l_max=3, k_v=1), afdm_pilot_layout,
         lambda r: rayleigh_paths(r, [0, 1, 2, 3], r.integers(-2, 3, 4))),
    )
    for name, m, layout, channel in cases:
        lay = layout(m)
        lay.apply(m)
        det = make_detector("mp", m)
        perf, est = [], []
        for s in snrs:
            rng = np.random.default_rng([seed, int(s * 10)])
            nv = 10 ** (-s / 10)
            ep = ee = bits = 0
            for _ in range(frames):
                tx = rng.integers(0, 2, m.bits_per_frame, dtype=np.uint8)
                true = channel(rng)
                y = grid_output(m, true, m.grid_from_symbols(m.qam.map(tx)), nv, rng)
                ep += np.count_nonzero(det.detect_bits(y, true, nv) != tx)
                ee += np.count_nonzero(det.detect_bits(y, estimate_paths(y, lay, nv, m), nv) != tx)
                bits += tx.size
            perf.append(ep / bits)
            est.append(ee / bits)
        out[f"{name}, perfect CSI"] = perf
        out[f"{name}, embedded pilot"] = est
        print(f"{name} perfect  ", " ".join(f"{b:.2e}" for b in perf), file=sys.stderr)
        print(f"{name} estimated", " ".join(f"{b:.2e}" for b in est), file=sys.stderr)
    return out


def _plot(curves, snrs, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for label, ber in curves.items():
        b = np.asarray(ber, float)
        b[b == 0] = np.nan
        ax.semilogy(snrs, b, marker="o", ls="--" if "pilot" in label or "one-tap" in label else "-", label=label)
    ax.axhline(1e-3, color="grey", lw=0.8)
    ax.set_xlabel("SNR = Es/N0 (dB)")
    ax.set_ylabel("BER (4-QAM)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dsp.detection.figures", description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=150, help="frames per SNR point (default 150)")
    ap.add_argument("--out", default=os.path.join("docs", "img"), help="output folder (default docs/img)")
    ap.add_argument("--only", choices=("doppler", "estimation"), help="make one figure only")
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    if a.only in (None, "doppler"):
        snrs = np.arange(8, 25, 2.0)
        _plot(high_doppler_curves(snrs, a.frames), snrs, os.path.join(a.out, "high_doppler_ber.png"),
              "4 taps, fractional Doppler up to 0.3 x OFDM subcarrier spacing, perfect CSI")
    if a.only in (None, "estimation"):
        snrs = np.arange(8, 21, 2.0)
        _plot(estimation_curves(snrs, a.frames), snrs, os.path.join(a.out, "estimation_loss.png"),
              "Embedded pilot (3 sigma threshold) vs perfect CSI, MP detector")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
