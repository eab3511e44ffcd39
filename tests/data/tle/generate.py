"""Regenerate the test TLE files in this folder (run from the repository root):

    python tests/data/tle/generate.py

walker550_sample.tle: satellites 0, 1 and 67 (plane 1, slot 1) of the seed's 1584-satellite Walker shell
(53 deg: 1584/24/1, 550 km, element epoch 2026-01-01T00:00:00Z), exported with
Constellation.to_tle_text(); tests check that SGP4 on these lines reproduces the generated satellites.
geo90e.tle: the single-GEO preset.
"""

import os

from hil.orbit import preset

HERE = os.path.dirname(os.path.abspath(__file__))

if __name__ == "__main__":
    shell = preset("starlink-1584")
    with open(os.path.join(HERE, "walker550_sample.tle"), "w", encoding="ascii") as fh:
        fh.write(shell[[0, 1, 67]].to_tle_text())
    with open(os.path.join(HERE, "geo90e.tle"), "w", encoding="ascii") as fh:
        fh.write(preset("geo-90e").to_tle_text())
