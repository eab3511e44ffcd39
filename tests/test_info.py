"""``hil info`` names what to install for every optional library or SDR tool that is missing (the same
things whose tests skip with a reason on a fresh machine)."""

import os
import shutil

import hil.commands.info as info
from hil.cli import main


def test_missing_libraries_and_tools_name_their_install_command(monkeypatch, capsys):
    monkeypatch.setattr(info, "_has", lambda mod: False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("HIL_GNURADIO_PYTHON", "/nonexistent/python3")
    exists = os.path.exists
    monkeypatch.setattr(os.path, "exists", lambda p: not str(p).endswith("libleohilSupport.so") and exists(p))
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    missing = [line for line in out.splitlines() if " no  - " in line]
    assert len(missing) == 7, out   # pyadi-iio, libiio, SoapySDR binding, GNU Radio, iio_attr, SoapySDRUtil, module
    for line in missing:
        assert "apt-get install" in line or "pip install" in line, line
    assert "apt-get install gnuradio" in out and "scripts/build_soapy_module" in out


def test_present_things_say_yes(monkeypatch, capsys):
    monkeypatch.setattr(info, "_has", lambda mod: True)
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for what in ("pyadi-iio", "pylibiio/libiio", "SoapySDR binding", "iio_attr", "SoapySDRUtil"):
        line = next(x for x in out.splitlines() if what in x)
        assert line.rstrip().endswith("yes"), line
