"""Running CRIU: `criu swrk` for dump and restore, `criu lazy-pages` as a daemon.

Dump and restore go through CRIU's RPC over `criu swrk <fd>`, as runc does:
the request carries file descriptors (the image and work directories, the
namespaces to join) rather than paths, and CRIU reports progress through
notifications — "post-restore" with the restored init's pid, "orphan-pts-master"
with a terminal master fd for --console-socket, "status-ready" once a lazy
dump's page server listens.  The lazy-pages daemon has no RPC form, so it is
started as `criu lazy-pages` and reports readiness through --status-fd.

The module sits on `pyd-runc restore`'s start path, so it uses ``_socket``
and posix_spawn rather than ``socket`` and ``subprocess`` (see kernel.py).
"""

from __future__ import annotations

import _socket
import os
import time

from pyd_runtime.criu import kernel
from pyd_runtime.criu.rpc import CriuReq, CriuResp, ReqType, decode_resp, type_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

DEFAULT_CRIU = os.environ.get("PYD_CRIU", "criu")
_RESP_MAX = 10 * 4096


class CriuError(Exception):
    """CRIU refused or failed a request; `log_path` names its log when known."""

    def __init__(self, message: str, log_path: str | None = None) -> None:
        self.log_path = None if log_path is None else os.fspath(log_path)
        super().__init__(f"{message}\nlog file: {self.log_path}" if log_path else message)


class Notification:
    """A CRIU notification (an --action-script event) with the fds it carried."""

    __slots__ = ("fds", "pid", "script")

    def __init__(self, script: str, pid: int | None, fds: list[int] | None = None) -> None:
        self.script = script
        self.pid = pid
        self.fds = fds or []


class SwrkResult:
    """The final response of a swrk request, and the criu process's exit status."""

    __slots__ = ("resp", "returncode")

    def __init__(self, resp: CriuResp, returncode: int | None) -> None:
        self.resp = resp
        self.returncode = returncode


class TlsFiles:
    """CRIU's TLS options for a page-server connection (PEM files)."""

    __slots__ = ("cacert", "cert", "key", "no_cn_verify")

    def __init__(self, cacert: str, cert: str, key: str, no_cn_verify: bool = False) -> None:
        self.cacert = os.fspath(cacert)
        self.cert = os.fspath(cert)
        self.key = os.fspath(key)
        self.no_cn_verify = no_cn_verify

    def argv(self) -> list[str]:
        out = ["--tls", "--tls-cacert", self.cacert, "--tls-cert", self.cert,
               "--tls-key", self.key]
        return [*out, "--tls-no-cn-verify"] if self.no_cn_verify else out


class Criu:
    """One CRIU binary."""

    def __init__(self, path: str = DEFAULT_CRIU) -> None:
        self.path = path
        self._version: tuple[int, int, int] | None = None

    # -- RPC ---------------------------------------------------------------

    def swrk(
        self,
        req: CriuReq,
        *,
        extra_files: Sequence[int] = (),
        stdio: tuple[int | None, int | None, int | None] = (None, None, None),
        on_start: Callable[[int, CriuReq], None] | None = None,
        on_notify: Callable[[Notification], None] | None = None,
        log_path: str | None = None,
    ) -> SwrkResult:
        """Run one request through `criu swrk <fd>`.

        `extra_files` are passed to CRIU under their own numbers (for inherit_fd);
        images_dir_fd, work_dir_fd and status_fd are this process's fds: CRIU
        opens them through /proc/<our pid>/fd;
        `on_start(pid, req)` runs after CRIU started and before the request is
        sent (runc moves CRIU into the container's cgroups there);
        `on_notify` sees every notification before it is acknowledged.
        """
        client, server = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        try:
            # fds keep their numbers in CRIU (runc renumbers them from 3; the
            # numbers only have to agree with the request's inherit_fd entries).
            pid = kernel.spawn([self.path, "swrk", str(server.fileno())],
                               pass_fds=(server.fileno(), *extra_files), stdio=stdio)
        except BaseException:
            client.close()
            server.close()
            raise
        server.close()
        done = False
        try:
            if on_start is not None:
                on_start(pid, req)
            client.sendall(req.encode())
            while True:
                resp, rfds = _recv_resp(client)
                if not resp.success:
                    msg = f"criu failed: type {type_name(req.type)} errno {resp.cr_errno or 0}"
                    cause = resp.cr_errmsg or ""
                    if not cause or _HARMLESS in cause:
                        cause = log_errors(log_path) or cause
                    if cause:
                        msg += f": {cause}"
                    _close_all(rfds)
                    raise CriuError(msg, log_path)
                if resp.type == ReqType.NOTIFY:
                    note = Notification(resp.notify_script or "", resp.notify_pid, rfds)
                    try:
                        if on_notify is not None:
                            on_notify(note)
                    finally:
                        _close_all(rfds)
                    client.sendall(CriuReq(ReqType.NOTIFY, notify_success=True).encode())
                    continue
                _close_all(rfds)
                break
            try:
                client.shutdown(_socket.SHUT_WR)
            except OSError:
                pass
            rc = kernel.wait(pid)
            done = True
            if rc != 0 and req.type not in (ReqType.PRE_DUMP, ReqType.FEATURE_CHECK,
                                            ReqType.VERSION):
                raise CriuError(f"criu failed: exit status {rc}", log_path)
            return SwrkResult(resp, rc)
        finally:
            client.close()
            if not done and kernel.wait(pid, 30) is None:
                kernel.kill(pid)
                kernel.wait(pid)

    def version(self) -> tuple[int, int, int]:
        """(major, minor, sublevel) of this CRIU, from its VERSION RPC."""
        if self._version is None:
            res = self.swrk(CriuReq(ReqType.VERSION))
            if res.resp.version is None:
                raise CriuError("criu did not report a version")
            self._version = res.resp.version
        return self._version

    def version_number(self) -> int:
        """The version as runc compares it: 4.1.1 -> 40101."""
        major, minor, sub = self.version()
        return major * 10000 + minor * 100 + sub

    def features(self, *, mem_track: bool = False, lazy_pages: bool = False) -> dict[str, bool]:
        """Ask CRIU whether this kernel supports memory tracking / lazy pages."""
        req = CriuReq(ReqType.FEATURE_CHECK,
                      features_mem_track=mem_track or None,
                      features_lazy_pages=lazy_pages or None)
        return self.swrk(req).resp.features

    # -- lazy-pages daemon ---------------------------------------------------

    def start_lazy_pages(
        self,
        images_dir: str,
        work_dir: str,
        *,
        page_server: tuple[str, int] | None = None,
        log_file: str = "lazy-pages.log",
        log_level: int = 4,
        ready_timeout: float = 30.0,
        guard: str | None = None,
        tls: TlsFiles | None = None,
    ) -> LazyPagesDaemon:
        """Start `criu lazy-pages` and return once its socket accepts restores.

        With `page_server`, lazy pages are fetched from that address (a
        pyd page server, or any CRIU page server); otherwise they are read
        from the local `images_dir`.  `criu restore --lazy-pages` must use
        the same `work_dir`: the daemon's socket lives there.

        With `guard` (a file path), the daemon is started by a small forked
        guardian in a session of its own; once told the restored init
        (LazyPagesDaemon.guard_container), the guardian kills it if the daemon
        fails before every page arrived (the source died, the network broke:
        the process must not run on with holes in its memory) and writes the
        reason to `guard`.

        With `tls`, the page-server connection is TLS (CRIU's --tls options).
        """
        images_dir, work_dir = os.fspath(images_dir), os.fspath(work_dir)
        os.makedirs(work_dir, exist_ok=True)
        log_path = os.path.join(work_dir, log_file)
        argv = [self.path, "lazy-pages", "-D", images_dir, "-W", work_dir,
                "-o", log_file, f"-v{log_level}"]
        if page_server is not None:
            argv += ["--page-server", "--address", page_server[0], "--port", str(page_server[1])]
        if tls is not None:
            argv += tls.argv()
        rfd, wfd = os.pipe()
        argv += ["--status-fd", str(wfd)]
        daemon: LazyPagesDaemon
        try:
            if guard is None:
                # A session of its own: the daemon outlives `pyd-runc restore --detach`.
                pid = kernel.spawn(argv, pass_fds=(wfd,), devnull_stdio=True, setsid=True)
                daemon = LazyPagesDaemon(pid, log_path)
            else:
                daemon = _fork_guardian(argv, wfd, rfd, log_path, os.fspath(guard))
            os.close(wfd)
            wfd = -1
            if not _wait_readable(rfd, ready_timeout) or os.read(rfd, 1) != b"\0":
                daemon.stop()
                raise CriuError("criu lazy-pages did not become ready", log_path)
        finally:
            os.close(rfd)
            if wfd >= 0:
                os.close(wfd)
        return daemon


class LazyPagesDaemon:
    """A running `criu lazy-pages` (or its guardian): it exits once every lazy page is in.

    `pid` is also a process group id: stop() kills the group.
    """

    def __init__(self, pid: int, log_path: str, *, report_fd: int = -1) -> None:
        self.pid = pid
        self.log_path = log_path
        self._report_fd = report_fd
        self._status: int | None = None

    def guard_container(self, pid: int) -> None:
        """Tell the guardian which process to kill should the transfer fail."""
        if self._report_fd < 0:
            return
        try:
            os.write(self._report_fd, f"{pid} {kernel.start_time(pid)}\n".encode())
        finally:
            os.close(self._report_fd)
            self._report_fd = -1

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the transfer to end; the daemon's exit status (0: every page arrived).

        Raises TimeoutError when `timeout` passes first.
        """
        if self._status is None:
            try:
                os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                # not our child (another process started it): wait for it to vanish
                deadline = None if timeout is None else time.monotonic() + timeout
                while os.path.exists(f"/proc/{self.pid}"):
                    if deadline is not None and time.monotonic() > deadline:
                        raise TimeoutError("criu lazy-pages still running") from None
                    time.sleep(0.01)
                self._status = 0
                return 0
            code = kernel.wait(self.pid, timeout)
            if code is None:
                raise TimeoutError("criu lazy-pages still running")
            self._status = code
        return self._status

    def detach(self) -> None:
        """Forget the guardian without ending it."""
        if self._report_fd >= 0:
            os.close(self._report_fd)
            self._report_fd = -1

    def stop(self) -> None:
        """Kill the daemon and its guardian (a restore that failed, or a cleanup)."""
        self.detach()
        try:
            os.killpg(self.pid, kernel.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self._status is None:
            self._status = kernel.wait(self.pid, 10)


def _fork_guardian(argv: list[str], status_w: int, status_r: int, log_path: str,
                   guard: str) -> LazyPagesDaemon:
    """Fork the guardian; it starts the daemon and outlives the caller."""
    report_r, report_w = os.pipe()
    pid = os.fork()
    if pid:
        os.close(report_r)
        return LazyPagesDaemon(pid, log_path, report_fd=report_w)
    # -- the guardian (never returns) ---------------------------------------
    code = 1
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        # drop every fd inherited from the caller (sockets, image dirs, pipes)
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd > 2 and fd not in (status_w, report_r):
                try:
                    os.close(fd)
                except OSError:
                    pass
        daemon = kernel.spawn(argv, pass_fds=(status_w,))
        os.close(status_w)
        # EOF without a pid: the restore failed or was abandoned; so is the transfer
        line = b""
        while chunk := os.read(report_r, 64):
            line += chunk
        os.close(report_r)
        target = [int(x) for x in line.split()] if line.strip() else []
        if not target:
            kernel.kill(daemon)
        code = kernel.wait(daemon) or 0
        if code != 0 and len(target) == 2 and kernel.start_time(target[0]) == target[1]:
            tail = ""
            try:
                with open(log_path, errors="replace") as f:
                    tail = "\n".join(x for x in f.read().splitlines() if "Error" in x)[-2000:]
            except OSError:
                pass
            # the reason first: whoever sees the container stop can read why
            with open(guard + ".tmp", "w") as f:
                f.write(f"criu lazy-pages exited with status {code} before every page "
                        f"arrived; the container was killed\n{tail}\n")
            os.rename(guard + ".tmp", guard)
            kernel.kill(target[0])
    except BaseException:  # a guardian must never return into the caller's code
        code = 1
    finally:
        os._exit(code if code >= 0 else 128 - code)


def _wait_readable(fd: int, timeout: float) -> bool:
    import select

    r, _, _ = select.select([fd], [], [], timeout)
    return bool(r)


def _recv_resp(sock: _socket.socket) -> tuple[CriuResp, list[int]]:
    msg, ancdata, _flags, _addr = sock.recvmsg(_RESP_MAX, _socket.CMSG_SPACE(16 * 4))
    fds: list[int] = []
    for level, type_, data in ancdata:
        if level == _socket.SOL_SOCKET and type_ == _socket.SCM_RIGHTS:
            fds += [int.from_bytes(data[i:i + 4], "little", signed=True)
                    for i in range(0, len(data) - len(data) % 4, 4)]
    if not msg:
        _close_all(fds)
        raise CriuError("criu closed the RPC socket without an answer")
    if len(msg) >= _RESP_MAX:
        _close_all(fds)
        raise CriuError("criu's answer does not fit the buffer")
    return decode_resp(msg), fds


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


__all__ = [
    "Criu",
    "CriuError",
    "LazyPagesDaemon",
    "Notification",
    "SwrkResult",
    "TlsFiles",
]


# CRIU cannot raise its own RLIMIT_NOFILE without CAP_SYS_RESOURCE (absent in this
# sandbox); it logs that as its first error and goes on, so it is never the cause.
_HARMLESS = "rlimit: Can't setup RLIMIT_NOFILE"


def log_errors(log_path: str | None, first: int = 2) -> str:
    """The first `first` meaningful "Error (...)" lines of a CRIU log."""
    if not log_path:
        return ""
    try:
        with open(log_path, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return ""
    errors = [x.split(": ", 1)[-1] for x in lines if "Error (" in x and _HARMLESS not in x]
    return "; ".join(errors[:first])
