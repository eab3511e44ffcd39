"""Backends apply the stored calibration of (profile, serial) by themselves: proven on the mock with injected
front-end impairments. Every store lives in a tmp dir (never the user's home)."""

import dataclasses
import datetime as dt
import os

import numpy as np
import pytest

import calibration
from calibration.estimators import estimate_tone, measure_irr
from calibration.mock_frontend import impaired_mock
from calibration.procedure import CalibrationSettings, run_calibration
from calibration.signals import tone
from calibration.store import CalibrationRecord, CalibrationWarning, calibration_path, save
from dsp.impairments import FrontEndImpairments
from hil.backends.base import serial_from_info
from hil.backends.mock import MockRadio
from hil.errors import ConfigError

FS, FC = 2e6, 2.4e9
IMP = FrontEndImpairments(tx_iq_gain_db=0.8, tx_iq_phase_deg=4.0, rx_iq_gain_db=-1.0, rx_iq_phase_deg=5.0,
                          rx_dc_dbfs=-25.0, tx_lo_leakage_dbfs=-30.0, latency_samples=40.3, noise_dbfs=-60.0)
QUICK = CalibrationSettings(sample_rate=FS, frequency=FC, dc_samples=2048, tone_samples=2048, repeats=6,
                            pilot_period=256, tail=512, verify=False)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Calibrate the impaired mock 'unit-9' once (corrections off while measuring) and store it."""
    d = tmp_path_factory.mktemp("calstore")
    radio = impaired_mock("mock", IMP, rng=1, serial="unit-9", calibration=False)
    rec = run_calibration(radio, QUICK).record
    assert rec.serial == "unit-9" and rec.iq_separated
    save(rec, d)
    return d


def _tone_irr(radio):
    """Image rejection (dB) of a -12 dBFS tone at 0.1 fs sent and received by ``radio``; and the metadata."""
    with radio:
        radio.configure(sample_rate=FS, rx_frequency=FC, tx_frequency=FC)
        radio.start()
        radio.write(tone(4096, 0.1, -12.0), end_burst=True)
        y, meta = radio.read(4096 + 200)
        info = radio.calibration_info()
    y = y[150:4000].astype(np.complex128)
    return measure_irr(y, estimate_tone(y - y.mean()).frequency), meta, info


def test_fresh_radio_with_the_same_serial_picks_it_up_and_image_rejection_improves(store):
    irr_raw, meta_raw, info_raw = _tone_irr(impaired_mock("mock", IMP, rng=2, serial="unit-9", calibration=False))
    irr_cal, meta, info = _tone_irr(impaired_mock("mock", IMP, rng=2, serial="unit-9", calibration=store))
    path = calibration_path("mock", "unit-9", store)
    assert meta_raw.calibration is None and info_raw is None
    assert meta.calibration == path
    assert info["file"] == path and info["rx_channels"] == [0] and info["tx_channels"] == [0]
    # the injected TX and RX images are ~ -24 dB; corrected they are limited by the estimate and the noise
    assert irr_raw < 30
    assert irr_cal > 50 and irr_cal > irr_raw + 25


def test_store_location_from_the_environment(store, monkeypatch):
    monkeypatch.setenv("HIL_CALIBRATION_DIR", os.fspath(store))
    irr_cal, meta, _ = _tone_irr(impaired_mock("mock", IMP, rng=3, serial="unit-9"))
    assert meta.calibration == calibration_path("mock", "unit-9", store) and irr_cal > 50
    # another serial, or no serial at all (a mock is no particular device): nothing is applied
    for radio in (impaired_mock("mock", IMP, rng=3, serial="unit-10"), impaired_mock("mock", IMP, rng=3)):
        _, meta, info = _tone_irr(radio)
        assert meta.calibration is None and info is None


def test_disabled_and_explicit_file(store, tmp_path):
    irr_off, meta, _ = _tone_irr(impaired_mock("mock", IMP, rng=4, serial="unit-9", calibration=False))
    assert meta.calibration is None and irr_off < 30
    # a file named directly; made for another serial: the store's warning, still applied
    src = calibration_path("mock", "unit-9", store)
    with pytest.warns(CalibrationWarning, match="mismatched"):
        irr, meta, _ = _tone_irr(impaired_mock("mock", IMP, rng=4, serial="unit-11", calibration=src))
    assert meta.calibration == src and irr > 50
    # a Calibration object
    cal = calibration.load(src)
    r = impaired_mock("mock", IMP, rng=4, calibration=calibration.Calibration(cal))
    irr, meta, _ = _tone_irr(r)
    assert meta.calibration == f"mock/unit-9@{cal.created_utc}" and irr > 50
    with pytest.raises(ConfigError, match="calibration"):
        MockRadio("mock", calibration=3)
    # a store that does not exist yet holds nothing; a named file that does not exist is an error
    _, meta, _ = _tone_irr(impaired_mock("mock", IMP, rng=4, serial="unit-9", calibration=tmp_path / "empty"))
    assert meta.calibration is None
    r = MockRadio("mock", calibration=tmp_path / "gone.json")
    with r:
        r.configure()
        with pytest.raises(ConfigError, match="no such calibration file"):
            r.start()


def test_stale_file_warns_and_corrupted_file_refuses_to_start(store, tmp_path):
    rec = calibration.load(calibration_path("mock", "unit-9", store))
    old = dataclasses.replace(rec, created_utc=(dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=90))
                              .isoformat(timespec="seconds"))
    save(old, tmp_path)
    with pytest.warns(CalibrationWarning, match="stale"):
        _, meta, _ = _tone_irr(impaired_mock("mock", IMP, rng=5, serial="unit-9", calibration=tmp_path))
    assert meta.calibration is not None
    path = calibration_path("mock", "unit-9", tmp_path)
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text.replace("0.0", "0.5", 1))  # an edited value: the checksum no longer matches
    r = MockRadio("mock", serial="unit-9", calibration=tmp_path)
    with r:
        r.configure()
        with pytest.raises(ConfigError, match="checksum"):
            r.start()


def _record(**kw):
    base = dict(profile="mock", serial="bench-1", created_utc=dt.datetime.now(dt.timezone.utc).isoformat(),
                sample_rate_hz=1.92e6, frequency_hz=2e9)
    base.update(kw)
    return CalibrationRecord(**base)


def test_tx_precorrection_on_write_and_rx_correction_on_read(tmp_path):
    """On the ideal loopback the applied corrections are exactly the stated formulas."""
    beta, leak, dc, w = 0.03 - 0.02j, 0.004 + 0.001j, 0.01 - 0.02j, -0.02 + 0.01j
    save(_record(tx_iq_beta=beta, tx_leak_add=leak, rx_dc=dc, rx_iq_w=w, iq_separated=True), tmp_path)
    x = tone(2000, 0.05, -10.0).astype(np.complex64)
    with MockRadio("mock", serial="bench-1", calibration=tmp_path) as r:
        r.configure(rx_channels=(0, 1), tx_channels=(0, 1))
        r.start()
        r.write(np.stack([x, x]), end_burst=True)
        y, meta = r.read(2000)
        assert meta.calibration is not None
        tx0 = (x - beta * np.conj(x) + leak).astype(np.complex64)  # what left TX channel 0
        rx0 = tx0 - dc
        rx0 = rx0 - w * np.conj(rx0)
        np.testing.assert_allclose(y[0], rx0, atol=2e-7)
        np.testing.assert_array_equal(y[1], x)  # channel 1: another chain, not calibrated
        # pre-correction needs headroom: full scale is refused rather than clipped
        with pytest.raises(ConfigError, match="after the TX pre-correction"):
            r.write(np.full((2, 16), 1.0 + 1.0j, np.complex64))


def test_gain_table_follows_retuning(tmp_path):
    table = calibration.GainTable([1.9e9, 2.1e9], [0.0, 10.0], [[2.0, 2.0], [-1.0, -1.0]])
    save(_record(gain_table=table), tmp_path)
    x = tone(500, 0.05, -10.0)
    with MockRadio("mock", serial="bench-1", calibration=tmp_path) as r:
        r.configure(rx_frequency=1.9e9, tx_frequency=1.9e9)
        r.start()
        r.write(x, end_burst=True)
        y1, _ = r.read(500)
        r.rx_frequency = 2.1e9  # retuned while streaming: the correction follows
        r.write(x, end_burst=True)
        y2, _ = r.read(500)
    np.testing.assert_allclose(y1, x * 10 ** (-2.0 / 20), atol=1e-6)
    np.testing.assert_allclose(y2, x * 10 ** (1.0 / 20), atol=1e-6)


def test_serial_from_hardware_info():
    assert serial_from_info({"mboard_serial": " 31A5C2 "}) == "31A5C2"
    assert serial_from_info({"hw_serial": "1044"}, {"serial": "x"}) == "1044"
    assert serial_from_info({}, {"driver": "uhd", "serial": "F5EAC0"}) == "F5EAC0"
    assert serial_from_info(None, None) is None
