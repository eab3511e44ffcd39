"""GFDM: generalized frequency division multiplexing, K subcarriers x M subsymbols, circular pulse shaping.

Grid ``D[k, m]`` (subcarrier k, subsymbol m); one block of ``K M`` samples plus one CP::

    x[n] = sum_k sum_m D[k, m] g[(n - m K) mod K M] exp(j 2 pi k n / K)

with a root-raised-cosine prototype ``g`` (roll-off ``rolloff``) defined on the ``K M``-point DFT grid
(subcarrier spacing M bins) and scaled to unit energy, ``sum |g|^2 = 1``.

Computation: with ``n = a K + r`` the transmitter is an unnormalised inverse DFT across subcarriers
followed, for each r, by an M-point circular convolution with the polyphase component ``g_r[a] = g[a K + r]``.
That convolution is diagonal in the M-point DFT (eigenvalues ``G_r[nu]``), so the exact inverse (ZF) and
the matched filter are both O(K M log) - no dense matrix.

Not unitary in general: GFDM's modulation matrix A is unitary only if all ``|G_r[nu]|^2 = 1/K``. The
unit-energy pulse makes it unitary *on average*: mean |x|^2 = mean |D|^2 for i.i.d. data (each column
of A has unit norm), not sample-exactly per frame. ``demodulate_grid`` is selected by ``receiver``:

* ``"zf"`` (default): the exact inverse ``A^-1`` (divides by ``G_r``); noise is enhanced where
  ``|G_r|`` is small. Modulate -> demodulate is the identity.
* ``"mf"``: the matched filter ``A^H``; keeps the noise white but leaves self-interference (not the identity).

The constructor refuses (ConfigError) prototypes whose ``A`` is (nearly) singular, e.g. RRC with an even
number of subsymbols for some roll-offs; an odd M is the usual remedy.
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft

from dsp.errors import ConfigError, HILError, check_choice, check_range
from dsp.qam import QamMapper
from dsp.waveforms.base import Modem, _check_int
from dsp.waveforms.oddm import rrc_spectrum

__all__ = ["GfdmModem"]

_MIN_CONDITION = 1e-3  # smallest |G_r| / largest |G_r| accepted


class GfdmModem(Modem):
    """GFDM modem, K subcarriers x M subsymbols, RRC prototype, one CP per block.

    Parameters
    ----------
    K : int
        Subcarriers (>= 2).
    M : int
        Subsymbols (>= 1); odd M avoids singular RRC prototypes.
    qam : int or QamMapper
        QAM order (Gray, Es = 1).
    rolloff : float
        RRC roll-off 0..1 (default 0.1).
    cp_len : int, optional
        CP in samples (default K // 4, at most K M).
    receiver : {"zf", "mf"}
        What :meth:`demodulate_grid` applies (see module docstring).
    """

    kind = "gfdm"

    def __init__(self, K: int, M: int, qam: int | QamMapper = 4, rolloff: float = 0.1, cp_len: int | None = None,
                 receiver: str = "zf"):
        self.K = _check_int("K", K, 2)
        self.M = _check_int("M", M, 1)
        self.rolloff = float(check_range("rolloff", rolloff, lo=0.0, hi=1.0))
        self.receiver = check_choice("receiver", receiver, ("zf", "mf"))
        n = self.K * self.M
        self.cp_len = _check_int("cp_len", self.K // 4 if cp_len is None else cp_len, 0, n)
        super().__init__((self.K, self.M), qam)
        self.frame_length = self.cp_len + n
        self.delay_bin = 1.0
        self.doppler_bin = 1.0 / n
        f = sfft.fftfreq(n, 1.0 / n)  # DFT bin index (signed)
        G = rrc_spectrum(f / self.M, self.rolloff)
        g = np.real(sfft.ifft(G))
        self.pulse = g / np.sqrt(np.sum(g**2))  # unit energy, real, circularly even
        # polyphase components g_r[a] = g[a K + r] and their M-point DFTs (eigenvalues of the convolutions)
        self._Gr = sfft.fft(self.pulse.reshape(self.M, self.K).T, axis=-1)  # (K, M)
        mag = np.abs(self._Gr)
        cond = mag.min() / mag.max()
        if cond < _MIN_CONDITION:
            raise ConfigError.bad_value(
                "rolloff/M", (self.rolloff, self.M),
                f"a prototype with min|G_r|/max|G_r| >= {_MIN_CONDITION} (got {cond:.2e}); try an odd M")
        self.condition = float(cond)

    def _tx(self, X, dtype, overwrite=False):
        Dt = sfft.ifft(X, axis=1, norm="forward", overwrite_x=overwrite)  # sum_k D[k, m] e(k r / K): (B, r, m)
        xr = sfft.ifft(sfft.fft(Dt, axis=-1, overwrite_x=True) * self._Gr.astype(Dt.dtype), axis=-1,
                       overwrite_x=True)  # circular convolution with g_r for each r
        out = np.empty((X.shape[0], self.frame_length), dtype)
        if self._kframe.place(xr, self.cp_len, 0, out):  # x[a K + r] = xr[r, a]
            raise HILError(f"GFDM framing kernel refused shapes {xr.shape} -> {out.shape}")
        return out

    def _rx(self, y):
        xr = np.empty((y.shape[0], self.K, self.M), np.complex128)
        if self._kframe.gather(y, self.cp_len, 0, xr):
            raise HILError(f"GFDM de-framing kernel refused shapes {y.shape} -> {xr.shape}")
        Xr = sfft.fft(xr, axis=-1, overwrite_x=True)
        Xr = Xr / self._Gr if self.receiver == "zf" else Xr * np.conj(self._Gr)
        Dt = sfft.ifft(Xr, axis=-1, overwrite_x=True)
        # ZF inverts "ifft(norm=forward)" with fft(norm=forward); MF applies its adjoint, fft(norm=backward)
        return sfft.fft(Dt, axis=1, norm="forward" if self.receiver == "zf" else "backward", overwrite_x=True)

    def __repr__(self) -> str:
        return (f"GfdmModem(K={self.K}, M={self.M}, qam={self.qam.order}, rolloff={self.rolloff:g}, "
                f"cp_len={self.cp_len}, receiver={self.receiver!r})")
