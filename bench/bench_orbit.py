"""Orbit throughput: satellite-epochs per second of the full look geometry (SGP4 + range, range rate,
range acceleration, elevation, azimuth) for the whole 1584-satellite shell against one ground point.

    python bench/bench_orbit.py [--epochs 600] [--repeat 3]

Three ways, measured in the same run on the same data:
  vectorised   hil.orbit.geometry(constellation, ...): one SatrecArray call per time chunk for all
               satellites, NumPy look geometry (the library path; target >= 1e6 satellite-epochs/s)
  per-sat loop a Python loop over satellites, each propagated over all epochs with Satrec.sgp4_array
               and the same look code
  scalar loop  a Python loop over satellites and epochs with scalar Satrec.sgp4 (measured on a subset)
Also: DelayTrack evaluation rate (delay + Doppler per sample), what the emulator pays per sample.
Timings on a shared machine are noisy: compare the ratios. Best of --repeat runs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hil.orbit import GroundStation, geometry, make_track, preset
from hil.orbit.geometry import _ground_frames_teme, _look_teme

CPU = []  # (label, process CPU seconds) of the best runs, printed as a second opinion


def best(fn, repeat, label=""):
    """Best wall time of ``repeat`` runs (and the CPU time of that run, recorded in CPU)."""
    out = None
    times = []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0, time.process_time() - c0))
    wall, cpu = min(times)
    if label:
        CPU.append((label, cpu))
    return wall, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=600, help="epochs (1 s apart) per satellite (default 600)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)

    shell = preset("starlink-1584")
    ep = shell[0].element_epoch
    g = GroundStation(36.0, 90.0, 0.0)
    t = np.arange(args.epochs, dtype=np.float64)
    n = len(shell) * t.size
    geometry(shell[:10], g, t[:10], epoch=ep)  # warm-up (imports, SatrecArray build)
    shell._array = None
    geometry(shell, g, t[:2], epoch=ep)

    dt_vec, geo = best(lambda: geometry(shell, g, t, epoch=ep), args.repeat, "vectorised")

    jd, fr = ep.split(t)
    frames = _ground_frames_teme(g, ep, t)

    def per_sat():
        out = np.empty((len(shell), t.size))
        for i, s in enumerate(shell):
            e, r, v = s.satrec.sgp4_array(jd, fr)
            rng, _rr, _ra, _el, _az = _look_teme(r[None], v[None], frames)
            out[i] = rng[0]
        return out

    dt_loop, rng_loop = best(per_sat, args.repeat, "per-satellite loop")
    assert np.allclose(rng_loop, geo.range_m, rtol=0, atol=1e-6), "per-satellite loop disagrees"

    sub_sats, sub_t = 100, min(60, t.size)

    def scalar():
        out = np.empty((sub_sats, sub_t, 3))
        for i in range(sub_sats):
            sr = shell[i].satrec
            for k in range(sub_t):
                _e, r, _v = sr.sgp4(jd[k], fr[k])
                out[i, k] = r
        return out

    dt_scalar, _ = best(scalar, 1)
    # the scalar loop only propagates; add the vectorised look cost per element for a fair total
    rate_scalar = sub_sats * sub_t / dt_scalar

    rate_vec = n / dt_vec
    rate_loop = n / dt_loop
    print(f"1584-satellite shell x {t.size} epochs against one ground point ({n:,} satellite-epochs)")
    print(f"  vectorised (SatrecArray + NumPy look) : {rate_vec:12,.0f} sat-epochs/s  ({dt_vec:.3f} s)")
    print(f"  per-satellite loop (sgp4_array + look): {rate_loop:12,.0f} sat-epochs/s  ({dt_loop:.3f} s)")
    print(f"  scalar loop (Satrec.sgp4, SGP4 only)  : {rate_scalar:12,.0f} sat-epochs/s  "
          f"({sub_sats} sats x {sub_t} epochs)")
    print(f"  ratio vectorised / per-satellite loop : {rate_vec / rate_loop:6.2f}x")
    print(f"  ratio vectorised / scalar loop        : {rate_vec / rate_scalar:6.1f}x")
    print(f"  target >= 1e6 sat-epochs/s            : {'met' if rate_vec >= 1e6 else 'NOT met on this machine'}")
    for label, cpu in CPU:
        print(f"  per CPU-second ({label}): {n / cpu:12,.0f} sat-epochs/s (wall/CPU = "
              f"{(dt_vec if label == 'vectorised' else dt_loop) / cpu:.2f}; > 1 means the machine is shared)")

    # DelayTrack: build a 60 s track with 1 ms knots and evaluate delay + Doppler per sample
    k = int(np.argmax(geo.elevation_deg[:, 0]))
    dt_build, tr = best(lambda: make_track(shell[k], g, ep, 60.0, 1e-3), 1)
    ts = np.sort(np.random.default_rng(0).uniform(tr.t0, tr.t1, 1_000_000))
    dt_eval, _ = best(lambda: (tr.delay(ts), tr.doppler(ts, 20e9)), args.repeat)
    print(f"DelayTrack: built 60 s at 1 ms knots in {dt_build:.2f} s ({tr.n_knots / dt_build:,.0f} knots/s); "
          f"delay + Doppler at {1e6 / dt_eval:,.0f} samples/s")


if __name__ == "__main__":
    main()
