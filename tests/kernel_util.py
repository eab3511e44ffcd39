"""Helpers for compiled-vs-twin kernel tests."""

import os

import pytest

from dsp._kernels import load_compiled, load_twin, pure_python


def kernel_pair(name):
    """(compiled, twin) modules of kernel ``name``.

    In pure-Python mode (HIL_PURE_PYTHON=1) both are the twin, so the same tests still check the twin
    against the independent closed forms in each test. If the compiled module is not built the test is
    skipped - unless HIL_REQUIRE_COMPILED=1 (as in CI), where a missing build fails the test.
    """
    twin = load_twin(name)
    if pure_python():
        return twin, twin
    try:
        return load_compiled(name), twin
    except ImportError as exc:
        if os.environ.get("HIL_REQUIRE_COMPILED", "").strip() not in ("", "0"):
            raise
        pytest.skip(f"compiled kernel {name} not built: {exc}")
