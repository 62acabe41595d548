"""Unit tests of pyd-runc's core that need no root: spec conversion, state and status
rules, output formats, argument parsing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from pyd_runtime import main as runc_main
from pyd_runtime.cli.kill import parse_signal
from pyd_runtime.cli.list import tabulate
from pyd_runtime.cli.ps import filter_table
from pyd_runtime.cli.spec import DEFAULT_SPEC
from pyd_runtime.cli.update import merge, ram_in_bytes
from pyd_runtime.libcontainer import cgroups
from pyd_runtime.libcontainer import syscalls as sc
from pyd_runtime.libcontainer.cgroups.v2 import shares_to_weight
from pyd_runtime.libcontainer.container import (
    CREATED,
    PAUSED,
    RUNNING,
    STOPPED,
    AlreadyExists,
    Container,
    ContainerError,
    NotExist,
    proc_start_time,
    rfc3339nano,
    validate_id,
)
from pyd_runtime.libcontainer.rootfs import secure_join
from pyd_runtime.specconv import (
    ConfigError,
    load_spec,
    parse_mount_options,
    parse_process,
    spec_to_config,
)


def _bundle(tmp_path, **changes):
    spec = json.loads(json.dumps(DEFAULT_SPEC))
    spec["process"]["terminal"] = False
    for k, v in changes.items():
        spec[k] = v
    (tmp_path / "rootfs").mkdir(exist_ok=True)
    (tmp_path / "config.json").write_text(json.dumps(spec))
    return spec


# -- specconv ---------------------------------------------------------------------

def test_default_spec_converts(tmp_path):
    spec = _bundle(tmp_path)
    cfg = spec_to_config(spec, str(tmp_path))
    assert cfg.rootfs == str(tmp_path / "rootfs")
    assert cfg.root_readonly is True
    assert cfg.hostname == "runc"
    assert [t for t, _ in cfg.namespaces] == ["pid", "network", "ipc", "uts", "mount"]
    assert cfg.process.args == ["sh"]
    assert cfg.process.no_new_privileges is True
    assert cfg.process.rlimits == [(7, 1024, 1024)]
    assert cfg.process.bounding == (1 << 29) | (1 << 5) | (1 << 10)
    assert "/proc/kcore" in cfg.masked_paths
    assert "/proc/sys" in cfg.readonly_paths
    # the spec's deny-all, then runc's default allowed devices
    assert cfg.resources.devices[0] == (False, "a", -1, -1, "rwm")
    assert (True, "c", 1, 3, "rwm") in cfg.resources.devices


def test_mount_options_split_into_flags_propagation_and_data():
    flags, prop, data = parse_mount_options(
        ["nosuid", "noexec", "rbind", "ro", "rslave", "mode=755", "size=65536k"])
    assert flags == sc.MS_NOSUID | sc.MS_NOEXEC | sc.MS_BIND | sc.MS_REC | sc.MS_RDONLY
    assert prop == [sc.MS_SLAVE | sc.MS_REC]
    assert data == "mode=755,size=65536k"
    flags, _, _ = parse_mount_options(["ro", "rw", "nosuid", "suid"])
    assert flags == 0


def test_missing_config_json_has_runcs_message(tmp_path):
    with pytest.raises(ConfigError, match=r"JSON specification file config\.json not found"):
        load_spec(str(tmp_path))


def test_malformed_config_json_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text("{bad")
    with pytest.raises(ConfigError, match=r"config\.json: invalid JSON"):
        load_spec(str(tmp_path))


@pytest.mark.parametrize(("change", "message"), [
    ({"ociVersion": ""}, "ociVersion"),
    ({"root": {"path": "nope"}}, r"rootfs \(.*nope\) does not exist"),
    ({"process": None}, "process must be set"),
    ({"process": {"args": [], "cwd": "/"}}, "args must not be empty"),
    ({"process": {"args": ["sh"], "cwd": "rel"}}, "must be an absolute path"),
    ({"mounts": [{"destination": "rel", "type": "tmpfs"}]}, "must be an absolute path"),
    ({"linux": {"namespaces": [{"type": "bogus"}]}}, "not supported"),
    ({"linux": {"namespaces": [{"type": "pid"}, {"type": "pid"}]}}, "duplicate namespace"),
    ({"linux": {"namespaces": [{"type": "user"}]}}, "no uid/gid mappings"),
    ({"hostname": "x", "linux": {"namespaces": [{"type": "mount"}]}}, "UTS namespace"),
    ({"linux": {"rootfsPropagation": "weird"}}, "rootfsPropagation"),
])
def test_invalid_specs_name_the_field(tmp_path, change, message):
    spec = _bundle(tmp_path)
    spec.update(change)
    if "linux" in change and "hostname" not in change:
        spec["hostname"] = ""
    with pytest.raises(ConfigError, match=message):
        spec_to_config(spec, str(tmp_path))


def test_unknown_capability_and_rlimit_are_rejected():
    with pytest.raises(ConfigError, match="unknown capability"):
        parse_process({"args": ["sh"], "capabilities": {"bounding": ["CAP_NOPE"]}})
    with pytest.raises(ConfigError, match="rlimit"):
        parse_process({"args": ["sh"], "rlimits": [{"type": "RLIMIT_NOPE"}]})


def test_resources_are_parsed(tmp_path):
    spec = _bundle(tmp_path)
    spec["linux"]["resources"] = {
        "memory": {"limit": 1 << 20, "swap": 2 << 20}, "cpu": {"shares": 512, "quota": 5000,
                                                               "period": 10000, "cpus": "0"},
        "pids": {"limit": 10}}
    r = spec_to_config(spec, str(tmp_path)).resources
    assert (r.memory_limit, r.memory_swap, r.cpu_shares, r.cpu_quota, r.cpu_period,
            r.cpuset_cpus, r.pids_limit) == (1 << 20, 2 << 20, 512, 5000, 10000, "0", 10)


# -- cgroup paths -----------------------------------------------------------------

def test_cgroups_path_relative_absolute_and_empty():
    assert cgroups.resolve_path("", "c1") == "/pyd/c1"
    assert cgroups.resolve_path("/a/b", "c1") == "/a/b"
    assert cgroups.resolve_path("a/b", "c1") == "/pyd/a/b"
    assert cgroups.resolve_path("system.slice:pyd:c1", "c1") == "/system.slice/pyd-c1"


def test_v2_weight_conversion_matches_runc():
    assert shares_to_weight(2) == 1
    assert shares_to_weight(1024) == 39
    assert shares_to_weight(262144) == 10000


# -- state and status ---------------------------------------------------------------

def _container(tmp_path, pid, start=None, **extra):
    d = Container.make_dir(str(tmp_path), "c1")
    st = {"id": "c1", "init_process_pid": pid, "ociVersion": "1.0.2-dev",
          "bundle": "/b", "rootfs": "/b/rootfs", "created": "2026-01-01T00:00:00Z",
          "init_process_start": start, **extra}
    c = Container(str(tmp_path), "c1", st)
    c.save()
    assert os.path.isdir(d)
    return c


def test_status_follows_runcs_rules(tmp_path):
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        start = proc_start_time(p.pid)[0]
        c = _container(tmp_path, p.pid, start)
        assert c.status() == RUNNING
        open(c.fifo_path, "w").close()
        assert c.status() == CREATED
        os.unlink(c.fifo_path)
        # A reused pid (other start time) is not our container.
        c.state["init_process_start"] = start + 1
        assert c.status() == STOPPED
        c.state["init_process_start"] = start
    finally:
        p.kill()
        p.wait()
    assert c.status() == STOPPED
    assert c.oci_state()["pid"] == 0


def test_zombie_init_counts_as_stopped(tmp_path):
    p = subprocess.Popen(["true"])
    time.sleep(0.2)  # exited, not reaped: a zombie
    try:
        c = _container(tmp_path, p.pid, proc_start_time(p.pid)[0])
        assert c.status() == STOPPED
    finally:
        p.wait()


def test_paused_when_the_freezer_says_so(tmp_path):
    frz = tmp_path / "frz"
    frz.mkdir()
    (frz / "freezer.state").write_text("FROZEN\n")
    c = _container(tmp_path, os.getpid(), proc_start_time(os.getpid())[0],
                   cgroup_version=1, cgroup_paths={"freezer": str(frz)})
    assert c.status() == PAUSED


def test_state_json_has_runcs_keys_in_order(tmp_path):
    c = _container(tmp_path, 0, annotations={"a": "b"})
    assert list(c.oci_state()) == ["ociVersion", "id", "pid", "status", "bundle", "rootfs",
                                   "created", "owner", "annotations"]


def test_load_unknown_and_duplicate_ids(tmp_path):
    with pytest.raises(NotExist, match="container does not exist"):
        Container.load(str(tmp_path), "nope")
    Container.make_dir(str(tmp_path), "dup")
    with pytest.raises(AlreadyExists, match="container with given ID already exists"):
        Container.make_dir(str(tmp_path), "dup")


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "a b", "é"])
def test_invalid_ids_are_refused(bad):
    with pytest.raises(ContainerError, match="invalid container ID format"):
        validate_id(bad)


def test_created_time_is_go_rfc3339nano():
    assert rfc3339nano(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456789Z"
    assert rfc3339nano(1_700_000_000_120_000_000) == "2023-11-14T22:13:20.12Z"
    assert rfc3339nano(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"


# -- command helpers ---------------------------------------------------------------

@pytest.mark.parametrize(("raw", "num"), [("KILL", 9), ("SIGKILL", 9), ("kill", 9), ("9", 9),
                                          ("TERM", 15), ("SIGUSR1", signal.SIGUSR1)])
def test_signal_names_and_numbers(raw, num):
    assert parse_signal(raw) == num


def test_unknown_signal_is_refused():
    with pytest.raises(ValueError, match="unknown signal"):
        parse_signal("NOPE")


def test_list_table_is_laid_out_like_runcs_tabwriter():
    out = tabulate([["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
                    ["x1", "9635", "created", "/tmp/rb", "2026-11-24T04:35:35.993428162Z",
                     "root"]])
    assert out == (
        "ID          PID         STATUS      BUNDLE      CREATED                          OWNER\n"
        "x1          9635        created     /tmp/rb     2026-11-24T04:35:35.993428162Z   root\n")


def test_ps_table_keeps_header_and_container_pids():
    table = "UID PID PPID CMD\nroot 1 0 init\nroot 42 1 sleep\n"
    assert filter_table(table, {42}) == "UID PID PPID CMD\nroot 42 1 sleep\n"


@pytest.mark.parametrize(("s", "n"), [("1024", 1024), ("512m", 512 << 20), ("1g", 1 << 30),
                                      ("1GiB", 1 << 30), ("64k", 64 << 10), ("-1", -1)])
def test_update_sizes_parse_like_go_units(s, n):
    assert ram_in_bytes(s) == n


def test_update_merges_file_then_flags(tmp_path):
    f = tmp_path / "r.json"
    f.write_text(json.dumps({"memory": {"limit": 100}, "pids": {"limit": 5}}))

    class A:
        resources = str(f)
        memory = "1m"
        memory_swap = memory_reservation = cpu_shares = cpu_quota = cpu_period = ""
        cpuset_cpus = cpuset_mems = ""
        pids_limit = ""

    res = merge({"cpu": {"shares": 2}}, A())  # type: ignore[arg-type]
    assert res["memory"]["limit"] == 1 << 20
    assert res["pids"]["limit"] == 5
    assert res["cpu"]["shares"] == 2


def test_secure_join_keeps_symlinks_inside_the_root(tmp_path):
    (tmp_path / "etc").mkdir()
    os.symlink("/etc", tmp_path / "link")
    os.symlink("../../../../outside", tmp_path / "up")
    assert secure_join(str(tmp_path), "/link/x") == str(tmp_path / "etc" / "x")
    assert secure_join(str(tmp_path), "/up") == str(tmp_path / "outside")
    assert secure_join(str(tmp_path), "/../../a") == str(tmp_path / "a")


def test_global_flags_are_split_from_the_command():
    assert runc_main._split(["--root", "/r", "--debug", "state", "x"]) == (
        ["--root", "/r", "--debug"], "state", ["x"])
    assert runc_main._split(["--log=/l", "kill", "x", "KILL"]) == (["--log=/l"], "kill",
                                                                   ["x", "KILL"])


def test_unknown_container_gives_runcs_message_and_status(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        runc_main.main(["--root", str(tmp_path), "state", "nope"])
    assert e.value.code == 1
    assert 'msg="container does not exist"' in capsys.readouterr().err


def test_log_file_gets_json_and_stderr_gets_the_message(tmp_path, capsys):
    log = tmp_path / "log.json"
    with pytest.raises(SystemExit):
        runc_main.main(["--root", str(tmp_path), "--log", str(log), "--log-format", "json",
                        "kill", "nope"])
    rec = json.loads(log.read_text().splitlines()[-1])
    assert rec["level"] == "error" and rec["msg"] == "container does not exist"
    assert capsys.readouterr().err.strip() == "container does not exist"


def test_spec_writes_runcs_default_config(tmp_path):
    assert runc_main.main(["spec", "--bundle", str(tmp_path)]) == 0
    text = (tmp_path / "config.json").read_text()
    assert json.loads(text) == DEFAULT_SPEC
    assert text.startswith('{\n\t"ociVersion": "1.0.2-dev",')


# -- fastjson ----------------------------------------------------------------------

@pytest.mark.parametrize("doc", [
    {"a": [1, 2.5, {"b": None, "c": True}], "é": 'x"y\n', "e": {}, "f": []},
    [], "s", 0, -1.5e10, DEFAULT_SPEC])
def test_fastjson_matches_the_json_module(doc):
    from pyd_runtime import fastjson

    assert fastjson.dumps(doc) == json.dumps(doc, separators=(",", ":"))
    assert fastjson.dumps_spaced(doc) == json.dumps(doc)
    assert fastjson.dumps_indent(doc) == json.dumps(doc, indent=2)
    assert fastjson.loads(json.dumps(doc, indent=1)) == doc
    assert fastjson.loads(json.dumps(doc).encode()) == doc


@pytest.mark.parametrize("bad", ["{bad", "", "{} x", "[1,]", "{'a': 1}"])
def test_fastjson_errors_are_jsons_errors(bad):
    from pyd_runtime import fastjson

    with pytest.raises(ValueError) as mine:
        fastjson.loads(bad)
    with pytest.raises(ValueError) as theirs:
        json.loads(bad)
    assert str(mine.value) == str(theirs.value)


def test_hot_path_modules_do_not_import_re_or_json():
    code = ("import sys; import pyd_runtime.main, pyd_runtime.cli.run, "
            "pyd_runtime.libcontainer.process, pyd_runtime.cli.state, pyd_runtime.cli.kill, "
            "pyd_runtime.cli.delete, pyd_runtime.cli.create, pyd_runtime.cli.start; "
            "print(sorted(m for m in ('re', 'json', 'enum', 'argparse', 'signal', 'typing') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
