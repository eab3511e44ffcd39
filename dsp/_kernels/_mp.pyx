# distutils: extra_compile_args = -O3 -fcx-limited-range -fno-math-errno -fno-trapping-math
# Message passing detector (Raviteja, Hong, Viterbo, IEEE TWC 17(10), 2018) on a sparse factor graph
# y = H x + w. The algorithm, graph layout and return values are documented in the NumPy twin
# _mp_py.py, which makes the same decisions; here the whole iteration loop runs without the GIL.
#
# Two loops compute the same messages:
# * _mp_product, for constellations that are a product of a real and an imaginary level set (every
#   square QAM). With s = sI + j sQ, -|r - h s|^2 sig = const + sig (2 sI Re(h* r) - |h|^2 sI^2)
#                                                           + sig (2 sQ Im(h* r) - |h|^2 sQ^2),
#   so every log-likelihood, extrinsic sum and posterior factorises into an I and a Q part: the
#   softmax over Q = K^2 points becomes two softmaxes over K levels (4-QAM: one logistic per
#   dimension, 2 exp per edge instead of 5). The variable->observation message p enters the
#   observation side only through its mean and second moment, which are linear in p, so damping is
#   applied to those (3 numbers per edge instead of Q). exp runs as a branch-free polynomial in a flat
#   loop the compiler vectorises (|error| <= 2 ulp on [-708, 0], see _exp_neg below).
# * _mp_generic, any constellation: the direct form, one softmax over Q per edge (libm exp).
cimport cython
from libc.math cimport exp, fabs
from libc.stdlib cimport malloc, free

import numpy as np

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    /* exp(x) for x <= 0: Cody-Waite reduction x = k ln2 + r, |r| <= ln2/2, Taylor polynomial to r^13
       (truncation < 5e-19 relative), scale by 2^k through the exponent bits. Branch-free so loops over it
       vectorise. Below -708 it returns 0 (the true value, < 3.3e-308, is below the rounding of the
       normalising sum, whose largest term is exp(0) = 1). */
    static inline double hil_mp_exp_neg(double x) {
        const double shifter = 6755399441055744.0;          /* 1.5 * 2^52: adding it rounds to an integer */
        double xc = x < -708.0 ? -708.0 : x;
        double kd = xc * 1.4426950408889634 + shifter;
        double k = kd - shifter;
        double r = (xc - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10;
        double p = 1.6059043836821613e-10;
        p = p * r + 2.08767569878681e-09;
        p = p * r + 2.505210838544172e-08;
        p = p * r + 2.755731922398589e-07;
        p = p * r + 2.7557319223985893e-06;
        p = p * r + 2.48015873015873e-05;
        p = p * r + 0.0001984126984126984;
        p = p * r + 0.001388888888888889;
        p = p * r + 0.008333333333333333;
        p = p * r + 0.041666666666666664;
        p = p * r + 0.16666666666666666;
        p = p * r + 0.5;
        p = p * r + 1.0;
        p = p * r + 1.0;
        uint64_t bits;
        memcpy(&bits, &kd, sizeof bits);
        bits = (bits + 1023u) << 52;                         /* low bits of kd hold k: 2^k */
        double scale;
        memcpy(&scale, &bits, sizeof scale);
        return x < -708.0 ? 0.0 : p * scale;
    }
    static void hil_mp_exp_neg_array(double *restrict v, Py_ssize_t n) {
        for (Py_ssize_t i = 0; i < n; i++) v[i] = hil_mp_exp_neg(v[i]);
    }
    """
    double _exp_neg "hil_mp_exp_neg"(double x) noexcept nogil
    void _exp_neg_array "hil_mp_exp_neg_array"(double *v, Py_ssize_t n) noexcept nogil

cdef int OK = 0
cdef int ERR_SHAPE = 1
cdef int ERR_PARAM = 2
cdef int ERR_MEMORY = 3


def _exp_neg_values(const double[::1] x, double[::1] out):
    """The kernel's exp for x <= 0 (exposed for its accuracy test)."""
    cdef Py_ssize_t i
    for i in range(x.shape[0]):
        out[i] = _exp_neg(x[i])


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
cdef int _mp_generic(const double complex[::1] y, const long long[::1] obs_ptr, const long long[::1] edge_var,
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


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
cdef inline void _start_edges(const long long[::1] var_edge, const double *H, Py_ssize_t n_edge,
                              const double[::1] lev_i, const double[::1] lev_q, const long long[::1] sym_i,
                              const long long[::1] sym_q, long long *sl, double *hh, double *mm,
                              double *m2) noexcept nogil:
    # Shared set-up of the separable kernels: slot of each edge in variable order, |h|^2 per edge, and
    # every message starting as the uniform pmf (its mean (re, im) and second moment).
    cdef Py_ssize_t j, e, a, q = sym_i.shape[0]
    cdef double mr = 0.0, mi = 0.0, vv = 0.0, li, lq
    for j in range(n_edge):
        sl[var_edge[j]] = j
    for e in range(n_edge):
        hh[e] = H[2 * e] * H[2 * e] + H[2 * e + 1] * H[2 * e + 1]
    for a in range(q):
        li = lev_i[sym_i[a]]
        lq = lev_q[sym_q[a]]
        mr = mr + li / q
        mi = mi + lq / q
        vv = vv + (li * li + lq * lq) / q
    for j in range(n_edge):
        mm[2 * j] = mr
        mm[2 * j + 1] = mi
        m2[j] = vv


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
cdef int _mp_product(const double complex[::1] y_c, const long long[::1] obs_ptr, const double complex[::1] edge_h_c,
                     const long long[::1] var_ptr, const long long[::1] var_edge, const double[::1] lev_i,
                     const double[::1] lev_q, const long long[::1] sym_i, const long long[::1] sym_q,
                     double noise_var, double damping, int max_iter, double conv_tol, int stall_iter,
                     long long[::1] out_idx, double[:, ::1] out_prob, int *iters, double *eta_out) noexcept nogil:
    cdef Py_ssize_t n_obs = y_c.shape[0]
    cdef Py_ssize_t n_var = out_idx.shape[0]
    cdef Py_ssize_t q = sym_i.shape[0]
    cdef Py_ssize_t n_edge = edge_h_c.shape[0]
    cdef Py_ssize_t ki = lev_i.shape[0]
    cdef Py_ssize_t kq = lev_q.shape[0]
    cdef Py_ssize_t kt = ki + kq
    cdef Py_ssize_t d, c, e, j, k, a, e0, e1, j0, j1, nb, best, deg, max_deg = 0, max_odeg = 0
    cdef int it = 0, best_it = 0, dim
    cdef double hr, hi, mr, mi, vv, amr, ami, av, rr, ri, sig, ur, ui, hs, x, mx, w, s, p0, p1, dlt, sm
    cdef double pm, val, eta = 0.0, eta_best = -1.0, one_m_d = 1.0 - damping
    cdef long long n_conv
    cdef const double *Y = <const double *> &y_c[0] if n_obs > 0 else NULL
    cdef const double *H = <const double *> &edge_h_c[0] if n_edge > 0 else NULL
    cdef const double *lev
    cdef Py_ssize_t kd, off
    for c in range(n_var):
        if var_ptr[c + 1] - var_ptr[c] > max_deg:
            max_deg = var_ptr[c + 1] - var_ptr[c]
    for d in range(n_obs):
        if obs_ptr[d + 1] - obs_ptr[d] > max_odeg:
            max_odeg = obs_ptr[d + 1] - obs_ptr[d]
    # per edge, in observation order: slot (position in var_edge) and |h|^2
    cdef long long *sl = <long long *> malloc((n_edge + 1) * sizeof(long long))
    cdef double *hh = <double *> malloc((n_edge + 1) * sizeof(double))
    # per slot (variable order): damped mean (re, im) and second moment of the message to the observation,
    # and the I/Q log-likelihood parts from the observation (kt numbers)
    cdef double *mm = <double *> malloc((2 * n_edge + 1) * sizeof(double))
    cdef double *m2 = <double *> malloc((n_edge + 1) * sizeof(double))
    cdef double *L = <double *> malloc((n_edge * kt + 1) * sizeof(double))
    cdef double *tot = <double *> malloc((n_var * kt + 1) * sizeof(double))
    cdef double *ob = <double *> malloc((3 * max_odeg + 1) * sizeof(double))
    cdef double *buf = <double *> malloc(((max_deg + 1) * kt + 1) * sizeof(double))
    cdef double *nm = <double *> malloc((3 * max_deg + 1) * sizeof(double))
    cdef double *t
    if sl == NULL or hh == NULL or mm == NULL or m2 == NULL or L == NULL or tot == NULL or ob == NULL or buf == NULL \
            or nm == NULL:
        free(sl); free(hh); free(mm); free(m2); free(L); free(tot); free(ob); free(buf); free(nm)
        return ERR_MEMORY
    _start_edges(var_edge, H, n_edge, lev_i, lev_q, sym_i, sym_q, sl, hh, mm, m2)
    while it < max_iter:
        it += 1
        # observation side: Gaussian interference of the other edges, then the I/Q log-likelihood parts
        for d in range(n_obs):
            e0 = obs_ptr[d]
            e1 = obs_ptr[d + 1]
            amr = 0.0
            ami = 0.0
            av = 0.0
            for e in range(e0, e1):
                j = sl[e]
                hr = H[2 * e]
                hi = H[2 * e + 1]
                mr = mm[2 * j]
                mi = mm[2 * j + 1]
                ur = hr * mr - hi * mi
                ui = hr * mi + hi * mr
                vv = hh[e] * (m2[j] - (mr * mr + mi * mi))
                ob[3 * (e - e0)] = ur
                ob[3 * (e - e0) + 1] = ui
                ob[3 * (e - e0) + 2] = vv
                amr = amr + ur
                ami = ami + ui
                av = av + vv
            for e in range(e0, e1):
                j = sl[e]
                hr = H[2 * e]
                hi = H[2 * e + 1]
                rr = Y[2 * d] - (amr - ob[3 * (e - e0)])
                ri = Y[2 * d + 1] - (ami - ob[3 * (e - e0) + 1])
                sig = 1.0 / ((av - ob[3 * (e - e0) + 2]) + noise_var)
                # -|r - h s|^2 sig = const + sum over I, Q of x (2 sig u - sig |h|^2 x), u = h* r
                ur = 2.0 * sig * (hr * rr + hi * ri)
                ui = 2.0 * sig * (hr * ri - hi * rr)
                hs = sig * hh[e]
                for k in range(ki):
                    L[j * kt + k] = lev_i[k] * (ur - hs * lev_i[k])
                for k in range(kq):
                    L[j * kt + ki + k] = lev_q[k] * (ui - hs * lev_q[k])
        # variable side
        n_conv = 0
        for c in range(n_var):
            j0 = var_ptr[c]
            j1 = var_ptr[c + 1]
            deg = j1 - j0
            t = tot + c * kt
            for k in range(kt):
                t[k] = 0.0
            for j in range(j0, j1):
                for k in range(kt):
                    t[k] = t[k] + L[j * kt + k]
            # exponents (all <= 0) of the extrinsic pmfs of every edge and of the posterior, one flat exp loop
            nb = 0
            for dim in range(2):
                kd = ki if dim == 0 else kq
                off = 0 if dim == 0 else ki
                if kd == 2:
                    for j in range(j0, j1):
                        dlt = (t[off + 1] - L[j * kt + off + 1]) - (t[off] - L[j * kt + off])
                        buf[nb] = -fabs(dlt)
                        nb += 1
                    buf[nb] = -fabs(t[off + 1] - t[off])
                    nb += 1
                else:
                    for j in range(j0, j1):
                        mx = t[off] - L[j * kt + off]
                        for k in range(1, kd):
                            val = t[off + k] - L[j * kt + off + k]
                            if val > mx:
                                mx = val
                        for k in range(kd):
                            buf[nb + k] = (t[off + k] - L[j * kt + off + k]) - mx
                        nb += kd
                    mx = t[off]
                    for k in range(1, kd):
                        if t[off + k] > mx:
                            mx = t[off + k]
                    for k in range(kd):
                        buf[nb + k] = t[off + k] - mx
                    nb += kd
            _exp_neg_array(buf, nb)
            # extrinsic means / second moments per dimension (nm: re, im, second moment per edge), posterior max
            nb = 0
            pm = 1.0
            for dim in range(2):
                kd = ki if dim == 0 else kq
                off = 0 if dim == 0 else ki
                lev = &lev_i[0] if dim == 0 else &lev_q[0]
                if kd == 2:
                    for j in range(j0, j1):
                        dlt = (t[off + 1] - L[j * kt + off + 1]) - (t[off] - L[j * kt + off])
                        w = buf[nb]
                        nb += 1
                        s = 1.0 / (1.0 + w)
                        if dlt >= 0:
                            p1 = s
                            p0 = w * s
                        else:
                            p0 = s
                            p1 = w * s
                        nm[3 * (j - j0) + dim] = p0 * lev[0] + p1 * lev[1]
                        val = p0 * lev[0] * lev[0] + p1 * lev[1] * lev[1]
                        nm[3 * (j - j0) + 2] = val if dim == 0 else nm[3 * (j - j0) + 2] + val
                    pm = pm / (1.0 + buf[nb])
                    nb += 1
                else:
                    for j in range(j0, j1):
                        sm = 0.0
                        for k in range(kd):
                            sm = sm + buf[nb + k]
                        mr = 0.0
                        val = 0.0
                        for k in range(kd):
                            w = buf[nb + k] / sm
                            mr = mr + w * lev[k]
                            val = val + w * lev[k] * lev[k]
                        nb += kd
                        nm[3 * (j - j0) + dim] = mr
                        nm[3 * (j - j0) + 2] = val if dim == 0 else nm[3 * (j - j0) + 2] + val
                    sm = 0.0
                    for k in range(kd):
                        sm = sm + buf[nb + k]
                    nb += kd
                    pm = pm / sm
            # damping of the message moments (linear in the pmf, so the same as damping the pmf)
            for j in range(j0, j1):
                mm[2 * j] = damping * nm[3 * (j - j0)] + one_m_d * mm[2 * j]
                mm[2 * j + 1] = damping * nm[3 * (j - j0) + 1] + one_m_d * mm[2 * j + 1]
                m2[j] = damping * nm[3 * (j - j0) + 2] + one_m_d * m2[j]
            if pm >= 1.0 - conv_tol:
                n_conv += 1
        eta = (<double> n_conv) / n_var if n_var > 0 else 1.0
        if eta > eta_best:
            eta_best = eta
            best_it = it
            # decision: the symbol with the largest posterior = the largest I + Q log-likelihood (first on ties)
            for c in range(n_var):
                t = tot + c * kt
                best = 0
                mx = t[sym_i[0]] + t[ki + sym_q[0]]
                for a in range(1, q):
                    val = t[sym_i[a]] + t[ki + sym_q[a]]
                    if val > mx:
                        mx = val
                        best = a
                out_idx[c] = best
        if eta >= 1.0:
            break
        if stall_iter > 0 and it - best_it >= stall_iter:
            break
    # posteriors of the last iteration: product of the I and Q softmaxes
    for c in range(n_var):
        t = tot + c * kt
        for dim in range(2):
            kd = ki if dim == 0 else kq
            off = 0 if dim == 0 else ki
            mx = t[off]
            for k in range(1, kd):
                if t[off + k] > mx:
                    mx = t[off + k]
            sm = 0.0
            for k in range(kd):
                buf[off + k] = exp(t[off + k] - mx)
                sm = sm + buf[off + k]
            for k in range(kd):
                buf[off + k] = buf[off + k] / sm
        for a in range(q):
            out_prob[c, a] = buf[sym_i[a]] * buf[ki + sym_q[a]]
    free(sl); free(hh); free(mm); free(m2); free(L); free(tot); free(ob); free(buf); free(nm)
    iters[0] = it
    eta_out[0] = eta_best
    return OK


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
cdef int _mp_binary(const double complex[::1] y_c, const long long[::1] obs_ptr, const double complex[::1] edge_h_c,
                    const long long[::1] var_ptr, const long long[::1] var_edge, const double[::1] lev_i,
                    const double[::1] lev_q, const long long[::1] sym_i, const long long[::1] sym_q,
                    double noise_var, double damping, int max_iter, double conv_tol, int stall_iter,
                    long long[::1] out_idx, double[:, ::1] out_prob, int *iters, double *eta_out) noexcept nogil:
    # _mp_product for two levels per dimension (4-QAM): each I/Q part is one log-likelihood ratio
    # lam = ll(x1) - ll(x0) per edge; the extrinsic pmf of a dimension is a logistic of
    # D = sum_other lam, evaluated as exp(-|D|) (always <= 1, like the twin's max-subtracted exp).
    # The variable side runs as flat loops over all edges, which the compiler vectorises.
    cdef Py_ssize_t n_obs = y_c.shape[0]
    cdef Py_ssize_t n_var = out_idx.shape[0]
    cdef Py_ssize_t q = sym_i.shape[0]
    cdef Py_ssize_t n_edge = edge_h_c.shape[0]
    cdef Py_ssize_t d, c, e, j, a, best, n2 = 2 * n_edge
    cdef int it = 0, best_it = 0
    cdef double hr, hi, mr, mi, vv, amr, ami, av, rr, ri, sig, li, lq, val, mx, w, s, p
    cdef double eta = 0.0, eta_best = -1.0, one_m_d = 1.0 - damping
    cdef double x0i = lev_i[0], x1i = lev_i[1], x0q = lev_q[0], x1q = lev_q[1]
    cdef double ci = x1i - x0i, cq = x1q - x0q, ai = x0i + x1i, aq = x0q + x1q
    cdef long long n_conv
    cdef const double *Y = <const double *> &y_c[0] if n_obs > 0 else NULL
    cdef const double *H = <const double *> &edge_h_c[0] if n_edge > 0 else NULL
    cdef long long *sl = <long long *> malloc((n_edge + 1) * sizeof(long long))
    cdef double *hh = <double *> malloc((n_edge + 1) * sizeof(double))
    # per slot (variable order): damped message mean (re, im) and second moment; lam (I, Q); D (I, Q); exp(-|D|)
    cdef double *mm = <double *> malloc((n2 + 1) * sizeof(double))
    cdef double *m2 = <double *> malloc((n_edge + 1) * sizeof(double))
    cdef double *lam = <double *> malloc((n2 + 1) * sizeof(double))
    cdef double *D = <double *> malloc((n2 + 1) * sizeof(double))
    cdef double *W = <double *> malloc((n2 + 1) * sizeof(double))
    # per variable: posterior LLRs (I, Q) and exp(-|.|)
    cdef double *T = <double *> malloc((2 * n_var + 1) * sizeof(double))
    cdef double *WT = <double *> malloc((2 * n_var + 1) * sizeof(double))
    # per edge (observation order): interference mean (re, im) and variance, lam; per observation: sums
    cdef double *MU = <double *> malloc((n2 + 1) * sizeof(double))
    cdef double *V = <double *> malloc((n_edge + 1) * sizeof(double))
    cdef double *LE = <double *> malloc((n2 + 1) * sizeof(double))
    cdef double *A = <double *> malloc((3 * n_obs + 1) * sizeof(double))
    cdef long long *eo = <long long *> malloc((n_edge + 1) * sizeof(long long))
    if sl == NULL or hh == NULL or mm == NULL or m2 == NULL or lam == NULL or D == NULL or W == NULL or T == NULL \
            or WT == NULL or MU == NULL or V == NULL or LE == NULL or A == NULL or eo == NULL:
        free(sl); free(hh); free(mm); free(m2); free(lam); free(D); free(W); free(T); free(WT)
        free(MU); free(V); free(LE); free(A); free(eo)
        return ERR_MEMORY
    for d in range(n_obs):
        for e in range(obs_ptr[d], obs_ptr[d + 1]):
            eo[e] = d
    _start_edges(var_edge, H, n_edge, lev_i, lev_q, sym_i, sym_q, sl, hh, mm, m2)
    while it < max_iter:
        it += 1
        # observation side, as flat loops over the edges (the arithmetic vectorises; only the slot
        # gather/scatter is scalar): per-edge interference mean/variance, per-observation sums, then lam
        for e in range(n_edge):
            j = sl[e]
            hr = H[2 * e]
            hi = H[2 * e + 1]
            mr = mm[2 * j]
            mi = mm[2 * j + 1]
            MU[2 * e] = hr * mr - hi * mi
            MU[2 * e + 1] = hr * mi + hi * mr
            V[e] = hh[e] * (m2[j] - (mr * mr + mi * mi))
        for d in range(n_obs):
            amr = 0.0
            ami = 0.0
            av = 0.0
            for e in range(obs_ptr[d], obs_ptr[d + 1]):
                amr = amr + MU[2 * e]
                ami = ami + MU[2 * e + 1]
                av = av + V[e]
            A[3 * d] = amr
            A[3 * d + 1] = ami
            A[3 * d + 2] = av
        for e in range(n_edge):
            d = eo[e]
            hr = H[2 * e]
            hi = H[2 * e + 1]
            rr = Y[2 * d] - (A[3 * d] - MU[2 * e])
            ri = Y[2 * d + 1] - (A[3 * d + 1] - MU[2 * e + 1])
            sig = 1.0 / ((A[3 * d + 2] - V[e]) + noise_var)
            # ll(x) = x (2 sig u - sig |h|^2 x) per dimension, u = h* r; lam = ll(x1) - ll(x0)
            LE[2 * e] = sig * ci * (2.0 * (hr * rr + hi * ri) - hh[e] * ai)
            LE[2 * e + 1] = sig * cq * (2.0 * (hr * ri - hi * rr) - hh[e] * aq)
        for j in range(n_edge):
            e = var_edge[j]
            lam[2 * j] = LE[2 * e]
            lam[2 * j + 1] = LE[2 * e + 1]
        # variable side: totals, extrinsic D per edge
        for c in range(n_var):
            li = 0.0
            lq = 0.0
            for j in range(var_ptr[c], var_ptr[c + 1]):
                li = li + lam[2 * j]
                lq = lq + lam[2 * j + 1]
            T[2 * c] = li
            T[2 * c + 1] = lq
            for j in range(var_ptr[c], var_ptr[c + 1]):
                D[2 * j] = li - lam[2 * j]
                D[2 * j + 1] = lq - lam[2 * j + 1]
        for j in range(n2):
            W[j] = -fabs(D[j])
        _exp_neg_array(W, n2)
        for c in range(2 * n_var):
            WT[c] = -fabs(T[c])
        _exp_neg_array(WT, 2 * n_var)
        # p(x1) = 1 / (1 + exp(-D)); mean / second moment of the extrinsic pmf, damped
        for j in range(n_edge):
            s = 1.0 / (1.0 + W[2 * j])
            p = s if D[2 * j] >= 0 else W[2 * j] * s
            mr = x0i + ci * p
            vv = x0i * x0i + (x1i * x1i - x0i * x0i) * p
            s = 1.0 / (1.0 + W[2 * j + 1])
            p = s if D[2 * j + 1] >= 0 else W[2 * j + 1] * s
            mi = x0q + cq * p
            vv = vv + x0q * x0q + (x1q * x1q - x0q * x0q) * p
            mm[2 * j] = damping * mr + one_m_d * mm[2 * j]
            mm[2 * j + 1] = damping * mi + one_m_d * mm[2 * j + 1]
            m2[j] = damping * vv + one_m_d * m2[j]
        n_conv = 0
        for c in range(n_var):
            if 1.0 / ((1.0 + WT[2 * c]) * (1.0 + WT[2 * c + 1])) >= 1.0 - conv_tol:
                n_conv += 1
        eta = (<double> n_conv) / n_var if n_var > 0 else 1.0
        if eta > eta_best:
            eta_best = eta
            best_it = it
            # largest posterior = largest lam-weighted level indicator sum (first index on ties)
            for c in range(n_var):
                best = 0
                mx = (T[2 * c] if sym_i[0] == 1 else 0.0) + (T[2 * c + 1] if sym_q[0] == 1 else 0.0)
                for a in range(1, q):
                    val = (T[2 * c] if sym_i[a] == 1 else 0.0) + (T[2 * c + 1] if sym_q[a] == 1 else 0.0)
                    if val > mx:
                        mx = val
                        best = a
                out_idx[c] = best
        if eta >= 1.0:
            break
        if stall_iter > 0 and it - best_it >= stall_iter:
            break
    for c in range(n_var):
        s = 1.0 / (1.0 + WT[2 * c])
        li = s if T[2 * c] >= 0 else WT[2 * c] * s      # P(I level 1)
        s = 1.0 / (1.0 + WT[2 * c + 1])
        lq = s if T[2 * c + 1] >= 0 else WT[2 * c + 1] * s
        for a in range(q):
            out_prob[c, a] = (li if sym_i[a] == 1 else 1.0 - li) * (lq if sym_q[a] == 1 else 1.0 - lq)
    free(sl); free(hh); free(mm); free(m2); free(lam); free(D); free(W); free(T); free(WT)
    free(MU); free(V); free(LE); free(A); free(eo)
    iters[0] = it
    eta_out[0] = eta_best
    return OK


def _product_levels(constellation):
    """(levels_I, levels_Q, index_I, index_Q) when the constellation is the product of a real and an
    imaginary level set (each point once), else None."""
    s = np.asarray(constellation)
    li = np.unique(s.real)
    lq = np.unique(s.imag)
    if li.size * lq.size != s.size:
        return None
    si = np.searchsorted(li, s.real).astype(np.int64)
    sq = np.searchsorted(lq, s.imag).astype(np.int64)
    if np.unique(si * lq.size + sq).size != s.size:
        return None
    return np.ascontiguousarray(li), np.ascontiguousarray(lq), si, sq


cdef int _run_product(const double complex[::1] y, const long long[::1] obs_ptr, const double complex[::1] edge_h,
                      const long long[::1] var_ptr, const long long[::1] var_edge, const double[::1] li,
                      const double[::1] lq, const long long[::1] si, const long long[::1] sq, double noise_var,
                      double damping, int max_iter, double conv_tol, int stall_iter, long long[::1] out_idx,
                      double[:, ::1] out_prob, int *iters, double *eta):
    cdef int status
    with nogil:
        if li.shape[0] == 2 and lq.shape[0] == 2:
            status = _mp_binary(y, obs_ptr, edge_h, var_ptr, var_edge, li, lq, si, sq, noise_var, damping, max_iter,
                                conv_tol, stall_iter, out_idx, out_prob, iters, eta)
        else:
            status = _mp_product(y, obs_ptr, edge_h, var_ptr, var_edge, li, lq, si, sq, noise_var, damping,
                                 max_iter, conv_tol, stall_iter, out_idx, out_prob, iters, eta)
    return status


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
    prod = _product_levels(constellation)
    if prod is not None:
        li, lq, si, sq = prod
        status = _run_product(y, obs_ptr, edge_h, var_ptr, var_edge, li, lq, si, sq, noise_var, damping, max_iter,
                              conv_tol, stall_iter, out_idx, out_prob, &iters, &eta)
    else:
        with nogil:
            status = _mp_generic(y, obs_ptr, edge_var, edge_h, var_ptr, var_edge, constellation, noise_var, damping,
                                 max_iter, conv_tol, stall_iter, out_idx, out_prob, &iters, &eta)
    return status, iters, eta
