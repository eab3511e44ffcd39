"""``hil tx``: the loop's transmitter as its own process."""

NAME = "tx"
HELP = "transmit a loop plan's timed bursts (in-band headers) to the emulator over the framed ZeroMQ wire"
ORDER = 12
DESCRIPTION = """\
The transmitter block of the HIL loop as a process: the frames of PLAN (a plan.json written by
`hil run`, see docs/experiments.md) - preamble, in-band header (frame number, burst id, CRC-16) and the
waveform frame - sent as timed bursts on the framed wire (each burst's start sample index in the header,
END_OF_BURST on its last message; silence is not sent) to a PULL endpoint of `hil emulate`. Any other
framed-wire program can take its place (docs/wire.md).

Example:
  hil tx --plan reports/demo/loop/otfs/plan.json --connect ipc:///tmp/hil/tx.sock
"""


def register(parser):
    parser.add_argument("--plan", required=True, metavar="PLAN.json", help="loop plan (written by hil run)")
    parser.add_argument("--connect", required=True, metavar="ADDR",
                        help="the emulator's framed input (PULL) address, e.g. ipc:///tmp/x/tx.sock")
    parser.add_argument("--out", default=None, metavar="FILE.json", help="write the counters as JSON")
    return parser


def run(args) -> int:
    import json
    import os

    from hil.errors import ConfigError
    from hil.loop.plan import LoopPlan
    from hil.loop.run import check_address, run_tx

    check_address("--connect", args.connect)
    if args.out and not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
        raise ConfigError.bad_value("--out", args.out, "a file in an existing directory")
    plan = LoopPlan.load(args.plan)
    c = run_tx(plan, args.connect)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(c, fh)
    rt = f", {c['underflows']} underflows (late by up to {c['late_max_s'] * 1e3:.1f} ms)" if c["realtime"] else ""
    print(f"hil tx: {c['bursts']} bursts, {c['messages']} messages, {c['samples']} samples in "
          f"{c['seconds']:.1f} s{rt}")
    return 0
