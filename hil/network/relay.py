"""A transparent (bent-pipe) relay inside the emulator: two links in series on one sample clock.

    source --[uplink Link: tau_u(t), carrier f_u, relay receiver noise]--> relay
           --[x gain, frequency translation f_u -> f_d (+ LO error), on/off]-->
           --[downlink Link: tau_d(t), carrier f_d, ground receiver noise]--> sink

Each hop is an ordinary :class:`hil.emulator.link.Link` (the same delay-line kernel; one delay line per
link, driven by a node-pair trajectory or any other). :class:`TransparentRelay` has the per-burst
interface of a Link (``accept(sample_index, samples, end_of_burst=False, *, frames_lost=0)`` -> list of
``(out_sample_index, samples, state)``, ``finish()``, ``bursts``), so a caller that feeds Links feeds a
relay the same way. The uplink's output index is the relay's time (``epoch + n / fs``), which is the
downlink's input index: the downlink sees the relay's transmission at the time it happens.

Frequency translation is ideal at baseband (the uplink's baseband centred on f_u becomes the downlink's
centred on f_d) plus the relay LO error ``translation_offset_hz`` (a phase ramp at relay time). The
relay's added noise is the uplink link's noise (its receiver, before the gain: ``noise_dbfs`` of the
uplink); ``gain_db`` is the relay's amplitude gain. Off (``set_on(False, at_s)``, the scenario's relay
events) the relay transmits nothing: the downlink carries its own noise only.

Dopplers compose (closed form, :meth:`TransparentRelay.total_doppler_hz`): the carrier arriving at the
sink, relative to f_d, is

    nu(t) = [-f_u tau_u'(t - tau_d(t)) + delta] (1 - tau_d'(t)) - f_d tau_d'(t)

- the uplink Doppler at f_u (as it left the relay at t - tau_d) plus the relay's LO error, compressed
by the downlink's time scaling, plus the downlink Doppler at f_d. The cross term f_u tau_u' tau_d' is
about 1 Hz at 2 GHz for LEO rates (2.5e-5 each): a plain sum of the two Dopplers is not exact. The
total delay is ``tau_d(t) + tau_u(t - tau_d(t))``.
"""

from __future__ import annotations

import math

import numpy as np

from hil.errors import ConfigError, check_range

__all__ = ["TransparentRelay", "ComposedPrediction"]


class ComposedPrediction:
    """A receiver's prediction of a bent-pipe chain from its two hops' predicted trajectories (objects with
    delay(t), delay_rate(t)): the closed forms of :class:`TransparentRelay` - delay(t) (s) and
    doppler(t) (Hz re f_d)."""

    def __init__(self, up, down, f_up_hz: float, f_down_hz: float, translation_offset_hz: float = 0.0):
        self.up, self.down = up, down
        self.f_up, self.f_down, self.delta = float(f_up_hz), float(f_down_hz), float(translation_offset_hz)

    def delay(self, t):
        t = np.asarray(t, dtype=float)
        td = np.asarray(self.down.delay(t))
        return td + np.asarray(self.up.delay(t - td))

    def doppler(self, t):
        t = np.asarray(t, dtype=float)
        td, rd = np.asarray(self.down.delay(t)), np.asarray(self.down.delay_rate(t))
        ru = np.asarray(self.up.delay_rate(t - td))
        return (-self.f_up * ru + self.delta) * (1.0 - rd) - self.f_down * rd


class TransparentRelay:
    """Uplink Link -> gain, translation, on/off -> downlink Link (see the module doc)."""

    def __init__(self, name: str, uplink, downlink, *, gain_db: float = 0.0, translation_offset_hz: float = 0.0):
        for fld, lk in (("uplink", uplink), ("downlink", downlink)):
            if not callable(getattr(lk, "accept", None)):
                raise ConfigError.bad_value(f"relays.{name}.{fld}", lk, "a hil.emulator.link.Link")
        if uplink is downlink:
            raise ConfigError.bad_value(f"relays.{name}.downlink", downlink.name, "a link other than the uplink")
        if uplink.sample_rate != downlink.sample_rate or uplink.epoch != downlink.epoch:
            raise ConfigError.bad_value(f"relays.{name}.downlink", downlink.name,
                                        "the uplink's sample rate and epoch (one sample clock)")
        self.name = name
        self.uplink, self.downlink = uplink, downlink
        self.sample_rate = uplink.sample_rate
        self.epoch = uplink.epoch
        self.gain_db = float(check_range(f"relays.{name}.gain_db", gain_db, lo=-200.0, hi=300.0, unit="dB"))
        self.translation_offset_hz = float(check_range(f"relays.{name}.translation_offset_hz", translation_offset_hz,
                                                       lo=-0.5 * self.sample_rate, hi=0.5 * self.sample_rate,
                                                       unit="Hz (within +-fs/2)"))
        self._amp = 10.0 ** (self.gain_db / 20.0)
        self._switch = [(-math.inf, True)]  # [(t_s, on)], sorted
        self.samples_relayed = 0
        self.samples_blanked = 0

    # ------------------------------------------------------------------ schedule
    def set_on(self, on: bool, at_s: float) -> None:
        """From relay time ``at_s`` (s) on, relay (True) or stay silent (False)."""
        self._switch.append((float(at_s), bool(on)))
        self._switch.sort(key=lambda e: e[0])

    def on_at(self, t):
        t = np.atleast_1d(np.asarray(t, dtype=float))
        starts = np.array([s for s, _ in self._switch])
        states = np.array([v for _, v in self._switch])
        return states[np.searchsorted(starts, t, side="right") - 1]

    # ------------------------------------------------------------------ closed forms (truth)
    def total_delay_s(self, t):
        """Source-to-sink delay (s) of what arrives at ``t``: tau_d(t) + tau_u(t - tau_d(t))."""
        t = np.asarray(t, dtype=float)
        td = np.asarray(self.downlink.trajectory.delay(t))
        return td + np.asarray(self.uplink.trajectory.delay(t - td))

    def total_doppler_hz(self, t):
        """Carrier offset (Hz) at the sink re f_d (module doc's closed form)."""
        t = np.asarray(t, dtype=float)
        dn, up = self.downlink.trajectory, self.uplink.trajectory
        td, rd = np.asarray(dn.delay(t)), np.asarray(dn.delay_rate(t))
        ru = np.asarray(up.delay_rate(t - td))
        return (-self.uplink.carrier_hz * ru + self.translation_offset_hz) * (1.0 - rd) - self.downlink.carrier_hz * rd

    # ------------------------------------------------------------------ the Link interface
    def _through(self, outs, end_of_burst):
        res = []
        last = len(outs) - 1
        for i, (n0, y, st) in enumerate(outs):
            y = np.asarray(y, dtype=np.complex64)
            t = self.epoch + (n0 + np.arange(y.shape[0], dtype=np.float64)) / self.sample_rate
            on = self.on_at(t)
            z = y * np.float32(self._amp)
            if self.translation_offset_hz:
                z *= np.exp(2j * np.pi * np.mod(self.translation_offset_hz * t, 1.0)).astype(np.complex64)
            if not on.all():
                z[~on] = 0
                self.samples_blanked += int((~on).sum())
            self.samples_relayed += int(on.sum())
            eob = bool(st.get("end_of_burst")) or (end_of_burst and i == last)
            res += self.downlink.accept(n0, z, end_of_burst=eob)
        return res

    def accept(self, sample_index, samples, end_of_burst=False, *, frames_lost=0) -> list:
        """Like :meth:`hil.emulator.link.Link.accept`: the sink's output chunks."""
        return self._through(self.uplink.accept(sample_index, samples, end_of_burst, frames_lost=frames_lost),
                             end_of_burst)

    def finish(self, flush=True) -> list:
        """Close the open burst on both hops (``flush``: run the uplink's tail through the downlink first)."""
        if flush:
            outs = self._through(self.uplink.finish(True), True)
        else:
            self.uplink.finish(False)
            outs = []
        return outs + self.downlink.finish(flush)

    def close(self):
        self.uplink.close()
        self.downlink.close()

    @property
    def bursts(self):
        """Per-burst truth: the uplink's and the downlink's records (each hop's geometry at its own time)."""
        return {"uplink": self.uplink.bursts, "downlink": self.downlink.bursts}

    def geometry_at(self, n) -> dict:
        """Truth at output sample ``n`` (sink time): total delay and Doppler, both hops' values."""
        t = self.epoch + n / self.sample_rate
        td = float(np.asarray(self.downlink.trajectory.delay(t)))
        n_relay = int(round(n - td * self.sample_rate))
        return {"delay_s": float(self.total_delay_s(t)), "doppler_hz": float(self.total_doppler_hz(t)),
                "on": bool(self.on_at(t - td)[0]), "uplink": self.uplink.geometry_at(n_relay),
                "downlink": self.downlink.geometry_at(n)}

    def telemetry(self) -> dict:
        return {"relay": self.name, "gain_db": self.gain_db, "translation_offset_hz": self.translation_offset_hz,
                "samples_relayed": self.samples_relayed, "samples_blanked": self.samples_blanked,
                "uplink": self.uplink.telemetry(), "downlink": self.downlink.telemetry()}

    def __repr__(self):
        return (f"TransparentRelay({self.name!r}, {self.uplink.name} ({self.uplink.carrier_hz:g} Hz) -> "
                f"{self.downlink.name} ({self.downlink.carrier_hz:g} Hz), gain {self.gain_db:g} dB)")
