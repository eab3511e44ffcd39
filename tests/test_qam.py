"""Gray QAM: unit energy, Gray neighbours, round trips, LLRs against a brute-force reference, kernels."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dsp.qam import QamMapper
from hil.errors import ConfigError
from tests.kernel_util import kernel_pair

ORDERS = (4, 16, 64)


@pytest.mark.parametrize("order", ORDERS)
def test_unit_average_energy_and_square_grid(order):
    q = QamMapper(order)
    c = q.constellation
    assert c.shape == (order,) and c.dtype == np.complex128
    assert np.mean(np.abs(c) ** 2) == pytest.approx(1.0, abs=1e-12)
    # square grid: sqrt(order) distinct levels per axis, equally spaced, symmetric
    side = int(np.sqrt(order))
    for axis in (c.real, c.imag):
        lv = np.unique(np.round(axis, 12))
        assert lv.size == side
        np.testing.assert_allclose(np.diff(lv), np.diff(lv)[0], atol=1e-12)
        np.testing.assert_allclose(lv, -lv[::-1], atol=1e-12)


@pytest.mark.parametrize("order", ORDERS)
def test_gray_nearest_neighbours_differ_in_one_bit(order):
    q = QamMapper(order)
    c = q.constellation
    d = np.abs(c[:, None] - c[None, :])
    dmin = d[d > 0].min()
    pairs = np.argwhere(np.isclose(d, dmin))
    assert len(pairs) > 0
    for a, b in pairs:
        assert bin(int(a) ^ int(b)).count("1") == 1


@pytest.mark.parametrize("order", ORDERS)
def test_map_demap_round_trip_and_slice(order, rng):
    q = QamMapper(order)
    bits = rng.integers(0, 2, q.bits_per_symbol * 500).astype(np.uint8)
    s = q.map(bits)
    assert s.dtype == np.complex128 and s.size == 500
    np.testing.assert_array_equal(q.demap_hard(s), bits)
    noisy = s + 0.02 * (rng.standard_normal(500) + 1j * rng.standard_normal(500))
    np.testing.assert_allclose(q.slice(noisy), s, atol=1e-12)
    # the index convention: constellation[v] for the bit value v (MSB first)
    v = bits.reshape(-1, q.bits_per_symbol) @ (1 << np.arange(q.bits_per_symbol - 1, -1, -1))
    np.testing.assert_array_equal(s, q.constellation[v])


@pytest.mark.parametrize("order", ORDERS)
def test_hard_decision_is_nearest_point(order, rng):
    q = QamMapper(order)
    y = 1.5 * (rng.standard_normal(400) + 1j * rng.standard_normal(400))
    nearest = np.argmin(np.abs(y[:, None] - q.constellation[None, :]), axis=1)
    ref = ((nearest[:, None] >> np.arange(q.bits_per_symbol - 1, -1, -1)) & 1).astype(np.uint8).ravel()
    np.testing.assert_array_equal(q.demap_hard(y), ref)
    np.testing.assert_allclose(q.slice(y), q.constellation[nearest])


@pytest.mark.parametrize("order", ORDERS)
def test_maxlog_llr_matches_brute_force(order, rng):
    q = QamMapper(order)
    nv = 0.3
    y = rng.standard_normal(300) + 1j * rng.standard_normal(300)
    d2 = np.abs(y[:, None] - q.constellation[None, :]) ** 2
    idx = np.arange(order)
    ref = np.empty((300, q.bits_per_symbol))
    for j in range(q.bits_per_symbol):
        bit = (idx >> (q.bits_per_symbol - 1 - j)) & 1
        ref[:, j] = (d2[:, bit == 1].min(1) - d2[:, bit == 0].min(1)) / nv
    np.testing.assert_allclose(q.demap_llr(y, nv), ref.ravel(), rtol=1e-10, atol=1e-10)
    # sign agrees with the hard decision
    np.testing.assert_array_equal((q.demap_llr(y, nv) < 0).astype(np.uint8), q.demap_hard(y))


def test_bad_inputs():
    with pytest.raises(ConfigError, match="order"):
        QamMapper(8)
    q = QamMapper(16)
    with pytest.raises(ConfigError, match="len\\(bits\\)"):
        q.map(np.zeros(5, np.uint8))
    with pytest.raises(ConfigError, match="bits"):
        q.map(np.array([0, 1, 2, 0], np.uint8))
    with pytest.raises(ConfigError, match="noise_var"):
        q.demap_llr(np.zeros(2, complex), 0.0)


@pytest.mark.kernel
@given(order=st.sampled_from(ORDERS), n=st.integers(0, 300), seed=st.integers(0, 2**31))
def test_compiled_matches_twin(order, n, seed):
    compiled, twin = kernel_pair("_modqam")
    rng = np.random.default_rng(seed)
    q = QamMapper(order)
    bps, h = q.bits_per_symbol, q.bits_per_symbol // 2
    bits = rng.integers(0, 2, n * bps).astype(np.uint8)
    a, b = np.empty(n, np.complex128), np.empty(n, np.complex128)
    assert compiled.map_bits(bits, bps, q.constellation, a) == twin.map_bits(bits, bps, q.constellation, b) == 0
    np.testing.assert_array_equal(a, b)
    y = 1.3 * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
    ha, hb = np.empty(n * bps, np.uint8), np.empty(n * bps, np.uint8)
    compiled.demap_hard(y, h, q._scale, q._gray, ha)
    twin.demap_hard(y, h, q._scale, q._gray, hb)
    np.testing.assert_array_equal(ha, hb)
    la, lb = np.empty(n * bps), np.empty(n * bps)
    compiled.maxlog_llr(y, h, q._levels, q._gray, 2.0, la)
    twin.maxlog_llr(y, h, q._levels, q._gray, 2.0, lb)
    np.testing.assert_allclose(la, lb, rtol=1e-12, atol=1e-12)
    if n:
        bad = bits.copy()
        bad[-1] = 3
        assert compiled.map_bits(bad, bps, q.constellation, a) == twin.map_bits(bad, bps, q.constellation, b) == 1
