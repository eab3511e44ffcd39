"""Per-link telemetry as CSV: one row per link every ``interval_s`` of *sample* time (not wall time)."""

from __future__ import annotations

import csv
import math

__all__ = ["COLUMNS", "TelemetryWriter"]

COLUMNS = ("link", "direction", "t_s", "sample_index", "delay_s", "range_m", "doppler_hz", "elevation_deg",
           "path_loss_db", "gain_db", "snr_db", "visible", "samples_in", "samples_out", "samples_filled",
           "samples_dropped", "frames_lost", "frames_duplicated", "frames_out_of_order", "frames_bad",
           "restarts", "handovers")


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
