"""The ``hil`` bad-input table (issue 15): every row must be refused - exit status 1 or 2, exactly one
line ``hil: error: ...`` on stderr naming the option/field (or file) and the value - with no traceback
and nothing written or accepted silently. Rows run in process through :func:`hil.cli.main`, so an
exception other than the testbed's own propagates and fails the row (that is what a traceback is).

Validators (``hil check``, ``hil profiles validate``) report per file instead: ``FAIL <one line>`` on
stdout and exit 2; their rows are checked for that.
"""

import json
import os
import shutil

import pytest

from hil.cli import main

EMU_OK = """\
endpoints:
  - {name: tx, address: "ADDR", pattern: pull}
  - {name: rx, address: "tcp://127.0.0.1:*", pattern: push}
links:
  - {name: l, source: tx, sink: rx}
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    f = {"dir": str(d / "adir"), "afile": str(d / "afile"), "missing": str(d / "no" / "such")}
    os.mkdir(f["dir"])
    open(f["afile"], "w").write("x")
    for name, data in (("bin", bytes(range(256)) * 4), ("latin1", "gain_db: 3 # caf\xe9\n".encode("latin-1")),
                       ("empty", b""), ("nul", b"name: x\x00\n"), ("bomb", b"a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b ["
                       + b",".join([b"*a"] * 10) + b"]\nc: &c [" + b",".join([b"*b"] * 10) + b"]\nd: &d ["
                       + b",".join([b"*c"] * 10) + b"]\ne: &e [" + b",".join([b"*d"] * 10) + b"]\nf: &f ["
                       + b",".join([b"*e"] * 10) + b"]\ng: [" + b",".join([b"*f"] * 10) + b"]\n"),
                       ("syntax", b"a: [1, 2\n"), ("passwd", b"root:x:0:0:root:/root:/bin/bash\nuser:x:1000\n"),
                       ("nolinks", b"name: nothing\n"), ("nolinks2", b"name: x\nendpoints: []\n"),
                       ("semicolon", EMU_OK.replace("ADDR", "tcp://127.0.0.1:5;0.0.0.0:6").encode()),
                       ("upper", EMU_OK.replace("ADDR", "TCP://0.0.0.0:5555").encode()),
                       ("ws", EMU_OK.replace("ADDR", "ws://127.0.0.1:5555").encode()),
                       ("anyif", EMU_OK.replace("ADDR", "tcp://0.0.0.0:5555").encode())):
        f[name] = str(d / f"{name}.yaml")
        open(f[name], "wb").write(data)
    # SigMF captures: one good (recorded by hil itself) and damaged copies of it
    base = str(d / "good")
    assert main(["record", base, "--samples", "1000"]) == 0
    good = json.load(open(base + ".sigmf-meta"))

    def capture(name, edit=None, raw=None):
        shutil.copy(base + ".sigmf-data", str(d / f"{name}.sigmf-data"))
        doc = json.loads(json.dumps(good))
        if edit:
            edit(doc)
        open(str(d / f"{name}.sigmf-meta"), "w").write(raw if raw is not None else json.dumps(doc))
        f[name] = str(d / f"{name}.sigmf-meta")

    capture("cap_far", lambda m: m["captures"].append({"core:sample_start": 500, "core:global_index": 10**15}))
    capture("cap_start", lambda m: m["captures"].append({"core:sample_start": 10**9, "core:global_index": 10**9}))
    capture("cap_back", lambda m: m["captures"].append({"core:sample_start": 500, "core:global_index": 3}))
    capture("cap_order", lambda m: m["captures"].insert(0, {"core:sample_start": 500, "core:global_index": 500}))
    capture("cap_norate", lambda m: m["global"].pop("core:sample_rate"))
    capture("cap_negrate", lambda m: m["global"].__setitem__("core:sample_rate", -5))
    capture("cap_freq", lambda m: m["captures"][0].__setitem__("core:frequency", "x"))
    capture("cap_list", raw="[1, 2, 3]")
    capture("cap_trunc", raw=json.dumps(good)[:100])
    capture("cap_dtype", lambda m: m["global"].__setitem__("core:datatype", "ci16_le"))
    shutil.copy(base + ".sigmf-data", str(d / "cap_bin.sigmf-data"))
    open(str(d / "cap_bin.sigmf-meta"), "wb").write(bytes(range(256)))
    f["cap_bin"] = str(d / "cap_bin.sigmf-meta")
    f["good"] = base
    return f


# (argv with {placeholders} from the files fixture, text the error line must contain)
ROWS = [
    # argparse itself: one line, not a usage block
    (["nosuchcommand"], "invalid choice"),
    (["ber", "--nosuchoption"], "--nosuchoption"),
    (["replay", "{good}", "--repeat", "1e9"], "--repeat"),
    (["ber", "--M", "x"], "--M"),
    # YAML given to emulate: every kind of not-a-config file
    (["emulate", "{dir}"], "scenario"),
    (["emulate", "{bin}"], "not UTF-8"),
    (["emulate", "{latin1}"], "not UTF-8"),
    (["emulate", "{empty}"], "empty"),
    (["emulate", "{nul}"], "NUL"),
    (["emulate", "{bomb}"], "expands to more than"),
    (["emulate", "{syntax}"], "line 2"),
    (["emulate", "{passwd}"], "<a str of"),
    (["emulate", "{nolinks}"], "links"),
    (["emulate", "{semicolon}"], "';'"),
    (["emulate", "{upper}"], "'TCP'"),
    (["emulate", "{ws}"], "'ws'"),
    (["emulate", "{anyif}"], "not loopback"),
    (["emulate", "{missing}"], "scenario"),
    (["emulate", "scenarios/emulator/leo_pass_sband.yaml", "--check", "--telemetry", "{missing}"], "--telemetry"),
    (["emulate", "scenarios/emulator/leo_pass_sband.yaml", "--check", "--telemetry", "{dir}"], "--telemetry"),
    (["emulate", "scenarios/emulator/leo_pass_sband.yaml", "--check", "--bursts", "{afile}/x"], "--bursts"),
    (["emulate", "scenarios/emulator/leo_pass_sband.yaml", "--check", "--duration", "nan"], "--duration"),
    (["emulate", "scenarios/emulator/leo_pass_sband.yaml", "--check", "--status-every", "-1"], "--status-every"),
    # ber: sizes refused before anything is allocated
    (["ber", "--M", "100000", "--N", "100000"], "--M"),
    (["ber", "--M", "4096", "--N", "4096"], "--M x --N"),
    (["ber", "--M", "128", "--N", "64", "--channel", "rayleigh"], "lmmse"),
    (["ber", "--M", "0"], "--M"),
    (["ber", "--seed", "-1"], "--seed"),
    (["ber", "--snr", "nan"], "--snr"),
    (["ber", "--snr", "0:1e9:1e-9"], "--snr"),
    (["ber", "--snr", "5:0:1"], "--snr"),
    (["ber", "--taps", "0"], "--taps"),
    (["ber", "--max-doppler", "nan"], "--max-doppler"),
    (["ber", "--min-errors", "0"], "--min-errors"),
    (["ber", "--out", "{afile}/x"], "--out"),
    # calibrate
    (["calibrate", "--seed", "-1"], "--seed"),
    (["calibrate", "--impairments", "{dir}"], "--impairments"),
    (["calibrate", "--impairments", "{bin}"], "not UTF-8"),
    (["calibrate", "--impairments", "{empty}"], "empty"),
    (["calibrate", "--impairments", "{missing}"], "--impairments"),
    (["calibrate", "--impairments", "{passwd}"], "<a str of"),
    (["calibrate", "--report", "{afile}"], "--report"),
    (["calibrate", "--report", "{afile}/sub"], "--report"),
    (["calibrate", "--store", "{afile}", "--no-report"], "--store"),
    (["calibrate", "--rx-gain", "nan"], "--rx-gain"),
    (["calibrate", "--sample-rate", "inf"], "--sample-rate"),
    (["calibrate", "--gain-frequencies", "2.4e9,nan"], "--gain-frequencies"),
    (["calibrate", "--gain-rx-gains", "a,b"], "--gain-rx-gains"),
    (["calibrate", "--backend", "soapy", "--impairments", "demo"], "--impairments"),
    # record
    (["record", "{missing}"], "OUT"),
    (["record", "{afile}/cap"], "OUT"),
    (["record", "{dir}"], "OUT"),
    (["record", "{dir}/cap", "--seconds", "nan"], "--seconds"),
    (["record", "{dir}/cap", "--seconds", "-1"], "--seconds"),
    (["record", "{dir}/cap", "--seconds", "1e300"], "--seconds"),
    (["record", "{dir}/cap", "--samples", "0"], "--samples"),
    (["record", "{dir}/cap", "-O", "latency=[1,2"], "--option"),
    (["record", "{dir}/cap", "-O", "=3"], "--option"),
    (["record", "{dir}/cap", "--seed", "-1"], "--seed"),
    (["record", "{dir}/cap", "--gain", "1e300"], "--gain"),
    (["record", "{dir}/cap", "--mock-noise-dbfs", "1e300"], "--mock-noise-dbfs"),
    (["record", "{dir}/cap", "--block", "0"], "--block"),
    (["record", "{dir}/cap", "--rate", "nan"], "--rate"),
    # replay: bad SigMF metadata and sizes
    (["replay", "{good}", "--repeat", "1000000000"], "--repeat"),
    (["replay", "{good}", "--repeat", "1000000", "--verify"], "--repeat"),
    (["replay", "{good}", "--repeat", "0"], "--repeat"),
    (["replay", "{good}", "--rate", "nan"], "--rate"),
    (["replay", "{good}", "-O", "x: [", "--verify"], "--option"),
    (["replay", "{cap_far}"], "--gaps skip"),
    (["replay", "{cap_start}"], "core:sample_start"),
    (["replay", "{cap_back}"], "core:global_index"),
    (["replay", "{cap_order}"], "ordering"),
    (["replay", "{cap_norate}"], "core:sample_rate"),
    (["replay", "{cap_negrate}"], "-5"),
    (["replay", "{cap_freq}"], "'x'"),
    (["replay", "{cap_list}"], "not a valid SigMF"),
    (["replay", "{cap_trunc}"], "not a valid SigMF"),
    (["replay", "{cap_bin}"], "not a valid SigMF"),
    (["replay", "{cap_dtype}"], "core:datatype"),
    (["replay", "{dir}"], "CAPTURE"),
    (["replay", "{missing}"], "not a valid SigMF"),
    # pluto-emulator: refused before the delay line is allocated or a port is bound
    (["pluto-emulator", "--delay", "1e15"], "--delay"),
    (["pluto-emulator", "--delay", "-1"], "--delay"),
    (["pluto-emulator", "--gain-db", "1e300"], "--gain-db"),
    (["pluto-emulator", "--seed", "-1"], "--seed"),
    (["pluto-emulator", "--noise-var", "nan"], "--noise-var"),
    (["pluto-emulator", "--frequency-offset", "inf"], "--frequency-offset"),
    (["pluto-emulator", "--port", "70000"], "--port"),
    (["pluto-emulator", "--profile", "{passwd}"], "<a str of"),
    # profiles show: never prints a file's content
    (["profiles", "show", "{passwd}"], "<a str of"),
    (["profiles", "show", "no_such_profile"], "no_such_profile"),
    (["profiles", "show", "{bin}"], "not UTF-8"),
    # passes
    (["passes", "--lat", "nan"], "--lat"),
    (["passes", "--lon", "inf"], "--lon"),
    (["passes", "--mask", "nan"], "--mask"),
    (["passes", "--fc", "nan"], "--fc"),
    (["passes", "--duration", "0"], "--duration"),
    (["passes", "--plot", "{missing}.png"], "--plot"),
    (["passes", "-c", "{dir}"], "--constellation"),
    (["passes", "-c", "{bin}"], "content"),
    (["passes", "-c", "{empty}"], "TLE"),
    (["passes", "--start", "garbage"], "--start"),
]

# hil run (the experiment runner) reads scenarios through the same load_yaml
RUN_ROWS = [
    (["run", "{dir}"], "scenario"),
    (["run", "{bin}"], "not UTF-8"),
    (["run", "{empty}"], "empty"),
    (["run", "{passwd}"], "<a str of"),
    (["run", "scenarios/demo.yaml", "-o", "{afile}/x", "--max-bursts", "1", "--no-progress"], "Not a directory"),
    # the loop's child processes read a plan file
    (["tx", "--plan", "{bin}", "--connect", "tcp://127.0.0.1:1"], "not a loop plan"),
    (["tx", "--plan", "{dir}", "--connect", "tcp://127.0.0.1:1"], "cannot read the plan"),
    (["rx", "--plan", "{empty}", "--connect", "tcp://127.0.0.1:1"], "not a loop plan"),
    (["rx", "--plan", "{missing}", "--connect", "tcp://0.0.0.0:1"], "--connect"),
    (["compare", "{bin}"], "not UTF-8"),
    (["compare", "{dir}"], "config"),
    (["payload", "{bin}"], "not UTF-8"),
    (["payload-broadcast", "{empty}"], "empty"),
]

VALIDATOR_ROWS = [
    (["check", "{bin}"], "not UTF-8"),
    (["check", "{dir}"], "directory"),
    (["check", "{empty}"], "empty"),
    (["check", "{passwd}"], "<a str of"),
    (["check", "{nolinks2}"], "endpoints"),
    (["check", "{semicolon}"], "';'"),
    (["profiles", "validate", "{bin}"], "not UTF-8"),
    (["profiles", "validate", "{passwd}"], "<a str of"),
]


def _argv(row, files):
    return [a.format(**files) for a in row]


def _run(argv, capsys):
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse
        rc = exc.code
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize("argv, want", ROWS + RUN_ROWS, ids=[" ".join(r[0])[:60] for r in ROWS + RUN_ROWS])
def test_bad_input_is_one_line_error(argv, want, files, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("HIL_CALIBRATION_DIR", str(tmp_path / "store"))
    argv = _argv(argv, files)
    if argv[0] in ("calibrate", "record") or argv[0] == "ber" and "--out" not in argv:
        monkeypatch.chdir(tmp_path)  # default report/output paths land in the test's own directory
    rc, out, err = _run(argv, capsys)
    lines = err.strip().splitlines()
    assert rc in (1, 2), (rc, out, err)
    assert len(lines) == 1 and lines[0].startswith("hil: error: "), err
    assert want in lines[0], lines[0]
    assert "Traceback" not in err + out
    assert "root:x:0:0" not in err + out  # a file's content is never echoed
    assert not os.path.exists(str(tmp_path / "store"))  # nothing was calibrated/stored


@pytest.mark.parametrize("argv, want", VALIDATOR_ROWS, ids=[" ".join(r[0]) for r in VALIDATOR_ROWS])
def test_validators_report_one_fail_line(argv, want, files, capsys):
    rc, out, err = _run(_argv(argv, files), capsys)
    lines = out.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("FAIL ") and want in lines[0], (rc, out, err)
    assert "Traceback" not in err + out and "root:x:0:0" not in out


def test_profiles_show_of_a_relative_system_path_prints_no_content(capsys, monkeypatch):
    if not os.path.isfile("/etc/passwd"):
        pytest.skip("no /etc/passwd here")
    monkeypatch.chdir("/usr/lib" if os.path.isdir("/usr/lib") else "/tmp")
    rc, out, err = _run(["profiles", "show", "../../etc/passwd"], capsys)
    assert rc == 2 and err.startswith("hil: error: ") and len(err.strip().splitlines()) == 1
    assert "root:" not in err + out


def test_table_size():
    # the table covers every case listed in issue 15 (and keeps covering them)
    assert len(ROWS) + len(RUN_ROWS) + len(VALIDATOR_ROWS) >= 110, len(ROWS)
