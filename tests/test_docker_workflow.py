"""More of the Docker workflow through the CLI (issue 5): events, restart policies,
user networks with name resolution, and `run -it` on a real terminal."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time

from tests.stack import Stack, binary, wait_for


def test_events_stream_lifecycle_events_with_filters(stack: Stack) -> None:
    env = {**os.environ, "PYD_HOST": stack.host}
    proc = subprocess.Popen(stack.netns_argv([binary("pyd"), "events", "--filter",
                                              "type=container", "--format",
                                              "{{.Action}} {{.Actor.Attributes.name}}"]),
                            stdout=subprocess.PIPE, env=env)
    try:
        time.sleep(1.0)
        assert stack.cli("run", "--rm", "--name", "evt", "busybox", "true").returncode == 0
        assert proc.stdout is not None
        raw = b""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and b"destroy evt" not in raw:
            ready, _, _ = select.select([proc.stdout], [], [], 0.5)
            if ready:
                raw += os.read(proc.stdout.fileno(), 4096)
        lines = raw.decode().splitlines()
        assert lines[:2] == ["create evt", "start evt"], lines
        assert "die evt" in lines and "destroy evt" in lines
    finally:
        proc.kill()
        proc.wait()


def test_restart_policy_brings_a_crashing_container_back_n_times(stack: Stack) -> None:
    assert stack.cli("run", "-d", "--name", "crashy", "--restart", "on-failure:3", "busybox",
                     "sh", "-c", "exit 7").returncode == 0

    def settled() -> bool:
        st = json.loads(stack.cli("inspect", "crashy").stdout)[0]
        return bool(st["State"]["Status"] == "exited" and st["RestartCount"] == 3)

    assert wait_for(settled, 60), stack.cli("inspect", "crashy").stdout
    st = json.loads(stack.cli("inspect", "crashy").stdout)[0]["State"]
    assert st["ExitCode"] == 7


def test_two_containers_on_a_user_network_reach_each_other_by_name(stack: Stack) -> None:
    assert stack.cli("network", "create", "appnet").returncode == 0
    assert stack.cli("run", "-d", "--name", "db", "--network", "appnet", "busybox", "sh",
                     "-c", "echo pong > /tmp/p; httpd -f -p 8080 -h /tmp").returncode == 0
    out = stack.cli("run", "--rm", "--network", "appnet", "busybox", "sh", "-c",
                    "for i in 1 2 3 4 5; do wget -q -O- http://db:8080/p && exit 0; "
                    "sleep 0.5; done; exit 1")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "pong\n"
    assert stack.cli("rm", "-f", "db").returncode == 0
    assert stack.cli("network", "rm", "appnet").returncode == 0


def test_run_rm_it_gives_a_prompt_that_takes_input(stack: Stack) -> None:
    env = {**os.environ, "PYD_HOST": stack.host, "TERM": "xterm"}
    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI on a real terminal, in the stack's netns
        stack._enter_netns()
        os.execve(binary("pyd"), [binary("pyd"), "run", "--rm", "-it", "busybox", "sh"], env)
    out = b""

    def read_until(needle: bytes, timeout: float = 20.0) -> bool:
        nonlocal out
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    return needle in out
                if needle in out:
                    return True
        return False

    try:
        assert read_until(b"# "), out
        os.write(fd, b"echo $((6*7))\r")
        assert read_until(b"42"), out
        os.write(fd, b"exit 3\r")
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 3
    finally:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)


def test_cp_round_trips_a_file_running_and_stopped(stack: Stack, tmp_path) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "hello.txt"
    src.write_text("round trip\n")
    assert stack.cli("run", "-d", "--name", "box", "busybox", "sleep", "300").returncode == 0
    into = stack.cli("cp", str(src), "box:/tmp/")
    assert into.returncode == 0, into.stderr
    assert stack.cli("exec", "box", "cat", "/tmp/hello.txt").stdout == "round trip\n"
    back = tmp_path / "back.txt"
    out = stack.cli("cp", "box:/tmp/hello.txt", str(back))
    assert out.returncode == 0, out.stderr
    assert back.read_text() == "round trip\n"
    assert stack.cli("stop", "-t", "1", "box").returncode == 0
    stopped = tmp_path / "stopped.txt"
    out = stack.cli("cp", "box:/tmp/hello.txt", str(stopped))
    assert out.returncode == 0, out.stderr
    assert stopped.read_text() == "round trip\n"
    missing = stack.cli("cp", "box:/nope", str(tmp_path / "x"))
    assert missing.returncode != 0 and "Could not find the file /nope" in missing.stderr


class _StatsWatcher:
    """A streaming `pyd stats --format {{.Name}}` and the names in its latest frame."""

    def __init__(self, stack: Stack, *flags: str) -> None:
        env = {**os.environ, "PYD_HOST": stack.host}
        self.proc = subprocess.Popen(
            stack.netns_argv([binary("pyd"), "stats", *flags, "--format", "{{.Name}}"]),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.raw = b""

    def names(self) -> set[str] | None:
        """Names of the last complete frame (each ends with docker's erase-below)."""
        assert self.proc.stdout is not None
        while select.select([self.proc.stdout], [], [], 0)[0]:
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                break
            self.raw += chunk
        frames = self.raw.decode(errors="replace").split("\033[J")
        if len(frames) < 2:
            return None
        text = frames[-2].replace("\033[H", "").replace("\033[K", "")
        return {line for line in text.splitlines() if line}

    def close(self) -> str:
        self.proc.terminate()
        _, err = self.proc.communicate(timeout=10)
        return err.decode()


def test_stats_follows_containers_that_start_and_stop(stack: Stack) -> None:
    assert stack.cli("run", "-d", "--name", "one", "busybox", "sleep", "600").returncode == 0
    running = _StatsWatcher(stack)
    try:
        assert wait_for(lambda: running.names() == {"one"}), running.raw
        # docker-cli follows events: a container started later joins the table,
        # one that stops leaves it.
        assert stack.cli("run", "-d", "--name", "two", "busybox", "sleep", "600"
                         ).returncode == 0
        assert wait_for(lambda: running.names() == {"one", "two"}), running.raw
        assert stack.cli("stop", "-t", "0", "one").returncode == 0
        assert wait_for(lambda: running.names() == {"two"}), running.raw
        assert running.proc.poll() is None
    finally:
        err = running.close()
    assert "Traceback" not in err, err
    # -a: created containers join too, and stopped ones stay.
    every = _StatsWatcher(stack, "-a")
    try:
        assert wait_for(lambda: every.names() == {"one", "two"}), every.raw
        assert stack.cli("create", "--name", "three", "busybox", "true").returncode == 0
        assert wait_for(lambda: every.names() == {"one", "two", "three"}), every.raw
        assert stack.cli("stop", "-t", "0", "two").returncode == 0
        time.sleep(1.5)  # several redraws: "two" must still be there
        assert every.names() == {"one", "two", "three"}, every.raw
    finally:
        err = every.close()
    assert "Traceback" not in err, err
