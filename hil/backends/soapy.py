"""SoapySDR backend: USRP B2xx/X3xx (SoapyUHD) and any other SoapySDR device.

The Python binding is Debian's ``python3-soapysdr`` (not on PyPI); it is imported lazily, on
``open()``, and a missing binding raises DeviceError with the install steps. Streams are CF32
(complex64, already +/-1.0 full scale, so no scaling here). Receive timestamps (HAS_TIME, timeNs) give
the absolute sample index across an overflow; transmit supports timed bursts (HAS_TIME) and END_BURST;
TX underflow / late bursts come from ``readStreamStatus``. Error codes map to typed errors:

    TIMEOUT (-1) -> StreamTimeout          OVERFLOW (-4)      -> StreamOverflow (via the base Radio)
    STREAM_ERROR (-2), CORRUPTION (-3)     -> StreamError     NOT_SUPPORTED (-5) -> DeviceError
    TIME_ERROR (-6) -> StreamError (late)  UNDERFLOW (-7)     -> StreamUnderflow

Device args must name the driver (``driver=uhd,type=b200``): without it SoapySDR probes every module,
and UHD discovery broadcasts on the network - this backend never enumerates.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from hil.backends.base import Radio, RxChunk, TxEvent, serial_from_info
from hil.errors import ConfigError, DeviceError, StreamError, StreamTimeout, StreamUnderflow

__all__ = ["SoapyRadio", "import_soapysdr", "parse_args", "ERROR_CODES", "INSTALL_HINT"]

log = logging.getLogger(__name__)

INSTALL_HINT = ("the SoapySDR Python binding is not importable. Install it with "
                "`sudo apt-get install python3-soapysdr soapysdr0.8-module-uhd` (Debian/Ubuntu), then make it "
                "reachable from this Python (venv/pyenv) with `scripts/link_soapysdr $(command -v python3)`")

#: SoapySDR error codes (SoapySDR/Errors.h)
ERROR_CODES = {-1: "TIMEOUT", -2: "STREAM_ERROR", -3: "CORRUPTION", -4: "OVERFLOW", -5: "NOT_SUPPORTED",
               -6: "TIME_ERROR", -7: "UNDERFLOW"}
TIMEOUT, STREAM_ERROR, CORRUPTION, OVERFLOW, NOT_SUPPORTED, TIME_ERROR, UNDERFLOW = range(-1, -8, -1)


def import_soapysdr():
    """The SoapySDR module, or DeviceError saying how to install it."""
    try:
        import SoapySDR
    except ImportError as exc:
        raise DeviceError(f"SoapySDR backend: {INSTALL_HINT} ({exc})") from None
    return SoapySDR


def parse_args(args) -> dict[str, str]:
    """``"driver=uhd,type=b200"`` (or a dict) -> ``{"driver": "uhd", "type": "b200"}``; the driver is required."""
    if isinstance(args, dict):
        out = {str(k): str(v) for k, v in args.items()}
    else:
        out = {}
        for part in str(args or "").split(","):
            part = part.strip()
            if not part:
                continue
            key, sep, val = part.partition("=")
            if not sep or not key.strip():
                raise ConfigError.bad_value("uri", args,
                                            "SoapySDR args 'key=value,key=value' (e.g. driver=uhd,type=b200)")
            out[key.strip()] = val.strip()
    if not out.get("driver"):
        raise ConfigError.bad_value("uri", args, "args naming the driver (e.g. driver=uhd,type=b200); without it "
                                    "SoapySDR would probe every module and UHD discovery broadcasts on the network")
    return out


class SoapyRadio(Radio):
    """A SoapySDR device behind the Radio protocol.

    Parameters
    ----------
    profile : str | Profile
        A firmware_cfg profile with ``backend: soapy`` (usrp_b210, usrp_x310).
    uri : str | dict | None
        SoapySDR device args (``driver=uhd,type=b200,serial=...``); default: the profile's.
    module : module | None
        The SoapySDR module to use (tests pass an API-faithful fake); default: ``import SoapySDR``.
    stream_errors : "raise" | "mark"
        See :class:`~hil.backends.base.Radio`.
    """

    backends = ("soapy",)

    def __init__(self, profile="usrp_b210", uri=None, *, module=None, stream_errors: str = "raise",
                 calibration=True):
        super().__init__(profile, uri, stream_errors=stream_errors, calibration=calibration)
        self._args = parse_args(self.uri)
        self._module = module
        self._dev = None
        self._rx = self._tx = None


    def _read_serial(self):
        if self._dev is None:
            return serial_from_info({}, self._args)
        try:
            info = dict(self._dev.getHardwareInfo())
        except Exception:  # a driver without hardware info: fall back to the device arguments
            info = {}
        return serial_from_info(info, self._args)

    # -- helpers ---------------------------------------------------------------------------------
    def describe(self) -> str:
        args = ",".join(f"{k}={v}" for k, v in self._args.items()) if hasattr(self, "_args") else self.uri
        return f"SoapyRadio({self.profile.name}, {args})"

    def _err_text(self, code: int) -> str:
        try:
            text = self._S.errToStr(code)
        except Exception:  # noqa: BLE001 - a fake or old binding without errToStr
            text = ERROR_CODES.get(code, "UNKNOWN")
        return f"{text} ({code})"

    def _stream_error(self, code: int, what: str, **kw):
        """The typed exception for SoapySDR error ``code`` during ``what``."""
        msg = f"{self.describe()}: {what}: {self._err_text(code)}"
        if code == TIMEOUT:
            return StreamTimeout(msg, **kw)
        if code == UNDERFLOW:
            return StreamUnderflow(msg, **kw)
        if code == NOT_SUPPORTED:
            return DeviceError(msg)
        if code == TIME_ERROR:
            return StreamError(msg + " (a timed burst was late)", **kw)
        return StreamError(msg, **kw)

    def _call(self, what: str, fn, *args):
        try:
            return fn(*args)
        except (RuntimeError, ValueError, TypeError) as exc:
            raise DeviceError(f"{self.describe()}: {what} failed: {exc}") from None

    def _dir(self, side: str):
        return self._S.SOAPY_SDR_RX if side == "rx" else self._S.SOAPY_SDR_TX

    # -- hooks -----------------------------------------------------------------------------------
    def _open(self) -> None:
        S = self._module if self._module is not None else import_soapysdr()
        self._S = S
        try:
            dev = S.Device(dict(self._args))
        except (RuntimeError, ValueError) as exc:
            raise DeviceError(f"{self.describe()}: cannot open the device: {exc}. Check that it is connected and "
                              f"that the SoapySDR module for driver={self._args['driver']} is installed "
                              f"(`SoapySDRUtil --info` lists the modules)") from None
        self._dev = dev
        try:
            for side in ("rx", "tx"):
                have = int(self._call("getNumChannels", dev.getNumChannels, self._dir(side)))
                if have < 1:
                    raise DeviceError(f"{self.describe()}: the device has no {side.upper()} channels "
                                      f"(driver={self._args['driver']} is not a radio; 'null' has no channels "
                                      "and no streaming)")
                self._nchan = getattr(self, "_nchan", {})
                self._nchan[side] = have
        except DeviceError:
            self._release()
            raise

    def _release(self) -> None:
        dev, self._dev = self._dev, None
        if dev is not None and hasattr(dev, "close"):
            try:
                dev.close()
            except Exception as exc:  # noqa: BLE001 - closing a vanished device must not mask the real error
                log.warning("%s: close failed: %s", self.describe(), exc)

    def _close(self) -> None:
        self._release()

    def _channels(self, side: str) -> tuple[int, ...]:
        return tuple(self._applied.get(f"{side}_channels", (0,)))

    def _apply_one(self, name: str, value, channels=None):
        S, dev = self._S, self._dev
        if name == "sample_rate":
            for side in ("rx", "tx"):
                for ch in channels or self._channels(side):
                    self._call(f"setSampleRate({side}, {ch}, {value})", dev.setSampleRate, self._dir(side), ch, value)
            return float(self._call("getSampleRate", dev.getSampleRate, S.SOAPY_SDR_RX, self._channels("rx")[0]))
        side, _, what = name.partition("_")
        d = self._dir(side)
        chans = channels or self._channels(side)
        if what == "channels":
            have = self._nchan[side]
            bad = [c for c in value if c >= have]
            if bad:
                raise DeviceError(f"{self.describe()}: {name} {value}: the device has only {have} "
                                  f"{side.upper()} channel(s)")
            # Settings already applied must hold on newly enabled channels too.
            for other in ("sample_rate", f"{side}_bandwidth", f"{side}_frequency", f"{side}_antenna",
                          f"{side}_gain_mode", f"{side}_gain"):
                if other in self._applied and self._applied[other] is not None:
                    self._apply_one(other, self._applied[other], channels=value)
            return value
        setter, getter = {"frequency": ("setFrequency", "getFrequency"), "gain": ("setGain", "getGain"),
                          "bandwidth": ("setBandwidth", "getBandwidth"), "antenna": ("setAntenna", "getAntenna"),
                          "gain_mode": ("setGainMode", "getGainMode")}[what]
        if what == "antenna" and value is None:
            return None
        if what == "gain_mode":
            automatic = value != "manual"
            for ch in chans:
                if automatic and not self._call("hasGainMode", dev.hasGainMode, d, ch):
                    raise DeviceError(f"{self.describe()}: {name}={value!r}: the device has no automatic gain "
                                      f"on {side.upper()} channel {ch}")
                self._call(f"setGainMode({side}, {ch})", dev.setGainMode, d, ch, automatic)
            return value
        for ch in chans:
            self._call(f"{setter}({side}, {ch}, {value!r})", getattr(dev, setter), d, ch, value)
        got = self._call(getter, getattr(dev, getter), d, chans[0])
        if what == "antenna":
            return str(got)
        got = float(got)
        if what == "bandwidth" and got == 0.0:
            return None  # the driver does not report a bandwidth: keep the applied value
        return got

    def _apply(self, name: str, value):
        return self._apply_one(name, value)

    def _start(self) -> None:
        dev = self._dev
        self._fs = float(self.get("sample_rate"))
        self._rx = self._setup("rx")
        try:
            self._tx = self._setup("tx")
        except DeviceError:
            self._teardown()
            raise
        try:
            self._mtu = max(1, int(self._call("getStreamMTU", dev.getStreamMTU, self._rx)))
        except DeviceError:
            self._mtu = 4096
        for s, side in ((self._rx, "RX"), (self._tx, "TX")):
            ret = self._call(f"activateStream({side})", dev.activateStream, s)
            if ret is not None and ret != 0:
                self._teardown()
                raise self._stream_error(int(ret), f"activateStream({side})") from None
        self._index = 0
        self._t0_ns = None  # device time of RX sample 0 (maps sample indices <-> timeNs)
        self._expect_ns = None
        self._gap_pending = False
        self._rxbuf = [np.empty(self._mtu, np.complex64) for _ in self._channels("rx")]

    def _setup(self, side: str):
        chans = list(self._channels(side))
        stream = self._call(f"setupStream({side.upper()}, CF32, {chans})", self._dev.setupStream,
                            self._dir(side), self._S.SOAPY_SDR_CF32, chans)
        if stream is None:
            raise DeviceError(f"{self.describe()}: setupStream({side.upper()}) returned no stream: the device does "
                              "not stream (driver=null has no streaming)")
        return stream

    def _teardown(self) -> None:
        dev = self._dev
        for attr in ("_rx", "_tx"):
            s = getattr(self, attr)
            if s is None or dev is None:
                continue
            for call in ("deactivateStream", "closeStream"):
                try:
                    getattr(dev, call)(s)
                except Exception as exc:  # noqa: BLE001 - teardown continues; the device may be gone
                    log.warning("%s: %s failed: %s", self.describe(), call, exc)
            setattr(self, attr, None)

    def _stop(self) -> None:
        self._teardown()

    def _receive(self, n: int, timeout: float | None) -> RxChunk:
        S, dev = self._S, self._dev
        deadline = None if timeout is None else time.monotonic() + timeout
        k = min(n, self._mtu)
        bufs = [b[:k] for b in self._rxbuf]
        while True:
            left = 1.0 if deadline is None else max(0.0, deadline - time.monotonic())
            sr = dev.readStream(self._rx, bufs, k, timeoutUs=int(left * 1e6))
            ret = int(sr.ret)
            if ret == OVERFLOW:
                self._gap_pending = True  # samples were dropped; the next timestamp tells how many
                if deadline is not None and time.monotonic() >= deadline:
                    raise StreamTimeout(f"{self.describe()}: only overflows, no RX samples within {timeout} s")
                continue
            if ret == TIMEOUT:
                if deadline is None:
                    continue
                raise StreamTimeout(f"{self.describe()}: no RX samples within {timeout} s")
            if ret < 0:
                raise self._stream_error(ret, "readStream", sample_index=self._index)
            if ret == 0:
                if deadline is not None and time.monotonic() >= deadline:
                    raise StreamTimeout(f"{self.describe()}: no RX samples within {timeout} s")
                continue
            break
        has_time = bool(int(sr.flags) & S.SOAPY_SDR_HAS_TIME)
        t_ns = int(sr.timeNs) if has_time else None
        lost = 0
        if has_time:
            if self._t0_ns is None:
                self._t0_ns = t_ns
            elif self._expect_ns is not None:
                gap = round((t_ns - self._expect_ns) * self._fs / 1e9)
                if gap > 0:
                    lost = gap
            self._expect_ns = t_ns + round(ret * 1e9 / self._fs)
            if self._gap_pending and lost == 0:
                lost = None  # an overflow was flagged but the timestamps show no gap: count unknown
        elif self._gap_pending:
            lost = None
        self._gap_pending = False
        index = self._index + (lost or 0)
        self._index = index + ret
        data = np.stack([b[:ret].copy() for b in bufs])
        return RxChunk(data, index, lost, t_ns, 0)

    def _send(self, x: np.ndarray, at_sample: int | None, end_burst: bool, timeout: float | None) -> int:
        S, dev = self._S, self._dev
        flags0 = 0
        t_ns = 0
        if at_sample is not None:
            if self._t0_ns is None:
                raise DeviceError(f"{self.describe()}: a timed write (at_sample) needs the device time of RX "
                                  "sample 0: read() once first (and the device must timestamp RX samples)")
            t_ns = self._t0_ns + round(at_sample * 1e9 / self._fs)
            flags0 = S.SOAPY_SDR_HAS_TIME
        n = x.shape[1]
        sent = 0
        deadline = None if timeout is None else time.monotonic() + timeout
        while sent < n:
            k = min(n - sent, self._mtu)
            flags = flags0 if sent == 0 else 0
            if end_burst and sent + k == n:
                flags |= S.SOAPY_SDR_END_BURST
            left = 1.0 if deadline is None else max(0.0, deadline - time.monotonic())
            bufs = [np.ascontiguousarray(x[c, sent:sent + k]) for c in range(x.shape[0])]
            sr = dev.writeStream(self._tx, bufs, k, flags, t_ns, timeoutUs=int(left * 1e6))
            ret = int(sr.ret)
            if ret == TIMEOUT and deadline is None:
                continue
            if ret < 0:
                raise self._stream_error(ret, f"writeStream ({sent} of {n} samples sent)",
                                         sample_index=at_sample) from None
            if ret == 0 and deadline is not None and time.monotonic() >= deadline:
                raise StreamTimeout(f"{self.describe()}: TX accepted {sent} of {n} samples within {timeout} s")
            if ret > 0 and flags0 and sent == 0:
                flags0 = 0  # only the first packet of a burst carries the time
            sent += ret
        return n

    def _poll_tx(self) -> list[TxEvent]:
        if self._tx is None:
            return []
        events = []
        for _ in range(64):  # bounded: a status queue that never empties must not hang a read
            try:
                sr = self._dev.readStreamStatus(self._tx, timeoutUs=0)
            except (RuntimeError, AttributeError):
                break
            ret = int(sr.ret)
            if ret in (TIMEOUT, NOT_SUPPORTED) or ret >= 0:
                break
            has_time = bool(int(sr.flags) & self._S.SOAPY_SDR_HAS_TIME)
            idx = None
            if has_time and self._t0_ns is not None:
                idx = round((int(sr.timeNs) - self._t0_ns) * self._fs / 1e9)
            kind = {UNDERFLOW: "underflow", TIME_ERROR: "late"}.get(ret, "error")
            events.append(TxEvent(kind, None, idx, self._err_text(ret)))
        return events
