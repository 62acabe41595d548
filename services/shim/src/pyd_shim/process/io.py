"""A process's stdio: the paths containerd passes (fifos, files, `file://` URIs) and the pty.

The container gets pipes, as upstream's shim gives it: the shim copies them
to and from the paths (stdout/stderr into the fifo or file, the stdin fifo
into the container), so a checkpoint sees pipes CRIU can dump and the
restorer can replace, and CloseIO can give the container EOF. With a terminal the runtime sends the
pty master over a console socket (SCM_RIGHTS); the shim then copies between
the master and the stdio paths and resizes it with TIOCSWINSZ.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import stat
import struct
import termios
import threading
import time
from typing import TYPE_CHECKING

from pyd_proto.errdefs import FailedPrecondition, InvalidArgument
from pyd_shim.log import get_logger
from pyd_shim.runc import Stdio

if TYPE_CHECKING:
    from pyd_shim.process import jsonlog

log = get_logger("pyd.shim.io")

# pyd_shim.process.jsonlog's scheme; the module (json, urllib) loads only when used,
# keeping it out of every shim that does not write docker's json-file logs.
JSONFILE = "jsonfile://"


def _path(uri: str) -> str:
    if uri.startswith("file://"):
        return uri[len("file://"):]
    if "://" in uri:
        raise InvalidArgument(f"unsupported stdio uri {uri!r} (fifo paths and file:// only)")
    return uri


def _is_fifo(path: str) -> bool:
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except FileNotFoundError:
        return False


def open_output(uri: str) -> int | None:
    """An fd for a container output: a fifo opened read-write (never blocks, never
    EPIPE while containerd is away) or a file opened for appending."""
    if not uri:
        return None
    path = _path(uri)
    if _is_fifo(path):
        return os.open(path, os.O_RDWR | os.O_CLOEXEC)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)


def _copy(src: int, dst: int, *, close_dst: bool = False, close_src: bool = False) -> None:
    try:
        while True:
            try:
                data = os.read(src, 32768)
            except OSError:
                break
            if not data:
                break
            view = memoryview(data)
            while view:
                try:
                    n = os.write(dst, view)
                except OSError:
                    return
                view = view[n:]
    finally:
        if close_dst:
            with contextlib.suppress(OSError):
                os.close(dst)
        if close_src:
            with contextlib.suppress(OSError):
                os.close(src)


def _thread(target: object, *args: object, **kwargs: object) -> threading.Thread:
    t = threading.Thread(target=target, args=args, kwargs=kwargs, daemon=True,  # type: ignore[arg-type]
                         name="io-copy")
    t.start()
    return t


class ProcessIO:
    """The stdio of one process, owned by the shim for the process's lifetime."""

    def __init__(self, stdin: str, stdout: str, stderr: str, terminal: bool) -> None:
        self.stdin, self.stdout, self.stderr, self.terminal = stdin, stdout, stderr, terminal
        self._fds: list[int] = []
        self._stdin_writer: int | None = None
        self._stdin_copier: threading.Thread | None = None
        self._console: socket.socket | None = None
        self._console_dir = ""
        self.master: int | None = None
        self._lock = threading.Lock()
        self._json_writers: dict[str, jsonlog.JsonFileWriter] = {}
        self._copiers: list[threading.Thread] = []  # outputs, drained before exit is told

    # -- before the runtime runs ------------------------------------------------------

    def console_socket(self) -> str:
        """A unix socket the runtime sends the pty master to (terminal only)."""
        # Not in the bundle: its path may be longer than a socket address allows.
        self._console_dir = f"/tmp/pyd-pty-{os.getpid()}-{os.urandom(6).hex()}"
        os.mkdir(self._console_dir, 0o700)
        path = os.path.join(self._console_dir, "pty.sock")
        self._console = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._console.bind(path)
        self._console.listen(1)
        self._console.settimeout(30)
        return path

    def runtime_stdio(self) -> Stdio:
        """The fds the runtime gives the container (non-terminal)."""
        if self.terminal:
            return Stdio()
        out = Stdio(stdout=self._output_pipe(self.stdout, "stdout"),
                    stderr=self._output_pipe(self.stderr, "stderr"))
        if self.stdin:
            r, w = os.pipe2(os.O_CLOEXEC)
            self._fds.append(r)
            self._stdin_writer = w
            out.stdin = r
            self._stdin_copier = _thread(self._copy_stdin, w)
        return out

    def _json_writer(self, uri: str) -> jsonlog.JsonFileWriter:
        """One writer per log file, shared by stdout and stderr."""
        from pyd_shim.process import jsonlog

        with self._lock:
            writer = self._json_writers.get(uri)
            if writer is None:
                writer = self._json_writers[uri] = jsonlog.JsonFileWriter(uri)
            return writer

    def _output_pipe(self, uri: str, stream: str) -> int:
        """A pipe the container writes to, copied by the shim into the fifo or file.

        A pipe, not the file itself: CRIU can checkpoint a pipe (runc maps it to the
        restorer's stdio), never a host file outside the container's mounts. With no
        path the output is drained and dropped.
        """
        r, w = os.pipe2(os.O_CLOEXEC)
        self._fds.append(w)
        if uri.startswith(JSONFILE):
            from pyd_shim.process import jsonlog

            self._copiers.append(_thread(jsonlog.copy, r, self._json_writer(uri), stream))
            return w
        dst = open_output(uri) if uri else os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
        assert dst is not None
        self._copiers.append(_thread(_copy, r, dst, close_dst=True, close_src=True))
        return w

    def _copy_stdin(self, writer: int) -> None:
        try:
            src = os.open(_path(self.stdin), os.O_RDONLY | os.O_CLOEXEC)  # waits for a writer
        except OSError as e:
            log.warning("stdin open failed", extra={"path": self.stdin, "error": str(e)})
            return
        _copy(src, writer, close_src=True)
        self.close_stdin()

    # -- after the runtime ran ------------------------------------------------------

    def started(self) -> None:
        """Close the shim's copies of the fds the container now holds; for a terminal,
        receive the pty master and start copying."""
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()
        if self.terminal:
            self._receive_master()

    def _receive_master(self) -> None:
        if self._console is None:
            raise FailedPrecondition("terminal requested but no console socket")
        try:
            conn, _ = self._console.accept()
            with conn:
                _msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 1)
        finally:
            self._close_console()
        if not fds:
            raise FailedPrecondition("runtime sent no pty master on the console socket")
        self.master = fds[0]
        os.set_inheritable(self.master, False)
        if self.stdout.startswith(JSONFILE):
            from pyd_shim.process import jsonlog

            self._copiers.append(_thread(jsonlog.copy, self.master,
                                         self._json_writer(self.stdout), "stdout",
                                         close_src=False))
        else:
            out = open_output(self.stdout)
            if out is not None:
                self._copiers.append(_thread(_copy, self.master, out, close_dst=True))
        if self.stdin:
            _thread(self._copy_to_master)

    def _copy_to_master(self) -> None:
        if self.master is None:
            return
        try:
            src = os.open(_path(self.stdin), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return
        _copy(src, self.master, close_src=True)

    def _close_console(self) -> None:
        if self._console is not None:
            self._console.close()
            self._console = None
        if self._console_dir:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self._console_dir, "pty.sock"))
                os.rmdir(self._console_dir)
            self._console_dir = ""

    def resize(self, width: int, height: int) -> None:
        if self.master is None:
            raise FailedPrecondition("process has no terminal")
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    def drain(self, timeout: float) -> None:
        """Wait (a while) until the outputs are copied out, so that whoever learns of the
        exit finds all of it in the log; a grandchild still holding a pipe only delays."""
        deadline = time.monotonic() + timeout
        for t in self._copiers:
            t.join(max(0.0, deadline - time.monotonic()))

    def close_io(self, drain: float = 2.0) -> None:
        """CloseIO: the process's stdin ends once what its writers already put in the
        fifo has reached it (containerd's shim closes only its own fifo writer, so
        nothing written before is lost); the copier closes it on the fifo's EOF."""
        copier = self._stdin_copier
        if copier is not None and copier is not threading.current_thread():
            copier.join(drain)
        self.close_stdin()

    def close_stdin(self) -> None:
        with self._lock:
            if self._stdin_writer is not None:
                with contextlib.suppress(OSError):
                    os.close(self._stdin_writer)
                self._stdin_writer = None

    def close(self) -> None:
        """Release everything (the process is gone)."""
        self.close_stdin()
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()
        self._close_console()
        if self.master is not None:
            with contextlib.suppress(OSError):
                os.close(self.master)
            self.master = None
