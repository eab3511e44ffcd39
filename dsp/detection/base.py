"""Common detector machinery: input checks, known-cell (pilot/guard) cancellation, the factor graph."""

from __future__ import annotations

import copy
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from dsp.detection.ddgraph import _Tables, dd_channel, dd_supported
from dsp.detection.graph import FactorGraph, channel_coo, coo_matvec
from dsp.errors import ConfigError, check_range

__all__ = ["Detector"]


class Detector:
    """Base class. ``detect(y_grid, paths_dd, noise_var, known=None)`` returns a complex128 grid of
    ``modem.shape``: decisions (constellation points) on data cells, the known values elsewhere.

    Parameters common to all detectors
    ----------------------------------
    modem : a :class:`dsp.waveforms.base.Modem` (shape, data_mask, qam, bins, effective channel).
    doppler_spread : int or None
        For fractional Doppler on OTFS/AFDM: keep the ``2 S + 1`` Doppler bins nearest to each path
        (Raviteja 2018's truncation); None keeps the exact (dense along Doppler) relation.

    ``paths_dd``: rows ``(gain, delay_bin, doppler_bin)`` in the modem's bins (see
    :mod:`dsp.detection.graph`); ``noise_var``: noise variance per grid cell (= N0 for unitary
    waveforms, ``10**(-SNR/10)``); ``known``: grid with the pilot/guard values of the non-data cells
    (default: the modem's fill, i.e. what ``set_data_mask(mask, fill)`` put there). Their contribution
    ``H[:, known] x_known`` is subtracted before detection; only data cells are unknowns.

    After a call: ``last_indices`` (constellation index per data cell, C order), ``last_iterations``,
    ``last_converged``, ``last_engine`` (``"dd"`` or ``"graph"``, see :class:`~dsp.detection.mp.MpDetector`).

    :meth:`detect_many` detects a list of independent frames, on several threads if asked (the kernels
    run without the GIL); the results are those of :meth:`detect` frame by frame.
    """

    name = "base"

    def __init__(self, modem, doppler_spread: int | None = None):
        for attr in ("shape", "data_mask", "qam"):
            if not hasattr(modem, attr):
                raise ConfigError.bad_value("modem", type(modem).__name__, f"a Modem (missing .{attr})")
        if doppler_spread is not None:
            if isinstance(doppler_spread, bool) or not isinstance(doppler_spread, (int, np.integer)):
                raise ConfigError.bad_value("doppler_spread", doppler_spread, "None or an integer >= 0")
            check_range("doppler_spread", int(doppler_spread), lo=0)
        self.modem = modem
        self.doppler_spread = doppler_spread
        self.constellation = np.ascontiguousarray(modem.qam.constellation, np.complex128)
        self.last_indices = np.zeros(0, np.int64)
        self.last_iterations = 0
        self.last_converged = False
        self.last_engine = ""
        self._cache = None
        self._dd_cache = None
        self._mask_cache = None
        self._tables = _Tables()
        self._bits_lut = None
        self._want_grid = True
        self._direct_bits = None

    @property
    def last_indices(self) -> np.ndarray:
        """Constellation index per data cell of the last detection (C order; -1: no decision)."""
        if self._lazy_indices is not None:
            self._last_indices = np.asarray(self._lazy_indices(), np.int64)
            self._lazy_indices = None
        return self._last_indices

    @last_indices.setter
    def last_indices(self, value):
        self._last_indices = value
        self._lazy_indices = None

    def _data_cells(self, mask):
        """Flat indices of the data cells (int64), cached while the mask array stays the same."""
        c = getattr(self, "_dcells", None)
        if c is None or c[0] is not mask:
            c = (mask, np.flatnonzero(mask).astype(np.int64))
            self._dcells = c
        return c[1]

    # ------------------------------------------------------------------ helpers
    def _inputs(self, y_grid, noise_var, known):
        m = self.modem
        y = np.asarray(y_grid)
        if y.shape != tuple(m.shape):
            raise ConfigError.bad_value("y_grid.shape", y.shape, f"the modem grid {tuple(m.shape)}")
        nv = float(noise_var)
        if not (math.isfinite(nv) and nv > 0):
            raise ConfigError.bad_value("noise_var", noise_var, "a finite number > 0 (per-cell noise variance)")
        if known is None:
            # the modem's fill on the non-data cells, cached while the mask and the fill stay the same
            # (set_data_mask stores a new mask and a new fill array together, so the fill's identity is a
            # version stamp of both)
            mc = self._mask_cache
            token = getattr(m, "_fill", None)
            if mc is not None and token is not None and mc[0] is token:
                return np.ascontiguousarray(y, np.complex128).ravel(), nv, mc[1], mc[2]
        mask = np.asarray(m.data_mask, bool).ravel()
        if known is None:
            kn = np.asarray(m.grid_from_symbols(np.zeros(int(mask.sum()), np.complex128)), np.complex128).ravel() \
                if hasattr(m, "grid_from_symbols") else np.zeros(mask.size, np.complex128)
            kn[mask] = 0.0
            mask = mask.copy()
            self._mask_cache = (token, mask, kn)
            return np.ascontiguousarray(y, np.complex128).ravel(), nv, mask, kn
        else:
            kn = np.asarray(known, np.complex128)
            if kn.shape != tuple(m.shape):
                raise ConfigError.bad_value("known.shape", kn.shape, f"the modem grid {tuple(m.shape)}")
            kn = kn.ravel().copy()
        kn[mask] = 0.0
        return np.ascontiguousarray(y, np.complex128).ravel(), nv, mask, kn

    def _graph(self, y, paths_dd, mask, kn):
        # The graph depends only on (paths, data mask): reuse it while they repeat (block fading, a
        # stream of frames on one channel estimate) - building it costs more than an MRC detection.
        key = (np.asarray(paths_dd, np.complex128).tobytes(), mask.tobytes(), self.doppler_spread)
        if self._cache is not None and self._cache[0] == key:
            graph, coo = self._cache[1], self._cache[2]
        else:
            coo = channel_coo(self.modem, paths_dd, self.doppler_spread)
            graph = FactorGraph.from_coo(*coo, y.size, mask)
            self._cache = (key, graph, coo)
        y_eff = y - coo_matvec(*coo, kn, y.size) if np.any(kn) else y
        return graph, np.ascontiguousarray(y_eff), coo

    # ------------------------------------------------------------------ diagonal (fast) engine
    def _dd_applicable(self) -> bool:
        return dd_supported(self.modem)

    def _dd(self, y, paths_dd, mask, kn, kernel, transpose: bool = False):
        """Inputs of the diagonal kernels, or None when the channel has no diagonal form (fractional
        delays): ``(R, C, gsr, gsc, cre, cim, yr, yi, act, perm)`` in the kernel's layout - the grid, or
        with ``transpose`` the transposed grid (C x R, shifts swapped; ``perm[i]`` = layout index of data
        cell i, None when the layout is the grid's). Coefficients are cached while the paths repeat."""
        p = np.asarray(paths_dd, np.complex128)
        key = (p.tobytes(), self.doppler_spread, kernel.__name__, bool(transpose))
        if self._dd_cache is not None and self._dd_cache[0] == key:
            ch, cre, cim = self._dd_cache[1]
        else:
            ch = dd_channel(self.modem, p, self.doppler_spread, self._tables, kernel)
            if ch is None:
                return None
            cre, cim = ch.expand(kernel, transpose)
            self._dd_cache = (key, (ch, cre, cim))
        R, C = ch.R, ch.C
        kc, kv = self._known_cells(mask, kn)
        # the known cells' contribution H[:, known] x_known (in practice: the pilot) is subtracted in
        # the kernel, which also rounds to float32 and lays out the observations (no GIL)
        yr = np.empty(R * C, np.float32)
        yi = np.empty(R * C, np.float32)
        if kernel.prep_obs(np.ascontiguousarray(y, np.complex128), R, C, transpose, kc, kv, ch.gsr, ch.gsc, cre, cim,
                           yr, yi):
            raise ConfigError.bad_value("known", "inconsistent shapes", "the modem grid")
        if not transpose:
            return R, C, ch.gsr, ch.gsc, cre, cim, yr, yi, mask.view(np.uint8), None
        act_t, perm = self._transposed_cells(mask, R, C)
        return C, R, ch.gsc, ch.gsr, cre, cim, yr, yi, act_t, perm

    def _transposed_cells(self, mask, R, C):
        """(data mask as uint8, layout index of each data cell) in the transposed C x R layout; cached."""
        mc = self._mask_cache
        if mc is not None and len(mc) > 3 and mc[1] is mask and mc[3] is not None:
            return mc[3], mc[4]
        act_t = np.ascontiguousarray(mask.reshape(R, C).T).view(np.uint8).ravel()
        cells = np.flatnonzero(mask)
        perm = ((cells % C) * R + cells // C).astype(np.int64)
        if mc is not None and mc[1] is mask:
            self._mask_cache = (*mc[:3], act_t, perm, *mc[5:7])
        return act_t, perm

    def _frame_inputs(self, paths_dd, mask, kn):
        """What the one-call-per-frame kernels (``_ddet.frame_mrc`` / ``frame_mp``) take besides the frame:
        ``(paths, frame_spec, known cells, known values)``, or None when the paths are not an (P, 3) array
        of integer-bin paths those kernels handle (the general path then runs)."""
        p = paths_dd if isinstance(paths_dd, np.ndarray) else np.asarray(paths_dd)
        if p.ndim != 2 or p.shape[1] != 3 or p.dtype.kind not in "fic":
            return None
        kc, kv = self._known_cells(mask, kn)
        return np.ascontiguousarray(p, np.complex128), self._tables.frame_spec(self.modem), kc, kv

    def _known_cells(self, mask, kn):
        """(cells, values) of the known cells with a nonzero value, cached with the mask."""
        mc = self._mask_cache
        if mc is not None and mc[1] is mask and len(mc) > 5:
            return mc[5], mc[6]
        kc = np.flatnonzero(kn).astype(np.int64)
        kv = np.ascontiguousarray(kn[kc])
        if mc is not None and mc[1] is mask:
            self._mask_cache = (*mc[:3], *(mc[3:5] if len(mc) > 3 else (None, None)), kc, kv)
        return kc, kv

    def _output(self, idx, mask, kn, direct_bits=None):
        self._direct_bits = direct_bits
        if not self._want_grid:                  # detect_bits: the decisions are all it needs
            self.last_indices = np.asarray(idx, np.int64)
            return None
        out = kn.copy()
        sym = np.where(idx >= 0, self.constellation[np.maximum(idx, 0)], 0.0)
        out[mask] = sym
        self.last_indices = np.asarray(idx, np.int64)
        return out.reshape(self.modem.shape)

    def detect(self, y_grid, paths_dd, noise_var, known=None) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def detect_bits(self, y_grid, paths_dd, noise_var, known=None) -> np.ndarray:
        """Hard bits of the data cells (uint8, ``n_data * bits_per_symbol``)."""
        self._want_grid = False
        try:
            self.detect(y_grid, paths_dd, noise_var, known)
        finally:
            self._want_grid = True
        return self.last_bits()

    def last_bits(self) -> np.ndarray:
        """Hard bits of the last detection's decisions (what ``qam.demap_hard`` gives for the decided
        symbols; a cell without any decision - index -1 - demaps the symbol 0 as :meth:`detect` outputs it)."""
        if self._bits_lut is None:
            pts = np.concatenate([self.constellation, [0.0]])
            table = np.asarray(self.modem.qam.demap_hard(pts), np.uint8).reshape(pts.size, -1)
            bps = table.shape[1]
            # each point's bits packed MSB-first in one byte; index -1 (no decision) -> the last entry
            codes = np.packbits(np.pad(table, ((0, 0), (8 - bps, 0))), axis=1).ravel() if bps <= 8 else None
            self._bits_lut = (table, codes, bps)
        if self._direct_bits is not None:
            return self._direct_bits
        table, codes, bps = self._bits_lut
        idx = self.last_indices
        if codes is None:
            return table[np.where(idx >= 0, idx, table.shape[0] - 1)].ravel()
        c = codes.take(idx, mode="wrap")                 # -1 wraps to the last entry (the symbol 0)
        return np.unpackbits(c[:, None], axis=1, count=8)[:, 8 - bps:].ravel()

    def detect_many(self, frames, paths_dd, noise_var, known=None, threads: int = 1, bits: bool = False) -> list:
        """:meth:`detect` (or :meth:`detect_bits` with ``bits=True``) of independent frames, in order.

        ``frames``: a sequence of received grids; ``paths_dd`` and ``noise_var``: one for all frames or a
        sequence with one per frame (the same for ``known``). ``threads`` > 1 hands the frames out one at
        a time to that many threads, each with its own copy of this detector; the compiled kernels
        release the GIL, so the detections overlap. The results equal frame-by-frame :meth:`detect`
        calls (each detection is deterministic and independent). ``last_*`` attributes describe the last
        frame afterwards.
        """
        frames = list(frames)
        n = len(frames)
        if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
            raise ConfigError.bad_value("threads", threads, "an integer >= 1")

        def per_frame(v, name, single):
            if not single(v):
                a = list(v)
                if len(a) != n:
                    raise ConfigError.bad_value(f"len({name})", len(a), f"{n} (one per frame) or a single value")
                return a
            return [v] * n

        def one_paths(v):
            if isinstance(v, (list, tuple)):
                return not (len(v) and all(np.ndim(e) == 2 for e in v))
            return np.ndim(v) != 3

        P = per_frame(paths_dd, "paths_dd", one_paths)
        V = per_frame(noise_var, "noise_var", lambda v: np.ndim(v) == 0)
        K = per_frame(known, "known", lambda v: v is None or np.ndim(v) == len(self.modem.shape))
        threads = int(min(threads, max(n, 1)))

        def detect_one(det, i):
            if bits:
                return det.detect_bits(frames[i], P[i], V[i], K[i])
            return det.detect(frames[i], P[i], V[i], K[i])

        if threads == 1:
            return [detect_one(self, i) for i in range(n)]
        # the worker copies persist between calls, so their caches (known cells, tables) stay warm
        clones = self.__dict__.setdefault("_workers", [])
        while len(clones) < threads - 1:
            clones.append(self._clone())
        settings = {k: v for k, v in self.__dict__.items() if not k.startswith(("_", "last_"))}
        for c in clones[:threads - 1]:
            c.__dict__.update(settings)          # parameters changed since (max_iter, damping, ...) follow
        workers = [self] + clones[:threads - 1]
        # frames are handed out one at a time as threads come free (frames differ in cost: iterations,
        # paths), so no thread idles while another still holds a run of them
        order = iter(range(n))                   # next() on it is atomic under the GIL
        out = [None] * n
        last = [self]

        def run(det):
            for i in order:
                out[i] = detect_one(det, i)
                if i == n - 1:
                    last[0] = det

        with ThreadPoolExecutor(max_workers=threads) as ex:
            for f in [ex.submit(run, w) for w in workers]:
                f.result()
        if last[0] is not self:
            for a in ("last_indices", "last_iterations", "last_converged", "last_engine"):
                setattr(self, a, getattr(last[0], a))
        return out

    def _clone(self):
        """A copy with its own caches and ``last_*`` state (for a worker thread)."""
        c = copy.copy(self)
        c._workers = []
        c._cache = None
        c._dd_cache = None
        c._mask_cache = None
        # the phase tables are shared: read-mostly, and a table two threads build at once is the same
        return c

    def __repr__(self) -> str:
        return f"{type(self).__name__}(modem={self.modem!r}, doppler_spread={self.doppler_spread})"
