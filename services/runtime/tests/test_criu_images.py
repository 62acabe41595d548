"""CRIU image parsing: synthetic images, then a real `runc checkpoint`."""

from __future__ import annotations

import filecmp
import os
import shutil
import struct
import uuid

import pytest

from pyd_runtime.criu import images
from pyd_runtime.criu.images import PE_LAZY, PE_PRESENT, ImageDir, ImageError
from pyd_runtime.criu.lazyimage import (
    allocated_bytes,
    apply_plan,
    lazy_image_plan,
    make_lazy_image,
)
from pyd_runtime.criu.protowire import Message, decode, encode_varint, read_varint
from pyd_runtime.criu.testing import (
    Runc,
    make_counter_bundle,
    read_counter,
    wait_counter,
    write_synthetic_image,
)

needs_criu = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("criu") or not shutil.which("runc"),
    reason="needs root, criu and runc",
)


def test_varint_round_trip():
    for v in (0, 1, 127, 128, 300, 2**32 - 1, 2**63 + 5):
        assert read_varint(encode_varint(v), 0) == (v, len(encode_varint(v)))
    assert read_varint(encode_varint(-1), 0)[0] == 2**64 - 1


def test_message_encodes_fields_by_number():
    raw = Message().varint(1, 7).string(2, "x").message(3, Message().varint(1, 1)).encode()
    assert decode(raw) == {1: [7], 2: [b"x"], 3: [b"\x08\x01"]}


def test_read_records_rejects_foreign_magic(tmp_path):
    p = tmp_path / "pagemap-1.img"
    p.write_bytes(struct.pack("<II", 0x1234, images.PAGEMAP_MAGIC))
    with pytest.raises(ImageError):
        images.read_records(p, images.PAGEMAP_MAGIC)


def test_synthetic_pagemap_offsets_follow_present_entries(tmp_path):
    write_synthetic_image(tmp_path, 7, [
        (0x1000, 2, PE_PRESENT),
        (0x10000, 3, PE_PRESENT | PE_LAZY),
        (0x20000, 1, images.PE_PARENT),
        (0x30000, 1, PE_PRESENT),
    ])
    img = ImageDir(tmp_path)
    assert img.pids == [7]
    pm = img.pagemap(7)
    assert [e.pages_offset for e in pm.entries if e.present] == [0, 8192, 20480]
    assert pm.present_pages == 6 and pm.lazy_pages == 3
    assert pm.find(0x11000).vaddr == 0x10000 and pm.find(0x13000) is None
    assert images.sparse_ranges(pm) == [(0, 8192), (20480, 4096)]


def test_new_style_nr_pages_field_is_read():
    raw = Message().varint(1, 0x1000).varint(2, 1).varint(4, PE_PRESENT).varint(5, 70000).encode()
    assert images.parse_pagemap_entry(raw).nr_pages == 70000


# -- a real checkpoint ---------------------------------------------------------

MIB = 16


@pytest.fixture(scope="module")
def real_checkpoint(tmp_path_factory):
    """A runc checkpoint of a counter container holding MIB MiB of touched memory."""
    base = tmp_path_factory.mktemp("criu-images")
    bundle = make_counter_bundle(base / "bundle", MIB)
    runc = Runc("runc", base / "runc-root")
    cid = f"pyd-img-{uuid.uuid4().hex[:8]}"
    try:
        runc("run", "-d", "--bundle", str(bundle), cid)
        wait_counter(bundle, 1)
        runc("checkpoint", "--image-path", str(base / "image"), "--work-path",
             str(base / "work"), cid)
    finally:
        runc.cleanup(cid)
    assert read_counter(bundle) is not None
    return base / "image"


@needs_criu
def test_real_image_names_the_container_init(real_checkpoint):
    img = ImageDir(real_checkpoint)
    assert img.inventory.img_version >= 2
    assert img.pstree[0].pid == 1  # pid 1 inside the container's pid namespace
    assert img.pids == [1]


@needs_criu
def test_real_image_marks_anonymous_memory_lazy(real_checkpoint):
    pm = ImageDir(real_checkpoint).pagemap(1)
    lazy = [e for e in pm.entries if e.lazy]
    assert all(e.flags == PE_PRESENT | PE_LAZY for e in lazy)
    assert pm.lazy_pages * images.PAGE_SIZE >= MIB << 20
    # the binary's file-backed pages are present but not lazy
    assert any(e.present and not e.lazy for e in pm.entries)


@needs_criu
def test_real_image_page_totals_match_pages_file(real_checkpoint):
    img = ImageDir(real_checkpoint)
    pm = img.pagemap(1)
    assert images.pages_file_size(img, pm) == pm.present_pages * images.PAGE_SIZE
    assert img.memory_bytes() == pm.present_pages * images.PAGE_SIZE


@needs_criu
def test_lazy_image_is_sparse_and_keeps_non_lazy_pages(real_checkpoint, tmp_path):
    src = ImageDir(real_checkpoint)
    plan = make_lazy_image(src, tmp_path / "dst")
    pm = src.pagemap(1)
    pages = pm.pages_file
    dst_pages = tmp_path / "dst" / pages
    assert dst_pages.stat().st_size == (real_checkpoint / pages).stat().st_size
    assert allocated_bytes(dst_pages) < 0.1 * src.memory_bytes()
    with open(real_checkpoint / pages, "rb") as a, open(dst_pages, "rb") as b:
        for off, length in images.sparse_ranges(pm):
            a.seek(off)
            b.seek(off)
            assert a.read(length) == b.read(length)
    copied = sum(p.bytes_to_copy for p in plan)
    assert copied < 0.1 * src.memory_bytes()
    for p in lazy_image_plan(src):
        if p.ranges is None:
            assert filecmp.cmp(real_checkpoint / p.name, tmp_path / "dst" / p.name, shallow=False)


def test_apply_plan_fetches_only_the_planned_ranges(tmp_path):
    write_synthetic_image(tmp_path / "src", 3, [
        (0x1000, 2, PE_PRESENT),
        (0x10000, 64, PE_PRESENT | PE_LAZY),
        (0x80000, 1, PE_PRESENT),
    ])
    plan = lazy_image_plan(tmp_path / "src")
    asked: list[tuple[str, int, int]] = []

    def read(name: str, offset: int, length: int) -> bytes:
        asked.append((name, offset, length))
        with open(tmp_path / "src" / name, "rb") as f:
            f.seek(offset)
            return f.read(min(length, 3000))  # short reads are allowed

    got = apply_plan(plan, tmp_path / "dst", read)
    pages = next(p for p in plan if p.name == "pages-1.img")
    assert pages.ranges == ((0, 8192), (270336, 4096))
    assert got == sum(p.bytes_to_copy for p in plan)
    src = (tmp_path / "src" / "pages-1.img").read_bytes()
    dst = (tmp_path / "dst" / "pages-1.img").read_bytes()
    assert len(dst) == len(src)
    assert dst[:8192] == src[:8192] and dst[270336:] == src[270336:]
    assert dst[8192:270336] == bytes(262144)
    assert all(o + n <= 8192 or o >= 270336 for name, o, n in asked if name == "pages-1.img")
