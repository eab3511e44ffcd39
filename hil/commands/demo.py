"""``hil demo``: the README's first command - one LEO pass over the mock bench, with a report."""

NAME = "demo"
HELP = ("run the demo: a LEO pass (OTFS and OFDM, S band) over the mock bench and the ZeroMQ emulator; "
        "writes reports/demo/")
ORDER = 5
DESCRIPTION = """\
Fly scenarios/demo.yaml end to end on the mock backend: a Starlink-shell satellite (550 km) passing
over the seed area at 2 GHz, bursts of OTFS and OFDM frames every few seconds of pass time through the
emulator's delay line (ephemeris-driven delay, Doppler, path loss, noise), ephemeris-aided Doppler
tracking, demodulation. Writes the report (summary.md, report.html, plots, per-frame CSVs) and prints
a summary table. Takes about a minute on a laptop core.

The pass channel (ephemeris-driven delay, Doppler, loss, noise) is applied per burst with the
emulator's delay line (dsp.delay.ChannelStream); the samples then cross the ZeroMQ channel emulator
(backend 'mock-zmq', framed wire) into the mock radio - or, where that backend is not available, the
in-process loopback mock. The output and the report say which was used.
"""


def register(parser):
    parser.add_argument("-o", "--out", default="reports/demo", metavar="DIR",
                        help="report directory (default: reports/demo)")
    parser.add_argument("--scenario", default=None, metavar="SCENARIO.yaml",
                        help="another scenario instead of the shipped demo")
    parser.add_argument("--max-bursts", type=int, default=None, metavar="N",
                        help="at most N bursts over the pass (quick look)")
    parser.add_argument("--no-html", action="store_true", help="skip report.html")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    return parser


def demo_scenario_path() -> str:
    """The shipped scenarios/demo.yaml (the checkout's, or the installed package data: hil/paths.py)."""
    from hil.paths import resolve_scenario

    return resolve_scenario("demo.yaml", "--scenario")


def run(args) -> int:
    import os

    from hil.commands.run import execute
    from hil.errors import ConfigError, DeviceError
    from hil.paths import resolve_scenario

    path = resolve_scenario(args.scenario, "--scenario") if args.scenario else demo_scenario_path()
    if not os.path.exists(path):
        raise ConfigError.bad_value("--scenario", path, "an existing scenario file (the demo ships in scenarios/)")
    backend, banner = None, "hil demo: samples cross the ZeroMQ channel emulator (backend mock-zmq)"
    try:
        import zmq  # noqa: F401

        from hil.backends import backend_class

        backend_class("mock-zmq")
    except (DeviceError, ImportError) as exc:
        backend = "mock"
        banner = f"hil demo: ZeroMQ emulator backend not available ({exc}); in-process loopback mock instead"
    return execute(path, args.out, max_bursts=args.max_bursts, html=not args.no_html,
                   progress=not args.no_progress, title="hil demo: a LEO pass over the bench", banner=banner,
                   backend=backend)
