"""The Radio test suite shared by every backend (mock, Soapy fake, Pluto emulation, real hardware).

Use it by subclassing :class:`RadioSuite` in a ``tests/test_*.py`` file and providing ``make_radio``::

    class TestMyBackend(RadioSuite):
        def make_radio(self, **options):          # a new, closed radio
            return MyRadio("my_profile", "uri", **options)
        def inject(self, radio, kind, count=1):    # optional: "overflow", "underflow", "timeout"
            ...                                    # (leave out, or set can_inject = False)

Class attributes say what the backend can do: ``loopback`` (TX comes back on RX bit-exactly after
``latency`` samples), ``can_inject``, ``timed_tx`` (``write(at_sample=...)``), ``natural_underflow``
(an open burst that runs dry is reported). Hardware runs set ``loopback = False`` (unless cabled) and
``can_inject = False``; the lifecycle, validation and metadata tests still apply.

Tests build radios inside the test (no fixtures), so hypothesis can drive them too.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from firmware_cfg import SETTINGS
from hil.backends.base import RadioState
from hil.errors import ConfigError, DeviceError, StreamError, StreamOverflow, StreamTimeout, StreamUnderflow

__all__ = ["RadioSuite", "tone"]

NUMERIC = ("sample_rate", "rx_frequency", "tx_frequency", "rx_bandwidth", "tx_bandwidth", "rx_gain", "tx_gain")


def tone(n: int, cycles_per_sample: float = 0.01, amplitude: float = 0.5, seed: int = 0) -> np.ndarray:
    """A test signal: a tone plus a little seeded noise, complex64, well inside full scale."""
    rng = np.random.default_rng(seed)
    x = amplitude * np.exp(2j * np.pi * cycles_per_sample * np.arange(n))
    x = x + 0.05 * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
    return x.astype(np.complex64)


def _range_of(radio, name):
    prof = radio.profile
    if name == "sample_rate":
        return prof.sample_rate.range
    side, _, what = name.partition("_")
    d = prof.direction(side)
    if what == "gain":
        return d.gain.range_at(radio.get(f"{side}_frequency"))
    return getattr(d, what)


class RadioSuite:
    loopback = True
    latency = 0
    can_inject = True
    timed_tx = True
    natural_underflow = True

    # -- to provide ------------------------------------------------------------------------------
    def make_radio(self, **options):  # pragma: no cover - overridden
        raise NotImplementedError

    def inject(self, radio, kind: str, count: int = 1):
        getattr(radio, f"inject_{kind}")(*(() if kind == "timeout" else (count,)))

    # -- helpers ---------------------------------------------------------------------------------
    def started(self, **options):
        r = self.make_radio(**options)
        r.open()
        r.configure()
        r.start()
        return r

    def need(self, flag: str):
        if not getattr(self, flag):
            pytest.skip(f"backend does not support {flag}")

    # -- life cycle ------------------------------------------------------------------------------
    def test_state_machine(self):
        r = self.make_radio()
        assert r.state is RadioState.CLOSED and not r.is_open
        r.open()
        assert r.state is RadioState.OPEN
        r.configure()
        assert r.state is RadioState.CONFIGURED
        r.start()
        assert r.state is RadioState.STREAMING and r.streaming
        r.stop()
        assert r.state is RadioState.CONFIGURED
        r.stop()  # idempotent
        r.start()
        r.close()
        assert r.state is RadioState.CLOSED
        r.close()  # idempotent

    def test_wrong_state_errors_say_what_to_do(self):
        r = self.make_radio()
        with pytest.raises(DeviceError, match=r"open\(\)"):
            r.read(10)
        with pytest.raises(DeviceError, match=r"open\(\)"):
            r.configure()
        with pytest.raises(DeviceError, match=r"open\(\)"):
            r.sample_rate = 1e6
        r.open()
        with pytest.raises(DeviceError, match=r"configure\(\)"):
            r.start()
        with pytest.raises(DeviceError, match=r"open\(\) needs"):
            r.open()
        r.configure()
        with pytest.raises(DeviceError, match=r"start\(\)"):
            r.write(np.zeros(8, np.complex64))
        with pytest.raises(DeviceError, match=r"start\(\)"):
            r.read(8)
        r.start()
        r.close()
        with pytest.raises(DeviceError, match="closed"):
            r.read(8)
        with pytest.raises(DeviceError, match="closed"):
            r.write(np.zeros(8, np.complex64))
        with pytest.raises(DeviceError, match="closed"):
            _ = r.rx_frequency

    def test_context_manager_closes_even_on_error(self):
        r = self.make_radio()
        with pytest.raises(KeyError):
            with r:
                r.configure()
                r.start()
                raise KeyError("boom")
        assert r.state is RadioState.CLOSED

    # -- settings --------------------------------------------------------------------------------
    def test_configure_applies_profile_defaults(self):
        with self.make_radio() as r:
            r.configure()
            d = r.profile.defaults
            for name in NUMERIC:
                want = getattr(d, name)
                got = r.get(name)
                rng = _range_of(r, name)
                tol = max(rng.step / 2, 1.0 if "frequency" in name else 0.0) + 1e-9 * abs(want)
                assert abs(got - want) <= tol, (name, got, want)
            assert r.rx_channels == (0,) and r.tx_channels == (0,)

    def test_unknown_setting_lists_the_known_ones(self):
        with self.make_radio() as r:
            with pytest.raises(ConfigError, match="known settings: .*rx_frequency"):
                r.configure(rx_freq=1e9)

    @pytest.mark.parametrize("name", NUMERIC)
    def test_in_range_value_reads_back_applied(self, name):
        with self.make_radio() as r:
            r.configure()
            rng = _range_of(r, name)
            # an off-grid value inside the range: 0.37 of the way plus a third of a step
            value = rng.min + 0.37 * (rng.max - rng.min) + rng.step / 3
            if r.profile.sample_rate.master_clocks_hz and name == "sample_rate":
                value = r.profile.sample_rate.master_clocks_hz[0] / 40 * (1 + 1e-5)
            r.set(name, value)
            got = getattr(r, name)
            if rng.step:
                k = (got - rng.min) / rng.step
                assert abs(k - round(k)) < 1e-6, (name, got)  # on the profile's grid
                assert abs(got - value) <= rng.step / 2 + 1e-9 * abs(value)
            elif name == "sample_rate" and r.profile.sample_rate.master_clocks_hz:
                assert got == r.profile.sample_rate.master_clocks_hz[0] / 40
            else:
                assert abs(got - value) <= (0.5 if "frequency" in name else 1e-9 * abs(value)), (name, got, value)

    @pytest.mark.parametrize("name", NUMERIC)
    def test_out_of_range_raises_with_the_profile_range(self, name):
        with self.make_radio() as r:
            r.configure()
            before = r.get(name)
            rng = _range_of(r, name)
            span = max(rng.max - rng.min, abs(rng.max), 1.0)
            for bad in (rng.max + span, rng.min - span):
                with pytest.raises(ConfigError) as ex:
                    r.set(name, bad)
                msg = str(ex.value)
                assert name in msg and repr(float(bad)) in msg
                assert rng.describe("dB" if "gain" in name else "Hz") in msg, msg
                assert f"profile {r.profile.name}" in msg
            assert r.get(name) == before  # nothing was applied

    def test_refuses_70_ghz_unless_the_profile_allows_it(self):
        with self.make_radio() as r:
            r.configure()
            if r.profile.rx.frequency.max >= 70e9:
                r.rx_frequency = 70e9
                assert r.rx_frequency == pytest.approx(70e9, abs=1)
            else:
                with pytest.raises(ConfigError, match="rx_frequency: got 70000000000.0"):
                    r.rx_frequency = 70e9

    @pytest.mark.parametrize("bad", [float("nan"), float("inf"), "2.4e9", None, True])
    def test_non_numbers_are_refused(self, bad):
        with self.make_radio() as r:
            r.configure()
            with pytest.raises(ConfigError, match="rx_frequency"):
                r.rx_frequency = bad

    def test_gain_needs_manual_mode(self):
        with self.make_radio() as r:
            r.configure()
            modes = [m for m in r.profile.rx.gain.modes if m != "manual"]
            if not modes:
                with pytest.raises(ConfigError, match="rx_gain_mode"):
                    r.rx_gain_mode = "agc"
                return
            r.rx_gain_mode = modes[0]
            assert r.rx_gain_mode == modes[0]
            with pytest.raises(ConfigError, match="manual"):
                r.rx_gain = r.profile.rx.gain.range.min
            r.rx_gain_mode = "manual"
            r.rx_gain = r.profile.rx.gain.range_at(r.rx_frequency).min
            assert r.rx_gain == r.profile.rx.gain.range_at(r.rx_frequency).min

    def test_channels_validated(self):
        with self.make_radio() as r:
            n = len(r.profile.rx.channels)
            with pytest.raises(ConfigError, match="rx_channels"):
                r.configure(rx_channels=(n,))
            with pytest.raises(ConfigError, match="rx_channels"):
                r.configure(rx_channels=(0, 0))

    def test_stream_static_settings_refused_while_streaming(self):
        r = self.started()
        try:
            with pytest.raises(DeviceError, match="stop"):
                r.sample_rate = r.sample_rate
            f = r.rx_frequency
            r.rx_frequency = f + 1000.0  # retuning while streaming is allowed
            assert abs(r.rx_frequency - (f + 1000.0)) <= 1.0
        finally:
            r.close()

    # -- samples ---------------------------------------------------------------------------------
    def test_read_gives_complex64_and_contiguous_indices(self):
        r = self.started()
        try:
            last_t = 0.0
            for i in range(3):
                x, meta = r.read(700)
                assert x.dtype == np.complex64 and x.shape == (700,)
                assert meta.sample_index == 700 * i and meta.lost == 0 and not meta.discontinuity
                assert meta.host_time >= last_t
                last_t = meta.host_time
        finally:
            r.close()

    def test_write_validates_samples(self):
        r = self.started()
        try:
            with pytest.raises(ConfigError, match="full scale"):
                r.write(np.full(16, 1.5 + 0j, np.complex64))
            with pytest.raises(ConfigError, match="full scale"):
                r.write(np.full(16, np.nan + 0j, np.complex64))
            with pytest.raises(ConfigError, match="samples.shape"):
                r.write(np.zeros((3, 16), np.complex64))
            with pytest.raises(ConfigError, match="at least one"):
                r.write(np.zeros(0, np.complex64))
            with pytest.raises(ConfigError, match="dtype"):
                r.write(np.zeros(16, np.int16))
            with pytest.raises(ConfigError, match="at_sample"):
                r.write(np.zeros(16, np.complex64), at_sample=-1)
            with pytest.raises(ConfigError, match="n: got 0"):
                r.read(0)
            assert r.write(np.full(16, 1.0 + 1.0j, np.complex64), end_burst=True) == 16  # exactly full scale
        finally:
            r.close()

    def test_loopback_is_bit_exact(self):
        self.need("loopback")
        r = self.started()
        try:
            x = tone(2500)
            assert r.write(x, end_burst=True) == x.size
            y, meta = r.read(x.size + self.latency + 100)
            assert meta.sample_index == 0
            np.testing.assert_array_equal(y[self.latency:self.latency + x.size], x)
            assert not np.any(y[self.latency + x.size:])
            assert r.underflows == 0
        finally:
            r.close()

    # Each subclass runs the same body on its own backend (radios are built inside): safe to share.
    @hsettings(max_examples=8, suppress_health_check=[HealthCheck.differing_executors])
    @given(cuts=st.lists(st.integers(1, 900), min_size=1, max_size=5))
    def test_read_chunking_does_not_change_the_stream(self, cuts):
        self.need("loopback")
        x = tone(1800, seed=3)
        total = x.size + self.latency
        r = self.started()
        try:
            r.write(x, end_burst=True)
            parts, pos = [], 0
            for c in cuts:
                c = min(c, total - pos)
                if c <= 0:
                    break
                y, meta = r.read(c)
                assert meta.sample_index == pos
                parts.append(y)
                pos += c
            if pos < total:
                parts.append(r.read(total - pos)[0])
            np.testing.assert_array_equal(np.concatenate(parts)[self.latency:], x)
        finally:
            r.close()

    def test_two_channels(self):
        with self.make_radio() as r:
            if len(r.profile.rx.channels) < 2 or len(r.profile.tx.channels) < 2:
                pytest.skip("profile has one channel")
            lim = r.profile.sample_rate.max_multichannel_hz
            if lim:
                r.configure(sample_rate=min(lim, r.profile.defaults.sample_rate))
            r.configure(rx_channels=(0, 1), tx_channels=(0, 1))
            if lim:
                with pytest.raises(ConfigError, match="with 2 channels"):
                    r.sample_rate = lim * 1.5
            r.start()
            x = np.stack([tone(1200, 0.01, seed=1), tone(1200, -0.02, seed=2)])
            r.write(x, end_burst=True)
            y, meta = r.read(1200 + self.latency)
            assert y.shape == (2, 1200 + self.latency)
            if self.loopback:
                np.testing.assert_array_equal(y[:, self.latency:], x)

    def test_restart_resets_indices(self):
        r = self.started()
        try:
            r.read(300)
            r.stop()
            r.start()
            _, meta = r.read(10)
            assert meta.sample_index == 0 and meta.overflows == 0
        finally:
            r.close()

    # -- stream errors ---------------------------------------------------------------------------
    def test_overflow_raises_then_read_continues_after_the_gap(self):
        self.need("can_inject")
        r = self.started()
        try:
            r.read(100)
            self.inject(r, "overflow", 250)
            with pytest.raises(StreamOverflow) as ex:
                r.read(100)
            assert ex.value.count == 250 and ex.value.sample_index == 100 and ex.value.kind == "overflow"
            y, meta = r.read(100)
            assert meta.sample_index == 350 and meta.lost == 250 and meta.discontinuity
            assert meta.overflows == 1 and r.lost_samples == 250
            _, meta = r.read(100)
            assert meta.sample_index == 450 and meta.lost == 0
        finally:
            r.close()

    def test_overflow_marked_without_raising(self):
        self.need("can_inject")
        r = self.started(stream_errors="mark")
        try:
            a, m0 = r.read(100)
            self.inject(r, "overflow", 40)
            b, m1 = r.read(100)  # the gap comes first, so this block starts after it
            assert m1.sample_index == 140 and m1.lost == 40 and m1.overflows == 1
        finally:
            r.close()

    def test_injected_underflow_raises_before_sending(self):
        self.need("can_inject")
        r = self.started()
        try:
            self.inject(r, "underflow", 5)
            with pytest.raises(StreamUnderflow) as ex:
                r.write(tone(64), end_burst=True)
            assert ex.value.kind == "underflow" and "sent nothing" in str(ex.value)
            assert r.underflows == 1
            assert r.write(tone(64), end_burst=True) == 64  # the next write goes through
            _, meta = r.read(64)
            assert meta.underflows == 1
        finally:
            r.close()

    def test_burst_that_runs_dry_is_an_underflow(self):
        self.need("natural_underflow")
        r = self.started()
        try:
            r.write(tone(100))  # burst left open
            r.read(100 + self.latency + 50)
            with pytest.raises(StreamUnderflow):
                r.write(tone(10))
            assert r.underflows == 1
            r.write(tone(10), end_burst=True)
            r.read(200)
            r.write(tone(10), end_burst=True)  # a closed burst running out is not an underflow
            assert r.underflows == 1
        finally:
            r.close()

    def test_timeout_keeps_the_stream(self):
        self.need("can_inject")
        r = self.started()
        try:
            r.read(10)
            self.inject(r, "timeout")
            with pytest.raises(StreamTimeout):
                r.read(10, timeout=0.01)
            _, meta = r.read(10)
            assert meta.sample_index == 10 and meta.lost == 0
        finally:
            r.close()

    def test_timed_write_lands_at_its_sample_index(self):
        self.need("timed_tx")
        self.need("loopback")
        r = self.started()
        try:
            r.read(100)
            x = tone(200, seed=5)
            r.write(x, at_sample=300, end_burst=True)
            y, meta = r.read(600)
            assert meta.sample_index == 100
            start = 300 + self.latency - 100
            np.testing.assert_array_equal(y[start:start + 200], x)
            assert not np.any(y[:start])
        finally:
            r.close()

    def test_late_timed_write_is_an_error(self):
        self.need("timed_tx")
        r = self.started()
        try:
            r.read(1000)
            with pytest.raises(StreamError, match="late"):
                r.write(tone(50), at_sample=10, end_burst=True)
                r.write(tone(50), end_burst=True)  # devices that report it asynchronously
        finally:
            r.close()

    def test_read_timeout_argument_validated(self):
        r = self.started()
        try:
            with pytest.raises(ConfigError, match="timeout"):
                r.read(10, timeout=-1)
            assert math.isfinite(r.read(10, timeout=None)[1].host_time)
        finally:
            r.close()

    def test_settings_dict_lists_every_applied_setting(self):
        with self.make_radio() as r:
            r.configure()
            s = r.settings()
            assert set(s) == set(SETTINGS)
