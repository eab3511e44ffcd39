"""Memoryless power-amplifier models (Rapp, Saleh) with input back-off, as functions and streaming blocks.

Both models act on the complex envelope ``x = r e^{j phi}`` and return ``A(r) e^{j (phi + Phi(r))}``
(AM/AM ``A``, AM/PM ``Phi``). Conventions (stated because public code differs):

* **Rapp** (solid-state PA; C. Rapp, 2nd European Conf. on Satellite Communications, 1991)::

      A(r) = r / (1 + (r / A_sat)^(2 p))^(1 / (2 p)),     Phi(r) = 0

  unit small-signal gain, output saturation amplitude ``A_sat``, smoothness ``p`` (p -> inf: ideal
  limiter). Typical p = 2..3 for SSPAs.
* **Saleh** (TWTA; A. Saleh, IEEE Trans. Commun. 29(11), 1981), his fitted values by default::

      A(r) = alpha_a r / (1 + beta_a r^2),    Phi(r) = alpha_p r^2 / (1 + beta_p r^2)   (radians)

  alpha_a = 2.1587, beta_a = 1.1517, alpha_p = 4.0033, beta_p = 9.1040. AM/AM peaks at
  ``r_sat = 1 / sqrt(beta_a)`` with ``A(r_sat) = alpha_a / (2 sqrt(beta_a))`` and then falls.

**Back-off.** ``input_backoff_db`` (IBO) is the ratio of the input saturation power to the mean input
power ``ref_power`` of the signal: the block scales its input by ``c = r_sat_in / sqrt(ref_power 10^(IBO/10))``
(``r_sat_in``: Rapp ``A_sat``, Saleh ``1/sqrt(beta_a)``), applies the model, and divides by ``c`` times the
small-signal gain (Rapp 1, Saleh ``alpha_a``). So a small signal passes unchanged (``y = x``) and the
nonlinearity sets in ``IBO`` dB above the mean power: at a large back-off the block is the identity, at
a small one it compresses the peaks (the output power is then below the input's; the receiver's gain
control / channel estimate absorbs the mean gain, see :func:`bussgang_gain`).

Every block is memoryless, so ``process`` has no state and splitting the input anywhere gives the same
output (tested); ``reset`` exists for the streaming-block protocol. The emulator can put a
:class:`PowerAmplifier` in its impairment chain before the channel (a transmitter's PA) with
``ref_power`` set to the mean power of the samples it is given.
"""

from __future__ import annotations

import math

import numpy as np

from dsp.errors import ConfigError, check_choice, check_range

__all__ = ["rapp_am_am", "saleh_am_am", "saleh_am_pm", "PowerAmplifier", "bussgang_gain", "evm_db",
           "SALEH_DEFAULT", "PA_MODELS"]

SALEH_DEFAULT = {"alpha_a": 2.1587, "beta_a": 1.1517, "alpha_p": 4.0033, "beta_p": 9.1040}
PA_MODELS = ("rapp", "saleh")


def rapp_am_am(r, a_sat: float = 1.0, p: float = 2.0) -> np.ndarray:
    """Rapp AM/AM ``r / (1 + (r/a_sat)^(2p))^(1/(2p))`` (unit small-signal gain), elementwise."""
    r = np.asarray(r, float)
    return r / (1.0 + (r / a_sat) ** (2.0 * p)) ** (1.0 / (2.0 * p))


def saleh_am_am(r, alpha_a: float = SALEH_DEFAULT["alpha_a"], beta_a: float = SALEH_DEFAULT["beta_a"]) -> np.ndarray:
    """Saleh AM/AM ``alpha_a r / (1 + beta_a r^2)``, elementwise."""
    r = np.asarray(r, float)
    return alpha_a * r / (1.0 + beta_a * r * r)


def saleh_am_pm(r, alpha_p: float = SALEH_DEFAULT["alpha_p"], beta_p: float = SALEH_DEFAULT["beta_p"]) -> np.ndarray:
    """Saleh AM/PM ``alpha_p r^2 / (1 + beta_p r^2)`` in radians, elementwise."""
    r = np.asarray(r, float)
    return alpha_p * r * r / (1.0 + beta_p * r * r)


def _positive(field, v):
    v = float(check_range(field, v, lo=0.0))
    if not (v > 0 and math.isfinite(v)):
        raise ConfigError.bad_value(field, v, "a finite number > 0")
    return v


class PowerAmplifier:
    """Memoryless PA with input back-off (streaming block; see the module docstring).

    Parameters
    ----------
    model : {"rapp", "saleh"}
    input_backoff_db : float
        Input back-off in dB from the mean input power ``ref_power`` to the input saturation point
        (-20..60 dB; negative drives the PA beyond saturation).
    ref_power : float
        Mean input power (|x|^2, linear) the back-off refers to; 1.0 for the modems' unit-energy frames.
    p : float
        Rapp smoothness (> 0; default 2).
    alpha_a, beta_a, alpha_p, beta_p : float
        Saleh parameters (defaults: Saleh 1981's TWTA fit). ``alpha_p = 0`` removes the AM/PM.
    """

    def __init__(self, model: str = "rapp", input_backoff_db: float = 6.0, ref_power: float = 1.0, *,
                 p: float = 2.0, alpha_a: float = SALEH_DEFAULT["alpha_a"], beta_a: float = SALEH_DEFAULT["beta_a"],
                 alpha_p: float = SALEH_DEFAULT["alpha_p"], beta_p: float = SALEH_DEFAULT["beta_p"]):
        self.model = check_choice("model", model, PA_MODELS)
        self.input_backoff_db = float(check_range("input_backoff_db", input_backoff_db, lo=-20.0, hi=60.0, unit="dB"))
        self.ref_power = _positive("ref_power", ref_power)
        self.p = _positive("p", p)
        self.alpha_a = _positive("alpha_a", alpha_a)
        self.beta_a = _positive("beta_a", beta_a)
        self.alpha_p = float(check_range("alpha_p", alpha_p, lo=0.0))
        self.beta_p = float(check_range("beta_p", beta_p, lo=0.0))
        r_sat = 1.0 if self.model == "rapp" else 1.0 / math.sqrt(self.beta_a)
        self.r_sat_in = r_sat
        self._c = r_sat / math.sqrt(self.ref_power * 10.0 ** (self.input_backoff_db / 10.0))
        self._g0 = 1.0 if self.model == "rapp" else self.alpha_a

    def am_am(self, r) -> np.ndarray:
        """Output amplitude for input amplitude ``r`` (the block's normalised AM/AM, unit small-signal gain)."""
        u = np.asarray(r, float) * self._c
        a = rapp_am_am(u, 1.0, self.p) if self.model == "rapp" else saleh_am_am(u, self.alpha_a, self.beta_a)
        return a / (self._c * self._g0)

    def am_pm(self, r) -> np.ndarray:
        """Output phase shift (radians) for input amplitude ``r``."""
        if self.model == "rapp":
            return np.zeros(np.shape(r))
        return saleh_am_pm(np.asarray(r, float) * self._c, self.alpha_p, self.beta_p)

    @property
    def output_saturation(self) -> float:
        """Largest output amplitude the block can give (same normalisation as :meth:`am_am`)."""
        peak = 1.0 if self.model == "rapp" else self.alpha_a / (2.0 * math.sqrt(self.beta_a))
        return peak / (self._c * self._g0)

    def process(self, x) -> np.ndarray:
        """Amplify samples (any shape; complex128 out)."""
        x = np.asarray(x)
        if x.dtype.kind not in "fc":
            raise ConfigError.bad_value("x.dtype", str(x.dtype), "real or complex samples")
        x = x.astype(np.complex128, copy=False)
        r = np.abs(x)
        a = self.am_am(r)
        # unit phasor x / |x| (0 stays 0)
        ph = np.divide(x, r, out=np.zeros_like(x), where=r > 0)
        y = a * ph
        if self.model == "saleh" and self.alpha_p:
            y = y * np.exp(1j * self.am_pm(r))
        return y

    __call__ = process

    def reset(self) -> None:
        """Nothing to reset (memoryless); kept for the streaming-block protocol."""

    def __repr__(self) -> str:
        extra = f"p={self.p:g}" if self.model == "rapp" else (
            f"alpha_a={self.alpha_a:g}, beta_a={self.beta_a:g}, alpha_p={self.alpha_p:g}, beta_p={self.beta_p:g}")
        return (f"PowerAmplifier(model={self.model!r}, input_backoff_db={self.input_backoff_db:g}, "
                f"ref_power={self.ref_power:g}, {extra})")


def bussgang_gain(x, y) -> complex:
    """Least-squares complex gain ``alpha = <y, x> / <x, x>`` with ``y = alpha x + d``, ``d`` uncorrelated
    with ``x`` (Bussgang): what an ideal AGC/channel estimate removes."""
    x = np.asarray(x).ravel()
    y = np.asarray(y).ravel()
    if x.shape != y.shape or x.size == 0:
        raise ConfigError.bad_value("x/y shapes", (x.shape, y.shape), "two equal, non-empty arrays")
    den = np.vdot(x, x)
    if den == 0:
        raise ConfigError.bad_value("x", "all zeros", "a nonzero reference signal")
    return complex(np.vdot(x, y) / den)


def evm_db(reference, measured) -> float:
    """EVM in dB, ``10 log10(sum|measured - alpha ref|^2 / sum|alpha ref|^2)`` after the Bussgang gain ``alpha``."""
    ref = np.asarray(reference).ravel()
    a = bussgang_gain(ref, measured)
    err = np.asarray(measured).ravel() - a * ref
    return float(10.0 * np.log10(np.sum(np.abs(err) ** 2) / np.sum(np.abs(a * ref) ** 2)))
