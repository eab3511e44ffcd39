"""The emulator-backed mock ("mock-zmq"): the shared Radio suite against the channel emulator running in
this process on 127.0.0.1 ephemeral ports, and what the framed headers let the client detect."""

import dataclasses

import numpy as np
import pytest
import zmq

from hil.backends import make_radio
from hil.backends.mock import MockRadio
from hil.backends.zmq_transport import (
    DEFAULT_DELAY_SAMPLES,
    ZmqMockRadio,
    ZmqTransport,
    default_emulator_config,
    parse_zmq_uri,
)
from hil.emulator import wire
from hil.errors import ConfigError, DeviceError, StreamOverflow, StreamTimeout
from tests.radio_suite import RadioSuite, tone

# The emulator's fractional-delay interpolator is not an exact delta at a whole-sample delay: the link
# reproduces the signal to about 1e-6 of full scale (measured 2e-7), not bit-exactly.
ATOL = 2e-6
D = DEFAULT_DELAY_SAMPLES


class TestZmqMockRadio(RadioSuite):
    """The suite through a real emulator (a fresh one per stream, started by the radio itself)."""

    latency = D
    loopback = False  # near-identity, not bit-exact (see ATOL): the exact-equality cases do not apply
    can_inject = True  # host-side overflow / underflow / timeout, as a driver reports them
    timed_tx = True
    natural_underflow = True

    def make_radio(self, **options):
        return make_radio("mock-zmq", **options)


def _started(**kw):
    r = ZmqMockRadio("mock", **kw)
    r.open()
    r.configure()
    r.start()
    return r


def test_loopback_through_the_emulator_within_tolerance():
    r = _started()
    try:
        x = tone(3000)
        assert r.write(x, end_burst=True) == 3000
        y, meta = r.read(3000 + D + 50)
        assert meta.sample_index == 0 and meta.lost == 0 and meta.duplicates == 0 and meta.reordered == 0
        np.testing.assert_allclose(y[D:D + 3000], x, atol=ATOL, rtol=0)
        assert np.max(np.abs(y[D + 3000:])) < ATOL and np.max(np.abs(y[:D])) < ATOL
        hdr = r.transport.last_header  # what the emulator says it applied
        assert hdr.delay_s == pytest.approx(D / r.sample_rate) and hdr.gain_db == 0.0
    finally:
        r.close()


@pytest.mark.parametrize("cuts", [[1, 999, 37], [700, 700, 700], [4096]])
def test_read_chunking_and_timed_bursts(cuts):
    """Any split of the reads gives the same stream; a timed burst lands at its sample index."""
    r = _started()
    try:
        r.read(100)
        x = tone(800, seed=5)
        r.write(x, at_sample=300, end_burst=True)
        parts, pos = [], 100
        for c in cuts:
            y, meta = r.read(c)
            assert meta.sample_index == pos
            parts.append(y)
            pos += c
        y = np.concatenate(parts)
        start = 300 + D - 100
        np.testing.assert_allclose(y[start:start + 800], x, atol=ATOL, rtol=0)
        assert np.max(np.abs(y[:start])) < ATOL
    finally:
        r.close()


def test_two_channels_each_through_its_link():
    r = ZmqMockRadio("mock")
    with r:
        r.configure(rx_channels=(0, 1), tx_channels=(0, 1))
        r.start()
        x = np.stack([tone(1200, 0.01, seed=1), tone(1200, -0.02, seed=2)])
        r.write(x, end_burst=True)
        y, _ = r.read(1200 + D)
        np.testing.assert_allclose(y[:, D:], x, atol=ATOL, rtol=0)


def test_given_emulator_config_runs_at_the_radio_rate():
    r = ZmqMockRadio("mock", emulator=default_emulator_config(1e6, channels=1))  # rate replaced by the radio's
    with r:
        r.configure(sample_rate=2e6)
        r.start()
        assert r.emulator.config.sample_rate_hz == 2e6 and r.latency is None
        _, meta = r.read(10)
        assert meta.sample_index == 0
        with pytest.raises(ConfigError, match="at most 1 RX"):
            r.stop()
            r.rx_channels = (0, 1)
            r.start()


def test_emulator_config_needs_the_endpoint_names():
    cfg = default_emulator_config(1.92e6, channels=1)
    renamed = dataclasses.replace(cfg, endpoints=[dataclasses.replace(e, name=e.name.upper()) for e in cfg.endpoints],
                                  links=[dataclasses.replace(lk, source="TX0", sink="RX0") for lk in cfg.links])
    with ZmqMockRadio("mock", emulator=renamed) as r:
        r.configure()
        with pytest.raises(ConfigError, match="framed inputs named tx0"):
            r.start()
        assert r.emulator is None or not r.emulator.running


def test_uri_parsing_and_errors():
    assert parse_zmq_uri("zmq:tx=tcp://127.0.0.1:1,tcp://127.0.0.1:2;rx=tcp://127.0.0.1:3") == (
        ["tcp://127.0.0.1:1", "tcp://127.0.0.1:2"], ["tcp://127.0.0.1:3"])
    for bad in ("tx=tcp://a:1", "tx=tcp://a:1;rx=", "tx=a:1;rx=tcp://b:2", "rx=tcp://a:1;rx=tcp://b:2", 5):
        with pytest.raises(ConfigError, match="uri"):
            parse_zmq_uri(bad)
    with pytest.raises(ConfigError, match="emulator"):
        ZmqMockRadio("mock", "tx=tcp://127.0.0.1:1;rx=tcp://127.0.0.1:2", emulator=default_emulator_config(1e6))
    with pytest.raises(ConfigError, match="frame_samples"):
        ZmqTransport("tcp://127.0.0.1:1", "tcp://127.0.0.1:2", frame_samples=3)
    with pytest.raises(ConfigError, match="mock-zmq option"):
        make_radio("mock-zmq", latency=3)


def test_no_emulator_times_out_and_says_so():
    with make_radio("mock-zmq", uri="tx=tcp://127.0.0.1:9;rx=tcp://127.0.0.1:9") as r:  # port 9: nobody
        r.configure()
        r.start()
        with pytest.raises(StreamTimeout, match="is it running"):
            r.read(100, timeout=0.2)


# -- what the headers reveal: a scripted peer in place of the emulator ------------------------------------
class _Peer:
    """Plays the emulator: PULLs the radio's TX frames, PUSHes crafted RX frames."""

    def __init__(self):
        self.ctx = zmq.Context()
        self.pull = self.ctx.socket(zmq.PULL)
        self.push = self.ctx.socket(zmq.PUSH)
        for s in (self.pull, self.push):
            s.linger = 0
        self.pull.bind("tcp://127.0.0.1:*")
        self.push.bind("tcp://127.0.0.1:*")
        self.uri = (f"tx={self.pull.getsockopt_string(zmq.LAST_ENDPOINT)};"
                    f"rx={self.push.getsockopt_string(zmq.LAST_ENDPOINT)}")

    def tx_frames(self, n_samples):
        """Receive TX frames until n_samples arrived; returns the decoded frames."""
        out, got = [], 0
        while got < n_samples:
            assert self.pull.poll(2000), "no TX frame from the radio"
            fr = wire.decode(self.pull.recv())
            out.append(fr)
            got += fr.samples.size
        return out

    def send(self, seq, index, n, fs, value=0.25):
        self.push.send(wire.encode(wire.Frame(np.full(n, value, np.complex64), seq=seq, sample_index=index,
                                              sample_rate_hz=fs)))

    def close(self):
        self.pull.close(0)
        self.push.close(0)
        self.ctx.term()


@pytest.mark.parametrize("stream_errors", ["raise", "mark"])
def test_loss_duplication_and_reordering_from_the_header(stream_errors):
    peer = _Peer()
    r = make_radio("mock-zmq", uri=peer.uri, stream_errors=stream_errors)
    try:
        r.open()
        r.configure()
        r.start()
        fs = r.sample_rate
        base = 1000  # the peer's link clock starts elsewhere: the first frame anchors it
        peer.send(0, base, 100, fs, 0.1)
        y, meta = r.read(100)
        np.testing.assert_array_equal(y, np.full(100, 0.1, np.complex64))
        assert meta.sample_index == 0 and meta.lost == 0
        tx = peer.tx_frames(100)  # the radio kept its transmitter running for that read
        assert [f.seq for f in tx] == list(range(len(tx))) and tx[0].sample_index == 0
        assert tx[0].sample_rate_hz == fs and not np.any(tx[0].samples)
        peer.send(0, base, 100, fs)            # seq 0 again: a duplicate
        peer.send(2, base + 200, 50, fs, 0.3)  # seq 1 (100 samples) never comes: lost
        peer.send(1, base + 100, 100, fs)      # ... and arrives late: out of order
        peer.push.send(b"LHIQ" + bytes(10))    # malformed: dropped and counted
        peer.send(3, base + 250, 50, fs, 0.4)
        if stream_errors == "raise":
            with pytest.raises(StreamOverflow) as ex:
                r.read(100)
            assert ex.value.count == 100 and ex.value.sample_index == 100
        y, meta = r.read(100)
        assert meta.sample_index == 200 and meta.lost == 100 and meta.overflows == 1
        np.testing.assert_array_equal(y, np.r_[np.full(50, 0.3), np.full(50, 0.4)].astype(np.complex64))
        assert meta.duplicates == 1 and meta.reordered == 1 and r.lost_samples == 100
        assert r.transport.stats()["rx"][0]["frames_lost"] == 1 and r.transport.stats()["rx"][0]["bad"] == 1
    finally:
        r.close()
        peer.close()


def test_emulator_restart_is_a_discontinuity_of_unknown_length():
    peer = _Peer()
    try:
        with make_radio("mock-zmq", uri=peer.uri) as r:
            r.configure()
            r.start()
            fs = r.sample_rate
            for q in range(3):
                peer.send(q, 500 + 40 * q, 40, fs, 0.1)
            peer.send(0, 0, 40, fs, 0.2)  # the emulator started again: seq and clock from 0
            y, meta = r.read(120)
            assert meta.sample_index == 0 and meta.lost == 0
            with pytest.raises(StreamOverflow) as ex:
                r.read(40)
            assert ex.value.count is None
            y, meta = r.read(40)
            assert meta.sample_index == 120 and meta.lost is None and meta.discontinuity
            np.testing.assert_array_equal(y, np.full(40, 0.2, np.complex64))
            assert r.transport.stats()["rx"][0]["restarts"] == 1
    finally:
        peer.close()


def test_frame_at_another_rate_is_refused():
    peer = _Peer()
    try:
        with make_radio("mock-zmq", uri=peer.uri) as r:
            r.configure(sample_rate=1e6)
            r.start()
            peer.send(0, 0, 10, 2e6)
            with pytest.raises(DeviceError, match="runs at 2e\\+06 Hz"):
                r.read(10)
    finally:
        peer.close()


def test_mock_radio_takes_the_transport_directly():
    peer = _Peer()
    try:
        r = MockRadio("mock", transport=ZmqTransport(*parse_zmq_uri(peer.uri)))
        with r:
            r.configure()
            r.start()
            r.write(tone(64), end_burst=True)
            fr = peer.tx_frames(64)
            np.testing.assert_array_equal(np.concatenate([f.samples for f in fr]), tone(64))
            assert fr[0].center_freq_hz == r.tx_frequency
    finally:
        peer.close()
