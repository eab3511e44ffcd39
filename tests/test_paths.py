"""Shipped scenarios are found by bare name from any directory (hil/paths.py), in a checkout and as
the package data a non-editable install carries (setup.py's build_py copies scenarios/ to hil/scenarios/)."""

import os

import pytest

import hil.paths as paths
from hil.errors import ConfigError
from hil.paths import resolve_scenario, scenarios_dir, shipped_scenarios

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_bare_names_resolve_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    want = os.path.join(ROOT, "scenarios", "s_band_pass.yaml")
    for name in ("s_band_pass", "s_band_pass.yaml", "scenarios/s_band_pass.yaml"):
        assert os.path.samefile(resolve_scenario(name), want)
    assert os.path.samefile(resolve_scenario("emulator/leo_pass_sband"),
                            os.path.join(ROOT, "scenarios", "emulator", "leo_pass_sband.yaml"))
    # an existing path wins over a shipped name
    (tmp_path / "demo.yaml").write_text("name: mine\n")
    assert resolve_scenario("demo.yaml") == "demo.yaml"


def test_every_file_in_the_folder_is_listed():
    listed = set(shipped_scenarios())
    on_disk = {os.path.relpath(os.path.join(d, f), os.path.join(ROOT, "scenarios")).replace(os.sep, "/")
               for d, _, fs in os.walk(os.path.join(ROOT, "scenarios")) for f in fs if f.endswith(".yaml")}
    assert listed == on_disk and "demo.yaml" in listed


def test_unknown_name_names_the_field_the_value_and_the_shipped_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as ei:
        resolve_scenario("no_such_pass", "--scenario")
    msg = str(ei.value)
    assert "--scenario" in msg and "no_such_pass" in msg and "s_band_pass.yaml" in msg
    with pytest.raises(ConfigError):  # no escaping the scenarios folder
        resolve_scenario("../setup.py")


def test_installed_package_data_is_used_without_a_checkout(tmp_path, monkeypatch):
    # Lay out what a wheel installs: site/hil/paths.py next to site/hil/scenarios/ (no checkout above).
    pkg = tmp_path / "site" / "hil"
    (pkg / "scenarios" / "emulator").mkdir(parents=True)
    (pkg / "scenarios" / "demo.yaml").write_text("name: demo\n")
    (pkg / "scenarios" / "emulator" / "x.yaml").write_text("name: x\n")
    monkeypatch.setattr(paths, "_PKG", str(pkg))
    assert scenarios_dir() == str(pkg / "scenarios")
    assert resolve_scenario("demo") == str(pkg / "scenarios" / "demo.yaml")
    assert shipped_scenarios() == ["demo.yaml", "emulator/x.yaml"]
