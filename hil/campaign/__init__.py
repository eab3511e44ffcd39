"""Simulation campaigns on Dask: grids of ``hil ber`` points and ``hil run`` scenario variants, run as
independent seeded tasks on an embedded LocalCluster or an existing scheduler, results in Parquet.

* :mod:`hil.campaign.spec`   - the campaign file, task ids and per-task seeds
* :mod:`hil.campaign.tasks`  - what a worker runs (one task -> one row)
* :mod:`hil.campaign.store`  - Parquet results, appended as tasks finish, resumable
* :mod:`hil.campaign.runner` - the Dask client side: submit, retries, progress, failures
* :mod:`hil.campaign.report` - confidence intervals, BER/BLER plots, summary table

Only :mod:`~hil.campaign.runner` and :mod:`~hil.campaign.store` need dask / pyarrow; nothing here imports
them at package import.
"""

from hil.campaign.spec import Campaign, Task, load_campaign, parse_campaign, task_seed

__all__ = ["Campaign", "Task", "load_campaign", "parse_campaign", "task_seed", "run_campaign"]


def run_campaign(*args, **kwargs):
    """See :func:`hil.campaign.runner.run_campaign`."""
    from hil.campaign.runner import run_campaign as _run

    return _run(*args, **kwargs)
