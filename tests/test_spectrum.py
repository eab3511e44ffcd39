"""dsp.spectrum: PAPR CCDF against the Rayleigh-envelope closed form, block interpolation identities,
Welch PSD / occupied bandwidth / ACLR / mask against signals whose answers are known."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.errors import ConfigError
from dsp.spectrum import (
    SpectralMask,
    aclr_db,
    band_power,
    block_decimate,
    block_interpolate,
    ccdf,
    ccdf_level,
    mask_check,
    occupied_bandwidth,
    papr_ccdf_rayleigh,
    papr_rayleigh_level,
    papr_windows,
    welch_psd,
)
from dsp.waveforms import OfdmModem


@pytest.mark.parametrize("M", [64, 256])
def test_ofdm_papr_ccdf_matches_rayleigh_closed_form_at_1e3(M):
    """Nyquist-rate OFDM symbols (4-QAM, all subcarriers): PAPR at CCDF 1e-3 within 0.3 dB of
    1 - (1 - exp(-x))^N, the closed form for N i.i.d. Rayleigh-envelope samples."""
    rng = np.random.default_rng(M)
    m = OfdmModem(M, 16, qam=4, cp_len=0)
    symbols = 120_000
    bits = rng.integers(0, 2, (symbols // 16, m.bits_per_frame), dtype=np.uint8)
    papr = papr_windows(m.modulate(bits), M, ref_power=1.0)
    measured = 10 * math.log10(ccdf_level(papr, 1e-3))
    closed = 10 * math.log10(papr_rayleigh_level(1e-3, M))
    assert abs(measured - closed) < 0.3, (measured, closed)
    # and the whole curve between 1e-1 and 1e-3 stays within 0.3 dB
    for p in (1e-1, 1e-2):
        assert abs(10 * math.log10(ccdf_level(papr, p)) - 10 * math.log10(papr_rayleigh_level(p, M))) < 0.3


def test_closed_form_and_its_inverse_agree():
    for n in (1, 64, 1024):
        for p in (0.5, 1e-3):
            g = papr_rayleigh_level(p, n)
            assert papr_ccdf_rayleigh(g, n) == pytest.approx(p, rel=1e-9)
    # n = 1: a single Rayleigh sample, P(|x|^2 > g) = exp(-g)
    assert papr_ccdf_rayleigh(2.0, 1) == pytest.approx(math.exp(-2.0))


def test_ccdf_and_windows():
    v = np.arange(1, 1001, dtype=float)
    assert ccdf(v, [0, 500, 1000]).tolist() == [1.0, 0.5, 0.0]
    x = np.ones(40, complex)
    x[5] = 3.0
    w = papr_windows(x, 10, ref_power=1.0)
    assert w.tolist() == [9.0, 1.0, 1.0, 1.0]
    with pytest.raises(ConfigError):
        ccdf_level(v[:100], 1e-3)
    with pytest.raises(ConfigError):
        papr_windows(x, 100)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(6, 20)), min_size=1, max_size=4), st.integers(1, 5),
       st.integers(0, 2**31))
def test_block_interpolation_keeps_samples_and_decimation_inverts(layout, L, seed):
    rng = np.random.default_rng(seed)
    n = sum(c + b for c, b in layout)
    x = rng.standard_normal((2, n)) + 1j * rng.standard_normal((2, n))
    pos = 0
    for cp, body in layout:  # make each prefix a cyclic copy of its body
        x[:, pos:pos + cp] = x[:, pos + body:pos + body + cp]
        pos += cp + body
    xo = block_interpolate(x, layout, L)
    np.testing.assert_allclose(xo[:, ::L], x, atol=1e-12)
    np.testing.assert_allclose(block_decimate(xo, layout, L), x, atol=1e-12)


def test_ofdm_block_interpolation_is_the_oversampled_ifft():
    """The interpolated OFDM symbol equals an L*M-point IFFT with the M subcarriers zero-padded (the
    continuous-time OFDM signal sampled L times faster)."""
    rng = np.random.default_rng(5)
    M, cp, L = 16, 4, 4
    X = rng.standard_normal(M) + 1j * rng.standard_normal(M)
    X[M // 2] = 0  # no Nyquist subcarrier: the zero-padded IFFT is then unambiguous
    body = np.fft.ifft(X)
    frame = np.r_[body[-cp:], body]
    big = np.zeros(M * L, complex)
    k = np.fft.fftfreq(M, 1 / M).astype(int)
    big[k % (M * L)] = X
    ref = np.fft.ifft(big) * L
    got = block_interpolate(frame, [(cp, M)], L)
    np.testing.assert_allclose(got[cp * L:], ref, atol=1e-12)
    np.testing.assert_allclose(got[:cp * L], ref[-cp * L:], atol=1e-12)


def test_welch_psd_of_white_noise_and_a_tone():
    rng = np.random.default_rng(6)
    x = (rng.standard_normal(1 << 16) + 1j * rng.standard_normal(1 << 16)) / math.sqrt(2)
    f, p = welch_psd(x, nperseg=256)
    assert abs(np.sum(p) * (f[1] - f[0]) - 1.0) < 0.02            # Parseval: power 1
    assert np.std(10 * np.log10(p)) < 0.5                           # flat
    assert occupied_bandwidth(f, p) == pytest.approx(0.99, abs=0.01)  # white over the whole band
    tone = np.exp(2j * np.pi * 0.125 * np.arange(1 << 14))
    f, p = welch_psd(tone, nperseg=512)
    assert f[np.argmax(p)] == pytest.approx(0.125, abs=1 / 512)
    assert occupied_bandwidth(f, p) < 8 / 512


def test_aclr_and_band_power_of_a_band_limited_noise():
    """Noise filling |f| < 0.095 exactly (FFT-domain) plus a -30 dB density in 0.12 <= |f| < 0.28
    (gaps, so that the Welch bins at the channel edges hold no in-band power): channels of width 0.2,
    ACLR = -30 dB + 10 log10(0.16 / 0.19)."""
    rng = np.random.default_rng(7)
    n = 1 << 17
    f = np.fft.fftfreq(n)
    S = (rng.standard_normal(n) + 1j * rng.standard_normal(n))
    S *= np.where(np.abs(f) < 0.095, 1.0, np.where((np.abs(f) >= 0.12) & (np.abs(f) < 0.28), 10 ** (-30 / 20), 0.0))
    x = np.fft.ifft(S)
    fw, p = welch_psd(x, nperseg=2048)
    assert aclr_db(fw, p, 0.2) == pytest.approx(-30.0 + 10 * math.log10(0.16 / 0.19), abs=0.3)
    total = band_power(fw, p, -0.5, 0.5)
    assert total == pytest.approx(np.mean(np.abs(x) ** 2), rel=0.02)
    mask = SpectralMask(0.09, [0.1, 0.3, 0.5], [-25.0, -40.0])
    met, margin = mask_check(fw, p, mask)
    assert met and margin == pytest.approx(5.0, abs=1.5)   # less the Welch estimate's spread over ~400 bins
    met, margin = mask_check(fw, p, SpectralMask(0.09, [0.12, 0.3], [-35.0]))
    assert not met and margin < -3
    with pytest.raises(ConfigError):
        SpectralMask(0.1, [0.3, 0.2], [-30.0])
