"""docker's column helpers: durations, sizes, ports, quoting, ps/images rows."""

from __future__ import annotations

from types import SimpleNamespace

from pyd_cli.commands.container.ps import ContainerContext
from pyd_cli.commands.image.ls import image_rows
from pyd_cli.formatting import (
    display_ports,
    ellipsis,
    go_quote,
    human_duration,
    human_size_precision,
    json_indent,
    truncate_id,
)
from pyd_cli.reference import familiar_tagged, normalized


def test_human_duration_like_go_units():
    assert human_duration(0.5) == "Less than a second"
    assert human_duration(1) == "1 second"
    assert human_duration(59) == "59 seconds"
    assert human_duration(60) == "About a minute"
    assert human_duration(150) == "2 minutes"
    assert human_duration(3600) == "About an hour"
    assert human_duration(5 * 3600) == "5 hours"
    assert human_duration(3 * 86400) == "3 days"
    assert human_duration(21 * 86400) == "3 weeks"
    assert human_duration(90 * 86400) == "3 months"
    assert human_duration(800 * 86400) == "2 years"


def test_sizes_with_three_digits():
    assert human_size_precision(4_261_550) == "4.26MB"
    assert human_size_precision(0) == "0B"
    assert human_size_precision(1000) == "1kB"
    assert human_size_precision(999) == "999B"


def test_command_column_is_quoted_and_cut_at_20():
    assert ellipsis("sh -c 'while true; do date; done'", 20) == "sh -c 'while true; …"
    assert go_quote('sh -c "x"\n') == '"sh -c \\"x\\"\\n"'
    assert truncate_id("sha256:" + "ab" * 32) == "abababababab"


def test_ports_column_groups_ranges_and_mappings():
    ports = [
        ("0.0.0.0", 80, 8080, "tcp"),
        ("", 443, 0, "tcp"),
        ("", 444, 0, "tcp"),
        ("0.0.0.0", 53, 53, "udp"),
        ("::", 80, 8080, "tcp"),
    ]
    assert display_ports(ports) == (
        "0.0.0.0:53->53/udp, 443-444/tcp, 0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"
    )


def test_inspect_json_is_docker_indented_and_escaped():
    assert json_indent([{"A": "<b>", "N": None}]) == (
        '[\n    {\n        "A": "\\u003cb\\u003e",\n        "N": null\n    }\n]'
    )


def _summary(**kw):
    base = dict(
        id="0123456789abcdef" * 4,
        names=["/web", "/other/link"],
        image="busybox@sha256:" + "a" * 64,
        image_id="sha256:" + "c" * 64,
        command="sh -c 'sleep 1000; echo done'",
        created=SimpleNamespace(seconds=1000, nanos=0),
        ports=[],
        state="running",
        status="Up 3 seconds",
        size_rw=0,
        size_root_fs=0,
        labels={"a": "1"},
        mounts=[],
        network_settings=SimpleNamespace(networks={"pyd0": None}),
    )
    base.update(kw)
    return SimpleNamespace(**base)


def test_ps_row_fields():
    row = ContainerContext(_summary(), trunc=True, now=1000 + 125)
    assert row.ID == "0123456789ab"
    assert row.Names == "web"
    assert row.Image == "busybox"
    assert row.Command == '"sh -c \'sleep 1000; …"'
    assert row.RunningFor == "2 minutes ago"
    full = ContainerContext(_summary(), trunc=False, now=1125)
    assert full.Names == "web,other/link"
    assert full.Command == "\"sh -c 'sleep 1000; echo done'\""
    sized = ContainerContext(_summary(size_rw=2048, size_root_fs=4_000_000), trunc=True)
    assert sized.Size == "2.05kB (virtual 4MB)"


def test_images_rows_expand_tags_and_show_none():
    img = SimpleNamespace(
        id="sha256:" + "e" * 64,
        repo_tags=["busybox:latest", "localhost:5000/bb:1"],
        repo_digests=[],
        created=SimpleNamespace(seconds=0, nanos=0),
        size=4_261_550,
        containers=-1,
        shared_size=-1,
    )
    none = SimpleNamespace(**{**img.__dict__, "repo_tags": []})
    rows = image_rows([img, none], trunc=True, digests=False, now=0)
    assert [(r.Repository, r.Tag, r.ID, r.Size) for r in rows] == [
        ("busybox", "latest", "eeeeeeeeeeee", "4.26MB"),
        ("localhost:5000/bb", "1", "eeeeeeeeeeee", "4.26MB"),
        ("<none>", "<none>", "eeeeeeeeeeee", "4.26MB"),
    ]


def test_references():
    assert familiar_tagged("busybox") == "busybox:latest"
    assert familiar_tagged("localhost:5000/x") == "localhost:5000/x:latest"
    assert normalized("busybox") == "docker.io/library/busybox:latest"
    assert normalized("localhost:5000/x:2") == "localhost:5000/x:2"
    assert normalized("me/app") == "docker.io/me/app:latest"
