"""Typed configuration helpers, re-exported: they live in :mod:`dsp.config` so that dsp/ (the lowest
layer) imports nothing from hil/."""

from dsp.config import *  # noqa: F401,F403
from dsp.config import __all__  # noqa: F401
