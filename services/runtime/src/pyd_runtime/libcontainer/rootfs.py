"""The container's filesystem: the spec's mounts, default devices, pivot_root, masked and
read-only paths (runc's rootfs_linux.go). Runs in the child, in its new mount namespace.
"""

from __future__ import annotations

import errno
import os
import stat

from pyd_runtime.libcontainer import syscalls as sc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from pyd_runtime.specconv import Config, Mount

# (name, major, minor): the devices every container gets (runc's DefaultSimpleDevices).
DEFAULT_DEVICES = (
    ("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9),
    ("tty", 5, 0),
)
DEV_SYMLINKS = (
    ("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"), ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"),
)


def secure_join(root: str, unsafe: str) -> str:
    """Join ``unsafe`` under ``root`` resolving symlinks as if ``root`` were ``/`` (so a
    symlink in the image cannot point a mount outside the rootfs)."""
    parts = [p for p in unsafe.split("/") if p and p != "."]
    resolved: list[str] = []
    links = 0
    while parts:
        p = parts.pop(0)
        if p == "..":
            if resolved:
                resolved.pop()
            continue
        cur = os.path.join(root, *resolved, p)
        try:
            target = os.readlink(cur)
        except OSError:
            resolved.append(p)
            continue
        links += 1
        if links > 255:
            raise OSError(errno.ELOOP, f"too many symlinks resolving {unsafe}")
        if target.startswith("/"):
            resolved = []
        parts = [t for t in target.split("/") if t and t != "."] + parts
    return os.path.join(root, *resolved)


def _mkdir_all(path: str) -> None:
    os.makedirs(path, 0o755, exist_ok=True)


def _touch(path: str) -> None:
    _mkdir_all(os.path.dirname(path))
    if not os.path.exists(path):
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o755))


def _vfs_flags(path: str) -> int:
    """The mount flags of the mount holding ``path`` that a remount must keep."""
    f = os.statvfs(path).f_flag
    keep = f & (sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | sc.MS_RDONLY | sc.MS_NOATIME |
                sc.MS_NODIRATIME)
    if f & 4096:  # ST_RELATIME
        keep |= sc.MS_RELATIME
    return keep


def _bind(m: Mount, dest: str) -> None:
    src = m.source
    if not os.path.exists(src):
        raise OSError(errno.ENOENT, f"bind mount source {src}: no such file or directory")
    if os.path.isdir(src):
        _mkdir_all(dest)
    else:
        _touch(dest)
    sc.mount(src, dest, "bind", sc.MS_BIND | (m.flags & sc.MS_REC))
    extra = m.flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
    if extra:
        # A bind mount takes its flags only on a remount; keep what is locked.
        sc.mount(src, dest, "bind", extra | _vfs_flags(dest) & ~sc.MS_RDONLY |
                 sc.MS_BIND | sc.MS_REMOUNT | (m.flags & sc.MS_REC))


def _mount_cgroup(m: Mount, dest: str, cfg: Config, cgroup_paths: dict[str, str]) -> None:
    from pyd_runtime.libcontainer import cgroups

    own_ns = cfg.namespace("cgroup") == (True, "")
    _mkdir_all(dest)
    if cgroups.is_unified():
        if own_ns:
            sc.mount("cgroup", dest, "cgroup2", m.flags, m.data or None)
        else:
            sc.mount(cgroup_paths.get("", cgroups.CGROUP_ROOT), dest, "bind",
                     sc.MS_BIND | sc.MS_REC)
            if m.flags & sc.MS_RDONLY:
                sc.mount(None, dest, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY |
                         (m.flags & (sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)))
        return
    # v1: a tmpfs with one directory per hierarchy, as runc builds it.
    base = m.flags & (sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
    sc.mount("tmpfs", dest, "tmpfs", base, "mode=755")
    v1, v2 = cgroups.mounts()
    for key, mp in v1.items():
        name = os.path.basename(mp)
        sub = os.path.join(dest, name)
        _mkdir_all(sub)
        if own_ns:
            opts = key if not key.startswith("name=") else f"none,{key}"
            sc.mount("cgroup", sub, "cgroup", m.flags & ~sc.MS_REC, opts)
        else:
            src = cgroup_paths.get(key, mp)
            sc.mount(src, sub, "bind", sc.MS_BIND | sc.MS_REC)
            sc.mount(None, sub, None, sc.MS_BIND | sc.MS_REMOUNT | base |
                     (m.flags & sc.MS_RDONLY))
        if "," in key:
            for c in key.split(","):
                link = os.path.join(dest, c)
                if c != name and not os.path.lexists(link):
                    os.symlink(name, link)
    # As runc 1.1: the hybrid v2 mount is not shown, and the tmpfs itself stays writable
    # (each hierarchy below it is read-only when the spec says ro).
    del v2


def mount_one(m: Mount, rootfs: str, cfg: Config, cgroup_paths: dict[str, str]) -> None:
    """Mount one spec entry under ``rootfs``, then apply its propagation flags."""
    dest = secure_join(rootfs, m.destination)
    if m.is_bind:
        _bind(m, dest)
    elif m.type == "cgroup":
        _mount_cgroup(m, dest, cfg, cgroup_paths)
    else:
        _mkdir_all(dest)
        if m.type == "tmpfs" and m.flags & sc.MS_RDONLY:
            # Mount writable so the directory can be filled, then make it read-only.
            sc.mount(m.source or "tmpfs", dest, "tmpfs", m.flags & ~sc.MS_RDONLY,
                     m.data or None)
            sc.mount(m.source or "tmpfs", dest, "tmpfs",
                     m.flags | sc.MS_REMOUNT, m.data or None)
        elif m.type == "mqueue":
            try:
                sc.mount(m.source or "mqueue", dest, "mqueue", m.flags, m.data or None)
            except OSError:
                # Without a private IPC namespace the kernel refuses; bind the host's.
                sc.mount("/dev/mqueue", dest, "bind", sc.MS_BIND)
        else:
            sc.mount(m.source or m.type, dest, m.type, m.flags, m.data or None)
    for p in m.propagation:
        sc.mount(None, dest, None, p)


def create_devices(rootfs: str, in_userns: bool, extra: list[dict[str, object]]) -> None:
    """Make the default devices (and the spec's linux.devices) in the new /dev: mknod as
    runc does, or bind the host's node inside a user namespace where mknod is denied."""
    dev = os.path.join(rootfs, "dev")
    old = os.umask(0)
    try:
        nodes: list[tuple[str, int, int, int, int, int, int]] = [
            (f"/dev/{n}", stat.S_IFCHR, ma, mi, 0o666, 0, 0) for n, ma, mi in DEFAULT_DEVICES]
        for d in extra:
            kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK,
                    "p": stat.S_IFIFO}.get(str(d.get("type", "c")), stat.S_IFCHR)
            nodes.append((str(d["path"]), kind, int(str(d.get("major", 0))),
                          int(str(d.get("minor", 0))), int(str(d.get("fileMode", 0o666))),
                          int(str(d.get("uid", 0))), int(str(d.get("gid", 0)))))
        for path, kind, ma, mi, mode, uid, gid in nodes:
            dest = secure_join(rootfs, path)
            _mkdir_all(os.path.dirname(dest))
            if in_userns:
                _touch(dest)
                sc.mount(path, dest, "bind", sc.MS_BIND)
                continue
            try:
                os.unlink(dest)
            except FileNotFoundError:
                pass
            os.mknod(dest, (mode & 0o7777) | kind, os.makedev(ma, mi))
            os.chown(dest, uid, gid)
    finally:
        os.umask(old)
    for target, name in DEV_SYMLINKS:
        p = os.path.join(dev, name)
        if not os.path.lexists(p):
            os.symlink(target, p)
    if os.path.exists("/proc/kcore") and not os.path.lexists(os.path.join(dev, "core")):
        os.symlink("/proc/kcore", os.path.join(dev, "core"))
    ptmx = os.path.join(dev, "ptmx")
    if os.path.lexists(ptmx):
        os.unlink(ptmx)
    os.symlink("pts/ptmx", ptmx)


def pivot_root(rootfs: str) -> None:
    """runc's pivot_root(".", ".") dance: no temporary directory needed."""
    oldroot = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    newroot = os.open(rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fchdir(newroot)
        sc.pivot_root(".", ".")
        os.fchdir(oldroot)
        # The old root must not propagate its unmount to the host.
        sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
        sc.umount2(".", sc.MNT_DETACH)
    finally:
        os.close(oldroot)
        os.close(newroot)
    os.chdir("/")


def move_root(rootfs: str) -> None:
    """--no-pivot: move the rootfs mount over / and chroot into it."""
    os.chdir(rootfs)
    sc.mount(rootfs, "/", None, sc.MS_MOVE)
    os.chroot(".")
    os.chdir("/")


def _parent_mount_private(path: str) -> None:
    """runc's rootfsParentMountPrivate: pivot_root refuses a new root whose parent mount
    is shared, so make that mount private (only in our mount namespace)."""
    best, shared = "", False
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre = line.partition(" - ")[0].split()
            mp = pre[4]
            if (path == mp or path.startswith(mp.rstrip("/") + "/")) and len(mp) >= len(best):
                best, shared = mp, any(o.startswith("shared:") for o in pre[6:])
    if best and shared:
        sc.mount(None, best, None, sc.MS_PRIVATE)


def prepare(cfg: Config, *, no_pivot: bool, cgroup_paths: dict[str, str],
            before_pivot: Callable[[], None] | None = None) -> None:
    """Everything up to and including the switch into the new root; ``before_pivot``
    runs once the mounts are in place (the create-time hooks)."""
    prop = cfg.rootfs_propagation or (sc.MS_SLAVE | sc.MS_REC)
    sc.mount(None, "/", None, prop)
    rootfs = cfg.rootfs
    if prop & sc.MS_SHARED:
        _parent_mount_private(rootfs)
    # pivot_root needs the new root to be a mount point.
    sc.mount(rootfs, rootfs, "bind", sc.MS_BIND | sc.MS_REC)
    dev_is_bind = False
    has_dev = False
    for m in cfg.mounts:
        if m.destination == "/dev":
            has_dev = True
            dev_is_bind = m.is_bind
        mount_one(m, rootfs, cfg, cgroup_paths)
    if has_dev and not dev_is_bind:
        wants_user, _ = cfg.namespace("user")
        create_devices(rootfs, wants_user, cfg.devices_extra)
    if before_pivot is not None:
        before_pivot()
    if no_pivot:
        move_root(rootfs)
    else:
        pivot_root(rootfs)
    reopen_dev_null()


def reopen_dev_null() -> None:
    """Point stdio fds that are the host's /dev/null at the container's (runc's
    reOpenDevNull): CRIU cannot dump an fd on a mount the container does not have."""
    try:
        null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return  # no /dev/null in the container: nothing to point at
    try:
        want = os.fstat(null).st_rdev
        for fd in (0, 1, 2):
            try:
                st = os.fstat(fd)
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == want:
                os.dup2(null, fd)
    finally:
        os.close(null)


def mask_path(path: str) -> None:
    """Hide a path: /dev/null over a file, an empty read-only tmpfs over a directory."""
    try:
        sc.mount("/dev/null", path, "bind", sc.MS_BIND)
    except OSError as e:
        if e.errno == errno.ENOTDIR or os.path.isdir(path):
            sc.mount("tmpfs", path, "tmpfs", sc.MS_RDONLY)
        elif os.path.lexists(path):
            raise


def readonly_path(path: str) -> None:
    """Bind a path over itself and remount it read-only."""
    try:
        sc.mount(path, path, "bind", sc.MS_BIND | sc.MS_REC)
    except OSError as e:
        if e.errno == errno.ENOENT or not os.path.exists(path):
            return
        raise
    sc.mount(path, path, "bind", sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_REC |
             _vfs_flags(path))


def set_root_readonly() -> None:
    """Remount / read-only, keeping its other flags."""
    sc.mount(None, "/", None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | _vfs_flags("/"))
