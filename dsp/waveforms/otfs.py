"""OTFS: orthogonal time frequency space modulation, rectangular pulse, M delay x N Doppler bins.

Grid ``X[l, k]``: ``l = 0..M-1`` delay bins (one sample each), ``k = 0..N-1`` Doppler bins. The
transmitter is the Zak/"SFFT-free" form of OTFS with rectangular pulses: an inverse DFT along Doppler
gives the delay-time grid ``x[l, n] = N^-1/2 sum_k X[l, k] exp(j 2 pi n k / N)``, read out column by
column (``s[n M + l] = x[l, n]``: N blocks of M samples, T = M samples). The map is unitary.

Two prefix layouts, with DIFFERENT delay-Doppler input-output relations (``cp`` = ``cp_len``):

``cp="frame"`` (one CP of ``cp_len`` samples before the whole M N body; Raviteja et al. 2018).
    Doppler bin: ``nu = k / (M N)`` cycles/sample (``doppler_bin``). For an integer path (g, l_i, k_i)
    with ``cp_len >= l_i`` the received grid is, with the Doppler phase referenced to the first CP
    sample (the channel's index 0)::

        l >= l_i: Y[l, k] = g e(k_i (l + cp) / (M N))                   X[l - l_i, (k - k_i) mod N]
        l <  l_i: Y[l, k] = g e(k_i (l + cp) / (M N)) e(-(k - k_i) / N)  X[l - l_i + M, (k - k_i) mod N]

    with ``e(x) = exp(j 2 pi x)``: delays wrap into the previous block (the extra phase on the rows l < l_i).

``cp="symbol"`` (a CP of ``cp_len`` samples before each of the N blocks, like OFDM; Hadani et al.).
    The block period is ``M + cp`` samples, so the Doppler bin is ``nu = k / (N (M + cp))``. For an
    integer path with ``cp_len >= l_i``::

        Y[l, k] = g exp(j 2 pi k_i (l + cp) / (N (M + cp))) X[(l - l_i) mod M, (k - k_i) mod N]

    i.e. delays are circular within a block and no row gets an extra phase; a path on the frame-CP
    Doppler grid ``k / (M N)`` is fractional here (it leaks over Doppler bins).

Both are exact; the dense :meth:`~dsp.waveforms.base.Modem.effective_channel` reproduces them
(tests/test_waveforms.py checks the formulas above cell by cell).
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft

from dsp.errors import HILError, check_choice
from dsp.qam import QamMapper
from dsp.waveforms.base import Modem, _check_int

__all__ = ["OtfsModem"]


class OtfsModem(Modem):
    """OTFS modem (rectangular pulse) on an M x N delay-Doppler grid.

    Parameters
    ----------
    M : int
        Delay bins (samples per block), >= 1.
    N : int
        Doppler bins (blocks per frame), >= 1.
    qam : int or QamMapper
        QAM order (4, 16, 64; Gray, Es = 1).
    cp : {"frame", "symbol"}
        One cyclic prefix per frame or one per block (see the module docstring for the two relations).
    cp_len : int, optional
        Prefix length in samples; must cover the largest channel delay (plus the interpolator spread for
        fractional delays). Default ``M // 2`` for ``cp="frame"``, ``M // 4`` for ``cp="symbol"``.
    """

    kind = "otfs"

    def __init__(self, M: int, N: int, qam: int | QamMapper = 4, cp: str = "frame", cp_len: int | None = None):
        self.M = _check_int("M", M, 1)
        self.N = _check_int("N", N, 1)
        self.cp = check_choice("cp", cp, ("frame", "symbol"))
        if cp_len is None:
            cp_len = self.M // 2 if cp == "frame" else self.M // 4
        self.cp_len = _check_int("cp_len", cp_len, 0, self.M * self.N if cp == "frame" else self.M)
        super().__init__((self.M, self.N), qam)
        self.delay_bin = 1.0
        if cp == "frame":
            self.frame_length = self.cp_len + self.M * self.N
            self.doppler_bin = 1.0 / (self.M * self.N)
        else:
            self.frame_length = self.N * (self.M + self.cp_len)
            self.doppler_bin = 1.0 / (self.N * (self.M + self.cp_len))

    def _prefixes(self) -> tuple[int, int]:
        return (self.cp_len, 0) if self.cp == "frame" else (0, self.cp_len)

    def _tx(self, X, dtype, overwrite=False):
        # delay-time grid x[l, n] (IDFT along Doppler), then read out block by block with the prefix(es)
        xt = sfft.ifft(X, axis=-1, norm="ortho", overwrite_x=overwrite)
        out = np.empty((X.shape[0], self.frame_length), dtype)
        if self._kframe.place(xt, *self._prefixes(), out):
            raise HILError(f"OTFS framing kernel refused shapes {xt.shape} -> {out.shape}")
        return out

    def _rx(self, y):
        if y.dtype == np.complex64:
            # complex64 frames (the receive chain's): the blocks as a (B, M, N) strided view of the frame
            # (prefixes skipped), a float32 FFT along Doppler straight from the view (scipy gathers the
            # strided lines itself and writes a C-ordered result), widened to the complex128 grid that
            # demodulate_grid returns; the rounding added (~1e-7 relative) is that of the complex64 input.
            # complex128 frames stay in double precision throughout.
            fcp, bcp = self._prefixes()
            per = self.M + bcp
            blocks = y[:, fcp: fcp + self.N * per].reshape(y.shape[0], self.N, per)[:, :, bcp:]
            Y = sfft.fft(blocks.transpose(0, 2, 1), axis=-1, norm="ortho")
            return np.ascontiguousarray(Y, np.complex128)
        xt = np.empty((y.shape[0], self.M, self.N), np.complex128)
        if self._kframe.gather(y, *self._prefixes(), xt):
            raise HILError(f"OTFS de-framing kernel refused shapes {y.shape} -> {xt.shape}")
        return sfft.fft(xt, axis=-1, norm="ortho", overwrite_x=True)

    def __repr__(self) -> str:
        return (f"OtfsModem(M={self.M}, N={self.N}, qam={self.qam.order}, cp={self.cp!r}, cp_len={self.cp_len}, "
                f"frame_length={self.frame_length})")
