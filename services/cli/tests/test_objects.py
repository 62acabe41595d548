"""Image, network, volume and checkpoint commands against the fake daemon."""

from __future__ import annotations

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


# ------------------------------------------------------------------ images


def test_images_table(pyd):
    status, out, _ = pyd("images")
    lines = out.splitlines()
    assert status == 0
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert lines[1].split() == ["busybox", "latest", "bbbbbbbbbbbb", "3", "weeks", "ago", "4.26MB"]
    assert lines[2].split()[:3] == ["<none>", "<none>", "dddddddddddd"]
    assert pyd("images", "-q")[1] == "bbbbbbbbbbbb\ndddddddddddd\n"
    assert pyd("image", "ls", "--format", "{{.Repository}}:{{.Tag}}")[1] == (
        "busybox:latest\n<none>:<none>\n"
    )


def test_images_reference_argument_becomes_a_filter(pyd, fake):
    pyd("images", "busybox")
    assert list(fake.requests("ImagesList")[-1].filters["reference"].values) == ["busybox"]


def test_pull_prints_progress_and_the_full_reference(pyd, fake):
    status, out, _ = pyd("pull", "alpine")
    assert status == 0
    assert out == (
        "Using default tag: latest\nlatest: Pulling from library/alpine\n"
        "ec562eabd705: Pull complete\nStatus: Downloaded newer image for alpine:latest\n"
        "docker.io/library/alpine:latest\n"
    )
    assert (fake.requests("Pull")[0].image, fake.requests("Pull")[0].tag) == ("alpine", "latest")
    status, _, err = pyd("pull", "nosuch:1")
    assert status == 1 and err.startswith("Error response from daemon: pull access denied")


def test_tag_rmi_and_inspect(pyd, fake):
    assert pyd("tag", "busybox", "localhost:5000/bb:v1")[0] == 0
    req = fake.requests("Tag")[0]
    assert (req.source, req.repo, req.tag) == ("busybox", "localhost:5000/bb", "v1")
    status, _, err = pyd("tag", "busybox", "Bad:Name")
    assert status == 1 and err.startswith('Error parsing reference: "Bad:Name" is not a valid')
    assert pyd("rmi", "localhost:5000/bb:v1", "ghost") == (
        1,
        "Untagged: localhost:5000/bb:v1\nDeleted: sha256:" + "b" * 64 + "\n",
        "Error response from daemon: No such image: ghost:latest\n",
    )
    status, out, _ = pyd("image", "inspect", "-f", "{{.Id}} {{.Os}}", "busybox")
    assert (status, out) == (0, "sha256:" + "b" * 64 + " linux\n")


def test_load_save_import(pyd, fake, tmp_path):
    archive = tmp_path / "bb.tar"
    archive.write_bytes(b"x" * 300_000)
    assert pyd("load", "-i", str(archive)) == (0, "Loaded image: busybox:latest\n", "")
    assert fake.requests("Load")[0].chunk == b"x" * 300_000
    status, _, err = pyd("load", "-i", str(tmp_path / "missing.tar"))
    assert (status, err) == (1, f"open {tmp_path}/missing.tar: no such file or directory\n")
    out = tmp_path / "saved.tar"
    assert pyd("save", "-o", str(out), "busybox", "alpine")[0] == 0
    assert out.read_bytes() == b"TAR:busybox,alpine"
    rootfs = tmp_path / "rootfs.tar"
    rootfs.write_bytes(b"rootfs")
    status, printed, _ = pyd("import", "-c", 'CMD ["sh"]', str(rootfs), "mine:1")
    assert status == 0 and printed.startswith("sha256:")
    header = fake.requests("Import")[0].header
    assert (header.repo, list(header.changes)) == ("mine:1", ['CMD ["sh"]'])
    assert fake.uploaded == b"rootfs"


def test_image_prune(pyd, fake):
    assert pyd("image", "prune", "-f") == (
        0,
        "Deleted Images:\ndeleted: sha256:" + "d" * 64 + "\n\nTotal reclaimed space: 1.5MB\n",
        "",
    )
    assert list(fake.requests("ImagesPrune")[0].filters["dangling"].values) == ["true"]
    pyd("image", "prune", "-a", "-f")
    assert list(fake.requests("ImagesPrune")[1].filters["dangling"].values) == ["false"]


# ---------------------------------------------------------- networks, volumes


def test_network_create_and_ls(pyd, fake):
    status, out, _ = pyd(
        "network",
        "create",
        "--subnet",
        "10.9.0.0/24",
        "--gateway",
        "10.9.0.1",
        "--internal",
        "--label",
        "team=a",
        "net1",
    )
    assert (status, out) == (0, "n" * 64 + "\n")
    req = fake.requests("NetworksCreate")[0]
    assert (req.name, req.driver, req.internal, dict(req.labels)) == (
        "net1",
        "bridge",
        True,
        {"team": "a"},
    )
    assert (req.ipam.config[0].subnet, req.ipam.config[0].gateway) == ("10.9.0.0/24", "10.9.0.1")
    status, out, _ = pyd("network", "ls")
    assert out.splitlines() == [
        "NETWORK ID     NAME      DRIVER    SCOPE",
        "cccccccccccc   host      host      local",
        "aaaaaaaaaaaa   pyd0      bridge    local",
    ]
    status, _, err = pyd("network", "create", "--gateway", "10.0.0.1", "x")
    assert (status, err) == (1, "every gateway must have a corresponding subnet\n")


def test_volume_create_ls_rm(pyd, fake):
    assert pyd("volume", "create", "--label", "a=b", "-o", "type=tmpfs", "v1") == (0, "v1\n", "")
    req = fake.requests("VolumesCreate")[0]
    assert (dict(req.labels), dict(req.driver_opts)) == ({"a": "b"}, {"type": "tmpfs"})
    assert pyd("volume", "ls")[1] == "DRIVER    VOLUME NAME\nlocal     data\n"
    assert pyd("volume", "rm", "data", "nope") == (
        1,
        "data\n",
        "Error response from daemon: get nope: no such volume\n",
    )


# -------------------------------------------------------------- checkpoints


def test_checkpoint_create_prints_the_address_when_serving(pyd, fake):
    status, out, _ = pyd("checkpoint", "create", "--leave-running", "--pre-dump", "2", "web", "cp1")
    assert (status, out) == (0, "cp1\npyd://hostA:7777/web/cp1\n")
    req = fake.requests("CheckpointsCreate")[0]
    assert (req.container, req.checkpoint_id, req.leave_running, req.pre_dump) == (
        "web",
        "cp1",
        True,
        2,
    )
    assert pyd("checkpoint", "ls", "web")[1] == "CHECKPOINT NAME\ncp1\n"


def test_checkpoint_export_and_import(pyd, fake, tmp_path):
    target = tmp_path / "cp1.tar"
    assert pyd("checkpoint", "export", "web", "cp1", str(target))[0] == 0
    assert target.read_bytes() == b"CHECKPOINT"
    assert pyd("checkpoint", "import", "--name", "moved", str(target)) == (0, "moved\n", "")
    assert fake.uploaded == b"CHECKPOINT"


def test_top_level_help_lists_docker_shortcuts_without_importing_them(pyd):
    _, out, _ = pyd("--help")
    for name in ("run", "ps", "images", "rmi", "logs", "exec", "cp", "checkpoint"):
        assert f"\n  {name} " in out


def test_command_help_and_flag_errors_do_not_import_grpc():
    import subprocess
    import sys

    code = (
        "import sys, contextlib, io\n"
        "from pyd_cli.main import run\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):\n"
        "    for argv in (['run', '--help'], ['ps', '--help'], ['exec', '--help'],\n"
        "                 ['run', '-p', 'x', 'busybox'], ['run', '-m', 'x', 'busybox'],\n"
        "                 ['image', 'ls', '--help'], ['network', 'create', '--help'],\n"
        "                 ['checkpoint', 'create', '--help'], ['cp', '--help']):\n"
        "        run(argv)\n"
        "print(sorted(m for m in sys.modules if m == 'grpc' or m.startswith('google.protobuf')))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.stdout.strip() == "[]", res.stderr


def test_stats_no_stream_maths(pyd, fake):
    c = fake.add("web", ["sleep"], status="running")
    status, out, _ = pyd("stats", "--no-stream", "web")
    assert status == 0
    lines = out.splitlines()
    import re

    assert re.split(r"\s{3,}", lines[0].strip()) == [
        "CONTAINER ID",
        "NAME",
        "CPU %",
        "MEM USAGE / LIMIT",
        "MEM %",
        "NET I/O",
        "BLOCK I/O",
        "PIDS",
    ]
    cells = re.split(r"\s{3,}", lines[1].strip())
    assert cells == [
        c.id[:12],
        "web",
        "40.00%",
        "8MiB / 64MiB",
        "12.50%",
        "1.5kB / 648B",
        "0B / 0B",
        "3",
    ]
    assert fake.requests("Stats")[0].stream is False


def test_events_line_format(pyd, fake):
    import re

    from pyd_cli.commands.system.events import fixed_time

    stamp = fixed_time(1700000000_123456789)
    assert re.fullmatch(r"2023-11-1\dT\d\d:\d\d:20\.123456789(Z|[+-]\d\d:\d\d)", stamp)
    assert pyd("events", "--filter", "type=container") == (
        0,
        f"{stamp} container start abc (image=busybox, name=web)\n",
        "",
    )
    assert list(fake.requests("Events")[0].filters["type"].values) == ["container"]


def test_system_df(pyd):
    assert pyd("system", "df") == (
        0,
        "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\n"
        "Images          2         1         4MB       1MB (25%)\n"
        "Containers      2         1         400B      300B (75%)\n"
        "Local Volumes   0         0         0B        0B\n"
        "Build Cache     0         0         0B        0B\n",
        "",
    )


def test_system_prune_runs_every_prune(pyd, fake):
    fake.add("gone", ["echo"], status="exited")
    status, out, _ = pyd("system", "prune", "-f", "--volumes")
    assert status == 0
    assert "Deleted Networks:\nnet1\n" in out and "Deleted Volumes:\nanon1\n" in out
    assert out.endswith("Total reclaimed space: 1.503MB\n")
    assert fake.requests("NetworksPrune") and fake.requests("ImagesPrune")
