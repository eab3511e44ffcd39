"""Embedded-pilot estimation: layouts, exact recovery without noise, the 3-sigma threshold, and the
loss against perfect CSI (at most ~1 dB at BER 1e-3) for OTFS and AFDM."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dsp.detection import make_detector
from dsp.detection.sim import grid_output, rayleigh_paths
from dsp.estimation import afdm_pilot_layout, estimate_paths, otfs_pilot_layout
from dsp.waveforms import AfdmModem, OtfsModem
from hil.errors import ConfigError


def _sorted(paths):
    p = np.asarray(paths)
    order = np.lexsort((p[:, 2].real, p[:, 1].real))
    return p[order]


# --------------------------------------------------------------------------- layouts
def test_otfs_layout_follows_raviteja_2019():
    m = OtfsModem(16, 16, 4, cp_len=4)
    lay = otfs_pilot_layout(m, l_max=3, k_max=2)
    assert lay.pilot_cell == (8, 8)
    guard = ~lay.data_mask
    assert guard.sum() == (2 * 3 + 1) * (4 * 2 + 1)              # |l - l_p| <= l_max, |k - k_p| <= 2 k_max
    assert guard[5:12, 4:13].all() and not guard[4].any() and not guard[:, 3].any()
    assert lay.pilot_energy == guard.sum()                       # energy-neutral default
    assert lay.pilot == pytest.approx(np.sqrt(guard.sum()))
    full = otfs_pilot_layout(m, l_max=3, k_max=2, full_doppler_guard=True)
    assert (~full.data_mask).sum() == 7 * 16 and full.full_doppler_guard
    lay.apply(m)
    assert m.n_data == 256 - guard.sum()
    np.testing.assert_array_equal(m.grid_from_symbols(np.zeros(m.n_data)), lay.pilot_grid)


def test_afdm_layout_follows_bemani_2023():
    m = AfdmModem(128, 4, alpha_max=2, l_max=3, k_v=1)
    lay = afdm_pilot_layout(m, pilot_energy=10.0)
    q = (3 + 1) * (2 * (2 + 1) + 1) - 1                         # Q = (l_max + 1)(2 (alpha_max + k_v) + 1) - 1
    assert (~lay.data_mask).sum() == 2 * q + 1
    assert lay.pilot == pytest.approx(np.sqrt(10.0))


@pytest.mark.parametrize("call, field", [
    (lambda m: otfs_pilot_layout(m, l_max=8, k_max=1), "l_max"),
    (lambda m: otfs_pilot_layout(m, l_max=2, k_max=1, l_p=1), "l_p"),
    (lambda m: otfs_pilot_layout(m, l_max=2, k_max=1, pilot_energy=-1.0), "pilot_energy"),
    (lambda m: otfs_pilot_layout(m, l_max=2.5, k_max=1), "l_max"),
])
def test_layout_errors_name_the_field(call, field):
    with pytest.raises(ConfigError) as e:
        call(OtfsModem(16, 8, 4))
    assert e.value.field == field


def test_afdm_layout_rejects_overlapping_echoes():
    m = AfdmModem(64, 4, alpha_max=1, l_max=1, k_v=0)
    with pytest.raises(ConfigError, match="2 N c1"):
        afdm_pilot_layout(m, alpha_max=3)
    with pytest.raises(ConfigError, match="N"):
        afdm_pilot_layout(AfdmModem(32, 4, alpha_max=2, l_max=3, k_v=1))


# --------------------------------------------------------------------------- estimation
@given(seed=st.integers(0, 2**31), n_paths=st.integers(1, 4))
def test_otfs_estimation_is_exact_without_noise(seed, n_paths):
    rng = np.random.default_rng(seed)
    m = OtfsModem(16, 16, 4, cp_len=4)
    lay = otfs_pilot_layout(m, l_max=3, k_max=3)
    lay.apply(m)
    cells = rng.choice(4 * 7, n_paths, replace=False)
    true = rayleigh_paths(rng, cells // 7, cells % 7 - 3)
    true[:, 0] += 0.1 * np.exp(2j * np.pi * rng.random(n_paths))       # keep every gain away from 0
    X = m.grid_from_symbols(m.qam.map(rng.integers(0, 2, m.bits_per_frame, dtype=np.uint8)))
    y = grid_output(m, true, X, 1e-30, rng)
    est = estimate_paths(y, lay, 1e-12, m)
    np.testing.assert_allclose(_sorted(est), _sorted(true), atol=1e-9)


@given(seed=st.integers(0, 2**31), n_paths=st.integers(1, 4))
def test_afdm_estimation_is_exact_without_noise(seed, n_paths):
    rng = np.random.default_rng(seed)
    m = AfdmModem(128, 4, alpha_max=2, l_max=3, k_v=1, c2=np.sqrt(2) / (4 * 128**2))
    lay = afdm_pilot_layout(m, m_p=5)
    lay.apply(m)
    cells = rng.choice(4 * 5, n_paths, replace=False)
    true = rayleigh_paths(rng, cells // 5, cells % 5 - 2)
    true[:, 0] += 0.1 * np.exp(2j * np.pi * rng.random(n_paths))
    X = m.grid_from_symbols(m.qam.map(rng.integers(0, 2, m.bits_per_frame, dtype=np.uint8)))
    y = grid_output(m, true, X, 1e-30, rng)
    est = estimate_paths(y, lay, 1e-12, m)
    np.testing.assert_allclose(_sorted(est), _sorted(true), atol=1e-9)


def test_threshold_false_alarm_rate_is_exp_minus_9(rng):
    """Noise only: a cell passes 3 sigma with probability exp(-9) (|n|^2 / sigma^2 is Exp(1))."""
    m = OtfsModem(32, 32, 4, cp_len=4)
    lay = otfs_pilot_layout(m, l_max=15, k_max=0, full_doppler_guard=True, l_p=15)
    cells_per_frame = 16 * 32
    frames = 400
    hits = sum(len(estimate_paths(np.sqrt(0.5) * (rng.standard_normal(m.shape) + 1j * rng.standard_normal(m.shape)),
                                  lay, 1.0, m)) for _ in range(frames))
    expected = np.exp(-9) * cells_per_frame * frames                  # 25.3
    assert abs(hits - expected) < 4 * np.sqrt(expected), (hits, expected)
    # a lower threshold lets more noise through, as the closed form exp(-t^2) says
    y = np.sqrt(0.5) * (rng.standard_normal(m.shape) + 1j * rng.standard_normal(m.shape))
    assert len(estimate_paths(y, lay, 1.0, m, threshold=1.0)) == pytest.approx(np.exp(-1) * cells_per_frame, rel=0.2)


def test_estimation_errors():
    m = OtfsModem(16, 16, 4, cp_len=4)
    lay = otfs_pilot_layout(m, 3, 3)
    with pytest.raises(ConfigError, match="y_grid.shape"):
        estimate_paths(np.zeros((16, 8)), lay, 0.1, m)
    with pytest.raises(ConfigError, match="noise_var"):
        estimate_paths(np.zeros((16, 16)), lay, -1.0, m)
    with pytest.raises(ConfigError, match="threshold"):
        estimate_paths(np.zeros((16, 16)), lay, 0.1, m, threshold=-1)


# --------------------------------------------------------------------------- loss vs perfect CSI
def _loss_run(m, lay, channel, snr_perfect, frames, seed):
    """Bit errors with perfect CSI at ``snr_perfect`` and with estimated CSI 1 dB higher, on the same
    frames, fades and (scaled) noise - common random numbers make the comparison tight."""
    lay.apply(m)
    det = make_detector("mp", m)
    rng = np.random.default_rng(seed)
    nv_p = 10 ** (-snr_perfect / 10)
    nv_e = 10 ** (-(snr_perfect + 1.0) / 10)
    e_perf = e_est = e_est_same = bits = 0
    for _ in range(frames):
        tx = rng.integers(0, 2, m.bits_per_frame, dtype=np.uint8)
        X = m.grid_from_symbols(m.qam.map(tx))
        true = channel(rng)
        clean = grid_output(m, true, X, 1e-30, rng)
        w = np.sqrt(0.5) * (rng.standard_normal(m.shape) + 1j * rng.standard_normal(m.shape))
        y_p = clean + np.sqrt(nv_p) * w
        y_e = clean + np.sqrt(nv_e) * w
        e_perf += np.count_nonzero(det.detect_bits(y_p, true, nv_p) != tx)
        e_est += np.count_nonzero(det.detect_bits(y_e, estimate_paths(y_e, lay, nv_e, m), nv_e) != tx)
        e_est_same += np.count_nonzero(det.detect_bits(y_p, estimate_paths(y_p, lay, nv_p, m), nv_p) != tx)
        bits += tx.size
    return e_perf, e_est, e_est_same, bits


def test_otfs_embedded_pilot_loses_at_most_1db():
    m = OtfsModem(16, 16, 4, cp_len=4)
    lay = otfs_pilot_layout(m, l_max=3, k_max=3)

    def channel(rng):
        return rayleigh_paths(rng, [0, 1, 2, 3], rng.integers(-3, 4, 4))
    e_perf, e_est, e_same, bits = _loss_run(m, lay, channel, 14.0, 220, 19)
    assert 5e-4 < e_perf / bits < 5e-3, (e_perf, bits)          # the BER ~1e-3 region
    assert e_est <= e_perf, (e_est, e_perf)                     # estimated CSI at +1 dB is at least as good
    assert e_same >= e_perf - 5, (e_same, e_perf)               # and estimation is not free


def test_afdm_embedded_pilot_loses_at_most_1db():
    m = AfdmModem(128, 4, alpha_max=2, l_max=3, k_v=1)
    lay = afdm_pilot_layout(m)

    def channel(rng):
        return rayleigh_paths(rng, [0, 1, 2, 3], rng.integers(-2, 3, 4))
    e_perf, e_est, e_same, bits = _loss_run(m, lay, channel, 14.0, 300, 23)
    assert 5e-4 < e_perf / bits < 5e-3, (e_perf, bits)
    assert e_est <= e_perf, (e_est, e_perf)
    assert e_same >= e_perf - 5, (e_same, e_perf)


@pytest.mark.parametrize("kind", ["otfs", "afdm"])
def test_path_pruning_keeps_the_strongest(kind):
    """max_paths / min_rel_db keep exactly the strongest true paths of a noiseless frame (issue 16: the
    detector's cost is proportional to the number of paths)."""
    rng = np.random.default_rng(4)
    if kind == "otfs":
        m = OtfsModem(16, 16, 4, cp_len=4)
        lay = otfs_pilot_layout(m, l_max=3, k_max=3)
        true = np.array([[1.0, 0, 0], [0.5j, 1, 2], [0.2, 2, -1], [0.05, 3, 1]], complex)
    else:
        m = AfdmModem(128, 4, alpha_max=2, l_max=3, k_v=1)
        lay = afdm_pilot_layout(m)
        true = np.array([[1.0, 0, 0], [0.5j, 1, 2], [0.2, 2, -1], [0.05, 3, 1]], complex)
    lay.apply(m)
    X = m.grid_from_symbols(m.qam.map(rng.integers(0, 2, m.bits_per_frame, dtype=np.uint8)))
    y = grid_output(m, true, X, 1e-30, rng)
    full = estimate_paths(y, lay, 1e-12, m)
    np.testing.assert_allclose(_sorted(full), _sorted(true), atol=1e-9)
    np.testing.assert_allclose(_sorted(estimate_paths(y, lay, 1e-12, m, max_paths=2)), _sorted(true[:2]), atol=1e-9)
    # 0.2 is 14 dB below 1.0, 0.05 is 26 dB below
    np.testing.assert_allclose(_sorted(estimate_paths(y, lay, 1e-12, m, min_rel_db=20)), _sorted(true[:3]), atol=1e-9)
    assert estimate_paths(y, lay, 1e-12, m, min_rel_db=20, max_paths=1).shape == (1, 3)
    for bad in ({"max_paths": 0}, {"max_paths": 1.5}, {"min_rel_db": -1.0}, {"min_rel_db": float("nan")}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            estimate_paths(y, lay, 1e-12, m, **bad)
