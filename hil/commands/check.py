"""``hil check``: validate scenario and emulator files without running anything."""

NAME = "check"
HELP = "validate scenario / emulator YAML files (errors name the file, field, value and what is allowed)"
ORDER = 80


def register(parser):
    parser.add_argument("files", nargs="+", metavar="FILE.yaml",
                        help="experiment scenarios (hil run), network scenarios (hil network / hil run) or "
                             "emulator files (hil emulate)")


def _check(path: str) -> str:
    from hil.config import load_yaml
    from hil.emulator.config import load_emulator_config
    from hil.scenario import load_scenario

    data = load_yaml(path)
    if isinstance(data, dict) and "network" in data:
        from hil.network import load_network_config

        cfg = load_network_config(path)
        return (f"network scenario ({len(cfg.nodes)} nodes, {len(cfg.links)} links, {len(cfg.relays)} relays, "
                f"{len(cfg.events)} events)")
    if isinstance(data, dict) and ("links" in data or "endpoints" in data):
        cfg = load_emulator_config(path)
        return f"emulator file {cfg.name!r} ({len(cfg.endpoints)} endpoints, {len(cfg.links)} links)"
    sc = load_scenario(path)
    kinds = ", ".join(w.kind for w in sc.waveforms)
    extra = f"; emulator section with {len(sc.emulator.links)} links" if sc.emulator else ""
    return f"scenario {sc.name!r} ({kinds}; backend {sc.backend.kind}{extra})"


def run(args) -> int:
    from hil.errors import ConfigError

    bad = 0
    for path in args.files:
        try:
            what = _check(path)
        except ConfigError as exc:
            print(f"FAIL {exc}")
            bad += 1
        else:
            print(f"ok   {path}: {what}")
    return 2 if bad else 0
