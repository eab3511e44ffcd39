"""What a worker runs: one task (a ``hil ber`` point's seed block, or one waveform/mode of a ``hil run``
scenario variant) -> one result row (a flat dict of numbers and labels).

Runs in a Dask worker process; imports are local so that the worker loads only what it uses. Kernel
threads: every worker is started with ``OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=MKL_NUM_THREADS=1`` (see
:mod:`hil.campaign.runner`); the detectors run with one thread (``detect`` on one frame; ``threads=1``
is their default) and the emulator link of a run task with ``threads: 0`` (in the loop).
"""

from __future__ import annotations

import functools
import math
import os
import socket
import time

import numpy as np

__all__ = ["execute_task", "simulate_block", "ber_objects", "THREAD_ENV", "MARKER_ENV", "CONFIG_ERROR"]

THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "VECLIB_MAXIMUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1"}
# Test/diagnostic hook: when set to a directory, every task execution (including re-runs of a task after a
# worker died or an exception) leaves an empty file there named <task_id>.<pid>.<ns>. Counting them counts
# executions.
MARKER_ENV = "HIL_CAMPAIGN_MARKER_DIR"
CONFIG_ERROR = "config_error"  # key of the row a task returns instead of raising a ConfigError


@functools.lru_cache(maxsize=64)
def ber_objects(waveform, M, N, qam, cp_len, detector, channel, taps, doppler):
    """(modem, channel factory or None, receiver, fast) of a ``hil ber`` point, built exactly as ``hil ber``
    builds them (:mod:`hil.commands.ber`); cached per worker process."""
    from types import SimpleNamespace

    from dsp.ber import _ideal, channel_preset, make_receiver
    from hil.commands.ber import _max_doppler, _modem

    args = SimpleNamespace(M=M, N=N, qam=qam, cp_len=cp_len, channel=channel, taps=taps or 4, max_doppler=doppler)
    modem = _modem(waveform, args)
    if detector == "one-tap-pilot" and waveform == "ofdm":
        modem.set_pilots()
    chan = channel_preset(channel, modem, max_doppler=_max_doppler(args), taps=taps or 4)
    rx = make_receiver(detector, modem)
    return modem, chan, rx, (chan is None and rx is _ideal)


def simulate_block(modem, channel, rx, snr_db: float, frames: int, rng: np.random.Generator, *, fast: bool,
                   batch: int = 64) -> dict:
    """``frames`` frames at Es/N0 ``snr_db``: the loop body of :func:`dsp.ber.ber_sweep` (same draws in the
    same order, so a block equals a sweep point of the same generator and frame count), counting frame
    errors as well. ``fast`` (AWGN + ideal receiver) simulates ``batch`` frames per draw, as the sweep does."""
    n0 = 10.0 ** (-snr_db / 10.0)
    sigma = math.sqrt(modem.noise_var_per_sample(snr_db) / 2.0)
    errors = bits = done = frame_errors = 0
    while done < frames:
        nb = min(batch, frames - done) if fast else 1
        tx_bits = rng.integers(0, 2, (nb, modem.bits_per_frame), dtype=np.uint8)
        s = modem.modulate(tx_bits)
        ch = channel(rng) if channel is not None else None
        r = s.astype(np.complex128) if ch is None else ch.apply(s)
        r = r + sigma * (rng.standard_normal(r.shape) + 1j * rng.standard_normal(r.shape))
        y = modem.demodulate_grid(r)
        est = y if fast else np.asarray(rx(y[0], ch, n0))[None]
        rx_bits = modem.qam.demap_hard(modem.data_symbols(est)).reshape(nb, -1)
        wrong = np.count_nonzero(rx_bits != tx_bits, axis=1)
        errors += int(wrong.sum())
        frame_errors += int(np.count_nonzero(wrong))
        bits += tx_bits.size
        done += nb
    return {"frames": done, "bits": bits, "bit_errors": errors, "frame_errors": frame_errors}


def _ber(task) -> dict:
    c = task.coords
    modem, chan, rx, fast = ber_objects(c["waveform"], c["M"], c["N"], c["qam"], c["cp_len"], c["detector"],
                                        c["channel"], c["taps"], c["doppler"])
    rng = np.random.default_rng(task.seed_sequence())
    return simulate_block(modem, chan, rx, c["snr_db"], c["frames"], rng, fast=fast)


def _run(task) -> dict:
    from hil.config import parse
    from hil.experiment import build_pass, run_waveform
    from hil.scenario import Scenario

    c = task.coords
    seed = int(task.seed_sequence().generate_state(1, np.uint64)[0] >> np.uint64(1))  # 63 bits
    data = {**c["scenario"], "seed": seed}
    sc = parse(Scenario, data, source=f"campaign task {c['scenario_name']}")
    base = task.payload.get("base_dir")
    pm = build_pass(sc, base)
    wd = None
    if sc.backend.kind == "mock-zmq":
        import tempfile

        wd = tempfile.mkdtemp(prefix="hil-campaign-")
    run = run_waveform(sc, c["waveform_index"], pm, c["mode"], name=c["waveform"], base_dir=base, workdir=wd,
                       max_bursts=c["max_bursts"])
    if wd is not None:
        import shutil

        shutil.rmtree(wd, ignore_errors=True)
    bits = np.asarray(run.columns["bits"], float)
    errs = np.asarray(run.columns["bit_errors"], float)
    synced = np.asarray(run.columns["synced"], float)
    snr = np.asarray(run.columns["snr_db"], float)
    k = run.counters
    return {"frames": int(bits.size), "bits": int(bits.sum()), "bit_errors": int(round(errs.sum())),
            "frame_errors": int(np.count_nonzero((errs > 0) | (synced == 0))),
            "decoded": int(k.get("decoded", 0)), "false_locks": int(k.get("false_locks", 0)),
            "decoded_bits": int(k.get("decoded_bits", 0)), "decoded_bit_errors": int(k.get("decoded_bit_errors", 0)),
            "snr_db_mean": float(np.mean(snr)) if snr.size else float("nan")}


def execute_task(task_dict: dict) -> dict:
    """Run one task (a :meth:`Task.to_dict`) and return its result row (labels + counts + timing)."""
    from hil.campaign.spec import Task

    task = Task.from_dict(task_dict)
    marker = os.environ.get(MARKER_ENV)
    if marker:
        open(os.path.join(marker, f"{task.task_id}.{os.getpid()}.{time.time_ns()}"), "w").close()
    t0 = time.perf_counter()
    c0 = time.process_time()
    from hil.errors import ConfigError

    try:
        out = _ber(task) if task.kind == "ber" else _run(task)
    except ConfigError as exc:
        # a configuration the loop refuses (checked only when the task builds its plan) fails the same way
        # on every try: reported at once as a failure, not retried
        return {"task_id": task.task_id, CONFIG_ERROR: str(exc)}
    return {"task_id": task.task_id, "point_id": task.point_id, "kind": task.kind, "block": task.block, **out,
            "elapsed_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
            "worker": f"{socket.gethostname()}:{os.getpid()}"}
