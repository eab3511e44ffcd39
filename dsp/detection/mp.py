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

Two engines run the same algorithm (``engine=``):

* ``"dd"`` (the default where it applies: OTFS / AFDM with integer delay bins, 4-QAM): the channel as
  shifted diagonals in flat float32 arrays (:mod:`dsp.detection.ddgraph`, kernel ``_ddet``, NumPy twin
  ``_ddet_py`` - bit-identical), built from ``paths_dd`` in O(paths x (M + N)); issue 16's receiver.
  float32 rounding can flip a decision that sits on a tie of the float64 engine; the BER is the same
  within statistical tolerance (tests/test_detection.py, docs/detectors.md).
* ``"graph"``: the factor graph of any sparse channel in float64 (kernel ``_mp``, twin ``_mp_py``); used
  for other constellations and waveforms, or when asked for.
"""

from __future__ import annotations

import numpy as np

from dsp._kernels import load
from dsp.detection.base import Detector
from dsp.errors import ConfigError, HILError, check_choice, check_range

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
    engine : {"auto", "dd", "graph"}
        ``"auto"`` (default): ``"dd"`` where it applies (OTFS/AFDM, integer delay bins, 4-QAM), else
        ``"graph"``. ``"dd"`` refuses what it cannot run. See the module docstring.
    """

    name = "mp"

    def __init__(self, modem, damping: float = 0.6, max_iter: int = 200, conv_tol: float = 0.01,
                 doppler_spread: int | None = 2, stall_iter: int = 0, engine: str = "auto"):
        super().__init__(modem, doppler_spread)
        self.engine = check_choice("engine", engine, ("auto", "dd", "graph"))
        self._levels = _binary_levels(self.constellation)
        if engine == "dd" and (self._levels is None or not self._dd_applicable()):
            raise ConfigError.bad_value("engine", engine, "'auto' or 'graph' for this modem/constellation ('dd' "
                                        "needs OTFS or AFDM and 4-QAM)")
        self.damping = float(check_range("damping", damping, lo=1e-6, hi=1.0))
        self.max_iter = int(check_range("max_iter", int(max_iter), lo=1))
        self.conv_tol = float(check_range("conv_tol", conv_tol, lo=0.0, hi=1.0))
        self.stall_iter = int(check_range("stall_iter", int(stall_iter), lo=0))
        self._kernel = load("_mp")
        self.last_eta = 0.0
        self._last_prob = np.zeros((0, self.constellation.size))
        self._last_llr = None
        self._dd_kernel = load("_ddet") if self._levels is not None else None

    @property
    def last_prob(self) -> np.ndarray:
        """Posterior symbol probabilities of the data cells after the last iteration (n_data, Q)."""
        if self._last_llr is not None:
            # dd engine: product of the I and Q logistic posteriors of the final LLRs
            llr, sel = self._last_llr
            t = llr[sel].astype(np.float64)
            p1 = 0.5 * (1.0 + np.tanh(0.5 * t))                 # P(level x1) per dimension
            bi, bq = self._levels[4], self._levels[5]
            pi = np.where(bi[None, :] == 1, p1[:, :1], 1.0 - p1[:, :1])
            pq = np.where(bq[None, :] == 1, p1[:, 1:], 1.0 - p1[:, 1:])
            self._last_prob = pi * pq
            self._last_llr = None
        return self._last_prob

    @last_prob.setter
    def last_prob(self, value):
        self._last_prob = value
        self._last_llr = None

    def detect(self, y_grid, paths_dd, noise_var, known=None) -> np.ndarray:
        """Symbol decisions on the data cells (grid of ``modem.shape``); see the class docstring."""
        y, nv, mask, kn = self._inputs(y_grid, noise_var, known)
        if self.engine != "graph" and self._levels is not None and self._dd_applicable():
            # long rows for the vectorised loops: the transposed (Doppler-major) layout when M > N
            shape = tuple(self.modem.shape)
            transpose = len(shape) == 2 and shape[0] > shape[1]
            if not self._want_grid and self._frame_bits(y, paths_dd, nv, mask, kn, transpose):
                return None
            dd = self._dd(y, paths_dd, mask, kn, self._dd_kernel, transpose=transpose)
            if dd is not None:
                return self._detect_dd(dd, nv, mask, kn)
            if self.engine == "dd":
                raise ConfigError.bad_value("paths_dd delay_bin", "fractional", "integer delay bins for engine 'dd'")
        self.last_engine = "graph"
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

    def _detect_dd(self, dd, nv, mask, kn) -> np.ndarray:
        R, C, gsr, gsc, cre, cim, yr, yi, act, perm = dd
        n = yr.size
        dec = np.empty((n, 2), np.int8)
        llr = np.empty((n, 2), np.float32)
        status, it, eta = self._dd_kernel.mp_binary(R, C, gsr, gsc, cre, cim, yr, yi, act,
                                                    self._levels[:4], nv, self.damping, self.max_iter, self.conv_tol,
                                                    self.stall_iter, dec, llr)
        if status:
            raise HILError(f"mp_binary failed: {_STATUS.get(status, status)} (status {status})")
        self.last_engine = "dd"
        self.last_iterations = int(it)
        self.last_eta = float(eta)
        self.last_converged = eta >= 1.0
        sel = mask if perm is None else perm
        if not self._want_grid:
            # detect_bits: the bits straight from the decisions in the kernel; indices and posteriors only
            # when asked for (last_indices / last_prob)
            cells = self._data_cells(mask) if perm is None else perm
            bits = np.empty(cells.size * self._pair_table().shape[1], np.uint8)
            if self._dd_kernel.pair_bits(dec, cells, self._pair_table(), bits):
                raise HILError("pair_bits refused its shapes")
            self._direct_bits = bits
            self._last_llr = (llr, sel)
            self._lazy_indices = lambda: self._levels[6][dec[sel, 0], dec[sel, 1]]
            return None
        d = dec[sel]
        self._last_llr = (llr, sel)
        idx = self._levels[6][d[:, 0], d[:, 1]]
        sep = self._separable_bits()
        bits = None
        if sep is not None:
            # Gray 4-QAM: each bit is one dimension's decision, possibly inverted
            order, flip = sep
            bits = (d.view(np.uint8)[:, order] ^ flip).ravel()
        return self._output(idx, mask, kn, bits)

    def _frame_bits(self, y, paths_dd, nv, mask, kn, transpose) -> bool:
        """detect_bits of integer paths in one kernel call (``_ddet.frame_mp``); False when the paths need
        the general path."""
        inputs = self._frame_inputs(paths_dd, mask, kn)
        if inputs is None:
            return False
        p, (kind, R, C, cp, frame, c1, rot, tab, ones, filled, post), kc, kv = inputs
        if transpose:
            act, cells = self._transposed_cells(mask, R, C)
        else:
            act, cells = mask.view(np.uint8), self._data_cells(mask)
        n = R * C
        dec = np.empty((n, 2), np.int8)
        llr = np.empty((n, 2), np.float32)
        table = self._pair_table()
        bits = np.empty(cells.size * table.shape[1], np.uint8)
        args = (kind, R, C, cp, frame, c1, p, rot, tab, ones, filled, post, y, kc, kv, transpose, act,
                self._levels[:4], nv, self.damping, self.max_iter, self.conv_tol, self.stall_iter, cells, table, dec,
                llr, bits)
        status, it, eta = self._dd_kernel.frame_mp(*args)
        if status == 5:                                   # an AFDM delay seen for the first time: its table
            d = np.rint(p[:, 1].real).astype(np.int64)
            self._tables.afdm_rows(C, float(self.modem.c2), cp, d[(d >= 0) & (d <= cp)])
            status, it, eta = self._dd_kernel.frame_mp(*args)
        if status == 4:
            return False
        if status:
            raise HILError(f"frame_mp failed: {_STATUS.get(status, status)} (status {status})")
        self.last_engine = "dd"
        self.last_iterations = int(it)
        self.last_eta = float(eta)
        self.last_converged = eta >= 1.0
        sel = cells if transpose else mask
        self._direct_bits = bits
        self._last_llr = (llr, sel)
        self._lazy_indices = lambda: self._levels[6][dec[sel, 0], dec[sel, 1]]
        return True

    def _pair_table(self):
        """Bits of the point with I/Q level bits (bI, bQ) in row 2 bI + bQ (uint8 (4, bits per symbol)); cached."""
        t = getattr(self, "_ptab", None)
        if t is None:
            table = np.asarray(self.modem.qam.demap_hard(self.constellation), np.uint8).reshape(4, -1)
            lut = self._levels[6]
            t = np.ascontiguousarray(table[[lut[0, 0], lut[0, 1], lut[1, 0], lut[1, 1]]])
            self._ptab = t
        return t

    def _separable_bits(self):
        """(column order, xor mask) when each of the 2 bits of a point is a function of one dimension's
        level bit alone (Gray 4-QAM), else None; cached."""
        if getattr(self, "_sep", 0) != 0:
            return self._sep
        self._sep = None
        table = np.asarray(self.modem.qam.demap_hard(self.constellation), np.uint8).reshape(4, -1)
        bi, bq = self._levels[4], self._levels[5]
        if table.shape[1] == 2:
            for order in ((0, 1), (1, 0)):
                dims = np.stack([bi, bq], axis=1)[:, list(order)]
                flip = table[0] ^ dims[0]
                if np.array_equal(dims ^ flip, table):
                    self._sep = (list(order), flip.astype(np.uint8))
                    break
        return self._sep

    def __repr__(self) -> str:
        return (f"MpDetector(damping={self.damping}, max_iter={self.max_iter}, conv_tol={self.conv_tol}, "
                f"stall_iter={self.stall_iter}, doppler_spread={self.doppler_spread}, engine={self.engine!r}, "
                f"kernel={self._kernel.__name__})")


def _binary_levels(constellation):
    """For a 4-point constellation that is the product of two real and two imaginary levels:
    (x0_I, x1_I, x0_Q, x1_Q, bit_I per point, bit_Q per point, index table [bit_I, bit_Q]); else None."""
    s = np.asarray(constellation)
    li = np.unique(s.real)
    lq = np.unique(s.imag)
    if s.size != 4 or li.size != 2 or lq.size != 2:
        return None
    bi = (s.real == li[1]).astype(np.int64)
    bq = (s.imag == lq[1]).astype(np.int64)
    lut = np.full((2, 2), -1, np.int64)
    lut[bi, bq] = np.arange(4)
    if np.any(lut < 0):
        return None
    return (float(li[0]), float(li[1]), float(lq[0]), float(lq[1]), bi, bq, lut)
