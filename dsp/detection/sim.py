"""Fast grid-domain link simulation for detector tests, benchmarks and figures.

``Y = H X + W`` with the closed-form grid-domain channel (:func:`dsp.detection.graph.channel_coo`),
which equals ``demodulate_grid(channel.apply(modulate_grid(X)))`` exactly (tests/test_detection.py
checks that against the modems' dense effective channels). Skipping the time domain keeps statistical
tests cheap; :func:`dsp.ber.ber_sweep` is the full time-domain harness.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dsp.detection.graph import channel_coo, coo_matvec

__all__ = ["grid_output", "rayleigh_paths", "GridBer", "grid_ber"]


def grid_output(modem, paths_dd, X, noise_var: float, rng: np.random.Generator) -> np.ndarray:
    """Received grid ``H X + W`` (W circular Gaussian, ``noise_var`` per cell)."""
    r, c, v = channel_coo(modem, paths_dd)
    n = int(np.prod(modem.shape))
    w = rng.standard_normal(n) + 1j * rng.standard_normal(n)
    y = coo_matvec(r, c, v, np.asarray(X, np.complex128).ravel(), n) + np.sqrt(noise_var / 2.0) * w
    return y.reshape(modem.shape)


def rayleigh_paths(rng: np.random.Generator, delays, dopplers, powers=None) -> np.ndarray:
    """(P, 3) paths_dd with CN(0, power) gains (equal powers summing to 1 by default)."""
    d = np.asarray(delays, float)
    k = np.asarray(dopplers, float)
    p = np.full(d.size, 1.0 / d.size) if powers is None else np.asarray(powers, float)
    g = np.sqrt(p / 2) * (rng.standard_normal(d.size) + 1j * rng.standard_normal(d.size))
    return np.stack([g, d.astype(complex), k.astype(complex)], axis=1)


@dataclass
class GridBer:
    """Errors/bits per receiver name at one SNR."""

    snr_db: float
    errors: dict
    bits: int
    frames: int

    def ber(self, name: str) -> float:
        return self.errors[name] / self.bits if self.bits else float("nan")


def grid_ber(modem, snr_db: float, channel: Callable, receivers: dict, frames: int, rng: np.random.Generator,
             ) -> GridBer:
    """Bit errors of several receivers on the SAME frames (common random numbers).

    ``channel(rng) -> paths_dd`` (true channel per frame); ``receivers``: name ->
    ``f(y_grid, true_paths, noise_var) -> symbol grid``.
    """
    nv = 10.0 ** (-snr_db / 10.0)
    errs = dict.fromkeys(receivers, 0)
    bits = 0
    bps = modem.qam.bits_per_symbol
    for _ in range(int(frames)):
        tx = rng.integers(0, 2, modem.n_data * bps, dtype=np.uint8)
        X = modem.grid_from_symbols(modem.qam.map(tx))
        paths = channel(rng)
        y = grid_output(modem, paths, X, nv, rng)
        for name, rx in receivers.items():
            est = rx(y, paths, nv)
            errs[name] += int(np.count_nonzero(modem.qam.demap_hard(modem.data_symbols(est)) != tx))
        bits += tx.size
    return GridBer(float(snr_db), errs, bits, int(frames))
