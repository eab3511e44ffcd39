"""``hil rx``: the loop's receiver as its own process."""

NAME = "rx"
HELP = "receive a loop plan's bursts from the emulator: sync, tracking, header, detection; frames as JSON lines"
ORDER = 13
DESCRIPTION = """\
The receiver block of the HIL loop as a process: reads the framed wire from a PUSH endpoint of
`hil emulate` and runs acquisition, ephemeris-aided (or blind) Doppler tracking, timing, per-frame
phase, header decoding and detection. It knows only the samples, the plan's schedule and frame format,
and its own ephemeris (its TLE source and errors) - never what the channel applied. Writes one JSON line
per frame found (position, header, frame number, Doppler and delay estimates, hard bits) and a last line
with its counters. Stops after the last burst's END_OF_BURST from the emulator, or when the stream
has been idle --idle seconds.

Example:
  hil rx --plan reports/demo/loop/otfs/plan.json --connect ipc:///tmp/hil/rx.sock --out rx.jsonl
"""


def register(parser):
    parser.add_argument("--plan", required=True, metavar="PLAN.json", help="loop plan (written by hil run)")
    parser.add_argument("--connect", required=True, metavar="ADDR",
                        help="the emulator's framed output (PUSH) address, e.g. ipc:///tmp/x/rx.sock")
    parser.add_argument("--out", default=None, metavar="FILE.jsonl", help="frames found, one JSON line each")
    parser.add_argument("--idle", type=float, default=30.0, metavar="S",
                        help="end after S seconds without samples once the stream started (default 30; the "
                             "normal end is the emulator's END_OF_BURST after the last burst)")
    parser.add_argument("--latency", type=int, default=0, metavar="SAMPLES",
                        help="TX->RX latency of the radios (from hil calibrate), removed from delay estimates")
    return parser


def run(args) -> int:
    import math

    from hil.errors import ConfigError
    from hil.loop.plan import LoopPlan
    from hil.loop.run import check_address, run_rx

    check_address("--connect", args.connect)
    if not (math.isfinite(args.idle) and 0 < args.idle <= 3600):
        raise ConfigError.bad_value("--idle", args.idle, "0 < S <= 3600 seconds")
    if args.latency < 0:
        raise ConfigError.bad_value("--latency", args.latency, ">= 0 samples")
    if args.out:
        import os

        d = os.path.dirname(os.path.abspath(args.out))
        if not os.path.isdir(d):
            raise ConfigError.bad_value("--out", args.out, "a file in an existing directory")
    plan = LoopPlan.load(args.plan)
    c = run_rx(plan, args.connect, args.out, idle_s=args.idle, latency_samples=args.latency)
    ok = sum(1 for f in c["frames"] if f["header_ok"])
    print(f"hil rx: {len(c['frames'])} preambles, {ok} headers decoded, {c['rx_windows']} windows, "
          f"{c['rx_samples']} samples ({c['rx_samples_missing']} missing in windows, {c['rx_frames_lost']} frames "
          f"lost on the wire)")
    return 0 if c["rx_received_anything"] else 1
