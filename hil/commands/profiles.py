"""``hil profiles``: list, show and validate firmware_cfg device profiles and .ftr FIR files."""

NAME = "profiles"
HELP = "list, show or validate device profiles (firmware_cfg) and AD9361 .ftr FIR files"
ORDER = 70
DESCRIPTION = """Device profiles are YAML files in firmware_cfg/profiles/ (ranges, steps, channels, default URI).

  hil profiles                     list the profiles
  hil profiles show pluto_ad9363   print one profile's limits
  hil profiles validate            validate every shipped profile and .ftr file
  hil profiles validate my.yaml my.ftr
"""


def register(parser):
    parser.add_argument("action", nargs="?", choices=("list", "show", "validate"), default="list")
    parser.add_argument("names", nargs="*", metavar="NAME|FILE", help="profile names or .yaml/.ftr files")


def _show(prof) -> None:
    print(f"{prof.name}: {prof.description}")
    print(f"  backend {prof.backend}, chip {prof.chip}, default URI {prof.default_uri}")
    print(f"  sample_rate   {prof.allowed('sample_rate')}")
    for side in ("rx", "tx"):
        d = prof.direction(side)
        print(f"  {side} channels   {', '.join(d.channels)}" + (f"; antennas {', '.join(d.antennas)}" if d.antennas
                                                                   else ""))
        print(f"  {side}_frequency  {prof.allowed(side + '_frequency')}")
        print(f"  {side}_bandwidth  {prof.allowed(side + '_bandwidth')}")
        print(f"  {side}_gain       {prof.allowed(side + '_gain')}; modes {', '.join(d.gain.modes)}")
        for b in d.gain.bands:
            print(f"      below {b.below_hz / 1e6:g} MHz: {b.min:g}..{b.max:g} dB")
    t = prof.throughput
    if t.interface != "none" or t.notes:
        rate = f", about {t.max_sustained_sps / 1e6:g} MS/s sustained" if t.max_sustained_sps else ""
        print(f"  throughput    {t.interface}{rate}. {t.notes}".rstrip())
    for f in prof.fir:
        print(f"  FIR           {f.file} (for {f.sample_rate:g} S/s)")
    for k, v in prof.firmware.items():
        print(f"  firmware      {k}: {v}")
    for n in prof.notes:
        print(f"  note          {n}")


def run(args) -> int:
    import glob
    import os

    from firmware_cfg import list_profiles, load_ftr, load_profile
    from firmware_cfg.ftr import FIR_DIR
    from hil.errors import ConfigError

    if args.action == "list":
        for name in list_profiles():
            p = load_profile(name)
            print(f"{name:<14} {p.backend:<6} {p.description}")
        return 0
    if args.action == "show":
        if not args.names:
            raise ConfigError.bad_value("NAME", None, "one or more profile names: " + ", ".join(list_profiles()))
        for name in args.names:
            _show(load_profile(name))
        return 0
    items = args.names or (list_profiles() + sorted(glob.glob(os.path.join(FIR_DIR, "*.ftr"))))
    bad = 0
    for item in items:
        try:
            if item.endswith(".ftr"):
                fir = load_ftr(item)
                what = repr(fir)
            else:
                prof = load_profile(item)
                for f in prof.fir:
                    load_ftr(prof.fir_path(f))
                what = f"profile {prof.name} ({prof.backend})"
        except ConfigError as exc:
            print(f"FAIL {exc}")
            bad += 1
        else:
            print(f"ok   {item}: {what}")
    return 2 if bad else 0
