"""Iterative maximal-ratio-combining (rake) decision-feedback detector, after Thaj and Viterbo,
"Low complexity iterative rake decision feedback equalizer for zero-padded OTFS systems",
IEEE TVT 69(12), 2020.

Each data symbol reaches ``P`` observation cells (one per path for integer delay/Doppler); the
detector combines them with maximal-ratio weights against the residual ``y - H x_hat`` and feeds the
hard decisions back, sweeping delay row by delay row (OTFS; each DAFT index on AFDM; each grid row in
general) until no decision changes. Cost per sweep: ``2 x edges`` complex multiply-adds - no matrix
inversion - which is what makes it a real-time receiver. The hot loop is ``dsp._kernels._mrc``
(NumPy twin ``_mrc_py``, same decisions). The paper sweeps in the delay-time domain, which is the
same combination after an FFT along Doppler; here it runs on the delay-Doppler graph directly, so
it also serves AFDM.
"""

from __future__ import annotations

import numpy as np

from dsp._kernels import load
from dsp.detection.base import Detector
from dsp.errors import HILError, check_range

__all__ = ["MrcDetector"]

_STATUS = {1: "array shapes do not match the graph", 2: "bad parameter", 3: "out of memory"}


class MrcDetector(Detector):
    """Iterative MRC detection.

    Parameters
    ----------
    modem : Modem
    max_iter : int
        Maximum number of sweeps (>= 1).
    doppler_spread : int or None
        See :class:`~dsp.detection.base.Detector`.
    """

    name = "mrc"

    def __init__(self, modem, max_iter: int = 20, doppler_spread: int | None = 2):
        super().__init__(modem, doppler_spread)
        self.max_iter = int(check_range("max_iter", int(max_iter), lo=1))
        self._kernel = load("_mrc")
        self.last_soft = np.zeros(0, np.complex128)

    def _groups(self, var_cells):
        shape = tuple(self.modem.shape)
        if len(shape) < 2:
            return np.arange(var_cells.size + 1, dtype=np.int64)
        row = var_cells // int(np.prod(shape[1:]))
        # variables are in C order, so each grid row is a consecutive run
        cuts = np.flatnonzero(np.diff(row)) + 1
        return np.concatenate([[0], cuts, [var_cells.size]]).astype(np.int64)

    def detect(self, y_grid, paths_dd, noise_var, known=None) -> np.ndarray:
        """Symbol decisions on the data cells (grid of ``modem.shape``). ``noise_var`` is checked but
        not used by the MRC weights (zero-forcing combining with decision feedback)."""
        y, nv, mask, kn = self._inputs(y_grid, noise_var, known)
        g, y_eff, _ = self._graph(y, paths_dd, mask, kn)
        n_var = g.var_cells.size
        idx = np.zeros(n_var, np.int64)
        soft = np.zeros(n_var, np.complex128)
        groups = self._groups(g.var_cells) if n_var else np.zeros(1, np.int64)
        status, sweeps = self._kernel.mrc_detect(y_eff, g.obs_ptr, g.edge_obs, g.edge_var, g.edge_h, g.var_ptr,
                                                 g.var_edge, groups, self.constellation, self.max_iter, idx, soft)
        if status:
            raise HILError(f"mrc_detect failed: {_STATUS.get(status, status)} (status {status})")
        self.last_iterations = int(sweeps)
        self.last_converged = sweeps < self.max_iter
        self.last_soft = soft
        return self._output(idx, mask, kn)

    def __repr__(self) -> str:
        return (f"MrcDetector(max_iter={self.max_iter}, doppler_spread={self.doppler_spread}, "
                f"kernel={self._kernel.__name__})")
