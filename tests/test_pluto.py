"""The Pluto backend (hil.backends.pluto) on the real libiio + pyadi-iio stack, against the emulator.

The shared Radio suite runs against the Pluto emulator (1R1T AD9363 and 2R2T); the Pluto-specific
tests check what the backend adds: URI handling and errors, int16 rounding, the FIR path, the gain
trap, cyclic TX, and TX -> channel -> RX with delay and Doppler measured.
"""

from __future__ import annotations

import builtins
import gc

import numpy as np
import pytest

from hil.backends.pluto import PlutoRadio, from_raw, parse_uri, to_int16
from hil.errors import ConfigError, DeviceError
from hil.iiod import PlutoEmulator
from tests.radio_suite import RadioSuite, tone

try:
    import adi  # noqa: F401
except (ImportError, OSError) as _exc:  # OSError: pylibiio is there but libiio.so.0 is not
    _WHY = f"pyadi-iio + libiio not usable: {_exc}"
else:
    _WHY = ""
needs_adi = pytest.mark.skipif(bool(_WHY), reason=_WHY)


@needs_adi
class _Emulated(RadioSuite):
    profile = "pluto_ad9363"
    loopback = False          # 16-bit TX -> 12-bit DAC -> 12-bit ADC is close, not bit-exact (tested below)
    can_inject = False        # libiio 0.x reports no overflow/underflow
    timed_tx = False          # no hardware timestamps
    natural_underflow = False

    @classmethod
    def setup_class(cls):
        cls.emu = PlutoEmulator(cls.profile, receiver="ideal").start(port=0)

    @classmethod
    def teardown_class(cls):
        gc.collect()
        cls.emu.stop()
        import threading

        left = [t.name for t in threading.enumerate() if t.name.startswith("iiod-") and t.is_alive()]
        assert not left, f"emulator threads left running: {left}"

    def make_radio(self, **options):
        return PlutoRadio(self.profile, self.emu.uri, rx_buffer_size=1024, tx_buffer_size=1024, **options)


class TestPlutoSuite(_Emulated):
    pass


class TestPluto2r2tSuite(_Emulated):
    profile = "pluto_2r2t"


@pytest.mark.hardware
@needs_adi
class TestPlutoHardwareSuite(RadioSuite):
    """The same bodies against a real Pluto: ``pytest --hardware=ip:192.168.2.1 tests/test_pluto.py``."""

    loopback = False  # unless TX is cabled to RX through an attenuator; then the levels still differ
    can_inject = False
    timed_tx = False
    natural_underflow = False

    @pytest.fixture(autouse=True, scope="class")
    def _uri(self, request):
        uri = request.config.getoption("--hardware")
        if not uri or not (uri == "auto" or uri.startswith(("ip:", "usb:"))):
            pytest.skip(f"--hardware={uri!r} is not a Pluto URI (ip:..., usb:..., auto)")
        request.cls.uri = uri

    def make_radio(self, **options):
        return PlutoRadio("pluto_ad9363", self.uri, **options)


# ---------------------------------------------------------------------------------------------- helpers
# Per component: int16 rounding (0.5/16384) + the 12-bit DAC dropping 4 LSBs (< 16/16384) + ADC rounding
# (0.5/2048), in units of full scale.
QUANT = 0.5 / 16384 + 16 / 16384 + 0.5 / 2048


def assert_quantised_equal(y, x):
    err = max(np.max(np.abs(y.real - x.real)), np.max(np.abs(y.imag - x.imag)))
    assert err < QUANT, err


@pytest.fixture
def emu():
    e = PlutoEmulator("pluto_ad9363", receiver="ideal").start(port=0)
    yield e
    gc.collect()
    e.stop()


@pytest.fixture
def radio(emu):
    r = PlutoRadio("pluto_ad9363", emu.uri, rx_buffer_size=2048, tx_buffer_size=2048)
    r.open()
    yield r
    r.close()


# ---------------------------------------------------------------------------------------------- unit
def test_uri_forms():
    assert parse_uri("ip:192.168.2.1") == ("ip", "192.168.2.1")
    assert parse_uri("ip:127.0.0.1:30431") == ("ip", "127.0.0.1:30431")
    assert parse_uri("usb:1.5.5") == ("usb", "1.5.5")
    assert parse_uri("auto") == ("auto", "")
    for bad in ("", "192.168.2.1", "tcp:1.2.3.4", "usb:a.b", "ip:", None):
        with pytest.raises(ConfigError, match="uri"):
            parse_uri(bad)
    with pytest.raises(ConfigError, match="uri"):
        PlutoRadio("pluto_ad9363", "serial:/dev/ttyUSB0")


def test_tx_scaling_rounds_and_rx_scaling():
    fs = 16384.0
    x = np.array([1.6, -1.6, 2.5, 0.49, -0.51, 16384.0]) / fs + 1j * np.array([0.6, -0.6, 0, 0, 1, -16384]) / fs
    v = to_int16(x, fs)
    np.testing.assert_array_equal(v.real, [2, -2, 2, 0, -1, 16384])      # round half to even, not truncate
    np.testing.assert_array_equal(v.imag, [1, -1, 0, 0, 1, -16384])
    assert np.array_equal(v.real.astype(np.int16), v.real)              # pyadi-iio's cast is then exact
    with pytest.raises(ConfigError):
        to_int16(np.array([2.1 + 0j]), fs)
    y = from_raw(np.array([2048 + 0j, -2048 - 1024j, 1 + 0j]), 2048.0)
    assert y.dtype == np.complex64
    np.testing.assert_array_equal(y, np.array([1, -1 - 0.5j, 1 / 2048], np.complex64))


@needs_adi
def test_unreachable_uri_says_which_and_why():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    r = PlutoRadio("pluto_ad9363", f"ip:127.0.0.1:{port}")
    with pytest.raises(DeviceError) as ei:
        r.open()
    msg = str(ei.value)
    assert f"ip:127.0.0.1:{port}" in msg and "refused" in msg.lower() and "No device found" not in msg


def test_missing_libiio_is_a_clear_error(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *a, **kw):
        if name == "iio":
            raise ImportError("libiio.so.0: cannot open shared object file")
        return real_import(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(DeviceError, match="libiio0.*pylibiio"):
        PlutoRadio("pluto_ad9363", "ip:127.0.0.1:1").open()


def test_profile_for_another_backend_is_refused():
    with pytest.raises(ConfigError, match="pluto"):
        PlutoRadio("usrp_b210", "ip:127.0.0.1")


# ---------------------------------------------------------------------------------------------- device
@needs_adi
def test_low_rate_loads_the_profile_fir(emu, radio):
    radio.configure(sample_rate=1.0e6)
    assert radio.sample_rate == 1.0e6
    st = emu.state
    assert st.fir_enabled and st.fir.rx_decimation == 4 and st.fir.taps == 128 and st.fir.rx_bandwidth == 1_000_000
    radio.sample_rate = 600e3
    assert radio.sample_rate == 600e3
    radio.sample_rate = 5e6  # back above 2.083 MS/s: pyadi-iio's own path
    assert radio.sample_rate == 5e6
    with pytest.raises(ConfigError, match="sample_rate"):
        radio.sample_rate = 400e3


@needs_adi
def test_gain_trap_is_refused_not_ignored(emu, radio):
    radio.configure(rx_gain=20)
    assert radio.rx_gain == 20
    # Someone switches the AGC on behind our back (another client, a script): the gain write must fail.
    emu.state.gain_mode[0] = "slow_attack"
    with pytest.raises(ConfigError, match="manual"):
        radio.rx_gain = 40
    assert radio.rx_gain_mode == "slow_attack"
    radio.rx_gain_mode = "manual"
    radio.rx_gain = 40
    assert radio.rx_gain == 40 and emu.state.rx_gain[0] == 40
    radio.tx_gain = -7.3
    assert radio.tx_gain == -7.25  # 0.25 dB steps


@needs_adi
def test_loopback_through_device_scaling(emu, radio):
    radio.configure()
    radio.start()
    x = tone(3000, 0.013, amplitude=0.6)
    radio.write(x, end_burst=True)
    y, meta = radio.read(3000)
    assert meta.sample_index == 0
    assert_quantised_equal(y, x)
    y2, meta = radio.read(500)
    assert meta.sample_index == 3000 and np.max(np.abs(y2[:48])) < 1e-9 + 1 / 2048  # padded burst end
    assert emu.tx_samples == 4096  # two 2048-sample buffers (the second padded with zeros)


@needs_adi
def test_channel_delay_and_doppler_measured_through_backend(emu, radio):
    fs, delay, f_off = 2.5e6, 23, -3100.0
    emu.set_channel(delay=delay, frequency_offset_hz=f_off)
    radio.configure(sample_rate=fs)
    radio.start()
    rng = np.random.default_rng(5)
    x = (0.4 * (rng.integers(0, 2, 2048) * 2 - 1) + 0.4j * (rng.integers(0, 2, 2048) * 2 - 1)).astype(np.complex64)
    radio.write(x, end_burst=True)
    y, _ = radio.read(2048 + 64)
    score = [np.sum(np.abs((y[k:k + 2048] * np.conj(x)).reshape(-1, 256).sum(1))) for k in range(64)]
    d = int(np.argmax(score))
    z = y[d:d + 2048] * np.conj(x)
    f_hat = np.angle(np.sum(z[1:] * np.conj(z[:-1]))) / (2 * np.pi) * fs
    assert d == delay and abs(f_hat - f_off) < 10.0


@needs_adi
def test_cyclic_tx_repeats_until_stop(emu, radio):
    radio.configure()
    radio.start()
    x = tone(256, 1 / 32, amplitude=0.5, seed=9)
    assert radio.write_cyclic(x) == 256
    with pytest.raises(DeviceError, match="cyclic"):
        radio.write(x)
    y, _ = radio.read(1024)
    tiled = np.tile(x, 4)
    assert_quantised_equal(y, tiled)
    radio.stop()
    radio.start()
    assert radio.write(x, end_burst=True) == 256  # streaming again after a restart


@needs_adi
def test_two_channels_loop_back_separately():
    with PlutoEmulator("pluto_2r2t", receiver="ideal") as emu:
        with PlutoRadio("pluto_2r2t", emu.uri, rx_buffer_size=1024, tx_buffer_size=1024) as r:
            r.configure(rx_channels=(0, 1), tx_channels=(0, 1))
            r.start()
            x = np.stack([tone(1024, 0.01, seed=1), tone(1024, -0.03, seed=2)])
            r.write(x, end_burst=True)
            y, _ = r.read(1024)
            assert y.shape == (2, 1024)
            assert_quantised_equal(y, x)
        gc.collect()


@needs_adi
def test_auto_uri_without_a_pluto_lists_what_was_found(monkeypatch):
    import iio

    monkeypatch.setattr(iio, "scan_contexts", lambda: {"usb:3.4.5": "Some ADC board"})
    with pytest.raises(DeviceError, match=r"no PlutoSDR.*usb:3\.4\.5 \(Some ADC board\)"):
        PlutoRadio("pluto_ad9363", "auto").open()


@needs_adi
def test_2r2t_profile_on_a_1r1t_device_says_how_to_switch(emu):
    r = PlutoRadio("pluto_2r2t", emu.uri)
    with pytest.raises(DeviceError, match="2r2t"):
        r.open()
    assert not r.is_open


@needs_adi
def test_serial_comes_from_the_context_and_keys_calibration(emu, radio):
    # The emulated Pluto reports hw_serial like a real one; the backend uses it to find its calibration.
    assert radio.serial == emu.serial == "EMU00000001"
    assert PlutoRadio("pluto_ad9363", emu.uri, calibration=False).use_calibration is False
