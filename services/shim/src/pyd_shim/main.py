"""pyd-shim: `start` | `serve` | `delete` (containerd-shim-runc-v2's command line), plus `call`.

    pyd-shim -namespace NS -id ID -address CONTAINERD_SOCKET [-bundle DIR] [-debug] start
        spawns the long-lived shim in a new session, prints its socket address, exits
    pyd-shim ... serve       serve in the foreground (what `start` forks into)
    pyd-shim ... delete      clean up after a dead shim; prints a DeleteResponse (protobuf)
    pyd-shim -address SHIM_SOCKET [-namespace NS] call METHOD [JSON]
        one Task call over ttrpc, request and answer as JSON (for inspecting a shim)
    pyd-shim -address ZYGOTE_SOCKET zygote
        a warm parent containerd asks to fork shims (start without a new interpreter)
    pyd-shim -address SHIM_SOCKET [-namespace NS] grpc-proxy LISTEN_PATH
        serve the shim's Task API over gRPC (reflection, health) on LISTEN_PATH for
        grpcurl, forwarding each call to the shim's ttrpc socket (a separate process:
        the shim itself never loads grpcio)

Flags are Go-style single-dash, as upstream shims take them; `-bundle` defaults
to the working directory, which is how containerd passes it. Imports are kept
to what a running shim needs: its memory is part of every container's cost.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable

ADDRESS_FILE = "address"
PID_FILE = "shim.pid"
LOG_FILE = "shim.log"


class Flags:
    """The shim's command line (no dataclasses: they cost each shim ~1 MiB of imports)."""

    def __init__(self) -> None:
        self.namespace = "default"
        self.id = ""
        self.address = ""
        self.bundle = ""
        self.debug = False
        self.command = ""
        self.args: tuple[str, ...] = ()


def parse(argv: list[str]) -> Flags:
    flags = Flags()
    i = 0
    rest: list[str] = []
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("-") and not rest:
            name, eq, value = arg.lstrip("-").partition("=")
            if name == "debug":
                flags.debug = True
            elif name in ("namespace", "id", "address", "bundle", "publish-binary"):
                if not eq:
                    i += 1
                    if i >= len(argv):
                        raise SystemExit(f"pyd-shim: flag -{name} needs a value")
                    value = argv[i]
                if name != "publish-binary":
                    setattr(flags, name, value)
            elif name in ("h", "help"):
                print(__doc__)
                raise SystemExit(0)
            else:
                raise SystemExit(f"pyd-shim: unknown flag {arg}")
        else:
            rest.append(arg)
        i += 1
    if not rest:
        raise SystemExit("pyd-shim: a command is required: "
                         "start | serve | delete | call | grpc-proxy")
    flags.command, flags.args = rest[0], tuple(rest[1:])
    flags.bundle = os.path.abspath(flags.bundle or os.getcwd())
    return flags


def socket_path(containerd_address: str, namespace: str, id: str) -> str:
    """Where this shim listens: short enough for sun_path, unique per stack and task."""
    addr = containerd_address.removeprefix("unix://")
    try:  # the builtin module: hashlib would load OpenSSL into every shim
        from _sha256 import sha256  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover
        from hashlib import sha256
    digest = sha256(f"{addr}|{namespace}|{id}".encode()).hexdigest()
    path = os.path.join(os.path.dirname(addr) or "/run/pyd/containerd", "s", digest[:32])
    if len(path) > 100:
        path = os.path.join("/run/pyd/s", digest)
    return path


def _existing(bundle: str) -> str | None:
    """The address of a shim already serving this bundle, if one answers."""
    import socket

    from pyd_shim import ttrpc

    try:
        with open(os.path.join(bundle, ADDRESS_FILE)) as f:
            address = f.read().strip()
    except FileNotFoundError:
        return None
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(ttrpc.socket_path(address))
        return address
    except OSError:
        return None
    finally:
        probe.close()


def start(flags: Flags) -> int:
    """Fork the serving shim into its own session; print its address once it serves."""
    from pyd_shim import ttrpc

    if not flags.id:
        raise SystemExit("pyd-shim start: -id is required")
    existing = _existing(flags.bundle)
    if existing:
        print(existing)
        return 0
    path = socket_path(flags.address, flags.namespace, flags.id)
    listener = ttrpc.listen(path)
    address = "unix://" + path
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the shim: detached from containerd, stdio away from its pipes
        code = 1
        try:
            os.close(r)
            os.setsid()
            detach_stdio(flags.bundle)

            def ready() -> None:
                os.write(w, b"ok")
                os.close(w)

            code = serve(flags, listener, address, ready=ready)
        finally:
            os._exit(code)
    os.close(w)
    listener.close()
    with os.fdopen(r, "rb") as pipe:
        ok = pipe.read() == b"ok"
    if not ok:
        print(f"pyd-shim start: shim for {flags.id} failed to start; see "
              f"{os.path.join(flags.bundle, LOG_FILE)}", file=sys.stderr)
        return 1
    print(address)
    return 0


def detach_stdio(bundle: str) -> None:
    """stdin/stdout on /dev/null, stderr (the shim's log) appended to <bundle>/shim.log."""
    null = os.open(os.devnull, os.O_RDWR)
    logfd = os.open(os.path.join(bundle, LOG_FILE), os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                    0o640)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.dup2(logfd, 2)
    os.close(null)
    os.close(logfd)


def serve(flags: Flags, listener: object | None = None, address: str = "",
          ready: Callable[[], None] | None = None) -> int:
    """Run the shim until Shutdown: subreaper, reaper, Task service on ttrpc."""
    import socket

    from pyd_shim import reaper as reaping
    from pyd_shim import task_service, ttrpc
    from pyd_shim.events import Publisher
    from pyd_shim.log import get_logger, setup

    setup("shim", debug=flags.debug)
    log = get_logger("pyd.shim")
    if listener is None:
        path = socket_path(flags.address, flags.namespace, flags.id)
        listener = ttrpc.listen(path)
        address = "unix://" + path
    assert isinstance(listener, socket.socket)
    sock_path = ttrpc.socket_path(address)
    try:
        own_inode = os.stat(sock_path).st_ino
    except OSError:
        own_inode = -1
    reaping.set_child_subreaper()
    reaper = reaping.Reaper()
    reaper.start()
    containerd = flags.address.removeprefix("unix://")
    publisher = Publisher(os.environ.get("TTRPC_ADDRESS")
                          or (containerd + ".ttrpc" if containerd else ""), flags.namespace)
    server = ttrpc.Server()
    service = task_service.TaskService(namespace=flags.namespace, id=flags.id,
                                       bundle=flags.bundle, reaper=reaper, events=publisher,
                                       on_shutdown=server.close)
    task_service.register(server, service)
    for name, value in ((ADDRESS_FILE, address), (PID_FILE, str(os.getpid()))):
        tmp = os.path.join(flags.bundle, name + ".tmp")
        with open(tmp, "w") as f:
            f.write(value)
        os.replace(tmp, os.path.join(flags.bundle, name))
    log.info("shim serving", extra={"id": flags.id, "namespace": flags.namespace,
                                    "address": address, "bundle": flags.bundle})
    if ready is not None:
        ready()
    _settle()
    server.serve(listener)
    publisher.close()
    # containerd may start the next shim of the same task (same path) as soon as
    # Shutdown answers: remove the socket only if it is still this shim's.
    with contextlib.suppress(OSError):
        if os.stat(sock_path).st_ino == own_inode:
            os.unlink(sock_path)
    log.info("shim exited", extra={"id": flags.id})
    return 0


def _settle() -> None:
    """Give the idle shim's heap back: collect, then freeze what start-up made."""
    import gc

    gc.collect()
    gc.freeze()
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def delete(flags: Flags) -> int:
    """Clean up after a shim that died: force-delete the container, unmount, report.

    Prints a serialized DeleteResponse; the exit status is the one the shim left in
    exit.json, else 128 + SIGKILL (the container was killed here).
    """
    import json
    import subprocess
    import time

    from pyd_proto.containerd.runtime.task.v2 import shim_pb2 as pb
    from pyd_shim.events import timestamp
    from pyd_shim.task_service import EXIT_FILE, RuntimeOptions

    opts = RuntimeOptions.load(flags.bundle, flags.namespace)
    argv = [opts.binary_name]
    if opts.root:
        argv += ["--root", opts.root]
    try:
        subprocess.run([*argv, "delete", "--force", flags.id], capture_output=True,
                       check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        print(f"pyd-shim delete: {opts.binary_name}: {e}", file=sys.stderr)
    rootfs = os.path.join(flags.bundle, "rootfs")
    from pyd_shim.mount import is_mountpoint

    if is_mountpoint(rootfs):
        subprocess.run(["umount", "-R", rootfs], capture_output=True, check=False)
    pid, status, at = 0, 128 + 9, time.time()
    try:
        with open(os.path.join(flags.bundle, EXIT_FILE)) as f:
            data = json.load(f)
        pid, status, at = int(data["pid"]), int(data["exit_status"]), float(data["exited_at"])
    except (OSError, ValueError, KeyError):
        with contextlib.suppress(OSError, ValueError):
            with open(os.path.join(flags.bundle, "init.pid")) as f:
                pid = int(f.read().strip())
    with contextlib.suppress(OSError):
        with open(os.path.join(flags.bundle, ADDRESS_FILE)) as f:
            os.unlink(f.read().strip().removeprefix("unix://"))
    out = pb.DeleteResponse(pid=pid, exit_status=status, exited_at=timestamp(at))
    sys.stdout.buffer.write(out.SerializeToString())
    sys.stdout.flush()
    return 0


def call(flags: Flags) -> int:
    """One Task call over ttrpc with JSON in and out (the shim's inspection tool)."""
    from google.protobuf import empty_pb2, json_format

    from pyd_proto.containerd.runtime.task.v2 import shim_pb2 as pb
    from pyd_proto.errdefs import PydError
    from pyd_shim import ttrpc
    from pyd_shim.task_service import METHODS, SERVICE

    if not flags.args:
        print("methods: " + " ".join(sorted(METHODS)))
        return 0
    method = flags.args[0]
    if method not in METHODS:
        raise SystemExit(f"pyd-shim call: unknown method {method}")
    request = METHODS[method]()
    json_format.Parse(flags.args[1] if len(flags.args) > 1 else "{}", request)
    answers = {"Create": pb.CreateTaskResponse, "Start": pb.StartResponse,
               "Delete": pb.DeleteResponse, "Pids": pb.PidsResponse, "State": pb.StateResponse,
               "Wait": pb.WaitResponse, "Stats": pb.StatsResponse,
               "Connect": pb.ConnectResponse}
    response = answers.get(method, empty_pb2.Empty)()
    try:
        client = ttrpc.Client(flags.address, metadata={ttrpc.NAMESPACE_KEY: flags.namespace})
        try:
            client.call(SERVICE, method, request, response, timeout=30)
        finally:
            client.close()
    except PydError as e:
        print(f"pyd-shim call: {e.code}: {e}", file=sys.stderr)
        return 1
    # Stats answers an Any of cgroups' Metrics: its descriptor lets JSON print it
    from pyd_proto.containerd.cgroups.v1 import metrics_pb2  # noqa: F401

    print(json_format.MessageToJson(response))
    return 0


def zygote(flags: Flags) -> int:
    """A warm parent that forks shims on request (see pyd_shim.zygote); `-address` is
    the zygote's own socket."""
    from pyd_shim import zygote as z

    return z.run(flags.address.removeprefix("unix://"), debug=flags.debug)


def grpc_proxy(flags: Flags) -> int:
    """The shim's Task API over gRPC for grpcurl (see pyd_shim.grpc_proxy)."""
    from pyd_shim import grpc_proxy as proxy

    return proxy.run(flags.args[0] if flags.args else "", flags.address, flags.namespace,
                     debug=flags.debug)


def main(argv: list[str] | None = None) -> int:
    flags = parse(list(sys.argv[1:] if argv is None else argv))
    commands = {"start": start, "serve": serve, "delete": delete, "call": call,
                "zygote": zygote, "grpc-proxy": grpc_proxy}
    fn = commands.get(flags.command)
    if fn is None:
        raise SystemExit(f"pyd-shim: unknown command {flags.command!r}")
    return fn(flags)


if __name__ == "__main__":
    sys.exit(main())
