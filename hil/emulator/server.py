"""The emulator server: ZeroMQ endpoints in, channel links in the middle, endpoints out.

Python API::

    with EmulatorServer(config) as emu:          # start() / stop() also work
        emu.address("sat_rx")                    # actual address (ephemeral ports resolved)
        emu.status()                             # dict: links (telemetry) and endpoints (counters)

One thread owns every socket (ZeroMQ sockets are not thread-safe); :meth:`status` may be called from
any thread. The loop polls the input endpoints, runs each message through the links fed by that input
(in arrival order; the link's clock is its own sample count), queues the result on the link's output
endpoint and sends it when the peer can take it.

Flow control and memory (stated drop policy):

* ``on_full: block`` (default): when an output queue holds ``buffer_samples``, the inputs feeding it are
  not read until it drains; back-pressure reaches the transmitter through ZeroMQ's high-water marks
  (``hwm`` messages per socket). Nothing is dropped by the emulator.
* ``on_full: drop``: inputs are always read; when an output queue exceeds ``buffer_samples`` the oldest
  queued samples are dropped and counted (``samples_dropped``; framed receivers also see the gap in
  ``sample_index``). PUB sockets drop inside ZeroMQ at the high-water mark, as PUB always does.

Malformed input (wrong magic/version/header length/format, truncated or padded payload, a raw message
that is not whole cf32 samples) and out-of-sequence or duplicated frames are counted per reason, logged
(the first 10 of each reason, then every 1000th) and dropped; they never stop the server.
"""

from __future__ import annotations

import collections
import json
import logging
import math
import struct
import threading
import time

import numpy as np
import zmq

from hil.emulator import wire
from hil.emulator.config import EmulatorConfig
from hil.emulator.link import build_links
from hil.emulator.telemetry import BurstWriter, TelemetryWriter
from hil.errors import ConfigError, HILError, StreamError

__all__ = ["EmulatorServer"]

log = logging.getLogger("hil.emulator")

_SOCK = {"pull": zmq.PULL, "sub": zmq.SUB, "req": zmq.REQ, "push": zmq.PUSH, "pub": zmq.PUB, "rep": zmq.REP}
_U32 = struct.Struct("<I")
_MAX_DRAIN = 64  # messages read from one socket per loop turn, so no endpoint starves the others
_MAX_SAMPLE_INDEX = (1 << 62) - 1  # a framed sample_index beyond this would overflow the link's int64 clock
_MAX_REQUEST_BYTES = 1024  # what an output endpoint may receive (REP requests are 1 or 4 bytes)
_MONITOR_EVENTS = zmq.EVENT_ACCEPTED | zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED


class _Endpoint:
    def __init__(self, cfg):
        self.cfg = cfg
        self.name = cfg.name
        self.sock = None
        self.address = cfg.address
        self.messages = 0
        self.samples = 0
        self.bad = collections.Counter()
        self.links = []
        self.monitor = None          # inproc PAIR receiving this socket's connect/disconnect events
        self.peers_connected = 0
        self.peer_disconnects = 0
        self.events = collections.Counter()  # counted events that are not refusals (lost frames, peers ...)
        self.samples_nonfinite = 0   # NaN/Inf samples received (replaced by 0 before the channel)


class _Input(_Endpoint):
    def __init__(self, cfg):
        super().__init__(cfg)
        self.tracker = wire.SequenceTracker() if cfg.wire == "framed" else None
        self.offset = 0  # added to a framed sample_index (a restarted stream continues at the links' clock)
        self.request_out = False
        self.request_time = 0.0
        self.requests = 0


class _Output(_Endpoint):
    def __init__(self, cfg):
        super().__init__(cfg)
        self.queue = collections.deque()  # (n0, samples complex64, state dict)
        self.queued = 0
        self.seq = 0
        self.dropped = 0
        self.pending = None    # rep: number of samples the current request wants
        self.links = []        # the links feeding this output (several are summed)
        self.pend = {}         # several links: per link, samples waiting for the others
        self.pend_n = {}
        self.next_n = 0        # several links: next sample index of the sum
        self.recent = collections.deque(maxlen=cfg.effective_hwm)  # samples of the last sndhwm messages sent
        self.samples_unconfirmed = 0  # samples in ZeroMQ's pipe to a peer when it disconnected (see status)

    @property
    def link(self):
        return self.links[0]

    @property
    def full(self):
        return self.queued >= self.cfg.buffer_samples


class EmulatorServer:
    """Channel emulator over ZeroMQ (see the module doc); every link's randomness derives from ``config.seed``."""

    def __init__(self, config: EmulatorConfig, *, context: zmq.Context | None = None):
        if not isinstance(config, EmulatorConfig):
            raise ConfigError.bad_value("config", type(config).__name__, "an EmulatorConfig")
        self.config = config
        self.links = build_links(config)  # the same links (and seeds) as an in-process run
        self.inputs = {e.name: _Input(e) for e in config.endpoints if e.is_input}
        self.outputs = {e.name: _Output(e) for e in config.endpoints if not e.is_input}
        for lc in config.links:
            lk = self.links[lc.name]
            self.inputs[lc.source].links.append(lk)
            out = self.outputs[lc.sink]
            out.links.append(lk)
            out.pend[lk.name] = collections.deque()
            out.pend_n[lk.name] = 0
        self._own_ctx = context is None  # created last: a bad link above leaves nothing to clean up
        self._ctx = context or zmq.Context()
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = None
        self._error = None
        self._telemetry = None
        self._bursts = None
        self._spans = {name: lk.span() for name, lk in self.links.items()}
        self._auth = None
        self._control = None
        self._control_address = None
        self._pace_origin = None
        self.loop_turns = 0

    # ------------------------------------------------------------------ life cycle
    def start(self, timeout: float = 10.0) -> EmulatorServer:
        """Open every socket (in the server thread) and start the loop; returns once bound/connected."""
        if self._thread is not None:
            raise StreamError("emulator already started")
        if self.config.telemetry_csv:
            self._telemetry = TelemetryWriter(self.config.telemetry_csv, self.config.telemetry_interval_s)
        if self.config.telemetry_bursts:
            try:
                self._bursts = BurstWriter(self.config.telemetry_bursts)
            except OSError as exc:
                raise ConfigError.bad_value("telemetry_bursts", self.config.telemetry_bursts,
                                            f"a writable file path ({exc.strerror})") from None
            for lk in self.links.values():
                lk.on_burst = self._bursts.write
        self._stop.clear()
        self._thread = threading.Thread(target=self._main, name=f"hil-emulator-{self.config.name}", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise StreamError(f"emulator did not start within {timeout} s")
        if self._error is not None:
            err = self._error
            self.stop()
            raise err
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop, close every socket (linger 0) and the telemetry file. Idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():  # pragma: no cover - would be a bug in the loop
                raise StreamError(f"emulator thread did not stop within {timeout} s")
            self._thread = None
        with self._lock:
            for lk in self.links.values():
                lk.finish(flush=False)  # the last bursts' records (their tails can no longer be sent)
        if self._bursts is not None:
            self._bursts.close()
            self._bursts = None
        if self._telemetry is not None:
            self._telemetry.close()
            self._telemetry = None
        for lk in self.links.values():
            lk.close()
        if self._own_ctx and not self._ctx.closed:
            self._ctx.term()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def address(self, endpoint: str) -> str:
        """The address an endpoint actually uses (a bound ``tcp://127.0.0.1:*`` resolved to its port)."""
        ep = self.inputs.get(endpoint) or self.outputs.get(endpoint)
        if ep is None:
            raise ConfigError.bad_value("endpoint", endpoint, "one of " + ", ".join([*self.inputs, *self.outputs]))
        return ep.address

    @property
    def control_address(self) -> str | None:
        """Address of the JSON status socket (``control`` in the config), resolved once started."""
        return self._control_address

    def status(self) -> dict:
        """Snapshot: per link the telemetry (delay, Doppler, elevation, path loss, SNR, counters) and per
        endpoint its address and counters (messages, samples, bad frames by reason, drops)."""
        with self._lock:
            links = {name: lk.telemetry() for name, lk in self.links.items()}
            eps = {}
            for ep in [*self.inputs.values(), *self.outputs.values()]:
                d = {"address": ep.address, "pattern": ep.cfg.pattern, "wire": ep.cfg.wire,
                     "bind": ep.cfg.bind, "messages": ep.messages, "samples": ep.samples, "bad": dict(ep.bad),
                     "peers_connected": ep.peers_connected, "peer_disconnects": ep.peer_disconnects,
                     "hwm": ep.cfg.effective_hwm, "max_message_bytes": ep.cfg.max_message_bytes,
                     "events": dict(ep.events)}
                if isinstance(ep, _Input):
                    d.update(samples_nonfinite=ep.samples_nonfinite)
                if isinstance(ep, _Input) and ep.tracker is not None:
                    tr = ep.tracker
                    d.update(frames_lost=tr.lost, frames_duplicated=tr.duplicates, frames_out_of_order=tr.old,
                             frames_late=tr.late, frames_overlapping=tr.overlaps, restarts=tr.restarts,
                             resyncs=tr.resyncs, gap_samples=tr.gap_samples)
                if isinstance(ep, _Output):
                    d.update(queued_samples=ep.queued + sum(ep.pend_n.values()), samples_dropped=ep.dropped,
                             samples_unconfirmed=ep.samples_unconfirmed, links=[lk.name for lk in ep.links])
                eps[ep.name] = d
            return {"name": self.config.name, "running": self.running, "sample_rate_hz": self.config.sample_rate_hz,
                    "links": links, "endpoints": eps, "error": None if self._error is None else str(self._error)}

    # ------------------------------------------------------------------ sockets
    def _open(self, ep):
        cfg = ep.cfg
        s = self._ctx.socket(_SOCK[cfg.pattern])
        s.linger = 0
        s.sndhwm = cfg.effective_hwm  # messages, chosen so that hwm x max_message_bytes <= queue_bytes
        s.rcvhwm = cfg.effective_hwm
        # Larger messages are never allocated: libzmq drops the peer (seen as a disconnect, counted).
        s.setsockopt(zmq.MAXMSGSIZE, cfg.max_message_bytes if cfg.is_input else _MAX_REQUEST_BYTES)
        if cfg.pattern == "sub":
            s.setsockopt(zmq.SUBSCRIBE, cfg.subscribe.encode())
        if cfg.pattern == "req":
            # Relaxed REQ: a lost reply (peer restarted) is answered by resending, not a stuck socket.
            s.setsockopt(zmq.REQ_RELAXED, 1)
            s.setsockopt(zmq.REQ_CORRELATE, 1)
        cur = self.config.curve
        if cur is not None:
            s.curve_publickey = cur.public_key.encode()
            s.curve_secretkey = cur.secret_key.encode()
            if cfg.bind:
                s.curve_server = True
            else:
                if cur.server_key is None:
                    raise ConfigError.bad_value("curve.server_key", None,
                                                f"the peer's public key (endpoint {ep.name} connects)")
                s.curve_serverkey = cur.server_key.encode()
        try:
            if cfg.bind:
                s.bind(cfg.address)
                ep.address = s.getsockopt_string(zmq.LAST_ENDPOINT)
            else:
                s.connect(cfg.address)
        except zmq.ZMQError as exc:
            s.close(0)
            raise ConfigError.bad_value(f"endpoints.{ep.name}.address", cfg.address,
                                        f"an address that can be {'bound' if cfg.bind else 'connected'} ({exc})") \
                from None
        ep.sock = s
        ep.monitor = s.get_monitor_socket(_MONITOR_EVENTS)  # peers coming and going are counted

    def _start_auth(self):
        cur = self.config.curve
        if cur is None or not cur.clients:
            return
        from zmq.auth.thread import ThreadAuthenticator

        allowed = {k.encode() for k in cur.clients}

        class _Keys:
            def callback(self, domain, key):
                return zmq.utils.z85.encode(key) in allowed if len(key) == 32 else key in allowed

        self._auth = ThreadAuthenticator(self._ctx)
        self._auth.start()
        self._auth.configure_curve_callback(domain="*", credentials_provider=_Keys())

    def _main(self):
        try:
            self._start_auth()
            for ep in [*self.inputs.values(), *self.outputs.values()]:
                self._open(ep)
            if self.config.control:
                self._control = self._ctx.socket(zmq.REP)
                self._control.linger = 0
                self._control.setsockopt(zmq.MAXMSGSIZE, _MAX_REQUEST_BYTES)
                cur = self.config.curve
                if cur is not None:  # the status socket is covered by CURVE like the sample sockets
                    self._control.curve_publickey = cur.public_key.encode()
                    self._control.curve_secretkey = cur.secret_key.encode()
                    self._control.curve_server = True
                self._control.bind(self.config.control)
                self._control_address = self._control.getsockopt_string(zmq.LAST_ENDPOINT)
        except Exception as exc:  # reported to start()
            self._error = exc if isinstance(exc, (ConfigError, StreamError)) else StreamError(str(exc))
            self._close_all()
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop()
        except Exception as exc:  # pragma: no cover - a bug; keep it visible in status()
            log.exception("emulator loop failed")
            self._error = exc
        finally:
            if self._telemetry is not None:
                with self._lock:
                    for lk in self.links.values():
                        self._telemetry.maybe_write(lk, force=True)
                    self._telemetry.flush()
            self._close_all()

    def _close_all(self):
        for ep in [*self.inputs.values(), *self.outputs.values()]:
            if ep.monitor is not None:
                if ep.sock is not None:
                    ep.sock.disable_monitor()
                ep.monitor.close(0)
                ep.monitor = None
            if ep.sock is not None:
                ep.sock.close(0)
                ep.sock = None
        if self._control is not None:
            self._control.close(0)
            self._control = None
        if self._auth is not None:
            self._auth.stop()
            self._auth = None

    # ------------------------------------------------------------------ loop
    def _input_open(self, inp):
        """May this input be read now (block policy: no full output downstream)?"""
        for lk in inp.links:
            out = self.outputs[lk.sink]
            if out.cfg.on_full == "block" and out.full:
                return False
            if len(out.links) > 1 and out.pend_n[lk.name] >= out.cfg.buffer_samples:
                return False
        return True

    def _loop(self):
        poller = zmq.Poller()
        self._monitored = [ep for ep in [*self.inputs.values(), *self.outputs.values()] if ep.monitor is not None]
        while not self._stop.is_set():
            self.loop_turns += 1
            now = time.monotonic()
            socks = {}
            for inp in self.inputs.values():
                if not self._input_open(inp):
                    continue
                if inp.cfg.pattern == "req":
                    if not inp.request_out or now - inp.request_time > inp.cfg.timeout_s:
                        self._send_request(inp, now)
                socks[inp.sock] = zmq.POLLIN
            wait_ms = 50
            for out in self.outputs.values():
                ev = 0
                if out.cfg.pattern == "rep":
                    if out.pending is None:
                        ev |= zmq.POLLIN
                elif out.queue:
                    delay = self._pace_delay(out, now)
                    if delay <= 0:
                        ev |= zmq.POLLOUT
                    else:
                        wait_ms = min(wait_ms, max(1, int(delay * 1000)))
                if ev:
                    socks[out.sock] = ev
            if self._control is not None:
                socks[self._control] = zmq.POLLIN
            for ep in self._monitored:
                socks[ep.monitor] = zmq.POLLIN
            for s, _ in list(poller.sockets):
                if s not in socks:
                    poller.unregister(s)
            for s, ev in socks.items():
                poller.register(s, ev)
            events = dict(poller.poll(wait_ms))
            for inp in self.inputs.values():
                if events.get(inp.sock, 0) & zmq.POLLIN:
                    self._read_input(inp)
            for out in self.outputs.values():
                ev = events.get(out.sock, 0)
                if out.cfg.pattern == "rep":
                    if ev & zmq.POLLIN:
                        self._read_request(out)
                    if out.pending is not None and out.queue:
                        self._reply(out)
                elif out.queue and ev & zmq.POLLOUT:
                    self._flush(out)
            if self._control is not None and events.get(self._control, 0) & zmq.POLLIN:
                self._answer_control()
            for ep in self._monitored:
                if events.get(ep.monitor, 0) & zmq.POLLIN:
                    self._peer_event(ep)

    def _peer_event(self, ep):
        """Count a peer connecting or going away. An output's peer that vanishes takes with it what sat in
        ZeroMQ's pipe to it: at most the last sndhwm messages, counted as ``samples_unconfirmed`` (kernel
        socket buffers come on top; a framed receiver sees the exact gap in ``seq``)."""
        from zmq.utils.monitor import recv_monitor_message

        for _ in range(_MAX_DRAIN):
            try:
                ev = recv_monitor_message(ep.monitor, zmq.NOBLOCK)
            except zmq.Again:
                return
            kind = ev["event"]
            if kind in (zmq.EVENT_ACCEPTED, zmq.EVENT_CONNECTED):
                ep.peers_connected += 1
            elif kind == zmq.EVENT_DISCONNECTED:
                ep.peers_connected = max(0, ep.peers_connected - 1)
                ep.peer_disconnects += 1
                if isinstance(ep, _Output):
                    at_risk = sum(ep.recent)
                    ep.recent.clear()
                    ep.samples_unconfirmed += at_risk
                    self._count_event(ep, "peer_disconnect", f"a peer went away; up to {at_risk} samples sent in "
                                      f"the last {ep.cfg.effective_hwm} message(s) may not have reached it")
                else:
                    self._count_event(ep, "peer_disconnect", "a peer went away (or sent a message larger "
                                      f"than max_message_bytes = {ep.cfg.max_message_bytes})")

    def _count_event(self, ep, reason, msg):
        """Log a counted event, rate-limited: the first 10 of each reason, then every 1000th."""
        ep.events[reason] += 1
        c = ep.events[reason]
        if c <= 10 or c % 1000 == 0:
            log.warning("endpoint %s: %s (%d so far): %s", ep.name, reason.replace("_", " "), c, msg)

    def _send_request(self, inp, now):
        body = _U32.pack(inp.cfg.request_samples) if inp.cfg.request == "u32" else b"\x00"
        try:
            inp.sock.send(body, zmq.NOBLOCK)
        except zmq.Again:
            return
        except zmq.ZMQError as exc:  # pragma: no cover - relaxed REQ should not refuse
            log.warning("endpoint %s: request not sent (%s)", inp.name, exc)
            return
        inp.request_out = True
        inp.request_time = now
        inp.requests += 1

    def _count_bad(self, ep, reason, msg):
        ep.bad[reason] += 1
        c = ep.bad[reason]
        if c <= 10 or c % 1000 == 0:
            log.warning("endpoint %s: dropped a message (%s, %d so far): %s", ep.name, reason, c, msg)

    def _read_input(self, inp):
        for _ in range(_MAX_DRAIN):
            if not self._input_open(inp):
                return
            try:
                msg = inp.sock.recv(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            if inp.cfg.pattern == "req":
                inp.request_out = False
            with self._lock:
                try:
                    self._handle_message(inp, msg.buffer)
                except HILError as exc:
                    # A channel that cannot go on (e.g. the delay left the delay line): stop with the
                    # reason in status() rather than deliver wrong samples.
                    log.error("endpoint %s: emulator stops: %s", inp.name, exc)
                    self._error = exc
                    self._stop.set()
                    return
            if inp.cfg.pattern == "req":
                return  # one reply per request; the loop sends the next request

    def _handle_message(self, inp, buf):
        inp.messages += 1
        cfg = inp.cfg
        if cfg.wire == "raw":
            try:
                x = wire.decode_raw(buf)
            except StreamError as exc:
                self._count_bad(inp, exc.reason, exc)
                for lk in inp.links:
                    lk.frames_bad += 1
                return
            inp.samples += x.shape[0]
            x = self._finite(inp, x)
            for lk in inp.links:
                self._deliver(lk, lk.accept(None, x))
            return
        try:
            fr = wire.decode(buf)
        except StreamError as exc:
            self._count_bad(inp, exc.reason, exc)
            for lk in inp.links:
                lk.frames_bad += 1
            return
        fs = self.config.sample_rate_hz
        if fr.sample_rate_hz and abs(fr.sample_rate_hz - fs) > 1e-6 * fs:
            self._count_bad(inp, "rate", f"sample_rate_hz {fr.sample_rate_hz} != {self.config.sample_rate_hz}")
            for lk in inp.links:
                lk.frames_bad += 1
            return
        n = fr.samples.shape[0]
        for lk in inp.links:  # a sample index outside the links' trajectories cannot be emulated
            lo, hi = self._spans[lk.name]
            idx = fr.sample_index + inp.offset
            if hi is None:  # unbounded trajectory: still within the links' int64 sample clock (kernel)
                hi = _MAX_SAMPLE_INDEX
            if n and (idx < lo or idx + n - 1 > hi):
                self._count_bad(inp, "range", f"samples {idx}..{idx + n - 1} outside link {lk.name}'s "
                                f"trajectory ({lo}..{hi})")
                lk.frames_bad += 1
                return
        tr = inp.tracker
        lost0 = tr.lost
        action, _gap = tr.accept(fr.seq, fr.sample_index, n)
        lost = tr.lost - lost0
        if action == "duplicate":
            self._count_bad(inp, "duplicate", f"seq {fr.seq} again")
            for lk in inp.links:
                lk.frames_duplicated += 1
            return
        if action in ("old", "overlap"):
            # counted once: a late arrival of a frame counted lost is taken back out of frames_lost (lost < 0)
            why = "out_of_order" if action == "old" else "overlap"
            self._count_bad(inp, why, f"seq {fr.seq} / samples {fr.sample_index}..{fr.sample_index + n - 1} "
                            f"after next seq {tr.next_seq} / sample {tr.next_index}")
            for lk in inp.links:
                lk.frames_out_of_order += 1
                lk.frames_lost += lost
            return
        if action == "restart":
            # The peer reconnected (seq 0 again): its new stream continues at the links' clock.
            inp.offset = max(lk.n for lk in inp.links) - fr.sample_index if inp.links else 0
            log.warning("endpoint %s: stream restarted (seq 0); re-anchored at sample %d", inp.name,
                        fr.sample_index + inp.offset)
            for lk in inp.links:
                lk.restarts += 1
        if lost:
            self._count_event(inp, "frames_lost", f"{lost} frame(s) lost before seq {fr.seq} (their samples are "
                              f"not synthesised; the link jumps to sample {fr.sample_index + inp.offset})")
        inp.samples += n
        eob = bool(fr.flags & wire.FLAG_END_OF_BURST)
        x = self._finite(inp, fr.samples)
        for lk in inp.links:
            self._deliver(lk, lk.accept(fr.sample_index + inp.offset, x, eob, frames_lost=lost))

    def _finite(self, inp, x):
        """NaN/Inf samples are counted (``samples_nonfinite``), logged (rate-limited) and replaced by 0: one
        would otherwise spread over the interpolator's taps and every later output. The check is one
        float32 sum (no temporary array); only a non-finite sum (or an overflow) pays for the exact count."""
        if x.shape[0] == 0:
            return x
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(x.view(np.float32).sum(dtype=np.float32)):
                return x
        bad = ~(np.isfinite(x.real) & np.isfinite(x.imag))
        k = int(np.count_nonzero(bad))
        if not k:  # the sum overflowed on large but finite values
            return x
        inp.samples_nonfinite += k
        self._count_event(inp, "nonfinite", f"{k} NaN/Inf sample(s) in one message replaced by 0")
        y = np.array(x, dtype=np.complex64, copy=True)
        y[bad] = 0
        return y

    def _deliver(self, lk, outs):
        out = self.outputs[lk.sink]
        if len(out.links) > 1:
            # all of one accept() first: the link's clock already counts them all (see _mix)
            for n0, y, state in outs:
                if y.shape[0]:
                    out.pend[lk.name].append((n0, y, state))
                    out.pend_n[lk.name] += y.shape[0]
            self._mix(out)
            self._apply_drop_policy(out, lk)
        else:
            for n0, y, state in outs:
                self._enqueue(out, lk, n0, y, state)
        if self._telemetry is not None:
            self._telemetry.maybe_write(lk)

    def _enqueue(self, out, lk, n0, y, state):
        if y.shape[0] == 0:
            return
        if len(out.links) > 1:
            out.pend[lk.name].append((n0, y, state))
            out.pend_n[lk.name] += y.shape[0]
            self._mix(out)
        else:
            out.queue.append((n0, y, state))
            out.queued += y.shape[0]
        self._apply_drop_policy(out, lk)

    def _mix(self, out):
        """Sum the links feeding ``out`` sample by sample (same sample index = same instant).

        Output index ``n`` is emitted once every link's clock has passed it; a link that produced nothing
        at ``n`` (it jumped over silence) contributes nothing, and where no link produced anything the
        output jumps too. A link whose transmitter falls ``buffer_samples / 2`` behind the leading one
        is taken as silent and jumps (:meth:`Link.skip_to`: its tail, then an O(1) skip), so one absent
        transmitter never stalls the others."""
        lead = max(lk.n for lk in out.links)
        for lk in out.links:
            if lead - lk.n >= max(1, out.cfg.buffer_samples // 2):
                for n0, y, st in lk.skip_to(lead):
                    out.pend[lk.name].append((n0, y, st))
                    out.pend_n[lk.name] += y.shape[0]
        ready = min(lk.n for lk in out.links)
        queues = [out.pend[lk.name] for lk in out.links]
        cur = out.next_n
        while cur < ready:
            for lk, q in zip(out.links, queues):  # never expected: output behind the mix is dropped, not looped on
                while q and q[0][0] < cur:
                    n0, y, st = q.popleft()
                    cut = min(cur - n0, y.shape[0])
                    out.pend_n[lk.name] -= cut
                    lk.samples_dropped += cut
                    if cut < y.shape[0]:
                        q.appendleft((cur, y[cut:], lk.state_at(cur)))
            heads = [q[0][0] for q in queues if q]
            if not heads:
                cur = ready  # every link jumped over [cur, ready): nothing to send
                break
            if min(heads) > cur:
                cur = min(min(heads), ready)
                continue
            end = ready
            for q in queues:
                if q:
                    n0, y, _ = q[0]
                    end = min(end, n0 + y.shape[0] if n0 <= cur else n0)
            m = end - cur
            acc = None
            state0 = None
            for lk, q in zip(out.links, queues):
                if not q or q[0][0] > cur:
                    continue
                n0, y, st = q[0]
                if state0 is None:
                    state0 = dict(st, end_of_burst=False)  # summed outputs carry no END_OF_BURST
                part = y[:m]
                acc = part.copy() if acc is None else acc + part
                if m == y.shape[0]:
                    q.popleft()
                else:
                    q[0] = (n0 + m, y[m:], lk.state_at(n0 + m) | {"end_of_burst": st.get("end_of_burst", False)})
                out.pend_n[lk.name] -= m
            out.queue.append((cur, acc, state0))
            out.queued += m
            cur = end
        out.next_n = max(out.next_n, cur)

    def _apply_drop_policy(self, out, lk):
        if out.cfg.on_full == "drop":
            while out.queued > out.cfg.buffer_samples and len(out.queue) > 1:
                _, old, _ = out.queue.popleft()
                out.queued -= old.shape[0]
                out.dropped += old.shape[0]
                lk.samples_dropped += old.shape[0]
                self._count_bad(out, "queue_full", f"dropped {old.shape[0]} oldest samples")

    def _message(self, out, n0, y, state):
        if out.cfg.wire == "raw":
            return y
        flags = (wire.FLAG_DISCONTINUITY if state.get("discontinuity") else 0) | \
                (0 if state.get("visible", True) else wire.FLAG_NOT_VISIBLE) | \
                (wire.FLAG_END_OF_BURST if state.get("end_of_burst") else 0)
        lk = out.link
        truth = (state["delay_s"], state["doppler_hz"], state["gain_db"]) if out.cfg.header_truth else (0.0, 0.0, 0.0)
        msg = wire.encode(wire.Frame(y, out.seq, n0, out.cfg.stream_id, self.config.sample_rate_hz,
                                     lk.carrier_hz, *truth, flags))
        out.seq += 1
        return msg

    def _pace_delay(self, out, now):
        if not self.config.pace or not out.queue:
            return 0.0
        n0 = out.queue[0][0]
        if self._pace_origin is None:
            self._pace_origin = now - n0 / self.config.sample_rate_hz
        return self._pace_origin + n0 / self.config.sample_rate_hz - now

    def _flush(self, out):
        now = time.monotonic()
        while out.queue:
            if self._pace_delay(out, now) > 0:
                return
            n0, y, state = out.queue[0]
            msg = self._message(out, n0, y, state)
            out.messages += 1  # counted before the send (see _reply); undone if it did not go
            out.samples += y.shape[0]
            try:
                out.sock.send(msg, zmq.NOBLOCK, copy=False)
            except zmq.Again:
                out.messages -= 1
                out.samples -= y.shape[0]
                if out.cfg.wire == "framed":
                    out.seq -= 1  # not sent: the number is reused
                return
            out.queue.popleft()
            out.queued -= y.shape[0]
            out.recent.append(y.shape[0])

    def _read_request(self, out):
        try:
            req = out.sock.recv(zmq.NOBLOCK)
        except zmq.Again:
            return
        want = _U32.unpack(req)[0] if len(req) == 4 else 0
        out.pending = want if want > 0 else out.cfg.reply_samples
        out.pending = min(out.pending, out.cfg.reply_samples)

    def _reply(self, out):
        want = out.pending
        parts, got, n_first, st_first, eob = [], 0, None, None, False
        framed = out.cfg.wire == "framed"
        while out.queue and got < want:
            n0, y, state = out.queue[0]
            if framed and n_first is not None and (n0 != n_first + got or eob):
                break  # one framed reply never spans a jump of the sample index or a burst's end
            take = min(want - got, y.shape[0])
            if n_first is None:
                n_first, st_first = n0, state
            parts.append(y[:take])
            got += take
            if take == y.shape[0]:
                out.queue.popleft()
                eob = bool(state.get("end_of_burst"))
            else:
                rest = out.link.state_at(n0 + take) | {"end_of_burst": state.get("end_of_burst", False)}
                out.queue[0] = (n0 + take, y[take:], rest)
                eob = False
            out.queued -= take
        y = parts[0] if len(parts) == 1 else np.concatenate(parts)
        msg = self._message(out, n_first, y, dict(st_first, end_of_burst=eob))
        out.pending = None
        out.messages += 1  # counted before the send, so a status() right after the reply sees it
        out.samples += got
        out.recent.append(got)
        try:
            out.sock.send(msg, zmq.NOBLOCK, copy=False)
        except zmq.ZMQError as exc:  # pragma: no cover - REP send fails only if the peer vanished
            log.warning("endpoint %s: reply lost (%s)", out.name, exc)

    def _answer_control(self):
        try:
            req = self._control.recv(zmq.NOBLOCK)
        except zmq.Again:
            return
        if req.strip() == b"status":
            body = self.status()
        else:
            body = {"error": f"unknown request {req[:32]!r}; send b'status'"}
        self._control.send(json.dumps(_finite(body), default=_json_default).encode())

    def __repr__(self):
        return (f"EmulatorServer({self.config.name!r}, links={list(self.links)}, running={self.running})")


def _finite(o):
    """Strict JSON: non-finite floats (SNR of a hidden link, -inf) become the strings "inf"/"-inf"/"nan"."""
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    if isinstance(o, float) and not math.isfinite(o):
        return str(o)
    return o


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return str(o)
    return str(o)
