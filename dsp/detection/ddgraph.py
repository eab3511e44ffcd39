"""The OTFS / AFDM channel as shifted diagonals: the fast detectors' sparse graph in flat arrays.

On OTFS (one CP per frame or per block) and AFDM (chirp-periodic prefix), a path with integer delay
and integer Doppler - and each of the ``2S + 1`` Doppler bins kept for a fractional path - is one
*diagonal* of the grid-domain channel: observation ``(r, k)`` of the ``R x C`` grid (OTFS ``M x N``,
AFDM ``1 x N``) sees variable ``((r - sr) mod R, (k - sc) mod C)`` with coefficient ``c[r, k]``. The
closed forms of :mod:`dsp.detection.graph` give the coefficients in separable form,

* OTFS: ``c[l, k] = g G(f + j) e^{j 2 pi nu (l + cp)} * (e^{-j 2 pi q / N} if l < l_i else 1)``, with
  ``q = (k - sc) mod N`` the input Doppler bin (one-CP frame; no wrap factor with a CP per block);
* AFDM: ``c[p] = g e^{j 2 pi nu cp} e^{j 2 pi c1 l^2} G(f + j) e^{j 2 pi (c2 m^2 - l m / N)} e^{-j 2 pi c2 p^2}``,
  ``m = (p - sc) mod N``,

i.e. a row factor ``A[t, r]`` times a shifted column table ``tab[sel, (k - sc) mod C]`` (and a common
``post[k]``), which :func:`dd_channel` builds in O(paths x (R + C)) - no COO, no sort - and the kernel
``dsp._kernels._ddet`` expands to float32 ``(G, R*C)`` arrays (G diagonals after merging equal shifts).
Tests compare the expanded coefficients with :func:`dsp.detection.graph.channel_coo` entry by entry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsp.detection.graph import _g, _integer_delays, _kind, _offsets, as_paths
from dsp.errors import HILError

__all__ = ["DdChannel", "dd_channel", "dd_supported"]


@dataclass
class DdChannel:
    """Compact diagonals of one channel (see the module docstring and ``_ddet_py.dd_expand``)."""

    R: int
    C: int
    gsr: np.ndarray     # (G,) int64 merged shifts (rows)
    gsc: np.ndarray     # (G,) int64 merged shifts (columns)
    grp: np.ndarray     # (D,) int64 merged diagonal of each diagonal
    sc: np.ndarray      # (D,) int64
    A: np.ndarray       # (D, R) complex128 row factors
    tab: np.ndarray     # (T, C) complex128 column tables
    tw0: np.ndarray     # (D,) int64 table for rows r >= w
    tw1: np.ndarray     # (D,) int64 table for rows r < w
    w: np.ndarray       # (D,) int64
    post: np.ndarray    # (C,) complex128 or (0,)

    @property
    def n_diagonals(self) -> int:
        return int(self.gsr.size)

    def expand(self, kernel, transpose: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """float32 coefficients (G, R*C): real and imaginary parts, with ``kernel`` (``_ddet`` or its twin);
        ``transpose``: in the C x R layout (cell (r, k) at k * R + r; shifts swap)."""
        G = self.gsr.size
        cre = np.empty((G, self.R * self.C), np.float32)
        cim = np.empty((G, self.R * self.C), np.float32)
        st = kernel.dd_expand(self.R, self.C, self.grp, self.sc, self.A, self.tab, self.tw0, self.tw1, self.w,
                              self.post, cre, cim, transpose)
        if st:
            raise HILError(f"dd_expand failed (status {st}): inconsistent diagonal arrays")
        return cre, cim


def dd_supported(modem) -> bool:
    """True when ``modem`` has a diagonal closed form (OTFS; AFDM with its chirp-periodic prefix)."""
    kind = _kind(modem)
    if getattr(modem, "delay_bin", 1.0) != 1.0:
        return False
    return kind == "otfs" or (kind == "afdm" and getattr(modem, "prefix", "cpp") == "cpp")


class _Tables:
    """Per-modem caches of the phase tables (so a frame costs no full-grid exp)."""

    def __init__(self):
        self.rot: dict = {}
        self.afdm: dict = {}

    def otfs_tab(self, N: int) -> np.ndarray:
        """Column tables of OTFS: ones, and the one-CP wrap phase e^{-j 2 pi q / N}."""
        t = self.rot.get(("tab", N))
        if t is None:
            t = np.ones((2, N), np.complex128)
            t[1] = np.exp(-2j * np.pi * np.arange(N) / N)
            self.rot[("tab", N)] = t
        return t

    def afdm_rows(self, N: int, c2: float, cp_len: int, delays) -> np.ndarray:
        """AFDM column tables of every delay 0..cp_len, one (cp_len + 1, N) array (row l: the chirp table
        of delay l, as :func:`_afdm` computes it), rows filled on first use (unfilled rows stay zero pages)."""
        tab, filled, ones = self.afdm_entry(N, c2, cp_len)
        for lv in set(delays.tolist()):
            if not filled[lv]:
                tab[lv] = self.afdm_row(N, c2, lv)
                ones[lv] = np.all(tab[lv] == 1.0)
                filled[lv] = 1
        return tab

    def afdm_entry(self, N: int, c2: float, cp_len: int):
        """(tables, filled flags, all-ones flags) behind :meth:`afdm_rows` (flags uint8 per delay)."""
        key = ("rows", N, c2, cp_len)
        ent = self.afdm.get(key)
        if ent is None:
            ent = (np.zeros((cp_len + 1, N), np.complex128), np.zeros(cp_len + 1, np.uint8),
                   np.zeros(cp_len + 1, np.uint8))
            self.afdm[key] = ent
        return ent

    def afdm_row(self, N: int, c2: float, lv: int) -> np.ndarray:
        key = (N, c2, lv)
        t = self.afdm.get(key)
        if t is None:
            mf = np.arange(N, dtype=float)
            t = np.exp(2j * np.pi * (np.mod(c2 * mf**2, 1.0) - np.mod(lv * mf, N) / N))
            self.afdm[key] = t
        return t

    def afdm_post(self, N: int, c2: float) -> np.ndarray:
        key = ("post", N, c2)
        t = self.afdm.get(key)
        if t is None:
            mf = np.arange(N, dtype=float)
            t = np.exp(-2j * np.pi * np.mod(c2 * mf**2, 1.0)) if c2 != 0.0 else np.zeros(0, np.complex128)
            self.afdm[key] = t
        return t

    def frame_spec(self, modem):
        """What the kernel's whole-frame functions need besides the frame: (kind, R, C, cp, frame, c1, rot,
        tab, ones, filled, post), kind 0 OTFS / 1 AFDM; the AFDM tables fill as delays appear."""
        key = ("spec", id(modem))
        sp = self.rot.get(key)
        if sp is None:
            if _kind(modem) == "otfs":
                R, C, cp = int(modem.M), int(modem.N), int(modem.cp_len)
                frame = getattr(modem, "cp", "frame") == "frame"
                tab = self.otfs_tab(C)
                ones = np.all(tab == 1.0, axis=1).astype(np.uint8)
                sp = (0, R, C, cp, frame, 0.0, self.rotation(R * C if frame else C * (R + cp)), tab, ones,
                      np.ones(2, np.uint8), np.zeros(0, np.complex128))
            else:
                C, cp, c2 = int(modem.N), int(modem.cp_len), float(modem.c2)
                tab, filled, ones = self.afdm_entry(C, c2, cp)
                sp = (1, 1, C, cp, False, float(modem.c1), _NO_ROT, tab, ones, filled, self.afdm_post(C, c2))
            self.rot[key] = sp
        return sp

    def rotation(self, period: int) -> np.ndarray:
        t = self.rot.get(period)
        if t is None:
            t = np.exp(2j * np.pi * np.arange(period) / period)
            self.rot[period] = t
        return t


def _merge(sr, sc, C):
    key = sr * C + sc
    uk, inv = np.unique(key, return_inverse=True)
    return (uk // C).astype(np.int64), (uk % C).astype(np.int64), inv.astype(np.int64).ravel()


def _diagonal_offsets(k, n, spread):
    """Per path: integer base bin, fractional part, and per diagonal its path and Doppler offset j
    (the bins kept as _offsets / otfs_coo keep them)."""
    integer = np.abs(k - np.rint(k)) < 1e-12
    base = np.where(integer, np.rint(k), np.floor(k + 0.5)).astype(np.int64)
    frac = np.where(integer, 0.0, k - base)
    if integer.all():                                   # the estimators' output: one diagonal per path
        return integer, base, frac, np.arange(k.size), np.zeros(k.size, np.int64)
    offs = [np.zeros(1, np.int64) if integer[i] else _offsets(frac[i], n, spread) for i in range(k.size)]
    cnt = np.array([o.size for o in offs], np.int64)
    return integer, base, frac, np.repeat(np.arange(k.size), cnt), np.concatenate(offs)


def _otfs(modem, parsed, spread, tables):
    M, N, cp_len = int(modem.M), int(modem.N), int(modem.cp_len)
    frame = getattr(modem, "cp", "frame") == "frame"
    g, d, k = parsed
    li = _integer_delays(d, cp_len, M + 1, "OTFS")
    if frame and li.size and li.max() >= M:
        from dsp.errors import ConfigError
        raise ConfigError.bad_value("paths_dd delay_bin", int(li.max()), f"< M = {M}")
    period = M * N if frame else N * (M + cp_len)
    integer, base, frac, pi, j = _diagonal_offsets(k, N, spread)    # pi: path of each diagonal
    sr = li[pi].astype(np.int64)
    sc = np.mod(base[pi] - j, N).astype(np.int64)
    rows = np.arange(M) + cp_len
    if np.all(integer):
        # integer Doppler: the row phase e^{j 2 pi k (l + cp) / period} from a cached table
        kk = base[pi]
        A = g[pi][:, None] * tables.rotation(period)[np.mod(kk[:, None] * rows[None, :], period)]
    else:
        amp = g[pi] * _g(frac[pi] + j, N)
        A = amp[:, None] * np.exp(2j * np.pi * (k[pi][:, None] / period) * rows[None, :])
    tab = tables.otfs_tab(N)
    D = pi.size
    tw0 = np.zeros(D, np.int64)
    tw1 = np.ones(D, np.int64) if frame else np.zeros(D, np.int64)
    w = sr.copy() if frame else np.zeros(D, np.int64)
    gsr, gsc, grp = _merge(sr, sc, N)
    return DdChannel(M, N, gsr, gsc, grp, sc, np.ascontiguousarray(A, np.complex128), tab, tw0, tw1, w,
                     np.zeros(0, np.complex128))


def _afdm(modem, parsed, spread, tables):
    N, cp_len, c1, c2 = int(modem.N), int(modem.cp_len), float(modem.c1), float(modem.c2)
    g, d, alpha = parsed
    li = _integer_delays(d, cp_len, N, "AFDM")
    centre = alpha - 2 * N * c1 * li
    integer, base, frac, pi, j = _diagonal_offsets(centre, N, spread)
    sc = np.mod(base[pi] - j, N).astype(np.int64)
    h0 = g * np.exp(2j * np.pi * (alpha / N) * cp_len) * np.exp(2j * np.pi * c1 * li.astype(float) ** 2)
    A = (h0[pi] * _g(frac[pi] + j, N))[:, None]
    # one column table per delay: e^{j 2 pi (c2 m^2 - l m / N)}, cached per modem
    ls, tix = np.unique(li[pi], return_inverse=True)
    rows = [tables.afdm_row(N, c2, lv) for lv in ls.tolist()]
    tab = np.stack(rows) if rows else np.ones((1, N), np.complex128)
    tix = tix.astype(np.int64).ravel()
    post = tables.afdm_post(N, c2)
    D = pi.size
    gsr, gsc, grp = _merge(np.zeros(D, np.int64), sc, N)
    return DdChannel(1, N, gsr, gsc, grp, sc, np.ascontiguousarray(A, np.complex128), np.ascontiguousarray(tab),
                     tix, tix.copy(), np.zeros(D, np.int64), post)


def _integer_channel(modem, paths_dd, tables: _Tables, kernel) -> DdChannel | None:
    """Integer paths (the estimators' output) through the kernel's ``dd_build``: one diagonal per path,
    no per-path NumPy; None when a bin is not an integer (or anything else the general path must judge)."""
    p = paths_dd if isinstance(paths_dd, np.ndarray) else np.asarray(paths_dd)
    if p.ndim != 2 or p.shape[1] != 3 or p.dtype.kind not in "fic":
        return None
    p = np.ascontiguousarray(p, np.complex128)
    P = p.shape[0]
    otfs = _kind(modem) == "otfs"
    if otfs:
        R, C, cp = int(modem.M), int(modem.N), int(modem.cp_len)
        frame = getattr(modem, "cp", "frame") == "frame"
        rot = tables.rotation(R * C if frame else C * (R + cp))
        c1 = 0.0
    else:
        R, C, cp, frame, rot, c1 = 1, int(modem.N), int(modem.cp_len), False, _NO_ROT, float(modem.c1)
    ints = np.empty((8, P), np.int64)
    A = np.empty((P, R), np.complex128)
    sr, sc, gsr, gsc, grp, tw0, tw1, w = ints
    status, G = kernel.dd_build(0 if otfs else 1, R, C, cp, frame, c1, p, rot, sr, sc, gsr, gsc, grp, A, tw0, tw1, w)
    if status == 4:
        return None
    if status:
        raise HILError(f"dd_build failed (status {status}): inconsistent arrays")
    if otfs:
        tab, post = tables.otfs_tab(C), np.zeros(0, np.complex128)
    else:
        c2 = float(modem.c2)
        tab, post = tables.afdm_rows(C, c2, cp, tw0), tables.afdm_post(C, c2)
    return DdChannel(R, C, gsr[:G], gsc[:G], grp, sc, A, tab, tw0, tw1, w, post)


_NO_ROT = np.zeros(0, np.complex128)


def dd_channel(modem, paths_dd, doppler_spread: int | None = None, tables: _Tables | None = None,
               kernel=None) -> DdChannel | None:
    """The diagonals of ``modem``'s channel for ``paths_dd``, or None when it has no diagonal form
    (other waveforms, fractional delays: use :func:`dsp.detection.graph.channel_coo`). With ``kernel``
    (``_ddet`` or its twin) integer paths are built by its ``dd_build`` (same diagonals, no NumPy per path)."""
    if not dd_supported(modem):
        return None
    if kernel is not None:
        ch = _integer_channel(modem, paths_dd, tables or _Tables(), kernel)
        if ch is not None:
            return ch
    parsed = as_paths(paths_dd)
    d = parsed[1]
    if not np.all(np.abs(d - np.rint(d)) < 1e-9):
        return None
    tables = tables or _Tables()
    if _kind(modem) == "otfs":
        return _otfs(modem, parsed, doppler_spread, tables)
    return _afdm(modem, parsed, doppler_spread, tables)
