"""Telemetry: per-link CSV rows every ``interval_s`` of *sample* time (:class:`TelemetryWriter`), and one
JSON line per burst and link (:class:`BurstWriter`, the records of :attr:`hil.emulator.link.Link.bursts`)."""

from __future__ import annotations

import csv
import json
import math

import numpy as np

__all__ = ["COLUMNS", "TelemetryWriter", "BurstWriter", "strict_json"]

COLUMNS = ("link", "direction", "t_s", "sample_index", "delay_s", "range_m", "doppler_hz", "elevation_deg",
           "path_loss_db", "gain_db", "snr_db", "visible", "samples_in", "samples_out", "samples_filled",
           "samples_dropped", "frames_lost", "frames_duplicated", "frames_out_of_order", "frames_bad",
           "restarts", "handovers", "samples_skipped", "samples_lost", "serving", "frequency_offset_hz")


class TelemetryWriter:
    """Writes rows of :data:`COLUMNS` to ``path``; :meth:`maybe_write` adds one when a link's sample
    clock has passed the next multiple of ``interval_s``. Units: s, m, Hz, deg, dB, samples, frames."""

    def __init__(self, path, interval_s: float = 0.1):
        self.path = path
        self.interval_s = float(interval_s)
        self._fh = open(path, "w", newline="", encoding="utf-8")
        self._w = csv.DictWriter(self._fh, fieldnames=COLUMNS)
        self._w.writeheader()
        self._next = {}
        self.rows = 0

    def maybe_write(self, link, force: bool = False) -> bool:
        t = link.time
        nxt = self._next.get(link.name)
        if not force and nxt is not None and t < nxt:
            return False
        row = link.telemetry()
        row = {k: ("" if row[k] is None else (f"{row[k]:.12g}" if isinstance(row[k], float) and math.isfinite(row[k])
                                               else row[k])) for k in COLUMNS}
        self._w.writerow(row)
        self.rows += 1
        self._next[link.name] = (math.floor(t / self.interval_s) + 1) * self.interval_s
        return True

    def flush(self):
        self._fh.flush()

    def close(self):
        if not self._fh.closed:
            self._fh.close()


def strict_json(o):
    """``o`` with non-finite floats as None and NumPy scalars as Python numbers (strict JSON)."""
    if isinstance(o, dict):
        return {k: strict_json(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [strict_json(v) for v in o]
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        o = o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


class BurstWriter:
    """Appends burst records as JSON lines (strict JSON: non-finite values are null) to ``path``; each
    record is flushed to the OS as it is written, so a reader sees every closed burst even if the
    emulator is killed."""

    def __init__(self, path):
        self.path = path
        self._fh = open(path, "w", encoding="utf-8")
        self.records = 0

    def write(self, record: dict) -> None:
        self._fh.write(json.dumps(strict_json(record), allow_nan=False) + "\n")
        self._fh.flush()
        self.records += 1

    def close(self):
        if not self._fh.closed:
            self._fh.close()
