"""The ``hil`` command: help lists exactly the subcommands that exist; errors are one clear line."""

import os
import re
import subprocess
import sys

import pytest

import hil.commands
from hil.cli import _command_modules, build_parser, main

ROOT = os.path.dirname(os.path.dirname(__file__))


def test_help_lists_every_registered_command_and_only_those(capsys):
    with pytest.raises(SystemExit) as ex:
        main(["--help"])
    assert ex.value.code == 0
    out = capsys.readouterr().out
    names = [m.NAME for m in _command_modules()]
    assert "info" in names and "check" in names
    for name in names:
        assert re.search(rf"^ {{4}}{re.escape(name)}(\s|$)", out, re.M), name
    # every file in hil/commands/ that is a command shows up; nothing else is listed as a command
    listed = [line.split()[0] for line in out.split("commands:")[1].splitlines()[2:]
              if line.startswith("    ") and not line.startswith("     ")]
    assert sorted(listed) == sorted(names)
    assert hil.commands.__path__


@pytest.mark.parametrize("name", [m.NAME for m in _command_modules()])
def test_each_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as ex:
        build_parser().parse_args([name, "--help"])
    assert ex.value.code == 0
    assert f"usage: hil {name}" in capsys.readouterr().out


def test_info_reports_kernels(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "_nco" in out and "kernels:" in out


def test_check_good_and_bad(capsys):
    good = os.path.join(ROOT, "scenarios", "ofdm_vs_otfs_sband.yaml")
    bad = os.path.join(ROOT, "tests", "data", "bad_scenarios", "negative_rate.yaml")
    assert main(["check", good]) == 0
    assert main(["check", good, bad]) == 2
    out = capsys.readouterr().out
    assert "ok   " in out and "FAIL " in out and "sample_rate_hz: got -1.0" in out


def test_console_entry_point_runs():
    r = subprocess.run([sys.executable, "-m", "hil", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.startswith("hil ")


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage: hil" in capsys.readouterr().out


def test_check_validates_emulator_files_and_scenario_emulator_sections(tmp_path, capsys):
    import glob

    files = sorted(glob.glob(os.path.join(ROOT, "scenarios", "emulator", "*.yaml")))
    assert files and main(["check", *files]) == 0
    assert capsys.readouterr().out.count("emulator file") == len(files)
    # an emulator section inside an experiment scenario is validated with the scenario
    bad = tmp_path / "with_emulator.yaml"
    bad.write_text("name: x\nemulator:\n  name: e\n  sample_rate_hz: -5\n")
    assert main(["check", str(bad)]) == 2
    assert "emulator.sample_rate_hz: got -5" in capsys.readouterr().out
