"""Published reference points for the detectors (see /work/shared/REFERENCES.md and docs/detectors.md).

* OTFS + message passing (Raviteja, Hong, Viterbo, IEEE TWC 2018): N = M = 8, 4-QAM, perfect CSI, one
  CP per frame, damping 0.6, up to 200 iterations, 4 equal-power Rayleigh taps at delay bins [0, 1, 2, 3]
  and Doppler bins [0, 1, 2, 3]: BER about 2.0e-2 / 8e-3 / 3e-3 / 1.2e-3 / 5.5e-4 / 3.6e-4 at
  10 / 12 / 14 / 16 / 18 / 20 dB. Tolerance: the SNR at which the reference curve (log-BER interpolated
  linearly in dB) reaches the measured BER must be within 1 dB of the simulated SNR. With the frame counts
  below each point collects >= 100 bit errors (about 500 / 250 / 200) from dozens of independent fades
  (relative standard error of the BER about 15-25 %, i.e. < 0.6 dB on this curve).
* Under high fractional Doppler (4 equal-power taps, Jakes Doppler up to 30 % of the OFDM subcarrier
  spacing) OTFS and AFDM with MP reach BER ~1e-3 at 18 dB where OFDM (even with the ICI-aware block
  LMMSE equaliser) is near 1e-2 - it has no diversity. The plot: ``python -m dsp.detection.figures``.
"""

import numpy as np
import pytest

from dsp.channel import DoublyDispersiveChannel
from dsp.detection import make_detector
from dsp.detection.sim import grid_ber, rayleigh_paths
from dsp.waveforms import AfdmModem, OfdmModem, OtfsModem

REF_SNR = np.array([10.0, 12.0, 14.0, 16.0, 18.0, 20.0])
REF_BER = np.array([2.0e-2, 8e-3, 3e-3, 1.2e-3, 5.5e-4, 3.6e-4])


def _reference_snr(ber):
    """SNR (dB) at which the reference curve reaches ``ber`` (log-linear interpolation, extrapolated)."""
    lb = np.log10(ber)
    lr = np.log10(REF_BER)
    i = int(np.clip(np.searchsorted(-lr, -lb) - 1, 0, len(lr) - 2))
    return REF_SNR[i] + (lb - lr[i]) * (REF_SNR[i + 1] - REF_SNR[i]) / (lr[i + 1] - lr[i])


def test_reference_curve_interpolation_is_monotone():
    for s, b in zip(REF_SNR, REF_BER):
        assert _reference_snr(b) == pytest.approx(s)
    assert 14.0 < _reference_snr(2e-3) < 16.0


@pytest.mark.parametrize("snr_db, frames", [(10.0, 200), (14.0, 700), (16.0, 1400)])
def test_otfs_mp_reproduces_raviteja_2018(snr_db, frames):
    m = OtfsModem(8, 8, 4, cp="frame", cp_len=4)
    det = make_detector("mp", m, damping=0.6, max_iter=200)

    def channel(rng):
        return rayleigh_paths(rng, [0, 1, 2, 3], [0, 1, 2, 3])
    res = grid_ber(m, snr_db, channel, {"mp": det.detect}, frames, np.random.default_rng(2018 + int(snr_db)))
    ber = res.ber("mp")
    assert res.errors["mp"] >= 100, res.errors
    assert abs(_reference_snr(ber) - snr_db) <= 1.0, (snr_db, ber)


def _high_doppler(modem, nu_max):
    def channel(rng):
        ch = DoublyDispersiveChannel.rayleigh(rng, [0, 1, 2, 3], nu_max * np.cos(rng.uniform(-np.pi, np.pi, 4)))
        return modem.dd_paths(ch)
    return channel


def test_otfs_and_afdm_beat_ofdm_under_high_fractional_doppler():
    M, N, snr = 16, 8, 18.0
    nu_max = 0.3 / M                       # 30 % of the OFDM subcarrier spacing, cycles/sample
    otfs = OtfsModem(M, N, 4, cp_len=4)
    afdm = AfdmModem(M * N, 4, alpha_max=3, l_max=3, k_v=1)   # alpha_max covers nu_max * N = 2.4 bins
    ofdm = OfdmModem(M, N, 4, cp_len=4)
    ber = {}
    for name, m, det in (("otfs", otfs, make_detector("mp", otfs, doppler_spread=2)),
                         ("afdm", afdm, make_detector("mp", afdm, doppler_spread=2)),
                         ("ofdm", ofdm, make_detector("lmmse", ofdm))):
        res = grid_ber(m, snr, _high_doppler(m, nu_max), {name: det.detect}, 60, np.random.default_rng(8))
        ber[name] = res.ber(name)
    assert ber["ofdm"] > 3e-3, ber               # OFDM is far from 1e-3 at this SNR
    assert ber["otfs"] < ber["ofdm"] / 3, ber
    assert ber["afdm"] < ber["ofdm"] / 3, ber
