"""Lease records and their resources."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from pyd_containerd.leases.store import Lease, LeaseStore, Resource
from pyd_proto.errdefs import AlreadyExists, InvalidArgument, NotFound


def test_lease_lifecycle_and_errors(engine: Engine) -> None:
    store = LeaseStore(engine)
    le = store.create("default", Lease("build", {"purpose": "test"}))
    assert le.created_at is not None
    with pytest.raises(AlreadyExists):
        store.create("default", Lease("build"))
    generated = store.create("default", Lease(""))
    assert generated.id
    store.add_resource("default", "build", Resource("sha256:" + "a" * 64, "content"))
    store.add_resource("default", "build", Resource("sha256:" + "a" * 64, "content"))  # idempotent
    store.add_resource("default", "build", Resource("key1", "snapshots/overlayfs"))
    assert sorted((r.type, r.id) for r in store.resources("default", "build")) == [
        ("content", "sha256:" + "a" * 64), ("snapshots/overlayfs", "key1")]
    with pytest.raises(InvalidArgument):
        store.add_resource("default", "build", Resource("x", "bogus"))
    with pytest.raises(NotFound):
        store.add_resource("default", "nolease", Resource("x", "content"))
    store.delete_resource("default", "build", Resource("key1", "snapshots/overlayfs"))
    assert [r.id for r in store.resources("default", "build")] == ["sha256:" + "a" * 64]
    assert [x.id for x in store.list("default", ["labels.purpose==test"])] == ["build"]
    store.delete("default", "build")
    with pytest.raises(NotFound):
        store.resources("default", "build")
    with pytest.raises(NotFound):
        store.delete("default", "build")
    with pytest.raises(NotFound):
        store.delete("elsewhere", generated.id)
