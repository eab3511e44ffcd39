"""The ``hil`` command.

Subcommands live in :mod:`hil.commands`, one module each, discovered at start-up: a module defines
``NAME`` (the subcommand), ``HELP`` (one line), ``register(parser)`` (adds its arguments) and
``run(args) -> int`` (the exit status). Only subcommands that exist are listed in ``--help``.

Errors of the testbed (:class:`hil.errors.HILError`) are printed as one line ``hil: error: ...``
with exit status 2 (configuration) or 1 (device/stream), as are argparse's errors (2) and a file
operation the system refuses (``OSError``, 1); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

import hil
from hil.errors import ConfigError, HILError

__all__ = ["main", "build_parser"]


def _command_modules():
    import hil.commands as pkg

    mods = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{pkg.__name__}.{info.name}")
        if all(hasattr(mod, a) for a in ("NAME", "HELP", "register", "run")):
            mods.append(mod)
    return sorted(mods, key=lambda m: getattr(m, "ORDER", 50))


class _Parser(argparse.ArgumentParser):
    """argparse with the testbed's error format: one line ``hil: error: ...`` and exit status 2 (no usage
    block; ``hil COMMAND --help`` shows it). Subcommand parsers are of this class too."""

    def error(self, message):
        cmd = self.prog.split(" ", 1)[1] + ": " if " " in self.prog else ""
        self.exit(2, f"hil: error: {cmd}{' '.join(message.split())} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hil",
        description="Hardware-in-the-loop SDR testbed for LEO satellite links.",
        epilog="Run `hil COMMAND --help` for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {hil.__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.register(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except HILError as exc:
        if args.debug:
            raise
        print(f"hil: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    except OSError as exc:
        # The environment refused a file operation (a path into a missing directory or onto a file, no
        # permission, a full disk): one line with the path, not a traceback. Commands check their paths
        # up front; this is the net under paths opened deeper down.
        if args.debug:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"hil: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("hil: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
