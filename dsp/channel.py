"""The discrete doubly-dispersive channel: THE one channel model of the project.

A channel is a sum of paths, each with a complex gain ``g``, a delay ``tau`` in samples (>= 0, may be
fractional) and a Doppler shift ``nu`` in cycles/sample (``nu = f_D / f_s``)::

    y[n] = sum_i g_i exp(j 2 pi nu_i n) x(n - tau_i),     x(m) = 0 for m < 0 and m >= len(x)

``n`` is the index in the array given to :meth:`DoublyDispersiveChannel.apply` (index 0 is the first
sample of that array, e.g. the first cyclic-prefix sample of a frame): the Doppler phase is referenced
there. The channel is linear (not circular); a cyclic prefix makes it look circular to a modem.

Fractional delays use band-limited interpolation: a Kaiser-windowed sinc (beta = 8) with
``2 * INTERP_HALF_WIDTH = 32`` taps centred on the delay,
``x(n - tau) ~= sum_t x(n - d - t) sinc(t - f) w(t - f)`` for ``tau = d + f`` (``0 < f < 1``),
``t = -15..16``. It is exact for integer delays (one tap of 1) and accurate for signals band-limited
well inside +/- f_s / 2; the interpolator looks 15 samples ahead, so it spreads energy of a path up to
15 samples before ``tau`` (a cyclic prefix must cover ``ceil(tau) + 16`` samples to absorb it fully).

Doppler here is a pure frequency shift (the narrowband model of the modem papers); the time
compression of a wideband LEO link is the emulator's business, which composes this same Path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dsp._kernels import load
from dsp.errors import ConfigError, check_range

__all__ = ["Path", "DoublyDispersiveChannel", "add_awgn", "INTERP_HALF_WIDTH", "fractional_delay_taps"]

INTERP_HALF_WIDTH = 16
_KAISER_BETA = 8.0


@dataclass(frozen=True)
class Path:
    """One propagation path.

    gain : complex amplitude (linear, not dB).
    delay : delay in samples (>= 0, may be fractional).
    doppler : normalised Doppler shift in cycles/sample (``f_D / f_s``), |doppler| <= 0.5.
    """

    gain: complex
    delay: float
    doppler: float

    def __post_init__(self):
        g = complex(self.gain)
        if not (math.isfinite(g.real) and math.isfinite(g.imag)):
            raise ConfigError.bad_value("gain", self.gain, "a finite complex number")
        check_range("delay", float(self.delay), lo=0.0, unit="samples")
        if not math.isfinite(float(self.delay)):
            raise ConfigError.bad_value("delay", self.delay, "a finite number >= 0 samples")
        check_range("doppler", float(self.doppler), lo=-0.5, hi=0.5, unit="cycles/sample")
        object.__setattr__(self, "gain", g)
        object.__setattr__(self, "delay", float(self.delay))
        object.__setattr__(self, "doppler", float(self.doppler))


def fractional_delay_taps(delay: float) -> tuple[int, np.ndarray]:
    """(offset, taps) with ``x(n - delay) ~= sum_t taps[t] x(n - offset - t)``.

    Integer delays give ``(delay, [1.0])``; fractional ones the 32-tap Kaiser-windowed sinc described in
    the module docstring.
    """
    d = math.floor(delay)
    f = delay - d
    if f == 0.0:
        return int(d), np.ones(1)
    w = INTERP_HALF_WIDTH
    t = np.arange(-w + 1, w + 1)
    u = t - f  # in (-W, W)
    win = np.i0(_KAISER_BETA * np.sqrt(np.clip(1.0 - (u / w) ** 2, 0.0, None))) / np.i0(_KAISER_BETA)
    return int(d) - w + 1, np.sinc(u) * win


class DoublyDispersiveChannel:
    """Sum of delayed, Doppler-shifted paths (see the module docstring for the exact model).

    Parameters
    ----------
    paths : iterable of :class:`Path` (or ``(gain, delay, doppler)`` tuples)
        delay in samples, doppler in cycles/sample. An empty list is the zero channel.
    """

    def __init__(self, paths):
        ps = []
        for i, p in enumerate(paths):
            if not isinstance(p, Path):
                try:
                    g, d, nu = p
                except (TypeError, ValueError):
                    raise ConfigError.bad_value(f"paths[{i}]", p, "a Path or a (gain, delay, doppler) tuple") \
                        from None
                p = Path(g, d, nu)
            ps.append(p)
        self.paths = tuple(ps)
        self._kernel = load("_chanop")
        n = len(ps)
        self._gains = np.array([p.gain for p in ps], np.complex128)
        self._dopplers = np.array([p.doppler for p in ps], np.float64)
        firs = [fractional_delay_taps(p.delay) for p in ps]
        self._offsets = np.array([o for o, _ in firs], np.int64)
        self._ntaps = np.array([len(h) for _, h in firs], np.int64)
        self._taps = np.zeros((n, max([len(h) for _, h in firs], default=1)))
        for i, (_, h) in enumerate(firs):
            self._taps[i, : len(h)] = h

    # ----------------------------------------------------------------- constructors
    @classmethod
    def from_dd_bins(cls, delay_bins, doppler_bins, gains, M: int, N: int) -> DoublyDispersiveChannel:
        """Paths on an OTFS grid: ``tau = l`` samples, ``nu = k / (M N)`` cycles/sample.

        The Doppler bin is ``1 / (N T)`` with ``T = M / f_s`` (one CP per frame, one sample per delay bin);
        ``k`` may be fractional.
        """
        check_range("M", M, lo=1)
        check_range("N", N, lo=1)
        ls, ks, gs = (np.atleast_1d(np.asarray(a)) for a in (delay_bins, doppler_bins, gains))
        if not (ls.shape == ks.shape == gs.shape) or ls.ndim != 1:
            raise ConfigError.bad_value("delay_bins/doppler_bins/gains shapes", (ls.shape, ks.shape, gs.shape),
                                        "three 1-D sequences of equal length")
        return cls([Path(complex(g), float(l), float(k) / (M * N)) for l, k, g in zip(ls, ks, gs)])

    @classmethod
    def rayleigh(cls, rng: np.random.Generator, delays, dopplers, powers=None) -> DoublyDispersiveChannel:
        """Rayleigh paths: gain_i ~ CN(0, p_i), powers normalised to a unit total (equal by default).

        delays in samples, dopplers in cycles/sample, powers linear (any positive scale).
        """
        if not isinstance(rng, np.random.Generator):
            raise ConfigError.bad_value("rng", type(rng).__name__, "a numpy.random.Generator")
        d = np.atleast_1d(np.asarray(delays, float))
        nu = np.atleast_1d(np.asarray(dopplers, float))
        if d.shape != nu.shape or d.ndim != 1 or d.size == 0:
            raise ConfigError.bad_value("delays/dopplers", (d.shape, nu.shape), "equal-length non-empty 1-D")
        p = np.ones(d.size) if powers is None else np.atleast_1d(np.asarray(powers, float))
        if p.shape != d.shape or np.any(~(p > 0)):
            raise ConfigError.bad_value("powers", powers, f"{d.size} positive numbers")
        p = p / p.sum()
        g = np.sqrt(p / 2) * (rng.standard_normal(d.size) + 1j * rng.standard_normal(d.size))
        return cls([Path(gi, di, ni) for gi, di, ni in zip(g, d, nu)])

    # ----------------------------------------------------------------- properties
    @property
    def max_delay(self) -> float:
        """Largest path delay in samples (0 for the empty channel)."""
        return max((p.delay for p in self.paths), default=0.0)

    @property
    def support(self) -> tuple[int, int]:
        """(lo, hi): y[n] depends on x[n - hi .. n - lo] (interpolator spread included), in samples."""
        if not self.paths:
            return 0, 0
        lo = int(self._offsets.min())
        hi = int(max(o + t - 1 for o, t in zip(self._offsets, self._ntaps)))
        return lo, hi

    def interpolation_filters(self) -> list[tuple[int, np.ndarray]]:
        """Per path ``(offset, taps)``: ``x(n - tau) ~= sum_t taps[t] x(n - offset - t)`` (see module doc)."""
        return [(int(o), self._taps[i, : int(t)].copy()) for i, (o, t) in enumerate(zip(self._offsets, self._ntaps))]

    def path_responses(self, freqs) -> np.ndarray:
        """Delay response of each path's filter, ``sum_t taps[t] exp(-j 2 pi f (offset + t))``, at the
        frequencies ``freqs`` (cycles/sample): complex128 (P, len(freqs)); gains and Doppler not included."""
        f = np.atleast_1d(np.asarray(freqs, float))
        if not self.paths:
            return np.zeros((0, f.size), np.complex128)
        lag = self._offsets[:, None] + np.arange(self._taps.shape[1])[None, :]  # (P, T); padded taps are 0
        return np.einsum("pt,ptf->pf", self._taps, np.exp(-2j * np.pi * lag[:, :, None] * f[None, None, :]))

    @property
    def is_integer(self) -> bool:
        """True when every delay is a whole number of samples."""
        return all(float(p.delay).is_integer() for p in self.paths)

    # ----------------------------------------------------------------- operator
    def apply(self, x) -> np.ndarray:
        """Pass ``x`` through the channel: complex128 of the same shape.

        ``x`` is 1-D (one array) or 2-D (rows are independent arrays, each with its own index 0).
        """
        xa = np.asarray(x)
        if xa.ndim not in (1, 2):
            raise ConfigError.bad_value("x.ndim", xa.ndim, "1 or 2 (rows = independent arrays)")
        x2 = np.ascontiguousarray(xa.reshape(-1, xa.shape[-1]) if xa.ndim == 2 else xa[None, :],
                                  dtype=np.complex128)
        out = np.zeros_like(x2)
        if self.paths and x2.shape[1]:
            self._kernel.apply(x2, out, self._gains, self._dopplers, self._offsets, self._ntaps, self._taps)
        return out.reshape(xa.shape)

    __call__ = apply

    def dense(self, n: int) -> np.ndarray:
        """The (n, n) complex128 matrix H with ``apply(x) == H @ x`` for len(x) == n (tests, small n)."""
        check_range("n", n, lo=0)
        n = int(n)
        H = np.zeros((n, n), np.complex128)
        rows = np.arange(n)
        for i in range(len(self.paths)):
            rot = self._gains[i] * np.exp(2j * np.pi * np.mod(self._dopplers[i] * rows, 1.0))
            for t in range(int(self._ntaps[i])):
                cols = rows - int(self._offsets[i]) - t
                ok = (cols >= 0) & (cols < n)
                H[rows[ok], cols[ok]] += rot[ok] * self._taps[i, t]
        return H

    def __repr__(self) -> str:
        body = ", ".join(f"({p.gain:.3g}, tau={p.delay:g}, nu={p.doppler:.4g})" for p in self.paths)
        return f"DoublyDispersiveChannel([{body}], kernel={self._kernel.__name__})"


def add_awgn(x, noise_var: float, rng: np.random.Generator) -> np.ndarray:
    """x + n with n ~ CN(0, noise_var) i.i.d. per sample (E|n|^2 = noise_var), complex128."""
    check_range("noise_var", float(noise_var), lo=0.0)
    x = np.asarray(x)
    s = np.sqrt(noise_var / 2)
    return x + s * (rng.standard_normal(x.shape) + 1j * rng.standard_normal(x.shape))
