"""The experiment runner behind ``hil run`` and ``hil demo``: fly a satellite pass over the bench.

What one run does (docs/experiments.md has the full story and the honest limits):

1. **Design** (:func:`build_pass`): the scenario's constellation or TLE file, satellite and ground point
   give the pass (SGP4; with ``start: handover`` the serving satellite changes during the run) and the
   link budget its Es/N0. This is only used to choose *when* to transmit and how to set the emulator.
2. **The loop** (:mod:`hil.loop`): per waveform and tracking mode a plan (schedule + frame format for
   both ends, an emulator config, the receiver's own inputs) is run through transmitter -> emulator ->
   receiver - in one process (``mock``), as three processes over ZeroMQ (``mock-zmq``) or around a radio
   (``pluto``/``soapy``). The receiver sees only samples, the schedule and its own ephemeris.
3. **Metrics** (:func:`hil.loop.metrics.join`): afterwards, the receiver's decoded frames are joined by
   frame number with the emulator's per-burst telemetry (the only truth) ->
   :func:`hil.report.write_report`.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

from hil.errors import ConfigError, DeviceError
from hil.orbit.constants import C_MPS
from hil.report import WaveformRun, write_report
from hil.scenario import Scenario

__all__ = ["PassModel", "build_pass", "run_waveform", "run_scenario", "ExperimentResult", "C_MPS"]


@dataclass
class PassModel:
    """Everything the runner needs to know about the pass (times in s since ``epoch``).

    ``trajectory``: the truth (delay, delay_rate, elevation, visible, path_loss_db, discontinuities);
    ``snr_db(t)``: Es/N0 the channel imposes; ``serving(t)``: serving satellite index (handover runs);
    This is the experiment designer's view (choosing the pass, the schedule and the emulator's settings);
    the receiver never gets it - it builds its own ephemeris (:func:`hil.loop.plan.own_ephemeris`).
    """

    trajectory: object
    t_start: float
    t_end: float
    carrier_hz: float
    snr_db: object
    path_loss_db: object
    delay_range_s: tuple[float, float]
    epoch: object = None
    serving: object = None
    info: dict = field(default_factory=dict)

    def doppler(self, t):
        return -self.carrier_hz * np.asarray(self.trajectory.delay_rate(t))


def _ground(sc: Scenario):
    from hil.orbit import GroundStation

    g = sc.orbit.ground
    return GroundStation(g.lat_deg, g.lon_deg, g.alt_m)


def constellation_spec(sc: Scenario, base_dir: str | None) -> str:
    """The scenario's constellation: a preset name, or the TLE file's path resolved against ``base_dir``."""
    from hil.orbit import PRESETS

    spec = sc.orbit.constellation
    if spec not in PRESETS and not os.path.isabs(spec) and base_dir:
        cand = os.path.join(base_dir, spec)
        if os.path.exists(cand):
            spec = os.path.abspath(cand)
    return spec


def _constellation(sc: Scenario, base_dir: str | None):
    from hil.orbit import load_constellation

    return load_constellation(constellation_spec(sc, base_dir))  # Walker presets: their own element epoch


def _pick_satellite(cons, which):
    if isinstance(which, str):
        return cons.index(which)
    n = len(cons)
    if not -n <= which < n:
        raise ConfigError.bad_value("orbit.satellite", which, f"an index -{n}..{n - 1} or a satellite name")
    return which % n


def _budget(sc: Scenario, bandwidth_hz: float):
    from hil.orbit import LinkBudget

    lk = sc.link
    over = {k: getattr(lk, k) for k in ("tx_power_dbw", "tx_gain_dbi", "rx_gain_dbi", "noise_figure_db",
                                         "antenna_temperature_k") if getattr(lk, k) is not None}
    over.update(fc_hz=sc.carrier_hz, bandwidth_hz=lk.bandwidth_hz or bandwidth_hz, gases=lk.gases,
                extra_loss_db=lk.extra_loss_db)
    if lk.preset == "seed-downlink":
        return LinkBudget.seed_downlink(**over)
    over.setdefault("tx_power_dbw", 0.0)
    return LinkBudget(**over)


def _orbital_speed(sat) -> float:
    """Mean orbital speed (m/s) from the SGP4 mean motion."""
    mu = 3.986004418e14
    n = sat.satrec.no_kozai / 60.0  # rad/s
    a = (mu / n**2) ** (1.0 / 3.0)
    return math.sqrt(mu / a)


def build_pass(sc: Scenario, base_dir: str | None = None) -> PassModel:
    """Geometry and link budget of the scenario's pass (the designer's view; see :class:`PassModel`)."""
    from hil.emulator.trajectory import HandoverTrajectory, OrbitTrajectory
    from hil.loop.plan import eop_path
    from hil.orbit import find_passes, make_track, serving_sequence

    oc = sc.orbit
    ground = _ground(sc)
    eop = eop_path(sc, base_dir)
    cons = _constellation(sc, base_dir)
    fc = sc.carrier_hz
    budget = _budget(sc, sc.sample_rate_hz / sc.frames.oversample)
    err = sc.tracking.ephemeris_error
    along = err.along_track_m + err.aging_along_track_m()  # for the report; the receiver builds its own TLE
    pad = 5.0 + abs(along) / 5000.0  # track margin so the shifted prediction stays inside it
    info: dict = {"ground": str(ground), "constellation": getattr(cons, "name", "") or oc.constellation,
                  "constellation_spec": constellation_spec(sc, base_dir)}
    serving_fn = None
    if oc.start == "handover":
        win = min(oc.search_s, 7200.0)
        seq = serving_sequence(cons, ground, sc.epoch, win, step_s=1.0, mask_deg=oc.mask_deg, eop=eop)
        hos = [h for h in seq.handovers() if h[1] >= 0 and h[2] >= 0]
        if not hos:
            raise ConfigError.bad_value("orbit.start", "handover",
                                        f"a window with a change of serving satellite (none in {win:g} s "
                                        "after the epoch; raise orbit.search_s or move the epoch)")
        t_ho, _, _ = hos[0]
        t_start = t_ho - sc.duration_s / 2 + oc.offset_s
        t_end = t_start + sc.duration_s
        s = seq.serving[0]
        k0 = int(np.searchsorted(seq.t_s, t_start, side="right")) - 1
        k1 = int(np.searchsorted(seq.t_s, t_end, side="right"))
        idx = [int(x) for x in s[max(k0, 0):k1]]
        times = [float(x) for x in seq.t_s[max(k0, 0):k1]]
        pieces, sats = [], []
        for t, i in zip(times, idx):
            if i < 0:
                raise ConfigError.bad_value("orbit", f"no satellite above the mask at t = {t:g} s",
                                            "continuous coverage over the handover window")
            if not sats or sats[-1] != i:
                sats.append(i)
                pieces.append((max(t, t_start - pad), i))
        trajs = []
        for j, (t, i) in enumerate(pieces):
            t_next = pieces[j + 1][0] if j + 1 < len(pieces) else t_end + pad
            tr = make_track(cons[i], ground, sc.epoch, (t_next - t) + 2 * pad, oc.knot_step_s, start_s=t - pad,
                            eop=eop,
                            mask_deg=oc.mask_deg - 5.0)
            trajs.append((t if j else t_start - pad, OrbitTrajectory(tr, fc, budget=budget)))
        trajectory = HandoverTrajectory(trajs) if len(trajs) > 1 else trajs[0][1]
        starts = np.array([t for t, _ in trajs])

        def serving_fn(t, starts=starts, sats=tuple(sats)):
            k = np.clip(np.searchsorted(starts, np.asarray(t, float), side="right") - 1, 0, len(sats) - 1)
            return np.asarray(sats)[k]

        speed = _orbital_speed(cons[sats[0]])
        info.update(satellites=[cons[i].name for i in sats], handovers_s=[p[0] for p in pieces[1:]],
                    pieces=[(float(t if j else t_start - pad), int(i)) for j, (t, i) in enumerate(pieces)],
                    pieces_names=[(float(t if j else t_start - pad), cons[i].name) for j, (t, i) in enumerate(pieces)])
    else:
        si = _pick_satellite(cons, oc.satellite)
        sat = cons[si]
        if oc.start == "next-pass":
            passes = find_passes(sat, ground, sc.epoch, oc.search_s, mask_deg=oc.mask_deg, eop=eop)
            passes = [p for p in passes if not p.aos_clipped]
            if not passes:
                raise ConfigError.bad_value("orbit.search_s", oc.search_s,
                                            f"a window holding a pass of {sat.name} above {oc.mask_deg:g} deg "
                                            "(none found; raise search_s or move the epoch)")
            p = passes[0] if oc.select == "first" else max(passes, key=lambda q: q.max_elevation_deg)
            t_start = p.aos_s + oc.offset_s
            t_end = min(t_start + sc.duration_s, p.los_s)
            if t_end - t_start < 1.0:
                raise ConfigError.bad_value("orbit.offset_s", oc.offset_s,
                                            f"an offset inside the pass (AOS..LOS = {p.duration_s:.0f} s)")
            info.update(pass_aos_s=p.aos_s, pass_tca_s=p.tca_s, pass_los_s=p.los_s,
                        max_elevation_deg=p.max_elevation_deg)
        else:
            t_start = oc.offset_s
            t_end = t_start + sc.duration_s
        tr = make_track(sat, ground, sc.epoch, (t_end - t_start) + 2 * pad, oc.knot_step_s, start_s=t_start - pad,
                        eop=eop,
                        mask_deg=oc.mask_deg)
        trajectory = OrbitTrajectory(tr, fc, budget=budget)
        speed = _orbital_speed(sat)
        info.update(satellites=[sat.name], pieces=[(float(t_start - pad), int(si))],
                    pieces_names=[(float(t_start - pad), sat.name)])
    shift = along / speed
    info["altitude_m"] = 3.986004418e14 / speed**2 - 6_371_000.0  # circular orbit: v^2 = mu / a

    def path_loss(t, trajectory=trajectory):
        return np.asarray(trajectory.path_loss_db(t), dtype=float)

    if sc.link.snr_db is not None:
        snr_const = float(sc.link.snr_db)

        def snr_fn(t):
            return np.full(np.shape(t), snr_const) if np.ndim(t) else snr_const
    else:
        # Es/N0 = received power - noise over the signal bandwidth; the budget's own terms.
        ref_r, ref_el = 1e6, 45.0
        const = float(budget.snr_db(ref_r, ref_el) + budget.path_loss_db(ref_r, ref_el))

        def snr_fn(t, trajectory=trajectory, const=const):
            return const - np.asarray(trajectory.path_loss_db(t), dtype=float)

    tt = np.linspace(t_start, t_end, 257)
    d = np.asarray(trajectory.delay(tt))
    info.update(budget=repr(budget), ephemeris_time_shift_s=shift, along_track_error_m=along,
                t_start_s=t_start, t_end_s=t_end)
    from hil.orbit import as_epoch

    return PassModel(trajectory=trajectory, t_start=float(t_start), t_end=float(t_end), carrier_hz=fc,
                     snr_db=snr_fn, path_loss_db=path_loss,
                     delay_range_s=(float(d.min()), float(d.max())), epoch=as_epoch(sc.epoch),
                     serving=serving_fn, info=info)


# ---------------------------------------------------------------------------------------- whole scenario
@dataclass
class ExperimentResult:
    summary: dict
    runs: list
    outdir: str
    seconds: float
    backend_note: str


def backend_note(sc: Scenario) -> str:
    kind = sc.backend.kind
    if kind == "mock":
        return ("mock: transmitter, emulator link (hil.emulator.link.Link.accept, the server's code) and receiver "
                "in one process")
    if kind == "mock-zmq":
        return ("mock-zmq: hil tx -> hil emulate -> hil rx as three processes over the framed ZeroMQ wire (ipc://); "
                "truth only from the emulator's per-burst telemetry")
    return f"{kind}: the emulator's link between the modem and the radio ({sc.backend.profile}), RF loopback"


def run_waveform(sc: Scenario, wf_index: int, pm: PassModel, mode: str, *, name: str | None = None,
                 base_dir: str | None = None, workdir: str | None = None, progress=None,
                 max_bursts: int | None = None) -> WaveformRun:
    """One waveform in one tracking mode through the loop (``hil.loop``); returns its per-frame columns."""
    from hil.loop.metrics import join
    from hil.loop.plan import make_plan, make_transmitter
    from hil.loop.run import run_inprocess, run_processes

    plan = make_plan(sc, wf_index, mode, base_dir=base_dir, max_bursts=max_bursts, name=name, pm=pm)
    kind = sc.backend.kind
    if progress is not None:
        progress.total = (progress.total or 0) + plan.schedule.n_bursts
        progress.refresh()
    if kind == "mock":
        out = run_inprocess(plan, progress=progress)
    elif kind == "mock-zmq":
        import tempfile

        wd = workdir or tempfile.mkdtemp(prefix=f"hil-{plan.name}-")
        out = run_processes(plan, wd)
        if progress is not None:
            progress.update(plan.schedule.n_bursts)
    else:
        from hil.loop.run import run_radio

        out = run_radio(plan, sc.backend, progress=progress)
    fmt, _layout, det = plan.format()
    tx = make_transmitter(plan)
    wf = sc.waveforms[wf_index]
    cols, counters = join(plan.schedule, fmt, out.rx_frames, out.telemetry, tx.bits, qam=wf.qam,
                          carrier_hz=sc.carrier_hz)
    counters.update({k: v for k, v in out.counters.items() if k != "frames"})
    t = cols["t_s"]
    dec = cols["synced"] > 0
    t_first = float(t[dec][0]) if dec.any() else pm.t_end
    notes = [f"detector: {det}; frame: {fmt!r}", "a frame that was not decoded counts half its bits in error",
             *out.notes]
    if counters.get("rx_acquisitions", 0) > 1:
        notes.append(f"{counters['rx_acquisitions']} acquisitions (re-acquired after loss of lock)")
    w, wl = counters.get("rx_windows", 0), counters.get("rx_windows_locked", 0)
    if w and wl < w:
        notes.append(f"receiver out of lock in {w - wl} of {w} burst windows (no header of the expected burst)")
    if not dec.any():
        notes.append("never synchronised")
    snap = None
    best = -1e9
    for d in out.rx_frames:
        syms = d.get("symbols")
        f = d.get("frame_no")
        if syms and f is not None and 0 <= f < t.size and cols["elevation_deg"][f] > best:
            best, snap = cols["elevation_deg"][f], np.asarray(syms[0]) + 1j * np.asarray(syms[1])
    run = WaveformRun(name=name or wf.kind, columns=cols, carrier_hz=sc.carrier_hz, constellation=snap,
                      reference_points=fmt.modem.qam.constellation, acquisition_s=t_first + sc.tracking.settle_s,
                      notes=notes)
    run.counters = counters
    run.plan = plan
    run.telemetry = out.telemetry
    return run


def run_scenario(sc: Scenario, outdir: str, *, base_dir: str | None = None, progress: bool = True,
                 modes: list[str] | None = None, max_bursts: int | None = None, html: bool = True,
                 title: str | None = None) -> ExperimentResult:
    """Run every waveform of the scenario in every tracking mode asked for and write the report."""
    from hil.loop.run import check_backend

    t0 = time.perf_counter()
    check_backend(sc.backend.kind)
    if sc.backend.kind == "mock-zmq":
        import zmq  # noqa: F401 - fail before the (slow) geometry if pyzmq is missing
    elif sc.backend.kind in ("pluto", "soapy"):
        from hil.loop.run import open_radio

        open_radio(sc.backend, sc.sample_rate_hz, sc.carrier_hz).close()  # no device: DeviceError now
    pm = build_pass(sc, base_dir)
    modes = modes or [sc.tracking.mode, *sc.tracking.compare]
    runs = []
    bar = None
    if progress:
        import sys

        from tqdm import tqdm

        bar = tqdm(total=0, unit="burst", file=sys.stderr, desc=sc.name, leave=False)
    try:
        for i, wf in enumerate(sc.waveforms):
            for mode in modes:
                name = wf.kind if len(modes) == 1 else f"{wf.kind}-{mode}"
                if len([w for w in sc.waveforms if w.kind == wf.kind]) > 1:
                    name += f"-{wf.M}x{wf.N}-q{wf.qam}"
                if bar is not None:
                    bar.set_postfix_str(name)
                wd = os.path.join(outdir, "loop", name)
                runs.append(run_waveform(sc, i, pm, mode, name=name, base_dir=base_dir, workdir=wd,
                                         progress=bar, max_bursts=max_bursts))
    finally:
        if bar is not None:
            bar.close()
    meta = {
        "scenario": sc.name,
        "description": sc.description,
        "backend": backend_note(sc),
        "carrier": f"{sc.carrier_hz / 1e9:g} GHz",
        "sample rate": f"{sc.sample_rate_hz / 1e6:g} MSPS (waveform band "
                       f"{sc.sample_rate_hz / sc.frames.oversample / 1e6:g} MHz)",
        "pass": _pass_text(pm),
        "channel": _channel_text(sc),
        "bursts": f"{sc.frames.per_burst} frames every {sc.frames.interval_s:g} s of pass time (max "
                  f"{sc.frames.max_bursts or 'unlimited'} bursts); silence between bursts skipped by the emulator",
        "tracking modes": ", ".join(modes),
        "ephemeris error": f"receiver's own TLE (hil.orbit.ReceiverEphemeris): {_eph_text(sc)}",
    }
    seconds = time.perf_counter() - t0
    meta["run time"] = f"{seconds:.1f} s"
    summary = write_report(outdir, runs, title=title or f"hil run: {sc.name}", meta=meta, html=html)
    return ExperimentResult(summary, runs, outdir, seconds, backend_note(sc))


def _eph_text(sc: Scenario) -> str:
    e = sc.tracking.ephemeris_error
    parts = [f"{k} {getattr(e, k):g}" for k in ("tle_age_days", "epoch_shift_s", "along_track_m", "cross_track_m",
                                                  "radial_m", "clock_offset_s", "offset_ppm", "drift_ppm_per_s")
             if getattr(e, k)]
    if sc.tracking.own_satellite is not None:
        parts.append(f"satellite {sc.tracking.own_satellite!r} (not the serving one)")
    return ", ".join(parts) or "exact elements"


def _channel_text(sc: Scenario) -> str:
    ch = sc.channel
    txt = "ephemeris delay/Doppler (SGP4), link-budget path loss" + (" + gases" if ch.gases else "")
    txt += ", light time" if ch.light_time else ""
    if ch.ntn_tdl:
        txt += (f", {ch.ntn_tdl} multipath (delay spread {ch.delay_spread_s * 1e9:g} ns, fading Doppler "
                f"{ch.fading_doppler_hz:g} Hz)")
    if ch.oscillator_ppm or ch.oscillator_drift_ppm_per_s:
        txt += f", receiver oscillator {ch.oscillator_ppm:g} ppm"
    return txt + ", AWGN"


def _pass_text(pm: PassModel) -> str:
    i = pm.info
    sats = ", ".join(i.get("satellites", []))
    txt = f"{sats} over {i['ground']}, t = {pm.t_start:.1f}..{pm.t_end:.1f} s after the epoch"
    if "max_elevation_deg" in i:
        txt += f", max elevation {i['max_elevation_deg']:.1f} deg"
    if i.get("handovers_s"):
        txt += ", handover at " + ", ".join(f"{t:.0f} s" for t in i["handovers_s"])
    return txt


def summary_table(summary: dict) -> str:
    """A short fixed-width table of the report's per-waveform numbers (for the terminal), and the loop's
    counters (sent / decoded / false locks, BER of decoded frames vs the ideal-CSI AWGN reference, and the
    bit errors behind both: a ratio of BERs means little on a handful of errors)."""
    head = (f"{'run':<16} {'sent':>5} {'decoded':>7} {'false':>5} {'BER decoded':>11} {'(ideal AWGN)':>12} "
            f"{'errors (expected)':>17} {'BLER':>6} {'resid. Doppler RMS':>21} {'delay err':>9}")
    lines = [head, "-" * len(head)]
    for s in summary["waveforms"]:
        bd, br = s.get("ber_decoded"), s.get("ber_reference")
        errs = "-"
        n_dec, n_f = s.get("decoded", s.get("frames_synced")), s.get("frames")
        if bd is not None and br is not None and n_dec is not None and n_f:
            nbits = s["bits"] / n_f * n_dec  # bits of the decoded frames
            errs = f"{bd * nbits:.0f} ({br * nbits:.1f})"
        bler = "-" if s.get("bler") is None else f"{s['bler']:.3f}"
        rr = s.get("residual_doppler_rms_hz")
        rp = s.get("residual_doppler_rms_ppm")
        res = "-" if rr is None else f"{rr:.2f} Hz ({rp:.4f} ppm)"
        de = s.get("delay_error_rms_ns")
        lines.append(f"{s['waveform']:<16} {s.get('frames_sent', s['frames']):>5} "
                     f"{s.get('decoded', s['frames_synced']):>7} {s.get('false_locks', '-'):>5} "
                     f"{'-' if bd is None else f'{bd:.2e}':>11} {'-' if br is None else f'({br:.1e})':>12} "
                     f"{errs:>17} {bler:>6} {res:>21} {'-' if de is None else f'{de:.1f} ns':>9}")
    return "\n".join(lines)


__all__ += ["summary_table", "backend_note", "DeviceError"]
