"""The doubly-dispersive channel operator: closed forms, dense builder, fractional delay, kernel vs twin."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dsp.channel import DoublyDispersiveChannel, Path, add_awgn, fractional_delay_taps
from hil.errors import ConfigError
from tests.kernel_util import kernel_pair


def _cx(rng, *shape):
    return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


def test_integer_paths_follow_the_definition(rng):
    """y[n] = sum g exp(j 2 pi nu n) x[n - l], x = 0 before index 0, written out independently."""
    x = _cx(rng, 200)
    paths = [Path(0.8 - 0.1j, 0, 0.01), Path(0.3j, 3, -0.037), Path(-0.2, 17, 0.25)]
    y = DoublyDispersiveChannel(paths).apply(x)
    ref = np.zeros(200, complex)
    for p in paths:
        for n in range(200):
            if n - int(p.delay) >= 0:
                ref[n] += p.gain * np.exp(2j * np.pi * p.doppler * n) * x[n - int(p.delay)]
    np.testing.assert_allclose(y, ref, atol=1e-12)


def test_fractional_delay_of_a_bandlimited_signal(rng):
    """A sum of tones within +/- 0.3 fs delayed by 2.37 samples matches the analytic x(t - tau)."""
    f = rng.uniform(-0.3, 0.3, 12)
    a = _cx(rng, 12)
    n = np.arange(400)

    def sig(t):
        return (a[None, :] * np.exp(2j * np.pi * f[None, :] * t[:, None])).sum(1)

    tau, nu = 2.37, 0.003
    y = DoublyDispersiveChannel([Path(1.0, tau, nu)]).apply(sig(n.astype(float)))
    ref = np.exp(2j * np.pi * nu * n) * sig(n - tau)
    inner = slice(40, 360)  # away from the zero padding at both ends
    err = np.abs(y[inner] - ref[inner]).max() / np.abs(ref).max()
    assert err < 2e-3


def test_fractional_taps_integer_and_sum():
    assert fractional_delay_taps(5.0) == (5, pytest.approx(np.ones(1)))
    off, h = fractional_delay_taps(3.5)
    assert off == 3 - 15 and h.size == 32
    assert h.sum() == pytest.approx(1.0, abs=2e-3)  # unit DC gain (window ripple only)
    assert np.argmax(h) in (15, 16)  # the peak is at the delay


@given(seed=st.integers(0, 2**31), n=st.integers(1, 80), frac=st.booleans(), rows=st.integers(1, 3))
def test_apply_equals_dense(seed, n, frac, rows):
    rng = np.random.default_rng(seed)
    delays = rng.uniform(0, 6, 3) if frac else rng.integers(0, 6, 3).astype(float)
    ch = DoublyDispersiveChannel.rayleigh(rng, delays, rng.uniform(-0.1, 0.1, 3))
    x = _cx(rng, rows, n)
    H = ch.dense(n)
    np.testing.assert_allclose(ch.apply(x), x @ H.T, atol=1e-11)
    np.testing.assert_allclose(ch.apply(x[0]), H @ x[0], atol=1e-11)


def test_rayleigh_is_seeded_and_power_normalised():
    a = DoublyDispersiveChannel.rayleigh(np.random.default_rng(5), [0, 1, 2], [0, 0, 0], powers=[4, 2, 2])
    b = DoublyDispersiveChannel.rayleigh(np.random.default_rng(5), [0, 1, 2], [0, 0, 0], powers=[4, 2, 2])
    assert [p.gain for p in a.paths] == [p.gain for p in b.paths]
    rng = np.random.default_rng(1)
    g = np.array([[p.gain for p in DoublyDispersiveChannel.rayleigh(rng, [0, 1, 2], [0, 0, 0], [4, 2, 2]).paths]
                  for _ in range(1500)])
    np.testing.assert_allclose(np.mean(np.abs(g) ** 2, axis=0), [0.5, 0.25, 0.25], rtol=0.12)


def test_from_dd_bins_uses_the_otfs_grid():
    ch = DoublyDispersiveChannel.from_dd_bins([0, 2], [1, -3.5], [1.0, 0.5j], M=16, N=8)
    assert [p.delay for p in ch.paths] == [0.0, 2.0]
    assert [p.doppler for p in ch.paths] == pytest.approx([1 / 128, -3.5 / 128])
    assert ch.max_delay == 2.0 and ch.is_integer


def test_awgn_variance(rng):
    y = add_awgn(np.zeros(200_000), 0.25, rng)
    assert np.mean(np.abs(y) ** 2) == pytest.approx(0.25, rel=0.02)
    assert abs(np.mean(y.real**2) - np.mean(y.imag**2)) < 0.01


@pytest.mark.parametrize("args, field", [
    ((1.0, -1.0, 0.0), "delay"),
    ((1.0, 1.0, 0.7), "doppler"),
    ((complex("nan"), 1.0, 0.0), "gain"),
])
def test_bad_paths_name_the_field(args, field):
    with pytest.raises(ConfigError, match=field):
        Path(*args)


def test_bad_channel_inputs(rng):
    with pytest.raises(ConfigError, match="paths\\[0\\]"):
        DoublyDispersiveChannel([(1.0, 2.0)])
    with pytest.raises(ConfigError, match="rng"):
        DoublyDispersiveChannel.rayleigh(3, [0], [0])
    with pytest.raises(ConfigError, match="powers"):
        DoublyDispersiveChannel.rayleigh(rng, [0, 1], [0, 0], powers=[1, -1])
    with pytest.raises(ConfigError, match="ndim"):
        DoublyDispersiveChannel([Path(1, 0, 0)]).apply(np.zeros((2, 2, 2)))


@pytest.mark.kernel
@given(seed=st.integers(0, 2**31), n=st.integers(0, 300), rows=st.integers(1, 3), npaths=st.integers(0, 4),
       frac=st.booleans())
def test_compiled_matches_twin(seed, n, rows, npaths, frac):
    compiled, twin = kernel_pair("_chanop")
    rng = np.random.default_rng(seed)
    delays = rng.uniform(0, 40, npaths) if frac else rng.integers(0, 40, npaths).astype(float)
    ch = DoublyDispersiveChannel([Path(g, d, nu) for g, d, nu in
                                  zip(_cx(rng, npaths), delays, rng.uniform(-0.5, 0.5, npaths))])
    x = _cx(rng, rows, n)
    a, b = np.zeros_like(x), np.zeros_like(x)
    args = (ch._gains, ch._dopplers, ch._offsets, ch._ntaps, ch._taps)
    assert compiled.apply(x, a, *args) == twin.apply(x, b, *args) == 0
    np.testing.assert_allclose(a, b, atol=1e-10 * (1 + np.abs(x).max(initial=0)))
