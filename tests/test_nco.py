"""NCO kernel: compiled vs NumPy twin, chunk-split invariance, and the frequency it makes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dsp.nco import NcoRotator
from hil.errors import ConfigError
from tests.kernel_util import kernel_pair

pytestmark = pytest.mark.kernel


def _signal(rng, n):
    return (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(np.complex64)


@given(n=st.integers(0, 5000), phase=st.floats(0, 1), freq=st.floats(-0.5, 0.5),
       rate=st.floats(-1e-6, 1e-6), seed=st.integers(0, 2**31))
def test_compiled_matches_twin(n, phase, freq, rate, seed):
    compiled, twin = kernel_pair("_nco")
    x = _signal(np.random.default_rng(seed), n)
    a, b = np.empty_like(x), np.empty_like(x)
    pa, fa = compiled.rotate(x, a, phase, freq, rate)
    pb, fb = twin.rotate(x, b, phase, freq, rate)
    np.testing.assert_allclose(a, b, atol=2e-5 * (1 + np.abs(x).max(initial=0.0)))
    assert abs(((pa - pb) + 0.5) % 1.0 - 0.5) < 1e-9
    assert fa == pytest.approx(fb, abs=1e-12)


def test_output_is_closed_form_tone(rng):
    """A constant input comes out as exp(j 2 pi (f t + r t^2 / 2)): the definition, independently."""
    fs, f0, rate = 1e6, 12_345.0, 7_000.0  # 7 kHz/s: the Ka-band zenith Doppler rate
    n = 200_000
    y = NcoRotator(fs, f0, rate, phase=0.3).process(np.ones(n, np.complex64))
    t = np.arange(n) / fs
    ref = np.exp(1j * (2 * np.pi * (f0 * t + 0.5 * rate * t**2) + 0.3))
    np.testing.assert_allclose(y, ref, atol=5e-6)
    # instantaneous frequency from the phase difference follows f0 + rate t
    inst = np.angle(y[1:] * np.conj(y[:-1])) * fs / (2 * np.pi)
    np.testing.assert_allclose(inst, f0 + rate * (t[:-1] + 0.5 / fs), atol=0.05)


@given(cuts=st.lists(st.integers(0, 3000), max_size=6))
def test_chunk_split_invariance(cuts):
    x = _signal(np.random.default_rng(1), 3000)
    whole = NcoRotator(2e6, -3e4, 1e5, 1.0).process(x)
    nco = NcoRotator(2e6, -3e4, 1e5, 1.0)
    edges = [0, *sorted(cuts), len(x)]
    parts = np.concatenate([nco.process(x[a:b]) for a, b in zip(edges[:-1], edges[1:])])
    np.testing.assert_allclose(parts, whole, atol=1e-5)


def test_reset_restarts_the_stream(rng):
    x = _signal(rng, 1000)
    nco = NcoRotator(1e6, 1e3, 10.0)
    first = nco.process(x)
    nco.process(x)
    nco.reset()
    np.testing.assert_array_equal(nco.process(x), first)


@pytest.mark.parametrize("kw, field", [
    ({"sample_rate": 0.0}, "sample_rate"),
    ({"sample_rate": 1e6, "frequency": 6e5}, "frequency"),
    ({"sample_rate": 1e6, "rate": float("nan")}, "rate"),
])
def test_bad_parameters_name_the_field(kw, field):
    with pytest.raises(ConfigError, match=field) as err:
        NcoRotator(**kw)
    assert err.value.field == field


def test_rejects_2d_input():
    with pytest.raises(ConfigError, match="ndim"):
        NcoRotator(1e6).process(np.zeros((2, 2), np.complex64))
