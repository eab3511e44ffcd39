"""The protocol every waveform follows (:class:`Modem`).

A modem maps a complex grid ``X`` of ``.shape`` (QAM symbols on data cells, pilots/guards elsewhere)
to one frame of samples and back::

    modulate_grid(X)  -> complex64 samples [frame_length]   (the waveform's transform + its prefix)
    demodulate_grid(y) -> complex128 grid of .shape          (prefix removed; exact inverse)
    modulate(bits)    -> complex64 samples                  (bits fill the data cells in C order)
    demodulate(y)     -> hard bits                          (ideal channel: the identity)

Leading batch dimensions are allowed everywhere: ``modulate_grid`` of ``(B, *shape)`` gives
``(B, frame_length)`` (one frame per row), ``modulate`` of ``(B, bits_per_frame)`` bits likewise.
Batching many frames per call is how the transmitter reaches its throughput.

Energy: with unit-energy QAM (Es = 1) the transforms are unitary (GFDM: unit-energy pulse, unitary on
average only), so the mean ``|sample|^2`` over a frame body equals the mean ``|X|^2`` = 1.
``oversampling`` is the number of samples per grid cell (1 except ODDM); AWGN of variance
``oversampling * N0`` per sample gives ``N0`` per grid cell after the receive transform, with
``N0 = 10**(-SNR/10)`` and SNR = Es/N0 (see :meth:`Modem.noise_var_per_sample`).

The channel as a detector sees it: :meth:`Modem.dd_paths` turns a
:class:`~dsp.channel.DoublyDispersiveChannel` into ``(gain, delay_bin, doppler_bin)`` rows using the
modem's bins (``delay_bin`` samples per delay bin, ``doppler_bin`` cycles/sample per Doppler bin);
:meth:`Modem.channel_from_bins` is the inverse.
"""

from __future__ import annotations

import numpy as np

from dsp._kernels import load
from dsp.channel import DoublyDispersiveChannel, Path
from dsp.errors import ConfigError, HILError, check_range
from dsp.qam import QamMapper

__all__ = ["Modem"]


def _check_int(field: str, value, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError.bad_value(field, value, f"an integer >= {lo}" + (f" and <= {hi}" if hi else ""))
    check_range(field, int(value), lo=lo, hi=hi)
    return int(value)


class Modem:
    """Base class: data mask, bit <-> grid mapping, batching, effective channel. Subclasses define
    ``shape``, ``cp_len``, ``frame_length``, ``delay_bin``, ``doppler_bin`` and the two batch transforms
    ``_tx(X (B, *shape), dtype) -> (B, frame_length)`` and ``_rx(y (B, frame_length)) -> (B, *shape)``."""

    kind = "modem"
    oversampling = 1

    def __init__(self, shape: tuple[int, ...], qam: int | QamMapper = 4):
        self.shape = tuple(int(s) for s in shape)
        self.qam = qam if isinstance(qam, QamMapper) else QamMapper(qam)
        self._mask = np.ones(self.shape, bool)
        self._fill = np.zeros(self.shape, np.complex128)
        self._data_idx = np.arange(self.n_cells, dtype=np.int64)
        self._kmap = load("_modmap")
        self._kframe = load("_modframe")
        self._lut64 = self.qam.constellation.astype(np.complex64)

    # ----------------------------------------------------------------- sizes
    @property
    def n_cells(self) -> int:
        """Number of grid cells (``prod(shape)``)."""
        return int(np.prod(self.shape))

    @property
    def n_data(self) -> int:
        """Number of data cells (True in ``data_mask``)."""
        return int(self._data_idx.size)

    @property
    def bits_per_frame(self) -> int:
        """Bits carried by one frame: ``n_data * qam.bits_per_symbol``."""
        return self.n_data * self.qam.bits_per_symbol

    @property
    def data_mask(self) -> np.ndarray:
        """Boolean grid of ``shape``: True = data cell (a read-only copy)."""
        m = self._mask.copy()
        m.setflags(write=False)
        return m

    def set_data_mask(self, mask, fill=None) -> None:
        """Choose the data cells. ``fill`` (complex grid of ``shape``, optional) gives the values of the
        non-data cells (pilots; zeros = guards) that :meth:`modulate` puts in; data cells of ``fill`` are
        ignored (they must be 0 so that nothing is silently dropped)."""
        m = np.asarray(mask)
        if m.shape != self.shape or m.dtype != bool:
            raise ConfigError.bad_value("data_mask", f"{m.dtype} array of shape {m.shape}",
                                        f"a bool array of shape {self.shape}")
        if not m.any():
            raise ConfigError.bad_value("data_mask", "no data cell", "at least one True cell")
        f = np.zeros(self.shape, np.complex128) if fill is None else np.asarray(fill, np.complex128)
        if f.shape != self.shape:
            raise ConfigError.bad_value("fill.shape", f.shape, f"{self.shape}")
        if np.any(f[m] != 0):
            raise ConfigError.bad_value("fill", "nonzero values on data cells", "zeros wherever data_mask is True")
        self._mask = m.copy()
        self._fill = f.copy()
        self._data_idx = np.flatnonzero(self._mask.ravel()).astype(np.int64)

    # ----------------------------------------------------------------- subclass hooks
    def _tx(self, X: np.ndarray, dtype, overwrite: bool = False) -> np.ndarray:  # pragma: no cover - abstract
        """(B, *shape) grid of ``dtype`` -> (B, frame_length) of ``dtype``; may reuse X if ``overwrite``."""
        raise NotImplementedError

    def _rx(self, y: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    # ----------------------------------------------------------------- grids
    def _batch_grid(self, X):
        X = np.asarray(X)
        nd = len(self.shape)
        if X.shape[X.ndim - nd:] != self.shape or X.ndim < nd:
            raise ConfigError.bad_value("X.shape", X.shape, f"(..., {', '.join(map(str, self.shape))})")
        return X.reshape((-1, *self.shape)), X.shape[: X.ndim - nd]

    def modulate_grid(self, X) -> np.ndarray:
        """Grid(s) of ``shape`` (leading batch dims allowed) -> complex64 frame(s) incl. the prefix."""
        Xb, batch = self._batch_grid(X)
        out = self._tx(np.ascontiguousarray(Xb, np.complex64), np.complex64)
        return out.reshape((*batch, self.frame_length))

    def _modulate_grid128(self, X) -> np.ndarray:
        """As :meth:`modulate_grid` in double precision (effective channels, tests)."""
        Xb, batch = self._batch_grid(X)
        out = self._tx(np.ascontiguousarray(Xb, np.complex128), np.complex128)
        return out.reshape((*batch, self.frame_length))

    def demodulate_grid(self, y) -> np.ndarray:
        """Frame(s) of ``frame_length`` samples -> complex128 grid(s) of ``shape`` (prefix removed)."""
        y = np.asarray(y)
        if y.ndim < 1 or y.shape[-1] != self.frame_length:
            raise ConfigError.bad_value("len(samples)", y.shape[-1] if y.ndim else None,
                                        f"{self.frame_length} (frame_length, prefix included)")
        # complex64 frames go to the kernels as they are (they read either precision); anything else -> complex128
        dt = np.complex64 if y.dtype == np.complex64 else np.complex128
        out = self._rx(np.ascontiguousarray(y.reshape(-1, self.frame_length), dt))
        return out.reshape((*y.shape[:-1], *self.shape))

    # ----------------------------------------------------------------- bits
    def grid_from_symbols(self, symbols) -> np.ndarray:
        """Data symbols (..., n_data) -> grids (..., *shape) with the fill (pilots) in non-data cells."""
        s = np.asarray(symbols)
        if s.ndim < 1 or s.shape[-1] != self.n_data:
            raise ConfigError.bad_value("len(symbols)", s.shape[-1] if s.ndim else None, f"{self.n_data} (n_data)")
        batch = s.shape[:-1]
        G = np.broadcast_to(self._fill.ravel(), (*batch, self.n_cells)).copy()
        G[..., self._data_idx] = s
        return G.reshape((*batch, *self.shape))

    def data_symbols(self, grid) -> np.ndarray:
        """The data cells of grid(s) (..., *shape) in C order: (..., n_data)."""
        g = np.asarray(grid)
        nd = len(self.shape)
        return g.reshape((*g.shape[: g.ndim - nd], self.n_cells))[..., self._data_idx]

    def _bits_batch(self, bits):
        b = np.asarray(bits)
        if b.ndim not in (1, 2) or b.shape[-1] != self.bits_per_frame:
            raise ConfigError.bad_value("bits.shape", b.shape,
                                        f"({self.bits_per_frame},) or (frames, {self.bits_per_frame})")
        return b

    def modulate(self, bits) -> np.ndarray:
        """Bits (``bits_per_frame``, or (frames, bits_per_frame)) -> complex64 frame(s)."""
        b = self._bits_batch(bits)
        b2 = np.ascontiguousarray(b.reshape(-1, self.bits_per_frame), dtype=np.uint8)
        X = np.empty((b2.shape[0], self.n_cells), np.complex64)
        st = self._kmap.map_grid(b2, self.qam.bits_per_symbol, self._lut64, self._data_idx,
                                 self._fill.ravel().astype(np.complex64), X)
        if st == 1:
            raise ConfigError.bad_value("bits", int(b2.max()), "only 0 and 1")
        if st:
            raise HILError(f"mapping kernel refused shapes bits={b2.shape} grid={X.shape} (status {st})")
        out = self._tx(X.reshape((-1, *self.shape)), np.complex64, overwrite=True)
        return out.reshape((*b.shape[:-1], self.frame_length))

    def demodulate(self, samples) -> np.ndarray:
        """Hard bits from frame(s) on an ideal channel (no equalisation): uint8 (..., bits_per_frame)."""
        y = np.asarray(samples)
        grid = self.demodulate_grid(y)
        g2 = np.ascontiguousarray(grid.reshape(-1, self.n_cells), dtype=np.complex128)
        out = np.empty((g2.shape[0], self.bits_per_frame), np.uint8)
        q = self.qam
        if self._kmap.demap_grid(g2, self._data_idx, q._h, q._scale, q._gray, out):
            raise HILError(f"demapping kernel refused shapes grid={g2.shape} bits={out.shape}")
        return out.reshape((*y.shape[:-1], self.bits_per_frame))

    # ----------------------------------------------------------------- channel
    def noise_var_per_sample(self, snr_db: float) -> float:
        """AWGN variance per time sample for SNR = Es/N0 in dB: ``oversampling * 10**(-snr_db/10)``."""
        return self.oversampling * 10.0 ** (-float(snr_db) / 10.0)

    def effective_channel(self, channel: DoublyDispersiveChannel) -> np.ndarray:
        """Dense H (n_cells x n_cells, complex128) with
        ``demodulate_grid(channel.apply(modulate_grid(X))) == (H @ X.ravel()).reshape(shape)``
        (in double precision). Builds one frame per cell: for tests and small frames only."""
        eye = np.eye(self.n_cells, dtype=np.complex128).reshape((self.n_cells, *self.shape))
        rx = self.demodulate_grid(channel.apply(self._modulate_grid128(eye)))
        return np.ascontiguousarray(rx.reshape(self.n_cells, self.n_cells).T)

    def channel_from_bins(self, delay_bins, doppler_bins, gains) -> DoublyDispersiveChannel:
        """Channel with ``tau = l * delay_bin`` samples and ``nu = k * doppler_bin`` cycles/sample."""
        ls, ks, gs = (np.atleast_1d(np.asarray(a)) for a in (delay_bins, doppler_bins, gains))
        if not (ls.shape == ks.shape == gs.shape) or ls.ndim != 1:
            raise ConfigError.bad_value("delay_bins/doppler_bins/gains shapes", (ls.shape, ks.shape, gs.shape),
                                        "three 1-D sequences of equal length")
        return DoublyDispersiveChannel([Path(complex(g), float(l) * self.delay_bin, float(k) * self.doppler_bin)
                                        for l, k, g in zip(ls, ks, gs)])

    def dd_paths(self, channel: DoublyDispersiveChannel) -> np.ndarray:
        """The channel in this modem's bins: complex128 array (P, 3) of (gain, delay_bin, doppler_bin)."""
        rows = [(p.gain, p.delay / self.delay_bin, p.doppler / self.doppler_bin) for p in channel.paths]
        return np.array(rows, np.complex128).reshape(-1, 3)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(shape={self.shape}, qam={self.qam.order}, cp_len={self.cp_len}, "
                f"frame_length={self.frame_length})")
