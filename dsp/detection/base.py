"""Common detector machinery: input checks, known-cell (pilot/guard) cancellation, the factor graph."""

from __future__ import annotations

import math

import numpy as np

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
    ``last_converged``.
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
        self._cache = None

    # ------------------------------------------------------------------ helpers
    def _inputs(self, y_grid, noise_var, known):
        m = self.modem
        y = np.asarray(y_grid)
        if y.shape != tuple(m.shape):
            raise ConfigError.bad_value("y_grid.shape", y.shape, f"the modem grid {tuple(m.shape)}")
        nv = float(noise_var)
        if not (math.isfinite(nv) and nv > 0):
            raise ConfigError.bad_value("noise_var", noise_var, "a finite number > 0 (per-cell noise variance)")
        mask = np.asarray(m.data_mask, bool).ravel()
        if known is None:
            kn = np.asarray(m.grid_from_symbols(np.zeros(int(mask.sum()), np.complex128)), np.complex128).ravel() \
                if hasattr(m, "grid_from_symbols") else np.zeros(mask.size, np.complex128)
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

    def _output(self, idx, mask, kn):
        out = kn.copy()
        sym = np.where(idx >= 0, self.constellation[np.maximum(idx, 0)], 0.0)
        out[mask] = sym
        self.last_indices = np.asarray(idx, np.int64)
        return out.reshape(self.modem.shape)

    def detect(self, y_grid, paths_dd, noise_var, known=None) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def detect_bits(self, y_grid, paths_dd, noise_var, known=None) -> np.ndarray:
        """Hard bits of the data cells (uint8, ``n_data * bits_per_symbol``)."""
        grid = self.detect(y_grid, paths_dd, noise_var, known)
        mask = np.asarray(self.modem.data_mask, bool).ravel()
        return self.modem.qam.demap_hard(grid.ravel()[mask])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(modem={self.modem!r}, doppler_spread={self.doppler_spread})"
