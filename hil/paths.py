"""Where the shipped scenario files are, in a source checkout and in an installed package.

In a checkout (``pip install -e .``) they are ``scenarios/`` beside the ``hil`` package. A non-editable
install (``pip install .``, a wheel) carries a copy as package data, ``hil/scenarios/`` (setup.py's
build_py copies it there). :func:`resolve_scenario` lets ``hil demo`` / ``hil run`` / ``hil emulate``
take either a path or a bare shipped name::

    resolve_scenario("scenarios/s_band_pass.yaml")   # an existing path: returned as given
    resolve_scenario("s_band_pass")                  # the shipped one, from any directory
    resolve_scenario("emulator/leo_pass_sband.yaml")
"""

from __future__ import annotations

import os

from hil.errors import ConfigError

__all__ = ["scenarios_dir", "shipped_scenarios", "resolve_scenario"]

_PKG = os.path.dirname(os.path.abspath(__file__))


def scenarios_dir() -> str | None:
    """The folder of shipped scenarios (checkout first, then package data), or None if neither exists."""
    for cand in (os.path.join(os.path.dirname(_PKG), "scenarios"), os.path.join(_PKG, "scenarios")):
        if os.path.isfile(os.path.join(cand, "demo.yaml")):
            return cand
    return None


def shipped_scenarios() -> list[str]:
    """Names of the shipped scenario files relative to :func:`scenarios_dir` (``emulator/...`` included)."""
    root = scenarios_dir()
    if root is None:
        return []
    out = []
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            if f.endswith((".yaml", ".yml")):
                out.append(os.path.relpath(os.path.join(dirpath, f), root).replace(os.sep, "/"))
    return sorted(out)


def resolve_scenario(name: str, field: str = "scenario") -> str:
    """An existing file path for ``name``: the path itself if it exists, else the shipped scenario of
    that name (``.yaml`` may be left off). Raises ConfigError naming ``field``, the value and the
    shipped names otherwise."""
    name = os.fspath(name)
    if os.path.isfile(name):
        return name
    root = scenarios_dir()
    if root is not None and not os.path.isabs(name):
        rel = name.replace("\\", "/")
        if rel.startswith("scenarios/"):
            rel = rel[len("scenarios/"):]
        for cand in (rel, rel + ".yaml"):
            path = os.path.normpath(os.path.join(root, cand))
            if path.startswith(root + os.sep) and os.path.isfile(path):
                return path
    shipped = shipped_scenarios()
    allowed = "an existing scenario file" + (f" or a shipped one: {', '.join(shipped)}" if shipped else "")
    raise ConfigError.bad_value(field, name, allowed)
