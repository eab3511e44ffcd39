"""firmware_cfg profiles: every shipped profile validates, matches the published device limits, and a
broken profile fails with the file, the field, the value and what is allowed."""

import os

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from firmware_cfg import SETTINGS, list_profiles, load_profile
from firmware_cfg.profile import PROFILE_DIR, Range
from hil.cli import main
from hil.errors import ConfigError

REQUIRED = ("mock", "pluto_ad9363", "pluto_ad9364", "pluto_2r2t", "usrp_b210", "usrp_x310")


def test_the_contract_profiles_exist():
    assert set(REQUIRED) <= set(list_profiles())


@pytest.mark.parametrize("name", list_profiles())
def test_every_profile_validates_and_its_defaults_are_allowed(name):
    p = load_profile(name)
    assert p.name == name
    for s in SETTINGS:
        d = p.default(s)
        kw = {"frequency": p.default(s[:2] + "_frequency")} if s.endswith("_gain") else {}
        if s.endswith("_antenna") and d is None:
            continue
        assert p.check(s, d, **kw) is not None or d is None


# Published limits (../shared/REFERENCES.md): an independent check that the YAML says what the docs say.
@pytest.mark.parametrize("name,lo,hi,bw_max", [
    ("pluto_ad9363", 325e6, 3.8e9, 20e6), ("pluto_ad9364", 70e6, 6e9, 56e6), ("pluto_2r2t", 70e6, 6e9, 56e6),
    ("usrp_b210", 70e6, 6e9, 56e6)])
def test_frequency_and_bandwidth_limits_match_the_references(name, lo, hi, bw_max):
    p = load_profile(name)
    for d in (p.rx, p.tx):
        assert (d.frequency.min, d.frequency.max) == (lo, hi)
        assert d.bandwidth.max == bw_max
        assert d.bandwidth.min == 200e3


def test_pluto_specifics_match_the_references():
    for name in ("pluto_ad9363", "pluto_ad9364", "pluto_2r2t"):
        p = load_profile(name)
        assert p.sample_rate.range.min == 521e3 and p.sample_rate.range.max == 61.44e6
        assert (p.tx.gain.range.min, p.tx.gain.range.max, p.tx.gain.range.step) == (-89.75, 0.0, 0.25)
        assert set(p.rx.gain.modes) == {"manual", "slow_attack", "fast_attack", "hybrid"}
        assert p.default_uri == "ip:192.168.2.1"
        assert p.throughput.max_sustained_sps == 5e6
    assert load_profile("pluto_2r2t").sample_rate.max_multichannel_hz == 30.72e6
    assert len(load_profile("pluto_2r2t").rx.channels) == 2
    assert load_profile("usrp_x310").sample_rate.master_clocks_hz == [200e6, 184.32e6]


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(ConfigError, match="profile: got 'pluto'; allowed: one of mock, pluto_2r2t"):
        load_profile("pluto")


def _broken(tmp_path, name="pluto_ad9363", edit=None, fname=None):
    data = yaml.safe_load(open(os.path.join(PROFILE_DIR, f"{name}.yaml")))
    edit(data)
    path = tmp_path / (fname or f"{name}.yaml")
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.mark.parametrize("edit,field,needle", [
    (lambda d: d["rx"]["frequency"].update(min=4e9), "rx.frequency.min", "<= max (3800000000.0)"),
    (lambda d: d["defaults"].update(rx_frequency=6e9), "defaults.rx_frequency", "325 MHz..3.8 GHz"),
    (lambda d: d["rx"].update(frequncy=1), "rx.frequncy", "no such field; known fields: channels, frequency"),
    (lambda d: d.pop("default_uri"), "default_uri", "missing; required"),
    (lambda d: d["rx"]["gain"].update(default_mode="agc"), "rx.gain.default_mode", "one of manual, slow_attack"),
    (lambda d: d["sample_rate"]["range"].update(step=-1), "sample_rate.range.step", ">= 0"),
    (lambda d: d.update(backend="hackrf"), "backend", "one of 'mock', 'pluto', 'soapy'"),
    (lambda d: d["rx"].update(channels=[]), "rx.channels", "at least 1 item"),
    (lambda d: d["fir"][0].update(file="nope.ftr"), "fir[0].file", "a file in"),
    (lambda d: d["rx"]["gain"]["bands"][0].update(max=99), "rx.gain.bands[0]", "inside the gain range"),
    (lambda d: d.update(name="other"), "name", "'pluto_ad9363' (the file name without .yaml)"),
])
def test_a_broken_profile_names_file_field_value_and_allowed(tmp_path, edit, field, needle):
    path = _broken(tmp_path, edit=edit)
    with pytest.raises(ConfigError) as ex:
        load_profile(path)
    msg = str(ex.value)
    assert msg.startswith(path + ": ") and field in msg and needle in msg, msg


def test_profiles_cli_validates_and_fails_on_a_broken_file(tmp_path, capsys):
    assert main(["profiles", "validate"]) == 0
    out = capsys.readouterr().out
    assert out.count("ok ") == len(list_profiles()) + 1  # + the shipped .ftr
    bad = _broken(tmp_path, edit=lambda d: d["tx"]["gain"]["range"].update(max=-100.0))
    assert main(["profiles", "validate", bad]) == 2
    assert "FAIL" in capsys.readouterr().out
    assert main(["profiles", "show", "usrp_x310"]) == 0
    assert "184.32 MHz / an integer 1..1024" in capsys.readouterr().out
    assert main(["profiles"]) == 0


@given(st.floats(-1e3, 1e3), st.floats(0.01, 10), st.floats(-2e3, 2e3))
def test_range_quantise_stays_inside_and_on_grid(lo, step, v):
    r = Range(lo, lo + 100 * step, step)
    if r.contains(v):
        q = r.quantise(v)
        assert r.min <= q <= r.max
        assert abs(q - v) <= step / 2 + 1e-9 * max(1, abs(v))
        k = (q - r.min) / step
        assert abs(k - round(k)) < 1e-6


@given(st.floats(1e3, 3e8))
def test_x310_rates_are_master_clock_over_integer(rate):
    p = load_profile("usrp_x310")
    try:
        q = p.check("sample_rate", rate)
    except ConfigError as exc:
        assert "200 MHz or 184.32 MHz / an integer" in str(exc)
        return
    assert any(abs(m / q - round(m / q)) < 1e-9 and 1 <= round(m / q) <= 1024 for m in (200e6, 184.32e6))
    assert abs(q - rate) <= 1e-3 * rate


def test_gain_bands_pick_the_range_at_the_lo():
    g = load_profile("pluto_ad9364").rx.gain
    assert (g.range_at(1e9).min, g.range_at(1e9).max) == (-1, 73)
    assert (g.range_at(2.4e9).min, g.range_at(2.4e9).max) == (-3, 71)
    assert (g.range_at(5.8e9).min, g.range_at(5.8e9).max) == (-10, 62)
