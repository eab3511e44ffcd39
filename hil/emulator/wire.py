"""Wire formats of the emulator: *raw* (plain interleaved cf32) and *framed* (versioned header + cf32).

Raw mode is what GNU Radio's ZMQ blocks (without tags) and srsRAN's ZMQ radio exchange: each message
is ``n`` complex64 samples, little-endian float32 I then Q, no header; time is the running sample
count. A message whose length is not a multiple of 8 bytes is malformed.

Framed mode puts one fixed little-endian header in front of the same payload, in the same message
(byte layout in docs/wire.md)::

    off size type  field
      0   4  4s    magic            b"LHIQ"
      4   2  u16   version          1
      6   2  u16   header_len       80 (bytes; payload starts here)
      8   4  u32   flags            bit 0 DISCONTINUITY, bit 1 NOT_VISIBLE, bit 2 RESTART,
                                    bit 3 END_OF_BURST
     12   4  u32   stream_id
     16   8  u64   seq              frame sequence number, +1 per frame of a stream
     24   8  u64   sample_index     absolute index of the first sample (samples since the epoch)
     32   4  u32   n_samples        payload length in samples
     36   2  u16   sample_format    1 = cf32 (complex64 little-endian)
     38   2  u16   reserved         0
     40   8  f64   sample_rate_hz
     48   8  f64   center_freq_hz
     56   8  f64   delay_s          channel delay applied at the first sample (0 from a transmitter)
     64   8  f64   doppler_hz       Doppler applied at the first sample
     72   8  f64   gain_db          gain applied at the first sample (path loss included)
     80   8n       payload

Version rule: a new flag bit is a compatible extension (the version stays 1; readers ignore bits
they do not know); any change of the header layout or of a field's meaning bumps ``version``.

Decoding never unpickles or evaluates anything: ``struct`` and ``numpy.frombuffer`` only. A bad frame
raises :class:`hil.errors.StreamError` whose ``reason`` attribute is one of :data:`REASONS`.
"""

from __future__ import annotations

import bisect
import math
import struct
from dataclasses import dataclass

import numpy as np

from hil.errors import ConfigError, StreamError

__all__ = ["MAGIC", "VERSION", "HEADER", "HEADER_LEN", "FLAG_DISCONTINUITY", "FLAG_NOT_VISIBLE",
           "FLAG_RESTART", "FLAG_END_OF_BURST", "FORMAT_CF32", "REASONS", "Frame", "encode", "decode", "encode_raw",
           "decode_raw", "SequenceTracker"]

MAGIC = b"LHIQ"
VERSION = 1
HEADER = struct.Struct("<4sHHIIQQIHHddddd")
HEADER_LEN = HEADER.size  # 80
FLAG_DISCONTINUITY = 1
FLAG_NOT_VISIBLE = 2
FLAG_RESTART = 4
# Set by a transmitter on the last message of a timed burst (the emulator then flushes the channel's
# tail at once), and by the emulator on the last output message of a burst (signal + tail).
FLAG_END_OF_BURST = 8
FORMAT_CF32 = 1
_U32 = (1 << 32) - 1
_U64 = (1 << 64) - 1
REASONS = ("short", "magic", "version", "header_len", "format", "length", "value")


def _bad(reason: str, msg: str) -> StreamError:
    err = StreamError(f"bad frame ({reason}): {msg}")
    err.reason = reason
    return err


@dataclass(frozen=True)
class Frame:
    """One framed message. ``samples`` is complex64 (read-only view into the message when decoded)."""

    samples: np.ndarray
    seq: int = 0
    sample_index: int = 0
    stream_id: int = 0
    sample_rate_hz: float = 0.0
    center_freq_hz: float = 0.0
    delay_s: float = 0.0
    doppler_hz: float = 0.0
    gain_db: float = 0.0
    flags: int = 0


def encode(frame: Frame) -> bytes:
    """Header + payload as one bytes object (the payload is converted to little-endian complex64)."""
    x = np.ascontiguousarray(frame.samples, dtype="<c8")
    if x.ndim != 1:
        raise ConfigError.bad_value("samples.ndim", x.ndim, "1")
    for name, val, hi in (("seq", frame.seq, _U64), ("sample_index", frame.sample_index, _U64),
                          ("stream_id", frame.stream_id, _U32), ("flags", frame.flags, _U32),
                          ("n_samples", x.shape[0], _U32)):
        if not (isinstance(val, (int, np.integer)) and 0 <= int(val) <= hi):
            raise ConfigError.bad_value(name, val, f"an integer 0..{hi}")
    for name in ("sample_rate_hz", "center_freq_hz", "delay_s", "doppler_hz", "gain_db"):
        v = getattr(frame, name)
        if not isinstance(v, (int, float, np.floating, np.integer)):
            raise ConfigError.bad_value(name, v, "a number")
    head = HEADER.pack(MAGIC, VERSION, HEADER_LEN, int(frame.flags), int(frame.stream_id), int(frame.seq),
                       int(frame.sample_index), x.shape[0], FORMAT_CF32, 0, float(frame.sample_rate_hz),
                       float(frame.center_freq_hz), float(frame.delay_s), float(frame.doppler_hz),
                       float(frame.gain_db))
    return head + x.tobytes()


def decode(buf) -> Frame:
    """Parse one framed message (bytes, bytearray, memoryview or zmq.Frame buffer).

    Raises StreamError with ``.reason`` in :data:`REASONS` for a short message, wrong magic, an
    unknown version, a header length other than 80, an unknown sample format, a payload length that
    does not match ``n_samples`` (truncated or padded) or a non-finite sample rate / frequency.
    """
    mv = memoryview(buf).cast("B")
    if mv.nbytes < HEADER_LEN:
        if mv.nbytes >= 4 and bytes(mv[:4]) != MAGIC:
            raise _bad("magic", f"magic {bytes(mv[:4])!r}, expected {MAGIC!r}")
        raise _bad("short", f"{mv.nbytes} bytes, a header needs {HEADER_LEN}")
    (magic, version, hlen, flags, sid, seq, sidx, n, fmt, _res, fs, fc, delay, dop, gain) = HEADER.unpack_from(mv, 0)
    if magic != MAGIC:
        raise _bad("magic", f"magic {magic!r}, expected {MAGIC!r}")
    if version != VERSION:
        raise _bad("version", f"version {version}, this emulator speaks {VERSION}")
    if hlen != HEADER_LEN:
        raise _bad("header_len", f"header_len {hlen}, expected {HEADER_LEN}")
    if fmt != FORMAT_CF32:
        raise _bad("format", f"sample_format {fmt}, expected {FORMAT_CF32} (cf32)")
    if mv.nbytes != HEADER_LEN + 8 * n:
        raise _bad("length", f"{mv.nbytes} bytes for n_samples={n} (expected {HEADER_LEN + 8 * n})")
    if not (math.isfinite(fs) and math.isfinite(fc)):
        raise _bad("value", f"sample_rate_hz={fs!r}, center_freq_hz={fc!r} (must be finite)")
    samples = np.frombuffer(mv, dtype="<c8", count=n, offset=HEADER_LEN)
    return Frame(samples, seq, sidx, sid, fs, fc, delay, dop, gain, flags)


def encode_raw(samples) -> bytes:
    """Raw mode: interleaved little-endian cf32, nothing else."""
    return np.ascontiguousarray(samples, dtype="<c8").tobytes()


def decode_raw(buf) -> np.ndarray:
    """Raw mode: bytes -> complex64 view. A length that is not a multiple of 8 raises (reason 'length')."""
    mv = memoryview(buf).cast("B")
    if mv.nbytes % 8:
        raise _bad("length", f"raw message of {mv.nbytes} bytes is not a whole number of cf32 samples (8 bytes)")
    return np.frombuffer(mv, dtype="<c8")


class SequenceTracker:
    """Checks the sequence numbers and sample indices of one framed input stream; its counters are exact.

    :meth:`accept` returns ``(action, gap)``. Every frame gets exactly one action:

    * ``"ok"``: in order; ``gap`` is the forward jump of ``sample_index`` before this frame (silence
      between timed bursts when no frame was lost, else lost samples - the emulator never synthesises
      them, its link jumps, see docs/wire.md);
    * ``"duplicate"``: a sequence number already received (within the window): dropped;
    * ``"old"``: out of order - a frame older than the newest one received (a late arrival of a frame
      counted lost, which is then no longer lost, or one older than the window): dropped;
    * ``"overlap"``: a new sequence number whose samples start before the end of the samples already
      delivered: dropped, counted once (not also as lost or old), the tracker's state unchanged;
    * ``"restart"``: seq 0 after a stream had started: the peer reconnected; re-anchored, gap 0.

    Counters (never negative, never more than what was sent): ``lost`` = sequence numbers below the
    newest received that never arrived (a late arrival within the window takes its frame back out);
    ``duplicates``, ``old`` (late arrivals dropped), ``late`` (of those, frames that had been counted
    lost), ``overlaps``, ``restarts``, ``resyncs``, ``gap_samples``. Sequence arithmetic is bounded to
    :attr:`window` frames: a forward jump larger than that (a corrupted or restarted peer, not a loss
    the link could have had) is a ``resync`` - the stream is re-anchored and nothing is counted lost -
    so one bad header cannot add 2^62 to ``lost``. Missing frames are kept as at most
    ``window / 2`` ranges, so memory and time per frame are bounded whatever the input.
    """

    #: sequence numbers either side of the newest within which loss, duplicates and late arrivals are exact
    WINDOW = 1 << 16

    def __init__(self, window: int = WINDOW):
        if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= 1 << 32:
            raise ConfigError.bad_value("window", window, "an integer 1..2**32 (frames)")
        self.window = window
        self.reset()

    def reset(self):
        self.next_seq = None
        self.next_index = None
        self.lost = 0
        self.duplicates = 0
        self.old = 0
        self.late = 0
        self.overlaps = 0
        self.restarts = 0
        self.resyncs = 0
        self.gap_samples = 0
        self._base = 0          # lowest seq of the current stream (frames below it are another stream's)
        self._missing = []      # sorted, disjoint [lo, hi) ranges of seqs not (yet) received, within the window

    def _anchor(self, seq, sample_index, n):
        self.next_seq, self.next_index, self._base = seq + 1, sample_index + n, seq
        self._missing.clear()

    def _is_missing(self, seq):
        i = bisect.bisect_right(self._missing, [seq, _U64 + 2]) - 1
        return i if i >= 0 and self._missing[i][0] <= seq < self._missing[i][1] else None

    def _take(self, i, seq):
        lo, hi = self._missing[i]
        parts = [r for r in ([lo, seq], [seq + 1, hi]) if r[0] < r[1]]
        self._missing[i:i + 1] = parts

    def _prune(self):
        floor = self.next_seq - self.window
        k = 0
        while k < len(self._missing) and self._missing[k][1] <= floor:
            k += 1
        if k:
            del self._missing[:k]
        if self._missing and self._missing[0][0] < floor:
            self._missing[0][0] = floor
        if len(self._missing) > self.window // 2 + 1:  # cannot happen with the floor above; a hard bound
            del self._missing[: len(self._missing) - self.window // 2 - 1]

    def accept(self, seq: int, sample_index: int, n: int):
        if self.next_seq is None:
            self._anchor(seq, sample_index, n)
            return "ok", 0
        if seq == 0 and self.next_seq > 1:
            self.restarts += 1
            self._anchor(0, sample_index, n)
            return "restart", 0
        if seq < self.next_seq:
            i = self._is_missing(seq) if seq >= self.next_seq - self.window else None
            if i is not None:  # a frame counted lost arrives after all: no longer lost, but too late to use
                self._take(i, seq)
                self.lost -= 1
                self.late += 1
                self.old += 1
                return "old", 0
            if self._base <= seq and seq >= self.next_seq - self.window:
                self.duplicates += 1
                return "duplicate", 0
            self.old += 1  # older than the window (or than this stream): cannot tell, drop
            return "old", 0
        gap = sample_index - self.next_index
        if gap < 0:  # a new seq, but its samples overlap what was delivered: refused, counted once
            self.overlaps += 1
            return "overlap", 0
        jump = seq - self.next_seq
        if jump > self.window:
            self.resyncs += 1
            self.gap_samples += gap
            self._anchor(seq, sample_index, n)
            return "ok", gap
        if jump:
            self.lost += jump
            if self._missing and self._missing[-1][1] == self.next_seq:
                self._missing[-1][1] = seq
            else:
                self._missing.append([self.next_seq, seq])
        self.gap_samples += gap
        self.next_seq, self.next_index = seq + 1, sample_index + n
        self._prune()
        return "ok", gap
