"""Build script for the compiled (Cython) kernels.

Metadata lives in pyproject.toml; this file only declares the extensions.

* Every ``*.pyx`` under ``dsp/``, ``hil/`` and ``calibration/`` becomes an extension module named after
  its path (``dsp/_kernels/_nco.pyx`` -> ``dsp._kernels._nco``).
* ``HIL_PURE_PYTHON=1`` builds no extensions at all: every kernel then runs through its NumPy twin
  (``dsp/_kernels/<name>_py.py``). Useful on machines without a C compiler, and in CI to prove the
  twins alone pass the suite.
* ``HIL_BUILD_ONLY=_nco,_mp`` builds only the kernels whose file name contains one of the given
  comma-separated strings (development convenience: rebuild one kernel without touching the rest).
* ``HIL_BUILD_JOBS=N`` sets how many processes cythonize and compile (default: every core).
* Safety directives (boundscheck, wraparound, ...) are set per function in the .pyx files; only the
  language level and a few global, harmless options are set here.
"""

import glob
import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

PURE = os.environ.get("HIL_PURE_PYTHON", "").strip() not in ("", "0")

_NO_COMPILER_HELP = (
    "\n\nleo-hil: building the compiled Cython kernels failed ({err}).\n"
    "  * Install a C compiler and the Python headers, e.g. on Debian/Ubuntu:\n"
    "        apt-get install build-essential python3-dev\n"
    "  * or build without compiled kernels (NumPy twins, much slower):\n"
    "        HIL_PURE_PYTHON=1 pip install .\n"
)


class BuildExt(build_ext):
    """build_ext that turns a missing/broken compiler into a message a user can act on."""

    def finalize_options(self):
        super().finalize_options()
        if not self.parallel:  # compile the kernels on every core unless -j was given
            self.parallel = int(os.environ.get("HIL_BUILD_JOBS", "0")) or os.cpu_count() or 1

    def run(self):
        try:
            super().run()
        except Exception as exc:  # distutils raises several unrelated classes here
            if type(exc).__name__ in ("CompileError", "CCompilerError", "DistutilsExecError",
                                      "DistutilsPlatformError", "LinkError"):
                sys.stderr.write(_NO_COMPILER_HELP.format(err=exc))
            raise


class BuildPy(build_py):
    """build_py that also ships the scenario files (``scenarios/`` at the top of the checkout) as package
    data ``hil/scenarios/``, so ``hil demo`` and ``hil run NAME`` work from a non-editable install
    (hil/paths.py finds them; an editable install reads the checkout's own folder)."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scenarios")
        for path in glob.glob(os.path.join(src, "**", "*.yaml"), recursive=True):
            rel = os.path.relpath(path, src)
            dst = os.path.join(self.build_lib, "hil", "scenarios", rel)
            self.mkpath(os.path.dirname(dst))
            self.copy_file(path, dst, preserve_mode=False)


def _extensions():
    if PURE:
        print("leo-hil: HIL_PURE_PYTHON set - building no compiled kernels", file=sys.stderr)
        return []
    try:
        import numpy
        from Cython.Build import cythonize
    except ImportError as exc:  # pragma: no cover - pyproject's build-system provides both
        raise SystemExit(f"leo-hil: the build needs Cython>=3 and numpy ({exc}); "
                         "`pip install Cython numpy` or set HIL_PURE_PYTHON=1") from exc
    from setuptools import Extension

    sources = sorted(p for pkg in ("dsp", "hil", "calibration")
                     for p in glob.glob(os.path.join(pkg, "**", "*.pyx"), recursive=True))
    only = [s.strip() for s in os.environ.get("HIL_BUILD_ONLY", "").split(",") if s.strip()]
    if only:
        sources = [p for p in sources if any(o in os.path.basename(p) for o in only)]
    exts = [
        Extension(
            os.path.splitext(src)[0].replace(os.sep, "."),
            [src],
            include_dirs=[numpy.get_include()],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
            extra_compile_args=["-O3"],
            libraries=["m"] if os.name == "posix" else [],
        )
        for src in sources
    ]
    return cythonize(
        exts,
        language_level=3,
        compiler_directives={"embedsignature": True, "initializedcheck": False},
        nthreads=int(os.environ.get("HIL_BUILD_JOBS", "0")) or os.cpu_count() or 1,
    )


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExt, "build_py": BuildPy})
