"""Detectors: compiled kernels vs NumPy twins, closed-form channels vs the modems, exact detection,
pilot cancellation, the registry and input errors. Statistical BER checks: test_reference_points.py."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dsp.ber import qpsk_rayleigh_ber
from dsp.channel import DoublyDispersiveChannel
from dsp.detection import DETECTORS, FactorGraph, make_detector
from dsp.detection.graph import afdm_coo, channel_coo, coo_dense, otfs_coo
from dsp.detection.sim import grid_ber, grid_output, rayleigh_paths
from dsp.waveforms import AfdmModem, OfdmModem, OtfsModem
from hil.errors import ConfigError
from tests.kernel_util import kernel_pair

QPSK = np.array([1 + 1j, 1 - 1j, -1 + 1j, -1 - 1j]) / np.sqrt(2)


def _qam16():
    a = np.array([-3, -1, 1, 3]) / np.sqrt(10)
    return (a[:, None] + 1j * a[None, :]).ravel()


def _random_problem(seed, n_cells, n_paths, q):
    """A random sparse OTFS-like graph (integer paths on an M x N grid) with random symbols and noise."""
    rng = np.random.default_rng(seed)
    M = max(2, n_cells // 4)
    N = max(2, n_cells // M)
    delays = rng.integers(0, min(M, 4), n_paths)
    dopplers = rng.integers(-(N // 2), N // 2 + 1, n_paths)
    paths = rayleigh_paths(rng, delays, dopplers)
    r, c, v = otfs_coo(M, N, 4, paths)
    mask = rng.random(M * N) < 0.8
    mask[0] = True
    g = FactorGraph.from_coo(r, c, v, M * N, mask)
    cons = QPSK if q == 4 else _qam16()
    x = cons[rng.integers(0, cons.size, M * N)]
    nv = 10 ** (-rng.uniform(0, 20) / 10)
    y = coo_dense(r, c, v, M * N)[:, mask] @ x[mask] + np.sqrt(nv / 2) * (
        rng.standard_normal(M * N) + 1j * rng.standard_normal(M * N))
    return g, np.ascontiguousarray(y), cons, nv


# --------------------------------------------------------------------------- kernels
@pytest.mark.kernel
@given(seed=st.integers(0, 2**31), n_cells=st.integers(8, 96), n_paths=st.integers(1, 5), q=st.sampled_from([4, 16]),
       damping=st.floats(0.2, 1.0), max_iter=st.integers(1, 30), stall=st.integers(0, 3))
def test_mp_compiled_matches_twin(seed, n_cells, n_paths, q, damping, max_iter, stall):
    compiled, twin = kernel_pair("_mp")
    g, y, cons, nv = _random_problem(seed, n_cells, n_paths, q)
    out = []
    for k in (compiled, twin):
        idx = np.zeros(g.var_cells.size, np.int64)
        prob = np.zeros((g.var_cells.size, cons.size))
        res = k.mp_detect(y, g.obs_ptr, g.edge_var, g.edge_h, g.var_ptr, g.var_edge, cons, nv, damping, max_iter,
                          0.01, stall, idx, prob)
        out.append((res, idx, prob))
    (ra, ia, pa), (rb, ib, pb) = out
    assert ra[0] == rb[0] == 0 and ra[1] == rb[1]
    assert ra[2] == pytest.approx(rb[2])
    np.testing.assert_array_equal(ia, ib)  # identical decisions
    np.testing.assert_allclose(pa, pb, atol=1e-9)
    np.testing.assert_allclose(pa.sum(axis=1), 1.0)


@pytest.mark.kernel
@given(seed=st.integers(0, 2**31), n_cells=st.integers(8, 96), n_paths=st.integers(1, 5), q=st.sampled_from([4, 16]),
       max_iter=st.integers(1, 30), by_row=st.booleans())
def test_mrc_compiled_matches_twin(seed, n_cells, n_paths, q, max_iter, by_row):
    compiled, twin = kernel_pair("_mrc")
    g, y, cons, nv = _random_problem(seed, n_cells, n_paths, q)
    nvar = g.var_cells.size
    groups = np.unique(np.concatenate([[0, nvar], np.flatnonzero(np.diff(g.var_cells // 4)) + 1])) if by_row \
        else np.arange(nvar + 1)
    groups = groups.astype(np.int64)
    out = []
    for k in (compiled, twin):
        idx = np.zeros(nvar, np.int64)
        soft = np.zeros(nvar, np.complex128)
        res = k.mrc_detect(y, g.obs_ptr, g.edge_obs, g.edge_var, g.edge_h, g.var_ptr, g.var_edge, groups, cons,
                           max_iter, idx, soft)
        out.append((res, idx, soft))
    (ra, ia, sa), (rb, ib, sb) = out
    assert ra == rb and ra[0] == 0
    np.testing.assert_array_equal(ia, ib)
    np.testing.assert_allclose(sa, sb, atol=1e-9)


PSK8 = np.exp(2j * np.pi * np.arange(8) / 8)   # not a product of I and Q levels: the kernel's generic loop


@pytest.mark.kernel
@given(seed=st.integers(0, 2**31), n_cells=st.integers(8, 64), n_paths=st.integers(1, 4), damping=st.floats(0.2, 1.0),
       max_iter=st.integers(1, 20))
def test_mp_generic_constellation_matches_twin(seed, n_cells, n_paths, damping, max_iter):
    compiled, twin = kernel_pair("_mp")
    g, y, _, nv = _random_problem(seed, n_cells, n_paths, 4)
    out = []
    for k in (compiled, twin):
        idx = np.zeros(g.var_cells.size, np.int64)
        prob = np.zeros((g.var_cells.size, PSK8.size))
        res = k.mp_detect(y, g.obs_ptr, g.edge_var, g.edge_h, g.var_ptr, g.var_edge, PSK8, nv, damping, max_iter,
                          0.01, 0, idx, prob)
        out.append((res, idx, prob))
    (ra, ia, pa), (rb, ib, pb) = out
    assert ra[0] == rb[0] == 0 and ra[1] == rb[1]
    np.testing.assert_array_equal(ia, ib)
    np.testing.assert_allclose(pa, pb, atol=1e-9)


@pytest.mark.kernel
def test_mp_kernel_exp_is_accurate_to_two_ulp():
    compiled, twin = kernel_pair("_mp")
    if compiled is twin:
        pytest.skip("the polynomial exp exists only in the compiled kernel")
    rng = np.random.default_rng(5)
    x = np.concatenate([-rng.uniform(0, 708, 20000), -rng.uniform(0, 1, 20000), -rng.exponential(1e-9, 2000),
                        [0.0, -0.0, -708.0, -np.log(2) / 2, -np.log(2)]])
    out = np.empty_like(x)
    compiled._exp_neg_values(x, out)
    ref = np.exp(x)
    assert np.all(np.abs(out - ref) <= 2 * np.spacing(ref))
    below = -rng.uniform(708.0 + 1e-9, 2000, 100)
    out = np.empty_like(below)
    compiled._exp_neg_values(below, out)
    assert np.all(out == 0.0)          # true value < 3.3e-308: below the rounding of sums whose largest term is 1


@pytest.mark.kernel
@pytest.mark.parametrize("order, M, N, frames", [(4, 64, 16, 16), (16, 64, 16, 4), (4, 128, 32, 2)])
def test_mp_identical_decisions_on_realistic_frames(order, M, N, frames):
    """The speed target is stated for identical decisions: OTFS frames (4 Rayleigh paths, integer Doppler),
    SNR 6..20 dB, many fades; compiled and twin must decide the same, iterate the same and agree on eta."""
    compiled, twin = kernel_pair("_mp")
    rng = np.random.default_rng(1000 * order + M)
    m = OtfsModem(M, N, order, cp_len=8)
    cons = np.ascontiguousarray(m.qam.constellation)
    for _ in range(frames):
        nv = 10 ** (-rng.uniform(6, 20) / 10)
        paths = rayleigh_paths(rng, [0, 1, 2, 3], rng.integers(-3, 4, 4))
        X = m.grid_from_symbols(m.qam.map(rng.integers(0, 2, m.bits_per_frame, dtype=np.uint8)))
        y = np.ascontiguousarray(grid_output(m, paths, X, nv, rng).ravel())
        g = FactorGraph.from_coo(*channel_coo(m, paths), m.n_cells, np.ones(m.n_cells, bool))
        out = []
        for k in (compiled, twin):
            idx = np.zeros(m.n_cells, np.int64)
            prob = np.zeros((m.n_cells, cons.size))
            res = k.mp_detect(y, g.obs_ptr, g.edge_var, g.edge_h, g.var_ptr, g.var_edge, cons, nv, 0.6, 60, 0.01,
                              10, idx, prob)
            out.append((res, idx, prob))
        (ra, ia, pa), (rb, ib, pb) = out
        assert ra[0] == rb[0] == 0 and ra[1] == rb[1]
        assert ra[2] == pytest.approx(rb[2])
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_allclose(pa, pb, atol=1e-9)


@pytest.mark.kernel
def test_kernels_report_bad_shapes_and_parameters():
    compiled, twin = kernel_pair("_mp")
    g, y, cons, nv = _random_problem(1, 32, 2, 4)
    n = g.var_cells.size
    for k in (compiled, twin):
        ok = (y, g.obs_ptr, g.edge_var, g.edge_h, g.var_ptr, g.var_edge, cons)
        assert k.mp_detect(*ok, nv, 0.6, 5, 0.01, 0, np.zeros(n + 1, np.int64), np.zeros((n + 1, 4)))[0] == 1
        assert k.mp_detect(*ok, 0.0, 0.6, 5, 0.01, 0, np.zeros(n, np.int64), np.zeros((n, 4)))[0] == 2
        assert k.mp_detect(*ok, nv, 0.0, 5, 0.01, 0, np.zeros(n, np.int64), np.zeros((n, 4)))[0] == 2
    compiled, twin = kernel_pair("_mrc")
    for k in (compiled, twin):
        bad_groups = np.array([0, n + 1], np.int64)
        assert k.mrc_detect(y, g.obs_ptr, g.edge_obs, g.edge_var, g.edge_h, g.var_ptr, g.var_edge, bad_groups, cons,
                            5, np.zeros(n, np.int64), np.zeros(n, complex))[0] == 1
        groups = np.array([0, n], np.int64)
        assert k.mrc_detect(y, g.obs_ptr, g.edge_obs, g.edge_var, g.edge_h, g.var_ptr, g.var_edge, groups, cons,
                            0, np.zeros(n, np.int64), np.zeros(n, complex))[0] == 2
    if compiled is not twin:
        # the compiled kernel reads through var_ptr / var_edge unchecked: a malformed graph is refused first
        groups = np.array([0, n], np.int64)
        bad_edge = g.var_edge.copy()
        bad_edge[0] = g.edge_h.size + 5
        bad_ptr = g.var_ptr.copy()
        bad_ptr[-1] += 1
        for ve, vp in ((bad_edge, g.var_ptr), (g.var_edge, bad_ptr)):
            assert compiled.mrc_detect(y, g.obs_ptr, g.edge_obs, g.edge_var, g.edge_h, vp, ve, groups, cons, 5,
                                       np.zeros(n, np.int64), np.zeros(n, complex))[0] == 1


# --------------------------------------------------------------------------- closed forms vs modems
@pytest.mark.parametrize("cp", ["frame", "symbol"])
@pytest.mark.parametrize("dopplers", [[0, 1, -2, 3], [0.3, -1.6, 2.5, 3.2]])
def test_otfs_closed_form_equals_modem_effective_channel(cp, dopplers, rng):
    m = OtfsModem(8, 6, 4, cp=cp, cp_len=4)
    ch = m.channel_from_bins([0, 1, 2, 4], dopplers, rayleigh_paths(rng, [0] * 4, [0] * 4)[:, 0])
    r, c, v = channel_coo(m, m.dd_paths(ch))
    np.testing.assert_allclose(coo_dense(r, c, v, m.n_cells), m.effective_channel(ch), atol=1e-12)


@pytest.mark.parametrize("c2", [0.0, np.sqrt(2) / (4 * 32**2)])
@pytest.mark.parametrize("alphas", [[-2, 1, 2], [-1.7, 0.4, 2.2]])
def test_afdm_closed_form_equals_modem_effective_channel(c2, alphas, rng):
    m = AfdmModem(32, 4, alpha_max=2, l_max=2, k_v=1, c2=c2)
    ch = m.channel_from_bins([0, 1, 2], alphas, rayleigh_paths(rng, [0] * 3, [0] * 3)[:, 0])
    r, c, v = channel_coo(m, m.dd_paths(ch))
    np.testing.assert_allclose(coo_dense(r, c, v, m.n_cells), m.effective_channel(ch), atol=1e-12)


def test_afdm_reference_offsets():
    """REFERENCES.md: N = 64, alpha_max = 2, k_v = 1, paths (0,-2), (1,1), (3,2) -> offsets {62, 8, 23} in
    Bemani's sign convention (their Doppler sign is the opposite of ours: alpha -> -alpha)."""
    N = 64
    c1 = (2 * (2 + 1) + 1) / (2 * N)
    paths = [(1.0, 0, 2), (1.0, 1, -1), (1.0, 3, -2)]  # Bemani (l, alpha) with our Doppler sign
    r, c, _ = afdm_coo(N, c1, 0.0, 3, paths)
    assert set(((c - r) % N).tolist()) == {62, 8, 23}


def test_truncated_doppler_spread_keeps_the_strongest_bins(rng):
    m = OtfsModem(8, 16, 4, cp_len=4)
    paths = [(1.0, 1, 2.3)]
    full = coo_dense(*otfs_coo(8, 16, 4, paths), 128)
    r, c, v = otfs_coo(8, 16, 4, paths, doppler_spread=2)
    part = coo_dense(r, c, v, 128)
    assert np.count_nonzero(part[5]) == 5                      # 2 S + 1 bins per row
    kept = np.abs(part[5]) > 0
    assert np.abs(full[5][kept]).min() >= np.abs(full[5][~kept & (np.abs(full[5]) > 0)]).max()
    np.testing.assert_allclose(part[5][kept], full[5][kept])
    assert m.n_cells == 128


# --------------------------------------------------------------------------- detection
def _noiseless(m, paths, rng):
    X = m.grid_from_symbols(m.qam.map(rng.integers(0, 2, m.bits_per_frame, dtype=np.uint8)))
    r, c, v = channel_coo(m, paths)
    return X, (coo_dense(r, c, v, m.n_cells) @ X.ravel()).reshape(m.shape)


@pytest.mark.kernel  # cheap: also run against the NumPy twins in pure-Python mode
@pytest.mark.parametrize("name", sorted(DETECTORS))
@pytest.mark.parametrize("kind", ["otfs", "afdm"])
def test_every_detector_is_exact_on_a_clean_sparse_channel(name, kind, rng):
    if kind == "otfs":
        m = OtfsModem(8, 8, 4, cp_len=4)
        paths = [(0.9, 0, 0), (0.4j, 1, 1), (-0.2, 3, -2)]
    else:
        m = AfdmModem(32, 4, alpha_max=1, l_max=2, k_v=0)
        paths = [(0.9, 0, 0), (0.4j, 1, 1), (-0.2, 2, -1)]
    if name == "onetap":
        paths = paths[:1]
    X, Y = _noiseless(m, paths, rng)
    det = make_detector(name, m)
    np.testing.assert_allclose(det.detect(Y, paths, 1e-6), X, atol=1e-12)
    assert det.last_iterations >= 1


@pytest.mark.kernel
@pytest.mark.parametrize("name", ["mp", "mrc", "lmmse"])
def test_pilot_and_guard_cells_are_cancelled_not_detected(name, rng):
    """Known cells (a strong pilot, zero guards) stay as given; data decisions are exact without noise."""
    m = OtfsModem(8, 8, 4, cp_len=4)
    mask = np.ones(m.shape, bool)
    mask[3:6, :] = False
    fill = np.zeros(m.shape, complex)
    fill[4, 4] = 5.0
    m.set_data_mask(mask, fill)
    paths = [(0.8, 0, 0), (0.5, 1, 1), (0.3j, 2, -1)]
    X, Y = _noiseless(m, paths, rng)
    out = make_detector(name, m).detect(Y, paths, 1e-4)
    np.testing.assert_allclose(out, X, atol=1e-12)
    # without telling the detector the pilot value, the pilot leaks into the data and decisions break
    wrong = make_detector(name, m).detect(Y, paths, 1e-4, known=np.zeros(m.shape))
    assert np.any(np.abs(wrong[mask] - X[mask]) > 1e-6)


def test_mp_on_afdm_reaches_multipath_diversity(rng):
    """MP on the sparse AFDM channel (4 integer paths) is far below the one-path Rayleigh closed form
    (no diversity) at 14 dB: the detector exploits the paths instead of suffering them."""
    m = AfdmModem(64, 4, alpha_max=2, l_max=3, k_v=0)
    det = make_detector("mp", m)

    def chan(r):
        return rayleigh_paths(r, [0, 1, 2, 3], r.integers(-2, 3, 4))
    res = grid_ber(m, 14.0, chan, {"mp": det.detect}, 150, rng)
    assert res.ber("mp") < 0.2 * qpsk_rayleigh_ber(14.0), res.errors   # closed form 1.88e-2


def test_mrc_tracks_mp_on_a_large_sparse_frame(rng):
    """Iterative MRC on a realistic frame (M = 64, N = 16, 4 paths) stays within a factor of MP."""
    m = OtfsModem(64, 16, 4, cp_len=8)
    dets = {n: make_detector(n, m).detect for n in ("mp", "mrc")}

    def chan(r):
        return rayleigh_paths(r, [0, 1, 2, 3], r.integers(-3, 4, 4))
    res = grid_ber(m, 16.0, chan, dets, 40, rng)
    assert res.ber("mrc") < 2e-2, res.errors
    assert res.errors["mp"] <= res.errors["mrc"] + 20


def test_grid_output_matches_the_time_domain_chain(rng):
    """The fast grid simulation equals modulate -> channel -> demodulate (noise-free)."""
    m = OtfsModem(8, 4, 4, cp_len=4)
    paths = rayleigh_paths(rng, [0, 2], [1, -1])
    X = m.grid_from_symbols(m.qam.map(rng.integers(0, 2, m.bits_per_frame, dtype=np.uint8)))
    ch = m.channel_from_bins(paths[:, 1].real, paths[:, 2].real, paths[:, 0])
    ref = m.demodulate_grid(ch.apply(m._modulate_grid128(X)))
    np.testing.assert_allclose(grid_output(m, paths, X, 1e-30, rng), ref, atol=1e-9)


def test_dense_fallback_for_waveforms_without_closed_form(rng):
    m = OfdmModem(8, 4, 4, cp_len=3)
    ch = DoublyDispersiveChannel.rayleigh(rng, [0, 2], [0.0, 0.0])
    paths = m.dd_paths(ch)
    r, c, v = channel_coo(m, paths)
    np.testing.assert_allclose(coo_dense(r, c, v, m.n_cells), m.effective_channel(ch), atol=1e-9)
    X, Y = _noiseless(m, paths, rng)
    np.testing.assert_allclose(make_detector("onetap", m).detect(Y, paths, 1e-6), X, atol=1e-12)


# --------------------------------------------------------------------------- errors
def test_registry_and_errors_name_the_field():
    m = OtfsModem(8, 8, 4, cp_len=4)
    assert set(DETECTORS) >= {"mp", "mrc", "lmmse", "onetap"}
    with pytest.raises(ConfigError, match="detector") as e:
        make_detector("zf", m)
    assert e.value.field == "detector"
    with pytest.raises(ConfigError, match="damping"):
        make_detector("mp", m, damping=1.5)
    with pytest.raises(ConfigError, match="max_iter"):
        make_detector("mrc", m, max_iter=0)
    with pytest.raises(ConfigError, match="doppler_spread"):
        make_detector("mp", m, doppler_spread=-1)
    det = make_detector("mp", m)
    paths = [(1.0, 0, 0)]
    with pytest.raises(ConfigError, match="y_grid.shape"):
        det.detect(np.zeros((8, 7)), paths, 0.1)
    with pytest.raises(ConfigError, match="noise_var"):
        det.detect(np.zeros((8, 8)), paths, 0.0)
    with pytest.raises(ConfigError, match="paths_dd"):
        det.detect(np.zeros((8, 8)), [(1.0, 0)], 0.1)
    with pytest.raises(ConfigError, match="delay_bin"):
        det.detect(np.zeros((8, 8)), [(1.0, 5, 0)], 0.1)   # beyond cp_len = 4
    with pytest.raises(ConfigError, match="max_cells"):
        make_detector("lmmse", OtfsModem(128, 64, 4))
    assert "MpDetector" in repr(det)


def test_graph_cache_follows_the_channel_and_the_mask(rng):
    """One detector over frames with different channels / masks: each detection uses its own channel."""
    m = OtfsModem(8, 8, 4, cp_len=4)
    det = make_detector("mp", m)
    for paths in ([(0.9, 0, 0), (0.4, 2, 1)], [(0.9, 0, 0), (0.4j, 1, -1)], [(0.9, 0, 0), (0.4j, 1, -1)]):
        X, Y = _noiseless(m, paths, rng)
        np.testing.assert_allclose(det.detect(Y, paths, 1e-4), X, atol=1e-12)
    mask = np.ones(m.shape, bool)
    mask[0, :3] = False
    m.set_data_mask(mask)
    X, Y = _noiseless(m, paths, rng)
    np.testing.assert_allclose(det.detect(Y, paths, 1e-4), X, atol=1e-12)


@pytest.mark.kernel
@pytest.mark.parametrize("order, M, N, frames", [(4, 64, 16, 24), (16, 64, 16, 8), (4, 128, 32, 3)])
def test_mrc_identical_decisions_on_realistic_frames(order, M, N, frames):
    """Compiled MRC (split real/imag arithmetic, change lists, dirty skipping from sweep 2) against the twin
    on OTFS frames: 4 Rayleigh paths, integer Doppler, SNR 4..20 dB, delay-row groups as MrcDetector uses;
    same decisions, sweep count and combiner outputs."""
    compiled, twin = kernel_pair("_mrc")
    rng = np.random.default_rng(2000 * order + M)
    m = OtfsModem(M, N, order, cp_len=8)
    det = make_detector("mrc", m)
    cons = np.ascontiguousarray(m.qam.constellation)
    for _ in range(frames):
        nv = 10 ** (-rng.uniform(4, 20) / 10)
        paths = rayleigh_paths(rng, [0, 1, 2, 3], rng.integers(-3, 4, 4))
        X = m.grid_from_symbols(m.qam.map(rng.integers(0, 2, m.bits_per_frame, dtype=np.uint8)))
        y = np.ascontiguousarray(grid_output(m, paths, X, nv, rng).ravel())
        g = FactorGraph.from_coo(*channel_coo(m, paths), m.n_cells, np.ones(m.n_cells, bool))
        groups = det._groups(g.var_cells)
        out = []
        for k in (compiled, twin):
            idx = np.zeros(m.n_cells, np.int64)
            soft = np.zeros(m.n_cells, np.complex128)
            res = k.mrc_detect(y, g.obs_ptr, g.edge_obs, g.edge_var, g.edge_h, g.var_ptr, g.var_edge, groups, cons,
                               20, idx, soft)
            out.append((res, idx, soft))
        (ra, ia, sa), (rb, ib, sb) = out
        assert ra == rb and ra[0] == 0
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_allclose(sa, sb, atol=1e-9)


# --------------------------------------------------------------------------- diagonal (dd) engine, issue 16
def _dd_problem(seed, R, C, G, damaged=0.2):
    """Random diagonal problem: G distinct shifts on an R x C grid, float32 coefficients and observations,
    some non-data cells."""
    rng = np.random.default_rng(seed)
    keys = rng.choice(R * C, size=min(G, R * C), replace=False)
    gsr, gsc = (keys // C).astype(np.int64), (keys % C).astype(np.int64)
    cre = (rng.standard_normal((keys.size, R * C)) / np.sqrt(2 * keys.size)).astype(np.float32)
    cim = (rng.standard_normal((keys.size, R * C)) / np.sqrt(2 * keys.size)).astype(np.float32)
    yr = rng.standard_normal(R * C).astype(np.float32)
    yi = rng.standard_normal(R * C).astype(np.float32)
    act = (rng.random(R * C) >= damaged).astype(np.uint8)
    act[0] = 1
    return gsr, gsc, cre, cim, yr, yi, act


@pytest.mark.kernel
@given(seed=st.integers(0, 2**31), R=st.integers(1, 6), C=st.integers(1, 12), G=st.integers(1, 6),
       damping=st.floats(0.2, 1.0), max_iter=st.integers(1, 25), stall=st.integers(0, 3),
       nv=st.floats(1e-3, 2.0))
def test_dd_mp_compiled_is_bit_identical_to_twin(seed, R, C, G, damping, max_iter, stall, nv):
    compiled, twin = kernel_pair("_ddet")
    gsr, gsc, cre, cim, yr, yi, act = _dd_problem(seed, R, C, G)
    lev = (-1 / np.sqrt(2), 1 / np.sqrt(2), -1 / np.sqrt(2), 1 / np.sqrt(2))
    out = []
    for k in (compiled, twin):
        dec = np.zeros((R * C, 2), np.int8)
        llr = np.zeros((R * C, 2), np.float32)
        res = k.mp_binary(R, C, gsr, gsc, cre, cim, yr, yi, act, lev, nv, damping, max_iter, 0.01, stall, dec, llr)
        out.append((res, dec, llr))
    (ra, da, la), (rb, db, lb) = out
    assert ra == rb and ra[0] == 0                      # status, iterations and eta exactly
    np.testing.assert_array_equal(da, db)
    np.testing.assert_array_equal(la, lb)               # bit for bit (same float32 operations)


@pytest.mark.kernel
@given(seed=st.integers(0, 2**31), R=st.integers(1, 6), C=st.integers(1, 12), G=st.integers(1, 6),
       max_iter=st.integers(1, 25), q=st.sampled_from([4, 16]), glen=st.integers(1, 12), carry=st.booleans())
def test_dd_mrc_compiled_is_bit_identical_to_twin(seed, R, C, G, max_iter, q, glen, carry):
    compiled, twin = kernel_pair("_ddet")
    gsr, gsc, cre, cim, yr, yi, act = _dd_problem(seed, R, C, G)
    cons = QPSK if q == 4 else _qam16()
    cr, ci = cons.real.astype(np.float32), cons.imag.astype(np.float32)
    glen = min(glen, C)
    out = []
    for k in (compiled, twin):
        idx = np.zeros(R * C, np.int64)
        soft = np.zeros((R * C, 2), np.float32)
        res = k.mrc(R, C, gsr, gsc, cre, cim, yr, yi, act, glen, cr, ci, max_iter, idx, soft, carry)
        out.append((res, idx, soft))
    (ra, ia, sa), (rb, ib, sb) = out
    assert ra == rb and ra[0] == 0
    np.testing.assert_array_equal(ia, ib)
    np.testing.assert_array_equal(sa, sb)
    assert np.all(ia[act == 0] == -1)


def _sequential_gs(N, shifts, cre, cim, yr, yi, act, cons, order, max_iter):
    """Reference for the strided sweep: plain Gauss-Seidel MRC on the 1-D index layout, one index at a time
    in ``order``, float32 scalar operations in the kernels' order (combine over t, D from sum_t |c|^2)."""
    f32 = np.float32
    dyr, dyi = yr.astype(f32).copy(), yi.astype(f32).copy()
    G = len(shifts)
    obs = [(np.arange(N) + s) % N for s in shifts]
    hs = np.zeros(N, f32)
    for t in range(G):
        x, z = cre[t][obs[t]], cim[t][obs[t]]
        hs = hs + (x * x + z * z)
    dinv = np.where(hs > 0, f32(1) / np.where(hs > 0, hs, f32(1)), f32(0)).astype(f32)
    idx = np.full(N, -1, np.int64)
    xr, xi = np.zeros(N, f32), np.zeros(N, f32)
    soft = np.zeros((N, 2), f32)
    cr, ci = cons.real.astype(f32), cons.imag.astype(f32)
    sweeps = 0
    while sweeps < max_iter:
        sweeps += 1
        changed = 0
        for c in order:
            if not act[c] or dinv[c] == 0:
                continue
            nr = ni = f32(0)
            for t in range(G):
                d = obs[t][c]
                nr = nr + (cre[t][d] * dyr[d] + cim[t][d] * dyi[d])
                ni = ni + (cre[t][d] * dyi[d] - cim[t][d] * dyr[d])
            gr, gi = nr * dinv[c] + xr[c], ni * dinv[c] + xi[c]
            best = int(np.argmin((gr - cr) * (gr - cr) + (gi - ci) * (gi - ci)))
            soft[c] = gr, gi
            if best == idx[c]:
                continue
            changed += 1
            er, ei = cr[best] - xr[c], ci[best] - xi[c]
            for t in range(G):
                d = obs[t][c]
                dyr[d] = dyr[d] - (cre[t][d] * er - cim[t][d] * ei)
                dyi[d] = dyi[d] - (cre[t][d] * ei + cim[t][d] * er)
            idx[c], xr[c], xi[c] = best, cr[best], ci[best]
        if changed == 0:
            break
    return idx, soft, sweeps


@pytest.mark.kernel
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_strided_sweep_is_gauss_seidel_in_strided_order(seed):
    """AFDM's strided layout (B x N/B, a 1-D shift as a row shift with a column carry, whole rows combined at
    once) equals one-index-at-a-time Gauss-Seidel in the order a, a + B, a + 2B, ... (a = 0 .. B-1) when the
    shifts span less than B - bit for bit, compiled and twin; and that order is not index order."""
    from dsp.detection.mrc import strided_order
    compiled, twin = kernel_pair("_ddet")
    rng = np.random.default_rng(seed)
    N, B = 128, 16
    shifts = np.sort(rng.choice(np.r_[0:6, N - 9:N], size=4, replace=False)).astype(np.int64)   # span < B
    G = shifts.size
    cre = (rng.standard_normal((G, N)) / np.sqrt(2 * G)).astype(np.float32)
    cim = (rng.standard_normal((G, N)) / np.sqrt(2 * G)).astype(np.float32)
    act = (rng.random(N) > 0.1).astype(np.uint8)
    x = QPSK[rng.integers(0, 4, N)] * act
    y = sum((cre[t] + 1j * cim[t]) * np.roll(x, shifts[t]) for t in range(G))   # obs d = index + shift
    y = y + 0.35 * (rng.standard_normal(N) + 1j * rng.standard_normal(N))
    yr, yi = y.real.astype(np.float32), y.imag.astype(np.float32)
    order = np.arange(N).reshape(N // B, B).T.ravel()                            # a + i B, a outer
    ref_idx, ref_soft, ref_sweeps = _sequential_gs(N, shifts, cre, cim, yr, yi, act, QPSK, order, 10)
    nat_idx, *_ = _sequential_gs(N, shifts, cre, cim, yr, yi, act, QPSK, np.arange(N), 10)
    pos = strided_order(N, B)
    inv = np.empty(N, np.int64)
    inv[pos] = np.arange(N)
    for k in (compiled, twin):
        idx, soft = np.zeros(N, np.int64), np.zeros((N, 2), np.float32)
        cl, ml = np.ascontiguousarray(cre[:, inv]), np.ascontiguousarray(cim[:, inv])
        st_, sweeps = k.mrc(B, N // B, shifts % B, shifts // B, cl, ml, yr[inv], yi[inv], act[inv],
                            N // B, QPSK.real.astype(np.float32), QPSK.imag.astype(np.float32), 10, idx, soft, True)
        assert st_ == 0 and sweeps == ref_sweeps
        np.testing.assert_array_equal(idx[pos], ref_idx)
        np.testing.assert_array_equal(soft[pos], ref_soft)
    assert np.any(ref_idx != nat_idx) or seed != 0                               # a different order indeed


def test_sweep_stride_rule():
    """N / 32 when that is at least the span of the AFDM shifts (2 N c1 l_max + 2 (alpha_max + k_v) + 1),
    else 0 (index order); 0 for other waveforms."""
    from dsp.detection.mrc import sweep_stride
    assert sweep_stride(AfdmModem(16384, 4, alpha_max=1, l_max=48, k_v=1)) == 512       # span 5 * 48 + 5 = 245
    assert sweep_stride(AfdmModem(1024, 4, alpha_max=2, l_max=3, k_v=1)) == 32          # span 28
    assert sweep_stride(AfdmModem(512, 4, alpha_max=3, l_max=3, k_v=1)) == 0            # 16 < span 36
    assert sweep_stride(AfdmModem(8192, 4, alpha_max=1, l_max=48, k_v=1)) == 256         # 256 >= 245
    assert sweep_stride(AfdmModem(8192, 4, alpha_max=1, l_max=51, k_v=1)) == 0           # 256 < 5 * 51 + 5 = 260
    assert sweep_stride(AfdmModem(16384 - 2, 4, alpha_max=1, l_max=48, k_v=1)) == 0     # 32 does not divide N
    assert sweep_stride(OtfsModem(16, 8, 4)) == 0


@pytest.mark.kernel
def test_dd_kernels_refuse_bad_shapes_and_parameters():
    compiled, twin = kernel_pair("_ddet")
    gsr, gsc, cre, cim, yr, yi, act = _dd_problem(3, 4, 5, 3)
    lev = (-1.0, 1.0, -1.0, 1.0)
    for k in (compiled, twin):
        dec, llr = np.zeros((20, 2), np.int8), np.zeros((20, 2), np.float32)
        assert k.mp_binary(4, 5, gsr, gsc, cre, cim, yr, yi, act, lev, 0.1, 0.6, 5, 0.01, 0, dec[:19], llr)[0] == 1
        bad = gsc.copy()
        bad[0] = 5                                       # shift outside the grid
        assert k.mp_binary(4, 5, gsr, bad, cre, cim, yr, yi, act, lev, 0.1, 0.6, 5, 0.01, 0, dec, llr)[0] == 1
        assert k.mp_binary(4, 5, gsr, gsc, cre, cim, yr, yi, act, lev, 0.0, 0.6, 5, 0.01, 0, dec, llr)[0] == 2
        idx, soft = np.zeros(20, np.int64), np.zeros((20, 2), np.float32)
        c = QPSK.real.astype(np.float32)
        assert k.mrc(4, 5, gsr, gsc, cre, cim, yr, yi, act, 6, c, c, 5, idx, soft)[0] == 2    # group > C
        assert k.mrc(4, 5, gsr, gsc, cre, cim, yr, yi, act, 5, c, c[:3], 5, idx, soft)[0] == 1


@pytest.mark.kernel
def test_dd_exp_is_accurate_in_float32():
    compiled, twin = kernel_pair("_ddet")
    rng = np.random.default_rng(11)
    d = np.concatenate([rng.uniform(-87, 87, 20000), rng.uniform(-1, 1, 20000), [0.0, -0.0, 87.0, -87.0, 1e-30]])
    d = d.astype(np.float32)
    for k in (compiled, twin):
        out = np.empty_like(d)
        assert k.exp_neg_abs(d, out) == 0
        ref = np.exp(-np.abs(d.astype(np.float64)))
        assert np.all(np.abs(out - ref) <= 4 * np.spacing(ref.astype(np.float32)))
    far = np.array([-88.0, 100.0, -1e30], np.float32)
    out = np.empty_like(far)
    compiled.exp_neg_abs(far, out)
    assert np.all(out == 0.0)


@pytest.mark.kernel
@pytest.mark.parametrize("make, paths", [
    (lambda: OtfsModem(8, 6, 4, cp_len=4), [(0.8, 0, 0), (0.5j, 1, 2), (0.3, 3, -1), (0.2, 3, 2)]),
    (lambda: OtfsModem(8, 6, 4, cp_len=4), [(0.8, 0, 0.3), (0.5j, 1, 2), (0.3, 3, -1.4)]),
    (lambda: OtfsModem(8, 6, 4, cp="symbol", cp_len=4), [(0.8, 0, 0.3), (0.5j, 2, -1.6)]),
    (lambda: AfdmModem(64, 4, alpha_max=2, l_max=3, k_v=1), [(0.8, 0, 1), (0.5j, 1, -2), (0.3, 3, 0)]),
    (lambda: AfdmModem(64, 4, alpha_max=2, l_max=3, k_v=1, c2=0.013), [(0.8, 0, 1.3), (0.5j, 1, -2), (0.3, 3, 0.4)]),
])
@pytest.mark.parametrize("spread", [None, 2])
@pytest.mark.parametrize("transpose", [False, True])
def test_dd_diagonals_equal_the_closed_form_channel(make, paths, spread, transpose):
    """The diagonals (built from the separable closed forms, expanded by the kernel) equal channel_coo
    entry by entry to float32 rounding; compiled and twin expansions are bit-identical."""
    from dsp.detection.ddgraph import dd_channel
    compiled, twin = kernel_pair("_ddet")
    m = make()
    ch = dd_channel(m, paths, spread)
    (cr, ci), (tr, ti) = ch.expand(compiled, transpose), ch.expand(twin, transpose)
    np.testing.assert_array_equal(cr.view(np.uint32), tr.view(np.uint32))      # bit for bit, signed zeros too
    np.testing.assert_array_equal(ci.view(np.uint32), ti.view(np.uint32))
    R, C, n = ch.R, ch.C, m.n_cells
    cells = np.arange(n)
    lay = (cells % C) * R + cells // C if transpose else cells
    H = np.zeros((n, n), complex)
    for g in range(ch.gsr.size):
        col = ((cells // C - ch.gsr[g]) % R) * C + (cells % C - ch.gsc[g]) % C
        H[cells, col] += cr[g, lay] + 1j * ci[g, lay]
    ref = coo_dense(*channel_coo(m, paths, spread), n)
    np.testing.assert_allclose(H, ref, atol=2e-7 * np.abs(ref).max())


def _frames(m, rng, n_frames, snr_db, dopplers=(-3, 4)):
    nv = 10 ** (-snr_db / 10)
    out = []
    for _ in range(n_frames):
        tx = rng.integers(0, 2, m.bits_per_frame, dtype=np.uint8)
        paths = rayleigh_paths(rng, [0, 1, 2, 3], rng.integers(*dopplers, 4))
        out.append((tx, paths, grid_output(m, paths, m.grid_from_symbols(m.qam.map(tx)), nv, rng)))
    return out, nv


@pytest.mark.parametrize("name, kind", [("mp", "otfs"), ("mp", "afdm"), ("mrc", "otfs"), ("mrc", "afdm")])
def test_dd_engine_matches_graph_engine_ber(name, kind):
    """float32 diagonal engine vs float64 graph engine on the same frames (OTFS 16 x 16 / AFDM N = 256,
    4 Rayleigh paths, 11 dB): bit errors agree within statistical tolerance and almost every decision is
    the same (a float32 rounding can only flip decisions sitting on a near-tie)."""
    rng = np.random.default_rng(16)
    m = OtfsModem(16, 16, 4, cp_len=4) if kind == "otfs" else AfdmModem(256, 4, alpha_max=3, l_max=3, k_v=1)
    frames, nv = _frames(m, rng, 40, 11.0)
    kw = {"stall_iter": 5} if name == "mp" else {}
    dd, gr = make_detector(name, m, engine="dd", **kw), make_detector(name, m, engine="graph", **kw)
    e_dd = e_gr = diff = bits = 0
    for tx, paths, y in frames:
        b_dd, b_gr = dd.detect_bits(y, paths, nv), gr.detect_bits(y, paths, nv)
        assert dd.last_engine == "dd" and gr.last_engine == "graph"
        e_dd += int(np.count_nonzero(b_dd != tx))
        e_gr += int(np.count_nonzero(b_gr != tx))
        diff += int(np.count_nonzero(b_dd != b_gr))
        bits += tx.size
    assert e_gr > 20                                     # a test point with errors to compare
    assert abs(e_dd - e_gr) <= 3 * np.sqrt(e_gr) + 3     # same BER within statistics
    assert diff <= 0.02 * bits


def test_dd_engine_with_embedded_pilot_and_fractional_doppler(rng):
    """Pilot/guard cancellation and fractional Doppler (2S+1 bins per path) through the dd engine:
    a noiseless frame is detected exactly; MP posteriors are probabilities."""
    from dsp.estimation import otfs_pilot_layout
    m = OtfsModem(32, 16, 4, cp_len=6)
    otfs_pilot_layout(m, 3, 2, full_doppler_guard=True).apply(m)
    paths = [(0.9, 0, 0.0), (0.4j, 2, 1.0), (0.3, 3, -2.0)]
    X, Y = _noiseless(m, paths, rng)
    for name in ("mp", "mrc"):
        det = make_detector(name, m, engine="dd")
        np.testing.assert_allclose(det.detect(Y, paths, 1e-3), X, atol=1e-12)
    det = make_detector("mp", m, engine="dd", doppler_spread=2)
    frac = [(0.9, 0, 0.25), (0.4j, 2, 1.3)]
    y = grid_output(m, frac, X, 1e-3, rng)
    x_hat = det.detect(y, frac, 1e-3)
    assert det.last_engine == "dd"
    assert np.mean(x_hat[m.data_mask] == X[m.data_mask]) > 0.99
    np.testing.assert_allclose(det.last_prob.sum(axis=1), 1.0, rtol=1e-6)


def test_afdm_strided_mrc_is_exact_on_clean_frames_and_follows_fractional_doppler(rng):
    """AFDM N = 1024 (strided sweep, B = 32) with the embedded pilot: integer paths through the one-call frame
    kernel and fractional Doppler (the general path, 2S+1 diagonals per path, permuted into the strided
    layout) are detected exactly on noiseless frames; the decisions equal the graph engine's."""
    from dsp.estimation import afdm_pilot_layout
    m = AfdmModem(1024, 4, alpha_max=2, l_max=3, k_v=1)
    afdm_pilot_layout(m).apply(m)
    for paths in ([(0.9, 0, 1), (0.4j, 2, -1), (0.3, 3, 0)], [(0.9, 0, 0.3), (0.4j, 2, -1.4), (0.3, 3, 0.5)]):
        X, Y = _noiseless(m, paths, rng)
        det = make_detector("mrc", m, engine="dd")
        assert det._stride == 32
        np.testing.assert_allclose(det.detect(Y, paths, 1e-3), X, atol=1e-12)
        assert det.last_engine == "dd"
        bits = m.qam.demap_hard(X[m.data_mask])
        np.testing.assert_array_equal(det.detect_bits(Y, paths, 1e-3), bits)
        graph = make_detector("mrc", m, engine="graph")
        np.testing.assert_array_equal(graph.detect_bits(Y, paths, 1e-3), bits)


def test_dd_engine_falls_back_and_refuses_where_it_cannot_run(rng):
    ofdm = OfdmModem(8, 4, 4, cp_len=2)
    assert make_detector("mp", ofdm).detect(np.zeros(ofdm.shape), [(1.0, 0, 0)], 0.1) is not None
    with pytest.raises(ConfigError, match="engine"):
        make_detector("mp", ofdm, engine="dd")
    with pytest.raises(ConfigError, match="engine"):
        make_detector("mp", OtfsModem(8, 8, 16), engine="dd")     # 16-QAM: the graph engine's product loop
    with pytest.raises(ConfigError, match="engine"):
        make_detector("mrc", OtfsModem(8, 8, 4), engine="fast")
    m = OtfsModem(8, 8, 4, cp_len=4)
    det = make_detector("mp", m)                                    # auto: fractional delays -> graph engine
    det.detect(np.zeros(m.shape), [(1.0, 0.5, 0)], 0.1)
    assert det.last_engine == "graph"
    with pytest.raises(ConfigError, match="delay_bin"):
        make_detector("mrc", m, engine="dd").detect(np.zeros(m.shape), [(1.0, 0.5, 0)], 0.1)


@pytest.mark.parametrize("name", ["mp", "mrc", "lmmse"])
def test_detect_many_on_threads_equals_one_by_one(name):
    rng = np.random.default_rng(5)
    m = OtfsModem(16, 8, 4, cp_len=4)
    frames, nv = _frames(m, rng, 7, 9.0)
    det = make_detector(name, m)
    one = make_detector(name, m)
    ref = [one.detect_bits(y, p, nv) for _, p, y in frames]
    for threads in (1, 2, 3):
        got = det.detect_many([y for *_, y in frames], [p for _, p, _ in frames], nv, threads=threads, bits=True)
        assert len(got) == len(ref)
        for a, b in zip(got, ref):
            np.testing.assert_array_equal(a, b)
        # last_* describe the last frame, whichever thread detected it
        assert det.last_iterations == one.last_iterations and det.last_converged == one.last_converged
    grids = det.detect_many([frames[0][2]] * 3, frames[0][1], [nv] * 3, threads=2)
    np.testing.assert_array_equal(grids[0], grids[2])
    with pytest.raises(ConfigError, match="threads"):
        det.detect_many([frames[0][2]], frames[0][1], nv, threads=0)
    with pytest.raises(ConfigError, match="len"):
        det.detect_many([frames[0][2]] * 2, frames[0][1], [nv] * 3)


@pytest.mark.parametrize("name", ["mp", "mrc"])
@pytest.mark.parametrize("order", [4, 16])
def test_detect_bits_equals_demapping_the_detected_grid(name, order):
    """The fast bit path (direct from the decisions) gives what demapping the output grid gives."""
    rng = np.random.default_rng(order)
    m = OtfsModem(16, 8, order, cp_len=4)
    frames, nv = _frames(m, rng, 4, 6.0)
    det = make_detector(name, m)
    for _, paths, y in frames:
        grid = det.detect(y, paths, nv)
        np.testing.assert_array_equal(det.detect_bits(y, paths, nv), m.qam.demap_hard(grid[m.data_mask]))


@pytest.mark.kernel
@pytest.mark.parametrize("R, C, G", [(1, 1100, 4), (2, 700, 3), (3, 513, 5)])
def test_dd_mp_long_rows_are_bit_identical_to_twin(R, C, G):
    """Rows longer than the kernel's 512-column observation chunks (AFDM is one row of N)."""
    compiled, twin = kernel_pair("_ddet")
    gsr, gsc, cre, cim, yr, yi, act = _dd_problem(R * C + G, R, C, G)
    gsc[0] = C - 1                                      # a shift whose wrap falls inside a chunk
    lev = (-1 / np.sqrt(2), 1 / np.sqrt(2), -1 / np.sqrt(2), 1 / np.sqrt(2))
    out = []
    for k in (compiled, twin):
        dec = np.zeros((R * C, 2), np.int8)
        llr = np.zeros((R * C, 2), np.float32)
        out.append((k.mp_binary(R, C, gsr, gsc, cre, cim, yr, yi, act, lev, 0.3, 0.6, 8, 0.01, 0, dec, llr), dec, llr))
    assert out[0][0] == out[1][0]
    np.testing.assert_array_equal(out[0][1], out[1][1])
    np.testing.assert_array_equal(out[0][2], out[1][2])


@pytest.mark.kernel
@pytest.mark.parametrize("make, paths", [
    (lambda: OtfsModem(8, 6, 4, cp_len=4), [(0.8, 0, 0), (0.5j, 1, 2), (0.3, 3, -1), (0.2, 3, 2), (0.1, 1, 8)]),
    (lambda: OtfsModem(8, 6, 4, cp="symbol", cp_len=4), [(0.8, 0, 0), (0.5j, 2, -7), (0.3 - 0.1j, 2, -1)]),
    (lambda: AfdmModem(64, 4, alpha_max=2, l_max=3, k_v=1), [(0.8, 0, 1), (0.5j, 1, -2), (0.3, 3, 0), (0.1, 1, -2)]),
    (lambda: AfdmModem(64, 4, alpha_max=2, l_max=3, k_v=1, c2=0.013), [(0.8, 0, 1), (0.5j, 1, -2), (0.3, 3, 2)]),
])
def test_dd_build_of_integer_paths_is_bit_identical_and_equals_the_general_path(make, paths):
    """The kernel's integer-path builder (dd_build): compiled and twin give the same bits, and the expanded
    coefficients equal those of the general NumPy construction (same diagonals, same shifts) to rounding."""
    from dsp.detection.ddgraph import dd_channel
    compiled, twin = kernel_pair("_ddet")
    m = make()
    a, b = dd_channel(m, paths, None, kernel=compiled), dd_channel(m, paths, None, kernel=twin)
    gen = dd_channel(m, paths, None)                      # no kernel: the general path
    for f in ("gsr", "gsc", "grp", "sc", "tw0", "tw1", "w"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    np.testing.assert_array_equal(a.A.view(np.uint64), b.A.view(np.uint64))
    np.testing.assert_array_equal(a.gsr, gen.gsr)
    np.testing.assert_array_equal(a.gsc, gen.gsc)
    (cr, ci), (gr, gi) = a.expand(compiled), gen.expand(compiled)
    scale = np.abs(gr).max()
    np.testing.assert_allclose(cr, gr, atol=1e-6 * scale)
    np.testing.assert_allclose(ci, gi, atol=1e-6 * scale)
    assert a.grp.size == len(paths)


@pytest.mark.kernel
def test_dd_build_leaves_fractional_and_bad_paths_to_the_general_path():
    compiled, twin = kernel_pair("_ddet")
    for k in (compiled, twin):
        for paths in ([(1.0, 0, 0.5)], [(1.0, 0.5, 0)], [(1.0, 9, 0)], [(np.nan, 0, 0)], [(1.0, 0, 1 + 1j)]):
            p = np.asarray(paths, np.complex128)
            ints = np.empty((8, 1), np.int64)
            A = np.empty((1, 8), np.complex128)
            rot = np.exp(2j * np.pi * np.arange(48) / 48)
            assert k.dd_build(0, 8, 6, 4, True, 0.0, p, rot, *ints[:5], A, *ints[5:]) == (4, 0)
        bad = np.empty((1, 7), np.complex128)                 # A with the wrong row length
        assert k.dd_build(0, 8, 6, 4, True, 0.0, np.ones((1, 3), complex), rot, *ints[:5], bad, *ints[5:])[0] == 1
    m = OtfsModem(8, 6, 4, cp_len=4)
    det = make_detector("mrc", m, engine="dd")
    det.detect(np.zeros(m.shape), [(1.0, 0, 0.5)], 0.1)       # fractional Doppler: the general dd path
    assert det.last_engine == "dd"


@pytest.mark.kernel
def test_pair_bits_compiled_equals_twin_and_the_table():
    compiled, twin = kernel_pair("_ddet")
    rng = np.random.default_rng(3)
    dec = rng.integers(0, 2, (50, 2)).astype(np.int8)
    sel = rng.permutation(50)[:31].astype(np.int64)
    table = rng.integers(0, 2, (4, 2)).astype(np.uint8)
    ref = table[2 * dec[sel, 0] + dec[sel, 1]].ravel()
    for k in (compiled, twin):
        out = np.empty(62, np.uint8)
        assert k.pair_bits(dec, sel, table, out) == 0
        np.testing.assert_array_equal(out, ref)
        assert k.pair_bits(dec, sel, table[:3], out) == 1
        assert k.pair_bits(dec, np.array([50], np.int64), table, out[:2]) == 1


@pytest.mark.parametrize("name", ["mp", "mrc"])
def test_detect_bits_leaves_the_same_last_state_as_detect(name):
    """detect_bits computes indices and posteriors only on demand; they equal those of detect."""
    rng = np.random.default_rng(8)
    m = OtfsModem(16, 8, 4, cp_len=4)
    (_, paths, y), = _frames(m, rng, 1, 8.0)[0]
    a, b = make_detector(name, m), make_detector(name, m)
    a.detect(y, paths, 0.2)
    b.detect_bits(y, paths, 0.2)
    np.testing.assert_array_equal(a.last_indices, b.last_indices)
    if name == "mp":
        np.testing.assert_array_equal(a.last_prob, b.last_prob)


@pytest.mark.kernel
@pytest.mark.parametrize("kind", ["otfs", "afdm", "afdm-strided"])
@pytest.mark.parametrize("name", ["mrc", "mp"])
def test_frame_detection_in_one_call_equals_the_step_by_step_detection(kind, name):
    """detect_bits through _ddet.frame_mrc / frame_mp (one call per frame, embedded pilot, AFDM tables filled
    on first use; MP on OTFS in the transposed layout; MRC on AFDM N = 1024 in the strided layout) gives what
    detect's step-by-step path gives, with the compiled kernel and with the twin."""
    from dsp.estimation import afdm_pilot_layout, otfs_pilot_layout
    compiled, twin = kernel_pair("_ddet")
    rng = np.random.default_rng(21)
    if kind == "otfs":
        m = OtfsModem(32, 16, 4, cp_len=6)
        otfs_pilot_layout(m, 3, 2).apply(m)
    else:
        m = AfdmModem(1024 if kind == "afdm-strided" else 256, 4, alpha_max=2, l_max=3, k_v=1)
        afdm_pilot_layout(m).apply(m)
    paths = np.array([(0.9, 0, 1), (0.4j, 2, -1), (0.3, 3, 0), (0.1, 2, -1)], complex)
    X = m.grid_from_symbols(m.qam.map(rng.integers(0, 2, m.bits_per_frame, dtype=np.uint8)))
    y = grid_output(m, paths, X, 0.05, rng)
    kw = {"stall_iter": 3} if name == "mp" else {}
    ref = make_detector(name, m, engine="dd", **kw)
    grid = ref.detect(y, paths, 0.05)
    want = m.qam.demap_hard(grid[m.data_mask])
    if kind == "afdm-strided" and name == "mrc":
        assert ref._stride == 32
    for k in (compiled, twin):
        det = make_detector(name, m, engine="dd", **kw)
        det._dd_kernel = k
        np.testing.assert_array_equal(det.detect_bits(y, paths, 0.05), want)
        assert det.last_engine == "dd" and det.last_iterations == ref.last_iterations
        np.testing.assert_array_equal(det.last_indices, ref.last_indices)
        if name == "mrc":
            np.testing.assert_array_equal(det.last_soft, ref.last_soft)
        else:
            assert det.last_eta == ref.last_eta
            np.testing.assert_array_equal(det.last_prob, ref.last_prob)


def test_detect_many_worker_copies_follow_changed_parameters():
    rng = np.random.default_rng(6)
    m = OtfsModem(16, 8, 4, cp_len=4)
    frames, nv = _frames(m, rng, 4, 4.0)
    det = make_detector("mrc", m)
    ys, ps = [y for *_, y in frames], [p for _, p, _ in frames]
    det.detect_many(ys, ps, nv, threads=2, bits=True)
    det.max_iter = 1
    got = det.detect_many(ys, ps, nv, threads=2, bits=True)
    ref = [make_detector("mrc", m, max_iter=1).detect_bits(y, p, nv) for y, p in zip(ys, ps)]
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a, b)
    assert det.last_iterations == 1


@pytest.mark.kernel
@pytest.mark.parametrize("K, transpose", [(3, False), (5, True), (70, False)])
def test_prep_obs_is_bit_identical_to_twin(K, transpose):
    """Pilot cancellation: few known cells (touched observations redone from y, shared ones included) and
    many (K x G > 256, the full-copy path), both layouts."""
    compiled, twin = kernel_pair("_ddet")
    R, C, G = 10, 8, 4
    gsr, gsc, cre, cim, *_ = _dd_problem(K, R, C, G)
    rng = np.random.default_rng(K)
    y = rng.standard_normal(R * C) + 1j * rng.standard_normal(R * C)
    kc = np.sort(rng.choice(R * C, size=min(K, R * C), replace=False)).astype(np.int64)
    kv = rng.standard_normal(kc.size) + 1j * rng.standard_normal(kc.size)
    if transpose:
        cre = np.ascontiguousarray(cre.reshape(G, R, C).transpose(0, 2, 1).reshape(G, -1))
        cim = np.ascontiguousarray(cim.reshape(G, R, C).transpose(0, 2, 1).reshape(G, -1))
    out = []
    for k in (compiled, twin):
        yr, yi = np.empty(R * C, np.float32), np.empty(R * C, np.float32)
        assert k.prep_obs(y, R, C, transpose, kc, kv, gsr, gsc, cre, cim, yr, yi) == 0
        out.append((yr, yi))
    np.testing.assert_array_equal(out[0][0].view(np.uint32), out[1][0].view(np.uint32))
    np.testing.assert_array_equal(out[0][1].view(np.uint32), out[1][1].view(np.uint32))


@pytest.mark.kernel
def test_frame_mrc_refuses_a_stride_it_cannot_use():
    """frame_mrc's strided layout needs AFDM, a stride dividing N and groups no longer than N / stride:
    status 2 (bad parameter) otherwise, compiled and twin alike; a valid stride detects."""
    from dsp.estimation import afdm_pilot_layout
    compiled, twin = kernel_pair("_ddet")
    m = AfdmModem(1024, 4, alpha_max=2, l_max=3, k_v=1)
    afdm_pilot_layout(m).apply(m)
    rng = np.random.default_rng(5)
    paths = np.array([(0.9, 0, 1), (0.4j, 2, -1)], complex)
    X, Y = _noiseless(m, paths, rng)
    det = make_detector("mrc", m, engine="dd")
    y, _, mask, kn = det._inputs(Y, 1e-3, None)
    p, (kind, R, C, cp, frame, c1, rot, tab, ones, filled, post), kc, kv = det._frame_inputs(paths, mask, kn)
    det._tables.afdm_rows(C, float(m.c2), cp, np.array([0, 2]))
    *_, act, sel = det._layout(mask)
    table = det._bit_table()
    cons = det._cons32
    for k in (compiled, twin):
        def run(kind_, glen, stride, k=k):
            idx, soft = np.empty(C, np.int64), np.empty((C, 2), np.float32)
            bits = np.empty(sel.size * table.shape[1], np.uint8)
            rot_ = np.ones(1, complex) if kind_ == 0 else rot         # OTFS's row phases: shapes pass
            res = k.frame_mrc(kind_, R, C, cp, frame, c1, p, rot_, tab, ones, filled, post, y, kc, kv, act, glen,
                              cons[0], cons[1], 20, sel, table, idx, soft, bits, stride)
            return res[0], bits
        assert run(1, 32, 48)[0] == 2                   # 48 does not divide 1024
        assert run(1, 64, 32)[0] == 2                   # groups longer than N / stride
        assert run(0, 32, 32)[0] == 2                   # not AFDM
        st_, bits = run(1, 32, 32)
        assert st_ == 0
        np.testing.assert_array_equal(bits, m.qam.demap_hard(X[m.data_mask]))
