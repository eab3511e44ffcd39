"""The loopback mock: a Radio with no hardware, for tests and the demo.

:class:`MockRadio` is the Radio protocol (state machine, profile validation, metadata, typed stream
errors - all from :class:`~hil.backends.base.Radio`) over a swappable :class:`Transport` that moves
the samples. :class:`LoopbackTransport` (the default) is in-process: what is written to TX comes back
on RX, optionally through a :class:`LoopbackChannel` (dsp multipath, frequency offset, AWGN) and a
*front end* (``MockRadio(frontend=obj)``: a model of the device's analog impairments, see
:class:`FrontEnd`). :class:`hil.backends.zmq_transport.ZmqTransport` (the channel emulator, framed
mode) plugs into the same slot.

The mock honours the profile it stands in for: ``MockRadio("pluto_ad9363")`` refuses 70 GHz exactly
as the Pluto backend does. It is not paced in real time: time advances only as RX samples are read.

Timeline: RX and TX share one sample clock starting at 0 on ``start()``. A sample written at TX index
``k`` (``write(..., at_sample=k)``, or "now" = the next RX index) is received at RX index
``k + latency`` (+ the channel's own latency, see :class:`LoopbackChannel`). While a burst is open
(written without ``end_burst=True``) and RX reading passes its end, the transmitter has run dry: one
underflow event. Overflow, underflow and timeout can be injected for tests.
"""

from __future__ import annotations

import abc
import math
from collections import deque

import numpy as np

from hil.backends.base import Radio, RxChunk, TxEvent
from hil.errors import ConfigError, StreamError, StreamTimeout, check_range

__all__ = ["MockRadio", "Transport", "LoopbackTransport", "LoopbackChannel", "StreamingPaths", "FrontEnd",
           "check_frontend"]


class FrontEnd:
    """The protocol of a mock front end (duck-typed; subclassing this class is optional).

    A front end models what the device's analog chain does to the loopback signal (IQ imbalance, DC,
    LO leakage, a TX->RX latency, noise ...); :mod:`calibration.mock_frontend` has one. The loopback
    passes each RX channel's signal through it after the :class:`LoopbackChannel`.

    * ``bind(sample_rate)``: the radio's sample rate (Hz), called at every ``start()``; leaves the block
      at the start of a stream.
    * ``setting(name, value)``: a radio setting was applied (any of ``firmware_cfg.SETTINGS``; e.g.
      ``rx_frequency`` in Hz, ``rx_gain`` in dB); also before ``bind`` and while streaming.
    * ``process(x) -> y``: complex samples in, the same number out (a streaming block).
    * ``reset()``: back to the start of a stream.
    * ``latency``: int, samples of pipeline delay the block adds (the radio's TX->RX timeline includes it).
    * ``clone(channel_index) -> FrontEnd``: an independent block with the same settings for RX channel
      ``channel_index`` >= 1 (only needed with more than one RX channel).
    """

    latency = 0

    def bind(self, sample_rate: float) -> None:
        self.reset()

    def setting(self, name: str, value) -> None:  # noqa: B027 - optional
        """Most front ends ignore most settings."""

    def process(self, x) -> np.ndarray:
        return np.asarray(x, np.complex128)

    def reset(self) -> None:  # noqa: B027 - memoryless by default
        """Nothing to reset."""

    def clone(self, channel_index: int) -> FrontEnd:
        return type(self)()


_FRONTEND_API = ("bind", "setting", "process", "reset")


def check_frontend(obj, field_name: str = "frontend"):
    """``obj`` if it follows the :class:`FrontEnd` protocol, else ConfigError naming what is missing."""
    missing = [m for m in _FRONTEND_API if not callable(getattr(obj, m, None))]
    lat = getattr(obj, "latency", None)
    if isinstance(lat, bool) or not isinstance(lat, (int, np.integer)) or lat < 0:
        missing.append(f"latency (an int >= 0; got {lat!r})")
    if missing:
        raise ConfigError.bad_value(field_name, type(obj).__name__, "an object with bind(sample_rate), "
                                    "setting(name, value), process(x), reset() and an integer latency >= 0 "
                                    f"(missing: {', '.join(missing)})")
    return obj


class StreamingPaths:
    """A :class:`dsp.channel.DoublyDispersiveChannel` as a streaming block (state across calls).

    The dsp channel's fractional-delay interpolator looks up to ``lookahead`` samples ahead; to be
    causal (and so exactly chunk-split invariant) this block delays everything by ``lookahead``
    samples: ``process`` returns ``y[n - lookahead]`` of the model, with the Doppler phase referenced
    to the first sample ever processed (n = 0), not to each chunk.
    """

    def __init__(self, channel):
        from dsp.channel import DoublyDispersiveChannel, Path

        if not isinstance(channel, DoublyDispersiveChannel):
            channel = DoublyDispersiveChannel(channel)
        self.model = channel
        lo, _ = channel.support
        self.lookahead = max(0, -lo)
        L = self.lookahead
        # Same model delayed by L samples: tau -> tau + L, and the phase the path accumulated over L.
        self._paths = [Path(p.gain * np.exp(-2j * np.pi * math.fmod(p.doppler * L, 1.0)), p.delay + L, p.doppler)
                       for p in channel.paths]
        self._Path = Path
        self._Channel = DoublyDispersiveChannel
        causal = DoublyDispersiveChannel(self._paths)
        self.history = max(0, causal.support[1])
        self.reset()

    def reset(self) -> None:
        self._hist = np.zeros(self.history, np.complex128)
        self._pos = 0  # absolute index of the next input sample

    def process(self, x) -> np.ndarray:
        x = np.asarray(x, np.complex128)
        if x.ndim != 1:
            raise ConfigError.bad_value("x.ndim", x.ndim, "1 (a 1-D stream)")
        if not self._paths:
            self._pos += x.size
            return np.zeros(x.size, np.complex128)
        start = self._pos - self._hist.size  # absolute index of the concatenation's first sample
        # Re-reference each path's Doppler phase from the concatenation start to absolute index 0.
        paths = [self._Path(p.gain * np.exp(2j * np.pi * math.fmod(p.doppler * start, 1.0)), p.delay, p.doppler)
                 for p in self._paths]
        buf = np.concatenate([self._hist, x])
        y = self._Channel(paths).apply(buf)[self._hist.size:]
        if self.history:
            self._hist = buf[-self.history:].copy() if buf.size >= self.history else \
                np.concatenate([np.zeros(self.history - buf.size), buf])
        self._pos += x.size
        return y

    def __repr__(self) -> str:
        return f"StreamingPaths({len(self._paths)} paths, lookahead={self.lookahead}, at sample {self._pos})"


class LoopbackChannel:
    """What the loopback does to TX samples on their way to RX (a streaming block).

    Parameters
    ----------
    paths : DoublyDispersiveChannel | list of Path / (gain, delay, doppler) | None
        Multipath from :mod:`dsp.channel` (delay in samples, Doppler in cycles/sample); None: one
        ideal path (gain 1, no delay). Fractional delays add the interpolator's lookahead as latency.
    frequency_offset : float
        Carrier frequency offset in Hz (an NCO, :class:`dsp.nco.NcoRotator`); needs ``sample_rate``.
    frequency_rate : float
        Drift of that offset in Hz/s (e.g. a Doppler rate).
    noise_power : float
        AWGN power per complex sample (linear, full scale = 1.0); 0 for none.
    sample_rate : float | None
        Hz, for the NCO; set by the mock from the radio's sample rate when None.
    rng : numpy.random.Generator | int | None
        Generator (or seed) of the noise; required when ``noise_power > 0``.
    """

    def __init__(self, paths=None, *, frequency_offset: float = 0.0, frequency_rate: float = 0.0,
                 noise_power: float = 0.0, sample_rate: float | None = None, rng=None):
        check_range("noise_power", noise_power, lo=0.0)
        check_range("frequency_offset", frequency_offset, unit="Hz")
        check_range("frequency_rate", frequency_rate, unit="Hz/s")
        if noise_power > 0 and rng is None:
            raise ConfigError.bad_value("rng", None, "a numpy Generator or an integer seed when noise_power > 0")
        self._seed = rng
        self.noise_power = float(noise_power)
        self.frequency_offset = float(frequency_offset)
        self.frequency_rate = float(frequency_rate)
        self._paths_arg = paths
        self.paths = None if paths is None else StreamingPaths(paths)
        if sample_rate is not None:
            check_range("sample_rate", sample_rate, lo=1e-9, unit="Hz")
        self._user_rate = None if sample_rate is None else float(sample_rate)
        self.sample_rate = self._user_rate
        self.reset()

    @property
    def latency(self) -> int:
        """Samples of delay the channel adds beyond its paths' own delays (interpolator lookahead)."""
        return 0 if self.paths is None else self.paths.lookahead

    def bind(self, sample_rate: float) -> None:
        """Called by the mock with the radio's sample rate (Hz) before streaming."""
        self.sample_rate = self._user_rate if self._user_rate is not None else float(sample_rate)
        self.reset()

    def reset(self) -> None:
        if self.paths is not None:
            self.paths.reset()
        self._rng = (self._seed if isinstance(self._seed, np.random.Generator)
                     else np.random.default_rng(self._seed))
        self._nco = None
        if (self.frequency_offset or self.frequency_rate) and self.sample_rate:
            from dsp.nco import NcoRotator

            self._nco = NcoRotator(self.sample_rate, self.frequency_offset, self.frequency_rate)

    def process(self, x) -> np.ndarray:
        y = np.asarray(x, np.complex128) if self.paths is None else self.paths.process(x)
        if self.frequency_offset or self.frequency_rate:
            if self._nco is None:
                raise ConfigError.bad_value("sample_rate", self.sample_rate, "set (Hz) when a frequency offset is used")
            y = self._nco.process(y).astype(np.complex128)
        if self.noise_power > 0:
            # One draw of 2n normals read as n (re, im) pairs: sample k always gets draws 2k, 2k+1 of the
            # stream, so the noise does not depend on how the reads split the stream.
            w = self._rng.standard_normal(2 * y.size).view(np.complex128)
            y = y + math.sqrt(self.noise_power / 2) * w
        return y

    def __repr__(self) -> str:
        parts = []
        if self.paths is not None:
            parts.append(f"{len(self.paths.model.paths)} paths")
        if self.frequency_offset or self.frequency_rate:
            parts.append(f"offset {self.frequency_offset:g} Hz + {self.frequency_rate:g} Hz/s")
        if self.noise_power:
            parts.append(f"AWGN {10 * math.log10(self.noise_power):.1f} dBFS")
        return f"LoopbackChannel({', '.join(parts) or 'ideal'})"


class Transport(abc.ABC):
    """How a :class:`MockRadio` moves samples (in-process loopback, or ZeroMQ to the emulator).

    The radio has validated everything before a transport sees it; a transport only moves samples and
    reports stream events. Sample indices are on the shared RX/TX clock that starts at 0.
    """

    def open(self, radio: MockRadio) -> None:  # noqa: B027 - optional hook, no-op by default
        """Connect (called by ``MockRadio.open``)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Disconnect; must be safe to call twice."""

    def configure(self, name: str, value) -> None:  # noqa: B027 - optional hook
        """A setting was applied (sample rate, frequencies: the framed wire format carries them)."""

    @abc.abstractmethod
    def start(self, n_rx: int, n_tx: int, sample_rate: float) -> None: ...

    @abc.abstractmethod
    def stop(self) -> None: ...

    @abc.abstractmethod
    def receive(self, n: int, timeout: float | None) -> RxChunk: ...

    @abc.abstractmethod
    def send(self, x: np.ndarray, at_sample: int | None, end_burst: bool, timeout: float | None) -> int: ...

    def poll_tx(self) -> list[TxEvent]:
        return []

    # -- fault injection (tests): the host side loses, stalls or reports, as a real driver would ----
    @property
    def _inject(self) -> deque:
        q = self.__dict__.get("_injected")
        if q is None:
            q = self.__dict__["_injected"] = deque()
        return q

    def inject_overflow(self, count: int) -> None:
        """The next receive loses ``count`` samples (an RX overflow)."""
        self._inject.append(("overflow", int(check_range("count", count, lo=1))))

    def inject_underflow(self, count: int = 1) -> None:
        """Report a TX underflow of ``count`` samples at the next status poll."""
        self._inject.append(("underflow", int(check_range("count", count, lo=1))))

    def inject_timeout(self) -> None:
        """The next receive times out."""
        self._inject.append(("timeout", None))

    def _take_injected(self, kind):
        """Remove and return the first pending injected fault of ``kind`` (None if there is none)."""
        for item in list(self._inject):
            if item[0] == kind:
                self._inject.remove(item)
                return item
        return None


class LoopbackTransport(Transport):
    """In-process loopback: TX feeds RX through a :class:`LoopbackChannel`; RX channel j hears TX
    channel ``j % n_tx``. Every sample is returned unless an overflow is injected; the mock's ADC
    saturates at +/-1.0 (counted in ``ReadMeta.clipped``).

    latency : int
        Fixed TX->RX delay in samples (the channel's and the front end's own latency come on top).
    frontend : FrontEnd | None
        Device impairments after the channel (see :class:`FrontEnd`); RX channel j >= 1 gets
        ``frontend.clone(j)``.
    """

    def __init__(self, channel: LoopbackChannel | None = None, *, latency: int = 0, frontend=None):
        if channel is not None and not isinstance(channel, LoopbackChannel):
            raise ConfigError.bad_value("channel", type(channel).__name__, "a LoopbackChannel or None")
        if isinstance(latency, bool) or not isinstance(latency, int) or latency < 0:
            raise ConfigError.bad_value("latency", latency, "an integer >= 0 (samples)")
        self.channel = channel
        self.latency = latency
        self.frontend = None if frontend is None else check_frontend(frontend)
        self._fronts = []
        self._inject.clear()
        self._running = False

    def configure(self, name: str, value) -> None:
        for fe in self._fronts or ([self.frontend] if self.frontend is not None else []):
            fe.setting(name, value)

    # -- transport -----------------------------------------------------------------------------
    def start(self, n_rx: int, n_tx: int, sample_rate: float) -> None:
        self.n_rx, self.n_tx = n_rx, n_tx
        self._rx_pos = 0
        self._tx = deque()  # (start index on the TX clock, complex64 (n_tx, k))
        self._tx_end = 0
        self._burst_open = False
        self._events: list[TxEvent] = []
        self._chans = []
        if self.channel is not None:
            self.channel.bind(sample_rate)
            # one independent channel state per RX channel; the first reuses the configured object
            extra = [LoopbackChannel(
                self.channel._paths_arg, frequency_offset=self.channel.frequency_offset,
                frequency_rate=self.channel.frequency_rate, noise_power=self.channel.noise_power,
                sample_rate=self.channel._user_rate,
                rng=None if self.channel._seed is None else np.random.default_rng([j, 0xC4A1]))
                for j in range(1, n_rx)]
            for c in extra:
                c.bind(sample_rate)
            self._chans = [self.channel, *extra]
        self._fronts = []
        if self.frontend is not None:
            if n_rx > 1 and not callable(getattr(self.frontend, "clone", None)):
                raise ConfigError.bad_value("rx_channels", n_rx, f"1 ({type(self.frontend).__name__} has no "
                                            "clone(channel_index) for more RX channels)")
            self._fronts = [self.frontend, *(check_frontend(self.frontend.clone(j), f"frontend.clone({j})")
                                             for j in range(1, n_rx))]
            for fe in self._fronts:
                fe.bind(sample_rate)
                fe.reset()
        self._delay = (self.latency + (self.channel.latency if self.channel is not None else 0)
                       + (int(self.frontend.latency) if self.frontend is not None else 0))
        self._running = True

    def stop(self) -> None:
        self._running = False

    def _produce(self, n: int) -> np.ndarray:
        """RX samples [rx_pos, rx_pos + n): the TX timeline shifted by the latency, through the channel."""
        a = self._rx_pos - self.latency  # TX index that lands on the first RX sample (before the channel)
        tx = np.zeros((self.n_tx, n), np.complex64)
        while self._tx and self._tx[0][0] + self._tx[0][1].shape[1] <= a:
            self._tx.popleft()  # fully in the past
        for start, block in self._tx:
            lo, hi = max(a, start), min(a + n, start + block.shape[1])
            if lo < hi:
                tx[:, lo - a:hi - a] = block[:, lo - start:hi - start]
            if start >= a + n:
                break
        rx = np.empty((self.n_rx, n), np.complex64)
        for j in range(self.n_rx):
            src = tx[j % self.n_tx]
            y = self._chans[j].process(src) if self._chans else src
            rx[j] = self._fronts[j].process(y) if self._fronts else y
        self._rx_pos += n
        # Transmitter ran dry: a burst still open whose last sample has already been received.
        if self._burst_open and self._tx_end + self._delay < self._rx_pos:
            self._events.append(TxEvent("underflow", self._rx_pos - self._delay - self._tx_end, self._tx_end))
            self._burst_open = False
        return rx

    def receive(self, n: int, timeout: float | None) -> RxChunk:
        if not self._running:
            raise StreamError("loopback transport is not running")
        if self._take_injected("timeout"):
            raise StreamTimeout(f"loopback: injected timeout (no samples within {timeout} s)")
        lost = 0
        ov = self._take_injected("overflow")
        if ov is not None:
            lost = ov[1]
            self._produce(lost)  # the lost samples still pass through the channel (its state moves on)
        start = self._rx_pos
        rx = self._produce(n)
        if self._chans or self._fronts:
            # ADC saturation: the real device clips too; say how many samples it hit.
            over = (np.abs(rx.real) > 1.0) | (np.abs(rx.imag) > 1.0)
            clipped = int(over.any(axis=0).sum())
            if clipped:
                np.clip(rx.real, -1.0, 1.0, out=rx.real)
                np.clip(rx.imag, -1.0, 1.0, out=rx.imag)
        else:
            clipped = 0
        return RxChunk(rx, start, lost, None, clipped)

    def send(self, x: np.ndarray, at_sample: int | None, end_burst: bool, timeout: float | None) -> int:
        if not self._running:
            raise StreamError("loopback transport is not running")
        now = self._rx_pos - self._delay  # the TX index that would be received next
        if at_sample is not None:
            if at_sample < max(now, 0):
                raise StreamError(f"loopback: timed burst late: at_sample {at_sample} is already past "
                                  f"(the next TX sample to be received is {now}); nothing was sent",
                                  sample_index=at_sample)
            if at_sample < self._tx_end:
                raise StreamError(f"loopback: timed burst at {at_sample} overlaps queued samples up to "
                                  f"{self._tx_end}; nothing was sent", sample_index=at_sample)
            start = at_sample
        else:
            start = self._tx_end if (self._burst_open and self._tx_end >= now) else max(now, self._tx_end, 0)
        self._tx.append((start, x.copy()))
        self._tx_end = start + x.shape[1]
        self._burst_open = not end_burst
        return x.shape[1]

    def poll_tx(self) -> list[TxEvent]:
        ev, self._events = self._events, []
        while (item := self._take_injected("underflow")) is not None:
            ev.append(TxEvent("underflow", item[1], None, "injected"))
        return ev

    def __repr__(self) -> str:
        fe = "" if self.frontend is None else f", frontend={self.frontend!r}"
        return f"LoopbackTransport({self.channel!r}, latency={self.latency}{fe})"


class MockRadio(Radio):
    """A Radio with no hardware (see the module docstring).

    Parameters
    ----------
    profile : str | Profile
        Whose limits to honour ("mock" by default; any profile works, e.g. "pluto_ad9363").
    uri : str | None
        Informational only for the loopback.
    channel : LoopbackChannel | None
        Impairments between TX and RX (loopback transport only); None: an ideal wire, bit-exact.
    latency : int
        TX->RX delay in samples (loopback transport only).
    frontend : FrontEnd | None
        Device impairments after the channel (loopback transport only; see :class:`FrontEnd`).
    transport : Transport | None
        Replaces the in-process loopback (e.g. :class:`hil.backends.zmq_transport.ZmqTransport`).
    serial : str | None
        The serial this mock reports (:attr:`Radio.serial`). None (default): no serial - a mock is no
        particular device, so it never picks up a stored calibration; give one to make it a device.
    calibration : bool | str | PathLike | Calibration
        See :class:`~hil.backends.base.Radio` (applies only when a serial is set, or given directly).
    stream_errors : "raise" | "mark"
        See :class:`~hil.backends.base.Radio`.
    """

    def __init__(self, profile="mock", uri: str | None = None, *, channel: LoopbackChannel | None = None,
                 latency: int = 0, frontend=None, transport: Transport | None = None, serial: str | None = None,
                 calibration=True, stream_errors: str = "raise"):
        if serial is not None and (not isinstance(serial, str) or not serial.strip()):
            raise ConfigError.bad_value("serial", serial, "None or a non-empty string")
        self._serial = serial
        super().__init__(profile, uri, stream_errors=stream_errors, calibration=calibration)
        if transport is None:
            transport = LoopbackTransport(channel, latency=latency, frontend=frontend)
        elif channel is not None or latency or frontend is not None:
            raise ConfigError.bad_value("channel/latency/frontend", (channel, latency, frontend),
                                        "unset when a transport is given (the transport owns them)")
        if not isinstance(transport, Transport):
            raise ConfigError.bad_value("transport", type(transport).__name__, "a hil.backends.mock.Transport")
        self.transport = transport

    @property
    def frontend(self):
        """The transport's front end (None without one)."""
        return getattr(self.transport, "frontend", None)

    def _read_serial(self) -> str | None:
        return self._serial

    # -- injection for tests (loopback and ZeroMQ transports) ------------------------------------
    def _injector(self, what: str):
        fn = getattr(self.transport, f"inject_{what}", None)
        if not callable(fn):
            raise ConfigError.bad_value("transport", type(self.transport).__name__,
                                        f"a transport with inject_{what}() (LoopbackTransport, ZmqTransport)")
        return fn

    def inject_overflow(self, count: int) -> None:
        """Make the next read lose ``count`` samples (RX overflow)."""
        self._injector("overflow")(count)

    def inject_underflow(self, count: int = 1) -> None:
        """Report a TX underflow of ``count`` samples at the next write/read."""
        self._injector("underflow")(count)

    def inject_timeout(self) -> None:
        """Make the next read time out."""
        self._injector("timeout")()

    # -- hooks -----------------------------------------------------------------------------------
    def _open(self) -> None:
        self.transport.open(self)

    def _close(self) -> None:
        self.transport.close()

    def _apply(self, name: str, value):
        self.transport.configure(name, value)
        return None

    def _start(self) -> None:
        self.transport.start(self.n_rx, self.n_tx, self.get("sample_rate"))

    def _stop(self) -> None:
        self.transport.stop()

    def _receive(self, n: int, timeout: float | None) -> RxChunk:
        return self.transport.receive(n, timeout)

    def _send(self, x, at_sample, end_burst, timeout) -> int:
        return self.transport.send(x, at_sample, end_burst, timeout)

    def _poll_tx(self) -> list[TxEvent]:
        return self.transport.poll_tx()

    def describe(self) -> str:
        return f"MockRadio({self.profile.name}{'' if self._serial is None else ', serial ' + self._serial})"
