"""hil compare (issue 20): the study's numerology, its receivers on known channels, the diversity
reading, and a quick end-to-end run through the CLI that writes the table and the plots."""

import csv
import math
import os

import numpy as np
import pytest

from dsp.errors import ConfigError
from dsp.spectrum import block_interpolate
from hil.cli import main
from hil.compare import (
    ORDER,
    CompareConfig,
    _channel,
    channel_factory,
    diversity_order,
    load_compare_config,
    make_setups,
    quick_config,
    run_compare,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def setups():
    _, l_max = channel_factory("A", 1.0, 0.0)
    return make_setups(CompareConfig(), 0.4, l_max)


def test_equal_frame_duration_and_counted_overheads(setups):
    assert list(setups) == list(ORDER)
    for k, s in setups.items():
        assert s.frame_cells == 1088, k
        data = int(np.count_nonzero(s.modem.data_mask))
        cells = int(np.prod(s.modem.shape))
        # overheads as counted: prefix + non-data cells + data cells = the frame
        assert s.overhead["cp"] * 1088 + (cells - data) == pytest.approx(s.overhead["cp"] * 1088
                                                                         + s.overhead["pilot_guard"] * 1088)
        assert s.overhead["cp"] * 1088 + cells == pytest.approx(1088)
        assert s.net_bits == data * s.modem.qam.bits_per_symbol


def test_block_layouts_reproduce_the_transmitted_samples(setups):
    """The continuous-time signal passes through every transmitted sample (the layouts describe the
    frames as the modems build them: prefixes are cyclic copies of the blocks given)."""
    rng = np.random.default_rng(0)
    for k, s in setups.items():
        bits = rng.integers(0, 2, (2, s.modem.bits_per_frame), dtype=np.uint8)
        x = s.modem.modulate(bits)
        for blocks, L in ((s.blocks, 4 // s.samples_per_cell), (s.alt_blocks, 2)):
            if blocks is None:
                continue
            xo = block_interpolate(x, blocks, L)
            np.testing.assert_allclose(xo[:, ::L], x, atol=2e-5, err_msg=k)


def test_ntn_tdl_channel_draws():
    draw, l_max = channel_factory("A", 1.0, 0.3)
    assert l_max == 3
    rng = np.random.default_rng(1)
    rows = [draw(rng) for _ in range(4000)]
    assert [d for _, d, _ in rows[0]] == [0, 1, 3]                 # TR 38.811 A: 0, 1.0811, 2.8416 DS
    power = np.mean([sum(abs(g) ** 2 for g, _, _ in r) for r in rows])
    assert power == pytest.approx(1.0, abs=0.05)                   # unit mean power
    nus = np.array([nu for r in rows for _, _, nu in r])
    assert np.max(np.abs(nus)) <= 0.3 / 64 + 1e-15
    assert np.mean(np.abs(nus) > 0.9 * 0.3 / 64) > 0.2             # Jakes: piles up near +/- nu_max
    draw_c, _ = channel_factory("C", 1.0, 0.3)
    g, d, nu = draw_c(rng)[0]
    assert nu == 0.0 and abs(g) ** 2 == pytest.approx(10 ** (-0.394 / 10) / sum(
        10 ** (p / 10) for p in (-0.394, -10.618, -23.373)))     # the LOS tap: fixed power, no Doppler


@pytest.mark.parametrize("kind", ["otfs", "oddm", "afdm", "gfdm", "ofdm"])
def test_receivers_are_error_free_on_a_static_channel_at_high_snr(setups, kind):
    """Estimated channel, static NTN-TDL-A draw, 40 dB: no bit errors (estimators and detectors are
    consistent with the modems)."""
    s = setups[kind]
    m = s.modem
    draw, _ = channel_factory("A", 1.0, 0.0)
    rng = np.random.default_rng(2)
    snr = 40.0
    nv = 10 ** (-snr / 10)
    sigma = math.sqrt(m.noise_var_per_sample(snr) / 2)
    for _ in range(3):
        bits = rng.integers(0, 2, m.bits_per_frame, dtype=np.uint8)
        r = _channel(draw(rng), s.samples_per_cell).apply(m.modulate(bits))
        r = r + sigma * (rng.standard_normal(r.shape) + 1j * rng.standard_normal(r.shape))
        sym, _ = s.receive(r, nv) if kind == "gfdm" else s.receive(m.demodulate_grid(r), nv)
        assert np.count_nonzero(m.qam.demap_hard(sym) != bits) == 0


def test_diversity_order_reads_the_slope():
    d = 2.5
    pts = [{"snr_db": s, "ber": 0.3 * 10 ** (-d * s / 10), "bit_errors": 100} for s in (10.0, 15.0, 20.0)]
    assert diversity_order(pts) == pytest.approx(d)
    pts[-1]["bit_errors"] = 3   # too few errors at the top point: read the two below
    assert diversity_order(pts) == pytest.approx(d)
    assert diversity_order(pts[:1]) is None
    noisy = [dict(p, ber=p["ber"] * f, bit_errors=100) for p, f in zip(pts, (1.0, 1.3, 1.0))]
    assert 2.0 < diversity_order(noisy) < 3.0          # a least-squares slope, not two points


def test_common_random_numbers_share_the_channel_draws(setups):
    """Every waveform given the same point seed sees the same channels (the deep fades are shared)."""
    from hil import compare

    seen = {}
    orig = compare._channel
    for k in ("otfs", "ofdm"):
        got = []
        compare._channel = lambda rows, q, got=got: (got.append(rows), orig(rows, q))[1]
        try:
            cfg = quick_config()
            draw, _ = channel_factory("A", 1.0, 0.1)
            compare.ber_point(setups[k], cfg, draw, 10.0, compare.point_seed(cfg, 0))
        finally:
            compare._channel = orig
        seen[k] = got
    n = min(len(seen["otfs"]), len(seen["ofdm"]))
    assert n >= 2 and seen["otfs"][:n] == seen["ofdm"][:n]


@pytest.mark.parametrize("name", sorted(os.listdir(os.path.join(ROOT, "scenarios", "compare"))))
def test_shipped_compare_files_validate(name):
    cfg = load_compare_config(os.path.join(ROOT, "scenarios", "compare", name))
    _, l_max = channel_factory(cfg.ntn_profile, cfg.delay_spread_cells, 0.0)
    setups = make_setups(cfg, max(cfg.doppler), l_max)   # raises if the channel does not fit a prefix
    assert sorted(setups) == sorted(["otfs", "oddm", "afdm", "gfdm", "ofdm"])  # Table I's five waveforms
    from hil.compare import M_GRID

    assert 0 <= l_max < M_GRID  # a delay spread inside every waveform's prefix (M cells)


def test_config_file_and_errors(tmp_path):
    cfg = load_compare_config(os.path.join(ROOT, "scenarios", "compare", "table1.yaml"))
    assert cfg == CompareConfig()   # the shipped file states the defaults
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmax_frames: 5\nmin_frames: 10\n")
    with pytest.raises(ConfigError) as ei:
        load_compare_config(str(bad))
    assert "max_frames" in str(ei.value) and "5" in str(ei.value)
    bad.write_text("name: x\noversampling: 3\n")
    with pytest.raises(ConfigError) as ei:
        load_compare_config(str(bad))
    assert "oversampling" in str(ei.value) and "3" in str(ei.value)
    bad.write_text("name: x\nntn_profile: E\n")
    with pytest.raises(ConfigError) as ei:
        load_compare_config(str(bad))
    assert "ntn_profile" in str(ei.value)
    with pytest.raises(ConfigError):
        run_compare(quick_config(), str(tmp_path), waveforms=["ofdm", "qpsk"], progress=False)


def test_quick_run_writes_table_in_table_i_order(tmp_path):
    out = tmp_path / "t1"
    rc = main(["compare", "--quick", "--waveform", "ofdm", "otfs", "--jobs", "1", "--no-progress", "--out", str(out)])
    assert rc == 0
    for f in ("table1.csv", "table1.md", "summary.json", "report.html", "ccdf.png", "psd.png", "ber.png", "pa.png"):
        assert (out / f).stat().st_size > 0, f
    rows = list(csv.DictReader(open(out / "table1.csv")))
    assert [r["waveform"] for r in rows] == ["OTFS", "OFDM"]          # Table I's order, OFDM last
    for r in rows:
        assert 8.0 < float(r["papr_1e3_db"]) < 14.0
        assert 0.9 < float(r["obw99_B"]) < 1.2
        assert float(r["tx_ns_per_sample"]) > 0 and float(r["rx_ns_per_sample"]) > 0
    # OFDM's rectangular symbols leak more than nothing; its ACLR is a finite negative number of dB
    assert -60 < float(rows[1]["aclr_db"]) < -10
    md = (out / "table1.md").read_text()
    assert "| OTFS |" in md and "| OFDM |" in md


def test_cli_bad_option_is_one_line(capsys):
    rc = main(["compare", "--quick", "--jobs", "0", "--out", "/nonexistent/x"])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--jobs" in err[0]


def test_otfs_sample_papr_is_bounded_by_n():
    """Each transmitted OTFS sample sums N unit-energy 4-QAM symbols (N-point IDFT), so its power is at
    most N: at N = 2 and 4 the 1e-3 PAPR of the samples is exactly 10 log10 N (the bound is reached
    often); the continuous-time signal exceeds it (peaks between the samples)."""
    from hil.compare import otfs_papr_vs_n

    out = otfs_papr_vs_n(quick_config(), np.random.default_rng(3), ns=(2, 4))
    for n in (2, 4):
        assert out["samples"][n] == pytest.approx(10 * math.log10(n), abs=1e-5)   # complex64 samples
        assert out["continuous"][n] > out["samples"][n] + 1.0


def test_pilot_receivers_estimate_a_static_channel_exactly():
    """Noise-free, delays below the fitted taps: the OFDM DFT estimate equals the modem's closed-form
    one-tap channel; the GFDM pilot fit equals the channel's frequency response at every bin."""
    from dsp.channel import DoublyDispersiveChannel, Path
    from dsp.pilot_rx import GfdmPilotReceiver, OfdmDftEstimator
    from dsp.waveforms import GfdmModem, OfdmModem

    rng = np.random.default_rng(4)
    ch = DoublyDispersiveChannel([Path(0.8 + 0.1j, 0, 0.0), Path(-0.3j, 1, 0.0), Path(0.2, 3, 0.0)])
    m = OfdmModem(64, 4, 4, cp_len=4)
    m.set_pilots(df=8, dt=1)
    est = OfdmDftEstimator(m, taps=5)
    y = m.demodulate_grid(ch.apply(m.modulate(rng.integers(0, 2, m.bits_per_frame, dtype=np.uint8))))
    np.testing.assert_allclose(est.estimate(y), m.one_tap_channel(ch), atol=2e-6)
    g = GfdmModem(68, 15, 4, rolloff=0.1, cp_len=68)
    rx = GfdmPilotReceiver(g, spacing=8, taps=5)
    bits = rng.integers(0, 2, g.bits_per_frame, dtype=np.uint8)
    r = ch.apply(g.modulate(bits).astype(complex))
    R = np.fft.fft(r[g.cp_len:])
    h = rx.fit @ (R[rx.bins] / rx.Sp[rx.bins])
    want = sum(p.gain * np.exp(-2j * np.pi * np.arange(rx.n) * p.delay / rx.n) for p in ch.paths)
    np.testing.assert_allclose(np.fft.fft(h, rx.n), want, atol=2e-6)   # complex64 frames
    sym, _ = rx.receive_frame(r, 1e-9)
    assert np.count_nonzero(g.qam.demap_hard(sym) != bits) == 0
    with pytest.raises(ConfigError):
        OfdmDftEstimator(OfdmModem(64, 4, 4), taps=5)      # no pilots set
    with pytest.raises(ConfigError):
        GfdmPilotReceiver(m)                                # not a GFDM modem


class _IqFrontEnd:
    """A mock front end with a known IQ imbalance (and a pipeline latency)."""

    latency = 5

    def __init__(self, gain_db, phase_deg):
        from dsp.impairments import IqImbalance

        self.iq = IqImbalance(gain_db, phase_deg)

    def bind(self, sample_rate):
        self.reset()

    def setting(self, name, value):
        pass

    def process(self, x):
        return self.iq.process(x)

    def reset(self):
        self.iq.reset()


def test_radio_loopback_evm_equals_the_image_rejection_of_an_iq_imbalance(setups):
    """Through a mock radio whose front end has IQ imbalance y = K1 x + K2 conj(x), the EVM after the
    gain K1 is |K2|^2 / |K1|^2 = 1 / IRR exactly (an independent closed form); an ideal loopback gives
    (numerically) no error."""
    from dsp.impairments import IqImbalance
    from hil.backends import make_radio
    from hil.compare import radio_study

    cfg = quick_config()
    ideal = make_radio("mock")
    ideal.open()
    ideal.configure(sample_rate=1e6)
    r = radio_study(setups["ofdm"], cfg, ideal, np.random.default_rng(0), frames=2)
    assert r["evm_db"] < -100 and r["ber"] == 0.0
    ideal.close()
    radio = make_radio("mock", frontend=_IqFrontEnd(1.0, 5.0))
    radio.open()
    radio.configure(sample_rate=1e6)
    irr = IqImbalance(1.0, 5.0).irr_db
    for k in ("otfs", "ofdm", "afdm"):
        r = radio_study(setups[k], cfg, radio, np.random.default_rng(1), frames=4)
        assert r["evm_db"] == pytest.approx(-irr, abs=0.1), k
    radio.close()


def test_cli_radio_mock_adds_the_radio_columns(tmp_path):
    out = tmp_path / "r"
    assert main(["compare", "--quick", "--waveform", "ofdm", "--jobs", "1", "--no-progress", "--radio", "mock",
                 "--out", str(out)]) == 0
    row = next(csv.DictReader(open(out / "table1.csv")))
    assert float(row["radio_evm_db"]) < -100 and float(row["radio_ber"]) == 0.0
    assert main(["compare", "--quick", "--radio", "mock", "--radio-level", "3", "--out", str(out)]) == 2
