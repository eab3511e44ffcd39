"""``hil campaign``: a grid of BER points and scenario runs as seeded tasks on Dask; Parquet + plots."""

NAME = "campaign"
HELP = "run a campaign (grid of hil ber points / hil run scenarios) on Dask; Parquet results, CI plots, table"
ORDER = 35
DESCRIPTION = """\
Run CAMPAIGN.yaml: a grid (or list) of `hil ber` points (waveform x detector x channel x Es/N0 x Doppler
x seed block) and/or `hil run` scenario variants (a scenario file with overrides), as one Dask task per
(point, seed block). Each task's seed comes from the campaign seed and the task's coordinates, so the
results do not depend on the number of workers or the order tasks run in.

Runs on an embedded LocalCluster (--workers processes, default the usable cores, one thread each, BLAS
threads 1) or on an existing scheduler (--scheduler tcp://HOST:8786; start `dask scheduler` and
`dask worker tcp://HOST:8786 --nthreads 1` on the lab machines, with leo-hil installed on each).

Writes OUT/: results.parquet (one row per task, the spec and versions in its metadata), summary.md and
summary.json (per point: totals over blocks, BER/BLER with 95% Clopper-Pearson intervals and BER's
Student-t interval over seed blocks), one BER/BLER plot per channel, failures.json if a task failed
after --retries retries. Running again resumes: only tasks missing from OUT are computed. Exit status 1
if any task failed.

examples:
  hil campaign scenarios/campaigns/ber_grid.yaml -o reports/ber_grid
  hil campaign scenarios/campaigns/pass_variants.yaml --scheduler tcp://10.0.0.5:8786
  hil campaign scenarios/campaigns/ber_grid.yaml --list
"""


def register(parser):
    parser.add_argument("campaign", metavar="CAMPAIGN.yaml", help="campaign file (see docs/campaign.md)")
    parser.add_argument("-o", "--out", default=None, metavar="DIR",
                        help="results directory (default: reports/campaign/<name>); an existing one is resumed")
    parser.add_argument("--scheduler", default=None, metavar="ADDR",
                        help="address of a running Dask scheduler, tcp://HOST:PORT (default: an embedded LocalCluster)")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes of the embedded LocalCluster (default: the usable cores)")
    parser.add_argument("--retries", type=int, default=2,
                        help="retries of a task that raised, before it is reported as failed (default 2)")
    parser.add_argument("--connect-timeout", type=float, default=20.0, metavar="S",
                        help="seconds to wait for --scheduler to answer (default 20)")
    parser.add_argument("--list", action="store_true", help="print the tasks (and how many are done) and exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def run(args) -> int:
    import os

    from hil.campaign.spec import load_campaign
    from hil.commands._checks import input_file, integer, number
    from hil.errors import ConfigError
    from hil.paths import resolve_scenario

    path = args.campaign
    if not os.path.isfile(path):
        try:
            path = resolve_scenario(path if "/" in path else f"campaigns/{path}", "CAMPAIGN.yaml")
        except ConfigError:
            from hil.paths import shipped_scenarios

            shipped = [s for s in shipped_scenarios() if s.startswith("campaigns/")]
            raise ConfigError.bad_value("CAMPAIGN.yaml", args.campaign, "an existing campaign file" + (
                f" or a shipped one: {', '.join(shipped)}" if shipped else "")) from None
    input_file("CAMPAIGN.yaml", path)
    integer("--retries", args.retries, 0, 100)
    integer("--workers", args.workers, 1, 1024)
    number("--connect-timeout", args.connect_timeout, 0, 3600, lo_open=True, unit="s")
    if args.scheduler is not None and args.workers is not None:
        raise ConfigError.bad_value("--workers", args.workers, "no --workers with --scheduler (the scheduler's "
                                    "workers are used)")
    camp = load_campaign(path)
    out = args.out or os.path.join("reports", "campaign", camp.name)
    if args.list:
        from hil.campaign.runner import row_labels
        from hil.campaign.store import read_results

        t = read_results(out) if os.path.isdir(out) else None
        done = set() if t is None else set(t.column("task_id").to_pylist())
        for task in camp.tasks:
            mark = "done" if task.task_id in done else "todo"
            print(f"{task.task_id} {mark} {task.kind} block {task.block} {row_labels(task)}")
        print(f"{len(camp.tasks)} tasks, {sum(t.task_id in done for t in camp.tasks)} done in {out}")
        return 0
    try:
        import distributed  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise ConfigError.bad_value("hil campaign", f"missing {exc.name}",
                                    'dask[distributed] and pyarrow installed (pip install -e ".[test]")') from None
    import logging

    from hil.campaign.runner import check_scheduler_address, run_campaign

    # Dask logs every worker start/stop at INFO; show that only with `hil -v`
    logging.getLogger("distributed").setLevel(max(logging.getLogger().getEffectiveLevel(), logging.INFO))
    if logging.getLogger().getEffectiveLevel() >= logging.WARNING:
        # a Ctrl-C inside a Dask client call makes tornado log a Dask-internal NameError traceback; the
        # interrupt itself is reported by hil (and every result so far is on disk)
        logging.getLogger("tornado.application").setLevel(logging.CRITICAL)

    if args.scheduler is not None:
        check_scheduler_address(args.scheduler)
    res = run_campaign(camp, out, scheduler=args.scheduler, workers=args.workers, retries=args.retries,
                       progress=not args.no_progress, connect_timeout_s=args.connect_timeout)
    where = args.scheduler or f"embedded LocalCluster, {res.workers} workers"
    print(f"campaign {camp.name!r}: {res.tasks} tasks, {res.skipped} already done, {res.executed} run now "
          f"({res.seconds:.1f} s on {where if res.executed or res.failures else 'nothing'}), "
          f"{len(res.failures)} failed")
    with open(os.path.join(out, "summary.md"), encoding="utf-8") as fh:
        print(fh.read())
    print(f"results: {os.path.join(out, 'results.parquet')}; report: {os.path.join(out, 'summary.md')}")
    if res.failures:
        print(f"hil: {len(res.failures)} task(s) failed after {args.retries} retries: see "
              f"{os.path.join(out, 'failures.json')}; run again to retry them")
        return 1
    return 0
