"""Seccomp: the spec's linux.seccomp → a libseccomp filter, through pyseccomp.

pyseccomp (ctypes over libseccomp, the same API as libseccomp's own Python binding) is
imported only when a spec has a filter, as its import searches for the library.
"""

from __future__ import annotations

import errno

# typing is imported only by type checkers: it costs start-up time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_OPS = {
    "SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7,
}
_ARCHES = {
    "SCMP_ARCH_X86": "X86", "SCMP_ARCH_X86_64": "X86_64", "SCMP_ARCH_X32": "X32",
    "SCMP_ARCH_ARM": "ARM", "SCMP_ARCH_AARCH64": "AARCH64", "SCMP_ARCH_PPC64LE": "PPC64LE",
    "SCMP_ARCH_S390X": "S390X", "SCMP_ARCH_RISCV64": "RISCV64",
}


class SeccompError(ValueError):
    """The spec's seccomp section cannot be turned into a filter."""


def action(sc: Any, name: str, errno_ret: int | None) -> int:
    """The libseccomp action value for an OCI action name."""
    ret = errno.EPERM if errno_ret is None else errno_ret
    table = {
        "SCMP_ACT_ALLOW": lambda: sc.ALLOW,
        "SCMP_ACT_ERRNO": lambda: sc.ERRNO(ret),
        "SCMP_ACT_KILL": lambda: sc.KILL,
        "SCMP_ACT_KILL_THREAD": lambda: sc.KILL_THREAD,
        "SCMP_ACT_KILL_PROCESS": lambda: sc.KILL_PROCESS,
        "SCMP_ACT_TRAP": lambda: sc.TRAP,
        "SCMP_ACT_TRACE": lambda: sc.TRACE(ret),
        "SCMP_ACT_LOG": lambda: sc.LOG,
    }
    f = table.get(name)
    if f is None:
        raise SeccompError(f"seccomp: unknown action {name!r}")
    return int(f())


def _import() -> Any:
    """Import pyseccomp without its find_library search (a subprocess of ldconfig):
    try the usual soname first."""
    import ctypes.util

    real = ctypes.util.find_library
    names = {"c": "libc.so.6", "seccomp": "libseccomp.so.2"}

    def quick(name: str) -> str | None:
        n = names.get(name)
        if n is not None:
            try:
                ctypes.CDLL(n)
                return n
            except OSError:
                pass
        return real(name)

    ctypes.util.find_library = quick
    try:
        import pyseccomp
    finally:
        ctypes.util.find_library = real
    return pyseccomp


def build(spec: dict[str, Any]) -> Any:
    """A ``pyseccomp.SyscallFilter`` for the spec; unknown syscall names are skipped, as
    runc does."""
    sc = _import()
    default = action(sc, str(spec.get("defaultAction", "")), spec.get("defaultErrnoRet"))
    f = sc.SyscallFilter(default)
    # runc sets no_new_privs itself when the spec asks; the filter must not force it.
    f.set_attr(sc.Attr.CTL_NNP, 0)
    for a in spec.get("architectures") or []:
        attr = _ARCHES.get(a)
        if attr is None:
            raise SeccompError(f"seccomp: unknown architecture {a!r}")
        arch = getattr(sc.Arch, attr)
        if not f.exist_arch(arch):
            try:
                f.add_arch(arch)
            except OSError:
                pass
    for rule in spec.get("syscalls") or []:
        act = action(sc, str(rule.get("action", "")), rule.get("errnoRet"))
        if act == default:
            continue
        args = []
        for a in rule.get("args") or []:
            op = _OPS.get(a.get("op", ""))
            if op is None:
                raise SeccompError(f"seccomp: unknown operator {a.get('op')!r}")
            args.append(sc.Arg(int(a.get("index", 0)), op, int(a.get("value", 0)),
                               int(a.get("valueTwo", 0))))
        for name in rule.get("names") or []:
            nr = sc.resolve_syscall(sc.Arch.NATIVE, name)
            if nr < 0:
                continue
            try:
                f.add_rule(act, nr, *args)
            except OSError as e:
                raise SeccompError(f"seccomp: rule for {name}: {e.strerror}") from None
    return f


def load(spec: dict[str, Any]) -> None:
    """Build and install the filter on the calling process."""
    build(spec).load()
