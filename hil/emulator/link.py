"""One emulated link: a :class:`dsp.delay.ChannelStream` driven by a trajectory, plus its bookkeeping.

The link's clock is the input sample index ``n`` (``t = epoch + n / fs``). Input arrives as *timed
bursts*: :meth:`Link.accept` takes a burst's samples with their absolute start index. Between bursts
nothing is sent; the link jumps (:meth:`Link.skip_to`): it first runs its *tail* (the channel memory
``M`` = largest path delay over the tail + half the interpolator + a margin, zeros in: the delayed end
of the burst plus noise come out), then moves its clock in O(1) (the delay line is cleared; no zeros
pass through it). A gap no longer than the tail is simply run as zeros. Samples are never synthesised
beyond the channel memory, whatever the size of the jump.

Output index ``n`` holds the channel output at ``t = epoch + n / fs``; a burst's output ends ``M``
samples after its last input. It starts at its first input index ``i`` plus the link's declared *lead*
``L`` when the burst follows silence (the delay line held no input): ``L`` = the minimum delay of the
configured trajectory over its whole span less half the interpolator and a margin (:func:`declared_lead`,
a constant of the configuration, never the delay of the moment), so output ``[i, i + L)`` - silence plus
noise - is not sent. ``skip_lead: 0`` sends it (output from ``i``).
Outside visibility the channel gain is zero and only noise comes out. The receiver's oscillator error
(``frequency_offset_hz``, ``frequency_drift_hz_s``) is a phase ramp on the output at absolute time.

Per burst the link writes one telemetry record (:attr:`Link.bursts`, keys in docs/emulator.md): the
only source of truth for an experiment. With ``record_interval_s`` a burst longer than that is split
into records of that many seconds of input each (from the burst's first sample; the last one shorter),
so a long continuous stream gets its truth every interval, not only at its start and end.
"""

from __future__ import annotations

import math
import os

import numpy as np

from dsp.delay import ChannelStream
from hil.emulator.trajectory import (
    C,
    CircularPass,
    ConstantTrajectory,
    HandoverTrajectory,
    LinearTrajectory,
    LinkProfile,
    OrbitTrajectory,
    min_delay_s,
)
from hil.errors import ConfigError

__all__ = ["Link", "build_links", "build_trajectory", "build_paths", "declared_lead", "TAIL_MARGIN",
           "LEAD_MARGIN"]

TAIL_MARGIN = 2  # samples added to the channel memory (rounding; curvature of the delay over the tail)
LEAD_MARGIN = 2  # samples kept before the earliest possible arrival of a burst's signal (rounding)


def _one_trajectory(tc, link_cfg, source, path):
    carrier_hz = link_cfg.carrier_hz
    if tc.kind == "constant":
        return ConstantTrajectory(tc.delay_s, tc.path_loss_db)
    if tc.kind == "linear":
        return LinearTrajectory(tc.delay_s, tc.rate, tc.path_loss_db)
    if tc.kind == "circular":
        return CircularPass(tc.altitude_m, carrier_hz or 1.0, offset_deg=tc.offset_deg, t_closest_s=tc.t_closest_s,
                            min_elevation_deg=tc.min_elevation_deg, extra_loss_db=tc.extra_loss_db)
    if tc.kind == "orbit":
        return _orbit_trajectory(tc, link_cfg, source, path)
    if tc.kind == "gap":
        return None
    if tc.kind == "network":
        return _network_trajectory(tc, link_cfg, source, path)
    raise ConfigError.bad_value(f"{path}.kind", tc.kind, "constant, linear, circular, orbit, gap, network")


def _network_trajectory(tc, link_cfg, source, path):
    """A node-pair link of a hil.network scenario (delay, two-ended Doppler, path loss; docs/network.md)."""
    from hil.network import build_network, load_network_config

    if not tc.network or not tc.link:
        raise ConfigError.bad_value(f"{path}", "network", "network: FILE.yaml and link: NAME", source=source)
    f = tc.network
    if not os.path.isabs(f) and source:
        cand = os.path.join(os.path.dirname(os.fspath(source)), f)
        f = cand if os.path.exists(cand) else f
    net = build_network(load_network_config(f))
    if tc.link not in net.trajectories:
        raise ConfigError.bad_value(f"{path}.link", tc.link, "a link of " + tc.network + " ("
                                    + ", ".join(net.trajectories) + ")", source=source)
    tr = net.trajectories[tc.link]
    if link_cfg.carrier_hz != tr.carrier_hz:
        raise ConfigError.bad_value(f"links.{link_cfg.name}.carrier_hz", link_cfg.carrier_hz,
                                    f"{tr.carrier_hz:g} Hz (the network link's carrier)", source=source)
    return tr


def _orbit_satellite(tc, source, path):
    import hil.orbit as orbit

    if tc.tle:
        if tc.constellation is not None:
            raise ConfigError.bad_value(f"{path}.constellation", tc.constellation,
                                        "null when tle: is given (one source of elements per piece)", source=source)
        if len(tc.tle) != 2:
            raise ConfigError.bad_value(f"{path}.tle", tc.tle, "two TLE lines [line1, line2]", source=source)
        return orbit.Constellation.from_tle_text("\n".join(tc.tle), source=f"{source or ''}:{path}.tle")[0]
    if tc.constellation is None:
        raise ConfigError.bad_value(f"{path}", "orbit", "tle: [line1, line2], or constellation: PRESET_OR_FILE "
                                    "with satellite: INDEX_OR_NAME", source=source)
    spec = tc.constellation
    if spec not in orbit.PRESETS and not os.path.isabs(spec) and source:
        cand = os.path.join(os.path.dirname(os.fspath(source)), spec)
        if os.path.exists(cand):
            spec = cand
    try:
        cons = orbit.load_constellation(spec)
    except ConfigError as exc:
        raise ConfigError.bad_value(f"{path}.constellation", tc.constellation,
                                    f"a preset ({', '.join(orbit.PRESETS)}) or a TLE file ({exc})",
                                    source=source) from None
    which = tc.satellite
    if which is None:
        raise ConfigError.bad_value(f"{path}.satellite", None, f"an index 0..{len(cons) - 1} or a satellite name "
                                    f"of {tc.constellation}", source=source)
    if isinstance(which, str):
        try:
            return cons[cons.index(which)]
        except ConfigError:
            raise ConfigError.bad_value(f"{path}.satellite", which, f"a satellite name of {tc.constellation} "
                                        f"(e.g. {', '.join(cons.names[:3])}) or an index 0..{len(cons) - 1}",
                                        source=source) from None
    if not 0 <= which < len(cons):
        raise ConfigError.bad_value(f"{path}.satellite", which, f"an index 0..{len(cons) - 1} or a satellite name",
                                    source=source)
    return cons[which]


def _orbit_trajectory(tc, link_cfg, source, path):
    try:
        import hil.orbit as orbit
    except ImportError:  # pragma: no cover - hil.orbit is part of the project
        raise ConfigError.bad_value(f"{path}.kind", "orbit", "constant, linear, circular or gap "
                                    "(hil.orbit is not installed in this tree)", source=source) from None
    if not tc.station or len(tc.station) != 3 or not tc.epoch_utc:
        raise ConfigError.bad_value(f"{path}", "orbit", "station: [lat_deg, lon_deg, alt_m] and epoch_utc "
                                    "(with tle: lines or constellation: + satellite:)", source=source)
    sat = _orbit_satellite(tc, source, path)
    budget = None
    if tc.gases:
        fc = link_cfg.carrier_hz
        if not 1e9 <= fc <= 54e9:
            raise ConfigError.bad_value(f"{path}.gases", True, f"false for carrier_hz = {fc:g} Hz (the P.676 gas "
                                        "model covers 1..54 GHz)", source=source)
        if tc.min_elevation_deg < 5.0:
            raise ConfigError.bad_value(f"{path}.min_elevation_deg", tc.min_elevation_deg,
                                        ">= 5 deg with gases: true (P.676's cosecant law), or gases: false",
                                        source=source)
        # The scenario's link budget model (hil.orbit.LinkBudget): free space + P.676 gases, standard
        # atmosphere. Bandwidth and powers do not enter the path loss.
        budget = orbit.LinkBudget(fc_hz=fc, bandwidth_hz=1.0, tx_power_dbw=0.0, direction=link_cfg.direction,
                                  gases=True)
    light = link_cfg.direction if tc.light_time else "none"
    eop = tc.eop
    if eop is not None and not os.path.isabs(eop) and source:
        cand = os.path.join(os.path.dirname(os.fspath(source)), eop)
        eop = cand if os.path.exists(cand) else eop
    if eop is not None and not os.path.isfile(eop):
        raise ConfigError.bad_value(f"{path}.eop", tc.eop, "the path of an IERS finals2000A file (or null)",
                                    source=source)
    ground = orbit.GroundStation(*tc.station)
    track = orbit.make_track(sat, ground, tc.epoch_utc, tc.duration_s, tc.knot_step_s, start_s=tc.start_s,
                             mask_deg=tc.min_elevation_deg, light_time=light, eop=eop)
    return OrbitTrajectory(track, link_cfg.carrier_hz or 1.0, budget=budget, extra_loss_db=tc.extra_loss_db)


def build_trajectory(link_cfg, source=None, path="trajectory"):
    """The trajectory of a link config: one piece, or a :class:`HandoverTrajectory` of several."""
    pieces = [(tc.start_s, _one_trajectory(tc, link_cfg, source, f"{path}[{i}]"))
              for i, tc in enumerate(link_cfg.trajectory)]
    if len(pieces) == 1:
        if pieces[0][1] is None:
            raise ConfigError.bad_value(f"{path}[0].kind", "gap", "a trajectory (a link cannot be only a gap)",
                                        source=source)
        return pieces[0][1]
    return HandoverTrajectory(pieces)


def build_paths(link_cfg, sample_rate, rng=None):
    """dsp.channel.Path objects of a link's multipath list or NTN-TDL profile (None: one plain path)."""
    if link_cfg.ntn_tdl is not None:
        from hil.emulator.ntn_tdl import ntn_tdl_paths

        return ntn_tdl_paths(link_cfg.ntn_tdl, link_cfg.delay_spread_s, sample_rate,
                             rng if rng is not None else np.random.default_rng(0),
                             max_doppler_hz=link_cfg.fading_doppler_hz, sinusoids=link_cfg.fading_sinusoids)
    if not link_cfg.paths:
        return None
    try:
        from dsp.channel import Path  # the project's one channel model
    except ImportError:  # pragma: no cover - dsp.channel is part of the project
        raise ConfigError.bad_value(f"links.{link_cfg.name}.paths", len(link_cfg.paths),
                                    "[] (multipath needs dsp.channel.Path, which is not installed)") from None

    return [Path(gain=10 ** (p.gain_db / 20) * complex(math.cos(math.radians(p.phase_deg)),
                                                       math.sin(math.radians(p.phase_deg))),
                 delay=p.delay_s * sample_rate, doppler=p.doppler_hz / sample_rate)
            for p in link_cfg.paths]


def multipath_description(paths, sample_rate, profile=None, delay_spread_s=None):
    """Static description of a link's multipath for telemetry (None: one plain path).

    ``delays_s``: distinct relative delays (s); ``powers_db``: the power the link applies at each (sum of
    |g|^2 of its components: for fading taps the mean power, for a static draw the realised one);
    ``paths``: every component (relative delay s, gain dB, phase deg, Doppler Hz)."""
    if not paths:
        return None
    d = np.array([float(p.delay) for p in paths]) / sample_rate
    pw = np.array([abs(complex(p.gain)) ** 2 for p in paths])
    uniq = np.unique(d)
    tot = [float(pw[d == u].sum()) for u in uniq]
    return {
        "profile": profile or "paths",
        "delay_spread_s": delay_spread_s,
        "delays_s": [float(u) for u in uniq],
        "powers_db": [10 * math.log10(t) if t > 0 else None for t in tot],
        "paths": [{"delay_s": float(float(p.delay) / sample_rate),
                   "gain_db": 20 * math.log10(abs(complex(p.gain))) if abs(complex(p.gain)) > 0 else None,
                   "phase_deg": math.degrees(math.atan2(complex(p.gain).imag, complex(p.gain).real)),
                   "doppler_hz": float(p.doppler) * sample_rate} for p in paths],
    }


def build_links(config, source=None) -> dict:
    """Every link of an :class:`~hil.emulator.config.EmulatorConfig`, seeded exactly as
    :class:`~hil.emulator.server.EmulatorServer` seeds them (link ``i`` from
    ``SeedSequence(config.seed).spawn(n_links)[i]``): in process they give the server's very samples.
    A link into a raw output skips no lead (a raw stream carries no index: the lead would shorten the
    delay the receiver sees)."""
    seeds = np.random.SeedSequence(config.seed).spawn(len(config.links))
    wires = {e.name: e.wire for e in config.endpoints}
    return {lc.name: Link.from_config(lc, config.sample_rate_hz, config.epoch_s, np.random.default_rng(s), source,
                                      framed_sink=wires.get(lc.sink, "framed") == "framed",
                                      record_interval_s=config.telemetry_interval_s)
            for lc, s in zip(config.links, seeds)}


def declared_lead(trajectory, sample_rate, taps, min_path_delay=0.0, t0=0.0, t1=math.inf) -> int:
    """The lead (samples) a link may leave out before a burst that follows silence: the minimum delay of
    ``trajectory`` over [t0, t1] (s; :func:`~hil.emulator.trajectory.min_delay_s`) x fs, plus the smallest
    relative path delay (samples), less ``taps / 2`` (the interpolator's look-ahead) and
    :data:`LEAD_MARGIN`; 0 when the minimum is not known. Output ``i + lead - 1`` reads inputs up to
    ``floor(i + lead - 1 - D) + taps / 2 < i`` for every delay ``D`` the trajectory can take: silence."""
    d = min_delay_s(trajectory, t0, t1)
    if d is None or not math.isfinite(d):
        return 0
    return max(0, math.floor(d * sample_rate + min_path_delay) - taps // 2 - LEAD_MARGIN)


def _finite_or_none(v):
    return v if isinstance(v, float) and math.isfinite(v) else None


class Link:
    """Channel + bookkeeping for one direction between two endpoints (see the module doc).

    ``accept(sample_index, samples, end_of_burst=False)`` is the whole input path (the server's framed
    and raw inputs and the in-process ``mock`` backend call it): it returns the output as a list of
    ``(out_sample_index, out_samples complex64, state dict)``. ``finish()`` closes the last burst.
    """

    def __init__(self, name, sample_rate, carrier_hz, trajectory, *, gain_db=0.0, noise_dbfs=None, paths=None,
                 rng=None, epoch=0.0, max_delay=0.02, taps=16, segment=1024, threads=0, direction="downlink",
                 source="", sink="", frequency_offset_hz=0.0, frequency_drift_hz_s=0.0, multipath=None,
                 skip_lead=0.0, record_interval_s=None):
        self.name = name
        self.direction = direction
        self.source = source
        self.sink = sink
        self.trajectory = trajectory
        self.profile = LinkProfile(trajectory, gain_db)
        self.noise_power = 0.0 if noise_dbfs is None else 10 ** (noise_dbfs / 10)
        self.channel = ChannelStream(sample_rate, carrier_hz, self.profile, paths=paths,
                                     noise_power=self.noise_power, rng=rng, epoch=epoch, max_delay=max_delay,
                                     taps=taps, segment=segment, threads=threads)
        self.sample_rate = float(sample_rate)
        self.carrier_hz = float(carrier_hz)
        self.epoch = float(epoch)
        self.taps = int(taps)
        self.frequency_offset_hz = float(frequency_offset_hz)
        self.frequency_drift_hz_s = float(frequency_drift_hz_s)
        for fld, v in (("frequency_offset_hz", self.frequency_offset_hz),
                       ("frequency_drift_hz_s", self.frequency_drift_hz_s)):
            if not math.isfinite(v) or abs(v) > 0.5 * self.sample_rate:
                raise ConfigError.bad_value(fld, v, f"a finite value within +-fs/2 = {0.5 * self.sample_rate:g}")
        self._max_rel_delay = max((float(p.delay) for p in paths), default=0.0) if paths else 0.0
        self.lead = self._lead(skip_lead, min((float(p.delay) for p in paths), default=0.0) if paths else 0.0)
        self._cut = 0          # outputs before this index are not sent (the open burst's lead)
        self._rec_len = None   # input samples per telemetry record (None: one record per burst)
        if record_interval_s is not None:
            r = float(record_interval_s)
            if not (math.isfinite(r) and r > 0):
                raise ConfigError.bad_value("telemetry_interval_s", record_interval_s, "> 0 s")
            self._rec_len = max(1, round(r * self.sample_rate))
        self.multipath = multipath if multipath is not None else multipath_description(paths, self.sample_rate)
        self.bursts: list[dict] = []
        self.on_burst = None   # callable(record): the server's JSON-lines writer
        self._burst = None     # the open burst (accumulator)
        self._flushed = True   # the delay line holds no input that can still reach the output
        self._in_end = None    # input index after the last accepted sample
        self._lost_pending = 0  # frames lost just before the next burst
        self.samples_in = 0
        self.samples_out = 0
        self.samples_filled = 0
        self.samples_skipped = 0
        self.samples_lost = 0
        self.samples_overlap = 0
        self.samples_dropped = 0
        self.samples_lead = 0
        self.frames_lost = 0
        self.frames_duplicated = 0
        self.frames_out_of_order = 0
        self.frames_bad = 0
        self.restarts = 0
        self.handovers = 0
        self.jumps = 0
        self._p_in = None  # smoothed input power (linear) for the status SNR

    def _lead(self, skip_lead, min_path_delay):
        """Samples of declared lead (see the module doc) for ``skip_lead``: "auto", 0 (off) or seconds no
        longer than the automatic lead (more would cut the signal)."""
        fs = self.sample_rate
        auto = declared_lead(self.trajectory, fs, self.taps, min_path_delay, self.epoch)
        allowed = (f"'auto', 0 (off) or seconds <= {auto / fs:.9g} (the trajectory's minimum delay less "
                   f"taps/2 + {LEAD_MARGIN} samples)")
        if isinstance(skip_lead, str):
            if skip_lead != "auto":
                raise ConfigError.bad_value("skip_lead", skip_lead, allowed)
            return auto
        v = float(skip_lead) if isinstance(skip_lead, (int, float)) and not isinstance(skip_lead, bool) \
            else math.nan
        n = math.floor(v * fs + 1e-9) if math.isfinite(v) and v >= 0 else -1
        if not 0 <= n <= auto:
            raise ConfigError.bad_value("skip_lead", skip_lead, allowed)
        return n

    @classmethod
    def from_config(cls, cfg, sample_rate, epoch, rng, source=None, *, framed_sink=True, record_interval_s=None):
        traj = build_trajectory(cfg, source, f"links.{cfg.name}.trajectory")
        path_rng, noise_rng = (np.random.default_rng(s) for s in rng.bit_generator.seed_seq.spawn(2)) \
            if hasattr(rng, "bit_generator") and hasattr(rng.bit_generator, "seed_seq") else (rng, rng)
        paths = build_paths(cfg, sample_rate, path_rng)
        desc = multipath_description(paths, sample_rate, cfg.ntn_tdl,
                                     cfg.delay_spread_s if cfg.ntn_tdl else None)
        skip = cfg.skip_lead if framed_sink or cfg.skip_lead != "auto" else 0.0
        try:
            return cls(cfg.name, sample_rate, cfg.carrier_hz, traj, gain_db=cfg.gain_db, noise_dbfs=cfg.noise_dbfs,
                       paths=paths, rng=noise_rng, epoch=epoch, max_delay=cfg.max_delay_s,
                       taps=cfg.taps, segment=cfg.segment, threads=cfg.threads, direction=cfg.direction,
                       source=cfg.source, sink=cfg.sink, frequency_offset_hz=cfg.frequency_offset_hz,
                       frequency_drift_hz_s=cfg.frequency_drift_hz_s, multipath=desc, skip_lead=skip,
                       record_interval_s=record_interval_s)
        except ConfigError as exc:
            if exc.field != "skip_lead":
                raise
            raise ConfigError.bad_value(f"links.{cfg.name}.skip_lead", exc.value, exc.allowed,
                                        source=source) from None

    # ------------------------------------------------------------------ clock
    @property
    def n(self) -> int:
        """Next output (and input) sample index of the channel."""
        return self.channel.sample_index

    @property
    def time(self) -> float:
        return self.channel.time

    def time_at(self, n) -> float:
        """Trajectory time of sample ``n``: ``epoch + n / fs`` (s)."""
        return self.epoch + n / self.sample_rate

    def span(self):
        """(first, last) input sample index a burst may occupy (last None: unbounded): the trajectory's
        span, less the tail and two fit segments at the end (the channel evaluates the trajectory there)."""
        def bounds(tr):
            t0, t1 = getattr(tr, "t0", None), getattr(tr, "t1", None)
            return (-math.inf if t0 is None else t0), (math.inf if t1 is None else t1)

        tr = self.trajectory
        if isinstance(tr, HandoverTrajectory):
            real = [p for p in tr.pieces if p is not None]
            lo, hi = bounds(real[0])[0], bounds(real[-1])[1]
        else:
            lo, hi = bounds(tr)
        fs = self.sample_rate
        reserve = math.ceil(self.channel.max_delay * fs + self._max_rel_delay) + self.taps + TAIL_MARGIN \
            + 2 * self.channel.segment
        return (max(0, math.ceil((lo - self.epoch) * fs)) if math.isfinite(lo) else 0,
                math.floor((hi - self.epoch) * fs) - reserve if math.isfinite(hi) else None)

    def memory(self, n=None) -> int:
        """The channel memory ``M`` at sample ``n`` (default: now), in samples: ceil(largest path delay
        over the next ``M`` samples x fs) + taps / 2 + TAIL_MARGIN. Output ``n + M`` and later reads only
        inputs from ``n`` on (the interpolator reads ``taps / 2`` samples behind the delayed position), so
        with silence from ``n`` it is noise only. The delay's growth over the tail is its rate at ``n``
        times ``M``; a handover inside the tail adds the new piece's delay."""
        fs, tr = self.sample_rate, self.trajectory
        t = self.time_at(self.n if n is None else n)

        def reach(tt, m):  # delay (samples) at tt grown at its rate over m samples
            return float(np.asarray(tr.delay(tt))) * fs + max(0.0, float(np.asarray(tr.delay_rate(tt)))) * m

        half = self.taps // 2 + TAIL_MARGIN
        m = math.ceil(float(np.asarray(tr.delay(t))) * fs + self._max_rel_delay) + half
        d = reach(t, m + 1)
        for td in tr.discontinuities(t, t + (m + 1) / fs):
            d = max(d, reach(td, m + 1))
        return int(math.ceil(d + self._max_rel_delay)) + half

    # ------------------------------------------------------------------ state
    def frequency_offset_at(self, t):
        """Receiver LO error (Hz) at trajectory time ``t``: f0 + drift * t."""
        return self.frequency_offset_hz + self.frequency_drift_hz_s * t

    def state_at(self, n=None) -> dict:
        """Header values at output sample ``n``: t, delay_s, doppler_hz, gain_db, visible, discontinuity."""
        st = self.channel.state_at(n)
        st["discontinuity"] = False
        return st

    def serving_at(self, t):
        """Satellite name (orbit pieces) or trajectory piece index at ``t``; None in a gap piece."""
        tr = self.trajectory
        if isinstance(tr, HandoverTrajectory):
            i = int(np.asarray(tr._index(t)))
            piece = tr.pieces[i]
            if piece is None:
                return None
            return getattr(getattr(piece, "track", None), "sat_name", None) or i
        return getattr(getattr(tr, "track", None), "sat_name", None) or 0

    def geometry_at(self, n) -> dict:
        """Truth at input sample ``n``: delay (s), Doppler (Hz, direct path), range (m), path loss, net gain
        and elevation (dB, deg), visibility, serving satellite, receiver LO offset (Hz)."""
        t = self.time_at(n)
        tr = self.trajectory
        delay = float(np.asarray(tr.delay(t)))
        loss = float(np.asarray(tr.path_loss_db(t)))
        return {
            "delay_s": delay,
            "doppler_hz": float(-self.carrier_hz * np.asarray(tr.delay_rate(t))),
            "range_m": delay * C,
            "path_loss_db": loss,
            "gain_db": self.profile.gain_offset_db - loss,
            "elevation_deg": float(np.asarray(tr.elevation(t))),
            "visible": bool(np.asarray(tr.visible(t))),
            "serving": self.serving_at(t),
            "frequency_offset_hz": self.frequency_offset_at(t),
        }

    # ------------------------------------------------------------------ processing
    def _run(self, x, zeros=False):
        """``x`` through the channel (+ LO error) at the current clock: (n0, y, state)."""
        n0 = self.n
        state = self.state_at(n0)
        t0, t1 = state["t"], state["t"] + len(x) / self.sample_rate
        jumps = self.trajectory.discontinuities(t0, t1)
        self.handovers += len(jumps)
        state["discontinuity"] = bool(jumps)
        y = self.channel.process(x)
        if self.frequency_offset_hz or self.frequency_drift_hz_s:
            t = self.epoch + np.arange(n0, n0 + len(y), dtype=np.float64) / self.sample_rate
            cyc = self.frequency_offset_hz * t + 0.5 * self.frequency_drift_hz_s * t * t
            y *= np.exp(2j * np.pi * np.mod(cyc, 1.0)).astype(np.complex64)
        self.samples_out += len(y)
        if zeros:
            self.samples_filled += len(x)
        else:
            self._flushed = False
            if len(x):
                p = float(np.mean(np.abs(x[:: max(1, len(x) // 256)]) ** 2))
                self._p_in = p if self._p_in is None else 0.9 * self._p_in + 0.1 * p
        return n0, y, state

    def _keep(self, n0, y, st) -> list:
        """The part of one output chunk from the open burst's lead on (``[]``: all of it is lead)."""
        k = min(self._cut - n0, y.shape[0])
        if k <= 0:
            return [(n0, y, st)]
        self.samples_out -= k
        self.samples_lead += k
        if k == y.shape[0]:
            return []
        return [(n0 + k, y[k:], self.state_at(n0 + k) | {"discontinuity": st["discontinuity"]})]

    def _tail(self, m=None):
        """Run the channel memory (or ``m`` samples) of zeros; the output chunk ends a burst."""
        m = self.memory() if m is None else m
        if m <= 0:
            return []
        n0, y, st = self._run(np.zeros(m, np.complex64), zeros=True)
        if self._burst is not None:
            self._burst["tail"] += m
        return self._keep(n0, y, st)

    def skip_to(self, n) -> list:
        """Jump the input clock forward to ``n``: the open burst ends; a gap up to the channel memory is run
        as zeros, a longer one outputs the tail (``M`` samples) and then jumps in O(1). Returns the outputs."""
        n = int(n)
        gap = n - self.n
        if gap < 0:
            raise ConfigError.bad_value("sample_index", n, f">= {self.n} (the link's clock only moves forward)")
        if gap == 0:
            return []
        self.jumps += 1
        remaining = 0 if self._flushed else self.memory()
        outs = []
        if gap <= remaining:
            outs = self._tail(gap)  # output stays contiguous: the next burst follows at once
            self._close_burst("jump")
            return outs
        if remaining:
            outs = self._tail(remaining)
            if outs:
                outs[-1][2]["end_of_burst"] = True
        self._close_burst("jump")
        self.samples_skipped += n - self.n
        self.channel.skip_to(n)
        self._flushed = True
        return outs

    def accept(self, sample_index, samples, end_of_burst=False, *, frames_lost=0) -> list:
        """One input message: ``samples`` (complex64) starting at input index ``sample_index`` (None: right
        after the previous input, as a raw stream). A forward jump of the index ends the open burst and
        jumps the link (:meth:`skip_to`); ``frames_lost`` > 0 says frames were lost just before this one (the
        jump is then counted as lost samples, never synthesised). Samples before the link's clock (overlap)
        are dropped and counted. ``end_of_burst``: this is the burst's last message - the tail is output
        at once. Returns ``[(out_sample_index, out_samples, state), ...]`` (may be empty)."""
        x = np.ascontiguousarray(samples, dtype=np.complex64)
        if x.ndim != 1:
            raise ConfigError.bad_value("samples.ndim", x.ndim, "1")
        s = self.n if sample_index is None else int(sample_index)
        if s < 0:
            raise ConfigError.bad_value("sample_index", s, ">= 0")
        outs = []
        if frames_lost:
            self.frames_lost += int(frames_lost)
            self._lost_pending += int(frames_lost)
            if self._in_end is not None and s > self._in_end:
                self.samples_lost += s - self._in_end
        if s < self.n:  # overlaps what the channel already took (e.g. a burst inside the last tail)
            over = min(self.n - s, x.shape[0])
            self.samples_overlap += over
            x = x[over:]
            s += over
        if x.shape[0]:
            if s > self.n:
                outs += self.skip_to(s)
            elif self._burst is not None and s != self._in_end:  # pragma: no cover - s == n == in_end here
                self._close_burst("jump")
            if self._burst is None:
                if self._flushed:  # after silence: the lead before the signal can arrive is not sent
                    self._cut = s + self.lead
                self._burst = {"index": s, "n": 0, "p_sum": 0.0, "tail": 0, "lost": self._lost_pending, "part": 0}
                self._lost_pending = 0
            outs += self._keep(*self._run(x))
            self._account(s, x)
            self.samples_in += x.shape[0]
            self._in_end = s + x.shape[0]
        if end_of_burst and self._burst is not None:
            tail = self._tail()
            if tail:
                tail[-1][2]["end_of_burst"] = True
            outs += tail
            self._flushed = True
            self._close_burst("end_of_burst")
        return outs

    def _account(self, s, x):
        """Add input ``x`` (from index ``s``) to the open record; a record holding ``record_interval_s``
        of input is closed (``ended_by: interval``) and the next one opened where it ends."""
        a, m = 0, x.shape[0]
        while a < m:
            b = self._burst
            if self._rec_len is not None and b["n"] >= self._rec_len:
                self._close_burst("interval")
                b = self._burst = {"index": s + a, "n": 0, "p_sum": 0.0, "tail": 0, "lost": 0, "part": b["part"] + 1}
            take = m - a if self._rec_len is None else min(m - a, self._rec_len - b["n"])
            xr = x[a:a + take].view(np.float32)
            b["n"] += take
            b["p_sum"] += float(np.square(xr, dtype=np.float64).sum())  # no BLAS: it spins on busy cores
            a += take

    def finish(self, flush=True) -> list:
        """Close the open burst (its telemetry record is written). ``flush``: run its tail first and return
        it (the in-process runner's last output); False: just close the record (a server shutting down)."""
        outs = []
        if self._burst is not None and flush and not self._flushed:
            outs = self._tail()
            if outs:
                outs[-1][2]["end_of_burst"] = True
            self._flushed = True
        self._close_burst("finish")
        return outs

    def _close_burst(self, ended_by):
        b = self._burst
        if b is None:
            return
        self._burst = None
        s, n = b["index"], b["n"]
        rec = {"link": self.name, "burst_index": len(self.bursts), "sample_index": s, "n_samples": n,
               "t_s": self.time_at(s), "part": b["part"], "ended_by": ended_by, "tail_samples": b["tail"],
               "frames_lost_before": b["lost"]}
        ends = {}
        for suffix, idx in (("start", s), ("end", s + n - 1)):
            g = self.geometry_at(idx)
            ends[suffix] = g
            for k, v in g.items():
                rec[f"{k}_{suffix}"] = v
        p_in = b["p_sum"] / n if n else 0.0
        rec["input_power"] = p_in
        rec["noise_power"] = self.noise_power
        snr = {}
        for suffix, g in ends.items():
            v = None
            if g["visible"] and p_in > 0 and self.noise_power > 0:
                v = _finite_or_none(10 * math.log10(p_in / self.noise_power) + g["gain_db"])
            snr[suffix] = v
            rec[f"snr_db_{suffix}"] = v
        rec["snr_db"] = None if None in snr.values() else 0.5 * (snr["start"] + snr["end"])
        rec["multipath"] = self.multipath
        self.bursts.append(rec)
        if self.on_burst is not None:
            self.on_burst(rec)

    # ------------------------------------------------------------------ older entry points
    def process(self, x):
        """Contiguous input at the current clock (no burst bookkeeping): ``(y, state)``."""
        n0, y, st = self._run(np.ascontiguousarray(x, dtype=np.complex64))
        self.samples_in += len(x)
        return y, st

    def fill(self, n):
        """Run ``n`` zero samples (a silent transmitter): ``(y, state)``."""
        _, y, st = self._run(np.zeros(n, np.complex64), zeros=True)
        return y, st

    def close(self):
        """Stop the channel's worker threads, if any."""
        self.channel.close()

    def telemetry(self) -> dict:
        """Geometry at the current sample and the counters (delay s, Doppler Hz, angles deg, dB)."""
        t = self.time
        try:
            g = self.geometry_at(self.n)
        except ConfigError:  # the clock ran past the trajectory's span (after the last tail)
            g = dict.fromkeys(("delay_s", "doppler_hz", "range_m", "path_loss_db", "gain_db", "elevation_deg",
                               "serving", "frequency_offset_hz"))
            g["visible"] = False
        gain, vis = g["gain_db"], g["visible"]
        if gain is None:
            snr = None
        elif self.noise_power > 0 and self._p_in:
            snr = 10 * math.log10(self._p_in) + gain - 10 * math.log10(self.noise_power) if vis else -math.inf
        else:
            snr = math.inf if vis and self._p_in else None
        return {
            "link": self.name, "direction": self.direction, "t_s": t, "sample_index": self.n,
            "delay_s": g["delay_s"], "range_m": g["range_m"], "doppler_hz": g["doppler_hz"],
            "elevation_deg": g["elevation_deg"], "path_loss_db": g["path_loss_db"], "gain_db": gain,
            "snr_db": snr, "visible": vis, "serving": g["serving"],
            "frequency_offset_hz": g["frequency_offset_hz"], "samples_in": self.samples_in,
            "samples_out": self.samples_out, "samples_filled": self.samples_filled,
            "samples_skipped": self.samples_skipped, "samples_lost": self.samples_lost,
            "samples_overlap": self.samples_overlap, "samples_dropped": self.samples_dropped,
            "samples_lead": self.samples_lead, "skip_lead_s": self.lead / self.sample_rate,
            "frames_lost": self.frames_lost, "frames_duplicated": self.frames_duplicated,
            "frames_out_of_order": self.frames_out_of_order, "frames_bad": self.frames_bad,
            "restarts": self.restarts, "handovers": self.handovers, "jumps": self.jumps,
            "bursts": len(self.bursts) + (self._burst is not None),
        }

    def __repr__(self):
        return (f"Link({self.name!r}, {self.source} -> {self.sink}, {self.direction}, n={self.n}, "
                f"{self.channel!r})")
