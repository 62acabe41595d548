"""Checkpoints as self-contained artifacts (issue 6): `pyd checkpoint export` writes one
file (CRIU image, the read-write layer's diff, the container's config, its image
digest); `pyd checkpoint import` records it on this or another host, and
`pyd create --from-checkpoint` makes a new container that restores it on `pyd start`.
A checkpoint is never restored onto another image."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from tests.stack import Stack, private_stack
from tests.test_checkpoint_local import COUNTER, read_count
from tests.test_lazy_restore import counter_image, wait_until


def _checkpointed(s: Stack, tmp: Path) -> tuple[int, Path]:
    """A counting container `src` checkpointed as cp1 and exported; (count, file)."""
    assert s.cli("run", "-d", "--name", "src", "--network", "none", "busybox", "sh", "-c",
                 COUNTER).returncode == 0
    assert wait_until(lambda: s.cli("exec", "src", "cat", "/tmp/n").stdout.strip() != ""
                      and read_count(s, "src") > 5)
    assert s.cli("exec", "src", "sh", "-c", "echo kept > /data.txt").returncode == 0
    before = read_count(s, "src")
    assert s.cli("checkpoint", "create", "src", "cp1").returncode == 0
    out = tmp / "cp1.tar"
    exported = s.cli("checkpoint", "export", "src", "cp1", str(out))
    assert exported.returncode == 0, exported.stderr
    return before, out


def _restores_and_counts_on(s: Stack, name: str, before: int) -> None:
    started = s.cli("start", name)
    assert started.returncode == 0, started.stderr
    state = json.loads(s.cli("inspect", name).stdout)[0]["State"]
    assert state["Running"] is True and state["RestoredFrom"] == "cp1"
    after = read_count(s, name)
    assert after >= before  # the shell's variable came back: it counts on, not from 1
    assert wait_until(lambda: read_count(s, name) > after)
    data = s.cli("exec", name, "cat", "/data.txt")  # the read-write layer came along
    assert data.stdout.strip() == "kept", data.stderr


def test_export_holds_image_diff_config_and_digest_and_restores_into_a_new_container(
        stack: Stack, tmp_path: Path) -> None:
    before, exported = _checkpointed(stack, tmp_path)
    image_id = json.loads(stack.cli("inspect", "src").stdout)[0]["Image"]
    with tarfile.open(exported) as tar:
        names = tar.getnames()
        member = tar.extractfile("pyd-checkpoint.json")
        assert member is not None
        manifest = json.loads(member.read())
    assert names[0] == "pyd-checkpoint.json"
    assert {"checkpoint/inventory.img", "checkpoint/rootfs-diff.tar"} <= set(names)
    assert any(n.startswith("checkpoint/pages-") for n in names)
    assert manifest["ImageDigest"] == image_id and manifest["Name"] == "cp1"
    assert manifest["Container"]["Config"]["Cmd"] == ["sh", "-c", COUNTER]

    imported = stack.cli("checkpoint", "import", str(exported))
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == "cp1"
    again = stack.cli("checkpoint", "import", str(exported))
    assert again.returncode != 0 and "already exists" in again.stderr
    listed = stack.cli("checkpoint", "ls", "--format", "{{.Name}} {{.ImageDigest}}")
    assert f"cp1 {image_id}" in listed.stdout.splitlines()

    # The imported checkpoint (NAME) and the container's own (CONTAINER/NAME).
    # (`run` creates and starts: the start restores.)
    for command, name, ref in (("create", "copy1", "cp1"), ("run", "copy2", "src/cp1")):
        detach = ["-d"] if command == "run" else []
        made = stack.cli(command, *detach, "--name", name, "--network", "none",
                         "--from-checkpoint", ref)
        assert made.returncode == 0, made.stderr
        assert json.loads(stack.cli("inspect", name).stdout)[0]["Image"] == image_id
        assert stack.cli("checkpoint", "ls", name).stdout.split() == [
            "CHECKPOINT", "NAME", "cp1"]
    _restores_and_counts_on(stack, "copy1", before)
    _restores_and_counts_on(stack, "copy2", before)
    # Restored once: a later start is a plain one.
    assert stack.cli("stop", "-t", "1", "copy1").returncode == 0
    assert stack.cli("start", "copy1").returncode == 0
    state = json.loads(stack.cli("inspect", "copy1").stdout)[0]["State"]
    assert state["Running"] is True and not state.get("RestoredFrom")
    # A standalone checkpoint is removed by its name alone.
    assert stack.cli("checkpoint", "rm", "cp1").returncode == 0
    assert sorted(stack.cli("checkpoint", "ls", "--format", "{{.Container}}/{{.Name}}"
                            ).stdout.split()) == ["copy1/cp1", "copy2/cp1", "src/cp1"]


def test_checkpoint_moves_to_another_host_as_a_file(tmp_path: Path) -> None:
    with private_stack() as a, private_stack() as b:
        before, exported = _checkpointed(a, tmp_path)
        # One step on B: the file is imported, then the container made from it.
        made = b.cli("create", "--name", "moved", "--network", "none",
                     "--from-checkpoint", str(exported))
        assert made.returncode == 0, made.stderr
        _restores_and_counts_on(b, "moved", before)


def test_a_checkpoint_is_never_restored_onto_another_image(
        stack: Stack, tmp_path: Path) -> None:
    counter_image(tmp_path / "counter.tar")
    assert stack.cli("load", "-i", str(tmp_path / "counter.tar")).returncode == 0
    _before, exported = _checkpointed(stack, tmp_path)
    other = stack.cli("create", "--network", "none", "--from-checkpoint", "src/cp1", "counter")
    assert other.returncode == 125
    assert "different image" in other.stderr and "Traceback" not in other.stderr
    assert stack.cli("create", "--name", "ctr2", "--network", "none", "counter"
                     ).returncode == 0
    attach = stack.cli("checkpoint", "import", "--container", "ctr2", str(exported))
    assert attach.returncode != 0 and "different image" in attach.stderr
    # A --checkpoint-dir may hold another container's checkpoints: refused too.
    src_dir = json.loads(stack.cli("checkpoint", "ls", "src", "--format", "{{json .}}"
                                   ).stdout)["Dir"]
    restore = stack.cli("start", "--checkpoint", "cp1", "--checkpoint-dir", src_dir, "ctr2")
    assert restore.returncode == 125
    assert "different image" in restore.stderr
    assert json.loads(stack.cli("inspect", "ctr2").stdout)[0]["State"]["Running"] is False
    # The same image under another name is the same image.
    assert stack.cli("tag", "busybox", "bb2").returncode == 0
    same = stack.cli("create", "--name", "same", "--network", "none",
                     "--from-checkpoint", "src/cp1", "bb2")
    assert same.returncode == 0, same.stderr
    assert stack.cli("checkpoint", "ls", "same").stdout.split()[-1] == "cp1"
