"""The declared lead (issue 15): a burst that follows silence is output from ``i + lead`` on, where the
lead is a constant of the configuration - the trajectory's minimum delay over its span less taps/2 and
a margin - never the delay of the moment (the receiver must not learn the truth from the wire).

References: the same link with ``skip_lead: 0`` (every output sample it sends must be bit-identical to
the reference's), the same link fed zeros (what the reference sends inside the lead must be exactly
that: silence plus noise, no signal), closed forms for constant / linear / circular trajectories and a
dense evaluation of an SGP4 pass for the orbit bound.
"""

import math

import numpy as np
import pytest

from hil.config import parse
from hil.emulator.config import EmulatorConfig
from hil.emulator.link import LEAD_MARGIN, Link, build_links, declared_lead
from hil.emulator.trajectory import (
    CircularPass,
    ConstantTrajectory,
    HandoverTrajectory,
    LinearTrajectory,
    OrbitTrajectory,
    min_delay_s,
)
from hil.errors import ConfigError

TAPS = 16
EPOCH = "2026-01-01T00:00:00Z"


def _cat(outs):
    if not outs:
        return np.zeros(0, np.int64), np.zeros(0, np.complex64)
    return (np.concatenate([n0 + np.arange(len(y)) for n0, y, _ in outs]),
            np.concatenate([y for _, y, _ in outs]))


def _run(link, bursts, zeros=False):
    outs = []
    for i, x, eob in bursts:
        outs += link.accept(i, np.zeros_like(x) if zeros else x, end_of_burst=eob)
    outs += link.finish()
    return _cat(outs)


def _bursts(fs, starts, n=3000, seed=1):
    rng = np.random.default_rng(seed)
    out = []
    for k, s in enumerate(starts):
        x = (0.5 * (rng.standard_normal(n) + 1j * rng.standard_normal(n))).astype(np.complex64)
        out.append((s, x, k % 2 == 0))  # every other burst flushed by END_OF_BURST, the others by the jump
    return out


def _check_against_reference(make, bursts, lead):
    """Skipping link vs the full one: a subset of its indices, bit-identical samples; what it leaves out
    is exactly the zero-input output (no signal) and lies in [i, i + lead) of a burst after silence."""
    idx, y = _run(make("auto"), bursts)
    ref_idx, ref = _run(make(0.0), bursts)
    _, silent = _run(make(0.0), bursts, zeros=True)
    pos = np.searchsorted(ref_idx, idx)
    np.testing.assert_array_equal(ref_idx[pos], idx)
    np.testing.assert_array_equal(y, ref[pos])                       # every sample sent: the very same
    left = np.ones(ref_idx.size, bool)
    left[pos] = False
    np.testing.assert_array_equal(ref[left], silent[left])           # what is left out holds no signal
    starts = np.array([i for i, _, _ in bursts])
    k = np.searchsorted(starts, ref_idx[left], side="right") - 1
    assert np.all(ref_idx[left] - starts[k] < lead)                  # ... and only the lead of a burst
    assert left.sum() == lead * len(bursts)
    return idx


def test_constant_link_sends_the_reference_samples_from_the_lead_on():
    fs, d = 1.92e6, 2e-3

    def make(skip):
        return Link("dl", fs, 2e9, ConstantTrajectory(d, 3.0), noise_dbfs=-20.0, rng=np.random.default_rng(7),
                    taps=TAPS, skip_lead=skip)

    lead = make("auto").lead
    assert lead == math.floor(d * fs) - TAPS // 2 - LEAD_MARGIN == 3830
    bursts = _bursts(fs, [0, 50_000, 400_000, 1_000_000])
    idx = _check_against_reference(make, bursts, lead)
    # what the wire shows: every burst's output starts exactly `lead` after its input index
    firsts = [idx[np.searchsorted(idx, i)] for i, _, _ in bursts]
    assert [f - i for f, (i, _, _) in zip(firsts, bursts)] == [lead] * len(bursts)


def test_linear_link_reveals_only_the_configured_minimum_delay():
    """The delay grows by 20 samples between the bursts; the output still starts `lead` after each input:
    the offset on the wire is the configured minimum (at t = 0), not the delay of the moment."""
    fs = 1e6

    def make(skip):
        return Link("dl", fs, 2e9, LinearTrajectory(1e-3, 1e-5), noise_dbfs=-30.0, rng=np.random.default_rng(3),
                    taps=TAPS, skip_lead=skip)

    lead = make("auto").lead
    assert lead == 1000 - TAPS // 2 - LEAD_MARGIN
    bursts = _bursts(fs, [0, 1_000_000, 2_000_000])
    idx = _check_against_reference(make, bursts, lead)
    assert [int(idx[np.searchsorted(idx, i)]) - i for i, _, _ in bursts] == [lead] * 3


def test_a_burst_right_after_a_short_gap_is_not_cut_again():
    """A gap shorter than the channel memory is run as zeros: the bursts are one run, one lead."""
    fs = 1e6
    lk = Link("dl", fs, 0.0, ConstantTrajectory(100e-6), taps=TAPS, skip_lead="auto")
    idx, _ = _cat(lk.accept(0, np.ones(50, np.complex64)) + lk.accept(60, np.ones(50, np.complex64),
                                                                      end_of_burst=True))
    np.testing.assert_array_equal(idx, np.arange(lk.lead, 110 + lk.memory(0)))
    assert lk.samples_lead == lk.lead and lk.samples_out == idx.size


@pytest.fixture(scope="module")
def sgp4_pass():
    orbit = pytest.importorskip("hil.orbit")
    shell = orbit.preset("starlink-1584")
    g = orbit.GroundStation(36.0, 90.0, 0.0)
    p = max((p for p in orbit.find_passes(shell[200:240], g, EPOCH, 1200.0)
             if not p.aos_clipped and not p.los_clipped), key=lambda p: p.max_elevation_deg)
    track = orbit.make_track(shell[200 + p.sat_index], g, EPOCH, p.los_s - p.aos_s + 20.0, 1e-2,
                             start_s=p.aos_s - 10.0)
    return OrbitTrajectory(track, 2e9), p


def test_lead_never_exceeds_the_delay_over_an_sgp4_pass(sgp4_pass):
    traj, p = sgp4_pass
    fs = 30.72e6
    lead = declared_lead(traj, fs, TAPS)
    t = np.r_[np.arange(traj.t0, traj.t1, 0.05), np.arange(p.tca_s - 2.0, p.tca_s + 2.0, 1e-4), traj.t1]
    d = np.asarray(traj.delay(t)) * fs
    # output i + lead - 1 reads inputs up to floor(i + lead - 1 - D) + taps/2: before i for every D
    assert lead - 1 - d.min() + TAPS // 2 < 0
    # ... and the bound is tight: a few samples below the pass's minimum at 30.72 MSPS, not a guess
    assert lead >= d.min() - TAPS // 2 - LEAD_MARGIN - 3
    assert min_delay_s(traj, traj.t0, traj.t1) <= d.min() / fs


def test_orbit_link_near_closest_approach_sends_the_reference_samples(sgp4_pass):
    traj, p = sgp4_pass
    fs = 1.92e6
    t0 = traj.t0

    def make(skip):
        return Link("dl", fs, 2e9, traj, gain_db=150.0, noise_dbfs=-30.0, rng=np.random.default_rng(4),
                    epoch=t0, taps=TAPS, skip_lead=skip)

    lead = make("auto").lead
    tca = int((p.tca_s - t0) * fs)
    bursts = _bursts(fs, [tca - 400_000, tca, tca + 2_000_000, int((p.los_s - 60 - t0) * fs)], n=2000)
    idx = _check_against_reference(make, bursts, lead)
    # the lead is the pass's minimum delay (taps/2 + margin less), and the wire shows only that: from closest
    # approach to a minute before LOS the delay grows by milliseconds, the output's first index does not move
    assert lead == math.floor(min_delay_s(traj, traj.t0, traj.t1) * fs) - TAPS // 2 - LEAD_MARGIN
    assert [int(idx[np.searchsorted(idx, i)]) - i for i, _, _ in bursts] == [lead] * len(bursts)


def test_min_delay_closed_forms():
    assert min_delay_s(ConstantTrajectory(2e-3), 0.0) == 2e-3
    assert min_delay_s(LinearTrajectory(1e-3, 2e-6), 5.0) == pytest.approx(1e-3 + 1e-5)
    assert min_delay_s(LinearTrajectory(1e-3, -2e-6), 0.0) is None        # unbounded: it shrinks forever
    assert min_delay_s(LinearTrajectory(1e-3, -2e-6), 0.0, 100.0) == pytest.approx(1e-3 - 2e-4)
    cp = CircularPass(550e3, 2e9, offset_deg=3.0, t_closest_s=100.0)
    t = np.linspace(-2000, 2000, 400_001)
    assert min_delay_s(cp, 0.0) == pytest.approx(float(np.min(cp.delay(t))), abs=1e-12)
    ho = HandoverTrajectory([(0.0, ConstantTrajectory(3e-3)), (1.0, None), (2.0, LinearTrajectory(2e-3, 1e-6))])
    assert min_delay_s(ho, 0.0) == pytest.approx(2e-3 + 2e-6)
    # a link whose minimum is unknown leaves nothing out
    lk = Link("dl", 1e6, 0.0, LinearTrajectory(5e-3, -1e-6), taps=TAPS, skip_lead="auto")
    assert lk.lead == 0


# ------------------------------------------------------------------ configuration
def _cfg(skip, wire="framed", delay=2e-3):
    return dict(sample_rate_hz=1.92e6, endpoints=[
        dict(name="tx", address="inproc://lead-tx", pattern="pull", wire="framed"),
        dict(name="rx", address="inproc://lead-rx", pattern="push", wire=wire)],
        links=[dict(name="l", source="tx", sink="rx", skip_lead=skip,
                    trajectory=[dict(kind="constant", delay_s=delay)])])


@pytest.mark.parametrize("skip, lead", [("auto", 3830), (0, 0), (1e-3, 1920), ("1e-3", 1920)])
def test_skip_lead_values(skip, lead):
    assert build_links(parse(EmulatorConfig, _cfg(skip)))["l"].lead == lead


def test_a_raw_output_skips_no_lead_by_default():
    assert build_links(parse(EmulatorConfig, _cfg("auto", wire="raw")))["l"].lead == 0


@pytest.mark.parametrize("skip, wire, match", [
    ("soon", "framed", r"links\[0\]\.skip_lead: got 'soon'; allowed: 'auto', 0"),
    (-1e-3, "framed", r"links\[0\]\.skip_lead: got -0\.001; allowed: 'auto', 0"),
    (1e-3, "raw", r"links\[0\]\.skip_lead: got 0\.001; allowed: 'auto' or 0 \(sink rx is a raw output"),
    (2.5e-3, "framed", r"links\.l\.skip_lead: got 0\.0025; allowed: 'auto', 0 \(off\) or seconds <= 0\.00199"),
    (None, "framed", r"links\[0\]\.skip_lead: got None"),
])
def test_bad_skip_lead_is_one_line(skip, wire, match):
    with pytest.raises(ConfigError, match=match) as exc:
        build_links(parse(EmulatorConfig, _cfg(skip, wire=wire)))
    assert "\n" not in str(exc.value)
