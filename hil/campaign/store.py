"""Campaign results on disk: Parquet (pyarrow), appended as tasks finish, safe against interruption.

Layout of a campaign directory::

    parts/part-<time>-<pid>-<n>.parquet   rows as they arrived (each file written to a temporary name and
                                          renamed, so a killed client leaves only whole files)
    results.parquet                       all rows of the campaign's tasks, sorted by task id (written at
                                          the end of every run: the consolidated file to read)
    other_tasks.parquet                   rows of tasks that an edited spec no longer has (kept, reused if
                                          they come back)

A Parquet file cannot be appended to in place (its footer is written on close), hence the parts. Every
file carries the campaign spec (JSON), its SHA-256, the software version and the library versions in its
schema metadata (keys ``hil.campaign.spec``, ``hil.campaign.spec_sha256``, ``hil.version``,
``hil.versions``). A re-run reads the task ids already present and submits only the others.
"""

from __future__ import annotations

import glob
import json
import os
import time

__all__ = ["ResultStore", "COLUMNS", "RESULT_KEYS", "read_results", "versions"]

# (name, arrow type); rows may leave any of the optional ones out (null)
COLUMNS = (
    ("task_id", "string"), ("point_id", "string"), ("kind", "string"), ("block", "int64"),
    ("waveform", "string"), ("detector", "string"), ("channel", "string"), ("M", "int64"), ("N", "int64"),
    ("qam", "int64"), ("cp_len", "int64"), ("taps", "int64"), ("doppler", "float64"), ("snr_db", "float64"),
    ("scenario", "string"), ("variant", "string"), ("mode", "string"), ("max_bursts", "int64"),
    ("frames", "int64"), ("bits", "int64"), ("bit_errors", "int64"), ("frame_errors", "int64"),
    ("decoded", "int64"), ("false_locks", "int64"), ("decoded_bits", "int64"), ("decoded_bit_errors", "int64"),
    ("snr_db_mean", "float64"),
    ("elapsed_s", "float64"), ("cpu_s", "float64"), ("worker", "string"), ("finished_at", "float64"),
)
# columns that depend on where and when a task ran, not on what it computed
RUN_DEPENDENT = ("elapsed_s", "cpu_s", "worker", "finished_at")
RESULT_KEYS = tuple(c for c, _ in COLUMNS if c not in RUN_DEPENDENT)


def versions() -> dict:
    import sys

    import numpy

    import hil

    out = {"hil": hil.__version__, "python": sys.version.split()[0], "numpy": numpy.__version__}
    for mod in ("scipy", "dask", "distributed", "pyarrow"):
        try:
            out[mod] = __import__(mod).__version__
        except ImportError:
            pass
    try:
        from importlib.metadata import version

        out["leo-hil"] = version("leo-hil")
    except Exception:  # noqa: BLE001 - not installed as a distribution (running from a checkout)
        pass
    return out


def _schema(metadata: dict):
    import pyarrow as pa

    fields = [pa.field(n, getattr(pa, t)()) for n, t in COLUMNS]
    return pa.schema(fields, metadata={k.encode(): v.encode() for k, v in metadata.items()})


def _table(rows: list[dict], metadata: dict):
    import pyarrow as pa

    schema = _schema(metadata)
    cols = {n: [r.get(n) for r in rows] for n, _ in COLUMNS}
    return pa.Table.from_pydict(cols, schema=schema)


def _atomic_write(table, path: str):
    import pyarrow.parquet as pq

    tmp = f"{path}.tmp-{os.getpid()}"
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def read_results(path: str):
    """A campaign directory's rows as a pyarrow Table (parts and results.parquet merged, one row per task id,
    sorted by task id), or None if there are none."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted(glob.glob(os.path.join(path, "parts", "part-*.parquet")))
    for name in ("other_tasks.parquet", "results.parquet"):
        if os.path.isfile(os.path.join(path, name)):
            files.insert(0, os.path.join(path, name))
    tables = []
    for f in files:
        t = pq.read_table(f)
        tables.append(t.select([n for n, _ in COLUMNS]).cast(_schema({})))
    if not tables:
        return None
    t = pa.concat_tables(tables)
    ids = t.column("task_id").to_pylist()
    seen, keep = set(), []
    for i, tid in enumerate(ids):
        if tid not in seen:
            seen.add(tid)
            keep.append(i)
    t = t.take(keep)
    return t.sort_by("task_id")


class ResultStore:
    """Append rows of one campaign directory; :meth:`done_ids` for resuming; :meth:`consolidate` at the end."""

    def __init__(self, path: str, metadata: dict, *, flush_s: float = 2.0, flush_rows: int = 256):
        self.path = path
        self.metadata = dict(metadata)
        self.flush_s = float(flush_s)
        self.flush_rows = int(flush_rows)
        self._pending: list[dict] = []
        self._last = time.monotonic()
        self._n = 0
        os.makedirs(os.path.join(path, "parts"), exist_ok=True)

    def existing(self):
        return read_results(self.path)

    def done_ids(self) -> set[str]:
        t = self.existing()
        return set() if t is None else set(t.column("task_id").to_pylist())

    def add(self, row: dict) -> None:
        self._pending.append({**row, "finished_at": time.time()})
        if len(self._pending) >= self.flush_rows or time.monotonic() - self._last >= self.flush_s:
            self.flush()

    def flush(self) -> None:
        self._last = time.monotonic()
        if not self._pending:
            return
        self._n += 1
        name = f"part-{time.time_ns():020d}-{os.getpid()}-{self._n:05d}.parquet"
        _atomic_write(_table(self._pending, self.metadata), os.path.join(self.path, "parts", name))
        self._pending = []

    def consolidate(self, task_ids: set[str] | None = None):
        """Write results.parquet with every row (of ``task_ids`` if given), then remove the parts it holds.
        Returns the table."""
        self.flush()
        t = read_results(self.path)
        if t is None:
            return _table([], self.metadata)
        if task_ids is not None:
            import pyarrow as pa
            import pyarrow.compute as pc

            mask = pc.is_in(t.column("task_id"), value_set=pa.array(sorted(task_ids), pa.string()))
            keep_out = t.filter(pc.invert(mask))
            t = t.filter(mask)
            other = os.path.join(self.path, "other_tasks.parquet")
            if keep_out.num_rows:  # rows of tasks no longer in the spec: kept aside, not lost
                _atomic_write(keep_out.replace_schema_metadata(_schema(self.metadata).metadata), other)
            elif os.path.isfile(other):
                os.remove(other)
        parts = glob.glob(os.path.join(self.path, "parts", "part-*.parquet"))
        t = t.replace_schema_metadata(_schema(self.metadata).metadata)
        _atomic_write(t, os.path.join(self.path, "results.parquet"))
        for p in parts:
            os.remove(p)
        return t


def metadata_of(path: str) -> dict:
    """The schema metadata of a results file, decoded (spec parsed from JSON)."""
    import pyarrow.parquet as pq

    md = {k.decode(): v.decode() for k, v in (pq.read_schema(path).metadata or {}).items()}
    for k in ("hil.campaign.spec", "hil.versions"):
        if k in md:
            md[k] = json.loads(md[k])
    return md


__all__ += ["metadata_of", "RUN_DEPENDENT"]
