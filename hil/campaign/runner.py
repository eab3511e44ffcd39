"""Run a campaign's tasks on Dask (``dask.distributed``) and append the results as they finish.

* Cluster: an embedded ``LocalCluster`` (``workers`` processes, default the usable cores, one thread each,
  ``processes=True``), or an existing scheduler by address (``tcp://host:8786``; the lab's workers).
  Embedded workers start with ``OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=MKL_NUM_THREADS=1`` (Dask's nanny
  ``pre-spawn-environ``) so the BLAS behind NumPy/SciPy does not start a thread per core in every worker.
* One Dask task per campaign task, submitted with ``retries`` (an exception is retried that many times on
  any worker; a ConfigError - a setting the loop refuses - is reported at once, not retried); a task whose
  worker dies is rescheduled by the scheduler (up to its
  ``distributed.scheduler.allowed-failures``). A task that still fails is reported (failures.json and the
  return value), never dropped silently.
* Results go to :class:`~hil.campaign.store.ResultStore` as they complete (``as_completed``), with a tqdm
  progress bar and ETA; already finished task ids are skipped (resume).
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
import threading
import time
from dataclasses import dataclass, field

from hil.campaign.spec import Campaign, Task
from hil.campaign.store import ResultStore, versions
from hil.campaign.tasks import CONFIG_ERROR, THREAD_ENV, execute_task
from hil.errors import ConfigError, HILError

__all__ = ["run_campaign", "CampaignResult", "check_scheduler_address", "default_workers", "row_labels",
           "embedded_cluster"]

_ADDR = re.compile(r"^(tcp|tls)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")


def check_scheduler_address(address: str) -> str:
    m = _ADDR.match(address or "")
    if not m or not 0 < int(m.group(3)) < 65536:
        raise ConfigError.bad_value("--scheduler", address, "a Dask scheduler address tcp://HOST:PORT (or tls://)")
    return address


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def row_labels(task: Task) -> dict:
    """The labelled columns of a task's row (from the client's copy of the task, not the worker's)."""
    c = task.coords
    if task.kind == "ber":
        return {k: c[k] for k in ("waveform", "detector", "channel", "M", "N", "qam", "cp_len", "taps", "doppler",
                                  "snr_db")}
    return {"waveform": c["waveform"], "scenario": c["scenario_name"], "mode": c["mode"],
            "variant": json.dumps(c["variant"], sort_keys=True), "max_bursts": c["max_bursts"]}


@dataclass
class CampaignResult:
    outdir: str
    tasks: int
    skipped: int                 # already finished before this run (resume)
    executed: int                # finished in this run
    failures: list = field(default_factory=list)
    seconds: float = 0.0         # submit -> last result
    table: object = None         # pyarrow Table of every finished task (results.parquet)
    workers: int = 0


def embedded_cluster(workers: int, *, processes: bool = True, silence: bool = True):
    """A LocalCluster of ``workers`` single-threaded processes with one BLAS/OpenMP thread each, on 127.0.0.1,
    no dashboard (its HTTP server on a free loopback port). ``processes=False``: threads of this process
    (tests)."""
    import dask
    from distributed import LocalCluster

    env = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **THREAD_ENV}
    # Ctrl-C goes to the whole foreground process group: the worker processes would die with tracebacks
    # while the client is still saving results. Spawned while SIGINT is ignored, they inherit SIG_IGN
    # (Python keeps an ignored SIGINT ignored), and the client shuts them down itself.
    main = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGINT, signal.SIG_IGN) if main and processes else None
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ": env}):
            where = {"host": "127.0.0.1"} if processes else {}  # threads: in-process transport, no host
            return LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                                dashboard_address=None,
                                scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
                                silence_logs=logging.CRITICAL if silence else logging.WARNING, **where)
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)


def _connect(scheduler, workers, timeout_s):
    from distributed import Client

    if scheduler is not None:
        check_scheduler_address(scheduler)
        try:
            return Client(scheduler, timeout=f"{timeout_s}s"), None
        except (OSError, TimeoutError) as exc:
            raise HILError(f"--scheduler {scheduler}: no Dask scheduler answered within {timeout_s:g} s "
                           f"({type(exc).__name__}: {exc})") from None
    cluster = embedded_cluster(workers)
    return Client(cluster), cluster


def run_campaign(campaign: Campaign, outdir: str, *, scheduler: str | None = None, workers: int | None = None,
                 retries: int = 2, progress: bool = True, client=None, connect_timeout_s: float = 20.0,
                 report: bool = True, on_result=None) -> CampaignResult:
    """Run every task of ``campaign`` not already in ``outdir`` and write results (+ report).

    ``client``: an existing ``distributed.Client`` to use as is (tests, notebooks); otherwise one is made for
    ``scheduler`` or an embedded LocalCluster of ``workers`` processes (default: the usable cores).
    ``on_result(row)``: called in the client after each stored row (live plots; tests interrupt through it).
    An exception there (KeyboardInterrupt included) stops the campaign with every row so far on disk.
    """
    from hil.commands._checks import integer, output_dir

    integer("--retries", retries, 0, 100)
    if workers is not None:
        integer("--workers", workers, 1, 1024)
    output_dir("--out", outdir)
    meta = {"hil.campaign.name": campaign.name, "hil.campaign.spec": json.dumps(campaign.spec, sort_keys=True),
            "hil.campaign.spec_sha256": campaign.spec_sha256, "hil.version": versions()["hil"],
            "hil.versions": json.dumps(versions(), sort_keys=True)}
    store = ResultStore(outdir, meta)
    with open(os.path.join(outdir, "campaign.json"), "w", encoding="utf-8") as fh:
        json.dump({"name": campaign.name, "source": campaign.source, "spec": campaign.spec,
                   "spec_sha256": campaign.spec_sha256, "tasks": len(campaign.tasks), "versions": versions()},
                  fh, indent=1, sort_keys=True)
    done = store.done_ids()
    if done:
        _check_versions(outdir, meta["hil.version"])
    todo = [t for t in campaign.tasks if t.task_id not in done]
    res = CampaignResult(outdir, len(campaign.tasks), len(campaign.tasks) - len(todo), 0)
    if todo:
        _execute(todo, store, res, scheduler=scheduler, workers=workers or default_workers(), retries=retries,
                 progress=progress, client=client, timeout_s=connect_timeout_s, name=campaign.name,
                 initial=res.skipped, on_result=on_result)
    res.table = store.consolidate({t.task_id for t in campaign.tasks})
    fpath = os.path.join(outdir, "failures.json")
    if res.failures:
        with open(fpath, "w", encoding="utf-8") as fh:
            json.dump(res.failures, fh, indent=1)
    elif os.path.exists(fpath):
        os.remove(fpath)
    if report and res.table is not None:
        from hil.campaign.report import write_campaign_report

        write_campaign_report(outdir, res.table, campaign, failures=res.failures)
    return res


def _check_versions(outdir: str, current: str) -> None:
    """Task ids do not include the software version (a bug fix elsewhere should not void a campaign), so
    resuming across versions mixes rows of two versions: say so (the rows' files record each version)."""
    import glob

    from hil.campaign.store import metadata_of

    files = glob.glob(os.path.join(outdir, "results.parquet")) + glob.glob(os.path.join(outdir, "parts", "*.parquet"))
    seen = {metadata_of(f).get("hil.version") for f in files} - {current}
    if seen:
        logging.getLogger(__name__).warning(
            "%s holds results of hil %s; this is hil %s: resumed rows and new rows come from different versions "
            "(use a new --out to recompute everything)", outdir, ", ".join(sorted(map(str, seen))), current)


def _execute(todo, store, res, *, scheduler, workers, retries, progress, client, timeout_s, name, initial,
             on_result=None):
    from distributed import as_completed
    from tqdm import tqdm

    own = client is None
    cluster = None
    if own:
        client, cluster = _connect(scheduler, workers, timeout_s)
    by_key = {}
    bar = tqdm(total=initial + len(todo), initial=initial, unit="task", desc=name, file=sys.stderr,
               disable=not progress, smoothing=0.05, dynamic_ncols=True)
    futures = []
    try:
        res.workers = len(client.nthreads())
        t0 = time.perf_counter()
        # one key per task *and run*: a key cancelled by an interrupted run may still be being forgotten by
        # the scheduler when a resumed run on the same cluster submits it again (it would come back cancelled)
        run_token = os.urandom(4).hex()
        for t in todo:
            f = client.submit(execute_task, t.to_dict(), key=f"hil-campaign-{t.task_id}-{run_token}",
                              retries=retries, pure=False)
            by_key[f.key] = t
            futures.append(f)
        for f in as_completed(futures):
            t = by_key[f.key]
            out = f.result() if f.status == "finished" else None
            if out is not None and CONFIG_ERROR in out:
                res.failures.append({"task_id": t.task_id, "kind": t.kind, "block": t.block,
                                     "labels": row_labels(t), "error": f"ConfigError: {out[CONFIG_ERROR]}",
                                     "retries": 0})
                bar.write(f"task {t.task_id} refused its configuration (not retried): {out[CONFIG_ERROR]}")
            elif out is not None:
                row = {**out, **row_labels(t)}
                store.add(row)
                res.executed += 1
                if on_result is not None:
                    on_result(row)
            else:
                try:
                    exc = f.exception()
                    err = f"{type(exc).__name__}: {exc}"
                except Exception as e:  # noqa: BLE001 - a cancelled future has no exception to fetch
                    err = f"{f.status}: {type(e).__name__}: {e}"
                res.failures.append({"task_id": t.task_id, "kind": t.kind, "block": t.block,
                                     "labels": row_labels(t), "error": err, "retries": retries})
                bar.write(f"task {t.task_id} failed after {retries} retries: {err}")
            f.release()
            bar.update()
        res.seconds = time.perf_counter() - t0
    finally:
        bar.close()
        store.flush()
        for f in futures:
            if not f.done():
                f.cancel()
        if own:
            client.close()
            if cluster is not None:
                cluster.close()
