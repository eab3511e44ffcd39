"""NumPy twin of ``_mrc.pyx``: iterative maximal-ratio-combining decision-feedback detector.

Same function, signature and decisions as the compiled kernel. The detector is the rake / MRC
detector of Thaj and Viterbo ("Low complexity iterative rake decision feedback equalizer for
zero-padded OTFS systems", IEEE TVT 69(12), 2020), written on the sparse channel graph ``y = H x + w``
(delay-Doppler domain for OTFS; the delay-time form of the paper is the same computation after an
FFT along Doppler):

* residual ``dy = y - H x_hat`` (``x_hat = 0`` at the start);
* for each group of variables (OTFS: one delay row, as the paper sweeps delay by delay), for every
  variable ``c`` of the group: ``g_c = sum_d conj(H_dc) dy_d / D_c + x_hat_c`` with
  ``D_c = sum_d |H_dc|^2`` (the maximal-ratio combination of the ``P`` copies of ``x_c``), the new
  decision is the constellation point nearest to ``g_c``; then the residual is updated with the
  decision changes of the whole group (Gauss-Seidel across groups, Jacobi inside a group);
* stop when a sweep changes no decision, or after ``max_iter`` sweeps.

(The compiled kernel skips variables none of whose residual cells changed since they were last
combined - they would give the same decision - using the observation index ``obs_ptr``/``edge_var``;
the result is the same.)

Layout: ``obs_ptr[d]:obs_ptr[d+1]`` are the edges of observation ``d`` (edges sorted by observation),
``edge_var[e]`` the variable of edge ``e``, ``edge_obs[e]`` the observation of edge ``e`` and ``edge_h[e]``
its coefficient;
``var_ptr[c]:var_ptr[c+1]`` index ``var_edge`` (edge ids of variable ``c``); ``group_ptr`` splits the
variables ``0..n_var-1`` into consecutive groups.
"""

import numpy as np

OK = 0
ERR_SHAPE = 1
ERR_PARAM = 2


def mrc_detect(y, obs_ptr, edge_obs, edge_var, edge_h, var_ptr, var_edge, group_ptr, constellation, max_iter,
               out_idx, out_soft):
    """Write decisions (constellation indices, -1 where a variable has no observation) to ``out_idx``
    and the last combiner outputs ``g_c`` to ``out_soft``. Returns ``(status, sweeps)``."""
    n_obs = y.shape[0]
    n_var = out_idx.shape[0]
    n_edge = edge_h.shape[0]
    if (edge_obs.shape[0] != n_edge or edge_var.shape[0] != n_edge or obs_ptr.shape[0] != n_obs + 1
            or obs_ptr[0] != 0 or obs_ptr[-1] != n_edge or np.any(np.diff(obs_ptr) < 0)
            or var_ptr.shape[0] != n_var + 1 or var_edge.shape[0] != n_edge
            or out_soft.shape[0] != n_var or group_ptr.shape[0] < 1 or group_ptr[0] != 0
            or group_ptr[-1] != n_var or np.any(np.diff(group_ptr) < 0)):
        return ERR_SHAPE, 0
    if n_edge and (edge_obs.min() < 0 or edge_obs.max() >= n_obs or edge_var.min() < 0 or edge_var.max() >= n_var):
        return ERR_SHAPE, 0
    if not (max_iter >= 1 and constellation.shape[0] >= 1):
        return ERR_PARAM, 0
    s = np.asarray(constellation)
    dy = np.array(y, dtype=complex)
    h_slot = np.asarray(edge_h)[var_edge]  # coefficients in variable order
    o_slot = np.asarray(edge_obs)[var_edge]
    var_of_slot = np.repeat(np.arange(n_var), np.diff(var_ptr))
    dmat = np.zeros(n_var)
    np.add.at(dmat, var_of_slot, h_slot.real * h_slot.real + h_slot.imag * h_slot.imag)
    idx = np.full(n_var, -1, dtype=np.int64)
    xh = np.zeros(n_var, complex)
    g_all = np.zeros(n_var, complex)
    sweeps = 0
    for sweeps in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        changed = 0
        for gi in range(group_ptr.shape[0] - 1):
            c0, c1 = int(group_ptr[gi]), int(group_ptr[gi + 1])
            if c1 == c0:
                continue
            a, b = int(var_ptr[c0]), int(var_ptr[c1])
            hs, ds = h_slot[a:b], dy[o_slot[a:b]]
            nr = np.zeros(c1 - c0)
            ni = np.zeros(c1 - c0)
            np.add.at(nr, var_of_slot[a:b] - c0, hs.real * ds.real + hs.imag * ds.imag)
            np.add.at(ni, var_of_slot[a:b] - c0, hs.real * ds.imag - hs.imag * ds.real)
            ok = dmat[c0:c1] > 0
            dinv = np.where(ok, 1.0 / np.where(ok, dmat[c0:c1], 1.0), 0.0)
            g = np.where(ok, (nr * dinv + xh[c0:c1].real) + 1j * (ni * dinv + xh[c0:c1].imag), 0)
            df = g[:, None] - s[None, :]
            dist = df.real * df.real + df.imag * df.imag
            new = np.where(ok, dist.argmin(axis=1), -1)
            g_all[c0:c1] = g
            chg = new != idx[c0:c1]
            if np.any(chg):
                changed += int(np.count_nonzero(chg))
                xnew = np.where(new >= 0, s[np.maximum(new, 0)], 0)
                delta = xnew - xh[c0:c1]
                sl_var = var_of_slot[a:b] - c0
                upd = h_slot[a:b] * delta[sl_var]
                msk = chg[sl_var]
                np.subtract.at(dy, o_slot[a:b][msk], upd[msk])
                idx[c0:c1] = new
                xh[c0:c1] = xnew
        if changed == 0:
            break
    out_idx[:] = idx
    out_soft[:] = g_all
    return OK, sweeps
