"""An emulated ADALM-PLUTO: the IIO devices of its AD936x firmware, driven by a firmware_cfg profile.

Devices (as the real firmware names them; pyadi-iio's ``adi.Pluto`` finds them by name)::

    iio:device0  ad9361-phy              control: LOs, rates, bandwidths, gains, FIR, ENSM, ...
    iio:device1  cf-ad9361-dds-core-lpc  TX DMA: voltage0/1 = I/Q of TX1 (le:S16/16>>0), DDS tones
    iio:device2  cf-ad9361-lpc           RX DMA: voltage0/1 = I/Q of RX1 (le:S12/16>>0)

(2R2T profiles add voltage2/3 = TX2/RX2.) Attribute writes are checked against the profile
(``pluto_ad9363``: LO 325 MHz..3.8 GHz, bandwidth 200 kHz..20 MHz; ``pluto_ad9364``: 70 MHz..6 GHz,
..56 MHz) and refused with ``-EINVAL`` as the AD9361 driver does; integer-only attributes (LO
frequency, RF bandwidth) refuse "2.4e9"-style text like the driver's ``kstrtoull``. Below the
profile's ``fir_required_below_hz`` a sample rate needs the FIR (``filter_fir_config`` loaded and
``voltage_filter_fir_en`` = 1), exactly the sequence pyadi-iio's ``sample_rate`` setter performs.

The RF side is :class:`hil.iiod.loopback.RfLoop`: TX comes back on RX through the configured paths
(delay, Doppler, gain), plus the TX-RX LO difference, plus optional noise. Levels: TX ``int16 /
tx.full_scale`` is 1.0, RX ``1.0 * rx.full_scale`` (12-bit, clipped to -2048..2047); the DAC keeps
the 12 most significant bits of each int16 as the real one does. RF gains do not change the
loopback level (the loop models a cable with a fixed, configurable gain). In an AGC mode,
``hardwaregain`` reads the constant ``agc_gain_db`` (the emulator has no AGC loop). While no TX buffer
is open the DDS tones (``altvoltage*``: raw, frequency, phase, scale) are what the DAC plays.
"""

from __future__ import annotations

import errno
import re
from dataclasses import dataclass, field

import numpy as np

from firmware_cfg import Profile, load_profile
from hil.errors import ConfigError, DeviceError
from hil.iiod.loopback import LoopPath, RfLoop
from hil.iiod.model import Attr, BufferHandler, Channel, Device, IioContext, IioErrno, ScanElement, const_attr, einval
from hil.iiod.server import DEFAULT_PORT, IiodServer

__all__ = ["PlutoEmulator", "parse_fir_config", "FirConfig"]

_INT_RE = re.compile(r"^\+?\d+$")
_FIXED_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)$")

CALIB_MODES = ("auto", "manual", "manual_tx_quad", "tx_quad", "rf_dc_offs", "rssi_gain_step")
ENSM_MODES = ("sleep", "wait", "alert", "fdd", "pinctrl", "pinctrl_fdd_indep")
RF_PORTS_RX = ("A_BALANCED", "B_BALANCED", "C_BALANCED", "A_N", "A_P", "B_N", "B_P", "C_N", "C_P",
               "TX_MONITOR1", "TX_MONITOR2", "TX_MONITOR1_2")
RF_PORTS_TX = ("A", "B")


def _kstrtoull(text: str, what: str) -> int:
    """Parse like the kernel's kstrtoull (base 10): digits only, no sign, no exponent, no fraction."""
    if not _INT_RE.match(text):
        raise einval(f"{what}: {text!r} is not an unsigned integer")
    return int(text)


def _fixed(text: str, what: str) -> float:
    """Parse like the IIO core's fixed-point parser (no exponent)."""
    word = text.split()[0] if text.split() else ""
    if not _FIXED_RE.match(word):
        raise einval(f"{what}: {text!r} is not a decimal number")
    return float(word)


@dataclass(frozen=True)
class FirConfig:
    """A parsed AD9361 FIR configuration (the ``.ftr`` text format)."""

    rx_decimation: int
    tx_interpolation: int
    rx_gain_db: int
    tx_gain_db: int
    taps: int
    rx_bandwidth: int | None = None
    tx_bandwidth: int | None = None


def parse_fir_config(text: str) -> FirConfig:
    """Parse the FIR text a client writes to ``filter_fir_config`` (raises IioErrno EINVAL if bad).

    Lines: ``RX <mask> GAIN <dB> DEC <1|2|4>``, ``TX <mask> GAIN <dB> INT <1|2|4>``, optional
    ``BWRX <Hz>``/``BWTX <Hz>``, ``RRX``/``RTX`` with six clocks, then one coefficient line per tap
    (``rx,tx`` or one value for both), ``#`` comments and blank lines ignored; 16..128 taps in
    multiples of 16, values in int16.
    """
    dec = interp = None
    rx_gain = tx_gain = 0
    bw = {"BWRX": None, "BWTX": None}
    taps = 0
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.replace(",", " ").split()
        head = words[0].upper()
        try:
            if head in ("RX", "TX"):
                kv = {words[i].upper(): words[i + 1] for i in range(2, len(words) - 1, 2)}
                gain = int(kv.get("GAIN", "0"))
                if head == "RX":
                    dec, rx_gain = int(kv["DEC"]), gain
                else:
                    interp, tx_gain = int(kv["INT"]), gain
            elif head in bw:
                bw[head] = int(words[1])
            elif head in ("RTX", "RRX"):  # the clock tree the file was designed for (six rates in Hz)
                if len(words) != 7 or any(int(w) <= 0 for w in words[1:]):
                    raise ValueError(line)
            else:
                vals = [int(w) for w in words]
                if not 1 <= len(vals) <= 2 or any(not -32768 <= v <= 32767 for v in vals):
                    raise ValueError(line)
                taps += 1
        except (KeyError, ValueError, IndexError):
            raise einval(f"filter_fir_config: cannot parse line {raw.strip()!r}") from None
    if dec is None or interp is None:
        raise einval("filter_fir_config: needs an 'RX ... DEC n' and a 'TX ... INT n' line")
    if dec not in (1, 2, 4) or interp not in (1, 2, 4):
        raise einval(f"filter_fir_config: DEC {dec} / INT {interp}; allowed 1, 2 or 4")
    if rx_gain not in (-12, -6, 0, 6) or tx_gain not in (-6, 0):
        raise einval(f"filter_fir_config: GAIN RX {rx_gain} TX {tx_gain}; allowed RX -12/-6/0/6, TX -6/0")
    if taps < 16 or taps > 128 or taps % 16:
        raise einval(f"filter_fir_config: {taps} taps; allowed 16..128 in multiples of 16")
    return FirConfig(dec, interp, rx_gain, tx_gain, taps, bw["BWRX"], bw["BWTX"])


@dataclass
class _PhyState:
    sample_rate: int
    rx_lo: int
    tx_lo: int
    rx_bw: int
    tx_bw: int
    gain_mode: list[str]
    rx_gain: list[float]
    tx_atten: list[float]
    fir: FirConfig | None = None
    fir_enabled: bool = False
    rx_lo_powerdown: bool = False
    tx_lo_powerdown: bool = False
    ensm_mode: str = "fdd"
    calib_mode: str = "auto"
    loopback: int = 0
    rf_port_rx: str = "A_BALANCED"
    rf_port_tx: str = "A"
    xo_correction: int = 40000000
    misc: dict = field(default_factory=dict)


class _RxBuffer(BufferHandler):
    def __init__(self, emu: PlutoEmulator):
        self.emu = emu
        self.channels: list[Channel] | None = None

    def open(self, samples_count, channels, cyclic):
        if cyclic:
            raise IioErrno(errno.EINVAL, "cf-ad9361-lpc: an RX buffer cannot be cyclic")
        self.channels = channels
        self.emu.rf.capturing = True

    def read(self, nbytes):
        chans = self.channels
        per_sample = 2 * len(chans)
        if nbytes % per_sample:
            raise einval(f"READBUF {nbytes} bytes is not a whole number of {per_sample}-byte samples")
        n = nbytes // per_sample
        emu = self.emu
        st = emu.state
        y = emu.rf.capture(n, st.sample_rate, lo_offset_hz=float(st.tx_lo - st.rx_lo),
                           bypass=st.loopback == 1, source=emu.dds_source)
        if st.rx_lo_powerdown or st.ensm_mode in ("sleep", "wait"):
            y = np.zeros_like(y)
        fs = emu.rx_full_scale
        cols = []
        for ch in chans:
            k = ch.scan.index
            comp = y[k // 2].imag if k % 2 else y[k // 2].real
            cols.append(np.clip(np.rint(comp * fs), -2048, 2047))
        emu.rx_samples += n
        return np.stack(cols, axis=1).astype("<i2").tobytes()

    def close(self):
        self.channels = None
        self.emu.rf.capturing = False


class _TxBuffer(BufferHandler):
    def __init__(self, emu: PlutoEmulator):
        self.emu = emu
        self.channels: list[Channel] | None = None
        self.cyclic = False
        self.pushed = 0

    def open(self, samples_count, channels, cyclic):
        self.channels, self.cyclic, self.pushed = channels, cyclic, 0
        dev = self.emu.context.device("cf-ad9361-dds-core-lpc")
        self.emu.rf.max_pending = max(dev.buffers_count * samples_count, 1024)

    def write(self, data):
        chans = self.channels
        per_sample = 2 * len(chans)
        if len(data) % per_sample:
            raise einval(f"WRITEBUF {len(data)} bytes is not a whole number of {per_sample}-byte samples")
        if self.cyclic and self.pushed:
            raise IioErrno(errno.EBUSY, "cyclic buffer already pushed; close it to send new samples")
        raw = np.frombuffer(data, "<i2").reshape(-1, len(chans)).astype(np.int32)
        # The AD9361 DAC takes the 12 most significant bits of each 16-bit word.
        raw = (raw >> 4) << 4
        n_tx = self.emu.n_channels
        x = np.zeros((n_tx, raw.shape[0]), np.complex128)
        for col, ch in enumerate(chans):
            k = ch.scan.index
            v = raw[:, col] / self.emu.tx_full_scale
            if k % 2:
                x[k // 2] += 1j * v
            else:
                x[k // 2] += v
        st = self.emu.state
        if st.tx_lo_powerdown or st.ensm_mode in ("sleep", "wait"):
            x[:] = 0
        self.emu.rf.transmit(x, self.cyclic)
        self.pushed += 1
        self.emu.tx_samples += raw.shape[0]
        return len(data)

    def close(self):
        self.emu.rf.stop_tx()
        self.channels = None


class PlutoEmulator:
    """An emulated PlutoSDR behind an iiod server.

    Parameters
    ----------
    profile : str | Profile
        firmware_cfg profile (``pluto_ad9363``, ``pluto_ad9364``, ``pluto_2r2t``): ranges, channels,
        full scales.
    delay : float
        Loopback delay in samples (>= 0, may be fractional) of the single default path.
    frequency_offset_hz : float
        Doppler / frequency offset of that path in Hz (|f| < sample_rate / 2 when captured).
    gain : complex
        Linear gain of that path.
    paths : sequence of LoopPath or (gain, delay, doppler_hz), optional
        Several paths instead of the single one above.
    noise_var : float
        Complex AWGN variance per RX sample relative to full scale (0: none).
    seed : int
        Seed of the noise (reproducible runs).
    agc_gain_db : float
        What ``hardwaregain`` reads in an AGC mode.
    serial : str
        The context attribute ``hw_serial`` (backends key stored calibrations by profile + serial).

    Use as a context manager or call :meth:`start` / :meth:`stop`; :attr:`uri` is the libiio URI.
    """

    def __init__(self, profile: str | Profile = "pluto_ad9363", *, delay: float = 0.0,
                 frequency_offset_hz: float = 0.0, gain: complex = 1.0, paths=None, noise_var: float = 0.0,
                 seed: int = 0, agc_gain_db: float = 30.0, serial: str = "EMU00000001"):
        self.profile = load_profile(profile)
        self.serial = str(serial)
        if self.profile.backend != "pluto":
            raise ConfigError.bad_value("profile", self.profile.name, "a Pluto profile (backend: pluto)")
        p = self.profile
        self.n_channels = len(p.rx.channels)
        if len(p.tx.channels) != self.n_channels:
            raise ConfigError.bad_value("profile.tx.channels", p.tx.channels, f"{self.n_channels} channels like rx")
        self.rx_full_scale = float(p.rx.full_scale or 2048.0)
        self.tx_full_scale = float(p.tx.full_scale or 32768.0)
        self.agc_gain_db = float(agc_gain_db)
        n = self.n_channels
        modes = p.rx.gain.modes
        self.state = _PhyState(
            sample_rate=30720000 if p.sample_rate.range.contains(30.72e6) else int(p.defaults.sample_rate),
            rx_lo=int(p.defaults.rx_frequency), tx_lo=int(p.defaults.tx_frequency),
            rx_bw=int(min(18e6, p.rx.bandwidth.max)), tx_bw=int(min(18e6, p.tx.bandwidth.max)),
            # A real Pluto boots in slow_attack: the rx_hardwaregain trap is live from the start.
            gain_mode=["slow_attack" if "slow_attack" in modes else p.rx.gain.default_mode] * n,
            rx_gain=[float(p.defaults.rx_gain)] * n, tx_atten=[float(p.defaults.tx_gain)] * n)
        if paths is None:
            paths = [LoopPath(gain, delay, frequency_offset_hz)]
        self.rf = RfLoop(n, n, paths, noise_var=noise_var, seed=seed)
        self.rx_samples = 0
        self.tx_samples = 0
        # DDS tones: on, but at scale 0 (silent) until a client sets them, e.g. pyadi-iio dds_single_tone.
        self.dds = [{"raw": True, "frequency": 9279985, "phase": 90000 if (k // 2) % 2 == 0 else 0, "scale": 0.0}
                    for k in range(4 * n)]
        self.context = self._build_context()
        self._server: IiodServer | None = None

    # -- channel control (what the loop applies) ------------------------------------------------
    def set_channel(self, *, delay: float = 0.0, frequency_offset_hz: float = 0.0, gain: complex = 1.0,
                    paths=None, noise_var: float = 0.0) -> None:
        """Replace the loopback channel (same arguments as the constructor)."""
        if paths is None:
            paths = [LoopPath(gain, delay, frequency_offset_hz)]
        with self.context.lock:
            self.rf.set_channel(paths, noise_var)

    # -- server ---------------------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT, **kw) -> PlutoEmulator:
        """Serve this Pluto over iiod on ``host:port`` (port 0: a free one). Returns self."""
        if self._server is None:
            self._server = IiodServer(self.context, host=host, port=port, **kw).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    @property
    def server(self) -> IiodServer:
        if self._server is None:
            raise DeviceError("Pluto emulator is not started; call start() first")
        return self._server

    @property
    def uri(self) -> str:
        return self.server.uri

    def __enter__(self) -> PlutoEmulator:
        return self.start(port=0) if self._server is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self._server.uri if self._server else "not serving"
        return f"PlutoEmulator({self.profile.name}, {self.n_channels}R{self.n_channels}T, {where})"

    # -- rules of the AD9361 driver -------------------------------------------------------------
    def rate_limits(self, fir_enabled: bool | None = None, fir: FirConfig | None = None) -> tuple[float, float]:
        """(min, max) sample rate in Hz accepted with the given FIR state (default: the current one)."""
        st = self.state
        en = st.fir_enabled if fir_enabled is None else fir_enabled
        cfg = st.fir if fir is None else fir
        sr = self.profile.sample_rate
        need_fir = sr.fir_required_below_hz or sr.range.min
        dec = cfg.rx_decimation if (en and cfg is not None) else 1
        lo = max(sr.range.min, need_fir / dec) if dec > 1 else max(sr.range.min, need_fir)
        hi = sr.range.max  # the two-channel limit is the host's business (the profile checks it)
        if dec > 2:
            hi = hi / 2  # a 4x FIR interpolator limits the top rate (the FIR clock is 4x the sample rate)
        return lo, hi

    def _set_rate(self, text: str) -> None:
        rate = int(_fixed(text, "sampling_frequency"))
        lo, hi = self.rate_limits()
        if not lo - 0.5 <= rate <= hi + 0.5:
            state = "enabled" if self.state.fir_enabled else "disabled"
            raise einval(f"sampling_frequency {rate} Hz outside {lo:.0f}..{hi:.0f} Hz with the FIR {state}")
        self.state.sample_rate = rate

    def _set_fir_enable(self, text: str) -> None:
        v = _kstrtoull(text, "filter_fir_en")
        if v not in (0, 1):
            raise einval(f"filter_fir_en: {v}; allowed 0 or 1")
        en = bool(v)
        if en and self.state.fir is None:
            raise einval("filter_fir_en: no FIR loaded (write filter_fir_config first)")
        lo, hi = self.rate_limits(fir_enabled=en)
        if not lo - 0.5 <= self.state.sample_rate <= hi + 0.5:
            raise einval(f"filter_fir_en={v}: the sample rate {self.state.sample_rate} Hz would be outside "
                         f"{lo:.0f}..{hi:.0f} Hz")
        self.state.fir_enabled = en

    def _set_fir_config(self, text: str) -> None:
        cfg = parse_fir_config(text)
        if self.state.fir_enabled:
            lo, hi = self.rate_limits(fir=cfg)
            if not lo - 0.5 <= self.state.sample_rate <= hi + 0.5:
                raise einval("filter_fir_config: this FIR does not fit the current sample rate; disable the FIR first")
        self.state.fir = cfg

    def _fir_config_text(self) -> str:
        f = self.state.fir
        if f is None:
            return "FIR Rx: 0,0 Tx: 0,0"
        return f"FIR Rx: {f.taps},{f.rx_decimation} Tx: {f.taps},{f.tx_interpolation}"

    def _path_rates(self, tx: bool) -> str:
        """The ``rx_path_rates``/``tx_path_rates`` text: each stage's clock in Hz (pyadi-iio reads it)."""
        st = self.state
        r = st.sample_rate
        fir_n = (st.fir.tx_interpolation if tx else st.fir.rx_decimation) if (st.fir_enabled and st.fir) else 1
        f = r * fir_n                      # after the programmable FIR
        h1 = f * 2                         # half-band 1
        h2 = h1 * 2                        # half-band 2
        conv = h2 * 2 if h2 * 2 <= 640e6 else h2   # half-band 3 when the converter clock allows it
        if tx:
            return f"BBPLL:{conv * 4} DAC:{conv} T2:{h2} T1:{h1} TF:{f} TXSAMP:{r}"
        return f"BBPLL:{conv * 4} ADC:{conv} R2:{h2} R1:{h1} RF:{f} RXSAMP:{r}"

    def _lo_setter(self, key: str, side: str):
        rng = getattr(self.profile, side).frequency

        def set_(text: str) -> None:
            f = _kstrtoull(text, f"{side.upper()}_LO frequency")
            if not rng.contains(f):
                raise einval(f"{side.upper()}_LO {f} Hz outside {rng.describe('Hz')} ({self.profile.chip})")
            setattr(self.state, key, f)
        return set_

    def _bw_setter(self, key: str, side: str):
        rng = getattr(self.profile, side).bandwidth

        def set_(text: str) -> None:
            bw = _kstrtoull(text, "rf_bandwidth")
            if not rng.contains(bw):
                raise einval(f"{side} rf_bandwidth {bw} Hz outside {rng.describe('Hz')}")
            setattr(self.state, key, bw)
        return set_

    def _rx_gain_getter(self, ch: int):
        def get() -> str:
            st = self.state
            g = st.rx_gain[ch] if st.gain_mode[ch] == "manual" else self.agc_gain_db
            return f"{g:.6f} dB"
        return get

    def _rx_gain_setter(self, ch: int):
        def set_(text: str) -> None:
            st = self.state
            g = _fixed(text, "hardwaregain")
            if st.gain_mode[ch] != "manual":
                raise einval(f"RX{ch + 1} hardwaregain: gain_control_mode is {st.gain_mode[ch]!r}, not 'manual'")
            rng = self.profile.rx.gain.range_at(st.rx_lo)
            if not rng.contains(g):
                raise einval(f"RX{ch + 1} hardwaregain {g} dB outside {rng.describe('dB')} at {st.rx_lo} Hz")
            st.rx_gain[ch] = rng.quantise(g)
        return set_

    def _rx_gain_available(self) -> str:
        rng = self.profile.rx.gain.range_at(self.state.rx_lo)
        return f"[{rng.min:g} {rng.step or 1:g} {rng.max:g}]"

    def _gain_mode_setter(self, ch: int):
        def set_(text: str) -> None:
            if text not in self.profile.rx.gain.modes:
                raise einval(f"gain_control_mode {text!r}; allowed {' '.join(self.profile.rx.gain.modes)}")
            self.state.gain_mode[ch] = text
        return set_

    def _tx_gain_setter(self, ch: int):
        rng = self.profile.tx.gain.range

        def set_(text: str) -> None:
            g = _fixed(text, "hardwaregain")
            if not rng.contains(g):
                raise einval(f"TX{ch + 1} hardwaregain {g} dB outside {rng.describe('dB')}")
            self.state.tx_atten[ch] = rng.quantise(g)
        return set_

    def _choice(self, key: str, choices):
        def set_(text: str) -> None:
            if text not in choices:
                raise einval(f"{key} {text!r}; allowed {' '.join(choices)}")
            setattr(self.state, key, text)
        return set_

    def _flag(self, key: str):
        def set_(text: str) -> None:
            v = _kstrtoull(text, key)
            if v not in (0, 1):
                raise einval(f"{key}: {v}; allowed 0 or 1")
            setattr(self.state, key, bool(v))
        return set_

    def _stored(self, key: str, default: str):
        """A plain stored attribute (accepted as written; for attributes the emulation ignores)."""
        self.state.misc.setdefault(key, default)

        def get() -> str:
            return self.state.misc[key]

        def set_(text: str) -> None:
            self.state.misc[key] = text
        return get, set_

    # -- DDS tone generators (the DAC source while no TX buffer is open) --------------------------
    def _dds_setter(self, k: int, key: str):
        def set_(text: str) -> None:
            tone = self.dds[k]
            if key == "raw":
                v = _kstrtoull(text, "raw")
                if v not in (0, 1):
                    raise einval(f"DDS raw {v}; allowed 0 (off) or 1 (on)")
                tone["raw"] = bool(v)
            elif key == "frequency":
                f = int(_fixed(text, "frequency"))
                if not 0 <= f <= self.state.sample_rate // 2:
                    raise einval(f"DDS frequency {f} Hz outside 0..{self.state.sample_rate // 2} Hz (fs/2)")
                tone["frequency"] = f
            elif key == "phase":
                ph = int(_fixed(text, "phase"))
                if not 0 <= ph < 360000:
                    raise einval(f"DDS phase {ph} mdeg outside 0..359999")
                tone["phase"] = ph
            else:
                sc = _fixed(text, "scale")
                if not 0.0 <= sc <= 1.0:
                    raise einval(f"DDS scale {sc} outside 0..1")
                tone["scale"] = sc
        return set_

    def dds_source(self, a: int, b: int):
        """The DDS output for samples a..b-1 ((channels, b - a), normalised), or None when a TX buffer
        is open (the DMA is then the DAC's source) or every tone is off or at scale 0.

        Each tone is ``scale * sin(2 pi f n / fs + phase)`` with scale 1.0 = int16 full scale; I is the sum
        of ``TXk_I_F1/F2``, Q of ``TXk_Q_F1/F2`` (pyadi-iio's single tone sets I's phase 90 degrees)."""
        if self.context.device("cf-ad9361-dds-core-lpc").buffer.channels is not None:
            return None
        active = [k for k, t in enumerate(self.dds) if t["raw"] and t["scale"] > 0]
        if not active:
            return None
        n = np.arange(a, b)
        out = np.zeros((self.n_channels, b - a), np.complex128)
        fs = float(self.state.sample_rate)
        for k in active:
            t = self.dds[k]
            # phase of the tone at absolute sample n, reduced mod 1 cycle in float64 before the sine
            cyc = np.mod(n * (t["frequency"] / fs), 1.0) + t["phase"] / 360000.0
            v = t["scale"] * 32767.0 / self.tx_full_scale * np.sin(2 * np.pi * cyc)
            out[k // 4] += 1j * v if (k // 2) % 2 else v
        return out

    # -- the IIO context ------------------------------------------------------------------------
    def _build_context(self) -> IioContext:
        p, st, n = self.profile, self.state, self.n_channels
        rate = Attr("sampling_frequency", lambda: str(st.sample_rate), self._set_rate)
        rate_avail = Attr("sampling_frequency_available",
                          lambda: "[{:.0f} 1 {:.0f}]".format(*self.rate_limits()))
        fir_en = Attr("filter_fir_en", lambda: str(int(st.fir_enabled)), self._set_fir_enable)
        phy = Device("iio:device0", "ad9361-phy")
        for ch in range(n):
            rx = Channel(f"voltage{ch}", False)
            rx.add(Attr("hardwaregain", self._rx_gain_getter(ch), self._rx_gain_setter(ch)),
                   Attr("hardwaregain_available", self._rx_gain_available),
                   Attr("gain_control_mode", lambda ch=ch: st.gain_mode[ch], self._gain_mode_setter(ch)),
                   const_attr("gain_control_mode_available", " ".join(p.rx.gain.modes)),
                   Attr("rf_bandwidth", lambda: str(st.rx_bw), self._bw_setter("rx_bw", "rx")),
                   const_attr("rf_bandwidth_available",
                              f"[{p.rx.bandwidth.min:.0f} 1 {p.rx.bandwidth.max:.0f}]"),
                   rate, rate_avail, fir_en,
                   Attr("rf_port_select", lambda: st.rf_port_rx, self._choice("rf_port_rx", RF_PORTS_RX)),
                   const_attr("rf_port_select_available", " ".join(RF_PORTS_RX)),
                   Attr("rssi", lambda: "30.00 dB"),
                   Attr("quadrature_tracking_en", *self._stored(f"rx{ch}_qt", "1")),
                   Attr("rf_dc_offset_tracking_en", *self._stored(f"rx{ch}_rfdc", "1")),
                   Attr("bb_dc_offset_tracking_en", *self._stored(f"rx{ch}_bbdc", "1")))
            tx = Channel(f"voltage{ch}", True)
            tx.add(Attr("hardwaregain", lambda ch=ch: f"{st.tx_atten[ch]:.6f} dB", self._tx_gain_setter(ch)),
                   const_attr("hardwaregain_available",
                              f"[{p.tx.gain.range.min:g} {p.tx.gain.range.step or 0.25:g} {p.tx.gain.range.max:g}]"),
                   Attr("rf_bandwidth", lambda: str(st.tx_bw), self._bw_setter("tx_bw", "tx")),
                   const_attr("rf_bandwidth_available",
                              f"[{p.tx.bandwidth.min:.0f} 1 {p.tx.bandwidth.max:.0f}]"),
                   rate, rate_avail, fir_en,
                   Attr("rf_port_select", lambda: st.rf_port_tx, self._choice("rf_port_tx", RF_PORTS_TX)),
                   const_attr("rf_port_select_available", " ".join(RF_PORTS_TX)),
                   Attr("rssi", lambda: "0.00 dB"))
            phy.channels += [rx, tx]
        for cid, label, key, side in (("altvoltage0", "RX_LO", "rx_lo", "rx"), ("altvoltage1", "TX_LO", "tx_lo", "tx")):
            rng = getattr(p, side).frequency
            lo = Channel(cid, True, name=label)
            lo.add(Attr("frequency", lambda key=key: str(getattr(st, key)), self._lo_setter(key, side)),
                   const_attr("frequency_available", f"[{rng.min:.0f} 1 {rng.max:.0f}]"),
                   Attr("powerdown", lambda key=key: str(int(getattr(st, f"{key}_powerdown"))),
                        self._flag(f"{key}_powerdown")),
                   Attr("external", *self._stored(f"{key}_external", "0")))
            phy.channels.append(lo)
        phy.channels.append(Channel("out", False).add(
            Attr("voltage_filter_fir_en", lambda: str(int(st.fir_enabled)), self._set_fir_enable)))
        phy.channels.append(Channel("temp0", False).add(const_attr("input", "35000")))
        for a in (Attr("calib_mode", lambda: st.calib_mode, self._choice("calib_mode", CALIB_MODES)),
                  const_attr("calib_mode_available", " ".join(CALIB_MODES)),
                  Attr("ensm_mode", lambda: st.ensm_mode, self._choice("ensm_mode", ENSM_MODES)),
                  const_attr("ensm_mode_available", " ".join(ENSM_MODES)),
                  Attr("filter_fir_config", self._fir_config_text, self._set_fir_config),
                  Attr("rx_path_rates", lambda: self._path_rates(False)),
                  Attr("tx_path_rates", lambda: self._path_rates(True)),
                  Attr("trx_rate_governor", *self._stored("trx_rate_governor", "nominal")),
                  const_attr("trx_rate_governor_available", "nominal highest_osr"),
                  Attr("xo_correction", lambda: str(st.xo_correction),
                       lambda t: setattr(st, "xo_correction", _kstrtoull(t, "xo_correction"))),
                  Attr("dcxo_tune_coarse", *self._stored("dcxo_tune_coarse", "8"))):
            phy.attrs[a.name] = a

        def set_loopback(text: str) -> None:
            v = int(_fixed(text, "loopback"))
            if v not in (0, 1, 2):
                raise einval(f"loopback {v}; allowed 0 (off), 1 (digital), 2 (RF)")
            st.loopback = v
        phy.debug_attrs["loopback"] = Attr("loopback", lambda: str(st.loopback), set_loopback)
        phy.debug_attrs["initialize"] = Attr("initialize", *self._stored("initialize", "0"))

        dds = Device("iio:device1", "cf-ad9361-dds-core-lpc", buffer=_TxBuffer(self))
        rx_dev = Device("iio:device2", "cf-ad9361-lpc", buffer=_RxBuffer(self))
        full = lambda: str(st.sample_rate)  # noqa: E731

        def dma_rate_set(text: str) -> None:
            if int(_fixed(text, "sampling_frequency")) != st.sample_rate:
                raise einval("the FPGA x8 decimation/interpolation is not emulated; only the full rate is allowed")
        for k in range(2 * n):
            ch = Channel(f"voltage{k}", True, scan=ScanElement(k, "le:S16/16>>0"))
            ch.add(Attr("calibphase", *self._stored(f"dds_v{k}_calibphase", "0.000000")),
                   Attr("calibscale", *self._stored(f"dds_v{k}_calibscale", "1.000000")),
                   Attr("sampling_frequency", full, dma_rate_set),
                   Attr("sampling_frequency_available", lambda: f"{st.sample_rate} {st.sample_rate // 8}"))
            dds.channels.append(ch)
        for k in range(4 * n):
            side = "I" if (k // 2) % 2 == 0 else "Q"
            ch = Channel(f"altvoltage{k}", True, name=f"TX{k // 4 + 1}_{side}_F{k % 2 + 1}")
            tone = self.dds[k]
            ch.add(Attr("raw", lambda t=tone: str(int(t["raw"])), self._dds_setter(k, "raw")),
                   Attr("phase", lambda t=tone: str(t["phase"]), self._dds_setter(k, "phase")),
                   Attr("frequency", lambda t=tone: str(t["frequency"]), self._dds_setter(k, "frequency")),
                   Attr("scale", lambda t=tone: f"{t['scale']:.6f}", self._dds_setter(k, "scale")),
                   Attr("sampling_frequency", full))
            dds.channels.append(ch)
        for k in range(2 * n):
            ch = Channel(f"voltage{k}", False, scan=ScanElement(k, "le:S12/16>>0"))
            ch.add(Attr("calibbias", *self._stored(f"adc_v{k}_calibbias", "0")),
                   Attr("calibphase", *self._stored(f"adc_v{k}_calibphase", "0.000000")),
                   Attr("calibscale", *self._stored(f"adc_v{k}_calibscale", "1.000000")),
                   Attr("samples_pps", *self._stored(f"adc_v{k}_pps", "0")),
                   Attr("sampling_frequency", full, dma_rate_set),
                   Attr("sampling_frequency_available", lambda: f"{st.sample_rate} {st.sample_rate // 8}"))
            rx_dev.channels.append(ch)
        ctx = IioContext(
            name="network", description=f"leo-hil Pluto emulator ({p.name}, {p.chip})",
            devices=[phy, dds, rx_dev],
            context_attrs={"hw_model": f"Analog Devices PlutoSDR (emulated, {p.chip})",
                           "hw_model_variant": "0", "fw_version": "v0.38-emulated",
                           "ad9361-phy,model": p.chip.split()[0].lower(),
                           "hw_serial": self.serial,
                           "hil,profile": p.name})
        return ctx
