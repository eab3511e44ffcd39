"""An API-faithful fake of the SoapySDR Python module (the parts the backend uses), for tests.

Same names, constants (values of SoapySDR 0.8), call signatures and return types as the SWIG binding:
``Device(dict(driver=...))``, ``setupStream(direction, format, channels)`` returning a stream handle,
``readStream(stream, buffs, numElems, flags=0, timeoutUs=100000)`` filling the caller's numpy buffers
and returning a ``StreamResult`` (``ret``, ``flags``, ``timeNs``), ``writeStream(stream, buffs,
numElems, flags=0, timeNs=0, timeoutUs=100000)`` and ``readStreamStatus(stream, timeoutUs)``.

Drivers: ``driver=fake`` is a two-channel loopback radio (TX channel c feeds RX channel c) with a
hardware clock (RX timestamps start at ``FAKE_T0_NS``), an MTU of ``FAKE_MTU`` samples per call and
fault injection (:meth:`Device.inject`); ``driver=null`` behaves like SoapySDR's null device (no
channels, setupStream gives no stream). ``Device.enumerate`` fails the test: the backend must never
enumerate. Like the real binding, buffers must match the stream format (CF32 -> complex64).
"""

from __future__ import annotations

from collections import deque

import numpy as np

SOAPY_SDR_TX = 0
SOAPY_SDR_RX = 1
SOAPY_SDR_END_BURST = 2
SOAPY_SDR_HAS_TIME = 4
SOAPY_SDR_END_ABRUPT = 8
SOAPY_SDR_ONE_PACKET = 16
SOAPY_SDR_MORE_FRAGMENTS = 32
SOAPY_SDR_WAIT_TRIGGER = 64
SOAPY_SDR_CF32 = "CF32"
SOAPY_SDR_CS16 = "CS16"
SOAPY_SDR_TIMEOUT = -1
SOAPY_SDR_STREAM_ERROR = -2
SOAPY_SDR_CORRUPTION = -3
SOAPY_SDR_OVERFLOW = -4
SOAPY_SDR_NOT_SUPPORTED = -5
SOAPY_SDR_TIME_ERROR = -6
SOAPY_SDR_UNDERFLOW = -7

_ERR = {0: "OK", -1: "TIMEOUT", -2: "STREAM_ERROR", -3: "CORRUPTION", -4: "OVERFLOW", -5: "NOT_SUPPORTED",
        -6: "TIME_ERROR", -7: "UNDERFLOW"}

FAKE_MTU = 1000
FAKE_T0_NS = 5_000_000_000
FAKE_NUM_CHANNELS = 2

#: every Device made (tests inspect the last one)
devices: list = []


def errToStr(errorCode):  # noqa: N802 - SoapySDR's name
    return _ERR.get(errorCode, "UNKNOWN")


class StreamResult:
    def __init__(self, ret=0, flags=0, timeNs=0, chanMask=0):  # noqa: N803
        self.ret = ret
        self.flags = flags
        self.timeNs = timeNs
        self.chanMask = chanMask

    def __str__(self):
        return f"ret={self.ret}, flags={self.flags}, timeNs={self.timeNs}"


class _Stream:
    def __init__(self, direction, fmt, channels):
        self.direction, self.format, self.channels = direction, fmt, list(channels)
        self.active = False
        self.closed = False


class Device:
    """Loopback fake; see the module docstring."""

    @staticmethod
    def enumerate(*args):
        raise AssertionError("Device.enumerate called: the backend must never enumerate (UHD broadcasts)")

    def __init__(self, args=None):
        if isinstance(args, str):
            args = dict(kv.split("=", 1) for kv in args.split(",") if kv)
        args = dict(args or {})
        driver = args.get("driver")
        if driver not in ("fake", "null"):
            raise RuntimeError("SoapySDR::Device::make() no match")
        self.args = args
        self.driver = driver
        self.nchan = FAKE_NUM_CHANNELS if driver == "fake" else 0
        self._settings: dict = {}
        self._closed = False
        self._inject: deque = deque()
        self._status: deque = deque()
        self.calls: list = []
        self.tx_log: list = []  # (numElems accepted, flags, timeNs) of every writeStream call
        devices.append(self)

    # -- identity / close --
    def getDriverKey(self):  # noqa: N802
        return self.driver

    def getHardwareKey(self):  # noqa: N802
        return self.driver

    def getHardwareInfo(self):  # noqa: N802
        return {"serial": str(self.args.get("serial", "FAKE0001"))}

    def close(self):
        self._closed = True

    def _check(self, direction, channel):
        if self._closed:
            raise RuntimeError("device closed")
        if not 0 <= channel < self.nchan:
            raise RuntimeError(f"channel {channel} out of range")
        self.calls.append((direction, channel))

    def getNumChannels(self, direction):  # noqa: N802
        return self.nchan

    # -- settings: the fake applies what it is given, quantising the way a device might --
    def _set(self, key, direction, channel, value):
        self._check(direction, channel)
        self._settings[(key, direction, channel)] = value

    def _get(self, key, direction, channel, default=0.0):
        if self.nchan == 0:
            return default
        return self._settings.get((key, direction, channel), default)

    def setSampleRate(self, direction, channel, rate):  # noqa: N802
        self._set("rate", direction, channel, float(rate))

    def getSampleRate(self, direction, channel):  # noqa: N802
        return self._get("rate", direction, channel)

    def setFrequency(self, direction, channel, *args):  # noqa: N802
        value = args[-1] if not isinstance(args[-1], dict) else args[-2]
        # An LO synthesiser with 1 Hz resolution: the applied value is rounded.
        self._set("freq", direction, channel, float(round(value)))

    def getFrequency(self, direction, channel, *args):  # noqa: N802
        return self._get("freq", direction, channel)

    def setGain(self, direction, channel, *args):  # noqa: N802
        self._set("gain", direction, channel, float(args[-1]))

    def getGain(self, direction, channel, *args):  # noqa: N802
        return self._get("gain", direction, channel)

    def hasGainMode(self, direction, channel):  # noqa: N802
        return direction == SOAPY_SDR_RX

    def setGainMode(self, direction, channel, automatic):  # noqa: N802
        if automatic and direction != SOAPY_SDR_RX:
            raise RuntimeError("no AGC on TX")
        self._set("agc", direction, channel, bool(automatic))

    def getGainMode(self, direction, channel):  # noqa: N802
        return self._get("agc", direction, channel, False)

    def setBandwidth(self, direction, channel, bw):  # noqa: N802
        self._set("bw", direction, channel, float(bw))

    def getBandwidth(self, direction, channel):  # noqa: N802
        return self._get("bw", direction, channel)

    def listAntennas(self, direction, channel):  # noqa: N802
        return ["RX2", "TX/RX"] if direction == SOAPY_SDR_RX else ["TX/RX"]

    def setAntenna(self, direction, channel, name):  # noqa: N802
        if name not in self.listAntennas(direction, channel):
            raise RuntimeError(f"invalid antenna {name}")
        self._set("ant", direction, channel, name)

    def getAntenna(self, direction, channel):  # noqa: N802
        return self._get("ant", direction, channel, "")

    # -- fault injection (not part of SoapySDR) --
    def inject(self, kind: str, count: int = 1):
        """'overflow' (count samples dropped), 'timeout', 'stream_error' (next readStream); 'underflow'
        (a TX status report now)."""
        if kind == "underflow":
            self._status.append(StreamResult(SOAPY_SDR_UNDERFLOW, 0, 0))
            return
        self._inject.append((kind, count))

    def _take(self, kind):
        for item in list(self._inject):
            if item[0] == kind:
                self._inject.remove(item)
                return item
        return None

    # -- streams --
    def setupStream(self, direction, fmt, channels=(), args=None):  # noqa: N802
        if self._closed:
            raise RuntimeError("device closed")
        if self.nchan == 0:
            return None  # like SoapySDR's null device: no streaming
        if fmt not in (SOAPY_SDR_CF32, SOAPY_SDR_CS16):
            raise RuntimeError(f"unsupported format {fmt}")
        for c in channels or [0]:
            self._check(direction, c)
        s = _Stream(direction, fmt, channels or [0])
        if direction == SOAPY_SDR_RX:
            self._rxs = s
            self._pos = 0
        else:
            self._txs = s
            self._tx = deque()
            self._tx_end = 0
            self._burst = False
        return s

    def closeStream(self, stream):  # noqa: N802
        stream.closed = True

    def getStreamMTU(self, stream):  # noqa: N802
        return FAKE_MTU

    def activateStream(self, stream, flags=0, timeNs=0, numElems=0):  # noqa: N802, N803
        stream.active = True
        return 0

    def deactivateStream(self, stream, flags=0, timeNs=0):  # noqa: N802, N803
        stream.active = False
        return 0

    def _rate(self):
        return self._settings.get(("rate", SOAPY_SDR_RX, 0)) or 1e6

    def _ns(self, index):
        return FAKE_T0_NS + round(index * 1e9 / self._rate())

    @staticmethod
    def _check_buffs(stream, buffs, n):
        if len(buffs) != len(stream.channels):
            raise RuntimeError(f"{len(buffs)} buffers for {len(stream.channels)} channels")
        for b in buffs:
            want = np.complex64 if stream.format == SOAPY_SDR_CF32 else np.int16
            if not isinstance(b, np.ndarray) or b.dtype != want or not b.flags.c_contiguous or b.size < n:
                raise TypeError("buffer dtype/size does not match the stream format")

    def readStream(self, stream, buffs, numElems, flags=0, timeoutUs=100000):  # noqa: N802, N803
        if not stream.active or stream.closed:
            return StreamResult(SOAPY_SDR_STREAM_ERROR)
        self._check_buffs(stream, buffs, numElems)
        if self._take("timeout"):
            return StreamResult(SOAPY_SDR_TIMEOUT)
        if self._take("stream_error"):
            return StreamResult(SOAPY_SDR_STREAM_ERROR)
        ov = self._take("overflow")
        if ov is not None:
            self._pos += ov[1]  # dropped in the "FPGA"; the next timestamp shows the jump
            return StreamResult(SOAPY_SDR_OVERFLOW)
        n = min(numElems, FAKE_MTU)
        a = self._pos
        txn = len(self._txs.channels) if hasattr(self, "_txs") else 1
        block = np.zeros((txn, n), np.complex64)
        while self._tx and self._tx[0][0] + self._tx[0][1].shape[1] <= a:
            self._tx.popleft()
        for start, data in getattr(self, "_tx", ()):
            lo, hi = max(a, start), min(a + n, start + data.shape[1])
            if lo < hi:
                block[:, lo - a:hi - a] = data[:, lo - start:hi - start]
        for j, b in enumerate(buffs):
            b[:n] = block[j % txn]
        self._pos += n
        if getattr(self, "_burst", False) and self._tx_end < self._pos:
            self._status.append(StreamResult(SOAPY_SDR_UNDERFLOW, SOAPY_SDR_HAS_TIME, self._ns(self._tx_end)))
            self._burst = False
        return StreamResult(n, SOAPY_SDR_HAS_TIME, self._ns(a))

    def writeStream(self, stream, buffs, numElems, flags=0, timeNs=0, timeoutUs=100000):  # noqa: N802, N803
        if not stream.active or stream.closed:
            return StreamResult(SOAPY_SDR_STREAM_ERROR)
        self._check_buffs(stream, buffs, numElems)
        n = min(numElems, FAKE_MTU)
        self.tx_log.append((n, flags, timeNs))
        data = np.stack([np.array(b[:n]) for b in buffs])
        if flags & SOAPY_SDR_HAS_TIME:
            start = round((timeNs - FAKE_T0_NS) * self._rate() / 1e9)
            if start < self._pos:
                # like UHD: the late packet is dropped and reported asynchronously
                self._status.append(StreamResult(SOAPY_SDR_TIME_ERROR, SOAPY_SDR_HAS_TIME, timeNs))
                return StreamResult(n)
        elif self._burst and self._tx_end >= self._pos:
            start = self._tx_end
        else:
            start = max(self._pos, self._tx_end)
        self._tx.append((start, data))
        self._tx_end = start + n
        self._burst = not (flags & SOAPY_SDR_END_BURST)
        return StreamResult(n)

    def readStreamStatus(self, stream, timeoutUs=100000):  # noqa: N802, N803
        if stream is getattr(self, "_txs", None) and self._status:
            return self._status.popleft()
        return StreamResult(SOAPY_SDR_TIMEOUT)
