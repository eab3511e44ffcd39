"""hil.payload: the placement model, the strategies and the study, against closed forms, brute force and
networkx on small instances; bad scenario input gives one-line errors naming the field."""

import itertools
import math

import networkx as nx
import numpy as np
import pytest

from hil.cli import main
from hil.config import parse
from hil.errors import ConfigError
from hil.orbit import GroundStation, preset, serving_sequence
from hil.payload import strategies as S
from hil.payload.config import PayloadScenario, TnConfig, load_scenario
from hil.payload.coverage import assign_nearest
from hil.payload.model import build_model, build_region, cache_counts, regional_popularity, tn_hop_rate_bps, zipf

SMALL = {
    "name": "small",
    "regions": {"rows": 1, "cols": 2, "area_km2": 100.0, "bs_per_region": 12},
    "cache": {"files_per_bs": 4, "file_size_mb": 20.0, "library_files": 60},
    "ntn": {"constellation": "starlink-sparse", "horizon_s": 240.0, "step_s": 2.0},
    "sweep_constellations": [],
}


# ------------------------------------------------------------------------------------------ model
def test_tn_hop_rate_hits_the_paper_end_points():
    cfg = TnConfig()
    r = tn_hop_rate_bps([0.5, 2.0, 1.0], cfg)
    assert r[0] == pytest.approx(1e9, rel=1e-12) and r[1] == pytest.approx(407e6, rel=1e-12)
    # the fitted path-loss exponent is log(snr_hi/snr_lo)/log(4) ~ 3.0: check the mid point by hand
    snr_hi, snr_lo = 2.0 ** 10 - 1, 2.0 ** 4.07 - 1
    n = math.log(snr_hi / snr_lo) / math.log(4.0)
    assert n == pytest.approx(3.0, abs=0.02)
    assert r[2] == pytest.approx(100e6 * math.log2(1 + snr_hi * 2.0 ** (-n)), rel=1e-12)


def test_zipf_closed_form():
    p = zipf(1000, 0.8)
    assert p.sum() == pytest.approx(1.0)
    assert p[0] / p[1] == pytest.approx(2 ** 0.8) and p[0] / p[9] == pytest.approx(10 ** 0.8)


def test_regional_popularity_correlation():
    from scipy.stats import spearmanr

    from hil.payload.config import PopularityConfig

    rng = np.random.default_rng(3)
    pop = regional_popularity(20000, [(0, 0), (0, 1), (1, 1)], PopularityConfig(skewness=1.0, correlation=0.6), rng)
    assert np.array_equal(pop[0], zipf(20000, 1.0))  # region 0 is the base list
    for r in range(3):
        assert np.allclose(np.sort(pop[r])[::-1], pop[0])  # the same Zipf law, permuted
    # latent Gaussian correlation c = 0.6^d between any two regions at grid distance d -> Spearman rank
    # correlation (6/pi) asin(c/2) (closed form)
    for r, s, d in ((0, 1, 1), (0, 2, 2), (1, 2, 1)):
        c = 0.6 ** d
        rho_s = spearmanr(pop[r], pop[s]).statistic
        assert rho_s == pytest.approx(6 / math.pi * math.asin(c / 2), abs=0.02), (r, s)


def test_cache_counts_by_hand_and_error():
    # uniform popularity over 10 files, 4 BSs of 5 files: ceil(4*5*0.1) = 2 copies each, 20 slots
    assert cache_counts(np.full(10, 0.1), 4, 5).tolist() == [2] * 10
    # 3 files 0.6/0.3/0.1, 2 BSs x 2 files = 4 slots: min(2, ceil(2.4))=2, min(2, ceil(1.2))=2, then full
    assert cache_counts(np.array([0.6, 0.3, 0.1]), 2, 2).tolist() == [2, 2, 0]
    with pytest.raises(ConfigError, match=r"cache.library_files: got 3; allowed: enough files"):
        cache_counts(np.array([0.6, 0.3, 0.1]), 2, 3)


def test_region_tree_hops_and_rates():
    rng = np.random.default_rng(1)
    cfg = TnConfig()
    topo = build_region(40, 400.0, cfg, rng)
    assert nx.is_tree(topo.tree) and topo.tree.number_of_nodes() == 41
    assert topo.hop_distance_km.min() >= 0.5 - 1e-9 and topo.hop_distance_km.max() <= 2.0 + 1e-9
    hops = nx.single_source_shortest_path_length(topo.tree, 0)
    paths = nx.single_source_shortest_path(topo.tree, 0)
    for b in range(40):
        assert topo.hops[b] == hops[b + 1]
        p = paths[b + 1]
        worst = min(tn_hop_rate_bps(topo.tree[u][v]["weight"], cfg) for u, v in zip(p[:-1], p[1:]))
        assert topo.path_rate_bps[b] == pytest.approx(worst)


def test_build_model_fills_every_cache_with_distinct_files():
    sc = parse(PayloadScenario, SMALL)
    m = build_model(sc)
    assert m.n_pairs == 2 * 12 * 4
    for r in range(2):
        sel = m.pair_region == r
        per_bs = np.bincount(m.pair_bs[sel], minlength=12)
        assert per_bs.tolist() == [4] * 12
        keys = m.pair_file[sel] * 100 + m.pair_bs[sel]
        assert np.unique(keys).size == keys.size  # no BS caches a file twice
    assert np.array_equal(np.bincount(m.pair_region, minlength=2), m.copies.sum(axis=1))


# --------------------------------------------------------------------------------------- coverage
def test_assign_nearest_brute_force():
    rng = np.random.default_rng(5)
    rg = rng.uniform(500e3, 2000e3, size=(3, 5, 40))
    vis = rng.random((3, 5, 40)) < 0.7
    for cap in (1, 2):
        got = assign_nearest(rg, vis, cap)
        for t in range(40):
            # reference: sort all visible (range, region, sat) and take greedily
            pairs = sorted((rg[r, s, t], r, s) for r in range(3) for s in range(5) if vis[r, s, t])
            want, load = [-1, -1, -1], [0] * 5
            for _, r, s in pairs:
                if want[r] < 0 and load[s] < cap:
                    want[r], load[s] = s, load[s] + 1
            assert got[:, t].tolist() == want


def test_assign_nearest_equals_serving_sequence_nearest():
    from hil.orbit import geometry_many

    cons = preset("starlink-sparse")
    g = [GroundStation(36.0, 90.0), GroundStation(36.3, 90.4)]
    t = np.arange(0.0, 300.0, 5.0)
    geos = geometry_many(cons, g, t, accel=False)
    rg = np.stack([x.range_m for x in geos])
    el = np.stack([x.elevation_deg for x in geos])
    ss = serving_sequence(cons, g, cons[0].element_epoch, 295.0, step_s=5.0, rule="nearest")
    assert np.array_equal(assign_nearest(rg, el >= 10.0, capacity=2), ss.serving)


# ------------------------------------------------------------------------------------- strategies
def _tables(t_ntn, eta, cap, tn_s=None, start=None, covered=None):
    n_f, K = t_ntn.shape
    tn_s = np.ones((1, n_f)) if tn_s is None else tn_s
    R = tn_s.shape[0]
    start = np.concatenate([[0.0], np.cumsum(cap)[:-1]]) if start is None else start
    covered = np.ones((K, R), dtype=bool) if covered is None else covered
    return S.SlotTables(files=np.arange(n_f), copies=np.ones((R, n_f), dtype=np.int64), tn_s=tn_s,
                        hops_sum=np.ones((R, n_f)), covered=covered, t_ntn=t_ntn, P=eta, H=eta, eta=eta,
                        saving=eta, start_s=np.asarray(start, float), cap_s=np.asarray(cap, float),
                        base_rank=np.arange(n_f))


def test_sfa_toy_by_hand():
    # 3 files of 1 s each, slot 0 lasts 2.5 s: eta ranks f1 (0.9) > f2 (0.5) > f0 (0.2); two fit, f0 waits
    t = np.ones((3, 2))
    eta = np.array([[0.2, 0.8], [0.9, 0.1], [0.5, 0.3]])
    tab = _tables(t, eta, [2.5, 10.0])
    sch = S.sfa(tab)
    assert sch.file.tolist() == [1, 2, 0] and sch.slot.tolist() == [0, 0, 1]
    assert sch.t_end_s.tolist() == [1.0, 2.0, 3.5]


def _brute(w, t, cap, allow_skip=True):
    n_f, K = w.shape
    best = -np.inf
    for choice in itertools.product(range(-1 if allow_skip else 0, K), repeat=n_f):
        load = np.zeros(K)
        wt = 0.0
        ok = True
        for f, k in enumerate(choice):
            if k >= 0:
                if not np.isfinite(t[f, k]):
                    ok = False
                    break
                load[k] += t[f, k]
                wt += w[f, k]
        if ok and np.all(load <= cap + 1e-9):
            best = max(best, wt)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_max_weight_path_unconstrained_equals_brute_force_and_networkx(seed):
    rng = np.random.default_rng(seed)
    w = rng.uniform(-0.5, 1.0, (4, 3))
    t = rng.uniform(0.5, 2.0, (4, 3))
    slot, wt = S.constrained_max_path(w, t, np.full(3, np.inf))
    assert wt == pytest.approx(_brute(w, t, np.full(3, np.inf)))
    g = S.build_npg(w, t)
    assert nx.dag_longest_path_length(g, weight="weight") == pytest.approx(wt)
    assert sum(w[f, k] for f, k in enumerate(slot) if k >= 0) == pytest.approx(wt)


@pytest.mark.parametrize("seed", range(8))
def test_constrained_path_matches_networkx_relaxation_and_is_feasible(seed):
    rng = np.random.default_rng(100 + seed)
    n_f, K = 5, 3
    w = rng.uniform(0.1, 1.0, (n_f, K))
    t = rng.uniform(0.5, 2.0, (n_f, K))
    t[rng.random((n_f, K)) < 0.15] = np.inf  # some files not placeable in some slots
    cap = rng.uniform(1.0, 3.0, K)
    slot, wt = S.constrained_max_path(w, t, cap)
    path, wt_nx = S.constrained_max_path_nx(S.build_npg(w, t), cap)
    assert wt == pytest.approx(wt_nx)
    assert [v[1] for v in path[1:-1]] == slot.tolist()
    load = np.zeros(K)
    for f, k in enumerate(slot):
        if k >= 0:
            load[k] += t[f, k]
    assert np.all(load <= cap + 1e-9)
    assert wt <= _brute(w, t, cap) + 1e-12  # a heuristic under constraints: never above the optimum


def test_without_skip_no_path_when_capacity_too_small():
    w = np.ones((3, 1))
    t = np.ones((3, 1))
    slot, wt = S.constrained_max_path(w, t, np.array([2.0]), allow_skip=False)
    assert slot is None and wt == -np.inf
    slot, wt = S.constrained_max_path(w, t, np.array([3.0]), allow_skip=False)
    assert slot.tolist() == [0, 0, 0] and wt == 3.0


def test_test_and_double_equals_linear_search():
    for k_max in (1, 7, 40):
        for thr in range(1, k_max + 2):
            calls = []

            def feasible(k, thr=thr, calls=calls):
                calls.append(k)
                return k >= thr

            got = S.test_and_double(feasible, k_max)
            assert got == (thr if thr <= k_max else None)
            assert len(calls) <= 2 * math.ceil(math.log2(k_max)) + 2


def test_integrated_time_closed_form():
    # one region, TN work 10 s in two files (6 s + 4 s); NTN broadcasts file 0 ending at 2 s -> T = 4 s
    tab = _tables(np.array([[2.0], [2.0]]), np.ones((2, 1)), [100.0], tn_s=np.array([[6.0, 4.0]]))
    sch = S.Schedule("x", np.array([0]), np.array([0]), np.array([2.0]))
    assert S.integrated_time(None, tab, sch) == pytest.approx(4.0)
    # ... ending at 8 s: by then the TN alone has not finished (10 > 8), afterwards 4 s remain -> T = 8 s
    sch = S.Schedule("x", np.array([0]), np.array([0]), np.array([8.0]))
    assert S.integrated_time(None, tab, sch) == pytest.approx(8.0)
    # ... ending at 12 s: too late, the TN alone finishes at 10 s
    sch = S.Schedule("x", np.array([0]), np.array([0]), np.array([12.0]))
    assert S.integrated_time(None, tab, sch) == pytest.approx(10.0)


def test_study_invariants_on_a_small_scenario():
    from hil.payload.coverage import compute_slots
    from hil.payload.study import run_placement

    sc = parse(PayloadScenario, SMALL)
    m = build_model(sc)
    sl = compute_slots(sc.ntn, m.centres, sc.regions.area_km2)
    assert sl.end_s[-1] == pytest.approx(240.0) and np.all(np.diff(sl.start_s) > 0)
    tab, res = run_placement(sc, m, sl, ["sa-tn", "tnp", "mbt", "sfa", "gfa"])
    for r in res.values():
        assert r.total_s <= res["sa-tn"].total_s + 1e-9  # the NTN can only remove TN work
        if r.schedule is not None and len(r.schedule):
            load = np.bincount(r.schedule.slot, weights=tab.t_ntn[r.schedule.file, r.schedule.slot],
                               minlength=tab.n_slots)
            assert np.all(load <= tab.cap_s + 1e-9)  # eq. 8a / 16c: no slot overfilled
            assert np.unique(r.schedule.file).size == len(r.schedule)  # eq. 13b: each file once


# ------------------------------------------------------------------------------ scenario and CLI
@pytest.mark.parametrize("text,needle", [
    ("popularity: {correlation: 1.5}", "popularity.correlation: got 1.5; allowed: >= 0.0 and <= 1.0"),
    ("cache: {files_per_bs: 0}", "cache.files_per_bs: got 0"),
    ("tn: {radius_km: 0.4}", "tn.min_distance_km: got 0.5; allowed: < radius_km (0.4 km)"),
    ("ntn: {rate_at_mask_bps: 4.0e8}", "ntn.rate_at_mask_bps: got 400000000.0"),
    ("strategies: {run: [gfa, xyz]}", "strategies.run[1]: got 'xyz'; allowed: one of sa-tn"),
    ("nosuchfield: 1", "nosuchfield: got 1; allowed: no such field"),
    ("regions: {rows: two}", "regions.rows: got 'two'; allowed: an integer"),
])
def test_bad_scenario_one_line_error(tmp_path, capsys, text, needle):
    p = tmp_path / "bad.yaml"
    p.write_text(text + "\n")
    with pytest.raises(ConfigError) as exc:
        load_scenario(p)
    assert needle in str(exc.value) and str(p) in str(exc.value)
    assert main(["payload", str(p), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hil: error: ") and needle in err[0]


def test_bad_constellation_and_library_one_line(tmp_path, capsys):
    p = tmp_path / "bad.yaml"
    p.write_text("ntn: {constellation: no-such-shell}\ncache: {library_files: 3000}\n")
    assert main(["payload", str(p), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert "constellation: got 'no-such-shell'" in capsys.readouterr().err
    p.write_text("cache: {library_files: 100}\n")
    assert main(["payload", str(p), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert "cache.library_files: got 100; allowed: enough files" in capsys.readouterr().err


def test_cli_small_study(tmp_path, capsys):
    import yaml

    p = tmp_path / "small.yaml"
    p.write_text(yaml.safe_dump(dict(SMALL, sweep_constellations=["starlink-sparse"])))
    out = tmp_path / "out"
    assert main(["payload", str(p), "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    for name in ("sa-tn", "tnp", "mbt", "sfa", "gfa"):
        assert f"\n{name} " in text
    for f in ("timeline.png", "sweep.png"):
        assert (out / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import json

    summ = json.loads((out / "summary.json").read_text())
    assert summ["entries"] == 96 and set(summ["total_min"]) == {"sa-tn", "tnp", "mbt", "sfa", "gfa"}
    assert main(["payload", str(p), "--strategies", "sfa", "bogus", "--no-progress"]) == 2


def test_ntn_rate_end_points_and_beam_capacity():
    from hil.orbit import LinkBudget, slant_range_m
    from hil.payload.config import NtnConfig
    from hil.payload.coverage import ntn_rate_bps, regions_per_satellite

    cfg = NtnConfig()
    lb = LinkBudget.seed_downlink(fc_hz=cfg.carrier_hz)
    pl = [float(lb.path_loss_db(slant_range_m(e, 550e3), e)) for e in (90.0, 10.0, 45.0)]
    r = ntn_rate_bps(pl, cfg, pl[0], pl[1])
    assert r[0] == pytest.approx(300e6) and r[1] == pytest.approx(130e6)
    assert 130e6 < r[2] < 300e6
    assert 173.0 < pl[0] < 174.0 and 184.5 < pl[1] < 185.5  # the paper's 173.4 .. 184.9 dB (docs/orbit.md)
    # 7 beams of 20 km cover 7 * 314 = 2199 km^2: one 1200 km^2 region, three 700 km^2 ones
    assert regions_per_satellite(cfg, 1200.0) == 1 and regions_per_satellite(cfg, 700.0) == 3
    assert regions_per_satellite(NtnConfig(regions_per_satellite=6), 1200.0) == 6


def test_gfa_ntn_only_uses_the_fewest_slots():
    # 4 files of 1 s; slots of 2.5, 1 and 3 s: two fit in slot 0, one in slot 1 -> the smallest K is 3,
    # and a file whose only feasible slot is 2 forces K = 3 even when capacity would allow fewer
    t = np.ones((4, 3))
    tab = _tables(t, np.full((4, 3), 0.5), [2.5, 1.0, 3.0])
    sch = S.gfa(tab, None, integrated=False)
    assert sch.info["K"] == 3 and sorted(sch.file.tolist()) == [0, 1, 2, 3]
    load = np.bincount(sch.slot, weights=t[sch.file, sch.slot], minlength=3)
    assert np.all(load <= np.array([2.5, 1.0, 3.0]))
    t2 = np.ones((2, 3))
    t2[1, :2] = np.inf  # file 1 can only go in slot 2
    tab2 = _tables(t2, np.full((2, 3), 0.5), [5.0, 5.0, 5.0])
    sch2 = S.gfa(tab2, None, integrated=False)
    assert sch2.info["K"] == 3 and dict(zip(sch2.file.tolist(), sch2.slot.tolist()))[1] == 2
    tab3 = _tables(np.ones((3, 1)), np.full((3, 1), 0.5), [2.0])  # 3 s of files, 2 s of slots: impossible
    assert S.gfa(tab3, None, integrated=False).info["K"] is None
