"""``hil network``: a network scenario (moving nodes, node-pair links, transparent and regenerative relays,
structure events) - check it, print its links, run its users' traffic through the loop's blocks (in
process or through ``hil emulate`` processes), or run a regenerative relay as a process."""

NAME = "network"
HELP = ("network scenarios: check, list links (delay, Doppler, loss over time), run users' traffic (per-user report), "
        "or run a regenerative relay process")
ORDER = 60
DESCRIPTION = """\
A network scenario (scenarios/network/*.yaml, docs/network.md): satellites, UAVs, ships/vehicles and
fixed stations with motion; links derived from node pairs (delay, two-ended Doppler, 3GPP / ITU path
loss, visibility, antenna gains); transparent relays; a time-ordered event list (structure, beam
pointing, relay on/off).

  hil network check FILE           validate (one line naming the field on an error)
  hil network links FILE [--step S] print each link's geometry over the scenario
  hil network run FILE -o DIR [--backend mock|mock-zmq]
                                   run every serving link's traffic (transmitter -> the emulator's Links /
                                   relays -> receiver; mock-zmq: plain links inside a `hil emulate` process)
                                   and write report.json, users.md, timeline.png (per user and structure
                                   interval: Es/N0, BER, BLER, throughput, latency)
  hil network relay FILE --relay NAME --input ADDR --output ADDR
                                   a regenerative relay as a process on the framed wire: decode what the
                                   uplink emulator delivers, re-send decoded frames to the downlink
                                   emulator; prints its counters (frames decoded / sent / dropped)
"""


def register(parser):
    parser.add_argument("action", choices=("check", "links", "run", "relay"), help="what to do")
    parser.add_argument("scenario", metavar="FILE.yaml", help="network scenario file")
    parser.add_argument("-o", "--out", default=None, metavar="DIR", help="run: output folder (required)")
    parser.add_argument("--step", type=float, default=10.0, metavar="S", help="links: time step, s (default 10)")
    parser.add_argument("--backend", choices=("mock", "mock-zmq"), default="mock",
                        help="run: mock = every link in this process; mock-zmq = the plain links inside a "
                             "`hil emulate` child process over framed ipc:// sockets (relay chains stay in process)")
    parser.add_argument("--relay", default=None, metavar="NAME", help="relay: the regenerative relay to run")
    parser.add_argument("--input", default=None, metavar="ADDR",
                        help="relay: the uplink emulator's framed output to connect to (ipc:// or loopback tcp://)")
    parser.add_argument("--output", default=None, metavar="ADDR",
                        help="relay: the downlink emulator's framed input to connect to")
    parser.add_argument("--max-bursts", type=int, default=None, metavar="N",
                        help="run: at most N bursts per serving link (spread over the scenario)")
    return parser


def run(args) -> int:
    import numpy as np

    from hil.commands import _checks
    from hil.errors import ConfigError
    from hil.network import build_network, load_network_config

    _checks.input_file("scenario", args.scenario)
    step = _checks.number("--step", args.step, 0.0, 86400.0, unit="s", lo_open=True)
    mb = _checks.integer("--max-bursts", args.max_bursts, 1, 1_000_000)
    if args.action == "run":
        if args.out is None:
            raise ConfigError.bad_value("--out", None, "an output folder for hil network run")
        _checks.output_dir("--out", args.out)
    if args.action == "relay":
        from hil.loop.run import check_address

        if not args.relay:
            raise ConfigError.bad_value("--relay", None, "the name of a regenerative relay of the scenario")
        for opt, v in (("--input", args.input), ("--output", args.output)):
            if not v:
                raise ConfigError.bad_value(opt, None, "an ipc:// or loopback tcp:// address")
            check_address(opt, v)
    cfg = load_network_config(args.scenario)
    net = build_network(cfg)
    if args.action == "relay":
        import json

        from hil.network.run import relay_process

        print("RELAY " + json.dumps(relay_process(net, args.relay, args.input, args.output, max_bursts=mb)),
              flush=True)
        return 0
    if args.action == "check":
        print(f"{args.scenario}: ok - {len(cfg.nodes)} nodes, {len(cfg.links)} links, {len(cfg.relays)} relays, "
              f"{len(cfg.events)} events")
        for name, frac in net.out_of_range().items():
            print(f"  note: link {name}: outside its model's stated range {100 * frac:.0f}% of the time "
                  f"({net.trajectories[name].model}; evaluated as written, see docs/network.md)")
        return 0
    if args.action == "links":
        t = np.arange(0.0, cfg.duration_s + 1e-9, step)
        for name, tr in net.trajectories.items():
            g = tr.geometry(t)
            print(f"{name} ({tr.tx.name} -> {tr.rx.name}, {tr.model}, {tr.carrier_hz / 1e9:g} GHz)")
            print("   t(s)   range(km)  delay(us)  Doppler(Hz)  elev(deg)  loss(dB)  net(dB)  vis  los")
            dop = tr.doppler(t)
            for i in range(t.size):
                print(f"  {t[i]:6.1f}  {g['range_m'][i] / 1e3:9.3f}  {1e6 * tr.delay(t[i]):9.3f}  {dop[i]:11.2f}  "
                      f"{g['elevation_deg'][i]:9.2f}  {g['loss_db'][i]:8.2f}  {g['net_loss_db'][i]:7.2f}  "
                      f"{'yes' if g['visible'][i] else 'no ':>3}  {'yes' if g['los'][i] else 'no'}")
        return 0
    from hil.network.run import run_network, user_table, write_report

    results = run_network(net, max_bursts=mb, backend=args.backend, network_file=args.scenario)
    rows = user_table(net, results)
    for p in write_report(net, results, rows, args.out):
        print(f"wrote {p}")
    with open(f"{args.out}/users.md") as fh:
        print(fh.read(), end="")
    return 0
