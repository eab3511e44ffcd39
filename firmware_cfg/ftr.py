"""AD9361 FIR filter files (``.ftr``): parse, validate, write, design.

The format (as the AD9361 Linux driver and pyadi-iio's ``filter`` attribute read it)::

    # comments start with '#'
    TX 3 GAIN 0 INT 4          # TX chains (1, 2 or 3 = both), FIR gain 0 or -6 dB, interpolation 1/2/4
    RX 3 GAIN 0 DEC 4          # RX chains, FIR gain -12/-6/0/+6 dB, decimation 1/2/4
    RTX 768000000 48000000 16000000 8000000 4000000 1000000    # optional: BBPLL DAC T2 T1 TF TXSAMP (Hz)
    RRX 768000000 48000000 16000000 8000000 4000000 1000000    # optional: BBPLL ADC R2 R1 RF RXSAMP (Hz)
    BWTX 1000000               # optional: TX analog bandwidth (Hz)
    BWRX 1000000               # optional: RX analog bandwidth (Hz)
    -12,-15                    # then the taps: "tx,rx" per line, or one column used for both
    ...

Rules checked here (each failure is a ConfigError naming the file, the line and what is allowed):
16..128 taps in multiples of 16; INT/DEC in {1, 2, 4}; with INT = 1 at most 64 TX taps; coefficients
are int16; gains as above; the six clocks, when given, must form a valid clock tree: BBPLL in
715.8..1430 MHz, ADC/DAC = BBPLL / 2^k (k = 1..6), DAC = ADC or ADC/2, the half-band stages divide by
(1..3), (1..2), (1..2), the FIR stage by exactly DEC/INT; the taps may not exceed
16 * (ADC/2) / sample rate (the FIR's multiply budget per output sample).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from hil.errors import ConfigError

__all__ = ["FirPath", "FirFilter", "parse_ftr", "load_ftr", "write_ftr", "design_decimator", "FIR_DIR",
           "BBPLL_RANGE_HZ"]

FIR_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fir")
BBPLL_RANGE_HZ = (715_827_882, 1_430_000_000)
_RATIOS = (1, 2, 4)
_GAINS = {"TX": (-6, 0), "RX": (-12, -6, 0, 6)}


@dataclass(frozen=True)
class FirPath:
    """One direction of the filter.

    chains : 1, 2 or 3 (both); gain_db : FIR gain setting in dB; ratio : INT (TX) or DEC (RX);
    clocks : the six path clocks in Hz (RTX/RRX line) or None; bandwidth : analog bandwidth in Hz or None.
    """

    chains: int
    gain_db: int
    ratio: int
    clocks: tuple[int, ...] | None = None
    bandwidth: int | None = None


@dataclass(frozen=True, eq=False)
class FirFilter:
    """A validated AD9361 FIR configuration: TX and RX paths and their taps (int16)."""

    tx: FirPath
    rx: FirPath
    tx_taps: np.ndarray
    rx_taps: np.ndarray
    source: str | None = None

    def __post_init__(self):
        validate(self)

    @property
    def ntaps(self) -> int:
        return len(self.rx_taps)

    @property
    def rx_sample_rate(self) -> int | None:
        """RX sample rate (Hz) the clocks are for, if given."""
        return None if self.rx.clocks is None else self.rx.clocks[5]

    @property
    def tx_sample_rate(self) -> int | None:
        return None if self.tx.clocks is None else self.tx.clocks[5]

    def __eq__(self, other) -> bool:
        return (isinstance(other, FirFilter) and self.tx == other.tx and self.rx == other.rx
                and np.array_equal(self.tx_taps, other.tx_taps) and np.array_equal(self.rx_taps, other.rx_taps))

    def __repr__(self) -> str:
        rate = f", {self.rx_sample_rate} S/s" if self.rx_sample_rate else ""
        return (f"FirFilter({self.ntaps} taps, TX INT {self.tx.ratio} GAIN {self.tx.gain_db} dB, "
                f"RX DEC {self.rx.ratio} GAIN {self.rx.gain_db} dB{rate})")


def _bad(source, where, value, allowed):
    raise ConfigError.bad_value(where, value, allowed, source=source)


def _check_clocks(path: FirPath, side: str, source, ntaps: int, adc_hz: int | None):
    name = "RTX" if side == "TX" else "RRX"
    c = path.clocks
    if c is None:
        return
    labels = (("BBPLL", "DAC", "T2", "T1", "TF", "TXSAMP") if side == "TX"
              else ("BBPLL", "ADC", "R2", "R1", "RF", "RXSAMP"))
    if len(c) != 6 or any(v <= 0 for v in c):
        _bad(source, name, list(c), "six positive clock rates in Hz: " + " ".join(labels))
    lo, hi = BBPLL_RANGE_HZ
    if not lo <= c[0] <= hi:
        _bad(source, f"{name} BBPLL", c[0], f"{lo}..{hi} Hz")

    def ratio_ok(a, b, allowed):
        return any(a == b * r for r in allowed)

    if side == "RX":
        if not ratio_ok(c[0], c[1], [2**k for k in range(1, 7)]):
            _bad(source, f"{name} ADC", c[1], "BBPLL / 2^k, k = 1..6")
    else:
        adc = adc_hz if adc_hz is not None else None
        if adc is not None and not ratio_ok(adc, c[1], (1, 2)):
            _bad(source, f"{name} DAC", c[1], f"ADC ({adc} Hz) or ADC / 2")
        if adc is None and not any(ratio_ok(c[0], c[1], [2**k * d for d in (1, 2)]) for k in range(1, 7)):
            _bad(source, f"{name} DAC", c[1], "BBPLL / 2^k or BBPLL / 2^(k+1), k = 1..6")
    for i, allowed in ((2, (1, 2, 3)), (3, (1, 2)), (4, (1, 2))):
        if not ratio_ok(c[i - 1], c[i], allowed):
            _bad(source, f"{name} {labels[i]}", c[i],
                 f"{labels[i - 1]} ({c[i - 1]} Hz) divided by one of {', '.join(map(str, allowed))}")
    if c[4] != c[5] * path.ratio:
        word = "INT" if side == "TX" else "DEC"
        _bad(source, f"{name} {labels[5]}", c[5], f"{labels[4]} / {word} = {c[4]} / {path.ratio} Hz")
    adc = c[1] if side == "RX" else adc_hz
    if adc is not None:
        budget = (adc // 2) // c[5] * 16
        if ntaps > budget:
            _bad(source, "taps", ntaps, f"<= 16 * (ADC/2) / {labels[5]} = {budget} at these clocks")


def validate(fir: FirFilter) -> None:
    """Check every rule of the module docstring; raise ConfigError on the first violation."""
    src = fir.source
    for side, path in (("TX", fir.tx), ("RX", fir.rx)):
        if path.chains not in (1, 2, 3):
            _bad(src, f"{side} chains", path.chains, "1, 2 or 3 (both)")
        if path.gain_db not in _GAINS[side]:
            _bad(src, f"{side} GAIN", path.gain_db, "one of " + ", ".join(f"{g:+d}" for g in _GAINS[side]) + " dB")
        if path.ratio not in _RATIOS:
            _bad(src, f"{side} {'INT' if side == 'TX' else 'DEC'}", path.ratio, "1, 2 or 4")
        if path.bandwidth is not None and not 200_000 <= path.bandwidth <= 56_000_000:
            _bad(src, f"BW{side}", path.bandwidth, "200000..56000000 Hz")
    for name, taps in (("TX taps", fir.tx_taps), ("RX taps", fir.rx_taps)):
        n = len(taps)
        if not (16 <= n <= 128 and n % 16 == 0):
            _bad(src, name, n, "16..128 taps in multiples of 16")
        if taps.dtype != np.int16:
            _bad(src, f"{name}.dtype", str(taps.dtype), "int16")
    if len(fir.tx_taps) != len(fir.rx_taps):
        _bad(src, "taps", f"{len(fir.tx_taps)} TX / {len(fir.rx_taps)} RX", "the same count for TX and RX")
    if fir.tx.ratio == 1 and len(fir.tx_taps) > 64:
        _bad(src, "TX taps", len(fir.tx_taps), "<= 64 when INT = 1")
    _check_clocks(fir.rx, "RX", src, len(fir.rx_taps), None)
    adc = fir.rx.clocks[1] if fir.rx.clocks is not None else None
    _check_clocks(fir.tx, "TX", src, len(fir.tx_taps), adc)


def _int(tok: str, where: str, source, lineno: int) -> int:
    try:
        return int(tok)
    except ValueError:
        _bad(source, f"line {lineno}: {where}", tok, "an integer")


def parse_ftr(text: str, *, source: str | None = None) -> FirFilter:
    """Parse the text of a .ftr file into a validated :class:`FirFilter`."""
    tx = rx = None
    clocks: dict[str, tuple[int, ...]] = {}
    bws: dict[str, int] = {}
    tx_taps: list[int] = []
    rx_taps: list[int] = []
    columns = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        head = words[0].upper()
        if head in ("TX", "RX"):
            if len(words) != 6 or words[2].upper() != "GAIN" or words[4].upper() != ("INT" if head == "TX" else "DEC"):
                _bad(source, f"line {lineno}", raw.strip(),
                     f"'{head} <1|2|3> GAIN <dB> {'INT' if head == 'TX' else 'DEC'} <1|2|4>'")
            if (tx if head == "TX" else rx) is not None:
                _bad(source, f"line {lineno}", raw.strip(), f"one {head} line per file")
            vals = [_int(words[i], f"{head} field {i}", source, lineno) for i in (1, 3, 5)]
            if head == "TX":
                tx = vals
            else:
                rx = vals
            continue
        if head in ("RTX", "RRX"):
            if len(words) != 7:
                _bad(source, f"line {lineno}: {head}", " ".join(words[1:]), "six clock rates in Hz")
            clocks[head] = tuple(_int(w, head, source, lineno) for w in words[1:])
            continue
        if head in ("BWTX", "BWRX"):
            if len(words) != 2:
                _bad(source, f"line {lineno}: {head}", " ".join(words[1:]), "one bandwidth in Hz")
            bws[head] = _int(words[1], head, source, lineno)
            continue
        cols = [c.strip() for c in line.split(",")]
        if len(cols) not in (1, 2) or (len(cols) == 1 and len(words) != 1):
            _bad(source, f"line {lineno}", raw.strip(),
                 "a coefficient line 'tx,rx' or 'coef', or a TX/RX/RTX/RRX/BWTX/BWRX line")
        if columns is None:
            columns = len(cols)
        elif len(cols) != columns:
            _bad(source, f"line {lineno}", raw.strip(), f"{columns} column(s) like the first coefficient line")
        vals = [_int(c, "coefficient", source, lineno) for c in cols]
        for v in vals:
            if not -32768 <= v <= 32767:
                _bad(source, f"line {lineno}: coefficient", v, "-32768..32767 (int16)")
        tx_taps.append(vals[0])
        rx_taps.append(vals[-1])
    if tx is None or rx is None:
        _bad(source, "header", "missing " + " and ".join(n for n, v in (("TX", tx), ("RX", rx)) if v is None),
             "a 'TX <chains> GAIN <dB> INT <n>' and an 'RX <chains> GAIN <dB> DEC <n>' line")
    return FirFilter(
        tx=FirPath(tx[0], tx[1], tx[2], clocks.get("RTX"), bws.get("BWTX")),
        rx=FirPath(rx[0], rx[1], rx[2], clocks.get("RRX"), bws.get("BWRX")),
        tx_taps=np.array(tx_taps, dtype=np.int16), rx_taps=np.array(rx_taps, dtype=np.int16), source=source)


def load_ftr(path: str | os.PathLike) -> FirFilter:
    """Read and validate a .ftr file (a bare name is looked up in firmware_cfg/fir/)."""
    path = os.fspath(path)
    if not os.path.exists(path) and os.sep not in path:
        path = os.path.join(FIR_DIR, path)
    try:
        with open(path, encoding="ascii") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file", source=path) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a text .ftr file ({exc.reason} at byte {exc.start})", source=path) from None
    return parse_ftr(text, source=path)


def write_ftr(fir: FirFilter, path: str | os.PathLike | None = None, *, comments: list[str] = ()) -> str:
    """Format ``fir`` as .ftr text (one column when TX and RX taps are equal); write it to ``path`` if given."""
    validate(fir)
    lines = [f"# {c}" for c in comments]
    lines.append(f"TX {fir.tx.chains} GAIN {fir.tx.gain_db} INT {fir.tx.ratio}")
    lines.append(f"RX {fir.rx.chains} GAIN {fir.rx.gain_db} DEC {fir.rx.ratio}")
    if fir.tx.clocks is not None:
        lines.append("RTX " + " ".join(str(c) for c in fir.tx.clocks))
    if fir.rx.clocks is not None:
        lines.append("RRX " + " ".join(str(c) for c in fir.rx.clocks))
    if fir.tx.bandwidth is not None:
        lines.append(f"BWTX {fir.tx.bandwidth}")
    if fir.rx.bandwidth is not None:
        lines.append(f"BWRX {fir.rx.bandwidth}")
    same = np.array_equal(fir.tx_taps, fir.rx_taps)
    for t, r in zip(fir.tx_taps.tolist(), fir.rx_taps.tolist()):
        lines.append(f"{t}" if same else f"{t},{r}")
    text = "\n".join(lines) + "\n"
    if path is not None:
        with open(path, "w", encoding="ascii") as fh:
            fh.write(text)
    return text


def design_decimator(sample_rate: int, ratio: int = 4, ntaps: int = 128, *, passband: float = 0.9,
                     beta: float = 7.0, bbpll_hz: int | None = None, adc_div: tuple[int, int, int] = (3, 2, 2),
                     bandwidth: int | None = None) -> FirFilter:
    """A Kaiser-windowed low-pass for the FIR stage (same taps for TX and RX, unity DC gain in int16).

    sample_rate : output rate in Hz; the FIR runs at ``ratio * sample_rate``. Cut-off at
    ``passband * sample_rate / 2`` Hz. The clock tree is ADC = RXSAMP * ratio * prod(adc_div) and
    BBPLL = ADC * 2^k with the smallest k that reaches the BBPLL range (unless ``bbpll_hz`` is given).
    """
    from scipy.signal import firwin

    fir_in = sample_rate * ratio
    h = firwin(ntaps, passband * sample_rate / 2, window=("kaiser", beta), fs=fir_in)
    # Unity DC gain in Q15; the sum of rounded taps may differ from 32768 by a few LSB.
    taps = np.round(h / h.sum() * 32768).astype(np.int16)
    hb3, hb2, hb1 = adc_div
    rf = fir_in
    r1 = rf * hb1
    r2 = r1 * hb2
    adc = r2 * hb3
    if bbpll_hz is None:
        k = 1
        while adc * 2**k < BBPLL_RANGE_HZ[0] and k < 6:
            k += 1
        bbpll_hz = adc * 2**k
    clocks = (int(bbpll_hz), int(adc), int(r2), int(r1), int(rf), int(sample_rate))
    bw = None if bandwidth is None else int(bandwidth)
    return FirFilter(tx=FirPath(3, 0, ratio, clocks, bw), rx=FirPath(3, 0, ratio, clocks, bw),
                     tx_taps=taps, rx_taps=taps.copy())
