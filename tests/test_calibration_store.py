"""The per-device calibration store: round trip, refusal of corrupted files, warnings for stale/mismatched ones."""

import datetime as dt
import json
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import calibration
from calibration.apply import load_for
from calibration.store import (
    CalibrationRecord,
    CalibrationWarning,
    GainTable,
    calibration_path,
    load,
    save,
)
from hil.errors import ConfigError


def _record(**kw):
    base = dict(profile="pluto_ad9363", serial="104473dc599300131200", created_utc=dt.datetime.now(
        dt.timezone.utc).isoformat(timespec="seconds"), sample_rate_hz=2e6, frequency_hz=2.4e9, rx_gain_db=30.0,
        rx_dc=0.05 + 0.02j, rx_iq_w=-0.04 + 0.03j, tx_iq_beta=0.03 - 0.02j, tx_leak_add=-0.01 + 0.002j,
        iq_separated=True, delay_samples=45.37, ppm=-1.2,
        gain_table=GainTable([2.3e9, 2.4e9, 2.5e9], [20.0, 30.0], [[-0.5, -0.3], [-0.2, 0.0], [0.4, 0.6]]),
        metrics={"irr_before_db": 25.0, "irr_after_db": 60.0})
    base.update(kw)
    return CalibrationRecord(**base)


cplx = st.complex_numbers(max_magnitude=0.9, allow_nan=False, allow_infinity=False)


@settings(max_examples=15)
@given(dc=cplx, w=cplx, beta=cplx, delay=st.floats(0, 1e4), ppm=st.none() | st.floats(-100, 100),
       serial=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True))
def test_round_trip(tmp_path_factory, dc, w, beta, delay, ppm, serial):
    d = tmp_path_factory.mktemp("store")
    rec = _record(rx_dc=dc, rx_iq_w=w, tx_iq_beta=beta, delay_samples=delay, ppm=ppm, serial=serial)
    path = save(rec, d)
    assert path == calibration_path(rec.profile, serial, d)
    assert load(path) == rec
    cal = load_for(rec.profile, serial, directory=d)
    assert cal.record == rec


def test_load_for_builds_correctors_and_reports_itself(tmp_path):
    rec = _record()
    save(rec, tmp_path)
    cal = calibration.load_for("pluto_ad9363", rec.serial, directory=tmp_path, sample_rate=2e6, frequency=2.4e9)
    assert isinstance(cal, calibration.Calibration) and not cal.warnings
    x = np.array([0.1 + 0.2j, -0.3j, 0.05])
    expect = (x - rec.rx_dc) - rec.rx_iq_w * np.conj(x - rec.rx_dc)  # DC, then IQ; gain 0 dB at the reference
    np.testing.assert_allclose(cal.process(x), expect, atol=1e-12)
    # other settings: the gain table's error at 2.45 GHz / 25 dB (bilinear) is removed
    g = np.mean([np.interp(25.0, [20, 30], row) for row in ([-0.2, 0.0], [0.4, 0.6])])
    y = cal.rx_corrector(frequency=2.45e9, rx_gain=25.0).process(x)
    np.testing.assert_allclose(y, expect * 10 ** (-g / 20), atol=1e-12)
    tx = cal.tx_corrector().process(x)
    np.testing.assert_allclose(tx, x - rec.tx_iq_beta * np.conj(x) + rec.tx_leak_add, atol=1e-12)
    meta = cal.describe()
    assert meta["file"].endswith(".json") and meta["serial"] == rec.serial


def test_no_file_is_none(tmp_path):
    assert load_for("pluto_ad9363", "nothing-here", directory=tmp_path) is None


def test_saving_again_keeps_history(tmp_path):
    save(_record(), tmp_path)
    save(_record(delay_samples=50.0), tmp_path)
    hist = os.listdir(tmp_path / "pluto_ad9363" / "history")
    assert len(hist) == 1
    assert load(calibration_path("pluto_ad9363", _record().serial, tmp_path)).delay_samples == 50.0


def _corrupt(path, fn):
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(fn(text))


@pytest.mark.parametrize("how, message", [
    (lambda t: t.replace("45.37", "45.38"), "checksum mismatch"),          # an edited value
    (lambda t: t[: len(t) // 2], "not valid JSON"),                       # truncated
    (lambda t: t.replace('"version": 1', '"version": 7'), "version"),      # a future format
    (lambda t: t.replace('"leo-hil-calibration"', '"other"'), "format"),   # not a calibration file
    (lambda t: t.replace('"checksum": "sha256:', '"checksum": "sha256:0'), "checksum"),  # damaged checksum
])
def test_corrupted_file_is_refused_with_a_clear_error(tmp_path, how, message):
    path = save(_record(), tmp_path)
    _corrupt(path, how)
    with pytest.raises(ConfigError, match=message) as err:
        load_for("pluto_ad9363", _record().serial, directory=tmp_path)
    assert path in str(err.value)


def test_bad_content_with_a_valid_checksum_is_refused(tmp_path):
    """A record re-signed after an impossible edit (|w| >= 1, a missing field) still fails validation."""
    from calibration.store import _checksum

    path = save(_record(), tmp_path)
    doc = json.load(open(path, encoding="utf-8"))
    doc["record"]["rx_iq_w"] = [1.5, 0.0]
    doc["checksum"] = _checksum(doc["record"])
    json.dump(doc, open(path, "w", encoding="utf-8"))
    with pytest.raises(ConfigError, match="rx_iq_w"):
        load(path)
    del doc["record"]["sample_rate_hz"]
    doc["record"]["rx_iq_w"] = [0.0, 0.0]
    doc["checksum"] = _checksum(doc["record"])
    json.dump(doc, open(path, "w", encoding="utf-8"))
    with pytest.raises(ConfigError, match="sample_rate_hz"):
        load(path)


def test_stale_and_mismatched_files_warn(tmp_path):
    old = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=90)).isoformat(timespec="seconds")
    rec = _record(created_utc=old)
    save(rec, tmp_path)
    with pytest.warns(CalibrationWarning, match="days old"):
        cal = load_for("pluto_ad9363", rec.serial, directory=tmp_path)
    assert cal is not None and cal.warnings
    with pytest.warns(CalibrationWarning, match="sample rate"):
        load_for("pluto_ad9363", rec.serial, directory=tmp_path, max_age_days=365, sample_rate=4e6)
    # a file copied to another device's name
    src = calibration_path("pluto_ad9363", rec.serial, tmp_path)
    dst = calibration_path("pluto_ad9363", "other-unit", tmp_path)
    with open(src, encoding="utf-8") as a, open(dst, "w", encoding="utf-8") as b:
        b.write(a.read())
    with pytest.warns(CalibrationWarning, match="mismatched"):
        load_for("pluto_ad9363", "other-unit", directory=tmp_path, max_age_days=365)


def test_names_are_checked_before_touching_the_disk(tmp_path):
    with pytest.raises(ConfigError, match="serial"):
        calibration_path("pluto_ad9363", "../../etc/passwd", tmp_path)
    with pytest.raises(ConfigError, match="profile"):
        calibration_path("", "x", tmp_path)


def test_gain_table_is_bilinear_and_warns_outside():
    t = GainTable([1e9, 2e9], [0.0, 10.0], [[0.0, 1.0], [2.0, 5.0]])
    # bilinear at the centre: mean of the four corners
    assert t.error_db(1.5e9, 5.0) == pytest.approx(2.0)
    assert t.error_db(1e9, 10.0) == pytest.approx(1.0)
    with pytest.warns(CalibrationWarning, match="outside"):
        assert t.error_db(3e9, 10.0) == pytest.approx(5.0)
    with pytest.raises(ConfigError, match="offset_db"):
        GainTable([1e9], [0.0], [[1.0, 2.0]]).validate()
