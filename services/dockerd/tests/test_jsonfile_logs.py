"""dockerd reads Docker's json-file log format, rotations included, with tail and since."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pyd_dockerd.logs import jsonfile


def _write(path: Path, lines: list[tuple[str, str, datetime]]) -> None:
    with open(path, "ab") as f:
        for stream, text, when in lines:
            f.write(jsonfile.encode(stream, text.encode(), when))


def test_reads_rotations_oldest_first_with_tail_and_since(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    _write(Path(f"{log}.1"), [("stdout", "one\n", t0), ("stderr", "two\n", t0 + timedelta(1))])
    _write(log, [("stdout", "three\n", t0 + timedelta(2))])
    got = [(e.stream, e.data) for e in jsonfile.read(str(log))]
    assert got == [("stdout", b"one\n"), ("stderr", b"two\n"), ("stdout", b"three\n")]
    assert [e.data for e in jsonfile.read(str(log), tail=1)] == [b"three\n"]
    assert [e.data for e in jsonfile.read(str(log), tail=0)] == []
    since = [e.data for e in jsonfile.read(str(log), since=t0 + timedelta(1))]
    assert since == [b"two\n", b"three\n"]


def test_time_keeps_nanosecond_shape_and_round_trips() -> None:
    when = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=UTC)
    assert jsonfile.format_time(when) == "2026-05-04T03:02:01.123456000Z"
    assert jsonfile.parse_time(jsonfile.format_time(when)) == when


def test_follow_from_sees_lines_written_later_and_stops_when_done(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    finished = threading.Event()

    def writer() -> None:
        time.sleep(0.1)
        _write(log, [("stdout", "late\n", datetime.now(UTC))])
        finished.set()

    threading.Thread(target=writer).start()
    got = [e.data for e in jsonfile.follow_from(str(log), 0, finished.is_set)]
    assert got == [b"late\n"]
