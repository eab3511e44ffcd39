"""The runner: wires transmitter, emulator and receiver, like a flowgraph's top block.

One code path for every backend; only where the blocks run changes:

* ``mock``: the three blocks in this process - the emulator's own :class:`hil.emulator.link.Link`
  (``Link.accept``, the same method its ZeroMQ server calls) between them, no sockets.
* ``mock-zmq``: three processes - ``hil emulate`` (the channel), ``hil rx`` and ``hil tx`` - talking
  the framed wire over ``ipc://`` sockets in the run's work directory.
* ``pluto`` / ``soapy``: the emulator's link in this process between the modem and the radio (an RF
  loopback cable from TX to RX); the receiver reads the radio's stream.

Afterwards :func:`hil.loop.metrics.join` puts the receiver's decisions next to the emulator's telemetry.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time

import numpy as np

from hil.errors import ConfigError, HILError, StreamError
from hil.loop.plan import LoopPlan, make_receiver, make_transmitter

__all__ = ["check_address", "FramedSender", "FramedReceiver", "run_inprocess", "run_processes", "run_tx", "run_rx",
           "emulator_config", "RunOutput", "run_radio", "open_radio", "make_link"]

log = logging.getLogger("hil.loop")
MSG_SAMPLES = 16384
#: END_OF_BURST (the emulator flushes the channel's tail at once, which moves its clock on by the channel
#: memory) only when the next burst is at least this far (s) away - else the flush would overlap it.
EOB_MIN_GAP_S = 0.1


def end_of_burst_flags(schedule) -> list[bool]:
    """Per burst: mark its end (END_OF_BURST) when the next burst is >= EOB_MIN_GAP_S away or it is the last."""
    L, fs = schedule.burst_length, schedule.sample_rate_hz
    st = schedule.burst_starts
    return [j + 1 == len(st) or st[j + 1] - (st[j] + L) >= EOB_MIN_GAP_S * fs for j in range(len(st))]


class RunOutput:
    """What a run produced: the receiver's frames (dicts), the telemetry records and the counters."""

    def __init__(self, rx_frames, telemetry, counters, notes=()):
        self.rx_frames = rx_frames
        self.telemetry = telemetry
        self.counters = counters
        self.notes = list(notes)


# ------------------------------------------------------------------------------------------ the wire
class _WireEnd:
    """One connecting socket of a loop block (its own ZeroMQ context unless one is given)."""

    def __init__(self, address: str, pattern: str, hwm: int, context):
        import zmq

        self._own_ctx = context is None
        self._ctx = context or zmq.Context()
        self.sock = self._ctx.socket(zmq.PUSH if pattern == "push" else zmq.PULL)
        self.sock.setsockopt(zmq.SNDHWM if pattern == "push" else zmq.RCVHWM, hwm)
        self.sock.connect(address)

    def _close(self, linger_ms: int):
        self.sock.close(linger=linger_ms)
        if self._own_ctx:
            self._ctx.term()


class FramedSender(_WireEnd):
    """Timed bursts on the framed wire (PUSH, connects): each burst's messages carry its absolute start
    sample index, consecutive sequence numbers, and END_OF_BURST on the last one. Silence is not sent."""

    def __init__(self, address: str, sample_rate: float, carrier_hz: float, *, context=None, hwm: int = 64):
        super().__init__(address, "push", hwm, context)
        self.fs, self.fc = float(sample_rate), float(carrier_hz)
        self.seq = 0
        self.samples = 0

    def send_burst(self, start: int, x: np.ndarray, msg_samples: int = MSG_SAMPLES,
                   end_of_burst: bool = True) -> None:
        from hil.emulator import wire

        x = np.ascontiguousarray(x, np.complex64)
        for a in range(0, x.size, msg_samples):
            part = x[a:a + msg_samples]
            last = end_of_burst and a + msg_samples >= x.size
            fr = wire.Frame(part, self.seq, int(start) + a, 0, self.fs, self.fc,
                            flags=wire.FLAG_END_OF_BURST if last else 0)
            self.sock.send(wire.encode(fr))
            self.seq += 1
            self.samples += part.size

    def close(self, hold_s: float = 1.0):
        """Stay connected ``hold_s`` after the last send, close after every queued message went out
        (linger 30 s), then end our own context. (A PUSH peer that disconnected right after its last
        message was seen to lose that message at the emulator's monitored PULL socket: the hold avoids it.)"""
        time.sleep(hold_s)
        self._close(30000)


class FramedReceiver(_WireEnd):
    """The received stream from the framed wire (PULL, connects): ``(sample_index, samples)`` per message;
    a sequence gap is counted as lost frames (``frames_lost``), a malformed message as ``bad``."""

    def __init__(self, address: str, *, context=None, hwm: int = 64):
        super().__init__(address, "pull", hwm, context)
        self.last_seq = None
        self.frames_lost = 0
        self.bad = 0
        self.messages = 0
        self.samples = 0

    def recv(self, timeout_s: float):
        """One message ``(sample_index, samples, flags)``, or None when nothing came within ``timeout_s``."""
        import zmq

        from hil.emulator import wire

        if not self.sock.poll(int(timeout_s * 1000), zmq.POLLIN):
            return None
        msg = self.sock.recv(copy=False)
        try:
            fr = wire.decode(msg.buffer)
        except StreamError:
            self.bad += 1
            return self.recv(0)
        if self.last_seq is not None and fr.seq > self.last_seq + 1:
            self.frames_lost += fr.seq - self.last_seq - 1
        self.last_seq = fr.seq
        self.messages += 1
        self.samples += fr.samples.shape[0]
        return int(fr.sample_index), np.array(fr.samples, np.complex64), int(fr.flags)

    def close(self):
        self._close(0)


# ------------------------------------------------------------------------------------------ processes
def run_tx(plan: LoopPlan, address: str, *, progress=None, realtime: bool | None = None,
           lead_s: float = 0.25) -> dict:
    """``hil tx``: send every burst of the plan to ``address``; returns counters.

    ``realtime`` (default: the plan's ``frames.pace``): burst ``b`` is handed over ``lead_s`` before its
    air time (wall clock, origin at the first burst); a burst handed over after its air time began is an
    underflow (UHD's 'U': the radio would have sent silence), counted in ``underflows`` (and how late)."""
    tx = make_transmitter(plan)
    sc = plan.scenario_obj()
    if realtime is None:
        realtime = sc.frames.pace == "realtime"
    fs = sc.sample_rate_hz
    snd = FramedSender(address, fs, sc.carrier_hz)
    t0 = time.perf_counter()
    origin = None
    under, late_max = 0, 0.0
    eob = end_of_burst_flags(plan.schedule)
    try:
        for b, k, x in tx.bursts():
            if realtime:
                if origin is None:
                    origin = time.monotonic() + lead_s - k / fs  # wall time of sample 0
                due = origin + k / fs
                wait = due - lead_s - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                late = time.monotonic() - due
                if late > 0:
                    under += 1
                    late_max = max(late_max, late)
            snd.send_burst(k, x, end_of_burst=eob[b])
            if progress is not None:
                progress.update(1)
    finally:
        snd.close()
    return {"bursts": plan.schedule.n_bursts, "messages": snd.seq, "samples": snd.samples,
            "seconds": time.perf_counter() - t0, "underflows": under, "late_max_s": late_max,
            "realtime": bool(realtime)}


def run_rx(plan: LoopPlan, address: str, out_path: str | None = None, *, idle_s: float = 30.0,
           first_timeout_s: float = 60.0, latency_samples: int = 0, realtime: bool | None = None,
           buffer_s: float = 0.5) -> dict:
    """``hil rx``: receive until every window of the schedule is processed, the emulator marked the end of
    the last burst (END_OF_BURST on a message past its start), or the stream has been idle ``idle_s``
    (then the remaining windows are processed with what arrived). Writes one JSON line per frame found to
    ``out_path`` (and a last line with the counters); returns the counters.

    ``realtime`` (default: the plan's ``frames.pace``): the samples are due at wall time ``origin + n/fs``
    (origin: the first message); a message taken more than ``buffer_s`` (a radio's buffer) after its last
    sample was due is an overflow (UHD's 'O': a radio would have overwritten it), counted in
    ``overflows`` with the samples concerned."""
    from hil.emulator.wire import FLAG_END_OF_BURST

    rx = make_receiver(plan, latency_samples=latency_samples)
    src = FramedReceiver(address)
    fh = open(out_path, "w", encoding="utf-8") if out_path else None
    frames = []

    def emit(found):
        for fr in found:
            d = fr.to_dict()
            frames.append(d)
            if fh:
                fh.write(json.dumps(d) + "\n")

    t_start = time.monotonic()
    got_any = False
    last_start = plan.schedule.burst_starts[-1]
    if realtime is None:
        realtime = plan.scenario.get("frames", {}).get("pace") == "realtime"
    fs = plan.schedule.sample_rate_hz
    origin = None
    over = over_samples = 0
    behind_max = 0.0
    try:
        while rx._b < plan.schedule.n_bursts:
            item = src.recv(idle_s if got_any else first_timeout_s)
            if item is None:
                break
            got_any = True
            n0, y, flags = item
            if realtime:
                now = time.monotonic()
                if origin is None:
                    origin = now - (n0 + y.size) / fs
                behind = now - (origin + (n0 + y.size) / fs)
                behind_max = max(behind_max, behind)
                if behind > buffer_s:
                    over += 1
                    over_samples += y.size
            emit(rx.process(n0, y))
            if flags & FLAG_END_OF_BURST and n0 + y.size > last_start:
                break  # the last burst and its channel tail are in
        emit(rx.flush())
    finally:
        src.close()
    counters = {"rx_samples": rx.samples_received, "rx_samples_missing": rx.samples_missing,
                "rx_windows": rx.windows, "rx_windows_locked": rx.windows_locked, "rx_frames_lost": src.frames_lost,
                "rx_bad_messages": src.bad,
                "rx_lost_lock": rx.lost_lock, "rx_acquisitions": len(rx.tracker.acquisitions) if rx.tracker else 0,
                "rx_seconds": time.monotonic() - t_start, "rx_received_anything": got_any}
    if realtime:
        counters.update(rx_overflows=over, rx_overflow_samples=over_samples, rx_behind_max_s=behind_max)
    if fh:
        fh.write(json.dumps({"counters": counters}) + "\n")
        fh.close()
    return counters | {"frames": frames}


def emulator_config(plan: LoopPlan, workdir: str, bursts_path: str):
    """The plan's emulator section with framed ipc:// endpoints in ``workdir`` (emulator binds)."""
    cfg = dict(plan.emulator)
    cfg["endpoints"] = [
        {"name": "tx", "address": f"ipc://{os.path.abspath(workdir)}/tx.sock", "pattern": "pull", "bind": True,
         "wire": "framed"},
        {"name": "rx", "address": f"ipc://{os.path.abspath(workdir)}/rx.sock", "pattern": "push", "bind": True,
         "wire": "framed", "header_truth": False},  # the receiver cannot read the truth off the wire
    ]
    cfg["telemetry_bursts"] = bursts_path
    return cfg


def _read_jsonl(path):
    out = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if line:
                    out.append(json.loads(line))
    return out


def spawn(args, log_path, module: str = "hil"):
    """``python -m MODULE ARGS`` as a block of the loop: stdout piped (for READY), stderr to ``log_path``."""
    fh = open(log_path, "w")  # noqa: SIM115 - closed by stop_process
    env = dict(os.environ, PYTHONUNBUFFERED="1", OPENBLAS_NUM_THREADS="1", PYTHONFAULTHANDLER="1")
    p = subprocess.Popen([sys.executable, "-m", module, *args], stdout=subprocess.PIPE, stderr=fh, env=env,
                         text=True)
    p._log = fh  # closed with the process
    return p


def await_ready(p, timeout: float):
    """The emulator's ``READY {json}`` line (None if it exits or stays silent for ``timeout`` s). A thread
    keeps reading its stdout (so it never blocks on a full pipe); the lines are kept in ``p._lines``."""
    import queue
    import threading

    q: queue.Queue = queue.Queue()
    p._lines = []

    def pump():
        for line in p.stdout:
            p._lines.append(line)
            q.put(line)
        q.put(None)

    threading.Thread(target=pump, daemon=True, name="emulator-stdout").start()
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = q.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return None
        if line is None:
            return None
        if line.startswith("READY "):
            return line


def stop_process(p, timeout=10.0):
    """SIGTERM (the blocks print their counters and exit), then kill after ``timeout`` s."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    p._log.close()


def run_processes(plan: LoopPlan, workdir: str, *, timeout_s: float = 600.0, emulator_address=None) -> RunOutput:
    """``mock-zmq``: ``hil emulate``, ``hil rx`` and ``hil tx`` as three processes (see the module doc)."""
    import yaml

    os.makedirs(workdir, exist_ok=True)
    plan_path = os.path.join(workdir, "plan.json")
    with open(plan_path, "w", encoding="utf-8") as fh:
        fh.write(plan.to_json())
    bursts_path = os.path.join(workdir, "telemetry_bursts.jsonl")
    if os.path.exists(bursts_path):
        os.remove(bursts_path)
    emu_path = os.path.join(workdir, "emulator.yaml")
    with open(emu_path, "w", encoding="utf-8") as fh:
        yaml.safe_dump({"emulator": emulator_config(plan, workdir, bursts_path)}, fh, sort_keys=False)
    rx_path = os.path.join(workdir, "rx_frames.jsonl")
    emu = spawn(["emulate", emu_path], os.path.join(workdir, "emulator.log"))
    procs = [emu]
    try:
        ready = await_ready(emu, 30.0)
        if ready is None:
            stop_process(emu)
            with open(os.path.join(workdir, "emulator.log")) as fh:
                tail = fh.read()[-2000:]
            raise HILError(f"the emulator process did not become ready (exit {emu.returncode}): {tail.strip()}")
        addrs = json.loads(ready.split(" ", 1)[1])
        rx = spawn(["rx", "--plan", plan_path, "--connect", addrs["rx"], "--out", rx_path],
                    os.path.join(workdir, "rx.log"))
        procs.append(rx)
        tx_json = os.path.join(workdir, "tx_counters.json")
        tx = spawn(["tx", "--plan", plan_path, "--connect", addrs["tx"], "--out", tx_json],
                    os.path.join(workdir, "tx.log"))
        procs.append(tx)
        deadline = time.monotonic() + timeout_s
        running = {"tx": tx, "rx": rx}
        while running:  # a block that fails stops the run at once (its peer would wait forever)
            for name, p in list(running.items()):
                if p.poll() is None:
                    continue
                del running[name]
                if p.returncode != 0:
                    with open(os.path.join(workdir, f"{name}.log")) as fh:
                        tail = fh.read()[-2000:]
                    raise HILError(f"hil {name} failed (exit {p.returncode}): {tail.strip()}")
            if emu.poll() is not None and running:
                raise HILError(f"the emulator process exited ({emu.returncode}) before hil "
                               f"{' and hil '.join(running)} finished (see {workdir}/emulator.log)")
            if time.monotonic() > deadline:
                raise HILError(f"hil {' and hil '.join(running)} did not finish within {timeout_s:g} s "
                               f"(see {workdir})")
            time.sleep(0.02)
        stop_process(emu)
        time.sleep(0.05)
        emu_out = "".join(getattr(emu, "_lines", []))
    finally:
        for p in procs:
            stop_process(p)
    rows = _read_jsonl(rx_path)
    counters = {}
    frames = []
    for r in rows:
        if "counters" in r:
            counters.update(r["counters"])
        else:
            frames.append(r)
    telemetry = _read_jsonl(bursts_path)
    notes = []
    tx_c = _read_jsonl(os.path.join(workdir, "tx_counters.json"))
    if tx_c:
        counters.update({f"tx_{k}": v for k, v in tx_c[0].items() if k in ("underflows", "late_max_s", "seconds")})
    last = [ln for ln in (emu_out or "").splitlines() if ln.strip()]
    if last:
        counters["emulator_final"] = last[-1][:500]
    return RunOutput(frames, telemetry, counters, notes)


def make_link(plan: LoopPlan):
    """The plan's emulator link as an in-process :class:`hil.emulator.link.Link` (the server's own code)."""
    from hil.config import parse
    from hil.emulator.config import EmulatorConfig
    from hil.emulator.link import build_links

    cfg = dict(plan.emulator)
    cfg["endpoints"] = [{"name": "tx", "address": "inproc://tx", "pattern": "pull", "wire": "framed"},
                        {"name": "rx", "address": "inproc://rx", "pattern": "push", "wire": "framed"}]
    ecfg = parse(EmulatorConfig, cfg, source=f"plan {plan.name}")
    return next(iter(build_links(ecfg, source=f"plan {plan.name}").values()))  # seeded as the server seeds it


def _link_outputs(link, k, x, end_of_burst=True):
    """The link's outputs for one burst sent in wire-sized messages (END_OF_BURST on the last if asked)."""
    for a in range(0, x.size, MSG_SAMPLES):
        last = end_of_burst and a + MSG_SAMPLES >= x.size
        yield from link.accept(k + a, x[a:a + MSG_SAMPLES], end_of_burst=last)


def open_radio(backend, sample_rate: float, carrier_hz: float):
    """Open, configure and start the backend's radio (DeviceError when there is none)."""
    from hil.backends import make_radio

    radio = make_radio(backend.kind, backend.profile, backend.uri)
    try:
        radio.open()
        radio.configure(sample_rate=sample_rate, rx_frequency=carrier_hz, tx_frequency=carrier_hz)
        radio.start()
    except BaseException:
        radio.close()
        raise
    return radio


def run_radio(plan: LoopPlan, backend, *, progress=None, latency_samples: int | None = None,
              scale: float = 0.1, lead_s: float = 0.05) -> RunOutput:
    """``pluto`` / ``soapy`` (or any Radio): the link between the modem and the radio's TX (timed bursts at
    the link's output indices), the receiver on the radio's RX stream (an RF loopback cable between them).
    ``latency_samples``: the TX->RX latency measured by ``hil calibrate`` (a mock radio reports its own)."""
    link = make_link(plan)
    tx = make_transmitter(plan)
    radio = open_radio(backend, plan.schedule.sample_rate_hz, float(plan.scenario["carrier_hz"]))
    try:
        lat = latency_samples
        if lat is None:  # a mock radio knows its own latency (transport + loopback channel)
            tr = getattr(radio, "transport", None)
            lat = getattr(tr, "latency", None)
            ch = getattr(tr, "channel", None)
            if isinstance(lat, (int, np.integer)) and ch is not None:
                lat += int(ch.latency)
            if not isinstance(lat, (int, np.integer)):
                raise ConfigError.bad_value("latency_samples", None, "the TX->RX latency in samples for "
                                            f"{backend.kind} (measure it with hil calibrate)")
        rx = make_receiver(plan, latency_samples=int(lat))
        base = None
        read_upto = 0
        frames = []
        eob = end_of_burst_flags(plan.schedule)
        for b, k, x in tx.bursts():
            end = None
            outs = list(_link_outputs(link, k, x, eob[b]))
            if base is None:
                _, meta = radio.read(1)
                base = meta.sample_index + 1 + int(lead_s * plan.schedule.sample_rate_hz)
                read_upto = meta.sample_index + 1
            for j, (n0, y, _st) in enumerate(outs):
                radio.write((y * scale).astype(np.complex64), at_sample=base + n0, end_burst=j == len(outs) - 1)
                end = n0 + y.size
            while end is not None and read_upto < base + end + lat:
                y, meta = radio.read(int(min(1 << 16, base + end + lat - read_upto)))
                read_upto = meta.sample_index + y.size
                cut = max(0, base - meta.sample_index)  # before the first burst: not the run's stream
                if cut < y.size:
                    frames += rx.process(meta.sample_index + cut - base, y[cut:])
            if progress is not None:
                progress.update(1)
        link.finish()
        frames += rx.flush()
    finally:
        link.close()
        try:
            radio.stop()
        except HILError:
            pass
        radio.close()
    counters = {"rx_samples": rx.samples_received, "rx_samples_missing": rx.samples_missing,
                "rx_windows": rx.windows, "rx_windows_locked": rx.windows_locked, "rx_lost_lock": rx.lost_lock,
                "radio_latency_samples": int(lat),
                "rx_acquisitions": len(rx.tracker.acquisitions) if rx.tracker else 0}
    return RunOutput([f.to_dict() for f in frames], list(link.bursts), counters)


def run_inprocess(plan: LoopPlan, *, progress=None) -> RunOutput:
    """``mock``: the same blocks in one process; the channel is the emulator's Link object."""
    link = make_link(plan)
    tx = make_transmitter(plan)
    rx = make_receiver(plan)
    frames = []
    try:
        eob = end_of_burst_flags(plan.schedule)
        for b, k, x in tx.bursts():
            for n0, y, _state in _link_outputs(link, k, x, eob[b]):
                frames += rx.process(n0, y)
            if progress is not None:
                progress.update(1)
        link.finish()
        frames += rx.flush()
    finally:
        link.close()
    counters = {"rx_samples": rx.samples_received, "rx_samples_missing": rx.samples_missing,
                "rx_windows": rx.windows, "rx_windows_locked": rx.windows_locked, "rx_lost_lock": rx.lost_lock,
                "rx_acquisitions": len(rx.tracker.acquisitions) if rx.tracker else 0}
    return RunOutput([f.to_dict() for f in frames], list(link.bursts), counters)


def check_address(field: str, address: str) -> str:
    """A peer address for ``hil tx`` / ``hil rx`` (they connect): one ipc://, inproc:// or loopback tcp://
    endpoint (:func:`hil.emulator.address.parse_address`, the emulator's own rules)."""
    from hil.emulator.address import parse_address

    parse_address(address, field, bind=False)
    return address


def check_backend(kind: str):
    if kind not in ("mock", "mock-zmq", "pluto", "soapy"):
        raise ConfigError.bad_value("backend.kind", kind, "mock, mock-zmq, pluto or soapy")
