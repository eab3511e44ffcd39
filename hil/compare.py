"""Table I of the STIFN architecture paper, measured: OTFS, ODDM, AFDM, GFDM and OFDM on one footing.

One study (``hil compare``), five measurements per waveform, one table in Table I's order:

1. **PAPR** of the continuous-time signal (:func:`dsp.spectrum.block_interpolate`, ``oversampling`` L
   samples per cell): CCDF over windows of one OFDM-symbol duration (M + cp cells) and its value at
   1e-3, for the waveform as specified and with its pulse shaping switched (OTFS: rectangular pulse vs
   a band-limited one; ODDM: RRC roll-off vs 0; GFDM: RRC roll-off vs 0; AFDM and OFDM use none), plus
   the frame with its estimation pilot.
2. **Spectrum**: Welch PSD of a long stream of frames, 99 % occupied bandwidth, ACLR and a stated
   spectral mask, before and after the power amplifier.
3. **Robustness**: BER and (uncoded) frame error rate vs Es/N0 and vs normalised Doppler on an
   NTN-TDL channel (TR 38.811), each waveform with its own embedded-pilot channel estimate and its best
   practical detector; the diversity order as the least-squares slope of the BER over the top Es/N0
   points of a static (eps = 0) sweep; common random numbers (the same channel draws for every
   waveform and point of a sweep).
4. **PA**: a Rapp (or Saleh) amplifier (:class:`dsp.pa.PowerAmplifier`) on the continuous-time
   signal: EVM vs input back-off, and the Es/N0 penalty at BER 1e-3 (16-QAM, AWGN).
5. **Complexity**: TX and RX nanoseconds per sample measured with the compiled kernels, beside the
   counted complex multiplications of the transforms and the detector's measured graph work.

Optionally (``radio=``) the PA study's frames also go through a radio loopback (:func:`radio_study`).

The numerology (equal bandwidth, frame duration and spectral efficiency) is fixed here and printed in
the report; every overhead (prefix, pilot, guard) is counted. Units: time in cells (1 cell = 1/B, B the
cell rate, i.e. the symbol rate of the grid), frequency in B; the channel bandwidth is
``B_ch = 1.25 B`` (the roll-off of ODDM fits it; the others keep a guard band).
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from dsp.config import spec
from dsp.errors import ConfigError

__all__ = ["CompareConfig", "WaveformSetup", "make_setups", "run_compare", "ORDER", "TABLE1_WORDS",
           "NTN_PROFILE_CHOICES", "channel_factory", "diversity_order", "quick_config", "otfs_papr_vs_n",
           "point_seed", "ber_point", "load_compare_config"]

ORDER = ("otfs", "oddm", "afdm", "gfdm", "ofdm")   # Table I's rows, OFDM (the baseline) last
NTN_PROFILE_CHOICES = ("A", "B", "C", "D")
B_CH = 1.25          # channel bandwidth in units of the cell rate B
M_GRID, N_GRID = 64, 16   # the common grid: 64 cells per block, 16 blocks, 1088-cell frames

# Table I's words, for the claims-vs-measurements section of the report
TABLE1_WORDS = {
    "otfs": "robust to multipath and Doppler; high diversity; low PAPR | high complexity; high OOB (rect pulse)",
    "oddm": "robust to multipath and Doppler; high diversity; low OOB | high complexity",
    "afdm": "robust to Doppler; full diversity in doubly dispersive channels | high complexity",
    "gfdm": "low OOB; flexible in time and frequency | high ISI/ICI management complexity; high PAPR",
    "ofdm": "baseline",
}


@dataclass(frozen=True)
class CompareConfig:
    """Settings of the study (scenarios/compare/table1.yaml). Grid and numerology are fixed (64 x 16,
    1088-cell frames); these are the channel, statistics and PA knobs."""

    name: str = field(default="table1", metadata=spec(doc="study name"))
    qam: int = field(default=4, metadata=spec(choices=(4, 16), doc="QAM order of the robustness runs"))
    seed: int = field(default=1, metadata=spec(ge=0))
    ntn_profile: str = field(default="A", metadata=spec(choices=NTN_PROFILE_CHOICES, doc="NTN-TDL profile"))
    delay_spread_cells: float = field(default=1.0, metadata=spec(gt=0, le=4.0, unit="cells",
                                                                  doc="RMS delay spread DS in cells (1/B)"))
    snr_db: list[float] = field(default_factory=lambda: [0.0, 5.0, 10.0, 15.0, 20.0, 25.0],
                                metadata=spec(min_len=2, unit="dB", doc="Es/N0 points"))
    doppler_for_snr_sweep: float = field(default=0.1, metadata=spec(
        ge=0, le=0.45, doc="normalised Doppler f_D / subcarrier spacing (B/64) of the Es/N0 sweep"))
    doppler: list[float] = field(default_factory=lambda: [0.0, 0.1, 0.2, 0.3, 0.4],
                                 metadata=spec(min_len=1, doc="normalised Doppler points (f_D M / B)"))
    snr_for_doppler_sweep: float = field(default=20.0, metadata=spec(ge=-10, le=60, unit="dB"))
    diversity_snr_db: list[float] = field(default_factory=lambda: [15.0, 20.0, 25.0],
                                          metadata=spec(min_len=2, unit="dB", doc="Es/N0 points of the static "
                                                        "(eps = 0) sweep whose top slope is the diversity order"))
    diversity_max_frames: int = field(default=3000, metadata=spec(ge=1, doc="frames per static point, at most"))
    min_errors: int = field(default=200, metadata=spec(ge=1, doc="bit errors per point before stopping"))
    min_frames: int = field(default=30, metadata=spec(ge=1, doc="frames (channel draws) per point, at least"))
    max_frames: int = field(default=120, metadata=spec(ge=1, doc="frames per point, at most"))
    papr_frames: int = field(default=1500, metadata=spec(ge=10, doc="frames for the PAPR CCDFs"))
    oversampling: int = field(default=8, metadata=spec(ge=2, le=16, doc="samples per cell of the "
                                                       "continuous-time signal (PAPR, spectrum, PA)"))
    pa_model: str = field(default="rapp", metadata=spec(choices=("rapp", "saleh")))
    pa_p: float = field(default=2.0, metadata=spec(gt=0, doc="Rapp smoothness"))
    pa_backoff_db: list[float] = field(default_factory=lambda: [0.0, 2.0, 4.0, 6.0, 8.0, 10.0],
                                       metadata=spec(min_len=1, unit="dB", doc="input back-offs for the EVM curve"))
    pa_backoff_ber_db: float = field(default=6.0, metadata=spec(ge=-10, le=40, unit="dB",
                                                                  doc="input back-off of the BER-penalty run"))
    pa_qam: int = field(default=16, metadata=spec(choices=(4, 16, 64)))
    pa_snr_db: list[float] = field(default_factory=lambda: [12.0, 14.0, 16.0, 18.0, 20.0, 22.0],
                                   metadata=spec(min_len=2, unit="dB"))
    pa_frames: int = field(default=40, metadata=spec(ge=1, doc="frames per PA BER point"))
    timing_frames: int = field(default=64, metadata=spec(ge=1, doc="frames per TX timing batch"))

    def validate(self):
        if self.max_frames < self.min_frames:
            raise ConfigError.bad_value("max_frames", self.max_frames, f">= min_frames = {self.min_frames}")
        if any(not (0 <= d <= 0.45) for d in self.doppler):
            raise ConfigError.bad_value("doppler", self.doppler, "values in 0..0.45 (f_D / subcarrier spacing)")
        if self.oversampling % 2:
            raise ConfigError.bad_value("oversampling", self.oversampling,
                                        "an even number 2..16 (a multiple of ODDM's 2 samples per cell)")
        for name in ("snr_db", "diversity_snr_db", "pa_snr_db"):
            v = list(getattr(self, name))
            if sorted(v) != v or len(set(v)) != len(v):
                raise ConfigError.bad_value(name, v, "increasing Es/N0 values")


def quick_config(cfg: CompareConfig | None = None) -> CompareConfig:
    """The same study with few points and frames (tests, a first look): about 20 s on 2 cores."""
    from dataclasses import replace

    cfg = cfg or CompareConfig()
    return replace(cfg, snr_db=[5.0, 15.0], doppler=[0.0, 0.3], diversity_snr_db=[10.0, 20.0], min_errors=20,
                   min_frames=2, max_frames=3, diversity_max_frames=3,
                   papr_frames=60, pa_backoff_db=[0.0, 6.0], pa_snr_db=[14.0, 20.0], pa_frames=3, timing_frames=4)


# ------------------------------------------------------------------------------------------- channel
def channel_factory(profile: str, delay_spread_cells: float, eps: float):
    """NTN-TDL ``profile`` (TR 38.811) as a per-frame draw ``f(rng) -> [(gain, delay_cells, nu)]``.

    Delays ``DS * tau_n`` rounded to whole cells (a sample-spaced TDL; ODDM's samples are half cells);
    one path per tap with Rayleigh gain (the LOS tap of C/D: fixed amplitude, random phase, no Doppler)
    and Doppler ``nu = eps / M cos(theta)`` cycles per cell, theta uniform (Jakes angles, one per tap).
    ``eps`` is the largest Doppler normalised to the subcarrier spacing B / M.
    """
    from hil.emulator.ntn_tdl import profile_table

    d_s, p, kinds = profile_table(profile, 1e-6)       # delays for DS = 1 us, rescaled below
    delays = np.rint(d_s / 1e-6 * delay_spread_cells).astype(int)
    nu_max = float(eps) / M_GRID

    def draw(rng):
        rows = []
        for d, pw, kind in zip(delays, p, kinds):
            if kind == "los":
                g = math.sqrt(pw) * np.exp(2j * np.pi * rng.uniform())
                nu = 0.0
            else:
                g = math.sqrt(pw / 2) * (rng.standard_normal() + 1j * rng.standard_normal())
                nu = nu_max * math.cos(rng.uniform(-np.pi, np.pi))
            rows.append((complex(g), int(d), nu))
        return rows
    return draw, int(delays.max())


def _channel(rows, samples_per_cell: int):
    from dsp.channel import DoublyDispersiveChannel, Path

    q = samples_per_cell
    return DoublyDispersiveChannel([Path(g, d * q, nu / q) for g, d, nu in rows])


# ------------------------------------------------------------------------------------------- setups
@dataclass
class WaveformSetup:
    """One waveform as the study uses it: the modem, its block layout (for the continuous-time signal),
    the pilot layout and the receiver (estimate + detect)."""

    kind: str
    label: str
    modem: object
    samples_per_cell: int
    blocks: list                      # [(cp, body)] in samples, for dsp.spectrum.block_interpolate
    pulse: str                        # what the waveform uses
    alt_pulse: str | None             # the other pulse for the PAPR/spectrum comparison
    alt_modem: object | None
    alt_blocks: list | None
    detector_name: str
    overhead: dict                    # cp, pilot_guard as fractions of the frame, as counted
    receive: object = None            # f(y_grid | GFDM: frame samples, noise_var) -> (data symbols, work)
    notes: list = field(default_factory=list)

    @property
    def frame_cells(self) -> float:
        return self.modem.frame_length / self.samples_per_cell

    @property
    def net_bits(self) -> int:
        return self.modem.bits_per_frame


def _otfs_receiver(modem, layout, model=None, mp_options=None):
    from dsp.detection import make_detector
    from dsp.estimation import estimate_otfs

    model = model or modem
    det = make_detector("mp", model, **(mp_options or {}))

    def receive(y, nv):
        paths = estimate_otfs(y, layout, nv, model)
        if paths.shape[0] == 0:   # nothing above the threshold: the detector still needs a channel
            paths = np.array([[0j, 0, 0]], complex)
        g = det.detect(y, paths, nv)
        return model.data_symbols(g), {"iterations": det.last_iterations, "paths_dd": paths, "model": model,
                                       "doppler_spread": det.doppler_spread}
    return receive


def _afdm_receiver(modem, layout, mp_options=None):
    from dsp.detection import make_detector
    from dsp.estimation import estimate_afdm

    det = make_detector("mp", modem, **(mp_options or {}))

    def receive(y, nv):
        paths = estimate_afdm(y, layout, nv, modem)
        if paths.shape[0] == 0:
            paths = np.array([[0j, 0, 0]], complex)
        g = det.detect(y, paths, nv)
        return modem.data_symbols(g), {"iterations": det.last_iterations, "paths_dd": paths, "model": modem,
                                       "doppler_spread": det.doppler_spread}
    return receive


def make_setups(cfg: CompareConfig, max_eps: float, l_max: int) -> dict[str, WaveformSetup]:
    """The five waveforms on the common numerology (see the module docstring), pilots sized for a
    largest normalised Doppler ``max_eps`` and delay ``l_max`` cells."""
    from dsp.estimation import afdm_pilot_layout, otfs_pilot_layout
    from dsp.pilot_rx import GfdmPilotReceiver, OfdmDftEstimator
    from dsp.waveforms import AfdmModem, GfdmModem, OddmModem, OfdmModem, OtfsModem

    M, N, q = M_GRID, N_GRID, cfg.qam
    frame = (M + M // N) * N            # 1088 cells
    k_max = int(math.ceil(max_eps * N - 1e-9))
    mp_opts = {"max_iter": 60, "stall_iter": 10}
    out = {}

    # OTFS: one frame CP of M cells (a copy of the last block), Raviteja's embedded pilot, full Doppler guard
    otfs = OtfsModem(M, N, q, cp="frame", cp_len=M)
    lay = otfs_pilot_layout(otfs, l_max, max(k_max, 1), full_doppler_guard=True)
    lay.apply(otfs)
    s = WaveformSetup("otfs", f"OTFS {M}x{N}, frame CP {M}", otfs, 1, [(0, M)] * (N + 1), "rectangular (per block)",
                      "band-limited (sinc) pulse", None, [(M, M * N)], "mp",
                      {"cp": M / frame, "pilot_guard": lay.n_guard * 1.0 / frame})
    s.receive = _otfs_receiver(otfs, lay, mp_options=mp_opts)
    out["otfs"] = s

    # ODDM: Q = 2 samples per cell, RRC 0.25; the same DD grid, pilot and (OTFS-relation) detector
    Q = 2
    oddm = OddmModem(M, N, q, oversampling=Q, rolloff=0.25, cp_len=M * Q)
    model = OtfsModem(M, N, q, cp="frame", cp_len=M)
    lay_o = otfs_pilot_layout(model, l_max, max(k_max, 1), full_doppler_guard=True)
    lay_o.apply(oddm)
    lay_o.apply(model)
    # roll-off 1e-6, not 0: the band-edge bin is then shared half-half between the spectral copies (Nyquist)
    alt = OddmModem(M, N, q, oversampling=Q, rolloff=1e-6, cp_len=M * Q)
    s = WaveformSetup("oddm", f"ODDM {M}x{N}, Q={Q}, RRC 0.25, frame CP {M} cells", oddm, Q, [(M * Q, M * N * Q)],
                      "RRC roll-off 0.25", "roll-off 0", alt, [(M * Q, M * N * Q)], "mp (OTFS DD relation)",
                      {"cp": M / frame, "pilot_guard": lay_o.n_guard / frame})
    s.receive = _otfs_receiver(oddm, lay_o, model=model, mp_options=mp_opts)
    s.notes.append("detected with the OTFS frame-CP delay-Doppler relation (delay bins of Q samples): exact "
                   "up to the Doppler phase within one sub-pulse, which the ODDM discretisation neglects too")
    out["oddm"] = s

    # AFDM: M N chirps, CP M, c1 for the largest Doppler (alpha_max + k_v guard), Bemani's pilot
    n_af = M * N
    alpha_max = int(math.ceil(max_eps * n_af / M - 1e-9))
    afdm = AfdmModem(n_af, q, alpha_max=alpha_max, l_max=l_max, k_v=1, cp_len=M)
    if not afdm.cpp_is_cp:   # pragma: no cover - N even and 2 N c1 integer by construction
        raise ConfigError.bad_value("AFDM c1", afdm.c1, "a chirp-periodic prefix equal to a cyclic prefix")
    lay_a = afdm_pilot_layout(afdm)
    lay_a.apply(afdm)
    s = WaveformSetup("afdm", f"AFDM {n_af} chirps, CP {M}, alpha_max {alpha_max}, k_v 1", afdm, 1, [(M, n_af)],
                      "none (chirps)", None, None, None, "mp", {"cp": M / frame, "pilot_guard": lay_a.n_guard / frame})
    s.receive = _afdm_receiver(afdm, lay_a, mp_options=mp_opts)
    out["afdm"] = s

    # GFDM: K = 68 subcarriers x 15 subsymbols (odd: a non-singular RRC), one CP of 68 -> 1088 cells
    K, Ms = 68, 15
    gfdm = GfdmModem(K, Ms, q, rolloff=0.1, cp_len=frame - K * Ms)
    rx = GfdmPilotReceiver(gfdm, spacing=8, taps=l_max + 2)
    alt = GfdmModem(K, Ms, q, rolloff=0.0, cp_len=frame - K * Ms)
    s = WaveformSetup("gfdm", f"GFDM K={K} x M={Ms}, RRC 0.1, CP {frame - K * Ms}", gfdm, 1, [(frame - K * Ms, K * Ms)],
                      "RRC roll-off 0.1", "roll-off 0", alt, [(frame - K * Ms, K * Ms)], "FDE + ZF",
                      {"cp": (frame - K * Ms) / frame, "pilot_guard": (~gfdm.data_mask).sum() / frame})
    s.receive = rx.receive_frame
    s.notes.append(f"pilot subcarriers {len(rx.pilot_subcarriers)} of {K} (Zadoff-Chu over the subsymbols); "
                   "frequency-domain MMSE + ZF demodulator + per-subsymbol pilot refinement (dsp/pilot_rx.py)")
    out["gfdm"] = s

    # OFDM: 64 subcarriers x 16 symbols, CP 4 per symbol, scattered pilots every 8th subcarrier of every symbol
    ofdm = OfdmModem(M, N, q, cp_len=M // N)
    ofdm.set_pilots(df=8, dt=1)
    s = WaveformSetup("ofdm", f"OFDM {M}x{N}, CP {M // N} per symbol, pilots df=8 dt=1", ofdm, 1, [(M // N, M)] * N,
                      "rectangular (per symbol)", None, None, None, "one-tap MMSE (DFT-based pilot estimate)",
                      {"cp": (M // N) * N / frame, "pilot_guard": (~ofdm.data_mask).sum() / frame})
    s.receive = OfdmDftEstimator(ofdm, taps=l_max + 2).receive
    out["ofdm"] = s
    for k, s in out.items():
        if abs(s.frame_cells - frame) > 1e-9:   # pragma: no cover - the numerology above
            raise ConfigError.bad_value(f"{k} frame", s.frame_cells, f"{frame} cells (equal frame duration)")
        if k in ("otfs", "oddm", "afdm"):
            if s.overhead["cp"] * frame < l_max:   # pragma: no cover
                raise ConfigError.bad_value("delay_spread_cells", cfg.delay_spread_cells, "a channel inside the CP")
    if M // N < l_max:
        raise ConfigError.bad_value("delay_spread_cells", cfg.delay_spread_cells,
                                    f"a largest tap delay <= the OFDM CP of {M // N} cells (got {l_max})")
    return out


# ------------------------------------------------------------------------------------------- measurements
def _data_frames(modem, n, rng):
    bits = rng.integers(0, 2, (n, modem.bits_per_frame), dtype=np.uint8)
    return bits, modem.modulate(bits)


def _all_data(modem):
    """A copy of the modem with every cell carrying data (the waveform's own PAPR, no pilot)."""
    import copy

    m = copy.copy(modem)
    m.set_data_mask(np.ones(modem.shape, bool))
    return m


def measure_papr(s: WaveformSetup, cfg: CompareConfig, rng) -> dict:
    """PAPR (dB) at CCDF 1e-3 of the continuous-time signal, over windows of M + cp = 68 cells."""
    from dsp.spectrum import block_interpolate, ccdf_level, papr_windows

    L = cfg.oversampling
    win_cells = M_GRID + M_GRID // N_GRID
    out, curves = {}, {}
    variants = [("as_sent", _all_data(s.modem), s.blocks), ("with_pilot", s.modem, s.blocks)]
    if s.alt_pulse is not None:
        variants.append(("alt", _all_data(s.alt_modem) if s.alt_modem is not None else _all_data(s.modem),
                         s.alt_blocks))
    batch = 50
    for name, modem, blocks in variants:
        vals = []
        lq = L // s.samples_per_cell
        for start in range(0, cfg.papr_frames, batch):
            n = min(batch, cfg.papr_frames - start)
            _, x = _data_frames(modem, n, rng)
            xo = block_interpolate(x, blocks, lq)
            vals.append(papr_windows(xo, win_cells * L, ref_power=1.0))
        v = np.concatenate(vals)
        try:
            out[name] = 10 * math.log10(ccdf_level(v, 1e-3))
        except ConfigError:
            out[name] = float(10 * math.log10(np.max(v)))   # too few windows (quick mode): the largest
        curves[name] = np.sort(10 * np.log10(v))
    return {"papr_db": out, "curves": curves, "windows": int(curves["as_sent"].size)}


def otfs_papr_vs_n(cfg: CompareConfig, rng, ns=(2, 4, 8, 16, 32)) -> dict:
    """PAPR (dB) at CCDF 1e-3 of OTFS (M = 64, frame CP of one block, every cell data) against the
    number of Doppler bins N, over windows of one block (64 cells) - the dependence behind the "low
    PAPR" claim (each delay-time sample sums N symbols) - and OFDM's 64-subcarrier symbols over the
    same windows for reference. ``{"continuous": {N: dB, "ofdm": dB}, "samples": {...}}``: the
    continuous-time signal (``oversampling`` per cell) and the transmitted samples (1 per cell)."""
    from dsp.spectrum import block_interpolate, ccdf_level, papr_windows
    from dsp.waveforms import OfdmModem, OtfsModem

    M, L = M_GRID, cfg.oversampling
    target = max(cfg.papr_frames * N_GRID, 400)           # blocks per point, about as many as the main CCDFs

    def level(v):
        return 10 * math.log10(ccdf_level(v, 1e-3)) if v.size >= 5000 else 10 * math.log10(v.max())

    out = {"continuous": {}, "samples": {}}
    cases = [(n, OtfsModem(M, n, cfg.qam, cp="frame", cp_len=M), [(0, M)] * (n + 1), M) for n in ns]
    cases.append(("ofdm", OfdmModem(M, N_GRID, cfg.qam, cp_len=0), [(0, M)] * N_GRID, 0))
    for key, m, blocks, skip in cases:
        frames = max(2, target // (m.shape[1]))
        cont, samp = [], []
        for start in range(0, frames, 200):
            _, x = _data_frames(m, min(200, frames - start), rng)
            xo = block_interpolate(x, blocks, L)[:, skip * L:]     # OTFS: drop the CP (it repeats a block)
            cont.append(papr_windows(xo, M * L, ref_power=1.0))
            samp.append(papr_windows(x[:, skip:], M, ref_power=1.0))
        out["continuous"][key] = level(np.concatenate(cont))
        out["samples"][key] = level(np.concatenate(samp))
    return out


def _mask():
    from dsp.spectrum import SpectralMask

    # |f| in units of the cell rate B; channel B_CH = 1.25 B. Illustrative, not a 3GPP mask.
    return SpectralMask(inband=0.5, edges=[B_CH / 2, 0.75 * B_CH, 1.5 * B_CH, 4.0],
                        limits_db=[-25.0, -35.0, -45.0], name="study mask")


def measure_spectrum(s: WaveformSetup, cfg: CompareConfig, rng, pa=None, frames: int = 120) -> dict:
    """Welch PSD of back-to-back frames (continuous-time, L per cell), OBW 99 %, ACLR, mask margin."""
    from dsp.spectrum import aclr_db, block_interpolate, mask_check, occupied_bandwidth, welch_psd

    L = cfg.oversampling
    _, x = _data_frames(s.modem, frames, rng)
    xo = block_interpolate(x, s.blocks, L // s.samples_per_cell).ravel()
    if pa is not None:
        xo = pa.process(xo)
    f, p = welch_psd(xo, fs=L, nperseg=min(8192, 1 << int(math.log2(xo.size // 8))))
    met, margin = mask_check(f, p, _mask())
    return {"f": f, "psd": p, "obw99": occupied_bandwidth(f, p), "aclr_db": aclr_db(f, p, B_CH),
            "mask_met": bool(met), "mask_margin_db": margin}


def point_seed(cfg: CompareConfig, sweep: int) -> np.random.SeedSequence:
    """The seed of every BER point of one sweep: the same for every waveform and every point of the
    sweep (common random numbers: a curve shows the effect of its variable, not a new set of fades)."""
    return np.random.SeedSequence([cfg.seed, 1000 + sweep])


def ber_point(s: WaveformSetup, cfg: CompareConfig, draw, snr_db: float, seed: np.random.SeedSequence,
              max_frames: int | None = None) -> dict:
    """Bit errors, frame errors and frames at one Es/N0 over channel draws ``draw(rng)``.

    Common random numbers: the channel draws come from their own generator (the first child of
    ``seed``), so every waveform given the same seed sees the same sequence of channels - the deep
    fades that dominate a fading BER are shared, and differences between waveforms are not luck.
    """
    rng_ch, rng = (np.random.default_rng(c) for c in seed.spawn(2))
    max_frames = cfg.max_frames if max_frames is None else int(max_frames)
    m = s.modem
    q = s.samples_per_cell
    nv = 10.0 ** (-snr_db / 10.0)
    sigma = math.sqrt(m.noise_var_per_sample(snr_db) / 2.0)
    errors = bits = frames = frame_errors = 0
    work = {"edges": 0, "iterations": 0}
    while (errors < cfg.min_errors or frames < cfg.min_frames) and frames < max_frames:
        tx_bits = rng.integers(0, 2, m.bits_per_frame, dtype=np.uint8)
        x = m.modulate(tx_bits)
        ch = _channel(draw(rng_ch), q)
        r = ch.apply(x)
        r = r + sigma * (rng.standard_normal(r.shape) + 1j * rng.standard_normal(r.shape))
        if s.kind == "gfdm":
            sym, w = s.receive(r, nv)
        else:
            sym, w = s.receive(m.demodulate_grid(r), nv)
        e = int(np.count_nonzero(m.qam.demap_hard(sym) != tx_bits))
        errors += e
        frame_errors += e > 0
        bits += tx_bits.size
        frames += 1
        if "paths_dd" in w:   # the detector's graph size: nonzeros of the estimated channel matrix
            from dsp.detection.graph import channel_coo

            work["edges"] += channel_coo(w["model"], w["paths_dd"], w["doppler_spread"])[0].size
            work["iterations"] += w["iterations"]
    return {"snr_db": snr_db, "ber": errors / bits, "bler": frame_errors / frames, "bit_errors": errors,
            "bits": bits, "frames": frames, "edges": work["edges"] / frames, "iterations": work["iterations"] / frames}


def diversity_order(points: list[dict], min_errors: int = 10, top: int = 3) -> float | None:
    """Diversity order: minus the least-squares slope of ``log10(BER)`` against ``SNR_dB / 10`` over the
    ``top`` highest-SNR points with at least ``min_errors`` bit errors (None when fewer than two qualify)."""
    ok = [p for p in points if p["bit_errors"] >= min_errors][-int(top):]
    if len(ok) < 2:
        return None
    x = np.array([p["snr_db"] / 10.0 for p in ok])
    y = np.log10([p["ber"] for p in ok])
    return float(-np.polyfit(x, y, 1)[0])


def _snr_at(points, target=1e-3):
    """Es/N0 (dB) where the BER crosses ``target`` (log-linear interpolation), None if it does not."""
    pts = [(p["snr_db"], p["ber"]) for p in points if p["ber"] > 0]
    for (s0, b0), (s1, b1) in zip(pts, pts[1:]):
        if b0 >= target > b1:
            return s0 + (math.log10(target) - math.log10(b0)) / (math.log10(b1) - math.log10(b0)) * (s1 - s0)
    return None


def pa_study(s: WaveformSetup, cfg: CompareConfig, rng) -> dict:
    """EVM vs input back-off (noise-free) and 16-QAM AWGN BER with and without the PA (at
    ``pa_backoff_ber_db``) on the continuous-time signal; the receiver decimates back to the cell rate
    (:func:`dsp.spectrum.block_decimate`), removes the Bussgang gain and decides (no channel)."""
    from dsp.pa import PowerAmplifier, bussgang_gain, evm_db
    from dsp.spectrum import block_decimate, block_interpolate
    from dsp.waveforms import make_modem

    L = cfg.oversampling
    lq = L // s.samples_per_cell
    modem = _pa_modem(s, cfg.pa_qam, make_modem)
    bits, x = _data_frames(modem, max(cfg.pa_frames, 4), rng)
    xo = block_interpolate(x, s.blocks, lq)
    ref_grid = modem.demodulate_grid(x)

    def pa_of(ibo):
        return PowerAmplifier(cfg.pa_model, ibo, ref_power=1.0, p=cfg.pa_p)

    evm = {}
    for ibo in sorted(set(cfg.pa_backoff_db) | {cfg.pa_backoff_ber_db}):
        y = block_decimate(pa_of(ibo).process(xo), s.blocks, lq)
        evm[ibo] = evm_db(ref_grid, modem.demodulate_grid(y))
    curves = {}
    for label, pa in (("linear", None), ("pa", pa_of(cfg.pa_backoff_ber_db))):
        y_clean = block_decimate(pa.process(xo), s.blocks, lq) if pa is not None else x.astype(complex)
        a = bussgang_gain(x, y_clean)
        pts = []
        for snr in cfg.pa_snr_db:
            sigma = math.sqrt(modem.noise_var_per_sample(snr) / 2.0)
            r = y_clean / a + sigma * (rng.standard_normal(y_clean.shape) + 1j * rng.standard_normal(y_clean.shape))
            got = modem.qam.demap_hard(modem.data_symbols(modem.demodulate_grid(r))).reshape(bits.shape)
            e = int(np.count_nonzero(got != bits))
            pts.append({"snr_db": snr, "ber": e / bits.size, "bit_errors": e})
        curves[label] = pts
    lin, pa_ = _snr_at(curves["linear"]), _snr_at(curves["pa"])
    return {"evm_db": evm, "ber": curves, "penalty_db": None if lin is None or pa_ is None else pa_ - lin}


def _align(rx, tx):
    """(delay, fractional delay) of ``tx`` inside ``rx`` from the cross-correlation peak (parabolic
    interpolation of the magnitude around it)."""
    n = int(2 ** math.ceil(math.log2(rx.size + tx.size)))
    c = np.fft.ifft(np.fft.fft(rx, n) * np.conj(np.fft.fft(tx, n)))[: rx.size - tx.size + 1]
    a = np.abs(c)
    k = int(np.argmax(a))
    frac = 0.0
    if 0 < k < a.size - 1:
        den = a[k - 1] - 2 * a[k] + a[k + 1]
        frac = 0.5 * (a[k - 1] - a[k + 1]) / den if den else 0.0
    return k, float(frac)


def _shift(x, frac):
    """``x`` advanced by ``frac`` samples (DFT phase ramp; ``frac`` in -0.5..0.5)."""
    if abs(frac) < 1e-9:
        return x
    f = np.fft.fftfreq(x.size)
    return np.fft.ifft(np.fft.fft(x) * np.exp(2j * np.pi * f * frac))


def radio_study(s: WaveformSetup, cfg: CompareConfig, radio, rng, *, frames: int = 8, level_dbfs: float = -12.0,
                pa=None) -> dict:
    """The PA study's frames through a radio: a loopback (the mock; or a real TX -> cable/attenuator ->
    RX). Sends ``frames`` frames (``cfg.pa_qam``-QAM, every cell data; optionally through the PA model
    first) as one timed burst at ``level_dbfs`` RMS, captures, aligns by cross-correlation (integer +
    parabolic fractional delay), removes the complex gain (Bussgang) and returns the EVM (dB) and the
    raw (no added noise) BER of the demodulated frames. The radio must be open, configured (sample
    rate, frequencies, gains) and not streaming; it is started and stopped here."""
    from dsp.pa import bussgang_gain, evm_db
    from dsp.waveforms import make_modem

    modem = _pa_modem(s, cfg.pa_qam, make_modem)
    bits, x = _data_frames(modem, frames, rng)
    burst = x.astype(np.complex128).ravel()
    if pa is not None:
        burst = pa.process(burst)
    amp = 10.0 ** (level_dbfs / 20.0)
    burst = amp * burst
    from hil.errors import DeviceError

    lead, margin = 256, 4096
    tx = burst.astype(np.complex64)
    radio.start()
    try:
        _, meta = radio.read(16, timeout=10.0)
        try:
            radio.write(tx, at_sample=meta.sample_index + 16 + lead, end_burst=True)
            y, _ = radio.read(lead + burst.size + margin, timeout=10.0)
        except DeviceError:
            # no timed bursts (a Pluto): send now and capture a generous margin; the correlation finds it
            radio.write(tx, end_burst=True)
            y, _ = radio.read(3 * burst.size + (1 << 16), timeout=10.0)
    finally:
        radio.stop()
    y = np.asarray(y, np.complex128).reshape(-1)
    k, frac = _align(y, burst)
    seg = y[max(k - 64, 0): k + burst.size + 64]
    seg = _shift(seg, frac)[min(k, 64): min(k, 64) + burst.size]
    if seg.size < burst.size:
        raise ConfigError.bad_value("radio capture", seg.size, f">= {burst.size} samples after alignment")
    g = bussgang_gain(burst, seg)
    rxf = (seg / g / amp).reshape(frames, modem.frame_length)
    grid = modem.demodulate_grid(rxf)
    ref = modem.demodulate_grid(x)
    got = modem.qam.demap_hard(modem.data_symbols(grid)).reshape(bits.shape)
    return {"evm_db": evm_db(modem.data_symbols(ref), modem.data_symbols(grid)),
            "ber": float(np.count_nonzero(got != bits) / bits.size), "delay": k + frac, "gain_db":
            float(20 * np.log10(abs(g)))}


def _pa_modem(s, qam, make_modem):
    """The setup's modem at the PA study's QAM order, every cell data."""
    from dsp.waveforms import AfdmModem, GfdmModem, OddmModem, OfdmModem, OtfsModem

    m = s.modem
    if isinstance(m, OtfsModem):
        return OtfsModem(m.M, m.N, qam, cp=m.cp, cp_len=m.cp_len)
    if isinstance(m, OddmModem):
        return OddmModem(m.M, m.N, qam, oversampling=m.oversampling, rolloff=m.rolloff, cp_len=m.cp_len)
    if isinstance(m, AfdmModem):
        return AfdmModem(m.N, qam, alpha_max=m.alpha_max, l_max=m.l_max, k_v=m.k_v, cp_len=m.cp_len)
    if isinstance(m, GfdmModem):
        return GfdmModem(m.K, m.M, qam, rolloff=m.rolloff, cp_len=m.cp_len)
    if isinstance(m, OfdmModem):
        return OfdmModem(m.M, m.N, qam, cp_len=m.cp_len)
    return make_modem(s.kind, qam=qam)  # pragma: no cover


def _fft_mults(n: int) -> float:
    """Complex multiplications of a radix-2 FFT of size n, counted as (n / 2) log2 n."""
    return n / 2 * math.log2(n) if n > 1 else 0.0


def op_counts(s: WaveformSetup) -> dict:
    """Counted complex multiplications per frame of the TX and RX transforms (FFTs as (n/2) log2 n;
    elementwise products counted once each); the detector's work is measured separately."""
    m, k = s.modem, s.kind
    if k == "otfs":
        tx = m.M * _fft_mults(m.N)
        rx = tx
    elif k == "oddm":
        L, Q = m.M * m.N, m.oversampling
        tx = m.M * _fft_mults(m.N) + _fft_mults(L) + _fft_mults(L * Q) + L * Q
        rx = _fft_mults(L * Q) + L * Q + _fft_mults(L) + m.M * _fft_mults(m.N)
    elif k == "afdm":
        tx = _fft_mults(m.N) + m.N
        rx = tx
    elif k == "gfdm":
        tx = m.M * _fft_mults(m.K) + 2 * m.K * _fft_mults(m.M) + m.K * m.M
        rx = tx + 2 * _fft_mults(m.K * m.M) + 2 * m.K * m.M           # plus the FDE (two FFTs, one product)
    else:
        tx = m.N * _fft_mults(m.M)
        rx = tx + m.M * m.N                                            # plus the one-tap equaliser
    return {"tx_cmul_per_sample": tx / m.frame_length, "rx_cmul_per_sample": rx / m.frame_length}


def time_tx(s: WaveformSetup, frames: int, rng, repeats: int = 3) -> float:
    """TX ns per sample (bits -> samples, a batch of ``frames``), the best of ``repeats``."""
    bits = rng.integers(0, 2, (frames, s.modem.bits_per_frame), dtype=np.uint8)
    s.modem.modulate(bits[:1])
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        s.modem.modulate(bits)
        best = min(best, time.perf_counter() - t0)
    return best / (frames * s.modem.frame_length) * 1e9


def kernels_compiled() -> bool:
    from dsp._kernels import load

    return all(not load(n).__name__.endswith("_py") for n in ("_mp", "_modmap", "_modframe", "_chirp", "_chanop"))


# ------------------------------------------------------------------------------------------- the study
_COST = {"afdm": 0, "otfs": 1, "oddm": 2, "gfdm": 3, "ofdm": 4}   # heaviest first (parallel load balance)


def _steps(cfg):
    return 3 + len(cfg.snr_db) + len(cfg.doppler) + len(cfg.diversity_snr_db)


def _measure_one(kind: str, cfg: CompareConfig, seed_seq, queue=None) -> dict:
    """Every measurement of one waveform except the timing (a worker process's job)."""
    from dsp.pa import PowerAmplifier

    eps_all = sorted(set(cfg.doppler) | {cfg.doppler_for_snr_sweep})
    _, l_max = channel_factory(cfg.ntn_profile, cfg.delay_spread_cells, 0.0)
    s = make_setups(cfg, max(eps_all), l_max)[kind]
    r_papr, r_spec, r_pa = (np.random.default_rng(c) for c in seed_seq.spawn(3))

    stage_s = {}
    t_last = [time.perf_counter()]

    def tick(stage):
        now = time.perf_counter()
        stage_s[stage] = now - t_last[0]
        t_last[0] = now
        if queue is not None:
            queue.put((kind, stage))

    res = {"papr": measure_papr(s, cfg, r_papr)}
    tick("PAPR")
    frames_spec = 120 if cfg.papr_frames >= 200 else 20
    res["spectrum"] = measure_spectrum(s, cfg, r_spec, frames=frames_spec)
    pa = PowerAmplifier(cfg.pa_model, cfg.pa_backoff_ber_db, p=cfg.pa_p)
    res["spectrum_pa"] = measure_spectrum(s, cfg, r_spec, pa=pa, frames=frames_spec)
    tick("spectrum")
    res["pa"] = pa_study(s, cfg, r_pa)
    tick("PA")
    draw, _ = channel_factory(cfg.ntn_profile, cfg.delay_spread_cells, cfg.doppler_for_snr_sweep)
    pts = []
    for snr in cfg.snr_db:
        pts.append(ber_point(s, cfg, draw, snr, point_seed(cfg, 0)))
        tick(f"Es/N0 {snr:g} dB")
    res["ber_snr"] = pts
    res["diversity"] = diversity_order(pts)
    dpts = []
    for eps in cfg.doppler:
        d, _ = channel_factory(cfg.ntn_profile, cfg.delay_spread_cells, eps)
        dpts.append({"doppler": eps, **ber_point(s, cfg, d, cfg.snr_for_doppler_sweep, point_seed(cfg, 1))})
        tick(f"Doppler {eps:g}")
    res["ber_doppler"] = dpts
    d0, _ = channel_factory(cfg.ntn_profile, cfg.delay_spread_cells, 0.0)
    spts = []
    for snr in cfg.diversity_snr_db:
        spts.append(ber_point(s, cfg, d0, snr, point_seed(cfg, 2), max_frames=cfg.diversity_max_frames))
        tick(f"static {snr:g} dB")
    res["ber_static"] = spts
    res["diversity_static"] = diversity_order(spts)
    res["stage_s"] = stage_s
    return res


def time_rx(s: WaveformSetup, cfg: CompareConfig, rng, frames: int = 8) -> float:
    """RX ns per sample: demodulation + channel estimation + detection of single frames (NTN-TDL at
    the Es/N0 sweep's Doppler, 15 dB), measured alone (one process)."""
    from dsp.detection.graph import channel_coo  # noqa: F401  (imported here so its import is not timed)

    m, q = s.modem, s.samples_per_cell
    draw, _ = channel_factory(cfg.ntn_profile, cfg.delay_spread_cells, cfg.doppler_for_snr_sweep)
    snr = 15.0
    nv = 10.0 ** (-snr / 10.0)
    sigma = math.sqrt(m.noise_var_per_sample(snr) / 2.0)
    total = 0.0
    for i in range(frames + 1):
        x = m.modulate(rng.integers(0, 2, m.bits_per_frame, dtype=np.uint8))
        r = _channel(draw(rng), q).apply(x)
        r = (r + sigma * (rng.standard_normal(r.shape) + 1j * rng.standard_normal(r.shape))).astype(np.complex64)
        t0 = time.perf_counter()
        if s.kind == "gfdm":
            s.receive(r, nv)
        else:
            s.receive(m.demodulate_grid(r), nv)
        if i:   # the first frame warms caches up
            total += time.perf_counter() - t0
    return total / (frames * m.frame_length) * 1e9


def run_compare(cfg: CompareConfig, outdir: str, *, progress: bool = True, waveforms=ORDER, jobs: int = 2,
                radio=None, radio_level_dbfs: float = -12.0) -> dict:
    """Run the whole study, write ``outdir`` (table1.csv, table1.md, summary.json, report.html, PNGs)
    and return the summary dict. ``waveforms``: a subset of :data:`ORDER` (kept in Table I's order);
    ``jobs``: worker processes for the per-waveform measurements (the timing runs alone afterwards);
    ``radio``: an open, configured :class:`hil.backends.base.Radio` in loopback - each waveform's PA-study
    frames are then also sent through it (:func:`radio_study`: EVM and raw BER on the real chain)."""
    from tqdm import tqdm

    bad = [w for w in waveforms if w not in ORDER]
    if bad or not waveforms:
        raise ConfigError.bad_value("waveforms", list(waveforms), "one or more of " + ", ".join(ORDER))
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError.bad_value("jobs", jobs, "an integer >= 1")
    kinds = [k for k in ORDER if k in waveforms]
    t_start = time.perf_counter()
    seeds = dict(zip(ORDER, np.random.SeedSequence(cfg.seed).spawn(len(ORDER))))
    bar = tqdm(total=_steps(cfg) * len(kinds) + len(kinds), desc="compare", unit="step", disable=not progress,
               leave=False)
    results = {}
    try:
        if jobs == 1 or len(kinds) == 1:
            class _Q:
                def put(self, item):
                    bar.set_postfix(waveform=item[0], stage=item[1])
                    bar.update()
            for k in kinds:
                results[k] = _measure_one(k, cfg, seeds[k].spawn(2)[0], _Q())
        else:
            results = _parallel(kinds, cfg, seeds, jobs, bar)
        # timing alone, with the compiled kernels, after the parallel part
        eps_all = sorted(set(cfg.doppler) | {cfg.doppler_for_snr_sweep})
        _, l_max = channel_factory(cfg.ntn_profile, cfg.delay_spread_cells, 0.0)
        setups = make_setups(cfg, max(eps_all), l_max)
        for k in kinds:
            bar.set_postfix(waveform=k, stage="timing")
            rng = np.random.default_rng(seeds[k].spawn(2)[1])
            results[k]["setup"] = setups[k]
            results[k]["tx_ns_per_sample"] = time_tx(setups[k], cfg.timing_frames, rng)
            results[k]["rx_ns_per_sample"] = time_rx(setups[k], cfg, rng)
            results[k]["ops"] = op_counts(setups[k])
            bar.update()
        otfs_n = otfs_papr_vs_n(cfg, np.random.default_rng(np.random.SeedSequence([cfg.seed, 77])))
        if radio is not None:
            for k in kinds:
                bar.set_postfix(waveform=k, stage="radio")
                results[k]["radio"] = radio_study(setups[k], cfg, radio,
                                                  np.random.default_rng(np.random.SeedSequence([cfg.seed, 78])),
                                                  level_dbfs=radio_level_dbfs)
    finally:
        bar.close()
    results = {k: results[k] for k in kinds}
    elapsed = time.perf_counter() - t_start
    summary = _summarise(cfg, results, elapsed, jobs)
    summary["otfs_papr_vs_n_db"] = otfs_n
    if radio is not None:
        summary["radio"] = {"backend": type(radio).__name__, "level_dbfs": radio_level_dbfs,
                            "sample_rate": float(getattr(radio, "sample_rate", float("nan")))}
    write_outputs(outdir, cfg, results, summary)
    return summary


def _parallel(kinds, cfg, seeds, jobs, bar):
    import multiprocessing as mp
    import queue as queue_mod
    from concurrent.futures import ProcessPoolExecutor

    ctx = mp.get_context("spawn")   # no fork of a process that may hold BLAS/FFT threads
    with ctx.Manager() as manager:
        q = manager.Queue()
        with ProcessPoolExecutor(max_workers=min(jobs, len(kinds)), mp_context=ctx) as ex:
            futs = {ex.submit(_measure_one, k, cfg, seeds[k].spawn(2)[0], q): k
                    for k in sorted(kinds, key=_COST.get)}
            pending = set(futs)
            while pending:
                try:
                    kind, stage = q.get(timeout=0.2)
                    bar.set_postfix(waveform=kind, stage=stage)
                    bar.update()
                except queue_mod.Empty:
                    pass
                pending = {f for f in pending if not f.done()}
            while True:   # the last ticks
                try:
                    q.get_nowait()
                    bar.update()
                except queue_mod.Empty:
                    break
            return {futs[f]: f.result() for f in futs}


def _row(cfg, k, r):
    s = r["setup"]
    frame = s.frame_cells
    eff = s.net_bits / frame / B_CH
    pts = r["ber_snr"]
    by_snr = {p["snr_db"]: p for p in pts}
    top = pts[-1]
    dop = r["ber_doppler"]
    row = {
        "waveform": k.upper(),
        "configuration": s.label,
        "frame_cells": round(frame),
        "cp_overhead_pct": 100 * s.overhead["cp"],
        "pilot_guard_overhead_pct": 100 * s.overhead["pilot_guard"],
        "data_bits_per_frame": s.net_bits,
        "net_efficiency_bps_hz": eff,
        "pulse": s.pulse,
        "papr_1e3_db": r["papr"]["papr_db"]["as_sent"],
        "papr_1e3_alt_pulse_db": r["papr"]["papr_db"].get("alt"),
        "alt_pulse": s.alt_pulse or "",
        "papr_1e3_with_pilot_db": r["papr"]["papr_db"]["with_pilot"],
        "obw99_B": r["spectrum"]["obw99"],
        "aclr_db": r["spectrum"]["aclr_db"],
        "mask_margin_db": r["spectrum"]["mask_margin_db"],
        "mask_met": r["spectrum"]["mask_met"],
        "detector": s.detector_name,
    }
    for snr in cfg.snr_db:
        row[f"ber_{snr:g}dB"] = by_snr[snr]["ber"]
    for snr in cfg.snr_db:
        row[f"fer_{snr:g}dB"] = by_snr[snr]["bler"]
    for snr in cfg.snr_db:
        row[f"frames_{snr:g}dB"] = by_snr[snr]["frames"]
    row[f"bler_{top['snr_db']:g}dB"] = top["bler"]
    row["esn0_for_ber_1e-3_db"] = _snr_at(pts)
    row["diversity_order"] = r["diversity"]
    for p in r["ber_static"]:
        row[f"ber_static_{p['snr_db']:g}dB"] = p["ber"]
    row["diversity_order_static"] = r["diversity_static"]
    top_static = r["ber_static"][-1]
    row["static_top_frame_errors"] = round(top_static["bler"] * top_static["frames"])
    row["static_top_frames"] = top_static["frames"]
    for p in dop:
        row[f"ber_doppler_{p['doppler']:g}"] = p["ber"]
    for p in dop:
        row[f"fer_doppler_{p['doppler']:g}"] = p["bler"]
    for ibo, v in r["pa"]["evm_db"].items():
        row[f"evm_ibo_{ibo:g}dB"] = v
    row["pa_penalty_db_at_1e-3"] = r["pa"]["penalty_db"]
    row["aclr_after_pa_db"] = r["spectrum_pa"]["aclr_db"]
    if "radio" in r:
        row["radio_evm_db"] = r["radio"]["evm_db"]
        row["radio_ber"] = r["radio"]["ber"]
    row["tx_ns_per_sample"] = r["tx_ns_per_sample"]
    row["rx_ns_per_sample"] = r["rx_ns_per_sample"]
    row["tx_cmul_per_sample"] = r["ops"]["tx_cmul_per_sample"]
    row["rx_cmul_per_sample"] = r["ops"]["rx_cmul_per_sample"]
    top_work = pts[-1]
    row["detector_edge_iterations_per_sample"] = (top_work["edges"] * max(top_work["iterations"], 0)
                                                  / s.modem.frame_length) if top_work["edges"] else None
    return row


def _summarise(cfg, results, elapsed, jobs=1):
    rows = [_row(cfg, k, r) for k, r in results.items()]
    return {"title": f"Table I measured ({cfg.name})", "config": asdict(cfg), "rows": rows,
            "elapsed_s": elapsed, "jobs": jobs, "stage_s": {k: r.get("stage_s") for k, r in results.items()},
            "compiled_kernels": kernels_compiled(),
            "mask": _mask().describe(), "channel_bandwidth_B": B_CH,
            "notes": {k: r["setup"].notes for k, r in results.items()}}


# ------------------------------------------------------------------------------------------- outputs
_MD_COLUMNS = [
    ("waveform", "waveform", "s"), ("cp_overhead_pct", "CP %", ".1f"),
    ("pilot_guard_overhead_pct", "pilot+guard %", ".1f"),
    ("net_efficiency_bps_hz", "net b/s/Hz", ".2f"), ("papr_1e3_db", "PAPR@1e-3 dB", ".2f"),
    ("papr_1e3_alt_pulse_db", "PAPR other pulse", ".2f"), ("papr_1e3_with_pilot_db", "PAPR w/ pilot", ".2f"),
    ("obw99_B", "OBW99 /B", ".3f"), ("aclr_db", "ACLR dB", ".1f"), ("mask_margin_db", "mask margin dB", ".1f"),
]


def _fmt(v, f):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if f == "s":
        return str(v)
    return format(v, f)


def _markdown_table(rows, cfg):
    snr_cols = [(f"ber_{s:g}dB", f"BER {s:g} dB", ".2e") for s in cfg.snr_db]
    dop_cols = [(f"ber_doppler_{d:g}", f"BER eps={d:g}", ".2e") for d in cfg.doppler]
    top = cfg.snr_db[-1]
    cols = (_MD_COLUMNS + [("detector", "detector", "s")] + snr_cols
            + [(f"bler_{top:g}dB", f"FER {top:g} dB", ".3f"), ("esn0_for_ber_1e-3_db", "Es/N0 @1e-3", ".1f"),
               ("diversity_order", "diversity", ".2f")] + dop_cols
            + [(f"ber_static_{s:g}dB", f"BER static {s:g} dB", ".2e") for s in cfg.diversity_snr_db]
            + [("diversity_order_static", "diversity static", ".2f")]
            + [(f"evm_ibo_{cfg.pa_backoff_ber_db:g}dB", f"EVM IBO {cfg.pa_backoff_ber_db:g} dB", ".1f"),
               ("pa_penalty_db_at_1e-3", "PA penalty dB", ".2f"), ("aclr_after_pa_db", "ACLR after PA", ".1f")]
            + ([("radio_evm_db", "radio EVM dB", ".1f"), ("radio_ber", "radio BER", ".2e")]
               if any("radio_evm_db" in r for r in rows) else [])
            + [("tx_ns_per_sample", "TX ns/sa", ".1f"), ("rx_ns_per_sample", "RX ns/sa", ".0f"),
               ("tx_cmul_per_sample", "TX cmul/sa", ".1f"), ("rx_cmul_per_sample", "RX cmul/sa", ".1f"),
               ("detector_edge_iterations_per_sample", "det. edge-iter/sa", ".0f")])
    lines = ["| " + " | ".join(c[1] for c in cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c[0]), c[2]) for c in cols) + " |")
    return lines


def _plots(outdir, cfg, results, otfs_n=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dsp.spectrum import papr_ccdf_rayleigh

    made = []
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 2]})
    for kind, style in (("continuous", "-"), ("samples", ":")):
        pn = (otfs_n or {}).get(kind, {})
        ns = [n for n in pn if n != "ofdm"]
        if not ns:
            continue
        line, = ax2.semilogx(ns, [pn[n] for n in ns], "o" + style, base=2, label=f"OTFS, M = 64 ({kind})")
        if "ofdm" in pn:
            ax2.axhline(pn["ofdm"], color=line.get_color(), ls="--", lw=1, label=f"OFDM, 64 subcarriers ({kind})")
    if otfs_n:
        ax2.set_xlabel("N (Doppler bins = symbols summed per sample)")
        ax2.set_ylabel("PAPR at CCDF 1e-3 (dB), windows of 64 cells")
        ax2.grid(True, which="both", alpha=0.3)
        ax2.legend(fontsize=8)
        ax2.set_title("OTFS PAPR grows with N")
    for k, r in results.items():
        c = r["papr"]["curves"]["as_sent"]
        p = 1.0 - np.arange(1, c.size + 1) / c.size
        line, = ax.semilogy(c, np.maximum(p, 1e-12), label=f"{k.upper()} ({r['setup'].pulse})")
        if "alt" in r["papr"]["curves"]:
            c2 = r["papr"]["curves"]["alt"]
            ax.semilogy(c2, np.maximum(1.0 - np.arange(1, c2.size + 1) / c2.size, 1e-12), ":",
                        color=line.get_color(), label=f"{k.upper()} ({r['setup'].alt_pulse})")
    win = M_GRID + M_GRID // N_GRID
    g = np.linspace(4, 13, 200)
    ax.semilogy(g, papr_ccdf_rayleigh(10 ** (g / 10), int(2.8 * M_GRID)), "k--", lw=1,
                label="closed form 1-(1-e^-x)^(2.8 M) (oversampled OFDM)")
    ax.set_ylim(1e-4, 1)
    ax.set_xlabel(f"PAPR (dB) over a window of {win} cells")
    ax.set_ylabel("CCDF")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(f"PAPR CCDF, continuous-time signal ({cfg.oversampling} samples per cell)")
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "ccdf.png"), dpi=100)
    plt.close(fig)
    made.append(("PAPR CCDF", "ccdf.png"))

    mask = _mask()
    fig, axs = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True)
    for ax, key, title in ((axs[0], "spectrum", "linear"),
                           (axs[1], "spectrum_pa", f"after the PA ({cfg.pa_model}, IBO {cfg.pa_backoff_ber_db:g} dB)")):
        for k, r in results.items():
            sp = r[key]
            inb = np.abs(sp["f"]) <= mask.inband
            ref = np.mean(sp["psd"][inb])
            ax.plot(sp["f"], 10 * np.log10(np.maximum(sp["psd"], 1e-30) / ref), lw=0.8, label=k.upper())
        for sgn in (-1, 1):
            for i, lim in enumerate(mask.limits_db):
                lo, hi = mask.edges[i], min(mask.edges[i + 1], cfg.oversampling / 2)
                ax.plot(sgn * np.array([lo, hi]), [lim, lim], "k-", lw=1.5)
        ax.axvspan(-B_CH / 2, B_CH / 2, color="grey", alpha=0.08)
        ax.set_xlim(-2.5, 2.5)
        ax.set_ylim(-90, 8)
        ax.set_xlabel("frequency / cell rate B (channel = grey, 1.25 B)")
        ax.set_title(f"Welch PSD, {title}")
        ax.grid(alpha=0.3)
    axs[0].set_ylabel("dB relative to the in-band mean")
    axs[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "psd.png"), dpi=100)
    plt.close(fig)
    made.append(("Power spectral density and the study mask", "psd.png"))

    fig, axs = plt.subplots(1, 2, figsize=(12, 4.6))
    for k, r in results.items():
        pts = r["ber_snr"]
        line, = axs[0].semilogy([p["snr_db"] for p in pts], [max(p["ber"], 1e-7) for p in pts], "o-",
                                label=f"{k.upper()} ({r['setup'].detector_name})")
        st = r["ber_static"]
        axs[0].semilogy([p["snr_db"] for p in st], [max(p["ber"], 1e-7) for p in st], "s--", color=line.get_color(),
                        alpha=0.7, label=f"{k.upper()} static (eps = 0)")
        dp = r["ber_doppler"]
        axs[1].semilogy([p["doppler"] for p in dp], [max(p["ber"], 1e-7) for p in dp], "o-", label=k.upper())
    axs[0].set_xlabel("Es/N0 (dB)")
    axs[0].set_ylabel("BER (estimated channel)")
    axs[0].set_title(f"NTN-TDL-{cfg.ntn_profile}, eps = {cfg.doppler_for_snr_sweep:g} (solid), 0 (dashed), "
                     f"{cfg.qam}-QAM")
    axs[1].set_xlabel("normalised Doppler eps = f_D / (B/64)")
    axs[1].set_ylabel("BER")
    axs[1].set_title(f"NTN-TDL-{cfg.ntn_profile}, Es/N0 {cfg.snr_for_doppler_sweep:g} dB")
    for ax in axs:
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("BER with embedded-pilot channel estimates (floor 1e-7 = no errors)")
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "ber.png"), dpi=100)
    plt.close(fig)
    made.append(("BER vs Es/N0 and vs normalised Doppler", "ber.png"))

    fig, axs = plt.subplots(1, 2, figsize=(12, 4.4))
    for k, r in results.items():
        e = r["pa"]["evm_db"]
        axs[0].plot(list(e.keys()), list(e.values()), "o-", label=k.upper())
        for lab, style in (("linear", "--"), ("pa", "o-")):
            pts = r["pa"]["ber"][lab]
            if lab == "pa":
                axs[1].semilogy([p["snr_db"] for p in pts], [max(p["ber"], 1e-7) for p in pts], style,
                                label=f"{k.upper()} PA")
    lin = next(iter(results.values()))["pa"]["ber"]["linear"]
    axs[1].semilogy([p["snr_db"] for p in lin], [max(p["ber"], 1e-7) for p in lin], "k--", label="linear (OTFS)")
    axs[0].set_xlabel("input back-off (dB)")
    axs[0].set_ylabel("EVM (dB)")
    axs[0].set_title(f"{cfg.pa_model} PA (p = {cfg.pa_p:g}): EVM, no noise")
    axs[1].set_xlabel("Es/N0 (dB)")
    axs[1].set_ylabel("BER")
    axs[1].set_title(f"{cfg.pa_qam}-QAM AWGN, IBO {cfg.pa_backoff_ber_db:g} dB")
    for ax in axs:
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "pa.png"), dpi=100)
    plt.close(fig)
    made.append(("Power amplifier: EVM and BER", "pa.png"))
    return made


def _atomic_write(path, text):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_outputs(outdir, cfg, results, summary):
    """table1.csv, table1.md, summary.json, the PNGs and report.html under ``outdir``."""
    import base64
    import io
    from html import escape

    os.makedirs(outdir, exist_ok=True)
    rows = summary["rows"]
    keys = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(rows)
    _atomic_write(os.path.join(outdir, "table1.csv"), buf.getvalue())
    plots = _plots(outdir, cfg, results, summary.get("otfs_papr_vs_n_db"))
    meta = [f"- **elapsed**: {summary['elapsed_s']:.0f} s with {summary['jobs']} worker process(es); "
            f"compiled kernels: {summary['compiled_kernels']}",
            f"- **numerology**: cell rate B, channel {B_CH:g} B, frames of 1088 cells; {cfg.qam}-QAM; "
            f"NTN-TDL-{cfg.ntn_profile}, DS {cfg.delay_spread_cells:g} cells (taps rounded to cells)",
            f"- **Es/N0 sweep** at eps = {cfg.doppler_for_snr_sweep:g}; **Doppler sweep** at "
            f"{cfg.snr_for_doppler_sweep:g} dB; {cfg.min_frames}..{cfg.max_frames} frames per point "
            f"(stop at {cfg.min_errors} bit errors)",
            f"- **PA**: {cfg.pa_model}, p = {cfg.pa_p:g}; EVM noise-free; penalty = Es/N0 at BER 1e-3 "
            f"({cfg.pa_qam}-QAM, "
            f"AWGN) at IBO {cfg.pa_backoff_ber_db:g} dB minus linear",
            f"- **mask**: {summary['mask']}"]
    if summary.get("radio"):
        ra = summary["radio"]
        meta.append(f"- **radio loopback**: {ra['backend']} at {ra['sample_rate']:g} Sa/s, TX {ra['level_dbfs']:g} "
                    f"dBFS RMS; the PA study's {cfg.pa_qam}-QAM frames, aligned, gain removed: radio EVM and raw BER")
    for s in (results[k]["setup"] for k in results):
        meta.append(f"- **{s.kind.upper()}**: {s.label}; pulse {s.pulse}; detector {s.detector_name}"
                    + ("; " + "; ".join(s.notes) if s.notes else ""))
    for kind, pn in (summary.get("otfs_papr_vs_n_db") or {}).items():
        meta.append(f"- **OTFS PAPR at 1e-3 vs N** ({kind}; M = 64, windows of 64 cells): "
                    + ", ".join(f"N={n}: {v:.2f} dB" for n, v in pn.items() if n != "ofdm")
                    + (f"; OFDM 64 subcarriers: {pn['ofdm']:.2f} dB" if "ofdm" in pn else ""))
    words = ["", "## Table I's words (for comparison; docs/compare.md discusses them against the numbers)", ""]
    words += [f"- **{k.upper()}**: {TABLE1_WORDS[k]}" for k in results]
    md = [f"# {summary['title']}", "", *meta, "", *_markdown_table(rows, cfg), *words, "", "## Plots", ""]
    md += [f"![{cap}]({png})" for cap, png in plots]
    _atomic_write(os.path.join(outdir, "table1.md"), "\n".join(md) + "\n")
    _atomic_write(os.path.join(outdir, "summary.json"), json.dumps(summary, indent=2, default=_json_default))
    html = [f"<!doctype html><meta charset='utf-8'><title>{escape(summary['title'])}</title>",
            "<style>body{font-family:sans-serif;max-width:1400px;margin:auto}"
            "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:3px 6px}</style>",
            f"<h1>{escape(summary['title'])}</h1><ul>"]
    html += [f"<li>{escape(m[2:])}</li>" for m in meta]
    tbl = _markdown_table(rows, cfg)
    html.append("</ul><table>")
    html.append("<tr>" + "".join(f"<th>{escape(c.strip())}</th>" for c in tbl[0].strip("|").split("|")) + "</tr>")
    for line in tbl[2:]:
        html.append("<tr>" + "".join(f"<td>{escape(c.strip())}</td>" for c in line.strip("|").split("|")) + "</tr>")
    html.append("</table>")
    for cap, png in plots:
        with open(os.path.join(outdir, png), "rb") as fh:
            b64 = base64.b64encode(fh.read()).decode()
        html.append(f"<h2>{escape(cap)}</h2><img src='data:image/png;base64,{b64}' style='max-width:100%'>")
    _atomic_write(os.path.join(outdir, "report.html"), "\n".join(html))


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.bool_):
        return bool(o)
    return str(o)


def load_compare_config(path: str | None) -> CompareConfig:
    """The study settings from a YAML file (``None``: the defaults)."""
    from dsp.config import load_yaml, parse

    if path is None:
        return CompareConfig()
    return parse(CompareConfig, load_yaml(path), source=str(path))
