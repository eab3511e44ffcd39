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
    import os
    import shutil

    gr_py = os.environ.get("HIL_GNURADIO_PYTHON", "/usr/bin/python3")
    gr = os.path.exists(gr_py) and os.path.isdir("/usr/lib/python3/dist-packages/gnuradio") \
        if gr_py == "/usr/bin/python3" else os.path.exists(gr_py)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    module = os.path.join(root, "build", "soapy", "libleohilSupport.so")
    print("SDR tools (interop tests, examples):")
    for what, ok, how in (
            ("GNU Radio 3.10 (" + gr_py + ")", gr, "apt-get install gnuradio"),
            ("iio_attr (libiio-utils)", shutil.which("iio_attr") is not None, "apt-get install libiio-utils"),
            ("SoapySDRUtil", shutil.which("SoapySDRUtil") is not None, "apt-get install soapysdr-tools"),
            ("SoapySDR module driver=leohil", os.path.exists(module),
             "apt-get install libsoapysdr-dev libzmq3-dev && scripts/build_soapy_module")):
        print(f"  {what:<40} {'yes' if ok else 'no  - ' + how}")
    return 0
