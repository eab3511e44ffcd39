"""``hil compare``: Table I of the STIFN paper measured - OTFS, ODDM, AFDM, GFDM, OFDM in one table."""

from __future__ import annotations

NAME = "compare"
HELP = "measure Table I: PAPR, spectrum/ACLR/mask, BER vs Es/N0 and Doppler, PA EVM, speed of the five waveforms"
ORDER = 35
DESCRIPTION = """\
Measure the five waveforms of Table I of the STIFN architecture paper (OTFS, ODDM, AFDM, GFDM, with OFDM
as the baseline) on one footing: equal bandwidth (cell rate B in a 1.25 B channel), equal frame duration
(1088 cells) and nearly equal spectral efficiency (CP, pilot and guard overheads counted and printed).

For each waveform: PAPR CCDF of the continuous-time signal and its value at 1e-3 (with and without the
waveform's pulse shaping); Welch PSD, 99 % occupied bandwidth, ACLR and a stated spectral mask; BER and
frame error rate vs Es/N0 and vs normalised Doppler on an NTN-TDL channel (TR 38.811) with an
embedded-pilot channel ESTIMATE and the waveform's best detector, the diversity order from the slope;
a Rapp/Saleh power amplifier turning PAPR into EVM, ACLR and an Es/N0 penalty; TX/RX ns per sample
(compiled kernels) beside counted multiplications. With --radio, the PA study's frames also go through
a radio loopback (TX -> cable/attenuator -> RX, or the mock): EVM and raw BER of the real chain.

Writes OUT/table1.csv, OUT/table1.md, OUT/summary.json, OUT/report.html and PNGs (ccdf, psd, ber, pa).
The default study takes 2..4 minutes on 2 cores; --quick about half a minute (few frames: a smoke test).

example:
  hil compare --out reports/table1
  hil compare --quick --waveform otfs ofdm --out /tmp/t1
  hil compare --radio pluto --radio-uri ip:192.168.2.1 --radio-frequency 2.4e9 --out reports/table1_pluto
"""


def register(parser):
    from hil.compare import ORDER as KINDS

    parser.add_argument("config", nargs="?", default=None, metavar="CONFIG.yaml",
                        help="study settings (default: the shipped scenarios/compare/table1.yaml)")
    parser.add_argument("--out", default="reports/compare", help="output folder (default reports/compare)")
    parser.add_argument("--waveform", nargs="+", default=list(KINDS), choices=KINDS, metavar="KIND",
                        help=f"waveforms to measure: {', '.join(KINDS)} (default all, in Table I's order)")
    parser.add_argument("--quick", action="store_true", help="few points and frames (tests, a first look)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--seed", type=int, default=None, help="override the settings' seed")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    g = parser.add_argument_group("radio loopback (optional): the PA study's frames through a real TX -> RX path")
    g.add_argument("--radio", default=None, metavar="BACKEND",
                   help="backend: mock, mock-zmq, pluto, soapy (TX looped to RX by cable + attenuator)")
    g.add_argument("--radio-profile", default=None, help="device profile (default the backend's)")
    g.add_argument("--radio-uri", default=None, help="device URI, e.g. ip:192.168.2.1")
    g.add_argument("--radio-rate", type=float, default=1e6, help="sample rate in Hz (default 1e6)")
    g.add_argument("--radio-frequency", type=float, default=None, help="TX and RX centre frequency in Hz")
    g.add_argument("--radio-level", type=float, default=-12.0, help="TX RMS level in dBFS (default -12)")
    return parser


def run(args) -> int:
    import time
    from dataclasses import replace

    from hil.compare import load_compare_config, quick_config, run_compare
    from hil.errors import ConfigError
    from hil.paths import resolve_scenario

    t0 = time.perf_counter()
    if args.jobs < 1:
        raise ConfigError.bad_value("--jobs", args.jobs, "an integer >= 1")
    path = resolve_scenario(args.config if args.config else "compare/table1", "config")
    cfg = load_compare_config(path)
    if args.seed is not None:
        if args.seed < 0:
            raise ConfigError.bad_value("--seed", args.seed, "an integer >= 0")
        cfg = replace(cfg, seed=args.seed)
    if args.quick:
        cfg = quick_config(cfg)
    if not -60.0 <= args.radio_level <= 0.0:
        raise ConfigError.bad_value("--radio-level", args.radio_level, "-60..0 dBFS")
    radio = None
    if args.radio is not None:
        from hil.backends import make_radio

        radio = make_radio(args.radio, args.radio_profile, args.radio_uri)
        radio.open()
        settings = {"sample_rate": args.radio_rate}
        if args.radio_frequency is not None:
            settings.update(tx_frequency=args.radio_frequency, rx_frequency=args.radio_frequency)
        radio.configure(**settings)
    try:
        summary = run_compare(cfg, args.out, progress=not args.no_progress, waveforms=args.waveform, jobs=args.jobs,
                              radio=radio, radio_level_dbfs=args.radio_level)
    finally:
        if radio is not None:
            radio.close()
    cols = ("waveform", "papr_1e3_db", "aclr_db", "esn0_for_ber_1e-3_db", "diversity_order_static",
            "tx_ns_per_sample", "rx_ns_per_sample")
    print(f"{'waveform':8s} {'PAPR@1e-3':>9s} {'ACLR':>7s} {'Es/N0@1e-3':>10s} {'div(static)':>11s} "
          f"{'TX ns/sa':>8s} {'RX ns/sa':>8s}")
    for r in summary["rows"]:
        vals = [r.get(c) for c in cols]
        f = ["-" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v)) for v in vals]
        print(f"{f[0]:8s} {f[1]:>9s} {f[2]:>7s} {f[3]:>10s} {f[4]:>11s} {f[5]:>8s} {f[6]:>8s}")
    print(f"wrote {args.out}/table1.csv, table1.md, summary.json, report.html and PNGs "
          f"(measurements {summary['elapsed_s']:.0f} s, total {time.perf_counter() - t0:.0f} s)")
    return 0
