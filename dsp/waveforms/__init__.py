"""Waveform modems sharing one protocol (:class:`~dsp.waveforms.base.Modem`); see docs/waveforms.md.

``make_modem(kind, M, N, qam, **options)`` builds one from the scenario's ``WaveformConfig`` fields:
OTFS/ODDM use the M x N delay-Doppler grid, OFDM M subcarriers x N symbols, GFDM K = M subcarriers x
N subsymbols, AFDM M * N chirps.
"""

from dsp.errors import check_choice
from dsp.waveforms.afdm import AfdmModem
from dsp.waveforms.base import Modem
from dsp.waveforms.gfdm import GfdmModem
from dsp.waveforms.oddm import OddmModem
from dsp.waveforms.ofdm import OfdmModem
from dsp.waveforms.otfs import OtfsModem

__all__ = ["Modem", "OtfsModem", "OddmModem", "AfdmModem", "GfdmModem", "OfdmModem", "make_modem", "KINDS"]

KINDS = ("otfs", "oddm", "afdm", "gfdm", "ofdm")


def make_modem(kind: str, M: int = 64, N: int = 16, qam: int = 4, **options) -> Modem:
    """Modem of ``kind`` (one of KINDS) on an M x N grid; ``options`` go to the class (cp_len, cp, ...)."""
    check_choice("kind", kind, KINDS)
    if kind == "otfs":
        return OtfsModem(M, N, qam, **options)
    if kind == "oddm":
        return OddmModem(M, N, qam, **options)
    if kind == "ofdm":
        return OfdmModem(M, N, qam, **options)
    if kind == "gfdm":
        return GfdmModem(M, N, qam, **options)
    return AfdmModem(M * N, qam, **options)
