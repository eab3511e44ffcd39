"""A regenerative (decode-and-forward) relay: the project's receiver and transmitter blocks between two
emulator Links.

    source --[uplink Link]--> dsp.receiver.Receiver (blind, knows the schedule) --decoded frames-->
           dsp.framing.FrameFormat.build (same frame number, burst id and decoded bits) --
           at the frame's scheduled start + processing_delay --> [downlink Link] --> sink

The relay re-sends each frame it decoded (header CRC good, bits present) ``delay_samples`` after the
frame's scheduled start; a frame it could not decode is not sent (its slot stays silent) and is counted
(:attr:`RegenerativeRelay.frames_dropped`). Bit errors the relay made are carried on (end-to-end BER).
The sink's receiver uses the schedule shifted by ``delay_samples`` (:meth:`RegenerativeRelay.sink_schedule`).

It has the per-burst interface of :class:`hil.emulator.link.Link` (``accept`` / ``finish`` / ``close``):
the relay's decisions for a burst are final once the stream has moved past its window, so a burst is
re-sent when the receiver reports a later window (or at ``finish``) - in sample time it still goes out
at frame start + delay; only the order of the calls waits.

``delay_samples`` must cover the uplink delay and the burst (the relay can only re-send what it has
received): checked by the network builder against the uplink's largest delay.
"""

from __future__ import annotations

import numpy as np

from hil.errors import ConfigError

__all__ = ["RegenerativeRelay"]


class RegenerativeRelay:
    def __init__(self, name: str, uplink, downlink, fmt, schedule, receiver, *, delay_samples: int):
        if uplink is not None and uplink is downlink:
            raise ConfigError.bad_value(f"relays.{name}.downlink", downlink.name, "a link other than the uplink")
        if int(delay_samples) < schedule.burst_length:
            raise ConfigError.bad_value(f"relays.{name}.processing_delay_s", delay_samples / schedule.sample_rate_hz,
                                        f">= one burst ({schedule.burst_length / schedule.sample_rate_hz:.4g} s)")
        self.name = name
        self.uplink, self.downlink = uplink, downlink
        self.fmt, self.schedule, self.rx = fmt, schedule, receiver
        self.delay = int(delay_samples)
        self.sample_rate = schedule.sample_rate_hz
        self.epoch = getattr(uplink, "epoch", 0.0)
        self._pending: dict[int, dict[int, object]] = {}  # window -> frame_no -> RxFrame
        self._done_below = 0  # windows below this were re-sent
        self.frames_received = 0
        self.frames_decoded = 0
        self.frames_sent = 0
        self.frames_dropped = 0

    def sink_schedule(self):
        """The transmit schedule as the sink sees the relay's re-sent frames."""
        from dsp.framing import TxSchedule

        s = self.schedule
        return TxSchedule(s.sample_rate_hz, s.t0_s, s.period, s.per_burst,
                          tuple(k + self.delay for k in s.burst_starts))

    def _take(self, frames):
        for fr in frames:
            if fr.header_ok and fr.bits is not None and fr.frame_no is not None \
                    and 0 <= fr.frame_no < self.schedule.n_frames:
                b = fr.frame_no // self.schedule.per_burst
                if b >= self._done_below:
                    self._pending.setdefault(b, {}).setdefault(fr.frame_no, fr)

    def _send(self, upto=None) -> list:
        """Re-send every pending burst below ``upto`` (None: all)."""
        outs = []
        K, P = self.schedule.per_burst, self.schedule.period
        for b in sorted(self._pending):
            if upto is not None and b >= upto:
                break
            got = self._pending.pop(b)
            self.frames_decoded += len(got)
            js = sorted(f - b * K for f in got)
            j0, j1 = js[0], js[-1]
            x = np.zeros((j1 - j0 + 1) * P, np.complex64)  # an undecoded frame inside: its slot is silent
            for f, fr in got.items():
                j = f - b * K
                y = self.fmt.build(np.asarray(fr.bits, np.uint8), f, b)
                x[(j - j0) * P:(j - j0) * P + y.size] = y
            k = self.schedule.burst_starts[b] + j0 * P + self.delay
            outs += self.downlink.accept(k, x, end_of_burst=True)
            self.frames_sent += len(got)
        if upto is not None:
            self._done_below = max(self._done_below, upto)
        return outs

    def accept(self, sample_index, samples, end_of_burst=False, *, frames_lost=0) -> list:
        outs = self.uplink.accept(sample_index, samples, end_of_burst, frames_lost=frames_lost)
        frames = []
        for n0, y, _ in outs:
            frames += self.rx.process(n0, y)
        self._take(frames)
        if frames:
            return self._send(upto=max(f.window for f in frames))
        return []

    def finish(self, flush=True) -> list:
        tail = self.uplink.finish(flush)
        frames = []
        for n0, y, _ in tail:
            frames += self.rx.process(n0, y)
        frames += self.rx.flush()
        self._take(frames)
        outs = self._send()
        self.frames_received = self.schedule.n_frames
        self.frames_dropped = self.schedule.n_frames - self.frames_sent
        return outs + self.downlink.finish(flush)

    def close(self):
        self.uplink.close()
        self.downlink.close()

    def counters(self) -> dict:
        return {"relay": self.name, "relay_frames_decoded": self.frames_decoded, "relay_frames_sent": self.frames_sent,
                "relay_frames_dropped": self.frames_dropped, "relay_rx_windows_locked": self.rx.windows_locked,
                "relay_delay_s": self.delay / self.sample_rate}

    def __repr__(self):
        return (f"RegenerativeRelay({self.name!r}, {getattr(self.uplink, 'name', 'wire')} -> decode / re-send +"
                f"{self.delay / self.sample_rate:g} s -> {getattr(self.downlink, 'name', 'wire')})")
