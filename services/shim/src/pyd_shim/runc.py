"""The one wrapper around the OCI runtime's command line (go-runc's role upstream).

Only runc-compatible flags are used, so the same code drives `pyd-runc` and
Debian's `runc`. `--root` is always passed (each containerd namespace gets its
own), and `--log <bundle>/log.json --log-format json` so the runtime's errors
can be read back even when its stderr is the container's.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from typing import IO, Any

from pyd_proto.errdefs import FailedPrecondition, NotFound, PydError
from pyd_shim.log import get_logger
from pyd_shim.reaper import Reaper

log = get_logger("pyd.shim.runc")

DEFAULT_BINARY = "pyd-runc"


class RuntimeError_(PydError):
    """The runtime CLI failed; the message carries what it said (gRPC UNKNOWN, as
    upstream's shim reports an untyped runtime error; dockerd reads the message, e.g.
    "executable file not found" for exit code 127)."""

    code = "UNKNOWN"


class Stdio:
    """File descriptors the runtime hands to the container (None: /dev/null)."""

    def __init__(self, stdin: int | None = None, stdout: int | None = None,
                 stderr: int | None = None) -> None:
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr


class Runtime:
    """One runtime binary with its global flags; commands run through the reaper."""

    def __init__(self, binary: str = DEFAULT_BINARY, root: str = "", log_path: str = "",
                 systemd_cgroup: bool = False, criu: str = "", reaper: Reaper | None = None,
                 timeout: float = 120.0) -> None:
        self.binary = binary
        self.root = root
        self.log_path = log_path
        self.systemd_cgroup = systemd_cgroup
        self.criu = criu
        self.reaper = reaper or Reaper()
        self.timeout = timeout

    def _global(self) -> list[str]:
        argv = [self.binary]
        if self.root:
            argv += ["--root", self.root]
        if self.log_path:
            argv += ["--log", self.log_path, "--log-format", "json"]
        if self.systemd_cgroup:
            argv.append("--systemd-cgroup")
        if self.criu:
            argv += ["--criu", self.criu]
        return argv

    def _run(self, args: Sequence[str], *, stdio: Stdio | None = None,
             capture: bool = False, cwd: str | None = None) -> bytes:
        argv = [*self._global(), *args]
        log.debug("runtime", extra={"argv": " ".join(argv)})
        dn = subprocess.DEVNULL
        with _tmpfile() as err, _tmpfile() as out:
            if stdio is not None:  # the container's stdio: never the shim's temp files
                fds: tuple[Any, Any, Any] = (
                    dn if stdio.stdin is None else stdio.stdin,
                    dn if stdio.stdout is None else stdio.stdout,
                    dn if stdio.stderr is None else stdio.stderr)
            else:
                fds = (dn, out if capture else dn, err)
            try:
                code = self.reaper.run(argv, stdin=fds[0], stdout=fds[1], stderr=fds[2],
                                       cwd=cwd, timeout=self.timeout)
            except FileNotFoundError as e:
                raise FailedPrecondition(f"runtime {self.binary!r} not found: {e}") from e
            err.seek(0)
            errtext = err.read().decode(errors="replace").strip()
            out.seek(0)
            output = out.read()
        if code != 0:
            msg = self._last_error() or errtext or f"exit status {code}"
            what = f"{os.path.basename(self.binary)} {args[0]} failed"
            # runc's own log line already says "runc create failed: ...": once is enough.
            raise _classify(msg if msg.startswith(what) else f"{what}: {msg}")
        return output

    def _last_error(self) -> str:
        """The last error the runtime wrote to its JSON log."""
        if not self.log_path:
            return ""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(max(0, os.fstat(f.fileno()).st_size - 16384))
                lines = f.read().decode(errors="replace").splitlines()
        except OSError:
            return ""
        for line in reversed(lines):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("level") in ("error", "fatal"):
                return str(entry.get("msg", ""))
        return ""

    def _truncate_log(self) -> None:
        """Start a command with an empty log so its error is not an older one."""
        if self.log_path:
            try:
                with open(self.log_path, "ab") as f:
                    f.truncate(0)
            except OSError:
                pass

    # --- commands ----------------------------------------------------------------

    def create(self, id: str, bundle: str, *, pid_file: str, console_socket: str = "",
               stdio: Stdio | None = None, no_pivot: bool = False) -> None:
        self._truncate_log()
        args = ["create", "--bundle", bundle, "--pid-file", pid_file]
        if console_socket:
            args += ["--console-socket", console_socket]
        if no_pivot:
            args.append("--no-pivot")
        self._run([*args, id], stdio=stdio, cwd=bundle)

    def start(self, id: str) -> None:
        self._run(["start", id])

    def state(self, id: str) -> dict[str, Any]:
        data = json.loads(self._run(["state", id], capture=True) or b"{}")
        return data if isinstance(data, dict) else {}

    def kill(self, id: str, signal: int, *, all: bool = False) -> None:
        args = ["kill"]
        if all:
            args.append("--all")
        self._run([*args, id, str(signal)])

    def delete(self, id: str, *, force: bool = False) -> None:
        self._run(["delete", *(["--force"] if force else []), id])

    def pause(self, id: str) -> None:
        self._run(["pause", id])

    def resume(self, id: str) -> None:
        self._run(["resume", id])

    def ps(self, id: str) -> list[int]:
        data = json.loads(self._run(["ps", "--format", "json", id], capture=True) or b"[]")
        return [int(p) for p in data or []]

    def update(self, id: str, resources: dict[str, Any]) -> None:
        path = f"/tmp/pyd-update-{os.getpid()}-{os.urandom(6).hex()}.json"
        try:
            with open(path, "w") as f:
                json.dump(resources, f)
            self._run(["update", "--resources", path, id])
        finally:
            os.unlink(path)

    def exec(self, id: str, process_path: str, *, pid_file: str, console_socket: str = "",
             stdio: Stdio | None = None) -> None:
        self._truncate_log()
        args = ["exec", "--detach", "--process", process_path, "--pid-file", pid_file]
        if console_socket:
            args += ["--console-socket", console_socket]
        self._run([*args, id], stdio=stdio)

    def checkpoint(self, id: str, *, image_path: str, work_path: str = "",
                   leave_running: bool = False, lazy: bool = False, page_server: str = "",
                   extra: Sequence[str] = ()) -> None:
        args = ["checkpoint", "--image-path", image_path]
        if work_path:
            args += ["--work-path", work_path]
        if leave_running:
            args.append("--leave-running")
        if lazy:
            args.append("--lazy-pages")
        if page_server:
            args += ["--page-server", page_server]
        self._run([*args, *extra, id])

    def restore(self, id: str, bundle: str, *, image_path: str, pid_file: str,
                work_path: str = "", console_socket: str = "", lazy_restore: str = "",
                lazy_restore_tls: tuple[str, str, str] | None = None,
                stdio: Stdio | None = None, extra: Sequence[str] = ()) -> None:
        """`restore --detach`; with `lazy_restore` (HOST:PORT serving the checkpoint's
        pages) `--lazy-pages --page-server lazy_restore`, over TLS with
        `lazy_restore_tls` = (CA, certificate, key)."""
        self._truncate_log()
        args = ["restore", "--detach", "--bundle", bundle, "--image-path", image_path,
                "--pid-file", pid_file]
        if work_path:
            args += ["--work-path", work_path]
        if console_socket:
            args += ["--console-socket", console_socket]
        if lazy_restore:
            log.info("restoring lazily", extra={"id": id, "lazy_restore": lazy_restore})
            args += ["--lazy-pages", "--page-server", lazy_restore]
            if lazy_restore_tls is not None:
                ca, cert, key = lazy_restore_tls
                args += ["--tls-cacert", ca, "--tls-cert", cert, "--tls-key", key]
        self._run([*args, *extra, id], stdio=stdio, cwd=bundle)


def _tmpfile() -> IO[bytes]:
    """An anonymous temporary file (O_TMPFILE; the tempfile module costs every shim)."""
    return os.fdopen(os.open("/tmp", os.O_TMPFILE | os.O_RDWR, 0o600), "w+b")


def _classify(message: str) -> PydError:
    """Typed only where the runtime's words are about the container's existence or state
    (runc's and pyd-runc's phrases); anything else, such as a missing executable, stays
    the runtime's own error."""
    low = message.lower()
    if "container does not exist" in low or "container not found" in low:
        return NotFound(message)
    if any(p in low for p in ("container not running", "container is not running",
                              "container not paused", "container not stopped",
                              "already exists", "already running")):
        return FailedPrecondition(message)
    return RuntimeError_(message)


def read_pid_file(path: str) -> int:
    with open(path) as f:
        return int(f.read().strip())
