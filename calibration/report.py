"""The calibration report: before/after numbers (image rejection, DC level, EVM) and PNG plots.

``write_report(result, directory)`` writes ``calibration.json`` (the numbers), ``calibration.md`` (a
table a person reads) and the plots: ``spectrum.png`` (received tone before/after, its image marked),
``constellation.png`` (16-QAM OFDM before/after), ``gain_table.png`` (gain error over frequency and
gain setting) and ``inband.png`` (loopback response across the band). Everything comes from the
procedure's captures and record; nothing is typed in by hand.
"""

from __future__ import annotations

import json
import os

import numpy as np

from calibration.procedure import CalibrationResult

__all__ = ["write_report", "summary_rows"]

_ROWS = (
    ("Image rejection ratio", "irr_before_db", "irr_after_db", "dB"),
    ("DC level (TX idle)", "dc_before_dbfs", "dc_after_dbfs", "dBFS"),
    ("16-QAM OFDM EVM", "evm_before_db", "evm_after_db", "dB"),
)


def summary_rows(result: CalibrationResult) -> list[tuple[str, float | None, float | None, str]]:
    """(quantity, before, after, unit) rows of the report."""
    m = result.record.metrics
    return [(name, m.get(b), m.get(a), unit) for name, b, a, unit in _ROWS]


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def _spectrum_db(y, points: int = 1024):
    """Hann-windowed power spectrum (dBFS for a tone), peak-held down to about ``points`` values (a plot
    of 16 k bins looks the same and draws much faster)."""
    y = np.asarray(y)
    win = np.hanning(y.size)
    s = np.fft.fftshift(np.fft.fft(y * win))
    p = np.abs(s) ** 2 / (np.sum(win) ** 2)
    f = np.fft.fftshift(np.fft.fftfreq(y.size))
    k = max(1, y.size // points)
    m = (y.size // k) * k
    p = p[:m].reshape(-1, k).max(axis=1)
    f = f[:m].reshape(-1, k).mean(axis=1)
    return f, 10 * np.log10(np.maximum(p, 1e-20))


def write_report(result: CalibrationResult, directory: str | os.PathLike) -> list[str]:
    """Write the report files into ``directory`` (created); returns their paths."""
    # The object-oriented API with the Agg canvas: no pyplot, no GUI backend, no global figure state.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def subplots(*grid, **kw):
        fig = Figure(layout="constrained", **{k: v for k, v in kw.items() if k == "figsize"})
        FigureCanvasAgg(fig)
        axes = fig.subplots(*grid, **{k: v for k, v in kw.items() if k != "figsize"})
        return fig, axes

    d = os.fspath(directory)
    os.makedirs(d, exist_ok=True)
    rec = result.record
    fs = rec.sample_rate_hz
    written = []

    def save(fig, name):
        path = os.path.join(d, name)
        fig.savefig(path, dpi=100)
        written.append(path)

    cap = result.captures
    if "tone_before" in cap:
        fig, ax = subplots(figsize=(8, 4))
        for key, label in (("tone_before", "before"), ("tone_after", "after")):
            f, p = _spectrum_db(cap[key])
            ax.plot(f * fs / 1e3, p, lw=0.8, label=f"{label} (IRR {_fmt(rec.metrics.get('irr_' + label + '_db'))} dB)")
        ax.set_xlabel("frequency (kHz)")
        ax.set_ylabel("power (dBFS)")
        ax.set_title(f"{rec.profile}/{rec.serial}: received test tone and its image")
        ax.legend()
        ax.grid(alpha=0.3)
        save(fig, "spectrum.png")
    if "constellation_before" in cap:
        fig, axes = subplots(1, 2, figsize=(8, 4), sharex=True, sharey=True)
        for ax, key, label in ((axes[0], "constellation_before", "before"), (axes[1], "constellation_after", "after")):
            z = cap[key]
            ax.plot(z.real, z.imag, ".", ms=1.5, alpha=0.5, rasterized=True)
            ref = cap.get("constellation_reference")
            if ref is not None:
                pts = np.unique(np.round(ref, 6))
                ax.plot(pts.real, pts.imag, "r+", ms=6)
            ax.set_title(f"{label}: EVM {_fmt(rec.metrics.get('evm_' + label + '_db'))} dB")
            ax.set_aspect("equal")
            ax.grid(alpha=0.3)
        fig.suptitle("16-QAM OFDM through the loopback")
        save(fig, "constellation.png")
    gt = rec.gain_table
    if gt.frequencies_hz:
        fig, ax = subplots(figsize=(7, 4))
        t = np.asarray(gt.offset_db)
        for j, g in enumerate(gt.rx_gains_db):
            ax.plot(np.asarray(gt.frequencies_hz) / 1e6, t[:, j], "o-", label=f"RX gain {g:g} dB")
        ax.set_xlabel("RF frequency (MHz)")
        ax.set_ylabel("gain error (dB, re reference)")
        ax.set_title("loopback gain table")
        ax.legend()
        ax.grid(alpha=0.3)
        save(fig, "gain_table.png")
    if rec.inband_freqs:
        fig, ax = subplots(figsize=(7, 3.5))
        ax.plot(np.asarray(rec.inband_freqs) * fs / 1e3, rec.inband_db, ".-")
        ax.set_xlabel("baseband frequency (kHz)")
        ax.set_ylabel("response (dB, re mean)")
        ax.set_title("loopback response across the band")
        ax.grid(alpha=0.3)
        save(fig, "inband.png")

    summary = {"profile": rec.profile, "serial": rec.serial, "created_utc": rec.created_utc,
               "sample_rate_hz": rec.sample_rate_hz, "frequency_hz": rec.frequency_hz,
               "delay_samples": rec.delay_samples, "ppm": rec.ppm, "iq_separated": rec.iq_separated,
               "rx_iq_w": [rec.rx_iq_w.real, rec.rx_iq_w.imag], "tx_iq_beta": [rec.tx_iq_beta.real,
                                                                              rec.tx_iq_beta.imag],
               "rx_dc": [rec.rx_dc.real, rec.rx_dc.imag], "metrics": rec.metrics, "plots": list(written)}
    path = os.path.join(d, "calibration.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=1)
    written.append(path)

    lines = [f"# Calibration of {rec.profile} / {rec.serial}", "",
             f"{rec.created_utc}, {rec.backend}, fs = {rec.sample_rate_hz:g} Hz, LO = {rec.frequency_hz:g} Hz, "
             f"RX gain {rec.rx_gain_db:g} dB, TX gain {rec.tx_gain_db:g} dB", "",
             "| quantity | before | after | unit |", "|---|---|---|---|"]
    lines += [f"| {n} | {_fmt(b)} | {_fmt(a)} | {u} |" for n, b, a, u in summary_rows(result)]
    lines += ["", f"- TX->RX delay: {_fmt(rec.delay_samples)} samples",
              f"- receiver reference error: {'n/a' if rec.ppm is None else f'{rec.ppm:+.4f}'} ppm "
              f"({rec.ppm_reference})",
              f"- TX/RX IQ separated: {rec.iq_separated}",
              f"- noise floor: {_fmt(rec.metrics.get('noise_floor_dbfs'))} dBFS", ""]
    lines += [f"![{os.path.basename(p)}]({os.path.basename(p)})" for p in written if p.endswith(".png")]
    path = os.path.join(d, "calibration.md")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    written.append(path)
    return written
