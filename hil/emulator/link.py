"""One emulated link: a :class:`dsp.delay.ChannelStream` driven by a trajectory, plus its counters.

The link's clock is its own sample count ``n`` (``t = epoch + n / fs``): every input sample advances it
by one, and samples missing from a framed input (sequence gap) are replaced by zeros so the clock stays
aligned with the transmitter's. Outside visibility the channel gain is zero and only noise comes out.
"""

from __future__ import annotations

import math

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
)
from hil.errors import ConfigError

__all__ = ["Link", "build_trajectory", "build_paths"]


def _one_trajectory(tc, carrier_hz, source, path):
    if tc.kind == "constant":
        return ConstantTrajectory(tc.delay_s, tc.path_loss_db)
    if tc.kind == "linear":
        return LinearTrajectory(tc.delay_s, tc.rate, tc.path_loss_db)
    if tc.kind == "circular":
        return CircularPass(tc.altitude_m, carrier_hz or 1.0, offset_deg=tc.offset_deg, t_closest_s=tc.t_closest_s,
                            min_elevation_deg=tc.min_elevation_deg, extra_loss_db=tc.extra_loss_db)
    if tc.kind == "orbit":
        return _orbit_trajectory(tc, carrier_hz, source, path)
    if tc.kind == "gap":
        return None
    raise ConfigError.bad_value(f"{path}.kind", tc.kind, "constant, linear, circular, orbit, gap")


def _orbit_trajectory(tc, carrier_hz, source, path):
    try:
        import hil.orbit as orbit
    except ImportError:  # pragma: no cover - hil.orbit is part of the project
        raise ConfigError.bad_value(f"{path}.kind", "orbit", "constant, linear, circular or gap "
                                    "(hil.orbit is not installed in this tree)", source=source) from None
    if not tc.tle or len(tc.tle) != 2 or not tc.station or len(tc.station) != 3 or not tc.epoch_utc:
        raise ConfigError.bad_value(f"{path}", "orbit", "tle: [line1, line2], station: [lat_deg, lon_deg, alt_m] "
                                    "and epoch_utc", source=source)
    sat = orbit.Constellation.from_tle_text("\n".join(tc.tle), source=f"{source or ''}:{path}.tle")[0]
    ground = orbit.GroundStation(*tc.station)
    track = orbit.make_track(sat, ground, tc.epoch_utc, tc.duration_s, start_s=tc.start_s,
                             mask_deg=tc.min_elevation_deg)
    return OrbitTrajectory(track, carrier_hz or 1.0, extra_loss_db=tc.extra_loss_db)


def build_trajectory(link_cfg, source=None, path="trajectory"):
    """The trajectory of a link config: one piece, or a :class:`HandoverTrajectory` of several."""
    pieces = [(tc.start_s, _one_trajectory(tc, link_cfg.carrier_hz, source, f"{path}[{i}]"))
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


class Link:
    """Channel + bookkeeping for one direction between two endpoints.

    ``process(x)`` returns the channel output and the state applied at its first sample (for the
    framed header); ``fill(n)`` runs ``n`` zero samples (a gap in the input); ``telemetry()`` a dict.
    """

    def __init__(self, name, sample_rate, carrier_hz, trajectory, *, gain_db=0.0, noise_dbfs=None, paths=None,
                 rng=None, epoch=0.0, max_delay=0.02, taps=16, segment=1024, threads=0, direction="downlink",
                 source="", sink=""):
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
        self.samples_in = 0
        self.samples_out = 0
        self.samples_filled = 0
        self.samples_dropped = 0
        self.frames_lost = 0
        self.frames_duplicated = 0
        self.frames_out_of_order = 0
        self.frames_bad = 0
        self.restarts = 0
        self.handovers = 0
        self._p_in = None  # smoothed input power (linear) for the SNR estimate

    @classmethod
    def from_config(cls, cfg, sample_rate, epoch, rng, source=None):
        traj = build_trajectory(cfg, source, f"links.{cfg.name}.trajectory")
        path_rng, noise_rng = (np.random.default_rng(s) for s in rng.bit_generator.seed_seq.spawn(2)) \
            if hasattr(rng, "bit_generator") and hasattr(rng.bit_generator, "seed_seq") else (rng, rng)
        return cls(cfg.name, sample_rate, cfg.carrier_hz, traj, gain_db=cfg.gain_db, noise_dbfs=cfg.noise_dbfs,
                   paths=build_paths(cfg, sample_rate, path_rng), rng=noise_rng, epoch=epoch, max_delay=cfg.max_delay_s,
                   taps=cfg.taps, segment=cfg.segment, threads=cfg.threads, direction=cfg.direction,
                   source=cfg.source, sink=cfg.sink)

    @property
    def n(self) -> int:
        return self.channel.sample_index

    @property
    def time(self) -> float:
        return self.channel.time

    def process(self, x):
        """Channel output for input ``x`` and the header values at its first sample (dict)."""
        n0 = self.n
        state = self.channel.state_at(n0)
        t0, t1 = state["t"], state["t"] + len(x) / self.sample_rate
        jumps = self.trajectory.discontinuities(t0, t1)
        self.handovers += len(jumps)
        state["discontinuity"] = bool(jumps)
        y = self.channel.process(x)
        self.samples_in += len(x)
        self.samples_out += len(y)
        if len(x):
            p = float(np.mean(np.abs(x[:: max(1, len(x) // 256)]) ** 2))
            self._p_in = p if self._p_in is None else 0.9 * self._p_in + 0.1 * p
        return y, state

    def fill(self, n):
        """Advance the clock over ``n`` missing input samples (zeros in, channel output out)."""
        self.samples_filled += n
        y, state = self.process(np.zeros(n, np.complex64))
        self.samples_in -= n  # samples_in counts what the transmitter sent
        return y, state

    def close(self):
        """Stop the channel's worker threads, if any."""
        self.channel.close()

    def telemetry(self) -> dict:
        """Geometry at the current sample and the counters (delay s, Doppler Hz, angles deg, dB)."""
        t = self.time
        tr = self.trajectory
        delay = float(np.asarray(tr.delay(t)))
        loss = float(np.asarray(tr.path_loss_db(t)))
        gain = self.profile.gain_offset_db - loss
        vis = bool(np.asarray(tr.visible(t)))
        if self.noise_power > 0 and self._p_in:
            snr = 10 * math.log10(self._p_in) + gain - 10 * math.log10(self.noise_power) if vis else -math.inf
        else:
            snr = math.inf if vis and self._p_in else None
        return {
            "link": self.name, "direction": self.direction, "t_s": t, "sample_index": self.n,
            "delay_s": delay, "range_m": delay * C,
            "doppler_hz": float(-self.carrier_hz * np.asarray(tr.delay_rate(t))),
            "elevation_deg": float(np.asarray(tr.elevation(t))), "path_loss_db": loss, "gain_db": gain,
            "snr_db": snr, "visible": vis, "samples_in": self.samples_in, "samples_out": self.samples_out,
            "samples_filled": self.samples_filled, "samples_dropped": self.samples_dropped,
            "frames_lost": self.frames_lost, "frames_duplicated": self.frames_duplicated,
            "frames_out_of_order": self.frames_out_of_order, "frames_bad": self.frames_bad,
            "restarts": self.restarts, "handovers": self.handovers,
        }

    def __repr__(self):
        return (f"Link({self.name!r}, {self.source} -> {self.sink}, {self.direction}, n={self.n}, "
                f"{self.channel!r})")
