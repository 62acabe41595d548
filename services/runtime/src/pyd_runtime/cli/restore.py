"""`pyd-runc restore`: runc's restore.go, plus pyd's --page-server.

    pyd-runc restore [--image-path DIR] [--work-path DIR] [--bundle DIR] [-d]
        [--pid-file FILE] [--console-socket PATH] [--tcp-established]
        [--ext-unix-sk] [--shell-job] [--file-locks]
        [--manage-cgroups-mode soft|full|strict] [--empty-ns network]
        [--auto-dedup] [--lazy-pages] [--page-server ADDRESS:PORT]
        [--lsm-profile TYPE:NAME] [--lsm-mount-context CTX] <container-id>

`--lazy-pages` alone works as in runc: a `criu lazy-pages` daemon must
already serve the work directory.  With `--page-server ADDRESS:PORT`,
pyd-runc starts `criu lazy-pages --page-server` itself, pointed at that
address, and the image directory needs only the non-lazy pages (see
criu/lazyimage.py).  The daemon's pid is kept in state.json as
``lazy_pages_pid``; if it fails before every page arrived, the container is
killed and ``lazy-pages.failed`` in its state directory says why.
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyd_runtime.flags import FlagParser, Namespace

USAGE = "restore a container from a previous checkpoint"


def add_arguments(p: FlagParser) -> None:
    """Declare the flags of `restore` (runc 1.1's, and --page-server)."""
    p.add_argument("--console-socket", default="",
                   help="path to an AF_UNIX socket which will receive a file descriptor "
                        "referencing the master end of the console's pseudoterminal")
    p.add_argument("--image-path", default="", help="path to criu image files for restoring")
    p.add_argument("--work-path", default="", help="path for saving work files and logs")
    p.add_argument("--tcp-established", action="store_true", help="allow open tcp connections")
    p.add_argument("--ext-unix-sk", action="store_true", help="allow external unix sockets")
    p.add_argument("--shell-job", action="store_true", help="allow shell jobs")
    p.add_argument("--file-locks", action="store_true", help="handle file locks, for safety")
    p.add_argument("--manage-cgroups-mode", default="",
                   help="cgroups mode: 'soft' (default), 'full' and 'strict'")
    p.add_argument("--bundle", "-b", default="", help="path to the root of the bundle directory")
    p.add_argument("--detach", "-d", action="store_true",
                   help="detach from the container's process")
    p.add_argument("--pid-file", default="", help="specify the file to write the process id to")
    p.add_argument("--no-subreaper", action="store_true",
                   help="disable the use of the subreaper used to reap reparented processes")
    p.add_argument("--no-pivot", action="store_true",
                   help="do not use pivot root to jail process inside rootfs")
    p.add_argument("--empty-ns", action="append", default=[],
                   help="create a namespace, but don't restore its properties")
    p.add_argument("--auto-dedup", action="store_true",
                   help="enable auto deduplication of memory images")
    p.add_argument("--lazy-pages", action="store_true",
                   help="use userfaultfd to lazily restore memory pages")
    p.add_argument("--page-server", default="",
                   help="ADDRESS:PORT to fetch lazy pages from (pyd; implies --lazy-pages)")
    p.add_argument("--tls-cacert", default="",
                   help="with --page-server: use TLS, trusting this CA for the server (pyd)")
    p.add_argument("--tls-cert", default="",
                   help="with --page-server: client certificate for TLS (pyd)")
    p.add_argument("--tls-key", default="",
                   help="with --page-server: private key of --tls-cert (pyd)")
    p.add_argument("--tls-no-cn-verify", action="store_true",
                   help="with --page-server: do not check the server certificate's name (pyd)")
    p.add_argument("--lsm-profile", default="",
                   help="Specify an LSM profile to be used during restore in the form of "
                        "TYPE:NAME.")
    p.add_argument("--lsm-mount-context", default="",
                   help="Specify an LSM mount context to be used during restore.")
    p.add_argument("container_id", metavar="container-id")


def run(args: Namespace, g: Any) -> int:
    """Restore a container; with -d return at once, else wait and pass its exit code on."""
    from pyd_runtime.criu.container import CheckpointError
    from pyd_runtime.criu.criu import CriuError
    from pyd_runtime.libcontainer.container import ContainerError

    try:
        pid = restore_container(args, g)
    except (CheckpointError, CriuError) as e:
        raise ContainerError(str(e)) from None
    if args.detach:
        return 0
    return wait_exit(pid)


def wait_exit(pid: int) -> int:
    """Wait for the restored init (our child: CRIU restores it as our sibling's child)."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            # not our child after all: poll until it is gone
            while os.path.exists(f"/proc/{pid}"):
                time.sleep(0.1)
            return 0
        except InterruptedError:
            continue
        if os.WIFEXITED(status):
            return os.WEXITSTATUS(status)
        if os.WIFSIGNALED(status):
            return 128 + os.WTERMSIG(status)


def restore_container(args: Namespace, g: Any) -> int:
    """Create the container's state and cgroups, restore it with CRIU; returns the init pid."""
    from pyd_runtime.cli._common import bundle_config
    from pyd_runtime.cli.checkpoint import empty_ns_mask, image_path
    from pyd_runtime.criu.container import (
        ContainerInfo,
        RestoreOptions,
        kill_and_reap,
        parse_cg_mode,
        parse_host_port,
        restore,
    )
    from pyd_runtime.criu.criu import Criu, TlsFiles
    from pyd_runtime.libcontainer import cgroups
    from pyd_runtime.libcontainer.container import Container, remove_state_dir

    root = g.root
    cid = args.container_id
    # paths are taken before bundle_config chdirs into the bundle (runc does the same)
    image = image_path(args.image_path)
    work = os.path.abspath(args.work_path) if args.work_path else None
    pid_file = os.path.abspath(args.pid_file) if args.pid_file else ""
    console_socket = os.path.abspath(args.console_socket) if args.console_socket else None
    page_server = parse_host_port(args.page_server) if args.page_server else None
    tls = None
    if args.tls_cacert or args.tls_cert or args.tls_key:
        if not (args.tls_cacert and args.tls_cert and args.tls_key and page_server):
            raise ValueError("TLS needs --page-server, --tls-cacert, --tls-cert and --tls-key")
        tls = TlsFiles(os.path.abspath(args.tls_cacert), os.path.abspath(args.tls_cert),
                       os.path.abspath(args.tls_key), args.tls_no_cn_verify)
    bundle = os.path.abspath(args.bundle or os.getcwd())
    spec, cfg = bundle_config(bundle)
    opts = RestoreOptions(
        image_path=image,
        work_path=work,
        tcp_established=args.tcp_established,
        ext_unix_sk=args.ext_unix_sk,
        shell_job=args.shell_job,
        file_locks=args.file_locks,
        manage_cgroups_mode=parse_cg_mode(args.manage_cgroups_mode),
        empty_ns=empty_ns_mask(args.empty_ns),
        auto_dedup=args.auto_dedup,
        lazy_pages=args.lazy_pages or page_server is not None,
        page_server=page_server,
        lsm_profile=args.lsm_profile or None,
        lsm_mount_context=args.lsm_mount_context or None,
        console_socket=console_socket,
        page_server_tls=tls,
    )
    state_dir = Container.make_dir(root, cid)
    mgr = cgroups.new_manager(cfg.cgroups_path, cid)
    pid = 0
    container: Container | None = None
    lazy = None
    try:
        mgr.create()
        info = ContainerInfo.from_spec(spec, state_dir, cid, rootfs=cfg.rootfs,
                                       bundle=bundle, cgroup_paths=dict(mgr.paths),
                                       cgroup_v2=mgr.version == 2)

        def apply_cgroups(criu_pid: int) -> None:
            mgr.apply(criu_pid)
            mgr.set(cfg.resources)  # includes runc's default device rules (specconv)

        def on_restored(new_pid: int) -> None:
            nonlocal container
            container = Container(root, cid, new_state(cid, spec, cfg, new_pid, mgr, opts))
            container.save()

        result = restore(info, opts, criu=Criu(getattr(g, "criu", None) or "criu"),
                         apply_cgroups=apply_cgroups, on_restored=on_restored)
        pid, lazy = result.pid, result.lazy_pages
        if container is None or container.pid != pid:
            on_restored(pid)
        assert container is not None
        if lazy is not None:
            container.state["lazy_pages_pid"] = lazy.pid
            container.state["lazy_restore"] = f"{page_server[0]}:{page_server[1]}" \
                if page_server else ""
            container.save()
        if pid_file:
            write_pid_file(pid_file, pid)
    except BaseException:
        if lazy is not None:
            lazy.stop()
        if pid:
            kill_and_reap(pid)
        try:
            mgr.destroy()
        finally:
            remove_state_dir(state_dir)
        raise
    return pid


def new_state(cid: str, spec: dict[str, Any], cfg: Any, pid: int, mgr: Any,
              opts: Any) -> dict[str, Any]:
    """state.json for a restored container, with the keys libcontainer/container.py keeps."""
    from pyd_runtime import fastjson
    from pyd_runtime.libcontainer import cgroups
    from pyd_runtime.libcontainer.container import STATE_VERSION, proc_start_time, rfc3339nano
    from pyd_runtime.specconv import NAMESPACE_FILES

    st = proc_start_time(pid)
    # as libcontainer/process.py records them: the joined path, or the new init's
    ns_paths = {t: (p or f"/proc/{pid}/ns/{NAMESPACE_FILES[t]}") for t, p in cfg.namespaces}
    try:
        with open(os.path.join(opts.image_path, "descriptors.json"), "rb") as f:
            descriptors = fastjson.loads(f.read())
    except (OSError, ValueError):
        descriptors = []
    return {
        "version": STATE_VERSION,
        "id": cid,
        "ociVersion": cfg.oci_version,
        "bundle": cfg.bundle,
        "rootfs": cfg.rootfs,
        "created": rfc3339nano(time.time_ns()),
        "init_process_pid": pid,
        "init_process_start": st[0] if st else 0,
        "cgroup_version": mgr.version,
        "cgroup_paths": dict(mgr.paths),
        "namespace_paths": ns_paths,
        "external_descriptors": descriptors,
        "annotations": dict(cfg.annotations),
        "config": spec,
        "no_pivot": False,
        "owner": "",
        "restored_from": str(opts.image_path),
        "cgroup_foreign_dir": cgroups.foreign_unified_dir(pid, mgr) or "",
    }


def write_pid_file(path: str, pid: int) -> None:
    """runc's createPidFile: write to a temporary name, then rename."""
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}")
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.rename(tmp, path)
