"""OCI hooks: run a list of them with the container's state on stdin (runc's hooks).

prestart and createRuntime run in the runtime's namespaces, from the parent, while the
container's process waits before pivot_root; createContainer runs there too but from
inside the container's namespaces; startContainer runs inside the container just before
the user's program; poststart after `start`, poststop after `delete`.
"""

from __future__ import annotations

from pyd_runtime import fastjson

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
         "poststop")


class HookError(RuntimeError):
    """A hook failed (non-zero exit, timeout, or could not start)."""


class Hook:
    """One hook: absolute path, argv (argv[0] included), environment, timeout."""

    __slots__ = ("args", "env", "path", "timeout")

    def __init__(self, path: str, args: list[str], env: list[str],
                 timeout: int | None) -> None:
        self.path = path
        self.args = args
        self.env = env
        self.timeout = timeout


def run(hooks: list[Hook], state: dict[str, Any]) -> None:
    """Run each hook in order; the first failure raises HookError (runc's message)."""
    if not hooks:
        return
    import subprocess

    data = fastjson.dumps(state).encode()
    for i, h in enumerate(hooks):
        env = dict(e.partition("=")[::2] for e in h.env)
        try:
            res = subprocess.run(h.args or [h.path], executable=h.path, input=data, env=env,
                                 capture_output=True, timeout=h.timeout, check=False)
        except subprocess.TimeoutExpired:
            raise HookError(f"error running hook #{i}: timeout after {h.timeout}s") from None
        except OSError as e:
            raise HookError(f"error running hook #{i}: {e.strerror}: {h.path}") from None
        if res.returncode != 0:
            raise HookError(f"error running hook #{i}: exit status {res.returncode}, "
                            f"stdout: {res.stdout.decode(errors='replace')}, "
                            f"stderr: {res.stderr.decode(errors='replace')}")
