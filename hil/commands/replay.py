"""``hil replay``: transmit a SigMF capture through a radio's TX, sample for sample."""

NAME = "replay"
HELP = "transmit a SigMF capture (cf32_le) through a radio's TX, bit-exact"
ORDER = 41
DESCRIPTION = """Transmit the samples of a SigMF capture through a radio's TX.

The sample rate and centre frequency come from the capture (override with --rate/--freq); samples are
sent exactly as stored (no rescaling: they must be within +/-1.0 full scale). Gaps recorded as
overflows are filled with zeros of the lost length (--gaps zeros, default) so the timeline is kept,
or skipped (--gaps skip). With the mock backend, --verify reads the loopback back and checks that
every sample came back bit-exactly.

example:
  hil replay pass1.sigmf-meta --backend mock --verify
"""


def register(parser):
    from hil.commands.record import add_radio_args

    parser.add_argument("capture", metavar="CAPTURE", help="SigMF capture (.sigmf-meta or base name)")
    parser.add_argument("--rate", type=float, default=None, metavar="HZ", help="override the sample rate (Hz)")
    parser.add_argument("--freq", type=float, default=None, metavar="HZ", help="override the TX frequency (Hz)")
    parser.add_argument("--repeat", type=int, default=1, help="times to send the capture (default 1)")
    parser.add_argument("--gaps", choices=("zeros", "skip"), default="zeros",
                        help="recorded gaps: fill with zeros of the lost length (default) or skip them")
    parser.add_argument("--block", type=int, default=65536, help="samples per write (default %(default)s)")
    parser.add_argument("--verify", action="store_true",
                        help="mock loopback only: read everything back and check it is bit-exact")
    add_radio_args(parser)


MAX_STREAM_SAMPLES = 1 << 28  # what replay holds in memory: 2 GiB of cf32 (segments + zero-filled gaps)
MAX_TOTAL_SAMPLES = 1 << 40   # what --repeat may send in all


def replay_stream(cap, gaps: str):
    """The samples to transmit: the capture's segments, with zeros for known gaps if ``gaps == 'zeros'``.
    The length is checked before anything is allocated (a global_index far ahead would be a PiB of zeros)."""
    import numpy as np

    from hil.errors import ConfigError

    total, prev_end = 0, None
    for _start, gidx, seg in cap.segments():
        if prev_end is not None and gaps == "zeros" and gidx > prev_end:
            total += gidx - prev_end
        total += seg.size
        prev_end = gidx + seg.size
    if total > MAX_STREAM_SAMPLES:
        raise ConfigError.bad_value("capture", cap.meta_path, f"at most {MAX_STREAM_SAMPLES} samples to send "
                                    f"(segments + zero-filled gaps: {total}); try --gaps skip")
    parts = []
    prev_end = None
    for _start, gidx, seg in cap.segments():
        if prev_end is not None and gaps == "zeros" and gidx > prev_end:
            parts.append(np.zeros(gidx - prev_end, np.complex64))
        parts.append(seg)
        prev_end = gidx + seg.size
    return np.concatenate(parts) if parts else np.zeros(0, np.complex64)


def run(args) -> int:
    import os
    import sys

    import numpy as np
    from tqdm import tqdm

    from hil.capture import read_capture
    from hil.commands._checks import input_file, integer, number
    from hil.commands.record import make
    from hil.errors import ConfigError, HILError

    integer("--repeat", args.repeat, 1, 1_000_000)
    integer("--block", args.block, 1, 1 << 24, unit="samples")
    number("--rate", args.rate, 0.0, 1e10, unit="Hz", lo_open=True)
    number("--freq", args.freq, 0.0, 1e12, unit="Hz")
    if os.path.isdir(args.capture):
        input_file("CAPTURE", args.capture)  # says: a directory
    if args.verify and args.backend != "mock":
        raise ConfigError.bad_value("--verify", True, "only with --backend mock (it reads the loopback back)")
    cap = read_capture(args.capture)
    x = replay_stream(cap, args.gaps)
    if x.size == 0:
        raise ConfigError.bad_value("capture", cap.meta_path, "a capture with at least one sample")
    if x.size * args.repeat > MAX_TOTAL_SAMPLES or (args.verify and 2 * x.size * args.repeat > MAX_STREAM_SAMPLES):
        most = MAX_STREAM_SAMPLES // (2 * x.size) if args.verify else MAX_TOTAL_SAMPLES // x.size
        raise ConfigError.bad_value("--repeat", args.repeat, f"at most {most} for this capture of {x.size} samples"
                                    + (" with --verify (it keeps what it sends and reads back)" if args.verify else ""))
    radio = make(args)
    settings = {"tx_channels": (args.channel,), "sample_rate": args.rate or cap.sample_rate,
                "tx_frequency": args.freq or cap.frequency}
    if args.gain is not None:
        settings["tx_gain"] = args.gain
    if args.bandwidth is not None:
        settings["tx_bandwidth"] = args.bandwidth
    if args.verify:
        settings["rx_channels"] = (args.channel,)
    total = x.size * args.repeat
    with radio:
        radio.configure(**settings)
        radio.start()
        sent = 0
        back = []
        with tqdm(total=total, unit="S", unit_scale=True, file=sys.stderr, desc="replay", disable=None) as bar:
            for rep in range(args.repeat):
                for i in range(0, x.size, args.block):
                    blk = x[i:i + args.block]
                    last = rep == args.repeat - 1 and i + args.block >= x.size
                    radio.write(blk, end_burst=last)
                    sent += blk.size
                    bar.update(blk.size)
                    if args.verify:
                        back.append(radio.read(blk.size)[0])
        if args.verify:
            y = np.concatenate(back)
            want = np.tile(x, args.repeat)
            if not np.array_equal(y.view(np.uint64), want.view(np.uint64)):
                bad = int(np.count_nonzero(y.view(np.uint64) != want.view(np.uint64)))
                raise HILError(f"replay verify: {bad} of {total} samples differ after the loopback")
    print(f"replayed {sent} samples ({args.repeat}x {x.size}) from {cap.meta_path} at {settings['sample_rate']:g} "
          f"S/s, {settings['tx_frequency']:g} Hz" + ("; loopback verified bit-exact" if args.verify else ""))
    return 0
