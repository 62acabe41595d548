"""`pyd cp`: copy files between a container and the local filesystem.

`CONTAINER:SRC_PATH DEST_PATH|-` streams Containers.CopyFrom (first message the
path's stat, then tar chunks) and extracts it with docker's naming rules (or
writes the raw tar to stdout for `-`); `SRC_PATH|- CONTAINER:DEST_PATH` stats
the destination (Containers.StatPath), builds a tar named the way docker's
archive.PrepareArchiveCopy would, and streams Containers.CopyTo.
"""

from __future__ import annotations

import io
import os
import posixpath
import sys
import tarfile
import threading
from collections.abc import Iterator
from typing import Any

import click

from pyd_cli.cmdutil import require_args, rpc_code, write_out
from pyd_cli.context import Cli
from pyd_cli.errors import CliError

GO_MODE_DIR = 1 << 31
CHUNK = 256 * 1024


def split_cp_arg(arg: str) -> tuple[str, str]:
    """docker's splitCpArg: "name:/path" → ("name", "/path"); local paths → ("", path)."""
    if os.path.isabs(arg) or arg.startswith("."):
        return "", arg
    container, sep, path = arg.partition(":")
    if not sep:
        return "", arg
    return container, path


@click.command("cp", short_help="Copy files/folders between a container and the local filesystem")
@click.option("-a", "--archive", is_flag=True, help="Archive mode (copy all uid/gid information)")
@click.option("-L", "--follow-link", is_flag=True, help="Always follow symbol link in SRC_PATH")
@click.option("-q", "--quiet", is_flag=True, help="Suppress progress output during copy")
@click.argument("args", nargs=-1, metavar="SRC DEST")
@click.pass_context
def cp(
    ctx: click.Context, archive: bool, follow_link: bool, quiet: bool, args: tuple[str, ...]
) -> None:
    """Copy files/folders between a container and the local filesystem.

    \b
    pyd cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-
    pyd cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH
    """
    require_args(ctx, args, exact=2)
    cli: Cli = ctx.obj
    src_container, src_path = split_cp_arg(args[0])
    dst_container, dst_path = split_cp_arg(args[1])
    if src_container and dst_container:
        raise CliError("copying between containers is not supported")
    if not src_container and not dst_container:
        raise CliError("must specify at least one container source")
    if src_container:
        if not src_path:
            raise CliError("source path cannot be empty")
        size = copy_from(cli, src_container, src_path, dst_path, follow_link=follow_link)
        where = dst_path
    else:
        if not dst_path:
            raise CliError("destination path cannot be empty")
        size = copy_to(
            cli, src_path, dst_container, dst_path, archive=archive, follow_link=follow_link
        )
        where = args[1]
    if not quiet and sys.stderr.isatty() and dst_path != "-" and src_path != "-":
        from pyd_cli.formatting import human_size_precision

        sys.stderr.write(f"Successfully copied {human_size_precision(float(size), 3)} to {where}\n")


# ------------------------------------------------------------ container → host


class _ChunkReader(io.RawIOBase):
    """A file object over an iterator of byte chunks (for tarfile's stream mode)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""
        self.total = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                return 0
            self.total += len(self._buf)
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def copy_from(cli: Cli, container: str, src: str, dst: str, *, follow_link: bool = False) -> int:
    from pyd_proto.pyd.dockerd.v1 import containers_pb2 as pb

    stream = cli.client().containers.CopyFrom(pb.CopyFromRequest(id=container, path=src))
    first = next(iter(stream), None)
    if first is None or not first.HasField("stat"):
        raise CliError("Error response from daemon: no stat of the source path was sent")
    stat = first.stat

    def chunks() -> Iterator[bytes]:
        for msg in stream:
            if msg.HasField("chunk"):
                yield msg.chunk

    if dst == "-":
        total = 0
        for chunk in chunks():
            total += len(chunk)
            write_out(chunk)
        return total
    src_is_dir = bool(stat.mode & GO_MODE_DIR)
    src_base = stat.name or posixpath.basename(src.rstrip("/")) or "."
    if src.endswith("/.") and src_is_dir:
        src_base = "."
    dst_exists = os.path.lexists(dst)
    if dst_exists and os.path.isdir(dst):
        target_dir, rename = dst, None
    else:
        if dst.endswith(os.sep) and not dst_exists:
            raise CliError(f"destination directory {dst} does not exist")
        if dst_exists and src_is_dir:
            raise CliError("cannot copy a directory to a file")
        parent = os.path.dirname(os.path.abspath(dst))
        if not os.path.isdir(parent):
            raise CliError(f"destination directory {parent} does not exist")
        target_dir, rename = parent, os.path.basename(dst)
    reader = _ChunkReader(chunks())
    with tarfile.open(fileobj=io.BufferedReader(reader, CHUNK), mode="r|") as tar:
        for member in tar:
            name = member.name
            if rename is not None and src_base != ".":
                head, sep, rest = name.partition("/")
                if head == src_base:
                    name = rename + sep + rest
            elif src_base == "." and rename is not None:
                name = posixpath.join(rename, name)
            member.name = name
            _check_member(member, target_dir)
            tar.extract(member, target_dir, set_attrs=True, filter="fully_trusted")
    return reader.total


def _check_member(member: tarfile.TarInfo, base: str) -> None:
    dest = os.path.realpath(os.path.join(base, member.name))
    if not (dest == os.path.realpath(base) or dest.startswith(os.path.realpath(base) + os.sep)):
        raise CliError(f"refusing to extract {member.name!r} outside {base}")


# ------------------------------------------------------------ host → container


class _Pipe(io.RawIOBase):
    """A writable file object whose writes become request chunks."""

    def __init__(self, send: Any) -> None:
        self._send = send
        self.total = 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = bytes(b)
        if data:
            self._send(data)
            self.total += len(data)
        return len(data)


def copy_to(
    cli: Cli,
    src: str,
    container: str,
    dst: str,
    *,
    archive: bool = False,
    follow_link: bool = False,
) -> int:
    import queue

    from pyd_proto.pyd.dockerd.v1 import containers_pb2 as pb

    stubs = cli.client().containers
    # Where the archive is extracted, and under which name the source goes.
    dst_dir, rename = dst, None
    try:
        st = stubs.StatPath(pb.StatPathRequest(id=container, path=dst))
        dst_is_dir = bool(st.mode & GO_MODE_DIR)
    except Exception as exc:
        if rpc_code(exc) != "NOT_FOUND":
            raise
        if dst.endswith("/"):
            raise CliError(
                f"Error response from daemon: Could not find the file {dst} "
                f"in container {container}"
            ) from None
        dst_is_dir = False
        st = None
    if src != "-":
        if not os.path.lexists(src):
            raise CliError(f"lstat {os.path.abspath(src)}: no such file or directory")
        if st is None or not dst_is_dir:
            if os.path.isdir(src) and st is not None:
                raise CliError("Error response from daemon: cannot copy directory to file")
            dst_dir, rename = posixpath.dirname(dst.rstrip("/")) or "/", posixpath.basename(dst)
    elif st is not None and not dst_is_dir:
        raise CliError('destination "' + f"{container}:{dst}" + '" must be a directory')

    chunks: queue.Queue[Any] = queue.Queue(maxsize=16)
    end = object()
    error: list[BaseException] = []

    def produce() -> None:
        try:
            if src == "-":
                while True:
                    data = sys.stdin.buffer.read(CHUNK)
                    if not data:
                        break
                    chunks.put(data)
            else:
                pipe = _Pipe(chunks.put)
                with tarfile.open(fileobj=pipe, mode="w|") as tar:
                    path = os.path.realpath(src) if follow_link else src
                    base = rename or os.path.basename(os.path.normpath(src))
                    if src.endswith("/.") and os.path.isdir(src):
                        for entry in sorted(os.listdir(src)):
                            tar.add(os.path.join(path, entry), arcname=entry)
                    else:
                        tar.add(path, arcname=base)
        except BaseException as exc:
            error.append(exc)
        finally:
            chunks.put(end)

    total = 0

    def requests() -> Iterator[Any]:
        nonlocal total
        yield pb.CopyToRequest(
            header=pb.CopyToHeader(
                id=container, path=dst_dir, no_overwrite_dir_non_dir=True, copy_uid_gid=archive
            )
        )
        while True:
            item = chunks.get()
            if item is end:
                return
            total += len(item)
            yield pb.CopyToRequest(chunk=item)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    stubs.CopyTo(requests())
    producer.join()
    if error:
        raise CliError(str(error[0]))
    return total
