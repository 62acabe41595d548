"""systemd socket activation for a gRPC daemon.

`listen_fds()` reads the sockets systemd passed (sd_listen_fds(3): LISTEN_PID must be
this process, LISTEN_FDS of them start at fd 3). grpcio cannot serve on a socket it
did not create itself: its core has `grpc_server_add_channel_from_fd`, but the wheel
exports no C symbol besides `PyInit_cygrpc`, so nothing can reach it. `Relay` is the
way round that (docs/decisions.md, "Socket activation"): the daemon serves gRPC on a
private unix socket as usual, and each connection accepted on an activated socket is
joined to a fresh connection to that private socket, bytes moved by splice(2) in the
kernel (two threads per connection, one per direction; grpcio is unchanged).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import stat
import threading

log = logging.getLogger("pyd.activation")

SD_LISTEN_FDS_START = 3
_CHUNK = 1 << 16  # a pipe's default capacity: one splice fills it at most


def listen_fds(unset_environment: bool = True) -> list[int]:
    """The file descriptors systemd passed to this process, as sd_listen_fds(3): none
    unless LISTEN_PID is our pid; each made close-on-exec so children do not inherit
    them; the variables are removed so children do not think they were activated."""
    try:
        pid = int(os.environ.get("LISTEN_PID", ""))
        n = int(os.environ.get("LISTEN_FDS", ""))
    except ValueError:
        return []
    finally:
        if unset_environment:
            for var in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
                os.environ.pop(var, None)
    if pid != os.getpid() or n <= 0:
        return []
    fds = list(range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + n))
    for fd in fds:
        os.set_inheritable(fd, False)
    return fds


def unix_listener(fd: int) -> socket.socket:
    """The passed `fd` as a socket object, checked to be a listening unix stream socket
    (what a `.socket` unit with ListenStream=/path and Accept=no hands over)."""
    if not stat.S_ISSOCK(os.fstat(fd).st_mode):
        raise ValueError(f"fd {fd} passed by systemd is not a socket")
    sock = socket.socket(fileno=fd)
    if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
        sock.detach()
        raise ValueError(f"fd {fd} passed by systemd is not a unix stream socket")
    if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        sock.detach()
        raise ValueError(f"fd {fd} passed by systemd is not listening (Accept=yes?)")
    return sock


def listeners_for(addr: str, fds: list[int]) -> list[socket.socket]:
    """The sockets `fd://ADDR` names among the passed `fds`, as moby's listenFD: `fd://`
    (or `fd://*`) all of them, `fd://N` the one at fd N (the others are closed)."""
    if not fds:
        raise ValueError("no sockets found via socket activation: make sure the service "
                         "was started by systemd")
    if addr in ("", "*"):
        return [unix_listener(fd) for fd in fds]
    try:
        num = int(addr)
    except ValueError:
        raise ValueError(f"failed to parse systemd fd address: should be a number: "
                         f"{addr}") from None
    if num not in fds:
        raise ValueError("too few socket activated files passed in by systemd")
    for fd in fds:
        if fd != num:
            os.close(fd)
    return [unix_listener(num)]


def socket_address(sock: socket.socket) -> str:
    """`unix:///path` of a bound unix socket (for logs and the status line)."""
    name = sock.getsockname()
    if isinstance(name, bytes):  # abstract namespace
        return "unix://@" + name.lstrip(b"\0").decode(errors="replace")
    return f"unix://{name}"


class Relay:
    """Accepts on `listeners` and joins each connection to the unix socket `target`."""

    def __init__(self, listeners: list[socket.socket], target: str) -> None:
        self.listeners = listeners
        self.target = target
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        # accept() is only called after poll() said a connection waits; non-blocking
        # so a connection taken by a racing accept cannot block the loop.
        for s in self.listeners:
            s.setblocking(False)
        self._thread = threading.Thread(target=self._accept_loop, name="activation-relay",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting. The listening sockets stay open in systemd (whose copies they
        are): connections that arrive from now on wait there for the next start."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(5.0)
        for s in self.listeners:
            s.close()  # our duplicate only; never shutdown(): that would reach systemd's
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _accept_loop(self) -> None:
        poller = select.poll()
        by_fd = {s.fileno(): s for s in self.listeners}
        for fd in by_fd:
            poller.register(fd, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        while not self._stopping.is_set():
            for fd, _ in poller.poll():
                listener = by_fd.get(fd)
                if listener is None:
                    continue
                try:
                    client, _ = listener.accept()
                except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                    continue
                except OSError as e:  # e.g. EMFILE: keep serving the ones we have
                    log.warning("accept failed", extra={"error": str(e)})
                    continue
                self._join(client)

    def _join(self, client: socket.socket) -> None:
        client.setblocking(True)
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            upstream.connect(self.target)
        except OSError as e:
            log.warning("relay cannot reach the daemon's socket",
                        extra={"target": self.target, "error": str(e)})
            upstream.close()
            client.close()
            return
        threading.Thread(target=_connection, args=(client, upstream),
                         name="activation-conn", daemon=True).start()


def _connection(client: socket.socket, upstream: socket.socket) -> None:
    back = threading.Thread(target=_pump, args=(upstream, client), name="activation-pump",
                            daemon=True)
    back.start()
    _pump(client, upstream)
    back.join()
    client.close()
    upstream.close()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    """Move bytes src → dst through a pipe with splice(2) until src ends; then pass the
    end on (half-close), or on an error tear both sockets down so the other direction
    ends too."""
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        while True:
            n = os.splice(src.fileno(), w, _CHUNK, flags=os.SPLICE_F_MOVE)
            if n == 0:
                break
            while n:
                n -= os.splice(r, dst.fileno(), n, flags=os.SPLICE_F_MOVE)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
    except OSError:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
    finally:
        os.close(r)
        os.close(w)
