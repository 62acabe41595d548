"""Signal numbers, names and handlers without the ``signal`` module (which imports
``enum`` and its dependencies at start-up: see fastjson.py for why that matters)."""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

# Linux numbering (x86, arm, riscv; the generic table).
NUMBERS: dict[str, int] = {
    "SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5, "SIGABRT": 6,
    "SIGIOT": 6, "SIGBUS": 7, "SIGFPE": 8, "SIGKILL": 9, "SIGUSR1": 10, "SIGSEGV": 11,
    "SIGUSR2": 12, "SIGPIPE": 13, "SIGALRM": 14, "SIGTERM": 15, "SIGSTKFLT": 16,
    "SIGCHLD": 17, "SIGCLD": 17, "SIGCONT": 18, "SIGSTOP": 19, "SIGTSTP": 20, "SIGTTIN": 21,
    "SIGTTOU": 22, "SIGURG": 23, "SIGXCPU": 24, "SIGXFSZ": 25, "SIGVTALRM": 26,
    "SIGPROF": 27, "SIGWINCH": 28, "SIGIO": 29, "SIGPOLL": 29, "SIGPWR": 30, "SIGSYS": 31,
}
for _i in range(1, 16):
    NUMBERS[f"SIGRTMIN+{_i}"] = 34 + _i
    NUMBERS[f"SIGRTMAX-{_i}"] = 64 - _i
NUMBERS["SIGRTMIN"] = 34
NUMBERS["SIGRTMAX"] = 64

SIGHUP, SIGINT, SIGQUIT, SIGKILL, SIGUSR1 = 1, 2, 3, 9, 10
SIGUSR2, SIGPIPE, SIGALRM, SIGTERM, SIGCONT = 12, 13, 14, 15, 18
SIGXFSZ, SIGWINCH = 25, 28

SIG_DFL = _signal.SIG_DFL
SIG_IGN = _signal.SIG_IGN


def handle(sig: int, handler: Callable[[int, object], None] | int) -> None:
    """signal.signal()."""
    _signal.signal(sig, handler)


def default(sig: int) -> None:
    """Restore the default disposition."""
    _signal.signal(sig, _signal.SIG_DFL)
