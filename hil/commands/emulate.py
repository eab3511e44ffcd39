"""``hil emulate``: run the ZeroMQ channel emulator of a scenario."""

NAME = "emulate"
HELP = "run the ZeroMQ channel emulator (delay, Doppler, path loss, noise per link) of a scenario"
ORDER = 30
DESCRIPTION = """\
Run the channel emulator described by SCENARIO: an emulator file (scenarios/emulator/*.yaml) or a
scenario file with an `emulator:` section. Transmitters send baseband to the input endpoints, receivers
read from the output endpoints (raw cf32 or framed, see docs/wire.md); each link applies its satellite
pass. Once every socket is bound/connected it prints one line `READY {"endpoint": "address", ...}`
(JSON, resolved addresses) on stdout, for a parent process that starts it. Stops after --duration
seconds of wall time, or on Ctrl-C / SIGINT / SIGTERM: the last bursts' telemetry records are closed,
the final per-link counters printed, exit status 0 (1 if the channel stopped on an error). Prints a
status line per link while running (stderr). --bursts writes one JSON line per burst and link (the
experiment's truth, docs/emulator.md)."""


def ep_total(ep) -> int:
    """Messages an endpoint refused (all reasons)."""
    return sum(ep["bad"].values())


def register(parser):
    parser.add_argument("scenario", metavar="SCENARIO.yaml", help="emulator file or scenario with an emulator: section")
    parser.add_argument("--duration", type=float, default=None, metavar="S",
                        help="stop after S seconds of wall time (default: run until Ctrl-C)")
    parser.add_argument("--telemetry", metavar="CSV", default=None,
                        help="write per-link telemetry to CSV (overrides telemetry_csv of the file)")
    parser.add_argument("--bursts", metavar="JSONL", default=None,
                        help="write one JSON line per burst and link (overrides telemetry_bursts of the file)")
    parser.add_argument("--status-every", type=float, default=2.0, metavar="S",
                        help="seconds between status lines on stderr (0: none)")
    parser.add_argument("--check", action="store_true", help="validate the file, print the plan, start nothing")
    parser.add_argument("--pace", action="store_true", help="pace the outputs at the sample rate (hardware runs)")
    return parser


def _plan(cfg):
    lines = [f"emulator {cfg.name!r}: {cfg.sample_rate_hz:g} Hz, {len(cfg.links)} link(s)"]
    for e in cfg.endpoints:
        lines.append(f"  endpoint {e.name:<12} {e.pattern:<4} {'bind' if e.bind else 'connect':<7} "
                     f"{e.wire:<6} {e.address}")
    for lk in cfg.links:
        kinds = "+".join(t.kind for t in lk.trajectory)
        noise = "off" if lk.noise_dbfs is None else f"{lk.noise_dbfs:g} dBFS"
        multipath = (f"{lk.ntn_tdl}, DS {lk.delay_spread_s * 1e9:g} ns" if lk.ntn_tdl
                     else f"{len(lk.paths) or 1} path(s)")
        lines.append(f"  link {lk.name:<12} {lk.source} -> {lk.sink} ({lk.direction}, fc {lk.carrier_hz:g} Hz, "
                     f"trajectory {kinds}, gain {lk.gain_db:g} dB, noise {noise}, {multipath})")
    return "\n".join(lines)


def run(args) -> int:
    import dataclasses
    import json
    import signal
    import sys
    import threading
    import time

    from hil.commands._checks import number, output_file
    from hil.emulator.config import load_emulator_config
    from hil.emulator.server import EmulatorServer
    from hil.errors import check_range
    from hil.paths import resolve_scenario

    number("--status-every", args.status_every, 0.0, 86400.0, unit="s")
    number("--duration", args.duration, 0.0, 10 * 365 * 86400.0, unit="s")
    output_file("--telemetry", args.telemetry)
    output_file("--bursts", args.bursts)
    cfg = load_emulator_config(resolve_scenario(args.scenario))  # a path or a shipped name
    if not args.telemetry:
        output_file("telemetry_csv", cfg.telemetry_csv)
    if not args.bursts:
        output_file("telemetry_bursts", cfg.telemetry_bursts)
    if args.telemetry:
        cfg = dataclasses.replace(cfg, telemetry_csv=args.telemetry)
    if args.bursts:
        cfg = dataclasses.replace(cfg, telemetry_bursts=args.bursts)
    if args.pace:
        cfg = dataclasses.replace(cfg, pace=True)
    if args.duration is not None:
        check_range("--duration", args.duration, lo=0.0, unit="s")
    print(_plan(cfg))
    emu = EmulatorServer(cfg)  # builds every link (trajectory, channel): errors show before any socket opens
    if args.check:
        emu.stop()
        print("ok")
        return 0
    stop = threading.Event()
    old = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):  # a parent stops us: close the records, print, exit 0
            old[sig] = signal.signal(sig, lambda signum, frame: stop.set())
    try:
        emu.start()
    except BaseException:
        for sig, h in old.items():
            signal.signal(sig, h)
        raise
    try:
        for name in [*emu.inputs, *emu.outputs]:
            print(f"  {name}: {emu.address(name)}")
        print("READY " + json.dumps({name: emu.address(name) for name in [*emu.inputs, *emu.outputs]}),
              flush=True)
        t_end = None if args.duration is None else time.monotonic() + args.duration
        next_status = time.monotonic() + args.status_every if args.status_every > 0 else None
        while t_end is None or time.monotonic() < t_end:
            if stop.wait(0.05 if t_end is None else max(0.0, min(0.05, t_end - time.monotonic()))):
                break
            if not emu.running:
                break
            if next_status is not None and time.monotonic() >= next_status:
                next_status += args.status_every
                for lk in emu.status()["links"].values():
                    if lk["delay_s"] is None:  # past the trajectory's span
                        print(f"[{lk['link']}] t={lk['t_s']:.3f} s (past the trajectory) in={lk['samples_in']}",
                              file=sys.stderr)
                        continue
                    print(f"[{lk['link']}] t={lk['t_s']:.3f} s delay={lk['delay_s'] * 1e3:.4f} ms "
                          f"doppler={lk['doppler_hz']:.1f} Hz el={lk['elevation_deg']:.1f} deg "
                          f"in={lk['samples_in']} out={lk['samples_out']} lost={lk['frames_lost']}",
                          file=sys.stderr)
    finally:
        emu.stop()  # closes the open bursts' records first
        st = emu.status()
        for sig, h in old.items():
            signal.signal(sig, h)
    for lk in st["links"].values():
        print(f"link {lk['link']}: samples in {lk['samples_in']}, out {lk['samples_out']}, frames lost "
              f"{lk['frames_lost']} ({lk['samples_lost']} samples), duplicated {lk['frames_duplicated']}, bad "
              f"{lk['frames_bad']}, dropped samples {lk['samples_dropped']}, skipped {lk['samples_skipped']}, "
              f"bursts {lk['bursts']}")
    for name, ep in st["endpoints"].items():  # refusals and peers (issue 15): what the links never saw
        extra = [f"{k} {ep[k]}" for k in ("frames_lost", "frames_late", "frames_overlapping", "resyncs",
                                         "samples_nonfinite", "samples_dropped", "samples_unconfirmed")
                 if ep.get(k)]
        refused = ", ".join(f"{k} {v}" for k, v in sorted(ep["bad"].items()))
        print(f"endpoint {name}: messages {ep['messages']}, samples {ep['samples']}, refused "
              f"{ep_total(ep)}{' (' + refused + ')' if refused else ''}, peer disconnects "
              f"{ep.get('peer_disconnects', 0)}" + "".join(", " + e for e in extra))
    sys.stdout.flush()
    if st["error"]:
        print(f"emulator stopped on an error: {st['error']}", file=sys.stderr)
        return 1
    return 0
