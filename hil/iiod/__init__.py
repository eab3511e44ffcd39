"""An iiod (libiio network daemon) protocol server and an emulated PlutoSDR behind it.

The unmodified libiio + pyadi-iio stack talks to it as to a real Pluto::

    from hil.iiod import PlutoEmulator
    with PlutoEmulator("pluto_ad9363", delay=12, frequency_offset_hz=1e3) as emu:   # port 0: a free port
        sdr = adi.Pluto(emu.uri)          # "ip:127.0.0.1:<port>"
        sdr.tx(x); y = sdr.rx()           # y is x delayed by 12 samples, shifted by 1 kHz

``hil pluto-emulator`` serves one on the default iiod port (30431) from the command line.
"""

from hil.iiod.loopback import LoopPath, RfLoop, TxTimeline
from hil.iiod.model import Attr, Channel, Device, IioContext, IioErrno, ScanElement
from hil.iiod.pluto import FirConfig, PlutoEmulator, parse_fir_config
from hil.iiod.protocol import Command, format_mask, parse_command, parse_mask
from hil.iiod.server import DEFAULT_PORT, IiodServer

__all__ = ["PlutoEmulator", "IiodServer", "DEFAULT_PORT", "LoopPath", "RfLoop", "TxTimeline", "IioContext",
           "Device", "Channel", "Attr", "ScanElement", "IioErrno", "Command", "parse_command", "parse_mask",
           "format_mask", "FirConfig", "parse_fir_config"]
