"""Injected front-end impairments in the loopback mock (no hardware): proof of every estimator.

:class:`ImpairedChannel` is a :class:`hil.backends.mock.LoopbackChannel` whose processing is a
:class:`dsp.impairments.ImpairedLoopback`; :class:`ImpairedTransport` forwards the radio's settings
(sample rate, LO frequencies, RX gain) to it, so retuning the mock retunes the model::

    radio = impaired_mock("pluto_ad9363", FrontEndImpairments(rx_iq_gain_db=1.0, ...), rng=7)

The mock moves one sample out per sample in; the model's output trails its input by its latency and
the interpolator's look-ahead, so the channel adds a fixed pipeline delay ``latency`` (samples) when
the modelled TX->RX latency is shorter than the look-ahead plus a drift margin. The TX->RX delay the
radio shows is ``impairments.latency_samples + channel.latency``.
"""

from __future__ import annotations

import numpy as np

from dsp.impairments import FrontEndImpairments, ImpairedLoopback
from hil.backends.mock import LoopbackChannel, LoopbackTransport, MockRadio
from hil.errors import ConfigError, StreamError

__all__ = ["ImpairedChannel", "ImpairedTransport", "impaired_mock"]


class ImpairedChannel(LoopbackChannel):
    """A LoopbackChannel applying :class:`FrontEndImpairments` (single RX channel).

    Parameters
    ----------
    impairments : FrontEndImpairments
    rng : numpy Generator, int or None
        Noise source (needed when ``impairments.noise_dbfs`` is set).
    drift_margin : int
        Extra pipeline samples that absorb a sample-clock drift (TX clock faster than RX) before the
        model would run short: ``drift_margin / (ppm difference * 1e-6)`` samples of stream.
    """

    def __init__(self, impairments: FrontEndImpairments, *, rng=None, drift_margin: int = 16):
        super().__init__(None)
        if not isinstance(impairments, FrontEndImpairments):
            raise ConfigError.bad_value("impairments", type(impairments).__name__, "a FrontEndImpairments")
        impairments.validate()
        if impairments.noise_dbfs is not None and rng is None:
            raise ConfigError.bad_value("rng", rng, "a numpy Generator or seed when noise_dbfs is set")
        self.impairments = impairments
        self._imp_rng = rng
        self.drift_margin = int(drift_margin)
        self._radio = {"tx_frequency": 2.4e9, "rx_frequency": 2.4e9, "rx_gain": 0.0}
        self._pipeline = max(0, impairments.interp_taps // 2 + 1 + self.drift_margin
                             - int(np.floor(impairments.latency_samples)))
        self.model = None

    @property
    def latency(self) -> int:
        """Pipeline samples added on top of the modelled latency (see the module doc)."""
        return self._pipeline

    def bind(self, sample_rate: float) -> None:
        self.sample_rate = float(sample_rate)
        self.model = ImpairedLoopback(self.impairments, sample_rate=self.sample_rate, rng=self._imp_rng,
                                      tx_frequency=self._radio["tx_frequency"],
                                      rx_frequency=self._radio["rx_frequency"], rx_gain=self._radio["rx_gain"])
        self.reset()

    def setting(self, name: str, value) -> None:
        """A radio setting changed: LO frequencies and RX gain retune the model from the next sample."""
        if name in self._radio and value is not None:
            self._radio[name] = float(value)
            if self.model is not None:
                self.model.retune(**{name: float(value)})

    def reset(self) -> None:
        # (also called by LoopbackChannel.__init__, before this class's attributes exist)
        self._fifo = np.zeros(getattr(self, "_pipeline", 0), np.complex128)
        if getattr(self, "model", None) is not None:
            self.model.reset()

    def process(self, x) -> np.ndarray:
        if self.model is None:
            raise ConfigError.bad_value("sample_rate", None, "bound by the mock (start() the radio first)")
        x = np.asarray(x, np.complex128)
        self._fifo = np.concatenate((self._fifo, self.model.process(x)))
        n = x.size
        if self._fifo.size < n:
            raise StreamError(f"ImpairedChannel: the modelled sample-clock drift used up the pipeline margin "
                              f"({self.drift_margin} samples); use a larger drift_margin for streams this long")
        out, self._fifo = self._fifo[:n], self._fifo[n:]
        return out

    def __repr__(self) -> str:
        return f"ImpairedChannel({self.model!r}, pipeline={self._pipeline})"


class ImpairedTransport(LoopbackTransport):
    """The in-process loopback with an :class:`ImpairedChannel` that follows the radio's settings."""

    def __init__(self, channel: ImpairedChannel, *, latency: int = 0):
        if not isinstance(channel, ImpairedChannel):
            raise ConfigError.bad_value("channel", type(channel).__name__, "an ImpairedChannel")
        super().__init__(channel, latency=latency)

    def configure(self, name: str, value) -> None:
        self.channel.setting(name, value)

    def start(self, n_rx: int, n_tx: int, sample_rate: float) -> None:
        if n_rx != 1:
            raise ConfigError.bad_value("rx_channels", n_rx, "1 (the impairment model has one RX chain)")
        super().start(n_rx, n_tx, sample_rate)


def impaired_mock(profile="mock", impairments: FrontEndImpairments | None = None, *, rng=None,
                  drift_margin: int = 16, **options) -> MockRadio:
    """A MockRadio whose loopback applies ``impairments`` (built, not opened)."""
    chan = ImpairedChannel(impairments if impairments is not None else FrontEndImpairments(), rng=rng,
                           drift_margin=drift_margin)
    return MockRadio(profile, transport=ImpairedTransport(chan), **options)
