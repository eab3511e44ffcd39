"""Scenario loading: good files parse into typed objects; bad ones name file, field, value, allowed."""

import glob
import os
from dataclasses import dataclass, field

import pytest

from hil.config import parse, spec, to_dict
from hil.errors import ConfigError, HILError, StreamError, StreamOverflow, stream_error
from hil.scenario import Scenario, WaveformConfig, load_scenario

HERE = os.path.dirname(__file__)
BAD = os.path.join(HERE, "data", "bad_scenarios")
ROOT = os.path.dirname(HERE)


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "scenarios", "*.yaml"))))
def test_shipped_scenarios_validate(path):
    sc = load_scenario(path)
    assert isinstance(sc, Scenario) and sc.name


# (file, field path in the error, fragment of the allowed text)
BAD_CASES = [
    ("negative_rate.yaml", "sample_rate_hz", "> 0"),
    ("unknown_waveform.yaml", "waveforms[1].kind", "'otfs'"),
    ("typo_field.yaml", "carier_hz", "no such field"),
    ("wrong_type.yaml", "waveforms[0].M", "an integer"),
    ("qam_order.yaml", "waveforms[0].qam", "one of 4, 16, 64"),
    ("missing_name.yaml", "name", "required"),
    ("cross_field.yaml", "sample_rate_hz", "< carrier_hz"),
    ("tracking_mode.yaml", "tracking.mode", "'ephemeris', 'blind', 'none'"),
    ("compare_repeats_mode.yaml", "tracking.compare[0]", "a mode other than 'blind'"),
    ("ground_latitude.yaml", "orbit.ground.lat_deg", "<= 90 deg"),
]


@pytest.mark.parametrize("fname, fld, allowed", BAD_CASES)
def test_bad_file_error_names_file_field_value_allowed(fname, fld, allowed):
    path = os.path.join(BAD, fname)
    with pytest.raises(ConfigError) as err:
        load_scenario(path)
    msg = str(err.value)
    assert msg.startswith(path + ": "), msg
    assert f": {fld}: " in msg, msg
    assert allowed in msg, msg
    assert err.value.field == fld


def test_bad_values_are_quoted_in_the_message():
    with pytest.raises(ConfigError, match=r"got 'cdma'"):
        load_scenario(os.path.join(BAD, "unknown_waveform.yaml"))
    with pytest.raises(ConfigError, match=r"got -1\.0"):
        load_scenario(os.path.join(BAD, "negative_rate.yaml"))


def test_yaml_syntax_error_names_line():
    path = os.path.join(BAD, "not_yaml.yaml")
    with pytest.raises(ConfigError, match=r"not_yaml\.yaml: not valid YAML \(line \d+, column \d+\)"):
        load_scenario(path)


def test_missing_file():
    with pytest.raises(ConfigError, match="no such file"):
        load_scenario(os.path.join(BAD, "does_not_exist.yaml"))


def test_round_trip_through_dict():
    sc = load_scenario(os.path.join(ROOT, "scenarios", "ofdm_vs_otfs_sband.yaml"))
    again = parse(Scenario, to_dict(sc), source="dict")
    assert again == sc
    assert again.waveforms[0] == WaveformConfig("otfs", 64, 16, 4)


@dataclass(frozen=True)
class _Inner:
    gain_db: float = field(default=0.0, metadata=spec(ge=-90, le=0, unit="dB"))


@dataclass(frozen=True)
class _Outer:
    ids: tuple[int, ...] = ()
    inner: _Inner = field(default_factory=_Inner)
    pair: tuple[float, float] = (0.0, 0.0)
    table: dict[str, float] = field(default_factory=dict)
    opt: int | None = None


def test_generic_types_and_bounds():
    o = parse(_Outer, {"ids": [1, 2], "inner": {"gain_db": -3}, "pair": [1, 2.5], "table": {"a": 1},
                       "opt": None})
    assert o == _Outer((1, 2), _Inner(-3.0), (1.0, 2.5), {"a": 1.0}, None)
    with pytest.raises(ConfigError, match=r"x\.yaml: inner\.gain_db: got 3\.0; allowed: >= -90 dB and <= 0 dB"):
        parse(_Outer, {"inner": {"gain_db": 3}}, source="x.yaml")
    with pytest.raises(ConfigError, match=r"pair: got \[1\]; allowed: a list of exactly 2 items"):
        parse(_Outer, {"pair": [1]})
    with pytest.raises(ConfigError, match=r"table\.b: got 'x'; allowed: a number"):
        parse(_Outer, {"table": {"b": "x"}})
    with pytest.raises(ConfigError, match=r"ids\[1\]: got True; allowed: an integer"):
        parse(_Outer, {"ids": [1, True]})
    with pytest.raises(ConfigError, match=r"inner\.gain_db: got inf; allowed: a finite number"):
        parse(_Outer, {"inner": {"gain_db": float("inf")}})


def test_error_hierarchy():
    assert issubclass(ConfigError, ValueError) and issubclass(ConfigError, HILError)
    e = stream_error("overflow", "lost 12 samples", count=12)
    assert isinstance(e, StreamOverflow) and isinstance(e, StreamError)
    assert (e.kind, e.count) == ("overflow", 12)
    assert stream_error("timeout", "t").kind == "timeout"
    assert stream_error("underflow", "u").kind == "underflow"
    with pytest.raises(ConfigError, match="kind: got 'melted'"):
        stream_error("melted", "x")
