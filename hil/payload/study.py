"""A placement study: build the model, compute the coverage slots, run the strategies, tabulate and plot
(files placed vs time per strategy; total time vs number of satellites)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field, replace

import numpy as np

from hil.errors import ConfigError

from . import strategies as S
from .config import STRATEGIES, PayloadScenario
from .coverage import CoverageSlots, compute_slots
from .model import PlacementModel, build_model

__all__ = ["StrategyResult", "StudyResult", "run_placement", "run_study", "format_table", "plot_timeline",
           "plot_sweep", "write_outputs"]

#: one colour per strategy in every plot
COLORS = {"tnp": "tab:orange", "mbt": "tab:green", "sfa": "tab:blue", "gfa": "tab:red", "sa-tn": "k"}
#: the paper's Fig. 9 / Sec. V-F numbers (minutes) for the 1584 shell, 30000 entries
PAPER_MIN = {"sfa": 5.5, "gfa": 4.45}
PAPER_SAVING = {"gfa_vs_mbt": 0.35, "gfa_vs_tnp": 0.47, "sfa_vs_mbt": 0.20, "sfa_vs_tnp": 0.33,
                "gfa_vs_mbt_sweep": 0.20}


@dataclass
class StrategyResult:
    name: str
    total_s: float
    broadcasts: int
    ntn_entries: int
    cpu_s: float
    schedule: S.Schedule | None = field(default=None, repr=False)


@dataclass
class StudyResult:
    scenario: PayloadScenario
    model: PlacementModel
    slots: CoverageSlots
    tables: S.SlotTables
    results: dict
    sweep: dict = field(default_factory=dict)

    def saving(self, a: str, b: str) -> float:
        """Fractional time saved by strategy a against b: 1 - T_a / T_b."""
        return 1.0 - self.results[a].total_s / self.results[b].total_s


def run_placement(sc: PayloadScenario, model: PlacementModel, slots: CoverageSlots, names, *,
                  progress=None) -> tuple[S.SlotTables, dict]:
    """Run each named strategy on the model and slots; returns the slot tables and name -> StrategyResult."""
    st = sc.strategies
    tab = S.slot_tables(model, slots, omega=st.omega, participation=st.participation, superiority=st.superiority)
    out = {}
    for name in names:
        t0 = time.process_time()
        if name == "sa-tn":
            sch = None
            total = S.sa_tn_time(model)
        else:
            if name == "tnp":
                sch = S.tnp(tab, st.tnp_ranking)
            elif name == "mbt":
                sch = S.mbt(tab, slots)
            elif name == "sfa":
                sch = S.sfa(tab)
            elif name == "gfa":
                sch = S.gfa(tab, model, weight=st.gfa_weight)
            else:
                raise ConfigError.bad_value("strategy", name, "one of " + ", ".join(STRATEGIES))
            total = S.integrated_time(model, tab, sch)
        cpu = time.process_time() - t0
        n_ent = 0
        if sch is not None and len(sch):
            done = sch.t_end_s <= total + 1e-9
            n_ent = int((tab.copies[:, sch.file[done]] * tab.covered[sch.slot[done]].T).sum())
        out[name] = StrategyResult(name, float(total), 0 if sch is None else int((sch.t_end_s <= total + 1e-9).sum()),
                                   n_ent, cpu, sch)
        if progress is not None:
            progress(name)
    return tab, out


def run_study(sc: PayloadScenario, *, sweep: bool = True, progress: bool = False) -> StudyResult:
    """The whole study: main scenario, then (if ``sweep``) each constellation of ``sweep_constellations``."""
    from tqdm import tqdm

    names = list(sc.strategies.run)
    sweep_list = list(sc.sweep_constellations) if sweep else []
    steps = 2 + len(names) + len(sweep_list) * (1 + len(names))
    bar = tqdm(total=steps, desc="payload study", unit="step", disable=not progress, leave=False)
    try:
        bar.set_postfix_str("model")
        model = build_model(sc)
        bar.update(1)
        bar.set_postfix_str(f"coverage {sc.ntn.constellation}")
        slots = compute_slots(sc.ntn, model.centres, sc.regions.area_km2)
        bar.update(1)

        def tick(name):
            bar.set_postfix_str(name)
            bar.update(1)

        tab, res = run_placement(sc, model, slots, names, progress=tick)
        out = StudyResult(sc, model, slots, tab, res)
        for cons in sweep_list:
            bar.set_postfix_str(f"coverage {cons}")
            sc2 = replace(sc, ntn=replace(sc.ntn, constellation=cons))
            sl2 = compute_slots(sc2.ntn, model.centres, sc.regions.area_km2)
            bar.update(1)
            _, r2 = run_placement(sc2, model, sl2, names, progress=tick)
            out.sweep[cons] = (sl2.n_satellites, {k: v.total_s for k, v in r2.items()})
    finally:
        bar.close()
    return out


def format_table(res: StudyResult) -> str:
    """The study as text: model summary, one row per strategy, savings vs the paper, the sweep."""
    m, sl = res.model, res.slots
    lines = [f"{res.scenario.name}: {m.n_regions} regions, {m.n_bs} BSs, {m.n_pairs} cache entries "
             f"({int(np.count_nonzero(m.copies.sum(0)))} distinct files of {res.scenario.cache.file_size_mb:g} MB); "
             f"{sl.constellation} ({sl.n_satellites} satellites): {sl.n_slots} slots in {sl.end_s[-1]:.0f} s "
             f"(mean {sl.duration_s.mean():.1f} s)",
             "",
             f"{'strategy':<8} {'total min':>9} {'NTN files':>9} {'NTN entries':>11} {'cpu s':>7}"
             + ("   paper min" if sl.n_satellites == 1584 else "")]
    paper_case = sl.n_satellites == 1584  # the paper's figures are for its 1584-satellite shell
    for name in STRATEGIES:
        if name not in res.results:
            continue
        r = res.results[name]
        paper = f"{PAPER_MIN[name]:.2f}" if name in PAPER_MIN and paper_case else ""
        lines.append(f"{name:<8} {r.total_s / 60:9.2f} {r.broadcasts:9d} {r.ntn_entries:11d} {r.cpu_s:7.2f}   {paper}")
    horizon = res.scenario.ntn.horizon_s
    late = [n for n, r in res.results.items() if n != "sa-tn" and r.total_s > horizon]
    if late:
        lines.append(f"note: {', '.join(late)} end after the NTN horizon ({horizon:g} s): no broadcasts are planned "
                     "after it (raise ntn.horizon_s)")
    lines.append("")
    pairs = [("gfa", "mbt", "gfa_vs_mbt"), ("gfa", "tnp", "gfa_vs_tnp"), ("sfa", "mbt", "sfa_vs_mbt"),
             ("sfa", "tnp", "sfa_vs_tnp"), ("gfa", "sfa", None)]
    for a, b, key in pairs:
        if a in res.results and b in res.results:
            p = f" (paper {100 * PAPER_SAVING[key]:.0f}%)" if key and paper_case else ""
            lines.append(f"{a.upper()} vs {b.upper()}: {100 * res.saving(a, b):5.1f}% faster{p}")
    if res.sweep:
        lines += ["", f"{'constellation':<16} {'sats':>5} " + " ".join(f"{n:>7}" for n in res.results)
                  + "   GFA vs MBT (paper ~20%)"]
        for cons, (n_sat, tot) in res.sweep.items():
            sv = f"{100 * (1 - tot['gfa'] / tot['mbt']):5.1f}%" if "gfa" in tot and "mbt" in tot else ""
            lines.append(f"{cons:<16} {n_sat:5d} " + " ".join(f"{tot[n] / 60:7.2f}" for n in res.results) + f"   {sv}")
    return "\n".join(lines)


def plot_timeline(res: StudyResult, path: str) -> str:
    """Files (cache entries) placed vs time: NTN (solid) and TN (dashed) per strategy, as the paper's Fig. 9."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m, tab = res.model, res.tables
    t_max = max(r.total_s for r in res.results.values()) * 1.05
    tg = np.linspace(0.0, t_max, 600)
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, r in res.results.items():
        c = COLORS.get(name, None)
        if name == "sa-tn":
            ax.plot(tg / 60, S.tn_curve(m, tab, None, r.total_s, tg), color=c, lw=1, ls=":", label="SA-TN")
            continue
        ntn = S.ntn_curve(m, tab, r.schedule, tg)
        tn = S.tn_curve(m, tab, r.schedule, r.total_s, tg)
        ntn = np.where(tg <= r.total_s, ntn, np.nan)  # curves end where the two segments meet
        tn = np.where(tg <= r.total_s, tn, np.nan)
        ax.plot(tg / 60, ntn, color=c, lw=1.8, label=f"{name.upper()} NTN")
        ax.plot(tg / 60, tn, color=c, lw=1.2, ls="--", label=f"{name.upper()} TN")
        ax.plot([r.total_s / 60], [S.ntn_curve(m, tab, r.schedule, np.array([r.total_s]))[0]], "o", color=c)
    ax.set_xlabel("time (min)")
    ax.set_ylabel("cache entries (files) placed")
    ax.set_title(f"{res.scenario.name}: {m.n_pairs} entries, {res.slots.constellation}; dots: total time")
    ax.set_ylim(0, m.n_pairs * 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_sweep(res: StudyResult, path: str) -> str:
    """Total placement time vs number of satellites, per strategy (paper Fig. 10)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = sorted(res.sweep.values(), key=lambda x: x[0])
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in res.results:
        if name == "sa-tn":
            continue
        ax.plot([p[0] for p in pts], [p[1][name] / 60 for p in pts], "o-", color=COLORS.get(name), label=name.upper())
    ax.set_xlabel("number of satellites (24 planes)")
    ax.set_ylabel("total placement time (min)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_outputs(res: StudyResult, out_dir: str) -> list[str]:
    """summary.json, table.txt, timeline.png and (with a sweep) sweep.png under ``out_dir``."""
    os.makedirs(out_dir, exist_ok=True)
    files = []
    summary = {
        "scenario": res.scenario.name,
        "constellation": res.slots.constellation,
        "n_slots": res.slots.n_slots,
        "entries": res.model.n_pairs,
        "distinct_files": int(np.count_nonzero(res.model.copies.sum(0))),
        "total_min": {k: v.total_s / 60 for k, v in res.results.items()},
        "ntn_files": {k: v.broadcasts for k, v in res.results.items()},
        "cpu_s": {k: v.cpu_s for k, v in res.results.items()},
        "sweep_total_min": {c: {"satellites": n, **{k: v / 60 for k, v in t.items()}}
                            for c, (n, t) in res.sweep.items()},
    }
    p = os.path.join(out_dir, "summary.json")
    with open(p, "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=2)
    files.append(p)
    p = os.path.join(out_dir, "table.txt")
    with open(p, "w", encoding="utf-8") as fh:
        fh.write(format_table(res) + "\n")
    files.append(p)
    files.append(plot_timeline(res, os.path.join(out_dir, "timeline.png")))
    if res.sweep:
        files.append(plot_sweep(res, os.path.join(out_dir, "sweep.png")))
    return files
