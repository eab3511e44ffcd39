"""Test signals of the calibration procedure: periodic multitone pilots, tones, and a 16-QAM OFDM frame
with its EVM receiver.

Levels are in dBFS (RMS, full scale 1.0). The pilots are periodic so that a window of whole periods
is cyclic: a delay is then an exact linear phase across the tones, and a fractionally delayed copy
can be synthesised exactly (:func:`periodic_delay`).
"""

from __future__ import annotations

import numpy as np

from hil.errors import ConfigError, check_range

__all__ = ["multitone", "tone", "periodic_delay", "periodic_at", "OfdmTestFrame", "evm_db"]


def _check_int(field: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError.bad_value(field, value, f"an integer {lo}..{hi}")
    return int(check_range(field, int(value), lo, hi))


def multitone(period: int = 1024, band: float = 0.4, level_dbfs: float = -12.0, seed: int = 0,
              skip_dc: bool = True) -> np.ndarray:
    """One period of a flat multitone: every FFT bin with ``|f| <= band`` cycles/sample, random phases.

    Parameters
    ----------
    period : int
        Samples per period (16..65536).
    band : float
        One-sided occupied band in cycles/sample (0 < band <= 0.5).
    level_dbfs : float
        RMS level in dBFS.
    seed : int
        Seed of the phases (a fixed pilot is part of the calibration record).
    skip_dc : bool
        Leave bin 0 empty (so a DC offset and LO leakage do not bias the tone estimates).
    """
    period = _check_int("period", period, 16, 65536)
    check_range("band", band, 1.0 / period, 0.5, unit="cycles/sample")
    check_range("level_dbfs", level_dbfs, hi=0.0, unit="dBFS")
    rng = np.random.default_rng(seed)
    f = np.fft.fftfreq(period)
    on = np.abs(f) <= band
    if skip_dc:
        on[0] = False
    spec_ = np.zeros(period, np.complex128)
    spec_[on] = np.exp(2j * np.pi * rng.random(int(on.sum())))
    x = np.fft.ifft(spec_)
    x *= 10 ** (level_dbfs / 20) / np.sqrt(np.mean(np.abs(x) ** 2))
    return x


def tone(n: int, frequency: float, level_dbfs: float = -12.0, phase: float = 0.0) -> np.ndarray:
    """``n`` samples of ``A exp(j (2 pi frequency k + phase))``; frequency in cycles/sample, A from dBFS."""
    n = _check_int("n", n, 0, 10**9)
    check_range("frequency", frequency, -0.5, 0.5, unit="cycles/sample")
    check_range("level_dbfs", level_dbfs, hi=0.0, unit="dBFS")
    k = np.arange(n)
    return 10 ** (level_dbfs / 20) * np.exp(1j * (2 * np.pi * np.mod(frequency * k, 1.0) + phase))


def periodic_delay(period_signal, delay: float) -> np.ndarray:
    """The periodic signal delayed by ``delay`` samples (fractional), exactly, by a linear phase per bin.

    Valid for a signal with no energy at the Nyquist bin (the multitone pilots).
    """
    x = np.asarray(period_signal, dtype=np.complex128)
    f = np.fft.fftfreq(x.size)
    return np.fft.ifft(np.fft.fft(x) * np.exp(-2j * np.pi * f * delay))


def periodic_at(period_signal, positions) -> np.ndarray:
    """The band-limited periodic signal evaluated at (fractional) sample ``positions``, exactly.

    ``x(p) = sum_k X_k exp(j 2 pi k p / P) / P`` over the signal's non-zero bins (``k`` taken in
    ``-P/2 .. P/2``): how a periodic pilot arrives through a delay and a sample-clock offset.
    """
    x = np.asarray(period_signal, dtype=np.complex128)
    p = np.asarray(positions, dtype=float)
    X = np.fft.fft(x) / x.size
    on = np.flatnonzero(np.abs(X) > 1e-12 * np.abs(X).max())
    f = np.fft.fftfreq(x.size)[on]
    out = np.empty(p.size, np.complex128)
    chunk = 4096
    step = np.diff(p)
    if p.size > 1 and np.all(np.abs(step - step[0]) < 1e-9):
        # Uniform positions p0 + m s: one (chunk x bins) phasor matrix serves every chunk.
        m = np.arange(min(chunk, p.size))
        base = np.exp(2j * np.pi * np.mod(np.outer(m * step[0], f), 1.0))
        for a in range(0, p.size, chunk):
            k = min(chunk, p.size - a)
            out[a:a + k] = base[:k] @ (X[on] * np.exp(2j * np.pi * np.mod(f * p[a], 1.0)))
        return out
    for a in range(0, p.size, chunk):  # chunks keep the (positions x bins) matrix small
        ph = np.mod(np.outer(p[a:a + chunk], f), 1.0)
        out[a:a + chunk] = np.exp(2j * np.pi * ph) @ X[on]
    return out


def evm_db(received, reference) -> float:
    """Error vector magnitude in dB: ``10 log10(mean |r - s|^2 / mean |s|^2)``."""
    r = np.asarray(received)
    s = np.asarray(reference)
    if r.shape != s.shape or s.size == 0:
        raise ConfigError.bad_value("received.shape", r.shape, f"{s.shape} (same as reference, non-empty)")
    return float(10 * np.log10(np.mean(np.abs(r - s) ** 2) / np.mean(np.abs(s) ** 2)))


class OfdmTestFrame:
    """A 16-QAM OFDM measurement frame (the project's :class:`dsp.waveforms.OfdmModem`) and its receiver.

    The frame is two identical preamble symbols (known QPSK, for timing, fine CFO and the channel
    estimate) and ``symbols`` data symbols, each with a cyclic prefix. Subcarriers ``1..used/2`` and
    ``-used/2..-1`` carry data; DC and the band edges are empty, as in deployed OFDM (a DC offset or
    LO leakage then only matters through the image it leaves, and the band edges stay clear of the
    anti-alias filters).

    Parameters
    ----------
    nfft : int
        FFT size (32..4096, a power of two).
    used : int
        Occupied subcarriers (even, < nfft).
    cp : int
        Cyclic prefix in samples.
    symbols : int
        Data symbols per frame.
    qam : int
        Constellation order (4, 16, 64; unit average energy).
    level_dbfs : float
        RMS level of the frame in dBFS.
    seed : int
        Seed of the payload and the preamble.
    """

    def __init__(self, nfft: int = 256, used: int = 200, cp: int = 32, symbols: int = 16, qam: int = 16,
                 level_dbfs: float = -15.0, seed: int = 1):
        from dsp.qam import QamMapper
        from dsp.waveforms import OfdmModem

        self.nfft = _check_int("nfft", nfft, 32, 4096)
        if self.nfft & (self.nfft - 1):
            raise ConfigError.bad_value("nfft", nfft, "a power of two")
        self.used = _check_int("used", used, 2, self.nfft - 2)
        if self.used % 2:
            raise ConfigError.bad_value("used", used, "an even number")
        self.cp = _check_int("cp", cp, 0, self.nfft)
        self.symbols = _check_int("symbols", symbols, 1, 10000)
        self.level_dbfs = float(check_range("level_dbfs", level_dbfs, hi=0.0, unit="dBFS"))
        self.modem = OfdmModem(self.nfft, self.symbols + 2, qam, cp_len=self.cp)
        self.mapper = self.modem.qam
        rng = np.random.default_rng(seed)
        h = self.used // 2
        self.carriers = np.concatenate((np.arange(1, h + 1), np.arange(-h, 0))) % self.nfft
        self.preamble = QamMapper(4).map(rng.integers(0, 2, 2 * self.used, dtype=np.uint8))
        bits = rng.integers(0, 2, self.symbols * self.used * self.mapper.bits_per_symbol, dtype=np.uint8)
        self.data = self.mapper.map(bits).reshape(self.symbols, self.used)
        grid = np.zeros((self.nfft, self.symbols + 2), np.complex128)
        grid[self.carriers, 0] = grid[self.carriers, 1] = self.preamble
        grid[self.carriers, 2:] = self.data.T
        # The modem is unitary (mean |sample|^2 = mean |X|^2 = used / nfft): scale to the requested level.
        self._scale = 10 ** (self.level_dbfs / 20) * np.sqrt(self.nfft / self.used)
        self.samples = self.modem.modulate_grid(grid).astype(np.complex128) * self._scale

    @property
    def symbol_length(self) -> int:
        return self.nfft + self.cp

    def __len__(self) -> int:
        return self.samples.size

    def find_start(self, rx) -> int:
        """Index of the frame start in ``rx``: peak of the correlation with the known preamble."""
        rx = np.asarray(rx, dtype=np.complex128)
        ref = self.samples[: 2 * self.symbol_length]
        if rx.size < ref.size:
            raise ConfigError.bad_value("len(rx)", rx.size, f">= {ref.size} samples (the preamble)")
        n = int(2 ** np.ceil(np.log2(rx.size + ref.size)))
        c = np.fft.ifft(np.fft.fft(rx - rx.mean(), n) * np.conj(np.fft.fft(ref, n)))[: rx.size - ref.size + 1]
        return int(np.argmax(np.abs(c)))

    def equalised(self, rx, start: int | None = None, fine_cfo: bool = False) -> np.ndarray:
        """Equalised data symbols (``symbols x used``) from ``rx`` with the frame at ``start``.

        The FFT windows start a quarter of the prefix early (timing margin); the channel per subcarrier
        is the mean of the two preamble estimates; ``fine_cfo`` corrects the phase drift measured
        between the two preamble symbols (range +/- 1 / (2 (nfft + cp)) cycles/sample). It is off by
        default: its noise becomes a phase ramp over the frame that costs about 3 dB of EVM at 30 dB SNR,
        and a calibrated loopback has no carrier offset left to remove.
        """
        rx = np.asarray(rx, dtype=np.complex128)
        if start is None:
            start = self.find_start(rx)
        n = self.samples.size
        if start < 0 or start + n > rx.size:
            raise ConfigError.bad_value("start", start, f"0..{rx.size - n} (frame inside rx)")
        back = min(self.cp // 4, start)
        seg = rx[start - back: start - back + n]
        if fine_cfo:
            L = self.symbol_length
            nu = np.angle(np.sum(seg[L: 2 * L] * np.conj(seg[:L]))) / (2 * np.pi * L)
            seg = seg * np.exp(-2j * np.pi * nu * np.arange(seg.size))
        # Fed `back` samples early, the modem's CP removal leaves each FFT window inside the prefix.
        Y = self.modem.demodulate_grid(seg)[self.carriers, :].T / self._scale
        H = 0.5 * (Y[0] + Y[1]) / self.preamble
        return Y[2:] / H

    def evm_db(self, rx, start: int | None = None, fine_cfo: bool = False) -> float:
        """EVM (dB) of the data symbols received in ``rx``."""
        return evm_db(self.equalised(rx, start, fine_cfo), self.data)
