"""The experiment runner (``hil run`` / ``hil demo``): short runs against independent references.

* the per-frame truth columns agree with hil.orbit's geometry computed directly (SGP4 -> ECEF -> range
  rate), not with the DelayTrack the channel used;
* sync and timing over the delay range of a 550 km pass (1.8 .. 6.4 ms), ephemeris and blind;
* BER and Doppler-tracking residual bounds at high SNR; what breaks without compensation;
* re-acquisition after a handover (synthetic jump and the real serving-satellite change);
* the report files and the CLI.
"""

import json
import os

import numpy as np
import pytest

from hil.config import parse
from hil.emulator.trajectory import HandoverTrajectory, LinearTrajectory
from hil.errors import ConfigError, DeviceError
from hil.experiment import C_MPS, PassModel, _Prediction, build_pass, run_scenario, run_waveform
from hil.report import summarise
from hil.scenario import Scenario, WaveformConfig

FS = 1.92e6
FC = 2.0e9
NP = 508  # default preamble: L = 127, R = 4
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Satellite 0 of the starlink-1584 preset passes over (36 N, 90 E) from 445.8 s to 932.8 s after this
# epoch, culminating at 56.8 deg at 688.7 s (hil.orbit.find_passes).
BASE = dict(name="short", seed=1, sample_rate_hz=FS, carrier_hz=FC, duration_s=3.0, epoch="2026-01-01T12:45:00Z",
            waveforms=[{"kind": "otfs", "M": 32, "N": 8, "qam": 4}],
            orbit={"constellation": "starlink-1584", "satellite": 0, "start": "epoch", "offset_s": 686.0},
            link={"snr_db": 25.0},
            frames={"interval_s": 0.5, "per_burst": 3},
            tracking={"mode": "ephemeris", "ephemeris_error": {"along_track_m": 2000.0, "offset_ppm": 0.02},
                      "settle_s": 0.4})


def scenario(**changes):
    d = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE.items()}
    for k, v in changes.items():
        if isinstance(v, dict) and isinstance(d.get(k), dict):
            d[k].update(v)
        else:
            d[k] = v
    return parse(Scenario, d, source="test")


@pytest.fixture(scope="module")
def culmination_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    sc = scenario()
    res = run_scenario(sc, str(out), progress=False)
    return sc, res, str(out)


def test_report_files_and_bounds(culmination_run):
    _, res, out = culmination_run
    for f in ("summary.json", "summary.md", "report.html", "geometry.png", "doppler.png", "ber_snr.png",
              "constellation.png", "frames_otfs.csv"):
        assert os.path.getsize(os.path.join(out, f)) > 0, f
    with open(os.path.join(out, "summary.json")) as fh:
        s = json.load(fh)["waveforms"][0]
    assert s["frames"] >= 12 and s["frames_synced"] == s["frames"]
    assert s["ber"] < 1e-3  # 25 dB Es/N0, QPSK: the AWGN BER is ~1e-80
    assert s["residual_doppler_rms_ppm"] < 0.02  # 40 Hz at 2 GHz, with a 2 km ephemeris error
    assert s["delay_error_rms_ns"] < 30.0  # 0.06 sample at 1.92 MSPS
    assert "in-process" in res.backend_note
    # the CSV holds the same frames as the summary
    data = np.genfromtxt(os.path.join(out, "frames_otfs.csv"), delimiter=",", names=True)
    assert data.size == s["frames"] and int(data["bit_errors"].sum()) == s["bit_errors"]


def test_truth_columns_match_orbit_geometry(culmination_run):
    from hil.orbit import GroundStation, geometry, preset

    sc, res, _ = culmination_run
    c = res.runs[0].columns
    # the preamble centre arrives at t_tx + delay + (Np - 1) / 2 / fs; Doppler is taken there
    t_arr = c["t_s"] + c["delay_true_s"]
    t_c = t_arr + 0.5 * (NP - 1) / FS
    sat = preset("starlink-1584")[0]
    g = GroundStation(36.0, 90.0, 0.0)
    geo = geometry(sat, g, t_c, epoch=sc.epoch)
    np.testing.assert_allclose(c["doppler_true_hz"], -FC * geo.range_rate_mps / C_MPS, atol=0.5)
    geo_a = geometry(sat, g, t_arr, epoch=sc.epoch)
    np.testing.assert_allclose(c["range_m"], geo_a.range_m, atol=2.0)
    np.testing.assert_allclose(c["elevation_deg"], geo_a.elevation_deg, atol=0.01)
    assert np.all(c["elevation_deg"] > 55.0)  # near the 56.8 deg culmination
    # and the tracker's estimate follows it
    r = c["doppler_est_hz"] - c["doppler_true_hz"]
    assert np.all(np.abs(r[c["t_s"] > res.runs[0].acquisition_s]) < 100.0)


def _synthetic(traj, t_end, delay_range, snr_db=20.0, prediction_shift=0.0):
    return PassModel(trajectory=traj, t_start=0.0, t_end=t_end, carrier_hz=FC,
                     snr_db=lambda t: np.full(np.shape(t), snr_db) if np.ndim(t) else snr_db,
                     path_loss_db=lambda t: np.asarray(traj.path_loss_db(t)),
                     prediction=_Prediction(traj, FC, prediction_shift, 0.0, 0.0, 0.0),
                     delay_range_s=delay_range, info={"satellites": ["synthetic"], "ground": "-"})


@pytest.mark.parametrize("delay_s, rate", [(1.8e-3, 2.0e-5), (6.4e-3, -2.2e-5)])
@pytest.mark.parametrize("mode", ["ephemeris", "blind"])
def test_sync_across_pass_delays(delay_s, rate, mode):
    """Delays at both ends of a 550 km pass with the Doppler of its low elevations (~45 kHz)."""
    traj = LinearTrajectory(delay_s, rate, path_loss_db=150.0, elevation_deg=30.0)
    pm = _synthetic(traj, 2.0, (1.8e-3, 6.5e-3))
    sc = scenario(frames={"interval_s": 0.5, "per_burst": 3})
    run = run_waveform(sc, sc.waveforms[0], pm, mode)
    c = run.columns
    # after the first burst (a blind acquisition may cost frames of it) every frame is found
    settled = c["burst"] >= 1
    assert c["synced"][settled].all()
    ok = c["synced"] > 0
    err = (c["delay_est_s"] - c["delay_true_s"])[ok]
    assert np.all(np.abs(err) < 40e-9), err  # 0.08 sample (per-sample SNR 17 dB)
    np.testing.assert_allclose(c["delay_true_s"], delay_s + rate * (c["t_s"] + c["delay_true_s"]), rtol=1e-9)
    assert np.all(np.abs(c["doppler_est_hz"] - (-FC * rate))[ok] < 60.0)
    assert c["bit_errors"][settled].sum() == 0


class _Ramp:
    """delay = d0 + r t + a t^2 / 2: a Doppler ramp of -fc a Hz/s (an independent closed form)."""

    def __init__(self, d0, r, a):
        self.d0, self.r, self.a = d0, r, a

    def delay(self, t):
        t = np.asarray(t, float)
        return self.d0 + self.r * t + 0.5 * self.a * t * t

    def delay_rate(self, t):
        return self.r + self.a * np.asarray(t, float)

    def elevation(self, t):
        return np.full(np.shape(t), 45.0)

    def visible(self, t):
        return np.ones(np.shape(t), bool)

    def path_loss_db(self, t):
        return np.full(np.shape(t), 150.0)

    def discontinuities(self, t0, t1):
        return []


@pytest.mark.parametrize("mode", ["blind", "ephemeris"])
def test_tracker_state_carried_across_gaps(mode):
    """A culmination-like Doppler ramp (-640 Hz/s through +-1.3 kHz) with 1 s gaps between 3-frame bursts:
    the receiver extrapolates over each gap with its Doppler-rate estimate and stays locked."""
    fc_rate = -640.0
    pm = _synthetic(_Ramp(2.0e-3, 1.0e-6, -fc_rate / FC), 6.5, (1.9e-3, 2.2e-3), snr_db=20.0)
    sc = scenario(frames={"interval_s": 1.0, "per_burst": 3})
    run = run_waveform(sc, sc.waveforms[0], pm, mode)
    c = run.columns
    assert len(run.tracker.acquisitions) == 1  # no loss of lock over the gaps
    later = c["burst"] >= 2  # the loop has seen the rate over one gap
    assert c["synced"][later].all() and c["bit_errors"][later].sum() == 0
    np.testing.assert_allclose(c["doppler_true_hz"], -FC * (1.0e-6 - fc_rate / FC * (c["t_s"] + c["delay_true_s"]
                                                                                      + 0.5 * (NP - 1) / FS)),
                               atol=1e-6)
    assert np.sqrt(np.mean(c["tracking_residual_hz"][later] ** 2)) < 25.0


def test_no_compensation_breaks_and_reports_it():
    traj = LinearTrajectory(3e-3, -1.5e-5, path_loss_db=150.0)  # +30 kHz at 2 GHz
    pm = _synthetic(traj, 1.2, (2e-3, 4e-3), snr_db=25.0)
    sc = scenario()
    run = run_waveform(sc, sc.waveforms[0], pm, "none")
    s = summarise(run)
    c = run.columns
    assert s["frames_synced"] == s["frames"]  # timing alone is found (the detector is CFO-invariant)
    assert s["ber"] > 0.3  # but 30 kHz of uncorrected Doppler wrecks every frame
    np.testing.assert_allclose(s["residual_doppler_rms_hz"], 3e4, rtol=1e-6)
    assert np.all(c["doppler_est_hz"] == 0.0)


@pytest.mark.parametrize("mode", ["blind", "ephemeris"])
def test_reacquires_after_synthetic_handover(mode):
    a = LinearTrajectory(3.0e-3, -1.0e-5, path_loss_db=150.0)  # +20 kHz
    b = LinearTrajectory(4.1e-3, 1.2e-5, path_loss_db=150.0)  # -24 kHz, 1.1 ms later
    t_ho = 1.6
    traj = HandoverTrajectory([(0.0, a), (t_ho, b)])
    pm = _synthetic(traj, 3.6, (2.5e-3, 4.5e-3))
    sc = scenario(frames={"interval_s": 0.25, "per_burst": 4})
    run = run_waveform(sc, sc.waveforms[0], pm, mode)
    c = run.columns
    acq = [pm.t_start + q["index"] / FS for q in run.tracker.acquisitions]
    assert acq[0] < 0.1
    if mode == "blind":  # loses lock at the jump and finds the new satellite over the whole band
        assert any(t_ho < t < t_ho + 0.6 for t in acq[1:]), acq
    # ephemeris: the terminal knows the handover schedule, so delay and Doppler steps are predicted
    after = c["t_s"] > t_ho + 0.6
    before = (c["t_s"] < t_ho - 0.05) & (c["burst"] >= 1)
    assert c["synced"][after].all() and c["synced"][before].all()
    jump = np.abs(c["doppler_est_hz"][after][0] - c["doppler_est_hz"][before][-1])
    assert jump > 40e3  # the estimate followed the 44 kHz step
    assert np.all(np.abs(c["tracking_residual_hz"][after]) < 60.0)


def test_reacquires_at_real_serving_satellite_change():
    sc = scenario(epoch="2026-01-01T00:00:00Z", duration_s=3.0,
                  orbit={"start": "handover", "search_s": 120.0, "offset_s": 0.0},
                  frames={"interval_s": 0.25, "per_burst": 4}, tracking={"mode": "blind"})
    pm = build_pass(sc)
    assert len(pm.info["satellites"]) == 2 and len(pm.info["handovers_s"]) == 1
    t_ho = pm.info["handovers_s"][0]
    run = run_waveform(sc, sc.waveforms[0], pm, "blind")
    c = run.columns
    assert set(np.unique(c["satellite"])) and len(np.unique(c["satellite"])) == 2
    acq = [pm.t_start + q["index"] / FS for q in run.tracker.acquisitions]
    assert any(t_ho <= t < t_ho + 0.6 for t in acq), (acq, t_ho)
    after = c["t_s"] > t_ho + 0.6
    assert after.any() and c["synced"][after].all()
    # the Doppler jumps by tens of kHz at the change (two satellites on opposite sides)
    step = np.abs(np.diff(c["doppler_true_hz"])).max()
    assert step > 5e3


@pytest.mark.parametrize("kind", ["mock", "mock-zmq"])
def test_radio_path_returns_the_window(kind):
    """The samples cross the backend (loopback, or the ZeroMQ emulator) unchanged, latency removed."""
    from hil.experiment import _RadioPath
    from hil.scenario import BackendConfig

    rp = _RadioPath(BackendConfig(kind), FS, FC)
    try:
        rng = np.random.default_rng(4)
        for n in (5000, 1234):  # two windows in a row: the timeline stays aligned
            x = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(np.complex64)
            y = rp.transfer(x)
            assert y.shape == x.shape
            np.testing.assert_allclose(y, x, atol=1e-4 * np.max(np.abs(x)))
    finally:
        rp.close()


@pytest.mark.parametrize("kind", ["pluto", "soapy"])
def test_hardware_backend_without_device_fails_before_running(kind, tmp_path):
    sc = scenario(backend={"kind": kind, "profile": "pluto_ad9363" if kind == "pluto" else "usrp_b210"})
    # Either the library is installed and the device is not there ("cannot reach/open ..."), or the
    # library itself is absent (a fresh machine: "libiio is not available", "binding is not importable").
    with pytest.raises(DeviceError, match="cannot|not available|not importable"):
        run_scenario(sc, str(tmp_path / "r"), progress=False)
    assert not (tmp_path / "r").exists()


def test_scenario_errors_name_the_field():
    with pytest.raises(ConfigError, match=r"tracking\.compare\[0\]"):
        scenario(tracking={"compare": ["ephemeris"]})
    with pytest.raises(ConfigError, match=r"tracking\.mode"):
        scenario(tracking={"mode": "psychic"})
    with pytest.raises(ConfigError, match=r"frames\.oversample"):
        scenario(frames={"oversample": 3})


def test_cli_run_and_demo_help(tmp_path, capsys):
    import yaml

    from hil.cli import main

    d = {k: v for k, v in BASE.items()}
    d["backend"] = {"kind": "mock-zmq"}  # through the ZeroMQ channel emulator
    d["duration_s"] = 1.2
    d["frames"] = {"interval_s": 0.5, "per_burst": 2}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(d))
    out = tmp_path / "rep"
    assert main(["run", str(path), "-o", str(out), "--no-progress", "--no-html"]) == 0
    text = capsys.readouterr().out
    assert "report:" in text and "otfs" in text and "ZeroMQ channel emulator" in text
    assert (out / "summary.md").exists() and not (out / "report.html").exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nframes: {per_burst: 0}\n")
    assert main(["run", str(bad)]) == 2
    assert "frames.per_burst" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["demo", "--help"])
    assert e.value.code == 0
    assert "reports/demo" in capsys.readouterr().out


def test_demo_scenario_is_the_shipped_one():
    from hil.commands.demo import demo_scenario_path
    from hil.scenario import load_scenario

    sc = load_scenario(demo_scenario_path())
    assert sc.backend.kind == "mock-zmq" and {w.kind for w in sc.waveforms} == {"otfs", "ofdm"}
    assert sc.waveforms[0] == WaveformConfig("otfs", 64, 16, 4)
