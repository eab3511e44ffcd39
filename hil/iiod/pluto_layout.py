"""The IIO layout of an ADALM-PLUTO as libiio 0.24 shows it from the firmware (v0.3x, Linux ad9361
driver + ADI's axi-ad9361 HDL cores): devices, channels, attributes and their sysfs file names - as
data, in one table. :mod:`hil.iiod.pluto` builds the emulated context from it and attaches behaviour
by the ``handler`` key of each row.

Why the file names matter: libiio identifies a channel attribute by its file name
(``iio_device_identify_filename``), and gr-iio's blocks set every parameter that way
(``in_voltage_rf_bandwidth=...``, ``out_altvoltage0_RX_LO_frequency=...``). The AD9361 driver makes
some attributes *separate* (one file per channel: ``in_voltage0_hardwaregain``), some *shared by
type* (one file for all channels of a direction: ``in_voltage_rf_bandwidth``,
``in_voltage_sampling_frequency``, the tracking enables) and labels its LO channels
(``out_altvoltage1_TX_LO_frequency``).

A row is ``(device, channel, output, attribute, scope, handler)``:

* ``device``: the driver name (the ids follow :data:`DEVICES`).
* ``channel``: a channel id; ``"voltage{rx}"`` / ``"voltage{tx}"`` expand to each RX / TX channel of
  the profile (voltage0, and voltage1 on 2R2T), ``"voltage{iq}"`` to each DMA I/Q lane (voltage0..3 on
  2R2T), ``"altvoltage{dds}"`` to each DDS tone; ``None`` for a device attribute, ``"debug"`` /
  ``"buffer"`` for debug / buffer attributes.
* ``output``: the channel's direction (ignored for device/debug/buffer rows).
* ``scope``: ``separate`` -> ``{in|out}_{id}_{attr}``, ``shared`` -> ``{in|out}_{type}_{attr}`` (the id
  without its index), ``label`` -> ``{in|out}_{id}_{label}_{attr}``, ``plain`` -> the attribute name.
* ``handler``: ``const:TEXT`` (read-only), ``stored:TEXT`` (kept as written), or the name of a
  behaviour in :class:`hil.iiod.pluto.PlutoEmulator` (``rx_lo``, ``rx_gain``, ``dma_reg``, ...).
"""

from __future__ import annotations

__all__ = ["DEVICES", "CHANNELS", "LAYOUT", "RX_PORTS", "TX_PORTS", "CALIB_MODES", "ENSM_MODES", "attr_filename",
           "hw_model"]

CALIB_MODES = ("auto", "manual", "manual_tx_quad", "tx_quad", "rf_dc_offs", "rssi_gain_step")
ENSM_MODES = ("sleep", "wait", "alert", "fdd", "pinctrl", "pinctrl_fdd_indep")
RX_PORTS = ("A_BALANCED", "B_BALANCED", "C_BALANCED", "A_N", "A_P", "B_N", "B_P", "C_N", "C_P",
            "TX_MONITOR1", "TX_MONITOR2", "TX_MONITOR1_2")
TX_PORTS = ("A", "B")

#: (id, driver name), in the order a Pluto lists them
DEVICES = (
    ("iio:device0", "adm1177"),                  # USB power monitor (the Pluto's hot-swap controller)
    ("iio:device1", "ad9361-phy"),               # the transceiver: LOs, rates, gains, FIR, ENSM
    ("iio:device2", "xadc"),                     # Zynq on-chip ADC: temperature and supply voltages
    ("iio:device3", "cf-ad9361-dds-core-lpc"),   # TX DMA (axi-ad9361 DAC core) and the DDS tones
    ("iio:device4", "cf-ad9361-lpc"),            # RX DMA (axi-ad9361 ADC core)
)

#: channels that carry a label or a scan element: (device, channel, output, label, scan format)
CHANNELS = (
    ("ad9361-phy", "altvoltage0", True, "RX_LO", None),
    ("ad9361-phy", "altvoltage1", True, "TX_LO", None),
    ("xadc", "voltage0", False, "vccint", None),
    ("xadc", "voltage1", False, "vccaux", None),
    ("xadc", "voltage2", False, "vccbram", None),
    ("xadc", "voltage3", False, "vccpint", None),
    ("xadc", "voltage4", False, "vccpaux", None),
    ("xadc", "voltage5", False, "vccoddr", None),
    ("xadc", "voltage6", False, "vrefp", None),
    ("xadc", "voltage7", False, "vrefn", None),
    ("cf-ad9361-dds-core-lpc", "voltage{iq}", True, None, "le:S16/16>>0"),
    ("cf-ad9361-lpc", "voltage{iq}", False, None, "le:S12/16>>0"),
)

_LO = (("frequency", "label", "{lo}_lo"), ("frequency_available", "label", "{lo}_lo_available"),
       ("powerdown", "label", "{lo}_lo_powerdown"), ("external", "label", "stored:0"),
       ("fastlock_store", "label", "stored:0"), ("fastlock_recall", "label", "stored:0"),
       ("fastlock_load", "label", "stored:0"), ("fastlock_save", "label", "stored:0 0"))

LAYOUT = (
    # ---- adm1177 (power monitor on the USB supply; about 5 V, 0.42 A)
    ("adm1177", "current0", False, "raw", "separate", "const:333"),
    ("adm1177", "current0", False, "scale", "separate", "const:1.258544921"),
    ("adm1177", "voltage0", False, "raw", "separate", "const:1950"),
    ("adm1177", "voltage0", False, "scale", "separate", "const:2.566406250"),
    # ---- ad9361-phy: local oscillators (labelled channels)
    *(("ad9361-phy", "altvoltage0", True, a, s, h.format(lo="rx")) for a, s, h in _LO),
    *(("ad9361-phy", "altvoltage1", True, a, s, h.format(lo="tx")) for a, s, h in _LO),
    # ---- ad9361-phy: receive channels
    ("ad9361-phy", "voltage{rx}", False, "hardwaregain", "separate", "rx_gain"),
    ("ad9361-phy", "voltage{rx}", False, "hardwaregain_available", "separate", "rx_gain_available"),
    ("ad9361-phy", "voltage{rx}", False, "gain_control_mode", "separate", "gain_mode"),
    ("ad9361-phy", "voltage{rx}", False, "gain_control_mode_available", "shared", "gain_modes"),
    ("ad9361-phy", "voltage{rx}", False, "rf_port_select", "separate", "rx_port"),
    ("ad9361-phy", "voltage{rx}", False, "rf_port_select_available", "shared", "const:" + " ".join(RX_PORTS)),
    ("ad9361-phy", "voltage{rx}", False, "rssi", "separate", "rx_rssi"),
    ("ad9361-phy", "voltage{rx}", False, "quadrature_tracking_en", "shared", "tracking:quadrature"),
    ("ad9361-phy", "voltage{rx}", False, "rf_dc_offset_tracking_en", "shared", "tracking:rf_dc"),
    ("ad9361-phy", "voltage{rx}", False, "bb_dc_offset_tracking_en", "shared", "tracking:bb_dc"),
    ("ad9361-phy", "voltage{rx}", False, "rf_bandwidth", "shared", "rx_bw"),
    ("ad9361-phy", "voltage{rx}", False, "rf_bandwidth_available", "shared", "rx_bw_available"),
    ("ad9361-phy", "voltage{rx}", False, "sampling_frequency", "shared", "rate"),
    ("ad9361-phy", "voltage{rx}", False, "sampling_frequency_available", "shared", "rate_available"),
    ("ad9361-phy", "voltage{rx}", False, "filter_fir_en", "shared", "fir_en"),
    # ---- ad9361-phy: transmit channels
    ("ad9361-phy", "voltage{tx}", True, "hardwaregain", "separate", "tx_gain"),
    ("ad9361-phy", "voltage{tx}", True, "hardwaregain_available", "separate", "tx_gain_available"),
    ("ad9361-phy", "voltage{tx}", True, "rf_port_select", "separate", "tx_port"),
    ("ad9361-phy", "voltage{tx}", True, "rf_port_select_available", "shared", "const:" + " ".join(TX_PORTS)),
    ("ad9361-phy", "voltage{tx}", True, "rssi", "separate", "tx_rssi"),
    ("ad9361-phy", "voltage{tx}", True, "rf_bandwidth", "shared", "tx_bw"),
    ("ad9361-phy", "voltage{tx}", True, "rf_bandwidth_available", "shared", "tx_bw_available"),
    ("ad9361-phy", "voltage{tx}", True, "sampling_frequency", "shared", "rate"),
    ("ad9361-phy", "voltage{tx}", True, "sampling_frequency_available", "shared", "rate_available"),
    ("ad9361-phy", "voltage{tx}", True, "filter_fir_en", "shared", "fir_en"),
    # ---- ad9361-phy: auxiliary converters, temperature, the combined FIR enable
    ("ad9361-phy", "voltage2", False, "raw", "separate", "const:1220"),
    ("ad9361-phy", "voltage2", False, "scale", "separate", "const:1.000000"),
    ("ad9361-phy", "voltage2", False, "offset", "separate", "const:57"),
    ("ad9361-phy", "voltage2", True, "raw", "separate", "stored:0"),
    ("ad9361-phy", "voltage2", True, "scale", "separate", "const:1.000000"),
    ("ad9361-phy", "voltage3", True, "raw", "separate", "stored:0"),
    ("ad9361-phy", "voltage3", True, "scale", "separate", "const:1.000000"),
    ("ad9361-phy", "temp0", False, "input", "separate", "const:35000"),
    ("ad9361-phy", "out", False, "voltage_filter_fir_en", "separate", "fir_en"),
    # ---- ad9361-phy: device attributes
    ("ad9361-phy", None, False, "calib_mode", "plain", "calib_mode"),
    ("ad9361-phy", None, False, "calib_mode_available", "plain", "const:" + " ".join(CALIB_MODES)),
    ("ad9361-phy", None, False, "dcxo_tune_coarse", "plain", "stored:8"),
    ("ad9361-phy", None, False, "dcxo_tune_coarse_available", "plain", "const:[0 1 63]"),
    ("ad9361-phy", None, False, "dcxo_tune_fine", "plain", "stored:5920"),
    ("ad9361-phy", None, False, "dcxo_tune_fine_available", "plain", "const:[0 1 8191]"),
    ("ad9361-phy", None, False, "ensm_mode", "plain", "ensm_mode"),
    ("ad9361-phy", None, False, "ensm_mode_available", "plain", "const:" + " ".join(ENSM_MODES)),
    ("ad9361-phy", None, False, "filter_fir_config", "plain", "fir_config"),
    ("ad9361-phy", None, False, "multichip_sync", "plain", "stored:0"),
    ("ad9361-phy", None, False, "rssi_gain_step_error", "plain", "const:lna_error: 0 0 0 0\nmixer_error: 0 0 0 0 0 "
                                                                  "0 0 0 0 0 0 0 0 0 0\ngain_step_calib_reg_val: 0 0 0 "
                                                                  "0 0"),
    ("ad9361-phy", None, False, "rx_path_rates", "plain", "rx_path_rates"),
    ("ad9361-phy", None, False, "tx_path_rates", "plain", "tx_path_rates"),
    ("ad9361-phy", None, False, "trx_rate_governor", "plain", "stored:nominal"),
    ("ad9361-phy", None, False, "trx_rate_governor_available", "plain", "const:nominal highest_osr"),
    ("ad9361-phy", None, False, "xo_correction", "plain", "xo_correction"),
    ("ad9361-phy", None, False, "xo_correction_available", "plain", "const:[39992000 1 40008000]"),
    # ---- ad9361-phy: debug attributes (the ones scripts and tools use)
    ("ad9361-phy", "debug", False, "direct_reg_access", "plain", "spi_reg"),
    ("ad9361-phy", "debug", False, "loopback", "plain", "loopback"),
    ("ad9361-phy", "debug", False, "initialize", "plain", "stored:0"),
    ("ad9361-phy", "debug", False, "bist_prbs", "plain", "stored:0"),
    ("ad9361-phy", "debug", False, "bist_tone", "plain", "stored:0"),
    ("ad9361-phy", "debug", False, "bist_timing_analysis", "plain", "const:"),
    ("ad9361-phy", "debug", False, "gaininfo_rx1", "plain", "gaininfo:0"),
    ("ad9361-phy", "debug", False, "digital_tune", "plain", "stored:0"),
    ("ad9361-phy", "debug", False, "calibration_switch_control", "plain", "stored:0"),
    ("ad9361-phy", "debug", False, "adi,agc-attack-delay-extra-margin-us", "plain", "stored:1"),
    ("ad9361-phy", "debug", False, "adi,gc-rx1-mode", "plain", "stored:2"),
    # ---- xadc (Zynq): temperature (mdeg C = (raw + offset) * scale) and supplies (mV = raw * scale)
    ("xadc", "temp0", False, "offset", "separate", "const:-2219"),
    ("xadc", "temp0", False, "raw", "separate", "const:2650"),
    ("xadc", "temp0", False, "scale", "separate", "const:123.040771484"),
    *(("xadc", f"voltage{k}", False, a, "label", v) for k, raw in enumerate((1365, 2457, 1365, 1365, 2457, 1843,
                                                                             1706, 0))
      for a, v in (("raw", f"const:{raw}"), ("scale", "const:0.732421875"))),
    ("xadc", None, False, "sampling_frequency", "plain", "const:961538"),
    # ---- cf-ad9361-dds-core-lpc: TX DMA lanes and DDS tones
    ("cf-ad9361-dds-core-lpc", "voltage{iq}", True, "calibphase", "separate", "stored:0.000000"),
    ("cf-ad9361-dds-core-lpc", "voltage{iq}", True, "calibscale", "separate", "stored:1.000000"),
    ("cf-ad9361-dds-core-lpc", "voltage{iq}", True, "sampling_frequency", "shared", "dma_rate"),
    ("cf-ad9361-dds-core-lpc", "voltage{iq}", True, "sampling_frequency_available", "shared", "dma_rate_available"),
    ("cf-ad9361-dds-core-lpc", "altvoltage{dds}", True, "frequency", "label", "dds:frequency"),
    ("cf-ad9361-dds-core-lpc", "altvoltage{dds}", True, "phase", "label", "dds:phase"),
    ("cf-ad9361-dds-core-lpc", "altvoltage{dds}", True, "raw", "label", "dds:raw"),
    ("cf-ad9361-dds-core-lpc", "altvoltage{dds}", True, "scale", "label", "dds:scale"),
    ("cf-ad9361-dds-core-lpc", "altvoltage{dds}", True, "sampling_frequency", "shared", "dma_rate_ro"),
    ("cf-ad9361-dds-core-lpc", "debug", False, "direct_reg_access", "plain", "dma_reg:tx"),
    ("cf-ad9361-dds-core-lpc", "buffer", False, "data_available", "plain", "buffer_data_available:tx"),
    ("cf-ad9361-dds-core-lpc", "buffer", False, "length_align_bytes", "plain", "const:8"),
    ("cf-ad9361-dds-core-lpc", "buffer", False, "watermark", "plain", "buffer_watermark:tx"),
    # ---- cf-ad9361-lpc: RX DMA lanes
    ("cf-ad9361-lpc", "voltage{iq}", False, "calibbias", "separate", "stored:0"),
    ("cf-ad9361-lpc", "voltage{iq}", False, "calibphase", "separate", "stored:0.000000"),
    ("cf-ad9361-lpc", "voltage{iq}", False, "calibscale", "separate", "stored:1.000000"),
    ("cf-ad9361-lpc", "voltage{iq}", False, "samples_pps", "separate", "stored:0"),
    ("cf-ad9361-lpc", "voltage{iq}", False, "sampling_frequency", "shared", "dma_rate"),
    ("cf-ad9361-lpc", "voltage{iq}", False, "sampling_frequency_available", "shared", "dma_rate_available"),
    ("cf-ad9361-lpc", "debug", False, "direct_reg_access", "plain", "dma_reg:rx"),
    ("cf-ad9361-lpc", "debug", False, "pseudorandom_err_check", "plain", "const:CH0 : PN9 : Out of Sync : PN Error\n"
                                                                        "CH1 : PN9 : Out of Sync : PN Error\n"),
    ("cf-ad9361-lpc", "buffer", False, "data_available", "plain", "buffer_data_available:rx"),
    ("cf-ad9361-lpc", "buffer", False, "length_align_bytes", "plain", "const:8"),
    ("cf-ad9361-lpc", "buffer", False, "watermark", "plain", "buffer_watermark:rx"),
)


def attr_filename(channel_id: str, output: bool, label: str | None, attr: str, scope: str) -> str:
    """The sysfs file name libiio reports for a channel attribute of the given scope."""
    side = "out" if output else "in"
    if scope == "shared":
        return f"{side}_{channel_id.rstrip('0123456789')}_{attr}"
    if scope == "label":
        return f"{side}_{channel_id}_{label}_{attr}" if label else f"{side}_{channel_id}_{attr}"
    return f"{side}_{channel_id}_{attr}"


def hw_model(chip: str, revision: str = "C") -> str:
    """The ``hw_model`` context attribute of a Pluto: ``Analog Devices PlutoSDR Rev.C (Z7010-AD9363A)``."""
    part = {"AD9363": "AD9363A", "AD9364": "AD9364", "AD9361": "AD9361"}.get(chip.split()[0].upper(), chip.split()[0])
    return f"Analog Devices PlutoSDR Rev.{revision} (Z7010-{part})"
