"""``hil payload``: the edge content placement study (SA-TN, TNP, MBT, SFA, GFA) of the seed paper on a
scenario file; prints the table and writes summary.json, table.txt and the plots."""

NAME = "payload"
HELP = "edge content placement study (SA-TN/TNP/MBT/SFA/GFA) over TN + a LEO shell; table and plots"
ORDER = 45
DESCRIPTION = """\
Run the onboard-payload placement study of the NTN edge content broadcast paper on SCENARIO.yaml:
regions of TN base stations with caches, correlated Zipf popularity, NTN coverage slots computed from
the constellation (hil.orbit), and the five approaches (SA-TN, TNP, MBT, SFA, GFA). Prints the total
placement time of each (TN and NTN together), the savings against the paper's, and the constellation
sweep; writes OUT/summary.json, OUT/table.txt, OUT/timeline.png (files placed vs time per strategy)
and OUT/sweep.png (total time vs number of satellites).

Examples:
  hil payload scenarios/payload/paper_fig9.yaml --out reports/payload
  hil payload payload/paper_fig9 --no-sweep --strategies sfa gfa
"""


def register(parser):
    parser.add_argument("scenario", metavar="SCENARIO.yaml",
                        help="payload scenario file, or a shipped one by name (payload/paper_fig9)")
    parser.add_argument("--out", default="reports/payload", metavar="DIR",
                        help="output folder (default reports/payload)")
    parser.add_argument("--no-sweep", action="store_true", help="skip the sweep_constellations runs")
    parser.add_argument("--strategies", nargs="+", default=None, metavar="NAME",
                        help="subset of sa-tn tnp mbt sfa gfa (default: the scenario's strategies.run)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def run(args) -> int:
    from dataclasses import replace

    from hil.errors import ConfigError
    from hil.paths import resolve_scenario
    from hil.payload import STRATEGIES, format_table, load_scenario, run_study, write_outputs

    sc = load_scenario(resolve_scenario(args.scenario, "SCENARIO.yaml"))
    if args.strategies:
        for s in args.strategies:
            if s not in STRATEGIES:
                raise ConfigError.bad_value("--strategies", s, "one of " + ", ".join(STRATEGIES))
        sc = replace(sc, strategies=replace(sc.strategies, run=list(args.strategies)))
    res = run_study(sc, sweep=not args.no_sweep, progress=not args.no_progress)
    print(format_table(res))
    for p in write_outputs(res, args.out):
        print(f"wrote {p}")
    return 0
