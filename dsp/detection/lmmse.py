"""Linear detectors for any waveform given its effective channel: block LMMSE and one-tap.

Block LMMSE (unit-energy symbols, Es = 1)::

    x_hat = (H_d^H H_d + N0 I)^-1 H_d^H (y - H_k x_k)

over the data columns ``H_d`` of the grid-domain channel (``H_k x_k``: the known pilot/guard cells).
It uses the closed-form sparse channel for OTFS/AFDM and the modem's dense effective channel for the
others. The cells split into the connected blocks of H (OFDM with a CP per symbol: one block per
symbol; OTFS/AFDM: usually one block) and each block is solved densely (LAPACK): O(block^3), meant
for small frames (n_cells <= ``max_cells``) and as the common detector in waveform comparisons.
One-tap (the classic OFDM
equaliser): ``x_hat_c = y_c / H_cc``, ignoring all inter-cell interference.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from dsp.detection.base import Detector
from dsp.detection.graph import channel_coo, coo_dense, coo_matvec
from dsp.errors import ConfigError, check_range

__all__ = ["LmmseDetector", "OneTapDetector", "nearest"]


def nearest(z, constellation) -> np.ndarray:
    """Index of the constellation point nearest to each ``z``."""
    z = np.asarray(z)
    d = z[:, None] - constellation[None, :]
    return (d.real * d.real + d.imag * d.imag).argmin(axis=1).astype(np.int64)


class LmmseDetector(Detector):
    """Block LMMSE over the whole frame, then hard decisions (``last_soft`` keeps the estimates).

    Parameters
    ----------
    modem : Modem
    max_cells : int
        Refuse frames with more cells than this (dense solve, O(n^3)).
    doppler_spread : int or None
        See :class:`~dsp.detection.base.Detector` (default None: the exact channel).
    """

    name = "lmmse"

    def __init__(self, modem, max_cells: int = 4096, doppler_spread: int | None = None):
        super().__init__(modem, doppler_spread)
        self.max_cells = int(check_range("max_cells", int(max_cells), lo=1))
        n = int(np.prod(modem.shape))
        if n > self.max_cells:
            raise ConfigError.bad_value("modem cells", n, f"<= max_cells = {self.max_cells} for the dense LMMSE")
        self.last_soft = np.zeros(0, np.complex128)

    def detect(self, y_grid, paths_dd, noise_var, known=None) -> np.ndarray:
        y, nv, mask, kn = self._inputs(y_grid, noise_var, known)
        rows, cols, vals = channel_coo(self.modem, paths_dd, self.doppler_spread)
        n = y.size
        y_eff = y - coo_matvec(rows, cols, vals, kn, n) if np.any(kn) else y
        H = coo_dense(rows, cols, vals, n)
        # independent blocks: connected components of the bipartite cell graph of H
        link = coo_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n))
        n_blocks, label = connected_components(link, directed=False)
        soft_all = np.zeros(n, np.complex128)
        for b in range(n_blocks):
            cells = np.flatnonzero(label == b)
            var = cells[mask[cells]]
            if var.size == 0:
                continue
            Hd = H[np.ix_(cells, var)]
            A = Hd.conj().T @ Hd
            A[np.diag_indices_from(A)] += nv
            soft_all[var] = sla.solve(A, Hd.conj().T @ y_eff[cells], assume_a="pos")
        soft = soft_all[mask]
        self.last_soft = soft
        self.last_iterations = 1
        self.last_converged = True
        return self._output(nearest(soft, self.constellation), mask, kn)


class OneTapDetector(Detector):
    """Per-cell zero-forcing: ``x_hat_c = y_c / H_cc`` (the OFDM one-tap equaliser on any grid)."""

    name = "onetap"

    def __init__(self, modem, doppler_spread: int | None = None):
        super().__init__(modem, doppler_spread)
        self.last_soft = np.zeros(0, np.complex128)

    def detect(self, y_grid, paths_dd, noise_var, known=None) -> np.ndarray:
        y, nv, mask, kn = self._inputs(y_grid, noise_var, known)
        rows, cols, vals = channel_coo(self.modem, paths_dd, self.doppler_spread)
        diag = np.zeros(y.size, np.complex128)
        on = rows == cols
        np.add.at(diag, rows[on], vals[on])
        d = diag[mask]
        soft = np.where(np.abs(d) > 0, y[mask] / np.where(d == 0, 1, d), 0)
        self.last_soft = soft
        self.last_iterations = 1
        self.last_converged = True
        return self._output(nearest(soft, self.constellation), mask, kn)
