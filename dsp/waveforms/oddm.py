"""ODDM: orthogonal delay-Doppler division multiplexing (Lin and Yuan, IEEE TWC 21(12), 2022).

ODDM sends the M x N delay-Doppler grid with a *pulse train* ``u(t) = sum_n a(t - n T)`` of N
root-Nyquist sub-pulses ``a`` (Nyquist for the delay resolution T/M), each DD symbol
``X[m, k]`` riding on ``u(t - m T/M) exp(j 2 pi k (t - m T/M) / (N T))``.

Discretisation used here (stated because several exist):

* Sampling: ``Q`` samples per delay bin (``oversampling``, >= 2 so the sub-pulse can have excess
  bandwidth), so the delay resolution T/M is Q samples and T = M Q samples.
* The Doppler phase is taken constant over one sub-pulse (the sub-pulse is short against T), which
  makes ODDM "OTFS with a root-Nyquist sub-pulse": the delay-time samples
  ``x[m, n] = N^-1/2 sum_k X[m, k] exp(j 2 pi n k / N)`` are placed at ``(n M + m) T/M`` and shaped by a.
* The sub-pulse is a root-raised-cosine with roll-off ``rolloff`` defined on the DFT grid of the whole
  frame (a *periodised* RRC: its tails wrap around the frame). Its squared magnitude folds to exactly
  1 on that grid, so the transmit map is an isometry and the matched filter is its exact inverse; a
  truncated linear RRC would instead leave truncation ISI. One frame CP (``cp_len`` samples)
  keeps the wrap-around continuous through a channel with delays up to ``cp_len``.
* Scaling: samples are multiplied by sqrt(Q) so the mean |sample|^2 equals the mean |X|^2 (= 1); the
  receiver divides by sqrt(Q). AWGN of variance Q N0 per sample then gives N0 per DD cell, which is
  what :meth:`~dsp.waveforms.base.Modem.noise_var_per_sample` returns (SNR = Es/N0 stays comparable
  with the other waveforms).

Bins: ``delay_bin = Q`` samples, ``doppler_bin = 1 / (M N Q)`` cycles/sample (1 / (N T)). With
``rolloff=0`` and ``Q=1`` ODDM is exactly OTFS with one CP per frame.
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft

from dsp.errors import ConfigError, check_range
from dsp.qam import QamMapper
from dsp.waveforms.base import Modem, _check_int

__all__ = ["OddmModem", "rrc_spectrum"]


def rrc_spectrum(phi: np.ndarray, rolloff: float) -> np.ndarray:
    """Root-raised-cosine amplitude at frequency ``phi`` in units of the symbol rate (|phi| <= 1/2 passes
    with roll-off 0); ``rrc^2`` satisfies ``rc(phi) + rc(phi - 1) = 1`` exactly (Nyquist folding)."""
    a = np.abs(phi)
    lo, hi = (1 - rolloff) / 2, (1 + rolloff) / 2
    rc = np.where(a <= lo, 1.0, 0.0)
    if rolloff > 0:
        mid = (a > lo) & (a <= hi)
        rc = np.where(mid, 0.5 * (1 + np.cos(np.pi / rolloff * (a - lo))), rc)
    return np.sqrt(rc)


class OddmModem(Modem):
    """ODDM modem on an M x N delay-Doppler grid with Q samples per delay bin.

    Parameters
    ----------
    M, N : int
        Delay and Doppler bins.
    qam : int or QamMapper
        QAM order (Gray, Es = 1).
    oversampling : int
        Q, samples per delay bin (>= 2 when rolloff > 0; 1 only with rolloff = 0). Default 2.
    rolloff : float
        Roll-off of the root-Nyquist sub-pulse, 0..1. Default 0.25.
    cp_len : int, optional
        Frame CP in samples (default ``(M // 2) * Q``).
    """

    kind = "oddm"

    def __init__(self, M: int, N: int, qam: int | QamMapper = 4, oversampling: int = 2, rolloff: float = 0.25,
                 cp_len: int | None = None):
        self.M = _check_int("M", M, 1)
        self.N = _check_int("N", N, 1)
        self.oversampling = _check_int("oversampling", oversampling, 1)
        self.rolloff = float(check_range("rolloff", rolloff, lo=0.0, hi=1.0))
        if self.oversampling == 1 and self.rolloff > 0:
            raise ConfigError.bad_value("oversampling", 1, ">= 2 when rolloff > 0 (excess bandwidth needs room)")
        Q = self.oversampling
        L = self.M * self.N
        self.cp_len = _check_int("cp_len", (self.M // 2) * Q if cp_len is None else cp_len, 0, L * Q)
        super().__init__((self.M, self.N), qam)
        self.frame_length = self.cp_len + L * Q
        self.delay_bin = float(Q)
        self.doppler_bin = 1.0 / (L * Q)
        # sub-pulse spectrum on the L Q-point grid; f in cycles/sample * L Q, phi = f / L in symbol rates
        f = sfft.fftfreq(L * Q, 1.0 / (L * Q))
        self._g = rrc_spectrum(f / L, self.rolloff)  # (L Q,) real, in FFT bin order
        # FFT bin i of the frame carries symbol-spectrum bin i mod L (upsampling tiles the spectrum)
        fold = (self._g**2).reshape(Q, L).sum(axis=0)
        if not np.allclose(fold, 1.0, atol=1e-12):  # pragma: no cover - guaranteed by the RC construction
            raise ConfigError.bad_value("rolloff", rolloff, "a value whose sub-pulse is Nyquist on this grid")

    def _tx(self, X, dtype, overwrite=False):
        B, M, N, Q, cp = X.shape[0], self.M, self.N, self.oversampling, self.cp_len
        L = M * N
        xt = sfft.ifft(X, axis=-1, norm="ortho", overwrite_x=overwrite)  # (B, M, N) delay-time
        u = np.ascontiguousarray(xt.transpose(0, 2, 1)).reshape(B, L)
        U = sfft.fft(u, axis=-1, norm="ortho")
        S = np.tile(U, (1, Q)) * self._g.astype(U.real.dtype)
        s = sfft.ifft(S, axis=-1, norm="ortho")  # isometry C^L -> C^{LQ}; times sqrt(Q) for unit power
        out = np.empty((B, self.frame_length), dtype)
        out[:, cp:] = s * np.sqrt(Q)
        if cp:
            out[:, :cp] = out[:, self.frame_length - cp:]
        return out

    def _rx(self, y):
        B, M, N, Q, cp = y.shape[0], self.M, self.N, self.oversampling, self.cp_len
        L = M * N
        S = sfft.fft(y[:, cp:].astype(np.complex128, copy=False), axis=-1, norm="ortho") * self._g
        U = S.reshape(B, Q, L).sum(axis=1)  # matched filter + downsampling: fold the Q spectral copies
        u = sfft.ifft(U, axis=-1, norm="ortho") / np.sqrt(Q)
        return sfft.fft(u.reshape(B, N, M).transpose(0, 2, 1), axis=-1, norm="ortho")

    def __repr__(self) -> str:
        return (f"OddmModem(M={self.M}, N={self.N}, qam={self.qam.order}, Q={self.oversampling}, "
                f"rolloff={self.rolloff:g}, cp_len={self.cp_len})")
