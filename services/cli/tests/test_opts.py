"""Client-side parsing of flag values, with docker's exact error texts."""

from __future__ import annotations

import pytest

from pyd_cli.opts import OptError
from pyd_cli.opts.detachkeys import DetachDetector, to_bytes
from pyd_cli.opts.env import parse_env_file, read_env, validate_env
from pyd_cli.opts.filters import parse_filter
from pyd_cli.opts.mounts import bind_string, parse_mount, parse_volume, validate_volume
from pyd_cli.opts.ports import PortMapping, parse_port_spec, parse_port_specs
from pyd_cli.opts.restart import parse_restart_policy
from pyd_cli.opts.timetypes import get_timestamp, parse_go_duration
from pyd_cli.opts.units import parse_cpus, ram_in_bytes

# ------------------------------------------------------------------ ports


def test_port_spec_forms():
    assert parse_port_spec("80") == [PortMapping("80/tcp", "", "")]
    assert parse_port_spec("8080:80") == [PortMapping("80/tcp", "", "8080")]
    assert parse_port_spec("127.0.0.1:8080:80/udp") == [PortMapping("80/udp", "127.0.0.1", "8080")]
    assert parse_port_spec("127.0.0.1::80") == [PortMapping("80/tcp", "127.0.0.1", "")]
    assert parse_port_spec("[::1]:8080:80") == [PortMapping("80/tcp", "::1", "8080")]


def test_port_ranges_expand_pairwise():
    assert parse_port_spec("8000-8001:80-81") == [
        PortMapping("80/tcp", "", "8000"),
        PortMapping("81/tcp", "", "8001"),
    ]
    # one container port, a host range to pick from
    assert parse_port_spec("8000-8010:80") == [PortMapping("80/tcp", "", "8000-8010")]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("foo", "invalid containerPort: foo"),
        ("70000", "invalid containerPort: 70000"),
        ("x:80", "invalid hostPort: x"),
        ("1.2.3:80:80", "invalid IP address: 1.2.3"),
        ("80/xyz", "invalid proto: xyz"),
        (
            "8000-8002:80-81",
            "invalid ranges specified for container and host Ports: 80-81 and 8000-8002",
        ),
        ("8080:", "no port specified: 8080:<empty>"),
        ("90-80", "invalid containerPort: 90-80"),
    ],
)
def test_port_errors_are_dockers(spec, message):
    with pytest.raises(OptError) as err:
        parse_port_spec(spec)
    assert str(err.value) == message


def test_port_specs_collect_bindings_per_port():
    exposed, bindings = parse_port_specs(["80", "8080:80", "53:53/udp"])
    assert exposed == ["80/tcp", "53/udp"]
    assert bindings == {"80/tcp": [("", ""), ("", "8080")], "53/udp": [("", "53")]}


# ----------------------------------------------------------------- mounts


def test_volume_spec_kinds():
    v = parse_volume("/data")
    assert (v.type, v.source, v.target) == ("volume", "", "/data")
    v = parse_volume("/srv:/data:ro")
    assert (v.type, v.source, v.target, v.read_only) == ("bind", "/srv", "/data", True)
    v = parse_volume("named:/data")
    assert (v.type, v.source, v.target) == ("volume", "named", "/data")


def test_relative_bind_becomes_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = "./x:/data"
    assert bind_string(spec, parse_volume(spec)) == f"{tmp_path}/x:/data"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "invalid empty volume spec"),
        ("/a::/b", "invalid spec: /a::/b: empty section between colons"),
        ("/a:/b:ro:x", "invalid spec: /a:/b:ro:x: too many colons"),
    ],
)
def test_volume_spec_errors(spec, message):
    with pytest.raises(OptError) as err:
        parse_volume(spec)
    assert str(err.value) == message


def test_volume_target_must_be_absolute_and_mode_known():
    with pytest.raises(OptError) as err:
        validate_volume("foo:bar", parse_volume("foo:bar"))
    assert str(err.value) == (
        "invalid volume specification: 'foo:bar': invalid mount config for type \"volume\": "
        "invalid mount path: 'bar' mount path must be absolute"
    )
    with pytest.raises(OptError) as err:
        validate_volume("/a:/b:xx", parse_volume("/a:/b:xx"))
    assert str(err.value) == "invalid volume specification: '/a:/b:xx': invalid mode: xx"


def test_mount_flag():
    m = parse_mount("type=bind,source=/srv,target=/data,readonly")
    assert (m.type, m.source, m.target, m.read_only) == ("bind", "/srv", "/data", True)
    m = parse_mount("type=tmpfs,dst=/run,tmpfs-size=64m,tmpfs-mode=1770")
    assert (m.tmpfs_size, m.tmpfs_mode) == (64 << 20, 0o1770)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("type=bind,source=/a", "target is required"),
        ("type=bind,target=/a,bogus=1", "unexpected key 'bogus' in 'bogus=1'"),
        ("type=bind,target=/a,foo", "invalid field 'foo' must be a key=value pair"),
        (
            "type=bind,target=/a,volume-nocopy",
            "cannot mix 'volume-*' options with mount type 'bind'",
        ),
        ("type=volume,target=/a,readonly=maybe", "invalid value for readonly: maybe"),
        ("type=tmpfs,target=/a,tmpfs-size=lots", "invalid value for tmpfs-size: lots"),
    ],
)
def test_mount_errors(value, message):
    with pytest.raises(OptError) as err:
        parse_mount(value)
    assert str(err.value) == message


# ------------------------------------------------------------ memory, cpus


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("100", 100),
        ("1k", 1024),
        ("512m", 512 << 20),
        ("1.5g", 3 << 29),
        ("64 KiB", 64 << 10),
        ("2MB", 2 << 20),
        ("7b", 7),
    ],
)
def test_memory_units(text, value):
    assert ram_in_bytes(text) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "invalid size: 'abc'"),
        ("10x", "invalid suffix: 'x'"),
        ("-5m", "invalid size: '-5m'"),
        ("5mbb", "invalid suffix: 'mbb'"),
        ("1.5.5m", 'strconv.ParseFloat: parsing "1.5.5": invalid syntax'),
    ],
)
def test_memory_errors(text, message):
    with pytest.raises(OptError) as err:
        ram_in_bytes(text)
    assert str(err.value) == message


def test_cpus():
    assert parse_cpus("1.5") == 1_500_000_000
    assert parse_cpus("0.01") == 10_000_000
    assert parse_cpus("1/2") == 500_000_000
    with pytest.raises(OptError, match=r"^failed to parse abc as a rational number$"):
        parse_cpus("abc")
    with pytest.raises(OptError, match=r"^value is too precise$"):
        parse_cpus("0.0000000001")


# -------------------------------------------------------------------- env


def test_env_bare_key_takes_the_clients_value(monkeypatch):
    monkeypatch.setenv("PYD_TEST_X", "42")
    monkeypatch.delenv("PYD_TEST_UNSET", raising=False)
    assert validate_env("PYD_TEST_X") == "PYD_TEST_X=42"
    assert validate_env("PYD_TEST_UNSET") == "PYD_TEST_UNSET"
    assert validate_env("A=b=c") == "A=b=c"
    with pytest.raises(OptError, match=r"^invalid environment variable: =x$"):
        validate_env("=x")


def test_env_file(tmp_path, monkeypatch):
    monkeypatch.setenv("FROM_HOST", "h")
    f = tmp_path / "env"
    f.write_text("\ufeff# comment\n\n  A=1\nB= spaced \nFROM_HOST\nMISSING_ONE\n")
    assert parse_env_file(str(f)) == ["A=1", "B= spaced ", "FROM_HOST=h"]
    assert read_env([str(f)], ["A=2"])[-1] == "A=2"
    f.write_text("BAD KEY=1\n")
    with pytest.raises(OptError) as err:
        parse_env_file(str(f))
    assert str(err.value) == "poorly formatted environment: variable 'BAD KEY' contains whitespaces"
    with pytest.raises(OptError) as err:
        parse_env_file(str(tmp_path / "nope"))
    assert str(err.value) == f"open {tmp_path}/nope: no such file or directory"


# ---------------------------------------------------- restart, keys, misc


def test_restart_policies():
    assert parse_restart_policy("") == ("", 0)
    assert parse_restart_policy("always") == ("always", 0)
    assert parse_restart_policy("on-failure:3") == ("on-failure", 3)
    for bad, message in [
        (":3", "invalid restart policy format: no policy provided before colon"),
        ("on-failure:x", "invalid restart policy format: maximum retry count must be an integer"),
        (
            "sometimes",
            "invalid restart policy: unknown policy 'sometimes'; use one of 'no', "
            "'always', 'on-failure', or 'unless-stopped'",
        ),
        (
            "always:2",
            "invalid restart policy: maximum retry count can only be used with 'on-failure'",
        ),
    ]:
        with pytest.raises(OptError) as err:
            parse_restart_policy(bad)
        assert str(err.value) == message


def test_detach_keys():
    assert to_bytes("ctrl-p,ctrl-q") == b"\x10\x11"
    assert to_bytes("a,ctrl-[") == b"a\x1b"
    with pytest.raises(OptError, match=r"^Invalid detach keys \(ctrl-,x\) provided$"):
        to_bytes("ctrl-,x")


def test_detach_detector_holds_back_a_partial_sequence():
    d = DetachDetector(b"\x10\x11")
    assert d.feed(b"ab\x10") == (b"ab", False)
    assert d.feed(b"c") == (b"\x10c", False)
    assert d.feed(b"x\x10") == (b"x", False)
    assert d.feed(b"\x11rest") == (b"", True)


def test_filter_and_times():
    assert parse_filter("status=exited") == ("status", "exited")
    with pytest.raises(OptError, match=r"^bad format of filter \(expected name=value\)$"):
        parse_filter("status")
    assert parse_go_duration("1h30m") == 5400
    assert get_timestamp("1700000000.5") == (1700000000, 500_000_000)
    assert get_timestamp("2024-01-02T03:04:05Z")[0] == 1704164645
    with pytest.raises(OptError):
        get_timestamp("yesterday")
