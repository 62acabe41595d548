"""Content store: digests verified, resumable ingests, namespaces, labels, delete."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import Engine

from pyd_containerd.content.local import LocalStore, digest_of
from pyd_containerd.metadata.content import ContentStore, Info
from pyd_proto.errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound


@pytest.fixture
def store(engine: Engine, tmp_path: Path) -> ContentStore:
    return ContentStore(engine, LocalStore(str(tmp_path / "io.containerd.content.v1.content")))


def _ingests(store: ContentStore) -> list[str]:
    return os.listdir(os.path.join(store.local.root, "ingest"))


def test_content_write_commit_read(store: ContentStore) -> None:
    data = b"hello world" * 1000
    dgst = store.write_blob("default", "ref1", data, expected=digest_of(data),
                            labels={"a": "b"})
    assert dgst == digest_of(data)
    info = store.info("default", dgst)
    assert info.size == len(data) and info.labels == {"a": "b"}
    assert store.read_all("default", dgst) == data
    assert b"".join(d for _, d in store.read("default", dgst, 5, 6)) == data[5:11]
    path = store.local.blob_path(dgst)
    assert path.endswith("blobs/sha256/" + dgst.split(":")[1])
    assert _ingests(store) == []


def test_content_rejects_lying_digest(store: ContentStore) -> None:
    data = b"the truth"
    lie = digest_of(b"a lie")
    with pytest.raises(FailedPrecondition, match="unexpected commit digest"):
        store.write_blob("default", "liar", data, expected=lie)
    with pytest.raises(NotFound):
        store.info("default", lie)
    with pytest.raises(NotFound):
        store.info("default", digest_of(data))
    assert _ingests(store) == []
    assert store.local.blobs() == []


def test_content_resumable_write(store: ContentStore) -> None:
    data = os.urandom(300_000)
    w = store.writer("default", "big", total=len(data), expected=digest_of(data))
    w.write(data[:100_000])
    w.close()
    st = store.status("default", "big")
    assert (st.ref, st.offset, st.total, st.expected) == ("big", 100_000, len(data),
                                                          digest_of(data))
    assert [s.ref for s in store.statuses("default")] == ["big"]
    assert store.statuses("other") == []
    w = store.writer("default", "big")
    assert w.offset == 100_000
    with pytest.raises(FailedPrecondition):  # incomplete: not committed, still resumable
        w.commit()
    w.write(data[100_000:])
    assert w.commit() == digest_of(data)
    w.close()
    assert store.read_all("default", digest_of(data)) == data
    with pytest.raises(NotFound):
        store.status("default", "big")


def test_content_ref_locked_while_writing(store: ContentStore) -> None:
    from pyd_proto.errdefs import Unavailable

    w = store.writer("default", "r")
    with pytest.raises(Unavailable):
        store.writer("default", "r")
    w.close()
    store.writer("default", "r").close()
    store.abort("default", "r")
    with pytest.raises(NotFound):
        store.abort("default", "r")


def test_content_namespaces_share_bytes_not_records(store: ContentStore) -> None:
    data = b"shared"
    d = store.write_blob("a", "r", data, expected=digest_of(data))
    with pytest.raises(NotFound):
        store.info("b", d)
    with pytest.raises(AlreadyExists):
        store.writer("a", "again", expected=d)
    # another namespace gets the blob recorded without rewriting it
    assert store.write_blob("b", "r", data, expected=d) == d
    assert store.info("b", d).size == len(data)
    store.delete("a", d)
    assert store.local.exists(d)  # b still holds it
    store.delete("b", d)
    assert not store.local.exists(d)


def test_content_update_labels_and_filters(store: ContentStore) -> None:
    d1 = store.write_blob("default", "1", b"one", labels={"k": "v"})
    d2 = store.write_blob("default", "2", b"two")
    store.update("default", Info(d2, labels={"x": "y"}), ["labels.x"])
    assert store.info("default", d2).labels == {"x": "y"}
    assert [i.digest for i in store.list("default", ["labels.k==v"])] == [d1]
    assert {i.digest for i in store.list("default")} == {d1, d2}
    with pytest.raises(InvalidArgument):
        store.update("default", Info(d2), ["size"])


def test_content_bad_digest_invalid_argument(store: ContentStore) -> None:
    with pytest.raises(InvalidArgument):
        store.info("default", "sha256:../../etc/passwd")
    with pytest.raises(InvalidArgument):
        store.writer("default", "r", expected="md5:abc")
