"""Scenario objects for tests: a base dict with section-wise overrides, validated like a file."""

from hil.config import parse
from hil.scenario import Scenario


def build_scenario(base: dict, **changes) -> Scenario:
    """``base`` with ``changes`` applied: a dict value updates that section, anything else replaces it."""
    d = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for k, v in changes.items():
        if isinstance(v, dict) and isinstance(d.get(k), dict):
            d[k].update(v)
        else:
            d[k] = v
    return parse(Scenario, d, source="test")
