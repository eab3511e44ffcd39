"""Device profiles: what one radio (in one firmware mode) accepts, as validated data.

A profile is a YAML file in ``firmware_cfg/profiles/NAME.yaml`` validated into :class:`Profile` by
:func:`hil.config.parse`; every value a backend may set is checked here, before any hardware call::

    prof = load_profile("pluto_ad9363")
    prof.check("rx_frequency", 70e9)
    # ConfigError: rx_frequency: got 70000000000.0; allowed: 325 MHz..3.8 GHz (step 1 Hz) (profile pluto_ad9363)

``check`` returns the value the device would apply (quantised to the profile's step), so a backend
can apply it and its getter reads back the applied value. Nothing is clamped: out of range raises.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Literal

from hil.config import load_yaml, parse, spec, to_dict
from hil.errors import ConfigError

__all__ = [
    "Range",
    "GainBand",
    "GainSpec",
    "SampleRateSpec",
    "DirectionSpec",
    "Defaults",
    "Throughput",
    "FirSpec",
    "Profile",
    "SETTINGS",
    "PROFILE_DIR",
    "load_profile",
    "list_profiles",
    "profile_path",
    "si",
]

PROFILE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "profiles")

# Settings a Radio exposes, in the order configure() applies them (rate before the bandwidths it
# bounds, frequency before the gain whose range depends on it, gain mode before gain).
SETTINGS = ("rx_channels", "tx_channels", "sample_rate", "rx_bandwidth", "tx_bandwidth", "rx_frequency",
            "tx_frequency", "rx_antenna", "tx_antenna", "rx_gain_mode", "tx_gain_mode", "rx_gain", "tx_gain")

_UNITS = {"sample_rate": "Hz", "rx_bandwidth": "Hz", "tx_bandwidth": "Hz", "rx_frequency": "Hz",
          "tx_frequency": "Hz", "rx_gain": "dB", "tx_gain": "dB"}


def si(value: float, unit: str = "") -> str:
    """Engineering notation with SI prefix, up to 7 significant digits: ``si(3.25e8, "Hz") -> "325 MHz"``."""
    if value == 0 or not math.isfinite(value) or unit not in ("Hz", "sps", "S/s"):
        return f"{value:g} {unit}".strip() if unit else f"{value:g}"
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, "")):
        if abs(value) >= scale:
            return f"{value / scale:.7g} {prefix}{unit}"
    return f"{value:.7g} {unit}"


@dataclass(frozen=True)
class Range:
    """A closed interval ``min..max`` with an optional quantisation ``step`` (0: continuous)."""

    min: float
    max: float
    step: float = field(default=0.0, metadata=spec(ge=0))

    def validate(self):
        if self.min > self.max:
            raise ConfigError.bad_value("min", self.min, f"<= max ({self.max})")
        if self.step > 0 and self.step > self.max - self.min and self.max > self.min:
            raise ConfigError.bad_value("step", self.step, f"<= max - min ({self.max - self.min})")

    def describe(self, unit: str = "") -> str:
        step = f" (step {si(self.step, unit)})" if self.step else ""
        return f"{si(self.min, unit)}..{si(self.max, unit)}{step}"

    def quantise(self, value: float) -> float:
        """The value on the step grid (anchored at ``min``) nearest to ``value`` (unchanged if step is 0)."""
        if not self.step:
            return float(value)
        k = round((value - self.min) / self.step)
        q = self.min + k * self.step
        # Rounding must never push a value that was inside the range outside it.
        return float(min(max(q, self.min), self.max))

    def contains(self, value: float) -> bool:
        # A relative tolerance of 1e-12 absorbs decimal-to-binary noise ("3.8e9" vs 3.8e9 computed).
        tol = 1e-12 * max(abs(self.min), abs(self.max), 1.0)
        return self.min - tol <= value <= self.max + tol


@dataclass(frozen=True)
class GainBand:
    """Gain range that applies while the LO frequency is below ``below_hz`` (first match wins)."""

    below_hz: float = field(metadata=spec(gt=0, unit="Hz"))
    min: float = field(metadata=spec(unit="dB"))
    max: float = field(metadata=spec(unit="dB"))


@dataclass(frozen=True)
class GainSpec:
    """Gain range (dB), its step, and the gain-control modes; ``manual`` is the only mode in which a
    gain value is applied (others are automatic loops that own the gain)."""

    range: Range
    modes: list[str] = field(default_factory=lambda: ["manual"], metadata=spec(min_len=1))
    default_mode: str = "manual"
    bands: list[GainBand] = field(default_factory=list)

    def validate(self):
        if self.default_mode not in self.modes:
            raise ConfigError.bad_value("default_mode", self.default_mode, "one of " + ", ".join(self.modes))
        if "manual" not in self.modes:
            raise ConfigError.bad_value("modes", self.modes, "a list that includes 'manual'")
        last = 0.0
        for i, b in enumerate(self.bands):
            if b.below_hz <= last:
                raise ConfigError.bad_value(f"bands[{i}].below_hz", b.below_hz, f"> {last} (ascending)")
            if not (self.range.min <= b.min <= b.max <= self.range.max):
                raise ConfigError.bad_value(f"bands[{i}]", f"{b.min}..{b.max}",
                                            f"inside the gain range {self.range.describe('dB')}")
            last = b.below_hz

    def range_at(self, frequency: float | None) -> Range:
        """The gain range that applies at LO ``frequency`` (Hz)."""
        if frequency is not None:
            for b in self.bands:
                if frequency < b.below_hz:
                    return Range(b.min, b.max, self.range.step)
        return self.range


@dataclass(frozen=True)
class SampleRateSpec:
    """Sample rates (Hz). With ``master_clocks_hz`` the rate must be a master clock divided by an integer
    ``1..max_divisor`` (USRP X3xx); otherwise any value in ``range`` on its step grid."""

    range: Range
    master_clocks_hz: list[float] = field(default_factory=list)
    max_divisor: int = field(default=1, metadata=spec(ge=1))
    max_multichannel_hz: float | None = field(default=None, metadata=spec(gt=0, unit="Hz",
                                              doc="limit per channel when two channels stream"))
    fir_required_below_hz: float | None = field(default=None, metadata=spec(gt=0, unit="Hz",
                                                doc="below this rate the FIR decimator must be loaded"))

    def describe(self) -> str:
        if self.master_clocks_hz:
            clocks = " or ".join(si(c, "Hz") for c in self.master_clocks_hz)
            return f"{clocks} / an integer 1..{self.max_divisor}, within {self.range.describe('Hz')}"
        return self.range.describe("Hz")

    def quantise(self, value: float) -> float | None:
        """Nearest allowed rate, or None if none is within 0.1 % (then the value is not allowed)."""
        if self.master_clocks_hz:
            best = None
            for mclk in self.master_clocks_hz:
                d = max(1, min(self.max_divisor, round(mclk / value)))
                r = mclk / d
                if self.range.contains(r) and (best is None or abs(r - value) < abs(best - value)):
                    best = r
            if best is None or abs(best - value) > 1e-3 * value:
                return None
            return best
        return self.range.quantise(value)


@dataclass(frozen=True)
class DirectionSpec:
    """One direction (RX or TX) of the front end."""

    channels: list[str] = field(metadata=spec(min_len=1, doc="channel names, index = channel number"))
    frequency: Range
    bandwidth: Range
    gain: GainSpec
    antennas: list[str] = field(default_factory=list)
    full_scale: float | None = field(default=None, metadata=spec(gt=0, doc="device units at +/-1.0"))


@dataclass(frozen=True)
class Defaults:
    """Values applied by ``configure()`` to every setting the caller did not give."""

    sample_rate: float = field(metadata=spec(gt=0, unit="Hz"))
    rx_frequency: float = field(metadata=spec(gt=0, unit="Hz"))
    tx_frequency: float = field(metadata=spec(gt=0, unit="Hz"))
    rx_bandwidth: float = field(metadata=spec(gt=0, unit="Hz"))
    tx_bandwidth: float = field(metadata=spec(gt=0, unit="Hz"))
    rx_gain: float = field(metadata=spec(unit="dB"))
    tx_gain: float = field(metadata=spec(unit="dB"))
    rx_antenna: str | None = None
    tx_antenna: str | None = None


@dataclass(frozen=True)
class Throughput:
    """How fast samples can move between device and host without drops."""

    interface: Literal["none", "usb2", "usb3", "ethernet", "10gbe", "pcie"] = "none"
    max_sustained_sps: float | None = field(default=None, metadata=spec(gt=0, unit="S/s"))
    notes: str = ""


@dataclass(frozen=True)
class FirSpec:
    """A FIR file (firmware_cfg/fir/NAME.ftr) loaded for rates below ``SampleRateSpec.fir_required_below_hz``."""

    file: str = field(metadata=spec(min_len=1))
    sample_rate: float = field(metadata=spec(gt=0, unit="Hz", doc="the rate the file's clocks are for"))


@dataclass(frozen=True)
class Profile:
    """Everything a backend needs to know about one device in one firmware mode."""

    name: str = field(metadata=spec(min_len=1))
    backend: Literal["mock", "pluto", "soapy"]
    description: str
    chip: str
    default_uri: str
    sample_rate: SampleRateSpec
    rx: DirectionSpec
    tx: DirectionSpec
    defaults: Defaults
    uri_examples: list[str] = field(default_factory=list)
    throughput: Throughput = field(default_factory=Throughput)
    fir: list[FirSpec] = field(default_factory=list)
    firmware: dict[str, str] = field(default_factory=dict,
                                     metadata=spec(doc="firmware environment this profile assumes (docs)"))
    notes: list[str] = field(default_factory=list)

    def validate(self):
        d = self.defaults
        for name in ("sample_rate", "rx_frequency", "tx_frequency", "rx_bandwidth", "tx_bandwidth"):
            self.check(name, getattr(d, name), field_name=f"defaults.{name}")
        self.check("rx_gain", d.rx_gain, field_name="defaults.rx_gain", frequency=d.rx_frequency)
        self.check("tx_gain", d.tx_gain, field_name="defaults.tx_gain", frequency=d.tx_frequency)
        for side in ("rx", "tx"):
            ant = getattr(d, f"{side}_antenna")
            if ant is not None:
                self.check(f"{side}_antenna", ant, field_name=f"defaults.{side}_antenna")
        sr = self.sample_rate
        if sr.max_multichannel_hz is not None and sr.max_multichannel_hz > sr.range.max:
            raise ConfigError.bad_value("sample_rate.max_multichannel_hz", sr.max_multichannel_hz,
                                        f"<= sample_rate.range.max ({sr.range.max})")

    # -- checks used by the backends -------------------------------------------------------------
    def _fail(self, field_name: str, value, allowed: str):
        raise ConfigError.bad_value(field_name, value, f"{allowed} (profile {self.name})")

    def direction(self, side: str) -> DirectionSpec:
        return self.rx if side == "rx" else self.tx

    def allowed(self, setting: str, *, frequency: float | None = None, channels: int = 1) -> str:
        """Human-readable description of what ``setting`` accepts (used in error messages and docs)."""
        side, _, what = setting.partition("_")
        if setting == "sample_rate":
            text = self.sample_rate.describe()
            if channels > 1 and self.sample_rate.max_multichannel_hz:
                text += f", at most {si(self.sample_rate.max_multichannel_hz, 'Hz')} with {channels} channels"
            return text
        d = self.direction(side)
        if what == "frequency":
            return d.frequency.describe("Hz")
        if what == "bandwidth":
            return d.bandwidth.describe("Hz")
        if what == "gain":
            rng = d.gain.range_at(frequency)
            at = f" at {si(frequency, 'Hz')}" if frequency is not None and d.gain.bands else ""
            return rng.describe("dB") + at
        if what == "gain_mode":
            return "one of " + ", ".join(repr(m) for m in d.gain.modes)
        if what == "antenna":
            return "one of " + ", ".join(repr(a) for a in d.antennas) if d.antennas else "None (no antenna switch)"
        if what == "channels":
            return (f"a non-empty list of distinct channel numbers 0..{len(d.channels) - 1} "
                    f"({', '.join(d.channels)})")
        raise ConfigError.bad_value("setting", setting, "one of " + ", ".join(SETTINGS))

    def check(self, setting: str, value, *, field_name: str | None = None, frequency: float | None = None,
              channels: int = 1):
        """Validate ``value`` for ``setting`` and return what the device applies (quantised).

        ``frequency`` (Hz) is the LO frequency for gains whose range depends on it; ``channels`` the
        number of streaming channels (sample-rate limit with two). Raises ConfigError naming the
        setting, the value and the allowed range of this profile.
        """
        fname = field_name or setting
        if setting not in SETTINGS:
            self._fail("setting", setting, "one of " + ", ".join(SETTINGS))
        side, _, what = setting.partition("_")
        if what in ("gain_mode", "antenna"):
            d = self.direction(side)
            choices = d.gain.modes if what == "gain_mode" else d.antennas
            if what == "antenna" and not choices and value is None:
                return None
            if value not in choices:
                self._fail(fname, value, self.allowed(setting))
            return value
        if what == "channels":
            d = self.direction(side)
            try:
                chans = tuple(int(c) for c in value)
                ok = (len(chans) >= 1 and len(set(chans)) == len(chans)
                      and all(0 <= c < len(d.channels) and float(c) == float(v) for c, v in zip(chans, value)))
            except (TypeError, ValueError):
                ok = False
            if not ok:
                self._fail(fname, value, self.allowed(setting))
            return chans
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
            self._fail(fname, value, f"a finite number, {self.allowed(setting, frequency=frequency)}")
        value = float(value)
        if setting == "sample_rate":
            sr = self.sample_rate
            limit = sr.max_multichannel_hz if channels > 1 and sr.max_multichannel_hz else sr.range.max
            q = sr.quantise(value) if sr.range.contains(value) and value <= limit * (1 + 1e-12) else None
            if q is None:
                self._fail(fname, value, self.allowed(setting, channels=channels))
            return q
        d = self.direction(side)
        rng = {"frequency": d.frequency, "bandwidth": d.bandwidth}.get(what)
        if rng is None:  # gain
            rng = d.gain.range_at(frequency)
        if not rng.contains(value):
            self._fail(fname, value, self.allowed(setting, frequency=frequency))
        return rng.quantise(value)

    def default(self, setting: str):
        """The profile's default for ``setting`` (channels: channel 0; gain mode: the spec's default)."""
        side, _, what = setting.partition("_")
        if what == "channels":
            return (0,)
        if what == "gain_mode":
            return self.direction(side).gain.default_mode
        return getattr(self.defaults, setting)

    def fir_path(self, spec_: FirSpec) -> str:
        return os.path.join(os.path.dirname(PROFILE_DIR), "fir", spec_.file)

    def to_dict(self) -> dict:
        return to_dict(self)


def profile_path(name: str) -> str:
    return os.path.join(PROFILE_DIR, f"{name}.yaml")


def list_profiles() -> list[str]:
    """Names of the profiles shipped in firmware_cfg/profiles/."""
    return sorted(f[:-5] for f in os.listdir(PROFILE_DIR) if f.endswith(".yaml"))


_cache: dict[str, Profile] = {}


def load_profile(name_or_path: str | os.PathLike | Profile) -> Profile:
    """Load and validate a profile by name (``"pluto_ad9363"``) or from a YAML file path.

    Errors name the file, the field path, the value and what is allowed; an unknown name lists the
    profiles that exist.
    """
    if isinstance(name_or_path, Profile):
        return name_or_path
    text = os.fspath(name_or_path)
    is_path = text.endswith((".yaml", ".yml")) or os.sep in text
    if not is_path:
        if text in _cache:
            return _cache[text]
        path = profile_path(text)
        if not os.path.exists(path):
            raise ConfigError.bad_value("profile", text, "one of " + ", ".join(list_profiles()))
    else:
        path = text
    prof = parse(Profile, load_yaml(path), source=path)
    stem = os.path.splitext(os.path.basename(path))[0]
    if prof.name != stem:
        raise ConfigError.bad_value("name", prof.name, f"{stem!r} (the file name without .yaml)", source=path)
    for i, f in enumerate(prof.fir):
        if not os.path.exists(prof.fir_path(f)):
            raise ConfigError.bad_value(f"fir[{i}].file", f.file, f"a file in {os.path.dirname(prof.fir_path(f))}",
                                        source=path)
    if not is_path:
        _cache[text] = prof
    return prof
