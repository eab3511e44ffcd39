"""GFA run time on the paper's 30000-entry scenario, on one core, against SFA measured in the same run.

    python bench/bench_payload.py [--scenario scenarios/payload/paper_fig9.yaml] [--library N] [--repeat 2]

Pinned to one core (BLAS threads = 1, and CPU affinity to one core where the OS allows). The model and
the coverage slots are built once (not timed); then, best of --repeat, process CPU time of:
  sfa   Algorithm 1 (the sequential baseline, one ranking per slot)
  gfa   Algorithms 2-3 (placement-graph path, test-and-double over the number of slots)
Prints both, the ratio GFA / SFA, and GFA against the issue's 60 s budget. ``--library`` overrides the
number of distinct files in the library (e.g. 30000) to check the budget on a larger graph.

    python bench/bench_payload.py --sensitivity

instead prints the total placement time of every strategy with one scenario field changed at a time
(the sensitivity table of docs/payload.md; a few minutes).
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402

from hil.payload import strategies as S  # noqa: E402
from hil.payload.config import load_scenario  # noqa: E402
from hil.payload.coverage import compute_slots  # noqa: E402
from hil.payload.model import build_model  # noqa: E402

BUDGET_S = 60.0


def cpu_best(fn, repeat):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t0)
    return best, out


SENSITIVITY = [
    ("(none)", {}), ("correlation 0.5", {"popularity": {"correlation": 0.5}}),
    ("correlation 0.7", {"popularity": {"correlation": 0.7}}), ("skewness 0.5", {"popularity": {"skewness": 0.5}}),
    ("skewness 1.5", {"popularity": {"skewness": 1.5}}),
    ("library 2000", {"cache": {"library_files": 2000}}), ("library 10000", {"cache": {"library_files": 10000}}),
    ("library 30000", {"cache": {"library_files": 30000}}),
    ("participation: satellites", {"strategies": {"participation": "satellites"}}),
    ("superiority: per-bs", {"strategies": {"superiority": "per-bs"}}),
    ("gfa_weight: saving", {"strategies": {"gfa_weight": "saving"}}),
    ("gfa_weight: eta-per-second", {"strategies": {"gfa_weight": "eta-per-second"}}),
    ("tnp_ranking: aggregate", {"strategies": {"tnp_ranking": "aggregate"}}),
    ("regions_per_satellite: 6 (shared)", {"ntn": {"regions_per_satellite": 6}}),
    ("mask 40 deg", {"ntn": {"mask_deg": 40.0}}),
    ("constellation starlink-sparse (264)", {"ntn": {"constellation": "starlink-sparse"}}),
    ("starlink-sparse, mask 25 deg", {"ntn": {"constellation": "starlink-sparse", "mask_deg": 25.0}}),
    ("seed 2", {"seed": 2}), ("seed 3", {"seed": 3}),
]


def sensitivity(path):
    from hil.config import load_yaml, parse
    from hil.errors import ConfigError
    from hil.payload.config import PayloadScenario
    from hil.payload.study import run_placement

    base = load_yaml(path)
    names = ["sa-tn", "tnp", "mbt", "sfa", "gfa"]
    print("| change | " + " | ".join(n.upper() for n in names)
          + " | GFA vs MBT | GFA vs TNP | SFA vs MBT | GFA vs SFA |")
    slots_cache = {}
    for label, over in SENSITIVITY:
        d = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
        for k, v in over.items():
            d[k] = {**d.get(k, {}), **v} if isinstance(v, dict) else v
        try:
            sc = parse(PayloadScenario, d, source=f"{path} + {label}")
            model = build_model(sc)
        except ConfigError as exc:
            print(f"| {label} | refused: {exc} |")
            continue
        key = (sc.ntn, sc.regions)
        if key not in slots_cache:
            slots_cache[key] = compute_slots(sc.ntn, model.centres, sc.regions.area_km2)
        _, r = run_placement(sc, model, slots_cache[key], names)
        T = {k: v.total_s / 60 for k, v in r.items()}
        sv = [1 - T["gfa"] / T["mbt"], 1 - T["gfa"] / T["tnp"], 1 - T["sfa"] / T["mbt"], 1 - T["gfa"] / T["sfa"]]
        print(f"| {label} | " + " | ".join(f"{T[n]:.2f}" for n in names) + " | "
              + " | ".join(f"{100 * x:.1f} %" for x in sv) + " |", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default=os.path.join(os.path.dirname(__file__), "..", "scenarios", "payload",
                                                      "paper_fig9.yaml"))
    ap.add_argument("--library", type=int, default=None, help="override cache.library_files")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--sensitivity", action="store_true", help="print the one-field-at-a-time table instead")
    a = ap.parse_args()
    if a.sensitivity:
        return sensitivity(a.scenario)
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        except OSError:
            pass
    sc = load_scenario(a.scenario)
    if a.library:
        sc = replace(sc, cache=replace(sc.cache, library_files=a.library))
    model = build_model(sc)
    slots = compute_slots(sc.ntn, model.centres, sc.regions.area_km2)
    st = sc.strategies
    tab = S.slot_tables(model, slots, omega=st.omega, participation=st.participation, superiority=st.superiority)
    print(f"{model}; {slots}")
    print(f"graph: {tab.n_files} file columns x {tab.n_slots} slots available")
    t_sfa, sch_sfa = cpu_best(lambda: S.sfa(tab), a.repeat)
    t_gfa, sch_gfa = cpu_best(lambda: S.gfa(tab, model, weight=st.gfa_weight), a.repeat)
    T_sfa = S.integrated_time(model, tab, sch_sfa)
    T_gfa = S.integrated_time(model, tab, sch_gfa)
    print(f"sfa  cpu {t_sfa:8.3f} s   placement {T_sfa / 60:6.2f} min")
    print(f"gfa  cpu {t_gfa:8.3f} s   placement {T_gfa / 60:6.2f} min   (K = {sch_gfa.info.get('K')} slots, "
          f"tested {sch_gfa.info.get('tested')})")
    print(f"ratio gfa/sfa cpu: {t_gfa / max(t_sfa, 1e-9):.1f}x")
    print(f"gfa vs budget: {t_gfa:.2f} s of {BUDGET_S:.0f} s on one core -> {'OK' if t_gfa <= BUDGET_S else 'OVER'} "
          f"({t_gfa / BUDGET_S:.3f} of the budget)")


if __name__ == "__main__":
    main()
