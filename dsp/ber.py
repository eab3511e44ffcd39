"""Bit-error-rate harness: sweep SNR for any modem, channel and receiver, seeded, with early stopping.

SNR is Es/N0 in dB with unit-energy QAM symbols (the project convention): the AWGN added per time sample
has variance ``modem.noise_var_per_sample(snr)`` (``oversampling * N0``), which leaves ``N0 = 10**(-SNR/10)``
per grid cell after the receive transform; receivers are told that ``N0``.

A *receiver* is any callable ``receiver(y_grid, channel, noise_var) -> symbol grid`` (complex, the
modem's ``.shape``; only data cells are read). ``channel`` is the
:class:`~dsp.channel.DoublyDispersiveChannel` of that frame (perfect CSI) or None on AWGN. Build one with
:func:`make_receiver` (built-ins "ideal", "one-tap", "lmmse", or any name in ``dsp.detection.DETECTORS``
when that module exists).

A *channel* is None (AWGN only), a fixed channel, or a factory ``f(rng) -> channel`` called once per
frame (block fading); :func:`channel_preset` makes the common ones.

Statistics: each SNR point runs until ``min_errors`` bit errors (or ``max_bits``) - the relative standard
error of the BER is then about ``1 / sqrt(min_errors)``. Every point has its own child seed (spawned from
``seed``), so a point is reproducible on its own and independent of the others.
"""

from __future__ import annotations

import csv
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from dsp.channel import DoublyDispersiveChannel
from dsp.errors import ConfigError, check_choice, check_range
from dsp.waveforms.base import Modem

__all__ = ["BerPoint", "ber_sweep", "make_receiver", "channel_preset", "CHANNELS", "BUILTIN_RECEIVERS",
           "receiver_names", "write_csv", "plot_ber", "point_row", "qpsk_awgn_ber", "qpsk_rayleigh_ber"]

CHANNELS = ("awgn", "flat", "rayleigh", "raviteja", "high-doppler")
BUILTIN_RECEIVERS = ("ideal", "one-tap", "one-tap-pilot", "lmmse")


@dataclass(frozen=True)
class BerPoint:
    """One SNR point: ``ber = bit_errors / bits`` over ``frames`` frames (SNR = Es/N0 in dB)."""

    snr_db: float
    ber: float
    bit_errors: int
    bits: int
    frames: int


# --------------------------------------------------------------------------- closed forms
def qpsk_awgn_ber(snr_db):
    """Gray 4-QAM on AWGN: ``Q(sqrt(Es/N0))`` (= 0.5 erfc(sqrt(Es / (2 N0))))."""
    g = 10.0 ** (np.asarray(snr_db, float) / 10.0)
    return 0.5 * np.vectorize(math.erfc)(np.sqrt(g / 2.0))


def qpsk_rayleigh_ber(snr_db):
    """Gray 4-QAM on flat Rayleigh (E|h|^2 = 1), coherent: ``0.5 (1 - sqrt(g / (2 + g)))``, g = Es/N0."""
    g = 10.0 ** (np.asarray(snr_db, float) / 10.0)
    return 0.5 * (1.0 - np.sqrt(g / (2.0 + g)))


# --------------------------------------------------------------------------- receivers
def receiver_names() -> tuple[str, ...]:
    """Built-in receivers plus the detectors of ``dsp.detection`` (if that module is installed)."""
    try:
        from dsp.detection import DETECTORS
    except ImportError:
        return BUILTIN_RECEIVERS
    return BUILTIN_RECEIVERS + tuple(n for n in DETECTORS if n not in BUILTIN_RECEIVERS)


def _ideal(y, channel, noise_var):
    return y


def make_receiver(name: str, modem: Modem, **options) -> Callable:
    """A receiver callable by name (see the module docstring).

    * ``"ideal"``: no equalisation (AWGN or an identity channel).
    * ``"one-tap"``: per-cell one-tap MMSE ``conj(H) y / (|H|^2 + N0)`` with H the diagonal of the effective
      channel (OFDM: closed form :meth:`~dsp.waveforms.ofdm.OfdmModem.one_tap_channel`; others: dense).
    * ``"one-tap-pilot"``: OFDM one-tap MMSE on the channel *estimated* from the modem's scattered pilots
      (:meth:`~dsp.waveforms.ofdm.OfdmModem.set_pilots` must have been called; the true channel is unused).
    * ``"lmmse"``: block LMMSE over the whole frame with the dense effective channel (small frames only):
      ``x_d = (H_d^H H_d + N0 I)^-1 H_d^H (y - H_p x_p)`` for the data cells d given pilots p.
    * any name in ``dsp.detection.DETECTORS``: ``make_detector(name, modem, **options)``, called as
      ``detect(y_grid, modem.dd_paths(channel), noise_var)``.
    """
    if name == "ideal":
        return _ideal
    if name == "one-tap":
        def one_tap(y, channel, noise_var):
            if channel is None:
                return y
            if hasattr(modem, "one_tap_channel"):
                H = modem.one_tap_channel(channel)
            else:
                H = np.diag(modem.effective_channel(channel)).reshape(modem.shape)
            return np.conj(H) * y / (np.abs(H) ** 2 + noise_var)
        return one_tap
    if name == "one-tap-pilot":
        if not hasattr(modem, "estimate_one_tap"):
            raise ConfigError.bad_value("receiver", name, "an OFDM modem (pilot-based one-tap estimation)")

        def one_tap_pilot(y, channel, noise_var):
            H = modem.estimate_one_tap(y)
            return np.conj(H) * y / (np.abs(H) ** 2 + noise_var)
        return one_tap_pilot
    if name == "lmmse":
        def lmmse(y, channel, noise_var):
            if channel is None:
                return y
            H = modem.effective_channel(channel)
            d = modem.data_mask.ravel()
            fill = modem.grid_from_symbols(np.zeros(modem.n_data)).ravel()
            r = y.ravel() - H[:, ~d] @ fill[~d]
            Hd = H[:, d]
            A = Hd.conj().T @ Hd + noise_var * np.eye(Hd.shape[1])
            out = fill.astype(np.complex128)
            out[d] = np.linalg.solve(A, Hd.conj().T @ r)
            return out.reshape(modem.shape)
        return lmmse
    names = receiver_names()
    if name not in names:
        raise ConfigError.bad_value("receiver", name, "one of " + ", ".join(names))
    from dsp.detection import make_detector

    det = make_detector(name, modem, **options)

    def detector(y, channel, noise_var):
        # AWGN (no channel object): one unit path at zero delay and Doppler, not an empty channel
        paths = modem.dd_paths(channel) if channel is not None else np.array([[1.0, 0.0, 0.0]], np.complex128)
        return det.detect(y, paths, noise_var)
    detector.detector = det
    return detector


# --------------------------------------------------------------------------- channels
def channel_preset(name: str, modem: Modem, *, max_doppler: float | None = None, taps: int = 4):
    """Channel for :func:`ber_sweep` by name: None (AWGN) or a factory ``f(rng) -> channel``.

    Delays are in the modem's delay bins (``delay_bin`` samples: 1, or Q for ODDM) and ``max_doppler`` in
    cycles per delay bin (= cycles/sample except ODDM), so the same preset is the same physical channel
    relative to the symbol rate for every waveform.

    * ``"awgn"``: no fading (None).
    * ``"flat"``: one Rayleigh path, no delay, no Doppler.
    * ``"rayleigh"``: ``taps`` equal-power Rayleigh paths at delay bins 0..taps-1 with Jakes Doppler
      ``nu_i = max_doppler cos(theta_i)``, theta uniform (``max_doppler`` default 0).
    * ``"raviteja"``: the MP reference channel of REFERENCES.md: 4 equal-power Rayleigh paths, delay bins
      [0, 1, 2, 3], Doppler bins [0, 1, 2, 3] of the modem (integer; ``modem.doppler_bin``).
    * ``"high-doppler"``: as "rayleigh" (fractional Doppler); default ``max_doppler = 0.3 / M`` - 30 % of the
      subcarrier spacing of an M-bin symbol, M = ``modem.shape[0]`` (AFDM: pass ``max_doppler``).
    """
    check_choice("channel", name, CHANNELS)
    if name == "awgn":
        return None
    if name == "flat":
        return lambda rng: DoublyDispersiveChannel.rayleigh(rng, [0.0], [0.0])
    if name == "raviteja":
        d = np.arange(4) * modem.delay_bin
        nu = np.arange(4) * modem.doppler_bin
        return lambda rng: DoublyDispersiveChannel.rayleigh(rng, d, nu)
    check_range("taps", taps, lo=1)
    if name == "high-doppler" and max_doppler is None:
        if len(modem.shape) != 2:
            raise ConfigError.bad_value("max_doppler", None, f"a value in cycles/sample for {modem.kind}")
        max_doppler = 0.3 / modem.shape[0]
    nu_max = float(check_range("max_doppler", 0.0 if max_doppler is None else max_doppler, lo=0.0, hi=0.5,
                               unit="cycles per delay bin"))
    d = np.arange(int(taps)) * modem.delay_bin
    scale = nu_max / modem.delay_bin

    def factory(rng):
        nu = scale * np.cos(rng.uniform(-np.pi, np.pi, d.size))
        return DoublyDispersiveChannel.rayleigh(rng, d, nu)
    return factory


# --------------------------------------------------------------------------- sweep
def ber_sweep(modem: Modem, snr_db: Sequence[float], *, channel=None, receiver: Callable | str | None = None,
              seed: int = 0, min_errors: int = 100, max_bits: int = 1_000_000, min_frames: int = 1,
              batch: int = 64, progress: bool = True, desc: str | None = None) -> list[BerPoint]:
    """BER of ``modem`` at each SNR (Es/N0, dB) over ``channel`` with ``receiver`` (see module docstring).

    Stops a point after ``min_errors`` bit errors (at least ``min_frames`` frames) or ``max_bits`` bits.
    ``batch`` frames are simulated per step on AWGN / fixed channels with the ideal receiver.
    Shows one tqdm progress bar on stderr unless ``progress=False``.
    """
    from tqdm import tqdm

    snrs = [float(check_range("snr_db", float(s), lo=-50.0, hi=100.0, unit="dB")) for s in snr_db]
    check_range("min_errors", min_errors, lo=1)
    check_range("max_bits", max_bits, lo=1)
    check_range("batch", batch, lo=1)
    check_range("min_frames", min_frames, lo=1)
    if receiver is None:
        receiver = "ideal" if channel is None else "lmmse"
    rx = make_receiver(receiver, modem) if isinstance(receiver, str) else receiver
    if channel is not None and not (callable(channel) or isinstance(channel, DoublyDispersiveChannel)):
        raise ConfigError.bad_value("channel", type(channel).__name__,
                                    "None, a DoublyDispersiveChannel or a factory rng -> channel")
    fixed = channel is None or isinstance(channel, DoublyDispersiveChannel)
    fast = fixed and rx is _ideal
    children = np.random.SeedSequence(seed).spawn(len(snrs))
    out = []
    bar = tqdm(total=len(snrs), desc=desc or f"BER {modem.kind}", unit="pt", disable=not progress,
               file=sys.stderr, leave=False)
    try:
        for snr, ss in zip(snrs, children):
            rng = np.random.default_rng(ss)
            n0 = 10.0 ** (-snr / 10.0)
            sigma = math.sqrt(modem.noise_var_per_sample(snr) / 2.0)
            errors = bits = frames = 0
            while (errors < min_errors or frames < min_frames) and bits < max_bits:
                nb = batch if fast else 1
                tx_bits = rng.integers(0, 2, (nb, modem.bits_per_frame), dtype=np.uint8)
                s = modem.modulate(tx_bits)
                ch = channel if fixed else channel(rng)
                r = s.astype(np.complex128) if ch is None else ch.apply(s)
                r = r + sigma * (rng.standard_normal(r.shape) + 1j * rng.standard_normal(r.shape))
                y = modem.demodulate_grid(r)
                if fast:
                    est = y
                else:
                    est = np.asarray(rx(y[0], ch, n0))[None]
                rx_bits = modem.qam.demap_hard(modem.data_symbols(est)).reshape(nb, -1)
                errors += int(np.count_nonzero(rx_bits != tx_bits))
                bits += tx_bits.size
                frames += nb
            out.append(BerPoint(snr, errors / bits, errors, bits, frames))
            bar.set_postfix(snr=f"{snr:g} dB", ber=f"{errors / bits:.2e}")
            bar.update()
    finally:
        bar.close()
    return out


# --------------------------------------------------------------------------- output
def write_csv(rows: Sequence[dict], path: str | os.PathLike) -> None:
    """Write result rows (dicts with the same keys, e.g. ``asdict(point) | {"waveform": ...}``) as CSV."""
    rows = list(rows)
    if not rows:
        raise ConfigError.bad_value("rows", 0, "at least one result row")
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)


def plot_ber(curves: dict[str, Sequence[BerPoint]], path: str | os.PathLike, *, title: str = "",
             reference: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> None:
    """Semilog BER-vs-SNR plot (PNG, matplotlib Agg) of labelled curves plus optional reference curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    for label, pts in curves.items():
        x = [p.snr_db for p in pts if p.bit_errors > 0]
        y = [p.ber for p in pts if p.bit_errors > 0]
        ax.semilogy(x, y, "o-", label=label)
    for label, (x, y) in (reference or {}).items():
        ax.semilogy(x, y, "k--", lw=1, label=label)
    ax.set_xlabel("Es/N0 (dB)")
    ax.set_ylabel("BER")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def point_row(point: BerPoint, **labels) -> dict:
    """``labels`` followed by the point's fields, for :func:`write_csv`."""
    return {**labels, **asdict(point)}
