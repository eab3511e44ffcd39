"""The one Radio protocol: every backend (mock, Pluto, SoapySDR) is driven the same way.

Life cycle (a state machine; a call in the wrong state raises :class:`~hil.errors.DeviceError` saying
what to call first, it never hangs)::

    closed --open()--> open --configure(**settings)--> configured --start()--> streaming
       ^                 |                                 ^   |                  |
       +----close()------+-----------close()---------------+   +------stop()------+

    with MockRadio("pluto_ad9363") as radio:         # open() on enter, close() on exit
        radio.configure(sample_rate=2.5e6, rx_frequency=2.4e9)   # the rest from the profile defaults
        radio.start()
        radio.write(tx)                               # complex64, |I|, |Q| <= 1.0
        samples, meta = radio.read(4096)              # meta.sample_index, .host_time, .overflows, ...

Samples are complex64 normalised to +/-1.0 full scale at this API; device scaling lives inside each
backend. With one channel a read returns shape ``(n,)``; with several ``(channels, n)``.

Settings (:data:`firmware_cfg.SETTINGS`) are properties: the setter validates the value against the
active profile (ConfigError with the profile's allowed range) and applies it; the getter reads back
the value actually applied (quantised by the profile's step, or as the device reports it).

Stream problems are typed: :class:`~hil.errors.StreamOverflow` (samples lost on receive),
:class:`~hil.errors.StreamUnderflow` (transmitter ran dry), :class:`~hil.errors.StreamTimeout`.
With ``stream_errors="raise"`` (default) they are raised; ``"mark"`` only records them in the
metadata and counters (for recorders that annotate gaps). Either way nothing is hidden: the sample
index stays absolute across a gap and the first block after a gap carries ``lost``/``discontinuity``.

Identity and calibration: ``radio.serial`` (with the profile name) identifies a device. At every
``start()`` the radio looks up the stored calibration of (profile, serial) with
:func:`calibration.load_for` (store root ``$HIL_CALIBRATION_DIR``) and, when one exists, applies its
RX correction to every block it receives and its TX pre-correction to every block it sends (channel 0
of the device, the chain the procedure measured); ``ReadMeta.calibration`` and
``radio.calibration`` say which. ``Radio(..., calibration=False)`` turns this off; a path (a store
directory or one ``.json`` file) or a :class:`calibration.Calibration` chooses another source. A
radio with no known serial looks nothing up.

Backends implement the ``_open``, ``_close``, ``_apply``, ``_start``, ``_stop``, ``_receive``,
``_send`` and ``_poll_tx`` hooks (``_read_serial`` where the device has a serial); the public
methods here own the state machine, the validation, calibration and the bookkeeping, so all backends
behave alike.
"""

from __future__ import annotations

import abc
import enum
import logging
import os
import time
from dataclasses import dataclass, field

import numpy as np

from firmware_cfg import SETTINGS, Profile, load_profile
from hil.errors import ConfigError, DeviceError, StreamTimeout, stream_error

__all__ = ["Radio", "RadioState", "ReadMeta", "RxChunk", "TxEvent", "SETTINGS", "MAX_READ", "serial_from_info"]

log = logging.getLogger(__name__)

#: Largest single read (samples per channel); bigger requests are almost always a unit mistake.
MAX_READ = 1 << 26


class RadioState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    CONFIGURED = "configured"
    STREAMING = "streaming"


@dataclass(frozen=True)
class ReadMeta:
    """Metadata of one block returned by :meth:`Radio.read`.

    sample_index : int
        Absolute index (samples since ``start()``, lost samples included) of the block's first sample.
    host_time : float
        Host clock (``time.time()``, s since the UNIX epoch) when the block was returned.
    overflows, underflows : int
        Overflow (RX) and underflow (TX) events since ``start()``.
    lost : int | None
        Samples lost immediately before this block (0: contiguous with the previous block; None: lost
        an unknown number, e.g. a device without timestamps reported an overflow).
    hw_time_ns : int | None
        Device timestamp of the first sample in ns, where the device has one (SoapySDR HAS_TIME).
    clipped : int
        Samples in this block at or beyond full scale in I or Q (ADC saturation), where known.
    duplicates, reordered : int
        Frames dropped since ``start()`` because they repeated one already received, or came after later
        ones (transports with framed headers, e.g. the emulator client; 0 elsewhere).
    calibration : str | None
        The calibration applied to this block (its file, or ``profile/serial@created`` for one given
        as an object); None: uncorrected.
    """

    sample_index: int
    host_time: float
    overflows: int = 0
    underflows: int = 0
    lost: int | None = 0
    hw_time_ns: int | None = None
    clipped: int = 0
    duplicates: int = 0
    reordered: int = 0
    calibration: str | None = None

    @property
    def discontinuity(self) -> bool:
        """True when samples were lost right before this block (timing must be re-synchronised)."""
        return self.lost != 0


@dataclass
class RxChunk:
    """What a backend's ``_receive`` returns: up to n samples, contiguous on the RX timeline.

    ``samples`` has shape (channels, k), complex64. ``lost`` > 0 (or None) marks a gap before it.
    """

    samples: np.ndarray
    sample_index: int
    lost: int | None = 0
    hw_time_ns: int | None = None
    clipped: int = 0
    raised: bool = False  # the overflow before it was already raised once
    duplicates: int = 0  # frames dropped as duplicates since the previous chunk (framed transports)
    reordered: int = 0  # frames dropped as out of order since the previous chunk


@dataclass(frozen=True)
class TxEvent:
    """A TX status event found by a backend's ``_poll_tx``: kind "underflow", "late" (time error) or "error"."""

    kind: str
    count: int | None = None
    sample_index: int | None = None
    detail: str = ""


class _Setting:
    """Descriptor: a validated, read-back radio setting (see :meth:`Radio.set`)."""

    def __init__(self, name: str, doc: str):
        self.name = name
        self.__doc__ = doc

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return obj.get(self.name)

    def __set__(self, obj, value):
        obj.set(self.name, value)


@dataclass
class _Counters:
    overflows: int = 0
    underflows: int = 0
    late: int = 0
    lost_samples: int = 0
    duplicates: int = 0
    reordered: int = 0
    rx_samples: int = 0
    tx_samples: int = 0
    unreported_tx: list = field(default_factory=list)


class Radio(abc.ABC):
    """Abstract radio; see the module docstring for the protocol.

    Parameters
    ----------
    profile : str | Profile
        firmware_cfg profile name (or a loaded Profile) whose limits every setting is checked against.
    uri : str | None
        Device URI / SoapySDR args; None uses the profile's ``default_uri``.
    stream_errors : "raise" | "mark"
        Whether overflow/underflow/late events raise (default) or are only recorded in the metadata.
    calibration : bool | str | os.PathLike | calibration.Calibration
        True (default): apply the stored calibration of (profile, :attr:`serial`) if there is one (none:
        a WARNING, the radio runs uncorrected); ``"required"``: the same, but ``start()`` raises ConfigError
        when there is none (for a scenario that needs calibrated radios); False: never; a directory: look
        it up in that store instead of ``$HIL_CALIBRATION_DIR`` (a store that does not exist yet holds
        nothing); a ``.json`` file: that calibration (ConfigError if it is
        missing); a Calibration object: that one. Also settable later as
        :attr:`use_calibration` (it takes effect at the next ``start()``).
    """

    #: the firmware_cfg ``backend`` values this class can drive (a mock drives any)
    backends: tuple[str, ...] = ()
    #: settings that cannot change while streaming (the stream must be set up again)
    static_while_streaming = frozenset({"rx_channels", "tx_channels", "sample_rate"})

    sample_rate = _Setting("sample_rate", "Sample rate in Hz (RX and TX share it).")
    rx_frequency = _Setting("rx_frequency", "RX LO (centre) frequency in Hz.")
    tx_frequency = _Setting("tx_frequency", "TX LO (centre) frequency in Hz.")
    rx_gain = _Setting("rx_gain", "RX gain in dB (only in gain mode 'manual').")
    tx_gain = _Setting("tx_gain", "TX gain in dB (Pluto: attenuation, <= 0 dB).")
    rx_bandwidth = _Setting("rx_bandwidth", "RX analog bandwidth in Hz.")
    tx_bandwidth = _Setting("tx_bandwidth", "TX analog bandwidth in Hz.")
    rx_gain_mode = _Setting("rx_gain_mode", "RX gain control: 'manual' or an automatic mode of the profile.")
    tx_gain_mode = _Setting("tx_gain_mode", "TX gain control (normally only 'manual').")
    rx_antenna = _Setting("rx_antenna", "RX antenna port name (None where the device has no switch).")
    tx_antenna = _Setting("tx_antenna", "TX antenna port name (None where the device has no switch).")
    rx_channels = _Setting("rx_channels", "Tuple of enabled RX channel numbers (default (0,)).")
    tx_channels = _Setting("tx_channels", "Tuple of enabled TX channel numbers (default (0,)).")

    def __init__(self, profile: str | Profile = "mock", uri: str | None = None, *, stream_errors: str = "raise",
                 calibration=True):
        self.profile = load_profile(profile)
        if self.backends and self.profile.backend not in self.backends:
            raise ConfigError.bad_value("profile", self.profile.name,
                                        f"a profile for backend {' or '.join(self.backends)} "
                                        f"(this one is for {self.profile.backend!r})")
        self.uri = uri if uri is not None else self.profile.default_uri
        if stream_errors not in ("raise", "mark"):
            raise ConfigError.bad_value("stream_errors", stream_errors, "'raise' or 'mark'")
        self.stream_errors = stream_errors
        self._state = RadioState.CLOSED
        self._applied: dict[str, object] = {}
        self._counters = _Counters()
        self._pending: list[RxChunk] = []
        self._next_index = 0
        self.use_calibration = calibration
        self._cal = None
        self._cal_rx = None  # (row in the RX block, RxCorrector)
        self._cal_tx = None  # (row in the TX block, TxPrecorrector)

    # -- state machine ---------------------------------------------------------------------------
    @property
    def state(self) -> RadioState:
        return self._state

    @property
    def is_open(self) -> bool:
        return self._state is not RadioState.CLOSED

    @property
    def streaming(self) -> bool:
        return self._state is RadioState.STREAMING

    def _require(self, what: str, *states: RadioState):
        if self._state in states:
            return
        hint = {RadioState.CLOSED: "open() it first (or use it as a context manager)",
                RadioState.OPEN: "configure() it first (configure() alone applies the profile defaults)",
                RadioState.CONFIGURED: "start() it first",
                RadioState.STREAMING: "stop() it first"}[self._state]
        allowed = " or ".join(s.value for s in states)
        raise DeviceError(f"{self.describe()}: {what} needs the radio {allowed}, but it is "
                          f"{self._state.value}; {hint}")

    def describe(self) -> str:
        return f"{type(self).__name__}({self.profile.name}, {self.uri})"

    def open(self) -> Radio:
        """Connect to the device (no settings are changed yet). Returns self."""
        self._require("open()", RadioState.CLOSED)
        self._open()
        self._state = RadioState.OPEN
        self._applied = {}
        return self

    def configure(self, **settings) -> Radio:
        """Apply ``settings`` (names from :data:`SETTINGS`), then the profile default of every setting
        never applied yet. Order: rate before bandwidths, frequency before gains. Returns self."""
        self._require("configure()", RadioState.OPEN, RadioState.CONFIGURED, RadioState.STREAMING)
        unknown = [k for k in settings if k not in SETTINGS]
        if unknown:
            raise ConfigError.bad_value(unknown[0], settings[unknown[0]],
                                        "no such setting; known settings: " + ", ".join(SETTINGS))
        for name in SETTINGS:
            if name in settings:
                defer = name.endswith("_frequency") and f"{name[:2]}_gain" in settings
                self.set(name, settings[name], _defer_gain_check=defer)
            elif name not in self._applied:
                default = self.profile.default(name)
                if name.endswith("_gain") and self.get(f"{name}_mode") != "manual":
                    continue
                if name.endswith("_antenna") and default is None and not self.profile.direction(name[:2]).antennas:
                    self._applied[name] = None
                    continue
                self.set(name, default)
        if self._state is RadioState.OPEN:
            self._state = RadioState.CONFIGURED
        return self

    def start(self) -> None:
        """Start streaming (RX and TX). Sample indices restart at 0; counters are reset."""
        self._require("start()", RadioState.CONFIGURED)
        self._counters = _Counters()
        self._pending = []
        self._next_index = 0
        self._load_calibration()
        self._start()
        self._state = RadioState.STREAMING

    def stop(self) -> None:
        """Stop streaming; settings stay applied. No-op unless streaming."""
        if self._state is RadioState.STREAMING:
            try:
                self._stop()
            finally:
                self._state = RadioState.CONFIGURED

    def close(self) -> None:
        """Stop and release the device. Safe to call twice."""
        if self._state is RadioState.CLOSED:
            return
        try:
            self.stop()
        finally:
            try:
                self._close()
            finally:
                self._state = RadioState.CLOSED
                self._pending = []

    def __enter__(self) -> Radio:
        if self._state is RadioState.CLOSED:
            self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- settings --------------------------------------------------------------------------------
    def set(self, name: str, value, *, _defer_gain_check: bool = False) -> None:
        """Validate ``value`` for setting ``name`` against the profile and apply it (or raise)."""
        if name not in SETTINGS:
            raise ConfigError.bad_value("setting", name, "one of " + ", ".join(SETTINGS))
        self._require(f"setting {name}", RadioState.OPEN, RadioState.CONFIGURED, RadioState.STREAMING)
        if self._state is RadioState.STREAMING and name in self.static_while_streaming:
            raise DeviceError(f"{self.describe()}: {name} cannot change while streaming; stop() first")
        side = name[:2]
        kw = {}
        if name.endswith("_gain"):
            mode = self._applied.get(f"{side}_gain_mode", self.profile.default(f"{side}_gain_mode"))
            if mode != "manual":
                # pyadi-iio silently ignores a gain outside manual mode; refuse instead.
                raise ConfigError.bad_value(name, value, f"a gain only in {side}_gain_mode 'manual' "
                                            f"(the mode is {mode!r}; set {side}_gain_mode='manual' first)")
            kw["frequency"] = self._applied.get(f"{side}_frequency", self.profile.default(f"{side}_frequency"))
        if name == "sample_rate":
            kw["channels"] = max(len(self._applied.get("rx_channels", (0,))),
                                 len(self._applied.get("tx_channels", (0,))))
        q = self.profile.check(name, value, **kw)
        if name.endswith("_channels"):
            other = max(len(q), len(self._applied.get(("tx" if side == "rx" else "rx") + "_channels", (0,))))
            if "sample_rate" in self._applied:
                self.profile.check("sample_rate", self._applied["sample_rate"], channels=other,
                                   field_name=f"sample_rate (with {name}={q})")
        gain = self._applied.get(f"{side}_gain")
        if name.endswith("_frequency") and gain is not None and not _defer_gain_check:
            # The gain range depends on the LO band: refuse a retune that would leave the applied gain
            # outside it (the driver would silently clamp it).
            try:
                self.profile.check(f"{side}_gain", gain, frequency=q)
            except ConfigError:
                raise ConfigError.bad_value(
                    name, value, f"a frequency where the applied {side}_gain {gain:g} dB is allowed; at "
                    f"{self.profile.allowed(name)} the gain range there is "
                    f"{self.profile.allowed(side + '_gain', frequency=q)} - set {side}_gain first, or both "
                    f"together with configure() (profile {self.profile.name})") from None
        applied = self._apply(name, q)
        self._applied[name] = q if applied is None else applied
        if self._cal is not None and name in ("rx_frequency", "rx_gain", "rx_gain_mode"):
            self._build_correctors()  # the gain table depends on the LO frequency and the gain
        if isinstance(q, float) and q != value:
            log.debug("%s: %s %r quantised to %r", self.describe(), name, value, q)

    def get(self, name: str):
        """The applied value of setting ``name`` (as read back from the device where it can)."""
        if name not in SETTINGS:
            raise ConfigError.bad_value("setting", name, "one of " + ", ".join(SETTINGS))
        self._require(f"reading {name}", RadioState.OPEN, RadioState.CONFIGURED, RadioState.STREAMING)
        if name not in self._applied:
            if name.endswith("_gain_mode") or name.endswith("_channels"):
                return self.profile.default(name)
            raise DeviceError(f"{self.describe()}: {name} has not been set yet; configure() applies "
                              f"the profile defaults")
        return self._read_back(name, self._applied[name])

    def settings(self) -> dict:
        """All applied settings (name -> value), for logs and capture metadata."""
        return {n: self._read_back(n, self._applied[n]) for n in SETTINGS if n in self._applied}

    @property
    def n_rx(self) -> int:
        return len(self._applied.get("rx_channels", (0,)))

    @property
    def n_tx(self) -> int:
        return len(self._applied.get("tx_channels", (0,)))

    # -- identity and calibration ----------------------------------------------------------------
    @property
    def serial(self) -> str | None:
        """The device's serial number (with the profile it identifies a device, e.g. for calibration);
        None where the backend does not know it (some need the device open to read it)."""
        v = self._read_serial()
        return None if v is None or v == "" else str(v)

    @property
    def use_calibration(self):
        """Where calibration comes from at the next ``start()`` (see the ``calibration`` parameter)."""
        return self._use_cal

    @use_calibration.setter
    def use_calibration(self, value):
        ok = isinstance(value, (bool, str, os.PathLike)) or (
            hasattr(value, "rx_corrector") and hasattr(value, "tx_corrector") and hasattr(value, "record"))
        if not ok or (isinstance(value, str) and not value):
            raise ConfigError.bad_value("calibration", value, "True (the stored calibration of profile + serial), "
                                        "'required' (the same, and start() fails without one), False, a store "
                                        "directory, a calibration .json file or a calibration.Calibration")
        self._use_cal = value

    @property
    def calibration(self):
        """The :class:`calibration.Calibration` applied while streaming (None: uncorrected)."""
        return self._cal

    def calibration_info(self) -> dict | None:
        """What is applied, for logs and capture metadata: the calibration's ``describe()`` plus which RX
        and TX channels are corrected. None when nothing is."""
        if self._cal is None:
            return None
        d = dict(self._cal.describe())
        rx_ch = self._applied.get("rx_channels", (0,))
        tx_ch = self._applied.get("tx_channels", (0,))
        d["rx_channels"] = [] if self._cal_rx is None else [rx_ch[self._cal_rx[0]]]
        d["tx_channels"] = [] if self._cal_tx is None else [tx_ch[self._cal_tx[0]]]
        return d

    def _cal_label(self) -> str | None:
        cal = self._cal
        if cal is None:
            return None
        if getattr(cal, "path", None):
            return str(cal.path)
        r = cal.record
        return f"{r.profile}/{r.serial}@{r.created_utc}"

    def _load_calibration(self) -> None:
        """Find the calibration to apply for this stream (called by ``start()``)."""
        self._cal = self._cal_rx = self._cal_tx = None
        src = self._use_cal
        if src is False:
            return
        fs = self._applied.get("sample_rate")
        fc = self._applied.get("rx_frequency")
        is_file = isinstance(src, (str, os.PathLike)) and (os.path.isfile(src)
                                                          or os.fspath(src).lower().endswith(".json"))
        required = isinstance(src, str) and src == "required"  # the default store, and fail if it has none
        if src is True or required or (isinstance(src, (str, os.PathLike)) and not is_file):  # a store
            serial = self.serial
            if serial is None:
                if required:
                    raise ConfigError.bad_value("calibration", "required", f"a radio with a known serial "
                                                f"({self.describe()} reports none)")
                log.info("%s: serial unknown; no calibration looked up", self.describe())
                return
            from calibration.apply import load_for  # logs a WARNING when there is none (raises if required)

            cal = load_for(self.profile.name, _safe_serial(serial),
                           directory=None if (src is True or required) else src,
                           sample_rate=fs, frequency=fc, required=required)
            if cal is None:
                return
        elif isinstance(src, (str, os.PathLike)):
            from calibration.apply import load_file

            cal = load_file(src, profile=self.profile.name, serial=self.serial, sample_rate=fs, frequency=fc)
        else:
            cal = src
        self._cal = cal
        self._build_correctors()
        log.info("%s: applying calibration %s", self.describe(), self._cal_label())

    def _build_correctors(self) -> None:
        """RX/TX correctors for the current settings. The record describes one RX and one TX chain (the
        procedure measures channel 0), so only channel 0 is corrected where it is enabled."""
        cal = self._cal
        self._cal_rx = self._cal_tx = None
        if cal is None:
            return
        rx_ch = tuple(self._applied.get("rx_channels", (0,)))
        tx_ch = tuple(self._applied.get("tx_channels", (0,)))
        if 0 in rx_ch:
            gain = self._applied.get("rx_gain") if self.get("rx_gain_mode") == "manual" else None
            self._cal_rx = (rx_ch.index(0), cal.rx_corrector(frequency=self._applied.get("rx_frequency"),
                                                             rx_gain=gain))
        r = cal.record
        if 0 in tx_ch and (r.tx_iq_beta != 0 or r.tx_leak_add != 0):
            self._cal_tx = (tx_ch.index(0), cal.tx_corrector())

    def _correct_rx(self, s: np.ndarray) -> np.ndarray:
        if self._cal_rx is None or s.shape[1] == 0:
            return s
        row, fix = self._cal_rx
        s = np.array(s, dtype=np.complex64, copy=True)
        s[row] = fix.process(s[row])
        return s

    def _precorrect_tx(self, x: np.ndarray) -> np.ndarray:
        if self._cal_tx is None:
            return x
        row, fix = self._cal_tx
        x = x.copy()
        x[row] = fix.process(x[row])
        peak = float(np.max(np.maximum(np.abs(x[row].real), np.abs(x[row].imag))))
        if peak > 1.0:
            raise ConfigError.bad_value("samples", f"peak |I|/|Q| {peak:.6g} after the TX pre-correction of "
                                        f"{self._cal_label()}", "<= 1.0 full scale: leave the pre-correction "
                                        f"headroom (scale the signal by <= {1 / peak:.6f}; nothing is clipped "
                                        "silently)")
        return x

    # -- streaming -------------------------------------------------------------------------------
    @property
    def overflows(self) -> int:
        return self._counters.overflows

    @property
    def underflows(self) -> int:
        return self._counters.underflows

    @property
    def lost_samples(self) -> int:
        """RX samples known to be lost since start()."""
        return self._counters.lost_samples

    def read(self, n: int, timeout: float | None = 1.0) -> tuple[np.ndarray, ReadMeta]:
        """Receive ``n`` samples per channel.

        Returns (samples, meta): complex64, shape (n,) for one channel or (channels, n). Fewer than
        ``n`` come back only right before a discontinuity (the next read has ``meta.lost != 0``).
        On an overflow with ``stream_errors="raise"`` this raises StreamOverflow (``count`` lost
        samples, ``sample_index`` where the gap starts) without consuming data; the next read
        continues after the gap. ``timeout`` in s (None: wait indefinitely); StreamTimeout if
        nothing arrives - samples received so far are kept for the next read.
        """
        self._require("read()", RadioState.STREAMING)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_READ:
            raise ConfigError.bad_value("n", n, f"an integer 1..{MAX_READ} (samples per channel)")
        if timeout is not None and not timeout >= 0:
            raise ConfigError.bad_value("timeout", timeout, ">= 0 s or None")
        self._collect_tx_events()
        deadline = None if timeout is None else time.monotonic() + timeout
        parts: list[RxChunk] = []
        have = 0
        while have < n:
            if self._pending:
                chunk = self._pending.pop(0)
            else:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    chunk = self._receive(n - have, remaining)
                except StreamTimeout:
                    self._pending[:0] = parts  # keep what arrived; nothing is dropped by a timeout
                    raise
                chunk = self._account(chunk)
            k = chunk.samples.shape[1]
            if k > n - have:  # a pending chunk bigger than needed: split it
                rest = RxChunk(chunk.samples[:, n - have:], chunk.sample_index + n - have, 0, None, 0)
                chunk = RxChunk(chunk.samples[:, :n - have], chunk.sample_index, chunk.lost, chunk.hw_time_ns,
                                chunk.clipped)
                self._pending.insert(0, rest)
                k = n - have
            if chunk.lost != 0 and parts:
                self._pending.insert(0, chunk)  # return the block before the gap first
                break
            if chunk.lost != 0 and self.stream_errors == "raise" and not chunk.raised:
                chunk.raised = True
                self._pending.insert(0, chunk)
                lost = chunk.lost
                start = None if lost is None else chunk.sample_index - lost
                raise stream_error("overflow", f"{self.describe()}: RX overflow: "
                                   f"{'an unknown number of' if lost is None else lost} samples lost"
                                   f"{'' if start is None else f' from sample {start}'}; the next read() "
                                   "continues after the gap", count=lost, sample_index=start)
            parts.append(chunk)
            have += k
        first = parts[0]
        data = parts[0].samples if len(parts) == 1 else np.concatenate([p.samples for p in parts], axis=1)
        meta = ReadMeta(sample_index=first.sample_index, host_time=time.time(),
                        overflows=self._counters.overflows, underflows=self._counters.underflows,
                        lost=first.lost, hw_time_ns=first.hw_time_ns, clipped=sum(p.clipped for p in parts),
                        duplicates=self._counters.duplicates, reordered=self._counters.reordered,
                        calibration=self._cal_label() if self._cal_rx is not None else None)
        data = np.ascontiguousarray(data, dtype=np.complex64)
        return (data[0] if data.shape[0] == 1 else data), meta

    def _account(self, chunk: RxChunk) -> RxChunk:
        """Bookkeeping for a fresh chunk from the backend: counters and the absolute index."""
        s = chunk.samples
        if s.ndim == 1:
            s = s[None, :]
        chunk.samples = s
        if s.shape[0] != self.n_rx:
            raise DeviceError(f"{self.describe()}: backend returned {s.shape[0]} channels, expected {self.n_rx}")
        if chunk.lost != 0:
            self._counters.overflows += 1
            if chunk.lost:
                self._counters.lost_samples += chunk.lost
        self._counters.duplicates += chunk.duplicates
        self._counters.reordered += chunk.reordered
        # Correct each fresh chunk once, in stream order (a pending chunk split later is already corrected).
        chunk.samples = self._correct_rx(s)
        self._counters.rx_samples += s.shape[1]
        self._next_index = chunk.sample_index + s.shape[1]
        return chunk

    def write(self, samples, *, at_sample: int | None = None, end_burst: bool = False,
              timeout: float | None = 1.0) -> int:
        """Transmit ``samples`` (complex, |I| and |Q| <= 1.0; shape (n,) or (channels, n)).

        ``at_sample``: RX-timeline sample index at which the first sample leaves the antenna (a timed
        burst, SoapySDR HAS_TIME); None sends as soon as possible. ``end_burst`` closes the burst (the
        transmitter then idles without counting an underflow). Returns the number of samples sent per
        channel. If the transmitter ran dry (or a timed burst was late) since the previous call, and
        ``stream_errors="raise"``, raises StreamUnderflow / StreamError BEFORE sending anything: the
        samples of that call were not sent.
        """
        self._require("write()", RadioState.STREAMING)
        x = self._check_tx(samples)
        if at_sample is not None and (isinstance(at_sample, bool) or not isinstance(at_sample, (int, np.integer))
                                      or at_sample < 0):
            raise ConfigError.bad_value("at_sample", at_sample, "None or an integer sample index >= 0")
        self._collect_tx_events()
        if self._counters.unreported_tx and self.stream_errors == "raise":
            ev = self._counters.unreported_tx[0]
            self._counters.unreported_tx = []
            kind = "underflow" if ev.kind == "underflow" else "error"
            what = {"underflow": "TX underflow (the transmitter ran dry)",
                    "late": "TX burst late (its time had passed)"}.get(ev.kind, "TX stream error")
            cnt = "" if ev.count is None else f", {ev.count} samples"
            at = "" if ev.sample_index is None else f" at sample {ev.sample_index}"
            raise stream_error(kind, f"{self.describe()}: {what}{cnt}{at}{': ' + ev.detail if ev.detail else ''}; "
                               "this write() sent nothing - call it again", count=ev.count,
                               sample_index=ev.sample_index)
        self._counters.unreported_tx = []
        x = self._precorrect_tx(x)
        n = self._send(x, at_sample, bool(end_burst), timeout)
        self._counters.tx_samples += n
        return n

    def _collect_tx_events(self) -> None:
        for ev in self._poll_tx():
            if ev.kind == "underflow":
                self._counters.underflows += 1
            else:
                self._counters.late += 1
            self._counters.unreported_tx.append(ev)

    def _check_tx(self, samples) -> np.ndarray:
        x = np.asarray(samples)
        if x.dtype.kind not in "fc" or x.dtype.itemsize > 16:
            raise ConfigError.bad_value("samples.dtype", str(x.dtype), "complex (complex64 preferred) or float")
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[0] != self.n_tx:
            raise ConfigError.bad_value("samples.shape", tuple(np.shape(samples)),
                                        f"(n,) for one TX channel or ({self.n_tx}, n) for {self.n_tx}")
        if x.shape[1] == 0:
            raise ConfigError.bad_value("samples", "an empty array", "at least one sample")
        x = np.ascontiguousarray(x, dtype=np.complex64)
        peak = float(np.max(np.maximum(np.abs(x.real), np.abs(x.imag))))
        if not peak <= 1.0:  # NaN fails too
            raise ConfigError.bad_value("samples", f"peak |I|/|Q| {peak:.6g}", "<= 1.0 full scale "
                                        "(scale the signal down; nothing is clipped silently)")
        return x

    # -- backend hooks ---------------------------------------------------------------------------
    @abc.abstractmethod
    def _open(self) -> None:
        """Connect to the device; raise DeviceError (say which device and how to fix) on failure."""

    @abc.abstractmethod
    def _close(self) -> None:
        """Release the device (must not raise if the device is already gone)."""

    @abc.abstractmethod
    def _apply(self, name: str, value):
        """Apply an already validated and quantised setting; return the value the device reports
        (or None if it is exactly ``value``)."""

    def _read_back(self, name: str, applied):
        """Getter hook: the value to report (default: what ``_apply`` reported)."""
        return applied

    def _read_serial(self) -> str | None:
        """The device serial (see :func:`serial_from_info`), or None where unknown (default)."""
        return None

    @abc.abstractmethod
    def _start(self) -> None:
        """Set up and activate the RX and TX streams."""

    @abc.abstractmethod
    def _stop(self) -> None:
        """Deactivate and tear down the streams."""

    @abc.abstractmethod
    def _receive(self, n: int, timeout: float | None) -> RxChunk:
        """Return 1..n samples per channel (an RxChunk with shape (channels, k)); raise StreamTimeout
        if nothing arrived within ``timeout`` s; mark lost samples before the chunk in ``lost``."""

    @abc.abstractmethod
    def _send(self, x: np.ndarray, at_sample: int | None, end_burst: bool, timeout: float | None) -> int:
        """Send all of ``x`` (complex64, (channels, n), within +/-1); return n."""

    def _poll_tx(self) -> list[TxEvent]:
        """TX status events since the last poll (underflow, late); must not block."""
        return []

    def __repr__(self) -> str:
        return f"<{self.describe()} {self._state.value}>"



def _safe_serial(serial: str) -> str:
    """A serial as the calibration store names files (the procedure's :func:`device_serial` rule)."""
    out = "".join(c if c.isalnum() or c in "._-" else "_" for c in serial)[:128]
    return out.lstrip("._-") or "unknown"


def serial_from_info(info, args=None) -> str | None:
    """A serial number from a device's hardware information (SoapySDR ``getHardwareInfo()``, a libiio
    context's attributes) or, failing that, from its device arguments: the first non-empty of the keys
    ``serial``, ``hw_serial``, ``mboard_serial``, ``serial_number``. None when none is there."""
    for src in (info or {}, args or {}):
        for key in ("serial", "hw_serial", "mboard_serial", "serial_number"):
            v = src.get(key) if hasattr(src, "get") else None
            if v is not None and str(v).strip():
                return str(v).strip()
    return None
