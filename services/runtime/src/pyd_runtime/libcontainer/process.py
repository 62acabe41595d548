"""The parent side of create/start/run/exec (runc's container_linux.go + process_linux.go).

The parent prepares cgroups, the exec fifo and the sync pipe, forks the stage-1 child
(see init.py), answers its user-namespace request, learns the container's pid and waits
for "ready"; every failure path removes what it made (cgroup directories, state
directory) and kills what it started.
"""

from __future__ import annotations

import os
import time

from pyd_runtime import fastjson, signals
from pyd_runtime.libcontainer import cgroups
from pyd_runtime.libcontainer.container import (
    CREATED,
    PAUSED,
    STATE_VERSION,
    STOPPED,
    Container,
    ContainerError,
    InvalidState,
    proc_start_time,
    remove_state_dir,
    rfc3339nano,
    write_atomic,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from pyd_runtime.libcontainer.init import InitArgs
    from pyd_runtime.specconv import Config, Process


class StartError(ContainerError):
    """The container's process could not be set up."""


def _read_messages(r: int) -> Any:
    """Yield JSON messages from the children until EOF."""
    buf = b""
    while True:
        chunk = os.read(r, 4096)
        if not chunk:
            return
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            yield fastjson.loads(line)


def _spawn(a: InitArgs, sync_r: int, p2c_w: int, userns_maps: tuple[Any, Any] | None,
           on_hooks: Callable[[int], None] | None = None) -> int:
    """Fork stage 1 and drive the handshake; returns the process's host pid once it
    reported ready. Raises StartError with the child's message."""
    from pyd_runtime.libcontainer.init import stage1

    a.preload()
    pid1 = os.fork()
    if pid1 == 0:
        try:
            os.close(sync_r)
            if p2c_w >= 0:
                os.close(p2c_w)
            stage1(a)
        finally:
            os._exit(1)
    os.close(a.sync_w)
    if a.p2c_r >= 0:
        os.close(a.p2c_r)
    pid = 0
    error = None
    ready = False
    hooks_wanted = False
    try:
        for msg in _read_messages(sync_r):
            if "hooks" in msg:
                hooks_wanted = True
            if "userns" in msg:
                assert userns_maps is not None
                from pyd_runtime.libcontainer.namespaces import write_id_maps

                try:
                    write_id_maps(pid1, userns_maps[0], userns_maps[1])
                    os.write(p2c_w, b"1")
                except OSError as e:
                    error = str(e)
                    break
            elif "pid" in msg:
                pid = int(msg["pid"])
            elif "error" in msg:
                error = str(msg["error"])
                break
            elif "ready" in msg:
                ready = True
            if ready and pid:
                # Stage 2 may report ready before stage 1 got to report its pid.
                break
            if hooks_wanted and pid:
                # The child waits before pivot_root for the runtime-side hooks.
                hooks_wanted = False
                try:
                    if on_hooks is not None:
                        on_hooks(pid)
                except Exception as e:
                    error = str(e)
                    os.write(p2c_w, b"0\n")
                    break
                os.write(p2c_w, f"{pid}\n".encode())
    finally:
        os.close(sync_r)
        if p2c_w >= 0:
            os.close(p2c_w)
        _reap(pid1)
    if error is not None or not ready or not pid:
        if pid:
            _kill_quietly(pid)
        raise StartError(f"unable to start container process: {error or 'init exited early'}")
    return pid


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _kill_quietly(pid: int) -> None:
    if pid <= 0:
        return  # never kill(0) or kill(-1)
    try:
        os.kill(pid, signals.SIGKILL)
    except ProcessLookupError:
        pass


def write_pid_file(path: str, pid: int) -> None:
    """runc writes the pid without a newline, through a temporary file."""
    write_atomic(os.path.abspath(path), str(pid).encode(), 0o644)


def create(root: str, container_id: str, cfg: Config, spec: dict[str, Any], *,
           console_socket: str | None = None, pid_file: str | None = None,
           no_pivot: bool = False, preserve_fds: int = 0, debug: bool = False,
           console_fd: int = -1) -> Container:
    """Build the container and leave its process blocked on the exec fifo."""
    cdir = Container.make_dir(root, container_id)
    mgr: cgroups.Manager | None = None
    pid = 0
    fds: list[int] = []
    try:
        fifo = os.path.join(cdir, "exec.fifo")
        os.mkfifo(fifo, 0o622)
        # Writable by the container's user whatever the umask (runc does the same), and
        # owned by the container's root in a user namespace.
        os.chmod(fifo, 0o622)
        root_uid = _host_id(cfg.uid_mappings, 0)
        root_gid = _host_id(cfg.gid_mappings, 0)
        if root_uid or root_gid:
            os.chown(fifo, root_uid, root_gid)
        mgr = cgroups.new_manager(cfg.cgroups_path, container_id)
        mgr.create()
        mgr.set(cfg.resources)
        from pyd_runtime.libcontainer.init import InitArgs

        a = InitArgs(cfg, cfg.process, -1)
        a.cgroup = mgr
        a.cgroup_paths = mgr.paths
        a.fifo_fd = os.open(fifo, os.O_PATH | os.O_CLOEXEC)
        fds.append(a.fifo_fd)
        if console_socket:
            from pyd_runtime.libcontainer import console

            a.console_fd = console.connect(console_socket)
            fds.append(a.console_fd)
        elif console_fd >= 0:
            a.console_fd = console_fd
        a.no_pivot = no_pivot
        a.preserve_fds = preserve_fds
        a.debug = debug
        wants_mnt, mnt_path = cfg.namespace("mount")
        a.setup_rootfs = wants_mnt and not mnt_path
        from pyd_runtime.libcontainer.namespaces import open_paths, unshare_flags

        a.join_fds = open_paths([(t, p) for t, p in cfg.namespaces if p])
        fds += [fd for _, fd in a.join_fds]
        wants_user, user_path = cfg.namespace("user")
        a.new_userns = wants_user and not user_path
        a.unshare = unshare_flags(cfg.namespaces)
        p2c_w = -1
        maps = None
        # _spawn closes the pipes whatever happens.
        sync_r, a.sync_w = os.pipe()
        if a.new_userns or cfg.hooks:
            a.p2c_r, p2c_w = os.pipe()
        if a.new_userns:
            maps = (cfg.uid_mappings, cfg.gid_mappings)
        on_hooks = None
        if cfg.hooks:
            a.hook_state = {"ociVersion": cfg.oci_version, "id": container_id,
                            "status": "creating", "pid": 0, "bundle": cfg.bundle,
                            "annotations": cfg.annotations}

            def on_hooks(host_pid: int) -> None:
                from pyd_runtime.libcontainer import hooks

                assert a.hook_state is not None
                st = dict(a.hook_state, pid=host_pid)
                hooks.run(cfg.hooks.get("prestart", []) + cfg.hooks.get("createRuntime", []),
                          st)
        pid = _spawn(a, sync_r, p2c_w, maps, on_hooks)
        st = proc_start_time(pid)
        if st is None:
            raise StartError("container init exited before it was ready")
        c = Container(root, container_id, _initial_state(container_id, cfg, spec, mgr, pid,
                                                         st[0], no_pivot))
        c.save()
        if pid_file:
            write_pid_file(pid_file, pid)
        return c
    except BaseException:
        if pid:
            _kill_quietly(pid)
        if mgr is not None:
            _destroy_cgroups(mgr)
        remove_state_dir(cdir)
        raise
    finally:
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass


def _host_id(maps: list[tuple[int, int, int]], cid: int) -> int:
    """The host id a container id maps to (itself without a mapping)."""
    for c, h, size in maps:
        if c <= cid < c + size:
            return h + cid - c
    return cid


def _destroy_cgroups(mgr: cgroups.Manager) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        pids = mgr.pids()
        if not pids:
            break
        for p in pids:
            _kill_quietly(p)
        time.sleep(0.005)
    mgr.destroy(all_created=True)


def _initial_state(container_id: str, cfg: Config, spec: dict[str, Any],
                   mgr: cgroups.Manager, pid: int, start: int,
                   no_pivot: bool) -> dict[str, Any]:
    from pyd_runtime.specconv import NAMESPACE_FILES

    ns_paths = {t: (p or f"/proc/{pid}/ns/{NAMESPACE_FILES[t]}") for t, p in cfg.namespaces}
    fds = []
    for i in range(3):
        try:
            fds.append(os.readlink(f"/proc/{pid}/fd/{i}"))
        except OSError:
            fds.append("/dev/null")
    return {
        "version": STATE_VERSION,
        "id": container_id,
        "ociVersion": cfg.oci_version,
        "bundle": cfg.bundle,
        "rootfs": cfg.rootfs,
        "created": rfc3339nano(time.time_ns()),
        "owner": "",
        "init_process_pid": pid,
        "init_process_start": start,
        "cgroup_version": mgr.version,
        "cgroup_paths": mgr.paths,
        "namespace_paths": ns_paths,
        "external_descriptors": fds,
        "annotations": cfg.annotations,
        "no_pivot": no_pivot,
        "config": spec,
    }


def start(c: Container) -> None:
    """Release a created container's process: open the exec fifo for reading."""
    status = c.status()
    if status == STOPPED:
        raise InvalidState("cannot start a container that has stopped")
    if status != CREATED:
        raise InvalidState("cannot start an already running container")
    import select

    try:
        fd = os.open(c.fifo_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InvalidState("cannot start an already running container") from None
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while True:
            if poller.poll(100):
                data = os.read(fd, 1)
                if data:
                    break
                raise StartError("container init exited before exec")
            if not c.init_alive():
                raise StartError("container process is already dead")
    finally:
        os.close(fd)
    try:
        os.unlink(c.fifo_path)
    except FileNotFoundError:
        pass
    spec_hooks = (c.state.get("config") or {}).get("hooks")
    if spec_hooks and spec_hooks.get("poststart"):
        from pyd_runtime.libcontainer import hooks
        from pyd_runtime.specconv import parse_hooks

        # The process was just released: report it running even if it has already
        # exited (a fast program may be gone before the hook starts).
        st = dict(c.oci_state(), status="running", pid=c.pid)
        try:
            hooks.run(parse_hooks(spec_hooks).get("poststart", []), st)
        except hooks.HookError:
            # runc stops the container when a poststart hook fails.
            _kill_quietly(c.pid)
            raise


def exit_code(status: int) -> int:
    """A wait status as a shell would report it (128+signal when killed)."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


FORWARDED = (signals.SIGHUP, signals.SIGINT, signals.SIGQUIT, signals.SIGTERM,
             signals.SIGUSR1, signals.SIGUSR2, signals.SIGWINCH, signals.SIGCONT,
             signals.SIGALRM)


def wait_forwarding(pid: int, *, resize_only: bool = False) -> int:
    """Wait for ``pid`` (a child through the subreaper bit), forwarding signals to it and
    reaping any other orphan; returns its exit code. ``resize_only``: SIGWINCH resizes
    our pty proxy instead of being forwarded."""
    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for s in FORWARDED:
        if s == signals.SIGWINCH and resize_only:
            continue
        signals.handle(s, forward)
    while True:
        try:
            wpid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 255
        if wpid == pid:
            return exit_code(status)


def set_subreaper() -> None:
    """Become the reaper of our orphans so the container's process is waitable."""
    from pyd_runtime.libcontainer import syscalls as sc

    sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)


def exec_process(c: Container, proc: Process, cfg: Config, *,
                 console_socket: str | None = None, pid_file: str | None = None,
                 preserve_fds: int = 0, debug: bool = False, console_fd: int = -1) -> int:
    """Start ``proc`` inside the running container; returns its host pid."""
    status = c.status()
    if status == STOPPED:
        raise InvalidState("cannot exec in a stopped container")
    if status == PAUSED:
        raise InvalidState("cannot exec in a paused container")
    from pyd_runtime.libcontainer.namespaces import container_paths, open_paths

    sync_r, sync_w = os.pipe()
    from pyd_runtime.libcontainer.init import InitArgs

    a = InitArgs(cfg, proc, sync_w)
    a.is_exec = True
    a.setup_rootfs = False
    a.debug = debug
    a.preserve_fds = preserve_fds
    if c.state.get("cgroup_paths"):
        a.cgroup = c.cgroup_manager()
    kinds = [t for t, _ in cfg.namespaces]
    a.join_fds = open_paths(container_paths(c.pid, kinds))
    own_console = False
    try:
        if console_socket:
            from pyd_runtime.libcontainer import console

            a.console_fd = console.connect(console_socket)
            own_console = True
        elif console_fd >= 0:
            a.console_fd = console_fd
        pid = _spawn(a, sync_r, -1, None)
    finally:
        for _, fd in a.join_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        if own_console:
            os.close(a.console_fd)
    if pid_file:
        write_pid_file(pid_file, pid)
    return pid
