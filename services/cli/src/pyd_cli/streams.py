"""The client half of Attach and ExecStart (docker/cli's hijack.go).

One bidi gRPC call: the first request is `start`, then stdin chunks, resizes
and `close_stdin`; the server sends output frames and one `exit`. Around it:

* a reader thread turns the response stream into a queue, so the caller can
  start the container once the call is open and wait with a timeout;
* a stdin thread forwards the user's input through the detach-key detector
  (moby's escape proxy): on the sequence, the call is cancelled and the session
  ends as "detached", the container goes on;
* with a TTY, the local terminal is in raw mode (Ctrl-C is a byte for the
  container) and SIGWINCH sends the new size; without one, signals are proxied
  to the container with Containers.Kill (docker's --sig-proxy).
"""

from __future__ import annotations

import os
import queue
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pyd_cli.cmdutil import write_err, write_out
from pyd_cli.opts.detachkeys import DetachDetector

_END = object()

# docker's ForwardAllSignals skips these; these are the ones worth catching here.
PROXIED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")


@dataclass
class StreamResult:
    """How the session ended."""

    exit_code: int | None = None
    detached: bool = False
    error: str = ""


class _Requests:
    """The request iterator gRPC consumes; `put` from any thread, `close` ends it."""

    def __init__(self, first: Any) -> None:
        self._q: queue.Queue[Any] = queue.Queue()
        self._q.put(first)
        self._closed = False

    def put(self, msg: Any) -> None:
        if not self._closed:
            self._q.put(msg)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._q.put(_END)

    def __iter__(self) -> Iterator[Any]:
        while True:
            msg = self._q.get()
            if msg is _END:
                return
            yield msg


def terminal_size() -> tuple[int, int] | None:
    """(height, width) of the user's terminal, or None."""
    for stream in (sys.stdout, sys.stdin):
        try:
            if stream.isatty():
                size = os.get_terminal_size(stream.fileno())
                return size.lines, size.columns
        except (OSError, ValueError):
            continue
    return None


class StreamSession:
    """One Attach/ExecStart call, pumped to the user's stdout/stderr."""

    def __init__(
        self,
        call: Callable[[Iterator[Any]], Any],
        first: Any,
        request_cls: Any,
        *,
        stdin: bool,
        tty: bool,
        detach_keys: bytes,
        kill: Callable[[str], Any] | None = None,
    ) -> None:
        self._request_cls = request_cls
        self._requests = _Requests(first)
        self._responses = call(iter(self._requests))
        self._frames: queue.Queue[Any] = queue.Queue()
        self._stdin = stdin
        self._tty = tty
        self._detector = DetachDetector(detach_keys)
        self._kill = kill
        self._detached = threading.Event()
        self._first = threading.Event()
        self._reader = threading.Thread(target=self._read, name="attach-output", daemon=True)
        self._reader.start()

    # ------------------------------------------------------------ threads

    def _read(self) -> None:
        try:
            for resp in self._responses:
                self._first.set()
                self._frames.put(resp)
        except Exception as exc:
            self._frames.put(exc)
        finally:
            self._first.set()
            self._frames.put(_END)

    def _pump_stdin(self) -> None:
        fd = sys.stdin.fileno()
        while True:
            try:
                data = os.read(fd, 32 * 1024)
            except OSError:
                data = b""
            if not data:
                self._requests.put(self._request_cls(close_stdin=True))
                return
            forward, detached = self._detector.feed(data)
            if forward:
                self._requests.put(self._request_cls(stdin=forward))
            if detached:
                self._detached.set()
                self._responses.cancel()
                return

    # ------------------------------------------------------------- public

    def wait_attached(self, timeout: float) -> None:
        """Block until the server sent something (its ack) or `timeout` passed."""
        self._first.wait(timeout)

    def resize(self) -> None:
        """Send the terminal's current size on the stream."""
        size = terminal_size()
        if size is not None:
            from pyd_proto.pyd.dockerd.v1 import types_pb2

            self._requests.put(
                self._request_cls(resize=types_pb2.TerminalSize(height=size[0], width=size[1]))
            )

    def run(self, on_ready: Callable[[], None] | None = None) -> StreamResult:
        """Pump until the exit frame, the end of the stream, or a detach.

        `on_ready` (starting the container) runs once the terminal is raw and the
        signal proxy is in place, as docker starts a container only then.
        """
        restore: Callable[[], None] | None = None
        handlers: dict[int, Any] = {}
        try:
            if self._stdin:
                if self._tty and sys.stdin.isatty():
                    restore = _raw_mode(sys.stdin.fileno())
                threading.Thread(target=self._pump_stdin, name="attach-stdin", daemon=True).start()
            if self._tty:
                handlers[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, lambda *_: self.resize())
            elif self._kill is not None:
                for name in PROXIED_SIGNALS:
                    signum = getattr(signal, name)
                    handlers[signum] = signal.signal(signum, self._proxy(name))
            if on_ready is not None:
                on_ready()
            if self._tty:
                self.resize()  # after the start, as docker's MonitorTtySize
            return self._pump()
        finally:
            for signum, old in handlers.items():
                signal.signal(signum, old)
            if restore is not None:
                restore()
            self._requests.close()

    def _proxy(self, name: str) -> Callable[[int, Any], None]:
        kill = self._kill

        def handler(_signum: int, _frame: Any) -> None:
            if kill is not None:
                threading.Thread(target=_quiet, args=(kill, name), daemon=True).start()

        return handler

    def _pump(self) -> StreamResult:
        from pyd_proto.pyd.dockerd.v1 import types_pb2

        while True:
            item = self._frames.get()
            if item is _END:
                return StreamResult(detached=self._detached.is_set())
            if isinstance(item, Exception):
                if self._detached.is_set():
                    return StreamResult(detached=True)
                raise item
            if item.HasField("output"):
                frame = item.output
                if not frame.data:
                    continue
                if frame.stream in (types_pb2.STD_STREAM_STDERR, types_pb2.STD_STREAM_SYSTEM):
                    write_err(frame.data)
                else:
                    write_out(frame.data)
            elif item.HasField("exit"):
                ex = item.exit
                self._requests.close()
                return StreamResult(
                    exit_code=None if ex.detached else ex.exit_code,
                    detached=ex.detached,
                    error=ex.error,
                )


def _quiet(fn: Callable[[str], Any], arg: str) -> None:
    try:
        fn(arg)
    except Exception:
        pass


def _raw_mode(fd: int) -> Callable[[], None]:
    """Put the terminal in raw mode; return the function that restores it."""
    import termios
    import tty

    try:
        saved = termios.tcgetattr(fd)
        tty.setraw(fd)
    except termios.error:
        return lambda: None

    def restore() -> None:
        try:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        except termios.error:
            pass

    return restore
