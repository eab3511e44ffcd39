"""``hil ber``: bit-error-rate sweep of one or more waveforms over a channel; writes a CSV and a PNG plot."""

from __future__ import annotations

NAME = "ber"
HELP = "simulate BER vs SNR (Es/N0) for waveforms over AWGN / fading channels; write CSV + PNG"
ORDER = 30
DESCRIPTION = """\
Simulate bit error rate against SNR (Es/N0 with unit-energy QAM symbols) for one or more waveforms,
seeded, each SNR point stopping after --min-errors bit errors (or --max-bits). Writes OUT.csv and
OUT.png (matplotlib, no display needed).

channels:
  awgn          no fading
  flat          one Rayleigh path (no delay, no Doppler)
  rayleigh      --taps equal-power Rayleigh paths at delay bins 0..taps-1, Jakes Doppler up to --max-doppler
  raviteja      4 paths, delay bins [0,1,2,3], Doppler bins [0,1,2,3] (Raviteja et al. 2018 reference)
  high-doppler  like rayleigh with fractional Doppler, default --max-doppler 0.3/M (cycles per delay bin)

receivers (--detector NAME, or per waveform KIND=NAME,KIND=NAME): ideal (AWGN), one-tap, lmmse (dense,
small frames), the detectors of dsp.detection when installed (mp, mrc, onetap) - all with perfect
channel knowledge - and one-tap-pilot (OFDM, channel estimated from pilots on every 4th subcarrier).
Default: ideal on awgn, one-tap on flat, lmmse otherwise.
Fading points average over channel draws: use --min-frames (e.g. 150) as well as --min-errors.

example:
  hil ber --waveform otfs afdm ofdm --M 16 --N 8 --channel high-doppler \
          --detector otfs=mp,afdm=mp,ofdm=one-tap --snr 0:20:4 --min-frames 150 --out results/hd
"""


MAX_SNR_POINTS = 1000
MAX_FRAME_SAMPLES = 1 << 16     # M x N: a frame of 65,536 samples (a 256 x 256 grid)
MAX_DENSE_SAMPLES = 4096        # M x N for the dense LMMSE receiver: an (MN)^2 matrix of 268 MB


def _snr_list(text: str) -> list[float]:
    import math

    from hil.errors import ConfigError

    try:
        if ":" in text:
            parts = [float(p) for p in text.split(":")]
            if len(parts) != 3 or parts[2] <= 0 or parts[1] < parts[0]:
                raise ValueError
            start, stop, step = parts
            if not all(math.isfinite(p) for p in parts):
                raise ValueError
            n = int(round((stop - start) / step)) + 1
            if n > MAX_SNR_POINTS:
                raise ValueError
            return [start + i * step for i in range(n)]
        out = [float(p) for p in text.split(",") if p.strip()]
        if not out or len(out) > MAX_SNR_POINTS or not all(math.isfinite(v) for v in out):
            raise ValueError
        return out
    except (ValueError, OverflowError):
        raise ConfigError.bad_value("--snr", text, f"START:STOP:STEP (step > 0) or a comma list, in dB: finite, "
                                    f"1..{MAX_SNR_POINTS} points") from None


def register(parser):
    from dsp.ber import CHANNELS
    from dsp.waveforms import KINDS

    parser.add_argument("--waveform", nargs="+", default=["otfs"], choices=KINDS, metavar="KIND",
                        help=f"waveform(s) to simulate: {', '.join(KINDS)} (default otfs)")
    parser.add_argument("--M", type=int, default=16, help="delay bins / subcarriers (default 16)")
    parser.add_argument("--N", type=int, default=16, help="Doppler bins / symbols (GFDM: subsymbols, odd) (default 16)")
    parser.add_argument("--qam", type=int, default=4, choices=(4, 16, 64), help="QAM order (default 4)")
    parser.add_argument("--cp-len", type=int, default=None, help="prefix length in samples (default per waveform)")
    parser.add_argument("--channel", default="awgn", choices=CHANNELS, help="channel model (default awgn)")
    parser.add_argument("--taps", type=int, default=4, help="paths of the rayleigh/high-doppler channels (default 4)")
    parser.add_argument("--max-doppler", type=float, default=None,
                        help="largest Doppler for rayleigh/high-doppler in cycles per delay bin (= cycles/sample "
                             "except ODDM); default 0 (rayleigh), 0.3/M (high-doppler)")
    parser.add_argument("--detector", default=None,
                        help="receiver name for every waveform, or per waveform KIND=NAME[,KIND=NAME] "
                             "(e.g. otfs=lmmse,ofdm=one-tap); default by channel, see below")
    parser.add_argument("--snr", default="0:20:4", help="SNR points in dB: START:STOP:STEP or a,b,c (default 0:20:4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    parser.add_argument("--min-errors", type=int, default=100, help="bit errors per point before stopping (100)")
    parser.add_argument("--max-bits", type=int, default=1_000_000, help="bits per point at most (1e6)")
    parser.add_argument("--min-frames", type=int, default=1,
                        help="frames (channel draws) per point at least, for fading averages (default 1)")
    parser.add_argument("--out", default="ber", help="output prefix: writes OUT.csv and OUT.png (default ./ber)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _detectors(text, kinds, default) -> dict:
    from hil.errors import ConfigError

    if not text:
        return dict.fromkeys(kinds, default)
    if "=" not in text:
        return dict.fromkeys(kinds, text)
    out = dict.fromkeys(kinds, default)
    for item in text.split(","):
        kind, _, name = item.partition("=")
        if kind.strip() not in kinds or not name.strip():
            raise ConfigError.bad_value("--detector", item, f"KIND=NAME with KIND one of {', '.join(kinds)}")
        out[kind.strip()] = name.strip()
    return out


def _max_doppler(args) -> float:
    """Largest Doppler in cycles per delay bin for the channel presets (the same for every waveform)."""
    if args.max_doppler is not None:
        return args.max_doppler
    return {"high-doppler": 0.3 / args.M}.get(args.channel, 0.0)


def _modem(kind, args):
    import math

    from dsp.waveforms import make_modem

    opts = {}
    if args.cp_len is not None:
        opts["cp_len"] = args.cp_len
    if kind == "afdm":
        # size the chirp rate for the channel: Doppler in bins of 1/(M N) cycles/sample, delays in samples
        n = args.M * args.N
        if args.channel == "raviteja":
            l_max, nu = 3, 3.0 / n
        elif args.channel in ("awgn", "flat"):
            l_max, nu = 0, 0.0
        else:
            l_max, nu = args.taps - 1, _max_doppler(args)
        opts["l_max"] = l_max
        opts["alpha_max"] = int(math.ceil(nu * n - 1e-9))
    return make_modem(kind, args.M, args.N, args.qam, **opts)


def _check_args(args, detectors) -> None:
    """Every size and count before anything is allocated (``--M 100000 --N 100000`` is a 10^10-sample
    frame; the dense LMMSE matrix grows with (MN)^2)."""
    import os

    from hil.commands._checks import integer, number, output_dir, output_file, seed
    from hil.errors import ConfigError

    integer("--M", args.M, 1, MAX_FRAME_SAMPLES)
    integer("--N", args.N, 1, MAX_FRAME_SAMPLES)
    if args.M * args.N > MAX_FRAME_SAMPLES:
        raise ConfigError.bad_value("--M x --N", args.M * args.N, f"at most {MAX_FRAME_SAMPLES} samples per frame")
    dense = [k for k, d in detectors.items() if d == "lmmse"]
    if dense and args.M * args.N > MAX_DENSE_SAMPLES:
        raise ConfigError.bad_value("--M x --N", args.M * args.N, f"at most {MAX_DENSE_SAMPLES} with the dense lmmse "
                                    f"receiver (used for {', '.join(dense)}); choose --detector mp/mrc/one-tap")
    integer("--cp-len", args.cp_len, 0, args.M * args.N)
    integer("--taps", args.taps, 1, max(1, args.M))
    number("--max-doppler", args.max_doppler, -0.5, 0.5, unit="cycles per delay bin")
    seed("--seed", args.seed)
    integer("--min-errors", args.min_errors, 1, 10**9)
    integer("--max-bits", args.max_bits, 1, 10**13)
    integer("--min-frames", args.min_frames, 1, 10**7)
    output_dir("--out", os.path.dirname(os.path.abspath(args.out)))  # created before the sweep, as before
    output_file("--out", f"{args.out}.csv")


def run(args) -> int:
    import numpy as np

    from dsp.ber import (
        ber_sweep,
        channel_preset,
        make_receiver,
        plot_ber,
        point_row,
        qpsk_awgn_ber,
        qpsk_rayleigh_ber,
        write_csv,
    )

    snrs = _snr_list(args.snr)
    default = {"awgn": "ideal", "flat": "one-tap"}.get(args.channel, "lmmse")
    detectors = _detectors(args.detector, args.waveform, default)
    _check_args(args, detectors)
    curves, rows = {}, []
    for kind in args.waveform:
        detector = detectors[kind]
        modem = _modem(kind, args)
        if detector == "one-tap-pilot" and kind == "ofdm":
            modem.set_pilots()  # every 4th subcarrier of every symbol
        chan = channel_preset(args.channel, modem, max_doppler=_max_doppler(args), taps=args.taps)
        rx = make_receiver(detector, modem)
        pts = ber_sweep(modem, snrs, channel=chan, receiver=rx, seed=args.seed, min_errors=args.min_errors,
                        max_bits=args.max_bits, min_frames=args.min_frames, progress=not args.no_progress,
                        desc=f"{kind} {args.channel}")
        curves[f"{kind} ({detector})"] = pts
        rows += [point_row(p, waveform=kind, M=args.M, N=args.N, qam=args.qam, channel=args.channel,
                           detector=detector, seed=args.seed) for p in pts]
        for p in pts:
            print(f"{kind:5s} {args.channel:12s} {detector:8s} {p.snr_db:6.2f} dB  BER {p.ber:.3e}  "
                  f"({p.bit_errors} / {p.bits} bits, {p.frames} frames)")
    write_csv(rows, f"{args.out}.csv")  # its directory was checked before the sweep
    ref = {}
    if args.qam == 4 and args.channel in ("awgn", "flat"):
        x = np.linspace(min(snrs), max(snrs), 100)
        ref = {"4-QAM AWGN (exact)": (x, qpsk_awgn_ber(x))} if args.channel == "awgn" else \
            {"4-QAM flat Rayleigh (exact)": (x, qpsk_rayleigh_ber(x))}
    plot_ber(curves, f"{args.out}.png", reference=ref,
             title=f"{args.channel}, {args.qam}-QAM, M={args.M}, N={args.N}")
    print(f"wrote {args.out}.csv and {args.out}.png")
    return 0
