"""The plan of one loop run: what each block is told, and nothing more.

:func:`make_plan` is the experiment designer: it picks the pass (geometry is used to *choose* when to
transmit and how to set the emulator), and writes down three separate things:

* the **schedule** and frame format - shared by transmitter and receiver (a bench with a shared clock);
* the **emulator config** - the channel (orbit link, budget, multipath, oscillator error) for
  ``hil emulate`` or the in-process :class:`hil.emulator.link.Link`;
* the **receiver config** - tracking mode, detector, and the terminal's *own* ephemeris inputs (its
  TLE source, satellite, ground point, epoch and ephemeris errors). It holds no delay, Doppler or SNR.

A plan is JSON (``plan.json``) so the three blocks can run as separate processes (``hil tx``,
``hil emulate``, ``hil rx``) or be replaced by other programs.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field

import numpy as np

from dsp.framing import FrameFormat, TxSchedule
from hil.errors import ConfigError

__all__ = ["LoopPlan", "make_plan", "make_format", "make_schedule", "own_ephemeris", "make_receiver",
           "make_transmitter"]
_PAD_S = 5.0


def make_format(wf, frames):
    """(FrameFormat, pilot layout or None, detector name) for a waveform config and the frames section."""
    from dsp.estimation import afdm_pilot_layout, otfs_pilot_layout
    from dsp.sync import Preamble
    from dsp.waveforms import make_modem

    det = wf.detector
    if det == "auto":
        det = {"otfs": "mrc", "afdm": "mrc", "ofdm": "pilot-onetap"}.get(wf.kind, "onetap")
    opts = {}
    if wf.kind == "afdm" and det in ("mp", "mrc", "lmmse"):
        opts = dict(l_max=max(1, wf.pilot_l_max), alpha_max=max(1, wf.pilot_k_max), k_v=1)
    modem = make_modem(wf.kind, wf.M, wf.N, wf.qam, **opts)
    layout = None
    if det in ("mp", "mrc", "lmmse"):
        if wf.kind == "otfs":
            layout = otfs_pilot_layout(modem, wf.pilot_l_max, wf.pilot_k_max, full_doppler_guard=True)
        elif wf.kind == "afdm":
            layout = afdm_pilot_layout(modem)
        elif det != "lmmse":
            raise ConfigError.bad_value("waveforms.detector", det, f"onetap or lmmse for {wf.kind} (mp / mrc "
                                        "need an embedded pilot: otfs or afdm)")
        if layout is not None:
            layout.apply(modem)
    elif det == "pilot-onetap":
        if wf.kind != "ofdm":
            raise ConfigError.bad_value("waveforms.detector", det, "pilot-onetap only for ofdm")
        modem.set_pilots(4, 1)
    fmt = FrameFormat(modem, Preamble(frames.preamble_degree, frames.preamble_repeats), frames.oversample,
                      frames.header_repeats)
    return fmt, layout, det


def make_schedule(fs: float, t0: float, span_s: float, fmt: FrameFormat, frames, max_bursts: int | None):
    """Bursts every ``frames.interval_s`` over ``span_s`` seconds (capped at ``max_bursts``, spread evenly)."""
    K = frames.per_burst
    L = K * fmt.period
    if span_s <= L / fs:
        raise ConfigError.bad_value("duration_s", span_s, f"> {L / fs:.3g} s (one burst plus the longest delay)")
    interval = frames.interval_s
    n_b = int(math.floor((span_s - L / fs) / interval)) + 1
    cap = max_bursts if max_bursts is not None else (frames.max_bursts or None)
    if cap and n_b > cap:
        n_b = cap
        interval = (span_s - L / fs) / max(cap - 1, 1)
    if interval * fs < L:
        raise ConfigError.bad_value("frames.interval_s", frames.interval_s, f">= {L / fs:.4g} s (one burst)")
    starts = tuple(int(round(b * interval * fs)) for b in range(n_b))
    return TxSchedule(fs, t0, fmt.period, K, starts)


@dataclass
class LoopPlan:
    """Everything the blocks of one run are told (see the module doc)."""

    name: str
    scenario: dict
    base_dir: str | None
    waveform: int
    mode: str
    schedule: TxSchedule
    emulator: dict
    receiver: dict
    info: dict = field(default_factory=dict)

    def to_json(self) -> str:
        d = dict(self.__dict__)
        d["schedule"] = self.schedule.to_dict()
        return json.dumps(d, indent=1, default=float)

    @classmethod
    def from_json(cls, text: str, source: str = "plan") -> LoopPlan:
        try:
            d = json.loads(text)
            d["schedule"] = TxSchedule.from_dict(d["schedule"])
            return cls(**d)
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{source}: not a loop plan ({type(exc).__name__}: {exc})", source=source) from None

    @classmethod
    def load(cls, path) -> LoopPlan:
        path = os.fspath(path)
        try:
            with open(path, encoding="utf-8") as fh:
                return cls.from_json(fh.read(), path)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the plan ({exc.strerror})", source=path) from None
        except UnicodeDecodeError as exc:  # a binary file (issue 15: one line, no traceback)
            raise ConfigError(f"{path}: not a loop plan (not UTF-8 text at byte {exc.start})", source=path) from None

    def scenario_obj(self):
        from hil.config import parse
        from hil.scenario import Scenario

        return parse(Scenario, self.scenario, source=f"plan {self.name}")

    def format(self):
        sc = self.scenario_obj()
        return make_format(sc.waveforms[self.waveform], sc.frames)


def _link_budget_const(sc, bandwidth_hz):
    """Es/N0 = const - path loss (dB) for the scenario's link budget (None: constant snr_db)."""
    from hil.experiment import _budget

    if sc.link.snr_db is not None:
        return None
    budget = _budget(sc, bandwidth_hz)
    ref_r, ref_el = 1e6, 45.0
    return float(budget.snr_db(ref_r, ref_el) + budget.path_loss_db(ref_r, ref_el)), budget


def eop_path(sc, base_dir):
    """The scenario's EOP file resolved against the scenario's folder (None: UT1 = UTC)."""
    f = sc.orbit.eop_file
    if not f:
        return None
    return f if os.path.isabs(f) or not base_dir else os.path.join(base_dir, f)


def make_plan(sc, wf_index: int, mode: str, *, base_dir: str | None = None, max_bursts: int | None = None,
              name: str | None = None, pm=None) -> LoopPlan:
    """Design one run of waveform ``wf_index`` in tracking ``mode`` (``pm``: a prebuilt pass model)."""
    from hil.config import to_dict
    from hil.experiment import build_pass

    pm = pm or build_pass(sc, base_dir)
    wf = sc.waveforms[wf_index]
    fmt, _layout, det = make_format(wf, sc.frames)
    fs, fc = sc.sample_rate_hz, sc.carrier_hz
    d_lo, d_hi = pm.delay_range_s
    span = pm.t_end - pm.t_start - d_hi
    schedule = make_schedule(fs, pm.t_start, span, fmt, sc.frames, max_bursts)
    os_ = sc.frames.oversample
    # Es/N0(t) = const - path_loss(t): noise per sample and a gain that is 0 dB at the best point
    t_b = schedule.time_of(np.asarray(schedule.burst_starts))
    pl = np.asarray(pm.path_loss_db(t_b), float)
    pl_ref = float(np.min(pl))
    snr_ref = float(np.max(np.asarray(pm.snr_db(t_b), float)))
    noise_dbfs = 10 * math.log10(os_) - snr_ref
    const = _link_budget_const(sc, fs / os_)
    if const is None:
        raise ConfigError.bad_value("link.snr_db", sc.link.snr_db, "null in a loop run (the emulator imposes the "
                                    "pass's path loss; set the link budget instead)")
    gain_db = pl_ref
    ch = sc.channel
    ch = sc.channel
    pieces = pm.info["pieces"]
    traj = []
    for j, (t_a, si) in enumerate(pieces):
        t_next = pieces[j + 1][0] if j + 1 < len(pieces) else pm.t_end + _PAD_S
        t0 = t_a if j else pm.t_start - _PAD_S
        traj.append({"kind": "orbit", "start_s": float(t0), "constellation": pm.info["constellation_spec"],
                     "satellite": int(si), "station": [sc.orbit.ground.lat_deg, sc.orbit.ground.lon_deg,
                                                       sc.orbit.ground.alt_m],
                     "epoch_utc": sc.epoch, "duration_s": float(t_next - t0 + _PAD_S),
                     "min_elevation_deg": sc.orbit.mask_deg - 5.0, "light_time": ch.light_time,
                     "gases": ch.gases, "knot_step_s": sc.orbit.knot_step_s, "eop": eop_path(sc, base_dir)})
    link = {"name": "downlink", "source": "tx", "sink": "rx", "direction": "downlink", "carrier_hz": fc,
            "gain_db": gain_db, "noise_dbfs": noise_dbfs, "trajectory": traj,
            "max_delay_s": float(d_hi + 0.002), "frequency_offset_hz": ch.oscillator_ppm * 1e-6 * fc,
            "frequency_drift_hz_s": ch.oscillator_drift_ppm_per_s * 1e-6 * fc}
    if ch.ntn_tdl:
        link.update(ntn_tdl=ch.ntn_tdl, delay_spread_s=ch.delay_spread_s, fading_doppler_hz=ch.fading_doppler_hz)
    # every waveform sees the same channel draw (fading, noise): a fair comparison
    emulator = {"name": f"loop-{wf.kind}", "seed": int(sc.seed), "sample_rate_hz": fs,
                "epoch_s": pm.t_start, "links": [link], "pace": sc.frames.pace == "realtime"}
    tc = sc.tracking
    own = [[float(t), n] for t, n in pm.info["pieces_names"]]
    if tc.own_satellite is not None:
        from hil.experiment import _constellation, _pick_satellite

        cons = _constellation(sc, base_dir)
        own = [[own[0][0], cons[_pick_satellite(cons, tc.own_satellite)].name]]
    receiver = {"mode": mode, "detector": det, "loop_bandwidth_hz": tc.loop_bandwidth_hz,
                "max_misses": tc.max_misses, "satellites": own,
                "delay_range_s": [_shell_delay(pm, "lo"), _shell_delay(pm, "hi")]}
    info = {"pass": pm.info, "t_start_s": pm.t_start, "t_end_s": pm.t_end, "snr_ref_db": snr_ref,
            "pl_ref_db": pl_ref}
    return LoopPlan(name or wf.kind, to_dict(sc), base_dir, wf_index, mode, schedule, emulator, receiver,
                    json.loads(json.dumps(info, default=str)))


def _shell_delay(pm, which):
    """The blind search range: zenith .. horizon delay of the satellite's altitude (not this pass's truth)."""
    from hil.orbit.constants import C_MPS

    h = float(pm.info.get("altitude_m", 550e3))
    re = 6_371_000.0
    if which == "lo":
        return 0.9 * h / C_MPS
    el = math.radians(0.0)
    rng = math.sqrt((re + h) ** 2 - (re * math.cos(el)) ** 2) - re * math.sin(el)
    return 1.05 * rng / C_MPS


# ------------------------------------------------------------------------------------------ blocks
def own_ephemeris(plan: LoopPlan):
    """The receiver's own ephemeris (:class:`hil.orbit.ReceiverEphemeris`): its own TLE(s) of the
    satellite(s) the network announces as serving - or ``tracking.own_satellite`` - made wrong by
    ``tracking.ephemeris_error`` and propagated with SGP4; never the emulator's truth."""
    from hil.experiment import _constellation, _ground
    from hil.orbit.ephemeris import ReceiverEphemeris

    sc = plan.scenario_obj()
    cons = _constellation(sc, plan.base_dir)
    sch = plan.schedule
    t0 = sch.t0_s - 1.0
    t1 = float(sch.time_of(sch.burst_starts[-1] + sch.burst_length)) + 1.0
    pieces = [(-math.inf if j == 0 else float(t), cons[cons.index(name)])
              for j, (t, name) in enumerate(plan.receiver["satellites"])]
    eop = eop_path(sc, plan.base_dir)
    return ReceiverEphemeris.handover(pieces, _ground(sc), sc.epoch, t0, t1, sc.carrier_hz,
                                      sc.tracking.ephemeris_error, t_ref=sch.t0_s,
                                      light_time="downlink" if sc.channel.light_time else "none",
                                      mask_deg=sc.orbit.mask_deg - 5.0, eop=eop)


def make_transmitter(plan: LoopPlan):
    from dsp.framing import Transmitter

    fmt, _, _ = plan.format()
    return Transmitter(fmt, plan.schedule, seed=int(plan.scenario.get("seed", 0)))


def make_receiver(plan: LoopPlan, *, latency_samples: int = 0):
    from dsp.receiver import Receiver

    fmt, layout, det = plan.format()
    sc = plan.scenario_obj()
    rc = plan.receiver
    eph = own_ephemeris(plan) if rc["mode"] == "ephemeris" else None
    return Receiver(fmt, plan.schedule, sc.carrier_hz, mode=rc["mode"], ephemeris=eph,
                    delay_range_s=tuple(rc["delay_range_s"]), detector=det, layout=layout,
                    loop_bandwidth_hz=rc["loop_bandwidth_hz"], max_misses=rc["max_misses"],
                    latency_samples=latency_samples)
