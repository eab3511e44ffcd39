"""Message passing detector (Raviteja, Hong, Viterbo, IEEE TWC 17(10), 2018) for OTFS and AFDM.

The detector runs on the sparse factor graph of the grid-domain channel (OTFS: delay-Doppler; AFDM:
DAFT domain, where an integer path is one nonzero per row as well). Each observation sees only the
``P`` paths' worth of variables; the interference of the others is approximated as Gaussian; damping
``p <- damping * p_new + (1 - damping) * p_old``; convergence indicator
``eta = fraction of data cells with max posterior >= 1 - conv_tol``; decisions from the iteration
with the largest ``eta``; stop at ``eta = 1`` or ``max_iter``. The hot loop is the compiled kernel
``dsp._kernels._mp`` (NumPy twin ``_mp_py``, same decisions).

Integer delays and Doppler give the exact sparse graph; fractional Doppler is handled as in the paper
by keeping ``2 S + 1`` Doppler bins per path (``doppler_spread=S``) - an approximation.
"""

from __future__ import annotations

import numpy as np

from dsp._kernels import load
from dsp.detection.base import Detector
from dsp.errors import HILError, check_range

__all__ = ["MpDetector"]

_STATUS = {1: "array shapes do not match the graph", 2: "bad parameter", 3: "out of memory"}


class MpDetector(Detector):
    """Message passing detection.

    Parameters
    ----------
    modem : Modem
    damping : float
        Damping factor in (0, 1] (1 = no damping); 0.6 as in the reference curve.
    max_iter : int
        Maximum number of iterations (>= 1).
    conv_tol : float
        A cell counts as converged when its largest posterior probability is >= 1 - conv_tol.
    stall_iter : int
        0 (default, the paper's rule): run until all cells converge or ``max_iter``. > 0: also stop after
        ``stall_iter`` iterations without a new best convergence indicator (large frames, where a few
        cells never converge and the paper's rule always runs ``max_iter`` iterations).
    doppler_spread : int or None
        See :class:`~dsp.detection.base.Detector`.
    """

    name = "mp"

    def __init__(self, modem, damping: float = 0.6, max_iter: int = 200, conv_tol: float = 0.01,
                 doppler_spread: int | None = 2, stall_iter: int = 0):
        super().__init__(modem, doppler_spread)
        self.damping = float(check_range("damping", damping, lo=1e-6, hi=1.0))
        self.max_iter = int(check_range("max_iter", int(max_iter), lo=1))
        self.conv_tol = float(check_range("conv_tol", conv_tol, lo=0.0, hi=1.0))
        self.stall_iter = int(check_range("stall_iter", int(stall_iter), lo=0))
        self._kernel = load("_mp")
        self.last_eta = 0.0
        self.last_prob = np.zeros((0, self.constellation.size))

    def detect(self, y_grid, paths_dd, noise_var, known=None) -> np.ndarray:
        """Symbol decisions on the data cells (grid of ``modem.shape``); see the class docstring."""
        y, nv, mask, kn = self._inputs(y_grid, noise_var, known)
        g, y_eff, _ = self._graph(y, paths_dd, mask, kn)
        n_var = g.var_cells.size
        idx = np.zeros(n_var, np.int64)
        prob = np.zeros((n_var, self.constellation.size))
        status, it, eta = self._kernel.mp_detect(y_eff, g.obs_ptr, g.edge_var, g.edge_h, g.var_ptr, g.var_edge,
                                                 self.constellation, nv, self.damping, self.max_iter,
                                                 self.conv_tol, self.stall_iter, idx, prob)
        if status:
            raise HILError(f"mp_detect failed: {_STATUS.get(status, status)} (status {status})")
        self.last_iterations = int(it)
        self.last_eta = float(eta)
        self.last_converged = eta >= 1.0
        self.last_prob = prob
        return self._output(idx, mask, kn)

    def __repr__(self) -> str:
        return (f"MpDetector(damping={self.damping}, max_iter={self.max_iter}, conv_tol={self.conv_tol}, "
                f"stall_iter={self.stall_iter}, doppler_spread={self.doppler_spread}, kernel={self._kernel.__name__})")
