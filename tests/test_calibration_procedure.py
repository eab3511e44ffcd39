"""The whole calibration procedure on the loopback mock with injected impairments, and `hil calibrate`."""

import numpy as np
import pytest

import calibration
from calibration.mock_frontend import impaired_mock
from calibration.procedure import CalibrationProcedure, CalibrationSettings, run_calibration
from calibration.signals import OfdmTestFrame
from dsp.impairments import FrontEndImpairments
from hil.cli import main

FS, FC = 2e6, 2.4e9
NOISE = -55.0  # dBFS at the RX input; the pilots are at -15 dBFS (40 dB SNR)
SETTINGS = CalibrationSettings(sample_rate=FS, frequency=FC, rx_gain=30.0, gain_frequencies=(2.3e9, 2.5e9),
                               gain_rx_gains=(20.0, 40.0), dc_samples=8192, tone_samples=8192, repeats=12)


def _grid_point(seed, **extra):
    """Extremes of the issue's grid with random signs: 1 dB, 5 deg (TX and RX), DC -20 dBFS, fractional delay."""
    rng = np.random.default_rng(seed)
    s = rng.choice([-1.0, 1.0], 4)
    kw = dict(tx_iq_gain_db=s[0] * 1.0, tx_iq_phase_deg=s[1] * 5.0, rx_iq_gain_db=s[2] * 1.0,
              rx_iq_phase_deg=s[3] * 5.0, rx_dc_dbfs=-20.0, rx_dc_phase_deg=rng.uniform(-180, 180),
              tx_lo_leakage_dbfs=-25.0, tx_lo_leakage_phase_deg=rng.uniform(-180, 180),
              latency_samples=rng.uniform(30, 90), noise_dbfs=NOISE, rf_gain_freqs_hz=(2.3e9, 2.4e9, 2.5e9),
              rf_gain_error_db=tuple(rng.uniform(-1.5, 1.5, 3)), rx_gain_step_error=0.02)
    kw.update(extra)
    return FrontEndImpairments(**kw)


def _irr_after_rx(iq, w):
    return 20 * np.log10(abs(iq.k1 - w * np.conj(iq.k2)) / abs(iq.k2 - w * np.conj(iq.k1)))


def _irr_after_tx(iq, beta):
    return 20 * np.log10(abs(iq.k1 - iq.k2 * np.conj(beta)) / abs(iq.k2 - iq.k1 * beta))


def _unimpaired_evm(imp, rx_gain, seed=99):
    """EVM of the same frame through the mock with the same link budget and nothing else.

    The TX mixer's gain |K1| and the RF gain error are gains, not distortions: they change the SNR at the
    receiver (noise enters at the RX input), which calibration cannot and should not undo. The
    reference therefore sees the noise scaled by the same factor.
    """
    gain_db = 20 * np.log10(abs(imp.tx_iq.k1)) + imp.rf_gain.error_db(FC, rx_gain)
    ref = FrontEndImpairments(latency_samples=imp.latency_samples, noise_dbfs=NOISE - gain_db)
    radio = impaired_mock("mock", ref, rng=seed)
    frame = OfdmTestFrame(level_dbfs=SETTINGS.pilot_level_dbfs)
    with radio:
        radio.configure(sample_rate=FS, rx_frequency=FC, tx_frequency=FC)
        radio.start()
        y = CalibrationProcedure(radio, SETTINGS).transceive(frame.samples, len(frame) + 1000)
    return frame.evm_db(y)


@pytest.mark.parametrize("seed, ppm", [(1, 20.0), (2, -17.5)])
def test_one_device_loopback(seed, ppm):
    """One device (TX and RX share a 20 ppm reference): everything recovered, EVM as if unimpaired."""
    imp = _grid_point(seed, tx_ppm=ppm, rx_ppm=ppm)
    radio = impaired_mock("mock", imp, rng=seed)
    res = run_calibration(radio, SETTINGS)
    rec = res.record
    pipeline = radio.frontend.latency
    assert rec.delay_samples == pytest.approx(imp.latency_samples * (1 + ppm * 1e-6) + pipeline, abs=0.05)
    assert rec.ppm == pytest.approx(0.0, abs=0.01)  # a shared reference cancels in the loopback
    assert rec.iq_separated
    assert _irr_after_rx(imp.rx_iq, rec.rx_iq_w) > 40
    assert _irr_after_tx(imp.tx_iq, rec.tx_iq_beta) > 40
    assert abs(rec.rx_dc - imp.rx_dc) < 10 ** (-50 / 20)
    m = rec.metrics
    assert m["irr_after_db"] > 40 and m["irr_after_db"] > m["irr_before_db"] + 10
    assert m["dc_after_dbfs"] < -50 and m["dc_before_dbfs"] > -25
    # the gain table recovers the injected error over frequency and gain, relative to the reference point
    err = imp.rf_gain
    table = rec.gain_table
    for i, f in enumerate(table.frequencies_hz):
        for j, g in enumerate(table.rx_gains_db):
            expect = err.error_db(f, g) - err.error_db(FC, 30.0)
            assert table.offset_db[i][j] == pytest.approx(expect, abs=0.05)
    # EVM of 16-QAM OFDM: worse before, within 0.5 dB of the unimpaired loopback after
    ref = _unimpaired_evm(imp, SETTINGS.rx_gain)
    assert m["evm_before_db"] > ref + 3
    assert abs(m["evm_after_db"] - ref) < 0.5


def test_two_references_ppm_and_evm():
    """RX 20 ppm off a reference-locked source: ppm within 0.01, CFO + clock corrected, EVM recovered."""
    imp = _grid_point(3, tx_ppm=0.0, rx_ppm=20.0, rf_gain_error_db=(0.0, 0.0, 0.0), rx_gain_step_error=0.0)
    radio = impaired_mock("mock", imp, rng=3, drift_margin=64)
    res = run_calibration(radio, CalibrationSettings(sample_rate=FS, frequency=FC, dc_samples=8192,
                                                     tone_samples=8192, repeats=12))
    rec = res.record
    assert rec.ppm == pytest.approx(20.0, abs=0.01)
    assert _irr_after_rx(imp.rx_iq, rec.rx_iq_w) > 40
    assert _irr_after_tx(imp.tx_iq, rec.tx_iq_beta) > 40
    ref = _unimpaired_evm(imp, 0.0)
    assert rec.metrics["evm_before_db"] > ref + 10  # 48 kHz of carrier offset: nothing demodulates
    assert abs(rec.metrics["evm_after_db"] - ref) < 0.5


def test_hil_calibrate_on_the_mock(tmp_path, capsys):
    store, report = tmp_path / "store", tmp_path / "report"
    rc = main(["calibrate", "--backend", "mock", "--impairments", "demo", "--frequency", "2.4e9",
               "--serial", "unit-7", "--store", str(store), "--report", str(report)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "stored:" in out and "Image rejection" in out
    cal = calibration.load_for("mock", "unit-7", directory=store)
    assert cal is not None and not cal.warnings
    assert cal.record.metrics["irr_after_db"] > 40
    for name in ("spectrum.png", "constellation.png", "gain_table.png", "inband.png", "calibration.md",
                 "calibration.json"):
        assert (report / name).stat().st_size > 0


def test_hil_calibrate_refuses_impairments_on_hardware(capsys):
    rc = main(["calibrate", "--backend", "soapy", "--impairments", "demo", "--no-save", "--no-report"])
    assert rc == 2
    assert "--impairments" in capsys.readouterr().err


def test_untimed_radio_with_host_latency():
    """A radio without timed bursts (a Pluto) whose writes leave after a varying host latency."""
    from hil.errors import DeviceError

    imp = _grid_point(4, rf_gain_error_db=(0.0, 0.0, 0.0), rx_gain_step_error=0.0)
    radio = impaired_mock("mock", imp, rng=4)
    rng = np.random.default_rng(0)
    plain_write = radio.write

    def write(samples, *, at_sample=None, end_burst=False, timeout=1.0):
        if at_sample is not None:
            raise DeviceError("timed TX is not possible on this radio")
        lead = np.zeros(int(rng.integers(0, 5000)), np.complex64)  # USB / host latency
        return plain_write(np.concatenate((lead, samples)), end_burst=end_burst, timeout=timeout)

    radio.write = write
    proc = CalibrationProcedure(radio, CalibrationSettings(sample_rate=FS, frequency=FC, dc_samples=8192,
                                                           tone_samples=8192, repeats=12, untimed_margin=8192))
    rec = proc.run().record
    assert not proc.timed
    assert _irr_after_rx(imp.rx_iq, rec.rx_iq_w) > 40
    assert _irr_after_tx(imp.tx_iq, rec.tx_iq_beta) > 40
    assert rec.metrics["evm_after_db"] < rec.metrics["evm_before_db"] - 3
