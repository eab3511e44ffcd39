"""Embedded-pilot channel estimation for OTFS and AFDM: pilot/guard layouts and threshold estimators.

Both estimators return ``paths_dd`` - a complex (P, 3) array of ``(gain, delay_bin, doppler_bin)`` in the
modem's bins, the same rows :meth:`dsp.waveforms.base.Modem.dd_paths` gives for the true channel - so
the detectors of :mod:`dsp.detection` take estimated and perfect CSI alike.

OTFS (Raviteja, Tang, Hong, Viterbo, "Embedded pilot-aided channel estimation for OTFS in
delay-Doppler channels", IEEE TVT 68(5), 2019). One pilot of energy ``E_p`` at ``(l_p, k_p)``; no data
in the guard region

* integer Doppler: ``|l - l_p| <= l_max`` and ``|k - k_p| <= 2 k_max`` (mod N);
* fractional Doppler (``full_doppler_guard=True``): ``|l - l_p| <= l_max`` over ALL Doppler bins, since
  a fractional path leaks over the whole Doppler axis;

so that the cells ``l_p <= l <= l_p + l_max`` (``|k - k_p| <= k_max``, or all k) hold only the pilot's
echoes plus noise. Every such cell with ``|Y[l, k]| >= threshold * sigma`` (``sigma^2`` = noise variance
per cell; default threshold 3, i.e. a noise-only cell passes with probability ``exp(-9) = 1.2e-4``) is
taken as a path with delay ``l - l_p``, Doppler ``k - k_p`` and gain ``Y[l, k] / (sqrt(E_p) phase)``
where ``phase`` is the known reduced-CP Doppler phase ``exp(j 2 pi nu (l + cp))``. With fractional
Doppler each path shows up as several integer "virtual" paths (the paper's approach), which the
detectors then use as they are.

AFDM (Bemani, Ksairi, Kountouris, "Affine frequency division multiplexing for next generation wireless
communications", IEEE TWC 22(11), 2023). One pilot at DAFT index ``m_p``; an integer path ``(l, alpha)``
moves it to ``p = m_p + alpha - 2 N c1 l`` (mod N). With Bemani's ``2 N c1 = 2 (alpha_max + k_v) + 1``
the echoes of different delays never overlap; guard: no data within
``Q = (l_max + 1)(2 (alpha_max + k_v) + 1) - 1`` indices on each side of the pilot, so neither does data
reach the pilot's echoes nor the pilot the data. The same threshold rule picks the paths.

The pilot energy default is the number of guard cells (the frame then has the energy of an all-data
frame: the pilot takes the energy the guards leave unused).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from dsp.errors import ConfigError, check_range

__all__ = ["PilotLayout", "otfs_pilot_layout", "afdm_pilot_layout", "estimate_otfs", "estimate_afdm",
           "estimate_paths"]


@dataclass(frozen=True)
class PilotLayout:
    """An embedded pilot and its guard region on a modem grid.

    ``data_mask`` (bool, True = data cell), ``pilot_grid`` (complex, the pilot value at the pilot cell,
    zeros elsewhere), ``pilot_cell`` (grid index of the pilot), ``pilot_energy`` and the channel limits
    the guard was sized for (``l_max`` delay bins, ``k_max`` Doppler bins).
    """

    kind: str
    shape: tuple
    pilot_cell: tuple
    pilot_energy: float
    l_max: int
    k_max: int
    full_doppler_guard: bool
    data_mask: np.ndarray = field(repr=False)
    pilot_grid: np.ndarray = field(repr=False)

    @property
    def pilot(self) -> complex:
        return complex(self.pilot_grid[self.pilot_cell])

    @property
    def n_guard(self) -> int:
        """Non-data cells (guards and the pilot)."""
        return int(np.count_nonzero(~self.data_mask))

    def apply(self, modem) -> None:
        """Put the layout on ``modem`` (``set_data_mask(data_mask, fill=pilot_grid)``)."""
        if tuple(modem.shape) != tuple(self.shape):
            raise ConfigError.bad_value("modem.shape", tuple(modem.shape), f"{self.shape} (the layout's grid)")
        modem.set_data_mask(self.data_mask, fill=self.pilot_grid)


def _int(field_name, v, lo, hi=None):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise ConfigError.bad_value(field_name, v, f"an integer >= {lo}")
    return int(check_range(field_name, int(v), lo=lo, hi=hi))


def _energy(pilot_energy, n_guard):
    if pilot_energy is None:
        return float(n_guard)
    e = float(pilot_energy)
    if not (math.isfinite(e) and e > 0):
        raise ConfigError.bad_value("pilot_energy", pilot_energy, "a finite number > 0 (symbol energies)")
    return e


def otfs_pilot_layout(modem, l_max: int, k_max: int, *, full_doppler_guard: bool = False,
                      pilot_energy: float | None = None, l_p: int | None = None, k_p: int | None = None) -> PilotLayout:
    """Raviteja 2019 embedded pilot for an OTFS modem of grid (M, N).

    ``l_max``/``k_max``: largest channel delay / |Doppler| in bins the guard must cover; ``full_doppler_guard``
    for fractional Doppler; ``l_p``/``k_p`` default to ``M // 2``/``N // 2`` (pilot away from the delay
    wrap of the one-CP frame); ``pilot_energy`` default: the number of guard cells.
    """
    M, N = (int(s) for s in modem.shape)
    l_max = _int("l_max", l_max, 0, M - 1)
    k_max = _int("k_max", k_max, 0, N - 1)
    l_p = M // 2 if l_p is None else _int("l_p", l_p, 0, M - 1)
    k_p = N // 2 if k_p is None else _int("k_p", k_p, 0, N - 1)
    if 2 * l_max + 1 >= M:
        raise ConfigError.bad_value("l_max", l_max, f"< {(M - 1) // 2} so that data cells remain (M = {M})")
    if l_p - l_max < 0 or l_p + l_max > M - 1:
        raise ConfigError.bad_value("l_p", l_p,
                                    f"{l_max}..{M - 1 - l_max} (guard of +/- l_max = {l_max} inside the grid)")
    mask = np.ones((M, N), bool)
    rows = np.arange(l_p - l_max, l_p + l_max + 1)
    if full_doppler_guard or 4 * k_max + 1 >= N:
        mask[rows, :] = False
        full = True
    else:
        cols = np.arange(k_p - 2 * k_max, k_p + 2 * k_max + 1) % N
        mask[np.ix_(rows, cols)] = False
        full = False
    n_guard = int(np.count_nonzero(~mask))
    e = _energy(pilot_energy, n_guard)
    grid = np.zeros((M, N), np.complex128)
    grid[l_p, k_p] = math.sqrt(e)
    return PilotLayout("otfs", (M, N), (l_p, k_p), e, l_max, k_max, full, mask, grid)


def _afdm_step(modem) -> int:
    s = 2 * modem.N * modem.c1
    if abs(s - round(s)) > 1e-9:
        raise ConfigError.bad_value("2 N c1", s, "an integer (the AFDM pilot layout needs integer delay offsets)")
    return int(round(s))


def afdm_pilot_layout(modem, l_max: int | None = None, alpha_max: int | None = None, k_v: int | None = None, *,
                      pilot_energy: float | None = None, m_p: int = 0) -> PilotLayout:
    """Bemani 2023 pilot + guard for an AFDM modem (N,): pilot at ``m_p``, ``Q`` guard indices each side.

    ``l_max``, ``alpha_max``, ``k_v`` default to the modem's (the values its ``c1`` was chosen for).
    """
    N = int(modem.shape[0])
    l_max = _int("l_max", getattr(modem, "l_max", 0) if l_max is None else l_max, 0, N - 1)
    alpha_max = _int("alpha_max", getattr(modem, "alpha_max", 0) if alpha_max is None else alpha_max, 0, N - 1)
    k_v = _int("k_v", getattr(modem, "k_v", 0) if k_v is None else k_v, 0, N - 1)
    m_p = _int("m_p", m_p, 0, N - 1)
    step = _afdm_step(modem)
    if step < 2 * (alpha_max + k_v) + 1:
        raise ConfigError.bad_value("2 N c1", step, f">= 2 (alpha_max + k_v) + 1 = {2 * (alpha_max + k_v) + 1} "
                                    "(echoes of different delays would overlap)")
    q = step * l_max + 2 * (alpha_max + k_v)
    if 2 * q + 1 >= N:
        raise ConfigError.bad_value("N", N, f"> 2 Q + 1 = {2 * q + 1} (guard Q = {q} on each side of the pilot)")
    mask = np.ones(N, bool)
    mask[(m_p + np.arange(-q, q + 1)) % N] = False
    n_guard = int(np.count_nonzero(~mask))
    e = _energy(pilot_energy, n_guard)
    grid = np.zeros(N, np.complex128)
    grid[m_p] = math.sqrt(e)
    return PilotLayout("afdm", (N,), (m_p,), e, l_max, alpha_max, bool(k_v), mask, grid)


def _check_common(y_grid, layout, noise_var, threshold):
    y = np.asarray(y_grid)
    if y.shape != tuple(layout.shape):
        raise ConfigError.bad_value("y_grid.shape", y.shape, f"{layout.shape} (the layout's grid)")
    nv = float(noise_var)
    if not (math.isfinite(nv) and nv > 0):
        raise ConfigError.bad_value("noise_var", noise_var, "a finite number > 0 (per-cell noise variance)")
    thr = float(check_range("threshold", threshold, lo=0.0))
    return y, nv, thr


def _prune(paths: np.ndarray, max_paths, min_rel_db) -> np.ndarray:
    """Keep the paths within ``min_rel_db`` dB of the strongest, then at most ``max_paths`` strongest
    (in their original order). A receiver-cost knob: every path is a diagonal of the detector's graph."""
    if paths.shape[0] == 0 or (max_paths is None and min_rel_db is None):
        return paths
    p = np.abs(paths[:, 0]) ** 2
    keep = np.ones(p.size, bool)
    if min_rel_db is not None:
        keep &= p >= p.max() * 10.0 ** (-float(min_rel_db) / 10.0)
    if max_paths is not None and np.count_nonzero(keep) > max_paths:
        order = np.argsort(-np.where(keep, p, -1.0), kind="stable")
        keep = np.zeros(p.size, bool)
        keep[order[:max_paths]] = True
    return paths[keep]


def _check_prune(max_paths, min_rel_db):
    if max_paths is not None:
        if isinstance(max_paths, bool) or not isinstance(max_paths, (int, np.integer)) or max_paths < 1:
            raise ConfigError.bad_value("max_paths", max_paths, "None or an integer >= 1")
    if min_rel_db is not None:
        v = float(min_rel_db)
        if not (math.isfinite(v) and v >= 0):
            raise ConfigError.bad_value("min_rel_db", min_rel_db, "None or a finite number of dB >= 0")


def estimate_otfs(y_grid, layout: PilotLayout, noise_var: float, modem, threshold: float = 3.0, *,
                  max_paths: int | None = None, min_rel_db: float | None = None) -> np.ndarray:
    """Paths (gain, delay_bin, doppler_bin) from the pilot region of a received OTFS grid.

    A cell of the pilot region is a path when ``|Y| >= threshold * sqrt(noise_var)``. Optionally only
    the paths within ``min_rel_db`` dB of the strongest are kept, and at most the ``max_paths`` strongest
    (fewer diagonals for the detector: its cost is proportional to the number of paths).
    """
    _check_prune(max_paths, min_rel_db)
    if layout.kind != "otfs":
        raise ConfigError.bad_value("layout.kind", layout.kind, "'otfs'")
    y, nv, thr = _check_common(y_grid, layout, noise_var, threshold)
    M, N = layout.shape
    l_p, k_p = layout.pilot_cell
    cp = int(getattr(modem, "cp_len", 0))
    # the pilot region's cells (row-major, as np.nonzero orders them), their (delay, Doppler) and inverse pilot
    # phases depend on the layout and modem only: built once per configuration, each frame a gather and a test
    cand = _otfs_candidates(M, N, l_p, k_p, int(layout.l_max), int(layout.k_max), bool(layout.full_doppler_guard),
                            cp, float(modem.doppler_bin), complex(layout.pilot))
    return _gather_hits(y.reshape(-1), cand, thr * math.sqrt(nv), max_paths, min_rel_db)


@functools.lru_cache(maxsize=32)
def _otfs_candidates(M, N, l_p, k_p, l_max, k_max, full_doppler_guard, cp, doppler_bin, pilot):
    """(flat cell index, 1 / pilot phase, delay, Doppler) of estimate_otfs's candidate cells."""
    ls = np.arange(l_p, l_p + l_max + 1)
    ks = np.arange(N) if full_doppler_guard else np.arange(k_p - k_max, k_p + k_max + 1) % N
    l_out, k_out = (a.ravel() for a in np.meshgrid(ls, ks, indexing="ij"))
    delay = l_out - l_p
    dopp = ((k_out - k_p + N // 2) % N) - N // 2           # Doppler bins in [-N/2, N/2)
    nu = dopp * doppler_bin
    inv = 1.0 / (pilot * np.exp(2j * np.pi * nu * (l_out + cp)))
    return _frozen(l_out * N + k_out, inv, delay.astype(complex), dopp.astype(complex))


def _gather_hits(y, cand, level, max_paths, min_rel_db):
    """Paths (gain, delay, Doppler) at the candidate cells of y whose magnitude reaches ``level``."""
    idx, inv, dc, kc = cand
    v = y[idx]
    hit = np.flatnonzero(np.abs(v) >= level)
    out = np.empty((hit.size, 3), complex)
    out[:, 0] = v[hit] * inv[hit]
    out[:, 1] = dc[hit]
    out[:, 2] = kc[hit]
    return _prune(out, max_paths, min_rel_db)


def estimate_afdm(y_grid, layout: PilotLayout, noise_var: float, modem, threshold: float = 3.0, *,
                  max_paths: int | None = None, min_rel_db: float | None = None) -> np.ndarray:
    """Paths (gain, delay_bin, doppler_bin) from the pilot echoes of a received AFDM (DAFT-domain) vector.

    Integer delays ``0..l_max`` and Doppler ``-(alpha_max + k_v)..alpha_max + k_v`` are searched (with
    fractional Doppler a path shows up as neighbouring integer virtual paths). ``max_paths`` and
    ``min_rel_db`` as in :func:`estimate_otfs`.
    """
    _check_prune(max_paths, min_rel_db)
    if layout.kind != "afdm":
        raise ConfigError.bad_value("layout.kind", layout.kind, "'afdm'")
    y, nv, thr = _check_common(y_grid, layout, noise_var, threshold)
    N = layout.shape[0]
    step = _afdm_step(modem)
    m_p = layout.pilot_cell[0]
    kv = int(getattr(modem, "k_v", 0)) if layout.full_doppler_guard else 0
    amax = layout.k_max + kv
    c1, c2, cp = float(modem.c1), float(modem.c2), int(modem.cp_len)
    # the candidate cells, their (delay, Doppler) and pilot phases depend on the layout and modem only: built
    # once per configuration (a receiver sees the same one every frame), then each frame is a gather and a test
    cand = _afdm_candidates(N, m_p, int(layout.l_max), amax, step, c1, c2, cp, complex(layout.pilot))
    return _gather_hits(y, cand, thr * math.sqrt(nv), max_paths, min_rel_db)


@functools.lru_cache(maxsize=32)
def _afdm_candidates(N, m_p, l_max, amax, step, c1, c2, cp, pilot):
    """(DAFT index, 1 / pilot phase, delay, Doppler) of estimate_afdm's candidate cells."""
    ll, aa = np.meshgrid(np.arange(l_max + 1), np.arange(-amax, amax + 1), indexing="ij")
    ll, aa = ll.ravel(), aa.ravel()
    p = (m_p + aa - step * ll) % N
    q = float(m_p)
    ph = np.exp(2j * np.pi * (aa * cp / N + c1 * ll**2 - q * ll / N + c2 * (q**2 - p.astype(float) ** 2)))
    return _frozen(p, 1.0 / (pilot * ph), ll.astype(complex), aa.astype(complex))


def _frozen(*arrays):
    """The arrays, read-only (they are shared by every call with the same configuration)."""
    for a in arrays:
        a.setflags(write=False)
    return arrays


def estimate_paths(y_grid, layout: PilotLayout, noise_var: float, modem, threshold: float = 3.0, *,
                   max_paths: int | None = None, min_rel_db: float | None = None) -> np.ndarray:
    """:func:`estimate_otfs` or :func:`estimate_afdm` by ``layout.kind``."""
    kw = {"max_paths": max_paths, "min_rel_db": min_rel_db}
    if layout.kind == "otfs":
        return estimate_otfs(y_grid, layout, noise_var, modem, threshold, **kw)
    if layout.kind == "afdm":
        return estimate_afdm(y_grid, layout, noise_var, modem, threshold, **kw)
    raise ConfigError.bad_value("layout.kind", layout.kind, "'otfs' or 'afdm'")
