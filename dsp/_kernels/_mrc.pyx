# distutils: extra_compile_args = -O3 -fcx-limited-range -fno-math-errno -fno-trapping-math
# Iterative maximal-ratio-combining (rake) decision-feedback detector (Thaj & Viterbo, IEEE TVT 2020)
# on a sparse channel graph y = H x + w. Algorithm, layout and return values: see the NumPy twin
# _mrc_py.py, which makes the same decisions. The whole sweep loop runs without the GIL.
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
    cdef Py_ssize_t q = cons.shape[0]
    cdef Py_ssize_t n_group = group_ptr.shape[0] - 1
    cdef Py_ssize_t c, j, e, a, gi, best
    cdef int sweeps = 0
    cdef long long changed
    cdef double complex num, g, h, delta, xnew, df
    cdef double dist, bestd, hh, nr, ni
    cdef double complex *dy = <double complex *> malloc(n_obs * sizeof(double complex))
    cdef double complex *xh = <double complex *> malloc(n_var * sizeof(double complex))
    cdef double *dmat = <double *> malloc(n_var * sizeof(double))
    cdef double *dinv = <double *> malloc(n_var * sizeof(double))
    cdef long long *newi = <long long *> malloc(n_var * sizeof(long long))
    # dirty[c]: some residual cell of c changed since c was last combined. A clean variable would
    # combine to the same g_c and the same decision, so skipping it changes nothing but the time.
    cdef char *dirty = <char *> malloc(n_var * sizeof(char))
    cdef long long d, k
    # edge coefficients and observations in variable order: the combining loop reads them sequentially
    cdef double complex *hs = <double complex *> malloc(var_edge.shape[0] * sizeof(double complex))
    cdef long long *os = <long long *> malloc(var_edge.shape[0] * sizeof(long long))
    if dy == NULL or xh == NULL or dmat == NULL or newi == NULL or dinv == NULL or dirty == NULL or hs == NULL or os == NULL:
        free(dy); free(xh); free(dmat); free(newi); free(dinv); free(dirty); free(hs); free(os)
        return ERR_MEMORY
    for j in range(n_obs):
        dy[j] = y[j]
    for c in range(n_var):
        xh[c] = 0.0
        out_idx[c] = -1
        out_soft[c] = 0.0
        hh = 0.0
        for j in range(var_ptr[c], var_ptr[c + 1]):
            h = edge_h[var_edge[j]]
            hs[j] = h
            os[j] = edge_obs[var_edge[j]]
            hh = hh + (h.real * h.real + h.imag * h.imag)
        dmat[c] = hh
        dinv[c] = 1.0 / hh if hh > 0 else 0.0
        dirty[c] = 1
    while sweeps < max_iter:
        sweeps += 1
        changed = 0
        for gi in range(n_group):
            # combine every variable of the group against the same residual (Jacobi inside the group)
            for c in range(group_ptr[gi], group_ptr[gi + 1]):
                if not dirty[c]:
                    newi[c] = out_idx[c]
                    continue
                dirty[c] = 0
                if dmat[c] > 0:
                    nr = 0.0
                    ni = 0.0
                    for j in range(var_ptr[c], var_ptr[c + 1]):
                        h = hs[j]
                        df = dy[os[j]]
                        nr = nr + (h.real * df.real + h.imag * df.imag)
                        ni = ni + (h.real * df.imag - h.imag * df.real)
                    g = (nr * dinv[c] + xh[c].real) + 1j * (ni * dinv[c] + xh[c].imag)
                    best = 0
                    df = g - cons[0]
                    bestd = df.real * df.real + df.imag * df.imag
                    for a in range(1, q):
                        df = g - cons[a]
                        dist = df.real * df.real + df.imag * df.imag
                        if dist < bestd:
                            bestd = dist
                            best = a
                    newi[c] = best
                else:
                    g = 0.0
                    newi[c] = -1
                out_soft[c] = g
            # then feed the decision changes of the group back into the residual (Gauss-Seidel across groups)
            for c in range(group_ptr[gi], group_ptr[gi + 1]):
                if newi[c] != out_idx[c]:
                    changed += 1
                    xnew = cons[newi[c]] if newi[c] >= 0 else 0.0
                    delta = xnew - xh[c]
                    for j in range(var_ptr[c], var_ptr[c + 1]):
                        d = os[j]
                        dy[d] = dy[d] - hs[j] * delta
                        for k in range(obs_ptr[d], obs_ptr[d + 1]):
                            dirty[edge_var[k]] = 1
                    out_idx[c] = newi[c]
                    xh[c] = xnew
        if changed == 0:
            break
    free(dy); free(xh); free(dmat); free(newi); free(dinv); free(dirty); free(hs); free(os)
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
    if not (max_iter >= 1 and constellation.shape[0] >= 1):
        return ERR_PARAM, 0
    with nogil:
        status = _mrc(y, obs_ptr, edge_obs, edge_var, edge_h, var_ptr, var_edge, group_ptr, constellation, max_iter, out_idx,
                      out_soft, &sweeps)
    return status, sweeps
