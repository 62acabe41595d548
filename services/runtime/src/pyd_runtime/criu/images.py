"""Read CRIU image files without pycriu.

An image file is ``u32 IMG_COMMON_MAGIC, u32 <type magic>`` (inventory.img has
only its type magic) followed by records, each ``u32 size`` and a protobuf
message of that size.  pages-*.img files are raw: the page contents of every
PE_PRESENT pagemap entry, in pagemap order.

Field numbers follow CRIU 4.1.1's images/pagemap.proto, pstree.proto and
inventory.proto.  pagemap_entry.nr_pages moved from field 2 (now
``compat_nr_pages``) to the uint64 field 5 in later CRIU; both are read.
"""

from __future__ import annotations

import bisect
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from pyd_runtime.criu.protowire import decode, read_varint

PAGE_SIZE = 4096

IMG_COMMON_MAGIC = 0x54564319
IMG_SERVICE_MAGIC = 0x55105940
INVENTORY_MAGIC = 0x58313116
PSTREE_MAGIC = 0x50273030
PAGEMAP_MAGIC = 0x56084025

PE_PARENT = 1 << 0  # pages are in the parent snapshot (pre-dump chain)
PE_LAZY = 1 << 1  # pages may be restored lazily (userfaultfd)
PE_PRESENT = 1 << 2  # pages are stored in this image's pages-*.img

# Files a lazy destination never needs: pages are fetched or sparse-copied, and
# these are CRIU's and runc's logs and statistics.
_LOG_SUFFIXES = (".log",)


class ImageError(Exception):
    """A CRIU image file is missing or malformed."""


def read_records(path: Path | str, magic: int) -> list[bytes]:
    """The protobuf records of image file `path`, after checking its `magic`."""
    data = Path(path).read_bytes()
    pos = 0
    if magic != INVENTORY_MAGIC:
        if len(data) < 4:
            raise ImageError(f"{path}: too short for a CRIU image")
        (head,) = struct.unpack_from("<I", data, 0)
        if head not in (IMG_COMMON_MAGIC, IMG_SERVICE_MAGIC):
            raise ImageError(f"{path}: head magic {head:#x} is not CRIU's")
        pos = 4
    if len(data) < pos + 4:
        raise ImageError(f"{path}: too short for a CRIU image")
    (found,) = struct.unpack_from("<I", data, pos)
    if found != magic:
        raise ImageError(f"{path}: magic {found:#x}, expected {magic:#x}")
    pos += 4
    records: list[bytes] = []
    while pos < len(data):
        if pos + 4 > len(data):
            raise ImageError(f"{path}: truncated record size at {pos}")
        (size,) = struct.unpack_from("<I", data, pos)
        pos += 4
        if pos + size > len(data):
            raise ImageError(f"{path}: truncated record at {pos}")
        records.append(data[pos : pos + size])
        pos += size
    return records


def _int(fields: dict[int, list[int | bytes]], num: int, default: int = 0) -> int:
    values = fields.get(num)
    if not values:
        return default
    value = values[-1]
    if not isinstance(value, int):
        raise ImageError(f"field {num} is not a number")
    return value


@dataclass(frozen=True)
class PagemapEntry:
    """One run of pages of a task's address space (CRIU's pagemap_entry)."""

    vaddr: int
    nr_pages: int
    flags: int
    in_parent: bool = False
    #: byte offset of this entry's data in pages-<pages_id>.img (only if present)
    pages_offset: int = 0

    @property
    def end(self) -> int:
        return self.vaddr + self.nr_pages * PAGE_SIZE

    @property
    def size(self) -> int:
        return self.nr_pages * PAGE_SIZE

    @property
    def lazy(self) -> bool:
        return bool(self.flags & PE_LAZY)

    @property
    def present(self) -> bool:
        return bool(self.flags & PE_PRESENT)

    @property
    def parent(self) -> bool:
        return bool(self.flags & PE_PARENT)


def parse_pagemap_entry(raw: bytes, pages_offset: int = 0) -> PagemapEntry:
    """Decode one pagemap_entry record."""
    f = decode(raw)
    vaddr = _int(f, 1)
    nr_pages = _int(f, 5, _int(f, 2))
    in_parent = bool(_int(f, 3))
    if 4 in f:
        flags = _int(f, 4)
    else:  # images older than the flags field (CRIU's init_compat_pagemap_entry)
        flags = PE_PARENT if in_parent else PE_PRESENT
    return PagemapEntry(vaddr, nr_pages, flags, in_parent, pages_offset)


@dataclass
class Pagemap:
    """A task's pagemap-<pid>.img: which pages-*.img holds its pages, and where."""

    pages_id: int
    entries: list[PagemapEntry]
    _starts: list[int] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._starts = [e.vaddr for e in self.entries]

    @property
    def pages_file(self) -> str:
        return f"pages-{self.pages_id}.img"

    @property
    def nr_pages(self) -> int:
        return sum(e.nr_pages for e in self.entries)

    @property
    def present_pages(self) -> int:
        return sum(e.nr_pages for e in self.entries if e.present)

    @property
    def lazy_pages(self) -> int:
        return sum(e.nr_pages for e in self.entries if e.lazy)

    def find(self, vaddr: int) -> PagemapEntry | None:
        """The entry whose range holds `vaddr`, if any."""
        i = bisect.bisect_right(self._starts, vaddr) - 1
        if i < 0:
            return None
        e = self.entries[i]
        return e if e.vaddr <= vaddr < e.end else None


def read_pagemap(path: Path | str) -> Pagemap:
    """Parse a pagemap-*.img (or pagemap-shmem-*.img) file."""
    records = read_records(path, PAGEMAP_MAGIC)
    if not records:
        raise ImageError(f"{path}: no pagemap_head")
    pages_id = _int(decode(records[0]), 1)
    entries: list[PagemapEntry] = []
    offset = 0
    for raw in records[1:]:
        e = parse_pagemap_entry(raw, offset)
        if e.present:
            offset += e.size
        entries.append(e)
    entries.sort(key=lambda e: e.vaddr)
    return Pagemap(pages_id, entries)


@dataclass(frozen=True)
class PstreeEntry:
    """One task of the dumped tree, with pids as seen inside the image."""

    pid: int
    ppid: int
    pgid: int
    sid: int
    threads: tuple[int, ...]


def read_pstree(path: Path | str) -> list[PstreeEntry]:
    """Parse pstree.img; the first entry is the root task (the container's init)."""
    out: list[PstreeEntry] = []
    for raw in read_records(path, PSTREE_MAGIC):
        f = decode(raw)
        threads: list[int] = []
        for v in f.get(5, []):
            if isinstance(v, bytes):  # packed encoding
                pos = 0
                while pos < len(v):
                    t, pos = read_varint(v, pos)
                    threads.append(t)
            else:
                threads.append(v)
        out.append(PstreeEntry(_int(f, 1), _int(f, 2), _int(f, 3), _int(f, 4), tuple(threads)))
    return out


@dataclass(frozen=True)
class Inventory:
    """The few inventory.img fields pyd looks at."""

    img_version: int
    lazy_pages_expected: bool = False
    dump_uptime: int = 0


def read_inventory(path: Path | str) -> Inventory:
    """Parse inventory.img."""
    records = read_records(path, INVENTORY_MAGIC)
    if not records:
        raise ImageError(f"{path}: empty inventory")
    f = decode(records[0])
    return Inventory(img_version=_int(f, 1), dump_uptime=_int(f, 8))


class ImageDir:
    """A directory of CRIU images, as written by `criu dump` (or `runc checkpoint`)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if not (self.path / "inventory.img").exists():
            raise ImageError(f"{self.path}: no inventory.img, not a CRIU image directory")

    @cached_property
    def inventory(self) -> Inventory:
        return read_inventory(self.path / "inventory.img")

    @cached_property
    def pstree(self) -> list[PstreeEntry]:
        return read_pstree(self.path / "pstree.img")

    @property
    def pids(self) -> list[int]:
        """The pids (inside the image) of every process that has a pagemap."""
        return [t.pid for t in self.pstree if (self.path / f"pagemap-{t.pid}.img").exists()]

    def pagemap(self, pid: int) -> Pagemap:
        return self._pagemaps(pid)

    def _pagemaps(self, pid: int) -> Pagemap:
        cache: dict[int, Pagemap] = self.__dict__.setdefault("_pm_cache", {})
        pm = cache.get(pid)
        if pm is None:
            path = self.path / f"pagemap-{pid}.img"
            if not path.exists():
                raise ImageError(f"{self.path}: no pagemap for pid {pid}")
            pm = cache[pid] = read_pagemap(path)
        return pm

    def pagemaps(self) -> dict[int, Pagemap]:
        """Pagemaps of every task, by pid inside the image."""
        return {pid: self.pagemap(pid) for pid in self.pids}

    @property
    def parent(self) -> ImageDir | None:
        """The previous (pre-dump) image this one was dumped against, if any."""
        link = self.path / "parent"
        if not link.exists():
            return None
        return ImageDir(link.resolve())

    def pages_path(self, pagemap: Pagemap) -> Path:
        return self.path / pagemap.pages_file

    def memory_bytes(self) -> int:
        """Bytes of page data in this image (PE_PRESENT entries of every task)."""
        return sum(pm.present_pages for pm in self.pagemaps().values()) * PAGE_SIZE

    def lazy_bytes(self) -> int:
        """Bytes of page data that a lazy restore may fetch on demand."""
        return sum(pm.lazy_pages for pm in self.pagemaps().values()) * PAGE_SIZE

    def files(self) -> Iterator[Path]:
        """Every regular file of the image directory (not the parent link)."""
        for p in sorted(self.path.iterdir()):
            if p.is_file() and not p.is_symlink():
                yield p


def page_data_files(image: ImageDir) -> set[str]:
    """Names of the pages-*.img files that hold task pages (the ones made sparse)."""
    return {pm.pages_file for pm in image.pagemaps().values()}


def is_log(name: str) -> bool:
    """True for CRIU and runc logs, which do not belong in a copied image."""
    return name.endswith(_LOG_SUFFIXES)


def sparse_ranges(pagemap: Pagemap) -> list[tuple[int, int]]:
    """(offset, length) ranges of a pages file that a lazy restore reads locally.

    Those are the present, non-lazy entries; adjacent ranges are merged.
    """
    out: list[tuple[int, int]] = []
    for e in sorted((e for e in pagemap.entries if e.present), key=lambda e: e.pages_offset):
        if e.lazy:
            continue
        if out and out[-1][0] + out[-1][1] == e.pages_offset:
            out[-1] = (out[-1][0], out[-1][1] + e.size)
        else:
            out.append((e.pages_offset, e.size))
    return out


def pages_file_size(image: ImageDir, pagemap: Pagemap) -> int:
    """Size in bytes of the pages file `pagemap` points at."""
    return os.stat(image.pages_path(pagemap)).st_size
