"""Injected front-end impairments in the loopback mock (no hardware): proof of every estimator.

:class:`ImpairedFrontEnd` follows the mock's public front-end protocol (:class:`hil.backends.mock.FrontEnd`):
its processing is a :class:`dsp.impairments.ImpairedLoopback`, and the radio forwards its settings
(sample rate, LO frequencies, RX gain) to it, so retuning the mock retunes the model::

    radio = impaired_mock("pluto_ad9363", FrontEndImpairments(rx_iq_gain_db=1.0, ...), rng=7)
    # the same as MockRadio("pluto_ad9363", frontend=ImpairedFrontEnd(FrontEndImpairments(...), rng=7))

The mock moves one sample out per sample in; the model's output trails its input by its latency and
the interpolator's look-ahead, so the front end adds a fixed pipeline delay ``latency`` (samples) when
the modelled TX->RX latency is shorter than the look-ahead plus a drift margin. The TX->RX delay the
radio shows is ``impairments.latency_samples + frontend.latency``.
"""

from __future__ import annotations

import numpy as np

from dsp.impairments import FrontEndImpairments, ImpairedLoopback
from hil.backends.mock import MockRadio
from hil.errors import ConfigError, StreamError

__all__ = ["ImpairedFrontEnd", "impaired_mock"]


class ImpairedFrontEnd:
    """A mock front end applying :class:`FrontEndImpairments` (one RX chain per instance).

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
        if not isinstance(impairments, FrontEndImpairments):
            raise ConfigError.bad_value("impairments", type(impairments).__name__, "a FrontEndImpairments")
        impairments.validate()
        if impairments.noise_dbfs is not None and rng is None:
            raise ConfigError.bad_value("rng", rng, "a numpy Generator or seed when noise_dbfs is set")
        if isinstance(drift_margin, bool) or not isinstance(drift_margin, (int, np.integer)) or drift_margin < 0:
            raise ConfigError.bad_value("drift_margin", drift_margin, "an integer >= 0 (samples)")
        self.impairments = impairments
        self._rng = rng
        self.drift_margin = int(drift_margin)
        self._radio = {"tx_frequency": 2.4e9, "rx_frequency": 2.4e9, "rx_gain": 0.0}
        self._pipeline = max(0, impairments.interp_taps // 2 + 1 + self.drift_margin
                             - int(np.floor(impairments.latency_samples)))
        self.sample_rate = None
        self.model = None
        self._fifo = np.zeros(self._pipeline, np.complex128)

    @property
    def latency(self) -> int:
        """Pipeline samples added on top of the modelled latency (see the module doc)."""
        return self._pipeline

    def bind(self, sample_rate: float) -> None:
        """Build the model at ``sample_rate`` (Hz) with the current settings; starts a stream."""
        self.sample_rate = float(sample_rate)
        self.model = ImpairedLoopback(self.impairments, sample_rate=self.sample_rate, rng=self._rng,
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
        self._fifo = np.zeros(self._pipeline, np.complex128)
        if self.model is not None:
            self.model.reset()

    def process(self, x) -> np.ndarray:
        if self.model is None:
            raise ConfigError.bad_value("sample_rate", None, "bound by the mock (start() the radio first)")
        x = np.asarray(x, np.complex128)
        self._fifo = np.concatenate((self._fifo, self.model.process(x)))
        n = x.size
        if self._fifo.size < n:
            raise StreamError(f"ImpairedFrontEnd: the modelled sample-clock drift used up the pipeline margin "
                              f"({self.drift_margin} samples); use a larger drift_margin for streams this long")
        out, self._fifo = self._fifo[:n], self._fifo[n:]
        return out

    def clone(self, channel_index: int) -> ImpairedFrontEnd:
        """Another RX chain with the same impairments and settings and independent noise."""
        if isinstance(channel_index, bool) or not isinstance(channel_index, (int, np.integer)) or channel_index < 1:
            raise ConfigError.bad_value("channel_index", channel_index, "an integer >= 1")
        rng = self._rng
        if isinstance(rng, np.random.Generator):
            rng = rng.spawn(1)[0]
        elif rng is not None:
            rng = np.random.default_rng([int(rng), int(channel_index)])
        twin = ImpairedFrontEnd(self.impairments, rng=rng, drift_margin=self.drift_margin)
        twin._radio = dict(self._radio)
        return twin

    def __repr__(self) -> str:
        return f"ImpairedFrontEnd({self.model or self.impairments!r}, pipeline={self._pipeline})"


def impaired_mock(profile="mock", impairments: FrontEndImpairments | None = None, *, rng=None,
                  drift_margin: int = 16, **options) -> MockRadio:
    """A MockRadio whose loopback applies ``impairments`` (built, not opened). ``options`` go to
    :class:`MockRadio` (``serial``, ``calibration``, ``latency``, ``channel``, ``stream_errors`` ...)."""
    fe = ImpairedFrontEnd(impairments if impairments is not None else FrontEndImpairments(), rng=rng,
                          drift_margin=drift_margin)
    return MockRadio(profile, frontend=fe, **options)
