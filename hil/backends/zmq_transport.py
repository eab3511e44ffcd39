"""The emulator-backed mock: a :class:`~hil.backends.mock.MockRadio` whose samples go through the ZeroMQ
channel emulator (:mod:`hil.emulator`) in framed mode (docs/wire.md).

:class:`ZmqTransport` is the client side of one emulator link per channel: TX channel ``j`` PUSHes framed
messages (a sequence number per frame, the absolute sample index, the radio's sample rate and TX LO)
to the emulator's input endpoint ``j``; RX channel ``j`` PULLs the framed output of endpoint ``j``.

Timeline. Like the loopback, the mock is not paced in real time; the sample count is the clock. The
emulator only produces an output sample for each input sample, so the client keeps its transmitter
running as a real radio's DAC does: TX is one contiguous stream of the bursts that were written,
with zeros between them, and a ``read`` sends the zeros needed to cover the samples it asks for. A
burst written "now" starts right after the samples already sent; ``write(at_sample=k)`` puts it at
TX index ``k`` (late if ``k`` was already sent: StreamError). A burst left open whose end is passed
by those zeros has run dry: one underflow.

What the headers tell the receiver (per RX channel, from ``seq`` and ``sample_index``):

* a jump in ``sample_index`` (frames lost on the way, or dropped by an emulator queue with
  ``on_full: drop``): the next chunk carries ``lost`` = the missing samples, which the Radio base
  class turns into :class:`~hil.errors.StreamOverflow` (or marks, with ``stream_errors="mark"``);
* a frame with the ``seq`` just received: a duplicate, dropped and counted (``ReadMeta.duplicates``);
* a frame with an older ``seq``, or samples already delivered: out of order, dropped and counted
  (``ReadMeta.reordered``) - its samples were already reported lost when the later frame arrived;
* ``seq`` 0 after later ones: the emulator restarted; its clock no longer relates to ours, so the
  stream continues with a discontinuity of unknown length (``lost`` None: StreamOverflow without a count);
* a frame whose sample rate differs from the radio's: DeviceError (the emulator runs at one rate);
* a malformed frame (:func:`hil.emulator.wire.decode` refuses it): dropped and counted; its samples
  show up as lost when the next good frame arrives.

The receiver's sample index 0 is the first sample of the session (``start()``); the emulator's link
clock is mapped to it through the first frame ever received on that channel. The link must carry
only this client's stream: start the emulator for the client (``ZmqMockRadio`` without a URI does),
or make sure no earlier client left samples queued in it.

``make_radio("mock-zmq")`` starts an emulator in this process on 127.0.0.1 ephemeral ports (one
near-identity link per channel: a constant delay of :data:`DEFAULT_DELAY_SAMPLES` samples, no carrier
phase, no noise - its interpolator is not bit-exact, about 1e-6 of full scale); ``make_radio("mock-zmq",
uri="tx=tcp://127.0.0.1:5600;rx=tcp://127.0.0.1:5603")`` connects to a running one.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import deque

import numpy as np

from hil.backends.base import RxChunk, TxEvent
from hil.backends.mock import MockRadio, Transport
from hil.emulator.address import parse_address
from hil.errors import ConfigError, DeviceError, StreamError, StreamTimeout, check_range

__all__ = ["ZmqTransport", "ZmqMockRadio", "parse_zmq_uri", "default_emulator_config", "DEFAULT_DELAY_SAMPLES"]

log = logging.getLogger(__name__)

#: Delay (samples) of the in-process emulator's links: the interpolator's look-ahead (16 taps / 2), the
#: least delay the emulator accepts.
DEFAULT_DELAY_SAMPLES = 8


def parse_zmq_uri(uri: str, *, allow_remote: bool = False) -> tuple[list[str], list[str]]:
    """``"tx=ADDR[,ADDR...];rx=ADDR[,ADDR...]"`` (optionally prefixed ``zmq:``) -> (tx addresses, rx addresses),
    one address per channel: TX channel j sends to the emulator input ``tx[j]``, RX channel j reads its
    output ``rx[j]``. Each ADDR is checked by :func:`hil.emulator.address.parse_address` (one tcp/ipc/inproc
    endpoint, loopback unless ``allow_remote``)."""
    allowed = "'tx=ADDR[,ADDR];rx=ADDR[,ADDR]' (the emulator's framed input and output endpoints)"
    if not isinstance(uri, str):
        raise ConfigError.bad_value("uri", uri, allowed)
    text = uri[4:] if uri.startswith("zmq:") else uri
    out: dict[str, list[str]] = {}
    for part in text.split(";"):
        key, sep, val = part.partition("=")
        key = key.strip()
        addrs = [a.strip() for a in val.split(",") if a.strip()]
        if not sep or key not in ("tx", "rx") or key in out or not addrs:
            raise ConfigError.bad_value("uri", uri, allowed)
        for a in addrs:
            try:
                parse_address(a, "uri", allow_remote=allow_remote, bind=False)
            except ConfigError as exc:
                raise ConfigError.bad_value("uri", uri, f"{allowed}; {a!r}: {exc.allowed}") from None
        out[key] = addrs
    if set(out) != {"tx", "rx"}:
        raise ConfigError.bad_value("uri", uri, allowed)
    return out["tx"], out["rx"]


def default_emulator_config(sample_rate: float, channels: int = 2, delay_samples: int = DEFAULT_DELAY_SAMPLES):
    """An :class:`~hil.emulator.config.EmulatorConfig` with ``channels`` near-identity links: input
    endpoint ``tx{j}`` (framed PULL) -> link ``ch{j}`` (constant delay of ``delay_samples`` samples, no
    carrier phase, no loss, no noise) -> output ``rx{j}`` (framed PUSH), all bound to 127.0.0.1 ephemeral
    ports. ``sample_rate`` in Hz."""
    from hil.config import parse
    from hil.emulator.config import EmulatorConfig

    check_range("sample_rate", sample_rate, lo=1.0, unit="Hz")
    eps, links = [], []
    for j in range(int(channels)):
        eps += [dict(name=f"tx{j}", address="tcp://127.0.0.1:*", pattern="pull", wire="framed", stream_id=j),
                dict(name=f"rx{j}", address="tcp://127.0.0.1:*", pattern="push", wire="framed", stream_id=j)]
        # skip_lead 0: a radio's RX is one stream, anchored on the first frame (see _accept)
        links.append(dict(name=f"ch{j}", source=f"tx{j}", sink=f"rx{j}", carrier_hz=0.0, skip_lead=0.0,
                          trajectory=[dict(kind="constant", delay_s=delay_samples / sample_rate)]))
    return parse(EmulatorConfig, dict(name="mock-zmq", sample_rate_hz=float(sample_rate), endpoints=eps,
                                      links=links), source="mock-zmq default emulator")


class _RxChannel:
    """Receive state of one RX channel: header checks and the buffer of accepted samples."""

    def __init__(self):
        self.offset = None    # emulator link clock - our wire index (fixed by the first frame ever)
        self.last_seq = None  # seq of the last accepted frame
        self.events = {}      # reason -> count, for rate-limited logging
        self.reset()

    def reset(self):
        self.segments: deque = deque()  # [session index, complex64 samples, gap of unknown length before it]
        self.next = 0                   # next session index to buffer (older samples are dropped)
        self.duplicates = 0
        self.reordered = 0
        self.stale = 0
        self.frames_lost = 0
        self.restarts = 0
        self.bad = 0


class ZmqTransport(Transport):
    """Client of the channel emulator in framed mode (see the module doc).

    Parameters
    ----------
    tx, rx : str | sequence of str
        ZeroMQ addresses of the emulator's framed input (PULL) and output (PUSH) endpoints, one per
        channel; this side connects.
    frame_samples : int
        Most samples per TX frame (longer bursts are split).
    hwm : int
        ZeroMQ high-water mark of each socket (messages).
    context : zmq.Context | None
        Context to use; default: a new one owned (and terminated) by the transport.
    allow_remote : bool
        Accept tcp hosts that are not loopback (default: 127.0.0.0/8, [::1], localhost, ipc, inproc only;
        every address must be exactly one endpoint, see :mod:`hil.emulator.address`).
    """

    def __init__(self, tx, rx, *, frame_samples: int = 4096, hwm: int = 256, context=None,
                 allow_remote: bool = False):
        self.tx_addresses = [tx] if isinstance(tx, str) else list(tx)
        self.rx_addresses = [rx] if isinstance(rx, str) else list(rx)
        for name, addrs in (("tx", self.tx_addresses), ("rx", self.rx_addresses)):
            if not addrs:
                raise ConfigError.bad_value(name, addrs, "one or more ZeroMQ addresses (tcp://HOST:PORT ...)")
            for j, a in enumerate(addrs):  # one tcp/ipc/inproc endpoint each, loopback unless allow_remote
                parse_address(a, f"{name}[{j}]", allow_remote=allow_remote, bind=False)
        if isinstance(frame_samples, bool) or not isinstance(frame_samples, (int, np.integer)) or \
                not 16 <= frame_samples <= 1 << 22:
            raise ConfigError.bad_value("frame_samples", frame_samples, "an integer 16..4194304 (samples)")
        if isinstance(hwm, bool) or not isinstance(hwm, (int, np.integer)) or hwm < 1:
            raise ConfigError.bad_value("hwm", hwm, "an integer >= 1 (messages)")
        self.frame_samples = int(frame_samples)
        self.hwm = int(hwm)
        self._ext_ctx = context
        self._ctx = None
        self._tx_socks = []
        self._rx_socks = []
        self._inject.clear()
        self._running = False
        self._settings = {"sample_rate": 0.0, "tx_frequency": 0.0, "rx_frequency": 0.0}
        self.last_header = None
        self._reset_wire()

    def _reset_wire(self):
        self._tx_seq = [0] * len(self.tx_addresses)
        self._wire_tx = 0  # our wire sample index of the next TX sample (all TX channels together)
        self._rx = [_RxChannel() for _ in self.rx_addresses]

    # -- connection ----------------------------------------------------------------------------
    def open(self, radio=None) -> None:
        import zmq

        self._ctx = self._ext_ctx if self._ext_ctx is not None else zmq.Context()
        try:
            for a in self.tx_addresses:
                s = self._ctx.socket(zmq.PUSH)
                s.linger = 0
                s.sndhwm = self.hwm
                self._tx_socks.append(s)
                s.connect(a)
            for a in self.rx_addresses:
                s = self._ctx.socket(zmq.PULL)
                s.linger = 0
                s.rcvhwm = self.hwm
                self._rx_socks.append(s)
                s.connect(a)
        except zmq.ZMQError as exc:
            self.close()
            raise DeviceError(f"{self!r}: cannot connect to the emulator: {exc}") from None
        self._reset_wire()

    def close(self) -> None:
        for s in [*self._tx_socks, *self._rx_socks]:
            s.close(0)
        self._tx_socks, self._rx_socks = [], []
        self._running = False
        if self._ctx is not None and self._ext_ctx is None:
            self._ctx.term()
        self._ctx = None

    def reconnect(self, tx, rx) -> None:
        """Point the transport at other emulator endpoints (fresh sequence numbers and clock anchors)."""
        self.close()
        self.tx_addresses = [tx] if isinstance(tx, str) else list(tx)
        self.rx_addresses = [rx] if isinstance(rx, str) else list(rx)
        self.open()

    def configure(self, name: str, value) -> None:
        if name in self._settings and value is not None:
            self._settings[name] = float(value)

    # -- streaming -----------------------------------------------------------------------------
    def start(self, n_rx: int, n_tx: int, sample_rate: float) -> None:
        if self._ctx is None:
            raise StreamError(f"{self!r}: not open")
        # Link j carries TX channel j % n_tx to RX channel j (as the loopback); with more TX than RX channels
        # the extra links' outputs are read and discarded, so that no emulator queue fills up.
        n = max(n_rx, n_tx)
        if n > min(len(self.rx_addresses), len(self.tx_addresses)):
            raise ConfigError.bad_value("channels", (n_rx, n_tx), f"at most {len(self.rx_addresses)} RX and "
                                        f"{len(self.tx_addresses)} TX (one emulator link per channel)")
        self.n_rx, self.n_tx, self._n = n_rx, n_tx, n
        self._settings["sample_rate"] = float(sample_rate)
        self._tx_base = self._wire_tx  # wire index of this session's TX sample 0
        self._tx_sent = 0              # session TX samples sent (bursts and zeros)
        self._burst_open = False
        self._events: list[TxEvent] = []
        for ch in self._rx:
            ch.reset()
        self._out = 0                  # next RX session index to return
        self._drop = 0                 # injected overflow still to discard
        self._unknown = False          # a gap of unknown length is pending
        self._dropped = 0
        self._running = True

    def stop(self) -> None:
        self._running = False  # what was sent but not read is discarded as stale at the next start

    def _send_frames(self, x: np.ndarray, timeout: float | None) -> None:
        """Send (n_tx, k) samples at the current TX position, in frames."""
        import zmq

        from hil.emulator import wire

        fs = self._settings["sample_rate"]
        fc = self._settings["tx_frequency"]
        k = x.shape[1]
        for a in range(0, k, self.frame_samples):
            b = min(k, a + self.frame_samples)
            for j, sock in enumerate(self._tx_socks[: self._n]):
                msg = wire.encode(wire.Frame(x[j % self.n_tx, a:b], seq=self._tx_seq[j], sample_index=self._wire_tx + a,
                                             stream_id=j, sample_rate_hz=fs, center_freq_hz=fc))
                if not sock.poll(None if timeout is None else int(timeout * 1000), zmq.POLLOUT):
                    raise StreamTimeout(f"{self!r}: the emulator input {self.tx_addresses[j]} took no frame within "
                                        f"{timeout} s (is the emulator running?)")
                sock.send(msg, copy=False)
                self._tx_seq[j] += 1
        self._wire_tx += k
        self._tx_sent += k

    def _fill_to(self, upto: int, timeout: float | None) -> None:
        """Keep the transmitter running: zeros up to session TX index ``upto``."""
        gap = upto - self._tx_sent
        if gap <= 0:
            return
        if self._burst_open:
            # the open burst's last sample is already out and more is needed: the transmitter ran dry
            self._events.append(TxEvent("underflow", gap, self._tx_sent))
            self._burst_open = False
        zeros = np.zeros((self.n_tx, min(gap, self.frame_samples)), np.complex64)
        while gap > 0:
            m = min(gap, zeros.shape[1])
            self._send_frames(zeros[:, :m], timeout)
            gap -= m

    def _log(self, ch, reason: str, fmt: str, *args) -> None:
        """Warn about the first 10 events of each reason, then every 1000th (as the emulator does)."""
        c = ch.events[reason] = ch.events.get(reason, 0) + 1
        if c <= 10 or c % 1000 == 0:
            log.warning("%r: " + fmt + " [%s #%d]", self, *args, reason, c)

    def _accept(self, j: int, buf) -> None:
        """Check one framed RX message of channel ``j`` and buffer its samples."""
        from hil.emulator import wire

        ch = self._rx[j]
        try:
            fr = wire.decode(buf)
        except StreamError as exc:  # dropped; the next good frame shows the gap it left
            ch.bad += 1
            self._log(ch, "bad", "RX%d: malformed frame dropped (%s)", j, exc)
            return
        fs = self._settings["sample_rate"]
        if fr.sample_rate_hz and abs(fr.sample_rate_hz - fs) > 1e-6 * fs:
            raise DeviceError(f"{self!r}: the emulator at {self.rx_addresses[j]} runs at {fr.sample_rate_hz:g} Hz, "
                              f"the radio at {fs:g} Hz; configure sample_rate={fr.sample_rate_hz:g}")
        unknown = False
        if ch.last_seq is not None and fr.seq == 0 and ch.last_seq > 0:
            # The emulator restarted (its sequence and clock begin again): continue right after what we
            # have, with a gap of unknown length.
            ch.restarts += 1
            self._log(ch, "restart", "RX%d: frame seq 0 after seq %d: the emulator restarted; discontinuity", j,
                      ch.last_seq)
            ch.offset = fr.sample_index - self._tx_base - ch.next
            unknown = True
        elif ch.last_seq is not None:
            if fr.seq == ch.last_seq:
                ch.duplicates += 1
                self._log(ch, "duplicate", "RX%d: frame seq %d again (duplicate), dropped", j, fr.seq)
                return
            if fr.seq < ch.last_seq:
                ch.reordered += 1
                self._log(ch, "old", "RX%d: frame seq %d after %d (out of order), dropped", j, fr.seq, ch.last_seq)
                return
            if fr.seq > ch.last_seq + 1:
                ch.frames_lost += fr.seq - ch.last_seq - 1
        ch.last_seq = fr.seq
        if ch.offset is None:
            ch.offset = fr.sample_index - self._tx_base  # the first frame ever: the output of our first sample
        self.last_header = fr
        start = fr.sample_index - ch.offset - self._tx_base  # session index
        x = fr.samples
        if start + x.shape[0] <= 0:
            ch.stale += 1  # the tail of an earlier session
            return
        if start < ch.next:
            cut = ch.next - start
            if cut >= x.shape[0]:
                ch.reordered += 1
                return
            if start >= 0:  # overlaps what was delivered (not the session boundary): count it
                ch.reordered += 1
            x, start = x[cut:], ch.next
        ch.segments.append([start, np.array(x, np.complex64), unknown])
        ch.next = start + x.shape[0]

    def _poll(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` s for RX frames and accept all that are there. True if any came."""
        import zmq

        poller = zmq.Poller()
        for s in self._rx_socks[: self._n]:
            poller.register(s, zmq.POLLIN)
        ready = dict(poller.poll(None if timeout is None else max(0, int(timeout * 1000))))
        got = False
        for j, s in enumerate(self._rx_socks[: self._n]):
            if ready.get(s, 0) & zmq.POLLIN:
                while True:
                    try:
                        msg = s.recv(zmq.NOBLOCK, copy=False)
                    except zmq.Again:
                        break
                    self._accept(j, msg.buffer)
                    got = True
        return got

    def _available(self):
        """(start, length) of the samples every RX channel has at the head of its buffer, or None."""
        chans = self._rx[: self._n]
        while True:
            if any(not ch.segments for ch in chans):
                return None
            s = max(ch.segments[0][0] for ch in chans)
            ok = True
            for ch in chans:  # samples before s are missing on some channel: lost for all of them
                while ch.segments and ch.segments[0][0] + ch.segments[0][1].shape[0] <= s:
                    ch.segments.popleft()
                if not ch.segments:
                    ok = False
                    break
                seg = ch.segments[0]
                if seg[0] < s:
                    seg[1] = seg[1][s - seg[0]:]
                    seg[0] = s
            if ok and all(ch.segments[0][0] == s for ch in chans):
                return s, min(ch.segments[0][1].shape[0] for ch in chans), any(ch.segments[0][2] for ch in chans)

    def _pop(self, s: int, k: int) -> np.ndarray:
        out = np.empty((self.n_rx, k), np.complex64)
        for j, ch in enumerate(self._rx[: self._n]):
            seg = ch.segments[0]
            if j < self.n_rx:
                out[j] = seg[1][:k]
            if k == seg[1].shape[0]:
                ch.segments.popleft()
            else:
                seg[0], seg[1], seg[2] = s + k, seg[1][k:], False
        return out

    def receive(self, n: int, timeout: float | None) -> RxChunk:
        if not self._running:
            raise StreamError(f"{self!r}: not running")
        if self._take_injected("timeout"):
            raise StreamTimeout(f"{self!r}: injected timeout (no samples within {timeout} s)")
        ov = self._take_injected("overflow")
        if ov is not None:
            self._drop += ov[1]
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            av = self._available()
            if av is not None:
                s, k, unknown = av
                if self._drop:  # injected host overflow: these samples never reach the caller
                    m = min(self._drop, k)
                    self._pop(s, m)
                    self._drop -= m
                    self._dropped += m
                    self._unknown = self._unknown or unknown
                    continue
                k = min(k, n)
                lost = None if (unknown or self._unknown) else s - self._out
                self._unknown = False
                data = self._pop(s, k)
                self._out = s + k
                dup = sum(ch.duplicates for ch in self._rx[: self._n])
                reo = sum(ch.reordered for ch in self._rx[: self._n])
                for ch in self._rx[: self._n]:
                    ch.duplicates = ch.reordered = 0
                return RxChunk(data, s, lost, None, 0, duplicates=dup, reordered=reo)
            # Nothing buffered: make sure the samples asked for have been transmitted, then wait.
            self._fill_to(self._out + n + self._drop, timeout)
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not self._poll(remaining) and deadline is not None and time.monotonic() >= deadline:
                raise StreamTimeout(f"{self!r}: no samples from the emulator ({', '.join(self.rx_addresses)}) "
                                    f"within {timeout} s (is it running, at {self._settings['sample_rate']:g} Hz, "
                                    "with framed endpoints?)")

    def send(self, x: np.ndarray, at_sample: int | None, end_burst: bool, timeout: float | None) -> int:
        if not self._running:
            raise StreamError(f"{self!r}: not running")
        now = self._tx_sent
        if at_sample is not None:
            if at_sample < now:
                raise StreamError(f"{self!r}: timed burst late: at_sample {at_sample} is already past (TX has "
                                  f"sent up to sample {now}); nothing was sent", sample_index=at_sample)
            self._burst_open = False  # a timed burst after an open one: the gap is intended, not a dry run
            self._fill_to(at_sample, timeout)
        self._send_frames(x, timeout)
        self._burst_open = not end_burst
        return x.shape[1]

    def poll_tx(self) -> list[TxEvent]:
        ev, self._events = self._events, []
        while (item := self._take_injected("underflow")) is not None:
            ev.append(TxEvent("underflow", item[1], None, "injected"))
        return ev

    def stats(self) -> dict:
        """Per RX channel since ``start()``: frames lost (from ``seq``), stale frames of earlier sessions
        dropped, emulator restarts seen, malformed frames dropped; TX frames sent per channel."""
        return {"rx": [{"frames_lost": ch.frames_lost, "stale": ch.stale, "restarts": ch.restarts, "bad": ch.bad}
                       for ch in self._rx],
                "tx_frames": list(self._tx_seq)}

    def __repr__(self) -> str:
        return f"ZmqTransport(tx={','.join(self.tx_addresses)}, rx={','.join(self.rx_addresses)})"


class ZmqMockRadio(MockRadio):
    """``make_radio("mock-zmq")``: a MockRadio over :class:`ZmqTransport`.

    Parameters
    ----------
    profile : str | Profile
        Whose limits to honour (default "mock").
    uri : str | None
        ``"tx=ADDR[,ADDR];rx=ADDR[,ADDR]"`` of a running emulator (framed endpoints, one per channel).
        None (or the profile's default URI): the radio starts its own emulator in this process at every
        ``start()`` (at the radio's sample rate, 127.0.0.1 ephemeral ports) and stops it at ``close()``.
    emulator : EmulatorConfig | str | None
        The emulator to start when there is no URI (a config or a YAML file); its input endpoints must
        be named ``tx0``, ``tx1`` ... and its outputs ``rx0``, ``rx1`` ...; its sample rate is replaced by
        the radio's. Default: :func:`default_emulator_config`.
    allow_remote : bool
        Accept a ``uri`` whose tcp hosts are not loopback (a lab network); default loopback only.
    frame_samples, serial, calibration, stream_errors
        See :class:`ZmqTransport` and :class:`~hil.backends.mock.MockRadio`.
    """

    def __init__(self, profile="mock", uri: str | None = None, *, emulator=None, frame_samples: int = 4096,
                 serial: str | None = None, calibration=True, stream_errors: str = "raise",
                 allow_remote: bool = False):
        from firmware_cfg import load_profile

        prof = load_profile(profile)
        self._own = uri is None or uri == prof.default_uri
        if self._own:
            tx, rx = ["inproc://unused"], ["inproc://unused"]
            if emulator is not None and not isinstance(emulator, str):
                from hil.emulator.config import EmulatorConfig

                if not isinstance(emulator, EmulatorConfig):
                    raise ConfigError.bad_value("emulator", type(emulator).__name__,
                                                "an EmulatorConfig, a YAML file name or None")
        else:
            if emulator is not None:
                raise ConfigError.bad_value("emulator", emulator, "None when a uri names a running emulator")
            tx, rx = parse_zmq_uri(uri, allow_remote=allow_remote)
        self._emulator_cfg = emulator
        self.emulator = None  # the EmulatorServer this radio started (None: it connects to one)
        super().__init__(prof, uri, transport=ZmqTransport(tx, rx, frame_samples=frame_samples,
                                                                allow_remote=allow_remote), serial=serial,
                         calibration=calibration, stream_errors=stream_errors)

    def _emulator_config(self, fs: float):
        cfg = self._emulator_cfg
        if cfg is None:
            return default_emulator_config(fs, max(2, len(self.profile.rx.channels), len(self.profile.tx.channels)))
        if isinstance(cfg, str):
            from hil.emulator.config import load_emulator_config

            cfg = load_emulator_config(cfg)
        return dataclasses.replace(cfg, sample_rate_hz=float(fs))

    def _endpoints(self, emu):
        eps = {e.name: e for e in emu.config.endpoints}
        tx, rx = [], []
        for j in range(len(eps)):
            a, b = eps.get(f"tx{j}"), eps.get(f"rx{j}")
            if a is None or b is None or not a.is_input or b.is_input or "raw" in (a.wire, b.wire):
                break
            tx.append(emu.address(a.name))
            rx.append(emu.address(b.name))
        if not tx:
            emu.stop()
            raise ConfigError.bad_value("emulator.endpoints", sorted(eps), "framed inputs named tx0, tx1 ... and "
                                        "framed outputs rx0, rx1 ... (one link per channel)")
        return tx, rx

    def _open(self) -> None:
        if not self._own:
            super()._open()

    def _start(self) -> None:
        if self._own:
            # A fresh emulator per stream: its link clocks start with this session, at this sample rate.
            from hil.emulator.server import EmulatorServer

            self._stop_emulator()
            self.transport.close()
            self.emulator = EmulatorServer(self._emulator_config(self.get("sample_rate"))).start()
            self.transport.tx_addresses, self.transport.rx_addresses = self._endpoints(self.emulator)
            self.transport.open()
        super()._start()

    def _stop_emulator(self) -> None:
        emu, self.emulator = self.emulator, None
        if emu is not None:
            emu.stop()

    def _close(self) -> None:
        try:
            self.transport.close()
        finally:
            self._stop_emulator()

    @property
    def latency(self) -> int | None:
        """TX->RX delay in samples of the radio's own emulator with the default config (else None)."""
        return DEFAULT_DELAY_SAMPLES if self._own and self._emulator_cfg is None else None

    def describe(self) -> str:
        where = "in-process emulator" if getattr(self, "_own", True) else self.uri
        return f"ZmqMockRadio({self.profile.name}, {where})"
