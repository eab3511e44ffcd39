"""hil campaign scaling: the same campaign on an embedded LocalCluster of 1 and of 2 worker processes, in
the same run, alternating (1, 2, 1, 2, ...) so that the machine's load hits both alike; prints the speed-up
of 2 workers over 1 per repeat and overall (issue 19 goal: >= 1.8x on 2 cores) and checks that every run
gives identical results.

Timed: submit -> last result of ``run_campaign`` (the cluster is started and each worker has imported the
modules and built the point's modem/detector before the clock starts; cluster start-up is printed apart).
Printed beside it: the load average before/after, and the CPU the workers' tasks got (sum of task CPU time /
(workers x wall)) - on a shared machine a worker gets a share of a core, not a core - and "busy min", the
least busy worker's time inside tasks over the wall time (near 100 %: the campaign machinery kept every
worker fed, and the wall time is set by the CPU the workers were given).

Linux autogroup scheduling (``/proc/sys/kernel/sched_autogroup_enabled`` = 1) shares the CPU between
*sessions* first: every process LocalCluster starts is in the session of the command that started it, so
on a machine kept busy by other sessions, a second worker splits that session's share instead of adding one
(the ``session`` mode). ``own-session`` moves each worker into a session of its own first (``os.setsid`` in
the worker), as worker processes started by a service manager or over ssh are, and measures the scaling of
the campaign itself under the same load. On an idle machine both modes are the same.

    python3 bench/bench_campaign.py                  # 16 tasks of ~1 s (unloaded), 2 repeats
    python3 bench/bench_campaign.py --repeats 3 --frames 40
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def spec(frames: int, blocks: int) -> dict:
    return {"name": "bench", "seed": 19,
            "ber": [{"waveform": ["otfs"], "M": 16, "N": 16, "detector": ["mp"], "channel": ["high-doppler"],
                     "doppler": [0.02], "snr_db": [4, 8, 12, 16], "blocks": blocks, "frames_per_block": frames}]}


def _own_session():
    """Move this worker process into a session of its own (hence its own scheduling autogroup)."""
    os.setsid()
    return open("/proc/self/autogroup").read().split()[0] if os.path.exists("/proc/self/autogroup") else "-"


def _warm():
    from hil.campaign.tasks import ber_objects

    ber_objects("otfs", 16, 16, 4, None, "mp", "high-doppler", 4, 0.02)
    return os.getpid()


def autogroup_probe(seconds: float = 4.0) -> dict:
    """CPU obtained in ``seconds`` by 1 and 2 busy-loop processes, in this session and in sessions of their
    own: what the kernel gives a second process here, independent of Dask and of the campaign."""
    import subprocess

    out = {}
    loop = f"import time\nt = time.time()\nwhile time.time() - t < {seconds + 1}: pass"
    tck = os.sysconf("SC_CLK_TCK")
    for n, own in ((1, False), (2, False), (1, True), (2, True)):
        ps = [subprocess.Popen([sys.executable, "-c", loop], start_new_session=own) for _ in range(n)]
        time.sleep(seconds)
        cpu = []
        for p in ps:
            f = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()
            cpu.append((int(f[11]) + int(f[12])) / tck)  # utime + stime
        for p in ps:
            p.kill()
            p.wait()
        out[("own-session" if own else "session", n)] = sum(cpu) / seconds
        print(f"probe: {n} busy process(es) in {'own sessions' if own else 'this session'}: "
              f"{sum(cpu) / seconds:.2f} cores in all ({', '.join(f'{c / seconds:.2f}' for c in cpu)})", flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--frames", type=int, default=80, help="frames per task (OTFS 16x16 MP: ~20 ms each unloaded)")
    ap.add_argument("--blocks", type=int, default=4, help="seed blocks per Es/N0 point (4 points)")
    ap.add_argument("--modes", nargs="+", default=["session", "own-session"], choices=["session", "own-session"],
                    help="session: workers in the bench's session (as LocalCluster starts them); own-session: each "
                         "worker moved into its own session first (see the module docstring)")
    ap.add_argument("--probe", action="store_true",
                    help="first measure the CPU 1 and 2 plain busy loops get, in this session and in their own")
    args = ap.parse_args(argv)

    from distributed import Client

    from hil.campaign.runner import embedded_cluster, run_campaign
    from hil.campaign.spec import parse_campaign
    from hil.campaign.store import RESULT_KEYS

    camp = parse_campaign(spec(args.frames, args.blocks))
    print(f"campaign: {len(camp.tasks)} tasks (OTFS 16x16, MP detector, high-Doppler channel, {args.frames} frames "
          f"per task); cores usable: {len(os.sched_getaffinity(0))}")
    auto = "/proc/sys/kernel/sched_autogroup_enabled"
    if os.path.exists(auto):
        print(f"kernel autogroup scheduling: {open(auto).read().strip()} (1: CPU is shared fairly between sessions "
              "first, then between the processes of a session)")
    probe = autogroup_probe() if args.probe else None
    print(f"{'mode':>11} {'rep':>3} {'workers':>7} {'start s':>8} {'wall s':>8} {'task CPU s':>10} {'CPU/worker':>10} "
          f"{'busy min':>8} {'load before':>11} {'load after':>10}")
    walls: dict = {(m, w): [] for m in args.modes for w in (1, 2)}
    ref = None
    identical = True
    tmp = tempfile.mkdtemp(prefix="bench-campaign-")
    try:
        for mode, rep, w in ((m, r, w) for m in args.modes for r in range(args.repeats) for w in (1, 2)):
            t0 = time.perf_counter()
            with embedded_cluster(w) as cluster, Client(cluster) as client:
                if mode == "own-session":
                    client.run(_own_session)
                pids = client.run(_warm)
                start = time.perf_counter() - t0
                assert len(pids) == w
                load0 = os.getloadavg()[0]
                out = os.path.join(tmp, f"{mode}-r{rep}w{w}")
                res = run_campaign(camp, out, client=client, progress=False, report=False)
                load1 = os.getloadavg()[0]
            rows = [{k: r[k] for k in RESULT_KEYS} for r in res.table.sort_by("task_id").to_pylist()]
            if ref is None:
                ref = rows
            identical &= rows == ref and not res.failures
            cpu = sum(res.table.column("cpu_s").to_pylist())
            busy: dict = {}
            for r in res.table.to_pylist():
                busy[r["worker"]] = busy.get(r["worker"], 0.0) + r["elapsed_s"]
            busy_min = min(busy.values()) / res.seconds if len(busy) == w else 0.0
            walls[(mode, w)].append(res.seconds)
            print(f"{mode:>11} {rep:>3} {w:>7} {start:8.1f} {res.seconds:8.2f} {cpu:10.2f} "
                  f"{cpu / (w * res.seconds):10.2f} {busy_min:8.0%} {load0:11.2f} {load1:10.2f}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for mode in args.modes:
        ratios = [a / b for a, b in zip(walls[(mode, 1)], walls[(mode, 2)])]
        total = sum(walls[(mode, 1)]) / sum(walls[(mode, 2)])
        print(f"{mode}: speed-up 2 workers vs 1 per repeat: " + ", ".join(f"{r:.2f}x" for r in ratios) +
              f"; overall (sum of walls) {total:.2f}x; median {statistics.median(ratios):.2f}x; "
              f"goal >= 1.8x {'met' if total >= 1.8 else 'NOT met'}")
        if probe:
            ceiling = probe[(mode, 2)] / probe[(mode, 1)]
            print(f"{mode}: two busy loops got {ceiling:.2f}x the CPU of one (the ceiling for any 2-process "
                  f"program here at that moment); campaign speed-up / ceiling = {total / ceiling:.0%}")
    print(f"results identical across all {len(args.modes) * 2 * args.repeats} runs: {identical}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
