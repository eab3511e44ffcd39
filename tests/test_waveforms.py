"""Modems: identity on an ideal channel, energy, prefixes, effective channels against closed forms."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.channel import DoublyDispersiveChannel, Path
from dsp.waveforms import AfdmModem, GfdmModem, OddmModem, OfdmModem, OtfsModem, make_modem
from dsp.waveforms.afdm import afdm_c1
from hil.errors import ConfigError
from tests.kernel_util import kernel_pair


def _cx(rng, *shape):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)


def _modem(kind, a, b, qam, extra):
    if kind == "otfs":
        return OtfsModem(a, b, qam, cp="frame" if extra else "symbol")
    if kind == "oddm":
        return OddmModem(a, b, qam, oversampling=2 + extra, rolloff=0.3 * (1 + extra))
    if kind == "afdm":
        return AfdmModem(21 + 4 * a * b, qam, alpha_max=1 + extra, l_max=2, c2=0.01 * extra)
    if kind == "gfdm":
        return GfdmModem(a + 1, 2 * b + 1, qam, rolloff=0.1)
    return OfdmModem(a, b, qam, cp_len=a // 2)


KINDS = ("otfs", "oddm", "afdm", "gfdm", "ofdm")
sizes = dict(kind=st.sampled_from(KINDS), a=st.integers(1, 9), b=st.integers(1, 6), qam=st.sampled_from((4, 16, 64)),
             extra=st.integers(0, 1), seed=st.integers(0, 2**31), frames=st.integers(1, 3))


@settings(max_examples=40)
@given(**sizes)
def test_modulate_demodulate_identity(kind, a, b, qam, extra, seed, frames):
    m = _modem(kind, a, b, qam, extra)
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, (frames, m.bits_per_frame)).astype(np.uint8)
    y = m.modulate(bits)
    assert y.dtype == np.complex64 and y.shape == (frames, m.frame_length)
    np.testing.assert_array_equal(m.demodulate(y), bits)
    np.testing.assert_array_equal(m.demodulate(y[0]), bits[0])
    X = _cx(rng, frames, *m.shape)
    np.testing.assert_allclose(m.demodulate_grid(m._modulate_grid128(X)), X, atol=1e-12)


@settings(max_examples=30)
@given(**sizes)
def test_unitary_transforms_preserve_energy(kind, a, b, qam, extra, seed, frames):
    m = _modem(kind, a, b, qam, extra)
    X = _cx(np.random.default_rng(seed), frames, *m.shape)
    s = m._modulate_grid128(X)
    if kind == "ofdm" or (kind == "otfs" and m.cp == "symbol"):  # drop every symbol's CP
        body = s.reshape(frames, m.N, -1)[:, :, m.cp_len:].reshape(frames, -1)
    else:
        body = s[:, m.cp_len:]
    assert body.shape[1] == m.n_cells * m.oversampling
    per_sample = np.mean(np.abs(body) ** 2, axis=1)
    per_cell = np.mean(np.abs(X.reshape(frames, -1)) ** 2, axis=1)
    if kind == "gfdm":
        # not unitary: A has unit-norm columns, so the mean power over frames equals the mean |X|^2 only
        # on average; check that property on the matrix itself (||A||_F^2 = n cells)
        A = m._modulate_grid128(np.eye(m.n_cells).reshape(m.n_cells, *m.shape))[:, m.cp_len:]
        np.testing.assert_allclose(np.sum(np.abs(A) ** 2, axis=1), 1.0, rtol=1e-10)
    else:
        np.testing.assert_allclose(per_sample, per_cell, rtol=1e-10)


def test_prefixes_are_cyclic(rng):
    X = _cx(rng, 16, 4)
    f = OtfsModem(16, 4, cp="frame", cp_len=5)._modulate_grid128(X)
    np.testing.assert_allclose(f[:5], f[-5:], atol=0)
    s = OtfsModem(16, 4, cp="symbol", cp_len=3)._modulate_grid128(X).reshape(4, 19)
    np.testing.assert_allclose(s[:, :3], s[:, -3:], atol=0)
    o = OfdmModem(16, 4, cp_len=3)._modulate_grid128(X).reshape(4, 19)
    np.testing.assert_allclose(o[:, :3], o[:, -3:], atol=0)


@pytest.mark.parametrize("N, alpha_max, k_v, is_cp", [(64, 2, 1, True), (32, 0, 1, True), (63, 2, 1, False),
                                                      (33, 1, 0, False)])
def test_afdm_cpp_equals_cp_iff_N_even_and_2Nc1_integer(N, alpha_max, k_v, is_cp, rng):
    m = AfdmModem(N, alpha_max=alpha_max, k_v=k_v, l_max=2, cp_len=6)
    assert (2 * N * m.c1).is_integer()
    s = m._modulate_grid128(_cx(rng, N))
    assert m.cpp_is_cp is is_cp
    assert np.allclose(s[:6], s[-6:], atol=1e-12) is is_cp
    # the general CPP relation holds in every case: s[n] = s[N + n] exp(-j 2 pi c1 (N^2 + 2 N n))
    n = np.arange(-6, 0)
    np.testing.assert_allclose(s[:6], s[-6:] * np.exp(-2j * np.pi * m.c1 * (N**2 + 2 * N * n)), atol=1e-9)


def test_afdm_daft_offsets_match_bemani():
    """REFERENCES.md: N=64, alpha_max=2, k_v=1, paths (l, alpha) = (0,-2),(1,1),(3,2) -> {62, 8, 23}.

    Bemani's paths carry exp(-j 2 pi alpha n / N); our channel exp(+j 2 pi nu n), so nu = -alpha / N.
    """
    N = 64
    m = AfdmModem(N, alpha_max=2, k_v=1, l_max=3)
    assert m.c1 == pytest.approx((2 * (2 + 1) + 1) / (2 * N)) == afdm_c1(N, 2, 1)
    offsets = set()
    for l, alpha in ((0, -2), (1, 1), (3, 2)):
        H = m.effective_channel(DoublyDispersiveChannel([Path(1.0, l, -alpha / N)]))
        nz = np.argwhere(np.abs(H) > 1e-9)
        assert len(nz) == N  # one nonzero per row
        off = {int((q - p) % N) for p, q in nz}
        assert len(off) == 1
        offsets |= off
        np.testing.assert_array_equal(nz[:, 1], m.daft_columns(l, -alpha))
    assert offsets == {62, 8, 23}


@pytest.mark.parametrize("c2", [0.0, 0.0031])
def test_afdm_effective_channel_closed_form(c2, rng):
    N, cp = 48, 4
    m = AfdmModem(N, alpha_max=1, k_v=1, l_max=3, c2=c2, cp_len=cp)
    paths = [Path(g, l, a / N) for g, l, a in zip(_cx(rng, 3), (0, 2, 3), (1, -1, 0))]
    H = m.effective_channel(DoublyDispersiveChannel(paths))
    ref = np.zeros((N, N), complex)
    p = np.arange(N)
    for path in paths:
        l, a = int(path.delay), round(path.doppler * N)
        q = np.mod(p - a + 2 * N * m.c1 * l, N).astype(int)
        ref[p, q] += path.gain * np.exp(2j * np.pi * (a * cp / N + m.c1 * l**2 - q * l / N + c2 * (q**2 - p**2)))
    np.testing.assert_allclose(H, ref, atol=1e-10)


@pytest.mark.parametrize("cp_mode", ["frame", "symbol"])
def test_otfs_integer_paths_are_sparse_with_the_documented_relation(cp_mode, rng):
    M, N, cp = 8, 6, 4
    m = OtfsModem(M, N, cp=cp_mode, cp_len=cp)
    bins = [(0, 0), (1, 2), (3, -1)]
    gains = _cx(rng, 3)
    ch = m.channel_from_bins([b[0] for b in bins], [b[1] for b in bins], gains)
    H = m.effective_channel(ch)
    assert np.all(np.sum(np.abs(H) > 1e-9, axis=1) == len(bins))  # one nonzero per path per row
    ref = np.zeros((M, N, M, N), complex)
    for (li, ki), g in zip(bins, gains):
        for l in range(M):
            for k in range(N):
                if cp_mode == "frame":
                    ph = g * np.exp(2j * np.pi * ki * (l + cp) / (M * N))
                    if l >= li:
                        ref[l, k, l - li, (k - ki) % N] += ph
                    else:
                        ref[l, k, l - li + M, (k - ki) % N] += ph * np.exp(-2j * np.pi * (k - ki) / N)
                else:
                    ref[l, k, (l - li) % M, (k - ki) % N] += g * np.exp(2j * np.pi * ki * (l + cp) / (N * (M + cp)))
    np.testing.assert_allclose(H, ref.reshape(M * N, M * N), atol=1e-10)
    # dd_paths gives the bins back
    np.testing.assert_allclose(m.dd_paths(ch), np.column_stack([gains, *np.array(bins).T]), atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_effective_channel_agrees_with_the_operator(kind, rng):
    m = _modem(kind, 6, 3, 4, 1)
    ch = DoublyDispersiveChannel.rayleigh(rng, [0, 1.4, 3], [0.004, -0.011, 0.02])
    H = m.effective_channel(ch)
    X = _cx(rng, 2, *m.shape)
    Y = m.demodulate_grid(ch.apply(m._modulate_grid128(X)))
    np.testing.assert_allclose(Y.reshape(2, -1), X.reshape(2, -1) @ H.T, atol=1e-10)


def test_oddm_reduces_to_otfs_without_excess_bandwidth(rng):
    X = _cx(rng, 8, 4)
    a = OddmModem(8, 4, oversampling=1, rolloff=0.0, cp_len=3)._modulate_grid128(X)
    b = OtfsModem(8, 4, cp="frame", cp_len=3)._modulate_grid128(X)
    np.testing.assert_allclose(a, b, atol=1e-12)


def test_oddm_spectrum_is_confined_to_the_rolloff_band(rng):
    m = OddmModem(16, 8, oversampling=4, rolloff=0.25, cp_len=0)
    s = m._modulate_grid128(_cx(rng, 16, 8))
    S = np.abs(np.fft.fft(s)) ** 2
    f = np.abs(np.fft.fftfreq(s.size))  # cycles/sample; symbol rate is 1/4
    assert S[f > (1 + 0.25) / 2 / 4 + 1e-9].sum() < 1e-20 * S.sum()


def test_ofdm_one_tap_channel_is_the_effective_diagonal(rng):
    m = OfdmModem(16, 4, cp_len=4)
    ch = DoublyDispersiveChannel.rayleigh(rng, [0, 1, 3], [0.0, 0.0, 0.0])
    H = m.effective_channel(ch)
    np.testing.assert_allclose(m.one_tap_channel(ch).ravel(), np.diag(H), atol=1e-12)
    assert np.abs(H - np.diag(np.diag(H))).max() < 1e-12  # no ICI without Doppler
    moving = DoublyDispersiveChannel.rayleigh(rng, [0, 2], [0.003, -0.002])
    np.testing.assert_allclose(m.one_tap_channel(moving).ravel(), np.diag(m.effective_channel(moving)), atol=1e-12)


def test_ofdm_equalisers_recover_the_grid(rng):
    m = OfdmModem(16, 3, 16, cp_len=4)
    X = m.grid_from_symbols(m.qam.map(rng.integers(0, 2, m.bits_per_frame)))
    ch = DoublyDispersiveChannel.rayleigh(rng, [0, 2], [0.0, 0.0])
    Y = m.demodulate_grid(ch.apply(m._modulate_grid128(X)))
    np.testing.assert_allclose(m.equalize_one_tap(Y, m.one_tap_channel(ch)), X, atol=1e-9)
    np.testing.assert_allclose(m.equalize_lmmse(Y, ch, 1e-12), X, atol=1e-6)


def test_gfdm_mf_is_the_adjoint_and_zf_the_inverse(rng):
    zf = GfdmModem(8, 5, rolloff=0.3)
    mf = GfdmModem(8, 5, rolloff=0.3, receiver="mf")
    ideal = DoublyDispersiveChannel([Path(1.0, 0, 0.0)])
    np.testing.assert_allclose(zf.effective_channel(ideal), np.eye(40), atol=1e-12)
    A = zf._modulate_grid128(np.eye(40).reshape(40, 8, 5))[:, zf.cp_len:].T  # columns = pulses
    np.testing.assert_allclose(mf.effective_channel(ideal), A.conj().T @ A, atol=1e-12)
    assert not np.allclose(A.conj().T @ A, np.eye(40), atol=1e-3)  # GFDM is not orthogonal


def test_data_mask_and_pilot_fill(rng):
    m = OtfsModem(8, 4)
    mask = np.ones((8, 4), bool)
    mask[2:5, :] = False
    fill = np.zeros((8, 4), complex)
    fill[3, 2] = 2.0
    m.set_data_mask(mask, fill)
    assert m.n_data == 20 and m.bits_per_frame == 40
    bits = rng.integers(0, 2, 40).astype(np.uint8)
    grid = m.demodulate_grid(m.modulate(bits))
    assert grid[3, 2] == pytest.approx(2.0, abs=1e-6)
    assert np.abs(grid[~mask & (fill == 0)]).max() < 1e-6
    np.testing.assert_array_equal(m.demodulate(m.modulate(bits)), bits)
    with pytest.raises(ConfigError, match="fill"):
        m.set_data_mask(mask, np.ones((8, 4)))


def test_make_modem_and_noise_scaling():
    assert isinstance(make_modem("afdm", 8, 4), AfdmModem) and make_modem("afdm", 8, 4).N == 32
    assert make_modem("gfdm", 8, 5).shape == (8, 5)
    assert make_modem("oddm", 8, 4).noise_var_per_sample(10.0) == pytest.approx(0.2)
    assert make_modem("otfs", 8, 4).noise_var_per_sample(10.0) == pytest.approx(0.1)


@pytest.mark.parametrize("ctor, field", [
    (lambda: OtfsModem(0, 4), "M"),
    (lambda: OtfsModem(8, 4, cp="both"), "cp"),
    (lambda: OtfsModem(8, 4, cp="symbol", cp_len=9), "cp_len"),
    (lambda: AfdmModem(16, alpha_max=2, l_max=3), "N"),
    (lambda: AfdmModem(64, alpha_max=1, l_max=3, cp_len=2), "cp_len"),
    (lambda: OddmModem(8, 4, oversampling=1, rolloff=0.2), "oversampling"),
    (lambda: GfdmModem(8, 4), "rolloff/M"),
    (lambda: GfdmModem(8, 5, receiver="mmse"), "receiver"),
    (lambda: make_modem("fbmc"), "kind"),
    (lambda: OtfsModem(8, 4.5), "N"),
])
def test_bad_parameters_name_the_field(ctor, field):
    with pytest.raises(ConfigError) as err:
        ctor()
    assert err.value.field == field


def test_bad_shapes():
    m = OtfsModem(8, 4)
    with pytest.raises(ConfigError, match="X.shape"):
        m.modulate_grid(np.zeros((4, 8)))
    with pytest.raises(ConfigError, match="len\\(samples\\)"):
        m.demodulate_grid(np.zeros(10))
    with pytest.raises(ConfigError, match="bits.shape"):
        m.modulate(np.zeros(7, np.uint8))


@pytest.mark.kernel
@given(seed=st.integers(0, 2**31), B=st.integers(1, 3), N=st.integers(1, 70), cp=st.integers(0, 70),
       single=st.booleans())
def test_chirp_compiled_matches_twin(seed, B, N, cp, single):
    compiled, twin = kernel_pair("_chirp")
    cp = min(cp, N)
    rng = np.random.default_rng(seed)
    body = _cx(rng, B, N).astype(np.complex64 if single else np.complex128)
    chirp, pre = np.exp(2j * np.pi * rng.random(N)), np.exp(2j * np.pi * rng.random(cp))
    dt = np.complex64 if single else np.complex128
    a, b = np.empty((B, cp + N), dt), np.empty((B, cp + N), dt)
    assert compiled.chirp_prefix(body, chirp, pre, a) == twin.chirp_prefix(body, chirp, pre, b) == 0
    np.testing.assert_allclose(a, b, atol=1e-5 if single else 1e-13)
    y = _cx(rng, B, cp + N).astype(dt)
    ra, rb = np.empty((B, N), dt), np.empty((B, N), dt)
    assert compiled.dechirp(y, cp, chirp, ra) == twin.dechirp(y, cp, chirp, rb) == 0
    np.testing.assert_allclose(ra, rb, atol=1e-6 if single else 1e-13)
    np.testing.assert_allclose(ra, y[:, cp:] * chirp, atol=1e-6 if single else 1e-13)
    bad = np.empty((B, cp + N + 1), dt)
    assert compiled.chirp_prefix(body, chirp, pre, bad) == twin.chirp_prefix(body, chirp, pre, bad) == 1


@pytest.mark.kernel
@given(seed=st.integers(0, 2**31), B=st.integers(1, 3), cells=st.integers(1, 40), bps=st.sampled_from((2, 4, 6)),
       sparse=st.booleans(), single=st.booleans())
def test_modmap_compiled_matches_twin(seed, B, cells, bps, sparse, single):
    compiled, twin = kernel_pair("_modmap")
    rng = np.random.default_rng(seed)
    dt = np.complex64 if single else np.complex128
    lut = _cx(rng, 1 << bps).astype(dt)
    idx = np.flatnonzero(rng.random(cells) < 0.6) if sparse else np.arange(cells)
    idx = idx.astype(np.int64)
    fill = _cx(rng, cells).astype(dt)
    bits = rng.integers(0, 2, (B, idx.size * bps)).astype(np.uint8)
    a, b = np.empty((B, cells), dt), np.empty((B, cells), dt)
    assert compiled.map_grid(bits, bps, lut, idx, fill, a) == twin.map_grid(bits, bps, lut, idx, fill, b) == 0
    np.testing.assert_array_equal(a, b)
    if bits.size:
        bad = bits.copy()
        bad[-1, -1] = 2
        assert compiled.map_grid(bad, bps, lut, idx, fill, a) == twin.map_grid(bad, bps, lut, idx, fill, b) == 1
    assert compiled.map_grid(bits, bps, lut, idx, fill[:-1], a) == twin.map_grid(bits, bps, lut, idx, fill[:-1], b) \
        == 2
    from dsp.qam import QamMapper

    q = QamMapper(1 << bps)
    y = 1.2 * _cx(rng, B, cells)
    ha, hb = (np.empty((B, idx.size * bps), np.uint8) for _ in range(2))
    assert compiled.demap_grid(y, idx, q._h, q._scale, q._gray, ha) == twin.demap_grid(y, idx, q._h, q._scale,
                                                                                       q._gray, hb) == 0
    np.testing.assert_array_equal(ha, hb)
    np.testing.assert_array_equal(ha.ravel(), q.demap_hard(y[:, idx]))


@pytest.mark.kernel
@given(seed=st.integers(0, 2**31), B=st.integers(1, 3), M=st.integers(1, 40), N=st.integers(1, 40),
       fcp=st.integers(0, 20), bcp=st.integers(0, 20), single=st.booleans())
def test_modframe_compiled_matches_twin(seed, B, M, N, fcp, bcp, single):
    compiled, twin = kernel_pair("_modframe")
    bcp = min(bcp, M)
    rng = np.random.default_rng(seed)
    src = _cx(rng, B, M, N).astype(np.complex64 if single else np.complex128)
    fcp = min(fcp, N * (M + bcp))
    F = fcp + N * (M + bcp)
    a, b = np.empty((B, F), np.complex64), np.empty((B, F), np.complex64)
    assert compiled.place(src, fcp, bcp, a) == twin.place(src, fcp, bcp, b) == 0
    np.testing.assert_array_equal(a, b)
    ga, gb = np.empty((B, M, N), complex), np.empty((B, M, N), complex)
    assert compiled.gather(a, fcp, bcp, ga) == twin.gather(a, fcp, bcp, gb) == 0
    np.testing.assert_array_equal(ga, gb)
    np.testing.assert_allclose(ga, src, atol=1e-6)  # gather inverts place
    bad = np.empty((B, F + 1), np.complex64)
    assert compiled.place(src, fcp, bcp, bad) == twin.place(src, fcp, bcp, bad) == 2


def test_ofdm_pilot_estimate_tracks_a_smooth_channel(rng):
    m = OfdmModem(64, 6, cp_len=8)
    m.set_pilots(df=4, dt=2)
    assert m.n_data == 64 * 6 - 17 * 4  # 16 + 1 pilot subcarriers on symbols 0, 2, 4, 5
    ch = DoublyDispersiveChannel([Path(0.9, 0, 0.0), Path(0.4j, 1, 0.0), Path(0.2, 2, 0.0)])
    bits = rng.integers(0, 2, m.bits_per_frame).astype(np.uint8)
    Y = m.demodulate_grid(ch.apply(m._modulate_grid128(m.grid_from_symbols(m.qam.map(bits)))))
    H, Hhat = m.one_tap_channel(ch), m.estimate_one_tap(Y)
    assert np.abs(Hhat - H).max() < 0.05 * np.abs(H).max()
    pilots = ~m.data_mask
    np.testing.assert_allclose(Hhat[pilots], Y[pilots], atol=0.02)  # pilots carry 1: LS estimate is y
    np.testing.assert_array_equal(m.qam.demap_hard(m.data_symbols(m.equalize_one_tap(Y, Hhat))), bits)


@pytest.mark.parametrize("kind", ["afdm", "otfs", "otfs-symbol"])
def test_demodulate_complex64_frames_match_double(kind):
    # complex64 frames are demodulated in single precision: the grid (still complex128) agrees with the
    # double-precision demodulation of the same frames to float32 rounding
    m = AfdmModem(1024, 4, alpha_max=2, l_max=8, c2=np.sqrt(2) / (4 * 1024**2)) if kind == "afdm" \
        else OtfsModem(64, 16, 4, cp="symbol" if kind == "otfs-symbol" else "frame", cp_len=8)
    rng = np.random.default_rng(5)
    y = _cx(rng, 3, m.frame_length).astype(np.complex64)
    g32, g64 = m.demodulate_grid(y), m.demodulate_grid(y.astype(np.complex128))
    assert g32.dtype == g64.dtype == np.complex128 and g32.shape == (3, *m.shape)
    err = np.abs(g32 - g64).max() / np.abs(g64).max()
    assert 0 < err < 1e-5
