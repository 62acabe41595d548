"""The Docker workflow through all five services: run, ps, logs, stop, rm (issue 5)."""

from __future__ import annotations

import json

from tests.stack import Stack, wait_for


def test_run_ps_logs_stop_rm(stack: Stack) -> None:
    run = stack.cli("run", "-d", "--name", "web", "busybox", "sh", "-c",
                    "echo hello; echo oops >&2; while true; do sleep 1; done")
    assert run.returncode == 0, run.stderr
    cid = run.stdout.strip()
    assert len(cid) == 64
    ps = stack.cli("ps")
    assert ps.returncode == 0, ps.stderr
    assert "web" in ps.stdout and cid[:12] in ps.stdout and "Up " in ps.stdout
    assert wait_for(lambda: "hello" in stack.cli("logs", "web").stdout)
    logs = stack.cli("logs", "web")
    assert logs.stdout == "hello\n"
    assert logs.stderr == "oops\n"
    inspect = json.loads(stack.cli("inspect", "web").stdout)[0]
    assert inspect["State"]["Running"] is True and inspect["State"]["Pid"] > 0
    assert inspect["Name"] == "/web"
    stop = stack.cli("stop", "-t", "1", "web")
    assert stop.returncode == 0, stop.stderr
    assert stop.stdout.strip() == "web"
    inspect = json.loads(stack.cli("inspect", "web").stdout)[0]
    assert inspect["State"]["Status"] == "exited"
    assert "web" not in stack.cli("ps").stdout
    assert "web" in stack.cli("ps", "-a").stdout
    rm = stack.cli("rm", "web")
    assert rm.returncode == 0, rm.stderr
    assert "web" not in stack.cli("ps", "-a").stdout


def test_run_prints_output_and_passes_the_exit_code_through(stack: Stack) -> None:
    out = stack.cli("run", "--rm", "busybox", "sh", "-c", "echo hi; exit 3")
    assert out.stdout == "hi\n", out.stderr
    assert out.returncode == 3
    assert wait_for(lambda: stack.cli("ps", "-aq").stdout.strip() == "")


def test_unknown_image_and_name_conflict_are_docker_errors(stack: Stack) -> None:
    missing = stack.cli("run", "nosuchimage")
    assert missing.returncode == 125
    assert "Unable to find image 'nosuchimage:latest' locally" in missing.stderr
    assert stack.cli("create", "--name", "twice", "busybox", "true").returncode == 0
    again = stack.cli("create", "--name", "twice", "busybox", "true")
    assert again.returncode == 1  # docker create passes the daemon's error through
    assert 'Conflict. The container name "/twice" is already in use' in again.stderr
    unknown = stack.cli("stop", "ghost")
    assert unknown.returncode == 1
    assert "No such container: ghost" in unknown.stderr


def test_running_container_cannot_be_removed_without_force(stack: Stack) -> None:
    cid = stack.cli("run", "-d", "busybox", "sleep", "60").stdout.strip()
    refused = stack.cli("rm", cid)
    assert refused.returncode == 1
    assert "cannot remove a running container" in refused.stderr
    forced = stack.cli("rm", "-f", cid)
    assert forced.returncode == 0, forced.stderr
    assert stack.cli("ps", "-aq").stdout.strip() == ""


def test_exec_runs_inside_the_running_container(stack: Stack) -> None:
    assert stack.cli("run", "-d", "--name", "box", "--hostname", "boxhost", "busybox",
                     "sleep", "60").returncode == 0
    out = stack.cli("exec", "box", "sh", "-c", "hostname; echo $FOO; exit 5")
    assert out.stdout.splitlines()[0] == "boxhost"
    assert out.returncode == 5
    env = stack.cli("exec", "-e", "FOO=bar", "box", "sh", "-c", "echo $FOO")
    assert env.stdout == "bar\n", env.stderr
    missing = stack.cli("exec", "box", "/nonexistent")
    assert missing.returncode in (126, 127), missing.stderr


def test_dockerd_sigkill_keeps_containers_running_and_records_intact(stack: Stack) -> None:
    import signal

    run = stack.cli("run", "-d", "--name", "survivor", "busybox", "sh", "-c",
                    "echo before; sleep 300")
    assert run.returncode == 0, run.stderr
    pid = json.loads(stack.cli("inspect", "survivor").stdout)[0]["State"]["Pid"]
    assert wait_for(lambda: "before" in stack.cli("logs", "survivor").stdout)
    stack.stop(signal.SIGKILL)
    stack.start()
    state = json.loads(stack.cli("inspect", "survivor").stdout)[0]["State"]
    assert state["Running"] is True and state["Pid"] == pid
    assert "survivor" in stack.cli("ps").stdout
    assert stack.cli("logs", "survivor").stdout == "before\n"
    taken = stack.cli("create", "--name", "survivor", "busybox", "true")
    assert taken.returncode == 1 and "already in use" in taken.stderr
    # The address lease survived too: a new container gets another address.
    assert stack.cli("run", "-d", "--name", "newcomer", "busybox", "sleep", "300"
                     ).returncode == 0
    ips = [json.loads(stack.cli("inspect", n).stdout)[0]["NetworkSettings"]["IPAddress"]
           for n in ("survivor", "newcomer")]
    assert ips[0] and ips[1] and ips[0] != ips[1], ips
    assert stack.cli("rm", "-f", "newcomer").returncode == 0
    assert stack.cli("stop", "-t", "1", "survivor").returncode == 0
    assert json.loads(stack.cli("inspect", "survivor").stdout)[0]["State"]["Status"] == \
        "exited"


def test_run_i_feeds_stdin_to_the_container(stack: Stack) -> None:
    out = stack.cli("run", "--rm", "-i", "busybox", "sh", "-c", "tr a-z A-Z",
                    input=b"hello stdin\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "HELLO STDIN\n"


def test_memory_limit_kills_a_hog_and_ports_publish(stack: Stack) -> None:
    hog = stack.cli("run", "--name", "hog", "--memory", "16m", "busybox", "sh", "-c",
                    "head -c 67108864 /dev/zero | tr '\\000' a | sed s/b/c/ >/dev/null "
                    "&& echo survived")
    assert "survived" not in hog.stdout
    state = json.loads(stack.cli("inspect", "hog").stdout)[0]["State"]
    assert state["OOMKilled"] is True or state["ExitCode"] == 137
    assert json.loads(stack.cli("inspect", "hog").stdout)[0]["HostConfig"]["Memory"] == 16 << 20
    web = stack.cli("run", "-d", "--name", "web", "-p", "127.0.0.1:18080:80", "busybox",
                    "sh", "-c", "echo hi > /tmp/index.html; httpd -f -p 80 -h /tmp")
    assert web.returncode == 0, web.stderr
    port = stack.cli("port", "web")
    assert "127.0.0.1:18080" in port.stdout, port.stdout + port.stderr
