"""Tables, --format templates and Docker-shaped JSON, without a daemon."""

from __future__ import annotations

import pytest

from pyd_cli.formatting import (
    Template,
    TemplateError,
    bytes_size,
    format_one,
    format_output,
    human_size,
    render_table,
    tabwrite,
    to_docker_dict,
)


def test_table_pads_columns_like_docker_ps():
    out = render_table(
        ["CONTAINER ID", "IMAGE", "COMMAND", "NAMES"],
        [["0123456789ab", "busybox", '"sh"', "web"], ["ba9876543210", "alpine:3", '"top"', "db"]],
    )
    assert out.splitlines() == [
        "CONTAINER ID   IMAGE      COMMAND   NAMES",
        '0123456789ab   busybox    "sh"      web',
        'ba9876543210   alpine:3   "top"     db',
    ]


def test_table_header_only_uses_minwidth_10():
    out = render_table(
        ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"], []
    )
    assert out == "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n"


def test_tabwriter_column_blocks_end_at_a_line_without_tabs():
    text = "a\tx\nlonger key\ty\nplain line\nk\tz\n"
    assert tabwrite(text, minwidth=0, padding=1).splitlines() == [
        "a          x",
        "longer key y",
        "plain line",
        "k z",
    ]


def test_version_block_aligns_at_20():
    out = tabwrite(" Version:\t0.1.0\n API version:\t1.0\n", minwidth=20, padding=1)
    assert out == " Version:           0.1.0\n API version:       1.0\n"


@pytest.mark.parametrize(
    ("size", "human", "binary"),
    [
        (0, "0B", "0B"),
        (999, "999B", "999B"),
        (1234567, "1.235MB", "1.177MiB"),
        (16_420_000_000, "16.42GB", "15.29GiB"),
    ],
)
def test_sizes_match_go_units(size, human, binary):
    assert human_size(size) == human
    assert bytes_size(size) == binary


def test_template_fields_json_and_index():
    data = {"State": {"Status": "running", "Pid": 42}, "Config": {"Labels": {"a": "b"}}}
    assert Template("{{.State.Status}} {{.State.Pid}}").execute(data) == "running 42"
    assert Template('{{index .Config.Labels "a"}}').execute(data) == "b"
    assert Template("{{json .State}}").execute(data) == '{"Status":"running","Pid":42}'
    assert Template("{{.Missing}}").execute(data) == "<no value>"


def test_template_range_if_with_and_pipes():
    data = {
        "Networks": {"bridge": {"IPAddress": "172.17.0.2"}, "user": {"IPAddress": "10.0.0.3"}},
        "Names": ["/a", "/b"],
        "Running": False,
    }
    tmpl = "{{range $k, $v := .Networks}}{{$k}}={{$v.IPAddress}} {{end}}"
    assert Template(tmpl).execute(data) == "bridge=172.17.0.2 user=10.0.0.3 "
    assert (
        Template("{{range .Networks}}{{.IPAddress}},{{end}}").execute(data)
        == "172.17.0.2,10.0.0.3,"
    )
    assert Template('{{join .Names ","}}').execute(data) == "/a,/b"
    assert Template("{{if .Running}}up{{else}}down{{end}}").execute(data) == "down"
    assert Template("{{with .Networks.bridge}}{{.IPAddress}}{{end}}").execute(data) == "172.17.0.2"
    assert Template("{{.Names | len}}").execute(data) == "2"
    assert Template('{{printf "%s-%d" "x" 3}}').execute(data) == "x-3"
    assert Template("{{- .Running -}}  ").execute(data) == "false"


def test_template_on_objects_reports_unknown_field():
    class Row:
        ID = "abc"

    assert Template("{{.ID}}").execute(Row()) == "abc"
    with pytest.raises(TemplateError, match="can't evaluate field Nope"):
        Template("{{.Nope}}").execute(Row())


def test_template_parse_errors():
    with pytest.raises(TemplateError):
        Template("{{if .A}}x")
    with pytest.raises(TemplateError):
        Template("{{nofunc .A}}")


def test_format_output_table_prefix_adds_header_and_alignment():
    rows = [{"ID": "abc", "Names": "web"}, {"ID": "defghi", "Names": "db"}]
    out = format_output(r"table {{.ID}}\t{{.Names}}", rows, headers={"ID": "CONTAINER ID"})
    assert out.splitlines() == ["CONTAINER ID   NAMES", "abc            web", "defghi         db"]


def test_format_output_plain_and_json_keyword():
    rows = [{"ID": "abc"}, {"ID": "def"}]
    assert format_output("{{.ID}}", rows) == "abc\ndef\n"
    assert format_output("json", rows) == '{"ID":"abc"}\n{"ID":"def"}\n'
    assert format_one("{{.ID}}", rows[0]) == "abc\n"


def test_docker_dict_uses_docker_json_names():
    from pyd_proto.pyd.dockerd.v1 import containers_pb2, types_pb2

    c = containers_pb2.ContainerJSON(id="abc", name="/web")
    c.state.status = "running"
    c.state.oom_killed = False
    c.state.lazy_restore.address = "pyd://hostA:7000/web/cp1"
    c.host_config.resources.memory = 512 << 20
    c.host_config.port_bindings["80/tcp"].items.add(host_ip="0.0.0.0", host_port="8080")
    c.config.exposed_ports["80/tcp"].SetInParent()
    c.network_settings.ports["80/tcp"].items.add(host_ip="0.0.0.0", host_port="8080")
    c.network_settings.ports["443/tcp"].SetInParent()
    c.config.labels["x"] = "y"
    c.state.started_at.FromSeconds(1700000000)
    c.state.started_at.nanos = 120000000
    d = to_docker_dict(c)
    assert d["Id"] == "abc"
    assert d["State"]["OOMKilled"] is False
    assert d["State"]["StartedAt"] == "2023-11-14T22:13:20.12Z"
    assert d["State"]["FinishedAt"] == "0001-01-01T00:00:00Z"
    assert d["State"]["LazyRestore"]["Address"] == "pyd://hostA:7000/web/cp1"
    # Resources are inlined into HostConfig, as Go embeds them; int64 stays a number.
    assert d["HostConfig"]["Memory"] == 512 << 20
    assert "Resources" not in d["HostConfig"]
    assert d["HostConfig"]["PortBindings"] == {
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]
    }
    assert d["NetworkSettings"]["Ports"]["443/tcp"] is None
    assert d["Config"]["ExposedPorts"] == {"80/tcp": {}}
    assert d["Config"]["StopTimeout"] is None
    assert d["SizeRw"] is None
    assert d["Config"]["Healthcheck"] is None
    assert isinstance(types_pb2.Config().DESCRIPTOR.fields_by_name["env"].json_name, str)


def test_docker_dict_renders_driver_status_as_pairs():
    from pyd_proto.pyd.dockerd.v1 import system_pb2

    info = system_pb2.InfoResponse(driver="overlayfs")
    info.driver_status.add(key="Backing Filesystem", value="extfs")
    d = to_docker_dict(info)
    assert d["DriverStatus"] == [["Backing Filesystem", "extfs"]]
    assert d["NCPU"] == 0
