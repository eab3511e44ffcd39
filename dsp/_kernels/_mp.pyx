# distutils: extra_compile_args = -O3 -fcx-limited-range -fno-math-errno -fno-trapping-math
# Message passing detector (Raviteja, Hong, Viterbo, IEEE TWC 17(10), 2018) on a sparse factor graph
# y = H x + w. The algorithm, graph layout and return values are documented in the NumPy twin
# _mp_py.py, which makes the same decisions; here the whole iteration loop runs without the GIL.
cimport cython
from libc.math cimport exp
from libc.stdlib cimport malloc, free

import numpy as np

cdef int OK = 0
cdef int ERR_SHAPE = 1
cdef int ERR_PARAM = 2
cdef int ERR_MEMORY = 3


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
cdef int _mp(const double complex[::1] y, const long long[::1] obs_ptr, const long long[::1] edge_var,
             const double complex[::1] edge_h, const long long[::1] var_ptr, const long long[::1] var_edge,
             const double complex[::1] cons, double noise_var, double damping, int max_iter,
             double conv_tol, int stall_iter, long long[::1] out_idx, double[:, ::1] out_prob,
             int *iters, double *eta_out) noexcept nogil:
    cdef Py_ssize_t n_obs = y.shape[0]
    cdef Py_ssize_t n_var = out_idx.shape[0]
    cdef Py_ssize_t q = cons.shape[0]
    cdef Py_ssize_t n_edge = edge_h.shape[0]
    cdef Py_ssize_t d, c, e, a, j, best
    cdef int it, best_it = 0
    cdef double complex m, acc_mu, h, r, df
    cdef double ps2, acc_v, hh, sig, mx, tot_sum, val, pmax, eta, eta_best = -1.0
    cdef long long n_conv
    cdef Py_ssize_t deg, nb, max_deg = 0
    # p: var->obs messages [E, Q]; r_e / sig_e: obs->var Gaussian messages; ll: [E, Q] log-likelihoods
    cdef double *p = <double *> malloc(n_edge * q * sizeof(double))
    cdef double *ll = <double *> malloc(n_edge * q * sizeof(double))
    cdef double complex *mu_e = <double complex *> malloc(n_edge * sizeof(double complex))
    cdef double *v_e = <double *> malloc(n_edge * sizeof(double))
    cdef double *tot = <double *> malloc(q * sizeof(double))
    cdef double *ext = <double *> malloc(q * sizeof(double))
    cdef double *s2 = <double *> malloc(q * sizeof(double))
    cdef double *buf
    for c in range(n_var):
        if var_ptr[c + 1] - var_ptr[c] > max_deg:
            max_deg = var_ptr[c + 1] - var_ptr[c]
    buf = <double *> malloc((max_deg + 1) * q * sizeof(double))
    if buf == NULL or p == NULL or ll == NULL or mu_e == NULL or v_e == NULL or tot == NULL or ext == NULL or s2 == NULL:
        free(p); free(ll); free(mu_e); free(v_e); free(tot); free(ext); free(s2); free(buf)
        return ERR_MEMORY
    for a in range(q):
        s2[a] = cons[a].real * cons[a].real + cons[a].imag * cons[a].imag
    for e in range(n_edge * q):
        p[e] = 1.0 / q
    for c in range(n_var):
        for a in range(q):
            out_prob[c, a] = 1.0 / q
    it = 0
    while it < max_iter:
        it += 1
        # observation side
        for d in range(n_obs):
            acc_mu = 0.0
            acc_v = 0.0
            for e in range(obs_ptr[d], obs_ptr[d + 1]):
                m = 0.0
                ps2 = 0.0
                for a in range(q):
                    m = m + p[e * q + a] * cons[a]
                for a in range(q):
                    ps2 = ps2 + p[e * q + a] * s2[a]
                h = edge_h[e]
                hh = h.real * h.real + h.imag * h.imag
                mu_e[e] = h * m
                v_e[e] = hh * (ps2 - (m.real * m.real + m.imag * m.imag))
                acc_mu = acc_mu + mu_e[e]
                acc_v = acc_v + v_e[e]
            for e in range(obs_ptr[d], obs_ptr[d + 1]):
                r = y[d] - (acc_mu - mu_e[e])
                sig = 1.0 / ((acc_v - v_e[e]) + noise_var)
                h = edge_h[e]
                for a in range(q):
                    df = r - h * cons[a]
                    ll[e * q + a] = -(df.real * df.real + df.imag * df.imag) * sig
        # variable side: extrinsic log-messages of all edges of c, then one flat exp loop (vectorisable)
        n_conv = 0
        for c in range(n_var):
            for a in range(q):
                tot[a] = 0.0
            for j in range(var_ptr[c], var_ptr[c + 1]):
                e = var_edge[j]
                for a in range(q):
                    tot[a] = tot[a] + ll[e * q + a]
            deg = var_ptr[c + 1] - var_ptr[c]
            for j in range(deg):
                e = var_edge[var_ptr[c] + j]
                mx = tot[0] - ll[e * q]
                for a in range(q):
                    val = tot[a] - ll[e * q + a]
                    buf[j * q + a] = val
                    if val > mx:
                        mx = val
                for a in range(q):
                    buf[j * q + a] = buf[j * q + a] - mx
            mx = tot[0]
            for a in range(q):
                if tot[a] > mx:
                    mx = tot[a]
            for a in range(q):
                buf[deg * q + a] = tot[a] - mx
            nb = (deg + 1) * q
            for j in range(nb):
                buf[j] = exp(buf[j])
            for j in range(deg):
                e = var_edge[var_ptr[c] + j]
                tot_sum = 0.0
                for a in range(q):
                    tot_sum = tot_sum + buf[j * q + a]
                for a in range(q):
                    p[e * q + a] = damping * (buf[j * q + a] / tot_sum) + (1.0 - damping) * p[e * q + a]
            tot_sum = 0.0
            for a in range(q):
                tot_sum = tot_sum + buf[deg * q + a]
            pmax = 0.0
            for a in range(q):
                val = buf[deg * q + a] / tot_sum
                out_prob[c, a] = val
                if val > pmax:
                    pmax = val
            if pmax >= 1.0 - conv_tol:
                n_conv += 1
        eta = (<double> n_conv) / n_var if n_var > 0 else 1.0
        if eta > eta_best:
            eta_best = eta
            best_it = it
            for c in range(n_var):
                best = 0
                for a in range(1, q):
                    if out_prob[c, a] > out_prob[c, best]:
                        best = a
                out_idx[c] = best
        if eta >= 1.0:
            break
        if stall_iter > 0 and it - best_it >= stall_iter:
            break
    free(p); free(ll); free(mu_e); free(v_e); free(tot); free(ext); free(s2); free(buf)
    iters[0] = it
    eta_out[0] = eta_best
    return OK


def mp_detect(const double complex[::1] y, const long long[::1] obs_ptr, const long long[::1] edge_var,
              const double complex[::1] edge_h, const long long[::1] var_ptr, const long long[::1] var_edge,
              const double complex[::1] constellation, double noise_var, double damping, int max_iter,
              double conv_tol, int stall_iter, long long[::1] out_idx, double[:, ::1] out_prob):
    """Message passing detection; see the NumPy twin ``_mp_py.mp_detect``. Returns (status, iterations, eta)."""
    cdef Py_ssize_t n_obs = y.shape[0]
    cdef Py_ssize_t n_var = out_idx.shape[0]
    cdef Py_ssize_t n_edge = edge_h.shape[0]
    cdef int iters = 0
    cdef double eta = 0.0
    cdef int status
    if (obs_ptr.shape[0] != n_obs + 1 or var_ptr.shape[0] != n_var + 1 or edge_var.shape[0] != n_edge
            or var_edge.shape[0] != n_edge or out_prob.shape[0] != n_var
            or out_prob.shape[1] != constellation.shape[0]):
        return ERR_SHAPE, 0, 0.0
    if not (noise_var > 0 and 0 < damping <= 1 and max_iter >= 1 and constellation.shape[0] >= 1):
        return ERR_PARAM, 0, 0.0
    with nogil:
        status = _mp(y, obs_ptr, edge_var, edge_h, var_ptr, var_edge, constellation, noise_var, damping,
                     max_iter, conv_tol, stall_iter, out_idx, out_prob, &iters, &eta)
    return status, iters, eta
