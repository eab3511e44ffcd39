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

Two engines (``engine=``), as for :class:`~dsp.detection.mp.MpDetector`: ``"dd"`` (default where it
applies: OTFS/AFDM with integer delay bins, any QAM) runs on the channel's shifted diagonals in float32
(kernel ``_ddet``, bit-identical NumPy twin ``_ddet_py``) with the same groups on OTFS (delay rows) and on
small AFDM frames (one DAFT index at a time, in index order); large AFDM frames sweep the indices in the
strided order of :func:`sweep_stride`, 32 at a time; ``"graph"`` is the float64 factor-graph kernel
``_mrc`` / ``_mrc_py``.
"""

from __future__ import annotations

import numpy as np

from dsp._kernels import load
from dsp.detection.base import Detector
from dsp.errors import ConfigError, HILError, check_choice, check_range

__all__ = ["MrcDetector", "sweep_stride", "strided_order"]

_STATUS = {1: "array shapes do not match the graph", 2: "bad parameter", 3: "out of memory"}


SWEEP_LANES = 32    # indices per vector step of AFDM's strided sweep (two AVX-512 / four AVX2 / eight NEON registers)


def sweep_stride(modem) -> int:
    """AFDM's sweep stride ``B`` for the dd engine: ``N / SWEEP_LANES`` when that is at least the span of the
    channel's index shifts, ``2 N c1 l_max + 2 (alpha_max + k_v) + 1``; else 0 (one index at a time, in index
    order). Not AFDM: 0.

    The sweep then visits the indices ``a, a + B, a + 2B, ...`` together, for ``a = 0 .. B-1``: no two of
    them share an observation (their distance is a multiple of B; no difference of two shifts is), so
    combining them at once is Gauss-Seidel in that order. The order differs from index order only for the
    pairs of neighbouring indices across a multiple of B (a fraction ~ span / B): on NTN-TDL-C the BER is the
    same; where MRC's error floor comes from wrong fixed points of the decision feedback (the raviteja
    channel), it is 2-3 % higher at N = 16384 (docs/detectors.md). Small frames (N < 32 x span) keep index
    order."""
    if len(getattr(modem, "shape", ())) != 1 or not hasattr(modem, "c1"):
        return 0
    N = int(modem.N)
    span = int(np.ceil(2 * N * modem.c1 - 1e-9)) * modem.l_max + 2 * (modem.alpha_max + modem.k_v) + 1
    B = N // SWEEP_LANES
    return B if N % SWEEP_LANES == 0 and B >= span else 0


def strided_order(N: int, B: int) -> np.ndarray:
    """Position of each index in the strided layout: index ``i B + a`` at ``a (N / B) + i`` (int64)."""
    d = np.arange(N, dtype=np.int64)
    return (d % B) * (N // B) + d // B


class MrcDetector(Detector):
    """Iterative MRC detection.

    Parameters
    ----------
    modem : Modem
    max_iter : int
        Maximum number of sweeps (>= 1).
    doppler_spread : int or None
        See :class:`~dsp.detection.base.Detector`.
    engine : {"auto", "dd", "graph"}
        ``"auto"`` (default): ``"dd"`` for OTFS/AFDM with integer delay bins, else ``"graph"``.
    """

    name = "mrc"

    def __init__(self, modem, max_iter: int = 20, doppler_spread: int | None = 2, engine: str = "auto"):
        super().__init__(modem, doppler_spread)
        self.max_iter = int(check_range("max_iter", int(max_iter), lo=1))
        self.engine = check_choice("engine", engine, ("auto", "dd", "graph"))
        if engine == "dd" and not self._dd_applicable():
            raise ConfigError.bad_value("engine", engine, "'auto' or 'graph' for this modem ('dd' needs OTFS or AFDM)")
        self._kernel = load("_mrc")
        self._dd_kernel = load("_ddet")
        self._cons32 = (np.ascontiguousarray(self.constellation.real, np.float32),
                        np.ascontiguousarray(self.constellation.imag, np.float32))
        self.last_soft = np.zeros(0, np.complex128)
        self._stride = sweep_stride(modem)
        self._strided = None

    @property
    def last_soft(self) -> np.ndarray:
        """Combiner outputs ``g_c`` of the data cells after the last sweep (complex128)."""
        if self._soft_raw is not None:
            soft, sel = self._soft_raw
            self._last_soft = soft[sel].astype(np.float64).view(np.complex128).ravel()
            self._soft_raw = None
        return self._last_soft

    @last_soft.setter
    def last_soft(self, value):
        self._last_soft = value
        self._soft_raw = None

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
        if self.engine != "graph" and self._dd_applicable():
            if not self._want_grid and self._frame_bits(y, paths_dd, mask, kn):
                return None
            dd = self._dd(y, paths_dd, mask, kn, self._dd_kernel)
            if dd is not None:
                return self._detect_dd(dd, mask, kn)
            if self.engine == "dd":
                raise ConfigError.bad_value("paths_dd delay_bin", "fractional", "integer delay bins for engine 'dd'")
        self.last_engine = "graph"
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

    def _layout(self, mask):
        """AFDM's strided layout (``sweep_stride``) of this data mask: (position of each index, index at each
        position, data mask as uint8 in the layout, layout position of each data cell); cached with the mask."""
        c = self._strided
        if c is None or c[0] is not mask:
            pos = strided_order(mask.size, self._stride)
            inv = np.empty(mask.size, np.int64)
            inv[pos] = np.arange(mask.size)
            act = np.empty(mask.size, np.uint8)
            act[pos] = mask
            c = self._strided = (mask, pos, inv, act, pos[np.flatnonzero(mask)])
        return c[1:]

    def _detect_dd(self, dd, mask, kn) -> np.ndarray:
        R, C, gsr, gsc, cre, cim, yr, yi, act, _ = dd
        n = yr.size
        idx = np.empty(n, np.int64)
        soft = np.empty((n, 2), np.float32)
        # groups: a whole delay row on OTFS (the paper's sweep); on AFDM the indices B apart (sweep_stride)
        # in the strided layout, or one index at a time
        B = self._stride
        if B:
            pos, inv, act, _ = self._layout(mask)
            R, C, gsr, gsc = B, n // B, gsc % B, gsc // B
            cre, cim, yr, yi = (np.ascontiguousarray(a[..., inv]) for a in (cre, cim, yr, yi))
        glen = C if len(self.modem.shape) >= 2 or B else 1
        status, sweeps = self._dd_kernel.mrc(R, C, gsr, gsc, cre, cim, yr, yi, act, glen,
                                             self._cons32[0], self._cons32[1], self.max_iter, idx, soft, bool(B))
        if B:
            idx, soft = idx[pos], soft[pos]
        if status:
            raise HILError(f"mrc (dd) failed: {_STATUS.get(status, status)} (status {status})")
        self.last_engine = "dd"
        self.last_iterations = int(sweeps)
        self.last_converged = sweeps < self.max_iter
        self._soft_raw = (soft, mask)
        out = self._output(idx[mask], mask, kn)
        self._raw_idx = (idx, self._data_cells(mask))
        return out

    def _frame_bits(self, y, paths_dd, mask, kn) -> bool:
        """detect_bits of integer paths in one kernel call (``_ddet.frame_mrc``: diagonals, expansion, pilot
        cancellation, sweeps and bits without the GIL); False when the paths need the general path."""
        inputs = self._frame_inputs(paths_dd, mask, kn)
        if inputs is None:
            return False
        p, (kind, R, C, cp, frame, c1, rot, tab, ones, filled, post), kc, kv = inputs
        n = R * C
        idx = np.empty(n, np.int64)
        soft = np.empty((n, 2), np.float32)
        sel, table, act, B = self._data_cells(mask), self._bit_table(), mask.view(np.uint8), self._stride
        if B:
            *_, act, sel = self._layout(mask)
        bits = np.empty(sel.size * table.shape[1], np.uint8)
        glen = C if len(self.modem.shape) >= 2 else (C // B if B else 1)
        args = (kind, R, C, cp, frame, c1, p, rot, tab, ones, filled, post, y, kc, kv, act, glen,
                self._cons32[0], self._cons32[1], self.max_iter, sel, table, idx, soft, bits, B)
        status, sweeps = self._dd_kernel.frame_mrc(*args)
        if status == 5:                                   # an AFDM delay seen for the first time: its table
            d = np.rint(p[:, 1].real).astype(np.int64)
            self._tables.afdm_rows(C, float(self.modem.c2), cp, d[(d >= 0) & (d <= cp)])
            status, sweeps = self._dd_kernel.frame_mrc(*args)
        if status == 4:
            return False
        if status:
            raise HILError(f"frame_mrc failed: {_STATUS.get(status, status)} (status {status})")
        self.last_engine = "dd"
        self.last_iterations = int(sweeps)
        self.last_converged = sweeps < self.max_iter
        self._soft_raw = (soft, sel)                       # sel: the data cells' rows, in the kernel's layout
        self._raw_idx = (idx, sel)
        self._lazy_indices = lambda: idx[sel]
        self._direct_bits = bits
        return True

    def last_bits(self) -> np.ndarray:
        if self._direct_bits is not None:
            return self._direct_bits
        raw = getattr(self, "_raw_idx", None)
        if raw is None or self.last_engine != "dd":
            return super().last_bits()
        # bits straight from the kernel's decisions (no grid, no demapper)
        idx, sel = raw
        table = self._bit_table()
        bits = np.empty(sel.size * table.shape[1], np.uint8)
        if self._dd_kernel.gather_bits(idx, sel, table, bits):
            raise HILError("gather_bits refused its shapes")
        return bits

    def _bit_table(self):
        t = getattr(self, "_btab", None)
        if t is None:
            pts = np.concatenate([self.constellation, [0.0]])
            t = np.ascontiguousarray(np.asarray(self.modem.qam.demap_hard(pts), np.uint8).reshape(pts.size, -1))
            self._btab = t
        return t

    def __repr__(self) -> str:
        return (f"MrcDetector(max_iter={self.max_iter}, doppler_spread={self.doppler_spread}, "
                f"engine={self.engine!r}, kernel={self._kernel.__name__})")
