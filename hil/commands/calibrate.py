"""``hil calibrate``: measure a radio's IQ imbalance, DC offset, TX->RX delay, frequency offset and gain
over a loopback, store the result per device and write a report."""

NAME = "calibrate"
HELP = "calibrate a radio over a TX->RX loopback (IQ, DC, delay, ppm, gain) and store it per device"
ORDER = 40
DESCRIPTION = """\
Calibrate a radio over a loopback (a cable with an attenuator, or the emulator) and store the result
per device (profile + serial) as a versioned, checksummed JSON file that backends load and apply.

Steps: DC offset (TX idle), reference error against a tone (ppm), TX->RX delay (periodic multitone,
fractional samples), TX and RX IQ imbalance + TX LO leakage (TX LO offset from RX so both separate),
gain table over --gain-frequencies x --gain-rx-gains, then a before/after check (image rejection,
DC level, 16-QAM OFDM EVM) written as a report with plots.

Examples:
  hil calibrate --backend mock --impairments demo --report cal_report
  hil calibrate --backend pluto --profile pluto_ad9363 --uri ip:192.168.2.1 --frequency 2.4e9 \\
      --sample-rate 2e6 --rx-gain 30 --gain-frequencies 2.3e9,2.4e9,2.5e9 --gain-rx-gains 20,30,40

The store lives in $HIL_CALIBRATION_DIR (default ~/.local/share/leo-hil/calibration), or --store.
"""


def _floats(text, field="list"):
    if text is None or text == "":
        return ()
    import math

    from hil.errors import ConfigError

    out = []
    for part in text.split(","):
        try:
            out.append(float(part))
        except ValueError:
            raise ConfigError.bad_value(field, text, "comma-separated numbers, e.g. 2.3e9,2.4e9") from None
        if not math.isfinite(out[-1]):
            raise ConfigError.bad_value(field, text, "comma-separated finite numbers, e.g. 2.3e9,2.4e9")
    if len(out) > 64:
        raise ConfigError.bad_value(field, text, "at most 64 values")
    return tuple(out)


def register(parser):
    from hil.backends import BACKENDS

    parser.add_argument("--backend", default="mock", choices=[k for k in BACKENDS if k != "mock-zmq"],
                        help="which backend drives the radio (default: mock)")
    parser.add_argument("--profile", default=None, help="firmware_cfg profile (default: the backend's default)")
    parser.add_argument("--uri", default=None, help="device URI / SoapySDR args (default: the profile's)")
    parser.add_argument("--serial", default=None, help="device serial for the store (default: from the radio/URI)")
    parser.add_argument("--sample-rate", type=float, default=None, metavar="HZ")
    parser.add_argument("--frequency", type=float, default=None, metavar="HZ", help="LO frequency (RX and TX)")
    parser.add_argument("--rx-gain", type=float, default=None, metavar="DB")
    parser.add_argument("--tx-gain", type=float, default=None, metavar="DB")
    parser.add_argument("--gain-frequencies", default="", metavar="HZ,HZ,...",
                        help="RF frequencies of the gain table (the LO frequency is always included)")
    parser.add_argument("--gain-rx-gains", default="", metavar="DB,DB,...",
                        help="RX gain settings of the gain table (the RX gain is always included)")
    parser.add_argument("--lo-offset", type=float, default=0.125, metavar="CYCLES",
                        help="TX-RX LO offset of the IQ step, in cycles/sample (0: do not separate TX and RX)")
    parser.add_argument("--source-ppm", type=float, default=0.0, metavar="PPM",
                        help="reference error of the tone source (0: this device's own TX or a locked generator)")
    parser.add_argument("--impairments", default=None, metavar="FILE.yaml|demo",
                        help="mock only: inject these front-end impairments (dsp.impairments.FrontEndImpairments)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the mock's noise")
    parser.add_argument("--store", default=None, metavar="DIR", help="calibration store directory")
    parser.add_argument("--no-save", action="store_true", help="measure and report, but do not store")
    parser.add_argument("--report", default="calibration_report", metavar="DIR", help="report directory")
    parser.add_argument("--no-report", action="store_true", help="write no report files")


DEMO_IMPAIRMENTS = dict(tx_iq_gain_db=-0.7, tx_iq_phase_deg=3.0, tx_lo_leakage_dbfs=-32.0, rx_iq_gain_db=0.9,
                        rx_iq_phase_deg=-4.0, rx_dc_dbfs=-22.0, rx_dc_phase_deg=35.0, latency_samples=57.3,
                        noise_dbfs=-60.0, rf_gain_freqs_hz=(2.3e9, 2.5e9), rf_gain_error_db=(-0.8, 1.1),
                        rx_gain_step_error=0.02, inband_tilt_db=1.0)


def _radio(args):
    from hil.backends import make_radio
    from hil.errors import ConfigError

    if args.impairments is None:
        return make_radio(args.backend, args.profile, args.uri)
    if args.backend != "mock":
        raise ConfigError.bad_value("--impairments", args.impairments, "only with --backend mock")
    from calibration.mock_frontend import impaired_mock
    from dsp.impairments import FrontEndImpairments
    from hil.config import load_yaml, parse

    if args.impairments == "demo":
        imp = parse(FrontEndImpairments, DEMO_IMPAIRMENTS, source="demo impairments")
    else:
        imp = parse(FrontEndImpairments, load_yaml(args.impairments), source=args.impairments)
    return impaired_mock(args.profile or "mock", imp, rng=args.seed)


def run(args) -> int:
    import sys

    from tqdm import tqdm

    from hil.commands._checks import input_file, number, output_dir, seed

    seed("--seed", args.seed)
    for opt in ("sample_rate", "frequency", "rx_gain", "tx_gain", "lo_offset", "source_ppm"):
        number("--" + opt.replace("_", "-"), getattr(args, opt))
    if args.impairments not in (None, "demo"):
        input_file("--impairments", args.impairments)
    if not args.no_save and args.store is not None:
        output_dir("--store", args.store)
    if not args.no_report:
        output_dir("--report", args.report)

    from calibration.procedure import STEPS, CalibrationSettings, run_calibration
    from calibration.report import summary_rows, write_report
    from calibration.store import save
    from hil.config import parse

    gain_f = list(_floats(args.gain_frequencies, "--gain-frequencies"))
    gain_g = list(_floats(args.gain_rx_gains, "--gain-rx-gains"))
    settings = parse(CalibrationSettings, {
        k: v for k, v in dict(sample_rate=args.sample_rate, frequency=args.frequency, rx_gain=args.rx_gain,
                              tx_gain=args.tx_gain, gain_frequencies=gain_f, gain_rx_gains=gain_g,
                              lo_offset=args.lo_offset, source_ppm=args.source_ppm).items() if v is not None},
        source="command line")
    radio = _radio(args)
    with tqdm(total=len(STEPS), desc="calibrate", unit="step", file=sys.stderr, leave=False) as bar:
        def progress(step):
            bar.set_postfix_str(step)
            if bar.n < bar.total and step != STEPS[0]:
                bar.update(1)

        with radio:
            result = run_calibration(radio, settings, serial=args.serial, progress=progress)
        bar.update(bar.total - bar.n)
    rec = result.record
    print(f"calibrated {rec.profile}/{rec.serial} ({rec.backend}) at {rec.frequency_hz:g} Hz, "
          f"fs {rec.sample_rate_hz:g} Hz")
    print(f"  TX->RX delay   {rec.delay_samples:.3f} samples")
    print(f"  reference      {rec.ppm + 0.0:+.4f} ppm against the tone source")
    print(f"  RX DC          {abs(rec.rx_dc):.3g} ({rec.metrics.get('dc_before_dbfs', float('nan')):.1f} dBFS idle)")
    print(f"  RX IQ w        {rec.rx_iq_w:.4g}   TX IQ beta {rec.tx_iq_beta:.4g}   separated: {rec.iq_separated}")
    for name, before, after, unit in summary_rows(result):
        b = "n/a" if before is None else f"{before:.2f}"
        a = "n/a" if after is None else f"{after:.2f}"
        print(f"  {name:<22} {b:>8} -> {a:>8} {unit}")
    if not args.no_save:
        print(f"stored: {save(rec, args.store)}")
    if not args.no_report:
        files = write_report(result, args.report)
        print(f"report: {files[-1]} ({len(files)} files)")
    return 0
