"""Docker's multiplexed stream (moby's pkg/stdcopy): without a TTY, stdout and stderr
share one connection as frames, each an 8-byte header [stream, 0, 0, 0, size as big
endian uint32] and then `size` bytes."""

from __future__ import annotations

import struct

STDIN, STDOUT, STDERR, SYSTEMERR = 0, 1, 2, 3
STREAMS = {"stdin": STDIN, "stdout": STDOUT, "stderr": STDERR}

_HEADER = struct.Struct(">BxxxL")
# moby writes at most 32 KiB per frame.
MAX_FRAME = 32 * 1024


def frame(stream: int, data: bytes) -> bytes:
    """`data` as frames of `stream` (one frame per 32 KiB)."""
    out = bytearray()
    for i in range(0, len(data), MAX_FRAME):
        part = data[i:i + MAX_FRAME]
        out += _HEADER.pack(stream, len(part)) + part
    return bytes(out)


def split(buf: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """Whole frames in `buf` as (stream, data), and the incomplete rest."""
    out = []
    while len(buf) >= _HEADER.size:
        stream, size = _HEADER.unpack_from(buf)
        if len(buf) < _HEADER.size + size:
            break
        out.append((stream, buf[_HEADER.size:_HEADER.size + size]))
        buf = buf[_HEADER.size + size:]
    return out, buf
