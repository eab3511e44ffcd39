"""The testbed's exception hierarchy, re-exported: it lives in :mod:`dsp.errors` so that dsp/ (the
lowest layer) imports nothing from hil/. ``hil.errors.ConfigError is dsp.errors.ConfigError``."""

from dsp.errors import *  # noqa: F401,F403
from dsp.errors import __all__  # noqa: F401
