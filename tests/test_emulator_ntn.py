"""NTN-TDL profiles (TR 38.811 Tables 6.9.2-1..4) as emulator paths."""

import numpy as np
import pytest

from dsp.delay import ChannelStream, ConstantDelay
from hil.config import parse
from hil.emulator.config import EmulatorConfig
from hil.emulator.ntn_tdl import LOS_K_DB, PROFILES, ntn_tdl_paths, profile_table
from hil.errors import ConfigError


@pytest.mark.parametrize("name", ["C", "D"])
def test_los_profiles_have_the_published_k_factor(name):
    los = [p for _, p, k in PROFILES[name] if k == "los"]
    ray0 = [p for d, p, k in PROFILES[name] if k == "rayleigh" and d == 0.0]
    assert los[0] - ray0[0] == pytest.approx(LOS_K_DB[name], abs=1e-9)


@pytest.mark.parametrize("name", ["NTN-TDL-A", "NTN-TDL-B", "NTN-TDL-C", "NTN-TDL-D"])
def test_paths_carry_the_table_powers_and_scaled_delays(name):
    ds, fs = 300e-9, 30.72e6
    delays, powers, kinds = profile_table(name, ds)
    assert powers.sum() == pytest.approx(1.0)
    paths = ntn_tdl_paths(name, ds, fs, np.random.default_rng(1), max_doppler_hz=100.0, sinusoids=6)
    n_rayleigh = sum(k == "rayleigh" for k in kinds)
    assert len(paths) == 6 * n_rayleigh + (len(kinds) - n_rayleigh)
    for d in np.unique(delays):
        want = powers[delays == d].sum()
        got = sum(abs(p.gain) ** 2 for p in paths if p.delay == pytest.approx(d * fs))
        assert got == pytest.approx(want, rel=1e-9)
    assert max(abs(p.doppler) for p in paths) <= 100.0 / fs
    assert max(p.delay for p in paths) == pytest.approx(delays.max() * fs)


def test_fading_through_the_emulator_stays_within_max_doppler_and_unit_power():
    fs, fd = 4e3, 40.0
    paths = ntn_tdl_paths("NTN-TDL-A", 100e-9, fs, np.random.default_rng(3), max_doppler_hz=fd, sinusoids=8)
    n = 1 << 15
    y = ChannelStream(fs, 0.0, ConstantDelay(5e-3), paths=paths).process(np.ones(n, np.complex64))[100:]
    spec = np.abs(np.fft.fft(y * np.hanning(len(y)))) ** 2
    f = np.fft.fftfreq(len(y), 1 / fs)
    assert spec[np.abs(f) > fd + 4].sum() < 1e-6 * spec.sum()     # classical spectrum: |f| <= f_max
    # distinct sinusoids: the time average of |y|^2 is the sum of the path powers, 1
    assert np.mean(np.abs(y) ** 2) == pytest.approx(1.0, rel=0.3)
    env = np.abs(y)
    assert env.max() / max(env.min(), 1e-9) > 3                    # it does fade


def test_config_takes_a_profile_and_refuses_it_with_paths():
    base = {"sample_rate_hz": 1e6, "endpoints": [{"name": "tx", "address": "tcp://127.0.0.1:*", "pattern": "pull"},
                                                 {"name": "rx", "address": "tcp://127.0.0.1:*", "pattern": "push"}]}
    link = {"name": "l", "source": "tx", "sink": "rx", "ntn_tdl": "NTN-TDL-D", "delay_spread_s": 250e-9}
    cfg = parse(EmulatorConfig, {**base, "links": [link]})
    assert cfg.links[0].ntn_tdl == "NTN-TDL-D"
    with pytest.raises(ConfigError, match="ntn_tdl"):
        parse(EmulatorConfig, {**base, "links": [{**link, "paths": [{"gain_db": 0}]}]})
    with pytest.raises(ConfigError, match="ntn_tdl"):
        parse(EmulatorConfig, {**base, "links": [{**link, "ntn_tdl": "TDL-E"}]})
