"""``hil run``: fly a satellite pass over the bench and write a report."""

NAME = "run"
HELP = "run an experiment: a satellite pass through channel, tracking and modems; writes a report"
ORDER = 10
DESCRIPTION = """\
Run the experiment of SCENARIO.yaml: the satellite pass it names (constellation or TLE file, ground
point, which pass), bursts of frames of each waveform sent every frames.interval_s of pass time through
the channel (ephemeris-driven delay, Doppler, path loss and noise: the emulator's delay line) and the
backend's radio, received with sync + Doppler tracking (ephemeris-aided, blind, or none) and
demodulated. Writes a report directory: summary.json, summary.md, report.html, PNG plots and one
CSV of per-frame numbers per waveform and tracking mode, and prints a summary table.

A network scenario (a file with a `network:` section, docs/network.md) runs every serving link through
`hil emulate` processes (as `hil network run --backend mock-zmq`) and writes its per-user report.

Examples:
  hil run scenarios/s_band_pass.yaml
  hil run network/hand_foot -o reports/hand-foot
  hil run scenarios/waveform_comparison.yaml -o reports/cmp --compare blind none
  hil run scenarios/ka_band_pass.yaml --max-bursts 40
"""


def register(parser):
    from hil.scenario import TRACKING_MODES

    parser.add_argument("scenario", metavar="SCENARIO.yaml", help="scenario file (see docs/experiments.md)")
    parser.add_argument("-o", "--out", default=None, metavar="DIR",
                        help="report directory (default: reports/<scenario name>)")
    parser.add_argument("--mode", choices=TRACKING_MODES, default=None,
                        help="tracking mode (default: the scenario's tracking.mode)")
    parser.add_argument("--compare", nargs="+", choices=TRACKING_MODES, default=None, metavar="MODE",
                        help="also run these tracking modes on the same pass (ephemeris, blind, none)")
    parser.add_argument("--max-bursts", type=int, default=None, metavar="N",
                        help="at most N bursts over the pass (spread evenly); quick looks")
    parser.add_argument("--no-html", action="store_true", help="skip the self-contained report.html")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    return parser


def execute(scenario_path, out, *, modes=None, max_bursts=None, html=True, progress=True, title=None,
            banner=None, backend=None):
    """Shared by ``hil run`` and ``hil demo``: run, print where the report is and the summary table."""
    import os

    from hil.errors import ConfigError
    from hil.experiment import run_scenario, summary_table
    from hil.paths import resolve_scenario
    from hil.scenario import load_scenario

    scenario_path = resolve_scenario(scenario_path)  # a path, or a shipped name (works from any directory)
    sc = load_scenario(scenario_path)
    if backend is not None:  # e.g. hil demo's fallback from mock-zmq to mock
        import dataclasses

        sc = dataclasses.replace(sc, backend=dataclasses.replace(sc.backend, kind=backend))
    if max_bursts is not None and max_bursts < 1:
        raise ConfigError.bad_value("--max-bursts", max_bursts, "an integer >= 1")
    out = out or os.path.join("reports", sc.name)
    if banner:
        print(banner)
    res = run_scenario(sc, out, base_dir=os.path.dirname(os.path.abspath(scenario_path)), progress=progress,
                       modes=modes, max_bursts=max_bursts, html=html, title=title)
    print(f"scenario {sc.name!r}: {res.backend_note}")
    print(f"pass: {res.summary['meta']['pass']}")
    print(summary_table(res.summary))
    print(f"report: {os.path.join(out, 'summary.md')}" + (f" and {os.path.join(out, 'report.html')}" if html else "")
          + f" ({res.seconds:.1f} s)")
    return 0


def _network_file(path) -> bool:
    from hil.config import load_yaml

    data = load_yaml(path)
    return isinstance(data, dict) and "network" in data


def run(args) -> int:
    from hil.paths import resolve_scenario

    path = resolve_scenario(args.scenario)
    if _network_file(path):
        # a network scenario (docs/network.md): every serving link through `hil emulate` processes
        import argparse
        import os

        from hil.commands import network
        from hil.config import load_yaml

        if args.mode or args.compare:
            from hil.errors import ConfigError

            raise ConfigError.bad_value("--mode/--compare", args.mode or args.compare,
                                        "nothing for a network scenario (its receiver section sets the mode)")
        name = str(load_yaml(path)["network"].get("name", "network"))
        out = args.out or os.path.join("reports", name)
        return network.run(argparse.Namespace(action="run", scenario=path, out=out, step=10.0, backend="mock-zmq",
                                              relay=None, input=None, output=None, max_bursts=args.max_bursts))
    modes = None
    if args.mode or args.compare:
        from hil.paths import resolve_scenario
        from hil.scenario import load_scenario

        sc = load_scenario(resolve_scenario(args.scenario))
        first = args.mode or sc.tracking.mode
        modes = [first] + [m for m in (args.compare or sc.tracking.compare) if m != first]
    return execute(args.scenario, args.out, modes=modes, max_bursts=args.max_bursts, html=not args.no_html,
                   progress=not args.no_progress)
