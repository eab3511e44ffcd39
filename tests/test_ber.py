"""BER harness against the exact 4-QAM formulas of REFERENCES.md, reproducibility, and `hil ber`."""

import csv
import math

import numpy as np
import pytest
from scipy import integrate

from dsp.ber import (
    BerPoint,
    ber_sweep,
    channel_preset,
    make_receiver,
    qpsk_awgn_ber,
    qpsk_rayleigh_ber,
)
from dsp.waveforms import AfdmModem, OddmModem, OfdmModem, OtfsModem
from hil.cli import main
from hil.errors import ConfigError


def _q(x):
    return 0.5 * math.erfc(x / math.sqrt(2))


def test_closed_forms_match_the_published_points():
    """REFERENCES.md: 4-QAM AWGN 2.30e-2 / 7.83e-4 / 2.7e-7 at 6/10/14 dB; flat Rayleigh 4.36e-2 / 1.88e-2."""
    np.testing.assert_allclose(qpsk_awgn_ber([6, 10, 14]), [2.30e-2, 7.83e-4, 2.7e-7], rtol=0.01)
    np.testing.assert_allclose(qpsk_rayleigh_ber([10, 14]), [4.36e-2, 1.88e-2], rtol=0.01)
    # and independently: Q(sqrt(Es/N0)) per bit
    assert qpsk_awgn_ber(6) == pytest.approx(_q(math.sqrt(10**0.6)))


def _binomial_ok(p: BerPoint, ref: float, k: float = 4.0) -> bool:
    return abs(p.bit_errors - p.bits * ref) <= k * math.sqrt(p.bits * ref * (1 - ref))


@pytest.mark.parametrize("modem", [OtfsModem(16, 8), OddmModem(8, 8, oversampling=2, rolloff=0.5),
                                   AfdmModem(128, alpha_max=1, l_max=1)], ids=lambda m: m.kind)
def test_awgn_ber_matches_the_closed_form(modem):
    pts = ber_sweep(modem, [6.0, 10.0], min_errors=300, seed=3, progress=False, batch=128)
    ref = qpsk_awgn_ber([6.0, 10.0])
    for p, r in zip(pts, ref):
        assert _binomial_ok(p, r), (p, r)


def test_awgn_14db_has_almost_no_errors():
    # 2.7e-7: about 0.05 errors expected in 2e5 bits
    p = ber_sweep(OtfsModem(32, 16), [14.0], min_errors=10**9, max_bits=200_000, seed=1, progress=False)[0]
    assert p.bits >= 200_000 and p.bit_errors <= 2


def _rayleigh_sigma(snr_db: float, fades: int, bits_per_fade: int) -> tuple[float, float]:
    """Mean and standard deviation of the BER estimate over i.i.d. Rayleigh fades (independent reference)."""
    g = 10 ** (snr_db / 10)

    def pdf(x):
        return math.exp(-x / g) / g

    m1 = integrate.quad(lambda x: _q(math.sqrt(x)) * pdf(x), 0, np.inf)[0]
    m2 = integrate.quad(lambda x: _q(math.sqrt(x)) ** 2 * pdf(x), 0, np.inf)[0]
    b = bits_per_fade
    var = (b * b * (m2 - m1 * m1) + b * (m1 - m2)) / (b * b * fades)
    return m1, math.sqrt(var)


def test_flat_rayleigh_one_tap_per_subcarrier():
    """64 equal-power taps in a 64-sample CP make every OFDM subcarrier an independent CN(0, 1) flat
    fade, so one-tap equalisation must give the flat-Rayleigh BER (REFERENCES.md 4.36e-2 / 1.88e-2)."""
    m = OfdmModem(64, 1, cp_len=64)
    chan = channel_preset("rayleigh", m, taps=64)
    frames = 300
    pts = ber_sweep(m, [10.0, 14.0], channel=chan, receiver="one-tap", min_errors=10**9,
                    max_bits=frames * m.bits_per_frame, seed=7, progress=False)
    for p, ref in zip(pts, qpsk_rayleigh_ber([10.0, 14.0])):
        mean, sd = _rayleigh_sigma(p.snr_db, fades=64 * p.frames, bits_per_fade=2)
        assert mean == pytest.approx(ref, rel=1e-3)
        assert abs(p.ber - ref) < 4 * sd, (p, ref, sd)


def test_flat_rayleigh_single_path():
    m = OfdmModem(4, 1, cp_len=0)
    frames = 800
    p = ber_sweep(m, [10.0], channel=channel_preset("flat", m), receiver="one-tap", min_errors=10**9,
                  max_bits=frames * m.bits_per_frame, seed=11, progress=False)[0]
    mean, sd = _rayleigh_sigma(10.0, fades=frames, bits_per_fade=m.bits_per_frame)
    assert abs(p.ber - mean) < 4 * sd, (p, mean, sd)


def test_lmmse_receiver_equalises_a_static_multipath_channel(rng):
    m = OtfsModem(8, 4, cp_len=4)
    ch = m.channel_from_bins([0, 1, 3], [0, 1, -1], [0.8, 0.5j, 0.3])
    rx = make_receiver("lmmse", m)
    X = m.grid_from_symbols(m.qam.map(rng.integers(0, 2, m.bits_per_frame)))
    Y = m.demodulate_grid(ch.apply(m._modulate_grid128(X)))
    np.testing.assert_allclose(rx(Y, ch, 1e-12), X, atol=1e-6)


def test_sweeps_are_reproducible_per_seed():
    m = OtfsModem(8, 4)
    a = ber_sweep(m, [4.0, 6.0], min_errors=20, seed=5, progress=False)
    b = ber_sweep(m, [4.0, 6.0], min_errors=20, seed=5, progress=False)
    c = ber_sweep(m, [4.0, 6.0], min_errors=20, seed=6, progress=False)
    assert a == b and a != c


def test_bad_arguments():
    m = OtfsModem(8, 4)
    with pytest.raises(ConfigError, match="receiver"):
        make_receiver("nonsense", m)
    with pytest.raises(ConfigError, match="channel"):
        channel_preset("tdl-z", m)
    with pytest.raises(ConfigError, match="channel"):
        ber_sweep(m, [0.0], channel=3, progress=False)
    with pytest.raises(ConfigError, match="max_doppler"):
        channel_preset("high-doppler", AfdmModem(64), max_doppler=None)


def test_hil_ber_writes_csv_and_png(tmp_path, capsys):
    out = tmp_path / "sub" / "run"
    rc = main(["ber", "--waveform", "otfs", "afdm", "--M", "8", "--N", "4", "--snr", "0:4:4", "--min-errors", "20",
               "--out", str(out), "--no-progress"])
    assert rc == 0
    rows = list(csv.DictReader(open(f"{out}.csv")))
    assert [(r["waveform"], float(r["snr_db"])) for r in rows] == [("otfs", 0.0), ("otfs", 4.0), ("afdm", 0.0),
                                                                   ("afdm", 4.0)]
    for r in rows:
        assert int(r["bit_errors"]) >= 20 and float(r["ber"]) == pytest.approx(int(r["bit_errors"]) / int(r["bits"]))
    png = open(f"{out}.png", "rb").read()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote" in capsys.readouterr().out


def test_hil_ber_rejects_bad_snr(tmp_path):
    assert main(["ber", "--snr", "10:0:2", "--out", str(tmp_path / "x"), "--no-progress"]) == 2


def test_hil_ber_detector_per_waveform(tmp_path):
    from hil.commands.ber import _detectors

    assert _detectors("otfs=lmmse,ofdm=one-tap", ["otfs", "ofdm", "afdm"], "ideal") == \
        {"otfs": "lmmse", "ofdm": "one-tap", "afdm": "ideal"}
    assert _detectors("lmmse", ["otfs", "ofdm"], "ideal") == {"otfs": "lmmse", "ofdm": "lmmse"}
    assert main(["ber", "--waveform", "otfs", "--detector", "gfdm=lmmse", "--out", str(tmp_path / "x"),
                 "--no-progress"]) == 2


def test_pilot_estimated_one_tap_is_close_to_perfect_csi():
    """OFDM on a static 3-tap Rayleigh channel: LS pilots + interpolation lose little against the true channel."""
    m = OfdmModem(32, 2, cp_len=4)
    m.set_pilots(df=4, dt=1)
    chan = channel_preset("rayleigh", m, taps=3)
    kw = dict(channel=chan, min_errors=10**9, max_bits=150 * m.bits_per_frame, seed=2, progress=False)
    est = ber_sweep(m, [14.0], receiver="one-tap-pilot", **kw)[0]
    ideal = ber_sweep(m, [14.0], receiver="one-tap", **kw)[0]
    ideal_lower = ber_sweep(m, [10.0], receiver="one-tap", **kw)[0]
    assert ideal.ber < est.ber < ideal_lower.ber  # worse than perfect CSI, but by less than 4 dB
    with pytest.raises(ConfigError, match="receiver"):
        make_receiver("one-tap-pilot", OtfsModem(8, 4))


@pytest.mark.parametrize("detector", ["mp", "mrc"])
def test_delay_doppler_detectors_on_awgn_match_the_closed_form(detector):
    """With no channel object (AWGN) the detectors get one unit path, not an empty channel."""
    from dsp.ber import ber_sweep, make_receiver, qpsk_awgn_ber
    from dsp.waveforms import make_modem

    m = make_modem("otfs", 16, 16, 4)
    p = ber_sweep(m, [8.0], channel=None, receiver=make_receiver(detector, m), min_errors=200, max_bits=400_000,
                  progress=False, seed=2)[0]
    ref = qpsk_awgn_ber(8.0)
    assert abs(p.ber - ref) < 4 * np.sqrt(ref / p.bits), (p.ber, ref)
