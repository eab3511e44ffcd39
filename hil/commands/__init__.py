"""Subcommands of ``hil``: one module each (see :mod:`hil.cli` for the contract)."""
