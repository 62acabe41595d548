"""ctypes bindings for the Linux calls the runtime needs and Python 3.11 lacks.

Only libc already loaded in the process is used (``CDLL(None)``), so importing this
module costs no library search. Every wrapper raises ``OSError`` with errno set.
"""

from __future__ import annotations

import ctypes
import os

from pyd_runtime.libcontainer.consts import *  # noqa: F403  (re-exported: sc.MS_BIND ...)

_libc = ctypes.CDLL(None, use_errno=True)

# x86_64 / aarch64 syscall numbers for calls glibc may not wrap
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
_SYS_CAPSET = {"x86_64": 126, "aarch64": 91}

_ARCH = os.uname().machine

_mount = _libc.mount
_mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                   ctypes.c_char_p)
_umount2 = _libc.umount2
_umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)
_unshare = _libc.unshare
_unshare.argtypes = (ctypes.c_int,)
_setns = _libc.setns
_setns.argtypes = (ctypes.c_int, ctypes.c_int)
_sethostname = _libc.sethostname
_sethostname.argtypes = (ctypes.c_char_p, ctypes.c_size_t)
_setdomainname = _libc.setdomainname
_setdomainname.argtypes = (ctypes.c_char_p, ctypes.c_size_t)
_prctl = _libc.prctl
_prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


def _check(ret: int, what: str, path: str | None = None) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        if path is not None:
            raise OSError(err, f"{what}: {os.strerror(err)}", path)
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return ret


def _b(s: str | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    """mount(2)."""
    ret = _mount(_b(source), _b(target), _b(fstype), flags, _b(data))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source or ''}:{target} (type {fstype or ''}, "
                           f"flags {flags:#x}, data {data or ''!r}): {os.strerror(err)}")


def umount2(target: str, flags: int = 0) -> None:
    """umount2(2)."""
    _check(_umount2(os.fsencode(target), flags), "umount2", target)


def unshare(flags: int) -> None:
    """unshare(2)."""
    _check(_unshare(flags), f"unshare {flags:#x}")


def setns(fd: int, nstype: int = 0) -> None:
    """setns(2) on an open namespace file."""
    _check(_setns(fd, nstype), f"setns {nstype:#x}")


def sethostname(name: str) -> None:
    """sethostname(2)."""
    b = name.encode()
    _check(_sethostname(b, len(b)), "sethostname")


def setdomainname(name: str) -> None:
    """setdomainname(2)."""
    b = name.encode()
    _check(_setdomainname(b, len(b)), "setdomainname")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """prctl(2)."""
    return _check(_prctl(option, arg2, arg3, arg4, arg5), f"prctl {option}")


def pivot_root(new_root: str, put_old: str) -> None:
    """pivot_root(2) (no glibc wrapper)."""
    nr = _SYS_PIVOT_ROOT[_ARCH]
    _check(_syscall(ctypes.c_long(nr), ctypes.c_char_p(os.fsencode(new_root)),
                    ctypes.c_char_p(os.fsencode(put_old))), "pivot_root", new_root)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """capset(2) for the calling thread, 64-bit masks (version 3 ABI)."""
    hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        shift = 32 * i
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    nr = _SYS_CAPSET[_ARCH]
    _check(_syscall(ctypes.c_long(nr), ctypes.byref(hdr), ctypes.byref(data)), "capset")
