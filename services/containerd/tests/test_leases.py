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


def test_lease_ids_ctr_generates_are_accepted() -> None:
    from pyd_containerd import identifiers
    from pyd_proto.errdefs import InvalidArgument

    for lease_id in ("693478246--qMs", "507739520-_AT2", "123-abc_"):
        assert identifiers.validate_lease(lease_id) == lease_id
    for bad in ("", "a/b", "../x", "x" * 77):
        with pytest.raises(InvalidArgument):
            identifiers.validate_lease(bad)
