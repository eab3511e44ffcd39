"""The lowest layer imports nothing above it: dsp/ never imports hil/ (DESIGN.md, STYLE.md 17)."""

import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _imports(path: pathlib.Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def test_dsp_sources_import_nothing_from_hil():
    bad = [f"{p.relative_to(ROOT)}: {m}" for p in sorted((ROOT / "dsp").rglob("*.py"))
           for m in _imports(p) if m == "hil" or m.startswith("hil.")]
    assert not bad, "dsp/ imports hil/: " + "; ".join(bad)


def test_importing_dsp_loads_no_hil_module():
    code = ("import sys, dsp, dsp.waveforms, dsp.detection, dsp.sync, dsp.tracking, dsp.delay, "
            "dsp.impairments, dsp.ber, dsp.estimation; "
            "print(sorted(m for m in sys.modules if m == 'hil' or m.startswith('hil.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_hil_errors_are_the_dsp_classes():
    import dsp.config
    import dsp.errors
    import hil.config
    import hil.errors
    assert hil.errors.ConfigError is dsp.errors.ConfigError
    assert hil.config.parse is dsp.config.parse
