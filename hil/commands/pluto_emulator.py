"""``hil pluto-emulator``: serve an emulated PlutoSDR over libiio's iiod protocol."""

NAME = "pluto-emulator"
HELP = "serve an emulated PlutoSDR (iiod protocol, for libiio/pyadi-iio) with a loopback channel"
ORDER = 60
DESCRIPTION = """\
Serve an emulated ADALM-PLUTO on TCP (iiod protocol, as libiio's network backend speaks it), so
unmodified libiio / pyadi-iio / iio_info talk to it as to a real Pluto:

    hil pluto-emulator --port 30431 --delay 12 --frequency-offset 1500
    iio_info -u ip:127.0.0.1            # or: adi.Pluto("ip:127.0.0.1")

What it transmits comes back on its receiver through the channel given here (delay in samples,
frequency offset in Hz, gain, noise), plus the TX/RX LO difference. Ranges (LO, bandwidth, gain,
sample rate) follow the firmware_cfg profile; out-of-range writes fail with -EINVAL like the driver.
Stop with Ctrl-C."""


MAX_DELAY_SAMPLES = float(1 << 20)  # about 0.5 s at 2 MS/s; the loopback keeps this much history


def register(parser):
    parser.add_argument("--profile", default="pluto_ad9363",
                        help="firmware_cfg profile: pluto_ad9363, pluto_ad9364 or pluto_2r2t (default %(default)s)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default %(default)s; loopback only unless you mean it)")
    parser.add_argument("--port", type=int, default=30431, help="TCP port (default %(default)s; 0 = any free port)")
    parser.add_argument("--delay", type=float, default=0.0, help="loopback delay in samples (default 0)")
    parser.add_argument("--frequency-offset", type=float, default=0.0, metavar="HZ",
                        help="loopback frequency offset / Doppler in Hz (default 0)")
    parser.add_argument("--gain-db", type=float, default=0.0, help="loopback gain in dB (default 0)")
    parser.add_argument("--noise-var", type=float, default=0.0,
                        help="complex AWGN variance per sample, relative to full scale (default 0)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.add_argument("--stall-policy", choices=("flag", "drop"), default="flag",
                        help="a host stall sets the DMA over/underflow flag only (flag, default) or also loses "
                             "the samples (drop, as the device)")
    parser.add_argument("--receiver", choices=("hardware", "ideal"), default="hardware",
                        help="hardware (default): gain-dependent levels, AGC, noise floor, DC, LO leakage; "
                             "ideal: a unity, noiseless loop")
    parser.add_argument("--pace", action="store_true",
                        help="capture in real time (an RX refill waits until the samples would exist), like a Pluto")
    parser.add_argument("--revision", choices=("A", "B", "C", "D"), default="C",
                        help="board revision shown in hw_model (default %(default)s)")


def _stop_on_sigterm():
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)  # `kill` stops it as cleanly as Ctrl-C


def run(args) -> int:
    from hil.commands._checks import number, seed
    from hil.errors import ConfigError
    from hil.iiod import PlutoEmulator

    if not 0 <= args.port <= 65535:
        raise ConfigError.bad_value("--port", args.port, "0..65535")
    # checked before the emulator allocates its delay line (--delay 1e15 was a 14 PiB allocation attempt)
    number("--delay", args.delay, 0.0, MAX_DELAY_SAMPLES, unit="samples")
    number("--frequency-offset", args.frequency_offset, -30e6, 30e6, unit="Hz")
    number("--gain-db", args.gain_db, -200.0, 60.0, unit="dB")
    number("--noise-var", args.noise_var, 0.0, 100.0)
    seed("--seed", args.seed)
    emu = PlutoEmulator(args.profile, delay=args.delay, frequency_offset_hz=args.frequency_offset,
                        gain=10 ** (args.gain_db / 20), noise_var=args.noise_var, seed=args.seed,
                        stall_policy=args.stall_policy, revision=args.revision, receiver=args.receiver,
                        pace=args.pace)
    emu.start(host=args.host, port=args.port)
    _stop_on_sigterm()
    print(f"Pluto emulator ({emu.profile.name}) serving on {emu.uri}  (Ctrl-C stops)", flush=True)
    try:
        emu.server.serve_forever()
    except KeyboardInterrupt:
        print("Pluto emulator stopped", flush=True)
    finally:
        emu.stop()
    return 0
