"""Square Gray QAM (4/16/64) with UNIT average symbol energy (Es = 1), hard and max-log soft demapping.

Energy convention (stated because public code differs): the constellation is scaled so that the mean
of ``|s|^2`` over all points is exactly 1, i.e. Es = 1 (not Es = 2 as with unscaled +/-1 +/- 1j QPSK).
Everywhere in the project SNR means Es/N0 with these unit-energy symbols.

Bit layout: a symbol carries ``bps = log2(order)`` bits, most significant first. The top ``bps/2`` bits
choose the in-phase (real) level and the low ``bps/2`` bits the quadrature level; each axis is a Gray
coded PAM whose levels are, from the most positive down, Gray codes 0, 1, 3, 2, 6, 7, 5, 4, ... so
that neighbours differ in one bit. ``constellation[v]`` is the point for the bit value ``v``.

LLR sign: ``LLR = log P(b=0|y) / P(b=1|y)`` (max-log), positive means bit 0 is more likely.
"""

from __future__ import annotations

import numpy as np

from dsp._kernels import load
from dsp.errors import ConfigError, check_choice

__all__ = ["QamMapper", "ORDERS"]

ORDERS = (4, 16, 64)


class QamMapper:
    """Gray-coded square QAM mapper/demapper with unit average symbol energy (Es = 1).

    Parameters
    ----------
    order : int
        Constellation size, one of 4, 16, 64.
    """

    def __init__(self, order: int):
        check_choice("order", order, ORDERS)
        self.order = int(order)
        self.bits_per_symbol = int(round(np.log2(self.order)))
        self._h = self.bits_per_symbol // 2
        nlev = 1 << self._h
        # positions p = 0..L-1 from the most positive level down; Gray code of position p is p ^ (p >> 1)
        self._gray = np.array([p ^ (p >> 1) for p in range(nlev)], dtype=np.int64)
        self._scale = float(np.sqrt(2.0 * (self.order - 1) / 3.0))  # mean |a + jb|^2 = 2 (L^2 - 1) / 3
        self._levels = (nlev - 1 - 2.0 * np.arange(nlev)) / self._scale
        level_of_gray = np.empty(nlev)
        level_of_gray[self._gray] = self._levels
        v = np.arange(self.order)
        self.constellation = (level_of_gray[v >> self._h] + 1j * level_of_gray[v & (nlev - 1)]).astype(np.complex128)
        self.constellation.setflags(write=False)
        self._kernel = load("_modqam")

    def map(self, bits) -> np.ndarray:
        """Bits (0/1, length a multiple of ``bits_per_symbol``, MSB first) -> complex128 symbols (Es = 1)."""
        bits = np.ascontiguousarray(bits, dtype=np.uint8).ravel()
        if bits.size % self.bits_per_symbol:
            raise ConfigError.bad_value("len(bits)", bits.size, f"a multiple of {self.bits_per_symbol}")
        out = np.empty(bits.size // self.bits_per_symbol, np.complex128)
        if self._kernel.map_bits(bits, self.bits_per_symbol, self.constellation, out):
            bad = int(bits.max())
            raise ConfigError.bad_value("bits", bad, "only 0 and 1")
        return out

    def _symbols(self, symbols) -> tuple[np.ndarray, tuple]:
        y = np.asarray(symbols)
        return np.ascontiguousarray(y, dtype=np.complex128).ravel(), y.shape

    def demap_hard(self, symbols) -> np.ndarray:
        """Nearest-point decisions as uint8 bits (flat, ``bits_per_symbol`` per symbol in C order)."""
        y, _ = self._symbols(symbols)
        out = np.empty(y.size * self.bits_per_symbol, np.uint8)
        self._kernel.demap_hard(y, self._h, self._scale, self._gray, out)
        return out

    def demap_llr(self, symbols, noise_var) -> np.ndarray:
        """Max-log LLRs (float64, flat, positive = bit 0 more likely) for a complex noise variance.

        ``noise_var`` is the variance of the complex noise on each symbol (E|n|^2), a scalar > 0.
        """
        nv = float(noise_var)
        if not nv > 0 or not np.isfinite(nv):
            raise ConfigError.bad_value("noise_var", noise_var, "a finite number > 0")
        y, _ = self._symbols(symbols)
        out = np.empty(y.size * self.bits_per_symbol, np.float64)
        # per real axis the noise variance is nv / 2: LLR = (d1^2 - d0^2) / (2 * nv / 2) = (d1^2 - d0^2) / nv
        self._kernel.maxlog_llr(y, self._h, self._levels, self._gray, 1.0 / nv, out)
        return out

    def slice(self, symbols) -> np.ndarray:
        """Nearest constellation points (complex128, same shape as the input)."""
        y, shape = self._symbols(symbols)
        nlev = 1 << self._h
        re = np.clip(np.rint(((nlev - 1) - y.real * self._scale) / 2.0), 0, nlev - 1)
        im = np.clip(np.rint(((nlev - 1) - y.imag * self._scale) / 2.0), 0, nlev - 1)
        return (((nlev - 1) - 2.0 * re) + 1j * ((nlev - 1) - 2.0 * im)).reshape(shape) / self._scale

    def __repr__(self) -> str:
        return f"QamMapper(order={self.order}, Gray, Es=1, kernel={self._kernel.__name__})"
