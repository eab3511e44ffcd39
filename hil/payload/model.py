"""The paper's system model: regions with TN base stations (tree topology, hop rates), per-region Zipf
popularity correlated across regions, and the cache plan (which BS caches which file).

Everything is seeded (``numpy.random.Generator`` from the scenario seed); graph work uses networkx
(minimum spanning tree, breadth-first tree from the gateway).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx
import numpy as np
from scipy.spatial import cKDTree
from scipy.special import ndtri

from hil.errors import ConfigError

from .config import PayloadScenario, PopularityConfig, RegionsConfig, TnConfig

__all__ = ["TnTopology", "build_region", "tn_hop_rate_bps", "zipf", "regional_popularity",
           "cache_counts", "PlacementModel", "build_model", "region_centres"]

_KM_PER_DEG_LAT = 111.32


def tn_hop_rate_bps(distance_km, cfg: TnConfig):
    """Rate (bit/s) of one TN hop of ``distance_km``: ``B log2(1 + snr_ref (d / d_min)^-n)``.

    ``snr_ref`` and the path-loss exponent ``n`` are the two numbers that put the rate at
    ``rate_at_min_distance_bps`` at ``min_distance_km`` and ``rate_at_radius_bps`` at ``radius_km``
    (the paper: 1 Gbit/s at 0.5 km, 407 Mbit/s at 2 km -> n = 3.0).
    """
    b = cfg.bandwidth_hz
    snr_hi = 2.0 ** (cfg.rate_at_min_distance_bps / b) - 1.0
    snr_lo = 2.0 ** (cfg.rate_at_radius_bps / b) - 1.0
    n = math.log10(snr_hi / snr_lo) / math.log10(cfg.radius_km / cfg.min_distance_km)
    d = np.asarray(distance_km, dtype=np.float64)
    return b * np.log2(1.0 + snr_hi * (d / cfg.min_distance_km) ** (-n))


def region_centres(cfg: RegionsConfig):
    """(lat, lon, grid_row, grid_col) of each region: a rows x cols block of squares around the centre."""
    side = math.sqrt(cfg.area_km2)
    out = []
    for i in range(cfg.rows):
        for j in range(cfg.cols):
            dn = (i - (cfg.rows - 1) / 2.0) * side
            de = (j - (cfg.cols - 1) / 2.0) * side
            lat = cfg.lat_deg + dn / _KM_PER_DEG_LAT
            lon = cfg.lon_deg + de / (_KM_PER_DEG_LAT * math.cos(math.radians(cfg.lat_deg)))
            out.append((lat, lon, i, j))
    return out


@dataclass
class TnTopology:
    """One region's TN: BS positions (km, gateway first at index 0), the tree and per-BS figures.

    ``hops[b]``, ``path_rate_bps[b]`` (the lowest hop rate on the gateway -> b path) and
    ``pair_time_s[b]`` (one file over that path) are for the caching BSs b = 0..n-1 (gateway excluded).
    """

    xy_km: np.ndarray
    tree: nx.Graph
    hops: np.ndarray
    path_rate_bps: np.ndarray
    hop_distance_km: np.ndarray


def _place_bs(n: int, side_km: float, cfg: TnConfig, rng: np.random.Generator) -> np.ndarray:
    """Gateway at the centre, then BSs drawn uniformly in the square and kept only when their nearest
    neighbour is within [min_distance_km, radius_km]: every BS reaches the tree by hops the paper's
    rates cover (0.5..2 km)."""
    pts = [(0.0, 0.0)]
    tries = 0
    half = side_km / 2.0
    while len(pts) < n + 1:
        tries += 1
        if tries > cfg.max_placement_tries:
            raise ConfigError.bad_value("tn.max_placement_tries", cfg.max_placement_tries,
                                        f"enough to place {n} BSs at {cfg.min_distance_km}..{cfg.radius_km} km "
                                        f"from a neighbour in a {side_km:.1f} km square (raise it or the area)")
        # draw near the existing cluster (uniform in the square would mostly miss the 2 km ring)
        base = pts[int(rng.integers(len(pts)))]
        r = rng.uniform(cfg.min_distance_km, cfg.radius_km)
        a = rng.uniform(0.0, 2.0 * math.pi)
        x, y = base[0] + r * math.cos(a), base[1] + r * math.sin(a)
        if abs(x) > half or abs(y) > half:
            continue
        p = np.asarray(pts)
        d = np.hypot(p[:, 0] - x, p[:, 1] - y).min()
        if cfg.min_distance_km <= d <= cfg.radius_km:
            pts.append((x, y))
    return np.asarray(pts)


def build_region(n_bs: int, area_km2: float, cfg: TnConfig, rng: np.random.Generator) -> TnTopology:
    """Place the BSs, connect them by the minimum spanning tree of the radius graph (networkx) and
    derive hops and bottleneck rates from the gateway (node 0)."""
    xy = _place_bs(n_bs, math.sqrt(area_km2), cfg, rng)
    g = nx.Graph()
    g.add_nodes_from(range(len(xy)))
    pairs = cKDTree(xy).query_pairs(cfg.radius_km + 1e-9, output_type="ndarray")
    d = np.hypot(*(xy[pairs[:, 0]] - xy[pairs[:, 1]]).T)
    g.add_weighted_edges_from((int(a), int(b), float(w)) for (a, b), w in zip(pairs, d))
    if not nx.is_connected(g):  # cannot happen with the growth placement; kept as a guard
        raise ConfigError.bad_value("tn.radius_km", cfg.radius_km, "a radius that connects every BS")
    tree = nx.minimum_spanning_tree(g, weight="weight")
    hops = np.zeros(len(xy), dtype=np.int64)
    rate = np.full(len(xy), np.inf)
    for u, v in nx.bfs_edges(tree, 0):
        hops[v] = hops[u] + 1
        rate[v] = min(rate[u], float(tn_hop_rate_bps(tree[u][v]["weight"], cfg)))
    hd = np.array([tree[u][v]["weight"] for u, v in tree.edges()])
    return TnTopology(xy, tree, hops[1:], rate[1:], hd)


def zipf(n_files: int, skewness: float) -> np.ndarray:
    """Zipf popularity of ranks 1..n: ``r^-s / sum_i i^-s`` (paper eq. 4)."""
    r = np.arange(1, n_files + 1, dtype=np.float64)
    w = r ** (-float(skewness))
    return w / w.sum()


def regional_popularity(n_files: int, grid: list[tuple[int, int]], cfg: PopularityConfig,
                        rng: np.random.Generator) -> np.ndarray:
    """Popularity ``p[r, f]`` of file f in region r, shape (R, F).

    Every region ranks the library by a latent Gaussian score; the scores of regions r and s have
    correlation ``correlation ** d(r, s)`` with d the grid distance (rows + columns) - the separable
    exponential correlation on the grid (eq. 5's role). Region 0's scores are the normal scores of the
    base order (it ranks the files 0..F-1 as eq. 4's list); the others are drawn conditionally on them
    (Gaussian conditioning, Cholesky of the conditional covariance). Each region then gives the Zipf
    probabilities of eq. 4 by its own ranking.
    """
    p = zipf(n_files, cfg.skewness)
    z0 = ndtri(1.0 - (np.arange(n_files) + 0.5) / n_files)  # normal scores, descending
    R = len(grid)
    g = np.asarray(grid, dtype=float)
    d = np.abs(g[:, None, 0] - g[None, :, 0]) + np.abs(g[:, None, 1] - g[None, :, 1])
    C = cfg.correlation ** d
    out = np.empty((R, n_files))
    out[0] = p
    if R == 1:
        return out
    c0 = C[1:, 0]
    cond = C[1:, 1:] - np.outer(c0, c0)
    # semi-definite at correlation 0 or 1: a tiny jitter keeps the Cholesky factor real
    L = np.linalg.cholesky(cond + 1e-12 * np.eye(R - 1))
    z = c0[:, None] * z0[None, :] + L @ rng.standard_normal((R - 1, n_files))
    for k in range(1, R):
        out[k, np.argsort(-z[k - 1], kind="stable")] = p
    return out


def cache_counts(pop: np.ndarray, n_bs: int, cache_files: int, field: str = "cache.library_files") -> np.ndarray:
    """Copies of each file in one region: in decreasing popularity, ``min(n_bs, ceil(n_bs * C * p_f))`` BSs
    (the expected number of requests with C requests per BS), until the region's ``n_bs * C`` cache
    slots are full (the last file gets what is left)."""
    cap = n_bs * cache_files
    order = np.argsort(-pop, kind="stable")
    want = np.minimum(n_bs, np.ceil(n_bs * cache_files * pop[order] - 1e-9)).astype(np.int64)
    want = np.maximum(want, 1)
    cum = np.cumsum(want)
    if cum[-1] < cap:
        raise ConfigError.bad_value(field, pop.size, f"enough files to fill {cap} cache slots per region "
                                    f"(this popularity fills {int(cum[-1])})")
    last = int(np.searchsorted(cum, cap))
    counts = np.zeros(pop.size, dtype=np.int64)
    counts[order[:last]] = want[:last]
    counts[order[last]] = cap - (cum[last - 1] if last else 0)
    return counts


@dataclass
class PlacementModel:
    """The assembled model. Pairs (file, BS) are the cache entries to place.

    * ``regions``: list of :class:`TnTopology`; ``centres``: (lat, lon) per region;
    * ``pop``: (R, F) popularity; ``copies``: (R, F) BSs caching f in region r;
    * ``pair_file``, ``pair_region``, ``pair_bs`` (BS index inside its region), ``pair_tn_s`` (time of the
      pair over the TN), ``pair_hops``; pairs are grouped by region;
    * ``files``: the distinct files with at least one copy; ``file_size_bits``.
    """

    scenario: PayloadScenario
    regions: list
    centres: list
    grid: list
    pop: np.ndarray
    copies: np.ndarray
    pair_file: np.ndarray
    pair_region: np.ndarray
    pair_bs: np.ndarray
    pair_tn_s: np.ndarray
    pair_hops: np.ndarray
    file_size_bits: float

    @property
    def n_regions(self) -> int:
        return len(self.regions)

    @property
    def n_pairs(self) -> int:
        return int(self.pair_file.size)

    @property
    def n_bs(self) -> int:
        return sum(len(r.hops) for r in self.regions)

    def tn_region_load_s(self) -> np.ndarray:
        """TN time (s) to place every pair of each region by unicast from its gateway."""
        return np.bincount(self.pair_region, weights=self.pair_tn_s, minlength=self.n_regions)

    def __repr__(self) -> str:
        return (f"PlacementModel({self.n_regions} regions, {self.n_bs} BSs, {self.n_pairs} cache entries, "
                f"{int(np.count_nonzero(self.copies.sum(0)))} distinct files)")


def build_model(sc: PayloadScenario) -> PlacementModel:
    """Build the TN, the popularity and the cache plan of a scenario (deterministic for its seed)."""
    rng = np.random.default_rng(sc.seed)
    cents = region_centres(sc.regions)
    grid = [(i, j) for _, _, i, j in cents]
    n_bs = sc.regions.bs_per_region
    regions = [build_region(n_bs, sc.regions.area_km2, sc.tn, rng) for _ in cents]
    pop = regional_popularity(sc.cache.library_files, grid, sc.popularity, rng)
    size_bits = sc.cache.file_size_mb * 8e6
    copies = np.empty(pop.shape, dtype=np.int64)
    pf, pb = [], []
    for r in range(len(regions)):
        copies[r] = cache_counts(pop[r], n_bs, sc.cache.files_per_bs)
        free = np.full(n_bs, sc.cache.files_per_bs, dtype=np.int64)
        for f in np.argsort(-pop[r], kind="stable"):
            n = int(copies[r, f])
            if n == 0:
                break
            # the n BSs with the most free cache, ties broken at random: every cache ends up full
            key = np.lexsort((rng.random(n_bs), -free))
            bs = key[:n]
            free[bs] -= 1
            pf.append(np.full(n, f))
            pb.append(bs)
    pair_file = np.concatenate(pf)
    pair_bs = np.concatenate(pb)
    counts_r = copies.sum(axis=1)
    pair_region = np.repeat(np.arange(len(regions)), counts_r)
    pair_tn = np.empty(pair_file.size)
    pair_hops = np.empty(pair_file.size, dtype=np.int64)
    for r, topo in enumerate(regions):
        m = pair_region == r
        pair_tn[m] = size_bits / topo.path_rate_bps[pair_bs[m]]
        pair_hops[m] = topo.hops[pair_bs[m]]
    return PlacementModel(sc, regions, [(a, o) for a, o, _, _ in cents], grid, pop, copies, pair_file,
                          pair_region, pair_bs, pair_tn, pair_hops, size_bits)
