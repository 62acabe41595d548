"""`logs -f` loses nothing the shim writes around the moment following starts: not a
log file that did not exist yet, not lines written between the read and the follow."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from pyd_dockerd.logs import jsonfile


def test_follow_from_before_the_log_exists_reads_everything(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    running = threading.Event()
    running.set()
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.extend(
        e.data for e in jsonfile.read(str(path), follow=True, running=running.is_set)))
    reader.start()
    time.sleep(0.2)  # the reader has looked and found no file
    with open(path, "ab") as f:
        f.write(jsonfile.encode("stdout", b"hello\n"))
        f.write(jsonfile.encode("stderr", b"partial"))  # output without a newline
    with open(path, "ab") as f:
        f.write(jsonfile.encode("stdout", b"bye\n"))
    running.clear()  # the container ended after writing
    reader.join(10)
    assert not reader.is_alive()
    assert got == [b"hello\n", b"partial", b"bye\n"]


def test_follow_continues_where_the_first_read_stopped(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    two = jsonfile.encode("stdout", b"two\n")
    path.write_bytes(jsonfile.encode("stdout", b"one\n") + two[:10])  # mid-line
    gen = jsonfile.read(str(path), follow=True, running=lambda: False)
    assert next(gen).data == b"one\n"
    # The shim finishes that line, and writes another, before following starts.
    with open(path, "ab") as f:
        f.write(two[10:] + jsonfile.encode("stdout", b"three\n"))
    assert [e.data for e in gen] == [b"two\n", b"three\n"]
