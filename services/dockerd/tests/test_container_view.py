"""`ps` selection and rows: Docker's filters, -a/-n/-l, summary shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pyd_dockerd.container.container import Container
from pyd_dockerd.container.view import filter_containers, summary
from pyd_proto.errdefs import InvalidArgument

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _c(name: str, minutes: int, status: str = "running", **kw: object) -> Container:
    c = Container(id=(name * 64)[:64], name=name, created=T0 + timedelta(minutes=minutes),
                  image="sha256:" + "ab" * 32, config={"Image": "busybox", "Labels": {}},
                  path="sh", args=["-c", "sleep 1"])
    if status == "running":
        c.state.set_running(100)
    elif status == "exited":
        c.state.set_running(100)
        c.state.set_stopped(int(kw.pop("code", 0)))  # type: ignore[call-overload]
    for k, v in kw.items():
        setattr(c, k, v)
    return c


@pytest.fixture
def cs() -> list[Container]:
    web = _c("web", 3, network_settings={
        "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "443/tcp": None},
        "Networks": {"front": {"NetworkID": "f" * 64}}})
    web.config["Labels"] = {"tier": "front"}
    return [_c("old", 1, "exited", code=3), _c("new", 2, "created"), web,
            _c("db", 4, mounts=[{"Type": "volume", "Name": "data", "Destination": "/d"}])]


def test_ps_shows_running_newest_first_and_all_with_a(cs: list[Container]) -> None:
    assert [c.name for c in filter_containers(cs)] == ["db", "web"]
    assert [c.name for c in filter_containers(cs, all=True)] == ["db", "web", "new", "old"]
    assert [c.name for c in filter_containers(cs, all=True, limit=2)] == ["db", "web"]
    assert [c.name for c in filter_containers(cs, latest=True)] == ["db"]


def test_ps_filters_like_docker(cs: list[Container]) -> None:
    def names(**f: list[str]) -> list[str]:
        return [c.name for c in filter_containers(cs, dict(f), all=True,
                                                  resolve=lambda r: next(
                                                      c for c in cs if c.name == r))]
    assert names(status=["exited"]) == ["old"]
    assert names(exited=["3"]) == ["old"] and names(exited=["0"]) == []
    assert names(name=["^/w"]) == ["web"]
    assert names(label=["tier=front"]) == ["web"] and names(label=["tier"]) == ["web"]
    assert names(id=["db"]) == ["db"]
    assert names(publish=["8080"]) == ["web"] and names(expose=["443/tcp"]) == []
    assert names(network=["front"]) == ["web"]
    assert names(volume=["data"]) == ["db"]
    assert names(before=["web"]) == ["new", "old"] and names(since=["web"]) == ["db"]
    assert names(ancestor=["busybox"]) == ["db", "web", "new", "old"]
    with pytest.raises(InvalidArgument, match="invalid filter 'colour'"):
        names(colour=["red"])
    with pytest.raises(InvalidArgument, match="invalid filter 'status=sleeping'"):
        names(status=["sleeping"])


def test_summary_has_dockers_shape(cs: list[Container]) -> None:
    row = summary(cs[2], now=T0 + timedelta(minutes=13))
    assert row["Names"] == ["/web"] and row["Command"] == "sh -c sleep 1"
    assert row["State"] == "running" and row["Status"].startswith("Up ")
    assert row["Ports"] == [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080,
                             "Type": "tcp"}, {"PrivatePort": 443, "Type": "tcp"}]
    assert summary(cs[0])["Status"].startswith("Exited (3)")
    assert summary(cs[1])["Status"] == "Created"
