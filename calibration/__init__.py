"""calibration: estimators, correctors and per-device stores for IQ imbalance, DC offset, TX->RX
delay, frequency offset and gain."""
