"""Run a network scenario's user traffic through the loop's blocks, in process, and report per user.

For every link named in a ``structure`` event's ``serving`` list (a *chain*: one Link, or a relay's
uplink -> relay -> downlink when the link is a relay's downlink) one flowgraph runs over the whole
scenario: :class:`dsp.framing.Transmitter` (timed bursts of framed test frames) -> the chain's
``accept`` (the emulator's Link objects, the same method the emulator server calls) ->
:class:`dsp.receiver.Receiver` (blind: it knows the schedule and a delay search window, never the
truth) -> :func:`hil.loop.metrics.join` (decisions joined with the chain's per-burst truth records).
Each chain gets its own Link objects (built afresh from the scenario, seeded as the emulator seeds
them), so two chains never share a delay line.

The receiver's search window is the chain's delay span over the scenario (on a 1 s grid) widened by
50 % either side: coarse knowledge such as a cell or beam size, not per-frame truth.

A regenerative relay's chain (:mod:`hil.network.regen`) runs its own receiver and transmitter between
the hops; the user's receiver gets the relay's schedule (the source's shifted by the re-send delay).

Per user (the sink node of a chain) and per structure interval, from the frames of the chain that
serves the user in that interval: mean Es/N0 (truth, dB; for a regenerative chain the last hop's - the
relay's counters give the first hop's decoding), BER (bits of decoded frames; a frame not
decoded counts half its bits in error, as the loop's report does), BLER (1 - decoded / sent), delivered
throughput (decoded payload bits per second of scenario time - the test traffic's, not a capacity) and
latency (mean one-way source-to-user propagation delay of decoded frames, relay hops included).
"""

from __future__ import annotations

import math

import numpy as np

from hil.errors import ConfigError
from hil.orbit.constants import C_MPS

__all__ = ["chains_of", "traffic", "run_network", "user_table", "write_report", "relay_process"]


def chains_of(net) -> list[str]:
    """Serving link names, in order of first mention."""
    out = []
    for _, _, serving, _ in net.timeline:
        for s in serving:
            if s not in out:
                out.append(s)
    return out


def _span(tr, duration_s):
    t = np.arange(0.0, duration_s + 1e-9, 1.0)
    d = np.asarray(tr.delay(t))
    return float(d.min()), float(d.max())


def _receiver(net, fmt, layout, det, schedule, fc, window, predict):
    """A blind receiver (schedule + delay window) or, with ``receiver.mode: ephemeris``, one pre-compensating
    with ``predict`` (the link as predicted from the nodes' announced positions - never the truth)."""
    from dsp.receiver import Receiver

    lo, hi = window
    if net.cfg.receiver.mode == "ephemeris":
        return Receiver(fmt, schedule, fc, mode="ephemeris", ephemeris=predict, delay_range_s=(lo, hi),
                        detector=det, layout=layout)
    return Receiver(fmt, schedule, fc, mode="blind", delay_range_s=(lo, hi), detector=det, layout=layout)


def _relay_prediction(net, rc):
    from .relay import ComposedPrediction

    up, dn = net.trajectories[rc.uplink], net.trajectories[rc.downlink]
    return ComposedPrediction(net.predicted(rc.uplink), net.predicted(rc.downlink), up.carrier_hz, dn.carrier_hz,
                              rc.translation_offset_hz)


def _chain(net, name: str, fs: float, traffic):
    """(accept object, sink link, relay or None, sink schedule, sink delay window) for a serving link, with
    fresh Links. ``traffic``: (fmt, layout, detector, source schedule)."""
    from .regen import RegenerativeRelay

    fmt, layout, det, schedule = traffic
    links, relays = net.build_links(sample_rate_hz=fs)
    for r in relays.values():
        if r.downlink.name == name:
            d = np.asarray([r.total_delay_s(t) for t in np.arange(0.0, net.cfg.duration_s + 1e-9, 1.0)])
            return r, r.downlink, r, schedule, (0.5 * float(d.min()), 1.5 * float(d.max()))
    for rc in net.cfg.relays:
        if rc.kind == "regenerative" and rc.downlink == name:
            up, dn = links[rc.uplink], links[rc.downlink]
            lo, hi = _span(up.trajectory, net.cfg.duration_s)
            rx = _receiver(net, fmt, layout, det, schedule, up.carrier_hz, (0.5 * lo, 1.5 * hi),
                           net.predicted(rc.uplink))
            rel = RegenerativeRelay(rc.name, up, dn, fmt, schedule, rx,
                                    delay_samples=int(round(rc.processing_delay_s * fs)))
            lo, hi = _span(dn.trajectory, net.cfg.duration_s)
            return rel, dn, rel, rel.sink_schedule(), (0.5 * lo, 1.5 * hi)
    lo, hi = _span(net.trajectories[name], net.cfg.duration_s)
    return links[name], links[name], None, schedule, (0.5 * lo, 1.5 * hi)


def _relay_records(relay, fs, records=None):
    """Per-burst truth of a relay chain at the sink: composed delay/Doppler, gains and noise (dB), from the
    downlink's burst records (``records``: those of a downlink emulator process; default the Link's)."""
    out = []
    up, dn = relay.uplink, relay.downlink
    for rec in (dn.bursts if records is None else records):
        r = dict(rec)
        for suffix, idx in (("start", rec["sample_index"]), ("end", rec["sample_index"] + rec["n_samples"] - 1)):
            t = dn.epoch + idx / fs
            td = float(np.asarray(dn.trajectory.delay(t)))
            gu = up.geometry_at(int(round(idx - td * fs)))
            gd = dn.geometry_at(idx)
            r[f"delay_s_{suffix}"] = float(relay.total_delay_s(t))
            r[f"doppler_hz_{suffix}"] = float(relay.total_doppler_hz(t))
            r[f"range_m_{suffix}"] = r[f"delay_s_{suffix}"] * C_MPS
            r[f"path_loss_db_{suffix}"] = gu["path_loss_db"] + gd["path_loss_db"]
            on = bool(relay.on_at(t - td)[0])
            r[f"gain_db_{suffix}"] = gu["gain_db"] + relay.gain_db + gd["gain_db"]
            r[f"visible_{suffix}"] = gu["visible"] and gd["visible"] and on
        if not (r["visible_start"] or r["visible_end"]):
            # the relay was off (or a hop hidden) over the whole record: no signal, no Es/N0
            r["gain_db_start"] = r["gain_db_end"] = None
            r[f"serving_{suffix}"] = relay.name
        # the relay's receiver noise (the uplink's) goes through the relay gain and the downlink
        g_after = 10 ** ((relay.gain_db + dn.geometry_at(rec["sample_index"])["gain_db"]) / 10)
        r["noise_power"] = up.noise_power * g_after + dn.noise_power
        out.append(r)
    return out


class _EmulatorProcess:
    """``hil emulate`` as a child process holding the plain serving links (trajectory kind ``network``),
    one framed ipc:// input and output per link (the output carries no truth in its headers)."""

    def __init__(self, net, names, network_file, workdir):
        import json
        import os
        import subprocess
        import sys

        import yaml

        cfg = net.cfg
        by = {lk.name: lk for lk in cfg.links}
        self.workdir = workdir
        self.bursts_path = os.path.join(workdir, "telemetry_bursts.jsonl")
        eps, links = [], []
        for i, name in enumerate(names):
            lk = by[name]
            eps += [{"name": f"tx{i}", "address": f"ipc://{workdir}/tx{i}.sock", "pattern": "pull", "bind": True,
                     "wire": "framed"},
                    {"name": f"rx{i}", "address": f"ipc://{workdir}/rx{i}.sock", "pattern": "push", "bind": True,
                     "wire": "framed", "header_truth": False}]
            links.append({"name": name, "source": f"tx{i}", "sink": f"rx{i}", "carrier_hz": lk.carrier_hz,
                          "gain_db": lk.gain_db, "noise_dbfs": lk.noise_dbfs, "max_delay_s": lk.max_delay_s,
                          "skip_lead": 0.0,  # a relay forwards a burst by its index; the truth join needs it there
                          "threads": 0, "trajectory": [{"kind": "network", "network": os.path.abspath(network_file),
                                                        "link": name}]})
        emu = {"name": f"network-{cfg.name}", "seed": cfg.seed, "sample_rate_hz": cfg.sample_rate_hz,
               "epoch_s": 0.0, "endpoints": eps, "links": links, "telemetry_bursts": self.bursts_path}
        self.config_path = os.path.join(workdir, "emulator.yaml")
        with open(self.config_path, "w") as fh:
            yaml.safe_dump({"emulator": emu}, fh, sort_keys=False)
        self.log = open(os.path.join(workdir, "emulator.log"), "w")
        env = dict(os.environ, PYTHONUNBUFFERED="1", OPENBLAS_NUM_THREADS="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "hil", "emulate", self.config_path, "--status-every", "0"],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True, env=env)
        self.addresses = None
        for line in self.proc.stdout:
            if line.startswith("READY "):
                self.addresses = json.loads(line[6:])
                break
        if self.addresses is None:
            self.stop()
            with open(os.path.join(workdir, "emulator.log")) as fh:
                tail = fh.read()[-1500:].strip()
            from hil.errors import HILError

            raise HILError(f"hil emulate did not become ready (exit {self.proc.returncode}): {tail}")

    def stop(self):
        import signal
        import subprocess

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:  # pragma: no cover - a hung emulator
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def telemetry(self, link_name):
        import json
        import os

        if not os.path.exists(self.bursts_path):
            return []
        with open(self.bursts_path) as fh:
            recs = [json.loads(ln) for ln in fh if ln.strip()]
        return [r for r in recs if r.get("link") == link_name]


def _through_process(emu, i, tx, rx, schedule, fc, eob, timeout_s=60.0):
    """Send every burst to the emulator process's input ``tx{i}`` (a thread) and feed what comes out of
    ``rx{i}`` to the receiver until the last END_OF_BURST; returns (frames, counters)."""
    import threading

    from hil.emulator import wire
    from hil.loop.run import FramedReceiver, FramedSender

    sender = FramedSender(emu.addresses[f"tx{i}"], schedule.sample_rate_hz, fc)
    receiver = FramedReceiver(emu.addresses[f"rx{i}"])
    errors = []

    def send():
        try:
            for b, k, x in tx.bursts():
                sender.send_burst(k, x, end_of_burst=eob[b])
        except Exception as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)
        finally:
            sender.close(hold_s=0.2)

    th = threading.Thread(target=send, name="network-tx", daemon=True)
    th.start()
    frames, ends, want = [], 0, sum(eob)
    try:
        while ends < want:
            got = receiver.recv(timeout_s)
            if got is None:
                break
            n0, y, flags = got
            frames += rx.process(n0, y)
            ends += bool(flags & wire.FLAG_END_OF_BURST)
        frames += rx.flush()
    finally:
        th.join(timeout_s)
        counters = {"wire_frames_lost": receiver.frames_lost, "wire_bad": receiver.bad,
                    "bursts_ended": ends, "bursts_expected": want}
        receiver.close()
    if errors:
        raise errors[0]
    return frames, counters


def traffic(net, max_bursts: int | None = None):
    """The test traffic of a network: (FrameFormat, pilot layout, detector, source TxSchedule, END_OF_BURST
    flag per burst). One schedule for every chain, leaving room for the longest chain (its delays and a
    regenerative relay's re-send delay) before the scenario ends."""
    from hil.loop.plan import make_format, make_schedule

    cfg = net.cfg
    fs = cfg.sample_rate_hz
    fmt, layout, det = make_format(cfg.waveform, cfg.frames)
    longest = 0.0
    for name in chains_of(net):
        tr = net.trajectories[name]
        longest = max(longest, _span(tr, cfg.duration_s)[1])
        for rc in cfg.relays:
            if rc.downlink == name:
                longest = max(longest, _span(net.trajectories[rc.uplink], cfg.duration_s)[1]
                              + _span(tr, cfg.duration_s)[1]
                              + (rc.processing_delay_s if rc.kind == "regenerative" else 0.0))
    schedule = make_schedule(fs, 0.0, cfg.duration_s - 1.5 * longest - 0.05, fmt, cfg.frames, max_bursts)
    st, L = schedule.burst_starts, schedule.burst_length
    eob = [b + 1 == len(st) or st[b + 1] - (st[b] + L) >= 0.1 * fs for b in range(len(st))]
    return fmt, layout, det, schedule, eob


def _relay_chain_processes(net, rc, network_file, traffic_, max_bursts, timeout_s=60.0):
    """mock-zmq for a relay chain: the uplink and the downlink each in a ``hil emulate`` process; between
    them a bent pipe (gain, LO error, on/off on the framed stream) or the regenerative relay
    (:func:`relay_process`), on a thread of this process. Returns the chain's result dict."""
    import tempfile
    import threading

    from dsp.framing import Transmitter
    from hil.emulator import wire
    from hil.loop.metrics import join
    from hil.loop.run import FramedReceiver, FramedSender

    fmt, layout, det, schedule, eob = traffic_
    cfg = net.cfg
    fs = cfg.sample_rate_hz
    links, relays = net.build_links(sample_rate_hz=fs)  # the same links in process: truth composition only
    tr_dn = net.trajectories[rc.downlink]
    procs = []
    result = {}
    try:
        up_e = _EmulatorProcess(net, [rc.uplink], network_file, tempfile.mkdtemp(prefix="hilnet", dir="/tmp"))
        procs.append(up_e)
        dn_e = _EmulatorProcess(net, [rc.downlink], network_file, tempfile.mkdtemp(prefix="hilnet", dir="/tmp"))
        procs.append(dn_e)
        tx = Transmitter(fmt, schedule, seed=cfg.seed)
        if rc.kind == "regenerative":
            from dsp.framing import TxSchedule

            delay = int(round(rc.processing_delay_s * fs))
            sink_schedule = TxSchedule(fs, schedule.t0_s, schedule.period, schedule.per_burst,
                                       tuple(k + delay for k in schedule.burst_starts))

            def middle():
                result["relay"] = relay_process(net, rc.name, up_e.addresses["rx0"], dn_e.addresses["tx0"],
                                                max_bursts=max_bursts, idle_s=timeout_s)
        else:
            rel = relays[rc.name]
            sink_schedule = schedule

            def middle():
                inp = FramedReceiver(up_e.addresses["rx0"])
                out = FramedSender(dn_e.addresses["tx0"], fs, tr_dn.carrier_hz)
                amp = np.float32(10 ** (rel.gain_db / 20))
                ends = 0
                try:
                    while ends < sum(eob):
                        got = inp.recv(timeout_s)
                        if got is None:
                            break
                        n0, y, flags = got
                        t = rel.epoch + (n0 + np.arange(y.size)) / fs
                        z = y * amp
                        if rel.translation_offset_hz:
                            z *= np.exp(2j * np.pi * np.mod(rel.translation_offset_hz * t, 1.0)).astype(np.complex64)
                        z[~rel.on_at(t)] = 0
                        end = bool(flags & wire.FLAG_END_OF_BURST)
                        out.send_burst(n0, z.astype(np.complex64), end_of_burst=end)
                        ends += end
                finally:
                    inp.close()
                    out.close(hold_s=0.5)
                result["relay"] = {"relay": rc.name, "bursts_forwarded": ends}

        lo, hi = _span(tr_dn, cfg.duration_s)
        if rc.kind != "regenerative":
            lo, hi = lo + _span(net.trajectories[rc.uplink], cfg.duration_s)[0], \
                hi + _span(net.trajectories[rc.uplink], cfg.duration_s)[1]
        predict = net.predicted(rc.downlink) if rc.kind == "regenerative" else _relay_prediction(net, rc)
        rx = _receiver(net, fmt, layout, det, sink_schedule, tr_dn.carrier_hz, (0.5 * lo, 1.5 * hi), predict)
        sender = FramedSender(up_e.addresses["tx0"], fs, net.trajectories[rc.uplink].carrier_hz)
        receiver = FramedReceiver(dn_e.addresses["rx0"])

        def source():
            for b, k, x in tx.bursts():
                sender.send_burst(k, x, end_of_burst=eob[b])
            sender.close(hold_s=0.5)

        threads = [threading.Thread(target=f, daemon=True) for f in (middle, source)]
        for th in threads:
            th.start()
        frames = []
        try:
            while True:
                got = receiver.recv(1.0 if threads[0].is_alive() else 3.0)
                if got is None:
                    if not threads[0].is_alive():
                        break
                    continue
                frames += rx.process(got[0], got[1])
            frames += rx.flush()
        finally:
            for th in threads:
                th.join(timeout_s)
            wire_lost = receiver.frames_lost
            receiver.close()
    finally:
        for pr in procs:
            pr.stop()
    telemetry = dn_e.telemetry(rc.downlink)
    if rc.kind != "regenerative":
        telemetry = _relay_records(relays[rc.name], fs, telemetry)
    cols, counters = join(sink_schedule, fmt, frames, telemetry, tx.bits, qam=cfg.waveform.qam,
                          carrier_hz=tr_dn.carrier_hz)
    counters.update(result.get("relay", {}), wire_frames_lost=wire_lost, rx_windows=rx.windows,
                    rx_windows_locked=rx.windows_locked, rx_lost_lock=rx.lost_lock)
    extra = 0.0
    if rc.kind == "regenerative":
        extra = rc.processing_delay_s
        cols["t_s"] = cols["t_s"] - (sink_schedule.burst_starts[0] - schedule.burst_starts[0]) / fs
    return {"cols": cols, "counters": counters, "sink": tr_dn.rx.name, "relay": rc.name,
            "bits_per_frame": fmt.modem.bits_per_frame, "extra_latency_s": extra,
            "where": "two hil emulate processes + " + ("regenerative relay" if rc.kind == "regenerative"
                                                       else "bent pipe") + " on the framed wire (mock-zmq)"}


def run_network(net, *, max_bursts: int | None = None, progress=None, backend: str = "mock",
                network_file: str | None = None, workdir: str | None = None) -> dict:
    """Run every serving chain; returns ``{chain name: {"cols": per-frame columns, "counters": ...,
    "sink": user node, "relay": relay name or None, "where": ...}}``.

    ``backend``: ``mock`` - every chain in this process (the emulator's Link objects); ``mock-zmq`` - the
    plain links inside a ``hil emulate`` child process over framed ipc:// sockets (trajectory kind
    ``network`` reading ``network_file``), each relay chain's two hops in two more ``hil emulate``
    processes with the relay between them on the framed wire (a bent pipe, or the regenerative relay of
    :func:`relay_process`, on a thread here); transmitter and receivers stay in this process."""
    from hil.loop.metrics import join

    cfg = net.cfg
    names = chains_of(net)
    if not names:
        raise ConfigError.bad_value("events", "no serving links", "at least one structure event with serving: "
                                    "[link, ...] (the links that carry users' traffic)")
    fs = cfg.sample_rate_hz
    fmt, layout, det, schedule, eob = traffic(net, max_bursts)
    out = {}
    if backend not in ("mock", "mock-zmq"):
        raise ConfigError.bad_value("backend", backend, "mock or mock-zmq")
    relayed = {rc.downlink for rc in cfg.relays}
    emu = None
    if backend == "mock-zmq":
        import tempfile

        if network_file is None:
            raise ConfigError.bad_value("network_file", None, "the scenario file (the emulator process reads it)")
        plain = [n for n in names if n not in relayed]
        if plain:
            emu = _EmulatorProcess(net, plain, network_file, workdir or tempfile.mkdtemp(prefix="hilnet", dir="/tmp"))
    by_down = {rc.downlink: rc for rc in cfg.relays}
    try:
        for name in names:
            if backend == "mock-zmq" and name in by_down:
                out[name] = _relay_chain_processes(net, by_down[name], network_file,
                                                   (fmt, layout, det, schedule, eob), max_bursts)
                continue
            out[name] = _one_chain(net, name, fs, fmt, layout, det, schedule, eob, emu,
                                   plain.index(name) if emu is not None and name in plain else None, progress)
    finally:
        if emu is not None:
            emu.stop()
    if emu is not None:
        for name in plain:
            r = out[name]
            telemetry = emu.telemetry(name)
            r["cols"], counters = join(r["schedule"], fmt, r.pop("frames"), telemetry, r.pop("bits_of"),
                                       qam=cfg.waveform.qam, carrier_hz=r.pop("fc"))
            r["counters"] = {**counters, **r["counters"]}
    for r in out.values():
        r.pop("schedule", None)
    return out


def _one_chain(net, name, fs, fmt, layout, det, schedule, eob, emu, emu_index, progress):
    from dsp.framing import Transmitter
    from hil.loop.metrics import join

    cfg = net.cfg
    tx = Transmitter(fmt, schedule, seed=cfg.seed)
    if emu_index is not None:
        tr = net.trajectories[name]
        lo, hi = _span(tr, cfg.duration_s)
        rx = _receiver(net, fmt, layout, det, schedule, tr.carrier_hz, (0.5 * lo, 1.5 * hi), net.predicted(name))
        frames, wc = _through_process(emu, emu_index, tx, rx, schedule, tr.carrier_hz, eob)
        wc.update(rx_windows=rx.windows, rx_windows_locked=rx.windows_locked, rx_lost_lock=rx.lost_lock,
                  delay_window_s=[0.5 * lo, 1.5 * hi])
        return {"frames": frames, "bits_of": tx.bits, "fc": tr.carrier_hz, "schedule": schedule, "counters": wc,
                "sink": tr.rx.name, "relay": None, "bits_per_frame": fmt.modem.bits_per_frame,
                "extra_latency_s": 0.0, "where": "hil emulate process (mock-zmq)"}
    chain, sink, relay, sink_schedule, (lo, hi) = _chain(net, name, fs, (fmt, layout, det, schedule))
    rc = next((r for r in cfg.relays if r.downlink == name), None)
    predict = net.predicted(name) if rc is None or rc.kind == "regenerative" else _relay_prediction(net, rc)
    rx = _receiver(net, fmt, layout, det, sink_schedule, sink.carrier_hz, (lo, hi), predict)
    frames = []
    try:
        starts = schedule.burst_starts
        for b, k, x in tx.bursts():
            for a in range(0, x.size, 16384):
                last = eob[b] and a + 16384 >= x.size
                for n0, y, _ in chain.accept(k + a, x[a:a + 16384], end_of_burst=last):
                    frames += rx.process(n0, y)
            if progress is not None:
                progress(name, b, len(starts))
        for n0, y, _ in chain.finish():
            frames += rx.process(n0, y)
        frames += rx.flush()
    finally:
        chain.close()
    regen = relay is not None and not hasattr(relay, "total_delay_s")
    telemetry = _relay_records(relay, fs) if relay is not None and not regen else list(sink.bursts)
    cols, counters = join(sink_schedule, fmt, frames, telemetry, tx.bits, qam=cfg.waveform.qam,
                          carrier_hz=sink.carrier_hz)
    counters.update(rx_windows=rx.windows, rx_windows_locked=rx.windows_locked, rx_lost_lock=rx.lost_lock,
                    delay_window_s=[lo, hi])
    extra = 0.0
    if regen:
        counters.update(relay.counters())
        # the sink's schedule is the source's shifted by the re-send delay: frame times and latency
        # count from the source's transmission
        extra = relay.delay / fs
        cols["t_s"] = cols["t_s"] - extra
    return {"cols": cols, "counters": counters, "sink": sink.sink, "relay": relay.name if relay else None,
            "bits_per_frame": fmt.modem.bits_per_frame, "extra_latency_s": extra, "where": "in process"}


def user_table(net, results: dict) -> list[dict]:
    """One row per (structure interval, user served in it): the numbers of the module doc."""
    rows = []
    tl = sorted(net.timeline, key=lambda e: e[0])
    for j, (t_a, structure, serving, _) in enumerate(tl):
        t_b = tl[j + 1][0] if j + 1 < len(tl) else net.cfg.duration_s
        for name in serving:
            res = results[name]
            c = res["cols"]
            sel = (c["t_s"] >= t_a) & (c["t_s"] < t_b)
            n = int(sel.sum())
            dec = sel & (c["synced"] > 0)
            bits = float(np.nansum(c["bits"][sel]))
            errs = float(np.nansum(c["bit_errors"][sel]))
            rows.append({
                "t_start_s": t_a, "t_end_s": t_b, "structure": structure, "user": res["sink"], "link": name,
                "relay": res["relay"], "frames": n, "decoded": int(dec.sum()),
                "esn0_db": float(np.nanmean(c["snr_db"][sel])) if np.isfinite(c["snr_db"][sel]).any() else math.nan,
                "ber": errs / bits if bits else math.nan,
                "bler": 1.0 - dec.sum() / n if n else math.nan,
                "throughput_bps": float(dec.sum()) * res["bits_per_frame"] / (t_b - t_a),
                "latency_ms": (float(np.nanmean(c["delay_true_s"][dec])) + res.get("extra_latency_s", 0.0)) * 1e3
                if dec.any() else math.nan,
            })
    return rows


def write_report(net, results: dict, rows: list[dict], outdir: str) -> list[str]:
    """report.json (rows, counters, links), users.md (the per-user table) and timeline.png (the structure
    timeline over the per-user Es/N0 of decoded and lost frames). Returns the paths written."""
    import json
    import os

    os.makedirs(outdir, exist_ok=True)
    paths = []

    def clean(v):
        if isinstance(v, (np.floating, float)):
            return None if not math.isfinite(float(v)) else float(v)
        if isinstance(v, np.integer):
            return int(v)
        return v

    rep = {"scenario": net.cfg.name, "description": net.cfg.description, "duration_s": net.cfg.duration_s,
           "timeline": [{"t_s": t, "structure": s, "serving": sv, "note": n} for t, s, sv, n in net.timeline],
           "users": [{k: clean(v) for k, v in r.items()} for r in rows],
           "chains": {k: {"sink": v["sink"], "relay": v["relay"], "where": v.get("where"),
                          "counters": {a: clean(b) for a, b in v["counters"].items()}} for k, v in results.items()},
           "models": {k: tr.model for k, tr in net.trajectories.items()},
           "outside_model_range": net.out_of_range()}
    p = os.path.join(outdir, "report.json")
    with open(p, "w") as fh:
        json.dump(rep, fh, indent=1)
    paths.append(p)
    lines = [f"# {net.cfg.name}: per-user numbers", "",
             "| t (s) | structure | user | link (relay) | frames | decoded | Es/N0 (dB) | BER | BLER | "
             "throughput (kbit/s) | latency (ms) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        relay = f" ({r['relay']})" if r["relay"] else ""
        lines.append(f"| {r['t_start_s']:g}-{r['t_end_s']:g} | {r['structure']} | {r['user']} | {r['link']}{relay} "
                     f"| {r['frames']} | {r['decoded']} | {r['esn0_db']:.1f} | {r['ber']:.2e} | {r['bler']:.3f} "
                     f"| {r['throughput_bps'] / 1e3:.2f} | {r['latency_ms']:.4f} |")
    p = os.path.join(outdir, "users.md")
    with open(p, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    paths.append(p)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        return paths
    fig, (ax0, ax1) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True, gridspec_kw={"height_ratios": [1, 3]})
    tl = sorted(net.timeline, key=lambda e: e[0])
    colours = {"arm-hand": "tab:blue", "broadcast-communication": "tab:orange", "hand-foot": "tab:green",
               "eye-foot": "tab:purple"}
    for j, (t_a, s, serving, _) in enumerate(tl):
        t_b = tl[j + 1][0] if j + 1 < len(tl) else net.cfg.duration_s
        ax0.barh(0, t_b - t_a, left=t_a, color=colours.get(s, "grey"), alpha=0.6)
        ax0.text(0.5 * (t_a + t_b), 0, f"{s}\n{', '.join(serving)}", ha="center", va="center", fontsize=7)
    ax0.set_yticks([])
    ax0.set_title(f"{net.cfg.name}: structure timeline and per-user Es/N0 (o decoded, x lost)")
    for name, res in results.items():
        c = res["cols"]
        ok = c["synced"] > 0
        line, = ax1.plot(c["t_s"][ok], c["snr_db"][ok], "o", ms=3, label=f"{res['sink']} via {name}")
        ax1.plot(c["t_s"][~ok], c["snr_db"][~ok], "x", ms=4, color=line.get_color())
    ax1.set_xlabel("t (s)")
    ax1.set_ylabel("Es/N0 (dB, truth)")
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=7)
    fig.tight_layout()
    p = os.path.join(outdir, "timeline.png")
    fig.savefig(p, dpi=110)
    plt.close(fig)
    paths.append(p)
    return paths


class _WireOut:
    """A framed-wire output with the downlink side of the Link interface (for RegenerativeRelay)."""

    def __init__(self, sender):
        self.sender = sender

    def accept(self, k, x, end_of_burst=False, **_):
        self.sender.send_burst(int(k), x, end_of_burst=end_of_burst)
        return []

    def finish(self, flush=True):
        return []

    def close(self):
        self.sender.close(hold_s=0.5)


def relay_process(net, relay_name: str, in_address: str, out_address: str, *, max_bursts: int | None = None,
                  idle_s: float = 30.0) -> dict:
    """A regenerative relay as a process on the framed wire (``hil network relay``): receive the uplink
    emulator's output from ``in_address`` (PULL, connects), decode with the loop's receiver, re-send
    each decoded frame at its scheduled start + ``processing_delay_s`` to ``out_address`` (PUSH, connects:
    the downlink emulator's input). Ends after the last burst's END_OF_BURST (or ``idle_s`` of silence);
    returns the counters."""
    from hil.emulator import wire
    from hil.loop.run import FramedReceiver, FramedSender

    from .regen import RegenerativeRelay

    cfg = net.cfg
    rc = next((r for r in cfg.relays if r.name == relay_name), None)
    if rc is None or rc.kind != "regenerative":
        raise ConfigError.bad_value("--relay", relay_name, "a regenerative relay of the scenario ("
                                    + ", ".join(r.name for r in cfg.relays if r.kind == "regenerative") + ")")
    fmt, layout, det, schedule, eob = traffic(net, max_bursts)
    fs = cfg.sample_rate_hz
    up = net.trajectories[rc.uplink]
    lo, hi = _span(up, cfg.duration_s)
    rx = _receiver(net, fmt, layout, det, schedule, up.carrier_hz, (0.5 * lo, 1.5 * hi), net.predicted(rc.uplink))
    inp = FramedReceiver(in_address)
    out = _WireOut(FramedSender(out_address, fs, net.trajectories[rc.downlink].carrier_hz))
    rel = RegenerativeRelay(rc.name, None, out, fmt, schedule, rx, delay_samples=int(round(rc.processing_delay_s * fs)))
    ends, want = 0, sum(eob)
    try:
        while ends < want:
            got = inp.recv(idle_s)
            if got is None:
                break
            n0, y, flags = got
            frames = rx.process(n0, y)
            rel._take(frames)
            if frames:
                rel._send(upto=max(f.window for f in frames))
            ends += bool(flags & wire.FLAG_END_OF_BURST)
        rel._take(rx.flush())
        rel._send()
    finally:
        inp.close()
        out.close()
    c = rel.counters()
    c.update(relay_frames_dropped=schedule.n_frames - rel.frames_sent, bursts_ended=ends, bursts_expected=want,
             wire_frames_lost=inp.frames_lost, relay_rx_windows=rx.windows)
    return c
