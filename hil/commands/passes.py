"""``hil passes``: upcoming passes of a constellation (preset or TLE file) over a ground point, with
delay/Doppler figures at a carrier, and an optional PNG of delay, Doppler, elevation and path loss over
one pass."""

NAME = "passes"
HELP = "predict passes over a ground point (max elevation, duration, max Doppler / Doppler rate); plot one"
ORDER = 40
DESCRIPTION = """\
Predict the passes of a constellation over a ground point and print one row per pass:
AOS / culmination / LOS (UTC), duration, maximum elevation, one-way delay at culmination, and the
largest |Doppler| and |Doppler rate| at the carrier (--fc). Propagation is SGP4 (TLE files, or the
Walker presets); elevation mask 10 deg by default.

Constellations (-c): a preset name or the path of a TLE file. Presets:
{presets}

Examples:
  hil passes -c starlink-1584 --lat 36 --lon 90 --duration 1800
  hil passes -c sats.tle --start 2026-03-01T12:00:00Z --fc 2e9 --plot pass.png
"""


def _description():
    from hil.orbit import PRESETS

    return DESCRIPTION.format(presets="\n".join(f"  {k:<16} {v[0]}" for k, v in PRESETS.items()))


def register(parser):
    try:
        parser.description = _description()
    except Exception:  # pragma: no cover - the help must never fail to print
        pass
    parser.add_argument("-c", "--constellation", default="starlink-1584", metavar="PRESET|FILE.tle",
                        help="preset name or TLE file (default: starlink-1584)")
    parser.add_argument("--lat", type=float, default=36.0, help="ground latitude, deg north (default 36)")
    parser.add_argument("--lon", type=float, default=90.0, help="ground longitude, deg east (default 90)")
    parser.add_argument("--alt", type=float, default=0.0, help="ground height above WGS-84, m (default 0)")
    parser.add_argument("--start", default=None, metavar="UTC",
                        help="start of the search, ISO-8601 UTC (default: the element epoch of the first satellite)")
    parser.add_argument("--duration", type=float, default=3600.0, metavar="S", help="search window, s (default 3600)")
    parser.add_argument("--mask", type=float, default=10.0, metavar="DEG", help="elevation mask, deg (default 10)")
    parser.add_argument("--fc", type=float, default=20e9, metavar="HZ", help="carrier for Doppler, Hz (default 20e9)")
    parser.add_argument("--limit", type=int, default=50, metavar="N", help="print at most N passes (default 50)")
    parser.add_argument("--allow-stale", action="store_true",
                        help="propagate TLEs more than 30 days from their epoch anyway")
    parser.add_argument("--plot", default=None, metavar="FILE.png",
                        help="write a PNG of delay, Doppler, elevation and path loss over one pass")
    parser.add_argument("--pass-index", type=int, default=None, metavar="K",
                        help="which printed pass to plot (default: the highest)")
    return parser


def pass_profile(cons, ground, epoch, p, fc, n=400, allow_stale=False):
    """Geometry sampled over one pass (n points AOS..LOS plus the culmination), sorted in time."""
    import numpy as np

    from hil.orbit import geometry

    t = np.unique(np.concatenate([np.linspace(p.aos_s, p.los_s, n), [p.tca_s]]))
    return geometry(cons[p.sat_index], ground, t, epoch=epoch, allow_stale=allow_stale)


def plot_pass(geo, p, fc, path, *, link=None):
    """Write a PNG: delay (ms), Doppler (kHz), elevation (deg) and path loss (dB) against time since AOS."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from hil.orbit.linkbudget import LinkBudget, fspl_db

    link = link or LinkBudget.seed_downlink(fc_hz=fc)
    t = geo.t_s - p.aos_s
    el = geo.elevation_deg
    fs = fspl_db(geo.range_m, fc)
    ok = el >= 5.0  # the gas model's cosecant law holds from 5 deg
    total = np.full_like(fs, np.nan)
    if ok.any():
        total[ok] = link.path_loss_db(geo.range_m[ok], el[ok])
    fig, ax = plt.subplots(4, 1, figsize=(8, 9), sharex=True)
    ax[0].plot(t, geo.delay_s * 1e3)
    ax[0].set_ylabel("one-way delay (ms)")
    ax[1].plot(t, geo.doppler_hz(fc) / 1e3)
    ax[1].set_ylabel(f"Doppler at {fc / 1e9:g} GHz (kHz)")
    ax[2].plot(t, el)
    ax[2].axhline(p.mask_deg, color="grey", ls="--", lw=0.8)
    ax[2].set_ylabel("elevation (deg)")
    ax[3].plot(t, fs, label="free space")
    ax[3].plot(t, total, label="free space + gases (P.676)")
    ax[3].set_ylabel("path loss (dB)")
    ax[3].legend(loc="best")
    ax[3].set_xlabel(f"time since AOS (s); AOS {p.epoch.plus(p.aos_s).isoformat()[:19]} UTC")
    for a in ax:
        a.grid(True, alpha=0.3)
    fig.suptitle(f"{p.sat_name}: max elevation {p.max_elevation_deg:.1f} deg, {p.duration_s:.0f} s")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(args) -> int:
    import os

    import numpy as np
    from tqdm import tqdm

    from hil.commands._checks import integer, number, output_file
    from hil.errors import ConfigError, check_range
    from hil.orbit import GroundStation, as_epoch, find_passes, load_constellation
    from hil.orbit.satellites import DEFAULT_WALKER_EPOCH

    for opt in ("lat", "lon", "alt"):  # finite here; the ranges are GroundStation's (lat_deg, lon_deg, alt_m)
        number("--" + opt, getattr(args, opt))
    number("--mask", args.mask, -90.0, 90.0, unit="deg")
    number("--duration", args.duration, 1.0, 30 * 86400.0, unit="s")
    number("--fc", args.fc, 1e6, 1e12, unit="Hz")
    integer("--pass-index", args.pass_index, 0, 100000)
    output_file("--plot", args.plot)
    if os.path.isdir(args.constellation):
        raise ConfigError.bad_value("--constellation", args.constellation, "a preset name or a TLE file (this is a "
                                    "directory)")
    check_range("--duration", args.duration, 1.0, 30 * 86400.0, unit="s")
    check_range("--fc", args.fc, 1e6, 1e12, unit="Hz")
    check_range("--limit", args.limit, 1, 100000)
    if args.plot is not None and not str(args.plot).lower().endswith(".png"):
        raise ConfigError.bad_value("--plot", args.plot, "a file name ending in .png")
    ground = GroundStation(args.lat, args.lon, args.alt)
    epoch = as_epoch(args.start, field="--start") if args.start else None
    cons = load_constellation(args.constellation, epoch=epoch or DEFAULT_WALKER_EPOCH)
    if epoch is None:
        epoch = cons[0].element_epoch
    passes = find_passes(cons, ground, epoch, args.duration, mask_deg=args.mask, allow_stale=args.allow_stale)
    print(f"{len(passes)} passes of {cons.name or args.constellation} ({len(cons)} satellites) over {ground}, "
          f"mask {args.mask:g} deg, {epoch.isoformat()[:19]} UTC + {args.duration:g} s, fc {args.fc / 1e9:g} GHz")
    shown = passes[:args.limit]
    if not shown:
        return 0
    head = (f"{'#':>3} {'satellite':<24} {'AOS (UTC)':<19} {'TCA':>8} {'LOS':>8} {'dur s':>6} {'max el':>6} "
            f"{'delay ms':>8} {'max |Dop| kHz':>13} {'max |Dop rate| Hz/s':>19}")
    print(head)
    print("-" * len(head))
    profiles = []
    for k, p in enumerate(tqdm(shown, desc="pass profiles", unit="pass", leave=False, disable=None)):
        geo = pass_profile(cons, ground, epoch, p, args.fc, allow_stale=args.allow_stale)
        profiles.append(geo)
        dop = np.max(np.abs(geo.doppler_hz(args.fc)))
        rate = np.max(np.abs(geo.doppler_rate_hz_per_s(args.fc)))
        d_tca = float(geo.delay_s[np.argmax(geo.elevation_deg)]) * 1e3
        flag = ("<" if p.aos_clipped else " ") + (">" if p.los_clipped else " ")
        print(f"{k:>3} {p.sat_name[:24]:<24} {epoch.plus(p.aos_s).isoformat()[:19]:<19} "
              f"{epoch.plus(p.tca_s).isoformat()[11:19]:>8} {epoch.plus(p.los_s).isoformat()[11:19]:>8} "
              f"{p.duration_s:>6.0f} {p.max_elevation_deg:>6.1f} {d_tca:>8.3f} {dop / 1e3:>13.1f} {rate:>19.1f}{flag}")
    if len(passes) > len(shown):
        print(f"... {len(passes) - len(shown)} more (raise --limit)")
    if any(p.aos_clipped or p.los_clipped for p in shown):
        print("< / >: pass already under way at the start / still under way at the end of the window")
    if args.plot:
        if args.pass_index is None:  # the highest complete pass, else the highest
            score = [p.max_elevation_deg + (0.0 if (p.aos_clipped or p.los_clipped) else 1000.0) for p in shown]
            k = int(np.argmax(score))
        else:
            k = check_range("--pass-index", args.pass_index, 0, len(shown) - 1)
        plot_pass(profiles[k], shown[k], args.fc, args.plot)
        print(f"wrote {args.plot} (pass {k}, {shown[k].sat_name})")
    return 0
