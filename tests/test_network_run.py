"""hil network run: a network's serving links through the loop's blocks, in process; per-user numbers
checked against the link model computed independently (Es/N0 from gain, net loss and noise; latency
from the geometry; the relay chain's composed delay)."""

import copy
import math

import numpy as np
import pytest

from hil.config import parse
from hil.errors import ConfigError
from hil.network.config import NetworkConfig, build_network
from hil.network.run import run_network, user_table, write_report
from hil.orbit import C_MPS

NET = dict(
    name="t", duration_s=8.0, seed=3,
    nodes=[dict(name="bs", kind="bs", position=[30.0, 122.0, 40.0]),
           dict(name="uav", kind="uav", loiter=dict(center=[30.02, 122.03, 200.0], radius_m=800.0, speed_mps=30.0)),
           dict(name="ship", kind="ship", waypoints=[[30.03, 122.05, 3.0], [30.05, 122.1, 3.0]], speed_mps=6.0,
                start_s=-10.0)],
    links=[dict(name="bs-ship", tx="bs", rx="ship", carrier_hz=2.1e9, gain_db=130.0, noise_dbfs=-10.0, los="los",
                fixed_delay_s=5e-4),
           dict(name="bs-uav", tx="bs", rx="uav", carrier_hz=2.0e9, gain_db=115.0, noise_dbfs=-30.0, los="los",
                fixed_delay_s=5e-4),
           dict(name="uav-ship", tx="uav", rx="ship", carrier_hz=2.4e9, gain_db=110.0, noise_dbfs=-10.0, los="los",
                fixed_delay_s=5e-4)],
    relays=[dict(name="uav-bp", node="uav", uplink="bs-uav", downlink="uav-ship", gain_db=0.0, active=False)],
    events=[dict(t_s=0.0, action="structure", structure="hand-foot", serving=["bs-ship"]),
            dict(t_s=4.0, action="relay_on", relay="uav-bp"),
            dict(t_s=4.0, action="structure", structure="arm-hand", serving=["uav-ship"])],
    frames=dict(interval_s=1.0, per_burst=2),
)


@pytest.fixture(scope="module")
def ran():
    net = build_network(parse(NetworkConfig, NET))
    res = run_network(net)
    return net, res, user_table(net, res)


def test_plain_link_esn0_and_latency_from_the_model(ran):
    net, res, _ = ran
    c = res["bs-ship"]["cols"]
    tr = net.trajectories["bs-ship"]
    ok = c["synced"] > 0
    assert ok.sum() >= 10  # 8 bursts x 2 frames; the run decodes nearly all of them
    t = c["t_s"][ok] + c["delay_true_s"][ok]
    # Es/N0 = link gain - net loss - noise (dBFS) + 10 log10(oversample): the model, evaluated here
    want = 130.0 - np.asarray(tr.path_loss_db(t)) + 10.0 + 10 * math.log10(2)
    assert np.max(np.abs(c["snr_db"][ok] - want)) < 0.05
    # latency: geometric delay + the fixed delay
    assert np.max(np.abs(c["delay_true_s"][ok] - (np.asarray(tr.geometry(t)["range_m"]) / C_MPS + 5e-4))) < 1e-6
    assert np.nansum(c["decoded_bit_errors"][ok]) == 0


def test_relay_chain_truth_is_composed(ran):
    net, res, rows = ran
    c = res["uav-ship"]["cols"]
    assert res["uav-ship"]["relay"] == "uav-bp"
    t = c["t_s"]
    up, dn = net.trajectories["bs-uav"], net.trajectories["uav-ship"]
    ok = c["synced"] > 0
    assert np.all(c["synced"][t < 4.0 - 0.01] == 0)  # relay off: nothing arrives
    assert ok[t >= 4.0].sum() >= 6
    ta = t[ok] + c["delay_true_s"][ok]
    td = np.asarray(dn.delay(ta))
    want = td + np.asarray(up.delay(ta - td))
    assert np.max(np.abs(c["delay_true_s"][ok] - want)) < 1e-6
    # Es/N0 of the chain: signal gain up + down; noise = relay noise through the downlink + the sink's own
    g_up = 115.0 - np.asarray(up.path_loss_db(ta - td))
    g_dn = 110.0 - np.asarray(dn.path_loss_db(ta))
    noise = 10 ** (-30 / 10) * 10 ** (g_dn / 10) + 10 ** (-10 / 10)
    want_snr = g_up + g_dn - 10 * np.log10(noise) + 10 * math.log10(2)
    assert np.max(np.abs(c["snr_db"][ok] - want_snr)) < 0.1


def test_user_table_and_report(ran, tmp_path):
    net, res, rows = ran
    assert [(r["structure"], r["user"], r["link"]) for r in rows] == [
        ("hand-foot", "ship", "bs-ship"), ("arm-hand", "ship", "uav-ship")]
    for r in rows:
        bpf = res[r["link"]]["bits_per_frame"]
        assert r["throughput_bps"] == pytest.approx(r["decoded"] * bpf / (r["t_end_s"] - r["t_start_s"]))
        assert r["bler"] == pytest.approx(1 - r["decoded"] / r["frames"])
    assert rows[1]["latency_ms"] > rows[0]["latency_ms"]  # two hops + two fixed delays
    paths = write_report(net, res, rows, str(tmp_path))
    assert {p.rsplit("/", 1)[1] for p in paths} == {"report.json", "users.md", "timeline.png"}
    assert "| 4-8 | arm-hand | ship | uav-ship (uav-bp) |" in (tmp_path / "users.md").read_text()


def _regen(uplink_noise_dbfs):
    d = copy.deepcopy(NET)
    d["relays"] = [dict(name="uav-df", node="uav", uplink="bs-uav", downlink="uav-ship", kind="regenerative",
                        processing_delay_s=0.05)]
    d["links"][1]["noise_dbfs"] = uplink_noise_dbfs
    d["events"] = [dict(t_s=0.0, action="structure", structure="arm-hand", serving=["uav-ship"])]
    net = build_network(parse(NetworkConfig, d))
    return net, run_network(net)["uav-ship"]


def test_regenerative_relay_decodes_and_forwards():
    net, r = _regen(-30.0)
    c, k = r["cols"], r["counters"]
    assert k["relay"] == "uav-df"
    assert k["relay_frames_sent"] + k["relay_frames_dropped"] == k["frames_sent"]
    assert k["relay_frames_sent"] >= k["frames_sent"] - 2
    assert k["decoded"] <= k["relay_frames_sent"] and k["decoded"] >= k["frames_sent"] - 4
    ok = c["synced"] > 0
    assert np.nansum(c["decoded_bit_errors"][ok]) == 0  # clean hops: clean end to end
    # frame times count from the source; latency = re-send delay + the downlink's delay
    rows = user_table(net, {"uav-ship": r})
    dn = net.trajectories["uav-ship"]
    lat = 0.05 + float(np.mean(np.asarray(dn.delay(c["t_s"][ok] + 0.05))))
    assert rows[0]["latency_ms"] == pytest.approx(lat * 1e3, abs=1e-3)


def test_regenerative_relay_counts_what_it_could_not_decode():
    _, r = _regen(+15.0)  # the relay's receiver drowns: Es/N0 far below 0 dB on the uplink
    k = r["counters"]
    assert k["relay_frames_dropped"] >= k["frames_sent"] - 2
    assert k["decoded"] <= k["relay_frames_sent"]


def test_regenerative_relay_config_errors():
    d = copy.deepcopy(NET)
    d["relays"][0].update(kind="regenerative")  # still has active: False (a transparent relay's field)
    with pytest.raises(ConfigError, match=r"relays\[0\]\.active"):
        parse(NetworkConfig, d)
    d["relays"][0].update(active=True, processing_delay_s=0.01)
    d["events"] = d["events"][:1]
    with pytest.raises(ConfigError, match=r"relays\[0\]\.processing_delay_s: got 0.01; allowed: > the uplink"):
        parse(NetworkConfig, d)


def test_mock_zmq_runs_plain_links_in_the_emulator_process(tmp_path):
    import yaml

    d = copy.deepcopy(NET)
    d["events"] = [dict(t_s=0.0, action="structure", structure="hand-foot", serving=["bs-ship", "uav-ship"])]
    d["relays"] = []
    f = tmp_path / "net.yaml"
    f.write_text(yaml.safe_dump({"network": d}))
    net = build_network(parse(NetworkConfig, d))
    res = run_network(net, backend="mock-zmq", network_file=str(f))
    for name, gain in (("bs-ship", 130.0), ("uav-ship", 110.0)):
        r = res[name]
        k, c = r["counters"], r["cols"]
        assert r["where"] == "hil emulate process (mock-zmq)"
        assert k["bursts_ended"] == k["bursts_expected"] == 8 and k["wire_frames_lost"] == 0
        assert k["bursts_without_telemetry"] == 0
        ok = c["synced"] > 0
        assert ok.sum() >= 8
        # the process's truth records are the same link model
        tr = net.trajectories[name]
        t = c["t_s"][ok] + c["delay_true_s"][ok]
        assert np.max(np.abs(c["snr_db"][ok] - (gain - np.asarray(tr.path_loss_db(t)) + 10 + 10 * math.log10(2)))) \
            < 0.05
        assert np.max(np.abs(c["delay_true_s"][ok] - np.asarray(tr.delay(t)))) < 1e-6


def test_mock_zmq_relay_chains_through_two_emulator_processes(tmp_path):
    import yaml

    d = copy.deepcopy(NET)
    d["events"] = d["events"][1:]  # relay_on at 4 s, arm-hand serving uav-ship
    f = tmp_path / "net.yaml"
    f.write_text(yaml.safe_dump({"network": d}))
    net = build_network(parse(NetworkConfig, d))
    r = run_network(net, backend="mock-zmq", network_file=str(f))["uav-ship"]
    k, c = r["counters"], r["cols"]
    assert r["where"].startswith("two hil emulate processes + bent pipe")
    assert k["bursts_forwarded"] == 8 and k["wire_frames_lost"] == 0 and k["bursts_without_telemetry"] == 0
    ok = c["synced"] > 0
    assert not ok[c["t_s"] < 3.99].any() and ok[c["t_s"] >= 4.0].sum() >= 6  # the bent pipe is off until 4 s
    up, dn = net.trajectories["bs-uav"], net.trajectories["uav-ship"]
    ta = c["t_s"][ok] + c["delay_true_s"][ok]
    td = np.asarray(dn.delay(ta))
    assert np.max(np.abs(c["delay_true_s"][ok] - (td + np.asarray(up.delay(ta - td))))) < 1e-6
    # regenerative: the relay thread on the framed wire between the two processes
    d["relays"] = [dict(name="uav-df", node="uav", uplink="bs-uav", downlink="uav-ship", kind="regenerative")]
    d["events"] = [dict(t_s=0.0, action="structure", structure="arm-hand", serving=["uav-ship"])]
    f.write_text(yaml.safe_dump({"network": d}))
    net = build_network(parse(NetworkConfig, d))
    r = run_network(net, backend="mock-zmq", network_file=str(f))["uav-ship"]
    k = r["counters"]
    assert r["where"].startswith("two hil emulate processes + regenerative relay")
    assert k["relay_frames_sent"] + k["relay_frames_dropped"] == k["frames_sent"] == 16
    assert k["decoded"] <= k["relay_frames_sent"] and k["relay_frames_sent"] >= 12 and k["decoded"] >= 10


def test_ephemeris_receiver_predicts_from_announced_positions():
    d = copy.deepcopy(NET)
    d["receiver"] = dict(mode="ephemeris", position_error_m=30.0)
    net = build_network(parse(NetworkConfig, d))
    t = np.linspace(0.0, 8.0, 9)
    for name in ("bs-ship", "uav-ship"):
        truth, pred = net.trajectories[name], net.predicted(name)
        err = np.abs(np.asarray(pred.delay(t)) - np.asarray(truth.delay(t))) * C_MPS
        assert np.all(err <= 2 * 30.0 + 1e-6) and np.any(err > 1.0)  # wrong by the announced error, no more
    res = run_network(net)
    k = res["bs-ship"]["counters"]
    assert k["decoded"] >= k["frames_sent"] - 1 and k["decoded_bit_errors"] == 0
    c = res["uav-ship"]["cols"]  # the bent pipe relays from 4 s on
    on = c["t_s"] >= 4.0
    assert (c["synced"][on] > 0).sum() >= on.sum() - 1 and np.nansum(c["decoded_bit_errors"][on]) == 0
