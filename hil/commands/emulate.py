"""``hil emulate``: run the ZeroMQ channel emulator of a scenario."""

NAME = "emulate"
HELP = "run the ZeroMQ channel emulator (delay, Doppler, path loss, noise per link) of a scenario"
ORDER = 30
DESCRIPTION = """\
Run the channel emulator described by SCENARIO: an emulator file (scenarios/emulator/*.yaml) or a
scenario file with an `emulator:` section. Transmitters send baseband to the input endpoints, receivers
read from the output endpoints (raw cf32 or framed, see docs/wire.md); each link applies its satellite
pass. Stops after --duration seconds of wall time, or on Ctrl-C; prints the endpoints at start and a
status line per link while running (stderr), and the final per-link counters."""


def register(parser):
    parser.add_argument("scenario", metavar="SCENARIO.yaml", help="emulator file or scenario with an emulator: section")
    parser.add_argument("--duration", type=float, default=None, metavar="S",
                        help="stop after S seconds of wall time (default: run until Ctrl-C)")
    parser.add_argument("--telemetry", metavar="CSV", default=None,
                        help="write per-link telemetry to CSV (overrides telemetry_csv of the file)")
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
    import sys
    import time

    from hil.emulator.config import load_emulator_config
    from hil.emulator.server import EmulatorServer
    from hil.errors import check_range
    from hil.paths import resolve_scenario

    cfg = load_emulator_config(resolve_scenario(args.scenario))  # a path or a shipped name
    if args.telemetry:
        cfg = dataclasses.replace(cfg, telemetry_csv=args.telemetry)
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
    emu.start()
    try:
        for name in [*emu.inputs, *emu.outputs]:
            print(f"  {name}: {emu.address(name)}")
        sys.stdout.flush()
        t_end = None if args.duration is None else time.monotonic() + args.duration
        next_status = time.monotonic() + args.status_every if args.status_every > 0 else None
        while t_end is None or time.monotonic() < t_end:
            time.sleep(0.05 if t_end is None else max(0.0, min(0.05, t_end - time.monotonic())))
            if not emu.running:
                break
            if next_status is not None and time.monotonic() >= next_status:
                next_status += args.status_every
                for lk in emu.status()["links"].values():
                    print(f"[{lk['link']}] t={lk['t_s']:.3f} s delay={lk['delay_s'] * 1e3:.4f} ms "
                          f"doppler={lk['doppler_hz']:.1f} Hz el={lk['elevation_deg']:.1f} deg "
                          f"in={lk['samples_in']} out={lk['samples_out']} lost={lk['frames_lost']}",
                          file=sys.stderr)
    finally:
        st = emu.status()
        emu.stop()
    for lk in st["links"].values():
        print(f"link {lk['link']}: samples in {lk['samples_in']}, out {lk['samples_out']}, frames lost "
              f"{lk['frames_lost']}, duplicated {lk['frames_duplicated']}, bad {lk['frames_bad']}, "
              f"dropped samples {lk['samples_dropped']}")
    if st["error"]:
        print(f"emulator stopped on an error: {st['error']}", file=sys.stderr)
        return 1
    return 0
