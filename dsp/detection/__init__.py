"""Detectors for the grid-domain channel ``Y = H X + W`` of every waveform (see docs/detectors.md).

``DETECTORS`` maps a name to a detector class; :func:`make_detector` builds one for a modem::

    det = make_detector("mp", modem, damping=0.6, max_iter=200)
    x_hat_grid = det.detect(y_grid, paths_dd, noise_var)     # data cells: decisions

=========  ===================================================================  ===========
name       detector                                                             waveforms
=========  ===================================================================  ===========
mp         message passing (Raviteja, Hong, Viterbo 2018), compiled             OTFS, AFDM (any sparse H)
mrc        iterative MRC / rake decision feedback (Thaj, Viterbo 2020), compiled  OTFS, AFDM (any sparse H)
lmmse      block LMMSE on the effective channel (dense solve, small frames)     any
onetap     per-cell zero forcing y / H_cc (the OFDM equaliser)                   any
=========  ===================================================================  ===========

MP and MRC run on OTFS/AFDM channels as shifted diagonals in float32 (``engine="dd"``, the default
where it applies; :mod:`dsp.detection.ddgraph`) or on the float64 factor graph (``engine="graph"``).
``det.detect_bits(...)`` gives hard bits; ``det.detect_many(frames, paths, noise_var, threads=N)``
detects independent frames on N threads (kernels without the GIL). Receive-chain costs: docs/rx_cost.md.
"""

from __future__ import annotations

from dsp.detection.base import Detector
from dsp.detection.graph import FactorGraph, as_paths, channel_coo
from dsp.detection.lmmse import LmmseDetector, OneTapDetector
from dsp.detection.mp import MpDetector
from dsp.detection.mrc import MrcDetector
from dsp.errors import check_choice

__all__ = ["DETECTORS", "make_detector", "Detector", "MpDetector", "MrcDetector", "LmmseDetector",
           "OneTapDetector", "FactorGraph", "as_paths", "channel_coo"]

DETECTORS: dict[str, type[Detector]] = {
    "mp": MpDetector,
    "mrc": MrcDetector,
    "lmmse": LmmseDetector,
    "onetap": OneTapDetector,
}


def make_detector(name: str, modem, **options) -> Detector:
    """Detector ``name`` (one of ``DETECTORS``) for ``modem`` with its keyword options."""
    check_choice("detector", name, tuple(DETECTORS))
    return DETECTORS[name](modem, **options)
