"""SoapySDR backend: the shared Radio suite against an API-faithful fake of the SoapySDR module, the
error-code mapping, and - where the real binding imports - the real ``driver=null`` device.
Never enumerates (the fake fails any test that does)."""

import importlib

import numpy as np
import pytest

from hil.backends.soapy import ERROR_CODES, SoapyRadio, import_soapysdr, parse_args
from hil.errors import ConfigError, DeviceError, StreamError, StreamTimeout, StreamUnderflow
from tests import fake_soapysdr as fake
from tests.radio_suite import RadioSuite, tone


class _FakeInject:
    def inject(self, radio, kind, count=1):
        radio._dev.inject(kind, count)


class TestSoapyFakeB210(_FakeInject, RadioSuite):
    def make_radio(self, **options):
        return SoapyRadio("usrp_b210", "driver=fake", module=fake, **options)


class TestSoapyFakeX310(_FakeInject, RadioSuite):
    def make_radio(self, **options):
        return SoapyRadio("usrp_x310", "driver=fake,addr=192.168.40.2", module=fake, **options)


def _started(profile="usrp_b210", **kw):
    r = SoapyRadio(profile, "driver=fake", module=fake, **kw)
    r.open()
    r.configure()
    r.start()
    return r


def test_settings_reach_the_device_and_are_read_back():
    with SoapyRadio("usrp_b210", "driver=fake", module=fake) as r:
        r.configure(rx_frequency=915e6 + 0.3, rx_gain=40.4, rx_antenna="TX/RX", sample_rate=2e6)
        dev = r._dev
        assert dev._settings[("freq", fake.SOAPY_SDR_RX, 0)] == 915e6  # the fake LO rounds to 1 Hz
        assert r.rx_frequency == 915e6  # the getter reports what the device applied
        assert r.rx_gain == 40.0 and dev._settings[("gain", fake.SOAPY_SDR_RX, 0)] == 40.0
        assert r.rx_antenna == "TX/RX"
        assert dev._settings[("rate", fake.SOAPY_SDR_TX, 0)] == 2e6
        r.rx_gain_mode = "agc"
        assert dev._settings[("agc", fake.SOAPY_SDR_RX, 0)] is True
        with pytest.raises(ConfigError, match="rx_antenna: got 'LNA'; allowed: one of 'RX2', 'TX/RX'"):
            r.rx_antenna = "LNA"


def test_enabling_a_second_channel_applies_the_settings_to_it():
    with SoapyRadio("usrp_b210", "driver=fake", module=fake) as r:
        r.configure(rx_frequency=1.2e9, sample_rate=5e6)
        r.configure(rx_channels=(0, 1))
        assert r._dev._settings[("freq", fake.SOAPY_SDR_RX, 1)] == 1.2e9
        assert r._dev._settings[("rate", fake.SOAPY_SDR_RX, 1)] == 5e6


def test_hardware_timestamps_give_the_overflow_gap():
    r = _started()
    try:
        _, m = r.read(500)
        assert m.hw_time_ns == fake.FAKE_T0_NS
        r._dev.inject("overflow", 123)
        r.stream_errors = "mark"
        _, m = r.read(100)
        assert m.lost == 123 and m.sample_index == 623
        assert m.hw_time_ns == fake.FAKE_T0_NS + round(623 * 1e9 / r.sample_rate)
    finally:
        r.close()


def test_reads_longer_than_the_mtu_are_assembled():
    r = _started()
    try:
        x = tone(2 * fake.FAKE_MTU + 300)
        r.write(x, end_burst=True)
        y, m = r.read(x.size)
        np.testing.assert_array_equal(y, x)
    finally:
        r.close()


def test_write_flags_mark_time_on_the_first_packet_and_end_burst_on_the_last():
    r = _started()
    try:
        r.read(10)
        n = 2 * fake.FAKE_MTU + 500
        r.write(tone(n), end_burst=True)
        r.write(tone(n), at_sample=5000, end_burst=True)
        log = r._dev.tx_log
        t = fake.FAKE_T0_NS + round(5000 * 1e9 / r.sample_rate)
        assert [(k, f) for k, f, _ in log[:3]] == [(1000, 0), (1000, 0), (500, fake.SOAPY_SDR_END_BURST)]
        assert log[3] == (1000, fake.SOAPY_SDR_HAS_TIME, t)
        assert [f for _, f, _ in log[4:]] == [0, fake.SOAPY_SDR_END_BURST]
        y, _ = r.read(5500)
        np.testing.assert_array_equal(y[5000 - 10:], tone(n)[:510])
    finally:
        r.close()


@pytest.mark.parametrize("code,exc", [(fake.SOAPY_SDR_STREAM_ERROR, StreamError),
                                      (fake.SOAPY_SDR_TIMEOUT, StreamTimeout)])
def test_read_error_codes_are_typed(code, exc):
    r = _started()
    try:
        r._dev.inject("stream_error" if code == fake.SOAPY_SDR_STREAM_ERROR else "timeout")
        with pytest.raises(exc) as ex:
            r.read(10, timeout=0.01)
        assert ERROR_CODES[code] in str(ex.value) or isinstance(ex.value, StreamTimeout)
    finally:
        r.close()


def test_error_mapping_covers_every_code():
    r = SoapyRadio("usrp_b210", "driver=fake", module=fake)
    r._S = fake
    kinds = {c: type(r._stream_error(c, "x")) for c in ERROR_CODES}
    assert kinds[-1] is StreamTimeout and kinds[-7] is StreamUnderflow and kinds[-5] is DeviceError
    assert kinds[-2] is StreamError and kinds[-3] is StreamError and kinds[-6] is StreamError
    assert "late" in str(r._stream_error(-6, "writeStream"))


def test_args_must_name_the_driver():
    assert parse_args("driver=uhd, type=b200") == {"driver": "uhd", "type": "b200"}
    with pytest.raises(ConfigError, match="naming the driver"):
        SoapyRadio("usrp_b210", "type=b200", module=fake)
    with pytest.raises(ConfigError, match="key=value"):
        parse_args("driver")


def test_profile_must_be_for_soapy():
    with pytest.raises(ConfigError, match="backend soapy"):
        SoapyRadio("pluto_ad9363", "driver=fake", module=fake)


def test_unknown_driver_is_a_device_error():
    with pytest.raises(DeviceError, match="cannot open the device.*no match"):
        SoapyRadio("usrp_b210", "driver=nonexistent", module=fake).open()


def test_fake_null_device_is_refused_clearly():
    r = SoapyRadio("usrp_b210", "driver=null", module=fake)
    with pytest.raises(DeviceError, match="no RX channels.*null"):
        r.open()
    assert not r.is_open


def test_missing_binding_says_how_to_install(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_soapy(name, *a, **k):
        if name == "SoapySDR":
            raise ImportError("No module named 'SoapySDR'")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_soapy)
    with pytest.raises(DeviceError, match="apt-get install python3-soapysdr.*link_soapysdr"):
        import_soapysdr()
    with pytest.raises(DeviceError, match="python3-soapysdr"):
        SoapyRadio("usrp_b210", "driver=uhd,type=b200").open()


def test_timed_write_needs_a_timestamp_first():
    r = _started()
    try:
        with pytest.raises(DeviceError, match="read\\(\\) once first"):
            r.write(tone(10), at_sample=100)
    finally:
        r.close()


def _real_soapy():
    try:
        return importlib.import_module("SoapySDR")
    except ImportError:
        return None


@pytest.mark.skipif(_real_soapy() is None, reason="SoapySDR binding not importable (run scripts/link_soapysdr)")
def test_real_null_device_gives_a_clear_device_error():
    S = _real_soapy()
    r = SoapyRadio("usrp_b210", "driver=null", module=S)
    with pytest.raises(DeviceError, match="no RX channels.*null"):
        r.open()
    assert not r.is_open
    # below the Radio: the real null device has no stream either - the backend's check says so
    r._S, r._dev = S, S.Device({"driver": "null"})
    with pytest.raises(DeviceError, match="returned no stream"):
        r._setup("rx")
    r._release()


def test_serial_from_hardware_info_or_args():
    r = SoapyRadio("usrp_b210", "driver=fake,serial=31A5", module=fake)
    assert r.serial == "31A5"  # before open: from the device arguments
    r.open()
    try:
        assert r.serial == "31A5"  # after open: from getHardwareInfo()
    finally:
        r.close()
