"""The emulated Pluto's sample path: a TX timeline, the channel, and the RX capture clock.

The emulator's clock is the sample count (never wall-clock time): RX sample ``n`` and TX sample ``n``
leave/arrive at the same instant. Captured samples are computed on demand from what was transmitted::

    rx[n] = sum_p g_p exp(j 2 pi nu_p n) tx(n - tau_p) (+ noise),   nu_p = f_p / f_s + (f_TX_LO - f_RX_LO) / f_s

with the paths of :class:`dsp.channel.Path` (delay in samples, may be fractional; the same band-limited
interpolation as :class:`dsp.channel.DoublyDispersiveChannel`, which this module uses). ``n`` is the
absolute sample index since the loop was created, so the Doppler phase is continuous across buffers
and any split of the capture into buffers gives the same samples.

TX buffers are placed on the timeline at ``max(end of the previous TX buffer, the capture clock)``.
The clock runs ahead of the capture only as far as needed to keep at most ``max_pending`` TX samples
queued (so a TX-only client never blocks), which keeps "tx() then rx()" deterministic. Closing the
TX buffer drops what has not been played (and stops a cyclic buffer), as on the device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dsp.channel import DoublyDispersiveChannel, Path
from hil.errors import ConfigError, check_range

__all__ = ["LoopPath", "TxTimeline", "RfLoop"]


@dataclass(frozen=True)
class LoopPath:
    """One loopback path: complex ``gain`` (linear), ``delay`` in samples (>= 0), ``doppler_hz`` in Hz
    (converted to cycles/sample with the sample rate in force when the samples are captured)."""

    gain: complex = 1.0
    delay: float = 0.0
    doppler_hz: float = 0.0

    def __post_init__(self):
        Path(complex(self.gain), float(self.delay), 0.0)  # validates gain and delay
        check_range("doppler_hz", float(self.doppler_hz), unit="Hz")


class TxTimeline:
    """What the DAC plays, as segments on the absolute sample axis (complex, normalised to full scale)."""

    def __init__(self, n_channels: int):
        self.n_channels = int(n_channels)
        self._segments: list[list] = []  # [start, data (ch, L), cyclic, stop]
        self.end = 0                     # where the next non-cyclic buffer starts (if the clock is behind)

    def schedule(self, data: np.ndarray, not_before: int, cyclic: bool) -> int:
        """Queue ``data`` (channels, L); returns its start index."""
        start = max(self.end, not_before)
        length = data.shape[1]
        stop = math.inf if cyclic else start + length
        self._segments.append([start, data, cyclic, stop])
        self.end = start + length if not cyclic else start
        if cyclic:
            self.end = math.inf  # a cyclic buffer plays until its buffer is closed
        return start

    def cancel_from(self, at: int) -> None:
        """Nothing plays from ``at`` on (the TX buffer was closed: queued blocks are dropped, a cyclic
        buffer stops)."""
        for seg in self._segments:
            seg[3] = max(seg[0], min(seg[3], at))
        self._segments = [s for s in self._segments if s[3] > s[0]]
        self.end = at

    @property
    def cyclic_active(self) -> bool:
        return any(s[2] and s[3] == math.inf for s in self._segments)

    def window(self, a: int, b: int) -> np.ndarray:
        """Samples a..b-1 (channels, b - a), zero where nothing was transmitted."""
        out = np.zeros((self.n_channels, b - a), np.complex128)
        for start, data, cyclic, stop in self._segments:
            lo, hi = max(a, start), min(b, stop)
            if hi <= lo:
                continue
            if cyclic:
                idx = (np.arange(lo, hi) - start) % data.shape[1]
                out[:, lo - a:hi - a] = data[:, idx]
            else:
                out[:, lo - a:hi - a] = data[:, lo - start:hi - start]
        return out

    def prune(self, before: int) -> None:
        """Forget segments that ended before ``before``."""
        self._segments = [s for s in self._segments if s[3] > before]


class RfLoop:
    """TX timeline -> paths -> RX samples, clocked by the capture (see the module docstring).

    Parameters
    ----------
    n_tx, n_rx : int
        Complex TX and RX channels; RX channel k hears TX channel k (an RX without a TX hears zeros).
    paths : sequence of LoopPath
        The channel; default one path, gain 1, no delay, no Doppler.
    noise_var : float
        Complex AWGN variance per sample, relative to full scale (E|n|^2); 0 for none.
    seed : int
        Seed of the noise generators (one per RX channel, so captures split anywhere agree).
    max_pending : int
        Most TX samples that may wait on the timeline while nothing captures.
    """

    def __init__(self, n_tx: int, n_rx: int, paths=(LoopPath(),), noise_var: float = 0.0, seed: int = 0,
                 max_pending: int = 1 << 20):
        self.n_tx, self.n_rx = int(n_tx), int(n_rx)
        self.timeline = TxTimeline(self.n_tx)
        self.clock = 0
        self.max_pending = int(max_pending)
        self.capturing = False
        self.skipped = 0
        self.seed = int(seed)
        self.set_channel(paths, noise_var)

    def set_channel(self, paths, noise_var: float = 0.0) -> None:
        ps = []
        for i, p in enumerate(paths):
            if not isinstance(p, LoopPath):
                try:
                    p = LoopPath(*p)
                except (TypeError, ValueError):
                    raise ConfigError.bad_value(f"paths[{i}]", p, "a LoopPath or (gain, delay, doppler_hz)") from None
            ps.append(p)
        self.paths = tuple(ps)
        self.noise_var = float(check_range("noise_var", float(noise_var), lo=0.0))
        self._rngs = [np.random.default_rng([self.seed, k]) for k in range(self.n_rx)]

    def transmit(self, data: np.ndarray, cyclic: bool) -> int:
        """Queue TX samples (channels, L), normalised; returns the start index on the timeline.

        If more than ``max_pending`` samples would wait, the clock moves on (the DAC plays in real
        time; RX samples skipped meanwhile are lost, as on a device whose capture is not read);
        ``skipped`` counts them.
        """
        start = self.timeline.schedule(data, self.clock, cyclic)
        if not cyclic:
            excess = self.timeline.end - self.clock - self.max_pending
            if excess > 0:
                self.clock += int(excess)
                self.skipped += int(excess)
        return start

    def skip(self, n: int) -> None:
        """``n`` RX samples pass uncaptured (a host that did not read in time): the clock moves on."""
        if n > 0:
            self.clock += int(n)
            self.skipped += int(n)
            self.timeline.prune(self.clock - 1088 - int(max((p.delay for p in self.paths), default=0)))

    def stop_tx(self) -> None:
        """The TX buffer was closed: what has not played yet is dropped, a cyclic buffer stops."""
        self.timeline.cancel_from(self.clock)

    def _tx(self, a: int, b: int, source) -> np.ndarray:
        x = self.timeline.window(a, b)
        if source is not None:
            extra = source(a, b)
            if extra is not None:
                x = x + extra
        return x

    def capture(self, n: int, sample_rate: float, lo_offset_hz: float = 0.0, bypass: bool = False,
                source=None) -> np.ndarray:
        """The next ``n`` RX samples per channel (n_rx, n), complex128 normalised to full scale.

        ``source(a, b)``, if given, adds a generated TX signal for samples a..b-1 ((n_tx, b - a) or None),
        e.g. the DDS tones of the emulated Pluto.
        """
        t = self.clock
        if bypass:  # digital loopback: the DAC samples straight back, no channel
            x = self._tx(t, t + n, source)
            y = np.zeros((self.n_rx, n), np.complex128)
            k = min(self.n_rx, self.n_tx)
            y[:k] = x[:k]
        else:
            chan_paths = []
            for p in self.paths:
                nu = p.doppler_hz / sample_rate + lo_offset_hz / sample_rate
                if abs(nu) <= 0.5:  # beyond +/- fs/2 the path is outside the captured band
                    chan_paths.append((p.gain, p.delay, nu))
            y = np.zeros((self.n_rx, n), np.complex128)
            if chan_paths:
                probe = DoublyDispersiveChannel([Path(g, d, 0.0) for g, d, _ in chan_paths])
                lo, hi = probe.support
                hi, ahead = max(hi, 0), max(-lo, 0)  # history needed, look-ahead of the interpolator
                a, b = t - hi, t + n + ahead
                x = self._tx(a, b, source)
                # Doppler phase referenced to absolute sample 0: fold exp(j 2 pi nu a) into each gain.
                chan = DoublyDispersiveChannel([
                    Path(g * np.exp(2j * np.pi * math.fmod(nu * a, 1.0)), d, nu) for g, d, nu in chan_paths])
                k = min(self.n_rx, self.n_tx)
                if k:
                    y[:k] = chan.apply(x[:k])[:, hi:hi + n]
            if self.noise_var > 0:
                s = math.sqrt(self.noise_var / 2)
                for r in range(self.n_rx):
                    z = self._rngs[r].standard_normal(2 * n)
                    y[r] += s * (z[0::2] + 1j * z[1::2])
        self.clock = t + n
        self.timeline.prune(self.clock - 1088 - int(max((p.delay for p in self.paths), default=0)))
        return y
