"""Time-varying fractional delay with carrier phase, gain, multipath and AWGN: the emulator's channel.

One streaming block, :class:`ChannelStream`, applies the physical model of the project
(DESIGN.md, "physical model") sample by sample::

    y[n] = sum_i  a(t_n) g_i exp(j 2 pi nu_i n) exp(-j 2 pi fc tau(t_n)) x(n - fs tau(t_n) - d_i)  +  w[n]

with ``t_n = epoch + n / fs`` - the clock is the sample count, never wall-clock time. ``tau(t)`` (s)
comes from a *delay profile* (any object with ``delay(t)`` and ``delay_rate(t)``, see
:class:`DelayProfile`); Doppler ``-fc dtau/dt`` and time compression both follow from it, so they
are consistent by construction. ``(g_i, d_i, nu_i)`` are :class:`dsp.channel.Path` objects (complex
gain, relative delay in samples, relative Doppler in cycles/sample); the default is one path with
unit gain. ``w`` is complex white Gaussian noise of power ``noise_power`` per sample, generated inside the
kernel as a function of (seed, sample index) - reproducible and independent of chunking and threads.

How it is computed (and why):

* Time is cut into segments of ``segment`` samples on the absolute sample grid. Per segment the delay
  is a cubic Hermite fit of ``tau`` and ``dtau/dt`` at both ends (error ~ S^4 tau''''/384, far below
  a picosecond for orbital motion), the gain ``a(t)`` is linear in dB and visibility is taken at the
  segment start. Because the grid is absolute, the output does not depend on how the input is split
  into calls (chunk-split invariance).
* The fractional delay is a ``taps``-tap least-squares band-limited interpolator designed for
  ``|f| <= band * fs`` (default 16 taps, 0.4 fs), tabulated at ``phases`` fractions (default 4096);
  each sample uses the nearest one (a polyphase filter bank). Rounding the fraction to 1/4096 sample
  adds at most ``pi f / 4096`` (-70 dB at 0.42 fs), below the design error, and costs no per-sample
  interpolation between rows. Worst-case error |H(f) - exp(j 2 pi f mu)| over all fractions mu, with
  the defaults: -41.6 dB for ``|f| <= 0.4 fs``, -53.6 dB for ``|f| <= 0.35 fs`` (24 taps designed for
  0.42 fs: -50 dB up to 0.42 fs, -62 dB up to 0.4 fs); tested in tests/test_delayline.py.
* The carrier phase runs in double precision with forward differences restarted every segment.
* The noise is generated in the kernel from a counter-based generator (SplitMix64 of the seed key and
  the sample index, Box-Muller in polar form): reproducible from the seed, the same however the
  stream is split into calls or threads, and ~3x fewer instructions than NumPy's ziggurat.
* The fused per-sample loop is the compiled kernel ``dsp._kernels._delayline`` (NumPy twin beside it).

While visible, the delay must stay >= ``taps / 2`` samples (the interpolator looks ``taps/2`` samples
ahead) and below ``max_delay``; otherwise :class:`hil.errors.ConfigError` names the sample index and the limit.
"""

from __future__ import annotations

import functools
import math
from typing import Protocol, runtime_checkable

import numpy as np

from dsp._kernels import load
from dsp.errors import ConfigError, check_range

__all__ = ["DelayProfile", "ConstantDelay", "ChannelStream", "TimeVaryingDelay", "design_interpolator"]

_LN10_20 = math.log(10.0) / 20.0


@runtime_checkable
class DelayProfile(Protocol):
    """What :class:`ChannelStream` needs from a trajectory; ``t`` in seconds (scalars or arrays).

    Required: ``delay(t)`` -> s, ``delay_rate(t)`` -> s/s (= range rate / c).
    Optional (duck-typed): ``gain_db(t)`` -> dB (default 0), ``visible(t)`` -> bool (default True),
    ``discontinuities(t0, t1)`` -> times in [t0, t1) where the delay jumps (a handover).
    """

    def delay(self, t): ...

    def delay_rate(self, t): ...


class ConstantDelay:
    """A fixed delay ``delay`` (s) with gain ``gain_db`` (dB): the simplest :class:`DelayProfile`."""

    def __init__(self, delay: float, gain_db: float = 0.0):
        self._delay = float(check_range("delay", delay, lo=0.0, unit="s"))
        self._gain = float(check_range("gain_db", gain_db, unit="dB"))

    def delay(self, t):
        return np.full(np.shape(t), self._delay) if np.ndim(t) else self._delay

    def delay_rate(self, t):
        return np.zeros(np.shape(t)) if np.ndim(t) else 0.0

    def gain_db(self, t):
        return np.full(np.shape(t), self._gain) if np.ndim(t) else self._gain

    def __repr__(self):
        return f"ConstantDelay(delay={self._delay:g} s, gain_db={self._gain:g} dB)"


def design_interpolator(taps: int = 16, phases: int = 128, band: float = 0.4):
    """Least-squares band-limited fractional-delay filter bank.

    Row ``q`` (``0 <= q <= phases``) holds the ``taps`` coefficients that interpolate ``x`` at
    ``k + q / phases`` from ``x[k - taps/2 + 1 .. k + taps/2]``, minimising the squared error of the
    frequency response against ``exp(-j 2 pi f mu)`` over ``|f| <= band`` (cycles/sample). Returns
    ``(tab, dtab)`` float32 arrays of shape ``(phases + 1, taps)`` with ``dtab[q] = tab[q + 1] - tab[q]``
    (last row zero). The kernel uses the nearest row of a fine table (``phases`` = 4096 by default);
    ``dtab`` serves a caller that interpolates linearly between the rows of a coarse one.
    """
    taps = int(check_range("taps", taps, lo=4, hi=64))
    if taps % 4:  # the kernel runs the taps in groups of four (eight I/Q lanes)
        raise ConfigError.bad_value("taps", taps, "a multiple of 4 (4..64)")
    phases = int(check_range("phases", phases, lo=1, hi=4096))
    band = float(check_range("band", band, lo=0.05, hi=0.49, unit="cycles/sample"))
    t = np.arange(taps) - (taps // 2 - 1)           # tap offsets relative to k
    # R[t, s] = int_{-B}^{B} exp(j 2 pi f (t - s)) df ; r[t](mu) = int exp(j 2 pi f (t - mu)) df
    R = 2 * band * np.sinc(2 * band * (t[:, None] - t[None, :]))
    R += 1e-9 * np.eye(taps)                         # the Gram matrix is nearly singular for wide filters
    mu = np.arange(phases + 1) / phases
    r = 2 * band * np.sinc(2 * band * (t[None, :] - mu[:, None]))
    tab = np.linalg.solve(R, r.T).T
    tab32 = tab.astype(np.float32)
    dtab = np.zeros_like(tab32)
    dtab[:-1] = tab32[1:] - tab32[:-1]
    return np.ascontiguousarray(tab32), np.ascontiguousarray(dtab)


@functools.lru_cache(maxsize=8)
def _tables(taps, phases, band):
    """(tab, dtab, ktab) read-only; ``ktab`` holds each coefficient twice in a row (the kernel's I and Q
    lanes)."""
    tab, dtab = design_interpolator(taps, phases, band)
    ktab = np.ascontiguousarray(np.repeat(tab, 2, axis=1))
    for a in (tab, dtab, ktab):
        a.flags.writeable = False
    return tab, dtab, ktab


def _path_tuple(p, i):
    try:
        g, d, nu = complex(p.gain), float(p.delay), float(p.doppler)
    except (AttributeError, TypeError, ValueError):
        raise ConfigError.bad_value(f"paths[{i}]", p, "a dsp.channel.Path (gain, delay, doppler)") from None
    check_range(f"paths[{i}].delay", d, lo=0.0, unit="samples")
    check_range(f"paths[{i}].doppler", nu, lo=-0.5, hi=0.5, unit="cycles/sample")
    if not (math.isfinite(g.real) and math.isfinite(g.imag)):
        raise ConfigError.bad_value(f"paths[{i}].gain", g, "a finite complex number")
    return g, d, nu


def _as_array(v, n):
    a = np.asarray(v, dtype=np.float64)
    return np.broadcast_to(a, (n,)) if a.ndim == 0 else a


class ChannelStream:
    """Streaming satellite channel: time-varying fractional delay + carrier phase + gain + paths + AWGN.

    Parameters
    ----------
    sample_rate : float
        Sample rate fs in Hz.
    carrier : float
        Carrier frequency fc in Hz (0 = no carrier phase: a pure baseband delay).
    profile : DelayProfile
        Delay tau(t) (s) and its rate; optionally gain_db(t), visible(t), discontinuities(t0, t1).
    paths : sequence of dsp.channel.Path, optional
        Relative multipath (complex gain, delay in samples >= 0, Doppler in cycles/sample). Default:
        one path, gain 1.
    noise_power : float
        AWGN power per complex sample (linear, same scale as |x|^2); 0 = no noise.
    rng : numpy.random.Generator or int, optional
        Source of the noise (a Generator, or a seed). Required when ``noise_power > 0``. One 64-bit key
        is drawn from it at construction; the noise is then a fixed function of (key, sample index)
        (counter-based, see ``_delayline.pyx``), so :meth:`reset` restarts it.
    epoch : float
        Time of sample 0 in the profile's time base (s).
    max_delay : float
        Longest total delay the delay line holds (s); sets the memory (8 bytes x fs x max_delay).
    taps, phases, band : interpolator design (see :func:`design_interpolator`); each sample uses the
        nearest of the ``phases`` tabulated fractions (error <= pi f / phases at f cycles/sample).
    segment : int
        Segment length in samples of the delay/gain fit and of the visibility decisions.
    threads : int
        Threads that compute one call's output: 0 or 1: the calling thread alone. N >= 2: the chunk is
        cut into ranges of output samples (big ones first, then smaller) that N - 1 worker threads of the
        kernel (C threads, no GIL) and the calling thread take as they come free; the output is
        bit-identical for any N.
        Call :meth:`close` to stop the workers.
    """

    def __init__(self, sample_rate: float, carrier: float, profile, *, paths=None, noise_power: float = 0.0,
                 rng=None, epoch: float = 0.0, max_delay: float = 0.02, taps: int = 16, phases: int = 4096,
                 band: float = 0.4, segment: int = 1024, threads: int = 0):
        self.sample_rate = float(check_range("sample_rate", sample_rate, lo=1e-3, unit="Hz"))
        self.threads = int(check_range("threads", threads, lo=0, hi=64))
        self._pool = None
        self.carrier = float(check_range("carrier", carrier, lo=0.0, unit="Hz"))
        if not (callable(getattr(profile, "delay", None)) and callable(getattr(profile, "delay_rate", None))):
            raise ConfigError.bad_value("profile", profile, "an object with delay(t) and delay_rate(t)")
        self.profile = profile
        if paths is None:
            self._paths = [(1.0 + 0j, 0.0, 0.0)]
        else:
            self._paths = [_path_tuple(p, i) for i, p in enumerate(paths)]
            if not self._paths:
                raise ConfigError.bad_value("paths", list(paths), "at least one path (or None for a single one)")
        self.paths = tuple(paths) if paths is not None else None
        self.noise_power = float(check_range("noise_power", noise_power, lo=0.0))
        if self.noise_power > 0 and rng is None:
            raise ConfigError.bad_value("rng", rng, "a numpy Generator or an integer seed when noise_power > 0")
        # The noise is counter-based in the kernel: one key per stream, drawn once (reset keeps it).
        self._noise_key = 0
        if self.noise_power > 0:
            r = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
            self._noise_key = int(r.integers(0, 1 << 64, dtype=np.uint64))
        self._noise_amp = math.sqrt(self.noise_power)
        self.epoch = float(check_range("epoch", epoch, unit="s"))
        self.max_delay = float(check_range("max_delay", max_delay, lo=0.0, hi=10.0, unit="s"))
        self.segment = int(check_range("segment", segment, lo=16, hi=1 << 20, unit="samples"))
        # Shared read-only tables (one design per (taps, phases, band), not one per stream: callers
        # such as hil.experiment build a stream per burst).
        self.tab, self.dtab, self._ktab = _tables(int(taps), int(phases), float(band))
        self.taps = int(taps)
        self.band = float(band)
        # Threaded mode writes a whole piece of input before reading: the ring holds one piece more.
        self._piece = max((1 << 18) // self.segment * self.segment, self.segment) if self.threads > 1 else 0
        need = (self.max_delay * self.sample_rate + max(d for _, d, _ in self._paths) + self.taps + self.segment
                + self._piece + 2)
        if need > (1 << 31):
            raise ConfigError.bad_value("max_delay", max_delay,
                                        f"<= {(1 << 31) / self.sample_rate:.3g} s at {self.sample_rate:g} Hz "
                                        "(delay-line memory)")
        self._size = 1 << int(math.ceil(math.log2(need)))
        min_delay = (self.taps // 2) / self.sample_rate
        d0 = float(np.asarray(profile.delay(self.epoch)))
        vis = getattr(profile, "visible", None)
        if callable(vis) and not bool(np.asarray(vis(self.epoch))):
            d0 = min(max(d0, min_delay), self.max_delay)  # a hidden link delivers noise: no delay limits
        if d0 < min_delay:
            raise ConfigError.bad_value("profile.delay", d0, f">= {min_delay:.6g} s (taps/2 = {self.taps // 2} "
                                        f"samples at {self.sample_rate:g} Hz: the interpolator looks ahead)")
        if d0 > self.max_delay:
            raise ConfigError.bad_value("profile.delay", d0, f"<= max_delay = {self.max_delay:g} s (raise max_delay)")
        self._kernel = load("_delayline")
        self._has_gain = callable(getattr(profile, "gain_db", None))
        self._has_vis = callable(getattr(profile, "visible", None))
        self._has_disc = callable(getattr(profile, "discontinuities", None))
        self.reset()

    # ----------------------------------------------------------------- state
    def reset(self) -> None:
        """Empty the delay line (input before the first sample is zero), restart the clock and the noise."""
        self._coef_cache = None  # (first segment, dcoef, pcoef) of _coefficients, and its look-ahead
        self._coef_ahead = 0
        self._cut_cache = None  # ((piece length, start mod segment), cut offsets): see _cut_offsets
        if getattr(self, "_ring", None) is None:
            self._ring = np.zeros(self._size + self.taps, np.complex64)
        else:
            self._ring.fill(0)  # reuse the (possibly large) delay line
        self._n = 0

    def skip_to(self, n: int) -> None:
        """Jump the clock forward to sample ``n`` without computing the samples in between.

        The delay line is cleared (the input before ``n`` reads as zero from now on) and the clock set
        to ``n``; nothing passes through the kernel, so the cost does not depend on the gap. The output
        from ``n`` on is then exactly what streaming zeros up to ``n`` would have given (same noise:
        it is a function of the sample index) provided the last input samples before the jump that are
        still inside the channel's memory (largest path delay + taps) were zeros - the caller runs
        that tail through :meth:`process` first (``hil.emulator.link.Link.skip_to`` does).
        """
        n = int(n)
        if n < self._n:
            raise ConfigError.bad_value("skip_to", n, f">= the current sample index {self._n} (the clock "
                                        "only moves forward)")
        if n > self._n:
            self._ring.fill(0)
            self._n = n

    @property
    def sample_index(self) -> int:
        """Absolute index of the next input/output sample (samples since the epoch)."""
        return self._n

    @property
    def time(self) -> float:
        """Profile time of the next sample, ``epoch + n / fs`` (s)."""
        return self.epoch + self._n / self.sample_rate

    @property
    def kernel(self):
        return self._kernel

    def state_at(self, n: int | None = None) -> dict:
        """Delay (s), Doppler (Hz, of the direct path), gain (dB) and visibility at sample ``n``."""
        n = self._n if n is None else int(n)
        t = self.epoch + n / self.sample_rate
        p = self.profile
        return {
            "t": t,
            "delay_s": float(np.asarray(p.delay(t))),
            "doppler_hz": float(-self.carrier * np.asarray(p.delay_rate(t))),
            "gain_db": float(np.asarray(p.gain_db(t))) if self._has_gain else 0.0,
            "visible": bool(np.asarray(p.visible(t))) if self._has_vis else True,
        }

    # ----------------------------------------------------------------- coefficients
    # Segments whose coefficients may be computed ahead at most: the profile is evaluated on arrays,
    # so one call for 256 segments costs about what one call for a 64-segment chunk did (~0.1 ms).
    _COEF_BATCH = 256

    def _coefficients(self, n0: int, m: int):
        """``(seg0, dcoef, pcoef)`` for samples ``n0 .. n0 + m - 1``, served from a cache filled ahead of
        the stream (each row is a function of its segment index alone, so the output does not change).
        The look-ahead doubles while calls follow each other (up to :attr:`_COEF_BATCH` segments) and
        falls back to a few times the call's length after a jump (bursts separated by skips do not pay
        for segments they never use). If evaluating the profile ahead raises (e.g. a track that ends
        there), the exact range is evaluated instead."""
        S = self.segment
        s0 = n0 // S
        s1 = (n0 + m - 1) // S
        nseg = s1 - s0 + 1
        c = self._coef_cache
        if c is not None and c[0] <= s0 and s1 < c[0] + c[1].shape[0]:
            a, b = s0 - c[0], s1 - c[0] + 1
            return s0, c[1][a:b], c[2][a:b]
        contiguous = c is not None and c[0] <= s0 <= c[0] + c[1].shape[0]
        self._coef_ahead = min(self._COEF_BATCH, 2 * self._coef_ahead) if contiguous else 3 * nseg
        ahead = s1 + min(self._coef_ahead, self._COEF_BATCH)
        try:
            _, dcoef, pcoef = self._coefficients_span(s0, ahead)
        except Exception:  # noqa: BLE001 - the exact range below raises the real error, if any
            _, dcoef, pcoef = self._coefficients_span(s0, s1)
        self._coef_cache = (s0, dcoef, pcoef, None)  # the last: delay bounds, see _delay_bounds
        return s0, dcoef[:nseg], pcoef[:nseg]

    def _delay_bounds(self):
        """Per row of the coefficient cache, the (lowest, highest) delay in samples of the active paths,
        e0 -+ (|e1| S + |e2| S^2 + |e3| S^3), and the same over the whole cache; computed once per
        cache fill."""
        c = self._coef_cache
        if c[3] is None:
            S = float(self.segment)
            d, p = c[1], c[2]
            spread = np.abs(d[:, 1::4]) * S + np.abs(d[:, 2::4]) * S * S + np.abs(d[:, 3::4]) * S ** 3
            off = p[:, 0::8] == -np.inf
            lo = np.where(off, np.inf, d[:, 0::4] - spread).min(axis=1)
            hi = np.where(off, -np.inf, d[:, 0::4] + spread).max(axis=1)
            self._coef_cache = c = (*c[:3], (lo, hi, float(lo.min()), float(hi.max())))
        return c[3]

    def _own_write(self, seg0: int, nseg: int, m: int) -> bool:
        """Whether each range of an ``m``-sample piece over segments ``seg0 ..`` (``nseg`` of them, inside
        the coefficient cache) may write its own input into the ring as it goes: no output of the
        piece reads an input of the piece (the delay exceeds the piece) and no range overwrites
        history another still reads (the delay stays a piece short of the ring). The whole cache's
        bounds decide most calls without slicing."""
        lo_ok = m + self.taps
        hi_ok = self._size - m - 2 * self.taps - self.segment
        lo, hi, lo_all, hi_all = self._delay_bounds()
        if lo_all >= lo_ok and hi_all <= hi_ok:
            return True
        a = seg0 - self._coef_cache[0]
        return float(lo[a:a + nseg].min()) >= lo_ok and float(hi[a:a + nseg].max()) <= hi_ok

    def _coefficients_span(self, s0: int, s1: int):
        """Delay and weight coefficients of segments ``s0 .. s1`` (see ``_delayline.pyx``)."""
        S = self.segment
        fs = self.sample_rate
        nseg = s1 - s0 + 1
        edges = np.arange(s0, s1 + 2, dtype=np.float64) * S
        t = self.epoch + edges / fs
        p = self.profile
        tau = _as_array(p.delay(t), nseg + 1)
        rate = _as_array(p.delay_rate(t), nseg + 1)
        gdb = _as_array(p.gain_db(t), nseg + 1) if self._has_gain else np.zeros(nseg + 1)
        vis = np.asarray(_as_array(p.visible(t[:-1]), nseg), dtype=bool) if self._has_vis \
            else np.ones(nseg, bool)
        tau_a, tau_b = tau[:-1], tau[1:]
        m_a, m_b = rate[:-1], rate[1:]
        dD = fs * (tau_b - tau_a)
        a2 = (3.0 * dD / S - 2.0 * m_a - m_b) / S
        a3 = (m_a + m_b - 2.0 * dD / S) / (S * S)
        g1 = (gdb[1:] - gdb[:-1]) * _LN10_20 / S
        if self._has_disc:
            # A segment holding a jump (handover) keeps the values of its start: the jump lands on
            # the next segment boundary instead of being smeared by the fit.
            for td in p.discontinuities(float(t[0]), float(t[-1])):
                k = int(math.floor((float(td) - self.epoch) * fs / S)) - s0
                if 0 <= k < nseg:
                    a2[k] = 0.0
                    a3[k] = 0.0
                    g1[k] = 0.0
        D_a = fs * tau_a
        ratio = self.carrier / fs
        base_phase = np.mod(-self.carrier * tau_a, 1.0)
        npath = len(self._paths)
        dcoef = np.empty((nseg, 4 * npath))
        pcoef = np.empty((nseg, 8 * npath))
        seg_start = np.arange(s0, s1 + 1, dtype=np.int64) * S
        g0 = gdb[:-1] * _LN10_20
        for i, (g, d, nu) in enumerate(self._paths):
            dcoef[:, 4 * i] = D_a + d
            dcoef[:, 4 * i + 1] = m_a
            dcoef[:, 4 * i + 2] = a2
            dcoef[:, 4 * i + 3] = a3
            amp = abs(g)
            pcoef[:, 8 * i] = np.where(vis & (amp > 0), g0 + (math.log(amp) if amp > 0 else 0.0), -np.inf)
            pcoef[:, 8 * i + 1] = g1
            pcoef[:, 8 * i + 2] = 0.0
            pcoef[:, 8 * i + 3] = 0.0
            # nu * seg_start wrapped in integer-safe pieces so large sample counts keep the phase exact.
            nu_phase = np.mod(nu * (seg_start % (1 << 24)), 1.0) + np.mod(
                np.mod(nu * (1 << 24), 1.0) * (seg_start >> 24), 1.0)
            pcoef[:, 8 * i + 4] = np.mod(base_phase + nu_phase + math.atan2(g.imag, g.real) / (2 * math.pi), 1.0)
            pcoef[:, 8 * i + 5] = -ratio * m_a + nu
            pcoef[:, 8 * i + 6] = -ratio * a2
            pcoef[:, 8 * i + 7] = -ratio * a3
        return s0, dcoef, pcoef

    # ----------------------------------------------------------------- processing
    def process(self, x, out=None) -> np.ndarray:
        """Pass the next ``len(x)`` samples through the channel; returns complex64 of the same length.

        ``out``: optional preallocated C-contiguous complex64 array of ``len(x)`` (e.g. a view into a
        message buffer) that receives the result.
        """
        x = np.ascontiguousarray(x, dtype=np.complex64)
        if x.ndim != 1:
            raise ConfigError.bad_value("x.ndim", x.ndim, "1 (a 1-D stream)")
        m = x.shape[0]
        if out is None:
            out = np.empty(m, np.complex64)
        elif not (isinstance(out, np.ndarray) and out.dtype == np.complex64 and out.shape == (m,)
                  and out.flags.c_contiguous and out.flags.writeable):
            raise ConfigError.bad_value("out", getattr(out, "shape", out),
                                        f"a writeable C-contiguous complex64 array of shape ({m},)")
        if m == 0:
            return out
        if self.threads > 1:
            P = self._piece
            for a in range(0, m, P):
                # the next piece's length: this call's next piece, else a call like this one
                nxt = min(P, m - a - P) if a + P < m else min(P, m)
                self._process_threaded(x[a:a + P], out[a:a + P], nxt)
            return out
        n0 = self._n
        seg0, dcoef, pcoef = self._coefficients(n0, m)
        status, where = self._kernel.run(x, out, self._ring, n0, dcoef, pcoef, seg0, self.segment,
                                         self._ktab, self._noise_key, self._noise_amp)
        if status != 0:
            self._raise(status, where)
        self._n = n0 + m
        return out

    def _process_threaded(self, x, out, m_next):
        """One piece (<= the ring's slack): write it to the ring if needed, then compute its ranges of
        output samples at once on the kernel's pool (``threads - 1`` workers and the calling thread).
        While the workers start on them, the calling thread fills the coefficients of the next
        ``m_next`` samples if the cache lacks them (the profile is Python: evaluated serially between
        pieces it was most of the serial part), then takes the ranges left. The output is
        bit-identical to the serial path's: every sample's value depends only on its absolute index
        (see ``_delayline.pyx``)."""
        m = x.shape[0]
        n0 = self._n
        n_end = n0 + m
        S = self.segment
        seg0, dcoef, pcoef = self._coefficients(n0, m)
        # Each range writes its own input into the ring as it goes (no serial copy first) where that
        # is safe (any LEO link at a chunk of 64 Ki samples); otherwise the whole piece is written
        # before the ranges start.
        own_write = self._own_write(seg0, dcoef.shape[0], m)
        if not own_write and self._kernel.write(x, self._ring, n0, self.taps) != 0:  # pragma: no cover
            raise ConfigError(f"delay line: piece of {m} samples does not fit the ring")
        written_end = -1 if own_write else n_end
        # the ranges: see _cut_offsets
        key = (m, n0 % S)
        if self._cut_cache is None or self._cut_cache[0] != key:
            self._cut_cache = (key, self._cut_offsets(n0, m))
        cuts = [n0 + o for o in self._cut_cache[1]]
        if self._pool is None:
            self._pool = self._kernel.Pool(self.threads - 1)
        r = self._pool.start(x, out, self._ring, n0, dcoef, pcoef, seg0, S, self._ktab, self._noise_key,
                             self._noise_amp, written_end, cuts)
        if r is None:
            try:
                self._prefetch(n_end, m_next)
            finally:
                r = self._pool.finish()
        status, where = r
        if status != 0:
            self._raise(status, where)
        self._n = n_end

    def _cut_offsets(self, n0: int, m: int) -> list:
        """Where a piece of ``m`` samples from ``n0`` is cut, relative to ``n0`` (a function of ``m`` and
        ``n0 mod segment`` alone, cached by the caller). Ranges of whole segments (a range that starts
        inside a segment first advances its weight lanes from the boundary), guided: each takes
        1 / (2 threads) of what is left, at least 2 segments, so the pool hands big ranges out first and
        the thread done first waits at most a short one for the last; the pool gives them to threads as
        they come free, so a thread that starts late (a busy core) takes fewer. A piece of fewer than
        16 segments per thread is cut into 4 equal ranges per thread."""
        S, T = self.segment, self.threads
        end = n0 + m
        cuts = []
        if m >= 16 * S * T:
            pos = n0
            while True:
                c = -(-(pos + max((end - pos) // (2 * T), 2 * S)) // S) * S
                if c > end - 2 * S:
                    break
                cuts.append(c)
                pos = c
        else:
            k = 4 * T
            for i in range(1, k):
                c = n0 + m * i // k
                if n0 < c < end and (not cuts or c > cuts[-1]):
                    cuts.append(c)
        return [c - n0 for c in cuts]

    def _prefetch(self, n0: int, m: int) -> None:
        """Fill the coefficient cache (and its delay bounds) for samples ``n0 .. n0 + m - 1`` ahead of
        their call. A profile that cannot be evaluated there is left for that call to report."""
        try:
            self._coefficients(n0, m)
            self._delay_bounds()
        except Exception:  # noqa: BLE001 - the call for these samples raises the real error, if any
            return

    def close(self) -> None:
        """Stop the worker threads (threaded mode); the block stays usable (they restart on demand)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def _raise(self, status, where):
        t = self.epoch + where / self.sample_rate
        d = float(np.asarray(self.profile.delay(t)))
        if status == -1:
            raise ConfigError.bad_value("delay", d, f">= {self.taps // 2 / self.sample_rate:.6g} s "
                                        f"(taps/2 samples) at sample {where} (t = {t:.6f} s)")
        if status == -2:
            raise ConfigError.bad_value("delay", d, f"<= max_delay = {self.max_delay:g} s (plus path delays) "
                                        f"at sample {where} (t = {t:.6f} s); raise max_delay")
        raise ConfigError(f"delay line kernel: inconsistent arrays (status {status})")

    def __repr__(self) -> str:
        return (f"ChannelStream(sample_rate={self.sample_rate:g} Hz, carrier={self.carrier:g} Hz, "
                f"paths={len(self._paths)}, noise_power={self.noise_power:g}, taps={self.taps}, "
                f"segment={self.segment}, max_delay={self.max_delay:g} s, n={self._n}, "
                f"profile={self.profile!r}, kernel={self._kernel.__name__})")


class TimeVaryingDelay(ChannelStream):
    """Just the delay line (+ carrier phase when ``carrier > 0``): one path, no noise."""

    def __init__(self, sample_rate: float, profile, *, carrier: float = 0.0, epoch: float = 0.0,
                 max_delay: float = 0.02, taps: int = 16, phases: int = 4096, band: float = 0.4,
                 segment: int = 1024):
        super().__init__(sample_rate, carrier, profile, epoch=epoch, max_delay=max_delay, taps=taps,
                         phases=phases, band=band, segment=segment)
