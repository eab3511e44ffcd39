"""Experiment reports: a directory with a summary (JSON + Markdown), PNG plots and one HTML page.

The runner (:mod:`hil.experiment`) hands over one :class:`WaveformRun` per waveform: per-frame columns
(time, geometry, true and estimated delay/Doppler, SNR, bit errors) plus a constellation snapshot.
Everything in the report is computed from those columns - no number is typed in by hand.
"""

from __future__ import annotations

import base64
import json
import math
import os
from dataclasses import dataclass, field
from html import escape as html_escape

import numpy as np

__all__ = ["WaveformRun", "summarise", "write_report", "FRAME_COLUMNS"]

# Per-frame columns (units in the names). Missing optional columns are simply not plotted.
FRAME_COLUMNS = (
    "t_s",                # frame start, seconds since the scenario epoch
    "elevation_deg",
    "range_m",
    "path_loss_db",
    "snr_db",             # Es/N0 the channel imposed (link budget)
    "delay_true_s",       # one-way propagation delay the channel applied
    "delay_est_s",        # receiver's delay estimate (sync + timing advance)
    "doppler_true_hz",    # -fc * dtau/dt at the frame
    "doppler_est_hz",     # pre-compensation + tracked residual
    "bits",               # payload bits in the frame
    "bit_errors",
    "synced",             # 1 if the frame was found, 0 if lost
)


@dataclass
class WaveformRun:
    """The per-frame results of one waveform over the experiment."""

    name: str
    columns: dict[str, np.ndarray]
    carrier_hz: float
    constellation: np.ndarray | None = None   # equalised data symbols of one frame near culmination
    reference_points: np.ndarray | None = None  # the QAM constellation, for the snapshot plot
    acquisition_s: float = 0.0                  # tracking statistics exclude frames before this time
    notes: list[str] = field(default_factory=list)

    def col(self, name):
        v = self.columns.get(name)
        return None if v is None else np.asarray(v, dtype=float)


def _rms(x):
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    return float(np.sqrt(np.mean(x**2))) if x.size else float("nan")


def _finite(v):
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v


def summarise(run: WaveformRun) -> dict:
    """Numbers of one waveform's run: BER/BLER, SNR, tracking and timing errors, geometry extremes."""
    t = run.col("t_s")
    bits = run.col("bits")
    errs = run.col("bit_errors")
    synced = run.col("synced")
    synced = np.ones_like(t) if synced is None else synced
    n = int(t.size)
    total_bits = float(bits.sum()) if bits is not None else 0.0
    total_err = float(errs.sum()) if errs is not None else 0.0
    out = {
        "waveform": run.name,
        "frames": n,
        "frames_synced": int(synced.sum()),
        "bits": int(total_bits),
        "bit_errors": int(total_err),
        "ber": total_err / total_bits if total_bits else None,
        "bler": float(np.mean((errs > 0) | (synced == 0))) if errs is not None and n else None,
        "duration_s": float(t[-1] - t[0]) if n > 1 else 0.0,
    }
    for key, name in (("snr_db", "snr_db"), ("elevation_deg", "elevation_deg")):
        v = run.col(name)
        if v is not None and v.size:
            out[f"{key}_min"] = float(np.min(v))
            out[f"{key}_max"] = float(np.max(v))
    dt, de = run.col("doppler_true_hz"), run.col("doppler_est_hz")
    if dt is not None and de is not None:
        after = (t >= run.acquisition_s) & (synced > 0)
        resid = (de - dt)[after]
        out["doppler_max_abs_hz"] = float(np.max(np.abs(dt))) if dt.size else None
        if dt.size > 1:
            rate = np.gradient(dt, t)
            out["doppler_rate_max_abs_hz_s"] = float(np.max(np.abs(rate)))
        out["residual_doppler_rms_hz"] = _rms(resid)
        out["residual_doppler_rms_ppm"] = _rms(resid) / run.carrier_hz * 1e6
        out["residual_doppler_max_abs_hz"] = float(np.max(np.abs(resid))) if resid.size else None
        out["acquisition_s"] = run.acquisition_s
    ht, he = run.col("delay_true_s"), run.col("delay_est_s")
    if ht is not None and he is not None:
        ok = synced > 0
        out["delay_error_rms_ns"] = _rms((he - ht)[ok]) * 1e9
        out["delay_min_ms"] = float(np.min(ht)) * 1e3
        out["delay_max_ms"] = float(np.max(ht)) * 1e3
    counters = getattr(run, "counters", None)
    if counters:
        for k in ("frames_sent", "detected", "decoded", "missed", "false_locks", "bursts_without_telemetry"):
            if k in counters:
                out[k] = int(counters[k])
        db, de, ref = counters.get("decoded_bits"), counters.get("decoded_bit_errors"), \
            counters.get("reference_bit_errors")
        if db:
            out["ber_decoded"] = de / db
            out["ber_reference"] = ref / db  # ideal CSI, AWGN, at each decoded frame's Es/N0
        for k in ("rx_samples_missing", "rx_frames_lost", "rx_windows", "rx_windows_locked", "rx_acquisitions",
                  "rx_overflows", "rx_overflow_samples", "tx_underflows"):
            if k in counters:
                out[k] = counters[k]
    out["notes"] = list(run.notes)
    return {k: _finite(v) for k, v in out.items()}


def _fmt(v, spec):
    return "-" if v is None else format(v, spec)


def _markdown(title, meta, sums):
    lines = [f"# {title}", ""]
    for k, v in meta.items():
        lines.append(f"- **{k}**: {v}")
    lines += ["", "| waveform | frames (synced) | BER | BLER | SNR dB (min..max) | residual Doppler RMS Hz (ppm) "
              "| delay error RMS ns |", "|---|---|---|---|---|---|---|"]
    for s in sums:
        lines.append(
            f"| {s['waveform']} | {s['frames']} ({s['frames_synced']}) | {_fmt(s.get('ber'), '.3e')} "
            f"| {_fmt(s.get('bler'), '.3f')} | {_fmt(s.get('snr_db_min'), '.1f')}..{_fmt(s.get('snr_db_max'), '.1f')} "
            f"| {_fmt(s.get('residual_doppler_rms_hz'), '.2f')} ({_fmt(s.get('residual_doppler_rms_ppm'), '.4f')}) "
            f"| {_fmt(s.get('delay_error_rms_ns'), '.1f')} |")
    if any("frames_sent" in s for s in sums):
        lines += ["", "| waveform | sent | detected | decoded | missed | false locks | BER of decoded frames | "
                  "ideal-CSI AWGN reference | wire frames lost | RX overflows |", "|---" * 10 + "|"]
        for s in sums:
            lines.append(f"| {s['waveform']} | {s.get('frames_sent', '-')} | {s.get('detected', '-')} | "
                         f"{s.get('decoded', '-')} | {s.get('missed', '-')} | {s.get('false_locks', '-')} | "
                         f"{_fmt(s.get('ber_decoded'), '.3e')} | {_fmt(s.get('ber_reference'), '.3e')} | "
                         f"{s.get('rx_frames_lost', '-')} | {s.get('rx_overflows', '-')} |")
        lines += ["", "Wire frames lost: sequence numbers missing in the emulator's output as the receiver got it "
                  "(each frame is up to 16384 samples); RX overflows: messages taken more than a radio buffer late "
                  "(`frames.pace: realtime` only, '-' otherwise)."]
    notes = [f"- {s['waveform']}: {n}" for s in sums for n in s.get("notes", [])]
    if notes:
        lines += ["", "## Notes", *notes]
    lines += ["", "## Plots", ""]
    return lines


def _plots(outdir, runs):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    first = runs[0]
    t = first.col("t_s")

    fig, ax = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    if first.col("elevation_deg") is not None:
        ax[0].plot(t, first.col("elevation_deg"))
    ax[0].set_ylabel("elevation (deg)")
    if first.col("delay_true_s") is not None:
        ax[1].plot(t, first.col("delay_true_s") * 1e3, label="true")
        if first.col("delay_est_s") is not None:
            ax[1].plot(t, first.col("delay_est_s") * 1e3, "--", label="estimated")
        ax[1].legend()
    ax[1].set_ylabel("one-way delay (ms)")
    if first.col("path_loss_db") is not None:
        ax[2].plot(t, first.col("path_loss_db"))
    ax[2].set_ylabel("path loss (dB)")
    ax[2].set_xlabel("time since epoch (s)")
    fig.suptitle("Pass geometry")
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "geometry.png"), dpi=100)
    plt.close(fig)
    made.append(("Pass geometry", "geometry.png"))

    fig, ax = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
    for r in runs:
        tt, dt, de = r.col("t_s"), r.col("doppler_true_hz"), r.col("doppler_est_hz")
        if dt is None or de is None:
            continue
        if r is first:
            ax[0].plot(tt, dt / 1e3, "k", lw=2, label="true")
        ax[0].plot(tt, de / 1e3, "--", label=f"estimated ({r.name})")
        res = de - dt
        if _rms(res) > 1e3 and len(runs) > 1:  # e.g. no compensation: would hide the tracked runs
            ax[1].plot([], [], " ", label=f"{r.name}: off scale ({_rms(res) / 1e3:.1f} kHz RMS)")
        else:
            ax[1].plot(tt, res, label=r.name)
    for r in runs:  # frames not found: where tracking was lost / re-acquired
        tt, dt, sy = r.col("t_s"), r.col("doppler_true_hz"), r.col("synced")
        if dt is not None and sy is not None and np.any(sy == 0):
            lost = sy == 0
            ax[0].plot(tt[lost], dt[lost] / 1e3, "x", ms=7, label=f"frame lost ({r.name})")
    sat = first.col("satellite")
    if sat is not None and sat.size > 1:
        for k in np.flatnonzero(np.diff(sat) != 0) + 1:  # serving-satellite changes (handovers)
            for a in ax:
                a.axvline(t[k], color="red", ls="--", lw=1)
    ax[0].set_ylabel("Doppler (kHz)")
    ax[0].legend()
    ax[1].set_ylabel("residual (Hz)")
    ax[1].set_xlabel("time since epoch (s)")
    ax[1].axvline(first.acquisition_s, color="grey", ls=":")
    ax[1].legend()
    fig.suptitle("Doppler: truth, estimate and residual error")
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "doppler.png"), dpi=100)
    plt.close(fig)
    made.append(("Doppler tracking", "doppler.png"))

    fig, ax = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
    for r in runs:
        tt, e, b = r.col("t_s"), r.col("bit_errors"), r.col("bits")
        if e is None or b is None:
            continue
        w = max(1, len(tt) // 30)
        ber = np.convolve(e, np.ones(w), "same") / np.maximum(np.convolve(b, np.ones(w), "same"), 1)
        ax[0].semilogy(tt, np.maximum(ber, 1e-7), label=r.name)
    ax[0].set_ylabel("BER (moving window)")
    ax[0].set_ylim(1e-7, 1)
    ax[0].legend()
    if first.col("snr_db") is not None:
        ax[1].plot(t, first.col("snr_db"))
    ax[1].set_ylabel("Es/N0 (dB)")
    ax[1].set_xlabel("time since epoch (s)")
    fig.suptitle("BER and SNR over the pass (floor 1e-7 = no errors)")
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "ber_snr.png"), dpi=100)
    plt.close(fig)
    made.append(("BER and SNR", "ber_snr.png"))

    if any(r.col("decoded_bit_errors") is not None for r in runs):
        made.append(_plot_vs_esn0(outdir, runs, plt))

    snaps = [r for r in runs if r.constellation is not None and len(r.constellation)]
    if snaps:
        fig, axes = plt.subplots(1, len(snaps), figsize=(3.6 * len(snaps), 3.8), squeeze=False)
        for a, r in zip(axes[0], snaps):
            c = np.asarray(r.constellation)
            a.plot(c.real, c.imag, ".", ms=2, alpha=0.5)
            if r.reference_points is not None:
                a.plot(r.reference_points.real, r.reference_points.imag, "r+", ms=10)
            a.set_title(r.name)
            a.set_aspect("equal")
            a.grid(alpha=0.3)
        fig.suptitle("Constellation snapshot (equalised data symbols)")
        fig.tight_layout()
        fig.savefig(os.path.join(outdir, "constellation.png"), dpi=100)
        plt.close(fig)
        made.append(("Constellation snapshot", "constellation.png"))

    if len(runs) > 1:
        sums = [summarise(r) for r in runs]
        fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
        names = [s["waveform"] for s in sums]
        ax[0].bar(names, [max(s["ber"] or 0, 1e-7) for s in sums])
        ax[0].set_yscale("log")
        ax[0].set_ylabel("BER over the pass")
        ax[1].bar(names, [s.get("residual_doppler_rms_hz") or 0 for s in sums])
        ax[1].set_ylabel("residual Doppler RMS (Hz)")
        fig.suptitle("Waveform comparison")
        fig.tight_layout()
        fig.savefig(os.path.join(outdir, "comparison.png"), dpi=100)
        plt.close(fig)
        made.append(("Waveform comparison", "comparison.png"))
    return made


def _plot_vs_esn0(outdir, runs, plt):
    """Where each waveform wins: BER of decoded frames and the share of frames decoded per Es/N0 bin (the
    emulator's telemetry), with the ideal-CSI AWGN reference; and the same against elevation."""
    fig, ax = plt.subplots(2, 2, figsize=(11, 7.5))
    for key, col in ((0, "snr_db"), (1, "elevation_deg")):
        edges = None
        for r in runs:
            x, e, b, dec = r.col(col), r.col("decoded_bit_errors"), r.col("bits"), r.col("synced")
            if x is None or e is None:
                continue
            ok = np.isfinite(x)
            if edges is None:
                lo, hi = np.floor(np.min(x[ok])), np.ceil(np.max(x[ok]))
                step = 1.0 if col == "snr_db" else 5.0
                edges = np.arange(lo, hi + step, step)
            k = np.digitize(x, edges)
            cen, ber, rate = [], [], []
            for i in range(1, len(edges)):
                sel = (k == i) & ok
                if not sel.any():
                    continue
                d = sel & (dec > 0)
                bits = float(np.sum(b[d]))
                cen.append(0.5 * (edges[i - 1] + edges[i]))
                ber.append(np.nansum(e[d]) / bits if bits else np.nan)
                rate.append(float(np.mean(dec[sel] > 0)))
            ax[0, key].semilogy(cen, np.maximum(ber, 1e-7), "o-", label=r.name)
            ax[1, key].plot(cen, rate, "o-", label=r.name)
        if key == 0 and edges is not None:
            from hil.loop.metrics import expected_ber

            qam = 4
            g = np.linspace(edges[0], edges[-1], 100)
            ax[0, 0].semilogy(g, np.maximum(expected_ber(g, qam), 1e-7), "k--", lw=1, label="ideal CSI, AWGN (4-QAM)")
        ax[0, key].set_ylim(1e-7, 1)
        ax[0, key].set_ylabel("BER of decoded frames (floor 1e-7)")
        ax[1, key].set_ylabel("frames decoded")
        ax[1, key].set_ylim(0, 1.05)
        ax[1, key].set_xlabel("Es/N0 (dB, emulator telemetry)" if key == 0 else "elevation (deg)")
        ax[0, key].legend(fontsize=8)
        ax[0, key].grid(alpha=0.3, which="both")
        ax[1, key].grid(alpha=0.3)
    fig.suptitle("Where each waveform wins: BER and decoded frames vs Es/N0 and elevation")
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "ber_vs_esn0.png"), dpi=100)
    plt.close(fig)
    return ("BER and decoded frames vs Es/N0 and elevation", "ber_vs_esn0.png")


def write_report(outdir: str, runs: list[WaveformRun], *, title: str, meta: dict | None = None,
                 html: bool = True) -> dict:
    """Write summary.json, summary.md, PNG plots, per-frame CSVs and (optionally) report.html.

    Returns the summary dict (also in summary.json).
    """
    os.makedirs(outdir, exist_ok=True)
    meta = dict(meta or {})
    sums = [summarise(r) for r in runs]
    summary = {"title": title, "meta": meta, "waveforms": sums}
    with open(os.path.join(outdir, "summary.json"), "w") as fh:
        json.dump(summary, fh, indent=2, default=float)
    for r in runs:
        names = [c for c in FRAME_COLUMNS if c in r.columns] + sorted(set(r.columns) - set(FRAME_COLUMNS))
        data = np.column_stack([np.asarray(r.columns[c], float) for c in names])
        np.savetxt(os.path.join(outdir, f"frames_{r.name}.csv"), data, delimiter=",",
                   header=",".join(names), comments="", fmt="%.10g")
    plots = _plots(outdir, runs)
    md = _markdown(title, meta, sums) + [f"![{cap}]({png})" for cap, png in plots]
    with open(os.path.join(outdir, "summary.md"), "w") as fh:
        fh.write("\n".join(md) + "\n")
    if html:
        parts = [f"<!doctype html><meta charset='utf-8'><title>{html_escape(title)}</title>",
                 "<style>body{font-family:sans-serif;max-width:1000px;margin:auto}"
                 "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}</style>",
                 f"<h1>{title}</h1><ul>"]
        parts += [f"<li><b>{k}</b>: {v}</li>" for k, v in meta.items()]
        parts.append("</ul><table><tr><th>waveform</th><th>frames (synced)</th><th>BER</th><th>BLER</th>"
                     "<th>residual Doppler RMS (Hz / ppm)</th><th>delay error RMS (ns)</th></tr>")
        for s in sums:
            parts.append(
                f"<tr><td>{s['waveform']}</td><td>{s['frames']} ({s['frames_synced']})</td>"
                f"<td>{_fmt(s.get('ber'), '.3e')}</td><td>{_fmt(s.get('bler'), '.3f')}</td>"
                f"<td>{_fmt(s.get('residual_doppler_rms_hz'), '.2f')} / "
                f"{_fmt(s.get('residual_doppler_rms_ppm'), '.4f')}</td>"
                f"<td>{_fmt(s.get('delay_error_rms_ns'), '.1f')}</td></tr>")
        parts.append("</table>")
        for cap, png in plots:
            with open(os.path.join(outdir, png), "rb") as fh:
                b64 = base64.b64encode(fh.read()).decode()
            parts.append(f"<h2>{cap}</h2><img src='data:image/png;base64,{b64}' style='max-width:100%'>")
        with open(os.path.join(outdir, "report.html"), "w") as fh:
            fh.write("\n".join(parts))
    return summary
