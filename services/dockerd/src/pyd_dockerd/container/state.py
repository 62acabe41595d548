"""A container's run state and the rules for moving between states (moby's
container/state.go): the status enum owns what may happen next; `State` carries the
fields Docker's inspect shows under "State", plus pyd's restore information."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Docker shows a never-set time as Go's zero time.
ZERO_TIME = "0001-01-01T00:00:00Z"


class Status(enum.StrEnum):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"
    REMOVING = "removing"
    EXITED = "exited"
    DEAD = "dead"

    def is_running(self) -> bool:
        """A process exists (Docker's State.Running is true while paused or restarting)."""
        return self in (Status.RUNNING, Status.PAUSED, Status.RESTARTING)

    def can_start(self) -> bool:
        return self in (Status.CREATED, Status.EXITED)

    def can_stop(self) -> bool:
        return self in (Status.RUNNING, Status.PAUSED, Status.RESTARTING)

    def can_kill(self) -> bool:
        return self in (Status.RUNNING, Status.PAUSED)

    def can_pause(self) -> bool:
        return self is Status.RUNNING

    def can_unpause(self) -> bool:
        return self is Status.PAUSED

    def can_exec(self) -> bool:
        return self is Status.RUNNING

    def can_checkpoint(self) -> bool:
        return self is Status.RUNNING

    def can_restore(self) -> bool:
        """`start --checkpoint/--lazy-restore` needs a container with no process."""
        return self in (Status.CREATED, Status.EXITED)

    def can_remove(self, force: bool = False) -> bool:
        if self in (Status.REMOVING,):
            return False
        if self.is_running():
            return force
        return True


def now_rfc3339() -> str:
    """Current UTC time in Docker's RFC 3339 form with nanosecond-style precision."""
    return format_time(datetime.now(UTC))


def format_time(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(s: str) -> datetime | None:
    """Parse a time this module wrote (or Docker's zero time → None)."""
    if not s or s.startswith("0001-01-01"):
        return None
    text = s.rstrip("Z")
    if "." in text:
        head, frac = text.split(".", 1)
        text = f"{head}.{frac[:6]}"
        fmt = "%Y-%m-%dT%H:%M:%S.%f"
    else:
        fmt = "%Y-%m-%dT%H:%M:%S"
    return datetime.strptime(text, fmt).replace(tzinfo=UTC)


@dataclass
class State:
    """Docker's container State, as JSON keys map to fields in `to_dict`."""

    status: Status = Status.CREATED
    oom_killed: bool = False
    pid: int = 0
    # Start time of `pid` in clock ticks since boot (/proc/PID/stat field 22), so a
    # reused pid is not mistaken for the container's process after a daemon restart.
    pid_start_time: int = 0
    exit_code: int = 0
    error: str = ""
    started_at: str = ZERO_TIME
    finished_at: str = ZERO_TIME
    # pyd: the checkpoint the current run was restored from (start --checkpoint).
    restored_from: str = ""
    # pyd: LazyRestoreState in Docker-JSON form (Address, Checkpoint, Status, ...).
    lazy_restore: dict[str, Any] = field(default_factory=dict)
    # pyd: a container created with --from-checkpoint restores this checkpoint (one of
    # its own) on its next start; cleared once a start has restored it.
    pending_checkpoint: str = ""

    # --- what Docker derives from the status -----------------------------------
    @property
    def running(self) -> bool:
        return self.status.is_running()

    @property
    def paused(self) -> bool:
        return self.status is Status.PAUSED

    @property
    def restarting(self) -> bool:
        return self.status is Status.RESTARTING

    @property
    def dead(self) -> bool:
        return self.status is Status.DEAD

    # --- transitions -------------------------------------------------------------
    def set_running(self, pid: int, pid_start_time: int = 0, *, initial: bool = True,
                    restored_from: str = "") -> None:
        """The task started (or was restored): clear the last exit."""
        self.status = Status.RUNNING
        self.pid = pid
        self.pid_start_time = pid_start_time
        self.exit_code = 0
        self.error = ""
        self.oom_killed = False
        self.restored_from = restored_from
        if restored_from and restored_from == self.pending_checkpoint:
            self.pending_checkpoint = ""
        if initial:
            self.started_at = now_rfc3339()

    def set_stopped(self, exit_code: int, *, oom_killed: bool = False, error: str = "") -> None:
        """The process is gone (exit, kill, or a failed start with `error`)."""
        self.status = Status.EXITED
        self.pid = 0
        self.pid_start_time = 0
        self.exit_code = exit_code
        self.oom_killed = oom_killed
        self.error = error
        self.finished_at = now_rfc3339()

    def set_restarting(self, exit_code: int, *, oom_killed: bool = False) -> None:
        """Exited and about to be started again by the restart policy."""
        self.status = Status.RESTARTING
        self.pid = 0
        self.pid_start_time = 0
        self.exit_code = exit_code
        self.oom_killed = oom_killed
        self.finished_at = now_rfc3339()

    def set_paused(self) -> None:
        self.status = Status.PAUSED

    def set_unpaused(self) -> None:
        self.status = Status.RUNNING

    def set_removal_in_progress(self) -> bool:
        """Mark for removal; False when a removal is already under way."""
        if self.status is Status.REMOVING:
            return False
        self.status = Status.REMOVING
        return True

    def reset_removal_in_progress(self, previous: Status) -> None:
        if self.status is Status.REMOVING:
            self.status = previous

    def set_dead(self) -> None:
        self.status = Status.DEAD

    def set_error(self, error: str, exit_code: int = 128) -> None:
        """A start that failed before a process existed: Docker keeps the message and
        an exit code (127 command not found, 126 not executable, else 128)."""
        self.error = error
        self.exit_code = exit_code

    # --- serialisation -----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Docker's "State" JSON, plus pyd's keys."""
        out: dict[str, Any] = {
            "Status": self.status.value, "Running": self.running, "Paused": self.paused,
            "Restarting": self.restarting, "OOMKilled": self.oom_killed, "Dead": self.dead,
            "Pid": self.pid, "ExitCode": self.exit_code, "Error": self.error,
            "StartedAt": self.started_at, "FinishedAt": self.finished_at,
            "PidStartTime": self.pid_start_time,
        }
        if self.restored_from:
            out["RestoredFrom"] = self.restored_from
        if self.lazy_restore:
            out["LazyRestore"] = dict(self.lazy_restore)
        if self.pending_checkpoint:
            out["PendingCheckpoint"] = self.pending_checkpoint
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> State:
        return cls(status=Status(d.get("Status", "created")),
                   oom_killed=bool(d.get("OOMKilled", False)), pid=int(d.get("Pid", 0)),
                   pid_start_time=int(d.get("PidStartTime", 0)),
                   exit_code=int(d.get("ExitCode", 0)), error=str(d.get("Error", "")),
                   started_at=str(d.get("StartedAt", ZERO_TIME)),
                   finished_at=str(d.get("FinishedAt", ZERO_TIME)),
                   restored_from=str(d.get("RestoredFrom", "")),
                   lazy_restore=dict(d.get("LazyRestore") or {}),
                   pending_checkpoint=str(d.get("PendingCheckpoint", "")))

    # --- what `ps` shows ---------------------------------------------------------
    def human_status(self, now: datetime | None = None) -> str:
        """Docker's STATUS column: "Up 5 minutes", "Exited (0) 2 hours ago", ..."""
        now = now or datetime.now(UTC)
        if self.status is Status.PAUSED:
            return f"Up {_since(self.started_at, now)} (Paused)"
        if self.status is Status.RESTARTING:
            return f"Restarting ({self.exit_code}) {_since(self.finished_at, now)} ago"
        if self.status is Status.RUNNING:
            return f"Up {_since(self.started_at, now)}"
        if self.status is Status.REMOVING:
            return "Removal In Progress"
        if self.status is Status.DEAD:
            return "Dead"
        if self.status is Status.CREATED or parse_time(self.finished_at) is None:
            return "Created"
        return f"Exited ({self.exit_code}) {_since(self.finished_at, now)} ago"


def _since(stamp: str, now: datetime) -> str:
    t = parse_time(stamp)
    if t is None:
        return "Less than a second"
    return human_duration((now - t).total_seconds())


def human_duration(seconds: float) -> str:
    """go-units HumanDuration, the wording Docker's `ps` uses."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(s / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"
