"""The Pluto emulator's iiod server under hostile input (issue 15): random command lines never stop it,
and the payload bytes held across all sessions stay within ``max_buffered_bytes``."""

import errno
import socket
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hil.iiod import PlutoEmulator

MiB = 1 << 20


def _iiod_threads():
    return [t for t in threading.enumerate() if t.name.startswith("iiod-")]


class _Client:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.f = self.s.makefile("rb")

    def cmd(self, text):
        self.s.sendall(text if isinstance(text, bytes) else text.encode() + b"\r\n")
        return int(self.f.readline())

    def close(self):
        self.f.close()
        self.s.close()


@pytest.fixture(scope="module")
def fuzz_emu():
    before = set(_iiod_threads())
    e = PlutoEmulator("pluto_ad9363", receiver="ideal").start(port=0, payload_timeout_s=0.2)
    yield e
    e.stop()
    assert not [t for t in _iiod_threads() if t not in before and t.is_alive()]


_VERBS = [b"READ", b"WRITE", b"READBUF", b"WRITEBUF", b"OPEN", b"CLOSE", b"TIMEOUT", b"SET", b"GETTRIG",
          b"SETTRIG", b"PRINT", b"HELP", b"VERSION", b"ZPRINT", b"FOO"]
_WORDS = st.one_of(st.sampled_from([b"ad9361-phy", b"cf-ad9361-lpc", b"cf-ad9361-dds-core-lpc", b"INPUT", b"OUTPUT",
                                    b"DEBUG", b"BUFFER", b"voltage0", b"altvoltage0", b"frequency", b"CYCLIC",
                                    b"BUFFERS_COUNT", b"00000003", b"-1", b"0", b"64", b"4294967296",
                                    b"99999999999999999999"]),
                   st.binary(min_size=1, max_size=12).filter(lambda b: b"\n" not in b))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(_VERBS), st.lists(_WORDS, max_size=5), st.binary(max_size=40)),
                min_size=1, max_size=6))
def test_random_commands_never_stop_the_server(fuzz_emu, lines):
    port = fuzz_emu.server.port
    c = _Client(port)
    try:
        c.s.settimeout(2)
        assert c.cmd("TIMEOUT 50") == 0  # a payload that never comes costs 50 ms, not 5 s
        for verb, words, tail in lines:
            c.s.sendall(b" ".join([verb, *words]) + b"\r\n" + tail)
        c.s.sendall(b"\r\n")
        time.sleep(0.02)
    except OSError:
        pass  # the server may close a session whose byte stream it can no longer trust
    finally:
        c.close()
    d = _Client(port)  # and then serves the next client normally
    try:
        d.s.sendall(b"VERSION\r\n")
        assert d.f.readline().startswith(b"0.24.")
        n = d.cmd("READ ad9361-phy ensm_mode")
        assert d.f.read(n + 1) == b"fdd\n"
    finally:
        d.close()


def test_payloads_held_by_all_sessions_stay_within_the_budget():
    """8 clients each announce a 1 MiB WRITE and send only part of it (the issue's 8 parallel partial writes,
    scaled down): with a 4 MiB budget 4 are held, 4 are refused with -ENOMEM and closed."""
    budget = 4 * MiB
    emu = PlutoEmulator("pluto_ad9363", receiver="ideal").start(port=0, payload_timeout_s=1.0,
                                                              max_buffered_bytes=budget)
    clients = []
    try:
        srv = emu.server
        for _ in range(8):
            c = _Client(srv.port)
            c.s.sendall(f"WRITE ad9361-phy calib_mode {MiB}\r\n".encode() + b"x" * 4096)
            clients.append(c)
        replies = []
        for c in clients:  # held sessions answer -ETIMEDOUT after 1 s; refused ones -ENOMEM at once
            replies.append(int(c.f.readline()))
        assert sorted(replies).count(-errno.ENOMEM) == 4 and replies.count(-errno.ETIMEDOUT) == 4, replies
        assert srv.refused_memory == 4
        assert srv.peak_buffered_bytes == budget and srv.buffered_bytes == 0
        for c in clients:
            assert c.f.readline() == b""  # every one of those sessions was closed (stream out of step)
        ok = _Client(srv.port)  # the budget is free again
        assert ok.cmd(b"WRITE ad9361-phy calib_mode 6\r\nmanual") == 6
        ok.close()
    finally:
        for c in clients:
            c.close()
        emu.stop()


def test_writebuf_beyond_the_budget_is_refused_before_the_payload():
    emu = PlutoEmulator("pluto_ad9363", receiver="ideal").start(port=0, max_buffered_bytes=1024)
    try:
        c = _Client(emu.server.port)
        assert c.cmd("OPEN cf-ad9361-dds-core-lpc 4096 00000003") == 0
        assert c.cmd("WRITEBUF cf-ad9361-dds-core-lpc 16384") == -errno.ENOMEM  # no ack: nothing is sent
        assert c.cmd("WRITEBUF cf-ad9361-dds-core-lpc 1024") == 1024  # the session goes on
        c.s.sendall(bytes(1024))
        assert int(c.f.readline()) == 1024
        assert emu.server.refused_memory == 1
        c.close()
    finally:
        emu.stop()
