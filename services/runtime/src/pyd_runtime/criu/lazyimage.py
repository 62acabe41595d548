"""The destination's local image for a lazy restore from a page server.

`criu restore --lazy-pages` reads every non-lazy page from the local
pages-*.img at its offset (pages are stored in pagemap order, lazy ones are
skipped by offset), and `criu lazy-pages --page-server` fetches the lazy ones
over the network.  So the destination needs every image file except the page
data, plus a *sparse* pages file: the same size as the source's, holding
only the non-lazy ranges.  For a 512 MiB container that is a few dozen KiB.

`lazy_image_plan` says what to copy; `apply_plan` carries a plan out over any
transport (a `read(name, offset, length)` callable); `make_lazy_image` does it
between two local directories.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pyd_runtime.criu.images import ImageDir, is_log, sparse_ranges


@dataclass(frozen=True)
class FilePlan:
    """One file of the destination image.

    `ranges` is None for a file copied whole; otherwise the file is created
    with `size` bytes and only the (offset, length) ranges are filled.
    """

    name: str
    size: int
    ranges: tuple[tuple[int, int], ...] | None = None

    @property
    def bytes_to_copy(self) -> int:
        if self.ranges is None:
            return self.size
        return sum(length for _off, length in self.ranges)


def lazy_image_plan(source: ImageDir | Path | str) -> list[FilePlan]:
    """What the destination of a lazy restore needs from image `source`."""
    image = source if isinstance(source, ImageDir) else ImageDir(source)
    sparse: dict[str, list[tuple[int, int]]] = {}
    for pm in image.pagemaps().values():
        sparse.setdefault(pm.pages_file, []).extend(sparse_ranges(pm))
    plan: list[FilePlan] = []
    for path in image.files():
        if is_log(path.name):
            continue
        size = path.stat().st_size
        ranges = sparse.get(path.name)
        plan.append(FilePlan(path.name, size, None if ranges is None else tuple(sorted(ranges))))
    return plan


def apply_plan(plan: list[FilePlan], dest: Path | str,
               read: Callable[[str, int, int], bytes], chunk: int = 4 << 20) -> int:
    """Create `dest` from `plan`, fetching bytes with ``read(name, offset, length)``.

    `read` may return fewer bytes than asked (it is called again for the rest), so
    any transport (HTTP ranges, a socket) fits.  Returns the bytes fetched.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    total = 0
    for item in plan:
        ranges = [(0, item.size)] if item.ranges is None else list(item.ranges)
        with open(dest / item.name, "wb") as fo:
            fo.truncate(item.size)
            for offset, length in ranges:
                done = 0
                while done < length:
                    data = read(item.name, offset + done, min(chunk, length - done))
                    if not data:
                        raise OSError(f"{item.name}: nothing read at {offset + done}")
                    fo.seek(offset + done)
                    fo.write(data)
                    done += len(data)
                    total += len(data)
    return total


def make_lazy_image(source: ImageDir | Path | str, dest: Path | str) -> list[FilePlan]:
    """Write the destination's local image for a lazy restore of `source` into `dest`.

    A parent image (pre-dump chain) is copied whole next to `dest` and linked
    as ``dest/parent``: lazy-pages reads pages kept in the parent locally.
    Returns the plan that was carried out.
    """
    image = source if isinstance(source, ImageDir) else ImageDir(source)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    plan = lazy_image_plan(image)
    for item in plan:
        src = image.path / item.name
        dst = dest / item.name
        if item.ranges is None:
            shutil.copy2(src, dst)
            continue
        with open(src, "rb") as fi, open(dst, "wb") as fo:
            fo.truncate(item.size)
            for offset, length in item.ranges:
                done = 0
                while done < length:
                    n = os.copy_file_range(fi.fileno(), fo.fileno(), length - done,
                                           offset + done, offset + done)
                    if n == 0:
                        raise OSError(f"{src}: short copy at {offset + done}")
                    done += n
    parent = image.parent
    if parent is not None:
        copy = dest.parent / f"{dest.name}.parent"
        if copy.exists():
            shutil.rmtree(copy)
        shutil.copytree(parent.path, copy, symlinks=True)
        link = dest / "parent"
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(os.path.relpath(copy, dest))
    return plan


def allocated_bytes(path: Path | str) -> int:
    """Bytes actually allocated on disk for `path` (sparse files count holes as 0)."""
    return os.stat(path).st_blocks * 512
