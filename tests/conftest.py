"""Shared pytest configuration.

Hardware tests are opt-in: mark them ``@pytest.mark.hardware`` and they are skipped unless a device
is named with ``--hardware=URI`` (e.g. ``--hardware=ip:192.168.2.1`` or ``--hardware=driver=uhd``).
The same test bodies run against the mock through fixtures.
"""

import os

# Multi-threaded BLAS on a shared 2-core machine turns a 64x64 solve from ~2 ms into ~200 ms;
# the tests' dense LMMSE references are small, so one thread is both faster and repeatable.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# CI machines are shared and slow; hypothesis deadlines would only measure the neighbours.
settings.register_profile("ci", deadline=None, max_examples=40, print_blob=True)
settings.register_profile("dev", deadline=None, max_examples=25)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_addoption(parser):
    parser.addoption("--hardware", action="store", default=None, metavar="URI",
                     help="run @pytest.mark.hardware tests against this device URI / SoapySDR args")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--hardware"):
        return
    skip = pytest.mark.skip(reason="hardware test: pass --hardware=URI to run it")
    for item in items:
        if "hardware" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def hardware_uri(request):
    return request.config.getoption("--hardware")


@pytest.fixture
def rng(request):
    """A seeded Generator per test (seed from the test's name, so runs are reproducible)."""
    seed = abs(hash(request.node.nodeid)) % (2**32) if os.environ.get("HIL_RANDOM_SEEDS") else \
        sum(map(ord, request.node.nodeid))
    return np.random.default_rng(seed)
