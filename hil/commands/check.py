"""``hil check``: validate scenario files without running anything."""

NAME = "check"
HELP = "validate scenario YAML files (errors name the file, field, value and what is allowed)"
ORDER = 80


def register(parser):
    parser.add_argument("scenarios", nargs="+", metavar="SCENARIO.yaml", help="scenario files to validate")


def run(args) -> int:
    from hil.errors import ConfigError
    from hil.scenario import load_scenario

    bad = 0
    for path in args.scenarios:
        try:
            sc = load_scenario(path)
        except ConfigError as exc:
            print(f"FAIL {exc}")
            bad += 1
        else:
            kinds = ", ".join(w.kind for w in sc.waveforms)
            print(f"ok   {path}: scenario {sc.name!r} ({kinds}; backend {sc.backend.kind})")
    return 2 if bad else 0
