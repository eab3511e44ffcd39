"""The shared Radio suite against a real device: ``pytest --hardware=URI`` (skipped otherwise).

``ip:...`` / ``usb:...`` selects the Pluto backend, ``driver=...`` the SoapySDR backend. The profile
comes from ``HIL_HW_PROFILE`` (default pluto_ad9363 / usrp_b210). Real radios do not loop back
bit-exactly and cannot inject faults, so those tests skip; lifecycle, validation against the profile,
read-back of applied settings and metadata run exactly as on the mock.
"""

import os

import pytest

from hil.backends import make_radio
from tests.radio_suite import RadioSuite


def _backend(uri: str) -> tuple[str, str]:
    if uri.startswith(("ip:", "usb:", "local:")):
        return "pluto", os.environ.get("HIL_HW_PROFILE", "pluto_ad9363")
    if "driver=" in uri:
        return "soapy", os.environ.get("HIL_HW_PROFILE", "usrp_b210")
    raise pytest.UsageError(f"--hardware={uri!r}: expected ip:/usb: (Pluto) or driver=... (SoapySDR) args")


@pytest.mark.hardware
class TestHardwareRadio(RadioSuite):
    loopback = False
    can_inject = False
    natural_underflow = False
    timed_tx = False

    @pytest.fixture(autouse=True)
    def _device(self, hardware_uri):
        self.uri = hardware_uri

    def make_radio(self, **options):
        kind, profile = _backend(self.uri)
        return make_radio(kind, profile, self.uri, **options)
