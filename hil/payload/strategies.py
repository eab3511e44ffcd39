"""NTN file assignment: the paper's five approaches and the integrated TN + NTN placement time.

Per file f and slot k (:class:`SlotTables`): the NTN delivery time ``t_ntn[f, k]`` (eq. 7: the slowest
covered link among the regions that cache f), the participation indicator ``P`` (eq. 9), the superiority
indicator ``H^`` (eqs. 10-11) and the suitability ``eta = omega P + (1 - omega) H^`` (eq. 12).

* **SA-TN**: TN only. **TNP** [33]: files in conventional TN popularity order. **MBT** [41]: per slot,
  files needed in the most satellite footprints first (then by traffic). **SFA** (Algorithm 1): per slot,
  decreasing eta while the slot has time left. **GFA** (Algorithms 2-3): the NTN placement graph, a
  capacity-constrained maximum-weight path (modified Bellman-Ford, one label per vertex) and the
  test-and-double binary search over the number of slots.

Integrated placement (paper Sec. V-F): the NTN broadcasts in its order from the start while each
region's gateway unicasts, in increasing popularity, the cache entries the NTN has not delivered; the
total time is the first T at which every region's remaining TN work fits in T (:func:`integrated_time`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from hil.errors import ConfigError

from .coverage import CoverageSlots
from .model import PlacementModel

__all__ = ["SlotTables", "slot_tables", "Schedule", "greedy_schedule", "sfa", "tnp", "mbt", "gfa",
           "constrained_max_path", "build_npg", "constrained_max_path_nx", "integrated_time",
           "test_and_double", "ntn_curve", "tn_curve", "sa_tn_time"]

_EPS = 1e-9
#: GFA path weights: eq. 12's eta, the time saving of Problem 2, or eta per second of slot time
GFA_WEIGHTS = ("eta", "saving", "eta-per-second")


@dataclass
class SlotTables:
    """Per-(file, slot) tables over the distinct files ``files`` (base popularity order) and the slots.

    ``copies[r, i]`` and ``tn_s[r, i]`` (TN time of file i's entries in region r) are per region;
    ``t_ntn``, ``P``, ``H``, ``eta``, ``saving`` are (n_files, n_slots); ``cap_s`` the slot durations.
    """

    files: np.ndarray
    copies: np.ndarray
    tn_s: np.ndarray
    hops_sum: np.ndarray
    covered: np.ndarray
    t_ntn: np.ndarray
    P: np.ndarray
    H: np.ndarray
    eta: np.ndarray
    saving: np.ndarray
    start_s: np.ndarray
    cap_s: np.ndarray
    base_rank: np.ndarray

    @property
    def n_files(self) -> int:
        return int(self.files.size)

    @property
    def n_slots(self) -> int:
        return int(self.cap_s.size)


def slot_tables(model: PlacementModel, slots: CoverageSlots, *, omega: float = 0.5,
                participation: str = "links", superiority: str = "per-satellite") -> SlotTables:
    """Compute eqs. 7 and 9-12 for every distinct file and slot.

    ``participation``: "links" = covered BSs caching f over all covered BSs (the NTN links of eq. 9
    that would carry f); "satellites" = serving satellites with at least one such BS over all serving
    satellites. ``superiority``: "per-satellite" = TN hops avoided by the covered entries of f per
    serving satellite (eq. 10's average over the NTN BSs); "per-bs" = mean hops over those entries.
    Either is rescaled by its maximum over the files of the slot (eq. 11).
    """
    if participation not in ("links", "satellites"):
        raise ConfigError.bad_value("strategies.participation", participation, "'links' or 'satellites'")
    if superiority not in ("per-satellite", "per-bs"):
        raise ConfigError.bad_value("strategies.superiority", superiority, "'per-satellite' or 'per-bs'")
    tot = model.copies.sum(axis=0)
    files = np.nonzero(tot > 0)[0]  # ascending file index = base (region 0) popularity order
    R = model.n_regions
    copies = model.copies[:, files]
    col = np.searchsorted(files, model.pair_file)
    tn = np.zeros((R, files.size))
    hs = np.zeros((R, files.size))
    multicast = model.scenario.tn.delivery == "multicast"
    for r in range(R):
        m = model.pair_region == r
        if multicast:
            np.maximum.at(tn[r], col[m], model.pair_tn_s[m])
        else:
            np.add.at(tn[r], col[m], model.pair_tn_s[m])
        np.add.at(hs[r], col[m], model.pair_hops[m].astype(float))
    cov = slots.covered  # (K, R)
    need = copies > 0  # (R, F)
    K = slots.n_slots
    rate = np.where(cov, slots.rate_bps, np.inf)  # (K, R)
    rmin = np.full((files.size, K), np.inf)
    for r in range(R):
        rmin = np.where(need[r][:, None], np.minimum(rmin, rate[:, r][None, :]), rmin)
    with np.errstate(divide="ignore"):
        t_ntn = np.where(np.isfinite(rmin), model.file_size_bits / rmin, np.inf)
    covf = cov.astype(float)
    cc = copies.T.astype(float) @ covf.T  # covered copies (F, K)
    if participation == "links":
        n_bs = np.array([len(t.hops) for t in model.regions], dtype=float)
        P = cc / np.maximum(covf @ n_bs, 1.0)[None, :]
    else:
        P = np.zeros((files.size, K))
        for k in range(K):
            sats = np.unique(slots.sat[k][cov[k]])
            if sats.size == 0:
                continue
            hit = np.zeros(files.size)
            for s in sats:
                rs = np.nonzero(slots.sat[k] == s)[0]
                hit += need[rs].any(axis=0)
            P[:, k] = hit / sats.size
    hsum = hs.T @ covf.T  # hops avoided by the covered entries (F, K)
    if superiority == "per-bs":
        with np.errstate(invalid="ignore", divide="ignore"):
            H = np.where(cc > 0, hsum / np.where(cc > 0, cc, 1.0), 0.0)
    else:
        n_sat = np.array([max(1, np.unique(slots.sat[k][cov[k]]).size) for k in range(K)], dtype=float)
        H = hsum / n_sat[None, :]
    hmax = H.max(axis=0)
    Hn = H / np.where(hmax > 0, hmax, 1.0)[None, :]
    eta = omega * P + (1.0 - omega) * Hn
    eta = np.where(np.isfinite(t_ntn), eta, -np.inf)
    tn_cov = np.zeros((files.size, K))
    for r in range(R):
        tn_cov = np.maximum(tn_cov, tn[r][:, None] * covf[:, r][None, :])
    saving = np.where(np.isfinite(t_ntn), tn_cov - t_ntn, -np.inf)
    return SlotTables(files, copies, tn, hs, cov, t_ntn, P, Hn, eta, saving, slots.start_s.copy(),
                      slots.duration_s.copy(), np.arange(files.size))


@dataclass
class Schedule:
    """NTN broadcasts: ``file[i]`` (column into :class:`SlotTables`) in ``slot[i]`` ending at ``t_end_s[i]``."""

    strategy: str
    file: np.ndarray
    slot: np.ndarray
    t_end_s: np.ndarray
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.file.size)


def _timed(strategy, tab: SlotTables, per_slot, info=None) -> Schedule:
    f_all, k_all, t_all = [], [], []
    for k, fs in enumerate(per_slot):
        if len(fs) == 0:
            continue
        fs = np.asarray(fs, dtype=np.int64)
        t = tab.start_s[k] + np.cumsum(tab.t_ntn[fs, k])
        f_all.append(fs)
        k_all.append(np.full(fs.size, k))
        t_all.append(t)
    if not f_all:
        return Schedule(strategy, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), info or {})
    return Schedule(strategy, np.concatenate(f_all), np.concatenate(k_all), np.concatenate(t_all), info or {})


def greedy_schedule(strategy: str, tab: SlotTables, key, *, n_slots: int | None = None) -> Schedule:
    """Slot by slot: rank the files not yet broadcast by ``key(k)`` (larger first; an array over files)
    and broadcast them in that order while they fit in the slot (paper eq. 8a); the first that does not
    fit ends the slot (Algorithm 1's stopping rule)."""
    K = tab.n_slots if n_slots is None else min(n_slots, tab.n_slots)
    left = np.ones(tab.n_files, dtype=bool)
    per_slot = []
    for k in range(K):
        ok = left & np.isfinite(tab.t_ntn[:, k])
        cand = np.nonzero(ok)[0]
        if cand.size == 0:
            per_slot.append([])
            continue
        kv = key(k)
        kv = kv[cand] if kv.ndim == 1 else kv[:, cand]
        keys = (-kv,) if kv.ndim == 1 else tuple(-kv[i] for i in range(kv.shape[0] - 1, -1, -1))
        order = cand[np.lexsort((cand,) + keys)]
        cum = np.cumsum(tab.t_ntn[order, k])
        nfit = int(np.searchsorted(cum, tab.cap_s[k] + _EPS, side="right"))
        chosen = order[:nfit]
        left[chosen] = False
        per_slot.append(chosen)
        if not left.any():
            break
    return _timed(strategy, tab, per_slot)


def sfa(tab: SlotTables, n_slots=None) -> Schedule:
    """Algorithm 1 (sequential file assignment): per slot, decreasing eta (ties: base popularity)."""
    return greedy_schedule("sfa", tab, lambda k: tab.eta[:, k], n_slots=n_slots)


def tnp(tab: SlotTables, ranking: str = "base", n_slots=None) -> Schedule:
    """TNP [33]: one static order, the conventional TN popularity: ``base`` = the base Zipf list (the
    first region's, eq. 4), ``aggregate`` = total copies over all regions. No NTN knowledge."""
    if ranking == "base":
        score = -tab.base_rank.astype(float)
    elif ranking == "aggregate":
        score = tab.copies.sum(axis=0).astype(float)
    else:
        raise ConfigError.bad_value("strategies.tnp_ranking", ranking, "'base' or 'aggregate'")
    return greedy_schedule("tnp", tab, lambda k: score, n_slots=n_slots)


def mbt(tab: SlotTables, slots: CoverageSlots, n_slots=None) -> Schedule:
    """MBT [41]: per slot, files needed by at least one BS in the most satellite footprints first, then
    the most BSs reached (backhaul traffic); blind to the TN side (hops, rates)."""
    need = tab.copies > 0
    cc = tab.copies.T.astype(float) @ tab.covered.T.astype(float)  # (F, K) covered copies

    def key(k):
        sats = np.unique(slots.sat[k][tab.covered[k]])
        hit = np.zeros(tab.n_files)
        for s in sats:
            hit += need[np.nonzero(slots.sat[k] == s)[0]].any(axis=0)
        return np.stack([hit, cc[:, k]])

    return greedy_schedule("mbt", tab, key, n_slots=n_slots)


# ------------------------------------------------------------------------------ GFA: NTN placement graph
def constrained_max_path(w: np.ndarray, t: np.ndarray, cap: np.ndarray, *, allow_skip: bool = True):
    """Maximum-weight S -> D path through the NTN placement graph under the slot capacities (eq. 16c).

    Columns are files (in order), vertex k of a column places the file in slot k (weight ``w[f, k]``,
    time ``t[f, k]``; non-finite time: no vertex) and, with ``allow_skip``, vertex "TN" leaves it to the
    TN (weight 0). Every vertex of column f-1 has an edge to every vertex of column f (eq. 15). The
    relaxation runs once in topological order (exact Bellman-Ford on a DAG without constraints); with
    the capacity constraint each vertex keeps one label - the best feasible predecessor's path and its
    slot loads - as in the paper's modified Bellman-Ford, so it is a heuristic there.

    Returns ``(slot, weight)``: ``slot[f]`` in -1 (TN) / 0..K-1, and the path weight; ``slot`` is None
    when no path reaches D (only possible without ``allow_skip``).
    """
    n_f, K = w.shape
    cap = np.asarray(cap, dtype=np.float64)
    W = np.array([0.0])
    L = np.zeros((1, K))
    pred = np.zeros((n_f, K + 1), dtype=np.int32)
    neg = -np.inf
    for f in range(n_f):
        tf = t[f]
        okv = np.isfinite(tf) & np.isfinite(w[f])
        feas = ((L + np.where(okv, tf, 0.0)[None, :]) <= cap[None, :] + _EPS) & okv[None, :] & np.isfinite(W)[:, None]
        cand = np.where(feas, W[:, None], neg)
        pk = np.argmax(cand, axis=0)
        best = cand[pk, np.arange(K)]
        Wn = np.empty(K + 1)
        Ln = np.empty((K + 1, K))
        if allow_skip:
            p0 = int(np.argmax(W))
            Wn[0] = W[p0]
            Ln[0] = L[p0]
            pred[f, 0] = p0
        else:
            Wn[0] = neg
            Ln[0] = 0.0
        Wn[1:] = np.where(np.isfinite(best), best + np.where(okv, w[f], 0.0), neg)
        Ln[1:] = L[pk]
        Ln[1 + np.arange(K), np.arange(K)] += np.where(okv, tf, 0.0)
        pred[f, 1:] = pk
        W, L = Wn, Ln
    end = int(np.argmax(W))
    if not np.isfinite(W[end]):
        return None, -np.inf
    slot = np.empty(n_f, dtype=np.int64)
    v = end
    for f in range(n_f - 1, -1, -1):
        slot[f] = v - 1
        v = int(pred[f, v]) if f > 0 else 0
    return slot, float(W[end])


def build_npg(w: np.ndarray, t: np.ndarray, *, allow_skip: bool = True) -> nx.DiGraph:
    """Algorithm 2: the NTN placement graph as a networkx DiGraph (for checks on small instances).

    Nodes "S", "D" and (f, k) (k = -1: left to the TN); edge weight = the head's weight."""
    n_f, K = w.shape
    g = nx.DiGraph()
    prev = ["S"]
    for f in range(n_f):
        cur = [(f, k) for k in range(K) if np.isfinite(t[f, k]) and np.isfinite(w[f, k])]
        if allow_skip:
            cur = [(f, -1)] + cur
        for v in cur:
            g.add_node(v, t=0.0 if v[1] < 0 else float(t[f, v[1]]))
            wt = 0.0 if v[1] < 0 else float(w[f, v[1]])
            g.add_edges_from(((u, v) for u in prev), weight=wt)
        prev = cur
    g.add_edges_from(((u, "D") for u in prev), weight=0.0)
    return g


def constrained_max_path_nx(g: nx.DiGraph, cap) -> tuple[list, float]:
    """The same modified Bellman-Ford as :func:`constrained_max_path`, on the explicit graph (relaxed in
    networkx's topological order; one label per vertex). Returns (path, weight)."""
    cap = np.asarray(cap, dtype=np.float64)
    best = {"S": (0.0, np.zeros(cap.size), None)}
    for v in nx.topological_sort(g):
        if v == "S":
            continue
        cands = []
        k = None if v == "D" else v[1]
        for u in g.predecessors(v):
            if u not in best:
                continue
            wu, lu, _ = best[u]
            if k is not None and k >= 0 and lu[k] + g.nodes[v]["t"] > cap[k] + _EPS:
                continue
            cands.append((wu + g[u][v]["weight"], u))
        if not cands:
            continue
        wv, u = max(cands, key=lambda c: c[0])
        lv = best[u][1].copy()
        if k is not None and k >= 0:
            lv[k] += g.nodes[v]["t"]
        best[v] = (wv, lv, u)
    if "D" not in best:
        return [], -np.inf
    path, v = [], "D"
    while v is not None:
        path.append(v)
        v = best[v][2]
    return path[::-1], best["D"][0]


def test_and_double(feasible, k_max: int) -> int | None:
    """Smallest K in 1..k_max with ``feasible(K)`` for a monotone predicate: K = 1, 2, 4, ... until
    feasible, then bisection inside (K/2, K] (the paper's test-and-double search [52]). None if even
    k_max fails."""
    k = 1
    while True:
        kk = min(k, k_max)
        if feasible(kk):
            break
        if kk == k_max:
            return None
        k *= 2
    lo, hi = kk // 2, kk  # feasible(hi); lo infeasible (or 0)
    if kk < k:  # clipped at k_max: lo is the last tested power of two
        lo = k // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if feasible(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _path_schedule(tab: SlotTables, slot_of: np.ndarray, weights: np.ndarray, strategy="gfa") -> Schedule:
    per = []
    for k in range(tab.n_slots):
        fs = np.nonzero(slot_of == k)[0]
        if fs.size:
            fs = fs[np.lexsort((fs, -weights[fs, k]))]
        per.append(fs)
    return _timed(strategy, tab, per)


def gfa(tab: SlotTables, model: PlacementModel, *, weight: str = "eta", integrated: bool = True,
        order: str = "mean", progress=None) -> Schedule:
    """Algorithm 3: GFA. For K slots, the constrained maximum-weight path over slots 0..K-1 is the
    assignment; K is the smallest that completes the placement (integrated: TN + NTN done by the end of
    slot K; NTN only: every file on the NTN), found by test-and-double."""
    if weight not in GFA_WEIGHTS:
        raise ConfigError.bad_value("strategies.gfa_weight", weight, "one of " + ", ".join(GFA_WEIGHTS))
    if weight == "eta":
        wfull = tab.eta
    elif weight == "saving":
        wfull = tab.saving
    else:  # suitability per second of slot time: the knapsack efficiency of eta
        with np.errstate(invalid="ignore", divide="ignore"):
            wfull = np.where(np.isfinite(tab.t_ntn), tab.eta / tab.t_ntn, -np.inf)
    cache = {}

    def run(K):
        if K not in cache:
            w = wfull[:, :K]
            with warnings.catch_warnings():  # a file placeable in none of the K slots scores -inf below
                warnings.simplefilter("ignore", RuntimeWarning)
                ww = np.where(np.isfinite(w), w, np.nan)
                score = np.nanmax(ww, axis=1) if order == "max" else np.nanmean(ww, axis=1)
            score = np.where(np.isfinite(score), score, -np.inf)
            cols = np.lexsort((np.arange(tab.n_files), -score))  # file index order: decreasing suitability
            t = tab.t_ntn[cols, :K]
            slot_c, wt = constrained_max_path(w[cols], t, tab.cap_s[:K], allow_skip=integrated)
            if slot_c is None:
                cache[K] = (None, np.inf)
            else:
                slot_of = np.empty_like(slot_c)
                slot_of[cols] = slot_c
                sch = _path_schedule(tab, slot_of, wfull, "gfa")
                T = integrated_time(model, tab, sch) if integrated else (
                    sch.t_end_s.max() if len(sch) == tab.n_files else np.inf)
                cache[K] = (sch, T)
            if progress is not None:
                progress(K)
        return cache[K]

    def feasible(K):
        sch, T = run(K)
        return sch is not None and T <= tab.start_s[K - 1] + tab.cap_s[K - 1] + _EPS

    K = test_and_double(feasible, tab.n_slots)
    if K is None:
        sch, T = run(tab.n_slots)
        if sch is None:
            return Schedule("gfa", np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0),
                            {"K": None, "tested": sorted(cache)})
        sch.info.update(K=None, tested=sorted(cache))
        return sch
    sch, _ = run(K)
    sch.info.update(K=K, tested=sorted(cache))
    return sch


# ----------------------------------------------------------------------------------- evaluation
def _delivered_tn(model: PlacementModel, tab: SlotTables, sch: Schedule) -> np.ndarray:
    """(n_broadcasts, R): TN time each broadcast removes from each region (covered regions only)."""
    if len(sch) == 0:
        return np.zeros((0, tab.tn_s.shape[0]))
    return (tab.tn_s[:, sch.file] * tab.covered[sch.slot].T).T


def integrated_time(model: PlacementModel, tab: SlotTables, sch: Schedule) -> float:
    """Total placement time (s) with TN and NTN together: the smallest T with, for every region, the
    TN time of the entries not delivered by NTN broadcasts that ended by T no larger than T."""
    load = tab.tn_s.sum(axis=1)  # (R,) all TN work of each region
    if len(sch) == 0:
        return float(load.max())
    order = np.argsort(sch.t_end_s, kind="stable")
    te = sch.t_end_s[order]
    dl = _delivered_tn(model, tab, sch)[order]
    rem = load[None, :] - np.cumsum(dl, axis=0)  # remaining TN work after each broadcast
    rem = np.vstack([load[None, :], rem]).max(axis=1)
    starts = np.concatenate([[0.0], te])
    ends = np.concatenate([te, [np.inf]])
    for a, b, L in zip(starts, ends, rem):
        if L <= b:
            return float(max(a, L))
    return float("inf")  # pragma: no cover - the last interval is unbounded


def sa_tn_time(model: PlacementModel) -> float:
    """SA-TN: every entry over the TN, the regions' gateways in parallel."""
    return float(model.tn_region_load_s().max())


def ntn_curve(model: PlacementModel, tab: SlotTables, sch: Schedule, t_grid: np.ndarray) -> np.ndarray:
    """Cache entries delivered by the NTN broadcasts by each time of ``t_grid``."""
    if len(sch) == 0:
        return np.zeros(t_grid.size)
    n = (tab.copies[:, sch.file] * tab.covered[sch.slot].T).sum(axis=0)
    o = np.argsort(sch.t_end_s, kind="stable")
    cum = np.concatenate([[0], np.cumsum(n[o])])
    return cum[np.searchsorted(sch.t_end_s[o], t_grid, side="right")]


def tn_curve(model: PlacementModel, tab: SlotTables, sch: Schedule | None, t_total: float,
             t_grid: np.ndarray) -> np.ndarray:
    """Entries delivered by the TN by each time of ``t_grid``: each gateway unicasts, least popular first,
    the entries that the NTN has not delivered by ``t_total``."""
    skip = np.zeros((model.n_regions, tab.n_files), dtype=bool)
    if sch is not None and len(sch):
        done = sch.t_end_s <= t_total + _EPS
        for f, k in zip(sch.file[done], sch.slot[done]):
            skip[:, f] |= tab.covered[k]
    col = np.searchsorted(tab.files, model.pair_file)
    out = np.zeros(t_grid.size)
    for r in range(model.n_regions):
        m = (model.pair_region == r) & ~skip[r, col]
        c = col[m]
        tt = model.pair_tn_s[m]
        o = np.argsort(-c, kind="stable")  # least popular (largest base index) first
        cum = np.cumsum(tt[o])
        out += np.searchsorted(cum, t_grid + _EPS, side="right")
    return out
