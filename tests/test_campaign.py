"""hil campaign (issue 19): task seeds, a block against dsp.ber.ber_sweep, confidence intervals against scipy,
spec errors, and on real Dask clusters: worker-count/scheduler independence, a killed worker, retries and
failure reports, resume after an interruption (executions counted by marker files)."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from hil.campaign.spec import parse_campaign, task_seed
from hil.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _spec(name="t", seed=5, **ber):
    g = {"waveform": ["otfs", "ofdm"], "M": 8, "N": 8, "detector": {"otfs": ["mrc"], "ofdm": ["one-tap"]},
         "channel": ["high-doppler"], "doppler": [0.02], "snr_db": [4, 10], "blocks": 2, "frames_per_block": 4}
    g.update(ber)
    return {"name": name, "seed": seed, "ber": [g]}


# ------------------------------------------------------------------------------------------- no Dask needed
def test_task_seeds_depend_on_coordinates_only():
    a = parse_campaign(_spec())
    bigger = _spec(snr_db=[0, 4, 10, 14], waveform=["afdm", "otfs", "ofdm"],
                   detector={"otfs": ["mrc"], "ofdm": ["one-tap"], "afdm": ["mrc"]})
    b = parse_campaign(bigger)
    ids_b = {t.task_id: t for t in b.tasks}
    assert len(a.tasks) == 2 * 2 * 2 and len(b.tasks) == 3 * 4 * 2
    for t in a.tasks:  # adding points and reordering axes changes no existing task, id or seed
        u = ids_b[t.task_id]
        assert u.coords == t.coords and u.block == t.block
        assert np.array_equal(t.seed_sequence().generate_state(4), u.seed_sequence().generate_state(4))
    states = {tuple(t.seed_sequence().generate_state(2)) for t in b.tasks}
    assert len(states) == len(b.tasks)  # distinct streams for distinct tasks (blocks included)
    c = parse_campaign(_spec(seed=6))
    assert not {t.task_id for t in c.tasks} & {t.task_id for t in a.tasks}  # the campaign seed is part of the id
    # the construction is numpy's spawn with a content key: entropy = campaign seed, spawn_key = hash words
    ss = task_seed(5, {"x": 1})
    assert ss.entropy == 5 and len(ss.spawn_key) == 8 and ss.spawn_key != task_seed(5, {"x": 2}).spawn_key


@pytest.mark.parametrize("channel,detector,frames", [("high-doppler", "mrc", 6), ("awgn", "ideal", 128)])
def test_block_equals_ber_sweep_point(channel, detector, frames):
    """A campaign block is hil ber's sweep loop: same generator, same frames -> the same bit errors."""
    from dsp.ber import ber_sweep
    from hil.campaign.tasks import ber_objects, simulate_block

    modem, chan, rx, fast = ber_objects("otfs", 8, 8, 4, None, detector, channel, 4, 0.02)
    snr, seed = 6.0, 1234
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])  # what ber_sweep gives its point 0
    got = simulate_block(modem, chan, rx, snr, frames, rng, fast=fast)
    ref = ber_sweep(modem, [snr], channel=chan, receiver=rx, seed=seed, min_errors=10**9,
                    max_bits=frames * modem.bits_per_frame, min_frames=frames, progress=False)[0]
    assert (got["frames"], got["bits"], got["bit_errors"]) == (ref.frames, ref.bits, ref.bit_errors)
    assert 0 < got["frame_errors"] <= got["frames"] and got["bit_errors"] > 0


def test_awgn_points_contain_the_closed_form():
    """Blocks of an AWGN point summed over seed blocks: the 99.9 % intervals of BER and BLER contain
    Q(sqrt(Es/N0)) and 1 - (1 - BER)^bits_per_frame (Gray 4-QAM, independent bits). (At 95 %, four checks
    would fail by chance about one seed in five.)"""
    import pyarrow as pa

    from dsp.ber import qpsk_awgn_ber
    from hil.campaign.report import aggregate
    from hil.campaign.store import COLUMNS
    from hil.campaign.tasks import execute_task

    camp = parse_campaign({"name": "q", "seed": 11, "ber": [{"waveform": "ofdm", "M": 8, "N": 8, "channel": "awgn",
                                                            "snr_db": [4, 8], "blocks": 3, "frames_per_block": 300}]})
    rows = [{**execute_task(t.to_dict()), **t.coords} for t in camp.tasks]
    table = pa.Table.from_pylist([{c: r.get(c) for c, _ in COLUMNS} for r in rows])
    pts = aggregate(table, conf=0.999)
    assert [p["frames"] for p in pts] == [900, 900] and all(p["blocks"] == 3 for p in pts)
    for p in pts:
        ber = float(qpsk_awgn_ber(p["snr_db"]))
        bler = 1 - (1 - ber) ** (p["bits"] / p["frames"])
        assert p["ber_lo"] <= ber <= p["ber_hi"] and p["bler_lo"] <= bler <= p["bler_hi"]
        assert p["ber_hi"] - p["ber_lo"] < 0.3 * ber  # and the intervals are tight enough to mean something


def test_binomial_ci_against_scipy_and_closed_form():
    from scipy.stats import binomtest

    from hil.campaign.report import binomial_ci

    ks = np.array([0, 1, 7, 50, 200, 200])
    ns = np.array([200, 200, 200, 200, 200, 200])
    for method, ref in (("clopper-pearson", "exact"), ("wilson", "wilson")):
        lo, hi = binomial_ci(ks, ns, conf=0.95, method=method)
        for k, n, lo_, hi_ in zip(ks, ns, lo, hi):
            ci = binomtest(int(k), int(n)).proportion_ci(0.95, method=ref)
            assert lo_ == pytest.approx(ci.low, abs=1e-12) and hi_ == pytest.approx(ci.high, abs=1e-12)
    from scipy import stats

    from hil.campaign.report import block_ci

    v = [0.011, 0.014, 0.009, 0.013]
    ref = stats.t.interval(0.95, len(v) - 1, loc=np.mean(v), scale=stats.sem(v))
    assert block_ci(v) == pytest.approx(ref, rel=1e-12) and block_ci([0.1]) == (None, None)
    lo, hi = binomial_ci(0, 1000)  # no error seen: upper bound 1 - (alpha/2)^(1/n)
    assert lo == 0 and hi == pytest.approx(1 - 0.025 ** (1 / 1000), rel=1e-12)
    with pytest.raises(ConfigError, match="ci method"):
        binomial_ci(1, 2, method="agresti")


@pytest.mark.parametrize("patch,field", [
    ({"snr_db": "4:0:2"}, "ber[0].snr_db"),
    ({"channel": ["awgn", "rician"]}, "ber[0].channel"),
    ({"doppler": [0.7]}, "ber[0].doppler"),
    ({"detector": {"otfs": ["one-tap-pilot"], "ofdm": ["one-tap"]}}, "ber[0].detector.otfs"),
    ({"detector": {"gfdm": ["mp"]}}, "ber[0].detector.gfdm"),
    ({"frames_per_block": 0}, "ber[0].frames_per_block"),
    ({"colour": 1}, "ber[0].colour"),
])
def test_bad_spec_names_field(patch, field):
    with pytest.raises(ConfigError) as ei:
        parse_campaign(_spec(**patch), source="c.yaml")
    assert ei.value.field == field and "allowed" in str(ei.value)


def test_run_tasks_from_scenario_with_overrides():
    spec = {"name": "r", "runs": [{"scenario": "s_band_pass", "overrides": {"backend.kind": "mock",
                                                                           "link.snr_db": 8.0},
                                   "grid": {"channel.ntn_tdl": ["NTN-TDL-A", "NTN-TDL-D"]}, "modes": ["ephemeris"],
                                   "max_bursts": 3, "blocks": 2}]}
    c = parse_campaign(spec, base_dir=os.path.join(ROOT, "scenarios"))
    assert len(c.tasks) == 2 * 2
    assert {t.coords["scenario"]["channel"]["ntn_tdl"] for t in c.tasks} == {"NTN-TDL-A", "NTN-TDL-D"}
    assert all(t.coords["scenario"]["link"]["snr_db"] == 8.0 for t in c.tasks)
    bad = json.loads(json.dumps(spec))
    bad["runs"][0]["overrides"]["backend.kind"] = "pluto"
    with pytest.raises(ConfigError, match="backend.kind"):
        parse_campaign(bad, base_dir=os.path.join(ROOT, "scenarios"))
    bad["runs"][0]["overrides"] = {"link.snr_db": 500}
    with pytest.raises(ConfigError, match="link.snr_db"):
        parse_campaign(bad, base_dir=os.path.join(ROOT, "scenarios"))


def test_run_task_equals_hil_run_of_the_overridden_scenario():
    """A run task is run_waveform (the loop behind hil run) on the scenario with the overrides applied and the
    task's seed - checked against that call made directly."""
    import dataclasses

    from hil.campaign.tasks import execute_task
    from hil.experiment import build_pass, run_waveform
    from hil.scenario import load_scenario

    spec = {"name": "r1", "seed": 3, "runs": [{"scenario": "s_band_pass", "max_bursts": 2, "modes": ["ephemeris"],
                                               "overrides": {"backend.kind": "mock", "duration_s": 20.0,
                                                             "channel.ntn_tdl": "NTN-TDL-D"}}]}
    task = parse_campaign(spec, base_dir=os.path.join(ROOT, "scenarios")).tasks[0]
    row = execute_task(task.to_dict())
    sc = load_scenario(os.path.join(ROOT, "scenarios", "s_band_pass.yaml"))
    seed = int(task.seed_sequence().generate_state(1, np.uint64)[0] >> np.uint64(1))
    sc = dataclasses.replace(sc, seed=seed, duration_s=20.0, backend=dataclasses.replace(sc.backend, kind="mock"),
                             channel=dataclasses.replace(sc.channel, ntn_tdl="NTN-TDL-D"))
    base = os.path.join(ROOT, "scenarios")
    run = run_waveform(sc, 0, build_pass(sc, base), "ephemeris", base_dir=base, max_bursts=2)
    assert row["frames"] == run.columns["bits"].size == 8
    assert row["bits"] == int(np.sum(run.columns["bits"])) and row["decoded"] == run.counters["decoded"]
    assert row["bit_errors"] == int(round(np.sum(run.columns["bit_errors"])))


# ------------------------------------------------------------------------------------------- on Dask
distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed (pip install -e .[test])")
pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install -e .[test])")

from hil.campaign.runner import embedded_cluster, run_campaign  # noqa: E402
from hil.campaign.store import RESULT_KEYS, metadata_of  # noqa: E402
from hil.campaign.tasks import MARKER_ENV, THREAD_ENV  # noqa: E402


def _results(table):
    return [{k: r[k] for k in RESULT_KEYS} for r in table.sort_by("task_id").to_pylist()]


def _markers(d):
    out = {}
    for f in glob.glob(os.path.join(d, "*")):
        tid, pid, ns = os.path.basename(f).split(".")
        out.setdefault(tid, []).append((int(ns), int(pid)))
    return out


@pytest.fixture(scope="module")
def dask_procs(tmp_path_factory):
    """A real `dask scheduler` and two `dask worker` processes (no nanny: a killed worker stays dead) on
    127.0.0.1, with one thread each and the marker directory in their environment."""
    d = tmp_path_factory.mktemp("dask")
    markers = d / "markers"
    markers.mkdir()
    sfile = d / "scheduler.json"
    env = {**os.environ, **THREAD_ENV, MARKER_ENV: str(markers), "PYTHONPATH": ROOT}
    procs = []

    def spawn(args, log):
        p = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=env, stdout=open(d / log, "w"),
                             stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(p)
        return p

    try:
        spawn(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
               "--scheduler-file", str(sfile)], "scheduler.log")
        t_end = time.monotonic() + 60
        while not sfile.exists() and time.monotonic() < t_end:
            time.sleep(0.1)
        assert sfile.exists(), (d / "scheduler.log").read_text()
        addr = json.loads(sfile.read_text())["address"]
        assert addr.startswith("tcp://127.0.0.1:")
        workers = [spawn(["distributed.cli.dask_worker", addr, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                          "--host", "127.0.0.1", "--name", f"w{i}"], f"worker{i}.log") for i in range(2)]
        with distributed.Client(addr, timeout="30s") as c:
            c.wait_for_workers(2, timeout=60)
        yield {"address": addr, "workers": workers, "markers": str(markers), "dir": d}
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)


def test_scheduler_and_embedded_cluster_give_identical_results(dask_procs, tmp_path, capsys):
    import yaml

    from hil.campaign.spec import load_campaign
    from hil.campaign.store import read_results
    from hil.cli import main

    path = tmp_path / "same.yaml"
    path.write_text(yaml.safe_dump(_spec(name="same")))
    camp = load_campaign(str(path))
    # through the command line, as a user would: hil campaign FILE --scheduler tcp://127.0.0.1:PORT
    assert main(["campaign", str(path), "--scheduler", dask_procs["address"], "-o", str(tmp_path / "remote"),
                 "--no-progress"]) == 0
    assert f"{len(camp.tasks)} tasks, 0 already done, {len(camp.tasks)} run now" in capsys.readouterr().out
    remote = type("R", (), {"table": read_results(str(tmp_path / "remote"))})
    with embedded_cluster(2) as cluster, distributed.Client(cluster) as client:
        envs = client.run(lambda: {k: os.environ.get(k) for k in THREAD_ENV})
        assert len(envs) == 2 and all(e == THREAD_ENV for e in envs.values())  # no BLAS oversubscription
        local = run_campaign(camp, str(tmp_path / "local"), client=client, progress=False, report=False)
    assert _results(remote.table) == _results(local.table)
    assert {w.split(":")[1] for w in remote.table.column("worker").to_pylist()} == \
        {str(p.pid) for p in dask_procs["workers"]}  # both external workers took tasks
    md = metadata_of(str(tmp_path / "remote" / "results.parquet"))
    assert md["hil.campaign.spec"] == camp.spec and md["hil.campaign.spec_sha256"] == camp.spec_sha256
    assert md["hil.version"] and md["hil.versions"]["pyarrow"]
    summary = (tmp_path / "remote" / "summary.md").read_text()
    assert "| otfs | mrc | high-doppler | 0.02 | 8x8 |" in summary
    assert os.path.isfile(tmp_path / "remote" / "ber_high-doppler_nu0.02_8x8_q4.png")


def test_killed_worker_loses_no_result(dask_procs, tmp_path):
    """SIGKILL one of the two workers while it runs a task: the scheduler reruns its tasks on the other
    worker; every task has its row, equal to a run on a single in-process worker."""
    # OTFS 16x16 with the MP detector: ~20 ms a frame (more under load), 10 frames a task, 16 tasks
    spec = _spec(name="kill", waveform=["otfs"], M=16, N=16, detector=["mp"], snr_db=[6, 8, 10, 12], blocks=4,
                 frames_per_block=10)
    camp = parse_campaign(spec)
    out = {}
    before = set(glob.glob(os.path.join(dask_procs["markers"], "*")))
    th = threading.Thread(target=lambda: out.update(
        res=run_campaign(camp, str(tmp_path / "kill"), scheduler=dask_procs["address"], progress=False)))
    th.start()
    victim = dask_procs["workers"][0]
    t_end = time.monotonic() + 60
    killed = None
    while killed is None and time.monotonic() < t_end:
        new = set(glob.glob(os.path.join(dask_procs["markers"], "*"))) - before
        mine = [f for f in new if f.split(".")[-2] == str(victim.pid)]
        if len(mine) >= 2:  # it has finished one task and started the next: kill it inside that task
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait(timeout=10)
            killed = max(mine, key=lambda f: int(f.split(".")[-1]))
        time.sleep(0.005)
    th.join(timeout=120)
    assert killed is not None and not th.is_alive()
    res = out["res"]
    assert res.failures == [] and res.table.num_rows == len(camp.tasks)
    tid = os.path.basename(killed).split(".")[0]
    row = [r for r in res.table.to_pylist() if r["task_id"] == tid][0]
    assert row["worker"].split(":")[1] != str(victim.pid)  # the task it was running was rerun elsewhere
    with embedded_cluster(1, processes=False) as cl, distributed.Client(cl) as client:
        ref = run_campaign(camp, str(tmp_path / "ref"), client=client, progress=False, report=False)
    assert _results(res.table) == _results(ref.table)


@pytest.fixture
def thread_client():
    with embedded_cluster(2, processes=False) as cl, distributed.Client(cl) as client:
        yield client


def test_resume_after_interrupt_recomputes_nothing_finished(thread_client, tmp_path, monkeypatch):
    marks = tmp_path / "markers"
    marks.mkdir()
    monkeypatch.setenv(MARKER_ENV, str(marks))
    camp = parse_campaign(_spec(name="resume", snr_db=[2, 6, 10], blocks=3))  # 36 tasks
    out = str(tmp_path / "c")
    seen = []

    def stop_after_ten(row):
        seen.append(row["task_id"])
        if len(seen) == 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_campaign(camp, out, client=thread_client, progress=False, on_result=stop_after_ten)
    from hil.campaign.store import read_results

    first = read_results(out)
    done = set(first.column("task_id").to_pylist())
    assert done == set(seen) and len(done) == 10  # every result that reached the client is on disk
    t_end = time.monotonic() + 30  # tasks in flight at the interrupt finish or are cancelled first
    while (thread_client.processing() and any(thread_client.processing().values())) and time.monotonic() < t_end:
        time.sleep(0.05)
    t_resume = time.time_ns()
    res = run_campaign(camp, out, client=thread_client, progress=False)
    assert res.skipped == 10 and res.executed == len(camp.tasks) - 10 and res.failures == []
    after = {tid: [ns for ns, _ in v if ns > t_resume] for tid, v in _markers(str(marks)).items()}
    assert not any(after.get(tid) for tid in done)  # nothing that finished ran again
    assert sum(len(v) for v in after.values()) == len(camp.tasks) - 10
    assert res.table.num_rows == len(camp.tasks)
    again = run_campaign(camp, out, client=thread_client, progress=False)  # complete: a no-op
    assert again.executed == 0 and again.skipped == len(camp.tasks)
    whole = run_campaign(camp, str(tmp_path / "whole"), client=thread_client, progress=False, report=False)
    assert _results(res.table) == _results(whole.table)  # interrupted + resumed == uninterrupted


_FAULTS = {"flaky": None, "broken": None, "refused": None, "calls": {}}
_FAULT_LOCK = threading.Lock()


def _faulty_execute(d):
    """execute_task with injected exceptions (module level: Dask pickles it by reference; the in-process
    workers of thread_client share these globals)."""
    from hil.campaign.spec import Task
    from hil.campaign.tasks import execute_task

    tid = Task.from_dict(d).task_id
    with _FAULT_LOCK:
        n = _FAULTS["calls"][tid] = _FAULTS["calls"].get(tid, 0) + 1
    if tid == _FAULTS["broken"] or (tid == _FAULTS["flaky"] and n <= 2):
        raise RuntimeError(f"injected failure {n} of {tid}")
    if tid == _FAULTS["refused"]:  # a receiver the modem cannot have: the real ConfigError path
        d = {**d, "coords": {**d["coords"], "waveform": "otfs", "detector": "one-tap-pilot"}}
    return execute_task(d)


def test_failing_task_retried_then_reported(thread_client, tmp_path, monkeypatch):
    import hil.campaign.runner as runner
    from hil.campaign.tasks import execute_task

    camp = parse_campaign(_spec(name="fail"))
    flaky, broken, refused = camp.tasks[1].task_id, camp.tasks[2].task_id, camp.tasks[3].task_id
    monkeypatch.setitem(_FAULTS, "flaky", flaky)
    monkeypatch.setitem(_FAULTS, "broken", broken)
    monkeypatch.setitem(_FAULTS, "refused", refused)
    monkeypatch.setitem(_FAULTS, "calls", {})
    monkeypatch.setattr(runner, "execute_task", _faulty_execute)
    res = run_campaign(camp, str(tmp_path / "f"), client=thread_client, progress=False, retries=2)
    calls = _FAULTS["calls"]
    assert calls[flaky] == 3 and calls[broken] == 3  # 1 try + 2 retries each
    assert calls[refused] == 1  # a configuration error fails the same way every time: not retried
    fails = {f["task_id"]: f for f in res.failures}
    assert set(fails) == {broken, refused} and "injected failure 3" in fails[broken]["error"]
    assert "receiver" in fails[refused]["error"] and fails[refused]["retries"] == 0
    assert res.table.num_rows == len(camp.tasks) - 2
    assert {f["task_id"] for f in json.loads((tmp_path / "f" / "failures.json").read_text())} == {broken, refused}
    assert "## Failed tasks" in (tmp_path / "f" / "summary.md").read_text()
    monkeypatch.setattr(runner, "execute_task", execute_task)
    again = run_campaign(camp, str(tmp_path / "f"), client=thread_client, progress=False)
    assert again.executed == 2 and again.failures == [] and not (tmp_path / "f" / "failures.json").exists()


def test_cli_bad_scheduler_and_list(tmp_path, capsys):
    from hil.cli import main

    p = tmp_path / "c.yaml"
    import yaml

    p.write_text(yaml.safe_dump(_spec(name="cli")))
    assert main(["campaign", str(p), "--scheduler", "http://127.0.0.1:1", "-o", str(tmp_path / "o")]) == 2
    assert "--scheduler: got 'http://127.0.0.1:1'" in capsys.readouterr().err
    assert main(["campaign", "nosuch", "--list"]) == 2
    assert "CAMPAIGN.yaml: got 'nosuch'" in capsys.readouterr().err
    assert main(["campaign", str(p), "--list", "-o", str(tmp_path / "o")]) == 0
    assert "8 tasks, 0 done" in capsys.readouterr().out
    t0 = time.monotonic()
    assert main(["campaign", str(p), "--scheduler", "tcp://127.0.0.1:9", "-o", str(tmp_path / "o"),
                 "--no-progress", "--connect-timeout", "2"]) == 1  # nothing listens on the discard port
    assert "no Dask scheduler answered" in capsys.readouterr().err and time.monotonic() - t0 < 30
