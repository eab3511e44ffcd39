"""Real-time factor of each block of the HIL loop (issue 13): transmitter, emulator link, receiver.

For each sample rate (default 1.92 and 7.68 MSPS) the demo's pass (scenarios/demo.yaml: NTN-TDL-D
multipath, OTFS + embedded pilot + MRC by default) is flown with bursts back to back - a continuous
stream - over ``--seconds`` of pass time, and each block is timed on its own, in this process:

* TX: building the frames (preamble, header, modulation, oversampling);
* emulator: ``Link.accept`` (fractional delay, Doppler, path loss, NTN-TDL paths, AWGN) - the code the
  ``hil emulate`` server runs per message;
* RX: ``Receiver.process`` (windows, Doppler tracking, timing, header, channel estimation, detection).

Printed per block: CPU seconds per second of air time at that sample rate (the real-time factor:
< 1 keeps up on one core), measured against the air time of the same samples in the same run. With
``--processes`` the three blocks also run as ``hil tx`` / ``hil emulate`` / ``hil rx`` processes and
the wall time of the whole run is printed against the air time (the blocks overlap on 2 cores).

Run: ``python bench/bench_loop.py [--seconds 2] [--rates 1.92e6 7.68e6] [--waveform otfs] [--processes]``;
``python bench/bench_loop.py --realtime 60 --rates 1.92e6`` paces the three processes at the sample rate
(``frames.pace: realtime``) over 60 s of continuous stream and counts TX underflows (a burst handed over
after its air time began) and RX overflows (samples taken more than a radio buffer, 0.5 s, late).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hil.errors import HILError  # noqa: E402


def _scenario(fs: float, seconds: float, waveform: str):
    from hil.paths import resolve_scenario
    from hil.scenario import load_scenario

    sc = load_scenario(resolve_scenario("demo.yaml"))
    wf = [w for w in sc.waveforms if w.kind == waveform] or [dataclasses.replace(sc.waveforms[0], kind=waveform)]
    from hil.loop.plan import make_format

    frames = dataclasses.replace(sc.frames, per_burst=8)
    fmt, _, _ = make_format(wf[0], frames)
    frames = dataclasses.replace(frames, interval_s=(8 * fmt.period + 2) / fs)  # bursts back to back
    orbit = dataclasses.replace(sc.orbit, start="epoch", offset_s=600.0)
    return dataclasses.replace(sc, sample_rate_hz=fs, waveforms=wf[:1], frames=frames, orbit=orbit,
                               duration_s=seconds + 0.05, backend=dataclasses.replace(sc.backend, kind="mock"))


def bench_blocks(fs: float, seconds: float, waveform: str) -> dict:
    from hil.experiment import build_pass
    from hil.loop.plan import make_plan, make_receiver, make_transmitter
    from hil.loop.run import _link_outputs, end_of_burst_flags, make_link

    sc = _scenario(fs, seconds, waveform)
    pm = build_pass(sc)
    plan = make_plan(sc, 0, "ephemeris", pm=pm)
    # back to back: the schedule's bursts are one burst length apart
    sch = plan.schedule
    tx = make_transmitter(plan)
    t0 = time.process_time()
    bursts = [(k, tx.burst(b)) for b, k in enumerate(sch.burst_starts)]
    t_tx = time.process_time() - t0
    n_tx = sum(x.size for _, x in bursts)
    link = make_link(plan)
    t0 = time.process_time()
    eob = end_of_burst_flags(sch)
    outs = [o for b, (k, x) in enumerate(bursts) for o in _link_outputs(link, k, x, eob[b])]
    link.finish()
    t_emu = time.process_time() - t0
    n_out = sum(y.size for _, y, _ in outs)
    rx = make_receiver(plan)
    t0 = time.process_time()
    found = []
    for n0, y, _ in outs:
        found += rx.process(n0, y)
    found += rx.flush()
    t_rx = time.process_time() - t0
    air = (sch.burst_starts[-1] + sch.burst_length) / fs
    ok = sum(1 for f in found if f.header_ok)
    return {"fs": fs, "air_s": air, "tx": t_tx / air, "emulator": t_emu / air, "rx": t_rx / air,
            "tx_samples": n_tx, "emu_samples_out": n_out, "frames": sch.n_frames, "decoded": ok,
            "plan": plan, "pm": pm, "sc": sc}


def bench_processes(res: dict) -> float:
    from hil.loop.run import run_processes

    with tempfile.TemporaryDirectory() as wd:
        t0 = time.perf_counter()
        out = run_processes(res["plan"], wd)
        wall = time.perf_counter() - t0
    res["proc_decoded"] = sum(1 for f in out.rx_frames if f["header_ok"])
    res["proc_lost"] = out.counters.get("rx_frames_lost")
    return wall / res["air_s"]


def bench_realtime(fs: float, seconds: float, waveform: str) -> dict:
    """The three processes with ``frames.pace: realtime`` over a continuous stream of ``seconds``."""
    from hil.experiment import build_pass
    from hil.loop.plan import make_plan
    from hil.loop.run import run_processes

    sc = _scenario(fs, seconds, waveform)
    sc = dataclasses.replace(sc, frames=dataclasses.replace(sc.frames, pace="realtime"))
    plan = make_plan(sc, 0, "ephemeris", pm=build_pass(sc))
    air = (plan.schedule.burst_starts[-1] + plan.schedule.burst_length) / fs
    with tempfile.TemporaryDirectory() as wd:
        t0 = time.perf_counter()
        out = run_processes(plan, wd, timeout_s=seconds * 3 + 120)
        wall = time.perf_counter() - t0
    c = out.counters
    return {"air_s": air, "wall_s": wall, "underflows": c.get("tx_underflows"), "late_max_s": c.get("tx_late_max_s"),
            "overflows": c.get("rx_overflows"), "behind_max_s": c.get("rx_behind_max_s"),
            "frames": plan.schedule.n_frames, "decoded": sum(1 for f in out.rx_frames if f["header_ok"]),
            "lost": c.get("rx_frames_lost")}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="air time per rate (s)")
    ap.add_argument("--rates", type=float, nargs="+", default=None,
                    help="sample rates (Hz); default 1.92e6 7.68e6, with --realtime 1.92e6")
    ap.add_argument("--waveform", default="otfs", choices=("otfs", "afdm", "ofdm", "oddm", "gfdm"))
    ap.add_argument("--processes", action="store_true", help="also run hil tx / emulate / rx as processes")
    ap.add_argument("--realtime", type=float, default=None, metavar="S",
                    help="instead: the three processes paced at the sample rate for S s of continuous stream "
                         "(frames.pace: realtime), counting underflows (TX late) and overflows (RX behind)")
    a = ap.parse_args(argv)
    if a.rates is None:
        a.rates = [1.92e6] if a.realtime else [1.92e6, 7.68e6]
    if a.realtime:
        for fs in a.rates:
            try:
                r = bench_realtime(fs, a.realtime, a.waveform)
            except HILError as exc:  # e.g. a rate the blocks cannot carry in real time on this machine
                print(f"{fs / 1e6:.2f} MSPS realtime: no result: {exc}")
                continue
            print(f"{fs / 1e6:.2f} MSPS realtime: {r['air_s']:.1f} s of air in {r['wall_s']:.1f} s wall; TX underflows "
                  f"{r['underflows']} (late by up to {1e3 * (r['late_max_s'] or 0):.1f} ms), RX overflows "
                  f"{r['overflows']} (behind by up to {1e3 * (r['behind_max_s'] or 0):.0f} ms; buffer 500 ms), "
                  f"wire frames lost {r['lost']}, decoded {r['decoded']}/{r['frames']}; load average "
                  f"{os.getloadavg()[0]:.2f}")
        return 0
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    print(f"HIL loop, {a.waveform}, demo pass near culmination, bursts back to back, {a.seconds:g} s of air time; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'rate MSPS':>10} {'TX x RT':>8} {'emulator x RT':>14} {'RX x RT':>8} {'decoded':>10}"
          + (f" {'3 processes wall x RT':>22}" if a.processes else ""))
    for fs in a.rates:
        r = bench_blocks(fs, a.seconds, a.waveform)
        line = (f"{fs / 1e6:>10.2f} {r['tx']:>8.3f} {r['emulator']:>14.3f} {r['rx']:>8.3f} "
                f"{r['decoded']:>4}/{r['frames']:<5}")
        if a.processes:
            line += f" {bench_processes(r):>22.3f}"
        print(line)
    print("x RT = CPU seconds per second of air time (< 1: the block keeps up with the radio on one core)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
