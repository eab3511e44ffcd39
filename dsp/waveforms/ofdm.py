"""OFDM baseline: M subcarriers x N symbols, one CP per symbol, one-tap and LMMSE equalisers.

Grid ``X[m, n]`` (subcarrier m, symbol n). Symbol n is the unitary inverse DFT of column n, preceded by
``cp_len`` samples of cyclic prefix; frame length ``N (M + cp_len)``.

Equalisers (on a known channel - perfect CSI - or on any per-cell estimate of the same shape):

* :meth:`OfdmModem.one_tap_channel` gives the diagonal of the effective channel in closed form: for a path
  (g, tau = d + f, nu) with the Doppler averaged over the symbol body (the ICI it causes is ignored)::

      H[m, n] = sum_i g_i (1/M sum_q exp(j 2 pi nu_i (n (M + cp) + cp + q)))
                        * sum_t h_i[t] exp(-j 2 pi m (o_i + t) / M)

  with ``(o_i, h_i)`` the channel's interpolation filter (one tap of 1 at ``tau`` for integer delays).
  Exact for a time-invariant channel whose support fits the CP; the diagonal of the effective channel otherwise.
* :meth:`OfdmModem.equalize_one_tap`: ZF (``noise_var=None``) or MMSE one-tap ``conj(H) / (|H|^2 + N0)``.
* :meth:`OfdmModem.equalize_lmmse`: per-symbol M x M LMMSE over the full ICI matrix taken from the dense
  effective channel (small frames).

Estimated channel: :meth:`OfdmModem.set_pilots` puts a scattered pilot lattice (every ``df``-th
subcarrier of every ``dt``-th symbol, plus the last subcarrier/symbol so nothing is extrapolated) in the
frame; :meth:`OfdmModem.estimate_one_tap` makes least-squares estimates ``y_p / x_p`` on the pilots and
interpolates them linearly, first across subcarriers, then across symbols.
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft

from dsp.channel import DoublyDispersiveChannel
from dsp.errors import ConfigError, HILError
from dsp.qam import QamMapper
from dsp.waveforms.base import Modem, _check_int

__all__ = ["OfdmModem"]


class OfdmModem(Modem):
    """OFDM modem with M subcarriers, N symbols per frame and a CP per symbol.

    Parameters
    ----------
    M : int
        Subcarriers (>= 1).
    N : int
        OFDM symbols per frame (>= 1).
    qam : int or QamMapper
        QAM order (Gray, Es = 1).
    cp_len : int, optional
        CP in samples per symbol (default M // 4, at most M).
    """

    kind = "ofdm"

    def __init__(self, M: int, N: int, qam: int | QamMapper = 4, cp_len: int | None = None):
        self.M = _check_int("M", M, 1)
        self.N = _check_int("N", N, 1)
        self.cp_len = _check_int("cp_len", self.M // 4 if cp_len is None else cp_len, 0, self.M)
        super().__init__((self.M, self.N), qam)
        self.frame_length = self.N * (self.M + self.cp_len)
        self.delay_bin = 1.0
        self.doppler_bin = 1.0 / (self.N * (self.M + self.cp_len))

    def _tx(self, X, dtype, overwrite=False):
        t = sfft.ifft(X, axis=1, norm="ortho", overwrite_x=overwrite)  # (B, M, N): sample q of symbol n at [q, n]
        out = np.empty((X.shape[0], self.frame_length), dtype)
        if self._kframe.place(t, 0, self.cp_len, out):
            raise HILError(f"OFDM framing kernel refused shapes {t.shape} -> {out.shape}")
        return out

    def _rx(self, y):
        t = np.empty((y.shape[0], self.M, self.N), np.complex128)
        if self._kframe.gather(y, 0, self.cp_len, t):
            raise HILError(f"OFDM de-framing kernel refused shapes {y.shape} -> {t.shape}")
        return sfft.fft(t, axis=1, norm="ortho", overwrite_x=True)

    # ----------------------------------------------------------------- equalisers
    def one_tap_channel(self, channel: DoublyDispersiveChannel) -> np.ndarray:
        """Per-cell one-tap channel (M, N) complex128 (closed form, see the module docstring)."""
        M, N, cp = self.M, self.N, self.cp_len
        if not channel.paths:
            return np.zeros((M, N), np.complex128)
        g = np.array([p.gain for p in channel.paths])
        nu = np.array([p.doppler for p in channel.paths])
        start = np.arange(N) * (M + cp) + cp  # array index of each symbol's first body sample
        t = start[:, None] + np.arange(M)[None, :]  # (N, M)
        dop = np.exp(2j * np.pi * np.mod(nu[:, None, None] * t[None], 1.0)).mean(axis=-1)  # (P, N)
        freq = channel.path_responses(np.arange(M) / M)  # (P, M)
        return np.einsum("p,pm,pn->mn", g, freq, dop)

    def set_pilots(self, df: int = 4, dt: int = 1, value: complex = 1.0) -> None:
        """Scattered pilots: subcarriers 0, df, 2 df, ... and M-1 of symbols 0, dt, ... and N-1 carry
        ``value`` (|value| = 1 keeps the unit symbol energy); the other cells carry data."""
        df = _check_int("df", df, 1, self.M)
        dt = _check_int("dt", dt, 1, self.N)
        if abs(complex(value)) == 0:
            raise ConfigError.bad_value("value", value, "a nonzero pilot value")
        sc = np.unique(np.r_[np.arange(0, self.M, df), self.M - 1])
        sy = np.unique(np.r_[np.arange(0, self.N, dt), self.N - 1])
        pilot = np.zeros(self.shape, bool)
        pilot[np.ix_(sc, sy)] = True
        fill = np.where(pilot, complex(value), 0.0)
        self.set_data_mask(~pilot, fill)

    def estimate_one_tap(self, y_grid) -> np.ndarray:
        """Per-cell one-tap channel (M, N) from the pilots of :meth:`set_pilots` (LS + linear interpolation)."""
        y = np.asarray(y_grid).reshape(self.shape)
        pilot = ~self._mask & (self._fill != 0)
        if not pilot.any():
            raise ConfigError.bad_value("pilots", "none", "call set_pilots(...) before estimating")
        m = np.arange(self.M)
        sym = np.flatnonzero(pilot.any(axis=0))
        Hs = np.empty((self.M, sym.size), np.complex128)
        for j, n in enumerate(sym):
            pm = np.flatnonzero(pilot[:, n])
            ls = y[pm, n] / self._fill[pm, n]
            Hs[:, j] = np.interp(m, pm, ls.real) + 1j * np.interp(m, pm, ls.imag)
        t = np.arange(self.N)
        H = np.empty(self.shape, np.complex128)
        for i in range(self.M):
            H[i] = np.interp(t, sym, Hs[i].real) + 1j * np.interp(t, sym, Hs[i].imag)
        return H

    def equalize_one_tap(self, y_grid, H, noise_var: float | None = None) -> np.ndarray:
        """One-tap equalisation of grid(s) (..., M, N): ZF ``y / H`` or, with ``noise_var``, MMSE
        ``conj(H) y / (|H|^2 + noise_var)`` (noise_var = N0 per cell)."""
        H = np.asarray(H)
        if H.shape != self.shape:
            raise ConfigError.bad_value("H.shape", H.shape, f"{self.shape}")
        y = np.asarray(y_grid)
        if noise_var is None:
            return y / H
        return np.conj(H) * y / (np.abs(H) ** 2 + float(noise_var))

    def equalize_lmmse(self, y_grid, channel: DoublyDispersiveChannel, noise_var: float) -> np.ndarray:
        """Per-symbol LMMSE ``(H_n^H H_n + N0 I)^-1 H_n^H y_n`` with the M x M ICI blocks H_n of the dense
        effective channel (inter-symbol leakage beyond the CP is treated as noise-free and ignored)."""
        Heff = self.effective_channel(channel)
        y = np.asarray(y_grid).reshape(self.shape)
        M, N = self.M, self.N
        out = np.empty((M, N), np.complex128)
        idx = np.arange(M) * N  # cell (m, n) is index m N + n in C order
        for n in range(N):
            Hn = Heff[np.ix_(idx + n, idx + n)]
            A = Hn.conj().T @ Hn + float(noise_var) * np.eye(M)
            out[:, n] = np.linalg.solve(A, Hn.conj().T @ y[:, n])
        return out

    def __repr__(self) -> str:
        return f"OfdmModem(M={self.M}, N={self.N}, qam={self.qam.order}, cp_len={self.cp_len})"
