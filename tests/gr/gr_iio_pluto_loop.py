#!/usr/bin/env python3
"""Run by tests/test_pluto_fidelity.py under Debian's Python (GNU Radio 3.10's gr-iio, not this venv):
GRC's "PlutoSDR Source" / "PlutoSDR Sink" blocks, made exactly as GRC makes them (iio.fmcomms2_*_fc32
with the Pluto's settings), send a tone and receive it through the emulated Pluto. Prints one JSON
line: samples received, the strongest frequency, its level and the underflow/overflow flags seen.

    gr_iio_pluto_loop.py URI FS LO TONE_HZ N_SAMPLES
"""

import json
import os
import sys
import time

import numpy as np
from gnuradio import analog, blocks, gr, iio


def main():
    uri, fs, lo, tone, n = sys.argv[1], int(float(sys.argv[2])), int(float(sys.argv[3])), float(sys.argv[4]), \
        int(sys.argv[5])
    tb = gr.top_block()
    src = iio.fmcomms2_source_fc32(uri, [True, True], 32768)         # GRC's PlutoSDR Source
    src.set_len_tag_key("")
    src.set_frequency(lo)
    src.set_samplerate(fs)
    src.set_gain_mode(0, "manual")
    src.set_gain(0, 40)
    src.set_quadrature(True)
    src.set_rfdc(True)
    src.set_bbdc(True)
    src.set_filter_params("Auto", "", 0, 0)
    snk = iio.fmcomms2_sink_fc32(uri, [True, True], 32768, False)    # GRC's PlutoSDR Sink
    snk.set_len_tag_key("")
    snk.set_bandwidth(3000000)
    snk.set_frequency(lo)
    snk.set_samplerate(fs)
    snk.set_attenuation(0, 10.0)
    snk.set_filter_params("Auto", "", 0, 0)
    sig = analog.sig_source_c(fs, analog.GR_COS_WAVE, tone, 0.25, 0)
    head = blocks.head(gr.sizeof_gr_complex, n)
    sink = blocks.vector_sink_c()
    # No throttle: the emulator's clock is the sample count (RX is not paced to wall-clock time), so the
    # transmitter must keep ahead of the receiver; the tone is read from the end of the capture.
    tb.connect(sig, snk)
    tb.connect(src, head, sink)
    tb.start()
    t0 = time.monotonic()
    while len(sink.data()) < n and time.monotonic() - t0 < 60:
        time.sleep(0.05)
    tb.stop()
    tb.wait()
    y = np.array(sink.data()[-65536:])
    spec = np.abs(np.fft.fft(y * np.hanning(len(y))))
    k = int(np.argmax(spec))
    f = np.fft.fftfreq(len(y), 1 / fs)[k]
    rms = float(np.sqrt(np.mean(np.abs(y) ** 2)))
    print(json.dumps({"received": len(sink.data()), "peak_hz": float(f), "rms": rms}), flush=True)
    # Keep the blocks alive: gr-iio 3.10's sink polls the underflow register from its own thread, and
    # destroying the context under it aborts the process; everything is printed, leave without teardown.
    os._exit(0)


if __name__ == "__main__":
    main()
