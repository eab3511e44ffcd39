"""The channel as the detectors see it: sparse grid-domain matrices ``H`` with ``Y = H X + W``.

``paths_dd`` (the contract between estimation, the BER harness and the detectors) is a sequence of
``(gain, delay_bin, doppler_bin)`` rows, or a (P, 3) array of them, in the modem's bins
(``tau = delay_bin * modem.delay_bin`` samples, ``nu = doppler_bin * modem.doppler_bin`` cycles/sample,
``gain`` the complex amplitude of :class:`dsp.channel.Path`, Doppler phase referenced to the first
sample of the frame - the first CP sample - exactly as :class:`dsp.channel.DoublyDispersiveChannel`).

Closed forms (no dense matrix, O(cells x paths)) for

* OTFS with one CP per frame (Raviteja, Hong, Viterbo, IEEE TWC 2018 with the reduced-CP phase):
  for a path ``(g, l_i, k_i)`` (integer ``l_i <= cp_len``, ``k_i`` any real) and ``v_i = k_i / (M N)``::

      Y[l, k] += g e^{j 2 pi v_i (l + cp)} sum_q G(k_i + q - k) X[(l - l_i) mod M, q] * (1 if l >= l_i
                                                                        else e^{-j 2 pi q / N})
      G(z) = (1/N) sum_{n=0}^{N-1} e^{j 2 pi n z / N}     (G = 1 at z = 0 mod N, 0 at other integers)

  so an integer Doppler gives one entry per row and path; a fractional one spreads over the Doppler
  axis (``doppler_spread`` keeps the ``2 S + 1`` strongest bins, as Raviteja 2018 does, or all N);
* OTFS with one CP per block: ``Y[l, k] += g e^{j 2 pi v_i (l + cp)} sum_q G(k_i + q - k) X[(l - l_i) mod M, q]``
  with ``v_i = k_i / (N (M + cp))``;
* AFDM with a chirp-periodic prefix (Bemani, Ksairi, Kountouris, IEEE TWC 2023), DAFT
  ``A = Lambda_c2 F Lambda_c1``: for a path ``(g, l_i, alpha_i)`` (integer ``l_i <= cp_len``,
  ``nu_i = alpha_i / N``)::

      y[p] += g e^{j 2 pi nu_i cp} sum_m e^{j 2 pi (c1 l_i^2 + c2 (m^2 - p^2) - l_i m / N)}
              * G(alpha_i - 2 N c1 l_i + m - p) x[m]

derived from the definitions; tests compare all three with the modems' dense effective channels.
Everything else (ODDM, GFDM, OFDM, fractional delays) goes through the dense
``modem.effective_channel`` (small frames).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsp.errors import ConfigError

__all__ = ["as_paths", "otfs_coo", "afdm_coo", "dense_coo", "channel_coo", "FactorGraph", "coo_matvec", "coo_dense"]


def as_paths(paths_dd) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``paths_dd`` -> (gains complex128[P], delay bins float64[P], Doppler bins float64[P])."""
    a = np.asarray(paths_dd, dtype=np.complex128) if len(np.shape(paths_dd)) else None
    if a is None or (a.size and (a.ndim != 2 or a.shape[1] != 3)):
        raise ConfigError.bad_value("paths_dd", np.shape(paths_dd), "(P, 3) rows of (gain, delay_bin, doppler_bin)")
    a = a.reshape(-1, 3)
    if np.any(np.abs(a[:, 1:].imag) > 1e-9):
        raise ConfigError.bad_value("paths_dd", "complex delay/Doppler bins", "real delay_bin and doppler_bin")
    if not np.all(np.isfinite(a)):
        raise ConfigError.bad_value("paths_dd", "non-finite values", "finite gains and bins")
    d = a[:, 1].real.copy()
    if np.any(d < 0):
        raise ConfigError.bad_value("paths_dd delay_bin", float(d.min()), ">= 0")
    return a[:, 0].copy(), d, a[:, 2].real.copy()


def _integer_delays(delays, cp_len, limit, what):
    li = np.rint(delays)
    if np.any(np.abs(delays - li) > 1e-9):
        raise ConfigError.bad_value("paths_dd delay_bin", delays.tolist(),
                                    f"integers for the closed-form {what} channel (use dense for fractional delays)")
    li = li.astype(np.int64)
    if li.size and li.max() > cp_len:
        raise ConfigError.bad_value("paths_dd delay_bin", int(li.max()), f"<= cp_len = {cp_len} samples")
    if li.size and li.max() >= limit:
        raise ConfigError.bad_value("paths_dd delay_bin", int(li.max()), f"< {limit}")
    return li


def _g(z, n):
    """G(z) = (1/n) sum_{t<n} exp(j 2 pi t z / n), elementwise (exact 1/0 at integer z)."""
    z = np.asarray(z, float)
    zr = np.rint(z)
    out = np.empty(z.shape, complex)
    integer = np.abs(z - zr) < 1e-12
    out[integer] = (np.mod(zr[integer], n) == 0).astype(float)
    zf = z[~integer]
    # geometric series: (1 - e^{j 2 pi z}) / (n (1 - e^{j 2 pi z / n}))
    out[~integer] = (1 - np.exp(2j * np.pi * zf)) / (n * (1 - np.exp(2j * np.pi * zf / n)))
    return out


def _offsets(frac, n, spread):
    """Doppler offsets j kept around an integer base: all n, or the 2*spread+1 nearest."""
    if abs(frac) < 1e-12:
        return np.zeros(1, np.int64)
    if spread is None or 2 * spread + 1 >= n:
        lo = -(n // 2)
        return np.arange(lo, lo + n)
    return np.arange(-spread, spread + 1)


def otfs_coo(M: int, N: int, cp_len: int, paths_dd, cp: str = "frame", doppler_spread: int | None = None,
             tol: float = 1e-12):
    """COO (rows, cols, vals) of the OTFS DD-domain matrix; cell index ``l * N + k`` (grid X[l, k]).

    ``doppler_spread``: for fractional Doppler keep only the ``2 S + 1`` Doppler bins nearest to each
    path (``None``: all N, exact). Integer Doppler is always exact (one entry per row and path).
    """
    g, d, k = as_paths(paths_dd)
    li = _integer_delays(d, cp_len, M + 1 if cp == "frame" else M + 1, "OTFS")
    if cp == "frame":
        if li.size and li.max() >= M:
            raise ConfigError.bad_value("paths_dd delay_bin", int(li.max()), f"< M = {M}")
        period = M * N
    else:
        period = N * (M + cp_len)
    lout = np.arange(M)[:, None]            # output delay row l
    kout = np.arange(N)[None, :]            # output Doppler column k
    integer = np.abs(k - np.rint(k)) < 1e-12
    rows, cols, vals = [], [], []
    if np.any(integer):
        # integer Doppler: one entry per output cell and path, all paths at once (P, M, N)
        gi, l_i, k_i = g[integer], li[integer][:, None, None], np.rint(k[integer]).astype(np.int64)[:, None, None]
        q = (kout[None] - k_i) % N
        coef = gi[:, None, None] * np.exp(2j * np.pi * k_i * (lout[None] + cp_len) / period) * np.ones((1, 1, N))
        if cp == "frame":
            coef = np.where(lout[None] < l_i, coef * np.exp(-2j * np.pi * q / N), coef)
        rows.append(np.broadcast_to(lout * N + kout, coef.shape).ravel())
        cols.append((((lout[None] - l_i) % M) * N + q).ravel())
        vals.append(coef.ravel())
        pairs = set(zip(li[integer].tolist(), (np.rint(k[integer]).astype(np.int64) % N).tolist()))
        if len(pairs) == gi.size and np.all(integer):
            return rows[0].astype(np.int64), cols[0].astype(np.int64), vals[0].astype(np.complex128)
    for gi, l_i, k_i in zip(g[~integer], li[~integer], k[~integer]):
        kb = int(np.floor(k_i + 0.5))
        frac = k_i - kb
        offs = _offsets(frac, N, doppler_spread)[:, None, None]           # (J, 1, 1)
        ph = gi * np.exp(2j * np.pi * k_i * (lout + cp_len) / period)    # (M, 1)
        q = (kout[None] - kb + offs) % N                                  # (J, 1, N) input Doppler column
        coef = ph[None] * _g(frac + offs, N) * np.ones((1, 1, N))          # (J, M, N)
        if cp == "frame":
            coef = np.where(lout[None] < l_i, coef * np.exp(-2j * np.pi * q / N), coef)
        keep = np.abs(coef) > tol
        shape = coef.shape
        rows.append(np.broadcast_to(lout * N + kout, shape)[keep])
        cols.append(np.broadcast_to(((lout - l_i) % M)[None] * N + q, shape)[keep])
        vals.append(coef[keep])
    return _cat(rows, cols, vals)


def afdm_coo(N: int, c1: float, c2: float, cp_len: int, paths_dd, doppler_spread: int | None = None,
             tol: float = 1e-12):
    """COO of the AFDM DAFT-domain matrix (chirp-periodic prefix); indices 0..N-1."""
    g, d, alpha = as_paths(paths_dd)
    li = _integer_delays(d, cp_len, N, "AFDM")
    p = np.arange(N)
    rows, cols, vals = [], [], []
    for gi, l_i, a_i in zip(g, li, alpha):
        centre = a_i - 2 * N * c1 * l_i          # input m = p - centre (+ offset j around the nearest integer)
        base = int(np.floor(centre + 0.5))
        frac = centre - base
        offs = _offsets(frac, N, doppler_spread)[:, None]                 # (J, 1)
        h0 = gi * np.exp(2j * np.pi * (a_i / N) * cp_len) * np.exp(2j * np.pi * c1 * l_i**2)
        m = (p[None] - base + offs) % N                                   # (J, N)
        mf = m.astype(float)
        # G(centre + m - p) = G(frac + j): G has period N
        coef = h0 * np.exp(2j * np.pi * (c2 * (mf**2 - p.astype(float)[None] ** 2) - l_i * mf / N)) * _g(frac + offs, N)
        keep = np.abs(coef) > tol
        rows.append(np.broadcast_to(p[None], coef.shape)[keep])
        cols.append(m[keep])
        vals.append(coef[keep])
    return _cat(rows, cols, vals)


def dense_coo(H, tol: float = 1e-9):
    """COO of a dense matrix, dropping entries below ``tol * max|H|``."""
    H = np.asarray(H, np.complex128)
    if H.ndim != 2 or H.shape[0] != H.shape[1]:
        raise ConfigError.bad_value("H.shape", H.shape, "a square (n_cells, n_cells) matrix")
    thr = tol * (np.abs(H).max() if H.size else 0.0)
    r, c = np.nonzero(np.abs(H) > thr)
    return r.astype(np.int64), c.astype(np.int64), H[r, c]


def _cat(rows, cols, vals):
    """Concatenate COO pieces (duplicates - two paths on one cell pair - are kept; consumers add them)."""
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.complex128)
    return (np.concatenate(rows).astype(np.int64), np.concatenate(cols).astype(np.int64),
            np.concatenate(vals).astype(np.complex128))


def _kind(modem) -> str:
    return str(getattr(modem, "kind", type(modem).__name__.lower().replace("modem", "")))


def channel_coo(modem, paths_dd, doppler_spread: int | None = None, dense_tol: float = 1e-9):
    """COO of the grid-domain channel of ``modem`` for ``paths_dd`` (closed form where there is one,
    else the modem's dense effective channel)."""
    kind = _kind(modem)
    g, d, k = as_paths(paths_dd)
    integer_delay = bool(np.all(np.abs(d - np.rint(d)) < 1e-9)) and getattr(modem, "delay_bin", 1.0) == 1.0
    if kind == "otfs" and integer_delay:
        return otfs_coo(modem.M, modem.N, modem.cp_len, paths_dd, cp=getattr(modem, "cp", "frame"),
                        doppler_spread=doppler_spread)
    if kind == "afdm" and integer_delay and getattr(modem, "prefix", "cpp") == "cpp":
        return afdm_coo(modem.N, modem.c1, modem.c2, modem.cp_len, paths_dd, doppler_spread=doppler_spread)
    return dense_coo(modem.effective_channel(modem.channel_from_bins(d, k, g)), dense_tol)


def coo_matvec(rows, cols, vals, x, n_rows):
    """``H @ x`` from COO (duplicate entries add)."""
    out = np.bincount(rows, weights=(vals * x[cols]).real, minlength=n_rows) \
        + 1j * np.bincount(rows, weights=(vals * x[cols]).imag, minlength=n_rows)
    return out.astype(np.complex128)


def coo_dense(rows, cols, vals, n):
    """Dense (n, n) matrix from COO (tests, LMMSE)."""
    H = np.zeros((n, n), np.complex128)
    np.add.at(H, (rows, cols), vals)
    return H


@dataclass
class FactorGraph:
    """The bipartite graph of ``y = H x`` with the known (pilot/guard) columns removed.

    Edges sorted by observation (``obs_ptr``/``edge_obs``/``edge_var``/``edge_h``) plus the per-variable
    index ``var_ptr``/``var_edge``. ``var_cells[v]`` is the grid cell of variable ``v``.
    """

    n_obs: int
    var_cells: np.ndarray
    obs_ptr: np.ndarray
    edge_obs: np.ndarray
    edge_var: np.ndarray
    edge_h: np.ndarray
    var_ptr: np.ndarray
    var_edge: np.ndarray

    @classmethod
    def from_coo(cls, rows, cols, vals, n_cells: int, data_mask_flat) -> FactorGraph:
        mask = np.asarray(data_mask_flat, bool).ravel()
        var_of_cell = np.full(n_cells, -1, np.int64)
        var_cells = np.flatnonzero(mask)
        var_of_cell[var_cells] = np.arange(var_cells.size)
        keep = mask[cols]
        r, c, v = rows[keep], var_of_cell[cols[keep]], vals[keep]
        order = np.lexsort((c, r))
        r, c, v = r[order], c[order], v[order]
        if r.size > 1:
            # merge duplicate (observation, variable) pairs: one factor-graph edge per nonzero of H
            new = np.ones(r.size, bool)
            new[1:] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
            if not new.all():
                start = np.flatnonzero(new)
                v = np.add.reduceat(v, start)
                r, c = r[start], c[start]
        obs_ptr = np.zeros(n_cells + 1, np.int64)
        np.cumsum(np.bincount(r, minlength=n_cells), out=obs_ptr[1:])
        var_edge = np.argsort(c, kind="stable").astype(np.int64)
        var_ptr = np.zeros(var_cells.size + 1, np.int64)
        np.cumsum(np.bincount(c, minlength=var_cells.size), out=var_ptr[1:])
        return cls(n_cells, var_cells, obs_ptr, np.ascontiguousarray(r, np.int64), np.ascontiguousarray(c, np.int64),
                   np.ascontiguousarray(v, np.complex128), var_ptr, var_edge)
