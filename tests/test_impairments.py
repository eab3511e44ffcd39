"""Front-end impairment models (dsp.impairments): closed forms, kernels vs twins, chunk-split invariance."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dsp.impairments import (
    DcOffset,
    FractionalResampler,
    FrontEndImpairments,
    ImpairedLoopback,
    InbandResponse,
    IqImbalance,
    RfGainError,
)
from hil.config import parse
from hil.errors import ConfigError
from tests.kernel_util import kernel_pair


def _noise(rng, n, scale=0.1):
    return scale * (rng.standard_normal(n) + 1j * rng.standard_normal(n))


def _multitone(rng, n_tones=12, band=0.35):
    """A band-limited test signal known in closed form at any (fractional) time."""
    f = rng.uniform(-band, band, n_tones)
    a = (rng.standard_normal(n_tones) + 1j * rng.standard_normal(n_tones)) / np.sqrt(2 * n_tones)

    def x(t):
        t = np.asarray(t, float)
        return (a[None, :] * np.exp(2j * np.pi * f[None, :] * t[:, None])).sum(axis=1)

    return x


# ------------------------------------------------------------------------------------------------ IQ imbalance


@given(g=st.floats(-3, 3), ph=st.floats(-20, 20), seed=st.integers(0, 2**31))
def test_iq_imbalance_is_the_i_referenced_mixer(g, ph, seed):
    """y = I + j g (Q cos phi - I sin phi): the definition, component by component."""
    x = _noise(np.random.default_rng(seed), 64)
    y = IqImbalance(g, ph).process(x)
    gl, p = 10 ** (g / 20), np.deg2rad(ph)
    ref = x.real + 1j * gl * (x.imag * np.cos(p) - x.real * np.sin(p))
    np.testing.assert_allclose(y, ref, atol=1e-12)


@given(g=st.floats(-3, 3), ph=st.floats(-20, 20))
def test_irr_correction_coefficients_and_inverses(g, ph):
    assume(abs(g) > 0.01 or abs(ph) > 0.1)  # the textbook form below cancels badly for a near-ideal mixer
    iq = IqImbalance(g, ph)
    gl, p = 10 ** (g / 20), np.deg2rad(ph)
    # textbook IRR of a gain/phase imbalanced mixer
    irr = 10 * np.log10((1 + gl**2 + 2 * gl * np.cos(p)) / (1 + gl**2 - 2 * gl * np.cos(p)))
    assert iq.irr_db == pytest.approx(irr, rel=1e-6)
    # w removes the image of the receive mixer; beta pre-distorts for the transmit mixer
    x = _noise(np.random.default_rng(0), 256)
    y = iq.process(x)
    z = y - iq.w * np.conj(y)
    assert np.max(np.abs(z - (iq.k1 - iq.w * np.conj(iq.k2)) * x)) < 1e-12
    s = iq.process(x - iq.beta * np.conj(x))
    assert np.max(np.abs(s - (iq.k1 - iq.k2 * np.conj(iq.beta)) * x)) < 1e-12
    back = IqImbalance.from_w(iq.w)
    assert (back.gain_db, back.phase_deg) == pytest.approx((g, ph), abs=1e-9)
    back = IqImbalance.from_beta(iq.beta)
    assert (back.gain_db, back.phase_deg) == pytest.approx((g, ph), abs=1e-9)


def test_dc_offset_level():
    d = DcOffset.from_dbfs(-20.0, 30.0)
    assert abs(d.value) == pytest.approx(0.1)
    assert d.level_dbfs == pytest.approx(-20.0)
    assert np.allclose(d.process(np.zeros(4)), d.value)


@pytest.mark.parametrize("kw, field", [({"gain_db": 7.0}, "gain_db"), ({"phase_deg": float("nan")}, "phase_deg")])
def test_iq_imbalance_validates(kw, field):
    with pytest.raises(ConfigError) as err:
        IqImbalance(**kw)
    assert err.value.field == field


# -------------------------------------------------------------------------------------------------- resampler


@pytest.mark.parametrize("ratio, delay", [(1.0, 0.0), (1.0, 3.3), (1.0 + 20e-6, 7.25), (1.0 - 30e-6, 0.4),
                                          (1.0, 100.77)])
def test_resampler_matches_the_band_limited_signal(ratio, delay, rng):
    """y[n] = x(n ratio - delay) for a multitone known in closed form (error below -60 dB)."""
    x = _multitone(rng)
    n_in = 3000
    r = FractionalResampler(ratio, delay)
    y = np.concatenate((r.process(x(np.arange(n_in))), r.flush()))
    pos = np.arange(y.size) * ratio - delay
    inside = (pos > 40) & (pos < n_in - 40)  # away from the start/end of the stream
    err = np.abs(y[inside] - x(pos[inside]))
    rms = np.sqrt(np.mean(np.abs(x(np.arange(n_in))) ** 2))
    assert 20 * np.log10(err.max() / rms) < -60
    # the stream ends when no output sees an input any more
    assert pos[-1] < n_in + r.taps // 2 - 1 <= (y.size * ratio - delay)


@settings(max_examples=15)
@given(cuts=st.lists(st.integers(0, 2000), max_size=5), ratio=st.sampled_from([1.0, 1 + 5e-5, 1 - 5e-5]),
       delay=st.floats(0, 40))
def test_resampler_chunk_split_invariance(cuts, ratio, delay):
    x = _noise(np.random.default_rng(3), 2000)
    r = FractionalResampler(ratio, delay)
    whole = np.concatenate((r.process(x), r.flush()))  # flush also resets
    edges = [0, *sorted(cuts), x.size]
    parts = np.concatenate([r.process(x[a:b]) for a, b in zip(edges[:-1], edges[1:])] + [r.flush()])
    assert parts.size == whole.size
    np.testing.assert_allclose(parts, whole, atol=1e-10)


@pytest.mark.kernel
@given(n=st.integers(1, 400), n0=st.integers(0, 50), ratio=st.floats(0.999, 1.001), frac=st.floats(0, 1),
       seed=st.integers(0, 2**31))
def test_resample_kernel_matches_twin(n, n0, ratio, frac, seed):
    from dsp.impairments import interp_table

    compiled, twin = kernel_pair("_iqcal")
    table = interp_table(32)
    buf = _noise(np.random.default_rng(seed), n + 200)
    offset = -20.0 - frac  # first position 20 + frac: inside the buffer with room for the window
    a, b = np.zeros(n, complex), np.zeros(n, complex)
    assert compiled.resample(buf, a, float(n0), ratio, offset, table) == 0
    assert twin.resample(buf, b, float(n0), ratio, offset, table) == 0
    np.testing.assert_allclose(a, b, atol=1e-12)
    # a window outside the buffer is a status, not a crash
    assert compiled.resample(buf, a, 0.0, 1.0, 0.0, table) == 1
    assert twin.resample(buf, b, 0.0, 1.0, 0.0, table) == 1


@pytest.mark.kernel
@given(n=st.integers(0, 500), seed=st.integers(0, 2**31), do_dc=st.booleans(), do_iq=st.booleans())
def test_dc_iq_track_kernel_matches_twin(n, seed, do_dc, do_iq):
    compiled, twin = kernel_pair("_iqcal")
    rng = np.random.default_rng(seed)
    x = IqImbalance(0.8, 4).process(_noise(rng, n)) + 0.05
    st0 = np.array([0.01, -0.02, 0.02, 0.001, -0.002])
    sa, sb = st0.copy(), st0.copy()
    a, b = np.empty(n, complex), np.empty(n, complex)
    assert compiled.dc_iq_track(x, a, sa, 0.01, 0.003, do_dc, do_iq) == 0
    assert twin.dc_iq_track(x, b, sb, 0.01, 0.003, do_dc, do_iq) == 0
    np.testing.assert_allclose(a, b, atol=1e-12)
    np.testing.assert_allclose(sa, sb, atol=1e-12)


# ------------------------------------------------------------------------------------------- gain over frequency


def test_inband_tilt_response():
    h = InbandResponse.tilt(2.0, ntaps=31)
    f = np.linspace(-0.35, 0.35, 15)
    np.testing.assert_allclose(h.response_db(f), 2.0 * f, atol=0.05)


@given(cuts=st.lists(st.integers(0, 500), max_size=4))
def test_inband_chunk_split(cuts):
    x = _noise(np.random.default_rng(5), 500)
    h = InbandResponse.tilt(3.0)
    whole = h.process(x)
    h.reset()
    edges = [0, *sorted(cuts), x.size]
    parts = np.concatenate([h.process(x[a:b]) for a, b in zip(edges[:-1], edges[1:])])
    np.testing.assert_allclose(parts, whole, atol=1e-12)
    np.testing.assert_allclose(whole, np.convolve(x, h.taps)[: x.size], atol=1e-12)


def test_rf_gain_error_interpolates():
    e = RfGainError([1e9, 2e9], [0.0, 1.0], step_error=0.02, reference_gain_db=10)
    assert e.error_db(1.5e9, 10) == pytest.approx(0.5)
    assert e.error_db(1.5e9, 20) == pytest.approx(0.7)
    with pytest.raises(ConfigError, match="error_db"):
        RfGainError([1e9, 2e9], [0.0])


# ------------------------------------------------------------------------------------------------ whole loopback


def test_loopback_frequency_offset_follows_the_references():
    """A tone from a TX with reference eps_t arrives at ((f + tone)(1+eps_t) - f_rx (1+eps_r)) / (fs (1+eps_r))."""
    fs, fc, tone, et, er = 1e6, 2.4e9, 0.1, 3.0, -11.0
    lb = ImpairedLoopback(FrontEndImpairments(tx_ppm=et, rx_ppm=er), sample_rate=fs, tx_frequency=fc + 5e3,
                          rx_frequency=fc)
    n = np.arange(8192)
    y = lb.apply(np.exp(2j * np.pi * tone * n))[100:-100]
    expect = ((fc + 5e3 + tone * fs) * (1 + et * 1e-6) - fc * (1 + er * 1e-6)) / (fs * (1 + er * 1e-6))
    meas = np.angle(np.sum(y[1:] * np.conj(y[:-1]))) / (2 * np.pi)
    assert meas == pytest.approx(expect, abs=2e-9)


def test_loopback_out_of_band_carrier_arrives_as_nothing():
    lb = ImpairedLoopback(FrontEndImpairments(rx_dc_dbfs=-30), sample_rate=1e6, tx_frequency=2.4e9,
                          rx_frequency=2.5e9)
    assert not lb.in_band
    y = lb.apply(np.ones(100))
    np.testing.assert_allclose(y, 10 ** (-30 / 20))


@settings(max_examples=10)
@given(cuts=st.lists(st.integers(0, 3000), max_size=4))
def test_loopback_chunk_split(cuts):
    imp = FrontEndImpairments(tx_iq_gain_db=0.5, rx_iq_phase_deg=3, rx_dc_dbfs=-25, tx_lo_leakage_dbfs=-30,
                              latency_samples=12.6, tx_ppm=1.0, rx_ppm=-4.0, inband_tilt_db=1.0, noise_dbfs=-50)
    x = _noise(np.random.default_rng(2), 3000)
    lb = ImpairedLoopback(imp, sample_rate=1e6, rng=9)
    whole = np.concatenate((lb.process(x), lb.flush()))
    lb.reset()
    edges = [0, *sorted(cuts), x.size]
    parts = np.concatenate([lb.process(x[a:b]) for a, b in zip(edges[:-1], edges[1:])] + [lb.flush()])
    np.testing.assert_allclose(parts, whole, atol=1e-9)


def test_loopback_applies_each_impairment_in_order(rng):
    """Everything but the resampler/NCO is memoryless: a flat, zero-latency loopback is the closed form."""
    imp = FrontEndImpairments(tx_iq_gain_db=0.7, tx_iq_phase_deg=-3, tx_lo_leakage_dbfs=-30, rx_iq_gain_db=-0.4,
                              rx_iq_phase_deg=2, rx_dc_dbfs=-20, rf_gain_freqs_hz=(1e9, 3e9),
                              rf_gain_error_db=(0.0, 2.0), rx_gain_step_error=0.01)
    lb = ImpairedLoopback(imp, sample_rate=1e6, tx_frequency=2e9, rx_gain=10.0)
    x = _multitone(rng)(np.arange(2000))
    y = lb.apply(x)
    s = imp.tx_iq.process(x) + imp.tx_lo_leakage
    g = 10 ** ((1.0 + 0.1) / 20)
    ref = imp.rx_iq.process(g * s) + imp.rx_dc
    np.testing.assert_allclose(y[50:-50], ref[50:-50], atol=2e-4)


def test_impairments_parse_from_yaml_dict():
    imp = parse(FrontEndImpairments, {"rx_iq_gain_db": 1.0, "latency_samples": 3.5}, source="t.yaml")
    assert imp.rx_iq.gain_db == 1.0
    with pytest.raises(ConfigError, match="rx_iq_phase_deg"):
        parse(FrontEndImpairments, {"rx_iq_phase_deg": 90}, source="t.yaml")
    with pytest.raises(ConfigError, match="rf_gain_error_db"):
        parse(FrontEndImpairments, {"rf_gain_freqs_hz": [1e9]}, source="t.yaml")
    with pytest.raises(ConfigError, match="rng"):
        ImpairedLoopback(FrontEndImpairments(noise_dbfs=-40), sample_rate=1e6)
