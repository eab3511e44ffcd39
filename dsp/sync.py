"""Frame synchronisation: a waveform-agnostic preamble, coarse and fractional timing, CFO, timing advance.

The preamble (:class:`Preamble`) is ``R`` repetitions of a BPSK m-sequence of length ``L = 2**degree - 1``
under a Barker cover code (``+-S, +-S, ...``), unit power, placed before each frame of any waveform
(OTFS, ODDM, AFDM, GFDM, OFDM: :meth:`Preamble.prepend`). Defaults: ``L = 127``, ``R = 4``: 508 samples
(265 us at 1.92 MSPS).

Detection (:class:`PreambleDetector`, a streaming block, or :func:`detect` on an array):

1. **Coarse timing, CFO-invariant**: differential correlation. ``dy[n] = y[n+1] conj(y[n])`` is
   correlated with the preamble's own differential ``dp[n] = p[n+1] conj(p[n])``; a carrier offset
   ``nu`` only rotates every ``dy`` by the same ``exp(j 2 pi nu)``, so the metric
   ``|D(d)|^2 / sum |dy|^2`` (about 1 for noise, ``(L R - 1) (rho/(1+rho))^2`` on the preamble at
   per-sample SNR ``rho``) is unaffected by any offset inside the Nyquist band - the whole +-480 kHz of
   a Ka-band pass at 1.92 MSPS included. Peaks above ``threshold`` that are the largest within
   ``+-spacing`` samples are detections.
2. **Repetition ambiguity**: the differential of a repeated sequence repeats, so ``d +- k L`` are
   side-peaks (``((R-k)/R)^2`` of the main one). The candidate with the largest *coherent* periodogram
   peak wins; the Barker cover keeps the coherent side-peaks at <= 1/R.
3. **CFO**: the preamble's modulation is removed, ``z[n] = y[d+n] conj(p[n])`` is a tone at the offset;
   its zero-padded periodogram (8x) gives an unambiguous estimate over the full band ``+-fs/2``; the
   repetition estimator ``angle(sum_k s_{k+1} conj(s_k)) / (2 pi L)`` over the per-repetition sums
   then refines it (alone it is unambiguous only over ``+-fs/(2L)``, +-7.56 kHz at 1.92 MSPS with
   ``L = 127``; the periodogram stage resolves that ambiguity). The blind (non-data-aided) repetition
   estimator is also available as :func:`cfo_from_repetitions`, and the classic cyclic-prefix estimator
   of any CP-prefixed frame as :func:`cfo_from_cp` (unambiguous over +-fs/(2N), N the body length).
4. **Fractional timing**: after derotation, the correlations at lags -1, 0, +1 of a flat-spectrum
   sequence are samples of ``sinc(k - delta)``, so ``R(+1)/R(0) = delta/(1-delta)`` and
   ``R(-1)/R(0) = -delta/(1+delta)``; the two estimates of ``delta`` are averaged. Exact for a white
   sequence with band-limited delay; the finite m-sequence and its repetition leave a bias of a few
   thousandths of a sample (tests state what is reached).

Timing advance (:func:`timing_advance`): with the receive stream starting when the transmit stream
does (the emulator's sample-count clock) the first detection's index minus the frame's transmit index
is the one-way delay, unambiguous for any delay; otherwise it is known modulo the frame period. A
terminal advances its uplink by the round trip, ``2 x delay``. At 1.92 MSPS a 550 km pass spans
3514 .. 12288 samples (1.83 .. 6.4 ms).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from dsp.errors import ConfigError, check_choice, check_range

__all__ = ["Preamble", "Detection", "PreambleDetector", "detect", "cfo_from_repetitions", "cfo_from_cp",
           "fractional_timing",
           "timing_advance", "mseq", "BARKER"]

# Feedback taps (1-based) of primitive polynomials over GF(2), degree -> taps (Fibonacci LFSR).
_PRIMITIVE_TAPS = {3: (3, 2), 4: (4, 3), 5: (5, 3), 6: (6, 5), 7: (7, 6), 8: (8, 6, 5, 4), 9: (9, 5),
                   10: (10, 7), 11: (11, 9), 12: (12, 11, 10, 4)}

#: Barker cover codes by length (aperiodic autocorrelation side-lobes <= 1).
BARKER = {1: (1,), 2: (1, -1), 3: (1, 1, -1), 4: (1, 1, -1, 1), 5: (1, 1, 1, -1, 1), 7: (1, 1, 1, -1, -1, 1, -1),
          11: (1, 1, 1, -1, -1, -1, 1, -1, -1, 1, -1), 13: (1, 1, 1, 1, 1, -1, -1, 1, 1, -1, 1, -1, 1)}


def _delayed(x, delta: float) -> np.ndarray:
    """``x`` (zero outside) delayed by ``delta`` samples with band-limited (FFT) interpolation."""
    n = 1 << int(math.ceil(math.log2(4 * x.size)))
    f = np.fft.fftfreq(n)
    return np.fft.ifft(np.fft.fft(x, n) * np.exp(-2j * np.pi * f * delta))[:x.size + 1]


def mseq(degree: int) -> np.ndarray:
    """Maximal-length sequence of length ``2**degree - 1`` as +-1 (float64); degree in 3..12."""
    if degree not in _PRIMITIVE_TAPS:
        raise ConfigError.bad_value("degree", degree, f"one of {sorted(_PRIMITIVE_TAPS)}")
    taps = _PRIMITIVE_TAPS[degree]
    reg = [1] * degree
    out = np.empty(2**degree - 1)
    for i in range(out.size):
        out[i] = 1.0 - 2.0 * reg[-1]
        fb = 0
        for t in taps:
            fb ^= reg[t - 1]
        reg = [fb, *reg[:-1]]
    return out


@dataclass(frozen=True)
class Preamble:
    """``repeats`` covered repetitions of an m-sequence of length ``2**degree - 1``; unit power.

    Parameters
    ----------
    degree : int
        m-sequence degree, 3..12 (repetition length L = 2**degree - 1 samples).
    repeats : int
        Number of repetitions R, 2..16 (a Barker cover exists for 2, 3, 4, 5, 7, 11, 13).
    cover : tuple of +-1, optional
        Cover code, one sign per repetition (default: the Barker code of length R).
    """

    degree: int = 7
    repeats: int = 4
    cover: tuple | None = None

    def __post_init__(self):
        if self.degree not in _PRIMITIVE_TAPS:
            raise ConfigError.bad_value("degree", self.degree, f"one of {sorted(_PRIMITIVE_TAPS)}")
        if not isinstance(self.repeats, (int, np.integer)) or not 2 <= self.repeats <= 16:
            raise ConfigError.bad_value("repeats", self.repeats, "an integer 2..16")
        cover = self.cover
        if cover is None:
            if self.repeats not in BARKER:
                raise ConfigError.bad_value("repeats", self.repeats,
                                            f"one of {sorted(k for k in BARKER if k > 1)} (Barker "
                                            "cover), or give cover= explicitly")
            cover = BARKER[self.repeats]
        cover = tuple(int(c) for c in cover)
        if len(cover) != self.repeats or any(c not in (-1, 1) for c in cover):
            raise ConfigError.bad_value("cover", self.cover, f"{self.repeats} values, each +1 or -1")
        object.__setattr__(self, "cover", cover)

    @property
    def period(self) -> int:
        """Repetition length L in samples."""
        return 2**self.degree - 1

    @property
    def length(self) -> int:
        """Total length L * R in samples."""
        return self.period * self.repeats

    @property
    def samples(self) -> np.ndarray:
        """The preamble, complex64, unit power (a fresh copy)."""
        return self._samples.copy()

    @functools.cached_property
    def _samples(self) -> np.ndarray:
        s = mseq(self.degree)
        return np.concatenate([c * s for c in self.cover]).astype(np.complex64)

    def cfo_range_hz(self, sample_rate: float) -> float:
        """Unambiguous range +-fs/(2L) (Hz) of the repetition CFO estimator alone."""
        return sample_rate / (2.0 * self.period)

    def prepend(self, frame) -> np.ndarray:
        """The preamble followed by ``frame`` (any waveform's samples), complex64."""
        frame = np.asarray(frame)
        if frame.ndim != 1:
            raise ConfigError.bad_value("frame.ndim", frame.ndim, "1")
        return np.concatenate([self.samples, frame.astype(np.complex64)])

    def __repr__(self):
        return f"Preamble(L={self.period}, R={self.repeats}, cover={self.cover}, length={self.length})"


@dataclass(frozen=True)
class Detection:
    """One detected preamble.

    index : float      start of the preamble, absolute sample index, fractional.
    cfo : float        carrier offset in cycles/sample (multiply by fs for Hz), in [-0.5, 0.5).
    metric : float     differential detection metric (about 1 for noise).
    snr_db : float     per-sample SNR estimated from the coherent correlation (dB).
    phase : float      carrier phase at the preamble start after CFO removal (rad).
    """

    index: float
    cfo: float
    metric: float
    snr_db: float
    phase: float

    def cfo_hz(self, sample_rate: float) -> float:
        return self.cfo * sample_rate


def fractional_timing(e: complex, p: complex, l: complex) -> float:
    """Fractional offset (samples, +-1) from correlations at lags -1, 0, +1 of a flat-spectrum sequence.

    With a band-limited delay ``delta`` they are ``sinc(-1-delta), sinc(-delta), sinc(1-delta)``, so
    ``l/p = delta/(1-delta)`` and ``e/p = -delta/(1+delta)``; the two solutions are averaged.
    """
    pp = abs(p) ** 2
    if pp == 0.0:
        return 0.0
    re = (e * p.conjugate()).real / pp
    rl = (l * p.conjugate()).real / pp
    de = -re / (1.0 + re) if re != -1.0 else 0.0
    dl = rl / (1.0 + rl) if rl != -1.0 else 0.0
    return float(min(1.0, max(-1.0, 0.5 * (de + dl))))


def cfo_from_repetitions(y, preamble: Preamble, index: int) -> float:
    """Blind CFO (cycles/sample) from the repetitions at integer ``index``: Moose's estimator with the
    cover removed, ``angle(sum_k c_k c_{k+1} sum_n y[(k+1)L+n] conj(y[kL+n])) / (2 pi L)``.

    Needs only the cover, not the sequence; unambiguous over ``+-1/(2L)`` cycles/sample.
    """
    y = np.asarray(y)
    L, R = preamble.period, preamble.repeats
    if index < 0 or index + L * R > y.size:
        raise ConfigError.bad_value("index", index, f"0..{y.size - L * R}")
    seg = y[index:index + L * R].astype(np.complex128).reshape(R, L)
    c = np.asarray(preamble.cover, dtype=float)
    acc = np.sum((c[1:] * c[:-1])[:, None] * seg[1:] * np.conj(seg[:-1]))
    return float(np.angle(acc) / (2 * np.pi * L))


def cfo_from_cp(y, start: int, cp_len: int, body_len: int) -> float:
    """Blind CFO (cycles/sample) from a cyclic prefix: ``angle(sum_n y[s+N+n] conj(y[s+n])) / (2 pi N)`` over
    the ``cp_len`` prefix samples of a frame whose prefix starts at ``start`` and whose body (the part the
    prefix copies the end of) is ``body_len = N`` samples long. Waveform-agnostic for any CP-prefixed
    frame (``modem.cp_len``, ``modem.frame_length - modem.cp_len``); unambiguous over ``+-1/(2N)``
    cycles/sample, so it refines a preamble estimate rather than replacing it (e.g. N = 1024 at 1.92 MSPS:
    +-938 Hz).
    """
    y = np.asarray(y)
    for name, v, lo in (("cp_len", cp_len, 1), ("body_len", body_len, 1), ("start", start, 0)):
        if not isinstance(v, (int, np.integer)) or v < lo:
            raise ConfigError.bad_value(name, v, f"an integer >= {lo}")
    if start + body_len + cp_len > y.size:
        raise ConfigError.bad_value("start", start, f"0..{y.size - body_len - cp_len} (frame inside y)")
    a = y[start:start + cp_len].astype(np.complex128)
    b = y[start + body_len:start + body_len + cp_len].astype(np.complex128)
    return float(np.angle(np.sum(b * np.conj(a))) / (2 * np.pi * body_len))


def timing_advance(rx_index: float, tx_index: float, sample_rate: float) -> tuple[float, float]:
    """One-way delay and timing advance (both s) from a preamble's receive and transmit sample indices.

    ``delay = (rx_index - tx_index) / fs``; the uplink timing advance is the round trip ``2 delay``.
    """
    check_range("sample_rate", sample_rate, lo=1e-9, unit="Hz")
    delay = (float(rx_index) - float(tx_index)) / float(sample_rate)
    if delay < 0:
        raise ConfigError.bad_value("rx_index", rx_index, f">= tx_index ({tx_index}) (causal)")
    return delay, 2.0 * delay


class PreambleDetector:
    """Streaming preamble detector: ``process(x)`` returns the :class:`Detection` s decided so far.

    A detection at lag ``d`` is decided once ``spacing + 2 L R + 2`` further samples have arrived, so
    detections come out with that latency; :meth:`flush` decides what is left at the end of a stream.
    Splitting the input anywhere gives the same detections (to rounding).

    Parameters
    ----------
    preamble : Preamble
    threshold : float
        Metric threshold (the noise-only metric is about exponential with mean 1: the false-alarm
        probability per sample is about ``exp(-threshold)``, times the number of frequencies and
        templates searched). Default 25.
    spacing : int, optional
        Minimum distance between detections in samples (default the preamble length).
    max_cfo : float
        Largest |CFO| accepted, cycles/sample (default 0.5: the whole band).
    method : {"auto", "differential", "coherent"}
        Coarse metric. ``"coherent"`` correlates with the preamble shifted to a grid of frequencies
        spaced ``1/(2 L R)`` over ``+-max_cfo`` (at most 0.9 dB loss between bins) and takes the largest:
        noise-only mean about 1, on the preamble ``L R rho/(1+rho)`` - about ``(1+rho)/rho`` times the
        differential metric, i.e. usable some 5 dB lower in SNR, but its cost grows with the search range.
        ``"auto"`` picks coherent when that needs at most 32 frequencies (an ephemeris-aided search),
        differential otherwise (a blind search over the band).
    """

    def __init__(self, preamble: Preamble, threshold: float = 25.0, spacing: int | None = None,
                 max_cfo: float = 0.5, method: str = "auto"):
        if not isinstance(preamble, Preamble):
            raise ConfigError.bad_value("preamble", preamble, "a dsp.sync.Preamble")
        self.preamble = preamble
        self.threshold = float(check_range("threshold", threshold, lo=1.0))
        np_ = preamble.length
        self.spacing = int(np_ if spacing is None else check_range("spacing", spacing, lo=1, unit="samples"))
        self.max_cfo = float(check_range("max_cfo", max_cfo, lo=0.0, hi=0.5, unit="cycles/sample"))
        check_choice("method", method, ("auto", "differential", "coherent"))
        nb = 2 * math.ceil(self.max_cfo * 2 * np_) + 1
        if method == "auto":
            method = "coherent" if nb <= 32 else "differential"
        self.method = method
        self._bins = (np.arange(nb) - (nb - 1) / 2) / (2 * np_) if method == "coherent" else np.zeros(0)
        p = preamble.samples.astype(np.complex128)
        self._p = p
        self._dp = p[1:] * np.conj(p[:-1])
        self._nfft = 1 << int(math.ceil(math.log2(8 * np_)))
        # A white (critically sampled) sequence received half a sample off loses 7.7 dB of differential
        # metric (3.9 dB coherent) and, through the m-sequence shift-and-add property, grows equal
        # side-peaks a few samples away. So the metric is also computed with the preamble delayed by
        # half a sample (band-limited), and the larger kept: worst case a quarter sample off.
        ph = _delayed(p, 0.5)[:np_]
        self._tmpl = [(p, self._dp), (ph, ph[1:] * np.conj(ph[:-1]))]
        self._spec_cache: dict = {}
        self.reset()

    def reset(self) -> None:
        # one zero sample before the stream so that lag 0 has an "early" neighbour
        self._buf = np.zeros(1, np.complex128)
        self._base = -1  # absolute index of _buf[0]
        self._next = 0  # first undecided lag (absolute)

    def _metric(self, buf):
        """Metric (noise-only mean about 1) for every lag d (relative) with d + Np <= len(buf) - 1: the
        larger of the two templates' (the preamble, and it delayed by half a sample)."""
        np_ = self.preamble.length
        nlag = buf.size - np_
        if nlag <= 0:
            return np.zeros(0)
        if self.method == "coherent":
            x, n_en = buf, np_
        else:
            x = buf[1:] * np.conj(buf[:-1])  # differential: a CFO is one common phase
            n_en = np_ - 1
        nfft = 1 << int(math.ceil(math.log2(x.size + np_)))
        fx = np.fft.fft(x, nfft)
        cs = np.concatenate([[0.0], np.cumsum(x.real**2 + x.imag**2)])
        en = cs[n_en:n_en + nlag] - cs[:nlag]
        best = np.zeros(nlag)
        for k in range(len(self._tmpl)):
            spec, power = self._spectra(k, nfft)
            # correlation by FFT: c[d] = sum_n x[d+n] conj(t[n]), for each search frequency
            c = np.fft.ifft(fx[None, :] * spec, axis=1)[:, :nlag]
            np.maximum(best, np.max(c.real**2 + c.imag**2, axis=0) / power, out=best)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(en > 0, best / np.where(en > 0, en, 1.0), 0.0)

    def _spectra(self, k, nfft):
        """conj(FFT) of template ``k`` (differential, or shifted to every search frequency) and its mean
        power, cached per FFT size."""
        key = (k, nfft)
        hit = self._spec_cache.get(key)
        if hit is None:
            p, dp = self._tmpl[k]
            if self.method == "coherent":
                t = p[None, :] * np.exp(2j * np.pi * self._bins[:, None] * np.arange(p.size))
            else:
                t = dp[None, :]
            hit = (np.conj(np.fft.fft(t, nfft, axis=1)), float(np.mean(np.abs(t) ** 2)))
            self._spec_cache[key] = hit
        return hit

    def _refine(self, buf, d) -> Detection | None:
        pre = self.preamble
        L, R, np_ = pre.period, pre.repeats, pre.length
        best = None
        for k in range(-(R - 1), R):
            c = d + k * L
            if c < 1 or c + np_ + 1 > buf.size:
                continue
            z = buf[c:c + np_] * np.conj(self._p)
            spec = np.abs(np.fft.fft(z, self._nfft))
            i = int(np.argmax(spec))
            if best is None or spec[i] > best[0]:
                best = (spec[i], c, i, spec)
        if best is None:
            return None
        _, c, i, spec = best
        nf = self._nfft
        a, b, g = spec[(i - 1) % nf], spec[i], spec[(i + 1) % nf]
        den = a - 2 * b + g
        frac = 0.5 * (a - g) / den if den != 0 else 0.0
        nu = ((i + frac) / nf + 0.5) % 1.0 - 0.5
        n = np.arange(-1, np_ + 1)
        seg = buf[c - 1:c + np_ + 1] * np.exp(-2j * np.pi * nu * n)
        e = complex(np.dot(seg[:np_], np.conj(self._p)))
        p = complex(np.dot(seg[1:np_ + 1], np.conj(self._p)))
        lt = complex(np.dot(seg[2:np_ + 2], np.conj(self._p)))
        # repetition estimator on the derotated, demodulated preamble refines the periodogram
        s = (seg[1:np_ + 1] * np.conj(self._p)).reshape(R, L).sum(axis=1)
        nu += float(np.angle(np.sum(s[1:] * np.conj(s[:-1]))) / (2 * np.pi * L))
        nu = (nu + 0.5) % 1.0 - 0.5
        if abs(nu) > self.max_cfo:
            return None
        delta = fractional_timing(e, p, lt)
        en = float(np.sum(np.abs(seg[1:np_ + 1]) ** 2))
        # a flat-spectrum peak spreads over neighbouring lags as sinc(k - delta), sum of squares ~1:
        # the three lags together hold (nearly) all of it whatever the fractional offset
        a = min((abs(e) ** 2 + abs(p) ** 2 + abs(lt) ** 2) / (np_ * en), 0.999999) if en > 0 else 0.0
        snr = 10 * math.log10(a / (1 - a)) if a > 0 else -math.inf
        return Detection(index=float(c + delta), cfo=float(nu), metric=0.0, snr_db=snr,
                         phase=float(np.angle(p)))

    def _decide(self, final: bool) -> list[Detection]:
        buf = self._buf
        np_ = self.preamble.length
        L, R = self.preamble.period, self.preamble.repeats
        m = self._metric(buf)
        if m.size == 0:
            return []
        first = self._next - self._base  # relative index of the first undecided lag
        last_ok = m.size - 1 - (((R - 1) * L) if final else (self.spacing + np_ + 2))
        out = []
        d0 = max(first, 1)
        for d in (np.flatnonzero(m[d0:last_ok + 1] >= self.threshold) + d0 if last_ok >= d0 else ()):
            d = int(d)
            lo = max(1, d - self.spacing)
            # the largest within +-spacing (the earliest on ties) is the detection
            if int(np.argmax(m[lo:d + self.spacing + 1])) + lo != d:
                continue
            det = self._refine(buf, d)
            if det is not None:
                out.append(Detection(det.index + self._base, det.cfo, float(m[d]), det.snr_db, det.phase))
        self._next = max(self._next, last_ok + 1 + self._base)
        # keep what the undecided lags (and their left neighbourhood) still need
        keep = max(0, self._next - self._base - max(self.spacing, np_) - 2)
        self._buf = buf[keep:]
        self._base += keep
        return out

    def process(self, x) -> list[Detection]:
        """Feed samples (1-D complex); return detections decided with this call."""
        x = np.asarray(x)
        if x.ndim != 1:
            raise ConfigError.bad_value("x.ndim", x.ndim, "1 (a 1-D stream)")
        self._buf = np.concatenate([self._buf, x.astype(np.complex128)])
        return self._decide(final=False)

    def flush(self) -> list[Detection]:
        """Decide every remaining lag that has a complete window (end of stream)."""
        return self._decide(final=True)

    def detect(self, y, start_index: int = 0) -> list[Detection]:
        """Reset, then all preambles in the array ``y`` (indices + ``start_index``): one pass, no streaming."""
        y = np.asarray(y)
        if y.ndim != 1:
            raise ConfigError.bad_value("y.ndim", y.ndim, "1")
        self.reset()
        self._buf = np.concatenate([self._buf, y.astype(np.complex128)])
        dets = self._decide(final=True)
        if start_index:
            dets = [Detection(d.index + start_index, d.cfo, d.metric, d.snr_db, d.phase) for d in dets]
        return dets

    def __repr__(self):
        return (f"PreambleDetector({self.preamble!r}, threshold={self.threshold:g}, spacing={self.spacing}, "
                f"max_cfo={self.max_cfo:g}, method={self.method!r}, next_lag={self._next})")


def detect(y, preamble: Preamble, **kw) -> list[Detection]:
    """All preambles in the array ``y`` (indices relative to ``y[0]``); ``kw`` as :class:`PreambleDetector`."""
    return PreambleDetector(preamble, **kw).detect(y)
