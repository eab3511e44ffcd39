"""calibration: estimators, correctors and per-device stores for IQ imbalance, DC offset, TX->RX
delay, frequency offset and gain (see docs/calibration.md).

For backends: ``load_for(profile, serial)`` returns the stored :class:`Calibration` of a device (or
None); its ``rx_corrector()`` / ``tx_corrector()`` are streaming blocks with ``process(x)``.
"""

from calibration.apply import Calibration, load_for
from calibration.correctors import (
    ClockCorrector,
    DcCorrector,
    DcIqTracker,
    GainCorrector,
    IqCorrector,
    RxCorrector,
    TxPrecorrector,
)
from calibration.estimators import (
    BlindIqEstimator,
    DcEstimator,
    PowerMeter,
    estimate_cfo_pilot,
    estimate_delay,
    estimate_iq_pilot,
    estimate_tone,
    measure_irr,
    ppm_from_tone,
)
from calibration.store import CalibrationRecord, CalibrationWarning, GainTable, load, save

__all__ = [
    "Calibration",
    "CalibrationRecord",
    "CalibrationWarning",
    "GainTable",
    "load",
    "load_for",
    "save",
    "ClockCorrector",
    "DcCorrector",
    "DcIqTracker",
    "GainCorrector",
    "IqCorrector",
    "RxCorrector",
    "TxPrecorrector",
    "BlindIqEstimator",
    "DcEstimator",
    "PowerMeter",
    "estimate_cfo_pilot",
    "estimate_delay",
    "estimate_iq_pilot",
    "estimate_tone",
    "measure_irr",
    "ppm_from_tone",
]
