"""Metrics: join what the receiver decided with what the channel applied - afterwards, by frame number.

The truth comes only from the emulator's per-burst telemetry (``Link.bursts`` / the ``telemetry_bursts``
JSON lines); the decisions only from the receiver's :class:`dsp.receiver.RxFrame` records; the payload
bits from the transmitter's known pattern. Nothing here feeds back into the receiver.

Counted per waveform run (every transmitted frame is exactly one of decoded / detected-not-decoded /
missed; false locks are counted on the receiver's side):

* ``frames_sent``: frames in the schedule;
* ``detected``: a preamble found within ``tolerance`` samples of the frame's true arrival;
* ``decoded``: its header CRC held and carried this frame's number;
* ``missed``: sent but not decoded;
* ``false_locks``: receiver detections that are not a frame (no true arrival within ``tolerance``), or
  whose header decoded to a frame number other than the frame that was there;
* bit errors of decoded frames, and the ideal-CSI reference: the expected bit errors of the same frames
  at their own Es/N0 (4-QAM Gray / square QAM on AWGN, closed form).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["truth_at", "join", "expected_ber"]


def _lerp(rec: dict, key: str, frac):
    a, b = rec.get(f"{key}_start"), rec.get(f"{key}_end")
    if a is None:
        return np.full(np.shape(frac), np.nan)
    if b is None:
        b = a
    return float(a) + (float(b) - float(a)) * np.asarray(frac, float)


def truth_at(rec: dict, n_out) -> dict:
    """The telemetry record's truth at output sample index(es) ``n_out`` (linear in time over the burst;
    extrapolated a few ms past it to the arrival of its last frame)."""
    n0 = float(rec["sample_index"])
    span = max(float(rec.get("n_samples", 1)) - 1.0, 1.0)
    frac = (np.asarray(n_out, float) - n0) / span
    keys = ("delay_s", "doppler_hz", "range_m", "path_loss_db", "gain_db", "elevation_deg", "frequency_offset_hz")
    return {k: _lerp(rec, k, frac) for k in keys}


def expected_ber(esn0_db, qam: int) -> np.ndarray:
    """Gray-coded square M-QAM bit error rate on AWGN at Es/N0 (nearest-neighbour approximation; exact for
    4-QAM): ``(4/log2 M)(1 - 1/sqrt M) Q(sqrt(3 Es/N0 / (M - 1)))``."""
    from scipy.special import erfc

    g = 10 ** (np.asarray(esn0_db, float) / 10)
    k = math.log2(qam)
    q = 0.5 * erfc(np.sqrt(3 * g / (qam - 1)) / math.sqrt(2))
    return (4 / k) * (1 - 1 / math.sqrt(qam)) * q


def join(schedule, fmt, rx_frames, telemetry: list[dict], bits_of, *, qam: int, carrier_hz: float,
         latency_samples: int = 0, tolerance: float = 3.0):
    """Per-frame columns (for :class:`hil.report.WaveformRun`) and the counters (dict).

    ``rx_frames``: RxFrame objects or their ``to_dict()`` (bits as hex); ``telemetry``: the link's burst
    records; ``bits_of(frame_no)``: the transmitted payload.
    """
    fs = schedule.sample_rate_hz
    K = schedule.per_burst
    os_ = fmt.oversample
    recs = sorted(telemetry, key=lambda r: int(r["sample_index"]))
    starts = np.array([int(r["sample_index"]) for r in recs], dtype=np.int64)

    def record_of(k):
        """The emulator's record of the contiguous input run holding TX sample ``k`` (bursts closer
        together than the channel memory are one run for the emulator)."""
        i = int(np.searchsorted(starts, k, side="right")) - 1
        if i < 0:
            return None
        r = recs[i]
        return r if k < int(r["sample_index"]) + int(r.get("n_samples", 0)) else None

    n = schedule.n_frames
    cols = {c: np.full(n, np.nan) for c in (
        "t_s", "elevation_deg", "range_m", "path_loss_db", "snr_db", "delay_true_s", "delay_est_s",
        "doppler_true_hz", "doppler_est_hz", "tracking_residual_hz", "bits", "bit_errors", "synced", "detected",
        "decoded_bit_errors", "ref_bit_errors", "satellite", "burst", "rx_snr_db", "paths")}
    arrival = np.full(n, np.nan)
    sat_names: dict = {}
    for f in range(n):
        b = f // K
        k = schedule.frame_start(f)
        rec = record_of(k)
        cols["t_s"][f] = schedule.time_of(k)
        cols["burst"][f] = b
        cols["bits"][f] = fmt.modem.bits_per_frame
        if rec is None:
            continue  # the emulator never saw this burst (counted: no telemetry)
        na = float(k)
        for _ in range(3):  # arrival index: n = k + tau(n) fs
            na = k + float(truth_at(rec, na)["delay_s"]) * fs
        tr = truth_at(rec, na + 0.5 * fmt.n_pre)
        arrival[f] = na + latency_samples
        cols["delay_true_s"][f] = tr["delay_s"]
        cols["range_m"][f] = tr["range_m"]
        cols["elevation_deg"][f] = tr["elevation_deg"]
        cols["path_loss_db"][f] = tr["path_loss_db"]
        off = tr["frequency_offset_hz"]
        cols["doppler_true_hz"][f] = tr["doppler_hz"] + (0.0 if not np.isfinite(off) else off)
        g, nz = rec.get("gain_db_start"), rec.get("noise_power")
        if nz:
            cols["snr_db"][f] = float(tr["gain_db"]) + 10 * math.log10(os_ / float(nz))
        else:
            cols["snr_db"][f] = np.inf if g is not None else np.nan
        sat = rec.get("serving_start", rec.get("serving", 0))
        cols["satellite"][f] = sat_names.setdefault(sat, len(sat_names)) if not isinstance(sat, (int, float)) \
            else float(sat)
    cols["synced"][:] = 0
    cols["detected"][:] = 0
    false_locks = 0
    seen = set()
    for fr in rx_frames:
        d = fr if isinstance(fr, dict) else fr.to_dict()
        pos = float(d["position"])
        near = np.flatnonzero(np.abs(arrival - pos) <= tolerance)
        if near.size == 0:
            false_locks += 1  # not a frame at all
            continue
        f = int(near[0])
        cols["detected"][f] = 1
        if not d["header_ok"]:
            continue
        if d["frame_no"] != f:
            false_locks += 1  # decoded a frame number that was not there
            continue
        if f in seen:
            continue
        seen.add(f)
        bits = d.get("bits")
        if isinstance(bits, str):
            bits = np.unpackbits(np.frombuffer(bytes.fromhex(bits), np.uint8))[:fmt.modem.bits_per_frame]
        if bits is None:
            continue
        errs = int(np.count_nonzero(np.asarray(bits, np.uint8) != bits_of(f)))
        cols["synced"][f] = 1
        cols["decoded_bit_errors"][f] = errs
        cols["delay_est_s"][f] = d["delay_s"] if d["delay_s"] is not None else np.nan
        cols["doppler_est_hz"][f] = d["doppler_hz"]
        cols["rx_snr_db"][f] = d["snr_db"]
        cols["paths"][f] = d.get("paths", 0)
    bpf = fmt.modem.bits_per_frame
    dec = cols["synced"] > 0
    # the report's BER counts a frame that was not decoded as half its bits in error (stated in the notes)
    cols["bit_errors"] = np.where(dec, cols["decoded_bit_errors"], bpf // 2)
    cols["ref_bit_errors"] = expected_ber(cols["snr_db"], qam) * bpf
    cols["tracking_residual_hz"] = cols["doppler_est_hz"] - cols["doppler_true_hz"]
    counters = {
        "frames_sent": int(n),
        "detected": int(np.count_nonzero(cols["detected"] > 0)),
        "decoded": int(np.count_nonzero(dec)),
        "missed": int(n - np.count_nonzero(dec)),
        "false_locks": int(false_locks),
        "bursts_without_telemetry": int(sum(1 for s in schedule.burst_starts if record_of(s) is None)),
        "decoded_bits": int(np.count_nonzero(dec)) * bpf,
        "decoded_bit_errors": int(np.nansum(cols["decoded_bit_errors"][dec])),
        "reference_bit_errors": float(np.nansum(cols["ref_bit_errors"][dec])),
    }
    return cols, counters
