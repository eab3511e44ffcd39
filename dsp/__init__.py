"""dsp: signal processing only (no sockets, no clocks) - waveforms, detectors, channel models,
synchronisation and tracking. Hot loops live in :mod:`dsp._kernels` (Cython, with NumPy twins)."""

__version__ = "0.1.0"
