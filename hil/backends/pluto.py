"""PlutoSDR backend: the Radio protocol on pyadi-iio (``adi.Pluto``; ``adi.ad9361`` in 2R2T mode).

URIs: ``ip:192.168.2.1`` / ``ip:pluto.local`` / ``ip:HOST:PORT`` (network; the emulator too),
``usb:BUS.DEV.INTF`` (USB), ``auto`` (scan, take the first context that looks like a Pluto).

What this backend adds to pyadi-iio:

* every setting is checked against the firmware_cfg profile first (ConfigError with the range) and
  read back from the device after it is applied;
* the gain-mode trap: pyadi-iio's ``rx_hardwaregain_chan0`` setter silently does nothing unless the
  gain mode is ``manual``; here an RX gain outside manual mode raises, and the gain is written
  straight to the driver (which refuses it, rather than pyadi-iio dropping it);
* sample rates below the profile's ``fir_required_below_hz`` (about 2.083 MS/s) load the profile's
  FIR file (``firmware_cfg/fir/*.ftr``, decimate/interpolate by 4) before setting the rate;
* scaling: RX raw values (12-bit, about +/-2048) are divided by ``rx.full_scale``; TX samples are
  multiplied by ``tx.full_scale`` and ROUNDED to int16 (pyadi-iio's ``astype`` would truncate);
* fixed-size device buffers behind a free-size read/write: reads are served from whole RX buffers,
  writes are staged into whole TX buffers (``end_burst=True`` pads the last one with zeros);
* a host-side sample counter for ``ReadMeta.sample_index`` (the Pluto has no timestamps, and
  libiio 0.x reports no overflow: samples lost while the host was slow go unnoticed - keep up);
* errors that name the URI and the reason (libiio missing, connection refused, no such USB device)
  instead of pyadi-iio's "No device found".
"""

from __future__ import annotations

import errno
import logging
import os

import numpy as np

from hil.backends.base import Radio, RxChunk, serial_from_info
from hil.errors import ConfigError, DeviceError, StreamTimeout

__all__ = ["PlutoRadio", "parse_uri", "to_int16", "from_raw"]

log = logging.getLogger(__name__)

_INSTALL = ("install Debian's libiio0 (apt install libiio0) and pyadi-iio with pylibiio 0.25 "
            "(pip install pyadi-iio 'pylibiio==0.25')")


def parse_uri(uri: str) -> tuple[str, str]:
    """Split and check a Pluto URI: ("ip", "host[:port]"), ("usb", "B.D.I") or ("auto", "")."""
    if not isinstance(uri, str) or not uri:
        raise ConfigError.bad_value("uri", uri, "'ip:HOST[:PORT]', 'usb:BUS.DEV.INTF' or 'auto'")
    if uri == "auto":
        return "auto", ""
    scheme, sep, rest = uri.partition(":")
    if not sep or scheme not in ("ip", "usb") or not rest:
        raise ConfigError.bad_value("uri", uri, "'ip:HOST[:PORT]', 'usb:BUS.DEV.INTF' or 'auto'")
    if scheme == "usb" and not all(p.isdigit() for p in rest.split(".")):
        raise ConfigError.bad_value("uri", uri, "usb:BUS.DEV.INTF with decimal numbers, e.g. usb:1.5.5")
    return scheme, rest


def to_int16(x: np.ndarray, full_scale: float) -> np.ndarray:
    """Complex samples (|I|, |Q| <= 1) to device units: ``round(x * full_scale)`` per component,
    returned as complex128 holding exact integers (pyadi-iio's int16 cast is then exact)."""
    re = np.rint(np.asarray(x).real * full_scale)
    im = np.rint(np.asarray(x).imag * full_scale)
    if re.size and max(np.abs(re).max(), np.abs(im).max()) > 32767:
        raise ConfigError.bad_value("samples", "beyond int16 after scaling", f"|I|,|Q| * {full_scale:g} <= 32767")
    return re + 1j * im


def from_raw(raw, full_scale: float) -> np.ndarray:
    """Device RX values (about +/-2048) to complex64 normalised to +/-1."""
    return (np.asarray(raw) / full_scale).astype(np.complex64)


class PlutoRadio(Radio):
    """ADALM-PLUTO through pyadi-iio.

    Parameters
    ----------
    profile : str | Profile
        ``pluto_ad9363`` (stock), ``pluto_ad9364`` (AD9364 firmware setting) or ``pluto_2r2t``.
    uri : str | None
        See the module docstring; None uses the profile's default URI.
    rx_buffer_size, tx_buffer_size : int
        Device buffer sizes in samples per channel (one libiio buffer per refill/push).
    stream_errors : "raise" | "mark"
        As for every Radio.
    """

    backends = ("pluto",)

    def __init__(self, profile="pluto_ad9363", uri: str | None = None, *, rx_buffer_size: int = 4096,
                 tx_buffer_size: int = 4096, stream_errors: str = "raise", calibration=True):
        super().__init__(profile, uri, stream_errors=stream_errors, calibration=calibration)
        parse_uri(self.uri)
        for name, v in (("rx_buffer_size", rx_buffer_size), ("tx_buffer_size", tx_buffer_size)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 16 <= v <= 1 << 24:
                raise ConfigError.bad_value(name, v, "an integer 16..16777216 (samples)")
        self.rx_buffer_size = int(rx_buffer_size)
        self.tx_buffer_size = int(tx_buffer_size)
        self.n_channels = len(self.profile.rx.channels)
        self.rx_full_scale = float(self.profile.rx.full_scale or 2048.0)
        self.tx_full_scale = float(self.profile.tx.full_scale or 16384.0)
        self._sdr = None
        self._ctx = None
        self._reset_stream()

    def _reset_stream(self):
        self._rx_left = None          # samples of the last RX buffer not handed out yet (ch, k)
        self._rx_index = 0
        self._tx_stage = None         # staged TX samples (ch, k), device units
        self._cyclic = False

    @property
    def sdr(self):
        """The underlying pyadi-iio object (for Pluto-specific features); open() first."""
        if self._sdr is None:
            raise DeviceError(f"{self.describe()}: not open; call open() first")
        return self._sdr


    def _read_serial(self):
        # Plutos report their serial as the libiio context attribute ``hw_serial``.
        return None if self._ctx is None else serial_from_info(dict(self._ctx.attrs))

    # -- connection ------------------------------------------------------------------------------
    def _import(self):
        try:
            import iio  # noqa: F401  (libiio's binding; loads libiio.so)
        except (ImportError, OSError) as exc:
            raise DeviceError(f"{self.describe()}: libiio is not available ({exc}); {_INSTALL}") from None
        try:
            import adi
        except (ImportError, OSError) as exc:
            raise DeviceError(f"{self.describe()}: pyadi-iio is not available ({exc}); {_INSTALL}") from None
        return iio, adi

    def _find_auto(self, iio) -> str:
        try:
            found = iio.scan_contexts()
        except OSError as exc:
            raise DeviceError(f"{self.describe()}: scanning for devices failed: {exc.strerror or exc}") from None
        for uri, desc in found.items():
            if "PlutoSDR" in desc or "ADALM-PLUTO" in desc:
                return uri
        listed = "; ".join(f"{u} ({d})" for u, d in found.items()) or "nothing"
        raise DeviceError(f"{self.describe()}: uri 'auto' found no PlutoSDR (USB scan found: {listed}); "
                          "give the URI, e.g. ip:192.168.2.1")

    def _open(self) -> None:
        iio, adi = self._import()
        scheme, rest = parse_uri(self.uri)
        uri = self._find_auto(iio) if scheme == "auto" else self.uri
        try:
            ctx = iio.Context(uri)
        except OSError as exc:
            code = exc.errno
            why = os.strerror(code) if code else str(exc)
            hint = {errno.ECONNREFUSED: "nothing listens there (is iiod / the emulator running? right port?)",
                    errno.ETIMEDOUT: "no answer (wrong address? is the Pluto plugged in and its network up?)",
                    errno.EHOSTUNREACH: "host unreachable (check the USB-Ethernet link, e.g. 192.168.2.x)",
                    errno.ENOENT: "no such device (check `iio_info -s` for the URI)",
                    errno.ENODEV: "no such device (check `iio_info -s` for the URI)",
                    errno.EACCES: "permission denied (udev rules for the Pluto, or run as a user with access)",
                    }.get(code, "check the URI with `iio_info -u URI`")
            raise DeviceError(f"{self.describe()}: cannot reach {uri}: {why}; {hint}") from None
        names = {d.name for d in ctx.devices}
        missing = {"ad9361-phy", "cf-ad9361-lpc", "cf-ad9361-dds-core-lpc"} - names
        if missing:
            raise DeviceError(f"{self.describe()}: {uri} is not an AD936x radio (devices {sorted(names)}; "
                              f"missing {sorted(missing)})")
        cls = adi.Pluto if self.n_channels == 1 else adi.ad9361
        try:
            sdr = cls(ctx)
        except Exception as exc:  # pyadi-iio raises bare Exception
            raise DeviceError(f"{self.describe()}: pyadi-iio could not use {uri}: {exc}") from None
        if self.n_channels > 1:
            lpc = ctx.find_device("cf-ad9361-lpc")
            n_scan = sum(1 for c in lpc.channels if c.scan_element)
            if n_scan < 2 * self.n_channels:
                raise DeviceError(f"{self.describe()}: profile {self.profile.name} needs {self.n_channels} RX "
                                  f"channels but {uri} has {n_scan // 2} (set the firmware to 2r2t: "
                                  f"{self.profile.firmware.get('set_on_firmware_0.32_and_later', 'see docs')})")
        self._ctx, self._sdr = ctx, sdr
        self._reset_stream()

    def _close(self) -> None:
        sdr, self._sdr = self._sdr, None
        if sdr is not None:
            # Buffers before the context (libiio 0.x needs the device alive to close a buffer).
            try:
                sdr.rx_destroy_buffer()
                sdr.tx_destroy_buffer()
            except Exception:  # noqa: BLE001 - the device may already be gone; closing must not raise
                pass
            del sdr
        self._ctx = None

    def _call(self, what: str, fn, *args):
        try:
            return fn(*args)
        except OSError as exc:
            why = os.strerror(exc.errno) if exc.errno else str(exc)
            raise DeviceError(f"{self.describe()}: {what} refused by the device: {why}") from None

    # -- settings --------------------------------------------------------------------------------
    def _rx_chans(self):
        return range(self.n_channels)

    def _gain_mode(self, ch: int) -> str:
        return self.sdr._get_iio_attr_str(f"voltage{ch}", "gain_control_mode", False)

    def _apply(self, name: str, value):
        sdr = self.sdr
        if name == "sample_rate":
            self._set_rate(int(round(value)))
        elif name in ("rx_frequency", "tx_frequency"):
            lo = "altvoltage0" if name == "rx_frequency" else "altvoltage1"
            self._call(f"{name}={value:.0f} Hz", sdr._set_iio_attr_int, lo, "frequency", True, int(round(value)))
        elif name in ("rx_bandwidth", "tx_bandwidth"):
            out = name == "tx_bandwidth"
            self._call(f"{name}={value:.0f} Hz", sdr._set_iio_attr_int, "voltage0", "rf_bandwidth", out,
                       int(round(value)))
        elif name == "rx_gain_mode":
            for ch in self._rx_chans():
                self._call(f"rx_gain_mode={value!r}", sdr._set_iio_attr, f"voltage{ch}", "gain_control_mode",
                           False, value)
        elif name == "rx_gain":
            for ch in self._rx_chans():
                mode = self._gain_mode(ch)
                if mode != "manual":  # the device's mode, not only what we set: someone else may have changed it
                    raise ConfigError.bad_value("rx_gain", value, f"a gain only in gain mode 'manual' (RX{ch + 1} "
                                                f"is in {mode!r}; set rx_gain_mode='manual' first)")
                # Written to the driver directly: pyadi-iio's setter would skip it silently outside manual.
                self._call(f"rx_gain={value:g} dB", sdr._set_iio_attr_float, f"voltage{ch}", "hardwaregain",
                           False, float(value))
        elif name == "tx_gain":
            for ch in self._rx_chans():
                self._call(f"tx_gain={value:g} dB", sdr._set_iio_attr_float, f"voltage{ch}", "hardwaregain",
                           True, float(value))
        elif name in ("tx_gain_mode", "rx_antenna", "tx_antenna", "rx_channels", "tx_channels"):
            pass  # nothing on the device: TX has only manual gain, no antenna switch, channels at start()
        return None

    def _set_rate(self, rate: int) -> None:
        sdr = self.sdr
        sr = self.profile.sample_rate
        if sr.fir_required_below_hz and rate < sr.fir_required_below_hz and self.profile.fir:
            from firmware_cfg import load_ftr

            spec = min(self.profile.fir, key=lambda f: abs(f.sample_rate - rate))
            path = self.profile.fir_path(spec)
            load_ftr(path)  # validated before anything reaches the device
            with open(path, encoding="ascii") as fh:
                text = fh.read()
            # The driver's order: a rate the FIR-less path accepts, FIR off, load, FIR on, target rate.
            self._call("sample_rate=3000000 Hz", sdr._set_iio_attr, "voltage0", "sampling_frequency", False, 3000000)
            self._call("FIR disable", sdr._set_iio_attr, "out", "voltage_filter_fir_en", False, 0)
            self._call(f"FIR {spec.file}", sdr._set_iio_dev_attr_str, "filter_fir_config", text)
            self._call("FIR enable", sdr._set_iio_attr, "out", "voltage_filter_fir_en", False, 1)
            self._call(f"sample_rate={rate} Hz", sdr._set_iio_attr, "voltage0", "sampling_frequency", False, rate)
            log.info("%s: %d S/s with FIR %s", self.describe(), rate, spec.file)
        else:
            try:
                sdr.sample_rate = rate  # pyadi-iio loads its own FIR for the half-band chain
            except OSError as exc:
                raise DeviceError(f"{self.describe()}: sample_rate={rate} Hz refused by the device: "
                                  f"{os.strerror(exc.errno) if exc.errno else exc}") from None
            except ValueError as exc:
                raise ConfigError.bad_value("sample_rate", float(rate), str(exc)) from None

    def _read_back(self, name: str, applied):
        if self._sdr is None:
            return applied
        sdr = self._sdr
        try:
            if name == "sample_rate":
                return float(sdr._get_iio_attr("voltage0", "sampling_frequency", False))
            if name == "rx_frequency":
                return float(sdr._get_iio_attr("altvoltage0", "frequency", True))
            if name == "tx_frequency":
                return float(sdr._get_iio_attr("altvoltage1", "frequency", True))
            if name in ("rx_bandwidth", "tx_bandwidth"):
                return float(sdr._get_iio_attr("voltage0", "rf_bandwidth", name == "tx_bandwidth"))
            if name in ("rx_gain", "tx_gain"):
                return float(sdr._get_iio_attr("voltage0", "hardwaregain", name == "tx_gain"))
            if name == "rx_gain_mode":
                return self._gain_mode(0)
        except OSError as exc:
            raise DeviceError(f"{self.describe()}: reading {name} failed: {os.strerror(exc.errno or 5)}") from None
        return applied

    # -- streaming -------------------------------------------------------------------------------
    def _start(self) -> None:
        sdr = self.sdr
        self._reset_stream()
        sdr.rx_destroy_buffer()
        sdr.tx_destroy_buffer()
        sdr.tx_cyclic_buffer = False
        sdr.rx_enabled_channels = list(self.get("rx_channels"))
        sdr.tx_enabled_channels = list(self.get("tx_channels"))
        sdr.rx_buffer_size = self.rx_buffer_size
        # Create the RX buffer now: capture (and the sample counter) starts at start(), not at the first read.
        self._call("creating the RX buffer", sdr._rx_init_channels)

    def _stop(self) -> None:
        sdr = self.sdr
        self._flush_tx(pad=True)
        sdr.tx_destroy_buffer()
        sdr.rx_destroy_buffer()
        sdr.tx_cyclic_buffer = False
        self._reset_stream()

    def _receive(self, n: int, timeout: float | None) -> RxChunk:
        if self._rx_left is None or self._rx_left.shape[1] == 0:
            try:
                data = self.sdr.rx()
            except OSError as exc:
                if exc.errno in (errno.ETIMEDOUT, errno.EAGAIN):
                    raise StreamTimeout(f"{self.describe()}: no RX samples within libiio's timeout") from None
                raise DeviceError(f"{self.describe()}: RX refill failed: {os.strerror(exc.errno or 5)}") from None
            raw = np.atleast_2d(np.asarray(data))
            self._rx_left = raw
        raw, self._rx_left = self._rx_left[:, :n], self._rx_left[:, n:]
        fs = self.rx_full_scale
        clipped = int(np.count_nonzero(np.any((np.abs(raw.real) >= fs - 1) | (np.abs(raw.imag) >= fs - 1), axis=0)))
        chunk = RxChunk(from_raw(raw, fs), self._rx_index, 0, None, clipped)
        self._rx_index += raw.shape[1]
        return chunk

    def _send(self, x: np.ndarray, at_sample, end_burst: bool, timeout) -> int:
        if at_sample is not None:
            raise DeviceError(f"{self.describe()}: timed TX (at_sample) is not possible: the Pluto has no "
                              "hardware timestamps; send with at_sample=None")
        if self._cyclic:
            raise DeviceError(f"{self.describe()}: a cyclic TX buffer is playing; stop() (or start() again) "
                              "before streaming TX")
        v = to_int16(x, self.tx_full_scale)
        self._tx_stage = v if self._tx_stage is None else np.concatenate([self._tx_stage, v], axis=1)
        self._flush_tx(pad=end_burst)
        return x.shape[1]

    def _push(self, block: np.ndarray) -> None:
        sdr = self.sdr
        data = block[0] if block.shape[0] == 1 else [row for row in block]
        try:
            sdr.tx(data)
        except OSError as exc:
            raise DeviceError(f"{self.describe()}: TX push failed: {os.strerror(exc.errno or 5)}") from None

    def _flush_tx(self, pad: bool) -> None:
        stage, size = self._tx_stage, self.tx_buffer_size
        if stage is None:
            return
        k = 0
        while stage.shape[1] - k >= size:
            self._push(stage[:, k:k + size])
            k += size
        rest = stage[:, k:]
        if pad and rest.shape[1]:
            self._push(np.concatenate([rest, np.zeros((rest.shape[0], size - rest.shape[1]))], axis=1))
            rest = rest[:, :0]
        self._tx_stage = rest if rest.shape[1] else None

    def write_cyclic(self, samples) -> int:
        """Transmit ``samples`` (complex, |I|,|Q| <= 1) repeatedly until stop() (a cyclic buffer: the
        FPGA replays it with no host traffic). Returns its length. Streaming writes are refused meanwhile."""
        from hil.backends.base import RadioState

        self._require("write_cyclic()", RadioState.STREAMING)
        x = self._check_tx(samples)
        sdr = self.sdr
        self._tx_stage = None
        sdr.tx_destroy_buffer()
        sdr.tx_cyclic_buffer = True
        self._cyclic = True
        self._push(to_int16(x, self.tx_full_scale))
        return x.shape[1]

    def describe(self) -> str:
        return f"PlutoRadio({self.profile.name}, {self.uri})"
