"""Pilot-based receivers for the block waveforms without a delay-Doppler detector: GFDM and OFDM.

* :class:`GfdmPilotReceiver`: GFDM with pilot subcarriers, frequency-domain MMSE, ZF demodulator and a
  per-subsymbol pilot refinement.
* :class:`OfdmDftEstimator`: OFDM one-tap MMSE on a DFT-based (impulse-response fit) pilot estimate.

Both take a received frame/grid and the noise variance per cell and return the decisions' inputs
(equalised data symbols) and a dict of work figures, the receiver interface of ``hil compare``.
"""

from __future__ import annotations

import math

import numpy as np

from dsp.errors import ConfigError, check_range

__all__ = ["GfdmPilotReceiver", "OfdmDftEstimator"]


class OfdmDftEstimator:
    """One-tap MMSE receiver for OFDM on a channel estimated per symbol from the scattered pilots of
    :meth:`~dsp.waveforms.ofdm.OfdmModem.set_pilots` by a least-squares fit of a ``taps``-sample
    impulse response (DFT-based estimation: exact for delays < ``taps``, averages the noise of all
    pilots of a symbol; :meth:`~dsp.waveforms.ofdm.OfdmModem.estimate_one_tap`'s linear interpolation
    across 8 subcarriers is poor for a 3-sample delay spread). Symbols without pilots are interpolated
    linearly in time.

    ``time_degree``: with pilots in at least ``time_degree + 2`` symbols, the per-symbol estimates of each
    subcarrier are replaced by their least-squares polynomial of that degree in time (1: a gain and a slope
    - a channel that changes slowly over the frame, a small residual frequency offset): the estimate's
    noise then falls by ``(time_degree + 1) / symbols`` (16 symbols, degree 1: 9 dB less, 0.9 -> 0.13 dB
    of SNR loss with 4 taps on 17 pilots). ``None`` (default): every symbol on its own.

    ``receive(y_grid, noise_var) -> (data symbols, {})``.
    """

    def __init__(self, modem, taps: int, time_degree: int | None = None):
        taps = int(check_range("taps", int(taps), lo=1, hi=modem.M))
        pilot = ~modem.data_mask & (modem._fill != 0)
        sym = np.flatnonzero(pilot.any(axis=0))
        if sym.size == 0:
            raise ConfigError.bad_value("pilots", "none", "call modem.set_pilots(...) first")
        sc = np.flatnonzero(pilot[:, sym[0]])
        if not all(np.array_equal(np.flatnonzero(pilot[:, n]), sc) for n in sym):
            raise ConfigError.bad_value("pilots", "different subcarriers per symbol", "the same subcarriers in each")
        if sc.size < taps:
            raise ConfigError.bad_value("taps", taps, f"<= the {sc.size} pilots per symbol")
        t = np.arange(taps)
        fit = np.linalg.pinv(np.exp(-2j * np.pi * np.outer(sc, t) / modem.M))
        full = np.exp(-2j * np.pi * np.outer(np.arange(modem.M), t) / modem.M)
        self.modem = modem
        self.taps = taps
        self._interp = full @ fit                      # (M, pilots): pilot LS values -> all subcarriers
        self._sc, self._sym = sc, sym
        self._xp = modem._fill[np.ix_(sc, sym)]
        self._smooth = None
        if time_degree is not None:
            deg = int(check_range("time_degree", int(time_degree), lo=0, hi=max(0, sym.size - 2)))
            v = np.vander((sym - sym.mean()) / max(1.0, float(np.ptp(sym))), deg + 1)
            self._smooth = v @ np.linalg.pinv(v)       # (symbols, symbols): projection on the polynomials

    def estimate(self, y) -> np.ndarray:
        """The channel (M, N) from a received grid."""
        m = self.modem
        Hs = self._interp @ (np.asarray(y)[np.ix_(self._sc, self._sym)] / self._xp)
        if self._smooth is not None:
            Hs = Hs @ self._smooth.T
        if self._sym.size == m.N:
            return Hs
        H = np.empty(m.shape, complex)
        tt = np.arange(m.N)
        for i in range(m.M):
            H[i] = np.interp(tt, self._sym, Hs[i].real) + 1j * np.interp(tt, self._sym, Hs[i].imag)
        return H

    def receive(self, y, nv):
        H = self.estimate(y)
        return self.modem.data_symbols(np.conj(H) * y / (np.abs(H) ** 2 + nv)), {}


class GfdmPilotReceiver:
    """GFDM receiver with an estimated channel: pilot subcarriers, frequency-domain MMSE equaliser, ZF
    demodulator, per-subsymbol pilot refinement.

    Every ``spacing``-th subcarrier (and the last) carries a Zadoff-Chu sequence over its M subsymbols
    (constant-magnitude DFT, so its spectrum has no nulls); the frame body's DFT at the bins where only
    a pilot subcarrier has energy (``|f - k M| <= M (1 - rolloff) / 2 - 1``) gives least-squares channel
    samples ``R / S_pilot``; a least-squares fit of an impulse response of ``taps`` samples (the largest
    design delay + 2: more taps than the pilot clusters resolve make the fit ill-conditioned) turns them
    into the channel at every bin; the body is equalised per bin (MMSE) and GFDM-demodulated (ZF) - the
    textbook GFDM receiver for a channel constant over the block (Michailow et al., IEEE TCOM 62(9),
    2014). A Doppler of a tenth of the subcarrier spacing already turns the phase by more than a cycle
    over the 1020-sample block, so the pilot cells of each subsymbol then give a residual gain per
    subsymbol (interpolated across subcarriers, one-tap MMSE), as OFDM's pilots do per symbol.

    The constructor puts the pilots on ``modem`` (``set_data_mask``). ``fde=False`` skips the
    frequency-domain equaliser (pilot refinement only). ``receive_frame(samples, noise_var)``.
    """

    def __init__(self, modem, spacing: int = 8, taps: int = 5, fde: bool = True):
        if not hasattr(modem, "K") or getattr(modem, "kind", "") != "gfdm":
            raise ConfigError.bad_value("modem", type(modem).__name__, "a GfdmModem")
        spacing = int(check_range("spacing", int(spacing), lo=1, hi=modem.K - 1))
        taps = int(check_range("taps", int(taps), lo=1, hi=modem.cp_len + 1 if modem.cp_len else 1))
        self.modem = modem
        self.fde = bool(fde)
        K, Ms = modem.K, modem.M
        self.K, self.Ms = K, Ms
        sc = np.unique(np.r_[np.arange(0, K, spacing), K - 1])
        rng = np.random.default_rng(12345)   # fixed pilot phases (known to the receiver), not data
        m = np.arange(Ms)
        zc = np.exp(-1j * np.pi * m * (m + 1) / Ms) if Ms % 2 else np.exp(-1j * np.pi * m * m / Ms)
        fill = np.zeros((K, Ms), complex)
        for k in sc:
            fill[k] = zc * np.exp(2j * np.pi * rng.uniform())
        mask = np.ones((K, Ms), bool)
        mask[sc] = False
        modem.set_data_mask(mask, fill)
        self.fill = fill
        self.pilot_subcarriers = sc
        n = K * Ms
        self.n = n
        body = modem._modulate_grid128(fill)[modem.cp_len:]
        self.Sp = np.fft.fft(body)
        half = int(math.floor(Ms * (1 - modem.rolloff) / 2)) - 1
        bins = np.concatenate([(k * Ms + np.arange(-half, half + 1)) % n for k in sc])
        self.bins = bins
        t = np.arange(taps)
        F = np.exp(-2j * np.pi * np.outer(bins, t) / n)
        self.fit = np.linalg.pinv(F)                                # LS impulse response from the bins

    def receive_frame(self, r, nv):
        m = self.modem
        if not self.fde:
            return self._refine(m.demodulate_grid(np.asarray(r)), nv)
        body = np.asarray(r)[m.cp_len:]
        R = np.fft.fft(body)
        h = self.fit @ (R[self.bins] / self.Sp[self.bins])
        H = np.fft.fft(h, self.n)
        # per-bin MMSE (signal and noise per bin both scale by n: the ratio is nv)
        b = np.fft.ifft(np.conj(H) * R / (np.abs(H) ** 2 + nv))
        frame = np.concatenate([b[len(b) - m.cp_len:], b]) if m.cp_len else b
        return self._refine(m.demodulate_grid(frame), nv)

    def _refine(self, D, nv):
        m = self.modem
        # time variation within the block (Doppler): the pilot subcarriers give the residual gain of
        # every subsymbol; interpolate it across subcarriers (linear) and divide it out
        sc = self.pilot_subcarriers
        G = D[sc] / self.fill[sc]
        k = np.arange(self.K)
        for j in range(self.Ms):
            g = np.interp(k, sc, G[:, j].real) + 1j * np.interp(k, sc, G[:, j].imag)
            D[:, j] = D[:, j] * np.conj(g) / (np.abs(g) ** 2 + nv)
        return m.data_symbols(D), {}
