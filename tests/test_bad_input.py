"""Bad input through the CLI against a real stack (issue 5): Docker's message shapes
and exit codes (125 for a daemon or flag error, 126/127 for a command that cannot
run, 1 for most commands given an unknown container), and nothing half made left
behind — no container record where Docker leaves none, no veth, no address lease,
no port reservation, no iptables rule, no network namespace."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

from tests.stack import Stack, wait_for


def _names(stack: Stack) -> list[str]:
    return stack.cli("ps", "-a", "--format", "{{.Names}}").stdout.split()


def _network_leftovers(stack: Stack) -> dict[str, object]:
    """What a container that is not running may not hold: active endpoints, address
    leases (beyond the gateways'), published ports, veths, DNAT rules, sandboxes."""
    db = sqlite3.connect(f"file:{stack.root / 'pyd.db'}?mode=ro", uri=True)
    try:
        leases = db.execute("select address from ip_leases where owner != 'gateway'").fetchall()
        ports = db.execute("select host_port from port_mappings").fetchall()
        active = db.execute("select id from endpoints where active").fetchall()
    finally:
        db.close()
    links = subprocess.run(stack.netns_argv(["ip", "-o", "link", "show", "type", "veth"]),
                           capture_output=True, text=True, check=True).stdout
    dnat = [r for r in subprocess.run(
        stack.netns_argv(["iptables", "-w", "-t", "nat", "-S"]),
        capture_output=True, text=True, check=True).stdout.splitlines() if "DNAT" in r]
    netns_dir = stack.state / "netns"
    sandboxes = sorted(p.name for p in netns_dir.iterdir()) if netns_dir.exists() else []
    return {"leases": leases, "ports": ports, "endpoints": active, "veths": links.strip(),
            "dnat": dnat, "sandboxes": sandboxes}


NOTHING = {"leases": [], "ports": [], "endpoints": [], "veths": "", "dnat": [],
           "sandboxes": []}


def test_host_port_taken_by_another_container_is_refused_and_nothing_is_left(
        stack: Stack) -> None:
    holder = stack.cli("run", "-d", "--name", "holder", "-p", "18181:80", "busybox",
                       "sleep", "600")
    assert holder.returncode == 0, holder.stderr
    with_holder = _network_leftovers(stack)

    taken = stack.cli("run", "-d", "--name", "second", "-p", "18181:80", "busybox",
                      "sleep", "600")
    assert taken.returncode == 125, taken.stderr
    assert taken.stdout == ""
    line = taken.stderr.strip()
    assert line.startswith("pyd: Error response from daemon: driver failed programming "
                           "external connectivity on endpoint second (")
    assert line.endswith("): Bind for 0.0.0.0:18181 failed: port is already allocated."), line
    # As Docker: the container stays, created and not running, holding nothing.
    state = json.loads(stack.cli("inspect", "second").stdout)[0]["State"]
    assert state["Status"] == "created" and state["Running"] is False
    assert "port is already allocated" in state["Error"]
    assert _network_leftovers(stack) == with_holder

    # A specific address clashes with a wildcard holder too; --rm leaves no record.
    rm = stack.cli("run", "--rm", "-d", "--name", "third", "-p", "127.0.0.1:18181:80",
                   "busybox", "sleep", "600")
    assert rm.returncode == 125
    assert "Bind for 127.0.0.1:18181 failed: port is already allocated" in rm.stderr
    assert wait_for(lambda: "third" not in _names(stack))
    assert _network_leftovers(stack) == with_holder

    # Once the holder is gone the port is free and the refused container starts.
    assert stack.cli("rm", "-f", "holder").returncode == 0
    assert _network_leftovers(stack) == NOTHING
    start = stack.cli("start", "second")
    assert start.returncode == 0, start.stderr
    assert stack.cli("port", "second").stdout.strip() == "80/tcp -> 0.0.0.0:18181"


def test_host_port_held_by_a_host_process_is_refused(stack: Stack) -> None:
    listener = subprocess.Popen(
        stack.netns_argv([sys.executable, "-c", "import socket,sys,time\n"
                          "s=socket.socket(); s.bind(('0.0.0.0', 18182)); s.listen()\n"
                          "print('ready', flush=True); time.sleep(120)"]),
        stdout=subprocess.PIPE, text=True)
    try:
        assert listener.stdout is not None and listener.stdout.readline() == "ready\n"
        out = stack.cli("run", "-d", "--name", "blocked", "-p", "18182:80", "busybox",
                        "sleep", "600")
        assert out.returncode == 125
        line = out.stderr.strip()
        assert line.startswith("pyd: Error response from daemon: driver failed programming "
                               "external connectivity on endpoint blocked (")
        assert line.endswith("Error starting userland proxy: listen tcp4 0.0.0.0:18182: "
                             "bind: address already in use."), line
        assert _network_leftovers(stack) == NOTHING
    finally:
        listener.kill()
        listener.wait()


def test_unknown_image_says_unable_to_find_then_the_pull_error(stack: Stack) -> None:
    out = stack.cli("run", "--rm", "nosuchimage")
    assert out.returncode == 125
    lines = out.stderr.splitlines()
    assert lines[0] == "Unable to find image 'nosuchimage:latest' locally"
    # No registry is reachable here: the pull fails before any progress, and is shown
    # as the daemon's error response (no "Pulling from" line before it).
    assert lines[1].startswith("pyd: Error response from daemon: "), lines
    assert lines[2] == "See 'pyd run --help'."
    assert len(lines) == 3 and out.stdout == ""
    tagged = stack.cli("create", "nosuchimage:v1")
    assert tagged.returncode == 1
    assert tagged.stderr.startswith("Unable to find image 'nosuchimage:v1' locally\n")
    assert _names(stack) == []


UNKNOWN_CONTAINER = [
    ["stop", "ghost"], ["kill", "-s", "HUP", "ghost"], ["restart", "ghost"],
    ["rm", "ghost"], ["logs", "ghost"], ["exec", "ghost", "true"], ["pause", "ghost"],
    ["unpause", "ghost"], ["rename", "ghost", "other"], ["wait", "ghost"],
    ["top", "ghost"], ["port", "ghost"], ["update", "--memory", "64m", "ghost"],
    ["attach", "ghost"], ["stats", "--no-stream", "ghost"], ["export", "ghost"],
]


def test_unknown_container_is_a_daemon_error_with_status_1(stack: Stack) -> None:
    for argv in UNKNOWN_CONTAINER:
        out = stack.cli(*argv)
        assert out.returncode == 1, (argv, out.stderr)
        assert out.stderr.strip() == "Error response from daemon: No such container: ghost", \
            argv
        assert out.stdout == "", argv
    inspect = stack.cli("inspect", "ghost")
    assert (inspect.returncode, inspect.stdout, inspect.stderr) == (
        1, "[]\n", "Error: No such object: ghost\n")
    # docker start: each error, then its summary line (docker 27/28 wording), status 1
    start = stack.cli("start", "ghost")
    assert (start.returncode, start.stdout, start.stderr) == (
        1, "", "Error response from daemon: No such container: ghost\n"
        "Error: failed to start containers: ghost\n")


def test_name_conflict_names_the_container_that_holds_it(stack: Stack) -> None:
    first = stack.cli("create", "--name", "taken", "busybox", "true")
    assert first.returncode == 0, first.stderr
    cid = first.stdout.strip()
    # `run` reports like docker run ("pyd: " first, a hint, 125), `create` like docker
    # create (the daemon's error as is, 1).
    message = (f'Error response from daemon: Conflict. The container name "/taken" is '
               f'already in use by container "{cid}". You have to remove (or rename) that '
               "container to be able to reuse that name.")
    for status, expected, argv in (
            (1, message, ["create", "--name", "taken", "busybox", "true"]),
            (125, f"pyd: {message}\nSee 'pyd run --help'.",
             ["run", "-d", "--name", "taken", "-p", "18183:80", "busybox", "true"])):
        out = stack.cli(*argv)
        assert out.returncode == status
        assert out.stderr.strip() == expected
    assert _names(stack) == ["taken"]
    assert _network_leftovers(stack) == NOTHING


MALFORMED = [
    (["-p", "99999:80"], "pyd: invalid hostPort: 99999."),
    (["-p", "80:abc"], "pyd: invalid containerPort: abc."),
    (["-p", "1.2.3:80:80"], "pyd: invalid IP address: 1.2.3."),
    (["-p", "80/xtp"], "pyd: invalid proto: xtp."),
    (["-v", "/a:b"], "pyd: invalid volume specification: '/a:b': invalid mount config for "
                     "type \"bind\": invalid mount path: 'b' mount path must be absolute."),
    (["--memory", "12x"], 'pyd: invalid argument "12x" for "-m, --memory" flag: '
                          "invalid suffix: 'x'"),
    (["--memory", "1k"], "pyd: Error response from daemon: Minimum memory limit allowed is "
                         "6MB."),
]


def test_malformed_flags_are_refused_before_anything_is_made(stack: Stack) -> None:
    for flags, message in MALFORMED:
        out = stack.cli("run", "-d", "--name", "bad", *flags, "busybox", "true")
        assert out.returncode == 125, flags
        assert out.stderr.splitlines()[0] == message, out.stderr
        assert _names(stack) == [], flags


def test_command_not_found_is_127_and_not_executable_is_126(stack: Stack) -> None:
    for argv, status, why in (
            (["nosuchcmd"], 127, 'exec: "nosuchcmd": executable file not found in $PATH'),
            (["/nonexistent"], 127, 'exec: "/nonexistent": stat /nonexistent: no such file '
                                    "or directory"),
            (["/etc/passwd"], 126, 'exec: "/etc/passwd": permission denied')):
        out = stack.cli("run", "--rm", "-p", "18184:80", "busybox", *argv)
        assert out.returncode == status, out.stderr
        assert out.stderr.startswith("pyd: Error response from daemon: ")
        assert why in out.stderr
        # --rm: nothing of the container stays, its network included.
        assert wait_for(lambda: _names(stack) == [])
        assert _network_leftovers(stack) == NOTHING
    kept = stack.cli("run", "--name", "kept", "busybox", "nosuchcmd")
    assert kept.returncode == 127
    state = json.loads(stack.cli("inspect", "kept").stdout)[0]["State"]
    assert (state["Status"], state["ExitCode"]) == ("created", 127)
    assert "executable file not found" in state["Error"]
    assert _network_leftovers(stack) == NOTHING
