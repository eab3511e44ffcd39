"""Signal statistics of a transmitter: PAPR CCDF, Welch PSD, occupied bandwidth, ACLR, spectral mask.

Frequencies are in units of the sample rate of the array given (cycles/sample, -0.5..0.5) unless a
``fs`` is passed; powers are linear unless the name says dB.

* **PAPR** of a window = ``max |x|^2 / P_ref`` over the window, with ``P_ref`` the long-run mean power
  (1 for the modems' unit-energy frames; by default the mean over all windows). The CCDF is
  ``P(PAPR > gamma)`` over windows. Closed form for N Nyquist-rate samples of a complex Gaussian
  (Rayleigh envelope) signal, i.e. OFDM with N >= 64 subcarriers: ``1 - (1 - exp(-gamma))^N``
  (van Nee and Prasad, "OFDM for wireless multimedia communications", 2000) - :func:`papr_ccdf_rayleigh`.
* **Continuous-time signal** (:func:`block_interpolate`): PAPR and out-of-band emission are properties
  of the analogue signal, not of the Nyquist-rate samples. A block transmitter (OFDM symbol, OTFS block,
  GFDM/AFDM/ODDM frame body) defines its signal as a *periodic* band-limited function over each block
  body plus the cyclic prefix copied from it; zero-padding each body's DFT by ``L`` gives exactly that
  signal sampled ``L`` times faster (e.g. OFDM's rectangular-windowed subcarriers and their sinc
  sidelobes). :func:`block_decimate` is its exact inverse (keeps the body's own band).
* **PSD**: ``scipy.signal.welch`` (Hann window, two-sided, centred).
* **Occupied bandwidth** (99 %): the band between the 0.5 % and 99.5 % points of the cumulative
  power (ITU-R SM.328, the "beta/2" rule).
* **ACLR**: power in the adjacent channel (same width, centred ``+/- spacing`` from the carrier) over
  the power in the main channel; the worse of the two sides is reported (dB).
* **Spectral mask**: piecewise-constant limits in dB relative to the mean in-channel PSD;
  :func:`mask_check` returns the worst margin (negative = violated).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from dsp.errors import ConfigError, check_range

__all__ = ["papr_windows", "ccdf", "ccdf_level", "papr_ccdf_rayleigh", "papr_rayleigh_level",
           "block_interpolate", "block_decimate", "welch_psd", "occupied_bandwidth", "aclr_db",
           "band_power", "mask_check", "SpectralMask"]


# --------------------------------------------------------------------------- PAPR
def papr_windows(x, window: int, ref_power: float | None = None) -> np.ndarray:
    """PAPR (linear) of consecutive windows of ``window`` samples along the last axis of ``x``
    (a trailing partial window is dropped). ``ref_power`` default: mean |x|^2 over all samples."""
    x = np.asarray(x)
    window = int(check_range("window", int(window), lo=1))
    if x.shape[-1] < window:
        raise ConfigError.bad_value("len(x)", x.shape[-1], f">= window = {window}")
    n = x.shape[-1] // window
    p = np.abs(x[..., : n * window]) ** 2
    ref = float(np.mean(p)) if ref_power is None else float(ref_power)
    if not ref > 0:
        raise ConfigError.bad_value("ref_power", ref, "> 0")
    return (p.reshape(*p.shape[:-1], n, window).max(axis=-1) / ref).ravel()


def ccdf(values, levels) -> np.ndarray:
    """Empirical ``P(value > level)`` at each level."""
    v = np.sort(np.asarray(values, float).ravel())
    lv = np.asarray(levels, float)
    return 1.0 - np.searchsorted(v, lv, side="right") / v.size


def ccdf_level(values, prob: float) -> float:
    """The level exceeded with probability ``prob`` (the empirical ``1 - prob`` quantile)."""
    check_range("prob", prob, lo=0.0, hi=1.0)
    v = np.asarray(values, float).ravel()
    if v.size * prob < 5:
        raise ConfigError.bad_value("len(values)", v.size, f">= {math.ceil(5 / prob)} for a {prob:g} level")
    return float(np.quantile(v, 1.0 - prob))


def papr_ccdf_rayleigh(gamma, n: int) -> np.ndarray:
    """Closed form ``1 - (1 - exp(-gamma))^n``: PAPR CCDF of n i.i.d. Rayleigh-envelope samples
    (``gamma`` linear, mean power 1)."""
    g = np.asarray(gamma, float)
    return -np.expm1(n * np.log1p(-np.exp(-g)))


def papr_rayleigh_level(prob: float, n: int) -> float:
    """Closed-form PAPR (linear) exceeded with probability ``prob``: ``-ln(1 - (1 - prob)^(1/n))``."""
    return float(-math.log(-math.expm1(math.log1p(-prob) / n)))


# --------------------------------------------------------------------------- continuous-time signal
def _segments(layout: Sequence[tuple[int, int]], length: int):
    pos = 0
    out = []
    for cp, body in layout:
        cp, body = int(cp), int(body)
        if cp < 0 or body < 1 or cp > body:
            raise ConfigError.bad_value("layout", (cp, body), "(cp, body) with body >= 1 and 0 <= cp <= body")
        out.append((pos, cp, body))
        pos += cp + body
    if pos != length:
        raise ConfigError.bad_value("frame length", length, f"{pos} (the sum of the layout's cp + body)")
    return out


def _zero_pad_spectrum(X, L):
    """Spectrum (..., n) in FFT order -> (..., n L) with the band kept in place; the Nyquist bin of an
    even n is split between +n/2 and -n/2 (so that :func:`block_decimate` inverts it exactly)."""
    n = X.shape[-1]
    if L == 1:
        return np.array(X, np.complex128)
    out = np.zeros((*X.shape[:-1], n * L), np.complex128)
    h = n // 2
    if n % 2:
        out[..., : h + 1] = X[..., : h + 1]
        if h:
            out[..., n * L - h:] = X[..., h + 1:]
    else:
        out[..., :h] = X[..., :h]
        if h > 1:
            out[..., n * L - h + 1:] = X[..., h + 1:]
        out[..., h] = X[..., h] / 2
        out[..., n * L - h] = X[..., h] / 2
    return out


def _fold_spectrum(Y, n, L):
    """Inverse of :func:`_zero_pad_spectrum`: (..., n L) -> (..., n)."""
    if L == 1:
        return Y
    X = np.empty((*Y.shape[:-1], n), np.complex128)
    h = n // 2
    if n % 2:
        X[..., : h + 1] = Y[..., : h + 1]
        if h:
            X[..., h + 1:] = Y[..., n * L - h:]
    else:
        X[..., :h] = Y[..., :h]
        if h > 1:
            X[..., h + 1:] = Y[..., n * L - h + 1:]
        X[..., h] = Y[..., h] + Y[..., n * L - h]
    return X


def block_interpolate(frames, layout: Sequence[tuple[int, int]], L: int) -> np.ndarray:
    """The continuous-time signal of block frames, ``L`` samples per original sample.

    ``frames`` (..., frame_length); ``layout``: the frame's blocks as ``(cp, body)`` sample counts in
    order (e.g. OFDM ``[(cp, M)] * N``, OTFS with a frame CP ``[(cp, M)] + [(0, M)] * (N - 1)``,
    one body ``[(cp, n)]``). Each body is interpolated as a periodic band-limited signal (DFT
    zero-padding) and its prefix is the last ``L cp`` samples of the interpolated body. The samples
    at multiples of ``L`` are the input samples (for a prefix that is a cyclic copy of its body).
    """
    x = np.asarray(frames)
    L = int(check_range("L", int(L), lo=1))
    segs = _segments(layout, x.shape[-1])
    out = np.empty((*x.shape[:-1], x.shape[-1] * L), np.complex128)
    # blocks of equal (cp, body) are done in one FFT call
    for (cp, body), group in _group(segs):
        starts = np.array([p for p, _, _ in group])
        idx = starts[:, None] + cp + np.arange(body)[None, :]
        B = np.fft.fft(x[..., idx], axis=-1)
        b = np.fft.ifft(_zero_pad_spectrum(B, L), axis=-1) * L
        for j, p in enumerate(starts):
            o = p * L
            out[..., o + cp * L: o + (cp + body) * L] = b[..., j, :]
            if cp:
                out[..., o: o + cp * L] = b[..., j, (body - cp) * L:]
    return out


def block_decimate(frames_os, layout: Sequence[tuple[int, int]], L: int) -> np.ndarray:
    """Inverse of :func:`block_interpolate`: per block body, keep its own band and resample at 1 / L
    (the ideal receive filter of the block); prefixes are dropped and re-made as cyclic copies."""
    y = np.asarray(frames_os)
    L = int(check_range("L", int(L), lo=1))
    if y.shape[-1] % L:
        raise ConfigError.bad_value("len(frames_os)", y.shape[-1], f"a multiple of L = {L}")
    segs = _segments(layout, y.shape[-1] // L)
    out = np.empty((*y.shape[:-1], y.shape[-1] // L), np.complex128)
    for (cp, body), group in _group(segs):
        starts = np.array([p for p, _, _ in group])
        idx = (starts[:, None] + cp) * L + np.arange(body * L)[None, :]
        Y = np.fft.fft(y[..., idx], axis=-1) / L
        X = _fold_spectrum(Y, body, L)
        b = np.fft.ifft(X, axis=-1)
        for j, p in enumerate(starts):
            out[..., p + cp: p + cp + body] = b[..., j, :]
            if cp:
                out[..., p: p + cp] = b[..., j, body - cp:]
    return out


def _group(segs):
    groups: dict = {}
    for s in segs:
        groups.setdefault((s[1], s[2]), []).append(s)
    return groups.items()


# --------------------------------------------------------------------------- spectrum
def welch_psd(x, fs: float = 1.0, nperseg: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided Welch PSD (Hann, 50 % overlap) of a 1-D signal, frequency axis centred:
    ``(f, psd)`` with f in units of ``fs``; ``sum(psd) * df`` = mean power."""
    from scipy.signal import welch

    x = np.asarray(x).ravel()
    nperseg = int(check_range("nperseg", int(nperseg), lo=8))
    if x.size < nperseg:
        raise ConfigError.bad_value("len(x)", x.size, f">= nperseg = {nperseg}")
    f, p = welch(x, fs=fs, window="hann", nperseg=nperseg, return_onesided=False, detrend=False,
                 scaling="density")
    return np.fft.fftshift(f), np.fft.fftshift(p)


def band_power(f, psd, lo: float, hi: float) -> float:
    """Power between ``lo`` and ``hi`` (same units as f), bins weighted by their overlap with the band."""
    f = np.asarray(f, float)
    psd = np.asarray(psd, float)
    df = f[1] - f[0]
    left = np.clip((f + df / 2) - lo, 0, df)
    right = np.clip(hi - (f - df / 2), 0, df)
    w = np.minimum(np.minimum(left, right), df)
    return float(np.sum(psd * w))


def occupied_bandwidth(f, psd, fraction: float = 0.99) -> float:
    """Width between the ``(1 - fraction)/2`` and ``(1 + fraction)/2`` points of the cumulative power."""
    check_range("fraction", fraction, lo=0.0, hi=1.0)
    f = np.asarray(f, float)
    c = np.cumsum(np.asarray(psd, float))
    c = c / c[-1]
    lo = np.interp((1 - fraction) / 2, c, f)
    hi = np.interp((1 + fraction) / 2, c, f)
    return float(hi - lo)


def aclr_db(f, psd, channel_bw: float, spacing: float | None = None) -> float:
    """Adjacent-channel leakage ratio (dB, the worse side): adjacent power / main-channel power for
    channels of width ``channel_bw`` centred at 0 and ``+/- spacing`` (default ``channel_bw``)."""
    spacing = channel_bw if spacing is None else spacing
    main = band_power(f, psd, -channel_bw / 2, channel_bw / 2)
    adj = max(band_power(f, psd, s - channel_bw / 2, s + channel_bw / 2) for s in (spacing, -spacing))
    if main <= 0:
        raise ConfigError.bad_value("psd", "no power in the main channel", "a signal inside the channel")
    return float(10 * np.log10(max(adj, 1e-300) / main))


class SpectralMask:
    """Piecewise-constant mask: ``edges`` (increasing |f| breakpoints, units of f) and ``limits_db``
    (one per interval ``[edges[i], edges[i+1])``, dB relative to the mean PSD inside ``|f| <= inband``)."""

    def __init__(self, inband: float, edges: Sequence[float], limits_db: Sequence[float], name: str = "mask"):
        self.inband = float(check_range("inband", inband, lo=0.0))
        self.edges = np.asarray(edges, float)
        self.limits_db = np.asarray(limits_db, float)
        if self.edges.ndim != 1 or self.limits_db.shape != (self.edges.size - 1,) or np.any(np.diff(self.edges) <= 0):
            raise ConfigError.bad_value("edges/limits_db", (self.edges.tolist(), self.limits_db.tolist()),
                                        "increasing edges and one limit per interval between them")
        self.name = name

    def limit(self, f) -> np.ndarray:
        """Limit in dB at |f| (NaN where the mask says nothing)."""
        a = np.abs(np.asarray(f, float))
        i = np.searchsorted(self.edges, a, side="right") - 1
        ok = (i >= 0) & (i < self.limits_db.size)
        out = np.full(a.shape, np.nan)
        out[ok] = self.limits_db[i[ok]]
        return out

    def describe(self) -> str:
        parts = [f"{self.edges[i]:g}..{self.edges[i + 1]:g}: {self.limits_db[i]:g} dB"
                 for i in range(self.limits_db.size)]
        return f"{self.name} (|f| in units of the band; dB re in-band mean PSD): " + ", ".join(parts)


def mask_check(f, psd, mask: SpectralMask) -> tuple[bool, float]:
    """(met, worst margin dB): margin = limit - PSD(dB re in-band mean) over the mask's range."""
    f = np.asarray(f, float)
    p = np.asarray(psd, float)
    inb = np.abs(f) <= mask.inband
    if not inb.any():
        raise ConfigError.bad_value("mask.inband", mask.inband, "a band that contains PSD bins")
    ref = float(np.mean(p[inb]))
    rel = 10 * np.log10(np.maximum(p, 1e-300) / ref)
    lim = mask.limit(f)
    on = np.isfinite(lim)
    if not on.any():
        raise ConfigError.bad_value("mask.edges", mask.edges.tolist(), "a range that overlaps the PSD's frequencies")
    margin = float(np.min(lim[on] - rel[on]))
    return margin >= 0, margin
