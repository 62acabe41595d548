"""Image names normalize as Docker's do; chain IDs are computed as upstream's."""

from __future__ import annotations

import hashlib

import pytest

from pyd_dockerd.images import reference
from pyd_dockerd.images.service import chain_id
from pyd_proto.errdefs import InvalidArgument


@pytest.mark.parametrize(("given", "full"), [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36"),
    ("me/app", "docker.io/me/app:latest"),
    ("localhost:5000/app:v1", "localhost:5000/app:v1"),
    ("127.0.0.1:5000/a/b", "127.0.0.1:5000/a/b:latest"),
    ("busybox@sha256:" + "a" * 64, "docker.io/library/busybox@sha256:" + "a" * 64),
])
def test_normalize_like_docker(given: str, full: str) -> None:
    assert reference.normalize(given) == full


@pytest.mark.parametrize("bad", ["", "BusyBox", "a b", "busybox:bad tag"])
def test_malformed_references_are_refused(bad: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid reference format"):
        reference.normalize(bad)


def test_familiar_names_drop_the_default_domain() -> None:
    assert reference.familiar("docker.io/library/busybox:latest") == "busybox:latest"
    assert reference.familiar("docker.io/me/app:v1") == "me/app:v1"
    assert reference.familiar("localhost:5000/app:v1") == "localhost:5000/app:v1"
    assert reference.split_repo_tag("localhost:5000/app:v1") == ("localhost:5000/app", "v1")


def test_chain_id_matches_the_identity_formula() -> None:
    a, b = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    assert chain_id([a]) == a
    assert chain_id([a, b]) == "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
