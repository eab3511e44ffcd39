"""NumPy twin of ``_mp.pyx``: message passing detection on a sparse factor graph.

Same function, signature and decisions as the compiled kernel (probabilities agree to rounding).
The algorithm is the one of Raviteja, Hong, Viterbo, "Interference cancellation and iterative
detection for orthogonal time frequency space modulation", IEEE TWC 17(10), 2018, written for any
sparse linear channel ``y = H x + w``:

* observation ``d`` -> variable ``c``: the interference of the other variables of row ``d`` is
  approximated as Gaussian, mean ``mu_dc`` and variance ``s2_dc`` (plus the noise variance);
* variable ``c`` -> observation ``d``: ``p_cd(a) ~ prod_{e != d} exp(-|y_e - mu_ec - H_ec a|^2 / s2_ec)``,
  damped: ``p <- damping * p_new + (1 - damping) * p_old``;
* after each iteration the posterior ``P_c(a) ~ prod_e exp(...)`` gives the convergence indicator
  ``eta = mean_c [max_a P_c(a) >= 1 - conv_tol]``; decisions are taken from the iteration with the
  largest ``eta`` so far (the paper updates them when ``eta`` grows); stop at ``eta == 1`` or
  ``max_iter`` - or, when ``stall_iter > 0``, after ``stall_iter`` iterations without a new best ``eta``
  (an addition for large frames, where a few cells never reach ``1 - conv_tol``; 0 = the paper's rule).

Graph layout (edges are the nonzeros of H restricted to the unknown columns):

* edges sorted by observation: ``obs_ptr[d]:obs_ptr[d+1]`` are the edges of observation ``d``;
  ``edge_var[e]`` its variable, ``edge_h[e]`` the coefficient ``H[d, c]``;
* ``var_ptr[c]:var_ptr[c+1]`` index ``var_edge``, the ids of the edges of variable ``c``.
"""

import numpy as np

OK = 0
ERR_SHAPE = 1
ERR_PARAM = 2


def mp_detect(y, obs_ptr, edge_var, edge_h, var_ptr, var_edge, constellation, noise_var, damping,
              max_iter, conv_tol, stall_iter, out_idx, out_prob):
    """Run message passing; write decisions (constellation indices) to ``out_idx`` [n_var] and the
    final posteriors to ``out_prob`` [n_var, Q]. Returns ``(status, iterations, eta)``."""
    n_obs = y.shape[0]
    n_var = out_idx.shape[0]
    q = constellation.shape[0]
    n_edge = edge_h.shape[0]
    if (obs_ptr.shape[0] != n_obs + 1 or var_ptr.shape[0] != n_var + 1 or edge_var.shape[0] != n_edge
            or var_edge.shape[0] != n_edge or out_prob.shape[0] != n_var or out_prob.shape[1] != q):
        return ERR_SHAPE, 0, 0.0
    if not (noise_var > 0 and 0 < damping <= 1 and max_iter >= 1 and q >= 1):
        return ERR_PARAM, 0, 0.0

    s = np.asarray(constellation)
    s2 = (s.real * s.real + s.imag * s.imag)
    h = np.asarray(edge_h)
    hh = h.real * h.real + h.imag * h.imag
    edge_obs = np.repeat(np.arange(n_obs), np.diff(obs_ptr))
    y_e = np.asarray(y)[edge_obs]
    var_of_slot = np.repeat(np.arange(n_var), np.diff(var_ptr))  # variable of each var_edge slot
    hs = h[:, None] * s[None, :]  # H_dc a for every edge and symbol

    p = np.full((n_edge, q), 1.0 / q)
    eta_best = -1.0
    best_it = 0
    it = 0
    eta = 0.0
    post = np.full((n_var, q), 1.0 / q)
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        # observation side: Gaussian approximation of the interference of the other variables
        m = p @ s
        mu_e = h * m
        v_e = hh * (p @ s2 - (m.real * m.real + m.imag * m.imag))
        mu_d = np.zeros(n_obs, complex)
        v_d = np.zeros(n_obs)
        np.add.at(mu_d, edge_obs, mu_e)
        np.add.at(v_d, edge_obs, v_e)
        r = y_e - (mu_d[edge_obs] - mu_e)
        sig = 1.0 / ((v_d[edge_obs] - v_e) + noise_var)
        # variable side: log-likelihood of every edge and symbol, extrinsic = total - own
        diff = r[:, None] - hs
        ll = -(diff.real * diff.real + diff.imag * diff.imag) * sig[:, None]
        ll_slot = ll[var_edge]
        tot = np.zeros((n_var, q))
        np.add.at(tot, var_of_slot, ll_slot)
        ext = tot[var_of_slot] - ll_slot
        ext = np.exp(ext - ext.max(axis=1, keepdims=True))
        ext /= ext.sum(axis=1, keepdims=True)
        p[var_edge] = damping * ext + (1.0 - damping) * p[var_edge]
        # posterior, convergence indicator, decisions
        post = np.exp(tot - tot.max(axis=1, keepdims=True))
        post /= post.sum(axis=1, keepdims=True)
        pmax = post.max(axis=1)
        eta = float(np.count_nonzero(pmax >= 1.0 - conv_tol)) / n_var if n_var else 1.0
        if eta > eta_best:
            eta_best = eta
            best_it = it
            out_idx[:] = post.argmax(axis=1)
        if eta >= 1.0:
            break
        if stall_iter > 0 and it - best_it >= stall_iter:
            break
    out_prob[:, :] = post
    return OK, it, eta_best
