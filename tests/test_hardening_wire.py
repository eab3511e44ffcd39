"""Framed-wire fuzzing (issue 15): exact counters against a channel model's ground truth, any bytes
handled without an exception, non-finite samples counted, bounded amplification.

Ground truth comes from the fault model, not from the tracker: a sender emits frames 0..N-1 of 10
samples each; the channel drops, duplicates and reorders them; the counters must equal what the channel
did - frames never delivered (lost), extra copies (duplicates), frames delivered after a newer one (late).
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hil.config import parse
from hil.emulator import wire
from hil.emulator.config import EmulatorConfig
from hil.emulator.server import EmulatorServer

L = 10  # samples per frame


def _truth(deliveries):
    """What the channel did to the stream, computed from the delivery order alone."""
    seen, top, late, dups = set(), -1, 0, 0
    for s in deliveries:
        if s in seen:
            dups += 1
            continue
        seen.add(s)
        if s < top:
            late += 1
        top = max(top, s)
    lost = sum(1 for s in range(top + 1) if s not in seen)
    return dict(lost=lost, duplicates=dups, late=late)


@st.composite
def channel(draw, n_max=60):
    n = draw(st.integers(1, n_max))
    order = list(range(n))
    for i in draw(st.lists(st.integers(0, n - 1), max_size=n)):  # bounded reordering: swaps of neighbours
        j = min(n - 1, i + draw(st.integers(1, 5)))
        order[i], order[j] = order[j], order[i]
    dropped = set(draw(st.lists(st.integers(0, n - 1), max_size=n)))
    out = []
    for s in order:
        if s in dropped:
            continue
        out += [s] * draw(st.integers(1, 3))  # 1 = delivered once, 2-3 = duplicated
    if not out or out[0] != 0:  # the first frame anchors the stream
        out = [0] + [s for s in out if s != 0]
    return out


def _run(tracker, deliveries, base=0, offset=0):
    acts = []
    for s in deliveries:
        acts.append(tracker.accept(base + s, offset + L * s, L)[0])
    return acts


@given(channel())
def test_tracker_counters_equal_the_channel_ground_truth(deliveries):
    tr = wire.SequenceTracker()
    acts = _run(tr, deliveries)
    t = _truth(deliveries)
    assert (tr.lost, tr.duplicates, tr.late, tr.old) == (t["lost"], t["duplicates"], t["late"], t["late"])
    assert acts.count("ok") == len(set(deliveries)) - t["late"]  # every delivery has exactly one action
    assert len(acts) == acts.count("ok") + tr.duplicates + tr.old
    assert tr.gap_samples == L * (tr.lost + tr.late)  # the index jumps are exactly the frames not in order
    assert tr.overlaps == tr.restarts == tr.resyncs == 0


@given(channel(30), channel(30))
def test_counters_stay_exact_across_a_peer_restart(first, second):
    tr = wire.SequenceTracker()
    _run(tr, first)
    top = max(first)
    acts = _run(tr, second, offset=L * (top + 1) + 5000)  # the peer restarts: seq 0 again, later samples
    a, b = _truth(first), _truth(second)
    restarted = top > 0  # seq 0 after seq 0 alone is a duplicate, not a restart
    if restarted:
        assert acts[0] == "restart" and tr.restarts == 1
        for k in ("lost", "duplicates", "late"):
            assert getattr(tr, k) == a[k] + b[k], k
    else:
        assert tr.restarts == 0


def test_a_sequence_jump_of_2_62_is_a_resync_not_4e18_lost_frames():
    tr = wire.SequenceTracker()
    assert tr.accept(0, 0, 10) == ("ok", 0)
    assert tr.accept(2**62, 10, 10) == ("ok", 0)
    assert (tr.lost, tr.resyncs) == (0, 1)
    assert tr.accept(2**62 + 2, 30, 10) == ("ok", 10)  # the stream goes on from the new anchor
    assert tr.lost == 1
    assert tr.accept(2**62 + 1, 20, 10) == ("old", 0) and tr.lost == 0 and tr.late == 1


def test_a_frame_overlapping_delivered_samples_is_counted_once():
    tr = wire.SequenceTracker()
    tr.accept(0, 0, 100)
    assert tr.accept(3, 50, 100) == ("overlap", 0)  # new seq, but samples 50.. were delivered
    assert (tr.overlaps, tr.lost, tr.old) == (1, 0, 0)
    assert tr.accept(1, 100, 100) == ("ok", 0)  # state unchanged by the refused frame
    assert tr.lost == 0


def test_missing_ranges_stay_bounded_whatever_the_input():
    tr = wire.SequenceTracker(window=64)
    tr.accept(0, 0, 1)
    for k in range(1, 2000):
        tr.accept(2 * k, 2 * k, 1)  # every other frame missing: the worst case for ranges
    assert len(tr._missing) <= 33 and tr.lost == 1999


# ------------------------------------------------------------------ the server, without sockets
def _server(**ep):
    cfg = parse(EmulatorConfig, dict(sample_rate_hz=1e6, endpoints=[
        dict(name="tx", address="inproc://fuzz-tx", pattern="pull", wire="framed", **ep),
        dict(name="rx", address="inproc://fuzz-rx", pattern="push", wire="framed")],
        links=[dict(name="l", source="tx", sink="rx", carrier_hz=0.0,
                    trajectory=[dict(kind="constant", delay_s=20e-6)])]))
    return EmulatorServer(cfg)


def _frame(seq, idx, x, fs=1e6, **kw):
    return wire.encode(wire.Frame(np.asarray(x, np.complex64), seq=seq, sample_index=idx, sample_rate_hz=fs, **kw))


@settings(max_examples=60)
@given(st.lists(st.one_of(
    st.binary(max_size=200),
    st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**20), st.integers(0, 40), st.integers(0, 79),
              st.integers(0, 255)),
), max_size=30))
def test_any_message_sequence_is_handled_and_every_message_is_accounted_once(msgs):
    emu = _server()
    inp = emu.inputs["tx"]
    try:
        for m in msgs:
            if isinstance(m, tuple):  # a valid frame, possibly with one header byte damaged
                seq, idx, n, pos, byte = m
                buf = bytearray(_frame(seq, idx, np.full(n, 0.1 + 0.2j)))
                if byte != 255:
                    buf[pos] = byte
                m = bytes(buf)
            emu._handle_message(inp, m)
        st_ = emu.status()
        ep, lk = st_["endpoints"]["tx"], st_["links"]["l"]
        refused = sum(ep["bad"].values())
        accepted = ep["messages"] - refused
        assert ep["messages"] == len(msgs)
        assert accepted >= 0 and ep["frames_duplicated"] == ep["bad"].get("duplicate", 0)
        assert ep["frames_out_of_order"] == ep["bad"].get("out_of_order", 0)
        assert ep["frames_overlapping"] == ep["bad"].get("overlap", 0)
        assert 0 <= ep["frames_lost"] < 2**16 and lk["frames_lost"] == ep["frames_lost"]
    finally:
        emu.stop()


def test_nonfinite_samples_are_counted_and_never_reach_the_channel():
    emu = _server()
    try:
        x = np.full(100, 0.1 + 0.1j, np.complex64)
        x[[3, 50, 51]] = [np.nan, np.inf + 1j, complex(1, -np.inf)]
        emu._handle_message(emu.inputs["tx"], _frame(0, 0, x, flags=wire.FLAG_END_OF_BURST))
        out = emu.outputs["rx"]
        y = np.concatenate([q[1] for q in out.queue])
        assert emu.status()["endpoints"]["tx"]["samples_nonfinite"] == 3
        assert np.isfinite(y).all() and y.size >= 100
        big = np.full(10, 3e38 + 3e38j, np.complex64)  # the float32 sum overflows; nothing is non-finite
        emu._handle_message(emu.inputs["tx"], _frame(1, 100, big))
        assert emu.status()["endpoints"]["tx"]["samples_nonfinite"] == 3
    finally:
        emu.stop()


def _amplification(cfg_kw=None):
    """The issue's load: 200 framed messages of 16 samples, each 900,000 samples after the previous.
    Returns bytes out / bytes in (headers included on both sides)."""
    cfg = parse(EmulatorConfig, dict(sample_rate_hz=1.92e6, endpoints=[
        dict(name="tx", address="inproc://amp-tx", pattern="pull", wire="framed"),
        dict(name="rx", address="inproc://amp-rx", pattern="push", wire="framed")],
        links=[dict(name="l", source="tx", sink="rx", **(cfg_kw or {}))]))
    emu = EmulatorServer(cfg)
    try:
        inp, out = emu.inputs["tx"], emu.outputs["rx"]
        lo = emu._spans["l"][0]
        x = np.full(16, 0.5, np.complex64)
        bytes_in = 0
        for k in range(200):
            m = _frame(k, lo + k * 900_000, x, fs=1.92e6)
            bytes_in += len(m)
            emu._handle_message(inp, m)
        bytes_out = sum(wire.HEADER_LEN + 8 * q[1].shape[0] for q in out.queue)
        return bytes_out / bytes_in
    finally:
        emu.stop()


def test_gaps_are_not_zero_filled_amplification_with_a_short_channel():
    # 20 us of delay (38 samples of channel memory): what is sent per 16-sample burst is the burst and
    # the channel's tail, never the 900,000-sample gap (15,000x before issue 13)
    assert _amplification(dict(trajectory=[dict(kind="constant", delay_s=20e-6)])) < 5


def test_amplification_is_at_most_2x_with_the_default_link():
    # 2 ms of delay: the link leaves out the declared lead (the configured minimum delay less taps/2 + 2
    # samples) before each burst, and its tail ends taps/2 + 2 samples after the delayed burst: 36 samples
    # out per 16 in (1.76x with headers); without the lead the whole delay line comes out (149x)
    assert _amplification() <= 2.0
    assert _amplification(dict(skip_lead=0)) > 100


def test_a_sample_index_beyond_the_int64_clock_is_refused_not_a_crash():
    # found by the fuzz test above: byte 31 (the top byte of sample_index) = 0x80 overflowed the kernel's
    # int64 clock and stopped the server thread
    emu = _server()
    try:
        x = np.full(4, 0.1, np.complex64)
        emu._handle_message(emu.inputs["tx"], _frame(0, 2**63, x))
        emu._handle_message(emu.inputs["tx"], _frame(1, 2**62 - 2, x))
        emu._handle_message(emu.inputs["tx"], _frame(2, 100, x))
        ep = emu.status()["endpoints"]["tx"]
        assert ep["bad"] == {"range": 2} and ep["samples"] == 4
    finally:
        emu.stop()


# ------------------------------------------------------------------ through the sockets (server thread)
def _wait(pred, seconds=10.0):
    import time

    deadline = time.monotonic() + seconds
    while not pred() and time.monotonic() < deadline:
        time.sleep(0.01)
    return pred()


def test_fuzzed_frames_over_a_socket_never_stop_the_server_and_counters_match_a_restart():
    import zmq

    rng = np.random.default_rng(15)
    cfg = parse(EmulatorConfig, dict(sample_rate_hz=1e6, endpoints=[
        dict(name="tx", address="tcp://127.0.0.1:*", pattern="pull", wire="framed"),
        dict(name="rx", address="tcp://127.0.0.1:*", pattern="push", wire="framed", on_full="drop")],
        links=[dict(name="l", source="tx", sink="rx", carrier_hz=0.0,
                    trajectory=[dict(kind="constant", delay_s=2e-5)])]))
    ctx = zmq.Context()
    try:
        with EmulatorServer(cfg) as emu:
            tx = ctx.socket(zmq.PUSH)
            tx.linger = 0
            tx.connect(emu.address("tx"))
            x = np.full(50, 0.1 + 0.1j, np.complex64)
            # 1. a stream with drops, then the peer restarts (seq 0 again) with drops: exact loss counts
            first = [s for s in range(40) if s % 7 != 3]   # 3, 10, 17, 24, 31, 38 dropped: 6 lost
            second = [s for s in range(25) if s % 5 != 2]  # 2, 7, 12, 17, 22 dropped: 5 lost
            for s in first:
                tx.send(_frame(s, 50 * s, x))
            for s in second:
                tx.send(_frame(s, 10_000 + 50 * s, x))
            assert _wait(lambda: emu.status()["endpoints"]["tx"]["messages"] == len(first) + len(second))
            ep = emu.status()["endpoints"]["tx"]
            assert (ep["frames_lost"], ep["restarts"], ep["frames_duplicated"], ep["frames_out_of_order"]) == \
                (6 + 5, 1, 0, 0)
            # 2. 300 fuzzed messages: random bytes and frames with one random byte changed
            good = _frame(100, 20_000, x)
            for k in range(300):
                if k % 3 == 0:
                    m = rng.bytes(int(rng.integers(0, 200)))
                else:
                    b = bytearray(good)
                    b[int(rng.integers(0, len(b)))] = int(rng.integers(0, 256))
                    m = bytes(b)
                tx.send(m)
            n_msgs = len(first) + len(second) + 300
            assert _wait(lambda: emu.status()["endpoints"]["tx"]["messages"] == n_msgs)
            st = emu.status()
            assert st["running"] and st["error"] is None
            # 3. and a valid frame still goes through
            out0 = st["links"]["l"]["samples_in"]
            tx.send(_frame(0, 50_000, x))  # a restart, far from everything above
            assert _wait(lambda: emu.status()["links"]["l"]["samples_in"] == out0 + 50)
            tx.close(0)
    finally:
        ctx.destroy(0)
