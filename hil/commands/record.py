"""``hil record``: receive from a radio into a SigMF capture (cf32_le), gaps and settings annotated."""

NAME = "record"
HELP = "record samples from a radio (mock, soapy, pluto) into a SigMF capture"
ORDER = 40
DESCRIPTION = """Record samples from a radio's RX into a SigMF pair OUT.sigmf-meta / OUT.sigmf-data (cf32_le).

Every applied radio setting goes into the metadata (hil:settings); an RX overflow starts a new capture
segment (core:global_index keeps the radio's sample clock) and adds an "overflow" annotation with the
number of samples lost. The written file is validated with the sigmf validator.

example:
  hil record pass1 --backend mock --rate 1.92e6 --freq 2.2e9 --samples 100000 --mock-noise-dbfs -30
"""


MAX_SAMPLES = 1 << 40  # 8 TiB of cf32: more than any disk here


# Radio arguments shared with ``hil replay`` (which imports them from here).
def add_radio_args(parser, *, default_backend: str = "mock") -> None:
    g = parser.add_argument_group("radio")
    g.add_argument("--backend", default=default_backend, metavar="KIND",
                   help="mock, soapy or pluto (default: %(default)s)")
    g.add_argument("--profile", default=None, metavar="NAME",
                   help="firmware_cfg profile (default: the backend's; see `hil profiles`)")
    g.add_argument("--uri", default=None, help="device URI / SoapySDR args (default: the profile's)")
    g.add_argument("--gain", type=float, default=None, metavar="DB", help="gain in dB (manual mode)")
    g.add_argument("--bandwidth", type=float, default=None, metavar="HZ", help="analog bandwidth in Hz")
    g.add_argument("--channel", type=int, default=0, metavar="N", help="channel number (default 0)")
    g.add_argument("--option", "-O", action="append", default=[], metavar="KEY=VALUE",
                   help="backend option (value parsed as YAML), e.g. -O latency=5; repeatable")
    g.add_argument("--mock-noise-dbfs", type=float, default=None, metavar="DBFS",
                   help="mock backend: AWGN power in dB full scale (seeded by --seed)")
    g.add_argument("--seed", type=int, default=0, help="seed of the mock's noise (default 0)")


def check_radio_args(args) -> None:
    """The radio options shared with ``hil replay``, checked before any radio is made."""
    from hil.commands._checks import integer, number, seed

    number("--gain", args.gain, -200.0, 200.0, unit="dB")
    number("--bandwidth", args.bandwidth, 0.0, 1e11, unit="Hz", lo_open=True)
    integer("--channel", args.channel, 0, 63)
    number("--mock-noise-dbfs", args.mock_noise_dbfs, -300.0, 60.0, unit="dBFS")
    seed("--seed", args.seed)


def backend_options(args) -> dict:
    """Backend keyword options from ``-O KEY=VALUE`` (YAML values) and the mock's noise option."""
    import yaml

    from hil.errors import ConfigError

    check_radio_args(args)

    opts = {}
    for item in args.option:
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError.bad_value("--option", item, "KEY=VALUE")
        try:
            opts[key.strip()] = yaml.safe_load(val)
        except yaml.YAMLError as exc:
            problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
            raise ConfigError.bad_value("--option", item, f"KEY=VALUE with a YAML value ({problem})") from None
    if args.mock_noise_dbfs is not None:
        if args.backend != "mock":
            raise ConfigError.bad_value("--mock-noise-dbfs", args.mock_noise_dbfs, "only with --backend mock")
        from hil.backends.mock import LoopbackChannel

        opts["channel"] = LoopbackChannel(noise_power=10 ** (args.mock_noise_dbfs / 10), rng=args.seed)
    return opts


def make(args, **extra):
    from hil.backends import make_radio

    return make_radio(args.backend, args.profile, args.uri, **backend_options(args), **extra)


def register(parser):
    parser.add_argument("out", metavar="OUT", help="capture base name (.sigmf-meta/.sigmf-data are added)")
    n = parser.add_mutually_exclusive_group()
    n.add_argument("--samples", type=int, default=None, help="number of samples to record")
    n.add_argument("--seconds", type=float, default=None, help="duration in s (default 1 s of samples)")
    parser.add_argument("--rate", type=float, default=None, metavar="HZ", help="sample rate in Hz")
    parser.add_argument("--freq", type=float, default=None, metavar="HZ", help="RX centre frequency in Hz")
    parser.add_argument("--block", type=int, default=65536, help="samples per read (default %(default)s)")
    parser.add_argument("--description", default="", help="free text for core:description")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing capture")
    add_radio_args(parser)


def run(args) -> int:
    import sys

    from tqdm import tqdm

    from hil.capture import CaptureWriter, validate_capture
    from hil.commands._checks import integer, number, output_file
    from hil.errors import ConfigError

    integer("--block", args.block, 1, 1 << 24, unit="samples")
    integer("--samples", args.samples, 1, MAX_SAMPLES)
    number("--seconds", args.seconds, 0.0, 1e7, unit="s", lo_open=True)
    number("--rate", args.rate, 0.0, 1e10, unit="Hz", lo_open=True)
    number("--freq", args.freq, 0.0, 1e12, unit="Hz")
    import os

    if os.path.isdir(args.out) or args.out.endswith(("/", os.sep)):
        raise ConfigError.bad_value("OUT", args.out, "a capture base name (.sigmf-meta/-data are added), not a "
                                    "directory")
    output_file("OUT", f"{args.out}.sigmf-meta")
    radio = make(args, stream_errors="mark")
    settings = {"rx_channels": (args.channel,)}
    for key, val in (("sample_rate", args.rate), ("rx_frequency", args.freq), ("rx_gain", args.gain),
                     ("rx_bandwidth", args.bandwidth)):
        if val is not None:
            settings[key] = val
    with radio:
        radio.configure(**settings)
        fs = radio.sample_rate
        if args.samples is not None:
            total = args.samples
        else:
            total = int(round((args.seconds if args.seconds is not None else 1.0) * fs))
        if not 1 <= total <= MAX_SAMPLES:
            raise ConfigError.bad_value("--samples/--seconds", total, f"1..{MAX_SAMPLES} samples")
        writer = CaptureWriter(args.out, fs, radio.rx_frequency, description=args.description,
                               hw=radio.profile.description, overwrite=args.overwrite,
                               extra={"profile": radio.profile.name, "backend": args.backend,
                                      "uri": str(radio.uri), "settings": radio.settings()})
        radio.start()
        done = 0
        try:
            with tqdm(total=total, unit="S", unit_scale=True, file=sys.stderr, desc="record",
                      disable=None) as bar:
                while done < total:
                    x, meta = radio.read(min(args.block, total - done))
                    writer.append(x, meta)
                    done += x.size
                    bar.update(x.size)
        finally:
            radio.stop()
            path = writer.close()
        overflows, lost, freq = radio.overflows, radio.lost_samples, radio.rx_frequency
    validate_capture(path)
    print(f"recorded {done} samples at {fs:g} S/s, {freq:g} Hz -> {path} "
          f"({overflows} overflow(s), {lost} samples lost); valid SigMF")
    return 0
