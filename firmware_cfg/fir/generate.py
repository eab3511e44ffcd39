"""Regenerate the shipped .ftr files: ``python firmware_cfg/fir/generate.py`` (deterministic).

pluto_lowrate_dec4_1msps.ftr: 1 MS/s on a Pluto (below the 2.083 MS/s the half-band chain reaches
alone): FIR decimation/interpolation 4, 128 taps, Kaiser (beta 7) low-pass with its cut-off at
450 kHz, clocks BBPLL 768 MHz -> ADC 48 MHz -> 16 -> 8 -> 4 MHz -> 1 MS/s, analog bandwidth 1 MHz.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

from firmware_cfg.ftr import design_decimator, write_ftr  # noqa: E402

FILES = {
    "pluto_lowrate_dec4_1msps.ftr": dict(sample_rate=1_000_000, ratio=4, ntaps=128, passband=0.9, beta=7.0,
                                         bandwidth=1_000_000),
}


def render(name: str) -> str:
    """The exact text of the shipped file ``name``."""
    kw = FILES[name]
    args = ", ".join(f"{k}={v}" for k, v in kw.items())
    return write_ftr(design_decimator(**kw),
                     comments=[f"{name}: made by firmware_cfg/fir/generate.py (design_decimator({args}))",
                               f"Load on a Pluto with pyadi-iio: sdr.filter = path; then sdr.sample_rate = "
                               f"{kw['sample_rate']}"])


def main() -> None:
    for name in FILES:
        with open(os.path.join(HERE, name), "w", encoding="ascii") as fh:
            fh.write(render(name))
        print(f"wrote {name}")


if __name__ == "__main__":
    main()
