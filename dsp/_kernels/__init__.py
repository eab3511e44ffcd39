"""Compiled hot loops (private).

Each kernel ``_name.pyx`` has a NumPy twin ``_name_py.py`` with the same functions, signatures and
results (to rounding); tests compare the two on random inputs. Public modules never import a kernel
directly: they call :func:`load`, which returns the compiled module, or the twin when

* ``HIL_PURE_PYTHON=1`` is set (pure-Python mode, also honoured at build time by setup.py), or
* the compiled module is not built - then a RuntimeWarning says how to build it, unless
  ``HIL_REQUIRE_COMPILED=1`` is set, in which case an ImportError is raised (CI uses this so a broken
  build cannot silently fall back to the slow path).
"""

from __future__ import annotations

import importlib
import os
import warnings
from types import ModuleType

__all__ = ["load", "load_twin", "load_compiled", "pure_python", "status"]

_cache: dict[str, ModuleType] = {}


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip() not in ("", "0")


def pure_python() -> bool:
    """True when ``HIL_PURE_PYTHON`` asks for the NumPy twins everywhere."""
    return _flag("HIL_PURE_PYTHON")


def load_twin(name: str) -> ModuleType:
    """The NumPy twin of kernel ``name`` (e.g. ``"_nco"`` -> ``dsp._kernels._nco_py``)."""
    return importlib.import_module(f"{__name__}.{name}_py")


def load_compiled(name: str) -> ModuleType:
    """The compiled kernel ``name``; ImportError if it is not built."""
    return importlib.import_module(f"{__name__}.{name}")


def load(name: str) -> ModuleType:
    """The implementation of kernel ``name`` to use: compiled unless pure-Python mode (see module doc)."""
    mod = _cache.get(name)
    if mod is not None:
        return mod
    if pure_python():
        mod = load_twin(name)
    else:
        try:
            mod = load_compiled(name)
        except ImportError as exc:
            if _flag("HIL_REQUIRE_COMPILED"):
                raise ImportError(
                    f"compiled kernel dsp._kernels.{name} is not built and HIL_REQUIRE_COMPILED is set "
                    f"({exc}); build with `pip install -e .` or `python setup.py build_ext --inplace`"
                ) from exc
            warnings.warn(
                f"compiled kernel dsp._kernels.{name} is not built; using its NumPy twin (slow). "
                "Build with `pip install -e .` or `python setup.py build_ext --inplace`, "
                "or set HIL_PURE_PYTHON=1 to choose the twins deliberately.",
                RuntimeWarning,
                stacklevel=2,
            )
            mod = load_twin(name)
    _cache[name] = mod
    return mod


def status() -> dict[str, str]:
    """Kernel name -> ``"compiled"``, ``"twin (pure-Python mode)"`` or ``"twin (not built)"``."""
    here = os.path.dirname(__file__)
    names = sorted(f[: -len("_py.py")] for f in os.listdir(here)
                   if f.startswith("_") and f.endswith("_py.py"))
    out = {}
    for name in names:
        if pure_python():
            out[name] = "twin (pure-Python mode)"
            continue
        try:
            load_compiled(name)
            out[name] = "compiled"
        except ImportError:
            out[name] = "twin (not built)"
    return out
