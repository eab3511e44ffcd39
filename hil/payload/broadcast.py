"""The payload on the bench: a satellite broadcasts cached files as chunks through the HIL loop to
several ground receivers, which reassemble them and verify each file by its SHA-256.

Built on the loop (:mod:`hil.loop`, :mod:`dsp.framing`, :mod:`dsp.receiver`): the satellite node is a
:class:`ChunkTransmitter` - the loop's :class:`dsp.framing.Transmitter` whose frame payload is a file
chunk instead of the PRBS - and each ground receiver is the loop's own receiver block behind its own
channel (the emulator's link for that ground point; one emulator process per receiver on ``mock-zmq``,
all fed by one transmitter process, so every receiver sees the same bursts at the same sample times).

Chunk format, in the payload bits of one frame (big-endian)::

    | magic 0xB5 | version 1 | file id u16 | chunk id u16 | chunks in file u16 | length u16 | data | CRC-32 |

CRC-32 (zlib) over everything before it; the rest of the frame is zero padding. Chunks go round a
carousel (file 0 chunk 0, ..., last file's last chunk, then again) for as many frames as the pass
schedule holds, so a receiver that misses a chunk gets it on a later turn. A file is *delivered* to a
receiver when all its chunks arrived with a good CRC and the reassembled bytes hash to the manifest's
SHA-256; everything else is counted as undelivered (with the reason).
"""

from __future__ import annotations

import binascii
import hashlib
import json
import os
import struct
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from dsp.framing import Transmitter
from hil.config import load_yaml, parse, spec
from hil.errors import ConfigError, HILError

__all__ = ["ChunkCodec", "Chunk", "make_files", "Carousel", "ChunkTransmitter", "Reassembler",
           "BroadcastScenario", "ReceiverConfig", "load_broadcast", "run_broadcast", "BroadcastResult",
           "assumed_efficiency", "replan"]

MAGIC, VERSION = 0xB5, 1
_HDR = struct.Struct(">BBHHHH")
_CRC = struct.Struct(">I")
OVERHEAD = _HDR.size + _CRC.size


@dataclass(frozen=True)
class Chunk:
    file_id: int
    chunk_id: int
    n_chunks: int
    data: bytes


class ChunkCodec:
    """Chunks <-> frame payload bits for a modem carrying ``bits_per_frame`` bits per frame."""

    def __init__(self, bits_per_frame: int):
        self.frame_bytes = int(bits_per_frame) // 8
        self.capacity = self.frame_bytes - OVERHEAD
        self.pad_bits = int(bits_per_frame) - 8 * self.frame_bytes
        if self.capacity < 1:
            raise ConfigError.bad_value("bits_per_frame", bits_per_frame, f">= {8 * (OVERHEAD + 1)} (a chunk header, "
                                        "one data byte and its CRC)")

    def encode(self, ch: Chunk) -> np.ndarray:
        if len(ch.data) > self.capacity:
            raise ConfigError.bad_value("chunk length", len(ch.data), f"<= {self.capacity} bytes")
        head = _HDR.pack(MAGIC, VERSION, ch.file_id, ch.chunk_id, ch.n_chunks, len(ch.data)) + ch.data
        raw = head + _CRC.pack(zlib.crc32(head)) + bytes(self.frame_bytes - len(head) - _CRC.size)
        bits = np.unpackbits(np.frombuffer(raw, np.uint8))
        return np.concatenate([bits, np.zeros(self.pad_bits, np.uint8)])

    def decode(self, bits) -> Chunk | None:
        """The chunk in a frame's hard bits, or None (no magic, bad length or CRC)."""
        b = np.asarray(bits, np.uint8)[: 8 * self.frame_bytes]
        if b.size < 8 * self.frame_bytes:
            return None
        raw = np.packbits(b).tobytes()
        magic, ver, fid, cid, n, ln = _HDR.unpack_from(raw)
        if magic != MAGIC or ver != VERSION or ln > self.capacity or n == 0 or cid >= n:
            return None
        end = _HDR.size + ln
        if _CRC.unpack_from(raw, end)[0] != zlib.crc32(raw[:end]):
            return None
        return Chunk(fid, cid, n, raw[_HDR.size:end])


def make_files(n: int, lo: int, hi: int, seed: int) -> list[bytes]:
    """``n`` files of random bytes, sizes uniform in ``lo..hi`` (seeded)."""
    rng = np.random.default_rng([seed, 0xF11E])
    return [rng.integers(0, 256, int(rng.integers(lo, hi + 1)), dtype=np.uint8).tobytes() for _ in range(n)]


class Carousel:
    """Files cut into chunks of at most ``capacity`` bytes, sent in turn; frame f carries chunk f mod n."""

    def __init__(self, files: list[bytes], capacity: int):
        if len(files) > 0xFFFF:
            raise ConfigError.bad_value("files", len(files), "at most 65535 files (16-bit file id)")
        self.files = files
        self.chunks = []
        for fid, data in enumerate(files):
            n = max(1, -(-len(data) // capacity))
            if n > 0xFFFF:
                raise ConfigError.bad_value(f"file {fid} size", len(data), f"<= {0xFFFF * capacity} bytes")
            self.chunks += [Chunk(fid, c, n, data[c * capacity:(c + 1) * capacity]) for c in range(n)]
        self.sha256 = [hashlib.sha256(d).hexdigest() for d in files]

    def __len__(self) -> int:
        return len(self.chunks)

    def chunk(self, frame_no: int) -> Chunk:
        return self.chunks[int(frame_no) % len(self.chunks)]

    def manifest(self) -> dict:
        """What the content centre announces: per file its size, chunk count and SHA-256."""
        counts = {}
        for c in self.chunks:
            counts[c.file_id] = c.n_chunks
        return {"files": [{"id": i, "bytes": len(d), "chunks": counts[i], "sha256": h}
                          for i, (d, h) in enumerate(zip(self.files, self.sha256))]}


class ChunkTransmitter(Transmitter):
    """The loop's transmitter with file chunks as frame payloads (frame f: the carousel's chunk f)."""

    def __init__(self, fmt, schedule, carousel: Carousel, seed: int = 0):
        super().__init__(fmt, schedule, seed)
        self.codec = ChunkCodec(fmt.modem.bits_per_frame)
        self.carousel = carousel

    def bits(self, frame_no: int) -> np.ndarray:
        return self.codec.encode(self.carousel.chunk(frame_no))


class Reassembler:
    """One receiver's file store: feed it frame bits; it keeps good chunks and verifies whole files."""

    def __init__(self, manifest: dict, codec: ChunkCodec):
        self.manifest = {f["id"]: f for f in manifest["files"]}
        self.codec = codec
        self.parts: dict[int, dict[int, bytes]] = {}
        self.frames = self.chunks_ok = self.chunks_bad = self.duplicates = self.payload_bytes_ok = 0
        self.first_complete_s: dict[int, float] = {}

    def feed(self, bits, t_s: float = float("nan")) -> Chunk | None:
        self.frames += 1
        ch = None if bits is None else self.codec.decode(bits)
        if ch is None or ch.file_id not in self.manifest or self.manifest[ch.file_id]["chunks"] != ch.n_chunks:
            self.chunks_bad += 1
            return None
        self.chunks_ok += 1
        self.payload_bytes_ok += len(ch.data)
        got = self.parts.setdefault(ch.file_id, {})
        if ch.chunk_id in got:
            self.duplicates += 1
        got[ch.chunk_id] = ch.data
        if len(got) == ch.n_chunks and ch.file_id not in self.first_complete_s:
            self.first_complete_s[ch.file_id] = t_s
        return ch

    def file_bytes(self, fid: int) -> bytes | None:
        m = self.manifest[fid]
        got = self.parts.get(fid, {})
        if len(got) != m["chunks"]:
            return None
        return b"".join(got[c] for c in range(m["chunks"]))

    def report(self) -> dict:
        """Per file: delivered (hash verified), or why not (``missing k/n chunks``, ``hash mismatch``)."""
        files = {}
        for fid, m in self.manifest.items():
            data = self.file_bytes(fid)
            if data is None:
                have = len(self.parts.get(fid, {}))
                files[fid] = f"missing {m['chunks'] - have}/{m['chunks']} chunks"
            elif hashlib.sha256(data).hexdigest() != m["sha256"] or len(data) != m["bytes"]:
                files[fid] = "hash mismatch"
            else:
                files[fid] = "delivered"
        ok = [f for f, s in files.items() if s == "delivered"]
        got = {}
        for f in self.manifest:
            data = self.file_bytes(f)
            if data is not None:
                got[f] = hashlib.sha256(data).hexdigest()
        return {"delivered": len(ok), "undelivered": len(files) - len(ok), "files": files,
                "frames": self.frames, "chunks_ok": self.chunks_ok, "chunks_bad": self.chunks_bad,
                "duplicates": self.duplicates,
                "delivered_bytes": int(sum(self.manifest[f]["bytes"] for f in ok)), "received_sha256": got,
                "complete_at_s": {int(k): float(v) for k, v in self.first_complete_s.items()}}


# ------------------------------------------------------------------------------------------ scenario
@dataclass(frozen=True)
class ReceiverConfig:
    name: str = field(metadata=spec(min_len=1))
    lat_deg: float = field(metadata=spec(ge=-90, le=90, unit="deg"))
    lon_deg: float = field(metadata=spec(ge=-180, le=360, unit="deg"))
    alt_m: float = field(default=0.0, metadata=spec(ge=-500, le=9000, unit="m"))


@dataclass(frozen=True)
class BroadcastScenario:
    """A broadcast over one stretch of a pass: the files, the ground receivers and the loop scenario
    (``loop``: a ``hil run`` scenario - waveform, backend, orbit with ``start: epoch``, link, frames,
    tracking - whose ``orbit.ground`` is replaced by each receiver's position)."""

    name: str = "broadcast"
    seed: int = field(default=1, metadata=spec(ge=0))
    files: int = field(default=20, metadata=spec(ge=1, le=65535))
    file_bytes_min: int = field(default=100, metadata=spec(ge=1, le=1 << 24, unit="bytes"))
    file_bytes_max: int = field(default=400, metadata=spec(ge=1, le=1 << 24, unit="bytes"))
    receivers: list[ReceiverConfig] = field(default_factory=list, metadata=spec(min_len=1))
    loop: dict[str, Any] = field(default_factory=dict)

    def validate(self):
        if self.file_bytes_max < self.file_bytes_min:
            raise ConfigError.bad_value("file_bytes_max", self.file_bytes_max,
                                        f">= file_bytes_min ({self.file_bytes_min})")
        names = [r.name for r in self.receivers]
        if len(set(names)) != len(names):
            raise ConfigError.bad_value("receivers", names, "distinct receiver names")


def load_broadcast(path) -> tuple[BroadcastScenario, Any]:
    """The broadcast scenario and its validated loop :class:`hil.scenario.Scenario`."""
    from hil.scenario import Scenario

    data = load_yaml(path)
    bc = parse(BroadcastScenario, data, source=str(path))
    if not bc.receivers:
        raise ConfigError.bad_value("receivers", [], "at least one receiver", source=str(path))
    sc = parse(Scenario, bc.loop, source=str(path), path="loop")
    if sc.orbit.start != "epoch":
        raise ConfigError.bad_value("loop.orbit.start", sc.orbit.start, "'epoch' (every receiver must see the same "
                                    "stretch of the same satellite's pass)", source=str(path))
    return bc, sc


# ------------------------------------------------------------------------------------------ the run
@dataclass
class BroadcastResult:
    scenario: BroadcastScenario
    manifest: dict
    frames_sent: int
    chunks_per_turn: int
    air_seconds: float
    receivers: dict
    info: dict = field(default_factory=dict)

    def summary_lines(self) -> list[str]:
        n = len(self.manifest["files"])
        out = [f"{self.scenario.name}: {n} files ({sum(f['bytes'] for f in self.manifest['files'])} bytes, "
               f"{self.chunks_per_turn} chunks per carousel turn) in {self.frames_sent} frames over "
               f"{self.air_seconds:.1f} s of pass"]
        for name, r in self.receivers.items():
            und = {f: s for f, s in r["files"].items() if s != "delivered"}
            out.append(f"  {name:<10} delivered {r['delivered']:3d}/{n}  chunks ok {r['chunks_ok']:4d}  "
                       f"bad frames {r['chunks_bad']:3d}  in coverage {r['coverage_s']:5.1f} s  "
                       f"{r['efficiency_bps_hz']:.3f} bit/s/Hz on air"
                       + (f"  undelivered: {dict(list(und.items())[:4])}" if und else ""))
        return out


def _plans(bc: BroadcastScenario, sc, mode: str, max_bursts: int | None):
    """One loop plan per receiver (its ground point); all share the first receiver's TX schedule."""
    from hil.experiment import build_pass
    from hil.loop.plan import make_plan
    from hil.scenario import GroundConfig

    plans = []
    for r in bc.receivers:
        sc_r = replace(sc, orbit=replace(sc.orbit, ground=GroundConfig(r.lat_deg, r.lon_deg, r.alt_m)))
        pm = build_pass(sc_r)
        plans.append(make_plan(sc_r, 0, mode, max_bursts=max_bursts, name=r.name, pm=pm))
    sched = plans[0].schedule
    for p in plans[1:]:
        p.schedule = sched  # one satellite, one transmission: every receiver is told the same schedule
    return plans


def _accept(link, k, x, msg=16384):
    for a in range(0, x.size, msg):
        yield from link.accept(k + a, x[a:a + msg], end_of_burst=a + msg >= x.size)


def _make_link(plan):
    """The plan's emulator link in this process, seeded as ``hil emulate`` seeds it (the server spawns one
    SeedSequence child per link; :func:`hil.loop.run.make_link` uses ``default_rng(seed)`` directly, which
    would give a different noise draw than the mock-zmq run)."""
    from hil.emulator.config import EmulatorConfig
    from hil.emulator.link import Link

    cfg = dict(plan.emulator)
    cfg["endpoints"] = [{"name": "tx", "address": "inproc://tx", "pattern": "pull", "wire": "framed"},
                        {"name": "rx", "address": "inproc://rx", "pattern": "push", "wire": "framed"}]
    ecfg = parse(EmulatorConfig, cfg, source=f"plan {plan.name}")
    seeds = np.random.SeedSequence(ecfg.seed).spawn(len(ecfg.links))
    return Link.from_config(ecfg.links[0], ecfg.sample_rate_hz, ecfg.epoch_s, np.random.default_rng(seeds[0]))


def _run_inprocess(plans, carousel):
    from hil.loop.plan import make_receiver

    fmt, _, _ = plans[0].format()
    tx = ChunkTransmitter(fmt, plans[0].schedule, carousel)
    links = [_make_link(p) for p in plans]
    rxs = [make_receiver(p) for p in plans]
    frames = [[] for _ in plans]
    try:
        for _b, k, x in tx.bursts():
            for i, (link, rx) in enumerate(zip(links, rxs)):
                for n0, y, _state in _accept(link, k, x):
                    frames[i] += [f.to_dict() for f in rx.process(n0, y)]
        for i, (link, rx) in enumerate(zip(links, rxs)):
            link.finish()
            frames[i] += [f.to_dict() for f in rx.flush()]
    finally:
        for link in links:
            link.close()
    return frames


def _run_processes(plans, carousel_spec, workdir, timeout_s):
    """mock-zmq: one ``hil emulate`` + one ``hil rx`` per receiver, one transmitter process feeding all
    emulators (``python -m hil.payload.broadcast``)."""
    import yaml

    from hil.loop.run import await_ready, emulator_config, spawn, stop_process

    procs = []
    tx_addrs = []
    rx_paths = []
    try:
        for i, p in enumerate(plans):
            d = os.path.join(workdir, p.name)
            os.makedirs(d, exist_ok=True)
            plan_path = os.path.join(d, "plan.json")
            with open(plan_path, "w", encoding="utf-8") as fh:
                fh.write(p.to_json())
            emu_path = os.path.join(d, "emulator.yaml")
            with open(emu_path, "w", encoding="utf-8") as fh:
                yaml.safe_dump({"emulator": emulator_config(p, d, os.path.join(d, "telemetry_bursts.jsonl"))}, fh,
                               sort_keys=False)
            emu = spawn(["emulate", emu_path], os.path.join(d, "emulator.log"))
            procs.append(emu)
            line = await_ready(emu, 120.0)  # generous: a loaded 2-core machine starts a process slowly
            if line is None:
                raise HILError(f"the emulator for receiver {p.name} did not become ready (see {d}/emulator.log)")
            addrs = json.loads(line.split(" ", 1)[1])
            rx_path = os.path.join(d, "rx_frames.jsonl")
            rx_paths.append(rx_path)
            procs.append(spawn(["rx", "--plan", plan_path, "--connect", addrs["rx"], "--out", rx_path],
                                os.path.join(d, "rx.log")))
            tx_addrs.append(addrs["tx"])
            if i == 0:
                tx_plan = plan_path
        spec_path = os.path.join(workdir, "carousel.json")
        with open(spec_path, "w", encoding="utf-8") as fh:
            json.dump(carousel_spec, fh)
        tx = spawn(["tx", "--plan", tx_plan, "--carousel", spec_path, *sum((["--connect", a] for a in tx_addrs), [])],
                    os.path.join(workdir, "tx.log"), module="hil.payload.broadcast")
        procs.append(tx)
        deadline = time.monotonic() + timeout_s
        waits = [(tx, os.path.join(workdir, "tx.log"))] + [
            (procs[2 * i + 1], os.path.join(workdir, p.name, "rx.log")) for i, p in enumerate(plans)]
        for proc, log in waits:
            try:
                proc.wait(max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise HILError(f"a broadcast process did not finish within {timeout_s:g} s (see {log})") from None
            if proc.returncode != 0:
                with open(log) as fh:
                    tail = fh.read()[-1500:]
                raise HILError(f"a broadcast process failed (exit {proc.returncode}, {log}): {tail.strip()}")
    finally:
        for p in procs:
            stop_process(p)
    out = []
    for path in rx_paths:
        with open(path, encoding="utf-8") as fh:
            rows = [json.loads(ln) for ln in fh if ln.strip()]
        out.append([r for r in rows if "counters" not in r])
    return out


def _coverage(sc, r: ReceiverConfig, sched):
    """The terminal's own view of when it is in coverage: elevation of the scheduled satellite (its TLE /
    preset, SGP4) from its own position at or above ``loop.orbit.mask_deg``, on a 0.1 s grid."""
    from hil.orbit import GroundStation, geometry, load_constellation

    cons = load_constellation(sc.orbit.constellation)
    which = sc.orbit.satellite
    sat = cons[cons.index(which)] if isinstance(which, str) else cons[int(which)]
    t0 = float(sched.t0_s)
    t1 = float(sched.time_of(sched.burst_starts[-1] + sched.burst_length)) + 0.2
    t = np.arange(t0 - 0.2, t1 + 0.1, 0.1)
    el = geometry(sat, GroundStation(r.lat_deg, r.lon_deg, r.alt_m), t, epoch=sc.epoch).elevation_deg
    ok = el >= sc.orbit.mask_deg

    def cover(tq):
        return bool(ok[int(np.clip(np.searchsorted(t, tq), 0, t.size - 1))])

    win = (t >= t0) & (t <= t1)
    cover.seconds = float(np.count_nonzero(ok & win) * 0.1)
    cover.mean_elevation = float(np.mean(el[ok & win])) if np.any(ok & win) else float("nan")
    return cover


def _frame_bits(d: dict, n_bits: int):
    if d.get("bits") is None:
        return None
    b = np.unpackbits(np.frombuffer(binascii.unhexlify(d["bits"]), np.uint8))
    return b[:n_bits]


def run_broadcast(bc: BroadcastScenario, sc, *, backend: str | None = None, workdir: str | None = None,
                  mode: str | None = None, max_bursts: int | None = None, timeout_s: float = 900.0
                  ) -> BroadcastResult:
    """Broadcast ``bc.files`` files over the loop to every receiver; reassemble and verify by hash."""
    kind = backend or sc.backend.kind
    if kind not in ("mock", "mock-zmq"):
        raise ConfigError.bad_value("backend", kind, "'mock' or 'mock-zmq' for a broadcast")
    mode = mode or sc.tracking.mode
    plans = _plans(bc, sc, mode, max_bursts)
    fmt, _, _ = plans[0].format()
    codec = ChunkCodec(fmt.modem.bits_per_frame)
    files = make_files(bc.files, bc.file_bytes_min, bc.file_bytes_max, bc.seed)
    car = Carousel(files, codec.capacity)
    sched = plans[0].schedule
    if kind == "mock":
        frames = _run_inprocess(plans, car)
    else:
        if workdir is None:
            raise ConfigError.bad_value("workdir", None, "a folder for the processes' files on mock-zmq")
        spec_ = {"files": bc.files, "lo": bc.file_bytes_min, "hi": bc.file_bytes_max, "seed": bc.seed}
        frames = _run_processes(plans, spec_, workdir, timeout_s)
    air = float(sched.n_bursts * sched.burst_length / sched.sample_rate_hz)
    span = float(sched.time_of(sched.burst_starts[-1] + sched.burst_length) - sched.t0_s)
    man = car.manifest()
    out = {}
    for p, r, fr in zip(plans, bc.receivers, frames):
        ra = Reassembler(man, codec)
        cover = _coverage(sc, r, sched)
        heard = 0
        for d in sorted(fr, key=lambda d: d["position"]):
            t_rx = float(sched.time_of(d["position"]))
            if not cover(t_rx):
                continue  # the terminal listens only while its own ephemeris puts the satellite above its mask
            heard += 1
            if not d.get("header_ok"):
                continue  # a frame is decoded when its header CRC holds; others carry no trusted chunk
            ra.feed(_frame_bits(d, fmt.modem.bits_per_frame), t_rx)
        rep = ra.report()
        rep["frames_heard_in_coverage"] = heard
        rep["coverage_s"] = cover.seconds
        # measured spectral efficiency while on the air: good chunk payload bits per second of frame time
        # per Hz of the waveform's bandwidth (fs / oversample)
        frame_s = fmt.period / sched.sample_rate_hz
        bw = sched.sample_rate_hz / fmt.oversample
        good_bits = 8.0 * ra.payload_bytes_ok
        rep["efficiency_bps_hz"] = good_bits / (heard * frame_s) / bw if heard else 0.0
        rep["elevation_deg"] = cover.mean_elevation
        rep["goodput_bps"] = 8.0 * rep["delivered_bytes"] / span
        rep["air_bps"] = fmt.modem.bits_per_frame * sched.n_frames / span
        rep["frames_found"] = len(fr)
        out[p.name] = rep
    return BroadcastResult(bc, man, sched.n_frames, len(car), span, out,
                           {"air_time_s": air, "backend": kind, "mode": mode, "capacity_bytes": codec.capacity})


def assumed_efficiency(payload_sc, elevation_deg: float) -> float:
    """The spectral efficiency (bit/s/Hz) the placement study assumes for an NTN link at ``elevation_deg``:
    its rate model (:func:`hil.payload.coverage.ntn_rate_bps`) over the paper's 100 MHz."""
    from hil.orbit import LinkBudget, slant_range_m

    from .coverage import ntn_rate_bps

    cfg = payload_sc.ntn
    lb = LinkBudget.seed_downlink(fc_hz=cfg.carrier_hz)
    alt = 550e3
    pl = float(lb.path_loss_db(slant_range_m(elevation_deg, alt), elevation_deg))
    pl_zen = float(lb.path_loss_db(slant_range_m(90.0, alt), 90.0))
    m = max(cfg.mask_deg, 5.0)
    pl_mask = float(lb.path_loss_db(slant_range_m(m, alt), m))
    return float(ntn_rate_bps(pl, cfg, pl_zen, pl_mask)) / 100e6


def replan(payload_sc, measured_over_assumed: float):
    """The placement scenario with its NTN rates scaled by the measured / assumed efficiency ratio."""
    if not (measured_over_assumed > 0 and np.isfinite(measured_over_assumed)):
        raise ConfigError.bad_value("measured / assumed rate", measured_over_assumed, "a finite ratio > 0 (no "
                                    "receiver measured anything)")
    n = payload_sc.ntn
    return replace(payload_sc, ntn=replace(n, rate_at_zenith_bps=n.rate_at_zenith_bps * measured_over_assumed,
                                           rate_at_mask_bps=n.rate_at_mask_bps * measured_over_assumed))


# ------------------------------------------------------------------------------------------ tx process
def _tx_main(argv=None) -> int:
    """``python -m hil.payload.broadcast tx --plan P --carousel C --connect A [--connect B ...]``: the
    satellite node - one transmitter sending every burst to each emulator (one per receiver's channel)."""
    import argparse

    from hil.loop.plan import LoopPlan
    from hil.loop.run import FramedSender, check_address

    ap = argparse.ArgumentParser(prog="python -m hil.payload.broadcast")
    ap.add_argument("what", choices=["tx"])
    ap.add_argument("--plan", required=True)
    ap.add_argument("--carousel", required=True)
    ap.add_argument("--connect", action="append", required=True)
    a = ap.parse_args(argv)
    try:
        for addr in a.connect:
            check_address("--connect", addr)
        plan = LoopPlan.load(a.plan)
        with open(a.carousel, encoding="utf-8") as fh:
            spec_ = json.load(fh)
        fmt, _, _ = plan.format()
        codec = ChunkCodec(fmt.modem.bits_per_frame)
        car = Carousel(make_files(spec_["files"], spec_["lo"], spec_["hi"], spec_["seed"]), codec.capacity)
        tx = ChunkTransmitter(fmt, plan.schedule, car)
        sc = plan.scenario_obj()
        senders = [FramedSender(addr, sc.sample_rate_hz, sc.carrier_hz) for addr in a.connect]
        try:
            for _b, k, x in tx.bursts():
                for s in senders:
                    s.send_burst(k, x)
        finally:
            for s in senders:
                s.close()
    except HILError as exc:
        print(f"broadcast tx: error: {exc}", file=sys.stderr)
        return 2
    print(f"broadcast tx: {plan.schedule.n_bursts} bursts, {plan.schedule.n_frames} frames to {len(a.connect)} "
          f"emulator(s)")
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through the mock-zmq run
    sys.exit(_tx_main())
