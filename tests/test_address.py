"""Endpoint addresses are parsed (scheme, host, port; one endpoint per string), not prefix-matched."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hil.backends.zmq_transport import ZmqTransport, parse_zmq_uri
from hil.config import parse
from hil.emulator.address import parse_address
from hil.emulator.config import EmulatorConfig
from hil.errors import ConfigError

GOOD = [
    ("tcp://127.0.0.1:5555", "tcp", "127.0.0.1", 5555),
    ("tcp://127.9.8.7:1", "tcp", "127.9.8.7", 1),
    ("tcp://localhost:65535", "tcp", "localhost", 65535),
    ("tcp://[::1]:5555", "tcp", "::1", 5555),
    ("tcp://127.0.0.1:*", "tcp", "127.0.0.1", None),
    ("ipc:///tmp/hil-emu-0", "ipc", None, None),
    ("ipc://@abstract-name", "ipc", None, None),
    ("inproc://emu", "inproc", None, None),
]

# (address, what the message must say): every one is refused on loopback-only configs
BAD = [
    ("tcp://127.0.0.1:5555;0.0.0.0:5556", "';'"),     # libzmq would bind the part after ';'
    ("tcp://127.0.0.1:5555;127.0.0.1:5556", "';'"),
    ("TCP://0.0.0.0:5555", "'TCP'"),
    ("Tcp://127.0.0.1:5555", "'Tcp'"),
    ("ws://127.0.0.1:5555", "'ws'"),
    ("wss://127.0.0.1:5555", "'wss'"),
    ("tipc://{5560,0,0}", "'tipc'"),
    ("udp://127.0.0.1:5555", "'udp'"),
    ("pgm://eth0;239.192.1.1:5555", "'pgm'"),
    ("epgm://127.0.0.1:5555", "'epgm'"),
    ("vmci://1:5555", "'vmci'"),
    ("tcp://0.0.0.0:5555", "not loopback"),
    ("tcp://*:5555", "not loopback"),
    ("tcp://192.168.1.4:5555", "not loopback"),
    ("tcp://[::]:5555", "not loopback"),
    ("tcp://[::ffff:10.0.0.1]:5555", "not loopback"),
    ("tcp://eth0:5555", "not loopback"),
    ("tcp://example.com:5555", "not loopback"),
    ("tcp://127.0.0.1", "HOST:PORT"),
    ("tcp://127.0.0.1:", "port"),
    ("tcp://127.0.0.1:65536", "port"),
    ("tcp://127.0.0.1:-1", "port"),
    ("tcp://127.0.0.1:5555/x", "port"),
    ("tcp://127.0.0.1:5555:1", "IPv6"),
    ("tcp://::1:5555", "IPv6"),
    ("tcp://[::1:5555", "IPv6"),
    ("tcp://127.0.0.1:5555 ", "' '"),
    ("tcp:// 127.0.0.1:5555", "' '"),
    ("tcp://127.0.0.1:5555\n", "'\\n'"),
    ("tcp://127.0.0.1:5555,tcp://0.0.0.0:1", "','"),
    ("tcp://127.0.0.1:\u0665\u0665", "port"),      # Arabic-Indic digits: str.isdigit() alone says yes
    ("127.0.0.1:5555", "scheme"),
    ("tcp://", "nothing after"),
    ("ipc://" + "x" * 200, "107"),
    ("inproc://" + "x" * 300, "256"),
    ("", "scheme"),
]


@pytest.mark.parametrize("text, scheme, host, port", GOOD)
def test_loopback_addresses_parse(text, scheme, host, port):
    a = parse_address(text, bind=True)
    assert (a.scheme, a.host, a.port) == (scheme, host, port)
    assert a.loopback
    assert parse_address(a.url, bind=True) == a  # the canonical form parses back to the same


@pytest.mark.parametrize("text, why", BAD)
def test_bad_addresses_are_refused_with_the_reason(text, why):
    with pytest.raises(ConfigError) as ex:
        parse_address(text, "endpoints[0].address", bind=True)
    msg = str(ex.value)
    assert msg.startswith("endpoints[0].address: got ") and why in msg, msg
    assert "\n" not in msg.replace("\\n", "")


def test_allow_remote_admits_lab_hosts_but_still_one_endpoint_of_an_allowed_scheme():
    assert not parse_address("tcp://192.168.1.4:5555", allow_remote=True).loopback
    assert parse_address("tcp://*:5555", allow_remote=True, bind=True).host == "*"
    assert parse_address("tcp://eth0:5555", allow_remote=True, bind=True).host == "eth0"
    for text in ("tcp://127.0.0.1:1;0.0.0.0:2", "ws://0.0.0.0:1", "TCP://0.0.0.0:1"):
        with pytest.raises(ConfigError):
            parse_address(text, allow_remote=True, bind=True)


def test_bind_only_wildcards_are_refused_for_connect():
    for text in ("tcp://127.0.0.1:*", "tcp://127.0.0.1:0", "ipc://*"):
        parse_address(text, bind=True)
        with pytest.raises(ConfigError, match="bind only"):
            parse_address(text, bind=False)
    with pytest.raises(ConfigError, match="bind only"):
        parse_address("tcp://*:5555", allow_remote=True, bind=False)


@given(st.text(max_size=60))
def test_any_text_either_parses_to_a_loopback_endpoint_or_raises_config_error(text):
    try:
        a = parse_address(text, bind=True)
    except ConfigError as exc:
        assert "got" in str(exc)
    else:
        assert a.loopback and ";" not in text and a.scheme in ("tcp", "ipc", "inproc")


@given(st.sampled_from(["127.0.0.1", "localhost", "[::1]"]), st.integers(1, 65535),
       st.sampled_from([";", ",", " ", "\t"]), st.sampled_from(["0.0.0.0", "*", "10.1.2.3", "127.0.0.1"]),
       st.integers(1, 65535))
def test_a_second_endpoint_is_never_smuggled_in(host, port, sep, host2, port2):
    with pytest.raises(ConfigError):
        parse_address(f"tcp://{host}:{port}{sep}{host2}:{port2}", bind=True)


def _emu(address, **kw):
    eps = [dict(name="in", address=address, pattern="pull"), dict(name="out", address="tcp://127.0.0.1:*",
                                                                    pattern="push")]
    return dict(endpoints=eps, links=[dict(name="l", source="in", sink="out")], **kw)


def test_emulator_config_uses_the_parser_for_endpoints_and_control():
    with pytest.raises(ConfigError, match=r"emu.yaml: endpoints\[0\].address: got 'tcp://127.0.0.1:1;0.0.0.0:2'"):
        parse(EmulatorConfig, _emu("tcp://127.0.0.1:1;0.0.0.0:2"), source="emu.yaml")
    with pytest.raises(ConfigError, match="control: got 'tcp://0.0.0.0:7'"):
        parse(EmulatorConfig, _emu("tcp://127.0.0.1:*", control="tcp://0.0.0.0:7"), source="emu.yaml")
    with pytest.raises(ConfigError, match="'TCP'"):
        parse(EmulatorConfig, _emu("TCP://0.0.0.0:1", allow_remote=True))
    assert parse(EmulatorConfig, _emu("tcp://0.0.0.0:5555", allow_remote=True)).allow_remote


def test_zmq_transport_and_uri_use_the_parser():
    with pytest.raises(ConfigError, match="not loopback"):
        parse_zmq_uri("tx=tcp://10.0.0.1:1;rx=tcp://127.0.0.1:2")
    assert parse_zmq_uri("tx=tcp://10.0.0.1:1;rx=tcp://127.0.0.1:2", allow_remote=True)[0] == ["tcp://10.0.0.1:1"]
    with pytest.raises(ConfigError, match=r"tx\[0\]: got 'TCP://127.0.0.1:1'"):
        ZmqTransport("TCP://127.0.0.1:1", "tcp://127.0.0.1:2")
    with pytest.raises(ConfigError, match=r"rx\[1\].*bind only"):
        ZmqTransport("tcp://127.0.0.1:1", ["tcp://127.0.0.1:2", "tcp://127.0.0.1:*"])
