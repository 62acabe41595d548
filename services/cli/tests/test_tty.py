"""`run -it` through a real pseudo-terminal: raw mode, input, Ctrl-C as a byte,
and the detach sequence (ctrl-p,ctrl-q) leaving the container running."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

import pytest

from .fake_daemon import start_fake


@pytest.fixture
def fake(tmp_path):
    d, server = start_fake(str(tmp_path / "pyd.sock"))
    yield d
    server.stop(0)


def read_until(fd: int, needle: bytes, timeout: float = 15.0) -> bytes:
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                buf += os.read(fd, 4096)
            except OSError:
                break
    return buf


def test_run_it_is_raw_forwards_ctrl_c_and_detaches(fake):
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "PYD_HOST"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pyd_cli.main",
            "-H",
            fake.host,
            "run",
            "-it",
            "--name",
            "t",
            "busybox",
            "cat",
        ],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    try:
        deadline = time.monotonic() + 15
        while not fake.requests("Start") and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        os.write(master, b"hello\n")
        out = read_until(master, b"hello\n")
        # raw mode: no local echo, and "\n" is not turned into "\r\n"
        assert out == b"hello\n"
        os.write(master, b"\x03")
        time.sleep(0.3)
        assert proc.poll() is None
        c = next(iter(fake.containers.values()))
        assert b"\x03" in b"".join(c.stdin)
        os.write(master, b"\x10\x11")
        assert proc.wait(timeout=15) == 0
        assert c.status == "running"
        create = fake.requests("Create")[0]
        assert create.config.tty and create.config.open_stdin and create.config.attach_stdin
        assert list(create.host_config.console_size)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
