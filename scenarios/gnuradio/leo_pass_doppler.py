#!/usr/bin/env python3
"""A GNU Radio 3.10 flowgraph that streams a tone through the leo-hil channel emulator and shows the
Doppler of a satellite pass.

    hil emulate emulator/gnuradio_pushpull &          # or emulator/gnuradio_reqrep (then --wire reqrep)
    /usr/bin/python3 scenarios/gnuradio/leo_pass_doppler.py --duration 120

    hil emulate emulator/soapy_loopback &             # framed wire, through the SoapySDR module
    SOAPY_SDR_PLUGIN_PATH=$PWD/build/soapy /usr/bin/python3 scenarios/gnuradio/leo_pass_doppler.py --wire soapy

TX: signal source (complex tone at --tone Hz) -> head -> ZMQ PUSH sink (binds) [or REP sink, binds;
    or gr-soapy's sink on driver=leohil].
RX: ZMQ PULL source (connects) [or REQ source, connects; or gr-soapy's source on driver=leohil,fill=0]
    -> head -> Doppler probe.

The probe estimates the received tone's frequency every --block seconds of stream time (the mean
phase step between consecutive samples, i.e. the mean frequency over the block) and prints the Doppler
at the carrier, ``(f_measured - tone) * fc / (fc + tone)``: the emulator shifts the carrier by
``-fc dtau/dt`` and compresses the baseband tone by ``1 - dtau/dt``. Stream time t = epoch + n / fs is
the emulator's clock (sample count), so the printed times are pass times when --epoch matches the
emulator file's ``epoch_s``. ``--csv`` writes t_s, f_measured_hz, doppler_hz, power_db per block.
Nothing here paces to wall-clock time: the stream runs as fast as the emulator (add a throttle, as
the .grc does, to watch it in real time).

Only GNU Radio (gr, blocks, analog, zeromq) and NumPy are needed; no leo-hil import.
"""

import argparse
import math
import os
import sys
import time

import numpy as np
from gnuradio import analog, blocks, gr, zeromq

try:
    from gnuradio import soapy
except ImportError:  # gr-soapy is optional here (only --wire soapy needs it)
    soapy = None


class DopplerProbe(gr.sync_block):
    """Sink: one frequency estimate per ``block`` samples (mean phase step; |f| < fs / 2)."""

    def __init__(self, samp_rate, block, tone_hz, carrier_hz, epoch_s, every_s=1.0, quiet=False):
        gr.sync_block.__init__(self, name="doppler_probe", in_sig=[np.complex64], out_sig=None)
        self.fs, self.block, self.tone, self.fc, self.epoch = float(samp_rate), int(block), tone_hz, carrier_hz, epoch_s
        self.print_every = max(1, int(round(every_s * samp_rate / block)))
        self.quiet = quiet
        self.seen = 0                     # samples received
        self.n0 = 0                       # stream index of the first sample in self.acc
        self.acc = np.zeros(0, np.complex64)
        self.rows = []                    # (t_s, f_hz, doppler_hz, power_db)

    def _estimate(self, x):
        z = np.sum(x[1:] * np.conj(x[:-1]))
        f = float(np.angle(z)) * self.fs / (2 * math.pi)
        p = float(np.mean(np.abs(x) ** 2))
        t = self.epoch + (self.n0 + (len(x) - 1) / 2) / self.fs   # block centre, stream (pass) time
        dop = (f - self.tone) * self.fc / (self.fc + self.tone)
        self.rows.append((t, f, dop, 10 * math.log10(p) if p > 0 else -300.0))
        if not self.quiet and len(self.rows) % self.print_every == 0:
            print(f"t = {t:9.3f} s   tone at {f:10.1f} Hz   Doppler {dop:+10.1f} Hz   "
                  f"power {self.rows[-1][3]:6.1f} dBFS", flush=True)

    def work(self, input_items, output_items):
        x = input_items[0]
        self.seen += len(x)
        self.acc = np.concatenate([self.acc, x])
        while len(self.acc) >= self.block:
            self._estimate(self.acc[:self.block])
            self.acc = self.acc[self.block:]
            self.n0 += self.block
        return len(x)


class LeoPassDoppler(gr.top_block):
    def __init__(self, wire="pushpull", tx_address="tcp://127.0.0.1:5700", rx_address="tcp://127.0.0.1:5701",
                 samp_rate=250e3, tone_hz=20e3, amplitude=1.0, duration_s=120.0, block_s=0.1, carrier_hz=2.2e9,
                 epoch_s=-60.0, quiet=False, soapy_args=""):
        gr.top_block.__init__(self, "LEO pass Doppler through the leo-hil emulator")
        n_tx = int(round(duration_s * samp_rate))
        # The emulator delays by up to a few ms and works in segments: receive a little less than sent.
        n_rx = self.n_rx = max(0, n_tx - int(0.05 * samp_rate))
        block = int(round(block_s * samp_rate))
        self.src = analog.sig_source_c(samp_rate, analog.GR_COS_WAVE, tone_hz, amplitude, 0)
        self.tx_head = blocks.head(gr.sizeof_gr_complex, n_tx)
        self.rx_head = blocks.head(gr.sizeof_gr_complex, n_rx)
        if wire == "pushpull":
            self.tx = zeromq.push_sink(gr.sizeof_gr_complex, 1, tx_address, 100, False, -1)      # binds
            self.rx = zeromq.pull_source(gr.sizeof_gr_complex, 1, rx_address, 100, False, -1)    # connects
        elif wire == "reqrep":
            self.tx = zeromq.rep_sink(gr.sizeof_gr_complex, 1, tx_address, 100, False, -1)       # binds
            self.rx = zeromq.req_source(gr.sizeof_gr_complex, 1, rx_address, 100, False, -1)     # connects
        elif wire == "soapy":
            if soapy is None:
                raise ValueError("--wire soapy needs gr-soapy (apt-get install gnuradio)")
            # One Soapy device per block (as GRC makes them): the sink transmits, the source receives
            # only what was transmitted (fill=0: its own idle transmitter stays silent).
            self.tx = soapy.sink("driver=leohil", "fc32", 1, soapy_args, "", [""], [""])
            self.rx = soapy.source("driver=leohil", "fc32", 1, soapy_args + ",fill=0", "", [""], [""])
            for blk in (self.tx, self.rx):
                blk.set_sample_rate(0, samp_rate)
                blk.set_frequency(0, carrier_hz)
                blk.set_gain(0, 0.0)
        else:
            raise ValueError(f"--wire: got {wire!r}; allowed: pushpull, reqrep, soapy")
        self.probe = DopplerProbe(samp_rate, block, tone_hz, carrier_hz, epoch_s, quiet=quiet)
        self.connect(self.src, self.tx_head, self.tx)
        self.connect(self.rx, self.rx_head, self.probe)


_KEEP = []


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wire", choices=("pushpull", "reqrep", "soapy"), default="pushpull",
                    help="emulator/gnuradio_pushpull.yaml (default), emulator/gnuradio_reqrep.yaml, or "
                         "emulator/soapy_loopback.yaml through the SoapySDR module (gr-soapy)")
    ap.add_argument("--soapy-args", default="",
                    help="device args for --wire soapy (default: tx/rx from the addresses; control :5722)")
    ap.add_argument("--tx-address", default=None, help="default tcp://127.0.0.1:5700 (pushpull) / :5710 (reqrep)")
    ap.add_argument("--rx-address", default=None, help="default tcp://127.0.0.1:5701 (pushpull) / :5711 (reqrep)")
    ap.add_argument("--samp-rate", type=float, default=250e3, help="Hz; must match the emulator file (250e3)")
    ap.add_argument("--tone", type=float, default=20e3, help="baseband tone, Hz")
    ap.add_argument("--duration", type=float, default=120.0, help="seconds of stream (pass) time")
    ap.add_argument("--block", type=float, default=0.1, help="seconds per frequency estimate")
    ap.add_argument("--carrier", type=float, default=2.2e9, help="the link's carrier_hz in the emulator file")
    ap.add_argument("--epoch", type=float, default=-60.0, help="the emulator file's epoch_s (pass time of sample 0)")
    ap.add_argument("--csv", default=None, help="write t_s,f_measured_hz,doppler_hz,power_db per block")
    ap.add_argument("--timeout", type=float, default=10.0, help="give up after this many seconds without samples")
    ap.add_argument("--quiet", action="store_true", help="print only the summary")
    a = ap.parse_args(argv)
    ports = {"pushpull": (5700, 5701), "reqrep": (5710, 5711), "soapy": (5720, 5721)}[a.wire]
    tx = a.tx_address or f"tcp://127.0.0.1:{ports[0]}"
    rx = a.rx_address or f"tcp://127.0.0.1:{ports[1]}"
    if a.wire == "soapy" and not a.soapy_args:
        a.soapy_args = f"tx={tx},rx={rx}"
    tb = LeoPassDoppler(a.wire, tx, rx, a.samp_rate, a.tone, 1.0, a.duration, a.block, a.carrier, a.epoch, a.quiet,
                        a.soapy_args)
    print(f"{a.wire}: TX {tx}, RX {rx}, {a.samp_rate:g} S/s, tone {a.tone:g} Hz, {a.duration:g} s of pass time",
          flush=True)
    # Run until the probe has every expected sample, then stop. (Waiting for the flowgraph to finish by
    # itself is not enough: GNU Radio marks a ZMQ source done only when its output buffer fills, which a
    # REQ source that the emulator no longer answers never does.)
    tb.start()
    t_last, seen = time.monotonic(), 0
    while tb.probe.seen < tb.n_rx:
        time.sleep(0.05)
        if tb.probe.seen != seen:
            t_last, seen = time.monotonic(), tb.probe.seen
        elif time.monotonic() - t_last > a.timeout:
            print(f"no samples for {a.timeout:g} s after {seen} of {tb.n_rx}: is `hil emulate` running with the "
                  "matching file?", file=sys.stderr)
            break
    tb.stop()
    tb.wait()
    _KEEP.append(tb)  # not destroyed before os._exit (see the end of this file)
    rows = tb.probe.rows
    if not rows:
        print("no samples received: is `hil emulate` running with the matching file?", file=sys.stderr)
        return 1
    d = np.array(rows)
    live = d[d[:, 3] > -60]  # blocks with signal (not before the first delayed samples arrived)
    i = int(np.argmin(np.abs(live[:, 2])))
    print(f"{len(rows)} estimates: Doppler {live[:, 2].max():+.1f} .. {live[:, 2].min():+.1f} Hz, "
          f"nearest zero at t = {live[i, 0]:.2f} s (culmination), rate there "
          f"{np.gradient(live[:, 2], live[:, 0])[i]:.1f} Hz/s")
    if a.csv:
        np.savetxt(a.csv, d, delimiter=",", header="t_s,f_measured_hz,doppler_hz,power_db", comments="",
                   fmt="%.6f")
        print(f"wrote {a.csv}")
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # GNU Radio 3.10's ZMQ REQ source leaves its last request unanswered when the flowgraph stops, and
    # destroying the block (ZeroMQ socket close + context teardown) then waits for it forever. Everything
    # is written and flushed: leave without running the teardown.
    os._exit(code)
