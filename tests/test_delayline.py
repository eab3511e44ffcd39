"""Delay-line kernel and ChannelStream: twin agreement, chunk splits, closed forms, and a whole pass.

The pass checks use an independent geometry (3-D vectors of a circular orbit, range rate by finite
differences), not the trajectory's own formulas.
"""

import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.delay import ChannelStream, ConstantDelay, TimeVaryingDelay, design_interpolator
from hil.emulator.trajectory import R_EARTH, C, CircularPass, HandoverTrajectory, LinearTrajectory
from hil.errors import ConfigError
from tests.kernel_util import kernel_pair

pytestmark = pytest.mark.kernel


def _cn(rng, n, scale=1.0):
    return (scale * (rng.standard_normal(n) + 1j * rng.standard_normal(n)) / math.sqrt(2)).astype(np.complex64)


def _path(gain, delay, doppler):
    try:
        from dsp.channel import Path
    except ImportError:  # dsp.channel is written concurrently; the kernel only needs the three fields
        return SimpleNamespace(gain=gain, delay=delay, doppler=doppler)
    return Path(gain=gain, delay=delay, doppler=doppler)


class _Wobble:
    """Delay with curvature, gain ramp and a visibility gap: exercises every coefficient."""

    def delay(self, t):
        t = np.asarray(t, dtype=float)
        return 3e-4 + 2e-5 * t + 4e-6 * np.sin(40.0 * t)

    def delay_rate(self, t):
        t = np.asarray(t, dtype=float)
        return 2e-5 + 1.6e-4 * np.cos(40.0 * t)

    def gain_db(self, t):
        return -2.0 + 30.0 * np.asarray(t, dtype=float)

    def visible(self, t):
        t = np.asarray(t, dtype=float)
        return (t < 0.0105) | (t > 0.0125)


def _stream(kernel=None, noise=0.05, paths=None, seed=7, segment=256):
    cs = ChannelStream(1e6, 2.4e9, _Wobble(), paths=paths, noise_power=noise, rng=seed, epoch=0.0,
                       max_delay=2e-3, segment=segment)
    if kernel is not None:
        cs._kernel = kernel
    return cs


@given(n=st.integers(0, 6000), npaths=st.integers(1, 3), noise=st.sampled_from([0.0, 0.1]),
       seed=st.integers(0, 2**31))
def test_compiled_matches_twin(n, npaths, noise, seed):
    compiled, twin = kernel_pair("_delayline")
    rng = np.random.default_rng(seed)
    paths = [_path(complex(*rng.standard_normal(2)), float(rng.uniform(0, 5)), float(rng.uniform(-1e-3, 1e-3)))
             for _ in range(npaths)]
    x = _cn(rng, n)
    a = _stream(compiled, noise, paths, seed).process(x)
    b = _stream(twin, noise, paths, seed).process(x)
    np.testing.assert_allclose(a, b, atol=2e-5 * (1 + np.abs(b).max(initial=0.0)))


def test_compiled_and_twin_share_state():
    """The ring buffer is the whole state: compiled then twin equals compiled twice."""
    compiled, twin = kernel_pair("_delayline")
    x = _cn(np.random.default_rng(3), 4000)
    one = _stream(compiled)
    ref = np.concatenate([one.process(x[:1500]), one.process(x[1500:])])
    two = _stream(compiled)
    first = two.process(x[:1500])
    two._kernel = twin
    np.testing.assert_allclose(np.concatenate([first, two.process(x[1500:])]), ref, atol=1e-4)


@given(cuts=st.lists(st.integers(0, 5000), max_size=6))
def test_chunk_split_invariance(cuts):
    x = _cn(np.random.default_rng(11), 5000)
    paths = [_path(1.0, 0.0, 0.0), _path(0.5j, 2.7, 3e-4)]
    whole = _stream(paths=paths).process(x)
    cs = _stream(paths=paths)
    edges = [0, *sorted(cuts), len(x)]
    parts = np.concatenate([cs.process(x[a:b]) for a, b in zip(edges[:-1], edges[1:])])
    np.testing.assert_allclose(parts, whole, atol=1e-5)


@given(cuts=st.lists(st.integers(0, 5000), max_size=3), threads=st.integers(1, 3))
@settings(max_examples=10)
def test_threaded_matches_serial(cuts, threads):
    compiled, twin = kernel_pair("_delayline")
    x = _cn(np.random.default_rng(12), 5000)
    paths = [_path(1.0, 0.0, 0.0), _path(0.5j, 2.7, 3e-4)]
    ref = _stream(compiled, paths=paths).process(x)
    edges = [0, *sorted(cuts), len(x)]
    for kern in {compiled, twin}:
        cs = ChannelStream(1e6, 2.4e9, _Wobble(), paths=paths, noise_power=0.05, rng=7, max_delay=2e-3,
                           segment=256, threads=threads)
        cs._kernel = kern
        try:
            y = np.concatenate([cs.process(x[a:b]) for a, b in zip(edges[:-1], edges[1:])])
        finally:
            cs.close()
        np.testing.assert_allclose(y, ref, atol=2e-5)


def test_reset_restarts_stream_and_noise():
    x = _cn(np.random.default_rng(2), 3000)
    cs = _stream()
    first = cs.process(x)
    cs.process(x)
    cs.reset()
    np.testing.assert_array_equal(cs.process(x), first)


@pytest.mark.parametrize("f", [0.02, 0.2, 0.35])
def test_constant_fractional_delay_matches_closed_form(f):
    fs, D = 1e6, 37.3217
    n = np.arange(4000)
    y = TimeVaryingDelay(fs, ConstantDelay(D / fs)).process(np.exp(2j * np.pi * f * n))
    ref = np.exp(2j * np.pi * f * (n - D))
    err = np.abs(y[64:] - ref[64:]).max()
    assert err < 10 ** (-55 / 20), 20 * np.log10(err)
    assert np.all(y[:int(D) - 8] == 0)  # x(m) = 0 before the first sample


def test_interpolator_design_is_exact_at_integer_phases():
    tab, dtab = design_interpolator(16, 64, 0.4)
    assert tab.shape == (65, 16)
    np.testing.assert_allclose(tab[0], np.eye(16)[7], atol=2e-3)   # mu = 0: x[k]
    np.testing.assert_allclose(tab[-1], np.eye(16)[8], atol=2e-3)  # mu = 1: x[k + 1]
    np.testing.assert_allclose(tab[:-1] + dtab[:-1], tab[1:], atol=1e-7)


def test_linear_delay_gives_doppler_and_time_compression():
    """tau = d0 + r t: a tone f0 comes out at f0 (1 - r) - fc r (Doppler + compression), amplitude 1."""
    fs, fc, r, f0 = 1e6, 2e9, -1.5e-5, 100e3
    tr = LinearTrajectory(1e-3, r)
    n = np.arange(20000)
    y = ChannelStream(fs, fc, tr).process(np.exp(2j * np.pi * f0 * n / fs))[2000:]
    t = n[2000:] / fs
    ref = np.exp(2j * np.pi * (f0 * (t - tr.delay(t)) - fc * tr.delay(t)))
    np.testing.assert_allclose(y, ref, atol=3e-3)
    inst = np.angle(y[1:] * np.conj(y[:-1])).mean() * fs / (2 * np.pi)
    assert inst == pytest.approx(f0 * (1 - r) - fc * r, abs=0.05)


def test_multipath_relative_delay_doppler_and_gain():
    fs, D = 1e6, 40.0
    paths = [_path(1.0, 0.0, 0.0), _path(0.3 * np.exp(0.7j), 3.0, 1e-3)]
    x = _cn(np.random.default_rng(5), 3000)
    y = ChannelStream(fs, 0.0, ConstantDelay(D / fs), paths=paths).process(x)
    n = np.arange(3000)
    ref = np.zeros(3000, complex)
    ref[40:] += x[:-40]
    ref[43:] += 0.3 * np.exp(0.7j) * np.exp(2j * np.pi * 1e-3 * n[43:]) * x[:-43]
    np.testing.assert_allclose(y, ref, atol=1e-4)


def test_noise_power_and_visibility_gap():
    """Outside visibility only noise comes out, at the stated power; inside, signal + noise."""
    fs = 1e6
    cs = ChannelStream(fs, 0.0, _Wobble(), noise_power=0.01, rng=1, max_delay=2e-3, segment=256)
    y = cs.process(np.ones(16000, np.complex64))
    gap = y[10752:12288]  # whole segments inside 10.5 .. 12.5 ms
    assert np.mean(np.abs(gap) ** 2) == pytest.approx(0.01, rel=0.1)
    assert abs(np.mean(gap)) < 0.01  # no signal left
    lit = y[13000:16000]
    assert abs(np.mean(lit)) > 0.5


def test_handover_jump_lands_on_segment_boundary():
    fs, S = 1e6, 512
    a, b = LinearTrajectory(1e-4, 1e-5), LinearTrajectory(3e-4, -1e-5)
    ho = HandoverTrajectory([(0.0, a), (0.004, b)])
    assert ho.discontinuities(0.0, 1.0) == [0.004]
    cs = ChannelStream(fs, 1e9, ho, segment=S)
    y = cs.process(np.ones(8000, np.complex64))
    n = np.arange(8000)
    k = int(0.004 * fs) // S  # the jump's segment keeps piece a, piece b starts at the next boundary
    edge = (k + 1) * S
    t = n / fs
    ref_a = np.exp(-2j * np.pi * 1e9 * a.delay(t))
    ref_b = np.exp(-2j * np.pi * 1e9 * b.delay(t))
    np.testing.assert_allclose(y[400:edge], ref_a[400:edge], atol=2e-3)
    np.testing.assert_allclose(y[edge:], ref_b[edge:], atol=2e-3)


def test_bad_parameters_name_the_field():
    with pytest.raises(ConfigError, match="profile.delay"):
        ChannelStream(1e6, 0.0, ConstantDelay(1e-6))              # 1 sample < taps/2
    with pytest.raises(ConfigError, match="rng"):
        ChannelStream(1e6, 0.0, ConstantDelay(1e-3), noise_power=1.0)
    with pytest.raises(ConfigError, match="taps"):
        design_interpolator(15)
    with pytest.raises(ConfigError, match="paths"):
        ChannelStream(1e6, 0.0, ConstantDelay(1e-3), paths=[object()])
    with pytest.raises(ConfigError, match="max_delay"):
        ChannelStream(1e6, 0.0, ConstantDelay(5e-3), max_delay=1e-3)
    jump = HandoverTrajectory([(0.0, LinearTrajectory(1e-3, 0.0)), (1e-3, LinearTrajectory(9e-3, 0.0))])
    with pytest.raises(ConfigError, match="max_delay"):
        ChannelStream(1e6, 0.0, jump, max_delay=2e-3).process(np.ones(3000))
    with pytest.raises(ConfigError, match="x.ndim"):
        ChannelStream(1e6, 0.0, ConstantDelay(1e-3)).process(np.ones((2, 2)))


# ------------------------------------------------------------------ a whole pass, independent geometry
def _geometry(p, t):
    """Range (m) from explicit 3-D positions; range rate by a central difference."""
    def rng_at(tt):
        th = p.omega * (np.asarray(tt, dtype=float) - p.t_closest_s)
        sat = p.r * np.stack([np.cos(th), np.sin(th), np.zeros_like(th)])
        b = math.radians(p.offset_deg)
        gs = R_EARTH * np.array([math.cos(b), 0.0, math.sin(b)])[:, None]
        return np.linalg.norm(sat - gs, axis=0)
    h = 1e-3
    return rng_at(t), (rng_at(t + h) - rng_at(t - h)) / (2 * h)


PASS = CircularPass(550e3, 2e9, offset_deg=3.0, t_closest_s=0.0, min_elevation_deg=10.0)
EPOCHS = [-200.0, -60.0, 0.0, 150.0]  # rising low, rising high, culmination, setting


def test_pass_tone_frequency_is_minus_fc_range_rate_over_c():
    fs, fc = 200e3, 2e9
    seen = []
    for t0 in EPOCHS:
        cs = ChannelStream(fs, fc, PASS, epoch=t0)
        y = cs.process(np.ones(12000, np.complex64))[2000:]
        t = t0 + np.arange(2000, 12000) / fs
        ph = np.unwrap(np.angle(y.astype(np.complex128)))  # float64: unwrap accumulates
        tc = t.mean()
        coef = np.polyfit(t - tc, ph, 3)
        f_meas = coef[-2] / (2 * np.pi)
        _, rr = _geometry(PASS, np.array([tc]))
        assert f_meas == pytest.approx(-fc * rr[0] / C, abs=0.1), t0
        seen.append(f_meas)
    assert max(seen) > 30e3 and min(seen) < -30e3  # the pass really sweeps the Doppler


def wideband(n, fs_band=0.3, seed=42):
    """Band-limited (|f| < 0.3 fs) complex noise of unit power."""
    rng = np.random.default_rng(seed)
    spec = np.zeros(n, complex)
    band = np.abs(np.fft.fftfreq(n)) < fs_band
    spec[band] = rng.standard_normal(band.sum()) + 1j * rng.standard_normal(band.sum())
    x = np.fft.ifft(spec).astype(np.complex64)
    return x / np.sqrt(np.mean(np.abs(x) ** 2))


def measure_delay(y, x, n_c, D0, carrier_phase, W=4096):
    """Delay (samples) of output ``y`` around sample ``n_c``, by correlation with the input ``x``.

    ``carrier_phase(n)`` (cycles) is removed first (the tone tests check it). Coarse: the integer lag of
    the cross-correlation peak near ``D0``; fine: the slope of the cross-spectrum phase over the band.
    The result is the delay at the window centre ``n_c - 0.5``.
    """
    win = np.hanning(W)
    f = np.fft.fftfreq(W)
    inb = np.abs(f) < 0.28
    n = np.arange(n_c - W // 2, n_c + W // 2)
    z = y[n] * np.exp(-2j * np.pi * carrier_phase(n))
    lags = np.arange(int(D0) - 50, int(D0) + 50)
    m = lags[int(np.argmax([abs(np.vdot(x[n - k], z)) for k in lags]))]
    cross = np.fft.fft(z * win) * np.conj(np.fft.fft(x[n - m] * win))
    w = np.abs(cross[inb])
    slope = np.sum(w * f[inb] * np.angle(cross[inb])) / np.sum(w * f[inb] ** 2)
    return m - slope / (2 * np.pi)


def test_pass_delay_by_correlation_within_1ns():
    fs, fc = 10e6, 2e9
    x = wideband(1 << 17)
    for t0 in EPOCHS:
        rng_m, _ = _geometry(PASS, np.array([t0]))
        D0 = rng_m[0] / C * fs
        n_c = int(D0) + 20000
        y = ChannelStream(fs, fc, PASS, epoch=t0).process(x[:n_c + 4096])
        d = measure_delay(y, x, n_c, D0, lambda n, t0=t0: -fc * _geometry(PASS, t0 + n / fs)[0] / C)
        tau_ref = _geometry(PASS, np.array([t0 + (n_c - 0.5) / fs]))[0][0] / C
        assert abs(d / fs - tau_ref) < 1e-9, (t0, d / fs - tau_ref)


# ------------------------------------------------------------------ in-kernel counter-based noise
def _noise_only(kernel, n, seed=3, power=0.5):
    cs = ChannelStream(1e6, 0.0, ConstantDelay(1e-3), noise_power=power, rng=seed)
    cs._kernel = kernel
    return cs.process(np.zeros(n, np.complex64)).astype(np.complex128)


@pytest.mark.parametrize("which", [0, 1])
def test_noise_is_white_circular_gaussian_of_the_stated_power(which):
    """Moments, tails and whiteness of the kernel's noise against the closed forms of CN(0, P)."""
    kern = kernel_pair("_delayline")[which]
    n, p = 1 << 16, 0.5
    w = _noise_only(kern, n, power=p)
    tol = 5 / math.sqrt(n)  # ~5 standard errors of each normalised estimate below
    assert np.mean(np.abs(w) ** 2) / p == pytest.approx(1.0, abs=tol)
    for comp in (w.real, w.imag):
        z = comp / math.sqrt(p / 2)
        assert abs(z.mean()) < tol and z.var() == pytest.approx(1.0, abs=2 * tol)
        assert np.mean(z ** 4) == pytest.approx(3.0, abs=10 * tol)          # Gaussian kurtosis
        assert np.mean(np.abs(z) > 2.0) == pytest.approx(math.erfc(2 / math.sqrt(2)), abs=tol / 4)
    assert abs(np.mean(w.real * w.imag)) / p < tol                          # I and Q uncorrelated
    assert abs(np.mean(w * w)) / p < tol                                    # circular: E[w^2] = 0
    for lag in (1, 2, 3, 8, 1024):                                          # white (also across segments)
        assert abs(np.vdot(w[:-lag], w[lag:])) / (n - lag) / p < tol, lag


def test_noise_reproducible_and_seeded():
    compiled, _ = kernel_pair("_delayline")
    a = _noise_only(compiled, 5000, seed=3)
    np.testing.assert_array_equal(a, _noise_only(compiled, 5000, seed=3))
    cs = ChannelStream(1e6, 0.0, ConstantDelay(1e-3), noise_power=0.5, rng=np.random.default_rng(3))
    cs._kernel = compiled
    np.testing.assert_array_equal(cs.process(np.zeros(5000, np.complex64)), a)  # Generator == its seed
    b = _noise_only(compiled, 5000, seed=4)
    assert abs(np.vdot(a, b)) / 5000 < 0.05                                  # another seed: independent


def test_noise_at_large_sample_indices_matches_twin():
    """The 64-bit counter arithmetic wraps identically in C and NumPy far from sample 0."""
    compiled, twin = kernel_pair("_delayline")
    tab = np.repeat(design_interpolator(16, 64)[0], 2, axis=1)
    S, m = 256, 700
    for n0 in (0, (1 << 40) + 123, (1 << 62) - 300):
        seg0 = n0 // S
        nseg = (n0 + m - 1) // S - seg0 + 1
        pcoef = np.zeros((nseg, 8))
        pcoef[:, 0] = -np.inf  # path off: the output is the noise alone
        res = []
        for kern in (compiled, twin):
            out = np.empty(m, np.complex64)
            st = kern.run(np.zeros(m, np.complex64), out, np.zeros(1024 + 16, np.complex64), n0,
                          np.zeros((nseg, 4)), pcoef, seg0, S, tab, 0xDEADBEEF12345678, 0.7)
            assert st[0] == 0
            res.append(out)
        np.testing.assert_allclose(res[0], res[1], atol=2e-6)
        assert np.mean(np.abs(res[0]) ** 2) == pytest.approx(0.49, rel=0.25)


@pytest.mark.parametrize("frac", [0.0, 0.5 / 4096, 0.4999, 0.5, 1 - 0.49 / 4096])
def test_fractional_delay_error_at_table_rounding_points(frac):
    """The nearest of 4096 tabulated fractions: the error stays within the closed-form bound everywhere,
    including fractions halfway between two rows (worst rounding)."""
    fs, D, f = 1e6, 37.0 + frac, 0.35
    n = np.arange(3000)
    y = TimeVaryingDelay(fs, ConstantDelay(D / fs)).process(np.exp(2j * np.pi * f * n))
    err = np.abs(y[64:] - np.exp(2j * np.pi * f * (n[64:] - D))).max()
    assert err < 10 ** (-55 / 20), 20 * np.log10(err)


@pytest.mark.parametrize("taps", [8, 24])
def test_compiled_matches_twin_other_tap_counts(taps):
    """The generic (not fully unrolled) tap loop of the kernel against the twin."""
    compiled, twin = kernel_pair("_delayline")
    x = _cn(np.random.default_rng(taps), 3000)
    paths = [_path(1.0, 0.0, 0.0), _path(0.4 - 0.2j, 1.3, -2e-4)]
    ys = []
    for kern in (compiled, twin):
        cs = ChannelStream(1e6, 2.4e9, _Wobble(), paths=paths, noise_power=0.05, rng=9, max_delay=2e-3,
                           segment=256, taps=taps)
        cs._kernel = kern
        ys.append(cs.process(x))
    np.testing.assert_allclose(ys[0], ys[1], atol=2e-5 * (1 + np.abs(ys[1]).max()))


@pytest.mark.parametrize("taps, band, fmax, bound_db", [(16, 0.4, 0.4, -41.0), (16, 0.4, 0.35, -53.0),
                                                        (24, 0.42, 0.42, -49.5)])
def test_interpolator_worst_case_error_matches_docs(taps, band, fmax, bound_db):
    # Independent check of the documented bound: the table row used for fraction mu against the ideal
    # delay response exp(j 2 pi f mu), worst case over fractions and over |f| <= fmax.
    from dsp.delay import design_interpolator

    tab = design_interpolator(taps, 4096, band)[0].astype(float)
    t = np.arange(taps) - (taps // 2 - 1)
    f = np.linspace(0, fmax, 200)
    worst = 0.0
    for mu in np.linspace(0, 1, 65):
        row = tab[int(round(mu * 4096))]
        H = (row[None, :] * np.exp(2j * np.pi * f[:, None] * t[None, :])).sum(1)
        worst = max(worst, np.abs(H - np.exp(2j * np.pi * f * mu)).max())
    assert 20 * np.log10(worst) < bound_db


# ------------------------------------------------------------------ issue 14: speed-ups keep the results
def _isas(kern):
    """The code paths of the compiled kernel this CPU can run (the twin has none)."""
    return kern.available_isas() if hasattr(kern, "available_isas") else [None]


@pytest.mark.parametrize("threads", [0, 2, 3])
def test_output_bit_identical_for_any_threads_and_chunking(threads):
    """Every sample is a function of its absolute index alone: chunk cuts (inside segments, inside
    8-sample groups) and thread counts give exactly the same bits as one serial call."""
    compiled, _ = kernel_pair("_delayline")
    x = _cn(np.random.default_rng(21), 20000)
    paths = [_path(1.0, 0.0, 0.0), _path(0.5j, 2.7, 3e-4), _path(0.2, 2.7, -1e-4)]
    ref = _stream(compiled, paths=paths).process(x)
    for cuts in ([], [1, 3, 250, 257, 9000], [4095, 4097, 12345]):
        cs = ChannelStream(1e6, 2.4e9, _Wobble(), paths=paths, noise_power=0.05, rng=7, max_delay=2e-3,
                           segment=256, threads=threads)
        cs._kernel = compiled
        edges = [0, *cuts, len(x)]
        try:
            y = np.concatenate([cs.process(x[a:b]) for a, b in zip(edges[:-1], edges[1:])])
        finally:
            cs.close()
        np.testing.assert_array_equal(y, ref)


def _ntn_like_paths(rng, sinusoids=3):
    """A LOS path and two Rayleigh taps made of sinusoids (paths sharing a delay), as NTN-TDL-C with
    fading: exercises the shared interpolator pass and the per-path linear remainders."""
    paths = [_path(0.9 * np.exp(0.3j), 0.0, 0.0)]
    for d, p in ((0.0, 0.09), (4.37, 0.02)):
        for k in range(sinusoids):
            g = math.sqrt(p / sinusoids) * np.exp(2j * np.pi * rng.uniform())
            paths.append(_path(complex(g), d, 2e-4 * math.cos(2 * math.pi * (k + 0.3) / sinusoids)))
    return paths


def test_every_code_path_matches_twin_with_shared_delays():
    compiled, twin = kernel_pair("_delayline")
    rng = np.random.default_rng(5)
    paths = _ntn_like_paths(rng)
    x = _cn(rng, 7000)
    ref = _stream(twin, 0.05, paths).process(x)
    prev = compiled.isa() if hasattr(compiled, "isa") else None
    try:
        for isa in _isas(compiled):
            if isa is not None:
                compiled.set_isa(isa)
            y = _stream(compiled, 0.05, paths).process(x)
            np.testing.assert_allclose(y, ref, atol=2e-5 * (1 + np.abs(ref).max()), err_msg=str(isa))
    finally:
        if prev is not None:
            compiled.set_isa(prev)


@given(seed=st.integers(0, 2**31), npath=st.integers(1, 5), m=st.integers(1, 3000), n0=st.integers(0, 5000))
@settings(max_examples=25, deadline=None)
def test_run_with_unrelated_path_cubics_matches_twin(seed, npath, m, n0):
    """Arbitrary per-path delay and weight cubics (no two paths share a class or a delay unless drawn
    so), paths switched off, calls starting anywhere: the kernel's grouping is only an optimisation."""
    compiled, twin = kernel_pair("_delayline")
    rng = np.random.default_rng(seed)
    S, L, size = 256, 16, 1 << 13
    tab = np.repeat(design_interpolator(L, 256)[0], 2, axis=1)
    seg0 = n0 // S
    nseg = (n0 + m - 1) // S - seg0 + 1
    dcoef = np.zeros((nseg, 4 * npath))
    pcoef = np.zeros((nseg, 8 * npath))
    for p in range(npath):
        dcoef[:, 4 * p] = rng.uniform(20, 60, nseg)
        dcoef[:, 4 * p + 1] = rng.uniform(-1e-2, 1e-2, nseg)
        dcoef[:, 4 * p + 2] = rng.uniform(-1e-5, 1e-5, nseg) * rng.integers(0, 2)
        pcoef[:, 8 * p:8 * p + 8] = rng.uniform(-1, 1, (nseg, 8)) * [0.5, 1e-3, 1e-6, 1e-9, 1, 0.4, 1e-5, 1e-8]
        if rng.uniform() < 0.3:
            pcoef[rng.integers(0, nseg), 8 * p] = -np.inf  # off for a segment
    if npath > 1 and rng.uniform() < 0.5:  # a second path in the first one's class and delay group
        dcoef[:, 4:8] = dcoef[:, 0:4]
        pcoef[:, 9:12] = pcoef[:, 1:4]
        pcoef[:, 14:16] = pcoef[:, 6:8]
    x = _cn(rng, m)
    ring0 = _cn(rng, size + L)
    ring0[size:] = ring0[:L]
    outs = []
    for kern in (compiled, twin):
        ring = ring0.copy()
        out = np.empty(m, np.complex64)
        st_ = kern.run(x, out, ring, n0, dcoef, pcoef, seg0, S, tab, 99, 0.1)
        assert st_ == (0, -1)
        outs.append(out)
    np.testing.assert_allclose(outs[0], outs[1], atol=5e-5 * (1 + np.abs(outs[1]).max()))


@pytest.mark.parametrize("where_bad, kind", [(700, "short"), (1500, "long"), (1025, "long")])
def test_delay_limit_errors_name_the_same_sample_as_twin(where_bad, kind):
    compiled, twin = kernel_pair("_delayline")
    S, L, size, m = 256, 16, 1 << 12, 3000
    tab = np.repeat(design_interpolator(L, 64)[0], 2, axis=1)
    nseg = (m - 1) // S + 1
    dcoef = np.zeros((nseg, 8))
    pcoef = np.zeros((nseg, 16))
    dcoef[:, 0] = 40.0
    dcoef[:, 4] = 300.0
    r, j = divmod(where_bad, S)
    # path 1 breaks the limit from local index j of segment r on (a linear delay through the limit)
    lim = 3.0 if kind == "short" else size + 50.0
    dcoef[r, 4] = lim + 5.0 * j if kind == "short" else 300.0
    dcoef[r, 5] = -5.0 if kind == "short" else (lim - 300.0) / max(j, 1)
    res = []
    for kern in (compiled, twin):
        ring = np.zeros(size + L, np.complex64)
        out = np.empty(m, np.complex64)
        res.append(kern.run(np.ones(m, np.complex64), out, ring, 0, dcoef, pcoef, 0, S, tab, 1, 0.0))
    assert res[0] == res[1]
    assert res[0][0] == (-1 if kind == "short" else -2)
    assert r * S <= res[0][1] <= (r + 1) * S


@pytest.mark.parametrize("threads", [0, 2])
def test_coefficient_lookahead_falls_back_where_the_profile_ends(threads):
    """The coefficients are evaluated ahead of the stream (threaded: while the workers compute the
    current piece); a profile that refuses times past its end still works up to that end, and then
    the call that reaches it raises the profile's own error."""
    class Ending(ConstantDelay):
        def delay(self, t):
            if np.max(np.asarray(t)) > 0.01:
                raise ValueError("track ends at 10 ms")
            return super().delay(t)

    x = _cn(np.random.default_rng(1), 9000)
    cs = ChannelStream(1e6, 1e9, Ending(1e-4), segment=256, threads=threads)
    try:
        y = np.concatenate([cs.process(x[:4000]), cs.process(x[4000:])])
        ref = ChannelStream(1e6, 1e9, ConstantDelay(1e-4), segment=256).process(x)
        np.testing.assert_array_equal(y, ref)
        with pytest.raises(ValueError, match="track ends"):
            cs.process(x[:2000])
    finally:
        cs.close()


def test_threads_writing_their_own_input_match_serial():
    """A delay longer than the chunk: each thread writes its own range of input into the ring (no serial
    copy first); the output is still bit-identical to the serial path, with multipath and noise."""
    compiled, _ = kernel_pair("_delayline")
    x = _cn(np.random.default_rng(8), 24000)
    paths = [_path(1.0, 0.0, 0.0), _path(0.3j, 5.5, 2e-4)]
    tr = LinearTrajectory(6e-3, -2e-5)  # 6000 samples at 1 MHz, shrinking
    ref = ChannelStream(1e6, 2e9, tr, paths=paths, noise_power=0.01, rng=3, segment=256)
    ref._kernel = compiled
    want = ref.process(x)
    cs = ChannelStream(1e6, 2e9, tr, paths=paths, noise_power=0.01, rng=3, segment=256, threads=3)
    cs._kernel = compiled
    try:
        got = np.concatenate([cs.process(x[a:a + 3000]) for a in range(0, len(x), 3000)])
    finally:
        cs.close()
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_pool_ranges_equal_one_call_and_report_the_first_error(workers):
    """Pool.run over ranges (taken by any thread in any order) gives the serial call's output bit for
    bit, the twin's to rounding, and the first failing sample in sample order; a closed pool refuses."""
    compiled, twin = kernel_pair("_delayline")
    S, L, size, m = 256, 16, 1 << 13, 5000
    tab = np.repeat(design_interpolator(L, 64)[0], 2, axis=1)
    rng = np.random.default_rng(workers)
    nseg = (m - 1) // S + 1
    dcoef = np.zeros((nseg, 8))
    pcoef = np.zeros((nseg, 16))
    dcoef[:, 0], dcoef[:, 1], dcoef[:, 4] = 600.0, 1e-3, 900.0
    pcoef[:, 4], pcoef[:, 5], pcoef[:, 8], pcoef[:, 13] = 0.25, 1e-3, -0.5, 2e-3
    x = _cn(rng, m)
    ring0 = _cn(rng, size + L)
    ring0[size:] = ring0[:L]
    cuts = [700, 1024, 1100, 3000, 4999]
    ref = np.empty(m, np.complex64)
    assert compiled.run(x, ref, ring0.copy(), 0, dcoef, pcoef, 0, S, tab, 5, 0.1, m) == (0, -1)
    for kern in (compiled, twin):
        pool = kern.Pool(workers)
        out = np.empty(m, np.complex64)
        assert pool.run(x, out, ring0.copy(), 0, dcoef, pcoef, 0, S, tab, 5, 0.1, m, cuts) == (0, -1)
        if kern is compiled:
            np.testing.assert_array_equal(out, ref)
        else:
            np.testing.assert_allclose(out, ref, atol=5e-5 * (1 + np.abs(ref).max()))
        bad = dcoef.copy()
        bad[8:, 4] = 3.0    # too short from sample 2048 on (path 1)
        bad[15:, 0] = 1e5   # too long from sample 3840 on (path 0)
        assert pool.run(x, out, ring0.copy(), 0, bad, pcoef, 0, S, tab, 5, 0.1, m, cuts) == (-1, 2048)
        assert pool.run(x, out, ring0.copy(), 0, dcoef, pcoef, 0, S, tab, 5, 0.1, m, [900, 800])[0] == -3
        pool.close()
        with pytest.raises(ValueError, match="closed"):
            pool.run(x, out, ring0.copy(), 0, dcoef, pcoef, 0, S, tab, 5, 0.1, m, cuts)


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_pool_start_finish_is_run_split_around_other_work(workers):
    """start() posts the ranges and returns at once (the caller works meanwhile; the arrays are held by
    the pool), finish() gives run()'s output and status; one call at a time; close() finishes a
    pending call first."""
    compiled, twin = kernel_pair("_delayline")
    S, L, size, m = 256, 16, 1 << 13, 6000
    tab = np.repeat(design_interpolator(L, 64)[0], 2, axis=1)
    rng = np.random.default_rng(10 + workers)
    nseg = (m - 1) // S + 1
    dcoef = np.zeros((nseg, 4))
    pcoef = np.zeros((nseg, 8))
    dcoef[:, 0], dcoef[:, 1], pcoef[:, 4], pcoef[:, 5] = 700.0, 2e-3, 0.1, 3e-3
    x = _cn(rng, m)
    ring0 = _cn(rng, size + L)
    ring0[size:] = ring0[:L]
    cuts = [1000, 2048, 4096]
    for kern in (compiled, twin):
        ref = np.empty(m, np.complex64)
        assert kern.Pool(workers).run(x, ref, ring0.copy(), 0, dcoef, pcoef, 0, S, tab, 9, 0.1, m, cuts) == (0, -1)
        pool = kern.Pool(workers)
        with pytest.raises(ValueError, match="no call is pending"):
            pool.finish()
        out = np.empty(m, np.complex64)
        # only the pool holds the coefficient arrays while the call runs
        assert pool.start(x, out, ring0.copy(), 0, dcoef.copy(), pcoef.copy(), 0, S, tab, 9, 0.1, m, cuts) is None
        assert pool.pending
        with pytest.raises(ValueError, match="pending"):
            pool.start(x, out, ring0.copy(), 0, dcoef, pcoef, 0, S, tab, 9, 0.1, m, cuts)
        busy = sum(np.arange(20000) % 7)  # the caller's own work while the workers compute
        assert pool.finish() == (0, -1) and busy > 0 and not pool.pending
        np.testing.assert_array_equal(out, ref)
        bad = dcoef.copy()
        bad[10:, 0] = 3.0  # too short from sample 2560 on
        assert pool.start(x, out, ring0.copy(), 0, bad, pcoef, 0, S, tab, 9, 0.1, m, cuts) is None
        assert pool.finish() == (-1, 2560)
        assert pool.start(x, out, ring0.copy(), 0, dcoef, pcoef, 0, S, tab, 9, 0.1, m, [900, 800]) == (-3, -1)
        assert not pool.pending
        out2 = np.empty(m, np.complex64)
        assert pool.start(x, out2, ring0.copy(), 0, dcoef, pcoef, 0, S, tab, 9, 0.1, m, cuts) is None
        pool.close()  # finishes the pending call before the threads stop
        assert not pool.pending
        np.testing.assert_array_equal(out2, ref)
        with pytest.raises(ValueError, match="closed"):
            pool.start(x, out, ring0.copy(), 0, dcoef, pcoef, 0, S, tab, 9, 0.1, m, cuts)
