"""Container commands against a fake daemon: what each sends, what it prints,
and docker's exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from pyd_cli.main import run

from .fake_daemon import start_fake


@pytest.fixture
def fake(tmp_path):
    d, server = start_fake(str(tmp_path / "pyd.sock"))
    yield d
    server.stop(0)


@pytest.fixture
def pyd(fake, capsys):
    def invoke(*args: str) -> tuple[int, str, str]:
        status = run(["-H", fake.host, *args])
        out, err = capsys.readouterr()
        return status, out, err

    return invoke


def pyd_proc(fake, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYD_HOST"}
    return subprocess.run(
        [sys.executable, "-m", "pyd_cli.main", "-H", fake.host, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        input=stdin,
    )


# -------------------------------------------------------------------- run


def test_run_prints_output_and_exits_with_the_containers_code(pyd, fake):
    assert pyd("run", "busybox", "echo", "hello", "world") == (0, "hello world\n", "")
    status, out, err = pyd("run", "busybox", "fail", "3")
    assert (status, out, err) == (3, "", "boom\n")
    create = fake.requests("Create")[0]
    assert list(create.config.cmd) == ["echo", "hello", "world"]
    assert create.config.attach_stdout and create.config.attach_stderr
    assert not create.config.attach_stdin


def test_run_command_flags_are_not_parsed_as_run_flags(pyd, fake):
    status, out, _ = pyd("run", "--name", "x", "busybox", "echo", "-n", "--rm")
    assert (status, out) == (0, "-n --rm\n")
    assert fake.requests("Create")[0].name == "x"


def test_run_detached_prints_the_full_id(pyd, fake):
    status, out, _ = pyd("run", "-d", "busybox", "sleep")
    cid = out.strip()
    assert status == 0 and len(cid) == 64
    assert fake.containers[cid].status == "running"
    create = fake.requests("Create")[0]
    assert not (create.config.attach_stdout or create.config.attach_stderr)


def test_run_rm_removes_the_container_after_it_exits(pyd, fake):
    assert pyd("run", "--rm", "busybox", "echo", "bye")[:2] == (0, "bye\n")
    assert fake.containers == {}
    assert fake.requests("Create")[0].host_config.auto_remove


def test_run_flags_reach_the_create_request(pyd, fake, tmp_path, monkeypatch):
    monkeypatch.setenv("FROM_CLIENT", "c")
    envfile = tmp_path / "env"
    envfile.write_text("A=1\n")
    status, _, err = pyd(
        "run",
        "-d",
        "--name",
        "web",
        "-e",
        "B=2",
        "-e",
        "FROM_CLIENT",
        "--env-file",
        str(envfile),
        "-w",
        "/srv",
        "-u",
        "1000:1000",
        "--entrypoint",
        "",
        "-v",
        "/host:/data:ro",
        "-v",
        "/anon",
        "--mount",
        "type=tmpfs,target=/run",
        "-p",
        "127.0.0.1:8080:80",
        "-p",
        "53:53/udp",
        "--network",
        "mynet",
        "--network-alias",
        "web1",
        "--hostname",
        "h1",
        "-m",
        "64m",
        "--cpus",
        "1.5",
        "--pids-limit",
        "100",
        "--restart",
        "on-failure:2",
        "--read-only",
        "--cap-add",
        "NET_ADMIN",
        "--cap-drop",
        "MKNOD",
        "--privileged",
        "--init",
        "-l",
        "k=v",
        "busybox",
        "sleep",
    )
    assert status == 0, err
    r = fake.requests("Create")[0]
    c, h = r.config, r.host_config
    assert r.name == "web"
    assert list(c.env) == ["A=1", "B=2", "FROM_CLIENT=c"]
    assert (c.working_dir, c.user, list(c.entrypoint), c.hostname) == (
        "/srv",
        "1000:1000",
        [""],
        "h1",
    )
    assert set(c.exposed_ports) == {"80/tcp", "53/udp"} and set(c.volumes) == {"/anon"}
    assert list(h.binds) == ["/host:/data:ro"]
    assert h.mounts[0].type == "tmpfs" and h.mounts[0].target == "/run"
    assert [(b.host_ip, b.host_port) for b in h.port_bindings["80/tcp"].items] == [
        ("127.0.0.1", "8080")
    ]
    assert h.network_mode == "mynet"
    assert list(r.networking_config.endpoints_config["mynet"].aliases) == ["web1"]
    assert (h.resources.memory, h.resources.nano_cpus, h.resources.pids_limit) == (
        64 << 20,
        1_500_000_000,
        100,
    )
    assert (h.restart_policy.name, h.restart_policy.maximum_retry_count) == ("on-failure", 2)
    assert h.readonly_rootfs and h.privileged and h.HasField("init") and h.init
    assert (list(h.cap_add), list(h.cap_drop)) == (["NET_ADMIN"], ["MKNOD"])
    assert dict(c.labels) == {"k": "v"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "foo"], "pyd: invalid containerPort: foo.\nSee 'pyd run --help'.\n"),
        (
            ["-v", "/a::/b"],
            "pyd: invalid spec: /a::/b: empty section between colons.\nSee 'pyd run --help'.\n",
        ),
        (
            ["--restart", "bogus"],
            "pyd: invalid restart policy: unknown policy 'bogus'; use one of "
            "'no', 'always', 'on-failure', or 'unless-stopped'.\nSee 'pyd run --help'.\n",
        ),
        (
            ["--rm", "--restart", "always"],
            "pyd: conflicting options: cannot specify both --restart "
            "and --rm.\nSee 'pyd run --help'.\n",
        ),
        (
            ["-m", "lots"],
            'pyd: invalid argument "lots" for "-m, --memory" flag: invalid size: '
            "'lots'\nSee 'pyd run --help'.\n",
        ),
        (
            ["--cpus", "x"],
            'pyd: invalid argument "x" for "--cpus" flag: failed to parse x as a '
            "rational number\nSee 'pyd run --help'.\n",
        ),
        (
            ["--mount", "type=bind"],
            'pyd: invalid argument "type=bind" for "--mount" flag: '
            "target is required\nSee 'pyd run --help'.\n",
        ),
        (
            ["-e", "=x"],
            'pyd: invalid argument "=x" for "-e, --env" flag: invalid environment '
            "variable: =x\nSee 'pyd run --help'.\n",
        ),
        (
            ["--detach-keys", "ctrl-"],
            'pyd: invalid argument "ctrl-" for "--detach-keys" flag: '
            "Invalid detach keys (ctrl-) provided\nSee 'pyd run --help'.\n",
        ),
        (
            ["-d", "-a", "stdout"],
            "pyd: conflicting options: cannot specify both --attach and "
            "--detach.\nSee 'pyd run --help'.\n",
        ),
    ],
)
def test_bad_run_flags_exit_125_before_anything_is_created(pyd, fake, args, message):
    status, out, err = pyd("run", *args, "busybox", "echo")
    assert (status, out, err) == (125, "", message)
    assert fake.requests("Create") == []


def test_run_unknown_image_pulls_it_first(pyd, fake):
    status, out, err = pyd("run", "alpine", "echo", "pulled")
    assert (status, out) == (0, "pulled\n")
    assert err.startswith("Unable to find image 'alpine:latest' locally\n")
    assert "Status: Downloaded newer image for alpine:latest\n" in err
    assert len(fake.requests("Create")) == 2


def test_run_image_that_cannot_be_pulled_is_125(pyd, fake):
    status, out, err = pyd("run", "nosuch", "echo")
    assert (status, out) == (125, "")
    assert err == (
        "Unable to find image 'nosuch:latest' locally\n"
        "pyd: Error response from daemon: pull access denied for nosuch, repository does not "
        "exist or may require 'docker login'.\n"
        "See 'pyd run --help'.\n"
    )


def test_run_name_conflict_is_125(pyd, fake):
    fake.add("web", ["sleep"])
    status, _, err = pyd("run", "--name", "web", "busybox", "echo")
    assert status == 125
    assert (
        err == "pyd: Error response from daemon: Conflict. "
        'The container name "/web" is already in use.\n'
        "See 'pyd run --help'.\n"
    )


def test_run_without_image_is_a_usage_error(pyd):
    status, _, err = pyd("run")
    assert status == 1
    assert err == "pyd: \"pyd run\" requires at least 1 argument.\nSee 'pyd run --help'.\n"


def test_run_interactive_forwards_stdin(fake):
    res = pyd_proc(fake, "run", "-i", "busybox", "cat", stdin="line one\nline two\n")
    assert (res.returncode, res.stdout) == (0, "line one\nline two\n"), res.stderr
    assert fake.requests("Create")[0].config.stdin_once


def test_run_tty_needs_a_terminal(fake):
    res = pyd_proc(fake, "run", "-it", "busybox", "cat", stdin="")
    # docker run returns CheckTty's error as is: no "docker: " prefix, no period
    assert (res.returncode, res.stderr) == (1, "the input device is not a TTY\n")
    assert fake.requests("Create") == []


# ------------------------------------------------------- create and start


def test_create_prints_the_id_and_start_echoes_the_name(pyd, fake):
    status, out, _ = pyd("create", "--name", "c1", "busybox", "echo", "hi")
    assert status == 0 and len(out.strip()) == 64
    assert pyd("start", "c1") == (0, "c1\n", "")
    req = fake.requests("Start")[0]
    assert (req.id, req.checkpoint, req.lazy_restore) == ("c1", "", "")


def test_start_restore_flags_travel_as_fields(pyd, fake):
    fake.add("web", ["sleep"])
    status, _, err = pyd("start", "--checkpoint", "cp1", "--checkpoint-dir", "/cps", "web")
    assert status == 0, err
    status, _, err = pyd("start", "--lazy-restore", "pyd://hostA:7777/web/cp1", "web")
    assert status == 0, err
    first, second = fake.requests("Start")
    assert (first.checkpoint, first.checkpoint_dir) == ("cp1", "/cps")
    assert second.lazy_restore == "pyd://hostA:7777/web/cp1"


def test_start_unknown_container_is_1_with_docker_summary(pyd, fake):
    # docker-cli start.go startContainersWithoutAttachments: each daemon error, then
    # one summary line (docker 27/28 wording), status 1; the others still start.
    assert pyd("start", "ghost") == (
        1,
        "",
        "Error response from daemon: No such container: ghost\n"
        "Error: failed to start containers: ghost\n",
    )
    fake.add("a", ["sleep"])
    fake.add("b", ["sleep"])
    status, out, err = pyd("start", "ghost", "a", "nope", "b")
    assert (status, out) == (1, "a\nb\n")
    assert err.splitlines() == [
        "Error response from daemon: No such container: ghost",
        "Error response from daemon: No such container: nope",
        "Error: failed to start containers: ghost, nope",
    ]
    # -a: the inspect error alone, status 1
    assert pyd("start", "-a", "ghost") == (
        1,
        "",
        "Error response from daemon: No such container: ghost\n",
    )
    assert pyd("start", "-ai", "ghost")[0] == 1


def test_start_refused_restore_is_125_and_one_container_only(pyd, fake):
    import grpc

    fake.add("a", ["sleep"])
    fake.errors["Start"] = (grpc.StatusCode.FAILED_PRECONDITION, "checkpoint cp9 does not exist")
    assert pyd("start", "--checkpoint", "cp9", "a") == (
        125,
        "",
        "Error response from daemon: checkpoint cp9 does not exist\n",
    )
    assert pyd("start", "--lazy-restore", "pyd://h:1/a/cp9", "a")[0] == 125
    assert pyd("start", "--checkpoint", "cp9", "a", "b") == (
        1,
        "",
        "you cannot restore multiple containers at once\n",
    )
    assert len(fake.requests("Start")) == 2


def test_create_daemon_error_is_1_without_prefix_like_docker_create(pyd, fake):
    fake.add("web", ["sleep"])
    assert pyd("create", "--name", "web", "busybox") == (
        1,
        "",
        'Error response from daemon: Conflict. The container name "/web" is already in use\n',
    )
    status, out, err = pyd("create", "nosuch")
    assert (status, out) == (1, "")
    assert err == (
        "Unable to find image 'nosuch:latest' locally\n"
        "Error response from daemon: pull access denied for nosuch, repository does not "
        "exist or may require 'docker login'\n"
    )
    # flag errors stay docker create's reportError: prefix, hint, 125
    assert pyd("create", "-p", "foo", "busybox") == (
        125,
        "",
        "pyd: invalid containerPort: foo.\nSee 'pyd create --help'.\n",
    )


def test_start_attach_prints_output_and_exit_code(pyd, fake):
    fake.add("f", ["fail", "4"])
    status, out, err = pyd("start", "-a", "f")
    assert (status, out, err) == (4, "", "boom\n")


def test_create_from_checkpoint_file_imports_it_first(pyd, fake, tmp_path):
    f = tmp_path / "cp.tar"
    f.write_bytes(b"exported-checkpoint")
    status, _, err = pyd("create", "--from-checkpoint", str(f), "--name", "restored")
    assert status == 0, err
    assert fake.uploaded == b"exported-checkpoint"
    req = fake.requests("Create")[0]
    assert (req.from_checkpoint, req.config.image) == ("imported1", "")


# ------------------------------------------------ stop, kill, rm and co.


def test_stop_kill_rm_echo_each_and_continue_past_errors(pyd, fake):
    fake.add("a", ["sleep"], status="running")
    fake.add("b", ["sleep"], status="running")
    status, out, err = pyd("stop", "-t", "3", "a", "nope", "b")
    assert (status, out) == (1, "a\nb\n")
    assert err == "Error response from daemon: No such container: nope\n"
    assert fake.requests("Stop")[0].timeout == 3
    assert not fake.requests("Stop")[1].HasField("timeout") or fake.requests("Stop")[1].timeout == 3
    fake.add("c", ["sleep"], status="running")
    assert pyd("kill", "-s", "KILL", "c") == (0, "c\n", "")
    fake.add("d", ["sleep"], status="running")
    status, out, err = pyd("rm", "d", "a")
    assert (status, out) == (1, "a\n")
    assert "container is running: stop the container before removing or force remove" in err
    assert pyd("rm", "-f", "-v", "d") == (0, "d\n", "")
    assert fake.requests("Remove")[-1].force and fake.requests("Remove")[-1].volumes


def test_wait_prints_exit_codes(pyd, fake):
    c = fake.add("w", ["sleep"], status="running")
    c.exit_code = 0

    def later():
        time.sleep(0.3)
        c.finish(7)

    import threading

    threading.Thread(target=later).start()
    assert pyd("wait", "w") == (0, "7\n", "")


def test_rename_pause_unpause_top(pyd, fake):
    fake.add("old", ["sleep"], status="running")
    assert pyd("rename", "old", "new")[0] == 0
    assert fake.requests("Rename")[0].new_name == "new"
    assert pyd("pause", "new") == (0, "new\n", "")
    assert pyd("unpause", "new") == (0, "new\n", "")
    status, out, _ = pyd("top", "new", "-o", "pid")
    assert status == 0
    assert fake.requests("Top")[0].ps_args == "-o pid"
    assert out.splitlines() == [
        "UID                 PID                 CMD",
        "root                4242                sleep 1000",
    ]


# ------------------------------------------------------------ ps, inspect


def test_ps_table_and_quiet_and_format(pyd, fake):
    c = fake.add("web", ["sleep", "1000"], status="running")
    c.request.host_config.port_bindings["80/tcp"].items.add(host_port="8080")
    fake.add("done", ["echo"], status="exited")
    status, out, _ = pyd("ps")
    lines = out.splitlines()
    assert status == 0 and len(lines) == 2
    assert lines[0].split() == [
        "CONTAINER",
        "ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ]
    assert lines[1].startswith(
        c.id[:12] + '   busybox   "sleep 1000"   2 minutes ago   Up 3 seconds   '
    )
    assert lines[1].endswith("0.0.0.0:8080->80/tcp   web")
    assert pyd("ps", "-aq")[1].splitlines() == [c.id[:12], list(fake.containers)[1][:12]]
    assert pyd("ps", "--format", "{{.Names}} {{.State}}", "-a")[1] == "web running\ndone exited\n"
    assert pyd("ps", "-a", "--filter", "status=exited", "-n", "3")[0] == 0
    req = fake.requests("List")[-1]
    assert req.all and req.limit == 3 and list(req.filters["status"].values) == ["exited"]


def test_ps_bad_filter_is_a_flag_error(pyd):
    status, _, err = pyd("ps", "--filter", "status")
    assert status == 125
    assert err.startswith(
        'pyd: invalid argument "status" for "-f, --filter" flag: bad format of filter'
    )


def test_inspect_is_a_json_array_and_reports_missing(pyd, fake):
    fake.add("web", ["sleep"], status="running")
    status, out, err = pyd("inspect", "web", "ghost")
    import json

    data = json.loads(out)
    assert status == 1
    assert data[0]["Name"] == "/web" and data[0]["State"]["Status"] == "running"
    assert "SizeRw" not in data[0]
    assert err == "Error: No such object: ghost\n"
    assert pyd("container", "inspect", "-f", "{{.State.Status}} {{.Config.Cmd}}", "web") == (
        0,
        "running [sleep]\n",
        "",
    )
    status, out, err = pyd("container", "inspect", "ghost")
    assert (status, out, err) == (
        1,
        "[]\n",
        "Error response from daemon: No such container: ghost\n",
    )


def test_port_lists_bindings(pyd, fake):
    c = fake.add("web", ["sleep"], status="running")
    c.request.host_config.port_bindings["80/tcp"].items.add(host_port="8080")
    assert pyd("port", "web") == (0, "80/tcp -> 0.0.0.0:8080\n", "")
    assert pyd("port", "web", "80") == (0, "0.0.0.0:8080\n", "")
    assert pyd("port", "web", "81/udp") == (
        1,
        "",
        "Error: No public port '81/udp' published for web\n",
    )


# ------------------------------------------------------------- logs, exec


def test_logs_split_streams_and_timestamps(pyd, fake):
    c = fake.add("l", ["sleep"], status="running")
    c.emit(1, b"out\n")
    c.emit(2, b"err\n")
    assert pyd("logs", "l") == (0, "out\n", "err\n")
    status, out, _ = pyd("logs", "-t", "--tail", "5", "--since", "10m", "l")
    assert status == 0 and out.endswith(".000005000Z out\n")
    req = fake.requests("Logs")[-1]
    assert req.tail == "5" and req.timestamps and req.since.seconds > 0
    status, _, err = pyd("logs", "--since", "whenever", "l")
    assert (status, err) == (
        1,
        'invalid value for "since": failed to parse value as time or duration: "whenever"\n',
    )


def test_exec_exit_code_and_output(pyd, fake):
    fake.add("e", ["sleep"], status="running")
    assert pyd("exec", "-e", "A=1", "-w", "/tmp", "e", "echo", "-n", "x") == (0, "-n x\n", "")
    req = fake.requests("ExecCreate")[0]
    assert (list(req.cmd), list(req.env), req.working_dir) == (["echo", "-n", "x"], ["A=1"], "/tmp")
    assert pyd("exec", "e", "fail", "5")[0] == 5
    assert pyd("exec", "-d", "e", "echo", "bg") == (0, "", "")
    status, _, err = pyd("exec", "e", "/nonexistent")
    assert status == 127
    assert err.startswith("Error response from daemon: pyd-runc exec failed")
    fake.add("stopped", ["echo"], status="exited")
    status, _, err = pyd("exec", "stopped", "echo")
    assert status == 1 and err.startswith("Error response from daemon: container ")


# ------------------------------------------------------------ cp, prune


def test_cp_both_directions(pyd, fake, tmp_path):
    fake.add("c", ["sleep"], status="running")
    src = tmp_path / "note.txt"
    src.write_text("hi\n")
    assert pyd("cp", str(src), "c:/tmp")[0] == 0
    header = fake.requests("CopyTo")[0].header
    assert (header.id, header.path) == ("c", "/tmp")
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(fake.uploaded)) as tar:
        assert tar.getnames() == ["note.txt"]
    assert pyd("cp", str(src), "c:/tmp/renamed.txt")[0] == 0
    with tarfile.open(fileobj=io.BytesIO(fake.uploaded)) as tar:
        assert tar.getnames() == ["renamed.txt"]
    assert fake.requests("CopyTo")[1].header.path == "/tmp"
    dest = tmp_path / "out"
    assert pyd("cp", "c:/etc/hosts", str(dest))[0] == 0
    assert dest.read_text() == "hello from the container\n"
    (tmp_path / "dir").mkdir()
    assert pyd("cp", "c:/etc/hosts", str(tmp_path / "dir"))[0] == 0
    assert (tmp_path / "dir" / "hosts").exists()


def test_container_prune(pyd, fake):
    c = fake.add("gone", ["echo"], status="exited")
    assert pyd("container", "prune", "-f") == (
        0,
        f"Deleted Containers:\n{c.id}\n\nTotal reclaimed space: 2.048kB\n",
        "",
    )


def test_aliases_reach_the_same_commands(pyd, fake):
    fake.add("web", ["sleep"], status="running")
    assert (
        pyd("container", "ls", "-q")[1] == pyd("ps", "-q")[1] == pyd("container", "list", "-q")[1]
    )


def test_rm_force_of_a_missing_container_is_not_a_failure(pyd, fake):
    fake.add("here", ["sleep"], status="running")
    assert pyd("rm", "-f", "here", "gone") == (
        0,
        "here\n",
        "Error response from daemon: No such container: gone\n",
    )


def test_update_sets_only_the_given_fields(pyd, fake):
    fake.add("u", ["sleep"], status="running")
    assert pyd("update", "-m", "128m", "--restart", "always", "u") == (0, "u\n", "")
    req = fake.requests("Update")[0]
    assert req.resources.memory == 128 << 20 and not req.resources.HasField("pids_limit")
    assert req.restart_policy.name == "always"
    assert pyd("update", "u")[0] == 1


def test_ctrl_c_is_proxied_to_the_container_without_a_tty(fake):
    import signal

    env = {k: v for k, v in os.environ.items() if k != "PYD_HOST"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyd_cli.main", "-H", fake.host, "run", "busybox", "sleep"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    deadline = time.monotonic() + 15
    while not fake.requests("Start") and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=15) == 130
    assert [r.signal for r in fake.requests("Kill")] == ["SIGINT"]


def test_boolean_flags_take_docker_bool_values(pyd, fake):
    assert pyd("run", "--rm=false", "--privileged=true", "busybox", "echo", "--rm=x")[:2] == (
        0,
        "--rm=x\n",
    )
    req = fake.requests("Create")[0]
    assert not req.host_config.auto_remove and req.host_config.privileged
    assert pyd("run", "--sig-proxy", "busybox", "echo", "a")[:2] == (0, "a\n")
    assert pyd("run", "--sig-proxy=false", "busybox", "echo", "b")[:2] == (0, "b\n")
    from pyd_cli.commands.container.run import run as run_cmd
    from pyd_cli.lazy import _bool_values

    assert _bool_values(run_cmd, ["--sig-proxy=false", "-i", "x", "--rm=1"]) == [
        "--no-sig-proxy",
        "-i",
        "x",
        "--rm=1",
    ]
    status, _, err = pyd("run", "--rm=maybe", "busybox")
    assert (status, err.splitlines()[0]) == (
        125,
        'pyd: invalid argument "maybe" for "--rm" flag: strconv.ParseBool: parsing "maybe": '
        "invalid syntax",
    )


def test_flag_without_its_value_is_pflags_message(pyd):
    assert pyd("run", "--name") == (
        125,
        "",
        "pyd: flag needs an argument: --name\nSee 'pyd run --help'.\n",
    )
    assert pyd("container", "logs", "-n")[2].startswith("pyd: flag needs an argument: 'n' in -n\n")


def test_ps_table_format_has_docker_headers(pyd, fake):
    c = fake.add("web", ["sleep"], status="running")
    assert pyd("ps", "--format", "table {{.ID}}\\t{{.Names}}\\t{{.Status}}") == (
        0,
        f"CONTAINER ID   NAMES     STATUS\n{c.id[:12]}   web       Up 3 seconds\n",
        "",
    )
    _, out, _ = pyd("ps", "--format", "json")
    import json

    assert json.loads(out)["Names"] == "web" and json.loads(out)["Command"] == '"sleep"'


def test_attach_forwards_stdin_and_exits_with_the_code(fake, pyd):
    c = fake.add("a", ["cat"])
    c.request.config.open_stdin = True
    c.run()
    res = pyd_proc(fake, "attach", "a", stdin="typed\n")
    assert (res.returncode, res.stdout) == (0, "typed\n"), res.stderr
    stopped = fake.add("s", ["echo"], status="exited")
    assert stopped.status == "exited"
    assert pyd("attach", "s") == (
        1,
        "",
        "You cannot attach to a stopped container, start it first\n",
    )


def test_attach_to_a_tty_container_needs_a_terminal(fake):
    c = fake.add("t", ["sleep"], status="running")
    c.request.config.tty = True
    c.request.config.open_stdin = True
    res = pyd_proc(fake, "attach", "t", stdin="typed\n")
    assert (res.returncode, res.stdout, res.stderr) == (1, "", "the input device is not a TTY\n")
    assert fake.requests("Attach") == []

    # As docker: --no-stdin needs no terminal; the container ends once attached.
    def finish_when_attached() -> None:
        deadline = time.monotonic() + 60
        while not fake.requests("Attach") and time.monotonic() < deadline:
            time.sleep(0.05)
        c.finish(3)

    threading.Thread(target=finish_when_attached, daemon=True).start()
    res = pyd_proc(fake, "attach", "--no-stdin", "t", stdin="")
    assert res.returncode == 3, res.stderr


def test_run_pull_error_in_the_stream_reads_like_a_daemon_error(pyd):
    status, _, err = pyd("run", "streamerr")
    assert status == 125
    assert err == (
        "Unable to find image 'streamerr:latest' locally\n"
        "pyd: Error response from daemon: manifest for streamerr:latest not found.\n"
        "See 'pyd run --help'.\n"
    )


def test_exec_tty_needs_a_terminal_unless_detached(fake):
    fake.add("t", ["sleep"], status="running")
    res = pyd_proc(fake, "exec", "-it", "t", "sh", stdin="")
    assert (res.returncode, res.stdout, res.stderr) == (1, "", "the input device is not a TTY\n")
    assert fake.requests("ExecCreate") == []
    # docker checks only when it attaches: -d needs no terminal
    assert pyd_proc(fake, "exec", "-itd", "t", "sh", stdin="").returncode == 0
    assert len(fake.requests("ExecCreate")) == 1


def test_stats_stream_redraws_like_docker_and_named_errors_fail_first(pyd, fake):
    fake.add("web", ["sleep"], status="running")
    # The fake's stream ends after one sample; the command returns once it has seen
    # the end (a frame or two, each cursor home, erase-line per line, erase-below).
    status, out, err = pyd("stats", "--format", "{{.Name}} {{.PIDs}}", "web")
    assert (status, err) == (0, "")
    frames = out.split("\033[J")
    assert frames[-1] == "" and set(frames[:-1]) == {"\033[Hweb 3\033[K\n\033[K\n"}, out
    assert fake.requests("Stats")[0].stream is True
    assert pyd("stats", "web", "ghost") == (
        1,
        "",
        "Error response from daemon: No such container: ghost\n",
    )
