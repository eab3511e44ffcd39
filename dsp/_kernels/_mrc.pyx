# distutils: extra_compile_args = -O3 -fcx-limited-range -fno-math-errno -fno-trapping-math
# Iterative maximal-ratio-combining (rake) decision-feedback detector (Thaj & Viterbo, IEEE TVT 2020)
# on a sparse channel graph y = H x + w. Algorithm, layout and return values: see the NumPy twin
# _mrc_py.py, which makes the same decisions. The whole sweep loop runs without the GIL.
#
# Speed (same arithmetic as the twin, operation by operation, so the same decisions):
# * real and imaginary parts in separate double arrays (residual, coefficients in variable order,
#   decisions, constellation): no complex temporaries through memory;
# * each group records its decision changes while combining, so the feedback loop visits only the
#   changed variables;
# * "dirty" marking (skip variables none of whose residual cells changed) starts after sweep 1: every
#   variable changes its decision in sweep 1 (from "none"), so all are marked dirty at its end at
#   once instead of through P x P stores per variable. Dirty is a superset of what needs combining:
#   a clean variable would combine to the same g and decision.
cimport cython
from libc.stdlib cimport malloc, free

cdef int OK = 0
cdef int ERR_SHAPE = 1
cdef int ERR_PARAM = 2
cdef int ERR_MEMORY = 3


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
cdef int _mrc(const double complex[::1] y, const long long[::1] obs_ptr, const long long[::1] edge_obs,
              const long long[::1] edge_var, const double complex[::1] edge_h,
              const long long[::1] var_ptr, const long long[::1] var_edge, const long long[::1] group_ptr,
              const double complex[::1] cons, int max_iter, long long[::1] out_idx,
              double complex[::1] out_soft, int *sweeps_out) noexcept nogil:
    cdef Py_ssize_t n_obs = y.shape[0]
    cdef Py_ssize_t n_var = out_idx.shape[0]
    cdef Py_ssize_t n_slot = var_edge.shape[0]
    cdef Py_ssize_t q = cons.shape[0]
    cdef Py_ssize_t n_group = group_ptr.shape[0] - 1
    cdef Py_ssize_t c, j, a, gi, best, n_chg, t, j0, j1
    cdef int sweeps = 0
    cdef bint mark
    cdef long long changed, b, d, k, e
    cdef double gr, gim, dist, bestd, hh, nr, ni, ar, ai, br, bi, dr, di, xnr, xni, dv
    cdef double *dyr = <double *> malloc((2 * n_obs + 1) * sizeof(double))
    cdef double *dyi = dyr + n_obs
    cdef double *xr = <double *> malloc((4 * n_var + 1) * sizeof(double))
    cdef double *xi = xr + n_var
    cdef double *dmat = xr + 2 * n_var
    cdef double *dinv = xr + 3 * n_var
    cdef double *hr = <double *> malloc((2 * n_slot + 1) * sizeof(double))
    cdef double *hi = hr + n_slot
    cdef double *cr = <double *> malloc((2 * q + 1) * sizeof(double))
    cdef double *ci = cr + q
    cdef long long *os = <long long *> malloc((n_slot + 1) * sizeof(long long))
    # decision changes of the current group: variable and new index
    cdef Py_ssize_t *chg = <Py_ssize_t *> malloc((n_var + 1) * sizeof(Py_ssize_t))
    cdef long long *chg_new = <long long *> malloc((n_var + 1) * sizeof(long long))
    cdef char *dirty = <char *> malloc((n_var + 1) * sizeof(char))
    if (dyr == NULL or xr == NULL or hr == NULL or cr == NULL or os == NULL or chg == NULL or chg_new == NULL
            or dirty == NULL):
        free(dyr); free(xr); free(hr); free(cr); free(os); free(chg); free(chg_new); free(dirty)
        return ERR_MEMORY
    for j in range(n_obs):
        dyr[j] = y[j].real
        dyi[j] = y[j].imag
    for a in range(q):
        cr[a] = cons[a].real
        ci[a] = cons[a].imag
    for c in range(n_var):
        xr[c] = 0.0
        xi[c] = 0.0
        out_idx[c] = -1
        out_soft[c] = 0.0
        hh = 0.0
        for j in range(var_ptr[c], var_ptr[c + 1]):
            e = var_edge[j]
            ar = edge_h[e].real
            ai = edge_h[e].imag
            hr[j] = ar
            hi[j] = ai
            os[j] = edge_obs[e]
            hh = hh + (ar * ar + ai * ai)
        dmat[c] = hh
        dinv[c] = 1.0 / hh if hh > 0 else 0.0
        dirty[c] = 1
    while sweeps < max_iter:
        sweeps += 1
        changed = 0
        mark = sweeps > 1
        for gi in range(n_group):
            # combine every variable of the group against the same residual (Jacobi inside the group)
            n_chg = 0
            for c in range(group_ptr[gi], group_ptr[gi + 1]):
                if not dirty[c]:
                    continue
                dirty[c] = 0
                if dmat[c] > 0:
                    nr = 0.0
                    ni = 0.0
                    j0 = var_ptr[c]
                    j1 = var_ptr[c + 1]
                    for j in range(j0, j1):
                        d = os[j]
                        ar = hr[j]
                        ai = hi[j]
                        br = dyr[d]
                        bi = dyi[d]
                        nr = nr + (ar * br + ai * bi)
                        ni = ni + (ar * bi - ai * br)
                    dv = dinv[c]
                    gr = nr * dv + xr[c]
                    gim = ni * dv + xi[c]
                    best = 0
                    dr = gr - cr[0]
                    di = gim - ci[0]
                    bestd = dr * dr + di * di
                    for a in range(1, q):
                        dr = gr - cr[a]
                        di = gim - ci[a]
                        dist = dr * dr + di * di
                        if dist < bestd:
                            bestd = dist
                            best = a
                    out_soft[c].real = gr
                    out_soft[c].imag = gim
                    if best != out_idx[c]:
                        chg[n_chg] = c
                        chg_new[n_chg] = best
                        n_chg += 1
                else:
                    out_soft[c] = 0.0  # decision stays -1 (its initial value)
            # then feed the decision changes of the group back into the residual (Gauss-Seidel across groups)
            changed += n_chg
            for t in range(n_chg):
                c = chg[t]
                b = chg_new[t]
                xnr = cr[b]
                xni = ci[b]
                dr = xnr - xr[c]
                di = xni - xi[c]
                for j in range(var_ptr[c], var_ptr[c + 1]):
                    d = os[j]
                    ar = hr[j]
                    ai = hi[j]
                    dyr[d] = dyr[d] - (ar * dr - ai * di)
                    dyi[d] = dyi[d] - (ar * di + ai * dr)
                    if mark:
                        for k in range(obs_ptr[d], obs_ptr[d + 1]):
                            dirty[edge_var[k]] = 1
                out_idx[c] = b
                xr[c] = xnr
                xi[c] = xni
        if changed == 0:
            break
        if not mark:
            for c in range(n_var):
                dirty[c] = 1
    free(dyr); free(xr); free(hr); free(cr); free(os); free(chg); free(chg_new); free(dirty)
    sweeps_out[0] = sweeps
    return OK


def mrc_detect(const double complex[::1] y, const long long[::1] obs_ptr, const long long[::1] edge_obs,
               const long long[::1] edge_var, const double complex[::1] edge_h,
               const long long[::1] var_ptr, const long long[::1] var_edge, const long long[::1] group_ptr,
               const double complex[::1] constellation, int max_iter, long long[::1] out_idx,
               double complex[::1] out_soft):
    """Iterative MRC detection; see the NumPy twin ``_mrc_py.mrc_detect``. Returns (status, sweeps)."""
    cdef Py_ssize_t n_obs = y.shape[0]
    cdef Py_ssize_t n_var = out_idx.shape[0]
    cdef Py_ssize_t n_edge = edge_h.shape[0]
    cdef Py_ssize_t i
    cdef int sweeps = 0
    cdef int status
    if (edge_obs.shape[0] != n_edge or edge_var.shape[0] != n_edge or obs_ptr.shape[0] != n_obs + 1
            or var_ptr.shape[0] != n_var + 1 or var_edge.shape[0] != n_edge
            or out_soft.shape[0] != n_var or group_ptr.shape[0] < 1 or group_ptr[0] != 0
            or group_ptr[group_ptr.shape[0] - 1] != n_var):
        return ERR_SHAPE, 0
    for i in range(group_ptr.shape[0] - 1):
        if group_ptr[i + 1] < group_ptr[i]:
            return ERR_SHAPE, 0
    for i in range(n_edge):
        if edge_obs[i] < 0 or edge_obs[i] >= n_obs or edge_var[i] < 0 or edge_var[i] >= n_var:
            return ERR_SHAPE, 0
    if obs_ptr[0] != 0 or obs_ptr[n_obs] != n_edge:
        return ERR_SHAPE, 0
    for i in range(n_obs):
        if obs_ptr[i + 1] < obs_ptr[i]:
            return ERR_SHAPE, 0
    # The kernel reads through var_ptr / var_edge without bounds checks: validate them as well.
    if var_ptr[0] != 0 or var_ptr[n_var] != n_edge:
        return ERR_SHAPE, 0
    for i in range(n_var):
        if var_ptr[i + 1] < var_ptr[i]:
            return ERR_SHAPE, 0
    for i in range(n_edge):
        if var_edge[i] < 0 or var_edge[i] >= n_edge:
            return ERR_SHAPE, 0
    if not (max_iter >= 1 and constellation.shape[0] >= 1):
        return ERR_PARAM, 0
    with nogil:
        status = _mrc(y, obs_ptr, edge_obs, edge_var, edge_h, var_ptr, var_edge, group_ptr, constellation, max_iter, out_idx,
                      out_soft, &sweeps)
    return status, sweeps
