"""Wire formats: header layout against the documented offsets, round trips, fuzzed and damaged frames."""

import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hil.emulator import wire
from hil.errors import ConfigError, StreamError

u64 = st.integers(0, 2**64 - 1)
u32 = st.integers(0, 2**32 - 1)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


def _frame(n=5, **kw):
    x = (np.arange(n) + 1j * np.arange(n)[::-1]).astype(np.complex64)
    return wire.Frame(x, **kw)


def test_header_is_80_bytes_at_the_documented_offsets():
    f = _frame(3, seq=0x0102030405060708, sample_index=2**40 + 7, stream_id=9, sample_rate_hz=1.92e6,
               center_freq_hz=2.2e9, delay_s=4.5e-3, doppler_hz=-3.1e4, gain_db=-150.25, flags=5)
    b = wire.encode(f)
    assert wire.HEADER_LEN == 80 and len(b) == 80 + 3 * 8
    assert b[0:4] == b"LHIQ"
    assert struct.unpack_from("<H", b, 4)[0] == 1 and struct.unpack_from("<H", b, 6)[0] == 80
    assert struct.unpack_from("<I", b, 8)[0] == 5 and struct.unpack_from("<I", b, 12)[0] == 9
    assert struct.unpack_from("<Q", b, 16)[0] == 0x0102030405060708
    assert struct.unpack_from("<Q", b, 24)[0] == 2**40 + 7
    assert struct.unpack_from("<I", b, 32)[0] == 3 and struct.unpack_from("<H", b, 36)[0] == 1
    assert struct.unpack_from("<5d", b, 40) == (1.92e6, 2.2e9, 4.5e-3, -3.1e4, -150.25)
    # payload: little-endian float32 I, Q interleaved
    assert struct.unpack_from("<2f", b, 80 + 8) == (1.0, 1.0)


@given(n=st.integers(0, 300), seq=u64, idx=u64, sid=u32, flags=u32, fs=finite, fc=finite, d=finite,
       dop=finite, g=finite, seed=st.integers(0, 2**32 - 1))
def test_round_trip(n, seq, idx, sid, flags, fs, fc, d, dop, g, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(np.complex64)
    f = wire.Frame(x, seq, idx, sid, fs, fc, d, dop, g, flags)
    back = wire.decode(wire.encode(f))
    np.testing.assert_array_equal(back.samples, x)
    assert (back.seq, back.sample_index, back.stream_id, back.flags) == (seq, idx, sid, flags)
    got = (back.sample_rate_hz, back.center_freq_hz, back.delay_s, back.doppler_hz, back.gain_db)
    assert got == (fs, fc, d, dop, g)


@given(data=st.binary(max_size=400))
def test_fuzzed_bytes_raise_only_stream_error(data):
    for dec in (wire.decode, wire.decode_raw):
        try:
            dec(data)
        except StreamError as exc:
            assert exc.reason in wire.REASONS


@given(n=st.integers(1, 50), cut=st.integers(1, 400), pos=st.integers(0, 79), byte=st.integers(0, 255))
def test_damaged_frames_are_refused_with_a_reason(n, cut, pos, byte):
    good = wire.encode(_frame(n, sample_rate_hz=1e6))
    with pytest.raises(StreamError) as e:
        wire.decode(good[:-min(cut, len(good))])           # truncated
    assert e.value.reason in ("short", "length")
    with pytest.raises(StreamError) as e:
        wire.decode(good + b"\0" * (cut % 7 + 1))             # padded
    assert e.value.reason == "length"
    bad = bytearray(good)
    bad[pos] = byte
    try:                                                   # any single-byte change in the header:
        f = wire.decode(bytes(bad))                        # either refused, or a well-formed frame
    except StreamError as exc:
        assert exc.reason in wire.REASONS
    else:
        assert f.samples.shape == (n,)


@pytest.mark.parametrize("offset, value, reason", [(0, b"XHIQ", "magic"), (4, struct.pack("<H", 2), "version"),
                                                   (6, struct.pack("<H", 96), "header_len"),
                                                   (36, struct.pack("<H", 2), "format"),
                                                   (40, struct.pack("<d", float("nan")), "value")])
def test_each_header_check(offset, value, reason):
    b = bytearray(wire.encode(_frame(4)))
    b[offset:offset + len(value)] = value
    with pytest.raises(StreamError, match=reason) as e:
        wire.decode(bytes(b))
    assert e.value.reason == reason


def test_raw_mode_is_plain_cf32():
    x = np.array([1 + 2j, -3.5 - 0.25j], np.complex64)
    b = wire.encode_raw(x)
    assert b == struct.pack("<4f", 1, 2, -3.5, -0.25)
    np.testing.assert_array_equal(wire.decode_raw(b), x)
    with pytest.raises(StreamError) as e:
        wire.decode_raw(b[:-3])
    assert e.value.reason == "length"


def test_encode_refuses_out_of_range_fields():
    with pytest.raises(ConfigError, match="seq"):
        wire.encode(_frame(seq=-1))
    with pytest.raises(ConfigError, match="stream_id"):
        wire.encode(_frame(stream_id=2**32))


def test_sequence_tracker_counts_loss_duplicates_reordering_and_restart():
    tr = wire.SequenceTracker()
    assert tr.accept(0, 0, 100) == ("ok", 0)
    assert tr.accept(1, 100, 100) == ("ok", 0)
    assert tr.accept(1, 100, 100) == ("duplicate", 0)
    assert tr.accept(4, 400, 100) == ("ok", 200)            # seq 2, 3 lost: 200 samples missing
    assert tr.lost == 2
    assert tr.accept(3, 300, 100) == ("old", 0)             # late arrival of a lost one
    assert tr.accept(0, 0, 50) == ("restart", 0)            # the peer reconnected
    assert tr.accept(1, 50, 50) == ("ok", 0)
    assert (tr.duplicates, tr.old, tr.restarts, tr.gap_samples) == (1, 1, 1, 200)


@given(order=st.permutations(list(range(12))), dups=st.lists(st.integers(0, 11), max_size=4))
def test_tracker_never_accepts_a_frame_twice(order, dups):
    tr = wire.SequenceTracker()
    tr.accept(0, 0, 10)
    accepted = []
    for s in [*order[1:], *dups] if order[0] == 0 else [*order, *dups]:
        if s == 0:
            continue
        act, _ = tr.accept(s, 10 * s, 10)
        if act == "ok":
            accepted.append(s)
    assert accepted == sorted(set(accepted))               # strictly increasing: no duplicate, no reorder
