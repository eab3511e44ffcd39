"""The SoapySDR module driver=leohil for the tests: the one scripts/build_soapy_module left in
build/soapy/ when it is newer than its source (CI builds it in its own step), else a fresh build with
that script into a temporary folder; a skip with the reason when it cannot be built here."""

import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = os.path.join(ROOT, "soapy", "LeoHilDevice.cpp")
SCRIPT = os.path.join(ROOT, "scripts", "build_soapy_module")


def module_dir(tmp_path_factory) -> str:
    prebuilt = os.path.join(ROOT, "build", "soapy", "libleohilSupport.so")
    if os.path.exists(prebuilt) and os.path.getmtime(prebuilt) >= max(os.path.getmtime(SOURCE),
                                                                       os.path.getmtime(SCRIPT)):
        return os.path.dirname(prebuilt)
    if shutil.which("g++") is None or shutil.which("pkg-config") is None:
        pytest.skip("g++ / pkg-config not installed (needed to build the SoapySDR module)")
    for pc in ("SoapySDR", "libzmq"):
        if subprocess.run(["pkg-config", "--exists", pc]).returncode != 0:
            pytest.skip(f"pkg-config finds no {pc} (apt-get install libsoapysdr-dev libzmq3-dev)")
    out = tmp_path_factory.mktemp("soapy_module")
    r = subprocess.run([SCRIPT], env={**os.environ, "OUT": str(out)}, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (out / "libleohilSupport.so").exists()
    return str(out)
