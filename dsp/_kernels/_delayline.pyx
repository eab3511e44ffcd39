# distutils: extra_compile_args = -fno-math-errno
# (-fno-math-errno only lets sqrtf / floor compile to single instructions so the loops vectorise; no
# fast-math, no reassociation.)
#
# Fused per-sample channel kernel of the emulator: a time-varying fractional delay line (polyphase
# band-limited interpolator, nearest of finely tabulated fractions) + a carrier-phase / gain
# rotator + AWGN, summed over one or more paths.  NumPy twin: _delayline_py.py (same signature,
# same results to float32 rounding).
#
# Geometry of the call (all indices absolute sample counts since the stream's epoch):
#   x[i] is input sample n0 + i; out[i] is output sample n0 + i (same clock, same length).
#   Time is cut into segments of S samples on the absolute grid: segment s covers [s S, (s + 1) S).
#   Row r of dcoef / pcoef describes segment seg0 + r; for path p and local index j = n - s S:
#     delay  D(j)   = e0 + e1 j + e2 j^2 + e3 j^3                  (samples; dcoef[r, 4p:4p+4])
#     weight z(j)   = exp(a0 + a1 j + a2 j^2 + a3 j^3)             (a: log-amplitude, nepers)
#                     * exp(j 2 pi (b0 + b1 j + b2 j^2 + b3 j^3))  (b: phase, cycles)
#                     (pcoef[r, 8p:8p+8] = a0..a3, b0..b3; a0 = -inf switches the path off)
#     out[n] = sum_p z_p(j) * x(n - D_p(j)) + noise_amp w(n)
#   w(n) is complex white Gaussian noise of unit power, a pure function of (key, n): counter-based, so
#   the output does not depend on how the stream is split into calls or threads. SplitMix64 of
#   key + (n + 1) * 0x9E3779B97F4A7C15 gives 64 bits; the high 32 make u = ((hi >> 1) + 1/2) 2^-31 in
#   (0, 1] (float32), the low 32 (as int32) make v = lo 2^-32 in [-1/2, 1/2) cycles, and
#   w = sqrt(-ln u) exp(j 2 pi v) (Box-Muller in polar form: |w|^2 ~ Exp(1), uniform phase).
#   ln, sin, cos are float32 polynomials here (|error| < 1e-6 of |w|); the twin uses NumPy's.
#   x(m) between samples comes from an L-tap interpolator whose coefficients for fraction mu are
#   row q = floor(mu P + 1/2) of tab (the nearest of P + 1 tabulated fractions; tab has 2 L columns:
#   each coefficient twice, for I and Q; L a multiple of 4; tap t multiplies x[k - L/2 + 1 + t] where
#   k = floor(position)). The fraction is then off by <= 1/(2P) sample: with P = 4096 that is an
#   error <= pi f / P (-70 dB at 0.42 fs), below the interpolator's own design error, and it saves
#   the per-sample interpolation between rows (half the multiplies).
#   ring holds the input history: sample m at ring[m & (size - 1)], size = len(ring) - L a power of
#   two; its first L entries are mirrored after the end so every tap window is contiguous.
#
# How it is computed (the C below; docs/emulator.md "Throughput" has the numbers):
#   * Blocks of B = 64 samples, on a grid of 8-sample groups anchored at each segment's start. Per
#     block: the noise (a fixed-length loop the compiler vectorises), then per distinct delay (paths
#     whose four delay coefficients are equal share one interpolator pass - the Rayleigh sinusoids of
#     an NTN-TDL tap do) the tap indices (vectorised Horner of the delay cubic, floor, row) and the
#     16-tap dot products four samples at a time (8-float vectors, one FMA chain per sample, a
#     shuffle tree reducing four samples at once), then the weights and the sum.
#   * Weights: paths whose a1..a3, b2, b3 are equal (all paths of a ChannelStream) form one class.
#     The class's cubic exponent runs as 8 independent lanes of forward differences with step 8
#     (double precision; lane l holds samples 8 i + l of the segment), restarted exactly at every
#     segment start: the carrier phase and gain are computed once per sample for all paths. Each
#     further path of the class only adds its linear remainder exp(da0 + j 2 pi (db0 + db1 j)) (8
#     lanes, one complex product per sample), summed over the paths that share an interpolator pass
#     before it multiplies that pass's output.
#   * Every per-sample value depends only on the sample's absolute index (the lanes start at the
#     segment start even when a call starts inside a segment; fixed-length loops have no scalar
#     tails), so the output is bit-identical however the stream is split into calls or threads.
#   * Threads (Pool): one call's ranges of output samples go to C worker threads and the calling
#     thread through one atomic ticket, without the GIL; idle workers spin ~100 us before they sleep
#     and move off the caller's CPU when woken onto it (Linux keeps recently run threads together).
#   * The loops are plain C plus GCC/Clang vector extensions (SSE2 / NEON / anything); on x86-64 the
#     same code is also compiled for AVX2+FMA and for AVX-512 (DQ/VL/BW), the best the CPU runs chosen at
#     import (set_isa(), or HIL_DELAYLINE_ISA=baseline|avx2|avx512, pick another). No intrinsics.
cimport cython
from cpython.mem cimport PyMem_Malloc, PyMem_Free
from libc.stdint cimport int64_t, uint64_t

cdef extern from *:
    """
    #include <string.h>
    #include <stdint.h>
    #include <stdlib.h>
    #include <math.h>

    #define HIL_DL_B 64   /* samples per block (a multiple of HIL_DL_W) */
    #define HIL_DL_W 8    /* lanes of the weight recurrences (their step) */

    #if (defined(__GNUC__) || defined(__clang__)) && !defined(HIL_DL_NO_VEC)
    /* (-DHIL_DL_NO_VEC builds the plain-C fallback of other compilers with GCC, for testing it.) */
    #define HIL_DL_AI static inline __attribute__((always_inline))
    #define HIL_DL_VEC 1
    typedef float hil_dl_v8 __attribute__((vector_size(32)));
    #if defined(__clang__) || (__GNUC__ >= 12)
    #define HIL_DL_SHUF(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
    #else
    typedef int hil_dl_v8i __attribute__((vector_size(32)));
    #define HIL_DL_SHUF(a, b, ...) __builtin_shuffle(a, b, (hil_dl_v8i){__VA_ARGS__})
    #endif
    #define HIL_DL_ALIGN __attribute__((aligned(64)))
    #else
    #define HIL_DL_AI static inline
    #define HIL_DL_ALIGN
    #endif

    #if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(HIL_DL_NO_VEC)
    #define HIL_DL_X86 1
    #endif

    typedef struct {
        const float *x;          /* input chunk, interleaved I/Q, m samples (n0 ..) */
        float *out;              /* output chunk */
        float *ring;             /* delay line (size + L complex) */
        int64_t n0, m;
        const double *dcoef, *pcoef;
        int64_t nrow, npath;
        int64_t seg0, S;
        const float *tab;        /* (P + 1) rows of 2 L floats */
        int64_t P, L, size;
        uint64_t key;
        float amp;
        int64_t written_end;     /* < 0: the kernel writes the input into the ring segment by segment */
    } hil_dl_args;

    /* ------------------------------------------------------------------ noise */
    typedef union { float f; uint32_t u; } hil_dl_f32;

    /* (i + 1) * 0x9E3779B97F4A7C15 mod 2^64, i < HIL_DL_B: the counter's lane offsets */
    static const uint64_t hil_dl_gam[HIL_DL_B] = {
        0x9E3779B97F4A7C15ULL, 0x3C6EF372FE94F82AULL, 0xDAA66D2C7DDF743FULL, 0x78DDE6E5FD29F054ULL,
        0x1715609F7C746C69ULL, 0xB54CDA58FBBEE87EULL, 0x538454127B096493ULL, 0xF1BBCDCBFA53E0A8ULL,
        0x8FF34785799E5CBDULL, 0x2E2AC13EF8E8D8D2ULL, 0xCC623AF8783354E7ULL, 0x6A99B4B1F77DD0FCULL,
        0x08D12E6B76C84D11ULL, 0xA708A824F612C926ULL, 0x454021DE755D453BULL, 0xE3779B97F4A7C150ULL,
        0x81AF155173F23D65ULL, 0x1FE68F0AF33CB97AULL, 0xBE1E08C47287358FULL, 0x5C55827DF1D1B1A4ULL,
        0xFA8CFC37711C2DB9ULL, 0x98C475F0F066A9CEULL, 0x36FBEFAA6FB125E3ULL, 0xD5336963EEFBA1F8ULL,
        0x736AE31D6E461E0DULL, 0x11A25CD6ED909A22ULL, 0xAFD9D6906CDB1637ULL, 0x4E115049EC25924CULL,
        0xEC48CA036B700E61ULL, 0x8A8043BCEABA8A76ULL, 0x28B7BD766A05068BULL, 0xC6EF372FE94F82A0ULL,
        0x6526B0E96899FEB5ULL, 0x035E2AA2E7E47ACAULL, 0xA195A45C672EF6DFULL, 0x3FCD1E15E67972F4ULL,
        0xDE0497CF65C3EF09ULL, 0x7C3C1188E50E6B1EULL, 0x1A738B426458E733ULL, 0xB8AB04FBE3A36348ULL,
        0x56E27EB562EDDF5DULL, 0xF519F86EE2385B72ULL, 0x935172286182D787ULL, 0x3188EBE1E0CD539CULL,
        0xCFC0659B6017CFB1ULL, 0x6DF7DF54DF624BC6ULL, 0x0C2F590E5EACC7DBULL, 0xAA66D2C7DDF743F0ULL,
        0x489E4C815D41C005ULL, 0xE6D5C63ADC8C3C1AULL, 0x850D3FF45BD6B82FULL, 0x2344B9ADDB213444ULL,
        0xC17C33675A6BB059ULL, 0x5FB3AD20D9B62C6EULL, 0xFDEB26DA5900A883ULL, 0x9C22A093D84B2498ULL,
        0x3A5A1A4D5795A0ADULL, 0xD8919406D6E01CC2ULL, 0x76C90DC0562A98D7ULL, 0x15008779D57514ECULL,
        0xB338013354BF9101ULL, 0x516F7AECD40A0D16ULL, 0xEFA6F4A65354892BULL, 0x8DDE6E5FD29F0540ULL};

    /* of[2 i], of[2 i + 1] = amp w(n + i), i < HIL_DL_B: a fixed trip count, so every sample goes
       through the same (vectorised) code whatever the call boundaries. */
    HIL_DL_AI void hil_dl_noise(float *restrict of, int64_t n, uint64_t key, float amp) {
        const uint64_t k0 = key + (uint64_t)n * 0x9E3779B97F4A7C15ULL;
        for (int i = 0; i < HIL_DL_B; i++) {
            uint64_t z = k0 + hil_dl_gam[i];   /* key + (n + i + 1) * gamma */
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
            z = z ^ (z >> 31);
            uint32_t hi = (uint32_t)(z >> 32), lo = (uint32_t)z;
            float u = ((float)(int32_t)(hi >> 1) + 0.5f) * 4.656612873077393e-10f;  /* 2^-31: (0, 1] */
            /* ln u = k ln 2 + ln(1 + x), x in [sqrt(1/2) - 1, sqrt(2) - 1): exponent split by bits, then
               ln(1 + x) = 2 atanh(s), s = x / (2 + x), |s| < 0.1716, odd series to s^9 (error < 1e-9). */
            hil_dl_f32 cv; cv.f = u;
            uint32_t ix = cv.u + (0x3F800000u - 0x3F3504F3u);
            int32_t k = (int32_t)(ix >> 23) - 127;
            cv.u = (ix & 0x007FFFFFu) + 0x3F3504F3u;
            float x = cv.f - 1.0f;
            float sx = x / (2.0f + x);
            float s2 = sx * sx;
            float lnu = (float)k * 0.6931471805599453f + 2.0f * sx * (
                1.0f + s2 * (0.3333333333f + s2 * (0.2f + s2 * (0.1428571429f + s2 * 0.1111111111f))));
            float r = amp * sqrtf(-lnu);  /* lnu <= 0: u <= 1 exactly and each piece keeps the sign */
            /* exp(j 2 pi v) as the square of exp(j pi v), |pi v| <= pi/2: Taylor to a^11 / a^12. */
            float a = (float)(int32_t)lo * 7.314590128178802e-10f;  /* pi 2^-32 */
            float a2 = a * a;
            float sn = a * (1.0f + a2 * (-1.6666666667e-1f + a2 * (8.3333333333e-3f + a2 * (
                -1.9841269841e-4f + a2 * (2.7557319224e-6f + a2 * -2.5052108385e-8f)))));
            float cs = 1.0f + a2 * (-0.5f + a2 * (4.1666666667e-2f + a2 * (-1.3888888889e-3f + a2 * (
                2.4801587302e-5f + a2 * (-2.7557319224e-7f + a2 * 2.0876756988e-9f)))));
            of[2 * i] = r * (cs * cs - sn * sn);
            of[2 * i + 1] = r * (2.0f * sn * cs);
        }
    }

    /* ------------------------------------------------------------------ tap indices */
    /* Entries i < HIL_DL_B at local index j = jb + i: ring start (in complex samples) and table row of
       the interpolator. Returns nonzero if some entry breaks a delay limit; entries outside the call's
       range [lo, hi) are computed too (a fixed trip count: no scalar tail), so the caller then checks
       the valid ones exactly (hil_dl_check_one). Starts are masked into the ring and rows clamped to
       0 .. P whatever the delay, so every entry reads inside the arrays. */
    #ifdef HIL_DL_VEC
    /* 32-byte vectors: native with AVX2 (GCC lowers wider generic vectors with comparisons and
       conversions to scalar code), two halves with SSE2 / NEON. */
    typedef double hil_dl_v4d __attribute__((vector_size(32)));
    typedef int64_t hil_dl_v4l __attribute__((vector_size(32)));
    typedef int32_t hil_dl_v4s __attribute__((vector_size(16)));
    typedef uint32_t hil_dl_v4u __attribute__((vector_size(16)));
    typedef float hil_dl_v4f __attribute__((vector_size(16)));

    HIL_DL_AI int hil_dl_index(const double *e, double jbd, double P, double half, double lim,
                               uint32_t base, uint32_t mask, uint32_t *restrict st, int32_t *restrict q) {
        const double e0 = e[0], e1 = e[1], e2 = e[2], e3 = e[3];
        const hil_dl_v4d iota = {0, 1, 2, 3};
        const hil_dl_v4d big = {2147483647.0, 2147483647.0, 2147483647.0, 2147483647.0};
        const hil_dl_v4d one = {1, 1, 1, 1};
        hil_dl_v4l bad = {0, 0, 0, 0};
        for (int i = 0; i < HIL_DL_B; i += 4) {
            hil_dl_v4d jd = iota + (jbd + (double)i);
            hil_dl_v4d D = ((e3 * jd + e2) * jd + e1) * jd + e0;
            hil_dl_v4d pr = jd - D;
            /* clamp to +-(2^31 - 1) (a not-a-number to the low end): the int32 conversion is exact */
            hil_dl_v4l keep = pr >= -big;
            pr = (hil_dl_v4d)(((hil_dl_v4l)pr & keep) | ((hil_dl_v4l)(-big) & ~keep));
            keep = pr <= big;
            pr = (hil_dl_v4d)(((hil_dl_v4l)pr & keep) | ((hil_dl_v4l)big & ~keep));
            hil_dl_v4s ti = __builtin_convertvector(pr, hil_dl_v4s);
            hil_dl_v4d td = __builtin_convertvector(ti, hil_dl_v4d);
            hil_dl_v4l below = td > pr;
            hil_dl_v4d fl = td - (hil_dl_v4d)((hil_dl_v4l)one & below);   /* floor */
            hil_dl_v4d mu = pr - fl;                                      /* 0 <= mu < 1 */
            bad |= (fl + half > jd) | (fl < lim);   /* too short | too long */
            hil_dl_v4u sv = ((hil_dl_v4u)__builtin_convertvector(fl, hil_dl_v4s) + base) & mask;
            hil_dl_v4s qv = __builtin_convertvector(mu * P + 0.5, hil_dl_v4s);  /* 0 .. P */
            memcpy(st + i, &sv, 16);
            memcpy(q + i, &qv, 16);
        }
        return (bad[0] | bad[1] | bad[2] | bad[3]) != 0;
    }
    #else
    HIL_DL_AI int hil_dl_index(const double *e, double jbd, double P, double half, double lim,
                               uint32_t base, uint32_t mask, uint32_t *restrict st, int32_t *restrict q) {
        int bad = 0;
        for (int i = 0; i < HIL_DL_B; i++) {
            double jd = jbd + (double)i;
            double D = ((e[3] * jd + e[2]) * jd + e[1]) * jd + e[0];
            double pr = jd - D;
            pr = pr >= -2147483647.0 ? pr : -2147483647.0;
            pr = pr <= 2147483647.0 ? pr : 2147483647.0;
            double td = (double)(int32_t)pr;
            double fl = td > pr ? td - 1.0 : td;
            double mu = pr - fl;
            bad |= (fl + half > jd) | (fl < lim);
            st[i] = ((uint32_t)(int32_t)fl + base) & mask;
            q[i] = (int32_t)(mu * P + 0.5);
        }
        return bad;
    }
    #endif

    /* 1 = too short, 2 = too long, 0 = fine: the scalar form of the test above, for the error report. */
    static int hil_dl_check_one(const double *e, int64_t j, double half, double lim) {
        double jd = (double)j;
        double D = ((e[3] * jd + e[2]) * jd + e[1]) * jd + e[0];
        double pr = jd - D;
        pr = pr >= -2147483647.0 ? pr : -2147483647.0;   /* as hil_dl_index (a not-a-number: too long) */
        pr = pr <= 2147483647.0 ? pr : 2147483647.0;
        double fl = floor(pr);
        if (fl + half > jd) return 1;
        if (fl < lim) return 2;
        return 0;
    }

    /* ------------------------------------------------------------------ dot products */
    /* acc[2 i], acc[2 i + 1] = sum_t tab[q_i][t] x[st_i + t] for the quads i0 .. i1 - 1 (i0, i1 multiples
       of 4). Per sample: one chain of 8-float products over the interleaved (I, Q) taps (each
       coefficient stored twice), then lanes summed as (l0 + l2) + (l4 + l6) for I, the odd lanes for Q
       - the same order for every sample, so the grouping by four never changes a result. */
    HIL_DL_AI void hil_dl_dot_n(const float *tab, int64_t L2, const float *rf, const uint32_t *st,
                                const int32_t *q, int i0, int i1, float *restrict acc) {
    #ifdef HIL_DL_VEC
        for (int i = i0; i < i1; i += 4) {
            hil_dl_v8 a[4];
            for (int s = 0; s < 4; s++) {
                const float *h = tab + (int64_t)q[i + s] * L2;
                const float *x = rf + 2 * (int64_t)st[i + s];
                hil_dl_v8 hv, xv, t;
                memcpy(&hv, h, 32); memcpy(&xv, x, 32);
                t = hv * xv;
                for (int64_t c = 8; c < L2; c += 8) {
                    memcpy(&hv, h + c, 32); memcpy(&xv, x + c, 32);
                    t += hv * xv;
                }
                a[s] = t;
            }
            hil_dl_v8 p01 = HIL_DL_SHUF(a[0], a[1], 0, 1, 8, 9, 4, 5, 12, 13)
                          + HIL_DL_SHUF(a[0], a[1], 2, 3, 10, 11, 6, 7, 14, 15);
            hil_dl_v8 p23 = HIL_DL_SHUF(a[2], a[3], 0, 1, 8, 9, 4, 5, 12, 13)
                          + HIL_DL_SHUF(a[2], a[3], 2, 3, 10, 11, 6, 7, 14, 15);
            hil_dl_v8 r = HIL_DL_SHUF(p01, p23, 0, 1, 2, 3, 8, 9, 10, 11)
                        + HIL_DL_SHUF(p01, p23, 4, 5, 6, 7, 12, 13, 14, 15);
            memcpy(acc + 2 * i, &r, 32);
        }
    #else
        for (int i = i0; i < i1; i++) {
            const float *h = tab + (int64_t)q[i] * L2;
            const float *x = rf + 2 * (int64_t)st[i];
            float t[8];
            for (int u = 0; u < 8; u++) t[u] = h[u] * x[u];
            for (int64_t c = 8; c < L2; c += 8)
                for (int u = 0; u < 8; u++) t[u] += h[c + u] * x[c + u];
            acc[2 * i] = (t[0] + t[2]) + (t[4] + t[6]);
            acc[2 * i + 1] = (t[1] + t[3]) + (t[5] + t[7]);
        }
    #endif
    }

    HIL_DL_AI void hil_dl_dot(const float *tab, int64_t L2, const float *rf, const uint32_t *st,
                              const int32_t *q, int i0, int i1, float *restrict acc) {
        if (L2 == 32)   /* the default 16 taps: a constant trip count, unrolled */
            hil_dl_dot_n(tab, 32, rf, st, q, i0, i1, acc);
        else
            hil_dl_dot_n(tab, L2, rf, st, q, i0, i1, acc);
    }

    /* ------------------------------------------------------------------ weights */
    static void hil_dl_cexp(double re, double cyc, double *zr, double *zi) {
        double a = exp(re);
        double w = 6.283185307179586 * (cyc - floor(cyc));
        *zr = a * cos(w);
        *zi = a * sin(w);
    }

    /* 8 lanes of double: a GNU vector (any width the target has), or an array elsewhere. */
    #ifdef HIL_DL_VEC
    typedef struct { hil_dl_v4d h[2]; } hil_dl_lv;
    #define HIL_DL_LANE(x, l) ((x).h[(l) >> 2][(l) & 3])
    #else
    typedef struct { double v[HIL_DL_W]; } hil_dl_lv;
    #define HIL_DL_LANE(x, l) ((x).v[l])
    #endif

    typedef struct {           /* cubic exponent of a class: lanes of forward differences, step W */
        hil_dl_lv zr, zi, wr, wi, vr, vi;
        double ur, ui;
    } hil_dl_cubic;

    typedef struct {           /* linear remainder of one further path of a class */
        hil_dl_lv rr, ri;
        double sr, si;
    } hil_dl_lin;

    /* f(l) = exp(c0 + c1 l + c2 l^2 + c3 l^3) for l = 0 .. W - 1 (complex c = (real, cycles) pairs) by
       exact step-1 forward differences: 4 complex exponentials instead of W. */
    static void hil_dl_cubic_row(double c0r, double c0i, double c1r, double c1i, double c2r, double c2i,
                                 double c3r, double c3i, double *outr, double *outi) {
        double zr, zi, wr, wi, vr, vi, ur, ui, t;
        hil_dl_cexp(c0r, c0i, &zr, &zi);
        hil_dl_cexp(c1r + c2r + c3r, c1i + c2i + c3i, &wr, &wi);
        hil_dl_cexp(2 * c2r + 6 * c3r, 2 * c2i + 6 * c3i, &vr, &vi);
        hil_dl_cexp(6 * c3r, 6 * c3i, &ur, &ui);
        for (int l = 0; l < HIL_DL_W; l++) {
            outr[l] = zr; outi[l] = zi;
            t = zr * wr - zi * wi; zi = zr * wi + zi * wr; zr = t;
            t = wr * vr - wi * vi; wi = wr * vi + wi * vr; wr = t;
            t = vr * ur - vi * ui; vi = vr * ui + vi * ur; vr = t;
        }
    }

    /* Lane l at local index l: z = exp(E(l)), w = exp(E(l + h) - E(l)), v = exp(second difference),
       u = exp(third difference), h = W; E(j) = a(j) + j 2 pi b(j), a and b cubics. Each of z, w, v is a
       polynomial of degree 3, 2, 1 in l: 10 complex exponentials per class and segment. */
    static void hil_dl_cubic_init(hil_dl_cubic *c, const double *a, const double *b) {
        const double h = HIL_DL_W;
        double r[HIL_DL_W], i[HIL_DL_W];
        hil_dl_cubic_row(a[0], b[0], a[1], b[1], a[2], b[2], a[3], b[3], r, i);
        for (int l = 0; l < HIL_DL_W; l++) { HIL_DL_LANE(c->zr, l) = r[l]; HIL_DL_LANE(c->zi, l) = i[l]; }
        /* E(l + h) - E(l) = (c1 h + c2 h^2 + c3 h^3) + (2 c2 h + 3 c3 h^2) l + (3 c3 h) l^2 */
        hil_dl_cubic_row(a[1] * h + a[2] * h * h + a[3] * h * h * h, b[1] * h + b[2] * h * h + b[3] * h * h * h,
                         2 * a[2] * h + 3 * a[3] * h * h, 2 * b[2] * h + 3 * b[3] * h * h,
                         3 * a[3] * h, 3 * b[3] * h, 0.0, 0.0, r, i);
        for (int l = 0; l < HIL_DL_W; l++) { HIL_DL_LANE(c->wr, l) = r[l]; HIL_DL_LANE(c->wi, l) = i[l]; }
        /* second difference: (2 c2 h^2 + 6 c3 h^3) + (6 c3 h^2) l */
        hil_dl_cubic_row(2 * a[2] * h * h + 6 * a[3] * h * h * h, 2 * b[2] * h * h + 6 * b[3] * h * h * h,
                         6 * a[3] * h * h, 6 * b[3] * h * h, 0.0, 0.0, 0.0, 0.0, r, i);
        for (int l = 0; l < HIL_DL_W; l++) { HIL_DL_LANE(c->vr, l) = r[l]; HIL_DL_LANE(c->vi, l) = i[l]; }
        hil_dl_cexp(6 * a[3] * h * h * h, 6 * b[3] * h * h * h, &c->ur, &c->ui);
    }

    /* Lane l at local index l: exp(da + j 2 pi (db0 + db1 l)); step exp(j 2 pi db1 W). */
    static void hil_dl_lin_init(hil_dl_lin *r, double da, double db0, double db1) {
        double zr, zi, wr, wi, t;
        hil_dl_cexp(da, db0, &zr, &zi);
        hil_dl_cexp(0.0, db1, &wr, &wi);
        for (int l = 0; l < HIL_DL_W; l++) {
            HIL_DL_LANE(r->rr, l) = zr; HIL_DL_LANE(r->ri, l) = zi;
            t = zr * wr - zi * wi; zi = zr * wi + zi * wr; zr = t;
        }
        double w = db1 * HIL_DL_W;
        hil_dl_cexp(0.0, w - floor(w), &r->sr, &r->si);
    }

    #ifdef HIL_DL_VEC
    /* One step (W samples further) of every lane; the lanes' current z as floats. */
    HIL_DL_AI void hil_dl_cubic_step(hil_dl_cubic *restrict c, float *zr8, float *zi8) {
        const double ur = c->ur, ui = c->ui;
        for (int k = 0; k < 2; k++) {
            hil_dl_v4d zr = c->zr.h[k], zi = c->zi.h[k], wr = c->wr.h[k], wi = c->wi.h[k];
            hil_dl_v4d vr = c->vr.h[k], vi = c->vi.h[k];
            if (zr8) {
                hil_dl_v4f fr = __builtin_convertvector(zr, hil_dl_v4f), fi = __builtin_convertvector(zi, hil_dl_v4f);
                memcpy(zr8 + 4 * k, &fr, 16); memcpy(zi8 + 4 * k, &fi, 16);
            }
            c->zr.h[k] = zr * wr - zi * wi;  /* z *= w */
            c->zi.h[k] = zr * wi + zi * wr;
            c->wr.h[k] = wr * vr - wi * vi;  /* w *= v */
            c->wi.h[k] = wr * vi + wi * vr;
            c->vr.h[k] = vr * ur - vi * ui;  /* v *= u */
            c->vi.h[k] = vr * ui + vi * ur;
        }
    }
    /* acc (+)= the lanes' current value, then one step. */
    HIL_DL_AI void hil_dl_lin_step(hil_dl_lin *restrict r, hil_dl_lv *ar, hil_dl_lv *ai) {
        const double sr = r->sr, si = r->si;
        for (int k = 0; k < 2; k++) {
            hil_dl_v4d a = r->rr.h[k], b = r->ri.h[k];
            if (ar) { ar->h[k] += a; ai->h[k] += b; }
            r->rr.h[k] = a * sr - b * si;
            r->ri.h[k] = a * si + b * sr;
        }
    }
    /* o[0..16) += (zr + j zi) * t[0..16): 8 complex samples, interleaved I/Q; weights as 8 + 8 floats. */
    HIL_DL_AI void hil_dl_cmac8(float *o, const float *zr8, const float *zi8, const float *t) {
        hil_dl_v8 zr, zi, t0, t1, o0, o1;
        const hil_dl_v8 sg = {-1.0f, 1.0f, -1.0f, 1.0f, -1.0f, 1.0f, -1.0f, 1.0f};
        memcpy(&zr, zr8, 32); memcpy(&zi, zi8, 32);
        memcpy(&t0, t, 32); memcpy(&t1, t + 8, 32);
        memcpy(&o0, o, 32); memcpy(&o1, o + 8, 32);
        hil_dl_v8 r0 = HIL_DL_SHUF(zr, zr, 0, 0, 1, 1, 2, 2, 3, 3), r1 = HIL_DL_SHUF(zr, zr, 4, 4, 5, 5, 6, 6, 7, 7);
        hil_dl_v8 i0 = HIL_DL_SHUF(zi, zi, 0, 0, 1, 1, 2, 2, 3, 3), i1 = HIL_DL_SHUF(zi, zi, 4, 4, 5, 5, 6, 6, 7, 7);
        hil_dl_v8 s0 = HIL_DL_SHUF(t0, t0, 1, 0, 3, 2, 5, 4, 7, 6) * sg;
        hil_dl_v8 s1 = HIL_DL_SHUF(t1, t1, 1, 0, 3, 2, 5, 4, 7, 6) * sg;
        o0 += r0 * t0 + i0 * s0;
        o1 += r1 * t1 + i1 * s1;
        memcpy(o, &o0, 32); memcpy(o + 8, &o1, 32);
    }
    #else
    HIL_DL_AI void hil_dl_cubic_step(hil_dl_cubic *c, float *zr8, float *zi8) {
        for (int l = 0; l < HIL_DL_W; l++) {
            double zr = c->zr.v[l], zi = c->zi.v[l], wr = c->wr.v[l], wi = c->wi.v[l], vr = c->vr.v[l], vi = c->vi.v[l];
            if (zr8) { zr8[l] = (float)zr; zi8[l] = (float)zi; }
            c->zr.v[l] = zr * wr - zi * wi;
            c->zi.v[l] = zr * wi + zi * wr;
            c->wr.v[l] = wr * vr - wi * vi;
            c->wi.v[l] = wr * vi + wi * vr;
            c->vr.v[l] = vr * c->ur - vi * c->ui;
            c->vi.v[l] = vr * c->ui + vi * c->ur;
        }
    }
    HIL_DL_AI void hil_dl_lin_step(hil_dl_lin *r, hil_dl_lv *ar, hil_dl_lv *ai) {
        for (int l = 0; l < HIL_DL_W; l++) {
            double a = r->rr.v[l], b = r->ri.v[l];
            if (ar) { ar->v[l] += a; ai->v[l] += b; }
            r->rr.v[l] = a * r->sr - b * r->si;
            r->ri.v[l] = a * r->si + b * r->sr;
        }
    }
    HIL_DL_AI void hil_dl_cmac8(float *o, const float *zr8, const float *zi8, const float *t) {
        for (int l = 0; l < 8; l++) {
            float tr = t[2 * l], ti = t[2 * l + 1];
            o[2 * l] += zr8[l] * tr + zi8[l] * -ti;
            o[2 * l + 1] += zr8[l] * ti + zi8[l] * tr;
        }
    }
    #endif

    /* ------------------------------------------------------------------ ring */
    HIL_DL_AI void hil_dl_write_ring(float *ring, int64_t size, int64_t L, const float *x, int64_t n_lo,
                                     int64_t n_hi) {
        int64_t mask = size - 1;
        int64_t n = n_lo;
        while (n < n_hi) {
            int64_t pos = n & mask;
            int64_t run = size - pos;
            if (run > n_hi - n) run = n_hi - n;
            memcpy(ring + 2 * pos, x + 2 * (n - n_lo), (size_t)run * 8);
            if (pos < L) {               /* mirror of the first L entries after the end */
                int64_t mr = L - pos < run ? L - pos : run;
                memcpy(ring + 2 * (size + pos), x + 2 * (n - n_lo), (size_t)mr * 8);
            }
            n += run;
        }
    }

    /* ------------------------------------------------------------------ the whole call */
    enum { HIL_DL_OK = 0, HIL_DL_TOO_SHORT = -1, HIL_DL_TOO_LONG = -2, HIL_DL_SHAPE = -3, HIL_DL_NOMEM = -4 };

    typedef struct {
        /* per path (index into the active list) */
        int *act, *grp, *cls;
        int *grp_path, *cls_path;   /* representative path of each group / class */
        int *unit_cg;               /* cg pair of each active path */
        int *cg_cls, *cg_grp, *cg_ident, *cg_n;   /* cg_ident: holds the class's own path */
        hil_dl_cubic *cub;          /* per class */
        hil_dl_lin *lin;            /* per active path (unused for a class's own reference) */
        float *acc;                 /* per group: 2 B floats */
        double *rs;                 /* per cg: 2 B doubles */
    } hil_dl_work;

    HIL_DL_AI int hil_dl_run_impl(const hil_dl_args *A, hil_dl_work *W, int64_t *where) {
        const int64_t m = A->m, n0 = A->n0, n_end = n0 + m, S = A->S, L = A->L, L2 = 2 * L;
        const int64_t size = A->size, mask = size - 1, half = L / 2;
        const int64_t npath = A->npath;
        const double P = (double)A->P;
        float *rf = A->ring;
        HIL_DL_ALIGN uint32_t st[HIL_DL_B];
        HIL_DL_ALIGN int32_t qv[HIL_DL_B];
        HIL_DL_ALIGN float ob[2 * HIL_DL_B];
        HIL_DL_ALIGN float tb[2 * HIL_DL_B];

        for (int64_t s = A->seg0; s * S < n_end; s++) {
            const int64_t r = s - A->seg0;
            const int64_t seg_start = s * S;
            const int64_t lo = seg_start > n0 ? seg_start : n0;
            const int64_t hi = seg_start + S < n_end ? seg_start + S : n_end;
            const double *dc = A->dcoef + r * 4 * npath;
            const double *pc = A->pcoef + r * 8 * npath;
            int64_t oldest;
            if (lo >= hi) continue;
            if (A->written_end < 0) {
                hil_dl_write_ring(rf, size, L, A->x + 2 * (lo - n0), lo, hi);
                oldest = hi - size;
            } else {
                oldest = A->written_end - size;
            }
            /* plan: active paths, groups (equal delay cubic), classes (equal a1..a3, b2, b3), cg pairs */
            int na = 0, ng = 0, nc = 0, ncg = 0;
            for (int64_t p = 0; p < npath; p++)
                if (pc[8 * p] != -INFINITY) W->act[na++] = (int)p;
            for (int i = 0; i < na; i++) {
                const int p = W->act[i];
                int g = 0;
                for (; g < ng; g++) {
                    const double *o = dc + 4 * W->grp_path[g];
                    if (o[0] == dc[4 * p] && o[1] == dc[4 * p + 1] && o[2] == dc[4 * p + 2] && o[3] == dc[4 * p + 3])
                        break;
                }
                if (g == ng) W->grp_path[ng++] = p;
                W->grp[i] = g;
                int c = 0;
                for (; c < nc; c++) {
                    const double *o = pc + 8 * W->cls_path[c];
                    const double *me = pc + 8 * p;
                    if (o[1] == me[1] && o[2] == me[2] && o[3] == me[3] && o[6] == me[6] && o[7] == me[7])
                        break;
                }
                if (c == nc) W->cls_path[nc++] = p;
                W->cls[i] = c;
                int k = 0;
                for (; k < ncg; k++)
                    if (W->cg_cls[k] == c && W->cg_grp[k] == g) break;
                if (k == ncg) {
                    W->cg_cls[ncg] = c; W->cg_grp[ncg] = g; W->cg_ident[ncg] = 0; W->cg_n[ncg] = 0; ncg++;
                }
                W->unit_cg[i] = k;
                W->cg_n[k]++;
                if (p == W->cls_path[c]) W->cg_ident[k] = 1;   /* holds the class's own path (weight 1) */
            }
            /* grid of W-sample groups anchored at the segment start; lanes start there */
            const int64_t jv0 = lo - seg_start, jv1 = hi - seg_start;
            const int64_t jb0 = jv0 / HIL_DL_W * HIL_DL_W;
            for (int c = 0; c < nc; c++) {
                const double *o = pc + 8 * W->cls_path[c];
                hil_dl_cubic_init(&W->cub[c], o, o + 4);
            }
            for (int i = 0; i < na; i++) {
                const int p = W->act[i], ref = W->cls_path[W->cls[i]];
                if (p != ref)
                    hil_dl_lin_init(&W->lin[i], pc[8 * p] - pc[8 * ref], pc[8 * p + 4] - pc[8 * ref + 4],
                                    pc[8 * p + 5] - pc[8 * ref + 5]);
            }
            for (int64_t j = 0; j < jb0; j += HIL_DL_W) {   /* a call that starts inside the segment */
                for (int c = 0; c < nc; c++) hil_dl_cubic_step(&W->cub[c], NULL, NULL);
                for (int i = 0; i < na; i++)
                    if (W->act[i] != W->cls_path[W->cls[i]]) hil_dl_lin_step(&W->lin[i], NULL, NULL);
            }
            const double lim = (double)(oldest - seg_start + half - 1);
            const uint32_t base = (uint32_t)((seg_start - half + 1) & mask);

            for (int64_t jb = jb0; jb < jv1; jb += HIL_DL_B) {
                /* valid entries [i_lo, i_hi) of this block; quads that touch them */
                const int i_lo = (int)(jb < jv0 ? jv0 - jb : 0);
                const int i_hi = (int)(jv1 - jb < HIL_DL_B ? jv1 - jb : HIL_DL_B);
                const int q_lo = i_lo & ~3, q_hi = (i_hi + 3) & ~3;
                if (A->amp != 0.0f) {
                    hil_dl_noise(ob, seg_start + jb, A->key, A->amp);
                } else {
                    memset(ob, 0, sizeof ob);
                }
                for (int g = 0; g < ng; g++) {
                    const double *e = dc + 4 * W->grp_path[g];
                    if (hil_dl_index(e, (double)jb, P, (double)half, lim, base, (uint32_t)mask, st, qv)) {
                        /* A limit broken somewhere in this block (maybe only outside [lo, hi)): report
                           the first valid sample of the first path, in path order, that breaks one -
                           what a path-by-path scan of the segment reports - if there is one. */
                        for (int g2 = 0; g2 < ng; g2++) {
                            const double *e2 = dc + 4 * W->grp_path[g2];
                            for (int64_t j = jv0; j < jv1; j++) {
                                int why = hil_dl_check_one(e2, j, (double)half, lim);
                                if (why) {
                                    *where = seg_start + j;
                                    return why == 1 ? HIL_DL_TOO_SHORT : HIL_DL_TOO_LONG;
                                }
                            }
                        }
                    }
                    hil_dl_dot(A->tab, L2, rf, st, qv, q_lo, q_hi, W->acc + (int64_t)g * 2 * HIL_DL_B);
                }
                for (int c = 0; c < nc; c++) {
                    /* t = sum over the class's cg pairs of (sum of the paths' remainders) x (pass output) */
                    const float *t = NULL;
                    int nt = 0;
                    for (int k = 0; k < ncg; k++) {
                        if (W->cg_cls[k] != c) continue;
                        const float *a = W->acc + (int64_t)W->cg_grp[k] * 2 * HIL_DL_B;
                        if (W->cg_ident[k] && W->cg_n[k] == 1) {   /* the class's own path alone */
                            if (nt == 0) {
                                t = a;
                            } else {
                                if (t != tb) memcpy(tb, t, sizeof tb);
                                for (int i = 0; i < 2 * HIL_DL_B; i++) tb[i] += a[i];
                                t = tb;
                            }
                            nt++;
                            continue;
                        }
                        hil_dl_lv *rr = (hil_dl_lv *)(W->rs + (int64_t)k * 2 * HIL_DL_B);
                        hil_dl_lv *ri = rr + HIL_DL_B / HIL_DL_W;
                        for (int kk = 0; kk < HIL_DL_B / HIL_DL_W; kk++)
                            for (int l = 0; l < HIL_DL_W; l++) {
                                HIL_DL_LANE(rr[kk], l) = W->cg_ident[k] ? 1.0 : 0.0;
                                HIL_DL_LANE(ri[kk], l) = 0.0;
                            }
                        for (int u = 0; u < na; u++) {
                            if (W->unit_cg[u] != k || W->act[u] == W->cls_path[c]) continue;
                            for (int kk = 0; kk < HIL_DL_B / HIL_DL_W; kk++)
                                hil_dl_lin_step(&W->lin[u], &rr[kk], &ri[kk]);
                        }
                        if (nt == 0) memset(tb, 0, sizeof tb);
                        else if (t != tb) memcpy(tb, t, sizeof tb);
                        for (int kk = 0; kk < HIL_DL_B / HIL_DL_W; kk++) {
                            float fr[HIL_DL_W], fi[HIL_DL_W];
                            for (int l = 0; l < HIL_DL_W; l++) {
                                fr[l] = (float)HIL_DL_LANE(rr[kk], l);
                                fi[l] = (float)HIL_DL_LANE(ri[kk], l);
                            }
                            hil_dl_cmac8(tb + 2 * HIL_DL_W * kk, fr, fi, a + 2 * HIL_DL_W * kk);
                        }
                        t = tb;
                        nt++;
                    }
                    hil_dl_cubic *cu = &W->cub[c];
                    for (int kk = 0; kk < HIL_DL_B / HIL_DL_W; kk++) {
                        HIL_DL_ALIGN float zr8[HIL_DL_W], zi8[HIL_DL_W];
                        hil_dl_cubic_step(cu, zr8, zi8);
                        if (t) hil_dl_cmac8(ob + 2 * HIL_DL_W * kk, zr8, zi8, t + 2 * HIL_DL_W * kk);
                    }
                }
                memcpy(A->out + 2 * (seg_start + jb + i_lo - n0), ob + 2 * i_lo, (size_t)(i_hi - i_lo) * 8);
            }
        }
        return HIL_DL_OK;
    }

    /* The same code compiled for the baseline target and, on x86-64, for AVX2 + FMA. */
    static int hil_dl_run_base(const hil_dl_args *A, hil_dl_work *W, int64_t *where) {
        return hil_dl_run_impl(A, W, where);
    }
    #ifdef HIL_DL_X86
    __attribute__((target("avx2,fma")))
    static int hil_dl_run_avx2(const hil_dl_args *A, hil_dl_work *W, int64_t *where) {
        return hil_dl_run_impl(A, W, where);
    }
    __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")))
    static int hil_dl_run_avx512(const hil_dl_args *A, hil_dl_work *W, int64_t *where) {
        return hil_dl_run_impl(A, W, where);
    }
    #endif

    typedef int (*hil_dl_fn)(const hil_dl_args *, hil_dl_work *, int64_t *);
    static hil_dl_fn hil_dl_impl = hil_dl_run_base;
    static const char *hil_dl_isa_name = "baseline";

    /* 0: baseline, 1: avx2, 2: avx512 (if the CPU has it), -1: the best the CPU has. Returns 0, or -1 if
       refused. */
    static int hil_dl_set_isa(int which) {
    #ifdef HIL_DL_X86
        __builtin_cpu_init();
        int have2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        int have512 = have2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")
                      && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
        if ((which == -1 || which == 2) && have512) {
            hil_dl_impl = hil_dl_run_avx512; hil_dl_isa_name = "avx512"; return 0;
        }
        if (which == 2) return -1;
        if ((which == -1 || which == 1) && have2) { hil_dl_impl = hil_dl_run_avx2; hil_dl_isa_name = "avx2"; return 0; }
        if (which == 1) return -1;
    #else
        if (which > 0) return -1;
    #endif
        hil_dl_impl = hil_dl_run_base; hil_dl_isa_name = "baseline";
        return 0;
    }
    static const char *hil_dl_isa(void) { return hil_dl_isa_name; }


    static int hil_dl_run(const hil_dl_args *A, int64_t *where) {
        int64_t np = A->npath > 0 ? A->npath : 1;
        hil_dl_work W;
        size_t ints = (size_t)np * 11;
        char *mem = (char *)malloc(ints * sizeof(int) + (size_t)np * (sizeof(hil_dl_cubic) + sizeof(hil_dl_lin))
                                   + (size_t)np * 2 * HIL_DL_B * (sizeof(float) + sizeof(double)) + 128);
        if (!mem) return HIL_DL_NOMEM;
        char *p = mem;
        double *dbl = (double *)(((uintptr_t)p + 63) & ~(uintptr_t)63);
        W.cub = (hil_dl_cubic *)dbl;
        W.lin = (hil_dl_lin *)(W.cub + np);
        W.rs = (double *)(W.lin + np);
        W.acc = (float *)(W.rs + np * 2 * HIL_DL_B);
        int *iv = (int *)(W.acc + np * 2 * HIL_DL_B);
        W.act = iv; W.grp = iv + np; W.cls = iv + 2 * np; W.grp_path = iv + 3 * np; W.cls_path = iv + 4 * np;
        W.unit_cg = iv + 5 * np; W.cg_cls = iv + 6 * np; W.cg_grp = iv + 7 * np; W.cg_ident = iv + 8 * np;
        W.cg_n = iv + 9 * np;
        int status = hil_dl_impl(A, &W, where);
        free(mem);
        return status;
    }

    /* ------------------------------------------------------------------ thread pool */
    /* One call's ranges computed at once without the GIL: the calling thread and the pool's workers
       take ranges by an atomic counter; a worker spins briefly for the next call before it sleeps (a
       futex wake-up costs tens of microseconds each way), the caller spins briefly for the last
       range before it sleeps. Without POSIX threads (or GCC atomics) the pool has no workers and the
       caller computes every range. */
    #if (defined(__unix__) || defined(__APPLE__)) && (defined(__GNUC__) || defined(__clang__))
    #define HIL_DL_THREADS 1
    #include <pthread.h>
    #include <time.h>
    #endif
    #if defined(HIL_DL_THREADS) && defined(__linux__) && defined(_GNU_SOURCE)
    #include <sched.h>
    #define HIL_DL_NUDGE 1
    #endif
    #define HIL_DL_SPIN_NS 100000   /* spin this long before sleeping (workers and caller): longer than
                                      the Python between two calls of a stream (40-90 us at 64 Ki) */

    typedef struct {
        const hil_dl_args *jobs;
        int *status;
        int64_t *where;
        int njobs;
        int done;                /* jobs finished (atomic) */
        uint64_t ticket;         /* call number << 32 | njobs << 16 | next job (atomic): a new call
                                    number wakes the workers; a job is taken by one compare-exchange,
                                    so a worker late from an earlier call cannot take a job of this one */
        int stop;
        int nworkers, sleepers, caller_sleeps;
        int caller_cpu;          /* CPU the caller ran on at the start of the call (-1: unknown) */
    #ifdef HIL_DL_THREADS
        pthread_mutex_t mu;
        pthread_cond_t work, fin;
        pthread_t th[64];
    #endif
    } hil_dl_pool;

    #ifdef HIL_DL_THREADS
    static inline void hil_dl_relax(void) {
    #if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
    #elif defined(__aarch64__)
        __asm__ __volatile__("yield");
    #endif
    }
    static inline int64_t hil_dl_now_ns(void) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
    }
    #endif

    /* Take and compute jobs until none is left. */
    static void hil_dl_pool_take(hil_dl_pool *P) {
        for (;;) {
            uint64_t v = __atomic_load_n(&P->ticket, __ATOMIC_ACQUIRE);
            int i = (int)(v & 0xFFFF);
            if (i >= (int)((v >> 16) & 0xFFFF)) return;
            if (!__atomic_compare_exchange_n(&P->ticket, &v, v + 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                continue;
            P->where[i] = -1;
            P->status[i] = hil_dl_run(&P->jobs[i], &P->where[i]);
    #ifdef HIL_DL_THREADS
            if (__atomic_add_fetch(&P->done, 1, __ATOMIC_ACQ_REL) == P->njobs) {
                pthread_mutex_lock(&P->mu);
                if (P->caller_sleeps) pthread_cond_signal(&P->fin);
                pthread_mutex_unlock(&P->mu);
            }
    #else
            P->done++;
    #endif
        }
    }

    #ifdef HIL_DL_THREADS
    /* A worker woken on the caller's CPU (Linux places a woken thread next to its waker) would share
       that CPU with the caller while another idles: the scheduler does not move threads that ran
       within the last ~0.5 ms, which both always have. The worker then moves itself off the caller's
       CPU (its allowed set without that CPU, then back to the whole set: the move stays). */
    static void hil_dl_nudge(hil_dl_pool *P) {
    #ifdef HIL_DL_NUDGE
        int cc = __atomic_load_n(&P->caller_cpu, __ATOMIC_RELAXED);
        if (cc < 0 || sched_getcpu() != cc) return;
        cpu_set_t all, other;
        if (pthread_getaffinity_np(pthread_self(), sizeof all, &all) != 0) return;
        other = all;
        CPU_CLR(cc, &other);
        if (CPU_COUNT(&other) == 0) return;
        if (pthread_setaffinity_np(pthread_self(), sizeof other, &other) == 0)
            pthread_setaffinity_np(pthread_self(), sizeof all, &all);
    #else
        (void)P;
    #endif
    }

    static void *hil_dl_worker(void *arg) {
        hil_dl_pool *P = (hil_dl_pool *)arg;
        uint64_t seen = 0;
        for (;;) {
            uint64_t g = __atomic_load_n(&P->ticket, __ATOMIC_ACQUIRE) >> 32;
            if (g == seen) {
                int64_t t0 = hil_dl_now_ns();
                int k = 0;
                while ((g = __atomic_load_n(&P->ticket, __ATOMIC_ACQUIRE) >> 32) == seen
                       && !__atomic_load_n(&P->stop, __ATOMIC_ACQUIRE)) {
                    hil_dl_relax();
                    if (++k % 64 == 0 && hil_dl_now_ns() - t0 > HIL_DL_SPIN_NS) break;
                }
            }
            if (g == seen) {
                pthread_mutex_lock(&P->mu);
                P->sleepers++;
                while ((g = __atomic_load_n(&P->ticket, __ATOMIC_ACQUIRE) >> 32) == seen && !P->stop)
                    pthread_cond_wait(&P->work, &P->mu);
                P->sleepers--;
                pthread_mutex_unlock(&P->mu);
            }
            if (__atomic_load_n(&P->stop, __ATOMIC_ACQUIRE)) return NULL;
            seen = g;
            hil_dl_nudge(P);
            hil_dl_pool_take(P);
        }
    }
    #endif

    /* A pool of up to nworkers threads (fewer if they cannot be started; none without POSIX threads). */
    static hil_dl_pool *hil_dl_pool_new(int nworkers) {
        hil_dl_pool *P = (hil_dl_pool *)calloc(1, sizeof(hil_dl_pool));
        if (!P) return NULL;
    #ifdef HIL_DL_THREADS
        pthread_mutex_init(&P->mu, NULL);
        pthread_cond_init(&P->work, NULL);
        pthread_cond_init(&P->fin, NULL);
        if (nworkers > 64) nworkers = 64;
        for (int i = 0; i < nworkers; i++) {
            if (pthread_create(&P->th[i], NULL, hil_dl_worker, P) != 0) break;
            P->nworkers++;
        }
    #endif
        return P;
    }

    static void hil_dl_pool_free(hil_dl_pool *P) {
        if (!P) return;
    #ifdef HIL_DL_THREADS
        pthread_mutex_lock(&P->mu);
        __atomic_store_n(&P->stop, 1, __ATOMIC_RELEASE);
        pthread_cond_broadcast(&P->work);
        pthread_mutex_unlock(&P->mu);
        for (int i = 0; i < P->nworkers; i++) pthread_join(P->th[i], NULL);
        pthread_mutex_destroy(&P->mu);
        pthread_cond_destroy(&P->work);
        pthread_cond_destroy(&P->fin);
    #endif
        free(P);
    }

    /* Post njobs (< 65536) ranges (status[i], where[i] per range) to the workers and return at once;
       hil_dl_pool_wait then has the caller take what is left and wait for the rest. One call at a time
       per pool; the arrays stay untouched by the caller until the wait returns. */
    static void hil_dl_pool_post(hil_dl_pool *P, const hil_dl_args *jobs, int njobs, int *status, int64_t *where) {
        P->caller_cpu = -1;
        P->jobs = jobs; P->status = status; P->where = where; P->njobs = njobs;
        P->done = 0;
    #ifdef HIL_DL_NUDGE
        __atomic_store_n(&P->caller_cpu, sched_getcpu(), __ATOMIC_RELAXED);
    #endif
        uint64_t call = (__atomic_load_n(&P->ticket, __ATOMIC_ACQUIRE) >> 32) + 1;
        __atomic_store_n(&P->ticket, (call << 32) | ((uint64_t)njobs << 16), __ATOMIC_RELEASE);
    #ifdef HIL_DL_THREADS
        if (P->nworkers > 0 && njobs > 1) {
            pthread_mutex_lock(&P->mu);
            if (P->sleepers) pthread_cond_broadcast(&P->work);
            pthread_mutex_unlock(&P->mu);
        }
    #endif
    }

    static void hil_dl_pool_wait(hil_dl_pool *P) {
        int njobs = P->njobs;
        hil_dl_pool_take(P);
    #ifdef HIL_DL_THREADS
        if (__atomic_load_n(&P->done, __ATOMIC_ACQUIRE) < njobs) {
            int64_t t0 = hil_dl_now_ns();
            int k = 0;
            while (__atomic_load_n(&P->done, __ATOMIC_ACQUIRE) < njobs) {
                hil_dl_relax();
                if (++k % 64 == 0 && hil_dl_now_ns() - t0 > HIL_DL_SPIN_NS) break;
            }
            pthread_mutex_lock(&P->mu);
            P->caller_sleeps = 1;
            while (__atomic_load_n(&P->done, __ATOMIC_ACQUIRE) < njobs) pthread_cond_wait(&P->fin, &P->mu);
            P->caller_sleeps = 0;
            pthread_mutex_unlock(&P->mu);
        }
    #endif
    }

    static int hil_dl_write(const float *x, float *ring, int64_t n0, int64_t m, int64_t size, int64_t L) {
        hil_dl_write_ring(ring, size, L, x, n0, n0 + m);
        return 0;
    }
    """
    ctypedef struct hil_dl_args:
        const float *x
        float *out
        float *ring
        int64_t n0, m
        const double *dcoef
        const double *pcoef
        int64_t nrow, npath
        int64_t seg0, S
        const float *tab
        int64_t P, L, size
        uint64_t key
        float amp
        int64_t written_end
    int hil_dl_run(const hil_dl_args *A, int64_t *where) noexcept nogil
    int hil_dl_write(const float *x, float *ring, int64_t n0, int64_t m, int64_t size, int64_t L) noexcept nogil
    int hil_dl_set_isa(int which) noexcept nogil
    ctypedef struct hil_dl_pool:
        int nworkers
    hil_dl_pool *hil_dl_pool_new(int nworkers) noexcept nogil
    void hil_dl_pool_free(hil_dl_pool *P) noexcept nogil
    void hil_dl_pool_post(hil_dl_pool *P, const hil_dl_args *jobs, int njobs, int *status, int64_t *where) noexcept nogil
    void hil_dl_pool_wait(hil_dl_pool *P) noexcept nogil
    const char *hil_dl_isa() noexcept nogil


def _init_isa():
    import os
    want = os.environ.get("HIL_DELAYLINE_ISA", "").strip().lower()
    which = {"baseline": 0, "avx2": 1, "avx512": 2}.get(want, -1)
    if hil_dl_set_isa(which) != 0:
        hil_dl_set_isa(-1)


_init_isa()


def isa():
    """Name of the compiled code path in use: ``"avx512"``, ``"avx2"`` (x86-64 with AVX-512 / AVX2 + FMA)
    or ``"baseline"`` (any CPU the compiler targets: SSE2, NEON, ...)."""
    return hil_dl_isa().decode()


def available_isas():
    """The code paths this CPU can run, slowest first."""
    cur = isa()
    out = ["baseline"]
    for name, which in (("avx2", 1), ("avx512", 2)):
        if hil_dl_set_isa(which) == 0:
            out.append(name)
    set_isa(cur)
    return out


def set_isa(name):
    """Choose the code path: ``"best"``, ``"avx512"``, ``"avx2"`` or ``"baseline"``. Returns the name now in
    use; ValueError if ``name`` is unknown or the CPU cannot run it (the code path is then unchanged)."""
    which = {"best": -1, "avx512": 2, "avx2": 1, "baseline": 0}.get(str(name).lower())
    if which is None or hil_dl_set_isa(which) != 0:
        allowed = ", ".join(["best", *available_isas()])
        raise ValueError(f"isa: {name!r} is not available here (allowed: {allowed})")
    return isa()


@cython.boundscheck(False)
@cython.wraparound(False)
cdef int _fill(hil_dl_args *a, const float complex[::1] x, float complex[::1] out, float complex[::1] ring,
               long long n0, const double[:, ::1] dcoef, const double[:, ::1] pcoef, long long seg0,
               long long seg_len, const float[:, ::1] tab, uint64_t noise_key, double noise_amp,
               long long written_end):
    """Check the shapes of one call and fill ``a``: 0, or -3 if they are inconsistent (``a`` then unused)."""
    cdef Py_ssize_t m = x.shape[0]
    cdef Py_ssize_t L = tab.shape[1] // 2
    cdef Py_ssize_t P = tab.shape[0] - 1
    cdef Py_ssize_t npath = dcoef.shape[1] // 4
    cdef long long size = ring.shape[0] - L
    if seg_len <= 0 or n0 < 0 or m == 0:
        return -3
    if out.shape[0] != m or pcoef.shape[1] != 8 * npath or pcoef.shape[0] != dcoef.shape[0] \
            or dcoef.shape[1] != 4 * npath or tab.shape[1] % 8 or P < 1 or size <= 0 or (size & (size - 1)) != 0 \
            or size > (1LL << 31):
        return -3
    if dcoef.shape[0] < (n0 + m - 1) // seg_len - seg0 + 1 or seg0 > n0 // seg_len:
        return -3
    a.x = <const float *> &x[0]
    a.out = <float *> &out[0]
    a.ring = <float *> &ring[0]
    a.n0 = n0
    a.m = m
    a.dcoef = &dcoef[0, 0] if npath > 0 else NULL
    a.pcoef = &pcoef[0, 0] if npath > 0 else NULL
    a.nrow = dcoef.shape[0]
    a.npath = npath
    a.seg0 = seg0
    a.S = seg_len
    a.tab = &tab[0, 0]
    a.P = P
    a.L = L
    a.size = size
    a.key = noise_key
    a.amp = <float> noise_amp
    a.written_end = written_end
    return 0


def run(const float complex[::1] x, float complex[::1] out, float complex[::1] ring, long long n0,
        const double[:, ::1] dcoef, const double[:, ::1] pcoef, long long seg0, long long seg_len,
        const float[:, ::1] tab, uint64_t noise_key, double noise_amp,
        long long written_end=-1):
    """Run the delay line over one chunk; see the file header for the model.

    Returns ``(status, where)``: status 0 ok, -1 delay shorter than L/2 samples at absolute sample
    ``where``, -2 delay longer than the ring holds at ``where``, -3 inconsistent shapes.
    ``ring`` is updated in place (it is the block's state); ``out`` is overwritten.
    ``noise_key`` (uint64) selects the noise stream, ``noise_amp`` its rms amplitude (0: no noise).
    ``written_end >= 0``: the input was already written to the ring (by :func:`write`) up to that
    absolute index; ``run`` then only reads the ring, so several calls on disjoint ranges of one
    chunk may run in parallel threads (the GIL is released).
    """
    cdef hil_dl_args a
    cdef int64_t where = -1
    cdef int status
    if x.shape[0] == 0 and seg_len > 0 and n0 >= 0:
        return 0, -1
    if _fill(&a, x, out, ring, n0, dcoef, pcoef, seg0, seg_len, tab, noise_key, noise_amp, written_end) != 0:
        return -3, -1
    with nogil:
        status = hil_dl_run(&a, &where)
    if status == -4:
        raise MemoryError("delay line kernel: scratch allocation failed")
    return status, where


cdef class Pool:
    """Worker threads that compute the ranges of one chunk with the calling thread (C threads, no GIL).

    ``Pool(workers)``: ``workers`` threads (fewer if the platform has no POSIX threads: ``.workers``
    says how many run). A worker spins ~100 us for the next call before it sleeps. :meth:`run` takes
    ranges of one chunk; :meth:`start` posts them and returns at once (the workers compute while the
    caller does other work), :meth:`finish` then computes what is left with the calling thread and
    waits; :meth:`close` stops the threads.
    """
    cdef hil_dl_pool *p
    cdef readonly int workers
    cdef hil_dl_args *jobs
    cdef int *status
    cdef int64_t *where
    cdef int njobs
    cdef object held        # the arrays of the posted call, kept alive until finish()

    def __cinit__(self, int workers):
        self.p = hil_dl_pool_new(max(0, workers))
        if self.p is NULL:
            raise MemoryError("delay line pool: allocation failed")
        self.workers = self.p.nworkers
        self.njobs = -1

    def __dealloc__(self):
        self.close()

    @property
    def pending(self):
        """True between :meth:`start` and :meth:`finish`."""
        return self.njobs >= 0

    def close(self):
        """Stop the worker threads (after a pending call, which is finished first; later calls of
        :meth:`run` or :meth:`start` raise ValueError)."""
        cdef hil_dl_pool *p = self.p
        if p is not NULL and self.njobs >= 0:
            self.finish()
        self.p = NULL
        if p is not NULL:
            with nogil:
                hil_dl_pool_free(p)

    def run(self, x, out, ring, long long n0, dcoef, pcoef, long long seg0, long long seg_len, tab,
            uint64_t noise_key, double noise_amp, long long written_end, cuts):
        """:func:`run` over one chunk cut at the absolute sample indices ``cuts`` (increasing, inside
        the chunk): the ranges run at once on the workers and the calling thread. ``written_end`` as in
        :func:`run` (each range computed as if called alone). Returns ``(status, where)`` of the first
        range, in sample order, that failed, or ``(0, -1)``."""
        r = self.start(x, out, ring, n0, dcoef, pcoef, seg0, seg_len, tab, noise_key, noise_amp, written_end, cuts)
        return r if r is not None else self.finish()

    @cython.boundscheck(False)
    @cython.wraparound(False)
    def start(self, const float complex[::1] x, float complex[::1] out, float complex[::1] ring, long long n0,
              const double[:, ::1] dcoef, const double[:, ::1] pcoef, long long seg0, long long seg_len,
              const float[:, ::1] tab, uint64_t noise_key, double noise_amp, long long written_end, cuts):
        """Post :meth:`run`'s ranges to the workers and return None at once, or ``(status, where)``
        without posting anything if the call is inconsistent (-3) or empty. The arrays must not be
        touched until :meth:`finish` returns (the pool keeps references to them)."""
        cdef hil_dl_args whole
        cdef Py_ssize_t m = x.shape[0]
        cdef int k, nj
        cdef long long a, b
        if self.p is NULL:
            raise ValueError("delay line pool: closed")
        if self.njobs >= 0:
            raise ValueError("delay line pool: a call is pending (finish() it first)")
        if m == 0 and seg_len > 0 and n0 >= 0:
            return 0, -1
        if _fill(&whole, x, out, ring, n0, dcoef, pcoef, seg0, seg_len, tab, noise_key, noise_amp,
                 written_end) != 0:
            return -3, -1
        nj = len(cuts) + 1
        if nj > 65535:
            return -3, -1
        self.jobs = <hil_dl_args *> PyMem_Malloc(nj * sizeof(hil_dl_args))
        self.status = <int *> PyMem_Malloc(nj * sizeof(int))
        self.where = <int64_t *> PyMem_Malloc(nj * sizeof(int64_t))
        if self.jobs is NULL or self.status is NULL or self.where is NULL:
            self._free()
            raise MemoryError("delay line pool: allocation failed")
        b = n0
        for k in range(nj):
            a = b
            b = <long long> cuts[k] if k < nj - 1 else n0 + m
            if b <= a:
                self._free()
                return -3, -1
            self.jobs[k] = whole
            self.jobs[k].x = whole.x + 2 * (a - n0)
            self.jobs[k].out = whole.out + 2 * (a - n0)
            self.jobs[k].n0 = a
            self.jobs[k].m = b - a
            self.jobs[k].seg0 = a // seg_len
            if whole.npath > 0:
                self.jobs[k].dcoef = whole.dcoef + (a // seg_len - seg0) * 4 * whole.npath
                self.jobs[k].pcoef = whole.pcoef + (a // seg_len - seg0) * 8 * whole.npath
            self.jobs[k].nrow = (b - 1) // seg_len - a // seg_len + 1
        self.held = (x, out, ring, dcoef, pcoef, tab)
        self.njobs = nj
        with nogil:
            hil_dl_pool_post(self.p, self.jobs, nj, self.status, self.where)
        return None

    def finish(self):
        """Compute what is left of the posted call with the calling thread, wait for the workers and
        return ``(status, where)`` as :meth:`run` does."""
        cdef int k
        if self.njobs < 0:
            raise ValueError("delay line pool: no call is pending")
        with nogil:
            hil_dl_pool_wait(self.p)
        try:
            for k in range(self.njobs):
                if self.status[k] == -4:
                    raise MemoryError("delay line kernel: scratch allocation failed")
                if self.status[k] != 0:
                    return self.status[k], self.where[k]
            return 0, -1
        finally:
            self._free()

    cdef void _free(self):
        PyMem_Free(self.jobs)
        PyMem_Free(self.status)
        PyMem_Free(self.where)
        self.jobs = NULL
        self.status = NULL
        self.where = NULL
        self.njobs = -1
        self.held = None


@cython.boundscheck(False)
@cython.wraparound(False)
def write(const float complex[::1] x, float complex[::1] ring, long long n0, Py_ssize_t taps):
    """Write input samples ``n0 .. n0 + len(x) - 1`` into the ring (and its mirror of ``taps`` entries).

    Returns 0, or -3 if ``len(x)`` exceeds the ring (the oldest samples would be overwritten at once).
    """
    cdef long long size = ring.shape[0] - taps
    cdef Py_ssize_t m = x.shape[0]
    if size <= 0 or (size & (size - 1)) != 0 or m > size or n0 < 0 or taps < 0:
        return -3
    if m == 0:
        return 0
    with nogil:
        hil_dl_write(<const float *> &x[0], <float *> &ring[0], n0, m, size, taps)
    return 0
