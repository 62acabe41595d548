"""A page server for CRIU's lazy-pages daemon, serving a stored image.

CRIU's own serving side (`criu page-server --lazy-pages`, or a live `criu dump
--lazy-pages`) fails on this machine's kernel with "page-pipe: splice: Bad
file descriptor"; the receiving side, `criu lazy-pages --page-server`, works.
This module is the serving side, speaking the protocol of CRIU 4.1.1's
criu/page-xfer.c:

* every message starts with ``struct page_server_iov`` — 24 bytes,
  little-endian ``u32 cmd, u32 nr_pages, u64 vaddr, u64 dst_id``;
* the lazy-pages daemon sends ``PS_IOV_GET`` (7) with ``dst_id`` = the task's
  pid inside the image (``pr->img_id``), both for page faults and for the
  background transfer of the remaining pages (one request per lazy range,
  up to 4 MiB, never crossing a pagemap entry);
* the answer is ``PS_IOV_ADD_F | PE_PRESENT << 16`` with the same vaddr and
  dst_id and ``nr_pages`` ≤ the request — fewer when the request runs past
  the end of a pagemap entry; the daemon copies what came and asks again for
  the rest — followed by ``nr_pages * 4096`` bytes of page data;
* ``PS_IOV_CLOSE`` (0x1023) or ``PS_IOV_FORCE_CLOSE`` (0x1024) is answered
  with a 4-byte zero status; the daemon sends it once every lazy page has
  been copied (or its tasks exited), so it also means "the destination has
  everything".

Page data is sent straight from the image's pages-*.img with sendfile(2),
at the entry's offset (pages are stored in pagemap order).  A page that the
image keeps in its parent (pre-dump chains) is looked up in the parent.

With an ssl.SSLContext (see `tls_server_context`) every connection is TLS, as
CRIU's `--tls` expects: the server presents its certificate (the client checks
it against its --tls-cacert and, unless --tls-no-cn-verify, that it names the
address it dialled) and requires a client certificate signed by the CA given
here, so a destination without the right certificate gets no pages.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pyd_runtime.criu.images import PAGE_SIZE, PE_PRESENT, ImageDir, ImageError, Pagemap

log = logging.getLogger(__name__)

PS_IOV_ADD = 1
PS_IOV_HOLE = 2
PS_IOV_OPEN = 3
PS_IOV_OPEN2 = 4
PS_IOV_PARENT = 5
PS_IOV_ADD_F = 6
PS_IOV_GET = 7
PS_IOV_CLOSE = 0x1023
PS_IOV_FORCE_CLOSE = 0x1024

PS_CMD_BITS = 16
PS_CMD_MASK = (1 << PS_CMD_BITS) - 1
PS_TYPE_BITS = 8
PS_TYPE_MASK = (1 << PS_TYPE_BITS) - 1
PS_TYPE_PID = 1

IOV = struct.Struct("<IIQQ")


def encode_cmd(cmd: int, flags: int = 0) -> int:
    """A page-server command word: flags in the high 16 bits (encode_ps_cmd)."""
    return flags << PS_CMD_BITS | cmd


class PageServerError(Exception):
    """A request the page server cannot answer."""


@dataclass(frozen=True)
class PageRun:
    """Where the data for a run of pages lives: a file, an offset, a page count."""

    path: Path
    offset: int
    nr_pages: int


class PageSource:
    """Answers "where are pages [vaddr, vaddr + nr) of task pid" for an image chain."""

    def __init__(self, image: ImageDir | Path | str) -> None:
        self.image = image if isinstance(image, ImageDir) else ImageDir(image)
        self._lock = threading.Lock()

    def task_pids(self) -> list[int]:
        return self.image.pids

    def _pagemap(self, image: ImageDir, pid: int) -> Pagemap:
        with self._lock:
            return image.pagemap(pid)

    def resolve_pid(self, dst_id: int) -> int:
        """The image pid a request's dst_id names.

        CRIU's lazy-pages sends the bare pid; the dump direction encodes it as
        ``pid << 8 | PS_TYPE_PID``.  The bare pid wins when both could match.
        """
        pids = self.task_pids()
        if dst_id in pids:
            return dst_id
        if dst_id & PS_TYPE_MASK == PS_TYPE_PID and dst_id >> PS_TYPE_BITS in pids:
            return dst_id >> PS_TYPE_BITS
        raise PageServerError(f"no task {dst_id} in image {self.image.path}")

    def locate(self, pid: int, vaddr: int, nr_pages: int) -> PageRun:
        """Find the stored data for up to `nr_pages` pages at `vaddr` of `pid`.

        The run is cut at the end of the pagemap entry holding `vaddr`.
        """
        if vaddr % PAGE_SIZE or nr_pages <= 0:
            raise PageServerError(f"bad request: vaddr {vaddr:#x}, {nr_pages} pages")
        image: ImageDir | None = self.image
        while image is not None:
            pm = self._pagemap(image, pid)
            entry = pm.find(vaddr)
            if entry is None:
                break
            nr = min(nr_pages, (entry.end - vaddr) // PAGE_SIZE)
            if entry.present:
                offset = entry.pages_offset + (vaddr - entry.vaddr)
                return PageRun(image.pages_path(pm), offset, nr)
            if not entry.parent:
                break
            image = image.parent
            nr_pages = nr
        raise PageServerError(f"no stored pages at {vaddr:#x} of task {pid}")


@dataclass
class Stats:
    """What a page server has done so far."""

    bytes_sent: int = 0
    pages_sent: int = 0
    requests: int = 0
    connections: int = 0
    closes: int = 0
    errors: int = 0
    first_request_at: float | None = None
    last_request_at: float | None = None
    #: when the first multi-page request came: criu lazy-pages asks for more than
    #: one page at a time only in its background stream, which it starts once the
    #: restore has finished (uffd.c: faults ask for 1 page; xfer_pages for up to
    #: 64 KiB first, growing to 4 MiB) — so this marks "the container is running"
    stream_started_at: float | None = None
    #: bytes sent before that moment: what the restore needed to reach running
    bytes_before_stream: int | None = None

    @property
    def bytes_to_running(self) -> int:
        """Bytes the destination fetched before its container ran (so far, if the
        background stream has not started)."""
        return self.bytes_sent if self.bytes_before_stream is None else self.bytes_before_stream


class PageServer:
    """Serve a stored CRIU image to `criu lazy-pages --page-server` clients.

    Use as a context manager, or call start() and stop().  Each connection
    gets a thread; any number may be open at once.
    """

    def __init__(
        self,
        image: ImageDir | Path | str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        listen_socket: socket.socket | None = None,
        rate_limit: float | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """`rate_limit` (bytes per second, all connections together) emulates a slow
        network: tests use it to stop the server in the middle of a transfer.
        `ssl_context` (server side) makes every connection TLS."""
        self.source = PageSource(image)
        self.ssl_context = ssl_context
        self.rate_limit = rate_limit
        self._paced = 0
        self._pace_start = 0.0
        self._host = host
        self._port = port
        self._sock = listen_socket
        self._threads: list[threading.Thread] = []
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._fds: dict[Path, int] = {}
        self.stats = Stats()
        #: set when a client has said PS_IOV_CLOSE: it has every page it wanted
        self.closed_by_client = threading.Event()

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> PageServer:
        """Bind (unless given a socket), listen and start accepting."""
        if self._sock is None:
            family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._port))
            self._sock = sock
        self._sock.listen(64)
        t = threading.Thread(target=self._accept_loop, name="pageserver-accept", daemon=True)
        t.start()
        self._threads.append(t)
        log.info("page server for %s listening on %s", self.source.image.path, self.address)
        return self

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) the server listens on."""
        if self._sock is None:
            raise RuntimeError("page server not started")
        name = self._sock.getsockname()
        return str(name[0]), int(name[1])

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every connection and wait for the threads."""
        self._stopping.set()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                self._sock.close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for t in list(self._threads):
            if t is not threading.current_thread():
                t.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            fds, self._fds = self._fds, {}
        for fd in fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> PageServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Wait until a client said PS_IOV_CLOSE (it has all it needs)."""
        return self.closed_by_client.wait(timeout)

    # -- serving -----------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._sock is not None
        while not self._stopping.is_set():
            try:
                conn, peer = self._sock.accept()
            except OSError:
                break
            if self._stopping.is_set():
                conn.close()
                break
            with self._lock:
                self._conns.add(conn)
                self.stats.connections += 1
                self._threads = [t for t in self._threads if t.is_alive()]
                t = threading.Thread(
                    target=self._serve_conn, args=(conn, peer), name=f"pageserver-{peer}",
                    daemon=True,
                )
                self._threads.append(t)
            t.start()

    def _fd(self, path: Path) -> int:
        with self._lock:
            fd = self._fds.get(path)
            if fd is None:
                fd = self._fds[path] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            return fd

    def _serve_conn(self, conn: socket.socket, peer: object) -> None:
        log.debug("page server: connection from %s", peer)
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass  # a unix socket handed in by a test
        header = bytearray(IOV.size)
        try:
            if self.ssl_context is not None:
                raw = conn
                conn.settimeout(30)
                try:
                    conn = self.ssl_context.wrap_socket(conn, server_side=True)
                finally:
                    with self._lock:
                        self._conns.discard(raw)
                        self._conns.add(conn)
                conn.settimeout(None)
            while not self._stopping.is_set():
                if not _recv_exact(conn, header):
                    break
                cmd, nr_pages, vaddr, dst_id = IOV.unpack(header)
                op = cmd & PS_CMD_MASK
                if op == PS_IOV_GET:
                    self._get(conn, nr_pages, vaddr, dst_id)
                elif op in (PS_IOV_CLOSE, PS_IOV_FORCE_CLOSE):
                    conn.sendall(b"\0\0\0\0")
                    with self._lock:
                        self.stats.closes += 1
                    self.closed_by_client.set()
                    # the client closes first (CRIU avoids TIME_WAIT on the server)
                    with contextlib.suppress(OSError):
                        conn.recv(1)
                    break
                else:
                    raise PageServerError(f"unsupported page-server command {cmd:#x}")
        except ssl.SSLError as e:
            if not self._stopping.is_set():
                log.error("page server: TLS with %s: %s", peer, e)
                with self._lock:
                    self.stats.errors += 1
        except (ConnectionResetError, BrokenPipeError) as e:
            # the lazy-pages daemon went away (its container was killed): not our error
            log.info("page server: %s left mid-transfer: %s", peer, e)
        except (OSError, PageServerError, ImageError) as e:
            if not self._stopping.is_set():
                log.error("page server: connection %s: %s", peer, e)
                with self._lock:
                    self.stats.errors += 1
        finally:
            with self._lock:
                self._conns.discard(conn)
            conn.close()

    def _get(self, conn: socket.socket, nr_pages: int, vaddr: int, dst_id: int) -> None:
        pid = self.source.resolve_pid(dst_id)
        run = self.source.locate(pid, vaddr, nr_pages)
        now = time.monotonic()
        with self._lock:
            st = self.stats
            st.requests += 1
            if st.first_request_at is None:
                st.first_request_at = now
            st.last_request_at = now
            if nr_pages > 1 and st.stream_started_at is None:
                st.stream_started_at = now
                st.bytes_before_stream = st.bytes_sent
        head = IOV.pack(encode_cmd(PS_IOV_ADD_F, PE_PRESENT), run.nr_pages, vaddr, dst_id)
        length = run.nr_pages * PAGE_SIZE
        # Counted before sending, so a reader never sees fewer bytes than went out.
        with self._lock:
            self.stats.bytes_sent += IOV.size + length
            self.stats.pages_sent += run.nr_pages
            if self.rate_limit:
                if not self._paced:
                    self._pace_start = now
                self._paced += IOV.size + length
                delay = self._pace_start + self._paced / self.rate_limit - time.monotonic()
            else:
                delay = 0.0
        if delay > 0 and self._stopping.wait(delay):
            raise PageServerError("page server stopping")
        fd = self._fd(run.path)
        if isinstance(conn, ssl.SSLSocket):
            # no sendfile through TLS: read and send in chunks
            conn.sendall(head)
            sent = 0
            while sent < length:
                data = os.pread(fd, min(length - sent, 1 << 20), run.offset + sent)
                if not data:
                    raise PageServerError(f"{run.path}: short read at {run.offset + sent}")
                conn.sendall(data)
                sent += len(data)
            return
        # MSG_MORE keeps the header in the same segment as the first page data.
        conn.sendall(head, socket.MSG_MORE)
        sent = 0
        while sent < length:
            n = os.sendfile(conn.fileno(), fd, run.offset + sent, length - sent)
            if n == 0:
                raise PageServerError(f"{run.path}: short read at {run.offset + sent}")
            sent += n


def tls_server_context(cert: str | Path, key: str | Path, cacert: str | Path) -> ssl.SSLContext:
    """A server-side TLS context for CRIU's `--tls` clients: our certificate, and
    client certificates required and checked against `cacert`."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    ctx.load_verify_locations(str(cacert))
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _recv_exact(conn: socket.socket, buf: bytearray) -> bool:
    """Fill `buf` from `conn`; False on a clean EOF before the first byte."""
    view = memoryview(buf)
    got = 0
    while got < len(buf):
        n = conn.recv_into(view[got:])
        if n == 0:
            if got == 0:
                return False
            raise PageServerError("connection closed inside a request header")
        got += n
    return True


def main(argv: list[str] | None = None) -> int:
    """`python -m pyd_runtime.criu.pageserver IMAGE_DIR [--address A] [--port P]`.

    Serves until interrupted, or with --exit-when-done until a client has all its
    pages (PS_IOV_CLOSE); prints the address once listening and the totals at exit.
    """
    import argparse
    import signal

    ap = argparse.ArgumentParser(prog="python -m pyd_runtime.criu.pageserver",
                                 description="Serve a stored CRIU image to criu lazy-pages.")
    ap.add_argument("image_dir")
    ap.add_argument("--address", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--exit-when-done", action="store_true",
                    help="exit once a client said every page arrived")
    ap.add_argument("--tls-cert", help="serve TLS with this certificate (PEM)")
    ap.add_argument("--tls-key", help="private key of --tls-cert")
    ap.add_argument("--tls-cacert", help="CA that client certificates must be signed by")
    args = ap.parse_args(argv)
    ctx = None
    if args.tls_cert or args.tls_key or args.tls_cacert:
        if not (args.tls_cert and args.tls_key and args.tls_cacert):
            ap.error("TLS needs --tls-cert, --tls-key and --tls-cacert")
        ctx = tls_server_context(args.tls_cert, args.tls_key, args.tls_cacert)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with PageServer(args.image_dir, args.address, args.port, ssl_context=ctx) as ps:
        host, port = ps.address
        print(f"listening {host}:{port}", flush=True)
        while not stop.wait(0.1):
            if args.exit_when_done and ps.closed_by_client.is_set():
                break
    st = ps.stats
    print(f"sent {st.bytes_sent} bytes, {st.pages_sent} pages, {st.requests} requests, "
          f"{st.connections} connections, {st.errors} errors", flush=True)
    return 0 if st.errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
