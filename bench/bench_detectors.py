"""Detector throughput: compiled kernels vs their NumPy twins, measured in the same run.

    python bench/bench_detectors.py            (< 60 s; --quick for a smoke run)

MP runs with ``stall_iter=10`` (on large frames the paper's all-cells-converged rule never fires and
every frame would take the full 200 iterations). OTFS frames with one CP, 4-QAM, 4 equal-power Rayleigh
paths (delay bins 0..3, integer Doppler bins in
-3..3), SNR 16 dB, perfect CSI. For each frame size it prints, for MP and MRC:

* kernel: the compiled hot loop vs the NumPy twin on the same factor graph (same decisions asserted);
* detect() same / new: the whole public call with the compiled kernel, on a channel it has seen before
  (factor graph cached: a stream of frames on one channel estimate) / on a new channel (graph rebuilt
  from paths_dd in Python: the per-frame cost when the channel changes every frame) - for the float64
  factor-graph engine (``engine="graph"``, the detectors before issue 16) and the float32 diagonal
  engine (``engine="dd"``, issue 16; "dd kernel" rows: compiled vs its bit-identical NumPy twin).

Throughput is grid cells (= samples of the frame body) per second, in Msamples/s, single thread.
Targets (issue 3): MRC/LMMSE RX >= 30.72 MSPS per core; MP >= 20x the NumPy MP with identical decisions.
The machines are shared and noisy: read the ratios, not the absolute numbers.

Instruction counts (repeatable on a loaded machine): ``--one mp|mrc M N ORDER`` runs one compiled kernel call
on one fixed seeded frame and prints its iterations; count it with callgrind, e.g.

    valgrind --tool=callgrind --collect-atstart=no --toggle-collect='__pyx_pw_*mp_detect' \
        $(python -c 'import sys; print(sys.executable)') bench/bench_detectors.py --one mp 64 16 4

(the interpreter itself, not a pyenv shim, so valgrind sees the kernel; ``mrc_detect`` for MRC).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from dsp._kernels import load_compiled, load_twin  # noqa: E402
from dsp.detection import make_detector  # noqa: E402
from dsp.detection.graph import FactorGraph, channel_coo  # noqa: E402
from dsp.detection.sim import grid_output, rayleigh_paths  # noqa: E402
from dsp.waveforms import OtfsModem  # noqa: E402

STALL = 10  # MP: stop after 10 iterations without a better convergence indicator (see MpDetector)


def _best(fn, reps, budget_s):
    """Best wall time of ``fn`` over up to ``reps`` runs (stops early past ``budget_s``)."""
    best = float("inf")
    t_start = time.perf_counter()
    out = None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
        if time.perf_counter() - t_start > budget_s:
            break
    return best, out


def bench_size(M, N, rng, reps, twin_reps):
    m = OtfsModem(M, N, 4, cp_len=8)
    snr = 16.0
    nv = 10 ** (-snr / 10)
    paths = rayleigh_paths(rng, [0, 1, 2, 3], rng.integers(-3, 4, 4))
    X = m.grid_from_symbols(m.qam.map(rng.integers(0, 2, m.bits_per_frame, dtype=np.uint8)))
    y = grid_output(m, paths, X, nv, rng)
    r, c, v = channel_coo(m, paths)
    g = FactorGraph.from_coo(r, c, v, m.n_cells, np.ones(m.n_cells, bool))
    cons = np.ascontiguousarray(m.qam.constellation)
    yv = np.ascontiguousarray(y.ravel())
    n = g.var_cells.size
    rows = []

    def mp(k):
        idx = np.zeros(n, np.int64)
        prob = np.zeros((n, cons.size))
        st, it, _ = k.mp_detect(yv, g.obs_ptr, g.edge_var, g.edge_h, g.var_ptr, g.var_edge, cons, nv, 0.6, 200,
                                0.01, STALL, idx, prob)
        assert st == 0
        return idx, it

    mrc_det = make_detector("mrc", m)
    groups = mrc_det._groups(g.var_cells)

    def mrc(k):
        idx = np.zeros(n, np.int64)
        soft = np.zeros(n, np.complex128)
        st, sw = k.mrc_detect(yv, g.obs_ptr, g.edge_obs, g.edge_var, g.edge_h, g.var_ptr, g.var_edge, groups, cons,
                              20, idx, soft)
        assert st == 0
        return idx, sw

    # the diagonal engine's kernels on the same frame (through a detector's prepared inputs)
    def dd_inputs(det, transpose):
        yy, nv_, mask, kn = det._inputs(y, nv, None)
        return det._dd(yy, paths, mask, kn, det._dd_kernel, transpose=transpose)

    mpd = make_detector("mp", m, engine="dd", stall_iter=STALL)
    R, C, gsr, gsc, cre, cim, yr, yi, act, perm = dd_inputs(mpd, M > N)
    sel = np.flatnonzero(m.data_mask.ravel()) if perm is None else perm

    def mp_dd(k):
        dec = np.zeros((R * C, 2), np.int8)
        llr = np.zeros((R * C, 2), np.float32)
        st, it, _ = k.mp_binary(R, C, gsr, gsc, cre, cim, yr, yi, act, mpd._levels[:4], nv, 0.6, 200, 0.01, STALL,
                                dec, llr)
        assert st == 0
        d = dec[sel]
        return mpd._levels[6][d[:, 0], d[:, 1]], it

    mrd = make_detector("mrc", m, engine="dd")
    R2, C2, gsr2, gsc2, cre2, cim2, yr2, yi2, act2, _ = dd_inputs(mrd, False)

    def mrc_dd(k):
        idx = np.zeros(R2 * C2, np.int64)
        soft = np.zeros((R2 * C2, 2), np.float32)
        st, sw = k.mrc(R2, C2, gsr2, gsc2, cre2, cim2, yr2, yi2, act2, C2, mrd._cons32[0], mrd._cons32[1], 20, idx,
                       soft)
        assert st == 0
        return idx, sw

    for name, fn, kname in (("MP", mp, "_mp"), ("MRC", mrc, "_mrc"), ("MP dd", mp_dd, "_ddet"),
                            ("MRC dd", mrc_dd, "_ddet")):
        tc, (ic, itc) = _best(lambda fn=fn, kname=kname: fn(load_compiled(kname)), reps, 5.0)
        tt, (it_, itt) = _best(lambda fn=fn, kname=kname: fn(load_twin(kname)), twin_reps, 8.0)
        same = bool(np.array_equal(ic, it_)) and itc == itt
        ber = float(np.mean(m.qam.demap_hard(cons[ic]) != m.qam.demap_hard(X.ravel())))
        rows.append((f"{name} kernel", M, N, itc, m.n_cells / tc / 1e6, m.n_cells / tt / 1e6, tt / tc, same, ber))
        base, eng = name.split()[0].lower(), ("dd" if name.endswith("dd") else "graph")
        det = make_detector(base, m, engine=eng, **({"stall_iter": STALL} if base == "mp" else {}))
        td, _ = _best(lambda det=det: det.detect(y, paths, nv), reps, 5.0)
        rows.append((f"{name} detect() same", M, N, det.last_iterations, m.n_cells / td / 1e6, float("nan"),
                     float("nan"), True, ber))

        def fresh(det=det):
            det._cache = None  # a new channel every frame: the graph is rebuilt
            det._dd_cache = None
            return det.detect(y, paths, nv)
        tf, _ = _best(fresh, reps, 5.0)
        rows.append((f"{name} detect() new", M, N, det.last_iterations, m.n_cells / tf / 1e6, float("nan"),
                     float("nan"), True, ber))
    return rows


def one_call(which, M, N, order):
    """One compiled kernel call on a fixed frame (for callgrind instruction counts)."""
    rng = np.random.default_rng(7)
    m = OtfsModem(M, N, order, cp_len=8)
    nv = 10 ** (-16.0 / 10)
    paths = rayleigh_paths(rng, [0, 1, 2, 3], rng.integers(-3, 4, 4))
    X = m.grid_from_symbols(m.qam.map(rng.integers(0, 2, m.bits_per_frame, dtype=np.uint8)))
    y = np.ascontiguousarray(grid_output(m, paths, X, nv, rng).ravel())
    g = FactorGraph.from_coo(*channel_coo(m, paths), m.n_cells, np.ones(m.n_cells, bool))
    cons = np.ascontiguousarray(m.qam.constellation)
    n = g.var_cells.size
    idx = np.zeros(n, np.int64)
    if which == "mp":
        prob = np.zeros((n, cons.size))
        st, it, _ = load_compiled("_mp").mp_detect(y, g.obs_ptr, g.edge_var, g.edge_h, g.var_ptr, g.var_edge, cons,
                                                   nv, 0.6, 200, 0.01, STALL, idx, prob)
    else:
        groups = np.concatenate([np.arange(0, n, N), [n]]).astype(np.int64)
        st, it = load_compiled("_mrc").mrc_detect(y, g.obs_ptr, g.edge_obs, g.edge_var, g.edge_h, g.var_ptr,
                                                  g.var_edge, groups, cons, 20, idx, np.zeros(n, np.complex128))
    ser = float(np.mean(cons[idx] != X.ravel()))
    print(f"{which} {M}x{N} {order}-QAM: status {st}, iterations {it}, SER {ser:.2e}, edges {g.edge_h.size}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small frame only, few repetitions")
    ap.add_argument("--one", nargs=4, metavar=("KERNEL", "M", "N", "ORDER"),
                    help="one compiled call (mp or mrc) on a fixed frame, for callgrind")
    a = ap.parse_args(argv)
    if a.one:
        if a.one[0] not in ("mp", "mrc"):
            ap.error(f"--one KERNEL must be mp or mrc, not {a.one[0]!r}")
        return one_call(a.one[0], int(a.one[1]), int(a.one[2]), int(a.one[3]))
    rng = np.random.default_rng(7)
    sizes = [(64, 16)] if a.quick else [(64, 16), (512, 32)]
    reps, twin_reps = (3, 1) if a.quick else (10, 3)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; wall clock, best of several calls")
    print(f"{'what':20s} {'M':>4s} {'N':>3s} {'iter':>4s} {'compiled MS/s':>14s} {'NumPy MS/s':>11s} "
          f"{'ratio':>7s} {'same':>5s} {'BER':>8s}")
    ok_mp = True
    for M, N in sizes:
        for row in bench_size(M, N, rng, reps, twin_reps):
            what, M_, N_, it, fc, ft, ratio, same, ber = row
            print(f"{what:20s} {M_:4d} {N_:3d} {it:4d} {fc:14.2f} {ft:11.3f} {ratio:7.1f} {str(same):>5s} {ber:8.1e}")
            if what in ("MP kernel", "MP dd kernel"):
                ok_mp &= same
    print("targets: MRC/LMMSE RX >= 30.72 MS/s per core; MP >= 20x NumPy with identical decisions "
          f"(decisions identical: {ok_mp}); issue 16: the whole receive chain, see bench/bench_rx_chain.py")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
