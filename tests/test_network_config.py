"""Network scenario schema: one-line errors naming the field for bad topology input; building a
network (events applied, links and relays ready for the emulator) from a file."""

import copy
import glob
import os

import numpy as np
import pytest

from hil.config import parse
from hil.errors import ConfigError
from hil.network.config import NetworkConfig, build_network, load_network_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BASE = dict(
    duration_s=30.0,
    nodes=[dict(name="sat", kind="satellite", orbit=dict(altitude_m=550e3, inclination_deg=30.0)),
           dict(name="uav", kind="uav", waypoints=[[0.0, 0.0, 100.0], [0.0, 0.1, 100.0]], speed_mps=30.0),
           dict(name="bs", kind="bs", position=[0.0, 0.05, 30.0],
                antenna=dict(kind="pencil", gain_dbi=20.0, beamwidth_deg=5.0, pointing="uav")),
           dict(name="ship", kind="ship", waypoints=[[0.01, 0.02, 5.0], [0.02, 0.04, 5.0]], speed_mps=6.0)],
    links=[dict(name="bs-uav", tx="bs", rx="uav", fixed_delay_s=5e-5),
           dict(name="uav-ship", tx="uav", rx="ship", carrier_hz=2.2e9, fixed_delay_s=5e-5),
           dict(name="uav-bs", tx="uav", rx="bs", fixed_delay_s=5e-5)],
    relays=[dict(name="r1", node="uav", uplink="bs-uav", downlink="uav-ship", gain_db=20.0)],
    events=[dict(t_s=0.0, action="structure", structure="hand-foot", serving=["uav-ship"]),
            dict(t_s=10.0, action="point", node="bs", target="ship"),
            dict(t_s=20.0, action="relay_off", relay="r1"),
            dict(t_s=25.0, action="structure", structure="arm-hand")],
)


def _parse(mod=None):
    d = copy.deepcopy(BASE)
    if mod:
        mod(d)
    return parse(NetworkConfig, d, source="net.yaml", path="network")


BAD = [
    # (what, modification, field named, words in the allowed part)
    ("link to an unknown node", lambda d: d["links"].append(dict(name="x", tx="bs", rx="bogus")),
     "network.links[3].rx", "a node name"),
    ("relay loop", lambda d: (d["links"].append(dict(name="ship-uav", tx="ship", rx="uav")),
                              d["relays"].append(dict(name="r2", node="ship", uplink="uav-ship",
                                                      downlink="ship-uav")),
                              d["relays"].append(dict(name="r3", node="uav", uplink="ship-uav",
                                                      downlink="uav-ship"))),
     "network.relays[2].downlink", "relay loop"),
    ("waypoints with one point", lambda d: d["nodes"][1].update(waypoints=[[0.0, 0.0, 100.0]]),
     "network.nodes[1].waypoints", "at least 2 points"),
    ("negative speed", lambda d: d["nodes"][3].update(speed_mps=-6.0), "network.nodes[3].speed_mps", "> 0"),
    ("loiter negative speed", lambda d: d["nodes"][1].update(
        waypoints=None, speed_mps=None, loiter=dict(center=[0.0, 0.0, 100.0], radius_m=500.0, speed_mps=-1.0)),
     "network.nodes[1].loiter.speed_mps", ">= 0"),
    ("relay hop not at the node", lambda d: d["relays"][0].update(uplink="uav-bs"),
     "network.relays[0].uplink", "a link into the relay node"),
    ("relay on an unknown link", lambda d: d["relays"][0].update(downlink="nope"),
     "network.relays[0].downlink", "a link name"),
    ("events out of order", lambda d: d["events"].append(dict(t_s=5.0, action="structure", structure="eye-foot")),
     "network.events[4].t_s", "time order"),
    ("unknown structure", lambda d: d["events"][0].update(structure="head-foot"),
     "network.events[0].structure", "arm-hand"),
    ("point at an unknown node", lambda d: d["events"][1].update(target="ghost"), "network.events[1].target",
     "another node"),
    ("relay event for a missing relay", lambda d: d["events"][2].update(relay="r9"), "network.events[2].relay",
     "a relay name"),
    ("self link", lambda d: d["links"][0].update(rx="bs"), "network.links[0].rx", "other than tx"),
    ("duplicate node", lambda d: d["nodes"][2].update(name="uav"), "network.nodes[2].name", "unique"),
    ("satellite with a position", lambda d: d["nodes"][0].update(position=[0.0, 0.0, 0.0]),
     "network.nodes[0].position", "exactly one of"),
    ("fixed BS with waypoints", lambda d: d["nodes"][2].update(position=None, waypoints=[[0, 0, 1], [0, 1, 1]],
                                                              speed_mps=1.0),
     "network.nodes[2].waypoints", "exactly one of"),
    ("pencil beam at nadir", lambda d: d["nodes"][2]["antenna"].update(pointing="nadir"),
     "network.nodes[2].antenna.pointing", "a node name"),
    ("event beyond the scenario", lambda d: d["events"][3].update(t_s=99.0), "network.events[3].t_s", "duration_s"),
    ("point with a relay field", lambda d: d["events"][1].update(relay="r1"), "network.events[1].relay", "null"),
]


@pytest.mark.parametrize("what, mod, fld, words", BAD, ids=[b[0] for b in BAD])
def test_bad_topology_is_one_line_naming_the_field(what, mod, fld, words):
    with pytest.raises(ConfigError) as e:
        cfg = _parse(mod)
        build_network(cfg)  # some checks (pointing at nadir for a pencil) happen when building
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"net.yaml: {fld}:") or msg.startswith(f"{fld}:") or f" {fld}:" in msg, msg
    assert words in msg, msg


def test_good_config_builds_with_events_applied():
    net = build_network(_parse())
    assert net.structure_at(5.0) == "hand-foot" and net.structure_at(26.0) == "arm-hand"
    assert net.structure_at(-1.0) is None
    # the BS pencil beam tracks the UAV until t = 10 s, then the ship
    tr = net.trajectories["bs-uav"]
    g = tr.geometry(np.array([5.0, 15.0]))
    assert g["tx_gain_dbi"][0] == pytest.approx(20.0, abs=1e-6)
    assert g["tx_gain_dbi"][1] < 20.0 - 3.0
    links, relays = net.build_links(sample_rate_hz=200e3)
    r = relays["r1"]
    assert bool(r.on_at(19.0)[0]) and not bool(r.on_at(21.0)[0])
    # a burst through the relay: the sink's output follows the composed delay
    x = np.ones(4000, np.complex64)
    outs = r.accept(int(1.0 * 200e3), x, end_of_burst=True)
    y = np.concatenate([o[1] for o in outs])
    assert outs[0][0] == 200_000 and np.abs(y[1000]) > 0
    assert float(r.total_delay_s(1.0)) == pytest.approx(
        float(links["bs-uav"].trajectory.delay(1.0 - float(links["uav-ship"].trajectory.delay(1.0))))
        + float(links["uav-ship"].trajectory.delay(1.0)), abs=1e-15)


def test_short_link_needs_a_fixed_delay():
    net = build_network(_parse(lambda d: d["links"][0].update(fixed_delay_s=0.0)))
    with pytest.raises(ConfigError, match=r"^links\[0\]\.fixed_delay_s: got 0.0; allowed: >= "):
        net.build_links(sample_rate_hz=200e3)


def test_same_pair_same_los_draws():
    net = build_network(_parse(lambda d: [lk.update(los="random") for lk in d["links"]]))
    t = np.arange(0.0, 30.0, 0.5)
    np.testing.assert_array_equal(net.trajectories["bs-uav"].geometry(t)["los"],
                                  net.trajectories["uav-bs"].geometry(t)["los"])


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "scenarios", "network", "*.yaml"))))
def test_scenario_files_load_and_build(path):
    cfg = load_network_config(path)
    net = build_network(cfg)
    t = np.linspace(0.0, cfg.duration_s, 7)
    for name, tr in net.trajectories.items():
        g = tr.geometry(t)
        assert np.all(np.isfinite(g["range_m"])) and np.all(np.isfinite(g["net_loss_db"])), name
    assert net.timeline, "each scenario names its structure(s)"


CLI_BAD = [
    (["network", "check", "/nonexistent/net.yaml"], "scenario"),
    (["network", "links", "SCEN", "--step", "-1"], "--step"),
    (["network", "run", "SCEN"], "--out"),
    (["network", "run", "SCEN", "-o", "/tmp/x", "--max-bursts", "0"], "--max-bursts"),
    (["network", "relay", "SCEN", "--input", "ipc:///tmp/a", "--output", "ipc:///tmp/b"], "--relay"),
    (["network", "relay", "SCEN", "--relay", "vessel-bs", "--input", "tcp://10.0.0.1:5", "--output", "ipc:///b"],
     "--input"),
    (["network", "relay", "SCEN", "--relay", "nope", "--input", "ipc:///tmp/a", "--output", "ipc:///tmp/b"],
     "--relay"),
]


@pytest.mark.parametrize("argv, fld", CLI_BAD, ids=[" ".join(a[:2]) + " " + f for a, f in CLI_BAD])
def test_cli_bad_input_is_one_line(argv, fld, capsys):
    from hil.cli import main

    scen = os.path.join(ROOT, "scenarios", "network", "arm_hand_regenerative.yaml")
    rc = main([scen if a == "SCEN" else a for a in argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and err.startswith("hil: error:") and fld in err, err


def test_cli_check_and_links(capsys):
    from hil.cli import main

    scen = os.path.join(ROOT, "scenarios", "network", "eye_foot.yaml")
    assert main(["network", "check", scen]) == 0
    assert "ok - 4 nodes, 4 links, 0 relays, 3 events" in capsys.readouterr().out
    assert main(["network", "links", scen, "--step", "30"]) == 0
    out = capsys.readouterr().out
    # the pencil beam moves at 30 s: bs-ship3 loses 30 dB (main lobe -> side-lobe floor), bs-ship4 gains it
    net = build_network(load_network_config(scen))
    for name, sign in (("bs-ship3", +1), ("bs-ship4", -1)):
        g = net.trajectories[name].geometry(np.array([29.0, 31.0]))
        assert sign * (g["net_loss_db"][1] - g["net_loss_db"][0]) > 25.0
        assert f"{name} (bs_shore ->" in out
