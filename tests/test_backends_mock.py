"""The in-process loopback mock: the shared Radio suite, plus what only the mock has (channels, latency,
fault injection details, a gap inside one read)."""

import numpy as np
import pytest

from dsp.channel import DoublyDispersiveChannel, Path
from hil.backends import make_radio
from hil.backends.base import RxChunk
from hil.backends.mock import LoopbackChannel, LoopbackTransport, MockRadio, StreamingPaths, Transport
from hil.errors import ConfigError, StreamError, StreamOverflow
from tests.radio_suite import RadioSuite, tone


class TestMockRadio(RadioSuite):
    def make_radio(self, **options):
        return MockRadio("mock", **options)


class TestMockAsPluto2r2t(RadioSuite):
    """The mock standing in for a Pluto in 2R2T mode honours that profile's limits."""

    def make_radio(self, **options):
        return MockRadio("pluto_2r2t", **options)


class TestMockWithLatency(RadioSuite):
    latency = 7

    def make_radio(self, **options):
        return MockRadio("usrp_x310", latency=7, **options)


def test_pluto_profile_refuses_70_ghz_with_its_range():
    with MockRadio("pluto_ad9363") as r:
        with pytest.raises(ConfigError) as ex:
            r.configure(rx_frequency=70e9)
        assert str(ex.value) == ("rx_frequency: got 70000000000.0; allowed: 325 MHz..3.8 GHz (step 1 Hz) "
                                 "(profile pluto_ad9363)")


def test_pluto_gain_range_follows_the_lo_band():
    with MockRadio("pluto_ad9364") as r:
        r.configure(rx_frequency=1e9, rx_gain=73)  # below 1.3 GHz: -1..73 dB
        with pytest.raises(ConfigError, match=r"rx_gain 73 dB is allowed.* -10 dB..62 dB \(step 1 dB\) at 5 GHz"):
            r.rx_frequency = 5e9  # 73 dB is not allowed there: refuse rather than let the driver clamp
        assert r.rx_frequency == 1e9  # nothing applied
        r.configure(rx_frequency=5e9, rx_gain=60)  # together: fine
        assert (r.rx_frequency, r.rx_gain) == (5e9, 60.0)
        with pytest.raises(ConfigError, match=r"-10 dB..62 dB \(step 1 dB\) at 5 GHz \(profile pluto_ad9364\)"):
            r.rx_gain = 70


def test_pluto_tx_attenuation_quantised_to_quarter_db():
    with MockRadio("pluto_ad9363") as r:
        r.configure(tx_gain=-10.1)
        assert r.tx_gain == -10.0
        r.tx_gain = -10.13
        assert r.tx_gain == -10.25


def test_x310_rate_is_master_clock_over_integer():
    with MockRadio("usrp_x310") as r:
        r.configure(sample_rate=1.92e6)
        assert r.sample_rate == 184.32e6 / 96
        with pytest.raises(ConfigError, match="200 MHz or 184.32 MHz / an integer"):
            r.sample_rate = 1.0e8 * 1.3  # 130 MHz: no divisor within 0.1 %


def test_make_radio_names_backends():
    assert isinstance(make_radio("mock", "pluto_ad9363"), MockRadio)
    with pytest.raises(ConfigError, match="one of mock, soapy, pluto"):
        make_radio("hackrf")
    from hil.backends.zmq_transport import ZmqMockRadio

    assert isinstance(make_radio("mock-zmq"), ZmqMockRadio)
    with pytest.raises(ConfigError, match="mock option: got 'latncy'; allowed: one of channel, latency"):
        make_radio("mock", latncy=3)
    assert make_radio("mock", latency=3).transport.latency == 3


def test_loopback_channel_offset_and_paths_match_the_dsp_model(rng):
    fs = 1e6
    paths = [Path(0.8, 0.0, 0.0), Path(0.3j, 5.0, 1e-3)]
    x = tone(3000, 0.013, 0.4, seed=11)
    ch = LoopbackChannel(paths, frequency_offset=2500.0, sample_rate=fs)
    with MockRadio("mock", channel=ch) as r:
        r.configure(sample_rate=fs)
        r.start()
        r.write(x, end_burst=True)
        y, _ = r.read(3000)
    ref = DoublyDispersiveChannel(paths).apply(x) * np.exp(2j * np.pi * 2500.0 / fs * np.arange(3000))
    np.testing.assert_allclose(y, ref, atol=2e-5)


def test_streaming_paths_split_invariant_with_fractional_delay(rng):
    ch = DoublyDispersiveChannel([Path(1.0, 2.5, 0.01), Path(0.5, 0.0, -0.002)])
    x = (rng.standard_normal(600) + 1j * rng.standard_normal(600)) * 0.2
    sp = StreamingPaths(ch)
    whole = sp.process(x)
    sp.reset()
    cuts = sorted(rng.choice(np.arange(1, 600), 5, replace=False))
    parts = np.concatenate([sp.process(p) for p in np.split(x, cuts)])
    np.testing.assert_allclose(parts, whole, atol=1e-12)
    # the delayed-by-lookahead output equals the (non-causal) model on the whole array
    L = sp.lookahead
    assert L > 0
    np.testing.assert_allclose(whole[L:], ch.apply(np.concatenate([x, np.zeros(L)]))[:600 - L][:len(whole) - L],
                               atol=1e-12)


def test_awgn_is_seeded_and_has_the_stated_power():
    def run(seed):
        ch = LoopbackChannel(noise_power=1e-2, rng=seed)
        with MockRadio("mock", channel=ch) as r:
            r.configure()
            r.start()
            return r.read(20000)[0]

    a, b, c = run(1), run(1), run(2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.mean(np.abs(a) ** 2) == pytest.approx(1e-2, rel=0.05)  # 20000 samples: ~0.7 % std


def test_adc_saturation_is_counted_not_hidden():
    ch = LoopbackChannel([Path(4.0, 0.0, 0.0)])
    with MockRadio("mock", channel=ch) as r:
        r.configure()
        r.start()
        r.write(np.full(100, 0.5 + 0j, np.complex64), end_burst=True)
        y, meta = r.read(150)
    assert meta.clipped == 100
    assert np.max(np.abs(y.real)) == 1.0


def test_noise_needs_a_generator():
    with pytest.raises(ConfigError, match="rng"):
        LoopbackChannel(noise_power=0.1)


class _GapTransport(Transport):
    """Delivers 40-sample chunks, with a 7-sample gap before the third chunk."""

    def start(self, n_rx, n_tx, sample_rate):
        self.pos = 0
        self.k = 0

    def stop(self):
        pass

    def receive(self, n, timeout):
        lost = 7 if self.k == 2 else 0
        self.pos += lost
        m = min(n, 40)
        chunk = RxChunk(np.full((1, m), 0.1 * (self.k + 1), np.complex64), self.pos, lost)
        self.pos += m
        self.k += 1
        return chunk

    def send(self, x, at_sample, end_burst, timeout):
        return x.shape[1]


def test_gap_inside_one_read_returns_the_part_before_it():
    r = MockRadio("mock", transport=_GapTransport(), stream_errors="raise")
    with r:
        r.configure()
        r.start()
        y, meta = r.read(100)  # chunks 0, 1 then the gap: only 80 samples come back
        assert y.size == 80 and meta.sample_index == 0 and meta.lost == 0
        with pytest.raises(StreamOverflow) as ex:
            r.read(100)
        assert ex.value.count == 7 and ex.value.sample_index == 80
        y, meta = r.read(30)  # continues after the gap: the kept 20-sample chunk, then the next one
        assert meta.sample_index == 87 and meta.lost == 7 and y.size == 30
        np.testing.assert_array_equal(y, np.r_[np.full(20, 0.3), np.full(10, 0.4)].astype(np.complex64))
        y, meta = r.read(10)  # contiguous with the previous block
        assert meta.sample_index == 117 and meta.lost == 0
        np.testing.assert_array_equal(y, np.full(10, 0.5, np.complex64))


def test_transport_and_channel_are_exclusive():
    with pytest.raises(ConfigError, match="transport"):
        MockRadio("mock", transport=LoopbackTransport(), channel=LoopbackChannel())
    with pytest.raises(ConfigError, match="latency"):
        LoopbackTransport(latency=-1)


def test_awgn_does_not_depend_on_how_reads_split_the_stream(rng):
    """Noise on: the same seed gives the same samples whatever the read sizes (one draw per sample)."""
    x = tone(3000, seed=4)

    def run(cuts):
        ch = LoopbackChannel([Path(0.9, 1.5, 1e-4)], noise_power=1e-3, rng=5)
        with MockRadio("mock", channel=ch) as r:
            r.configure()
            r.start()
            r.write(x, end_burst=True)
            parts, left = [], 3200
            for c in cuts:
                parts.append(r.read(min(c, left))[0])
                left -= parts[-1].size
            if left:
                parts.append(r.read(left)[0])
            return np.concatenate(parts)

    whole = run([3200])
    for _ in range(3):
        cuts = [int(c) for c in rng.integers(1, 900, 6)]
        np.testing.assert_array_equal(run(cuts), whole)
    # and it is the stated noise: the difference from the noiseless channel has the stated power
    ch0 = LoopbackChannel([Path(0.9, 1.5, 1e-4)])
    with MockRadio("mock", channel=ch0) as r:
        r.configure()
        r.start()
        r.write(x, end_burst=True)
        clean = r.read(3200)[0]
    assert np.mean(np.abs(whole - clean) ** 2) == pytest.approx(1e-3, rel=0.1)  # 3200 samples: ~2 % std


class _GainFrontEnd:
    """A minimal front end: gain g, a pipeline of `latency` samples, records the settings it hears."""

    def __init__(self, gain=0.5, latency=3):
        self.gain, self.latency = gain, latency
        self.settings, self.bound = {}, None
        self.reset()

    def bind(self, sample_rate):
        self.bound = sample_rate

    def setting(self, name, value):
        self.settings[name] = value

    def reset(self):
        self._fifo = np.zeros(self.latency, np.complex128)

    def process(self, x):
        buf = np.concatenate((self._fifo, self.gain * np.asarray(x, np.complex128)))
        self._fifo = buf[len(x):]
        return buf[:len(x)]

    def clone(self, channel_index):
        fe = _GainFrontEnd(self.gain * (channel_index + 1), self.latency)
        fe.settings = dict(self.settings)
        return fe


def test_frontend_hook_gets_settings_and_shapes_the_loopback():
    fe = _GainFrontEnd()
    r = MockRadio("mock", frontend=fe, latency=2)
    assert r.frontend is fe
    with r:
        r.configure(sample_rate=1e6, rx_frequency=1.5e9)
        assert fe.settings["rx_frequency"] == 1.5e9 and fe.settings["sample_rate"] == 1e6
        r.configure(rx_channels=(0, 1), tx_channels=(0,))
        r.start()
        assert fe.bound == 1e6
        r.rx_gain = 7.0  # forwarded while streaming, to every chain
        assert fe.settings["rx_gain"] == 7.0 and r.transport._fronts[1].settings["rx_gain"] == 7.0
        x = tone(500)
        r.write(x, end_burst=True)
        y, _ = r.read(600)
    np.testing.assert_allclose(y[0, 5:505], 0.5 * x, atol=1e-7)  # 2 (transport) + 3 (front end) samples late
    np.testing.assert_allclose(y[1, 5:505], 1.0 * x, atol=1e-7)  # the clone for RX channel 1
    assert not np.any(y[:, :5])


def test_frontend_latency_counts_for_the_underflow_timeline():
    with MockRadio("mock", frontend=_GainFrontEnd(latency=40)) as r:
        r.configure()
        r.start()
        r.write(tone(100))  # left open
        r.read(130)  # its last sample reaches RX at 139: not dry yet
        r.write(tone(10))
        r.read(200)
        with pytest.raises(StreamError, match="underflow"):
            r.write(tone(10))


def test_frontend_protocol_checked():
    class NoProcess:
        latency = 0

        def bind(self, fs): ...
        def setting(self, n, v): ...
        def reset(self): ...

    with pytest.raises(ConfigError, match="missing: process"):
        MockRadio("mock", frontend=NoProcess())
    bad = _GainFrontEnd()
    bad.latency = -1
    with pytest.raises(ConfigError, match="latency"):
        MockRadio("mock", frontend=bad)
    with pytest.raises(ConfigError, match="transport"):
        MockRadio("mock", frontend=_GainFrontEnd(), transport=LoopbackTransport())
    one = _GainFrontEnd()
    one.clone = None
    with MockRadio("mock", frontend=one) as r:
        r.configure(rx_channels=(0, 1))
        with pytest.raises(ConfigError, match="clone"):
            r.start()


def test_serial_is_configurable_and_validated():
    assert MockRadio("mock").serial is None
    assert MockRadio("mock", serial="unit-3").serial == "unit-3"
    with pytest.raises(ConfigError, match="serial"):
        MockRadio("mock", serial="")
