"""The emulated Pluto as the tools that look at a real one see it: the attribute layout (file names,
shared vs per-channel, labelled LOs, all five devices, hw_model), direct_reg_access with the DMA status
register (overflow / underflow from real stalls, write-1-to-clear), digital loopback bit-exact
(RX = TX >> 4), buffer attributes - checked through the real libiio programs (iio_attr), pyadi-iio, and
GNU Radio's gr-iio PlutoSDR blocks. Each part skips with the reason when its program is absent.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import time

import numpy as np
import pytest

from hil.iiod import PlutoEmulator
from hil.iiod.pluto import REG_DMA_STATUS, STATUS_OVERFLOW, STATUS_UNDERFLOW
from hil.iiod.pluto_layout import LAYOUT

try:
    import adi
except (ImportError, OSError) as _exc:  # OSError: pylibiio without libiio.so.0
    adi, _WHY = None, f"pyadi-iio + libiio not usable: {_exc}"
else:
    _WHY = ""
needs_adi = pytest.mark.skipif(adi is None, reason=_WHY)
needs_iio_attr = pytest.mark.skipif(shutil.which("iio_attr") is None,
                                    reason="iio_attr not installed (apt-get install libiio-utils)")
GR_PY = os.environ.get("HIL_GNURADIO_PYTHON", "/usr/bin/python3")
GR_IIO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gr", "gr_iio_pluto_loop.py")


def _gr_iio_missing() -> str:
    if not os.path.exists(GR_PY):
        return f"no {GR_PY} (set HIL_GNURADIO_PYTHON)"
    r = subprocess.run([GR_PY, "-c", "from gnuradio import iio, gr; print(gr.version())"], capture_output=True,
                       text=True, timeout=60)
    if r.returncode:
        return f"gr-iio not importable from {GR_PY} (apt-get install gnuradio): {r.stderr.strip()[-160:]}"
    return ""


@pytest.fixture
def emu():
    e = PlutoEmulator("pluto_ad9363").start(port=0)
    yield e
    gc.collect()
    e.stop()


# The file names as a real Pluto's driver makes them (ad9361 driver: shared-by-type vs separate, LO
# labels), the ones gr-iio's fmcomms2 blocks and pyadi-iio address.
REAL_FILENAMES = {
    "ad9361-phy": ["out_altvoltage0_RX_LO_frequency", "out_altvoltage1_TX_LO_frequency",
                   "out_altvoltage0_RX_LO_powerdown", "in_voltage_sampling_frequency",
                   "out_voltage_sampling_frequency", "in_voltage_rf_bandwidth", "out_voltage_rf_bandwidth",
                   "in_voltage0_hardwaregain", "out_voltage0_hardwaregain", "in_voltage0_gain_control_mode",
                   "in_voltage_gain_control_mode_available", "in_voltage_quadrature_tracking_en",
                   "in_voltage_rf_dc_offset_tracking_en", "in_voltage_bb_dc_offset_tracking_en",
                   "in_voltage0_rf_port_select", "out_voltage0_rf_port_select", "in_voltage0_rssi",
                   "in_voltage_filter_fir_en", "out_voltage_filter_fir_en", "in_out_voltage_filter_fir_en",
                   "in_temp0_input", "in_voltage0_hardwaregain_available"],
    "cf-ad9361-lpc": ["in_voltage0_calibscale", "in_voltage_sampling_frequency"],
    "cf-ad9361-dds-core-lpc": ["out_altvoltage0_TX1_I_F1_frequency", "out_altvoltage0_TX1_I_F1_scale",
                               "out_voltage0_calibscale"],
    "adm1177": ["in_voltage0_raw", "in_current0_raw"],
    "xadc": ["in_temp0_raw", "in_voltage0_vccint_raw"],
}


def test_layout_is_the_real_pluto_one(emu):
    ctx = emu.context
    assert [(d.id, d.name) for d in ctx.devices] == [
        ("iio:device0", "adm1177"), ("iio:device1", "ad9361-phy"), ("iio:device2", "xadc"),
        ("iio:device3", "cf-ad9361-dds-core-lpc"), ("iio:device4", "cf-ad9361-lpc")]
    for dev, names in REAL_FILENAMES.items():
        have = {a.filename for ch in ctx.device(dev).channels for a in ch.attrs.values()}
        missing = [n for n in names if n not in have]
        assert not missing, (dev, missing)
    assert ctx.context_attrs["hw_model"] == "Analog Devices PlutoSDR Rev.C (Z7010-AD9363A)"
    assert "direct_reg_access" in ctx.device("cf-ad9361-lpc").debug_attrs
    assert set(ctx.device("cf-ad9361-lpc").buffer_attrs) == {"data_available", "length_align_bytes", "watermark"}
    # one table: every row became an attribute (per-channel rows once per channel)
    rows = sum(1 for row in LAYOUT if row[0] == "adm1177")
    assert rows == sum(len(ch.attrs) for ch in ctx.device("adm1177").channels)


def test_layout_two_channels_and_ad9364_model():
    e = PlutoEmulator("pluto_2r2t")
    phy = e.context.device("ad9361-phy")
    files = {a.filename for ch in phy.channels for a in ch.attrs.values()}
    assert {"in_voltage1_hardwaregain", "out_voltage1_hardwaregain", "in_voltage_rf_bandwidth"} <= files
    assert [c.id for c in e.context.device("cf-ad9361-lpc").scan_channels] == [f"voltage{k}" for k in range(4)]
    assert "AD936" in e.context.context_attrs["hw_model"]


def test_registers_select_read_write_and_clear(emu):
    regs = emu.regs["rx"]
    regs.write("0x80000000")
    assert regs.read_selected() == "0xA0162"            # the ADC core's version (read-only)
    regs.write("0x80000008 0x12345678")                 # scratch register
    regs.write("0x80000008")
    assert regs.read_selected() == "0x12345678"
    regs.set_bits(REG_DMA_STATUS, STATUS_OVERFLOW | 0x2)
    regs.write("0x80000088 0x4")                         # write 1 to clear bit 2 only
    assert regs.read(REG_DMA_STATUS) == 0x2
    with pytest.raises(Exception, match="direct_reg_access"):
        regs.write("0x80000088 zz")


# ---------------------------------------------------------------------------------------------- iio_attr
@needs_iio_attr
def test_iio_attr_sees_buffer_attributes_labelled_los_and_registers(emu):
    def attr(*args):
        r = subprocess.run(["iio_attr", "-u", emu.uri, *args], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout

    out = attr("-B", "cf-ad9361-lpc")
    assert "buffer attr 'data_available'" in out and "'length_align_bytes', value :'8'" in out
    assert attr("-c", "ad9361-phy", "RX_LO", "frequency").strip() == str(emu.state.rx_lo)
    attr("-c", "-o", "ad9361-phy", "TX_LO", "frequency", "915000000")
    assert emu.state.tx_lo == 915_000_000
    attr("-c", "-i", "ad9361-phy", "voltage0", "rf_bandwidth", "5000000")   # shared: one write, both RX channels
    assert emu.state.rx_bw == 5_000_000
    assert "Rev.C" in attr("-C", "hw_model")
    r = subprocess.run(["iio_reg", "-u", emu.uri, "cf-ad9361-lpc", "0x80000000"], capture_output=True, text=True,
                       timeout=30)
    if r.returncode == 0:  # iio_reg ships with libiio-utils on Debian
        assert r.stdout.strip() == "0xa0162"


# ---------------------------------------------------------------------------------------------- pyadi-iio
@needs_adi
def test_pyadi_overflow_flag_after_a_real_stall_and_clear(emu):
    sdr = adi.Pluto(emu.uri)
    try:
        sdr.sample_rate = 1_000_000          # (with the FIR pyadi-iio loads)
        sdr.rx_buffer_size = 2**16          # 66 ms per buffer, three spare kernel buffers: 197 ms of slack
        sdr._rxadc.reg_write(REG_DMA_STATUS, 0x6)
        for _ in range(3):
            sdr.rx()
        assert sdr._rxadc.reg_read(REG_DMA_STATUS) & STATUS_OVERFLOW == 0   # read continuously: no overflow
        time.sleep(0.6)                                                      # the host stalls
        sdr.rx()
        assert sdr._rxadc.reg_read(REG_DMA_STATUS) & STATUS_OVERFLOW
        sdr._rxadc.reg_write(REG_DMA_STATUS, STATUS_OVERFLOW)                # write 1 to clear
        assert sdr._rxadc.reg_read(REG_DMA_STATUS) & STATUS_OVERFLOW == 0
    finally:
        sdr.rx_destroy_buffer()
        del sdr


@needs_adi
def test_pyadi_overflow_drops_samples_with_the_drop_policy():
    with PlutoEmulator("pluto_ad9363", stall_policy="drop") as e:
        sdr = adi.Pluto(e.uri)
        try:
            sdr.sample_rate = 2_500_000
            sdr.rx_buffer_size = 2**14
            sdr.rx()
            before = e.rf.clock
            time.sleep(0.2)
            sdr.rx()
            lost = e.rx_samples_lost
            # 0.2 s at 2.5 MS/s less three spare buffers were never captured
            assert lost > 0.2 * 2.5e6 - 3 * 2**14 - 1 and e.rf.clock - before >= lost + 2**14
        finally:
            sdr.rx_destroy_buffer()
            del sdr
            gc.collect()


@needs_adi
def test_pyadi_underflow_when_the_dac_runs_dry_not_when_cyclic(emu):
    sdr = adi.Pluto(emu.uri)
    try:
        sdr.sample_rate = 2_500_000
        sdr.tx_cyclic_buffer = False
        x = 2**13 * np.exp(2j * np.pi * 0.01 * np.arange(2**14))
        sdr._txdac.reg_write(REG_DMA_STATUS, 0x1)
        sdr.tx(x)                                   # 6.6 ms of samples, then nothing
        time.sleep(0.1)
        assert sdr._txdac.reg_read(REG_DMA_STATUS) & STATUS_UNDERFLOW
        sdr._txdac.reg_write(REG_DMA_STATUS, STATUS_UNDERFLOW)
        assert sdr._txdac.reg_read(REG_DMA_STATUS) & STATUS_UNDERFLOW == 0
        sdr.tx_destroy_buffer()
        sdr.tx_cyclic_buffer = True
        sdr.tx(x)
        time.sleep(0.1)
        assert sdr._txdac.reg_read(REG_DMA_STATUS) & STATUS_UNDERFLOW == 0  # a cyclic buffer never runs dry
    finally:
        sdr.tx_destroy_buffer()
        del sdr


@needs_adi
def test_pyadi_digital_loopback_is_bit_exact_and_its_sfdr_is_the_12_bit_one(emu):
    sdr = adi.Pluto(emu.uri)
    try:
        emu.set_channel(delay=37, frequency_offset_hz=2e3, noise_var=1e-3)   # bypassed by the digital loopback
        sdr.loopback = 1
        sdr.tx_cyclic_buffer = True
        n = 4096
        k = 127                                       # whole cycles: no leakage, exact bins
        x = np.round(32767 * np.exp(2j * np.pi * k * np.arange(n) / n))  # TX at int16 full scale
        sdr.rx_buffer_size = n
        sdr.tx(x)
        y = sdr.rx()
        want = (x.real.astype(np.int64) >> 4) + 1j * (x.imag.astype(np.int64) >> 4)
        assert np.array_equal(y, want)                # bit-exact, no clipping at full scale
        spec = np.abs(np.fft.fft(y)) ** 2
        sfdr = 10 * np.log10(spec[k] / np.max(np.delete(spec, k)))
        ref = np.abs(np.fft.fft(want)) ** 2
        assert abs(sfdr - 10 * np.log10(ref[k] / np.max(np.delete(ref, k)))) < 1e-9
        assert 65 < sfdr < 80      # a full-scale tone truncated to 12 bits (coherent: spurs at about -70 dBc)
    finally:
        sdr.tx_destroy_buffer()
        sdr.rx_destroy_buffer()
        del sdr


# ---------------------------------------------------------------------------------------------- gr-iio
_GR_WHY = _gr_iio_missing()


@pytest.mark.skipif(bool(_GR_WHY), reason=_GR_WHY)
def test_gr_iio_pluto_source_and_sink_stream_through_the_emulator(emu):
    emu.set_channel(delay=5, frequency_offset_hz=1500.0)
    fs, lo, tone = 2_500_000, 2_400_000_000, 100e3
    r = subprocess.run([GR_PY, GR_IIO, emu.uri, str(fs), str(lo), str(tone), "400000"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "Parameter not recognized" not in r.stderr, r.stderr[-2000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["received"] == 400000
    assert abs(res["peak_hz"] - (tone + 1500.0)) < 2 * fs / 65536      # the tone, shifted by the channel
    st = emu.state                                                     # settings gr-iio applied, read back
    assert (st.rx_lo, st.tx_lo, st.sample_rate, st.tx_bw) == (lo, lo, fs, 3_000_000)
    assert st.gain_mode[0] == "manual" and st.rx_gain[0] == 40 and st.tx_atten[0] == -10
    assert all(st.tracking.values())


# ---------------------------------------------------------------------------------------------- receiver
def _dbfs(y):
    return 10 * np.log10(np.mean(np.abs(y) ** 2) / 2048.0**2)


def _tone_dbfs(y, k):
    spec = np.abs(np.fft.fft(y)) / len(y)
    return 20 * np.log10(spec[k] / 2048.0)


@pytest.fixture
def hw_pluto():
    e = PlutoEmulator("pluto_ad9363", seed=3).start(port=0)      # the default (hardware) receiver
    sdr = adi.Pluto(e.uri) if adi is not None else None
    yield e, sdr
    if sdr is not None:
        sdr.tx_destroy_buffer()
        sdr.rx_destroy_buffer()
        del sdr
    gc.collect()
    e.stop()


@needs_adi
def test_receiver_is_never_silent_noise_floor_and_dc_follow_gain_and_tracking(hw_pluto):
    from hil.iiod.pluto import ADC_FLOOR_DBFS, DC_TRACKED_DBFS, DC_UNTRACKED_DBFS, INPUT_NOISE_DBFS

    e, sdr = hw_pluto
    sdr.sample_rate = 2_500_000
    sdr.tx_lo = sdr.rx_lo + 5_000_000            # LO leakage outside the band: noise and DC only
    sdr.gain_control_mode_chan0 = "manual"
    sdr.rx_buffer_size = 2**15
    for gain in (30, 70):
        sdr.rx_hardwaregain_chan0 = gain
        y = sdr.rx()
        noise = 10 ** (ADC_FLOOR_DBFS / 10) + 10 ** ((INPUT_NOISE_DBFS + gain) / 10)
        quant = 2 * (1 / 2048) ** 2 / 12          # rounding to 12 bits, I and Q
        want = 10 * np.log10(noise + 10 ** (DC_TRACKED_DBFS / 10) + quant)
        assert abs(_dbfs(y) - want) < 0.5, (gain, _dbfs(y), want)
    assert _dbfs(y) > -45                          # 70 dB of gain lifts the thermal noise far above the ADC's
    sdr._set_iio_attr("voltage0", "bb_dc_offset_tracking_en", False, 0)
    sdr.rx_hardwaregain_chan0 = 30
    y = sdr.rx()
    assert abs(20 * np.log10(abs(np.mean(y)) / 2048) - DC_UNTRACKED_DBFS) < 0.5


@needs_adi
def test_manual_gains_set_the_loop_level(hw_pluto):
    e, sdr = hw_pluto
    sdr.sample_rate = 2_500_000
    sdr.gain_control_mode_chan0 = "manual"
    n, k = 2**14, 1000
    sdr.rx_buffer_size = n
    sdr.tx_cyclic_buffer = True
    sdr.tx(2**12 * np.exp(2j * np.pi * k * np.arange(n) / n))      # 0.25 of TX full scale (2**14)
    levels = {}
    for rx_gain, tx_gain in ((30, -10), (40, -10), (40, -20), (20, -10)):
        sdr.rx_hardwaregain_chan0 = rx_gain
        sdr.tx_hardwaregain_chan0 = tx_gain
        levels[(rx_gain, tx_gain)] = _tone_dbfs(sdr.rx(), k)
    ref = levels[(30, -10)]                        # the profile's default gains: a unity loop
    assert abs(ref - 20 * np.log10(0.25)) < 0.05
    assert abs(levels[(40, -10)] - ref - 10) < 0.05 and abs(levels[(40, -20)] - ref) < 0.05
    assert abs(levels[(20, -10)] - ref + 10) < 0.05


@needs_adi
@pytest.mark.parametrize("mode", ["fast_attack", "slow_attack"])
def test_agc_brings_a_strong_tone_back_into_range(hw_pluto, mode):
    from hil.iiod.pluto import AGC_TARGET_DBFS

    e, sdr = hw_pluto
    sdr.sample_rate = 2_500_000
    n = 2**14
    sdr.rx_buffer_size = n
    sdr.tx_cyclic_buffer = True
    sdr.tx(2**13 * np.exp(2j * np.pi * 1000 * np.arange(n) / n))   # 0.5 of full scale
    sdr.gain_control_mode_chan0 = "manual"
    sdr.rx_hardwaregain_chan0 = 60                                  # +30 dB: hard clipping
    y = sdr.rx()
    assert np.max(np.abs(y.real)) >= 2047
    sdr.gain_control_mode_chan0 = mode
    peaks = []
    for _ in range(25):
        y = sdr.rx()
        peaks.append(20 * np.log10(np.max(np.abs(y)) / 2048))
    assert abs(peaks[-1] - AGC_TARGET_DBFS) < 1.0 and np.max(np.abs(y.real)) < 2047
    if mode == "fast_attack":
        assert abs(peaks[0] - AGC_TARGET_DBFS) < 1.0                 # back in range in the first buffer
    else:
        assert peaks[0] > peaks[5] > peaks[-1] - 0.5                 # stepping down buffer by buffer
    g = sdr.rx_hardwaregain_chan0                                    # the AGC's gain, read back
    assert abs(g - (30 + AGC_TARGET_DBFS - 20 * np.log10(0.5))) <= 1.0


@needs_adi
def test_tx_lo_leakage_at_the_lo_offset(hw_pluto):
    from hil.iiod.pluto import LO_LEAK_DBFS

    e, sdr = hw_pluto
    sdr.sample_rate = 2_500_000
    sdr.gain_control_mode_chan0 = "manual"
    sdr.rx_hardwaregain_chan0 = 30
    sdr.rx_lo = 2_400_000_000
    sdr.tx_lo = 2_400_500_000                      # +500 kHz
    n = 12500                                      # 500 kHz falls on bin 2500 exactly
    sdr.rx_buffer_size = n
    y = sdr.rx()
    k = 2500
    assert abs(_tone_dbfs(y, k) - LO_LEAK_DBFS) < 0.5
    spec = np.abs(np.fft.fft(y))
    assert int(np.argmax(np.delete(spec, 0))) + 1 == k   # the strongest line apart from DC


@needs_adi
def test_paced_capture_runs_at_the_sample_rate():
    with PlutoEmulator("pluto_ad9363", pace=True, receiver="ideal") as e:
        sdr = adi.Pluto(e.uri)
        try:
            sdr.sample_rate = 2_500_000
            sdr.rx_buffer_size = 2**16                # 26.2 ms per buffer
            sdr.rx()
            t0 = time.monotonic()
            for _ in range(8):
                sdr.rx()
            dt = time.monotonic() - t0
            assert 8 * 2**16 / 2.5e6 - 0.03 < dt < 8 * 2**16 / 2.5e6 + 2.0, dt   # 0.21 s of samples (+ load)
            assert e.regs["rx"].read(REG_DMA_STATUS) & STATUS_OVERFLOW == 0
        finally:
            sdr.rx_destroy_buffer()
            del sdr
            gc.collect()
