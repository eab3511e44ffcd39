"""``hil info``: what is installed - version, compiled kernels, optional hardware libraries."""

import importlib.util

NAME = "info"
HELP = "show the version, which kernels are compiled and which hardware libraries are installed"
ORDER = 90


# (module, what it is for, how to install it when absent); tests needing one skip with this reason.
_OPTIONAL = (
    ("adi", "pyadi-iio (Pluto backend)", 'pip install -e ".[pluto]"'),
    ("iio", "pylibiio/libiio (Pluto backend)", 'apt-get install libiio0 && pip install -e ".[pluto]"'),
    ("SoapySDR", "SoapySDR binding (USRP/Soapy backend)",
     "apt-get install python3-soapysdr && scripts/link_soapysdr $(command -v python3)"),
)


def register(parser):
    return parser


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def run(args) -> int:
    import hil
    from dsp._kernels import status

    print(f"leo-hil {hil.__version__}")
    print("kernels:")
    for name, state in status().items():
        print(f"  {name:<16} {state}")
    print("optional libraries:")
    for mod, what, how in _OPTIONAL:
        print(f"  {what:<40} {'yes' if _has(mod) else 'no  - ' + how}")
    return 0
