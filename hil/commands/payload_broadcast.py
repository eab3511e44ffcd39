"""``hil payload-broadcast``: files broadcast as chunks through the HIL loop to several ground receivers,
reassembled and verified by hash; optionally the placement re-planned from the measured rate."""

NAME = "payload-broadcast"
HELP = "broadcast files (chunks with file id, chunk id, CRC-32) over a pass to ground receivers; verify by hash"
ORDER = 46
DESCRIPTION = """\
The satellite node broadcasts BROADCAST.yaml's files through the HIL loop (the project's modem, the
emulator's channel per receiver, the loop's receiver): chunks carry file id, chunk id, chunk count and a
CRC-32 and go round a carousel for the whole stretch of the pass. Each receiver keeps the chunks with a
good CRC heard while its own ephemeris puts the satellite above the mask, reassembles the files and
checks each one's SHA-256; the rest is listed as undelivered with the reason. Prints per receiver the
files delivered and the measured spectral efficiency; with --replan PAYLOAD.yaml also the efficiency the
placement study assumes at the same elevation and the placement re-run with the measured rates.
Writes OUT/broadcast.json.

Examples:
  hil payload-broadcast scenarios/payload/broadcast_pass.yaml --out reports/broadcast
  hil payload-broadcast scenarios/payload/broadcast_pass.yaml --backend mock \\
      --replan scenarios/payload/paper_fig9.yaml
"""


def register(parser):
    parser.add_argument("scenario", metavar="BROADCAST.yaml",
                        help="broadcast scenario file, or a shipped one by name (payload/broadcast_pass)")
    parser.add_argument("--out", default="reports/broadcast", metavar="DIR", help="output folder")
    parser.add_argument("--backend", default=None, choices=("mock", "mock-zmq"),
                        help="override the loop scenario's backend")
    parser.add_argument("--replan", default=None, metavar="PAYLOAD.yaml",
                        help="re-run this placement study with the NTN rates scaled by measured / assumed")
    return parser


def run(args) -> int:
    import json
    import os

    import numpy as np

    from hil.paths import resolve_scenario
    from hil.payload.broadcast import assumed_efficiency, load_broadcast, replan, run_broadcast

    bc, sc = load_broadcast(resolve_scenario(args.scenario, "BROADCAST.yaml"))
    payload_sc = None
    if args.replan:
        from hil.payload.config import load_scenario

        payload_sc = load_scenario(resolve_scenario(args.replan, "--replan"))  # validate before the (long) run
    os.makedirs(args.out, exist_ok=True)
    res = run_broadcast(bc, sc, backend=args.backend, workdir=os.path.join(args.out, "work"))
    print("\n".join(res.summary_lines()))
    doc = {"scenario": bc.name, "frames_sent": res.frames_sent, "chunks_per_turn": res.chunks_per_turn,
           "span_s": res.air_seconds, "info": res.info, "manifest": res.manifest, "receivers": res.receivers}
    if payload_sc is not None:
        from dataclasses import replace

        from hil.payload.study import format_table, run_study

        heard = {n: r for n, r in res.receivers.items() if r["frames_heard_in_coverage"] > 0}
        print()
        ratios, weights = [], []
        for n, r in heard.items():
            a = assumed_efficiency(payload_sc, r["elevation_deg"])
            ratios.append(r["efficiency_bps_hz"] / a)
            weights.append(r["frames_heard_in_coverage"])
            print(f"{n:<10} measured {r['efficiency_bps_hz']:.3f} bit/s/Hz at {r['elevation_deg']:.1f} deg mean "
                  f"elevation; the placement assumes {a:.3f} bit/s/Hz there (ratio {ratios[-1]:.3f})")
        ratio = float(np.average(ratios, weights=weights)) if heard else 0.0
        meas = float(np.average([r["efficiency_bps_hz"] for r in heard.values()], weights=weights)) if heard else 0.0
        print(f"re-planning {args.replan} with the NTN rates x {ratio:.3f} (frame-weighted mean ratio):")
        new = replan(payload_sc, ratio)
        new = replace(new, sweep_constellations=[])
        st = run_study(new, sweep=False, progress=False)
        print(format_table(st))
        doc["replan"] = {"measured_bps_hz": meas, "ratio": ratio,
                         "total_min": {k: v.total_s / 60 for k, v in st.results.items()}}
    path = os.path.join(args.out, "broadcast.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1, default=float)
    print(f"wrote {path}")
    return 0
