"""hil: everything that touches time, sockets or hardware - orbit, channel emulator, radio backends,
experiments and the ``hil`` command. Importing this package is cheap: submodules load on demand."""

__version__ = "0.1.0"
