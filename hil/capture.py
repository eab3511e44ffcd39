"""SigMF captures: record radio samples (cf32_le) with their timing, gaps and ephemeris state.

A capture is a SigMF pair ``NAME.sigmf-meta`` / ``NAME.sigmf-data``:

* global: ``core:datatype`` cf32_le, ``core:sample_rate``, ``core:version``, ``core:recorder``,
  ``core:hw``, and project keys under the declared extension namespace ``hil`` (``core:extensions``):
  ``hil:profile``, ``hil:backend``, ``hil:settings`` (every applied radio setting);
* captures: one segment at the start and a new one after every gap, each with ``core:sample_start``
  (index in the file), ``core:global_index`` (absolute sample index on the radio's RX clock),
  ``core:frequency`` (Hz) and ``core:datetime`` (UTC, ISO 8601);
* annotations: ``hil:overflow`` events (label "overflow", ``hil:lost_samples``, -1 if unknown) at the
  first sample after a gap, and ``hil:ephemeris`` states (label "ephemeris", ``hil:range_m``,
  ``hil:range_rate_mps``, ``hil:doppler_hz``, ``hil:elevation_deg``, ``hil:azimuth_deg``,
  ``hil:delay_s`` - whichever are given).

Written files pass the sigmf validator (:func:`validate_capture`); reading gives back the exact
complex64 samples (replay is bit-exact).
"""

from __future__ import annotations

import datetime as _dt
import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from hil.errors import ConfigError, check_range

__all__ = ["EXTENSION", "EXTENSION_VERSION", "CaptureWriter", "Capture", "write_capture", "read_capture",
           "validate_capture", "capture_paths", "EPHEMERIS_KEYS"]

EXTENSION = "hil"
EXTENSION_VERSION = "0.1.0"
EPHEMERIS_KEYS = ("range_m", "range_rate_mps", "doppler_hz", "doppler_rate_hzps", "elevation_deg",
                  "azimuth_deg", "delay_s")


def capture_paths(path: str | os.PathLike) -> tuple[str, str]:
    """(meta, data) paths for ``path`` given with or without a .sigmf-meta/.sigmf-data/.sigmf suffix."""
    base = os.fspath(path)
    for ext in (".sigmf-meta", ".sigmf-data", ".sigmf"):
        if base.endswith(ext):
            base = base[: -len(ext)]
            break
    return base + ".sigmf-meta", base + ".sigmf-data"


def _iso(t: float | _dt.datetime | None) -> str:
    if t is None:
        t = _dt.datetime.now(_dt.timezone.utc)
    elif not isinstance(t, _dt.datetime):
        t = _dt.datetime.fromtimestamp(float(t), _dt.timezone.utc)
    if t.tzinfo is None:
        raise ConfigError.bad_value("datetime", t, "a timezone-aware datetime (UTC)")
    return t.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _jsonable(v):
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    return v


class CaptureWriter:
    """Write a SigMF capture block by block (e.g. straight from :meth:`Radio.read`).

    Parameters
    ----------
    path : str
        Output base name (``.sigmf-meta`` / ``.sigmf-data`` are added).
    sample_rate : float
        Hz.
    frequency : float
        Centre frequency of the recording in Hz.
    description, hw, author : str
        Free text for ``core:description``, ``core:hw``, ``core:author``.
    extra : dict
        Extra global keys without namespace (written as ``hil:<key>``), e.g. profile, settings.
    overwrite : bool
        Refuse to replace an existing capture unless True.
    """

    def __init__(self, path, sample_rate: float, frequency: float, *, description: str = "", hw: str = "",
                 author: str = "", extra: dict | None = None, overwrite: bool = False):
        import hil

        self.meta_path, self.data_path = capture_paths(path)
        check_range("sample_rate", sample_rate, lo=1e-9, unit="Hz")
        check_range("frequency", frequency, lo=0.0, unit="Hz")
        if not overwrite:
            for p in (self.meta_path, self.data_path):
                if os.path.exists(p):
                    raise ConfigError.bad_value("path", p, "a capture that does not exist yet (or overwrite=True)")
        self.sample_rate = float(sample_rate)
        self.frequency = float(frequency)
        self._global = {"core:datatype": "cf32_le", "core:sample_rate": self.sample_rate,
                        "core:recorder": f"leo-hil {hil.__version__}",
                        "core:extensions": [{"name": EXTENSION, "version": EXTENSION_VERSION, "optional": True}]}
        if description:
            self._global["core:description"] = description
        if hw:
            self._global["core:hw"] = hw
        if author:
            self._global["core:author"] = author
        for k, v in (extra or {}).items():
            self._global[f"{EXTENSION}:{k}"] = _jsonable(v)
        self._captures: list[dict] = []
        self._annotations: list[dict] = []
        self._fh = open(self.data_path, "wb")  # noqa: SIM115 - closed in close()
        self.count = 0
        self._next_global: int | None = None
        self.closed = False

    def _segment(self, global_index: int, host_time, frequency: float | None = None):
        self._captures.append({"core:sample_start": self.count, "core:global_index": int(global_index),
                               "core:frequency": float(self.frequency if frequency is None else frequency),
                               "core:datetime": _iso(host_time)})

    def append(self, samples, meta=None, *, frequency: float | None = None) -> None:
        """Add a block (complex, 1-D). ``meta`` is the block's :class:`~hil.backends.base.ReadMeta`: a
        block after a gap starts a new capture segment and gets an overflow annotation. ``frequency``
        (Hz) starts a new segment when the centre frequency changed."""
        if self.closed:
            raise ConfigError.bad_value("capture", self.meta_path, "an open writer (close() was called)")
        x = np.asarray(samples)
        if x.ndim != 1:
            raise ConfigError.bad_value("samples.shape", x.shape, "(n,): one channel per capture")
        if x.dtype.kind not in "fc":
            raise ConfigError.bad_value("samples.dtype", str(x.dtype), "complex or float")
        x = np.ascontiguousarray(x, dtype="<c8")
        gidx = self.count if meta is None else int(meta.sample_index)
        lost = 0 if meta is None else meta.lost
        host_time = None if meta is None else meta.host_time
        if self._next_global is None:
            self._segment(gidx, host_time, frequency)
        elif lost != 0 or gidx != self._next_global or (frequency is not None and frequency != self.frequency
                                                       and frequency != self._captures[-1]["core:frequency"]):
            self._segment(gidx, host_time, frequency)
            if lost != 0 or gidx != self._next_global:
                n_lost = -1 if lost is None else (int(lost) if lost else gidx - self._next_global)
                self._annotations.append({
                    "core:sample_start": self.count, "core:sample_count": 0, "core:label": "overflow",
                    "core:comment": ("RX overflow: " + ("an unknown number of" if n_lost < 0 else str(n_lost))
                                     + " samples lost before this sample"),
                    f"{EXTENSION}:lost_samples": n_lost, f"{EXTENSION}:global_index": gidx})
        self._fh.write(x.tobytes())
        self.count += x.size
        self._next_global = gidx + x.size

    def annotate_ephemeris(self, sample_index: int, *, sample_count: int | None = None, comment: str = "",
                           **state) -> None:
        """Record the link geometry at file sample ``sample_index``: keyword arguments from
        :data:`EPHEMERIS_KEYS` (SI units: m, m/s, Hz, Hz/s, deg, s). ``sample_count`` (default 0: at
        that instant) is how many samples the state describes."""
        unknown = [k for k in state if k not in EPHEMERIS_KEYS]
        if unknown:
            raise ConfigError.bad_value(unknown[0], state[unknown[0]], "one of " + ", ".join(EPHEMERIS_KEYS))
        if not state:
            raise ConfigError.bad_value("state", {}, "at least one of " + ", ".join(EPHEMERIS_KEYS))
        check_range("sample_index", sample_index, lo=0)
        # sample_count 0: a state at one instant (without it SigMF reads "until the end of the capture")
        ann = {"core:sample_start": int(sample_index), "core:label": "ephemeris",
               "core:sample_count": int(check_range("sample_count", 0 if sample_count is None else sample_count,
                                                    lo=0))}
        if comment:
            ann["core:comment"] = comment
        for k, v in state.items():
            ann[f"{EXTENSION}:{k}"] = float(check_range(k, float(v)))
        self._annotations.append(ann)

    def close(self) -> str:
        """Finish the data file, write and validate the metadata; returns the .sigmf-meta path."""
        from sigmf import SigMFFile

        if self.closed:
            return self.meta_path
        self._fh.close()
        self.closed = True
        if not self._captures:
            self._segment(0, None)
        sm = SigMFFile(data_file=self.data_path, global_info=dict(self._global))
        for c in self._captures:
            sm.add_capture(c["core:sample_start"], metadata={k: v for k, v in c.items() if k != "core:sample_start"})
        for a in sorted(self._annotations, key=lambda a: a["core:sample_start"]):
            meta = {k: v for k, v in a.items() if k not in ("core:sample_start", "core:sample_count")}
            sm.add_annotation(a["core:sample_start"], a.get("core:sample_count"), metadata=meta)
        sm.tofile(self.meta_path, overwrite=True)  # tofile validates against the SigMF schema
        return self.meta_path

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_capture(path, samples, sample_rate: float, frequency: float, **kw) -> str:
    """Write a whole array as one capture; returns the .sigmf-meta path (see :class:`CaptureWriter`)."""
    with CaptureWriter(path, sample_rate, frequency, **kw) as w:
        w.append(samples)
    return w.meta_path


@dataclass
class Capture:
    """A capture read back: ``samples`` exactly as written (complex64) plus its metadata."""

    samples: np.ndarray
    sample_rate: float
    frequency: float
    datetime: str | None
    captures: list = field(default_factory=list)
    annotations: list = field(default_factory=list)
    global_info: dict = field(default_factory=dict)
    meta_path: str = ""

    def segments(self):
        """(file_start, global_index, samples) per capture segment (contiguous on the radio clock)."""
        starts = [c["core:sample_start"] for c in self.captures] + [self.samples.size]
        for c, end in zip(self.captures, starts[1:]):
            s = c["core:sample_start"]
            yield s, c.get("core:global_index", s), self.samples[s:end]

    def annotations_of(self, label: str) -> list:
        return [a for a in self.annotations if a.get("core:label") == label]


def validate_capture(path) -> None:
    """Validate a capture's metadata against the SigMF schema and its data checksum; ConfigError if not."""
    from sigmf import sigmffile

    meta_path, data_path = capture_paths(path)
    try:
        with warnings.catch_warnings():
            # sigmf only warns about undeclared namespaces (for now); they are an error below.
            warnings.filterwarnings("ignore", "Found undeclared extensions", DeprecationWarning)
            sm = sigmffile.fromfile(meta_path)
            sm.validate()
    except Exception as exc:  # noqa: BLE001 - untrusted file: whatever sigmf/jsonschema raise, it is a bad capture
        if isinstance(exc, MemoryError):
            raise
        why = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        why = " ".join(str(why).split())[:300]  # one line (jsonschema errors span many)
        raise ConfigError(f"{meta_path}: not a valid SigMF capture: {why}", source=meta_path) from None
    ext = [e.get("name") for e in sm.get_global_field("core:extensions", [])]
    used = {k.split(":", 1)[0] for k in _all_keys(sm._metadata) if ":" in k} - {"core"}
    undeclared = sorted(used - set(ext))
    if undeclared:
        raise ConfigError.bad_value("core:extensions", ext, f"a declaration for every namespace used ({undeclared})",
                                    source=meta_path)


def _all_keys(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from _all_keys(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _all_keys(v)


def read_capture(path) -> Capture:
    """Read a cf32_le capture (validated) with its captures and annotations."""
    from sigmf import sigmffile

    validate_capture(path)
    meta_path, _ = capture_paths(path)
    sm = sigmffile.fromfile(meta_path)
    dtype = sm.get_global_field("core:datatype")
    if dtype != "cf32_le":
        raise ConfigError.bad_value("core:datatype", dtype, "'cf32_le'", source=meta_path)
    if (sm.get_global_field("core:num_channels") or 1) != 1:
        raise ConfigError.bad_value("core:num_channels", sm.get_global_field("core:num_channels"), "1",
                                    source=meta_path)
    fs = sm.get_global_field("core:sample_rate")
    if isinstance(fs, bool) or not isinstance(fs, (int, float)) or not 0 < fs < float("inf"):
        raise ConfigError.bad_value("core:sample_rate", fs, "a number > 0 (Hz)", source=meta_path)
    samples = np.asarray(sm.read_samples(), dtype=np.complex64)
    caps = sm.get_captures()
    first = caps[0] if caps else {}
    fc = first.get("core:frequency", 0.0)
    if isinstance(fc, bool) or not isinstance(fc, (int, float)) or not abs(fc) < float("inf"):
        raise ConfigError.bad_value("captures[0].core:frequency", fc, "a finite number (Hz)", source=meta_path)
    prev_end = None
    for i, c in enumerate(caps):  # the radio clock never runs backwards, and a segment starts inside the data
        start, gidx = c.get("core:sample_start", 0), c.get("core:global_index", c.get("core:sample_start", 0))
        if not (isinstance(start, int) and 0 <= start <= samples.size):
            raise ConfigError.bad_value(f"captures[{i}].core:sample_start", start, f"0..{samples.size} (the data "
                                        "file's length in samples)", source=meta_path)
        if not isinstance(gidx, int) or gidx < 0 or (prev_end is not None and gidx < prev_end):
            raise ConfigError.bad_value(f"captures[{i}].core:global_index", gidx, f">= {prev_end or 0} (the end "
                                        "of the previous segment on the radio clock)", source=meta_path)
        nxt = caps[i + 1].get("core:sample_start", samples.size) if i + 1 < len(caps) else samples.size
        prev_end = gidx + max(0, nxt - start)
    return Capture(samples=samples, sample_rate=float(fs),
                   frequency=float(first.get("core:frequency", 0.0)), datetime=first.get("core:datetime"),
                   captures=list(caps), annotations=list(sm.get_annotations()),
                   global_info=dict(sm.get_global_info()), meta_path=meta_path)
