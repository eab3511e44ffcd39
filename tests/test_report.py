"""hil.report: numbers recomputed independently from synthetic per-frame columns; files written."""

import json
import os

import numpy as np
import pytest

from hil.report import FRAME_COLUMNS, WaveformRun, summarise, write_report


def _run(name="otfs", n=50, seed=0, fc=2e9):
    rng = np.random.default_rng(seed)
    t = np.linspace(100.0, 200.0, n)
    dt = 40e3 * np.cos(np.linspace(0, np.pi, n))
    resid = rng.normal(0, 5.0, n)
    synced = np.ones(n)
    synced[[3, 17]] = 0
    bits = np.full(n, 2048.0)
    errs = rng.integers(0, 3, n).astype(float)
    errs[synced == 0] = 1024
    delay = 3e-3 + 1e-4 * np.sin(np.linspace(0, 3, n))
    cols = {"t_s": t, "elevation_deg": np.linspace(10, 50, n), "range_m": delay * 3e8, "path_loss_db": 150 + t * 0,
            "snr_db": np.linspace(10, 20, n), "delay_true_s": delay, "delay_est_s": delay + 5e-9,
            "doppler_true_hz": dt, "doppler_est_hz": np.where(synced > 0, dt + resid, np.nan), "bits": bits,
            "bit_errors": errs, "synced": synced, "extra_col": np.arange(n, dtype=float)}
    run = WaveformRun(name, cols, fc, constellation=np.exp(1j * np.pi / 4 * (2 * rng.integers(0, 4, 100) + 1)),
                      reference_points=np.exp(1j * np.pi / 4 * np.array([1, 3, 5, 7])), acquisition_s=120.0,
                      notes=["synthetic"])
    return run, resid


def test_summary_numbers_recomputed():
    run, resid = _run()
    s = summarise(run)
    c = run.columns
    assert s["frames"] == 50 and s["frames_synced"] == 48
    assert s["bits"] == 50 * 2048
    assert s["ber"] == pytest.approx(c["bit_errors"].sum() / (50 * 2048))
    assert s["bler"] == pytest.approx(np.mean((c["bit_errors"] > 0) | (c["synced"] == 0)))
    keep = (c["t_s"] >= 120.0) & (c["synced"] > 0)
    rms = np.sqrt(np.mean(resid[keep] ** 2))
    assert s["residual_doppler_rms_hz"] == pytest.approx(rms)
    assert s["residual_doppler_rms_ppm"] == pytest.approx(rms / 2e9 * 1e6)
    assert s["delay_error_rms_ns"] == pytest.approx(5.0, rel=1e-6)
    assert s["doppler_max_abs_hz"] == pytest.approx(40e3)
    assert s["snr_db_min"] == pytest.approx(10.0) and s["elevation_deg_max"] == pytest.approx(50.0)


def test_write_report_files(tmp_path):
    a, _ = _run("otfs")
    b, _ = _run("ofdm", seed=1)
    out = str(tmp_path / "rep")
    summary = write_report(out, [a, b], title="t <1>", meta={"backend": "mock"})
    for f in ("summary.json", "summary.md", "report.html", "geometry.png", "doppler.png", "ber_snr.png",
              "constellation.png", "comparison.png", "frames_otfs.csv", "frames_ofdm.csv"):
        assert os.path.getsize(os.path.join(out, f)) > 0, f
    with open(os.path.join(out, "summary.json")) as fh:
        assert json.load(fh) == json.loads(json.dumps(summary, default=float))
    md = open(os.path.join(out, "summary.md")).read()
    assert "| otfs | 50 (48) |" in md and "![Doppler tracking](doppler.png)" in md and "synthetic" in md
    html = open(os.path.join(out, "report.html")).read()
    assert html.count("data:image/png;base64,") == 5  # self-contained
    data = np.genfromtxt(os.path.join(out, "frames_otfs.csv"), delimiter=",", names=True)
    names = list(data.dtype.names)
    assert names[:len(FRAME_COLUMNS)] == list(FRAME_COLUMNS) and "extra_col" in names
    np.testing.assert_allclose(data["bit_errors"], a.columns["bit_errors"])


def test_stream_counters_reach_the_summary_table(tmp_path):
    a, _ = _run("otfs")
    a.counters = {"frames_sent": 50, "detected": 49, "decoded": 48, "missed": 2, "false_locks": 1,
                  "decoded_bits": 1000, "decoded_bit_errors": 3, "reference_bit_errors": 1,
                  "rx_frames_lost": 7, "rx_overflows": 2}
    b, _ = _run("ofdm", seed=1)
    b.counters = {"frames_sent": 50, "decoded": 50, "decoded_bits": 1000, "decoded_bit_errors": 0,
                  "reference_bit_errors": 0}  # in-process: no wire, not paced
    out = str(tmp_path / "rep")
    write_report(out, [a, b], title="t", meta={})
    md = open(os.path.join(out, "summary.md")).read()
    assert "| otfs | 50 | 49 | 48 | 2 | 1 | 3.000e-03 | 1.000e-03 | 7 | 2 |" in md
    assert "| ofdm | 50 | - | 50 | - | - | 0.000e+00 | 0.000e+00 | - | - |" in md
