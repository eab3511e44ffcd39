"""Campaign report: per-point totals over seed blocks, confidence intervals, BER/BLER plots, summary.md.

Confidence intervals are exact binomial (Clopper-Pearson) by default, or Wilson, at 95 %:

* BLER counts frame errors over frames - frames are independent draws (own noise, own channel), so the
  binomial model holds;
* BER counts bit errors over bits. Bits of one frame are *not* independent on a fading channel (a deep
  fade takes many bits at once), so on fading channels the BER interval is too narrow - read the BLER
  interval, or :func:`block_ci`, the Student-t interval of the mean over the (independent) seed blocks.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict

import numpy as np

__all__ = ["binomial_ci", "block_ci", "aggregate", "write_campaign_report", "plot_ber_groups", "summary_markdown"]

CI_METHODS = ("clopper-pearson", "wilson")


def binomial_ci(k, n, *, conf: float = 0.95, method: str = "clopper-pearson"):
    """(lower, upper) arrays of the two-sided ``conf`` interval of a binomial proportion k/n.

    Clopper-Pearson: beta quantiles ``B(a/2; k, n-k+1)`` and ``B(1-a/2; k+1, n-k)`` (0 and 1 at the ends).
    Wilson: the score interval ``(p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)``.
    """
    from scipy import stats

    from hil.errors import ConfigError

    if method not in CI_METHODS:
        raise ConfigError.bad_value("ci method", method, " or ".join(CI_METHODS))
    if not 0 < conf < 1:
        raise ConfigError.bad_value("conf", conf, "a confidence level between 0 and 1")
    k = np.asarray(k, float)
    n = np.asarray(n, float)
    a = 1.0 - conf
    if method == "clopper-pearson":
        with np.errstate(invalid="ignore", divide="ignore"):
            lo = np.where(k > 0, stats.beta.ppf(a / 2, k, n - k + 1), 0.0)
            hi = np.where(k < n, stats.beta.ppf(1 - a / 2, k + 1, n - k), 1.0)
        return lo, hi
    z = stats.norm.ppf(1 - a / 2)
    p = k / n
    den = 1 + z**2 / n
    mid = (p + z**2 / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / den
    return np.clip(mid - half, 0, 1), np.clip(mid + half, 0, 1)


def block_ci(values, *, conf: float = 0.95):
    """Student-t interval of the mean of per-block values (the blocks are independent draws: own seeds),
    ``mean -+ t(1 - a/2, b - 1) s / sqrt(b)``, clipped at 0; (None, None) with fewer than two blocks. For BER
    on a fading channel this does not assume independent bits - only independent blocks."""
    from scipy import stats

    v = np.asarray(values, float)
    if v.size < 2:
        return None, None
    half = stats.t.ppf(1 - (1 - conf) / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size)
    return max(0.0, float(v.mean() - half)), float(v.mean() + half)


LABELS_BER = ("waveform", "detector", "channel", "M", "N", "qam", "cp_len", "taps", "doppler", "snr_db")
LABELS_RUN = ("scenario", "variant", "waveform", "mode", "max_bursts")
SUMS = ("frames", "bits", "bit_errors", "frame_errors", "decoded", "false_locks", "decoded_bits",
        "decoded_bit_errors", "elapsed_s", "cpu_s")


def aggregate(table, *, conf: float = 0.95, method: str = "clopper-pearson") -> list[dict]:
    """One dict per point (kind + labels): sums over its seed blocks, BER/BLER and their intervals."""
    rows = table.to_pylist()
    groups: dict = defaultdict(list)
    for r in rows:
        groups[r["point_id"]].append(r)
    out = []
    for pid, rs in groups.items():
        r0 = rs[0]
        labels = LABELS_BER if r0["kind"] == "ber" else LABELS_RUN
        p = {"point_id": pid, "kind": r0["kind"], **{k: r0.get(k) for k in labels}, "blocks": len(rs)}
        for s in SUMS:
            vals = [r.get(s) for r in rs if r.get(s) is not None]
            p[s] = sum(vals) if vals else None
        if r0["kind"] == "run":
            snr = [r["snr_db_mean"] for r in rs if r.get("snr_db_mean") is not None]
            p["snr_db_mean"] = float(np.mean(snr)) if snr else None
        p["ber_blocks_lo"], p["ber_blocks_hi"] = block_ci([r["bit_errors"] / r["bits"] for r in rs if r.get("bits")],
                                                          conf=conf)
        out.append(p)
    for p in out:
        for what, k, n in (("ber", "bit_errors", "bits"), ("bler", "frame_errors", "frames"),
                           ("ber_decoded", "decoded_bit_errors", "decoded_bits")):
            if p.get(n):
                lo, hi = binomial_ci(p[k], p[n], conf=conf, method=method)
                p[what], p[f"{what}_lo"], p[f"{what}_hi"] = p[k] / p[n], float(lo), float(hi)
            else:
                p[what] = p[f"{what}_lo"] = p[f"{what}_hi"] = None
    def key(p):
        labels = [str(p.get(k)) for k in ("scenario", "variant", "channel", "doppler", "M", "N", "qam", "waveform",
                                          "detector", "mode")]
        return (p["kind"], *labels, p.get("snr_db") if p.get("snr_db") is not None else 0.0)

    return sorted(out, key=key)


def _group_name(p) -> str:
    nu = "" if p["doppler"] is None else f"_nu{p['doppler']:g}"
    return f"ber_{p['channel']}{nu}_{p['M']}x{p['N']}_q{p['qam']}"


def plot_ber_groups(points: list[dict], outdir: str, *, conf: float = 0.95) -> list[str]:
    """One PNG per (channel, Doppler, M x N, QAM): BER and BLER against Es/N0, a line per waveform/detector
    with its confidence interval; points with no error show the interval's upper bound (a down triangle)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict = defaultdict(list)
    for p in points:
        if p["kind"] == "ber":
            groups[_group_name(p)].append(p)
    files = []
    for name, ps in sorted(groups.items()):
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
        lines: dict = defaultdict(list)
        for p in ps:
            cp = "" if p["cp_len"] is None else f", cp {p['cp_len']}"
            lines[f"{p['waveform']} ({p['detector']}{cp})"].append(p)
        # on a fading channel the bits of a frame fail together: the binomial BER interval is too narrow,
        # the spread over independent seed blocks is the honest one (when every point has >= 2 blocks)
        blockwise = ps[0]["channel"] != "awgn" and all(q["ber_blocks_lo"] is not None for q in ps)
        for i, (label, lp) in enumerate(sorted(lines.items())):
            lp = sorted(lp, key=lambda q: q["snr_db"])
            color = f"C{i % 10}"
            for ax, what in zip(axes, ("ber", "bler")):
                x = np.array([q["snr_db"] for q in lp])
                y = np.array([q[what] for q in lp], float)
                key = "ber_blocks" if what == "ber" and blockwise else what
                lo = np.array([q[f"{key}_lo"] for q in lp], float)
                hi = np.array([q[f"{key}_hi"] for q in lp], float)
                ok = y > 0
                ax.errorbar(x[ok], y[ok], yerr=[y[ok] - lo[ok], hi[ok] - y[ok]], fmt="o-", color=color, ms=4,
                            capsize=3, label=label)
                if (~ok).any():
                    ax.semilogy(x[~ok], hi[~ok], "v", color=color, ms=6)
                ax.set_yscale("log")
        p0 = ps[0]
        if p0["channel"] == "awgn" and p0["qam"] == 4:  # the closed form the AWGN points must sit on
            from dsp.ber import qpsk_awgn_ber

            xs = np.linspace(min(q["snr_db"] for q in ps), max(q["snr_db"] for q in ps), 100)
            axes[0].semilogy(xs, qpsk_awgn_ber(xs), "k--", lw=1, label="4-QAM AWGN (exact)")
            bpf = ps[0]["bits"] / ps[0]["frames"]  # independent bit errors: BLER = 1 - (1 - BER)^bits
            axes[1].semilogy(xs, 1 - (1 - qpsk_awgn_ber(xs)) ** bpf, "k--", lw=1, label="1 - (1 - BER)^bits")
        nu = "" if p0["doppler"] is None else f", max Doppler {p0['doppler']:g} cyc/bin"
        for ax, what in zip(axes, ("BER", "BLER")):
            ax.set_xlabel("Es/N0 (dB)")
            ax.set_ylabel(what)
            ax.grid(True, which="both", alpha=0.3)
            ax.set_title(f"{what}, {p0['channel']}{nu}, {p0['M']}x{p0['N']}, {p0['qam']}-QAM", fontsize=9)
        axes[0].legend(fontsize=8)
        if axes[1].get_legend_handles_labels()[0]:
            axes[1].legend(fontsize=8)
        how = (f"BER bars: {conf:.0%} Student-t over seed blocks (fading: bits of a frame are not independent); "
               "BLER bars" if blockwise else "bars")
        fig.text(0.01, 0.01, f"{how}: {conf:.0%} Clopper-Pearson; v: no error seen (upper bound)", fontsize=7)
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        path = os.path.join(outdir, f"{name}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        files.append(path)
    return files


def _e(v, spec=".2e"):
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def summary_markdown(points, campaign, *, failures=(), conf=0.95, plots=(), timing=None) -> str:
    lines = [f"# Campaign {campaign.name}", ""]
    if campaign.description:
        lines += [campaign.description, ""]
    nb = sum(1 for p in points if p["kind"] == "ber")
    nr = sum(1 for p in points if p["kind"] == "run")
    lines += [f"- tasks: {len(campaign.tasks)} ({nb} BER points, {nr} run points); failed: {len(failures)}",
              f"- campaign seed {campaign.seed}; spec SHA-256 {campaign.spec_sha256[:16]}...",
              f"- intervals: {conf:.0%} Clopper-Pearson (BER treats bits as independent: too narrow on fading "
              "channels - see BLER, or the Student-t interval over seed blocks, 'CI (blocks)')"]
    if timing:
        lines.append(f"- task time: median {timing['median_s']:.2f} s, max {timing['max_s']:.2f} s; CPU "
                     f"{timing['cpu_s']:.1f} s in all")
    lines.append("")
    if nb:
        lines += ["## BER points", "",
                  "| waveform | detector | channel | max Doppler | M x N | QAM | Es/N0 dB | frames | "
                  "bit errors / bits | BER | BER CI | BER CI (blocks) | BLER | BLER CI |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for p in points:
            if p["kind"] != "ber":
                continue
            lines.append(f"| {p['waveform']} | {p['detector']} | {p['channel']} | "
                         f"{'-' if p['doppler'] is None else format(p['doppler'], 'g')} | {p['M']}x{p['N']} | "
                         f"{p['qam']} | {p['snr_db']:g} | {p['frames']} | {p['bit_errors']} / {p['bits']} | "
                         f"{_e(p['ber'])} | {_e(p['ber_lo'])}..{_e(p['ber_hi'])} | "
                         f"{_e(p['ber_blocks_lo'])}..{_e(p['ber_blocks_hi'])} | {_e(p['bler'], '.3f')} | "
                         f"{_e(p['bler_lo'], '.3f')}..{_e(p['bler_hi'], '.3f')} |")
        lines.append("")
    if nr:
        lines += ["## Run points (hil run scenarios)", "",
                  "| scenario | variant | waveform | mode | blocks | frames | decoded | false locks | mean Es/N0 dB |"
                  " BER (all frames) | BER decoded (CI) | BLER (CI) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for p in points:
            if p["kind"] != "run":
                continue
            v = json.loads(p["variant"] or "{}")
            vt = ", ".join(f"{k}={x}" for k, x in v.items()) or "-"
            lines.append(f"| {p['scenario']} | {vt} | {p['waveform']} | {p['mode']} | {p['blocks']} | {p['frames']} "
                         f"| {p['decoded']} | {p['false_locks']} | {_e(p['snr_db_mean'], '.1f')} | {_e(p['ber'])} | "
                         f"{_e(p['ber_decoded'])} ({_e(p['ber_decoded_lo'])}..{_e(p['ber_decoded_hi'])}) | "
                         f"{_e(p['bler'], '.3f')} ({_e(p['bler_lo'], '.3f')}..{_e(p['bler_hi'], '.3f')}) |")
        lines += ["", "BER (all frames) counts a frame that was not decoded as half its bits in error (as hil run).",
                  ""]
    if failures:
        lines += ["## Failed tasks", ""]
        lines += [f"- `{f['task_id']}` {f['labels']}: {f['error']}" for f in failures]
        lines.append("")
    if plots:
        lines += ["## Plots", ""] + [f"![{os.path.basename(f)}]({os.path.basename(f)})" for f in plots] + [""]
    return "\n".join(lines)


def write_campaign_report(outdir, table, campaign, *, failures=(), conf=0.95) -> dict:
    """summary.md, summary.json (the per-point numbers) and the BER/BLER plots of a campaign directory."""
    points = aggregate(table, conf=conf)
    plots = plot_ber_groups(points, outdir, conf=conf)
    el = np.array(table.column("elapsed_s").to_pylist(), float)
    cpu = np.array(table.column("cpu_s").to_pylist(), float)
    timing = {"median_s": float(np.median(el)), "max_s": float(np.max(el)), "cpu_s": float(np.nansum(cpu))} \
        if el.size else None
    md = summary_markdown(points, campaign, failures=failures, conf=conf, plots=plots, timing=timing)
    with open(os.path.join(outdir, "summary.md"), "w", encoding="utf-8") as fh:
        fh.write(md)
    with open(os.path.join(outdir, "summary.json"), "w", encoding="utf-8") as fh:
        json.dump({"name": campaign.name, "points": points, "failures": list(failures), "timing": timing}, fh,
                  indent=1, default=str)
    return {"points": points, "plots": plots, "markdown": md}
