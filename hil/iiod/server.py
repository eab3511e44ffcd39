"""A TCP server for iiod's ASCII protocol in front of an :class:`~hil.iiod.model.IioContext`.

One thread per client; every thread stops when :meth:`IiodServer.stop` returns (sockets are shut
down and joined), so tests cannot leave threads behind. A malformed command gets ``-EINVAL`` and the
session goes on; a command whose payload does not arrive within the timeout gets ``-ETIMEDOUT`` and
that session is closed (its byte stream can no longer be trusted); other clients are not affected.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import threading
import time

from hil.errors import DeviceError
from hil.iiod.model import Channel, IioContext, IioErrno
from hil.iiod.protocol import MAX_LINE, Command, format_mask, parse_command

__all__ = ["IiodServer", "DEFAULT_PORT"]

DEFAULT_PORT = 30431
log = logging.getLogger(__name__)

_HELP = (
    "Available commands (iiod ASCII protocol, emulated by leo-hil):\n"
    "\tHELP | EXIT | VERSION | PRINT | TIMEOUT <ms>\n"
    "\tREAD <dev> [INPUT|OUTPUT <chn>|DEBUG|BUFFER] <attr>\n"
    "\tWRITE <dev> [INPUT|OUTPUT <chn>|DEBUG|BUFFER] <attr> <bytes>\n"
    "\tOPEN <dev> <samples_count> <mask> [CYCLIC] | CLOSE <dev>\n"
    "\tREADBUF <dev> <bytes> | WRITEBUF <dev> <bytes>\n"
    "\tGETTRIG <dev> | SETTRIG <dev> [<trigger>] | SET <dev> BUFFERS_COUNT <n>\n"
)


class _Closed(Exception):
    """The peer went away (or the server is stopping)."""


class _Session:
    """One client connection: buffered line/exact reads that notice a server stop."""

    POLL_S = 0.1

    def __init__(self, server: IiodServer, sock: socket.socket, peer):
        self.server = server
        self.sock = sock
        self.peer = peer
        self.buf = bytearray()
        self.timeout_s = server.payload_timeout_s
        self.open_devices: set[str] = set()
        self.channels: dict[str, list[Channel]] = {}
        sock.settimeout(self.POLL_S)

    # -- input -----------------------------------------------------------------------------------
    def _fill(self, deadline: float | None) -> None:
        while True:
            if self.server._stopping.is_set():
                raise _Closed()
            try:
                chunk = self.sock.recv(1 << 16)
            except TimeoutError:
                if deadline is not None and time.monotonic() > deadline:
                    raise IioErrno(errno.ETIMEDOUT, "payload did not arrive in time") from None
                continue
            except OSError:
                raise _Closed() from None
            if not chunk:
                raise _Closed()
            self.buf += chunk
            return

    def read_line(self) -> bytes | None:
        """The next line (without its newline); None if it was too long (it is then discarded)."""
        start = 0
        while True:
            i = self.buf.find(b"\n", start)
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[: i + 1]
                return line if len(line) <= MAX_LINE else None
            if len(self.buf) > MAX_LINE:
                # Too long: drop what we have and everything up to the next newline.
                self.buf.clear()
                while True:
                    self._fill(None)
                    j = self.buf.find(b"\n")
                    if j >= 0:
                        del self.buf[: j + 1]
                        return None
                    self.buf.clear()
            start = len(self.buf)
            self._fill(None)

    def read_exact(self, n: int) -> bytes:
        deadline = time.monotonic() + self.timeout_s
        while len(self.buf) < n:
            self._fill(deadline)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    # -- output ----------------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError:
            raise _Closed() from None

    def reply(self, code: int) -> None:
        self.send(f"{int(code)}\n".encode())


class IiodServer:
    """Serve ``context`` over TCP with iiod's ASCII protocol.

    Parameters
    ----------
    context : IioContext
        The devices to serve (e.g. :class:`hil.iiod.pluto.PlutoEmulator`'s ``context``).
    host : str
        Address to bind; loopback by default (this is an emulator, not a network service).
    port : int
        TCP port; 0 picks a free ephemeral port (see :attr:`port` after :meth:`start`).
    payload_timeout_s : float
        How long (s) the payload announced by WRITE/WRITEBUF may take to arrive; a client's
        ``TIMEOUT`` command replaces it for that session.
    max_buffered_bytes : int
        Budget of payload bytes held at once across all sessions (WRITE/WRITEBUF payloads being received,
        READBUF data being sent); each command may announce up to 64 MiB, so without it 8 clients with
        partial writes held 567 MB. A command beyond the budget gets ``-ENOMEM`` (counted in
        :attr:`refused_memory`, logged rate-limited): WRITEBUF and READBUF before any payload moves (the
        session goes on), WRITE - whose payload is already on its way - also closes that session.
    """

    def __init__(self, context: IioContext, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 payload_timeout_s: float = 5.0, max_buffered_bytes: int = 128 << 20):
        if not isinstance(context, IioContext):
            raise DeviceError(f"IiodServer needs an IioContext, got {type(context).__name__}")
        self.context = context
        self.host = host
        self._port = int(port)
        self.payload_timeout_s = float(payload_timeout_s)
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._sessions: dict[threading.Thread, _Session] = {}
        self._sessions_lock = threading.Lock()
        self._buffer_owner: dict[str, _Session] = {}
        self.commands_served = 0
        self.errors_replied = 0
        if isinstance(max_buffered_bytes, bool) or not isinstance(max_buffered_bytes, int) or max_buffered_bytes < 1:
            raise DeviceError(f"max_buffered_bytes: got {max_buffered_bytes!r}; allowed: an integer >= 1 (bytes)")
        self.max_buffered_bytes = max_buffered_bytes
        self.buffered_bytes = 0       # reserved now, all sessions together
        self.peak_buffered_bytes = 0
        self.refused_memory = 0
        self._budget_lock = threading.Lock()

    # -- life cycle ------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    @property
    def uri(self) -> str:
        """The libiio URI of this server, e.g. ``ip:127.0.0.1:30431``."""
        return f"ip:{self.host}:{self._port}"

    def start(self) -> IiodServer:
        """Bind, listen and accept clients in a background thread. Returns self."""
        if self._listener is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._port))
        except OSError as exc:
            sock.close()
            raise DeviceError(f"iiod emulator: cannot bind {self.host}:{self._port}: {exc.strerror}") from None
        sock.listen(16)
        sock.settimeout(0.1)
        self._port = sock.getsockname()[1]
        self._listener = sock
        self._stopping.clear()
        self._accept_thread = threading.Thread(target=self._accept_loop, name=f"iiod-accept-{self._port}",
                                               daemon=True)
        self._accept_thread.start()
        log.info("iiod emulator listening on %s:%d", self.host, self._port)
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop accepting, close every session and join all threads."""
        self._stopping.set()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout_s)
            self._accept_thread = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._sessions_lock:
            items = list(self._sessions.items())
        for _thread, sess in items:
            try:
                sess.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread, _sess in items:
            thread.join(timeout_s)

    def serve_forever(self) -> None:
        """Start (if needed) and block until interrupted (Ctrl-C), then stop."""
        self.start()
        try:
            while not self._stopping.wait(0.5):
                pass
        finally:
            self.stop()

    def __enter__(self) -> IiodServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def active_sessions(self) -> int:
        with self._sessions_lock:
            return len(self._sessions)

    # -- threads ---------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sess = _Session(self, conn, peer)
            t = threading.Thread(target=self._run_session, args=(sess,), name=f"iiod-client-{peer[1]}",
                                 daemon=True)
            with self._sessions_lock:
                self._sessions[t] = sess
            t.start()

    def _run_session(self, sess: _Session) -> None:
        log.debug("client %s connected", sess.peer)
        try:
            while True:
                line = sess.read_line()
                if line is None:
                    self.errors_replied += 1
                    sess.reply(-errno.EINVAL)
                    continue
                try:
                    cmd = parse_command(line)
                except IioErrno as exc:
                    log.debug("client %s: bad command %r: %s", sess.peer, line[:80], exc)
                    self.errors_replied += 1
                    sess.reply(-exc.errno)
                    continue
                if cmd is None:
                    continue
                log.debug("client %s: %s", sess.peer, line[:160].decode("ascii", "replace"))
                if cmd.op == "EXIT":
                    break
                self.commands_served += 1
                try:
                    self._dispatch(sess, cmd)
                except IioErrno as exc:
                    log.debug("client %s: %s -> %s", sess.peer, cmd.op, exc)
                    self.errors_replied += 1
                    sess.reply(-exc.errno)
                    if exc.errno == errno.ETIMEDOUT or (exc.errno == errno.ENOMEM and cmd.op == "WRITE"):
                        break  # the payload is missing / was not read: the byte stream is out of step
        except _Closed:
            pass
        except Exception:  # a bug in a device model must not take the server down
            log.exception("client %s: internal error", sess.peer)
        finally:
            self._end_session(sess)

    def _end_session(self, sess: _Session) -> None:
        for dev in list(sess.open_devices):
            self._close_buffer(sess, dev)
        try:
            sess.sock.close()
        except OSError:
            pass
        with self._sessions_lock:
            for t, s in list(self._sessions.items()):
                if s is sess:
                    del self._sessions[t]
        log.debug("client %s gone", sess.peer)

    # -- memory budget ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def _budget(self, sess: _Session, nbytes: int, what: str):
        """Hold ``nbytes`` of :attr:`max_buffered_bytes` while a payload is received or sent."""
        with self._budget_lock:
            if self.buffered_bytes + nbytes > self.max_buffered_bytes:
                self.refused_memory += 1
                n = self.refused_memory
                if n <= 10 or n % 1000 == 0:
                    log.warning("client %s: %s of %d bytes refused (-ENOMEM): %d of %d bytes in use by all "
                                "sessions (%d refusals so far)", sess.peer, what, nbytes, self.buffered_bytes,
                                self.max_buffered_bytes, n)
                raise IioErrno(errno.ENOMEM, f"{what} of {nbytes} bytes exceeds the server's buffer budget")
            self.buffered_bytes += nbytes
            self.peak_buffered_bytes = max(self.peak_buffered_bytes, self.buffered_bytes)
        try:
            yield
        finally:
            with self._budget_lock:
                self.buffered_bytes -= nbytes

    # -- commands --------------------------------------------------------------------------------
    def _attr(self, cmd: Command):
        dev = self.context.device(cmd.dev)
        if cmd.kind in ("INPUT", "OUTPUT"):
            table = dev.channel(cmd.chan, cmd.kind == "OUTPUT").attrs
        elif cmd.kind == "DEBUG":
            table = dev.debug_attrs
        elif cmd.kind == "BUFFER":
            table = dev.buffer_attrs
        else:
            table = dev.attrs
        try:
            return table[cmd.attr]
        except KeyError:
            raise IioErrno(errno.ENOENT, f"no attribute {cmd.attr!r}") from None

    def _dispatch(self, sess: _Session, cmd: Command) -> None:
        ctx = self.context
        op = cmd.op
        if op == "VERSION":
            sess.send(b"0.24.leo-hil\n")
        elif op == "PRINT":
            with ctx.lock:
                xml = ctx.xml().encode()
            sess.send(f"{len(xml)}\n".encode() + xml + b"\n")
        elif op == "ZPRINT":
            raise IioErrno(errno.ENOSYS, "compressed XML is not supported; use PRINT")
        elif op == "HELP":
            sess.send(_HELP.encode())
        elif op == "TIMEOUT":
            # 0 means "no timeout" to libiio; the payload wait still needs a bound.
            sess.timeout_s = cmd.value / 1000.0 if cmd.value else self.payload_timeout_s
            sess.reply(0)
        elif op == "READ":
            with ctx.lock:
                value = self._attr(cmd).read().encode()
            sess.send(f"{len(value)}\n".encode() + value + b"\n")
        elif op == "WRITE":
            with self._budget(sess, cmd.nbytes, "WRITE"):
                payload = sess.read_exact(cmd.nbytes)  # always consumed, so an error keeps the stream in step
            value = payload.split(b"\0", 1)[0].decode("utf-8", "replace").strip()
            with ctx.lock:
                self._attr(cmd).write(value)
            sess.reply(cmd.nbytes)
        elif op == "OPEN":
            self._open_buffer(sess, cmd)
            sess.reply(0)
        elif op == "CLOSE":
            dev = ctx.device(cmd.dev)
            if dev.id not in sess.open_devices:
                raise IioErrno(errno.EBADF, f"{dev.id}: no buffer open in this session")
            self._close_buffer(sess, dev.id)
            sess.reply(0)
        elif op == "READBUF":
            dev, channels = self._owned(sess, cmd)
            dev.buffer.pace(cmd.nbytes)  # a real-time device waits here (outside the lock: others go on)
            with self._budget(sess, cmd.nbytes, "READBUF"):
                with ctx.lock:
                    data = dev.buffer.read(cmd.nbytes)
                nwords = (max((c.scan.index for c in dev.scan_channels), default=0) + 32) // 32
                mask = sum(1 << i for i, c in enumerate(dev.scan_channels) if c in channels)
                sess.send(f"{len(data)}\n{format_mask(mask, nwords)}\n".encode() + data)
        elif op == "WRITEBUF":
            dev, _channels = self._owned(sess, cmd)
            with self._budget(sess, cmd.nbytes, "WRITEBUF"):  # refused before the client sends the payload
                sess.reply(cmd.nbytes)
                payload = sess.read_exact(cmd.nbytes)
                with ctx.lock:
                    written = dev.buffer.write(payload)
            sess.reply(written)
        elif op == "GETTRIG":
            dev = ctx.device(cmd.dev)
            if not dev.trigger:
                raise IioErrno(errno.ENOENT, f"{dev.id} has no trigger")
            name = dev.trigger.encode()
            sess.send(f"{len(name)}\n".encode() + name + b"\n")
        elif op == "SETTRIG":
            dev = ctx.device(cmd.dev)
            if cmd.trigger is not None:
                raise IioErrno(errno.ENODEV, f"no trigger {cmd.trigger!r} in this context")
            dev.trigger = None
            sess.reply(0)
        elif op == "SET":
            dev = ctx.device(cmd.dev)
            with ctx.lock:
                dev.buffers_count = cmd.value
            sess.reply(0)
        else:  # pragma: no cover - parse_command only returns known verbs
            raise IioErrno(errno.EINVAL, f"unhandled command {op}")

    def _owned(self, sess: _Session, cmd: Command):
        dev = self.context.device(cmd.dev)
        if dev.id not in sess.open_devices or dev.buffer is None:
            raise IioErrno(errno.EBADF, f"{dev.id}: no buffer open in this session")
        return dev, sess.channels[dev.id]

    def _open_buffer(self, sess: _Session, cmd: Command) -> None:
        ctx = self.context
        dev = ctx.device(cmd.dev)
        if dev.buffer is None or not dev.scan_channels:
            raise IioErrno(errno.ENOSYS, f"{dev.id} ({dev.name}) has no buffer")
        scan = dev.scan_channels
        if cmd.mask == 0 or cmd.mask >> len(scan):
            raise IioErrno(errno.EINVAL, f"{dev.id}: mask {cmd.mask:#x} selects no/unknown channels")
        channels: list[Channel] = [c for i, c in enumerate(scan) if cmd.mask >> i & 1]
        with ctx.lock:
            owner = self._buffer_owner.get(dev.id)
            if owner is not None:
                raise IioErrno(errno.EBUSY, f"{dev.id}: buffer already open by another session")
            dev.buffer.open(cmd.samples, channels, cmd.cyclic)
            self._buffer_owner[dev.id] = sess
        sess.open_devices.add(dev.id)
        sess.channels[dev.id] = channels

    def _close_buffer(self, sess: _Session, dev_id: str) -> None:
        dev = self.context.device(dev_id)
        with self.context.lock:
            if self._buffer_owner.get(dev_id) is sess:
                del self._buffer_owner[dev_id]
                dev.buffer.close()
        sess.open_devices.discard(dev_id)
