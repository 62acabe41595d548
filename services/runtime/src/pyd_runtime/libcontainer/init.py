"""The child side of create/run/exec (runc's nsexec.c + init_linux.go).

pyd-runc does not re-exec itself for ``init``: the parent forks, and the children run
this module's code in the already-loaded interpreter (see README, "How a container
starts"). Two children, as in runc's nsexec:

stage 1  joins the cgroups, sets oom_score_adj and rlimits, joins namespaces given by
         path, makes the user namespace (the parent writes its id maps), unshares the
         rest, forks stage 2, reports stage 2's pid and exits.
stage 2  the container's process (pid 1 of a new pid namespace): mounts, pivot_root,
         console, hostname, sysctl, masked/read-only paths, no_new_privs,
         seccomp, capabilities and user, then reports "ready", waits on the exec fifo
         (create) and execs the user's program.

Messages to the parent are JSON lines on one pipe: {"userns": 1}, {"pid": N},
{"hooks": 1}, {"ready": 1}, {"error": "..."}; the parent answers userns and hooks on a
second pipe.
"""

from __future__ import annotations

import errno
import os
import resource
import sys

from pyd_runtime import fastjson, signals
from pyd_runtime.libcontainer import capabilities as caps
from pyd_runtime.libcontainer import rootfs
from pyd_runtime.libcontainer import syscalls as sc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyd_runtime.libcontainer.cgroups import Manager
    from pyd_runtime.specconv import Config, Process


class InitArgs:
    """What the children need, prepared by the parent before fork."""

    __slots__ = (
        "cfg",
        "cgroup",
        "cgroup_paths",
        "console_fd",
        "debug",
        "fifo_fd",
        "hook_state",
        "is_exec",
        "join_fds",
        "new_userns",
        "no_pivot",
        "p2c_r",
        "preserve_fds",
        "process",
        "seccomp",
        "setup_rootfs",
        "sync_w",
        "unshare",
    )

    def __init__(self, cfg: Config, process: Process, sync_w: int) -> None:
        self.cfg = cfg
        self.process = process
        self.sync_w = sync_w
        self.p2c_r = -1
        self.fifo_fd = -1
        self.console_fd = -1
        self.cgroup: Manager | None = None
        self.cgroup_paths: dict[str, str] = {}
        self.join_fds: list[tuple[str, int]] = []
        self.new_userns = False
        self.unshare = 0
        self.no_pivot = False
        self.preserve_fds = 0
        self.setup_rootfs = True
        self.is_exec = False
        self.debug = False
        # A built pyseccomp filter: made before fork, as libseccomp and the module
        # cannot be found once the child has pivoted into the container's root.
        self.seccomp: Any = None
        # The state hooks get on stdin (pid filled in once known); None: no hooks to run
        # from the children.
        self.hook_state: dict[str, Any] | None = None

    def preload(self) -> None:
        """Import, before fork, every module the children use after pivot_root (the
        host's sys.path is gone then) and build the seccomp filter."""
        if self.join_fds:
            from pyd_runtime.libcontainer import namespaces

            del namespaces
        if self.process.terminal:
            import fcntl
            import socket
            import termios

            from pyd_runtime.libcontainer import console

            del fcntl, socket, termios, console
        if self.debug:
            import traceback

            del traceback
        if self.hook_state is not None:
            import subprocess

            from pyd_runtime.libcontainer import hooks

            del subprocess, hooks
        if self.cfg.seccomp:
            from pyd_runtime.libcontainer import seccomp

            self.seccomp = seccomp.build(self.cfg.seccomp)


def send(fd: int, msg: dict[str, object]) -> None:
    """One JSON line to the parent (atomic: well under PIPE_BUF)."""
    os.write(fd, fastjson.dumps(msg).encode() + b"\n")


def _fail(a: InitArgs, e: BaseException) -> None:
    msg = str(e) if not isinstance(e, OSError) or e.strerror is None else _oserror_text(e)
    if a.debug:
        import traceback

        msg += "\n" + "".join(traceback.format_exception(e))
    try:
        send(a.sync_w, {"error": msg})
    except OSError:
        # After "ready" the parent no longer listens: the container's stderr is all
        # that is left.
        try:
            os.write(2, f"pyd-runc init: {msg}\n".encode())
        except OSError:
            pass


def _oserror_text(e: OSError) -> str:
    text = e.strerror or str(e)
    if e.filename is not None and str(e.filename) not in text:
        text = f"{text}: {e.filename}"
    return text


def stage1(a: InitArgs) -> None:
    """Runs in the first child; never returns."""
    code = 1
    try:
        if a.cgroup is not None:
            a.cgroup.apply(0)
        if a.process.oom_score_adj is not None:
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write(str(a.process.oom_score_adj))
        # Limits are set here, still in the runtime's user namespace: raising a hard
        # limit needs CAP_SYS_RESOURCE there (runc sets them from the parent).
        for res, soft, hard in a.process.rlimits:
            resource.setrlimit(res, (soft, hard))
        user = [(t, fd) for t, fd in a.join_fds if t == "user"]
        rest = [(t, fd) for t, fd in a.join_fds if t != "user"]
        if user:
            from pyd_runtime.libcontainer.namespaces import join

            join(user)
        if a.new_userns:
            sc.unshare(sc.CLONE_NEWUSER)
            send(a.sync_w, {"userns": 1})
            if os.read(a.p2c_r, 1) != b"1":
                raise OSError("the parent did not write the user namespace maps")
        if user or a.new_userns:
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        if rest:
            from pyd_runtime.libcontainer.namespaces import join

            join(rest)
        if a.unshare:
            sc.unshare(a.unshare)
        pid = os.fork()
        if pid == 0:
            stage2(a)
        send(a.sync_w, {"pid": pid})
        code = 0
    except BaseException as e:
        _fail(a, e)
    os._exit(code)


def _lookpath(name: str, env_path: str) -> str:
    """exec.LookPath: a name with a slash as is, else the first executable on PATH."""
    if "/" in name:
        if os.path.isfile(name) and os.access(name, os.X_OK):
            return name
        if not os.path.exists(name):
            raise OSError(errno.ENOENT, f'exec: "{name}": stat {name}: no such file or '
                                        'directory')
        raise OSError(errno.EACCES, f'exec: "{name}": permission denied')
    for d in env_path.split(":"):
        p = os.path.join(d or ".", name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    raise OSError(errno.ENOENT, f'exec: "{name}": executable file not found in $PATH')


def _home(uid: int) -> str:
    try:
        with open("/etc/passwd") as f:
            for line in f:
                parts = line.rstrip("\n").split(":")
                if len(parts) >= 6 and parts[2] == str(uid):
                    return parts[5] or "/"
    except OSError:
        pass
    return "/"


def _finalize_namespace(p: Process, in_userns: bool) -> None:
    """Capabilities, user and groups, cwd (runc's finalizeNamespace)."""
    cwd_done = False
    try:
        os.chdir(p.cwd)
        cwd_done = True
    except OSError:
        pass
    if p.has_caps:
        caps.drop_bounding(p.bounding)
    sc.prctl(sc.PR_SET_KEEPCAPS, 1)
    if not in_userns or _setgroups_allowed():
        os.setgroups(p.user.additional_gids)
    os.setresgid(p.user.gid, p.user.gid, p.user.gid)
    os.setresuid(p.user.uid, p.user.uid, p.user.uid)
    sc.prctl(sc.PR_SET_KEEPCAPS, 0)
    if p.has_caps:
        caps.set_caps(p.effective, p.permitted, p.inheritable, p.ambient)
    if p.user.umask is not None:
        os.umask(p.user.umask)
    if not cwd_done:
        try:
            os.chdir(p.cwd)
        except OSError as e:
            raise OSError(e.errno, f"chdir to cwd ({p.cwd!r}) set in config.json failed: "
                                   f"{e.strerror}") from None


def _env_dict(env: list[str]) -> dict[str, str]:
    out = {}
    for e in env:
        k, _, v = e.partition("=")
        out[k] = v
    return out


def _setgroups_allowed() -> bool:
    try:
        with open("/proc/self/setgroups") as f:
            return f.read().strip() == "allow"
    except OSError:
        return True


def _create_hooks(a: InitArgs) -> None:
    """Ask the parent to run prestart/createRuntime hooks (it answers with our host pid,
    or 0 when a hook failed), then run createContainer hooks in our namespaces."""
    assert a.hook_state is not None
    send(a.sync_w, {"hooks": 1})
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = os.read(a.p2c_r, 64)
        if not chunk:
            break
        buf += chunk
    pid = int(buf or b"0")
    if pid <= 0:
        os._exit(1)  # the parent reports the hook's error
    a.hook_state["pid"] = pid
    from pyd_runtime.libcontainer import hooks

    hooks.run(a.cfg.hooks.get("createContainer", []), a.hook_state)


def stage2(a: InitArgs) -> None:
    """Runs in the container's process; execs the user's program or exits."""
    try:
        _stage2(a)
    except BaseException as e:
        _fail(a, e)
    os._exit(1)


def _stage2(a: InitArgs) -> None:
    cfg, p = a.cfg, a.process
    os.setsid()
    if a.setup_rootfs:
        rootfs.prepare(cfg, no_pivot=a.no_pivot, cgroup_paths=a.cgroup_paths,
                       before_pivot=(lambda: _create_hooks(a)) if a.hook_state else None)
    elif a.hook_state is not None:
        _create_hooks(a)
    if p.terminal:
        if a.console_fd < 0:
            raise OSError("cannot allocate tty if runc will detach without setting "
                          "console socket")
        from pyd_runtime.libcontainer import console

        console.setup(a.console_fd, None)
    if not a.is_exec:
        if cfg.hostname:
            sc.sethostname(cfg.hostname)
        if cfg.domainname:
            sc.setdomainname(cfg.domainname)
        for k, v in cfg.sysctl.items():
            with open("/proc/sys/" + k.replace(".", "/"), "w") as f:
                f.write(v)
        if a.setup_rootfs:
            for path in cfg.readonly_paths:
                rootfs.readonly_path(path)
            for path in cfg.masked_paths:
                rootfs.mask_path(path)
            if cfg.root_readonly:
                rootfs.set_root_readonly()
    if p.no_new_privileges:
        sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
    if a.seccomp is not None and not p.no_new_privileges:
        # Without no_new_privs loading a filter needs CAP_SYS_ADMIN: do it before the drop.
        a.seccomp.load()
    in_userns = a.new_userns or any(t == "user" for t, _ in a.join_fds)
    _finalize_namespace(p, in_userns)
    env = list(p.env)
    if p.getenv("HOME") is None:
        env.append("HOME=" + _home(p.user.uid))
    path = _lookpath(p.args[0], p.getenv("PATH") or "")
    for fd in range(3, 3 + a.preserve_fds):
        try:
            os.set_inheritable(fd, True)
        except OSError:
            pass
    # Python ignores these; the user's program must start with default dispositions.
    for sig in (signals.SIGPIPE, signals.SIGXFSZ, signals.SIGINT):
        signals.default(sig)
    send(a.sync_w, {"ready": 1})
    os.close(a.sync_w)
    if a.fifo_fd >= 0:
        # A change of credentials made us non-dumpable, which hides /proc/self/fd from
        # us; exec resets the flag.
        sc.prctl(sc.PR_SET_DUMPABLE, 1)
        # Blocks until `start` opens the fifo for reading.
        fd = os.open(f"/proc/self/fd/{a.fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
        os.write(fd, b"0")
        os.close(fd)
        os.close(a.fifo_fd)
    if a.hook_state is not None and cfg.hooks.get("startContainer"):
        from pyd_runtime.libcontainer import hooks

        hooks.run(cfg.hooks["startContainer"], a.hook_state)
    if a.seccomp is not None and p.no_new_privileges:
        a.seccomp.load()
    try:
        os.execve(path, p.args, _env_dict(env))
    except OSError as e:
        sys.stderr.write(f"exec {p.args[0]}: {e.strerror}\n")
        os._exit(127 if e.errno == errno.ENOENT else 126)
