"""Transparent (bent-pipe) relay: two emulator Links in series; Dopplers compose (closed form)."""

import numpy as np
import pytest

from hil.emulator.link import Link
from hil.errors import ConfigError
from hil.network import CircularOrbitMotion, FixedMotion, Node, PairTrajectory
from hil.network.relay import TransparentRelay
from hil.orbit import C_MPS

FS = 400e3
FU, FD = 2.0e9, 2.2e9


def _bent_pipe(delta=150.0, gain_db=0.0, noise_up=None):
    sat = Node("sat", "satellite", CircularOrbitMotion(550e3, inclination_deg=0.0, phase_deg=-1.0))
    gw = Node("gw", "gateway", FixedMotion(1.0, -3.0, 0.0))
    ut = Node("ut", "terminal", FixedMotion(-1.0, 4.0, 0.0))
    up_tr, dn_tr = PairTrajectory(gw, sat, FU), PairTrajectory(sat, ut, FD)
    up = Link("up", FS, FU, up_tr, gain_db=160.0, max_delay=0.03, noise_dbfs=noise_up, rng=np.random.default_rng(1))
    dn = Link("dn", FS, FD, dn_tr, gain_db=160.0, max_delay=0.03)
    return TransparentRelay("sat", up, dn, gain_db=gain_db, translation_offset_hz=delta), up_tr, dn_tr


def _run(relay, n, chunk=30011):
    x = np.ones(n, np.complex64)
    out = {}
    for a in range(0, n, chunk):
        for n0, y, _ in relay.accept(a, x[a:a + chunk], end_of_burst=a + chunk >= n):
            out[n0] = y
    for n0, y, _ in relay.finish():
        out[n0] = y
    first = min(out)
    last = max(k + len(v) for k, v in out.items())
    y = np.zeros(last - first, np.complex64)
    for k, v in out.items():
        y[k - first:k - first + len(v)] = v
    return first, y


def test_bent_pipe_doppler_composes():
    relay, up_tr, dn_tr = _bent_pipe()
    first, y = _run(relay, 200_000)
    assert first == 0
    t = np.arange(60_000, 180_000) / FS
    z = y[60_000:180_000].astype(np.complex128)
    for a in range(0, t.size, 40_000):  # three windows along the pass
        tt, zz = t[a:a + 40_000], z[a:a + 40_000]
        tc = tt.mean()
        f = np.polyfit(tt - tc, np.unwrap(np.angle(zz)), 3)[-2] / (2 * np.pi)
        # closed form from the two hops' range rates, written out here (not the relay's method)
        td = dn_tr.geometry(tc)["range_m"][0] / C_MPS
        ru = up_tr.geometry(tc - td)["range_rate_mps"][0] / C_MPS
        rd = dn_tr.geometry(tc)["range_rate_mps"][0] / C_MPS
        ref = (-FU * ru + 150.0) * (1 - rd) - FD * rd
        assert f == pytest.approx(ref, abs=0.1)
        assert float(relay.total_doppler_hz(tc)) == pytest.approx(ref, abs=1e-6)
        # the plain sum misses the cross term by more than the tolerance: the composition matters
        assert abs((-FU * ru + 150.0) - FD * rd - ref) > 0.2
    assert abs(ref) > 10e3  # a real LEO Doppler


def test_bent_pipe_delay_and_gain():
    relay, up_tr, dn_tr = _bent_pipe(delta=0.0, gain_db=-6.0)
    _, y = _run(relay, 40_000)
    tau = float(relay.total_delay_s(0.05))
    arrive = int(np.argmax(np.abs(y) > 1e-3 * np.abs(y[20_000])))
    assert abs(arrive - tau * FS) <= 9  # first sample above the interpolator's leading edge (taps/2 + 1)
    g = relay.geometry_at(20_000)
    want_db = 160 - g["uplink"]["path_loss_db"] + 160 - g["downlink"]["path_loss_db"] - 6.0
    assert 20 * np.log10(np.abs(y[20_000])) == pytest.approx(want_db, abs=0.05)


def test_relay_off_transmits_nothing_and_noise_is_relayed():
    relay, _, dn_tr = _bent_pipe(noise_up=-20.0)
    relay.set_on(False, 0.05)
    _, y = _run(relay, 60_000)
    td = float(dn_tr.delay(0.1))
    off_from = int((0.05 + td) * FS) + 40
    assert np.all(y[off_from:60_000] == 0)           # no downlink noise configured: silence
    on = y[10_000:int(0.05 * FS)]
    assert np.all(np.abs(on) > 0) and relay.samples_blanked > 0
    with pytest.raises(ConfigError, match="relays.x.downlink"):
        TransparentRelay("x", relay.uplink, relay.uplink)
