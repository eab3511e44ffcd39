"""Campaign files: a grid (or list) of ``hil ber`` points and ``hil run`` scenario variants, expanded
into tasks with content-derived ids and seeds.

A campaign YAML (docs/campaign.md has the full reference)::

    name: ber-grid                 # required
    seed: 1                        # campaign seed (default 0)
    ber:                           # a list of grids; each expands to the cartesian product of its lists
      - waveform: [otfs, ofdm]
        M: 16                      # scalars or lists: M, N, qam, cp_len, taps
        N: 16
        detector: {otfs: [mp, mrc], ofdm: [one-tap]}   # a name, a list, or per waveform
        channel: [awgn, high-doppler]
        snr_db: "0:12:4"           # START:STOP:STEP or a list
        doppler: [0.01, 0.02]      # largest Doppler, cycles per delay bin (rayleigh/high-doppler only)
        blocks: 4                  # seed blocks per point
        frames_per_block: 50       # frames simulated by one task
    runs:                          # hil run scenarios with overrides
      - scenario: s_band_pass.yaml # a path (relative to the campaign file) or a shipped name
        overrides: {backend.kind: mock, link.snr_db: 8}
        grid: {channel.ntn_tdl: [NTN-TDL-A, NTN-TDL-D]}
        modes: [ephemeris, blind]  # default: the scenario's tracking.mode
        max_bursts: 20
        blocks: 2

A *task* is one (point, seed block). Its id is the SHA-256 of the canonical JSON of everything its
result depends on (its coordinates, the campaign seed, the software version's result-relevant inputs),
and its random seed is ``SeedSequence(campaign seed, spawn_key=<the id's words>)``: the same task gets the
same numbers whatever the worker, the number of workers or the order it runs in, and adding points to a
campaign changes no existing task.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import os
from dataclasses import dataclass, field

import numpy as np

from hil.errors import ConfigError

__all__ = ["Task", "Campaign", "load_campaign", "parse_campaign", "task_seed", "canonical_json", "TASK_KINDS",
           "BER_KEYS", "RUN_KEYS", "MAX_TASKS"]

TASK_KINDS = ("ber", "run")
BER_KEYS = ("waveform", "M", "N", "qam", "cp_len", "detector", "channel", "taps", "doppler", "snr_db", "blocks",
            "frames_per_block")
RUN_KEYS = ("scenario", "overrides", "grid", "modes", "max_bursts", "blocks")
TOP_KEYS = ("name", "description", "seed", "ber", "runs")
MAX_TASKS = 1_000_000
MAX_FRAMES_PER_BLOCK = 1_000_000
DOPPLER_CHANNELS = ("rayleigh", "high-doppler")   # channels whose largest Doppler is a knob
RUN_BACKENDS = ("mock", "mock-zmq")               # a radio cannot be shared by N workers


def canonical_json(obj) -> str:
    """JSON with sorted keys and no spaces: the same text for the same content (the hash input)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _digest(obj) -> bytes:
    return hashlib.sha256(canonical_json(obj).encode()).digest()


def task_seed(campaign_seed: int, coords: dict) -> np.random.SeedSequence:
    """The task's SeedSequence: the campaign seed as entropy, the task's coordinates (a stable SHA-256 of
    their canonical JSON, as eight 32-bit words) as spawn key - the same construction as
    ``SeedSequence.spawn`` but keyed by content instead of by position."""
    words = np.frombuffer(_digest(coords), dtype=">u4").astype(np.uint32)
    return np.random.SeedSequence(int(campaign_seed), spawn_key=tuple(int(w) for w in words))


@dataclass(frozen=True)
class Task:
    """One unit of work: ``kind`` ("ber" or "run"), ``coords`` (JSON-able; what the result depends on,
    without the block), ``block`` (seed block index). ``payload`` is what the worker needs beyond coords
    (for runs: the scenario's base directory)."""

    kind: str
    coords: dict
    block: int
    campaign_seed: int
    payload: dict = field(default_factory=dict, compare=False)

    @property
    def point_id(self) -> str:
        return _digest({"kind": self.kind, **self.coords}).hex()[:16]

    @property
    def task_id(self) -> str:
        return _digest(self.key()).hex()[:20]

    def key(self) -> dict:
        return {"kind": self.kind, "coords": self.coords, "block": self.block, "campaign_seed": self.campaign_seed}

    def seed_sequence(self) -> np.random.SeedSequence:
        return task_seed(self.campaign_seed, {"kind": self.kind, "coords": self.coords, "block": self.block})

    def to_dict(self) -> dict:
        return {"kind": self.kind, "coords": self.coords, "block": self.block, "campaign_seed": self.campaign_seed,
                "payload": self.payload}

    @classmethod
    def from_dict(cls, d: dict) -> Task:
        return cls(d["kind"], d["coords"], int(d["block"]), int(d["campaign_seed"]), d.get("payload", {}))


@dataclass
class Campaign:
    name: str
    description: str
    seed: int
    spec: dict              # the file's content, normalised (stored in the results' metadata)
    tasks: list[Task]
    source: str | None = None

    @property
    def spec_sha256(self) -> str:
        return _digest(self.spec).hex()


# ------------------------------------------------------------------------------------------- parsing
def _fail(source, fld, value, allowed):
    return ConfigError.bad_value(fld, value, allowed, source=source)


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _ints(source, fld, value, lo, hi, *, none_ok=False):
    out = []
    for v in _as_list(value):
        if v is None and none_ok:
            out.append(None)
            continue
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise _fail(source, fld, v, f"an integer {lo}..{hi} (or a list of them)")
        out.append(int(v))
    if not out:
        raise _fail(source, fld, value, "a non-empty list")
    return out


def _floats(source, fld, value, lo, hi, unit):
    out = []
    items = value
    if isinstance(value, str):
        from hil.commands.ber import _snr_list  # START:STOP:STEP or a,b,c - the same syntax as hil ber --snr

        try:
            items = _snr_list(value)
        except ConfigError:
            raise _fail(source, fld, value, "START:STOP:STEP (step > 0) or a list of numbers") from None
    for v in _as_list(items):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
            raise _fail(source, fld, v, f"a finite number {lo:g}..{hi:g} {unit} (or a list of them)")
        out.append(float(v))
    if not out:
        raise _fail(source, fld, value, "a non-empty list")
    return out


def _choices(source, fld, value, allowed):
    out = []
    for v in _as_list(value):
        if v not in allowed:
            raise _fail(source, fld, v, "one of " + ", ".join(map(str, allowed)) + " (or a list of them)")
        out.append(v)
    if not out:
        raise _fail(source, fld, value, "a non-empty list")
    return out


def _unique(seq):
    out = []
    for v in seq:
        if v not in out:
            out.append(v)
    return out


def _check_keys(source, path, d, known):
    if not isinstance(d, dict):
        raise _fail(source, path or "campaign", type(d).__name__, "a mapping")
    for k in d:
        if k not in known:
            raise _fail(source, f"{path}.{k}" if path else str(k), d[k], "no such field; known fields: " +
                        ", ".join(known))


def _ber_tasks(source, path, g, seed) -> list[Task]:
    from dsp.ber import CHANNELS, receiver_names
    from dsp.waveforms import KINDS
    from hil.commands.ber import MAX_DENSE_SAMPLES, MAX_FRAME_SAMPLES

    _check_keys(source, path, g, BER_KEYS)
    if "waveform" not in g or "snr_db" not in g:
        miss = "waveform" if "waveform" not in g else "snr_db"
        raise ConfigError(f"{source + ': ' if source else ''}{path}.{miss}: missing; required", field=f"{path}.{miss}",
                          source=source)
    waves = _unique(_choices(source, f"{path}.waveform", g["waveform"], KINDS))
    Ms = _ints(source, f"{path}.M", g.get("M", 16), 1, MAX_FRAME_SAMPLES)
    Ns = _ints(source, f"{path}.N", g.get("N", 16), 1, MAX_FRAME_SAMPLES)
    qams = _ints(source, f"{path}.qam", g.get("qam", 4), 4, 64)
    for q in qams:
        if q not in (4, 16, 64):
            raise _fail(source, f"{path}.qam", q, "4, 16 or 64")
    cps = _ints(source, f"{path}.cp_len", g.get("cp_len"), 0, MAX_FRAME_SAMPLES, none_ok=True)
    chans = _unique(_choices(source, f"{path}.channel", g.get("channel", "awgn"), CHANNELS))
    tapss = _ints(source, f"{path}.taps", g.get("taps", 4), 1, 64)
    dops = _floats(source, f"{path}.doppler", g["doppler"], 0.0, 0.5, "cycles per delay bin") \
        if g.get("doppler") is not None else [None]
    snrs = _unique(_floats(source, f"{path}.snr_db", g["snr_db"], -50.0, 100.0, "dB"))
    blocks = _ints(source, f"{path}.blocks", g.get("blocks", 1), 1, 100_000)[0]
    fpb = _ints(source, f"{path}.frames_per_block", g.get("frames_per_block", 50), 1, MAX_FRAMES_PER_BLOCK)[0]
    names = receiver_names()
    det = g.get("detector")
    if isinstance(det, dict):
        for k in det:
            if k not in waves:
                raise _fail(source, f"{path}.detector.{k}", det[k], f"a waveform of this grid: {', '.join(waves)}")
        det_of = {w: (_unique(_choices(source, f"{path}.detector.{w}", det[w], names)) if w in det else None)
                  for w in waves}
    else:
        d = None if det is None else _unique(_choices(source, f"{path}.detector", det, names))
        det_of = dict.fromkeys(waves, d)
    tasks = []
    for wf, M, N, qam, cp, ch, taps in itertools.product(waves, Ms, Ns, qams, cps, chans, tapss):
        if M * N > MAX_FRAME_SAMPLES:
            raise _fail(source, f"{path}.M x N", M * N, f"at most {MAX_FRAME_SAMPLES} samples per frame")
        if ch not in ("rayleigh", "high-doppler") and taps != tapss[0]:
            continue  # taps only matter for the multi-path presets
        default = {"awgn": "ideal", "flat": "one-tap"}.get(ch, "lmmse")
        dets = det_of[wf] or [default]
        for d in dets:
            if d == "lmmse" and M * N > MAX_DENSE_SAMPLES:
                raise _fail(source, f"{path}.detector", d, f"a detector other than the dense lmmse for M x N = "
                            f"{M * N} > {MAX_DENSE_SAMPLES} (mp, mrc, one-tap)")
            if d == "one-tap-pilot" and wf != "ofdm":
                raise _fail(source, f"{path}.detector.{wf}", d, "one-tap-pilot only with ofdm")
            for nu in (dops if ch in DOPPLER_CHANNELS else [None]):
                coords = {"waveform": wf, "M": M, "N": N, "qam": qam, "cp_len": cp, "detector": d, "channel": ch,
                          "taps": taps if ch in ("rayleigh", "high-doppler") else None, "doppler": nu,
                          "frames": fpb}
                for snr in snrs:
                    c = {**coords, "snr_db": snr}
                    tasks += [Task("ber", c, b, seed) for b in range(blocks)]
    return tasks


def _set_dotted(data: dict, dotted: str, value, source, fld):
    parts = dotted.split(".")
    if not all(parts):
        raise _fail(source, fld, dotted, "a dotted scenario field such as link.snr_db")
    cur = data
    for p in parts[:-1]:
        nxt = cur.get(p)
        if nxt is None:
            nxt = cur[p] = {}
        if not isinstance(nxt, dict):
            raise _fail(source, fld, dotted, f"a path through mappings ({p} is not a mapping)")
        cur = nxt
    if parts[-1] == "seed" and len(parts) == 1:
        raise _fail(source, fld, dotted, "a field other than seed (the campaign derives every task's seed)")
    cur[parts[-1]] = copy.deepcopy(value)


def _run_tasks(source, path, r, seed, base) -> list[Task]:
    from hil.config import load_yaml, parse, to_dict
    from hil.paths import resolve_scenario
    from hil.scenario import TRACKING_MODES, Scenario

    _check_keys(source, path, r, RUN_KEYS)
    if "scenario" not in r or not isinstance(r["scenario"], str):
        raise _fail(source, f"{path}.scenario", r.get("scenario"), "a scenario file path or shipped name")
    name = r["scenario"]
    cand = name if os.path.isabs(name) else os.path.join(base, name)
    scen_path = os.path.abspath(cand if os.path.isfile(cand) else resolve_scenario(name, f"{path}.scenario"))
    raw = load_yaml(scen_path)
    overrides = r.get("overrides") or {}
    grid = r.get("grid") or {}
    for k, what in (("overrides", overrides), ("grid", grid)):
        if not isinstance(what, dict):
            raise _fail(source, f"{path}.{k}", what, "a mapping of dotted scenario fields")
    for k, v in grid.items():
        if not isinstance(v, list) or not v:
            raise _fail(source, f"{path}.grid.{k}", v, "a non-empty list of values")
    modes_in = r.get("modes")
    max_bursts = _ints(source, f"{path}.max_bursts", r.get("max_bursts"), 1, 1_000_000, none_ok=True)[0]
    blocks = _ints(source, f"{path}.blocks", r.get("blocks", 1), 1, 10_000)[0]
    keys = list(grid)
    tasks = []
    for values in itertools.product(*(grid[k] for k in keys)):
        data = copy.deepcopy(raw)
        variant = {}
        for k, v in overrides.items():
            _set_dotted(data, k, v, source, f"{path}.overrides.{k}")
        for k, v in zip(keys, values):
            _set_dotted(data, k, v, source, f"{path}.grid.{k}")
            variant[k] = v
        sc = parse(Scenario, data, source=f"{scen_path} (with {path} overrides)")
        if sc.backend.kind not in RUN_BACKENDS:
            raise _fail(source, f"{path}.overrides.backend.kind", sc.backend.kind,
                        f"one of {', '.join(RUN_BACKENDS)} (one radio cannot serve many workers; use hil run)")
        modes = _unique(_choices(source, f"{path}.modes", modes_in, TRACKING_MODES)) if modes_in is not None \
            else [sc.tracking.mode]
        norm = to_dict(sc)
        norm.pop("seed", None)  # the task's seed replaces it
        for wi, wf in enumerate(sc.waveforms):
            for mode in modes:
                coords = {"scenario": norm, "scenario_name": sc.name, "variant": variant, "waveform_index": wi,
                          "waveform": wf.kind, "mode": mode, "max_bursts": max_bursts}
                tasks += [Task("run", coords, b, seed, {"base_dir": os.path.dirname(scen_path)})
                          for b in range(blocks)]
    return tasks


def parse_campaign(data, *, source: str | None = None, base_dir: str = ".") -> Campaign:
    """Validate a campaign mapping and expand it into tasks (errors name the field, the value, the allowed)."""
    _check_keys(source, "", data, TOP_KEYS)
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or any(c in name for c in "/\\\0"):
        raise _fail(source, "name", name, "a non-empty name without path separators")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise _fail(source, "seed", seed, "an integer 0..2**63-1")
    desc = data.get("description", "") or ""
    tasks: list[Task] = []
    for sect, fn in (("ber", _ber_tasks), ("runs", _run_tasks)):
        items = data.get(sect) or []
        if not isinstance(items, list):
            raise _fail(source, sect, items, "a list of grids")
        for i, g in enumerate(items):
            if sect == "ber":
                tasks += fn(source, f"{sect}[{i}]", g, seed)
            else:
                tasks += fn(source, f"{sect}[{i}]", g, seed, base_dir)
            if len(tasks) > MAX_TASKS:
                raise _fail(source, sect, f"{len(tasks)}+ tasks", f"at most {MAX_TASKS} tasks per campaign")
    if not tasks:
        raise _fail(source, "ber/runs", None, "at least one ber grid or run")
    seen = {}
    uniq = []
    for t in tasks:
        if t.task_id not in seen:  # two grids naming the same point: one task
            seen[t.task_id] = t
            uniq.append(t)
    spec = json.loads(canonical_json(data))
    return Campaign(name=name, description=str(desc), seed=seed, spec=spec, tasks=uniq, source=source)


def load_campaign(path: str | os.PathLike) -> Campaign:
    """Read and validate a campaign YAML file (relative scenario paths are relative to it)."""
    from hil.config import load_yaml

    path = os.fspath(path)
    data = load_yaml(path)
    return parse_campaign(data, source=path, base_dir=os.path.dirname(os.path.abspath(path)))
