"""Onboard-payload prototyping: edge content placement over integrated TN + NTN (the seed paper
shared/seeds/ntn_edge_content_broadcast.txt, issue 18).

* :mod:`.config` - the scenario (YAML -> typed, validated dataclasses);
* :mod:`.model` - regions, TN base stations (networkx tree), correlated Zipf popularity, cache plan;
* :mod:`.coverage` - NTN coverage time slots and link rates from :mod:`hil.orbit`;
* :mod:`.strategies` - SA-TN, TNP, MBT, SFA (Algorithm 1), GFA (Algorithms 2-3) and the integrated
  placement time;
* :mod:`.study` - the study, its table and plots (``hil payload SCENARIO.yaml``).
"""

from .config import STRATEGIES, PayloadScenario, load_scenario
from .coverage import CoverageSlots, compute_slots
from .model import PlacementModel, build_model
from .strategies import (
    Schedule,
    SlotTables,
    constrained_max_path,
    gfa,
    integrated_time,
    mbt,
    sa_tn_time,
    sfa,
    slot_tables,
    test_and_double,
    tnp,
)
from .study import StudyResult, format_table, run_study, write_outputs

__all__ = ["STRATEGIES", "PayloadScenario", "load_scenario", "CoverageSlots", "compute_slots", "PlacementModel",
           "build_model", "Schedule", "SlotTables", "constrained_max_path", "gfa", "integrated_time", "mbt",
           "sa_tn_time", "sfa", "slot_tables", "test_and_double", "tnp", "StudyResult", "format_table",
           "run_study", "write_outputs"]
