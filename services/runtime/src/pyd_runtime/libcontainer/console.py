"""Terminals: a pty made inside the container, its master sent over --console-socket.

As in runc, the pty is opened after pivot_root, so the slave is the container's
/dev/pts/N; the master travels to whoever listens on the console socket (SCM_RIGHTS).
"""

from __future__ import annotations

import os
import struct


def connect(path: str) -> int:
    """Connect to a console socket (before the child leaves the host's mount ns)."""
    import socket

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError as e:
        s.close()
        raise OSError(e.errno, f"connect to console socket {path}: {e.strerror}") from None
    return s.detach()


def setup(console_fd: int, size: tuple[int, int] | None = None) -> None:
    """In the container: open a pty, send its master, make the slave our ctty + stdio."""
    import fcntl
    import socket
    import termios

    master, slave = os.openpty()
    if size:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
    name = os.ttyname(slave)
    s = socket.socket(fileno=console_fd)
    try:
        socket.send_fds(s, [name.encode()], [master])
    finally:
        s.close()
    os.close(master)
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


def recv_master(sock_fd: int) -> int:
    """Receive the master fd sent by ``setup`` (used by run/exec -t without a socket)."""
    import socket

    s = socket.socket(fileno=sock_fd)
    try:
        _, fds, _, _ = socket.recv_fds(s, 4096, 1)
    finally:
        s.detach()
    if not fds:
        raise OSError("console socket closed without a pty")
    return fds[0]


def pair() -> tuple[int, int]:
    """A connected socket pair standing in for --console-socket (ours, the child's)."""
    import socket

    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    return a.detach(), b.detach()


def proxy(master: int) -> None:
    """Copy our stdin to the pty and the pty to our stdout until the pty closes (what
    ``runc run`` does for a terminal without --console-socket)."""
    import select
    import termios
    import tty

    old = None
    if os.isatty(0):
        import fcntl

        from pyd_runtime import signals

        def resize(_sig: int = 0, _frame: object = None) -> None:
            try:
                ws = fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8)
                fcntl.ioctl(master, termios.TIOCSWINSZ, ws)
            except OSError:
                pass

        old = termios.tcgetattr(0)
        resize()
        # Our terminal's size follows into the container's pty (as runc does).
        signals.handle(signals.SIGWINCH, resize)
        tty.setraw(0)
    try:
        watch = [0, master]
        while True:
            r, _, _ = select.select(watch, [], [])
            if master in r:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    data = b""
                if not data:
                    return
                os.write(1, data)
            if 0 in r:
                data = os.read(0, 65536)
                if data:
                    os.write(master, data)
                else:
                    watch.remove(0)
    finally:
        if old is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, old)
