# distutils: extra_compile_args = -O3 -ffp-contract=off -fno-math-errno -fno-trapping-math
# Detection on the delay-Doppler channel stored as shifted diagonals (issue 16). Layout, algorithms and
# return values are documented in the NumPy twin _ddet_py.py, which computes the same float32 numbers
# operation by operation (no FMA contraction: -ffp-contract=off; no reassociation), so the decisions,
# iteration counts and soft outputs are bit-identical.
#
# Why diagonals: on OTFS (delay-Doppler grid R x C = M x N) and AFDM (1 x N) every (virtual) path with
# integer delay/Doppler shift is one diagonal of H: observation (r, k) sees variable
# ((r - sr) mod R, (k - sc) mod C) with a coefficient c_t[r, k]. A channel is G such diagonals
# (paths with the same shift merged). Every per-edge array is then a flat (G, n) float32 array and the
# observation side reads the variable side through contiguous, cyclically shifted rows - two
# contiguous segments per row and diagonal, loops the compiler vectorises (AVX2 clone chosen at run
# time where the CPU has it, SSE2 otherwise) instead of index gathers through a sorted edge list.
# Building the diagonals from paths costs O(G (R + C)) in Python (no COO, no sort).
cimport cython

import numpy as np
from libc.stdint cimport int64_t, int8_t, uint8_t, int32_t

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    #include <stdlib.h>
    #include <math.h>
    #include <complex.h>
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
    #define HIL_DD_CLONES __attribute__((target_clones("avx2", "default")))
    #else
    #define HIL_DD_CLONES
    #endif

    /* exp(x) for x <= 0 in float32: x = k ln2 + r, |r| <= ln2/2, Taylor to r^7 (truncation < 6e-9),
       2^k through the exponent bits; 0 below -87 (exp(-87) = 1.6e-38, the smallest normal is 1.2e-38).
       The twin evaluates the same operations on float32 arrays. */
    static inline float hil_dd_exp_neg(float x) {
        const float shifter = 0x1.8p+23f;
        float xc = x < -87.0f ? -87.0f : x;
        float kd = xc * 0x1.715476p+0f + shifter;
        float k = kd - shifter;
        float r = (xc - k * 0x1.62e4p-1f) - k * 0x1.7f7d1cp-20f;
        float p = 0x1.a01a02p-13f;
        p = p * r + 0x1.6c16c2p-10f;
        p = p * r + 0x1.111112p-7f;
        p = p * r + 0x1.555556p-5f;
        p = p * r + 0x1.555556p-3f;
        p = p * r + 0x1p-1f;
        p = p * r + 1.0f;
        p = p * r + 1.0f;
        int32_t bits;
        memcpy(&bits, &kd, sizeof bits);
        bits = (bits - 0x4B400000 + 127) << 23;
        float scale;
        memcpy(&scale, &bits, sizeof scale);
        return x < -87.0f ? 0.0f : p * scale;
    }

    HIL_DD_CLONES
    static void hil_dd_exp_neg_abs(const float *restrict d, float *restrict w, int64_t n) {
        for (int64_t i = 0; i < n; i++) {
            float a = d[i] < 0.0f ? d[i] : -d[i];
            w[i] = hil_dd_exp_neg(a);
        }
    }

    /* the kernels' layouts: flat index f of the n-vector seen as (n / tc) x tc and transposed, at
       (f mod tc) (n / tc) + f / tc; tc = 0: f itself. The grid (r, k) transposed (C x R): tc = C; AFDM's
       strided layout (index i B + a at a (N / B) + i): tc = B. */
    static inline int64_t hil_dd_pos(int64_t f, int64_t n, int64_t tc) { return tc ? (f % tc) * (n / tc) + f / tc : f; }

    /* m consecutive flat indices from f0 into the layout: (float) acc[2 k], acc[2 k + 1], or the constant
       (vr, vi) when acc is NULL */
    static void hil_dd_store(float *restrict cr, float *restrict ci, const double *restrict acc, float vr, float vi,
                             int64_t f0, int64_t m, int64_t n, int64_t tc) {
        if (!tc || (!acc && m == n)) {
            /* in place, or a constant over the whole layout (any order) */
            int64_t o = tc ? 0 : f0;
            if (acc) for (int64_t k = 0; k < m; k++) { cr[o + k] = (float) acc[2 * k]; ci[o + k] = (float) acc[2 * k + 1]; }
            else for (int64_t k = 0; k < m; k++) { cr[o + k] = vr; ci[o + k] = vi; }
            return;
        }
        int64_t R2 = n / tc;
        if (acc && f0 == 0 && m == n) {
            /* the whole vector: the R2 x tc transposition in 16 x 16 tiles */
            for (int64_t u0 = 0; u0 < R2; u0 += 16) {
                int64_t u1 = u0 + 16 < R2 ? u0 + 16 : R2;
                for (int64_t v0 = 0; v0 < tc; v0 += 16) {
                    int64_t v1 = v0 + 16 < tc ? v0 + 16 : tc;
                    for (int64_t u = u0; u < u1; u++)
                        for (int64_t v = v0; v < v1; v++) {
                            cr[v * R2 + u] = (float) acc[2 * (u * tc + v)];
                            ci[v * R2 + u] = (float) acc[2 * (u * tc + v) + 1];
                        }
                }
            }
            return;
        }
        int64_t u = f0 / tc, v = f0 - u * tc;
        for (int64_t k = 0; k < m; k++) {
            int64_t o = v * R2 + u;
            cr[o] = acc ? (float) acc[2 * k] : vr;
            ci[o] = acc ? (float) acc[2 * k + 1] : vi;
            if (++v == tc) { v = 0; u++; }
        }
    }

    /* observations for the kernels: y minus the known cells' contribution (group by group, known cell by
       known cell, in double), rounded to float32, in the kernels' layout (tc, hil_dd_pos) */
    HIL_DD_CLONES
    static int hil_dd_prep(const double *y, int64_t R, int64_t C, int64_t tc, const int64_t *kc,
                           const double *kv, int64_t K, int64_t G, const int64_t *gsr, const int64_t *gsc,
                           const float *cre, const float *cim, float *yr, float *yi) {
        int64_t n = R * C;
        if (K * G <= 256) {
            /* few touched cells (the pilot's G observations): round y directly, then redo the touched cells
               from y with the same double operations in the same order */
            int64_t td[256], nt = 0;
            double tw[512];
            for (int64_t g = 0; g < G; g++)
                for (int64_t j = 0; j < K; j++) {
                    int64_t c = kc[j], r = c / C, k = c - r * C;
                    int64_t dr = r + gsr[g]; if (dr >= R) dr -= R;
                    int64_t dk = k + gsc[g]; if (dk >= C) dk -= C;
                    int64_t d = dr * C + dk, dl = hil_dd_pos(d, n, tc), u = 0;
                    while (u < nt && td[u] != d) u++;
                    if (u == nt) { td[nt] = d; tw[2 * nt] = y[2 * d]; tw[2 * nt + 1] = y[2 * d + 1]; nt++; }
                    double cr = (double) cre[g * n + dl], ci = (double) cim[g * n + dl];
                    double xr = kv[2 * j], xi = kv[2 * j + 1];
                    tw[2 * u] = tw[2 * u] - (cr * xr - ci * xi);
                    tw[2 * u + 1] = tw[2 * u + 1] - (cr * xi + ci * xr);
                }
            hil_dd_store(yr, yi, y, 0.0f, 0.0f, 0, n, n, tc);
            for (int64_t u = 0; u < nt; u++) {
                int64_t d = td[u], o = hil_dd_pos(d, n, tc);
                yr[o] = (float) tw[2 * u];
                yi[o] = (float) tw[2 * u + 1];
            }
            return 0;
        }
        double *w = (double *) malloc((size_t) (2 * n + 1) * sizeof(double));
        if (w == NULL) return 3;
        memcpy(w, y, (size_t) (2 * n) * sizeof(double));
        for (int64_t g = 0; g < G; g++)
            for (int64_t j = 0; j < K; j++) {
                int64_t c = kc[j], r = c / C, k = c - r * C;
                int64_t dr = r + gsr[g]; if (dr >= R) dr -= R;
                int64_t dk = k + gsc[g]; if (dk >= C) dk -= C;
                int64_t d = dr * C + dk, dl = hil_dd_pos(d, n, tc);
                double cr = (double) cre[g * n + dl], ci = (double) cim[g * n + dl];
                double xr = kv[2 * j], xi = kv[2 * j + 1];
                w[2 * d] = w[2 * d] - (cr * xr - ci * xi);
                w[2 * d + 1] = w[2 * d + 1] - (cr * xi + ci * xr);
            }
        hil_dd_store(yr, yi, w, 0.0f, 0.0f, 0, n, n, tc);
        free(w);
        return 0;
    }

    /* hard bits of the selected cells: out[i * bps + b] = table[idx[sel[i]] (or Q for -1), b] */
    static void hil_dd_bits(const int64_t *idx, const int64_t *sel, int64_t n_sel, const uint8_t *table, int64_t Q,
                            int64_t bps, uint8_t *out) {
        if (bps == 2) {
            for (int64_t i = 0; i < n_sel; i++) {
                int64_t a = idx[sel[i]];
                const uint8_t *row = table + 2 * (a < 0 || a >= Q ? Q : a);
                out[2 * i] = row[0];
                out[2 * i + 1] = row[1];
            }
            return;
        }
        for (int64_t i = 0; i < n_sel; i++) {
            int64_t a = idx[sel[i]];
            const uint8_t *row = table + bps * (a < 0 || a >= Q ? Q : a);
            for (int64_t b = 0; b < bps; b++) out[i * bps + b] = row[b];
        }
    }

    /* ---------------------------------------------------------------- diagonals from integer paths */
    static inline int64_t hil_dd_mod(int64_t a, int64_t m) { int64_t r = a % m; return r < 0 ? r + m : r; }

    /* merge equal shifts (key sr * C + sc): groups in ascending key order, as np.unique numbers them */
    static int64_t hil_dd_merge(int64_t D, const int64_t *sr, const int64_t *sc, int64_t C, int64_t *gsr,
                                int64_t *gsc, int64_t *grp) {
        int64_t G = 0;
        for (int64_t t = 0; t < D; t++) {           /* sorted distinct keys in gsr (as keys), insertion */
            int64_t key = sr[t] * C + sc[t], i = 0;
            while (i < G && gsr[i] < key) i++;
            if (i < G && gsr[i] == key) continue;
            for (int64_t u = G; u > i; u--) gsr[u] = gsr[u - 1];
            gsr[i] = key;
            G++;
        }
        for (int64_t t = 0; t < D; t++) {
            int64_t key = sr[t] * C + sc[t], i = 0;
            while (gsr[i] != key) i++;
            grp[t] = i;
        }
        for (int64_t i = 0; i < G; i++) { gsc[i] = gsr[i] % C; gsr[i] = gsr[i] / C; }
        return G;
    }

    /* path rows (gain, delay, Doppler) as 6 doubles; 0 when every delay is an integer bin and every value
       is finite with real bins (else 4: the caller takes the general path, which also reports errors) */
    static int hil_dd_paths_ok(const double *p, int64_t P, int64_t max_delay) {
        for (int64_t t = 0; t < P; t++) {
            const double *q = p + 6 * t;
            for (int i = 0; i < 6; i++) if (!isfinite(q[i])) return 4;
            if (fabs(q[3]) > 1e-9 || fabs(q[5]) > 1e-9 || q[2] < 0.0) return 4;
            double li = rint(q[2]);
            if (!(fabs(q[2] - li) < 1e-9) || li > (double) max_delay) return 4;
            if (!(fabs(q[4]) < 1e15)) return 4;
        }
        return 0;
    }

    /* OTFS, integer delays and Doppler: diagonal t = path t, shift (l_t, k_t mod N), row factor
       A[t, r] = g_t rot[(k_t (r + cp)) mod period] (complex product written out: the twin does the same
       float64 operations); one-CP frame: wrap table 1 in the first l_t rows. 4 when not integer. */
    static int hil_dd_build_otfs(int64_t M, int64_t N, int64_t cp, int frame, int64_t P, const double *p,
                                 const double *rot, int64_t period, int64_t *sr, int64_t *sc, int64_t *gsr,
                                 int64_t *gsc, int64_t *grp, double *A, int64_t *tw0, int64_t *tw1, int64_t *w,
                                 int64_t *G) {
        if (hil_dd_paths_ok(p, P, cp < M - 1 ? cp : M - 1)) return 4;
        for (int64_t t = 0; t < P; t++) {
            const double *q = p + 6 * t;
            double kr = rint(q[4]);
            if (!(fabs(q[4] - kr) < 1e-12)) return 4;
        }
        for (int64_t t = 0; t < P; t++) {
            const double *q = p + 6 * t;
            int64_t li = (int64_t) rint(q[2]), kk = (int64_t) rint(q[4]);
            double gr = q[0], gi = q[1];
            sr[t] = li;
            sc[t] = hil_dd_mod(kk, N);
            for (int64_t r = 0; r < M; r++) {
                int64_t j = hil_dd_mod(kk * (r + cp), period);
                double xr = rot[2 * j], xi = rot[2 * j + 1];
                A[2 * (t * M + r)] = gr * xr - gi * xi;
                A[2 * (t * M + r) + 1] = gr * xi + gi * xr;
            }
            tw0[t] = 0;
            tw1[t] = frame ? 1 : 0;
            w[t] = frame ? li : 0;
        }
        *G = hil_dd_merge(P, sr, sc, N, gsr, gsc, grp);
        return 0;
    }

    /* AFDM (chirp-periodic prefix), integer delay l and integer centre alpha - 2 N c1 l: shift
       (0, centre mod N), A[t] = (g e^{j 2 pi (alpha / N) cp}) e^{j 2 pi c1 l^2}, column table = the delay's row
       (tw0 = tw1 = l). 4 when not integer. */
    static int hil_dd_build_afdm(int64_t N, int64_t cp, double c1, int64_t P, const double *p, int64_t *sr,
                                 int64_t *sc, int64_t *gsr, int64_t *gsc, int64_t *grp, double *A, int64_t *tw0,
                                 int64_t *tw1, int64_t *w, int64_t *G) {
        if (hil_dd_paths_ok(p, P, cp < N - 1 ? cp : N - 1)) return 4;
        const double tp = 2.0 * 3.141592653589793;
        for (int64_t t = 0; t < P; t++) {
            const double *q = p + 6 * t;
            double lf = rint(q[2]);
            double centre = q[4] - ((double) (2 * N) * c1) * lf;
            if (!(fabs(centre - rint(centre)) < 1e-12) || !(fabs(centre) < 1e15)) return 4;
        }
        for (int64_t t = 0; t < P; t++) {
            const double *q = p + 6 * t;
            double lf = rint(q[2]);
            int64_t li = (int64_t) lf;
            double centre = q[4] - ((double) (2 * N) * c1) * lf;
            double complex e1 = cexp(CMPLX(0.0, (tp * (q[4] / (double) N)) * (double) cp));
            double complex e2 = cexp(CMPLX(0.0, (tp * c1) * (double) (li * li)));
            double ar = q[0] * creal(e1) - q[1] * cimag(e1), ai = q[0] * cimag(e1) + q[1] * creal(e1);
            A[2 * t] = ar * creal(e2) - ai * cimag(e2);
            A[2 * t + 1] = ar * cimag(e2) + ai * creal(e2);
            sr[t] = 0;
            sc[t] = hil_dd_mod((int64_t) rint(centre), N);
            tw0[t] = li;
            tw1[t] = li;
            w[t] = 0;
        }
        *G = hil_dd_merge(P, sr, sc, N, gsr, gsc, grp);
        return 0;
    }

    /* hard bits of the selected cells from 2-level I/Q decisions: out[i * bps + b] = table[2 dI + dQ, b] */
    static void hil_dd_pair_bits(const int8_t *dec, const int64_t *sel, int64_t n_sel, const uint8_t *table,
                                 int64_t bps, uint8_t *out) {
        for (int64_t i = 0; i < n_sel; i++) {
            const int8_t *d = dec + 2 * sel[i];
            const uint8_t *row = table + bps * (2 * (d[0] != 0) + (d[1] != 0));
            for (int64_t b = 0; b < bps; b++) out[i * bps + b] = row[b];
        }
    }

    /* ---------------------------------------------------------------- coefficient expansion (double)*/
    static inline void hil_dd_expand_seg(double a_re, double a_im, const double *restrict tb, const double *restrict post,
                                  double *restrict o, int64_t m) {
        if (post) {
            for (int64_t k = 0; k < m; k++) {
                double b_re = tb[2 * k], b_im = tb[2 * k + 1];
                double v_re = a_re * b_re - a_im * b_im;
                double v_im = a_re * b_im + a_im * b_re;
                double p_re = post[2 * k], p_im = post[2 * k + 1];
                double u = v_re * p_re - v_im * p_im;
                v_im = v_re * p_im + v_im * p_re;
                o[2 * k] = o[2 * k] + u;
                o[2 * k + 1] = o[2 * k + 1] + v_im;
            }
        } else {
            for (int64_t k = 0; k < m; k++) {
                double b_re = tb[2 * k], b_im = tb[2 * k + 1];
                double v_re = a_re * b_re - a_im * b_im;
                double v_im = a_re * b_im + a_im * b_re;
                o[2 * k] = o[2 * k] + v_re;
                o[2 * k + 1] = o[2 * k + 1] + v_im;
            }
        }
    }

    /*
       c[g, r, k] = sum over diagonals t of group g of A[t, r] * tab[sel_t(r), (k - sc_t) mod C] * post[k],
       sel_t(r) = tw1[t] if r < w[t] else tw0[t]; summed in t order, then rounded to float32. */
    HIL_DD_CLONES
    static int hil_dd_expand(int64_t R, int64_t C, int64_t D, int64_t G, const int64_t *grp, const int64_t *sc,
                             const double *A, const double *tab, const int64_t *tw0, const int64_t *tw1,
                             const int64_t *w, const double *post, int has_post, int64_t tc,
                             const uint8_t *ones, float *cre, float *cim) {
        int64_t n = R * C;
        /* one row of one merged diagonal at a time: sum its members (t order) in double, then round */
        double *acc = (double *) malloc((size_t) (2 * C + 1) * sizeof(double));
        if (acc == NULL) return 3;
        for (int64_t g = 0; g < G; g++)
            for (int64_t r = 0; r < R; r++) {
                int64_t t1 = -1, nm = 0;
                for (int64_t t = 0; t < D; t++) if (grp[t] == g) { t1 = t; nm++; }
                if (nm == 1 && post == NULL && ones[r < w[t1] ? tw1[t1] : tw0[t1]]) {
                    /* the group's one diagonal with a table row of ones: the row factor (0 + a, as the sum) */
                    float vr = (float) (0.0 + A[2 * (t1 * R + r)]), vi = (float) (0.0 + A[2 * (t1 * R + r) + 1]);
                    hil_dd_store(cre + g * n, cim + g * n, NULL, vr, vi, r * C, C, n, tc);
                    continue;
                }
                for (int64_t k = 0; k < 2 * C; k++) acc[k] = 0.0;
                for (int64_t t = 0; t < D; t++) {
                    if (grp[t] != g) continue;
                    int64_t s = sc[t];
                    double a_re = A[2 * (t * R + r)], a_im = A[2 * (t * R + r) + 1];
                    int64_t sel = r < w[t] ? tw1[t] : tw0[t];
                    const double *tb = tab + 2 * C * sel;
                    if (post == NULL && ones[sel]) {
                        /* a table row of exact ones (OTFS away from the CP wrap): the row factor itself */
                        for (int64_t k = 0; k < C; k++) {
                            acc[2 * k] = acc[2 * k] + a_re;
                            acc[2 * k + 1] = acc[2 * k + 1] + a_im;
                        }
                        continue;
                    }
                    /* k in [s, C): table index k - s; k in [0, s): k - s + C */
                    hil_dd_expand_seg(a_re, a_im, tb, post ? post + 2 * s : NULL, acc + 2 * s, C - s);
                    hil_dd_expand_seg(a_re, a_im, tb + 2 * (C - s), post, acc, s);
                }
                hil_dd_store(cre + g * n, cim + g * n, acc, 0.0f, 0.0f, r * C, C, n, tc);
            }
        free(acc);
        return 0;
    }

    /* ---------------------------------------------------------------- message passing, 2 levels per I/Q */
    static inline void hil_dd_obs_seg(const float *restrict cr, const float *restrict ci, const float *restrict h,
                               const float *restrict pa, const float *restrict pb, const float *restrict pq,
                               float *restrict mur, float *restrict mui, float *restrict vv,
                               float *restrict Ar, float *restrict Ai, float *restrict Av, int64_t m) {
        for (int64_t k = 0; k < m; k++) {
            float a = pa[k], b = pb[k];
            float ur = cr[k] * a - ci[k] * b;
            float ui = cr[k] * b + ci[k] * a;
            float v = h[k] * (pq[k] - (a * a + b * b));
            mur[k] = ur;
            mui[k] = ui;
            vv[k] = v;
            Ar[k] = Ar[k] + ur;
            Ai[k] = Ai[k] + ui;
            Av[k] = Av[k] + v;
        }
    }

    static inline void hil_dd_lam_seg(const float *restrict cr, const float *restrict ci, const float *restrict h,
                               const float *restrict yr, const float *restrict yi,
                               const float *restrict mur, const float *restrict mui, const float *restrict vv,
                               const float *restrict Ar, const float *restrict Ai, const float *restrict Av,
                               float *restrict lI, float *restrict lQ, float nv, float cfi, float cfq,
                               float ai, float aq, int64_t m) {
        for (int64_t k = 0; k < m; k++) {
            float rr = yr[k] - (Ar[k] - mur[k]);
            float ri = yi[k] - (Ai[k] - mui[k]);
            float sig = 1.0f / ((Av[k] - vv[k]) + nv);
            lI[k] = sig * cfi * (2.0f * (cr[k] * rr + ci[k] * ri) - h[k] * ai);
            lQ[k] = sig * cfq * (2.0f * (cr[k] * ri - ci[k] * rr) - h[k] * aq);
        }
    }

    static inline void hil_dd_add(float *restrict acc, const float *restrict x, int64_t n) {
        for (int64_t i = 0; i < n; i++) acc[i] = acc[i] + x[i];
    }

    /* variable side of one diagonal, fused: extrinsic LLRs D = T - lam, logistic pmfs through
       exp(-|D|), their means / second moments, damped; non-data cells keep zero messages */
    static inline void hil_dd_var_side(const float *restrict TI, const float *restrict TQ, const float *restrict lI,
                                const float *restrict lQ, const float *restrict act, float *restrict mr,
                                float *restrict mi, float *restrict m2, float x0i, float cfi, float x0q, float cfq,
                                float e0i, float s2i, float e0q, float s2q, float dmp, float omd, int64_t n) {
        for (int64_t i = 0; i < n; i++) {
            float DI = TI[i] - lI[i];
            float DQ = TQ[i] - lQ[i];
            float WI = hil_dd_exp_neg(DI < 0.0f ? DI : -DI);
            float WQ = hil_dd_exp_neg(DQ < 0.0f ? DQ : -DQ);
            float s = 1.0f / (1.0f + WI);
            float p = DI >= 0.0f ? s : WI * s;
            float nr = x0i + cfi * p;
            float v = e0i + s2i * p;
            s = 1.0f / (1.0f + WQ);
            p = DQ >= 0.0f ? s : WQ * s;
            float ni = x0q + cfq * p;
            v = v + (e0q + s2q * p);
            float a = dmp * nr + omd * mr[i];
            float b = dmp * ni + omd * mi[i];
            float c = dmp * v + omd * m2[i];
            mr[i] = act[i] != 0.0f ? a : 0.0f;
            mi[i] = act[i] != 0.0f ? b : 0.0f;
            m2[i] = act[i] != 0.0f ? c : 0.0f;
        }
    }

    /* posterior check: count of data cells with max posterior >= thr */
    static inline int64_t hil_dd_converged(const float *restrict TI, const float *restrict TQ, const float *restrict act,
                                    float thr, int64_t n) {
        int32_t cnt = 0;
        for (int64_t i = 0; i < n; i++) {
            float wi = hil_dd_exp_neg(TI[i] < 0.0f ? TI[i] : -TI[i]);
            float wq = hil_dd_exp_neg(TQ[i] < 0.0f ? TQ[i] : -TQ[i]);
            float pm = 1.0f / ((1.0f + wi) * (1.0f + wq));
            cnt += (act[i] != 0.0f && pm >= thr) ? 1 : 0;
        }
        return cnt;
    }

    HIL_DD_CLONES
    static int hil_dd_mp_binary(int64_t R, int64_t C, int64_t G, const int64_t *gsr, const int64_t *gsc,
                                const float *cre, const float *cim, const float *yr, const float *yi,
                                const uint8_t *act, float x0i, float x1i, float x0q, float x1q,
                                float m0r, float m0i, float m20, float nv, float dmp, float omd, int max_iter,
                                float thr, int stall_iter, int8_t *out_dec, float *out_llr,
                                int *iters, double *eta_out) {
        int64_t n = R * C, Gn = G * n;
        float cfi = x1i - x0i, cfq = x1q - x0q, ai = x0i + x1i, aq = x0q + x1q;
        float e0i = x0i * x0i, s2i = x1i * x1i - x0i * x0i, e0q = x0q * x0q, s2q = x1q * x1q - x0q * x0q;
        const int64_t CW = C < 512 ? C : 512;
        size_t nf = (size_t) (6 * Gn + 3 * n + 3 * G * CW + 3 * CW + 16);
        float *mem = (float *) malloc(nf * sizeof(float));
        if (mem == NULL) return 3;
        float *hh = mem, *mr = hh + Gn, *mi = mr + Gn, *m2 = mi + Gn, *lI = m2 + Gn, *lQ = lI + Gn;
        float *TI = lQ + Gn, *TQ = TI + n, *actf = TQ + n;
        float *MUr = actf + n, *MUi = MUr + G * CW, *VV = MUi + G * CW, *Ar = VV + G * CW, *Ai = Ar + CW, *Av = Ai + CW;
        int64_t n_act = 0;
        for (int64_t i = 0; i < n; i++) {
            n_act += act[i] ? 1 : 0;
            actf[i] = act[i] ? 1.0f : 0.0f;
        }
        for (int64_t t = 0; t < G; t++)
            for (int64_t c = 0; c < n; c++) {
                int64_t i = t * n + c;
                hh[i] = cre[i] * cre[i] + cim[i] * cim[i];
                mr[i] = act[c] ? m0r : 0.0f;
                mi[i] = act[c] ? m0i : 0.0f;
                m2[i] = act[c] ? m20 : 0.0f;
            }
        int it = 0, best_it = 0;
        double eta = 0.0, eta_best = -1.0;
        memset(out_dec, 0, (size_t) (2 * n));
        while (it < max_iter) {
            it++;
            /* observation side, row by row, in chunks of at most CW columns (the per-chunk buffers stay in
               L1/L2 however long the rows: AFDM is one row of N) */
            for (int64_t r = 0; r < R; r++)
                for (int64_t k0 = 0; k0 < C; k0 += CW) {
                    int64_t m = C - k0 < CW ? C - k0 : CW;
                    for (int64_t k = 0; k < m; k++) { Ar[k] = 0.0f; Ai[k] = 0.0f; Av[k] = 0.0f; }
                    for (int64_t t = 0; t < G; t++) {
                        int64_t vr = r - gsr[t]; if (vr < 0) vr += R;
                        /* observation columns k0 + j read variable columns (k0 + j - s) mod C: two runs */
                        int64_t v0 = k0 - gsc[t]; if (v0 < 0) v0 += C;
                        int64_t len1 = C - v0 < m ? C - v0 : m;
                        int64_t ob = t * n + r * C + k0, vb = t * n + vr * C;
                        float *mu_r = MUr + t * CW, *mu_i = MUi + t * CW, *vvb = VV + t * CW;
                        hil_dd_obs_seg(cre + ob, cim + ob, hh + ob, mr + vb + v0, mi + vb + v0, m2 + vb + v0,
                                       mu_r, mu_i, vvb, Ar, Ai, Av, len1);
                        if (len1 < m)
                            hil_dd_obs_seg(cre + ob + len1, cim + ob + len1, hh + ob + len1, mr + vb, mi + vb, m2 + vb,
                                           mu_r + len1, mu_i + len1, vvb + len1, Ar + len1, Ai + len1, Av + len1,
                                           m - len1);
                    }
                    for (int64_t t = 0; t < G; t++) {
                        int64_t vr = r - gsr[t]; if (vr < 0) vr += R;
                        int64_t v0 = k0 - gsc[t]; if (v0 < 0) v0 += C;
                        int64_t len1 = C - v0 < m ? C - v0 : m;
                        int64_t ob = t * n + r * C + k0, vb = t * n + vr * C, yb = r * C + k0;
                        float *mu_r = MUr + t * CW, *mu_i = MUi + t * CW, *vvb = VV + t * CW;
                        hil_dd_lam_seg(cre + ob, cim + ob, hh + ob, yr + yb, yi + yb, mu_r, mu_i, vvb, Ar, Ai, Av,
                                       lI + vb + v0, lQ + vb + v0, nv, cfi, cfq, ai, aq, len1);
                        if (len1 < m)
                            hil_dd_lam_seg(cre + ob + len1, cim + ob + len1, hh + ob + len1, yr + yb + len1,
                                           yi + yb + len1, mu_r + len1, mu_i + len1, vvb + len1, Ar + len1,
                                           Ai + len1, Av + len1, lI + vb, lQ + vb, nv, cfi, cfq, ai, aq, m - len1);
                    }
                }
            /* variable side: posterior LLRs, extrinsic LLRs per diagonal, damped moments */
            memset(TI, 0, (size_t) n * sizeof(float));
            memset(TQ, 0, (size_t) n * sizeof(float));
            for (int64_t t = 0; t < G; t++) {
                hil_dd_add(TI, lI + t * n, n);
                hil_dd_add(TQ, lQ + t * n, n);
            }
            for (int64_t t = 0; t < G; t++)
                hil_dd_var_side(TI, TQ, lI + t * n, lQ + t * n, actf, mr + t * n, mi + t * n, m2 + t * n,
                                x0i, cfi, x0q, cfq, e0i, s2i, e0q, s2q, dmp, omd, n);
            int64_t n_conv = 0;
            for (int64_t i0 = 0; i0 < n; i0 += 65536)     /* int32 counts per block */
                n_conv += hil_dd_converged(TI + i0, TQ + i0, actf + i0, thr, n - i0 < 65536 ? n - i0 : 65536);
            eta = n_act > 0 ? (double) n_conv / (double) n_act : 1.0;
            if (eta > eta_best) {
                eta_best = eta;
                best_it = it;
                for (int64_t i = 0; i < n; i++) {
                    out_dec[2 * i] = TI[i] > 0.0f ? 1 : 0;
                    out_dec[2 * i + 1] = TQ[i] > 0.0f ? 1 : 0;
                }
            }
            if (eta >= 1.0) break;
            if (stall_iter > 0 && it - best_it >= stall_iter) break;
        }
        for (int64_t i = 0; i < n; i++) {
            out_llr[2 * i] = TI[i];
            out_llr[2 * i + 1] = TQ[i];
        }
        free(mem);
        *iters = it;
        *eta_out = eta_best;
        return 0;
    }

    /* ---------------------------------------------------------------- iterative MRC (rake DFE) */
    static inline void hil_dd_hs_seg(const float *restrict a, const float *restrict b, float *restrict hs, int64_t m) {
        for (int64_t j = 0; j < m; j++) hs[j] = hs[j] + (a[j] * a[j] + b[j] * b[j]);
    }

    /* mk ? b : a (mk 0 or -1) through the bits: a select GCC vectorises without turning the store of
       "x = c ? new : x" into a masked store (which a later load cannot forward from: 2-3x slower loops) */
    static inline float hil_dd_pickf(float a, float b, int32_t mk) {
        uint32_t p, q;
        memcpy(&p, &a, sizeof p);
        memcpy(&q, &b, sizeof q);
        uint32_t r = p ^ ((p ^ q) & (uint32_t) mk);
        float o;
        memcpy(&o, &r, sizeof o);
        return o;
    }

    /* combiner outputs g = n / D + x_hat and the nearest constellation point (first on ties): its index bi
       and value (vr, vi) */
    static inline void hil_dd_slice(const float *restrict nr, const float *restrict ni, const float *restrict dv,
                             const float *restrict xr, const float *restrict xi, const float *restrict csr,
                             const float *restrict csi, int64_t Q, float *restrict gr, float *restrict gi,
                             float *restrict bd, int32_t *restrict bi, float *restrict vr, float *restrict vi,
                             int64_t m) {
        for (int64_t j = 0; j < m; j++) {
            gr[j] = nr[j] * dv[j] + xr[j];
            gi[j] = ni[j] * dv[j] + xi[j];
            float dr = gr[j] - csr[0], di = gi[j] - csi[0];
            bd[j] = dr * dr + di * di;
            bi[j] = 0;
            vr[j] = csr[0];
            vi[j] = csi[0];
        }
        for (int64_t a = 1; a < Q; a++) {
            float cr = csr[a], ci = csi[a];
            for (int64_t j = 0; j < m; j++) {
                float dr = gr[j] - cr, di = gi[j] - ci;
                float dist = dr * dr + di * di;
                int32_t mk = -(int32_t) (dist < bd[j]), i = bi[j];
                bd[j] = hil_dd_pickf(bd[j], dist, mk);
                bi[j] = i ^ ((i ^ (int32_t) a) & mk);
                vr[j] = hil_dd_pickf(vr[j], cr, mk);
                vi[j] = hil_dd_pickf(vi[j], ci, mk);
            }
        }
    }

    /* after slicing m cells: soft outputs of the live ones (0 for the others, as initialised), their
       decision deltas (0 where unchanged: exact no-ops in the residual update) and change flags; returns
       the number of changes */
    static inline int64_t hil_dd_deltas(const uint8_t *restrict live, const int32_t *restrict cur,
                                        const int32_t *restrict bi, const float *restrict gr, const float *restrict gi,
                                        const float *restrict vr, const float *restrict vi, const float *restrict xr,
                                        const float *restrict xi, float *restrict soft, float *restrict er,
                                        float *restrict ei, uint8_t *restrict flag, int64_t m) {
        int64_t n_chg = 0;
        for (int64_t j = 0; j < m; j++) {
            int32_t lm = -(int32_t) (live[j] != 0), cm = lm & -(int32_t) (bi[j] != cur[j]);
            float d0 = vr[j] - xr[j], d1 = vi[j] - xi[j];
            soft[2 * j] = hil_dd_pickf(0.0f, gr[j], lm);
            soft[2 * j + 1] = hil_dd_pickf(0.0f, gi[j], lm);
            er[j] = hil_dd_pickf(0.0f, d0, cm);
            ei[j] = hil_dd_pickf(0.0f, d1, cm);
            flag[j] = (uint8_t) (cm & 1);
            n_chg -= cm;
        }
        return n_chg;
    }

    /* the changed cells' new decisions into the state (selects: hil_dd_pickf) */
    static inline void hil_dd_commit(const uint8_t *restrict flag, const int32_t *restrict bi,
                                     const float *restrict vr, const float *restrict vi, int32_t *restrict cur,
                                     float *restrict xr, float *restrict xi, int64_t m) {
        for (int64_t j = 0; j < m; j++) {
            int32_t mk = -(int32_t) (flag[j] != 0), c0 = cur[j];
            cur[j] = c0 ^ ((c0 ^ bi[j]) & mk);
            xr[j] = hil_dd_pickf(xr[j], vr[j], mk);
            xi[j] = hil_dd_pickf(xi[j], vi[j], mk);
        }
    }

    static inline void hil_dd_feed(const float *restrict a, const float *restrict b, float *restrict ur, float *restrict ui,
                            const float *restrict er, const float *restrict ei, int64_t m) {
        for (int64_t j = 0; j < m; j++) {
            ur[j] = ur[j] - (a[j] * er[j] - b[j] * ei[j]);
            ui[j] = ui[j] - (a[j] * ei[j] + b[j] * er[j]);
        }
    }

    static inline void hil_dd_comb(const float *restrict a, const float *restrict b, const float *restrict ur,
                            const float *restrict ui, float *restrict nr, float *restrict ni, int64_t m) {
        for (int64_t j = 0; j < m; j++) {
            float x = a[j], z = b[j], br = ur[j], bi = ui[j];
            nr[j] = nr[j] + (x * br + z * bi);
            ni[j] = ni[j] + (x * bi - z * br);
        }
    }

    /* observation of variable (r, k) through shift (sr, sc): ((r + sr) mod R, (k + sc) mod C), one more
       column when the row wraps and carry is set (AFDM's strided layout: a 1-D shift of the index) */
    static inline int64_t hil_dd_obs(int64_t r, int64_t k, int64_t sr, int64_t sc, int64_t R, int64_t C, int carry) {
        int64_t dr = r + sr, dk = k + sc;
        if (dr >= R) { dr -= R; dk += carry; }
        if (dk >= C) dk -= C;
        return dr * C + dk;
    }

    /* the observations of cells (r, k0 .. k0+m-1) through shift (sr, sc): flat start o + s (m1 of them,
       without wrap), then o + 0 (m - m1) */
    static inline void hil_dd_run(int64_t r, int64_t k0, int64_t m, int64_t sr, int64_t sc, int64_t R, int64_t C,
                                  int carry, int64_t *start, int64_t *o, int64_t *m1) {
        int64_t dr = r + sr, s0 = k0 + sc;
        if (dr >= R) { dr -= R; s0 += carry; }
        if (s0 >= C) s0 -= C;
        *o = dr * C;
        *start = *o + s0;
        *m1 = C - s0 < m ? C - s0 : m;
    }

    /* the observations of cells (r, k0 .. k0+m-1), diagonal by diagonal (two runs where the row wraps):
       combined into (p, q) = (nr, ni), or with feed the decision deltas (p, q) = (er, ei) taken out of the
       residual through them */
    static inline void hil_dd_taps(int feed, int64_t r, int64_t k0, int64_t m, int64_t G, const int64_t *gsr,
                                   const int64_t *gsc, int64_t R, int64_t C, int carry, const float *cre,
                                   const float *cim, float *dyr, float *dyi, float *p, float *q) {
        int64_t n = R * C;
        for (int64_t t = 0; t < G; t++) {
            int64_t st, o, m1;
            hil_dd_run(r, k0, m, gsr[t], gsc[t], R, C, carry, &st, &o, &m1);
            const float *a = cre + t * n, *b = cim + t * n;
            if (feed) {
                hil_dd_feed(a + st, b + st, dyr + st, dyi + st, p, q, m1);
                if (m1 < m) hil_dd_feed(a + o, b + o, dyr + o, dyi + o, p + m1, q + m1, m - m1);
            } else {
                hil_dd_comb(a + st, b + st, dyr + st, dyi + st, p, q, m1);
                if (m1 < m) hil_dd_comb(a + o, b + o, dyr + o, dyi + o, p + m1, q + m1, m - m1);
            }
        }
    }

    /* sweeps >= 2: flag the groups of the variables that read an observation of changed cell (r, k) */
    static inline void hil_dd_mark(int64_t r, int64_t k, int64_t G, const int64_t *gsr, const int64_t *gsc,
                                   int64_t R, int64_t C, int carry, int64_t glen, int64_t ng_row, uint8_t *gd) {
        for (int64_t t = 0; t < G; t++) {
            int64_t d = hil_dd_obs(r, k, gsr[t], gsc[t], R, C, carry);
            int64_t dr = d / C, dk = d - dr * C;
            for (int64_t v = 0; v < G; v++) {
                int64_t vr = dr - gsr[v], vk = dk - gsc[v];
                if (vr < 0) { vr += R; vk -= carry; }
                if (vk < 0) vk += C;
                gd[vr * ng_row + (glen == C ? 0 : vk / glen)] = 1;
            }
        }
    }

    HIL_DD_CLONES
    static int hil_dd_mrc(int64_t R, int64_t C, int64_t G, const int64_t *gsr, const int64_t *gsc, int carry,
                          const float *cre, const float *cim, const float *yr, const float *yi,
                          const uint8_t *act, int64_t glen, const float *csr, const float *csi, int64_t Q,
                          int max_iter, int64_t *out_idx, float *soft, int *sweeps_out) {
        int64_t n = R * C;
        int64_t ng_row = (C + glen - 1) / glen, n_grp = R * ng_row;
        float *mem = (float *) malloc((size_t) (5 * n + 10 * glen + 8) * sizeof(float));
        int32_t *ibuf = (int32_t *) malloc((size_t) (n + glen + 1) * sizeof(int32_t));
        uint8_t *ubuf = (uint8_t *) malloc((size_t) (n + n_grp + glen + 1));
        if (mem == NULL || ibuf == NULL || ubuf == NULL) { free(mem); free(ibuf); free(ubuf); return 3; }
        float *dyr = mem, *dyi = dyr + n, *xr = dyi + n, *xi = xr + n, *dinv = xi + n;
        float *nr = dinv + n, *ni = nr + glen, *er = ni + glen, *ei = er + glen, *gr = ei + glen, *gi = gr + glen;
        float *bd = gi + glen, *vr = bd + glen, *vi = vr + glen;
        int32_t *cur = ibuf, *bi = cur + n;
        uint8_t *live = ubuf, *gd = live + n, *flag = gd + n_grp;
        memcpy(dyr, yr, (size_t) n * sizeof(float));
        memcpy(dyi, yi, (size_t) n * sizeof(float));
        /* D_c = sum_t |c_t[obs of c]|^2 in t order (accumulated in xr, then zeroed) */
        float *hs = xr;
        for (int64_t c = 0; c < n; c++) hs[c] = 0.0f;
        for (int64_t t = 0; t < G; t++)
            for (int64_t r = 0; r < R; r++) {
                int64_t st, o, m1;
                hil_dd_run(r, 0, C, gsr[t], gsc[t], R, C, carry, &st, &o, &m1);
                /* variable column k reads observation column k + s (mod C) */
                hil_dd_hs_seg(cre + t * n + st, cim + t * n + st, hs + r * C, m1);
                hil_dd_hs_seg(cre + t * n + o, cim + t * n + o, hs + r * C + m1, C - m1);
            }
        for (int64_t c = 0; c < n; c++) dinv[c] = hs[c] > 0.0f ? 1.0f / hs[c] : 0.0f;
        for (int64_t c = 0; c < n; c++) live[c] = (uint8_t) ((act[c] != 0) & (dinv[c] != 0.0f));
        for (int64_t c = 0; c < n; c++) cur[c] = -1;
        memset(xr, 0, (size_t) n * sizeof(float));
        memset(xi, 0, (size_t) n * sizeof(float));
        memset(soft, 0, (size_t) (2 * n) * sizeof(float));
        memset(gd, 1, (size_t) n_grp);
        int sweeps = 0;
        while (sweeps < max_iter) {
            sweeps++;
            int64_t changed = 0;
            int mark = sweeps > 1;
            for (int64_t r = 0; r < R; r++)
                for (int64_t gk = 0; gk < ng_row; gk++) {
                    int64_t gix = r * ng_row + gk;
                    if (!gd[gix]) continue;
                    gd[gix] = 0;
                    int64_t k0 = gk * glen, k1 = k0 + glen < C ? k0 + glen : C, m = k1 - k0, base = r * C + k0;
                    if (m == 1) {
                        /* one cell: plain Gauss-Seidel step, scalar (same operations as the vector path) */
                        int64_t c = base;
                        if (!live[c]) continue;
                        float sr_ = 0.0f, si_ = 0.0f;
                        int64_t od[64];
                        for (int64_t t = 0; t < G; t++) {
                            int64_t d = hil_dd_obs(r, k0, gsr[t], gsc[t], R, C, carry);
                            if (t < 64) od[t] = d;
                            float x = cre[t * n + d], z = cim[t * n + d], br = dyr[d], bi_ = dyi[d];
                            sr_ = sr_ + (x * br + z * bi_);
                            si_ = si_ + (x * bi_ - z * br);
                        }
                        float g_r = sr_ * dinv[c] + xr[c], g_i = si_ * dinv[c] + xi[c];
                        float dr0 = g_r - csr[0], di0 = g_i - csi[0];
                        float bd_ = dr0 * dr0 + di0 * di0;
                        int32_t best = 0;
                        for (int32_t a = 1; a < Q; a++) {
                            float dr1 = g_r - csr[a], di1 = g_i - csi[a];
                            float dist = dr1 * dr1 + di1 * di1;
                            if (dist < bd_) { bd_ = dist; best = a; }
                        }
                        soft[2 * c] = g_r;
                        soft[2 * c + 1] = g_i;
                        if (best == cur[c]) continue;
                        changed++;
                        float e_r = csr[best] - xr[c], e_i = csi[best] - xi[c];
                        for (int64_t t = 0; t < G; t++) {
                            int64_t d = t < 64 ? od[t] : hil_dd_obs(r, k0, gsr[t], gsc[t], R, C, carry);
                            float x = cre[t * n + d], z = cim[t * n + d];
                            dyr[d] = dyr[d] - (x * e_r - z * e_i);
                            dyi[d] = dyi[d] - (x * e_i + z * e_r);
                        }
                        if (mark) hil_dd_mark(r, k0, G, gsr, gsc, R, C, carry, glen, ng_row, gd);
                        cur[c] = best;
                        xr[c] = csr[best];
                        xi[c] = csi[best];
                        continue;
                    }
                    for (int64_t j = 0; j < m; j++) { nr[j] = 0.0f; ni[j] = 0.0f; }
                    hil_dd_taps(0, r, k0, m, G, gsr, gsc, R, C, carry, cre, cim, dyr, dyi, nr, ni);
                    hil_dd_slice(nr, ni, dinv + base, xr + base, xi + base, csr, csi, Q, gr, gi, bd, bi, vr, vi, m);
                    int64_t n_chg = hil_dd_deltas(live + base, cur + base, bi, gr, gi, vr, vi, xr + base, xi + base,
                                                  soft + 2 * base, er, ei, flag, m);
                    if (!n_chg) continue;
                    changed += n_chg;
                    /* residual update, diagonal by diagonal over the group's observations */
                    hil_dd_taps(1, r, k0, m, G, gsr, gsc, R, C, carry, cre, cim, dyr, dyi, er, ei);
                    if (mark)
                        for (int64_t j = 0; j < m; j++)
                            if (flag[j]) hil_dd_mark(r, k0 + j, G, gsr, gsc, R, C, carry, glen, ng_row, gd);
                    hil_dd_commit(flag, bi, vr, vi, cur + base, xr + base, xi + base, m);
                }
            if (changed == 0) break;
            if (!mark) memset(gd, 1, (size_t) n_grp);
        }
        for (int64_t c = 0; c < n; c++) out_idx[c] = cur[c];
        free(mem); free(ibuf); free(ubuf);
        *sweeps_out = sweeps;
        return 0;
    }

    /* one frame's channel from integer paths: diagonals, expansion and pilot cancellation in the kernels'
       layout (tc: hil_dd_pos). On success the caller owns fr->ints, fr->A, fr->f (free all three). Status 4:
       a bin is not an integer (the caller's general path); 5: an AFDM delay whose column table is not filled. */
    typedef struct {
        int64_t *ints; double *A; float *f;
        int64_t G, *gsr, *gsc;
        float *cre, *cim, *yr, *yi;
    } hil_dd_frame_t;

    static int hil_dd_frame_setup(int kind, int64_t R, int64_t C, int64_t cp, int frame, double c1, int64_t P,
                                  const double *paths, const double *rot, int64_t period, const double *tab,
                                  const uint8_t *ones, const uint8_t *filled, int64_t n_tab, const double *post,
                                  const double *y, const int64_t *kc, const double *kv, int64_t K, int64_t tc,
                                  hil_dd_frame_t *fr) {
        int64_t n = R * C, G = 0;
        fr->ints = (int64_t *) malloc((size_t) (8 * P + 8) * sizeof(int64_t));
        fr->A = (double *) malloc((size_t) (2 * P * R + 2) * sizeof(double));
        fr->f = NULL;
        if (fr->ints == NULL || fr->A == NULL) return 3;
        int64_t *sr = fr->ints, *sc = sr + P, *gsr = sc + P, *gsc = gsr + P, *grp = gsc + P, *tw0 = grp + P;
        int64_t *tw1 = tw0 + P, *w = tw1 + P;
        int st = kind == 0 ? hil_dd_build_otfs(R, C, cp, frame, P, paths, rot, period, sr, sc, gsr, gsc, grp, fr->A,
                                               tw0, tw1, w, &G)
                           : hil_dd_build_afdm(C, cp, c1, P, paths, sr, sc, gsr, gsc, grp, fr->A, tw0, tw1, w, &G);
        if (st) return st;
        for (int64_t t = 0; t < P; t++)
            if (tw0[t] >= n_tab || tw1[t] >= n_tab || !filled[tw0[t]] || !filled[tw1[t]]) return 5;
        fr->f = (float *) malloc((size_t) (2 * G * n + 2 * n + 2) * sizeof(float));
        if (fr->f == NULL) return 3;
        fr->G = G; fr->gsr = gsr; fr->gsc = gsc;
        fr->cre = fr->f; fr->cim = fr->f + G * n; fr->yr = fr->cim + G * n; fr->yi = fr->yr + n;
        if (G) {
            st = hil_dd_expand(R, C, P, G, grp, sc, fr->A, tab, tw0, tw1, w, post, post != NULL, tc, ones,
                               fr->cre, fr->cim);
            if (st) return st;
        }
        return hil_dd_prep(y, R, C, tc, kc, kv, G ? K : 0, G, gsr, gsc, fr->cre, fr->cim, fr->yr, fr->yi);
    }

    static void hil_dd_frame_free(hil_dd_frame_t *fr) { free(fr->ints); free(fr->A); free(fr->f); }

    /* one frame from integer paths to bits: setup, MRC sweeps, bits. stride B > 1 (AFDM, B divides C): the
       strided layout (index i B + a at cell (a, i) of B x C/B; shift s = (s mod B, s / B) with a carry), act,
       sel, idx and soft in that layout; else the grid's. */
    static int hil_dd_frame_mrc(int kind, int64_t R, int64_t C, int64_t cp, int frame, double c1, int64_t P,
                                const double *paths, const double *rot, int64_t period, const double *tab,
                                const uint8_t *ones, const uint8_t *filled, int64_t n_tab, const double *post,
                                const double *y, const int64_t *kc, const double *kv, int64_t K, const uint8_t *act,
                                int64_t glen, const float *csr, const float *csi, int64_t Q, int max_iter,
                                const int64_t *sel, int64_t n_sel, const uint8_t *btab, int64_t bps, int64_t stride,
                                int64_t *idx, float *soft, uint8_t *bits, int *sweeps) {
        hil_dd_frame_t fr;
        int strided = stride > 1;
        int st = hil_dd_frame_setup(kind, R, C, cp, frame, c1, P, paths, rot, period, tab, ones, filled, n_tab, post,
                                    y, kc, kv, K, strided ? stride : 0, &fr);
        if (!st && strided) {
            for (int64_t t = 0; t < fr.G; t++) { fr.gsr[t] = fr.gsc[t] % stride; fr.gsc[t] = fr.gsc[t] / stride; }
            st = hil_dd_mrc(stride, C / stride, fr.G, fr.gsr, fr.gsc, 1, fr.cre, fr.cim, fr.yr, fr.yi, act, glen, csr,
                            csi, Q, max_iter, idx, soft, sweeps);
        } else if (!st)
            st = hil_dd_mrc(R, C, fr.G, fr.gsr, fr.gsc, 0, fr.cre, fr.cim, fr.yr, fr.yi, act, glen, csr, csi, Q,
                            max_iter, idx, soft, sweeps);
        if (!st) hil_dd_bits(idx, sel, n_sel, btab, Q, bps, bits);
        hil_dd_frame_free(&fr);
        return st;
    }

    /* one frame from integer paths to bits: setup, message passing (transpose: in the C x R layout, act and
       sel given in that layout), bits from the I/Q decisions */
    static int hil_dd_frame_mp(int kind, int64_t R, int64_t C, int64_t cp, int frame, double c1, int64_t P,
                               const double *paths, const double *rot, int64_t period, const double *tab,
                               const uint8_t *ones, const uint8_t *filled, int64_t n_tab, const double *post,
                               const double *y, const int64_t *kc, const double *kv, int64_t K, int transpose,
                               const uint8_t *act, float x0i, float x1i, float x0q, float x1q, float m0r, float m0i,
                               float m20, float nv, float dmp, float omd, int max_iter, float thr, int stall_iter,
                               const int64_t *sel, int64_t n_sel, const uint8_t *ptab, int64_t bps, int8_t *dec,
                               float *llr, uint8_t *bits, int *iters, double *eta) {
        hil_dd_frame_t fr;
        int st = hil_dd_frame_setup(kind, R, C, cp, frame, c1, P, paths, rot, period, tab, ones, filled, n_tab, post,
                                    y, kc, kv, K, transpose ? C : 0, &fr);
        if (!st) {
            if (transpose)
                st = hil_dd_mp_binary(C, R, fr.G, fr.gsc, fr.gsr, fr.cre, fr.cim, fr.yr, fr.yi, act, x0i, x1i, x0q,
                                      x1q, m0r, m0i, m20, nv, dmp, omd, max_iter, thr, stall_iter, dec, llr, iters, eta);
            else
                st = hil_dd_mp_binary(R, C, fr.G, fr.gsr, fr.gsc, fr.cre, fr.cim, fr.yr, fr.yi, act, x0i, x1i, x0q,
                                      x1q, m0r, m0i, m20, nv, dmp, omd, max_iter, thr, stall_iter, dec, llr, iters, eta);
        }
        if (!st) hil_dd_pair_bits(dec, sel, n_sel, ptab, bps, bits);
        hil_dd_frame_free(&fr);
        return st;
    }
    """
    int _build_otfs "hil_dd_build_otfs"(int64_t M, int64_t N, int64_t cp, int frame, int64_t P, const double *p,
                                        const double *rot, int64_t period, int64_t *sr, int64_t *sc, int64_t *gsr,
                                        int64_t *gsc, int64_t *grp, double *A, int64_t *tw0, int64_t *tw1,
                                        int64_t *w, int64_t *G) noexcept nogil
    int _build_afdm "hil_dd_build_afdm"(int64_t N, int64_t cp, double c1, int64_t P, const double *p, int64_t *sr,
                                        int64_t *sc, int64_t *gsr, int64_t *gsc, int64_t *grp, double *A,
                                        int64_t *tw0, int64_t *tw1, int64_t *w, int64_t *G) noexcept nogil
    void _pair_bits "hil_dd_pair_bits"(const int8_t *dec, const int64_t *sel, int64_t n_sel, const uint8_t *table,
                                       int64_t bps, uint8_t *out) noexcept nogil
    int _frame_mrc "hil_dd_frame_mrc"(int kind, int64_t R, int64_t C, int64_t cp, int frame, double c1, int64_t P,
                                      const double *paths, const double *rot, int64_t period, const double *tab,
                                      const uint8_t *ones, const uint8_t *filled, int64_t n_tab, const double *post,
                                      const double *y, const int64_t *kc, const double *kv, int64_t K,
                                      const uint8_t *act, int64_t glen, const float *csr, const float *csi, int64_t Q,
                                      int max_iter, const int64_t *sel, int64_t n_sel, const uint8_t *btab,
                                      int64_t bps, int64_t stride, int64_t *idx, float *soft, uint8_t *bits,
                                      int *sweeps) noexcept nogil
    int _frame_mp "hil_dd_frame_mp"(int kind, int64_t R, int64_t C, int64_t cp, int frame, double c1, int64_t P,
                                    const double *paths, const double *rot, int64_t period, const double *tab,
                                    const uint8_t *ones, const uint8_t *filled, int64_t n_tab, const double *post,
                                    const double *y, const int64_t *kc, const double *kv, int64_t K, int transpose,
                                    const uint8_t *act, float x0i, float x1i, float x0q, float x1q, float m0r,
                                    float m0i, float m20, float nv, float dmp, float omd, int max_iter, float thr,
                                    int stall_iter, const int64_t *sel, int64_t n_sel, const uint8_t *ptab,
                                    int64_t bps, int8_t *dec, float *llr, uint8_t *bits, int *iters,
                                    double *eta) noexcept nogil
    int _expand "hil_dd_expand"(int64_t R, int64_t C, int64_t D, int64_t G, const int64_t *grp, const int64_t *sc,
                                const double *A, const double *tab, const int64_t *tw0, const int64_t *tw1,
                                const int64_t *w, const double *post, int has_post, int64_t tc,
                                const uint8_t *ones, float *cre, float *cim) noexcept nogil
    int _mp_binary "hil_dd_mp_binary"(int64_t R, int64_t C, int64_t G, const int64_t *gsr, const int64_t *gsc,
                                      const float *cre, const float *cim, const float *yr, const float *yi,
                                      const uint8_t *act, float x0i, float x1i, float x0q, float x1q,
                                      float m0r, float m0i, float m20, float nv, float dmp, float omd,
                                      int max_iter, float thr, int stall_iter, int8_t *out_dec, float *out_llr,
                                      int *iters, double *eta_out) noexcept nogil
    int _mrc "hil_dd_mrc"(int64_t R, int64_t C, int64_t G, const int64_t *gsr, const int64_t *gsc, int carry,
                          const float *cre, const float *cim, const float *yr, const float *yi,
                          const uint8_t *act, int64_t glen, const float *csr, const float *csi, int64_t Q,
                          int max_iter, int64_t *out_idx, float *soft, int *sweeps_out) noexcept nogil
    void _exp_neg_abs "hil_dd_exp_neg_abs"(const float *d, float *w, int64_t n) noexcept nogil
    int _prep "hil_dd_prep"(const double *y, int64_t R, int64_t C, int64_t tc, const int64_t *kc, const double *kv,
                            int64_t K, int64_t G, const int64_t *gsr, const int64_t *gsc, const float *cre,
                            const float *cim, float *yr, float *yi) noexcept nogil
    void _bits "hil_dd_bits"(const int64_t *idx, const int64_t *sel, int64_t n_sel, const uint8_t *table, int64_t Q,
                             int64_t bps, uint8_t *out) noexcept nogil

cdef int OK = 0
cdef int ERR_SHAPE = 1
cdef int ERR_PARAM = 2
cdef int ERR_MEMORY = 3


@cython.boundscheck(False)
@cython.wraparound(False)
def exp_neg_abs(const float[::1] d, float[::1] out):
    """``exp(-|d|)`` in float32 as the kernels evaluate it (exposed for the accuracy test)."""
    if out.shape[0] != d.shape[0]:
        return ERR_SHAPE
    if d.shape[0]:
        with nogil:
            _exp_neg_abs(&d[0], &out[0], d.shape[0])
    return OK


@cython.boundscheck(False)
@cython.wraparound(False)
def prep_obs(const double complex[::1] y, Py_ssize_t R, Py_ssize_t C, bint transpose, const int64_t[::1] known_cells,
             const double complex[::1] known_values, const int64_t[::1] gsr, const int64_t[::1] gsc,
             const float[:, ::1] cre, const float[:, ::1] cim, float[::1] yr, float[::1] yi):
    """Observations for the kernels; see the twin ``_ddet_py.prep_obs``. Returns a status."""
    cdef Py_ssize_t n = R * C, K = known_cells.shape[0], G = gsr.shape[0], j
    cdef int status
    if (R < 1 or C < 1 or y.shape[0] != n or yr.shape[0] != n or yi.shape[0] != n or known_values.shape[0] != K
            or gsc.shape[0] != G or cre.shape[0] != G or cim.shape[0] != G
            or (G and (cre.shape[1] != n or cim.shape[1] != n)) or not _shifts_ok(gsr, gsc, R, C)):
        return ERR_SHAPE
    for j in range(K):
        if known_cells[j] < 0 or known_cells[j] >= n:
            return ERR_SHAPE
    with nogil:
        status = _prep(<const double *> &y[0], R, C, C if transpose else 0, &known_cells[0] if K else NULL,
                       <const double *> &known_values[0] if K else NULL, K if G else 0, G,
                       &gsr[0] if G else NULL, &gsc[0] if G else NULL, &cre[0, 0] if G else NULL,
                       &cim[0, 0] if G else NULL, &yr[0], &yi[0])
    return status


@cython.boundscheck(False)
@cython.wraparound(False)
def gather_bits(const int64_t[::1] idx, const int64_t[::1] sel, const uint8_t[:, ::1] table, uint8_t[::1] out):
    """Hard bits of cells ``sel`` from their decisions; see the twin ``_ddet_py.gather_bits``. Returns a status."""
    cdef Py_ssize_t i, n_sel = sel.shape[0], Q = table.shape[0] - 1, bps = table.shape[1]
    if Q < 1 or out.shape[0] != n_sel * bps:
        return ERR_SHAPE
    for i in range(n_sel):
        if sel[i] < 0 or sel[i] >= idx.shape[0]:
            return ERR_SHAPE
    if n_sel:
        with nogil:
            _bits(&idx[0], &sel[0], n_sel, &table[0, 0], Q, bps, &out[0])
    return OK


@cython.boundscheck(False)
@cython.wraparound(False)
def pair_bits(const int8_t[:, ::1] dec, const int64_t[::1] sel, const uint8_t[:, ::1] table, uint8_t[::1] out):
    """Hard bits of cells ``sel`` from MP's I/Q decisions; see the twin ``_ddet_py.pair_bits``. Returns a status."""
    cdef Py_ssize_t i, n_sel = sel.shape[0], bps = table.shape[1]
    if table.shape[0] != 4 or dec.shape[1] != 2 or out.shape[0] != n_sel * bps:
        return ERR_SHAPE
    for i in range(n_sel):
        if sel[i] < 0 or sel[i] >= dec.shape[0]:
            return ERR_SHAPE
    if n_sel and bps:
        with nogil:
            _pair_bits(&dec[0, 0], &sel[0], n_sel, &table[0, 0], bps, &out[0])
    return OK


@cython.boundscheck(False)
@cython.wraparound(False)
cdef bint _shifts_ok(const int64_t[::1] sr, const int64_t[::1] sc, Py_ssize_t R, Py_ssize_t C) noexcept nogil:
    cdef Py_ssize_t t
    for t in range(sr.shape[0]):
        if sr[t] < 0 or sr[t] >= R or sc[t] < 0 or sc[t] >= C:
            return False
    return True


@cython.boundscheck(False)
@cython.wraparound(False)
def dd_build(int kind, Py_ssize_t R, Py_ssize_t C, Py_ssize_t cp, bint frame, double c1,
             const double complex[:, ::1] paths, const double complex[::1] rot, int64_t[::1] sr, int64_t[::1] sc,
             int64_t[::1] gsr, int64_t[::1] gsc, int64_t[::1] grp, double complex[:, ::1] A, int64_t[::1] tw0,
             int64_t[::1] tw1, int64_t[::1] w):
    """Diagonals of integer paths (kind 0: OTFS M x N = R x C, one CP per frame if ``frame``; kind 1: AFDM
    1 x N); see the twin ``_ddet_py.dd_build``. Returns (status, G); status 4: not integer bins."""
    cdef Py_ssize_t P = paths.shape[0], i
    cdef int64_t G = 0
    cdef int status
    cdef int64_t[::1] arr
    if (paths.shape[1] != 3 or R < 1 or C < 1 or cp < 0 or kind not in (0, 1) or A.shape[0] != P
            or A.shape[1] != (R if kind == 0 else 1) or (kind == 0 and rot.shape[0] < 1)):
        return ERR_SHAPE, 0
    for arr in (sr, sc, gsr, gsc, grp, tw0, tw1, w):
        if arr.shape[0] != P:
            return ERR_SHAPE, 0
    if P == 0:
        return OK, 0
    with nogil:
        if kind == 0:
            status = _build_otfs(R, C, cp, frame, P, <const double *> &paths[0, 0], <const double *> &rot[0],
                                 rot.shape[0], &sr[0], &sc[0], &gsr[0], &gsc[0], &grp[0], <double *> &A[0, 0],
                                 &tw0[0], &tw1[0], &w[0], &G)
        else:
            status = _build_afdm(C, cp, c1, P, <const double *> &paths[0, 0], &sr[0], &sc[0], &gsr[0], &gsc[0],
                                 &grp[0], <double *> &A[0, 0], &tw0[0], &tw1[0], &w[0], &G)
    return status, G


@cython.boundscheck(False)
@cython.wraparound(False)
def dd_expand(Py_ssize_t R, Py_ssize_t C, const int64_t[::1] grp, const int64_t[::1] sc,
              const double complex[:, ::1] A, const double complex[:, ::1] tab, const int64_t[::1] tw0,
              const int64_t[::1] tw1, const int64_t[::1] w, const double complex[::1] post,
              float[:, ::1] cre, float[:, ::1] cim, bint transpose=False):
    """Coefficients of the merged diagonals; see the twin ``_ddet_py.dd_expand``. Returns a status."""
    cdef Py_ssize_t D = grp.shape[0], G = cre.shape[0], t, i, k
    cdef int status
    cdef int has_post = post.shape[0] > 0
    if (R < 1 or C < 1 or sc.shape[0] != D or A.shape[0] != D or A.shape[1] != R or tw0.shape[0] != D
            or tw1.shape[0] != D or w.shape[0] != D or tab.shape[1] != C or tab.shape[0] < 1
            or cre.shape[1] != R * C or cim.shape[0] != G or cim.shape[1] != R * C
            or (has_post and post.shape[0] != C)):
        return ERR_SHAPE
    for t in range(D):
        if (grp[t] < 0 or grp[t] >= G or sc[t] < 0 or sc[t] >= C or tw0[t] < 0 or tw0[t] >= tab.shape[0]
                or tw1[t] < 0 or tw1[t] >= tab.shape[0]):
            return ERR_SHAPE
    if G == 0:
        return OK
    # table rows that are exactly 1 everywhere (their product is the row factor itself)
    ones_arr = np.zeros(tab.shape[0], np.uint8)
    cdef uint8_t[::1] ones = ones_arr
    for i in range(tab.shape[0]):
        ones[i] = 1
        for k in range(C):
            if tab[i, k].real != 1.0 or tab[i, k].imag != 0.0:
                ones[i] = 0
                break
    with nogil:
        status = _expand(R, C, D, G, &grp[0] if D else NULL, &sc[0] if D else NULL,
                         <const double *> &A[0, 0] if D else NULL, <const double *> &tab[0, 0],
                         &tw0[0] if D else NULL, &tw1[0] if D else NULL, &w[0] if D else NULL,
                         <const double *> &post[0] if has_post else NULL, has_post, C if transpose else 0, &ones[0],
                         &cre[0, 0], &cim[0, 0])
    return status


@cython.boundscheck(False)
@cython.wraparound(False)
def mp_binary(Py_ssize_t R, Py_ssize_t C, const int64_t[::1] gsr, const int64_t[::1] gsc,
              const float[:, ::1] cre, const float[:, ::1] cim, const float[::1] yr, const float[::1] yi,
              const uint8_t[::1] act, levels, double noise_var, double damping, int max_iter, double conv_tol,
              int stall_iter, int8_t[:, ::1] out_dec, float[:, ::1] out_llr):
    """Message passing for two levels per I/Q dimension (4-QAM); see the twin ``_ddet_py.mp_binary``.
    Returns (status, iterations, eta)."""
    cdef Py_ssize_t G = gsr.shape[0], n = R * C
    cdef int status = OK, iters = 0
    cdef double eta = 0.0
    if (R < 1 or C < 1 or gsc.shape[0] != G or cre.shape[0] != G or cim.shape[0] != G or yr.shape[0] != n
            or yi.shape[0] != n or act.shape[0] != n or out_dec.shape[0] != n or out_dec.shape[1] != 2
            or out_llr.shape[0] != n or out_llr.shape[1] != 2 or (G and (cre.shape[1] != n or cim.shape[1] != n))
            or not _shifts_ok(gsr, gsc, R, C)):
        return ERR_SHAPE, 0, 0.0
    x0i, x1i, x0q, x1q = (float(v) for v in levels)
    if not (noise_var > 0 and 0 < damping <= 1 and max_iter >= 1 and 0 <= conv_tol <= 1 and stall_iter >= 0):
        return ERR_PARAM, 0, 0.0
    cdef float f0i = x0i, f1i = x1i, f0q = x0q, f1q = x1q
    cdef float m0r = 0.5 * (x0i + x1i), m0i = 0.5 * (x0q + x1q)
    cdef float m20 = 0.5 * (x0i * x0i + x1i * x1i) + 0.5 * (x0q * x0q + x1q * x1q)
    cdef float fnv = noise_var, dmp = damping, omd = 1.0 - damping, thr = 1.0 - conv_tol
    cdef const float *pre = &cre[0, 0] if G else NULL
    cdef const float *pim = &cim[0, 0] if G else NULL
    with nogil:
        status = _mp_binary(R, C, G, &gsr[0] if G else NULL, &gsc[0] if G else NULL, pre, pim, &yr[0], &yi[0],
                            &act[0], f0i, f1i, f0q, f1q, m0r, m0i, m20, fnv, dmp, omd, max_iter, thr, stall_iter,
                            &out_dec[0, 0], &out_llr[0, 0], &iters, &eta)
    return status, iters, eta


@cython.boundscheck(False)
@cython.wraparound(False)
def mrc(Py_ssize_t R, Py_ssize_t C, const int64_t[::1] gsr, const int64_t[::1] gsc, const float[:, ::1] cre,
        const float[:, ::1] cim, const float[::1] yr, const float[::1] yi, const uint8_t[::1] act,
        Py_ssize_t group_len, const float[::1] cons_re, const float[::1] cons_im, int max_iter,
        int64_t[::1] out_idx, float[:, ::1] out_soft, bint carry=False):
    """Iterative MRC with decision feedback; see the twin ``_ddet_py.mrc``. Returns (status, sweeps)."""
    cdef Py_ssize_t G = gsr.shape[0], n = R * C
    cdef int status = OK, sweeps = 0
    if (R < 1 or C < 1 or gsc.shape[0] != G or cre.shape[0] != G or cim.shape[0] != G or yr.shape[0] != n
            or yi.shape[0] != n or act.shape[0] != n or out_idx.shape[0] != n or out_soft.shape[0] != n
            or out_soft.shape[1] != 2 or (G and (cre.shape[1] != n or cim.shape[1] != n))
            or cons_im.shape[0] != cons_re.shape[0] or not _shifts_ok(gsr, gsc, R, C)):
        return ERR_SHAPE, 0
    if not (max_iter >= 1 and cons_re.shape[0] >= 1 and 1 <= group_len <= C):
        return ERR_PARAM, 0
    cdef const float *pre = &cre[0, 0] if G else NULL
    cdef const float *pim = &cim[0, 0] if G else NULL
    with nogil:
        status = _mrc(R, C, G, &gsr[0] if G else NULL, &gsc[0] if G else NULL, carry, pre, pim, &yr[0], &yi[0], &act[0],
                      group_len, &cons_re[0], &cons_im[0], cons_re.shape[0], max_iter, &out_idx[0],
                      &out_soft[0, 0], &sweeps)
    return status, sweeps


@cython.boundscheck(False)
@cython.wraparound(False)
def frame_mrc(int kind, Py_ssize_t R, Py_ssize_t C, Py_ssize_t cp, bint frame, double c1,
              const double complex[:, ::1] paths, const double complex[::1] rot, const double complex[:, ::1] tab,
              const uint8_t[::1] ones, const uint8_t[::1] filled, const double complex[::1] post,
              const double complex[::1] y, const int64_t[::1] known_cells, const double complex[::1] known_values,
              const uint8_t[::1] act, Py_ssize_t group_len, const float[::1] cons_re, const float[::1] cons_im,
              int max_iter, const int64_t[::1] sel, const uint8_t[:, ::1] table, int64_t[::1] out_idx,
              float[:, ::1] out_soft, uint8_t[::1] out_bits, Py_ssize_t stride=0):
    """One frame from integer paths to bits (dd_build, dd_expand, prep_obs, mrc, gather_bits in one call
    without the GIL); see the twin ``_ddet_py.frame_mrc``. Returns (status, sweeps); status 4: not integer
    bins, 5: an AFDM column table not filled."""
    cdef Py_ssize_t n = R * C, P = paths.shape[0], K = known_cells.shape[0], j, Q = table.shape[0] - 1
    cdef Py_ssize_t bps = table.shape[1]
    cdef int status = OK, sweeps = 0
    if (kind not in (0, 1) or R < 1 or C < 1 or cp < 0 or (kind == 1 and R != 1) or paths.shape[1] != 3
            or (kind == 0 and rot.shape[0] < 1) or tab.shape[1] != C or tab.shape[0] < 1
            or ones.shape[0] != tab.shape[0] or filled.shape[0] != tab.shape[0]
            or (post.shape[0] and post.shape[0] != C) or y.shape[0] != n or known_values.shape[0] != K
            or act.shape[0] != n or out_idx.shape[0] != n or out_soft.shape[0] != n or out_soft.shape[1] != 2
            or cons_im.shape[0] != cons_re.shape[0] or Q != cons_re.shape[0]
            or out_bits.shape[0] != sel.shape[0] * bps):
        return ERR_SHAPE, 0
    if not (max_iter >= 1 and cons_re.shape[0] >= 1 and 1 <= group_len <= C):
        return ERR_PARAM, 0
    if stride > 1 and (kind != 1 or C % stride or group_len > C // stride):
        return ERR_PARAM, 0
    for j in range(K):
        if known_cells[j] < 0 or known_cells[j] >= n:
            return ERR_SHAPE, 0
    for j in range(sel.shape[0]):
        if sel[j] < 0 or sel[j] >= n:
            return ERR_SHAPE, 0
    with nogil:
        status = _frame_mrc(kind, R, C, cp, frame, c1, P, <const double *> &paths[0, 0] if P else NULL,
                            <const double *> &rot[0] if kind == 0 else NULL, rot.shape[0],
                            <const double *> &tab[0, 0], &ones[0], &filled[0], tab.shape[0],
                            <const double *> &post[0] if post.shape[0] else NULL, <const double *> &y[0],
                            &known_cells[0] if K else NULL, <const double *> &known_values[0] if K else NULL, K,
                            &act[0], group_len, &cons_re[0], &cons_im[0], cons_re.shape[0], max_iter,
                            &sel[0] if sel.shape[0] else NULL, sel.shape[0], &table[0, 0], bps, stride, &out_idx[0],
                            &out_soft[0, 0], &out_bits[0] if out_bits.shape[0] else NULL, &sweeps)
    return status, sweeps


@cython.boundscheck(False)
@cython.wraparound(False)
def frame_mp(int kind, Py_ssize_t R, Py_ssize_t C, Py_ssize_t cp, bint frame, double c1,
             const double complex[:, ::1] paths, const double complex[::1] rot, const double complex[:, ::1] tab,
             const uint8_t[::1] ones, const uint8_t[::1] filled, const double complex[::1] post,
             const double complex[::1] y, const int64_t[::1] known_cells, const double complex[::1] known_values,
             bint transpose, const uint8_t[::1] act, levels, double noise_var, double damping, int max_iter,
             double conv_tol, int stall_iter, const int64_t[::1] sel, const uint8_t[:, ::1] table,
             int8_t[:, ::1] out_dec, float[:, ::1] out_llr, uint8_t[::1] out_bits):
    """One frame from integer paths to bits (dd_build, dd_expand, prep_obs, mp_binary, pair_bits in one call
    without the GIL); see the twin ``_ddet_py.frame_mp``. Returns (status, iterations, eta)."""
    cdef Py_ssize_t n = R * C, P = paths.shape[0], K = known_cells.shape[0], j, bps = table.shape[1]
    cdef int status = OK, iters = 0
    cdef double eta = 0.0
    if (kind not in (0, 1) or R < 1 or C < 1 or cp < 0 or (kind == 1 and R != 1) or paths.shape[1] != 3
            or (kind == 0 and rot.shape[0] < 1) or tab.shape[1] != C or tab.shape[0] < 1
            or ones.shape[0] != tab.shape[0] or filled.shape[0] != tab.shape[0]
            or (post.shape[0] and post.shape[0] != C) or y.shape[0] != n or known_values.shape[0] != K
            or act.shape[0] != n or out_dec.shape[0] != n or out_dec.shape[1] != 2 or out_llr.shape[0] != n
            or out_llr.shape[1] != 2 or table.shape[0] != 4 or out_bits.shape[0] != sel.shape[0] * bps):
        return ERR_SHAPE, 0, 0.0
    x0i, x1i, x0q, x1q = (float(v) for v in levels)
    if not (noise_var > 0 and 0 < damping <= 1 and max_iter >= 1 and 0 <= conv_tol <= 1 and stall_iter >= 0):
        return ERR_PARAM, 0, 0.0
    for j in range(K):
        if known_cells[j] < 0 or known_cells[j] >= n:
            return ERR_SHAPE, 0, 0.0
    for j in range(sel.shape[0]):
        if sel[j] < 0 or sel[j] >= n:
            return ERR_SHAPE, 0, 0.0
    cdef float f0i = x0i, f1i = x1i, f0q = x0q, f1q = x1q
    cdef float m0r = 0.5 * (x0i + x1i), m0i = 0.5 * (x0q + x1q)
    cdef float m20 = 0.5 * (x0i * x0i + x1i * x1i) + 0.5 * (x0q * x0q + x1q * x1q)
    cdef float fnv = noise_var, dmp = damping, omd = 1.0 - damping, thr = 1.0 - conv_tol
    with nogil:
        status = _frame_mp(kind, R, C, cp, frame, c1, P, <const double *> &paths[0, 0] if P else NULL,
                           <const double *> &rot[0] if kind == 0 else NULL, rot.shape[0],
                           <const double *> &tab[0, 0], &ones[0], &filled[0], tab.shape[0],
                           <const double *> &post[0] if post.shape[0] else NULL, <const double *> &y[0],
                           &known_cells[0] if K else NULL, <const double *> &known_values[0] if K else NULL, K,
                           transpose, &act[0], f0i, f1i, f0q, f1q, m0r, m0i, m20, fnv, dmp, omd, max_iter, thr,
                           stall_iter, &sel[0] if sel.shape[0] else NULL, sel.shape[0], &table[0, 0], bps,
                           &out_dec[0, 0], &out_llr[0, 0], &out_bits[0] if out_bits.shape[0] else NULL, &iters, &eta)
    return status, iters, eta
