"""NumPy twin of ``_ddet.pyx``: detection on a delay-Doppler channel stored as shifted diagonals.

Same functions, signatures and results as the compiled kernel - bit for bit: both evaluate the same
float32 (and, for the coefficient expansion, float64) operations in the same order, each rounded on its
own (the kernel is compiled without FMA contraction), with the same float32 polynomial ``exp``.

Channel layout ("DD graph in flat arrays"). The grid has ``R x C`` cells, cell ``(r, k)`` at flat index
``r * C + k`` (OTFS: ``M x N`` delay-Doppler grid; AFDM: ``1 x N`` DAFT indices). Diagonal ``t`` (a path,
or one Doppler bin of a fractional path, with integer shifts) has shift ``(sr_t, sc_t)``: observation
``(r, k)`` sees variable ``((r - sr_t) mod R, (k - sc_t) mod C)`` with coefficient ``c_t[r, k]``::

    y[r, k] = sum_t c_t[r, k] x[(r - sr_t) mod R, (k - sc_t) mod C] + w[r, k]

Diagonals with the same shift are merged (coefficients added) - one factor-graph edge per nonzero of H,
as :class:`dsp.detection.graph.FactorGraph` merges duplicates. Coefficients come compact, per diagonal
(see :func:`dd_expand`), and are expanded to float32 ``(G, R*C)`` arrays once per channel.

Cells that are not data (``act == 0``: pilot and guards, whose contribution the caller has already
subtracted from ``y``) are variables with a message of zero mean and zero variance: they add nothing.

Statuses: 0 ok, 1 shapes, 2 parameter, 3 memory.
"""

import numpy as np

OK = 0
ERR_SHAPE = 1
ERR_PARAM = 2

_F = np.float32
# float32 constants of the kernel's exp (hex literals there, exact float32 values here)
_SHIFTER = _F(float.fromhex("0x1.8p+23"))
_LOG2E = _F(float.fromhex("0x1.715476p+0"))
_LN2_HI = _F(float.fromhex("0x1.62e4p-1"))
_LN2_LO = _F(float.fromhex("0x1.7f7d1cp-20"))
_POLY = tuple(_F(float.fromhex(h)) for h in ("0x1.a01a02p-13", "0x1.6c16c2p-10", "0x1.111112p-7", "0x1.555556p-5",
                                             "0x1.555556p-3", "0x1p-1", "0x1p+0", "0x1p+0"))
_M87 = _F(-87.0)
_ONE = _F(1.0)
_TWO = _F(2.0)
_ZERO = _F(0.0)


def _exp_neg(x):
    """exp(x) for float32 x <= 0, exactly as the kernel's ``hil_dd_exp_neg``."""
    x = np.asarray(x, _F)
    xc = np.where(x < _M87, _M87, x)
    kd = xc * _LOG2E + _SHIFTER
    k = kd - _SHIFTER
    r = (xc - k * _LN2_HI) - k * _LN2_LO
    p = np.full(x.shape, _POLY[0], _F)
    for c in _POLY[1:]:
        p = p * r + c
    bits = ((kd.view(np.int32) - np.int32(0x4B400000) + np.int32(127)) << np.int32(23)).astype(np.int32)
    scale = bits.view(_F)
    return np.where(x < _M87, _ZERO, p * scale).astype(_F)


def _exp_neg_abs(d):
    d = np.asarray(d, _F)
    return _exp_neg(np.where(d < _ZERO, d, -d))


def exp_neg_abs(d, out):
    """``exp(-|d|)`` in float32 as the kernels evaluate it (exposed for the accuracy test)."""
    if out.shape[0] != d.shape[0]:
        return ERR_SHAPE
    out[:] = _exp_neg_abs(d)
    return OK


NOT_INTEGER = 4


def _paths_ok(a, max_delay):
    """The kernel's check: finite, real bins, integer delays in 0..max_delay (else the general path)."""
    v = a.view(np.float64).reshape(-1, 6)
    if not np.all(np.isfinite(v)) or np.any(np.abs(v[:, 3]) > 1e-9) or np.any(np.abs(v[:, 5]) > 1e-9):
        return False
    d = v[:, 2]
    li = np.rint(d)
    return bool(np.all(d >= 0) and np.all(np.abs(d - li) < 1e-9) and np.all(li <= max_delay)
                and np.all(np.abs(v[:, 4]) < 1e15))


def _merge(sr, sc, C, gsr, gsc, grp):
    key = sr * C + sc
    uk, inv = np.unique(key, return_inverse=True)
    G = uk.size
    gsr[:G] = uk // C
    gsc[:G] = uk % C
    grp[:] = inv.ravel()
    return G


def dd_build(kind, R, C, cp, frame, c1, paths, rot, sr, sc, gsr, gsc, grp, A, tw0, tw1, w):
    """Diagonals of integer paths ``paths`` ((P, 3) complex: gain, delay bin, Doppler bin), one per path.

    ``kind`` 0, OTFS (``R x C = M x N``): shift ``(l, k mod N)``, row factor
    ``A[t, r] = g rot[(k (r + cp)) mod period]`` with ``rot = exp(j 2 pi i / period)`` (the caller's table;
    period ``M N`` for one CP per frame, ``N (M + cp)`` per block), column tables 0 (ones) and, in the
    first ``l`` rows of a one-CP ``frame``, 1 (the wrap phase). ``kind`` 1, AFDM (``1 x N``): shift
    ``(0, (alpha - 2 N c1 l) mod N)``, ``A[t, 0] = (g e^{j 2 pi (alpha / N) cp}) e^{j 2 pi c1 l^2}``, column
    table ``l`` (``tw0 = tw1 = l``). Complex products are written out in float64 as the kernel does them.
    Shifts are merged in ascending ``sr * C + sc`` order into ``gsr/gsc[:G]``, ``grp`` the group of each
    path. Returns ``(status, G)``; status 4 when a bin is not an integer (the caller's general path)."""
    P = paths.shape[0]
    if (paths.ndim != 2 or paths.shape[1] != 3 or R < 1 or C < 1 or cp < 0 or kind not in (0, 1)
            or A.shape != (P, R if kind == 0 else 1) or (kind == 0 and rot.shape[0] < 1)
            or any(x.shape[0] != P for x in (sr, sc, gsr, gsc, grp, tw0, tw1, w))):
        return ERR_SHAPE, 0
    if P == 0:
        return OK, 0
    lim = R - 1 if kind == 0 else C - 1
    if not _paths_ok(paths, min(cp, lim)):
        return NOT_INTEGER, 0
    g = paths[:, 0]
    li = np.rint(paths[:, 1].real)
    k = paths[:, 2].real
    if kind == 0:
        kr = np.rint(k)
        if not np.all(np.abs(k - kr) < 1e-12):
            return NOT_INTEGER, 0
        kk = kr.astype(np.int64)
        sr[:] = li.astype(np.int64)
        sc[:] = np.mod(kk, C)
        j = np.mod(kk[:, None] * (np.arange(R, dtype=np.int64) + cp)[None, :], rot.shape[0])
        x = rot[j]
        gr, gi = g.real[:, None], g.imag[:, None]
        A.real[:] = gr * x.real - gi * x.imag
        A.imag[:] = gr * x.imag + gi * x.real
        tw0[:] = 0
        tw1[:] = 1 if frame else 0
        w[:] = sr if frame else 0
    else:
        centre = k - (float(2 * C) * c1) * li
        if not (np.all(np.abs(centre - np.rint(centre)) < 1e-12) and np.all(np.abs(centre) < 1e15)):
            return NOT_INTEGER, 0
        tp = 2.0 * 3.141592653589793
        lv = li.astype(np.int64)
        z1 = np.zeros(P, np.complex128)
        z1.imag = (tp * (k / float(C))) * float(cp)
        z2 = np.zeros(P, np.complex128)
        z2.imag = (tp * c1) * (lv * lv).astype(np.float64)
        e1, e2 = np.exp(z1), np.exp(z2)
        ar = g.real * e1.real - g.imag * e1.imag
        ai = g.real * e1.imag + g.imag * e1.real
        A[:, 0].real = ar * e2.real - ai * e2.imag
        A[:, 0].imag = ar * e2.imag + ai * e2.real
        sr[:] = 0
        sc[:] = np.mod(np.rint(centre).astype(np.int64), C)
        tw0[:] = lv
        tw1[:] = lv
        w[:] = 0
    return OK, _merge(sr, sc, C, gsr, gsc, grp)


def dd_expand(R, C, grp, sc, A, tab, tw0, tw1, w, post, cre, cim, transpose=False):
    """Expand compact diagonals into float32 coefficients ``cre + j cim`` of shape (G, R*C).

    Diagonal ``t`` (of ``D``) belongs to merged group ``grp[t]`` (its shift, the caller's ``gsr/gsc[grp]``,
    equals ``(sr_t, sc[t])``); its coefficient at observation ``(r, k)`` is
    ``A[t, r] * tab[sel, (k - sc[t]) mod C] * post[k]`` with ``sel = tw1[t] if r < w[t] else tw0[t]``
    (OTFS: a row phase times the wrap phase of the one-CP frame in the first ``l_t`` rows; AFDM: a gain
    times a shifted chirp table), ``post`` empty for none. Sums in float64 in ``t`` order, then rounds.
    ``transpose``: store cell ``(r, k)`` at ``k * R + r`` (the grid seen as C x R with swapped shifts:
    long contiguous rows for the message-passing loops when R > C).
    """
    D = grp.shape[0]
    G = cre.shape[0]
    has_post = post.shape[0] > 0
    if (R < 1 or C < 1 or sc.shape[0] != D or A.shape != (D, R) or tw0.shape[0] != D or tw1.shape[0] != D
            or w.shape[0] != D or tab.ndim != 2 or tab.shape[1] != C or tab.shape[0] < 1
            or cre.shape[1] != R * C or cim.shape != cre.shape or (has_post and post.shape[0] != C)):
        return ERR_SHAPE
    if D and (grp.min() < 0 or grp.max() >= G or sc.min() < 0 or sc.max() >= C or tw0.min() < 0
              or tw0.max() >= tab.shape[0] or tw1.min() < 0 or tw1.max() >= tab.shape[0]):
        return ERR_SHAPE
    acc_r = np.zeros((G, R, C))
    acc_i = np.zeros((G, R, C))
    rows = np.arange(R)
    k = np.arange(C)
    ones = np.all((tab.real == 1.0) & (tab.imag == 0.0), axis=1)   # rows whose product is the row factor
    for t in range(D):
        q = k - int(sc[t])
        q = np.where(q < 0, q + C, q)
        sel = np.where(rows < w[t], tw1[t], tw0[t])
        b = tab[sel][:, q]
        b_re, b_im = b.real, b.imag
        a_re, a_im = A[t].real[:, None], A[t].imag[:, None]
        v_re = a_re * b_re - a_im * b_im
        v_im = a_re * b_im + a_im * b_re
        if not has_post:
            flat = ones[sel][:, None]
            v_re = np.where(flat, a_re + 0.0 * b_re, v_re)      # exactly a_re (b_re = 1): the kernel's shortcut
            v_im = np.where(flat, a_im + 0.0 * b_im, v_im)
        if has_post:
            p_re, p_im = post.real[None, :], post.imag[None, :]
            u = v_re * p_re - v_im * p_im
            v_im = v_re * p_im + v_im * p_re
            v_re = u
        g = int(grp[t])
        acc_r[g] = acc_r[g] + v_re
        acc_i[g] = acc_i[g] + v_im
    if transpose:
        acc_r = acc_r.transpose(0, 2, 1)
        acc_i = acc_i.transpose(0, 2, 1)
    cre[:, :] = acc_r.reshape(G, R * C).astype(_F)
    cim[:, :] = acc_i.reshape(G, R * C).astype(_F)
    return OK


def prep_obs(y, R, C, transpose, known_cells, known_values, gsr, gsc, cre, cim, yr, yi):
    """Observations for the kernels: ``y`` (complex128, grid order) minus the contribution of the known
    cells ``known_cells`` with values ``known_values`` through the diagonals (group by group, cell by cell,
    in float64 with the float32 coefficients), rounded to float32 into ``yr``/``yi`` in the kernels'
    layout (``transpose``: cell (r, k) at k * R + r). Returns a status."""
    n = R * C
    G = gsr.shape[0]
    K = known_cells.shape[0]
    if (R < 1 or C < 1 or y.shape[0] != n or yr.shape[0] != n or yi.shape[0] != n or known_values.shape[0] != K
            or gsc.shape[0] != G or cre.shape[0] != G or cim.shape[0] != G
            or (G and (cre.shape[1] != n or cim.shape[1] != n)) or not _shifts_ok(gsr, gsc, R, C)):
        return ERR_SHAPE
    if K and (known_cells.min() < 0 or known_cells.max() >= n):
        return ERR_SHAPE
    wr = np.array(y.real, np.float64)
    wi = np.array(y.imag, np.float64)
    r, k = known_cells // C, known_cells % C
    xr, xi = known_values.real, known_values.imag
    for g in range(G if K else 0):
        d = ((r + gsr[g]) % R) * C + (k + gsc[g]) % C
        dl = (d % C) * R + d // C if transpose else d
        cr = cre[g][dl].astype(np.float64)
        ci = cim[g][dl].astype(np.float64)
        np.subtract.at(wr, d, cr * xr - ci * xi)
        np.subtract.at(wi, d, cr * xi + ci * xr)
    if transpose:
        wr = wr.reshape(R, C).T.ravel()
        wi = wi.reshape(R, C).T.ravel()
    yr[:] = wr.astype(_F)
    yi[:] = wi.astype(_F)
    return OK


def gather_bits(idx, sel, table, out):
    """Hard bits of the cells ``sel``: ``out[i * bps:(i + 1) * bps] = table[idx[sel[i]]]``; the last row of
    ``table`` (Q + 1 rows) serves decisions outside 0..Q-1 (-1: no decision). Returns a status."""
    Q = table.shape[0] - 1
    bps = table.shape[1]
    if Q < 1 or out.shape[0] != sel.shape[0] * bps:
        return ERR_SHAPE
    if sel.size and (sel.min() < 0 or sel.max() >= idx.shape[0]):
        return ERR_SHAPE
    a = idx[sel]
    a = np.where((a < 0) | (a >= Q), Q, a)
    out[:] = table[a].ravel()
    return OK


def pair_bits(dec, sel, table, out):
    """Hard bits of the cells ``sel`` from two-level I/Q decisions ``dec`` ((n, 2), 0/1):
    ``out[i * bps:(i + 1) * bps] = table[2 dec[sel[i], 0] + dec[sel[i], 1]]`` (``table``: 4 rows). Returns a status."""
    bps = table.shape[1]
    if table.shape[0] != 4 or dec.shape[1] != 2 or out.shape[0] != sel.shape[0] * bps:
        return ERR_SHAPE
    if sel.size and (sel.min() < 0 or sel.max() >= dec.shape[0]):
        return ERR_SHAPE
    d = dec[sel] != 0
    out[:] = table[2 * d[:, 0] + d[:, 1]].ravel()
    return OK


def _shifts_ok(sr, sc, R, C):
    return sr.size == 0 or (sr.min() >= 0 and sr.max() < R and sc.min() >= 0 and sc.max() < C)


def _to_obs(v, sr, sc, R, C):
    """Variable-indexed (R*C) array seen from the observations of a diagonal with shift (sr, sc)."""
    return np.roll(v.reshape(R, C), (int(sr), int(sc)), axis=(0, 1)).ravel()


def _to_var(o, sr, sc, R, C):
    return np.roll(o.reshape(R, C), (-int(sr), -int(sc)), axis=(0, 1)).ravel()


def mp_binary(R, C, gsr, gsc, cre, cim, yr, yi, act, levels, noise_var, damping, max_iter, conv_tol, stall_iter,
              out_dec, out_llr):
    """Message passing (Raviteja, Hong, Viterbo 2018) for 4-QAM given as two levels per dimension,
    ``levels = (x0_I, x1_I, x0_Q, x1_Q)``, on G merged diagonals with shifts ``(gsr, gsc)``.

    The algorithm is that of :mod:`dsp._kernels._mp_py` (Gaussian interference per observation, damped
    messages, convergence indicator ``eta``, decisions of the best ``eta``, stop at ``eta = 1``, after
    ``max_iter`` or ``stall_iter`` iterations without a new best), in the separable form of the ``_mp``
    kernel's 4-QAM loop: each message is its mean and second moment, each observation -> variable message
    one log-likelihood ratio per dimension ``lam = ll(x1) - ll(x0)``, the extrinsic pmf a logistic of
    ``D = sum_other lam``; damping acts on the moments. Everything in float32.

    Writes ``out_dec[c] = (bit_I, bit_Q)`` (1 = level x1, i.e. posterior LLR > 0) from the best
    iteration and ``out_llr[c]`` = the final posterior LLRs (I, Q). Returns ``(status, iterations, eta)``.
    """
    G = gsr.shape[0]
    n = R * C
    if (R < 1 or C < 1 or gsc.shape[0] != G or cre.shape[0] != G or cim.shape[0] != G or yr.shape[0] != n
            or yi.shape[0] != n or act.shape[0] != n or out_dec.shape != (n, 2) or out_llr.shape != (n, 2)
            or (G and (cre.shape[1] != n or cim.shape[1] != n)) or not _shifts_ok(gsr, gsc, R, C)):
        return ERR_SHAPE, 0, 0.0
    x0i, x1i, x0q, x1q = (float(v) for v in levels)
    if not (noise_var > 0 and 0 < damping <= 1 and max_iter >= 1 and 0 <= conv_tol <= 1 and stall_iter >= 0):
        return ERR_PARAM, 0, 0.0
    f0i, f1i, f0q, f1q = _F(x0i), _F(x1i), _F(x0q), _F(x1q)
    m0r = _F(0.5 * (x0i + x1i))
    m0i = _F(0.5 * (x0q + x1q))
    m20 = _F(0.5 * (x0i * x0i + x1i * x1i) + 0.5 * (x0q * x0q + x1q * x1q))
    nv, dmp, omd, thr = _F(noise_var), _F(damping), _F(1.0 - damping), _F(1.0 - conv_tol)
    cfi, cfq, ai, aq = f1i - f0i, f1q - f0q, f0i + f1i, f0q + f1q
    e0i, s2i, e0q, s2q = f0i * f0i, f1i * f1i - f0i * f0i, f0q * f0q, f1q * f1q - f0q * f0q
    on = np.asarray(act) != 0
    n_act = int(np.count_nonzero(on))
    cre = np.asarray(cre, _F)
    cim = np.asarray(cim, _F)
    hh = cre * cre + cim * cim
    mr = np.where(on, m0r, _ZERO)[None, :].repeat(G, 0).astype(_F)
    mi = np.where(on, m0i, _ZERO)[None, :].repeat(G, 0).astype(_F)
    m2 = np.where(on, m20, _ZERO)[None, :].repeat(G, 0).astype(_F)
    lI = np.zeros((G, n), _F)
    lQ = np.zeros((G, n), _F)
    TI = np.zeros(n, _F)
    TQ = np.zeros(n, _F)
    yr = np.asarray(yr, _F)
    yi = np.asarray(yi, _F)
    out_dec[:, :] = 0
    it = 0
    best_it = 0
    eta_best = -1.0
    while it < max_iter:
        it += 1
        # observation side
        Ar = np.zeros(n, _F)
        Ai = np.zeros(n, _F)
        Av = np.zeros(n, _F)
        MU = []
        for t in range(G):
            a = _to_obs(mr[t], gsr[t], gsc[t], R, C)
            b = _to_obs(mi[t], gsr[t], gsc[t], R, C)
            q = _to_obs(m2[t], gsr[t], gsc[t], R, C)
            ur = cre[t] * a - cim[t] * b
            ui = cre[t] * b + cim[t] * a
            v = hh[t] * (q - (a * a + b * b))
            MU.append((ur, ui, v))
            Ar = Ar + ur
            Ai = Ai + ui
            Av = Av + v
        for t in range(G):
            ur, ui, v = MU[t]
            rr = yr - (Ar - ur)
            ri = yi - (Ai - ui)
            sig = _ONE / ((Av - v) + nv)
            li = sig * cfi * (_TWO * (cre[t] * rr + cim[t] * ri) - hh[t] * ai)
            lq = sig * cfq * (_TWO * (cre[t] * ri - cim[t] * rr) - hh[t] * aq)
            lI[t] = _to_var(li, gsr[t], gsc[t], R, C)
            lQ[t] = _to_var(lq, gsr[t], gsc[t], R, C)
        # variable side
        TI = np.zeros(n, _F)
        TQ = np.zeros(n, _F)
        for t in range(G):
            TI = TI + lI[t]
            TQ = TQ + lQ[t]
        for t in range(G):
            DI = TI - lI[t]
            DQ = TQ - lQ[t]
            WI = _exp_neg_abs(DI)
            WQ = _exp_neg_abs(DQ)
            s = _ONE / (_ONE + WI)
            p = np.where(DI >= _ZERO, s, WI * s)
            nr = f0i + cfi * p
            v = e0i + s2i * p
            s = _ONE / (_ONE + WQ)
            p = np.where(DQ >= _ZERO, s, WQ * s)
            ni = f0q + cfq * p
            v = v + (e0q + s2q * p)
            mr[t] = np.where(on, dmp * nr + omd * mr[t], _ZERO)
            mi[t] = np.where(on, dmp * ni + omd * mi[t], _ZERO)
            m2[t] = np.where(on, dmp * v + omd * m2[t], _ZERO)
        pm = _ONE / ((_ONE + _exp_neg_abs(TI)) * (_ONE + _exp_neg_abs(TQ)))
        n_conv = int(np.count_nonzero(on & (pm >= thr)))
        eta = float(n_conv) / float(n_act) if n_act > 0 else 1.0
        if eta > eta_best:
            eta_best = eta
            best_it = it
            out_dec[:, 0] = TI > _ZERO
            out_dec[:, 1] = TQ > _ZERO
        if eta >= 1.0:
            break
        if stall_iter > 0 and it - best_it >= stall_iter:
            break
    out_llr[:, 0] = TI
    out_llr[:, 1] = TQ
    return OK, it, eta_best


def mrc(R, C, gsr, gsc, cre, cim, yr, yi, act, group_len, cons_re, cons_im, max_iter, out_idx, out_soft, carry=False):
    """Iterative maximal-ratio combining with decision feedback (Thaj and Viterbo 2020; the algorithm
    of :mod:`dsp._kernels._mrc_py`) on G merged diagonals, in float32.

    Residual ``dy = y - H x_hat``; groups are runs of ``group_len`` consecutive cells of one grid row
    (OTFS: a whole delay row, as the paper sweeps; ``group_len = 1``: plain Gauss-Seidel). For every
    data cell ``c`` of a group ``g_c = sum_t conj(c_t[d_t]) dy[d_t] / D_c + x_hat_c`` over its
    observations ``d_t = ((r + sr_t) mod R, (k + sc_t) mod C)`` (``carry``: one column more where
    ``r + sr_t`` wraps - AFDM's strided layout, :func:`frame_mrc`), ``D_c = sum_t |c_t[d_t]|^2``; the decision
    is the nearest constellation point (first on ties); the group's decision changes then update ``dy``.
    Stop when a sweep changes nothing or after ``max_iter`` sweeps. (The kernel skips groups none of
    whose observations changed since their last combination: same results.)

    Writes ``out_idx`` (constellation index, -1 for non-data cells or cells without observations) and
    ``out_soft[c] = g_c`` (re, im). Returns ``(status, sweeps)``.
    """
    G = gsr.shape[0]
    n = R * C
    if (R < 1 or C < 1 or gsc.shape[0] != G or cre.shape[0] != G or cim.shape[0] != G or yr.shape[0] != n
            or yi.shape[0] != n or act.shape[0] != n or out_idx.shape[0] != n or out_soft.shape != (n, 2)
            or (G and (cre.shape[1] != n or cim.shape[1] != n)) or cons_im.shape[0] != cons_re.shape[0]
            or not _shifts_ok(gsr, gsc, R, C)):
        return ERR_SHAPE, 0
    if not (max_iter >= 1 and cons_re.shape[0] >= 1 and 1 <= group_len <= C):
        return ERR_PARAM, 0
    cre = np.asarray(cre, _F)
    cim = np.asarray(cim, _F)
    csr = np.asarray(cons_re, _F)
    csi = np.asarray(cons_im, _F)
    on = np.asarray(act) != 0
    dyr = np.array(yr, _F)
    dyi = np.array(yi, _F)
    rows = np.arange(n) // C
    cols = np.arange(n) % C
    # observation (flat index) of every variable on every diagonal
    obs = np.empty((G, n), np.int64)
    for t in range(G):
        wrap = (rows + gsr[t] >= R) if carry else 0
        obs[t] = ((rows + gsr[t]) % R) * C + (cols + gsc[t] + wrap) % C
    hs = np.zeros(n, _F)
    for t in range(G):
        x, z = cre[t][obs[t]], cim[t][obs[t]]
        hs = hs + (x * x + z * z)
    pos = hs > _ZERO
    dinv = np.where(pos, _ONE / np.where(pos, hs, _ONE), _ZERO).astype(_F)
    idx = np.full(n, -1, np.int64)
    xr = np.zeros(n, _F)
    xi = np.zeros(n, _F)
    soft = np.zeros((n, 2), _F)
    live = on & (dinv != _ZERO)
    sweeps = 0
    while sweeps < max_iter:
        sweeps += 1
        changed = 0
        for r in range(R):
            for k0 in range(0, C, group_len):
                cells = r * C + np.arange(k0, min(k0 + group_len, C))
                nr = np.zeros(cells.size, _F)
                ni = np.zeros(cells.size, _F)
                for t in range(G):
                    d = obs[t][cells]
                    x, z, br, bi = cre[t][d], cim[t][d], dyr[d], dyi[d]
                    nr = nr + (x * br + z * bi)
                    ni = ni + (x * bi - z * br)
                g_r = nr * dinv[cells] + xr[cells]
                g_i = ni * dinv[cells] + xi[cells]
                dr = g_r[:, None] - csr[None, :]
                di = g_i[:, None] - csi[None, :]
                best = np.argmin(dr * dr + di * di, axis=1)
                lv = live[cells]
                soft[cells[lv], 0] = g_r[lv]
                soft[cells[lv], 1] = g_i[lv]
                ch = lv & (best != idx[cells])
                cc, bb = cells[ch], best[ch]
                if cc.size:
                    changed += cc.size
                    # residual update diagonal by diagonal (the kernel's order; zero deltas are no-ops)
                    d_r = csr[bb] - xr[cc]
                    d_i = csi[bb] - xi[cc]
                    for t in range(G):
                        dd = obs[t][cc]
                        x, z = cre[t][dd], cim[t][dd]
                        np.subtract.at(dyr, dd, x * d_r - z * d_i)
                        np.subtract.at(dyi, dd, x * d_i + z * d_r)
                    idx[cc] = bb
                    xr[cc] = csr[bb]
                    xi[cc] = csi[bb]
        if changed == 0:
            break
    out_idx[:] = idx
    out_soft[:, :] = soft
    return OK, sweeps


def _frame_setup(kind, R, C, cp, frame, c1, paths, rot, tab, filled, post, y, known_cells, known_values, transpose):
    """:func:`dd_build`, :func:`dd_expand`, :func:`prep_obs` of one frame: (status, G, gsr, gsc, cre, cim, yr, yi)."""
    n, P = R * C, paths.shape[0]
    ints = np.empty((8, P), np.int64)
    A = np.empty((P, R), np.complex128)
    sr, sc, gsr, gsc, grp, tw0, tw1, w = ints
    st, G = dd_build(kind, R, C, cp, frame, c1, paths, rot, sr, sc, gsr, gsc, grp, A, tw0, tw1, w)
    if st:
        return (st,) + (None,) * 7
    if P and (max(tw0.max(), tw1.max()) >= tab.shape[0] or not (filled[tw0].all() and filled[tw1].all())):
        return (5,) + (None,) * 7
    cre, cim = np.empty((G, n), _F), np.empty((G, n), _F)
    if G and dd_expand(R, C, grp, sc, A, tab, tw0, tw1, w, post, cre, cim, transpose):
        return (ERR_SHAPE,) + (None,) * 7
    yr, yi = np.empty(n, _F), np.empty(n, _F)
    if prep_obs(y, R, C, transpose, known_cells, known_values, gsr[:G], gsc[:G], cre, cim, yr, yi):
        return (ERR_SHAPE,) + (None,) * 7
    return OK, G, gsr[:G], gsc[:G], cre, cim, yr, yi


def _frame_shapes_ok(kind, R, C, cp, paths, tab, ones, filled, y):
    return not (kind not in (0, 1) or R < 1 or C < 1 or cp < 0 or (kind == 1 and R != 1) or paths.shape[1] != 3
                or tab.shape[1] != C or ones.shape[0] != tab.shape[0] or filled.shape[0] != tab.shape[0]
                or y.shape[0] != R * C)


def strided_order(N, B):
    """AFDM's strided layout: position ``a (N / B) + i`` of index ``i B + a`` (``B`` divides ``N``), as an
    array ``pos`` (index -> position)."""
    d = np.arange(N, dtype=np.int64)
    return (d % B) * (N // B) + d // B


def frame_mrc(kind, R, C, cp, frame, c1, paths, rot, tab, ones, filled, post, y, known_cells, known_values, act,
              group_len, cons_re, cons_im, max_iter, sel, table, out_idx, out_soft, out_bits, stride=0):
    """One frame from integer ``paths`` to bits: :func:`dd_build`, :func:`dd_expand` (``ones``: the table
    rows that are exactly 1; ``filled``: the rows that hold a table), :func:`prep_obs`, :func:`mrc`,
    :func:`gather_bits` (of cells ``sel``), in the grid's layout, or with ``stride`` ``B > 1`` (AFDM, ``B``
    divides ``C``) in the strided layout of :func:`strided_order`: the B x C/B grid whose cell ``(a, i)`` is
    DAFT index ``i B + a``, a shift ``s`` as ``(s mod B, s // B)`` with a carry (``act``, ``sel``, ``out_idx``
    and ``out_soft`` in that layout). Returns ``(status, sweeps)``; status 4 when a bin is not an integer,
    5 when an AFDM delay's table is not filled."""
    if (not _frame_shapes_ok(kind, R, C, cp, paths, tab, ones, filled, y)
            or out_bits.shape[0] != sel.shape[0] * table.shape[1] or table.shape[0] - 1 != cons_re.shape[0]):
        return ERR_SHAPE, 0
    if not (max_iter >= 1 and cons_re.shape[0] >= 1 and 1 <= group_len <= C):
        return ERR_PARAM, 0
    if stride > 1 and (kind != 1 or C % stride or group_len > C // stride):
        return ERR_PARAM, 0
    st, G, gsr, gsc, cre, cim, yr, yi = _frame_setup(kind, R, C, cp, frame, c1, paths, rot, tab, filled, post, y,
                                                     known_cells, known_values, False)
    if st:
        return st, 0
    if stride > 1:
        inv = np.empty(C, np.int64)
        inv[strided_order(C, stride)] = np.arange(C)          # position -> index
        st, sweeps = mrc(stride, C // stride, gsc % stride, gsc // stride, cre[:, inv], cim[:, inv], yr[inv], yi[inv],
                         act, group_len, cons_re, cons_im, max_iter, out_idx, out_soft, carry=True)
    else:
        st, sweeps = mrc(R, C, gsr, gsc, cre, cim, yr, yi, act, group_len, cons_re, cons_im, max_iter, out_idx,
                         out_soft)
    if st:
        return st, 0
    return gather_bits(out_idx, sel, table, out_bits), sweeps


def frame_mp(kind, R, C, cp, frame, c1, paths, rot, tab, ones, filled, post, y, known_cells, known_values, transpose,
             act, levels, noise_var, damping, max_iter, conv_tol, stall_iter, sel, table, out_dec, out_llr, out_bits):
    """One frame from integer ``paths`` to bits: as :func:`frame_mrc` with :func:`mp_binary` (``transpose``:
    in the C x R layout; ``act`` and ``sel`` in that layout) and :func:`pair_bits`. Returns
    ``(status, iterations, eta)``."""
    if (not _frame_shapes_ok(kind, R, C, cp, paths, tab, ones, filled, y) or table.shape[0] != 4
            or out_bits.shape[0] != sel.shape[0] * table.shape[1]):
        return ERR_SHAPE, 0, 0.0
    st, G, gsr, gsc, cre, cim, yr, yi = _frame_setup(kind, R, C, cp, frame, c1, paths, rot, tab, filled, post, y,
                                                     known_cells, known_values, transpose)
    if st:
        return st, 0, 0.0
    if transpose:
        res = mp_binary(C, R, gsc, gsr, cre, cim, yr, yi, act, levels, noise_var, damping, max_iter, conv_tol,
                        stall_iter, out_dec, out_llr)
    else:
        res = mp_binary(R, C, gsr, gsc, cre, cim, yr, yi, act, levels, noise_var, damping, max_iter, conv_tol,
                        stall_iter, out_dec, out_llr)
    if res[0]:
        return res[0], 0, 0.0
    return pair_bits(out_dec, sel, table, out_bits), res[1], res[2]
