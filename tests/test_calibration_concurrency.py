"""The calibration store under concurrent writers and readers, and what a radio does without a calibration.

Ground truth: every save carries a unique ``delay_samples``; after the writers finish, the current file plus
history/ must hold each of them exactly once (0 records lost), and readers polling the current file while
the writers run must always find a complete, checksum-valid file."""

import ast
import datetime as dt
import logging
import multiprocessing
import os
import threading
import time

import pytest

from calibration.apply import load_for
from calibration.store import CalibrationRecord, calibration_path, load, save
from hil.backends.mock import MockRadio
from hil.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(__file__))
WRITERS, SAVES = 3, 150
SERIAL = "unit-77"


def _record(delay):
    return CalibrationRecord(profile="mock", serial=SERIAL, created_utc=dt.datetime.now(dt.timezone.utc).isoformat(),
                             sample_rate_hz=2e6, frequency_hz=2.4e9, delay_samples=float(delay))


def _writer(directory, w, start):
    start.wait()
    for i in range(SAVES):
        save(_record(w * 1000 + i), directory)


def _reader(path, stop, seen, errors):
    while not stop.is_set():
        try:
            rec = load(path)
        except ConfigError as exc:  # missing, partial (bad JSON) or damaged (checksum) would all land here
            errors.append(str(exc))
        else:
            seen.add(rec.delay_samples)


def test_three_writers_lose_no_record_and_readers_never_see_a_partial_or_missing_file(tmp_path):
    save(_record(-1), tmp_path)  # the file exists from here on: a reader must never miss it again
    path = calibration_path("mock", SERIAL, tmp_path)
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, start)) for w in range(WRITERS)]
    stop, seen, errors = threading.Event(), set(), []
    readers = [threading.Thread(target=_reader, args=(path, stop, seen, errors)) for _ in range(2)]
    t0 = time.monotonic()
    for p in procs:
        p.start()
    for r in readers:
        r.start()
    start.set()
    for p in procs:
        p.join(60)
    stop.set()
    for r in readers:
        r.join()
    elapsed = time.monotonic() - t0
    assert [p.exitcode for p in procs] == [0] * WRITERS
    assert errors == []  # 0 partial/missing/damaged reads
    assert len(seen) > 1  # the readers really overlapped the writers
    hist_dir = os.path.join(tmp_path, "mock", "history")
    stored = [load(path).delay_samples] + [load(os.path.join(hist_dir, f)).delay_samples
                                          for f in os.listdir(hist_dir)]
    want = {-1.0} | {float(w * 1000 + i) for w in range(WRITERS) for i in range(SAVES)}
    assert len(stored) == len(want) == WRITERS * SAVES + 1  # nothing lost, nothing written twice
    assert set(stored) == want
    assert not [f for f in os.listdir(os.path.dirname(path)) if f.endswith(".tmp")]  # no temp file left
    print(f"{WRITERS} writers x {SAVES} saves in {elapsed:.2f} s: {len(stored)} records, 0 lost, "
          f"{len(errors)} bad reads")


def test_save_into_a_file_or_unwritable_place_is_a_config_error(tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    with pytest.raises(ConfigError, match="calibration store"):
        save(_record(1), f)


def test_store_does_not_import_apply():
    tree = ast.parse(open(os.path.join(ROOT, "calibration", "store.py"), encoding="utf-8").read())
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert names and not [n for n in names if n and (n.startswith("calibration.apply") or n == "calibration")]


def test_missing_calibration_warns_or_fails_when_required(tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        assert load_for("mock", "unit-5", directory=tmp_path) is None
    rec = [r for r in caplog.records if "no calibration for mock/unit-5" in r.getMessage()]
    assert rec and rec[0].levelno == logging.WARNING
    with pytest.raises(ConfigError, match=r"calibration: got .*unit-5\.json.*required"):
        load_for("mock", "unit-5", directory=tmp_path, required=True)


def test_radio_requiring_calibration_fails_at_start_without_one(tmp_path, monkeypatch):
    monkeypatch.setenv("HIL_CALIBRATION_DIR", str(tmp_path))
    r = MockRadio("mock", serial="unit-6", calibration="required")
    with r:
        r.configure(sample_rate=2e6)
        with pytest.raises(ConfigError, match="required"):
            r.start()
    save(CalibrationRecord(profile="mock", serial="unit-6", created_utc=dt.datetime.now(dt.timezone.utc).isoformat(),
                           sample_rate_hz=2e6, frequency_hz=2.4e9), tmp_path)
    with MockRadio("mock", serial="unit-6", calibration="required") as r:
        r.configure(sample_rate=2e6, rx_frequency=2.4e9)
        r.start()
        assert r.calibration is not None and r.calibration.record.serial == "unit-6"
        r.stop()
    with MockRadio("mock", calibration="required") as r:  # no serial: nothing can be looked up
        r.configure(sample_rate=2e6)
        with pytest.raises(ConfigError, match="known serial"):
            r.start()
