"""An emulated ADALM-PLUTO: the IIO devices of its AD936x firmware, driven by a firmware_cfg profile.

Devices and attributes as a real Pluto shows them through libiio (the table in
:mod:`hil.iiod.pluto_layout`; pyadi-iio and gr-iio find devices by name and attributes by file name)::

    iio:device0  adm1177                 USB supply monitor
    iio:device1  ad9361-phy              control: LOs, rates, bandwidths, gains, FIR, ENSM, ...
    iio:device2  xadc                    Zynq temperature and supplies
    iio:device3  cf-ad9361-dds-core-lpc  TX DMA: voltage0/1 = I/Q of TX1 (le:S16/16>>0), DDS tones
    iio:device4  cf-ad9361-lpc           RX DMA: voltage0/1 = I/Q of RX1 (le:S12/16>>0)

(2R2T profiles add voltage2/3 = TX2/RX2.) Attribute writes are checked against the profile
(``pluto_ad9363``: LO 325 MHz..3.8 GHz, bandwidth 200 kHz..20 MHz; ``pluto_ad9364``: 70 MHz..6 GHz,
..56 MHz) and refused with ``-EINVAL`` as the AD9361 driver does; integer-only attributes (LO
frequency, RF bandwidth) refuse "2.4e9"-style text like the driver's ``kstrtoull``. Below the
profile's ``fir_required_below_hz`` a sample rate needs the FIR (``filter_fir_config`` loaded and
``voltage_filter_fir_en`` = 1), exactly the sequence pyadi-iio's ``sample_rate`` setter performs.

The RF side is :class:`hil.iiod.loopback.RfLoop`: TX comes back on RX through the configured paths
(delay, Doppler, gain), plus the TX-RX LO difference, plus optional noise. Levels: TX ``int16 /
tx.full_scale`` is 1.0, RX ``1.0 * rx.full_scale`` (12-bit, clipped to -2048..2047); the DAC keeps
the 12 most significant bits of each int16 as the real one does. The default ``hardware`` receiver adds
what a Pluto's front end does (gain-dependent level, AGC, noise floor, DC, LO leakage: see
:meth:`PlutoEmulator.front_end`); ``receiver="ideal"`` is a unity, noiseless loop. The digital loopback
(debug ``loopback`` = 1) is bit-exact, RX = TX >> 4. ``direct_reg_access`` reaches the DMA cores' status
register 0x80000088 (overflow / underflow set by wall-clock stalls, write 1 to clear). While no TX buffer
is open the DDS tones (``altvoltage*``: raw, frequency, phase, scale) are what the DAC plays.
"""

from __future__ import annotations

import errno
import re
import time
from dataclasses import dataclass, field

import numpy as np

from firmware_cfg import Profile, load_profile
from hil.errors import ConfigError, DeviceError
from hil.iiod.loopback import LoopPath, RfLoop
from hil.iiod.model import Attr, BufferHandler, Channel, Device, IioContext, IioErrno, ScanElement, einval
from hil.iiod.pluto_layout import (
    CALIB_MODES,
    CHANNELS,
    DEVICES,
    ENSM_MODES,
    LAYOUT,
    RX_PORTS,
    TX_PORTS,
    attr_filename,
    hw_model,
)
from hil.iiod.server import DEFAULT_PORT, IiodServer

__all__ = ["PlutoEmulator", "parse_fir_config", "FirConfig"]

_INT_RE = re.compile(r"^\+?\d+$")
_FIXED_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)$")

RF_PORTS_RX, RF_PORTS_TX = RX_PORTS, TX_PORTS

#: DMA core registers (axi-ad9361 ADC/DAC cores, as direct_reg_access addresses them)
REG_VERSION, REG_ID, REG_SCRATCH, REG_DMA_STATUS = 0x80000000, 0x80000004, 0x80000008, 0x80000088
STATUS_UNDERFLOW, STATUS_OVERFLOW = 0x1, 0x4   # DAC core: bit 0; ADC core: bit 2 (write 1 to clear)
STALL_POLICIES = ("flag", "drop")
RECEIVERS = ("hardware", "ideal")
# The hardware receiver model (receiver="hardware"); levels in dB relative to ADC full scale.
ADC_FLOOR_DBFS = -72.0        # the ADC's own noise, whatever the gain
INPUT_NOISE_DBFS = -112.0     # input-referred noise at 0 dB gain (thermal + noise figure)
DC_TRACKED_DBFS, DC_UNTRACKED_DBFS = -72.0, -42.0
LO_LEAK_DBFS = -62.0          # TX LO leakage at the default TX attenuation
AGC_TARGET_DBFS = -12.0       # the AGC's peak target
AGC_STEP_DOWN_DB, AGC_STEP_UP_DB = 3.0, 1.0   # slow_attack / hybrid: per buffer


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
    tracking: dict = field(default_factory=lambda: {"quadrature": True, "rf_dc": True, "bb_dc": True})


class Registers:
    """A device's ``direct_reg_access`` debug attribute, as the drivers implement it: writing ``"0xADDR"``
    selects a register, reading returns its value as ``0xVALUE``, writing ``"0xADDR 0xVALUE"`` stores
    (libiio's ``iio_device_reg_read/write`` do exactly these two steps). ``w1c`` registers clear the bits
    written as 1 (the DMA status register); ``on_read`` hooks update a register before it is read."""

    def __init__(self, values: dict[int, int], w1c=(), read_only=(), on_read=None):
        self.values = dict(values)
        self.w1c = set(w1c)
        self.read_only = set(read_only)
        self.on_read = on_read or {}
        self.selected = 0

    def read(self, addr: int) -> int:
        hook = self.on_read.get(addr)
        if hook is not None:
            hook()
        return self.values.get(addr, 0)

    def read_selected(self) -> str:
        return f"0x{self.read(self.selected):X}"

    def set_bits(self, addr: int, bits: int) -> None:
        self.values[addr] = self.values.get(addr, 0) | bits

    def write(self, text: str) -> None:
        words = text.split()
        try:
            nums = [int(w, 0) for w in words]
        except ValueError:
            raise einval(f"direct_reg_access: {text!r}; allowed '0xADDR' or '0xADDR 0xVALUE'") from None
        if not 1 <= len(nums) <= 2 or any(not 0 <= v <= 0xFFFFFFFF for v in nums):
            raise einval(f"direct_reg_access: {text!r}; allowed '0xADDR' or '0xADDR 0xVALUE' (32-bit)")
        self.selected = nums[0]
        if len(nums) == 2:
            addr, val = nums
            if addr in self.w1c:
                self.values[addr] = self.values.get(addr, 0) & ~val
            elif addr not in self.read_only:
                self.values[addr] = val


class _RxBuffer(BufferHandler):
    def __init__(self, emu: PlutoEmulator):
        self.emu = emu
        self.channels: list[Channel] | None = None

    def open(self, samples_count, channels, cyclic):
        if cyclic:
            raise IioErrno(errno.EINVAL, "cf-ad9361-lpc: an RX buffer cannot be cyclic")
        self.channels = channels
        self.samples_count = int(samples_count)
        self.idle_since = time.monotonic()   # the DMA starts filling the kernel buffers now
        self.pace_origin, self.paced = self.idle_since, 0
        self.emu.rf.capturing = True

    def pace(self, nbytes):
        """With ``pace=True`` a refill returns no earlier than the DMA would have captured its samples:
        buffer open + samples / fs of wall-clock time (a late host is not made to catch up)."""
        emu = self.emu
        if not emu.pace or self.channels is None:
            return
        n = nbytes // (2 * len(self.channels))
        fs = float(emu.state.sample_rate)
        now = time.monotonic()
        due = self.pace_origin + (self.paced + n) / fs
        if due < now:      # the host is late (a stall): re-anchor, the overflow logic counts it
            self.pace_origin = now - (self.paced + n) / fs
        elif due > now:
            time.sleep(due - now)
            self.idle_since += due - now   # waiting for the device is not a host stall
        self.paced += n

    def _stall(self, n: int) -> None:
        """The host left the DMA alone for longer than the kernel buffers last: overflow (bit 2). With the
        "drop" policy the samples captured meanwhile beyond the buffers are lost, as on the device."""
        emu = self.emu
        dev = emu.context.device("cf-ad9361-lpc")
        fs = float(emu.state.sample_rate)
        gap = time.monotonic() - self.idle_since
        spare = max(dev.buffers_count - 1, 1) * self.samples_count   # filled while the host holds one
        if gap * fs > spare:
            emu.regs["rx"].set_bits(REG_DMA_STATUS, STATUS_OVERFLOW)
            emu.rx_overflows += 1
            if emu.stall_policy == "drop":
                lost = int(gap * fs) - spare
                emu.rf.skip(lost)
                emu.rx_samples_lost += lost

    def read(self, nbytes):
        chans = self.channels
        per_sample = 2 * len(chans)
        if nbytes % per_sample:
            raise einval(f"READBUF {nbytes} bytes is not a whole number of {per_sample}-byte samples")
        n = nbytes // per_sample
        emu = self.emu
        st = emu.state
        self._stall(n)
        digital = st.loopback == 1
        a = emu.rf.clock
        y = emu.rf.capture(n, st.sample_rate, lo_offset_hz=float(st.tx_lo - st.rx_lo),
                           bypass=digital, source=emu.dds_source)
        if st.rx_lo_powerdown or st.ensm_mode in ("sleep", "wait"):
            y = np.zeros_like(y)
        elif not digital and emu.receiver == "hardware":
            y = emu.front_end(y, a)
        cols = []
        for ch in chans:
            k = ch.scan.index
            comp = y[k // 2].imag if k % 2 else y[k // 2].real
            if digital:
                # FPGA digital loopback: the DAC's 16-bit words come back as the ADC's 12-bit samples,
                # RX = TX >> 4 (arithmetic shift), bit-exact, never clipped.
                cols.append(np.rint(comp * emu.tx_full_scale).astype(np.int64) >> 4)
            else:
                cols.append(np.clip(np.rint(comp * emu.rx_full_scale), -2048, 2047))
        emu.rx_samples += n
        self.idle_since = time.monotonic()
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
        self.samples_count = int(samples_count)
        self.dry_at = None   # wall-clock time at which the DAC runs out of pushed samples
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
        self.check_underflow()
        now = time.monotonic()
        if not self.cyclic:
            self.dry_at = max(self.dry_at or now, now) + raw.shape[0] / float(st.sample_rate)
        self.emu.rf.transmit(x, self.cyclic)
        self.pushed += 1
        self.emu.tx_samples += raw.shape[0]
        return len(data)

    def check_underflow(self) -> None:
        """A streaming (non-cyclic) buffer whose samples ran out before the next push: underflow (bit 0)."""
        if self.channels is not None and not self.cyclic and self.dry_at is not None \
                and time.monotonic() > self.dry_at:
            self.emu.regs["tx"].set_bits(REG_DMA_STATUS, STATUS_UNDERFLOW)
            self.emu.tx_underflows += 1
            self.dry_at = None   # counted once per dry spell

    def close(self):
        self.emu.rf.stop_tx()
        self.channels = None
        self.dry_at = None


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
    receiver : "hardware" | "ideal"
        ``hardware`` (default): the RF gains set the loop level (unity at the profile's default gains:
        RX 30 dB, TX -10 dB), the AGC modes move the RX gain towards a -12 dBFS peak (fast_attack within
        the buffer, slow_attack/hybrid by at most 3 dB down / 1 dB up per buffer), and the receiver is never
        silent: a gain-dependent noise floor (ADC -72 dBFS + input-referred noise -112 dBFS + gain), a DC
        residue (-72 dBFS with bb_dc_offset_tracking_en, -42 dBFS without) and TX LO leakage at the
        TX-RX LO offset (-62 dBFS at the default TX attenuation). ``ideal``: unity loop whatever the
        gains, no noise unless ``noise_var``, and an AGC mode reads the fixed ``agc_gain_db``.
    pace : bool
        Capture in real time: an RX refill returns when the DMA would have filled it (sample count / fs
        since the buffer was opened), like a Pluto; default False (as fast as the host asks).
    agc_gain_db : float
        What ``hardwaregain`` reads in an AGC mode.
    serial : str
        The context attribute ``hw_serial`` (backends key stored calibrations by profile + serial).

    Use as a context manager or call :meth:`start` / :meth:`stop`; :attr:`uri` is the libiio URI.
    """

    def __init__(self, profile: str | Profile = "pluto_ad9363", *, delay: float = 0.0,
                 frequency_offset_hz: float = 0.0, gain: complex = 1.0, paths=None, noise_var: float = 0.0,
                 seed: int = 0, agc_gain_db: float = 30.0, serial: str = "EMU00000001",
                 stall_policy: str = "flag", revision: str = "C", receiver: str = "hardware",
                 pace: bool = False):
        self.profile = load_profile(profile)
        if receiver not in RECEIVERS:
            raise ConfigError.bad_value("receiver", receiver, "one of " + ", ".join(RECEIVERS))
        self.receiver = receiver
        self.pace = bool(pace)
        if stall_policy not in STALL_POLICIES:
            raise ConfigError.bad_value("stall_policy", stall_policy, "one of " + ", ".join(STALL_POLICIES))
        self.stall_policy = stall_policy
        if revision not in ("A", "B", "C", "D"):
            raise ConfigError.bad_value("revision", revision, "one of A, B, C, D (the board revision in hw_model)")
        self.revision = revision
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
        self.rx_overflows = self.tx_underflows = self.rx_samples_lost = 0
        self.agc_gain = [float(agc_gain_db)] * n            # the AGC's current gain per RX channel (dB)
        self._fe_rngs = [np.random.default_rng([seed, 1000 + k]) for k in range(n)]
        # Registers behind direct_reg_access: the AD9361's SPI map (product ID) and the two DMA cores
        # (version, scratch, status with write-1-to-clear over/underflow bits).
        self.regs = {
            "phy": Registers({0x037: 0x0A}, read_only=(0x037,)),
            "rx": Registers({REG_VERSION: 0x000A0162, REG_ID: 0x0}, w1c=(REG_DMA_STATUS,),
                            read_only=(REG_VERSION, REG_ID)),
            "tx": Registers({REG_VERSION: 0x00090162, REG_ID: 0x0}, w1c=(REG_DMA_STATUS,),
                            read_only=(REG_VERSION, REG_ID),
                            on_read={REG_DMA_STATUS: lambda: self._tx_buffer().check_underflow()}),
        }
        # DDS tones: on, but at scale 0 (silent) until a client sets them, e.g. pyadi-iio dds_single_tone.
        self.dds = [{"raw": True, "frequency": 9279985, "phase": 90000 if (k // 2) % 2 == 0 else 0, "scale": 0.0}
                    for k in range(4 * n)]
        self.context = self._build_context()
        self._server: IiodServer | None = None

    # -- the receiver (receiver="hardware") -----------------------------------------------------
    def rx_gain_now(self, ch: int) -> float:
        """The RX gain in force (dB): the manual setting, or the AGC's (``agc_gain_db`` if ideal)."""
        st = self.state
        if st.gain_mode[ch] == "manual":
            return st.rx_gain[ch]
        return self.agc_gain[ch] if self.receiver == "hardware" else self.agc_gain_db

    def noise_floor_dbfs(self, ch: int) -> float:
        g = self.rx_gain_now(ch)
        return 10 * np.log10(10 ** (ADC_FLOOR_DBFS / 10) + 10 ** ((INPUT_NOISE_DBFS + g) / 10))

    def front_end(self, y: np.ndarray, a: int) -> np.ndarray:
        """The analog front end of each RX channel on the unity-loop samples ``y`` (channels, n) that
        start at absolute sample ``a``: RF gains, AGC, LO leakage, DC residue, noise."""
        st, p = self.state, self.profile
        ref_rx, ref_tx = float(p.defaults.rx_gain), float(p.defaults.tx_gain)
        n = y.shape[1]
        out = np.empty_like(y)
        idx = np.arange(a, a + n)
        for ch in range(y.shape[0]):
            tx_db = st.tx_atten[ch] - ref_tx
            x = y[ch] * 10 ** (tx_db / 20)
            mode = st.gain_mode[ch]
            rng = p.rx.gain.range_at(st.rx_lo)
            if mode != "manual":
                g = self.agc_gain[ch]
                peak = float(np.max(np.abs(x))) if n else 0.0
                if peak > 0:
                    want = float(np.clip(g + AGC_TARGET_DBFS - (20 * np.log10(peak) + g - ref_rx), rng.min, rng.max))
                else:
                    want = float(rng.max)
                if mode == "fast_attack":
                    g = want                       # reacts within microseconds: the whole buffer at the new gain
                    self.agc_gain[ch] = g
                else:                              # slow_attack / hybrid: this buffer at the old gain
                    step = np.clip(want - g, -AGC_STEP_DOWN_DB, AGC_STEP_UP_DB)
                    self.agc_gain[ch] = float(np.round(g + step))
            g = self.rx_gain_now(ch)
            z = x * 10 ** ((g - ref_rx) / 20)
            if not st.tx_lo_powerdown and abs(st.tx_lo - st.rx_lo) < st.sample_rate / 2:
                nu = (st.tx_lo - st.rx_lo) / st.sample_rate
                leak = 10 ** ((LO_LEAK_DBFS + tx_db + g - ref_rx) / 20)
                z = z + leak * np.exp(2j * np.pi * np.mod(nu * idx, 1.0))
            dc_db = DC_TRACKED_DBFS if st.tracking["bb_dc"] else DC_UNTRACKED_DBFS
            z = z + 10 ** (dc_db / 20) * np.exp(1j * np.pi / 4)
            sigma = 10 ** (self.noise_floor_dbfs(ch) / 20) / np.sqrt(2)
            w = self._fe_rngs[ch].standard_normal(2 * n)
            out[ch] = z + sigma * (w[0::2] + 1j * w[1::2])
        return out

    def _rssi_db(self, ch: int) -> float:
        """The RSSI readback: dB below full scale of the received power (+ the gain, as the driver's
        RSSI is referred to the antenna); a constant in the ideal receiver."""
        return 30.0

    def _tx_buffer(self):
        return self.context.device("cf-ad9361-dds-core-lpc").buffer

    def _gaininfo(self, ch: int) -> str:
        return f"{self.rx_gain_now(ch):.0f} 0 0 0 0 0 0 0"

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
            return f"{self.rx_gain_now(ch):.6f} dB"
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

    # -- the IIO context (built from hil/iiod/pluto_layout.py) ---------------------------------
    def _handler(self, key: str, ch: int):
        """(get, set) of the behaviour ``key`` of the layout table for channel index ``ch``."""
        st, p = self.state, self.profile
        if key.startswith("const:"):
            text = key[6:]
            return (lambda: text), None
        if key.startswith("stored:"):
            return self._stored(f"{key}#{ch}#{len(st.misc)}", key[7:])
        if key.startswith("dds:"):
            tone = self.dds[ch]
            what = key[4:]
            fmt = (lambda t=tone: f"{t['scale']:.6f}") if what == "scale" else \
                  (lambda t=tone, w=what: str(int(t[w])))
            return fmt, self._dds_setter(ch, what)
        if key.startswith("tracking:"):
            name = key[9:]
            return (lambda: str(int(st.tracking[name]))), self._tracking_setter(name)
        if key.startswith("dma_reg:"):
            regs = self.regs[key[8:]]
            return regs.read_selected, regs.write
        if key.startswith("buffer_data_available:"):
            side = key.split(":")[1]
            return (lambda: str(self._data_available(side))), None
        if key.startswith("buffer_watermark:"):
            return self._stored(f"{key}#{ch}", "2048")
        if key.startswith("gaininfo:"):
            return (lambda: self._gaininfo(int(key[9:]))), None
        for side in ("rx", "tx"):
            rng = getattr(p, side).frequency
            if key == f"{side}_lo":
                return (lambda k=f"{side}_lo": str(getattr(st, k))), self._lo_setter(f"{side}_lo", side)
            if key == f"{side}_lo_available":
                return (lambda r=rng: f"[{r.min:.0f} 1 {r.max:.0f}]"), None
            if key == f"{side}_lo_powerdown":
                return (lambda k=f"{side}_lo_powerdown": str(int(getattr(st, k)))), self._flag(f"{side}_lo_powerdown")
            if key == f"{side}_bw":
                return (lambda k=f"{side}_bw": str(getattr(st, k))), self._bw_setter(f"{side}_bw", side)
            if key == f"{side}_bw_available":
                b = getattr(p, side).bandwidth
                return (lambda b=b: f"[{b.min:.0f} 1 {b.max:.0f}]"), None
        table = {
            "rx_gain": (self._rx_gain_getter(ch), self._rx_gain_setter(ch)),
            "rx_gain_available": (self._rx_gain_available, None),
            "gain_mode": ((lambda: st.gain_mode[ch]), self._gain_mode_setter(ch)),
            "gain_modes": ((lambda: " ".join(p.rx.gain.modes)), None),
            "rx_port": ((lambda: st.rf_port_rx), self._choice("rf_port_rx", RF_PORTS_RX)),
            "rx_rssi": ((lambda: f"{self._rssi_db(ch):.2f} dB"), None),
            "tx_rssi": ((lambda: "0.00 dB"), None),
            "rate": ((lambda: str(st.sample_rate)), self._set_rate),
            "rate_available": ((lambda: "[{:.0f} 1 {:.0f}]".format(*self.rate_limits())), None),
            "fir_en": ((lambda: str(int(st.fir_enabled))), self._set_fir_enable),
            "tx_gain": ((lambda: f"{st.tx_atten[ch]:.6f} dB"), self._tx_gain_setter(ch)),
            "tx_gain_available": ((lambda r=p.tx.gain.range: f"[{r.min:g} {r.step or 0.25:g} {r.max:g}]"), None),
            "tx_port": ((lambda: st.rf_port_tx), self._choice("rf_port_tx", RF_PORTS_TX)),
            "calib_mode": ((lambda: st.calib_mode), self._choice("calib_mode", CALIB_MODES)),
            "ensm_mode": ((lambda: st.ensm_mode), self._choice("ensm_mode", ENSM_MODES)),
            "fir_config": (self._fir_config_text, self._set_fir_config),
            "rx_path_rates": ((lambda: self._path_rates(False)), None),
            "tx_path_rates": ((lambda: self._path_rates(True)), None),
            "xo_correction": ((lambda: str(st.xo_correction)),
                              (lambda t: setattr(st, "xo_correction", _kstrtoull(t, "xo_correction")))),
            "spi_reg": (self.regs["phy"].read_selected, self.regs["phy"].write),
            "loopback": ((lambda: str(st.loopback)), self._set_loopback),
            "dma_rate": ((lambda: str(st.sample_rate)), self._dma_rate_set),
            "dma_rate_ro": ((lambda: str(st.sample_rate)), None),
            "dma_rate_available": ((lambda: f"{st.sample_rate} {st.sample_rate // 8}"), None),
        }
        if key not in table:  # pragma: no cover - the layout table and this method are kept in step by a test
            raise KeyError(f"pluto_layout: no behaviour {key!r}")
        return table[key]

    def _set_loopback(self, text: str) -> None:
        v = int(_fixed(text, "loopback"))
        if v not in (0, 1, 2):
            raise einval(f"loopback {v}; allowed 0 (off), 1 (digital), 2 (RF)")
        self.state.loopback = v

    def _dma_rate_set(self, text: str) -> None:
        if int(_fixed(text, "sampling_frequency")) != self.state.sample_rate:
            raise einval("the FPGA x8 decimation/interpolation is not emulated; only the full rate is allowed")

    def _tracking_setter(self, name: str):
        def set_(text: str) -> None:
            v = _kstrtoull(text, f"{name}_tracking_en")
            if v not in (0, 1):
                raise einval(f"{name}_tracking_en: {v}; allowed 0 or 1")
            self.state.tracking[name] = bool(v)
        return set_

    def _data_available(self, side: str) -> int:
        dev = self.context.device("cf-ad9361-lpc" if side == "rx" else "cf-ad9361-dds-core-lpc")
        buf = dev.buffer
        if buf is None or buf.channels is None:
            return 0
        return int(getattr(buf, "samples_count", 0)) * 2 * len(buf.channels)

    def _build_context(self) -> IioContext:
        p, n = self.profile, self.n_channels
        devices = {name: Device(dev_id, name) for dev_id, name in DEVICES}
        devices["cf-ad9361-dds-core-lpc"].buffer = _TxBuffer(self)
        devices["cf-ad9361-lpc"].buffer = _RxBuffer(self)
        labels = {(d, c, o): (lab, scan) for d, c, o, lab, scan in CHANNELS}

        def expand(cid: str) -> list[tuple[str, int, str | None]]:
            """Channel id pattern -> [(id, index, label)]."""
            if cid == "voltage{rx}" or cid == "voltage{tx}":
                return [(f"voltage{k}", k, None) for k in range(n)]
            if cid == "voltage{iq}":
                return [(f"voltage{k}", k, None) for k in range(2 * n)]
            if cid == "altvoltage{dds}":
                return [(f"altvoltage{k}", k, f"TX{k // 4 + 1}_{'I' if (k // 2) % 2 == 0 else 'Q'}_F{k % 2 + 1}")
                        for k in range(4 * n)]
            return [(cid, 0, None)]

        for dev_name, cid, output, attr, scope, key in LAYOUT:
            dev = devices[dev_name]
            if cid is None or cid in ("debug", "buffer"):
                table = dev.attrs if cid is None else dev.debug_attrs if cid == "debug" else dev.buffer_attrs
                table[attr] = Attr(attr, *self._handler(key, 0))
                continue
            for chan_id, k, dds_label in expand(cid):
                label, scan = labels.get((dev_name, cid, output), (dds_label, None))
                try:
                    ch = dev.channel(chan_id, output)
                except IioErrno:
                    ch = Channel(chan_id, output, name=label,
                                 scan=ScanElement(k, scan) if scan is not None else None)
                    dev.channels.append(ch)
                ch.add(Attr(attr, *self._handler(key, k), attr_filename(chan_id, output, label, attr, scope)))
        chip = p.chip.split()[0].lower()
        return IioContext(
            name="network",
            description=f"leo-hil Pluto emulator ({p.name}, {p.chip}) Linux (none) 5.15.0 armv7l",
            devices=list(devices.values()),
            context_attrs={"hw_model": hw_model(p.chip, self.revision), "hw_model_variant": "0",
                           "hw_serial": self.serial, "fw_version": "v0.38",
                           "ad9361-phy,xo_correction": str(self.state.xo_correction),
                           "ad9361-phy,model": chip + ("a" if chip == "ad9363" else ""),
                           "local,kernel": "5.15.0-175157-g2b7d8ce9d3fb", "hil,emulated": "1",
                           "hil,profile": p.name})
