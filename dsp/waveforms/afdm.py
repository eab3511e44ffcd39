"""AFDM: affine frequency division multiplexing (Bemani, Ksairi, Kountouris, IEEE TWC 22(11), 2023).

N chirp subcarriers; the DAFT is ``A = L_c2 F L_c1`` with ``L_c = diag(exp(-j 2 pi c n^2))`` and F the
unitary N-point DFT. The transmitter sends ``s = A^H x`` preceded by the chirp-periodic prefix (CPP)::

    s[n] = s[N + n] exp(-j 2 pi c1 (N^2 + 2 N n)),   n = -cp_len .. -1

which equals a plain cyclic prefix when ``2 N c1`` is an integer and N is even (then the phase is a
multiple of 2 pi). The receiver drops the prefix and applies A.

Parameters from the channel (Bemani's rule): with ``alpha_max`` the largest |Doppler| in bins of 1/N
cycles/sample, ``k_v`` the guard for fractional Doppler and ``l_max`` the largest delay in samples::

    c1 = (2 (alpha_max + k_v) + 1) / (2 N),    needs (2 (alpha_max + k_v) + 1)(l_max + 1) <= N

so that paths with distinct delays land on distinct, non-overlapping DAFT-domain diagonals.
``c2`` only changes phases; Bemani suggest an irrational number or one much smaller than 1/(2N) for full
diversity under ML detection. Default here: ``c2 = 0`` (pass e.g. ``c2=np.sqrt(2) / (4 * N**2)``).

Input-output relation (our channel sign: ``y[n] = g exp(+j 2 pi nu n) x(n - l)``, Doppler index
``alpha = nu N``; the phase is referenced to the first prefix sample). For an integer path (g, l, alpha)
with ``cp_len >= l``, row p of the DAFT-domain channel has one nonzero, in column
``q = (p - alpha + 2 N c1 l) mod N``::

    H[p, q] = g exp(j 2 pi (alpha cp_len / N + c1 l^2 - q l / N + c2 (q^2 - p^2)))

Bemani et al. write the Doppler as ``exp(-j 2 pi f_i n)``, so their ``alpha_i`` is our ``-alpha``: their
"column offset" ``loc_i = (alpha_i + 2 N c1 l_i) mod N`` is our ``q - p``.
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft

from dsp._kernels import load
from dsp.errors import ConfigError, HILError, check_range
from dsp.qam import QamMapper
from dsp.waveforms.base import Modem, _check_int

__all__ = ["AfdmModem", "afdm_c1"]


def afdm_c1(N: int, alpha_max: int, k_v: int = 1) -> float:
    """Bemani's chirp rate ``c1 = (2 (alpha_max + k_v) + 1) / (2 N)`` (cycles/sample^2)."""
    return (2 * (alpha_max + k_v) + 1) / (2 * N)


def _chirp(c: float, n: np.ndarray, sign: float) -> np.ndarray:
    # exp(sign j 2 pi c n^2) with the phase reduced mod 1 cycle first (n^2 is large; keep precision)
    return np.exp(sign * 2j * np.pi * np.mod(c * n.astype(np.float64) ** 2, 1.0))


class AfdmModem(Modem):
    """AFDM modem with N chirp subcarriers and a chirp-periodic prefix.

    Parameters
    ----------
    N : int
        Number of chirps (samples per frame body), >= 2.
    qam : int or QamMapper
        QAM order (Gray, Es = 1).
    alpha_max : int
        Largest |Doppler| in bins of 1/N cycles/sample (integer part), >= 0.
    l_max : int
        Largest channel delay in samples, >= 0.
    k_v : int
        Extra Doppler guard in bins for fractional Doppler (Bemani's k_v), >= 0. Default 1.
    c2 : float
        Second chirp parameter (cycles/sample^2), default 0 (see module docstring).
    cp_len : int, optional
        Prefix length in samples (>= l_max; default l_max).
    c1 : float, optional
        Override the first chirp parameter (default: Bemani's rule, :func:`afdm_c1`).
    """

    kind = "afdm"

    def __init__(self, N: int, qam: int | QamMapper = 4, alpha_max: int = 1, l_max: int = 1, k_v: int = 1,
                 c2: float = 0.0, cp_len: int | None = None, c1: float | None = None):
        self.N = _check_int("N", N, 2)
        self.alpha_max = _check_int("alpha_max", alpha_max, 0)
        self.l_max = _check_int("l_max", l_max, 0)
        self.k_v = _check_int("k_v", k_v, 0)
        width = 2 * (self.alpha_max + self.k_v) + 1
        if width * (self.l_max + 1) > self.N:
            raise ConfigError.bad_value(
                "N", self.N, f">= (2 (alpha_max + k_v) + 1)(l_max + 1) = {width * (self.l_max + 1)} "
                f"(alpha_max={self.alpha_max}, k_v={self.k_v}, l_max={self.l_max})")
        self.c1 = afdm_c1(self.N, self.alpha_max, self.k_v) if c1 is None else float(check_range("c1", c1))
        self.c2 = float(check_range("c2", c2))
        self.cp_len = _check_int("cp_len", self.l_max if cp_len is None else cp_len, self.l_max, self.N)
        super().__init__((self.N,), qam)
        self.frame_length = self.cp_len + self.N
        self.delay_bin = 1.0
        self.doppler_bin = 1.0 / self.N
        n = np.arange(self.N)
        self._tx_c1 = _chirp(self.c1, n, +1.0)  # L_c1^H
        self._rx_c1 = np.conj(self._tx_c1)
        self._tx_c2 = _chirp(self.c2, n, +1.0)  # L_c2^H
        self._rx_c2 = np.conj(self._tx_c2)
        i = np.arange(-self.cp_len, 0)
        # prefix phase exp(-j 2 pi c1 (N^2 + 2 N n)) for n = -cp..-1, reduced mod 1 cycle
        self.prefix_phase = np.exp(-2j * np.pi * np.mod(self.c1 * (self.N**2 + 2.0 * self.N * i), 1.0))
        self._kernel = load("_chirp")
        # the complex64 receive path's four-step FFT: N = N1 N2 with N1 the largest divisor <= sqrt(N), used when
        # both factors are >= 16 (else one scipy FFT)
        n1 = max(d for d in range(1, int(np.sqrt(self.N)) + 1) if self.N % d == 0)
        self._split = (n1, self.N // n1) if n1 >= 16 else None
        self._twiddle = None

    @property
    def cpp_is_cp(self) -> bool:
        """True when the chirp-periodic prefix is a plain cyclic prefix (every prefix phase is 1)."""
        return bool(np.allclose(self.prefix_phase, 1.0, atol=1e-9))

    def _tx(self, X, dtype, overwrite=False):
        if self.c2 != 0.0:
            X = X * self._tx_c2.astype(X.dtype)
            overwrite = True
        body = np.ascontiguousarray(sfft.ifft(X, axis=-1, norm="ortho", overwrite_x=overwrite))
        out = np.empty((X.shape[0], self.frame_length), dtype)
        if self._kernel.chirp_prefix(body, self._tx_c1, self.prefix_phase, out):
            raise HILError(f"AFDM chirp kernel refused shapes body={body.shape} out={out.shape}")
        return out

    def _rx(self, y):
        # complex64 frames (the receive chain's) are de-chirped and transformed in single precision (scipy's
        # float32 FFT, about half the cost of the float64 one), then widened to the complex128 grid that
        # demodulate_grid returns: the rounding added (~1e-7 relative) is that of the complex64 input itself.
        # complex128 frames stay in double precision throughout.
        dt = np.complex64 if y.dtype == np.complex64 else np.complex128
        r = np.empty((y.shape[0], self.N), dt)
        if self._kernel.dechirp(y, self.cp_len, self._rx_c1, r):
            raise HILError(f"AFDM de-chirp kernel refused shapes y={y.shape} out={r.shape}")
        if dt is np.complex64 and self._split is not None:
            Y = self._fft_four_step(r)
        else:
            Y = sfft.fft(r, axis=-1, norm="ortho", overwrite_x=True)
            if dt is np.complex64:
                Y = Y.astype(np.complex128)
        if self.c2 != 0.0:
            Y *= self._rx_c2
        return Y

    def _fft_four_step(self, r):
        # unitary N-point DFT of the complex64 rows of r as N1 x N2 (n = N2 n1 + n2, k = k1 + N1 k2): length-N1
        # FFTs down the columns, the twiddles exp(-j 2 pi n2 k1 / N) / sqrt(N), length-N2 FFTs along the rows,
        # then the transposing read-out widened to complex128. scipy runs many short transforms side by side
        # in SIMD lanes; one long transform runs one lane, so this is ~1.5-2x faster than one 16 Ki-point FFT
        N1, N2 = self._split
        if self._twiddle is None:
            k1, n2 = np.arange(N1)[:, None], np.arange(N2)[None, :]
            self._twiddle = (np.exp(-2j * np.pi * np.mod(k1 * n2, self.N) / self.N) / np.sqrt(self.N)).astype(
                np.complex64)
        B = r.shape[0]
        C = sfft.fft(r.reshape(B, N1, N2), axis=1, overwrite_x=True)
        C *= self._twiddle
        C = sfft.fft(C, axis=2, overwrite_x=True)
        out = np.empty((B, self.N), np.complex128)
        out.reshape(B, N2, N1)[:] = C.transpose(0, 2, 1)
        return out

    def daft_columns(self, delay: int, doppler_bin: int) -> np.ndarray:
        """Column index q(p) of the one nonzero in each row p for an integer path (our Doppler sign)."""
        p = np.arange(self.N)
        return np.mod(p - int(doppler_bin) + int(round(2 * self.N * self.c1 * int(delay))), self.N)

    def __repr__(self) -> str:
        return (f"AfdmModem(N={self.N}, qam={self.qam.order}, c1={self.c1:.6g}, c2={self.c2:.6g}, "
                f"alpha_max={self.alpha_max}, k_v={self.k_v}, l_max={self.l_max}, cp_len={self.cp_len})")
