"""A warm parent for shims: containerd asks it to fork one instead of starting Python anew.

`pyd-shim start` costs a new interpreter and its imports (~75 ms) per container.
The zygote pays that once: it imports everything a shim needs, freezes the heap
(`gc.freeze`, so collections do not dirty shared pages) and waits on a unix
socket. For each request (one JSON line: namespace, id, bundle, address,
ttrpc_address, debug) it forks; the child starts a new session and forks the
shim, which is thereby nobody's child (it must outlive containerd and the
zygote) and shares the zygote's pages copy-on-write. The shim answers on the
request's connection with its address, or `error: ...`, like `start` prints it.

The zygote is single-threaded (forking a threaded process is unsafe) and holds
no state: killing it loses nothing; containerd falls back to `pyd-shim start`.
"""

from __future__ import annotations

import json
import os
import socket
import sys

SPAWN_TIMEOUT = 30.0


def run(path: str, *, debug: bool = False) -> int:
    """Serve spawn requests on `path` until killed."""
    # Everything a serving shim imports, imported here once.
    import gc
    import signal

    from pyd_shim import events, main, reaper, task_service, ttrpc  # noqa: F401
    from pyd_shim.log import get_logger, setup

    setup("shim-zygote", debug=debug)
    log = get_logger("pyd.shim.zygote")
    _die_with_parent()
    listener = ttrpc.listen(path)
    log.info("zygote serving", extra={"address": f"unix://{path}", "pid": os.getpid()})
    gc.collect()
    gc.freeze()
    while True:
        conn, _ = listener.accept()
        try:
            request = _read_request(conn)
        except (OSError, ValueError) as e:
            log.warning("bad spawn request", extra={"error": str(e)})
            conn.close()
            continue
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                listener.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.setsid()
                if os.fork() == 0:
                    code = _shim(request, conn)
                else:
                    code = 0
            except BaseException as e:  # report, never return into the zygote's loop
                _answer(conn, f"error: {type(e).__name__}: {e}")
            finally:
                os._exit(code)
        conn.close()
        os.waitpid(pid, 0)


def _die_with_parent() -> None:
    """PR_SET_PDEATHSIG: the zygote ends with the containerd that started it (shims,
    in their own sessions and double-forked, are unaffected)."""
    import ctypes

    ctypes.CDLL(None).prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
    parent = os.environ.get("PYD_SHIM_ZYGOTE_PARENT", "")
    if parent and os.getppid() != int(parent):  # containerd died before prctl took effect
        raise SystemExit(0)


def _read_request(conn: socket.socket) -> dict[str, object]:
    conn.settimeout(5.0)
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    conn.settimeout(None)
    request = json.loads(data)
    if not isinstance(request, dict) or not request.get("id") or not request.get("bundle"):
        raise ValueError("request needs id and bundle")
    return request


def _answer(conn: socket.socket, line: str) -> None:
    try:
        conn.sendall(line.encode() + b"\n")
        conn.close()
    except OSError:
        pass


def _shim(request: dict[str, object], conn: socket.socket) -> int:
    """In the forked shim: become the shim `pyd-shim start` would have started."""
    from pyd_shim import main, ttrpc

    flags = main.Flags()
    flags.namespace = str(request.get("namespace") or "default")
    flags.id = str(request["id"])
    flags.address = str(request.get("address") or "")
    flags.bundle = os.path.abspath(str(request["bundle"]))
    flags.debug = bool(request.get("debug"))
    flags.command = "serve"
    if request.get("ttrpc_address"):
        os.environ["TTRPC_ADDRESS"] = str(request["ttrpc_address"])
    os.chdir(flags.bundle)
    sys.argv = ["pyd-shim", "-namespace", flags.namespace, "-id", flags.id, "-address",
                flags.address, "serve"]
    existing = main._existing(flags.bundle)
    if existing:
        _answer(conn, existing)
        return 0
    path = main.socket_path(flags.address, flags.namespace, flags.id)
    listener = ttrpc.listen(path)
    main.detach_stdio(flags.bundle)
    return main.serve(flags, listener, "unix://" + path,
                      ready=lambda: _answer(conn, "unix://" + path))


def spawn(zygote_path: str, request: dict[str, object],
          timeout: float = SPAWN_TIMEOUT) -> str:
    """Ask the zygote at `zygote_path` for a shim; its address. OSError if the zygote is
    not there, RuntimeError if the shim failed."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(zygote_path)
        s.sendall(json.dumps(request).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    answer = data.decode(errors="replace").strip()
    if not answer.startswith("unix://"):
        raise RuntimeError(answer or "the zygote's shim exited without an answer")
    return answer
